"""TFRecord framing (used by event files): per record
``uint64 length | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)``, little-endian.
"""
import os
import struct

from deferflow.formats.coding import crc32c, mask
from deferflow.formats.errors import CorruptFileError, MissingFileError

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


def encode_record(data):
    """The framed bytes of one record."""
    data = bytes(data)
    length = struct.pack("<Q", len(data))
    return length + _FOOTER.pack(mask(crc32c(length))) + data + _FOOTER.pack(mask(crc32c(data)))


class TFRecordWriter:
    """Appends records to a file (``mode="wb"`` truncates, ``"ab"`` appends)."""

    def __init__(self, path, mode="wb"):
        self.path = os.fspath(path)
        self._file = open(self.path, mode)

    def write(self, record):
        self._file.write(encode_record(record))

    def flush(self):
        """Flush to the OS and fsync, so a reader (e.g. TensorBoard) sees whole records."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self):
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_records(path, allow_truncated_tail=False):
    """Yield each record's bytes in order. The first bad record raises CorruptFileError (after the
    good ones before it were yielded); ``allow_truncated_tail`` instead stops quietly at an
    incomplete last record, as when tailing a file that is still being written.
    """
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise MissingFileError(path) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while offset < size:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                if allow_truncated_tail:
                    return
                raise CorruptFileError(path, f"truncated record header at offset {offset}")
            length, length_crc = _HEADER.unpack(header)
            if mask(crc32c(header[:8])) != length_crc:
                raise CorruptFileError(path, f"corrupted record length at offset {offset}")
            remaining = size - offset - _HEADER.size
            if length + _FOOTER.size > remaining:
                if allow_truncated_tail:
                    return
                raise CorruptFileError(path, f"truncated record at offset {offset}: length {length}, "
                                             f"{remaining} bytes left")
            data = f.read(length)
            (data_crc,) = _FOOTER.unpack(f.read(_FOOTER.size))
            if len(data) != length or mask(crc32c(data)) != data_crc:
                raise CorruptFileError(path, f"corrupted record data at offset {offset}")
            yield data
            offset += _HEADER.size + length + _FOOTER.size
