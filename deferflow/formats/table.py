"""LevelDB-format SSTable, as TensorFlow's core/lib/io uses it for a checkpoint's ``.index``.

Layout: data blocks, an (empty) metaindex block, an index block, a 48-byte footer.
Each block is followed by a 5-byte trailer: compression type (0 = none) and the masked
CRC32C of block+type. Block entries are ``varint shared, varint non_shared, varint
value_len, key_delta, value``; the block ends with uint32 restart offsets and their count.
"""
import bisect
import os
import struct

from deferflow.formats.coding import DecodeError, crc32c, get_fixed32, get_varint, mask, put_varint, unmask
from deferflow.formats.errors import CorruptFileError, MissingFileError, UnsupportedFormatError

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two BlockHandles padded to 2 * 20 bytes, then the 8-byte magic
TRAILER_SIZE = 5
BLOCK_SIZE = 262144  # TensorFlow's table::Options defaults (not LevelDB's 4 KiB)
RESTART_INTERVAL = 16
NO_COMPRESSION, SNAPPY_COMPRESSION = 0, 1


class _BlockBuilder:
    def __init__(self, restart_interval):
        self.restart_interval = restart_interval
        self.reset()

    def reset(self):
        self.buf = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last_key = b""

    def empty(self):
        return not self.buf

    def size_estimate(self):
        return len(self.buf) + 4 * len(self.restarts) + 4

    def add(self, key, value):
        shared = 0
        if self.counter < self.restart_interval:
            limit = min(len(key), len(self.last_key))
            while shared < limit and key[shared] == self.last_key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.counter = 0
        self.buf += put_varint(shared) + put_varint(len(key) - shared) + put_varint(len(value))
        self.buf += key[shared:]
        self.buf += value
        self.last_key = key
        self.counter += 1

    def finish(self):
        self.buf += struct.pack(f"<{len(self.restarts) + 1}I", *self.restarts, len(self.restarts))
        return bytes(self.buf)


def _shortest_separator(start, limit):
    """A short key k with start <= k < limit (TensorFlow's bytewise rule)."""
    n = min(len(start), len(limit))
    i = 0
    while i < n and start[i] == limit[i]:
        i += 1
    if i < n and start[i] < 0xFF and start[i] + 1 < limit[i]:
        return start[:i] + bytes([start[i] + 1])
    return start


def _short_successor(key):
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key


class TableWriter:
    """Streams a table into a binary file object: ``add(key, value)`` in increasing key order, then ``finish()``."""

    def __init__(self, file, block_size=BLOCK_SIZE, restart_interval=RESTART_INTERVAL):
        self.file = file
        self.block_size = block_size
        self.offset = 0
        self.data_block = _BlockBuilder(restart_interval)
        self.index_block = _BlockBuilder(1)  # every index entry is a restart point
        self.last_key = b""
        self.num_entries = 0
        self.pending_handle = None  # handle of the last flushed block, awaiting its index key

    def add(self, key, value):
        key, value = bytes(key), bytes(value)
        if self.num_entries:
            if key <= self.last_key:
                raise ValueError(f"table keys must increase: {key!r} after {self.last_key!r}")
            if len(key) + len(value) >= 2 * self.block_size:
                self._flush()  # an overly large entry gets a block of its own
        if self.pending_handle is not None:
            self.index_block.add(_shortest_separator(self.last_key, key), self.pending_handle)
            self.pending_handle = None
        self.last_key = key
        self.num_entries += 1
        self.data_block.add(key, value)
        if self.data_block.size_estimate() >= self.block_size:
            self._flush()

    def _flush(self):
        if not self.data_block.empty():
            self.pending_handle = self._write_block(self.data_block)

    def _write_block(self, block):
        contents = block.finish()
        block.reset()
        trailer = bytes([NO_COMPRESSION]) + struct.pack("<I", mask(crc32c(b"\0", crc32c(contents))))
        self.file.write(contents)
        self.file.write(trailer)
        handle = put_varint(self.offset) + put_varint(len(contents))
        self.offset += len(contents) + TRAILER_SIZE
        return handle

    def finish(self):
        """Write the remaining blocks and the footer; returns the table size in bytes."""
        self._flush()
        metaindex_handle = self._write_block(_BlockBuilder(RESTART_INTERVAL))
        if self.pending_handle is not None:
            self.index_block.add(_short_successor(self.last_key), self.pending_handle)
            self.pending_handle = None
        index_handle = self._write_block(self.index_block)
        footer = (metaindex_handle + index_handle).ljust(FOOTER_SIZE - 8, b"\0") + struct.pack("<Q", MAGIC)
        self.file.write(footer)
        self.offset += len(footer)
        return self.offset


def build_table(items, **options):
    """Bytes of a table holding ``items`` (an iterable of (key, value), keys increasing)."""
    import io
    out = io.BytesIO()
    writer = TableWriter(out, **options)
    for key, value in items:
        writer.add(key, value)
    writer.finish()
    return out.getvalue()


class TableReader:
    """Reads a whole table held in memory; every offset and length is checked before use.

    Bad bytes raise CorruptFileError naming ``filename``; snappy blocks raise UnsupportedFormatError.
    """

    def __init__(self, data, filename="<table>"):
        self.data = memoryview(data).toreadonly().cast("B") if not isinstance(data, bytes) else data
        self.filename = str(filename)
        size = len(self.data)
        if size < FOOTER_SIZE:
            self._corrupt(f"file is too short to be an sstable ({size} bytes, footer needs {FOOTER_SIZE})")
        footer_start = size - FOOTER_SIZE
        if struct.unpack_from("<Q", self.data, size - 8)[0] != MAGIC:
            self._corrupt("not an sstable (bad magic number)")
        try:
            meta_off, pos = get_varint(self.data, footer_start, size - 8, what="metaindex offset")
            meta_size, pos = get_varint(self.data, pos, size - 8, what="metaindex size")
            index_off, pos = get_varint(self.data, pos, size - 8, what="index offset")
            index_size, pos = get_varint(self.data, pos, size - 8, what="index size")
        except DecodeError as e:
            self._corrupt(f"bad block handle in footer: {e}")
        self._limit = footer_start  # blocks lie before the footer
        self._read_block(meta_off, meta_size, "metaindex block")
        index = self._parse_block(self._read_block(index_off, index_size, "index block"), "index block")
        self._index_keys = [k for k, _ in index]
        self._handles = []
        for key, value in index:
            try:
                off, pos = get_varint(value, 0, len(value), what="block offset")
                length, pos = get_varint(value, pos, len(value), what="block size")
            except DecodeError as e:
                self._corrupt(f"bad block handle in index entry {key!r}: {e}")
            self._handles.append((off, length))
        self._blocks = {}  # block number -> (keys, values)

    @classmethod
    def open(cls, path):
        """Read the table file at ``path`` (MissingFileError if absent)."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise MissingFileError(path) from None
        except IsADirectoryError:
            raise CorruptFileError(path, "is a directory, not a table file") from None
        return cls(data, path)

    def _corrupt(self, detail):
        raise CorruptFileError(self.filename, detail)

    def _read_block(self, offset, size, what):
        if offset > self._limit or size > self._limit - offset or self._limit - offset - size < TRAILER_SIZE:
            self._corrupt(f"{what} (offset {offset}, size {size}) extends past the end of the table data "
                          f"({self._limit} bytes)")
        end = offset + size
        expected = unmask(get_fixed32(self.data, end + 1))
        if crc32c(self.data[offset:end + 1]) != expected:
            self._corrupt(f"{what} at offset {offset}: block checksum mismatch")
        kind = self.data[end]
        if kind == SNAPPY_COMPRESSION:
            raise UnsupportedFormatError(self.filename, f"{what} is snappy-compressed, which is not supported "
                                                        "(TensorFlow writes checkpoint indexes uncompressed)")
        if kind != NO_COMPRESSION:
            self._corrupt(f"{what} at offset {offset}: bad block type {kind}")
        return self.data[offset:end]

    def _parse_block(self, block, what):
        """All (key, value) pairs of a block, in order, checked against the block's bounds."""
        size = len(block)
        if size < 4:
            self._corrupt(f"{what} is too short ({size} bytes)")
        num_restarts = get_fixed32(block, size - 4)
        if num_restarts > (size - 4) // 4:
            self._corrupt(f"{what} declares {num_restarts} restart points, more than fit in {size} bytes")
        end = size - 4 - 4 * num_restarts
        pos, key, items = 0, b"", []
        try:
            while pos < end:
                shared, pos = get_varint(block, pos, end, 5, "shared key length")
                non_shared, pos = get_varint(block, pos, end, 5, "key length")
                value_len, pos = get_varint(block, pos, end, 5, "value length")
                if shared > len(key) or non_shared + value_len > end - pos:
                    raise DecodeError(f"entry at offset {pos} overruns the block")
                new_key = key[:shared] + bytes(block[pos:pos + non_shared])
                pos += non_shared
                if items and new_key <= key:
                    raise DecodeError(f"keys out of order ({new_key!r} after {key!r})")
                key = new_key
                items.append((key, bytes(block[pos:pos + value_len])))
                pos += value_len
        except DecodeError as e:
            self._corrupt(f"{what}: {e}")
        return items

    def _block(self, i):
        if i not in self._blocks:
            off, size = self._handles[i]
            items = self._parse_block(self._read_block(off, size, f"data block {i}"), f"data block {i}")
            if items and items[-1][0] > self._index_keys[i]:
                self._corrupt(f"data block {i} holds keys beyond its index key")
            if items and i > 0 and items[0][0] <= self._index_keys[i - 1]:
                self._corrupt(f"data block {i} holds keys below the previous block's index key")
            self._blocks[i] = ([k for k, _ in items], [v for _, v in items])
        return self._blocks[i]

    def __iter__(self):
        """Yield (key, value) byte pairs in key order."""
        for i in range(len(self._handles)):
            keys, values = self._block(i)
            yield from zip(keys, values)

    items = __iter__

    def get(self, key, default=None):
        """Value stored under ``key`` (bytes), or ``default``."""
        key = bytes(key)
        i = bisect.bisect_left(self._index_keys, key)  # first block whose index key >= key
        if i == len(self._handles):
            return default
        keys, values = self._block(i)
        j = bisect.bisect_left(keys, key)
        return values[j] if j < len(keys) and keys[j] == key else default

    def __contains__(self, key):
        return self.get(key) is not None

    def __len__(self):
        return sum(len(self._block(i)[0]) for i in range(len(self._handles)))


def read_table(path):
    """All (key, value) pairs of the table file at ``path``, as a list."""
    return list(TableReader.open(os.fspath(path)))
