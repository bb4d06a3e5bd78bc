"""Exceptions of the formats layer; the framework maps them to tf.errors (DataLossError, NotFoundError)."""


class FormatError(Exception):
    """Base class: a file could not be read or written as the format requires."""

    def __init__(self, filename, detail):
        self.filename = str(filename)
        self.detail = detail
        super().__init__(f"{self.filename}: {detail}")


class CorruptFileError(FormatError):
    """The file exists but its bytes are not a valid file of the expected format."""


class UnsupportedFormatError(CorruptFileError):
    """Valid-looking file using a feature we do not implement (e.g. snappy-compressed table blocks)."""


class MissingFileError(FormatError):
    """A file the format needs (e.g. a checkpoint shard) does not exist."""

    def __init__(self, filename, detail="file not found"):
        super().__init__(filename, detail)
