"""TFRecord framing (used by event files): per record
``uint64 length | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)``, little-endian.

A compressed TFRecord file ("ZLIB" or "GZIP", as ``tf.io.TFRecordOptions`` names them) is that whole
byte stream deflated once: a zlib stream, or a gzip one; readers accept several streams one after another.
"""
import os
import struct
import zlib

from deferflow.formats.coding import crc32c, mask
from deferflow.formats.errors import CorruptFileError, MissingFileError

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_WBITS = {"ZLIB": zlib.MAX_WBITS, "GZIP": zlib.MAX_WBITS | 16}  # zlib's window-bits convention: +16 is gzip
_CHUNK = 1 << 20  # compressed bytes read, and most decompressed bytes produced, per step


def compression_wbits(compression_type):
    """zlib window bits for "ZLIB"/"GZIP", None for "" (no compression); ValueError for anything else."""
    kind = (compression_type or "").upper() if isinstance(compression_type, str) else compression_type
    if not kind:
        return None
    if kind not in _WBITS:
        raise ValueError(f"unknown TFRecord compression type {compression_type!r} (expected '', 'ZLIB' or 'GZIP')")
    return _WBITS[kind]


def encode_record(data):
    """The framed bytes of one record."""
    data = bytes(data)
    length = struct.pack("<Q", len(data))
    return length + _FOOTER.pack(mask(crc32c(length))) + data + _FOOTER.pack(mask(crc32c(data)))


class TFRecordWriter:
    """Appends records to a file (``mode="wb"`` truncates, ``"ab"`` appends).

    ``compression_type`` "ZLIB" or "GZIP" deflates the stream (``compression_level`` -1..9, -1 = zlib's
    default); ``flush()`` then ends a deflate block so that readers see every record written so far.
    """

    def __init__(self, path, mode="wb", compression_type="", compression_level=None):
        self.path = os.fspath(path)
        wbits = compression_wbits(compression_type)
        level = -1 if compression_level is None else int(compression_level)
        self._deflate = None if wbits is None else zlib.compressobj(level, zlib.DEFLATED, wbits)
        self._file = open(self.path, mode)

    def write(self, record):
        framed = encode_record(record)
        self._file.write(framed if self._deflate is None else self._deflate.compress(framed))

    def flush(self):
        """Flush to the OS and fsync, so a reader (e.g. TensorBoard) sees whole records."""
        if self._deflate is not None:
            self._file.write(self._deflate.flush(zlib.Z_SYNC_FLUSH))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self):
        if not self._file.closed:
            if self._deflate is not None:
                self._file.write(self._deflate.flush(zlib.Z_FINISH))
                self._deflate = None
            self.flush()
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Inflated:
    """The decompressed bytes of a file holding one or more zlib/gzip streams, read in bounded steps."""

    def __init__(self, f, path, wbits):
        self._f, self._path, self._wbits = f, path, wbits
        self._z = zlib.decompressobj(wbits)
        self._pending = b""  # compressed bytes not yet fed
        self._buf = bytearray()
        self._started = False  # whether the current stream has consumed any input
        self.offset = 0  # decompressed bytes handed out so far

    def _fill(self):
        """Decompress more into the buffer; False at the end of the input."""
        while True:
            if self._z.eof:
                rest = self._z.unused_data + self._pending
                self._pending = b""
                if not rest:
                    rest = self._f.read(_CHUNK)
                    if not rest:
                        return False
                self._z, self._started = zlib.decompressobj(self._wbits), False  # another stream follows
                self._pending = rest
            if not self._pending:
                self._pending = self._z.unconsumed_tail or self._f.read(_CHUNK)
                if not self._pending:
                    if self._started:
                        raise CorruptFileError(self._path, f"compressed stream ends early (after "
                                                           f"{self.offset + len(self._buf)} decompressed bytes)")
                    return False
            try:
                out = self._z.decompress(self._pending, _CHUNK)
            except zlib.error as e:
                raise CorruptFileError(self._path, f"bad compressed data after {self.offset + len(self._buf)} "
                                                   f"decompressed bytes: {e}") from None
            self._started = True
            self._pending = self._z.unconsumed_tail
            if out:
                self._buf += out
                return True

    def read(self, n):
        """Up to ``n`` bytes (fewer only at the end of the data). The buffer never grows past what the
        file really decompresses to, whatever ``n`` is."""
        while len(self._buf) < n and self._fill():
            pass
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.offset += len(out)
        return out


def _read_compressed(f, path, wbits, allow_truncated_tail):
    source = _Inflated(f, path, wbits)
    while True:
        offset = source.offset
        try:
            header = source.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                if allow_truncated_tail:
                    return
                raise CorruptFileError(path, f"truncated record header at decompressed offset {offset}")
            length, length_crc = _HEADER.unpack(header)
            if mask(crc32c(header[:8])) != length_crc:
                raise CorruptFileError(path, f"corrupted record length at decompressed offset {offset}")
            data = source.read(length)
            footer = source.read(_FOOTER.size) if len(data) == length else b""
        except CorruptFileError as e:
            if allow_truncated_tail and e.detail.startswith("compressed stream ends early"):
                return
            raise
        if len(footer) < _FOOTER.size:
            if allow_truncated_tail:
                return
            raise CorruptFileError(path, f"truncated record at decompressed offset {offset}: length {length}")
        if mask(crc32c(data)) != _FOOTER.unpack(footer)[0]:
            raise CorruptFileError(path, f"corrupted record data at decompressed offset {offset}")
        yield data


def read_records(path, allow_truncated_tail=False, compression_type=""):
    """Yield each record's bytes in order. The first bad record raises CorruptFileError (after the
    good ones before it were yielded); ``allow_truncated_tail`` instead stops quietly at an
    incomplete last record, as when tailing a file that is still being written.
    ``compression_type`` "ZLIB"/"GZIP" reads a compressed file.
    """
    path = os.fspath(path)
    wbits = compression_wbits(compression_type)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise MissingFileError(path) from None
    with f:
        if wbits is not None:
            yield from _read_compressed(f, path, wbits, allow_truncated_tail)
            return
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
