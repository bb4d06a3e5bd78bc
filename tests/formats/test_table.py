import struct

import pytest
from conftest import golden_prefix

from deferflow.formats import table
from deferflow.formats.coding import crc32c, get_varint, mask, put_varint, unmask
from deferflow.formats.errors import CorruptFileError, MissingFileError, UnsupportedFormatError


def _items(n, value_size=10):
    return [(b"key/%06d/suffix" % i, bytes([i % 251]) * (value_size + i % 7)) for i in range(n)]


@pytest.mark.parametrize("n,block_size", [(0, 4096), (1, 4096), (17, 4096), (2000, 4096), (300, 64)])
def test_round_trip(n, block_size):
    items = _items(n)
    data = table.build_table(items, block_size=block_size)
    reader = table.TableReader(data)
    assert list(reader) == items
    assert len(reader) == n
    for key, value in items[::37]:
        assert reader.get(key) == value
    assert reader.get(b"key/") is None and reader.get(b"zzz") is None and reader.get(b"") is None
    if n > 1:
        assert reader.get(items[1][0][:-1]) is None  # between two stored keys


def test_layout_facts():
    data = table.build_table([(b"a", b"1"), (b"ab", b"22")])
    assert struct.unpack("<Q", data[-8:])[0] == 0xDB4775248B80FB57
    # Data block: entries with prefix compression, restart array [0], count 1, then the trailer.
    block = b"\x00\x01\x01a1" + b"\x01\x01\x02b22" + struct.pack("<II", 0, 1)
    assert data.startswith(block + b"\x00" + struct.pack("<I", mask(crc32c(block + b"\x00"))))
    assert len(table.build_table([])) == 2 * (8 + 5) + 48  # empty metaindex and index blocks + footer


def test_restart_points_every_16_keys():
    items = [(b"k%03d" % i, b"") for i in range(40)]
    data = table.build_table(items)
    block_size = get_varint(data, len(data) - 48, len(data))  # metaindex handle -> data block ends before
    raw = data[:block_size[0] - 5]
    count = struct.unpack("<I", raw[-4:])[0]
    assert count == 3  # entries 0, 16, 32 are restart points


def test_varint_and_mask():
    for value in [0, 1, 127, 128, 300, 2**32 - 1, 2**63, 2**64 - 1]:
        assert get_varint(put_varint(value), 0, 10) == (value, len(put_varint(value)))
    for crc in [0, 1, 0xFFFFFFFF, 0x12345678]:
        assert unmask(mask(crc)) == crc
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_index_separator_keys_are_short():
    # TensorFlow shortens index keys between blocks ("the quick" | "the who" -> "the r").
    assert table._shortest_separator(b"the quick brown fox", b"the who") == b"the r"
    assert table._shortest_separator(b"abc", b"abcd") == b"abc"
    assert table._short_successor(b"\xff\xffa") == b"\xff\xffb"


def test_reads_tensorflow_index():
    items = list(table.TableReader.open(golden_prefix("adam") + ".index"))
    assert items[0][0] == b"" and [k for k, _ in items] == sorted(k for k, _ in items)


def _corruptions():
    data = table.build_table(_items(500), block_size=1024)
    n = len(data)
    return data, {
        "truncated": data[:n // 2],
        "tiny": data[:10],
        "empty": b"",
        "bad magic": data[:-1] + b"\x00",
        "flipped data byte": data[:5] + bytes([data[5] ^ 1]) + data[6:],
        "flipped index byte": data[:n - 60] + bytes([data[n - 60] ^ 0x40]) + data[n - 59:],
        "giant handle": data[:n - 48] + put_varint(2**62) + put_varint(2**62) + bytes(40 - 20) + data[-8:],
        "overlong varint": data[:n - 48] + b"\xff" * 40 + data[-8:],
    }


@pytest.mark.parametrize("name", list(_corruptions()[1]))
def test_corrupt_tables_raise(name):
    bad = _corruptions()[1][name]
    with pytest.raises(CorruptFileError) as info:
        list(table.TableReader(bad, "some.index"))
    assert "some.index" in str(info.value)


def test_snappy_block_is_unsupported():
    block = b"\x00\x01\x01a1" + struct.pack("<II", 0, 1)
    trailer = b"\x01" + struct.pack("<I", mask(crc32c(block + b"\x01")))
    index = b"\x00\x01" + bytes([len(put_varint(0) + put_varint(len(block)))]) + b"b" + put_varint(0) + \
        put_varint(len(block)) + struct.pack("<II", 0, 1)
    index_trailer = b"\x00" + struct.pack("<I", mask(crc32c(index + b"\x00")))
    body = block + trailer + index + index_trailer
    handles = put_varint(len(block) + 5) + put_varint(len(index)) + put_varint(len(block) + 5) + \
        put_varint(len(index))
    data = body + handles.ljust(40, b"\0") + struct.pack("<Q", table.MAGIC)
    with pytest.raises(UnsupportedFormatError, match="snappy"):
        list(table.TableReader(data, "x.index"))


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError) as info:
        table.TableReader.open(tmp_path / "nope.index")
    assert "nope.index" in str(info.value)


def test_writer_rejects_unsorted_keys():
    import io
    writer = table.TableWriter(io.BytesIO())
    writer.add(b"b", b"")
    with pytest.raises(ValueError):
        writer.add(b"a", b"")
