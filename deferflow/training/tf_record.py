"""``tf.io.TFRecordWriter`` and ``tf.io.tf_record_iterator`` on the formats layer's TFRecord framing."""
import os

from deferflow.formats import tfrecord
from deferflow.formats.errors import CorruptFileError, MissingFileError
from deferflow.framework import errors


class TFRecordCompressionType:
    NONE = 0
    ZLIB = 1
    GZIP = 2


class TFRecordOptions:
    """Options for TFRecord files: compression ``""``, ``"ZLIB"`` or ``"GZIP"`` (and its level)."""

    compression_type_map = {TFRecordCompressionType.ZLIB: "ZLIB", TFRecordCompressionType.GZIP: "GZIP",
                            TFRecordCompressionType.NONE: ""}

    def __init__(self, compression_type=None, flush_mode=None, input_buffer_size=None, output_buffer_size=None,
                 window_bits=None, compression_level=None, compression_method=None, mem_level=None,
                 compression_strategy=None):
        if compression_type in self.compression_type_map:
            compression_type = self.compression_type_map[compression_type]
        self.compression_type = compression_type
        self.flush_mode, self.input_buffer_size, self.output_buffer_size = flush_mode, input_buffer_size, output_buffer_size
        self.window_bits, self.compression_level, self.compression_method = window_bits, compression_level, compression_method
        self.mem_level, self.compression_strategy = mem_level, compression_strategy

    @classmethod
    def get_compression_type_string(cls, options):
        if not options:
            return ""
        if isinstance(options, TFRecordOptions):
            return cls.get_compression_type_string(options.compression_type)
        if isinstance(options, int):
            return cls.compression_type_map[options]
        return str(options)


def _compression(options):
    """(compression type string, level) of ``options``; an unknown type is TF's InvalidArgumentError."""
    kind = TFRecordOptions.get_compression_type_string(options)
    try:
        tfrecord.compression_wbits(kind)
    except ValueError as e:
        raise errors.InvalidArgumentError(None, None, str(e)) from None
    return kind, getattr(options, "compression_level", None)


def _path_error(e, path):
    if isinstance(e, FileNotFoundError):
        return errors.NotFoundError(None, None, f"{path}; No such file or directory")
    if isinstance(e, PermissionError):
        return errors.PermissionDeniedError(None, None, f"{path}; Permission denied")
    return errors.UnknownError(None, None, f"{path}; {e.strerror or e}")


class TFRecordWriter:
    """``tf.io.TFRecordWriter(path, options=None)``: writes records to a TFRecord file."""

    def __init__(self, path, options=None):
        kind, level = _compression(options)
        self._path = os.fspath(path)
        try:
            self._writer = tfrecord.TFRecordWriter(self._path, compression_type=kind, compression_level=level)
        except OSError as e:
            raise _path_error(e, self._path) from None
        self._closed = False

    def _check_open(self):
        if self._closed:
            raise errors.FailedPreconditionError(None, None, "Writer is closed.")

    def write(self, record):
        self._check_open()
        self._writer.write(record.encode() if isinstance(record, str) else bytes(record))

    def flush(self):
        self._check_open()
        self._writer.flush()

    def close(self):
        if not self._closed:
            self._closed = True
            self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tf_record_iterator(path, options=None):
    """Yields the records of a TFRecord file. A corrupted record raises ``DataLossError`` after the
    records before it were yielded; a header cut short at the end reads as the end of the file."""
    kind, _ = _compression(options)
    path = os.fspath(path)
    try:
        yield from tfrecord.read_records(path, compression_type=kind)
    except MissingFileError:
        raise errors.NotFoundError(None, None, f"{path}; No such file or directory") from None
    except CorruptFileError as e:
        if e.detail.startswith("truncated record header"):
            return  # as TF: a partial header is the end of the file
        raise errors.DataLossError(None, None, f"{e.detail} in {path}") from None
