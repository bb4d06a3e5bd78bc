import os

import pytest
from conftest import GOLDEN, load_expected

from deferflow.formats import protos, tfrecord
from deferflow.formats.errors import CorruptFileError, MissingFileError

EVENTS = os.path.join(GOLDEN, "events", "events.out.tfevents.golden")


def test_reads_tensorflow_events_file():
    events = [protos.Event.FromString(r) for r in tfrecord.read_records(EVENTS)]
    assert events[0].file_version == "brain.Event:2"
    scalars = [[e.step, v.simple_value] for e in events if e.HasField("summary") for v in e.summary.value
               if v.tag == "loss"]
    expected = load_expected()["events"]["scalars"]
    assert [s for s, _ in scalars] == [s for s, _ in expected]
    assert [v for _, v in scalars] == pytest.approx([v for _, v in expected], rel=1e-6)
    graph = protos.GraphDef.FromString(next(e.graph_def for e in events if e.HasField("graph_def")))
    assert any(node.name == "loss_value" for node in graph.node)
    histo = [v.histo for e in events for v in e.summary.value if v.tag == "weights"]
    assert len(histo) == 3 and histo[0].num == 4 and histo[0].max == 4.0


def test_round_trip_and_framing(tmp_path):
    records = [b"", b"a", b"\x00" * 1000, bytes(range(256))]
    with tfrecord.TFRecordWriter(tmp_path / "r") as writer:
        for r in records:
            writer.write(r)
    assert list(tfrecord.read_records(tmp_path / "r")) == records
    data = (tmp_path / "r").read_bytes()
    assert len(data) == sum(16 + len(r) for r in records)
    assert data.startswith(tfrecord.encode_record(b""))


def _records_then_error(path, **kw):
    good = []
    with pytest.raises(CorruptFileError) as info:
        for r in tfrecord.read_records(path, **kw):
            good.append(r)
    assert os.path.basename(path) in str(info.value)
    return good


@pytest.mark.parametrize("where", ["length", "length_crc", "data", "data_crc"])
def test_corruption_stops_after_good_records(tmp_path, where):
    records = [b"first", b"second record", b"third"]
    blob = bytearray(b"".join(tfrecord.encode_record(r) for r in records))
    start = 16 + len(records[0])  # the second record
    offset = {"length": 0, "length_crc": 9, "data": 13, "data_crc": 12 + len(records[1]) + 2}[where]
    blob[start + offset] ^= 0x01
    path = tmp_path / "events"
    path.write_bytes(bytes(blob))
    assert _records_then_error(str(path)) == [b"first"]


def test_truncated_tail(tmp_path):
    blob = tfrecord.encode_record(b"whole") + tfrecord.encode_record(b"partial")[:-3]
    path = tmp_path / "events"
    path.write_bytes(blob)
    assert _records_then_error(str(path)) == [b"whole"]
    assert list(tfrecord.read_records(path, allow_truncated_tail=True)) == [b"whole"]
    path.write_bytes(blob[:-20])  # cut inside the header of the second record
    assert list(tfrecord.read_records(path, allow_truncated_tail=True)) == [b"whole"]


def test_giant_length_is_rejected_without_allocating(tmp_path):
    import struct
    from deferflow.formats.coding import crc32c, mask
    length = struct.pack("<Q", 2**62)
    path = tmp_path / "events"
    path.write_bytes(length + struct.pack("<I", mask(crc32c(length))) + b"tiny")
    assert _records_then_error(str(path)) == []


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError):
        list(tfrecord.read_records(tmp_path / "nope"))


def test_tensorflow_reads_our_records(tf, tmp_path):
    records = [b"x" * n for n in (0, 1, 100, 5000)]
    with tfrecord.TFRecordWriter(tmp_path / "r.tfrecord") as writer:
        for r in records:
            writer.write(r)
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(tmp_path / "r.tfrecord"))] == records


# --- compressed TFRecord files (tf.io.TFRecordOptions compression_type "ZLIB" / "GZIP") ---

COMPRESSED = ["ZLIB", "GZIP"]
_RECORDS = [b"", b"a", bytes(range(256)) * 3, os.urandom(3 << 20), b"z" * 5000]  # one bigger than a read step


def _write(path, records, kind, **kw):
    with tfrecord.TFRecordWriter(path, compression_type=kind, **kw) as writer:
        for r in records:
            writer.write(r)


@pytest.mark.parametrize("kind", COMPRESSED)
def test_compressed_round_trip(tmp_path, kind):
    path = tmp_path / "r"
    _write(path, _RECORDS, kind, compression_level=9)
    raw = path.read_bytes()
    assert raw[:2] == (b"\x1f\x8b" if kind == "GZIP" else b"\x78\xda")  # gzip magic / zlib header, level 9
    assert list(tfrecord.read_records(path, compression_type=kind)) == _RECORDS
    assert list(tfrecord.read_records(path, compression_type=kind.lower())) == _RECORDS
    with pytest.raises(CorruptFileError, match="compressed"):  # read as the other kind
        list(tfrecord.read_records(path, compression_type=[k for k in COMPRESSED if k != kind][0]))
    with pytest.raises(CorruptFileError):  # read as uncompressed: no valid record framing
        list(tfrecord.read_records(path))
    with pytest.raises(ValueError, match="SNAPPY"):
        list(tfrecord.read_records(path, compression_type="SNAPPY"))


@pytest.mark.parametrize("kind", COMPRESSED)
def test_compressed_streams_appended_and_flushed(tmp_path, kind):
    path = tmp_path / "r"
    _write(path, [b"one", b"two"], kind)
    with tfrecord.TFRecordWriter(path, mode="ab", compression_type=kind) as writer:  # a second stream
        writer.write(b"three")
        writer.flush()  # a sync flush: what is written so far is readable before close
        assert list(tfrecord.read_records(path, allow_truncated_tail=True, compression_type=kind)) == \
            [b"one", b"two", b"three"]
        with pytest.raises(CorruptFileError, match="ends early"):
            list(tfrecord.read_records(path, compression_type=kind))
    assert list(tfrecord.read_records(path, compression_type=kind)) == [b"one", b"two", b"three"]


@pytest.mark.parametrize("kind", COMPRESSED)
def test_compressed_damage(tmp_path, kind):
    import random
    path = tmp_path / "r"
    records = [bytes([i]) * (i * 37) for i in range(40)]
    _write(path, records, kind)
    original = path.read_bytes()
    rng = random.Random(0)
    for trial in range(300):
        data = bytearray(original)
        if trial % 3 == 0:
            data = data[:rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        got = []
        try:
            for r in tfrecord.read_records(path, compression_type=kind):
                got.append(r)
        except CorruptFileError as e:
            assert "r:" in str(e)
        assert got == records[:len(got)]  # every record returned is a true one, in order (CRCs)
        tail = list(tfrecord.read_records(path, compression_type=kind, allow_truncated_tail=True)) \
            if trial % 3 == 0 else got
        assert tail == records[:len(tail)]


def test_compressed_giant_length_without_allocating(tmp_path):
    import gzip
    import struct
    import tracemalloc
    from deferflow.formats.coding import crc32c, mask
    length = struct.pack("<Q", 2**62)
    path = tmp_path / "r"
    path.write_bytes(gzip.compress(length + struct.pack("<I", mask(crc32c(length))) + b"tiny" * 1000))
    tracemalloc.start()
    try:
        assert _records_then_error(str(path), compression_type="GZIP") == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize("kind", COMPRESSED)
def test_compressed_interop_with_tensorflow(tf, tmp_path, kind):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    with tf.io.TFRecordWriter(str(theirs), options=tf.io.TFRecordOptions(compression_type=kind)) as writer:
        for r in _RECORDS:
            writer.write(r)
    assert list(tfrecord.read_records(theirs, compression_type=kind)) == _RECORDS
    _write(ours, _RECORDS, kind)
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(ours), compression_type=kind)] == _RECORDS
    assert list(tf.compat.v1.io.tf_record_iterator(str(ours), tf.io.TFRecordOptions(kind))) == _RECORDS
