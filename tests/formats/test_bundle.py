import os

import ml_dtypes
import numpy as np
import pytest
from conftest import CHECKPOINT_CASES, assert_same, expected_array, golden_prefix, load_expected

from deferflow.formats import bundle, dtypes, tensor_slice
from deferflow.formats.proto import types_pb2

RNG = np.random.default_rng(0)


def _sample(dtype, shape=(3, 5)):
    dtype = np.dtype(dtype)
    if dtype == object:
        out = np.empty(shape, object)
        out.reshape(-1)[:] = [bytes(RNG.integers(0, 256, RNG.integers(0, 40), dtype=np.uint8))
                              for _ in range(int(np.prod(shape)))]
        return out
    if dtype.kind == "b":
        return RNG.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return RNG.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    if dtype.kind == "c":
        return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)
    if dtype.kind == "V":  # ml_dtypes (bfloat16, float8_*, int4...): small values every one represents
        low = 0 if "int" in dtype.name else -4
        return RNG.integers(low, 2 if "int" in dtype.name else 5, shape).astype(np.float32).astype(dtype)
    return (RNG.standard_normal(shape) * 100).astype(dtype)


NUMPY_DTYPES = sorted({info.numpy for info in dtypes.BY_ENUM.values() if info.numpy is not None}, key=str)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 0, 3), (2, 3, 4, 1)])
def test_round_trip_every_dtype(tmp_path, dtype, shape):
    value = _sample(dtype, shape)
    bundle.save(tmp_path / "ckpt", {"v": value, "other": np.arange(3)})
    with bundle.BundleReader(tmp_path / "ckpt") as reader:
        assert reader.keys() == ["other", "v"]
        entry = reader.entry("v")
        assert entry.dtype == dtypes.info_for_numpy(value.dtype).enum and entry.shape == shape
        assert_same(reader.read("v"), value)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.data-00000-of-00001", "ckpt.index"]  # no temp files left


def test_strings_and_conversions(tmp_path):
    tensors = {
        "unicode": np.array(["h\u00e9llo", "", "\u6f22\u5b57"]),
        "bytes_fixed": np.array([b"a\x00b", b"xyz"]),
        "scalar_str": "just text",
        "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "non_contig": np.arange(20, dtype=np.int16)[::3],
        "long_string": np.array([b"x" * 70000, b"y" * 200]),
    }
    bundle.save(tmp_path / "c", tensors)
    out = bundle.load(tmp_path / "c")
    assert out["unicode"].tolist() == [s.encode() for s in tensors["unicode"]]
    assert out["bytes_fixed"].tolist() == [b"a\x00b", b"xyz"]
    assert out["scalar_str"].shape == () and out["scalar_str"].item() == b"just text"
    assert out["big_endian"].dtype == np.dtype("<i4") and out["big_endian"].tolist() == [[0, 1, 2], [3, 4, 5]]
    np.testing.assert_array_equal(out["fortran"], tensors["fortran"])
    np.testing.assert_array_equal(out["non_contig"], tensors["non_contig"])
    assert out["long_string"].tolist() == tensors["long_string"].tolist()


def test_writer_errors(tmp_path):
    writer = bundle.BundleWriter(tmp_path / "w")
    writer.add("a", np.zeros(2))
    with pytest.raises(ValueError, match="duplicate"):
        writer.add("a", np.zeros(2))
    with pytest.raises(ValueError):
        writer.add("", np.zeros(2))
    with pytest.raises(TypeError):
        writer.add("obj", np.array([1, None], dtype=object))
    writer.abort()
    assert os.listdir(tmp_path) == []  # an aborted writer leaves nothing behind


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_reads_golden_checkpoints_exactly(case):
    expected = load_expected()[case]
    with bundle.BundleReader(golden_prefix(case)) as reader:
        assert reader.keys() == sorted(expected)
        for name, spec in expected.items():
            assert types_pb2.DataType.Name(reader.entry(name).dtype) == \
                "DT_" + {"float32": "FLOAT", "float64": "DOUBLE", "float16": "HALF"}.get(
                    spec["dtype"], spec["dtype"].upper())
            assert_same(reader.read(name), expected_array(spec))


def test_golden_partitioned_slices():
    with bundle.BundleReader(golden_prefix("partitioned")) as reader:
        entry = reader.entry("part")
        assert entry.slices == (((0, 4), (0, 4)), ((4, 3), (0, 4)), ((7, 3), (0, 4)))
        slice_keys = [k for k in reader.keys(include_slices=True) if k not in ("part", "plain")]
        assert len(slice_keys) == 3
        for extents in entry.slices:
            key = tensor_slice.encode_tensor_name_slice("part", list(extents))
            assert tensor_slice.decode_tensor_name_slice(key) == (b"part", list(extents))
            assert key.decode("utf-8", "surrogateescape") in slice_keys
            assert reader.entry(key).shape == tuple(n for _, n in extents)
        np.testing.assert_array_equal(reader.read("part", [(4, 3), (1, 2)]),
                                      np.arange(40, dtype=np.float32).reshape(10, 4)[4:7, 1:3])


def test_golden_sharded_header():
    with bundle.BundleReader(golden_prefix("sharded")) as reader:
        assert reader.num_shards == 2
        assert {reader.entry(k).shard_id for k in reader.keys()} == {0, 1}


def test_add_slice_round_trip(tmp_path):
    full = np.arange(60, dtype=np.float64).reshape(6, 10)
    with bundle.BundleWriter(tmp_path / "p") as writer:
        writer.add_slice("m", full.shape, [(0, 2), (0, -1)], full[0:2])
        writer.add_slice("m", full.shape, [(2, 4), (0, 10)], full[2:6])
        writer.add_slice("whole", (3,), [(0, -1)], np.ones(3))  # a full slice is a plain entry
    with bundle.BundleReader(tmp_path / "p") as reader:
        assert reader.keys() == ["m", "whole"]
        assert reader.entry("whole").slices == ()
        np.testing.assert_array_equal(reader.read("m"), full)


def test_merge_bundles(tmp_path):
    a = {"x": np.arange(4.0), "p": np.ones((2, 2))}
    b = {"y": np.array([b"s"], dtype=object), "z": np.int64(5)}
    bundle.save(tmp_path / "tmp" / "part-0", a)
    bundle.save(tmp_path / "tmp" / "part-1", b)
    bundle.merge_bundles([str(tmp_path / "tmp" / "part-0"), str(tmp_path / "tmp" / "part-1")], tmp_path / "m")
    assert sorted(os.listdir(tmp_path)) == ["m.data-00000-of-00002", "m.data-00001-of-00002", "m.index", "tmp"]
    out = bundle.load(tmp_path / "m")
    assert sorted(out) == ["p", "x", "y", "z"]
    for name, value in {**a, **b}.items():
        assert_same(out[name], np.asarray(value))


def test_dtype_table():
    assert dtypes.info_for_numpy(np.float32).enum == types_pb2.DT_FLOAT
    assert dtypes.info_for_numpy(ml_dtypes.bfloat16).enum == types_pb2.DT_BFLOAT16
    assert dtypes.info_for_numpy(np.int8).enum == types_pb2.DT_INT8  # not DT_QINT8
    assert dtypes.info_for_numpy(np.uint16).enum == types_pb2.DT_UINT16  # not DT_QUINT16
    assert dtypes.info_for_enum(types_pb2.DT_FLOAT_REF).name == "float32"
    assert dtypes.numpy_for_enum(types_pb2.DT_QUINT8) == np.uint8
    assert dtypes.info_for_numpy("U3").enum == types_pb2.DT_STRING
    with pytest.raises(KeyError):
        dtypes.numpy_for_enum(types_pb2.DT_RESOURCE)


# --- live differential tests against TensorFlow ---

def _tf_tensor(tf, value):
    if value.dtype == object:
        return tf.constant(value.tolist() if value.ndim else value.item(), dtype=tf.string)
    return tf.constant(value)


LIVE_DTYPES = [np.float32, np.float64, np.float16, ml_dtypes.bfloat16, np.int8, np.int16, np.int32, np.int64,
               np.uint8, np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128, object]


def _live_tensors():
    tensors = {f"v_{np.dtype(d).name}": _sample(d, (2, 3)) for d in LIVE_DTYPES}
    tensors.update({"scalar": np.float32(1.25), "empty": np.zeros((0, 4), np.int32),
                    "str_scalar": np.array(b"\x00\xffbytes", dtype=object), "empty_str": np.empty(0, object)})
    return dict(sorted(tensors.items()))


def test_tensorflow_reads_our_bundle(tf, tmp_path):
    tensors = _live_tensors()
    bundle.save(tmp_path / "ours", tensors)
    reader = tf.train.load_checkpoint(str(tmp_path / "ours"))
    dtype_map = reader.get_variable_to_dtype_map()
    assert sorted(dtype_map) == sorted(tensors)
    for name, value in tensors.items():
        assert dtype_map[name].as_datatype_enum == dtypes.info_for_numpy(value.dtype).enum
        got = np.asarray(reader.get_tensor(name))
        assert_same(got.astype(object) if value.dtype == object else got, value)
    assert sorted(tf.train.list_variables(str(tmp_path / "ours"))) == \
        sorted((k, list(np.shape(v))) for k, v in tensors.items())


def test_we_read_tensorflow_bundle(tf, tmp_path):
    tensors = _live_tensors()
    names = list(tensors)
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "tf"), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[_tf_tensor(tf, tensors[n]) for n in names])
    out = bundle.load(tmp_path / "tf")
    for name, value in tensors.items():
        assert_same(out[name], value)


@pytest.mark.parametrize("many", [False, True])
def test_byte_identical_to_tensorflow(tf, tmp_path, many):
    """Same tensors in the same order: TensorFlow's SaveV2 and our writer produce identical files."""
    if many:  # enough entries for several 256 KiB index data blocks
        tensors = {f"layer_{i:05d}/some/long/variable/name/kernel": np.full((2,), i, np.float32)
                   for i in range(12000)}
    else:
        tensors = _live_tensors()
    names = list(tensors)
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "tf"), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[_tf_tensor(tf, tensors[n]) for n in names])
    bundle.save(tmp_path / "ours", tensors)
    for suffix in (".index", ".data-00000-of-00001"):
        theirs = (tmp_path / ("tf" + suffix)).read_bytes()
        ours = (tmp_path / ("ours" + suffix)).read_bytes()
        assert ours == theirs, suffix
    if many:
        assert len(theirs) > 0 and (tmp_path / "tf.index").stat().st_size > 2 * 262144


def test_tensorflow_restores_our_slices_and_merged_shards(tf, tmp_path):
    full = np.arange(40, dtype=np.float32).reshape(10, 4)
    with bundle.BundleWriter(tmp_path / "s0") as writer:
        writer.add_slice("part", full.shape, [(0, 4), (0, 4)], full[:4])
        writer.add("alone", np.int64(3))
    with bundle.BundleWriter(tmp_path / "s1") as writer:
        writer.add_slice("part", full.shape, [(4, 6), (0, 4)], full[4:])
    bundle.merge_bundles([str(tmp_path / "s0"), str(tmp_path / "s1")], tmp_path / "merged")
    prefix = str(tmp_path / "merged")
    np.testing.assert_array_equal(tf.train.load_checkpoint(prefix).get_tensor("part"), full)
    (restored,) = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=["part"], shape_and_slices=["10 4 2,5:1,3"],
                                       dtypes=[tf.float32])
    np.testing.assert_array_equal(restored.numpy(), full[2:7, 1:4])
    assert int(tf.train.load_checkpoint(prefix).get_tensor("alone")) == 3


def test_merged_index_matches_tensorflow_merge(tf, tmp_path):
    for i, value in enumerate([np.arange(3.0), np.array([b"a", b"bc"], dtype=object)]):
        for who in ("tf", "ours"):
            bundle.save(tmp_path / who / f"part-{i}", {f"v{i}": value})
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=[str(tmp_path / "tf" / f"part-{i}") for i in range(2)],
                                  destination_prefix=str(tmp_path / "tf" / "m"))
    bundle.merge_bundles([str(tmp_path / "ours" / f"part-{i}") for i in range(2)], tmp_path / "ours" / "m")
    assert (tmp_path / "ours" / "m.index").read_bytes() == (tmp_path / "tf" / "m.index").read_bytes()


def test_dtype_table_matches_tensorflow(tf):
    for enum, info in dtypes.BY_ENUM.items():
        tf_dtype = tf.dtypes.as_dtype(enum)
        if info.numpy is not None and info.numpy != object:
            tf_numpy = np.dtype(tf_dtype.as_numpy_dtype)
            if tf_numpy.fields:  # TensorFlow's quantized types are one-field records: (("qint8", "i1"),)
                (tf_numpy, _), = tf_numpy.fields.values()
            assert tf_numpy == info.numpy, info
            assert tf_dtype.size == info.itemsize, info
        assert tf_dtype.as_datatype_enum == enum and tf_dtype.name == info.name
        assert dtypes.info_for_enum(tf_dtype._as_ref.as_datatype_enum) is info


def test_overwrite_same_prefix_keeps_names_apart(tmp_path):
    """Re-saving a prefix writes new data under other names (the index rename is the commit), then
    settles back on TensorFlow's single-shard file names."""
    prefix = tmp_path / "ck"
    for i in range(3):
        bundle.save(prefix, {"x": np.full(3, i), "y": np.array([b"s%d" % i], dtype=object)})
        out = bundle.load(prefix)
        assert out["x"].tolist() == [i] * 3 and out["y"].tolist() == [b"s%d" % i]
        data_files = sorted(p.name for p in tmp_path.iterdir() if ".data-" in p.name)
        assert data_files == ["ck.data-00000-of-00001"]
        assert bundle.BundleReader(prefix).num_shards == 1


def test_overwritten_bundle_reads_in_tensorflow(tf, tmp_path):
    prefix = str(tmp_path / "ck")
    bundle.save(prefix, {"x": np.arange(3.0)})
    bundle.save(prefix, {"x": np.arange(3.0) + 10, "z": np.int32(4)})
    reader = tf.train.load_checkpoint(prefix)
    assert reader.get_tensor("x").tolist() == [10.0, 11.0, 12.0] and reader.get_tensor("z") == 4


def test_big_tensors_chunked_io(tmp_path):
    """Tensors above the 16 MiB chunk size take the overlapped write/read path."""
    big = np.arange(5 << 20, dtype=np.float64)  # 40 MiB
    bundle.save(tmp_path / "big", {"big": big, "small": np.ones(3)})
    assert_same(bundle.load(tmp_path / "big")["big"], big)
    data = tmp_path / "big.data-00000-of-00001"
    with open(data, "r+b") as f:  # one flipped bit in the last chunk
        f.seek(big.nbytes - 5)
        byte = f.read(1)
        f.seek(big.nbytes - 5)
        f.write(bytes([byte[0] ^ 4]))
    with pytest.raises(bundle.CorruptFileError, match="checksum"):
        bundle.load(tmp_path / "big")


def test_reads_big_endian_bundle(tmp_path):
    from deferflow.formats.coding import crc32c, mask, put_varint
    from deferflow.formats.proto.tensor_bundle_pb2 import BundleEntryProto, BundleHeaderProto
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    raw = value.astype(">f4").tobytes()
    strings = [b"ab", b"", b"xyz"]
    length_crc = crc32c(np.array([2, 0, 3], ">u4").tobytes())
    stored_crc = mask(length_crc).to_bytes(4, "big")
    string_raw = b"".join(put_varint(len(s)) for s in strings) + stored_crc + b"".join(strings)
    string_crc = crc32c(stored_crc + b"".join(strings), length_crc)
    entries = {b"f": BundleEntryProto(dtype=types_pb2.DT_FLOAT, size=len(raw), crc32c=mask(crc32c(raw))),
               b"s": BundleEntryProto(dtype=types_pb2.DT_STRING, offset=len(raw), size=len(string_raw),
                                      crc32c=mask(string_crc))}
    for dim in (2, 3):
        entries[b"f"].shape.dim.add(size=dim)
    entries[b"s"].shape.dim.add(size=3)
    prefix = tmp_path / "be"
    with open(bundle.index_filename(prefix), "wb") as f:
        bundle.write_index(f, entries, num_shards=1, endianness=BundleHeaderProto.BIG)
    with open(bundle.data_filename(prefix, 0, 1), "wb") as f:
        f.write(raw + string_raw)
    out = bundle.load(prefix)
    assert_same(out["f"], value)
    assert out["s"].tolist() == strings


def test_write_paths_give_identical_files(tmp_path, monkeypatch):
    """Big tensors (checksummed on a worker, preallocated), direct and gathered small writes: the same bytes
    whether the GIL-free crc32c call and fallocate are available or not."""
    tensors = {"big": np.arange(3 << 20, dtype=np.float32), "mid": np.arange(1 << 17, dtype=np.int32),
               "small": np.ones((3, 4), np.int64), "names": np.array([b"x" * (300 << 10), b"", b"yz"], dtype=object),
               "tail": np.arange(7, dtype=np.uint8)}
    bundle.save(tmp_path / "fast", tensors)
    monkeypatch.setattr(bundle, "_crc32c_nogil", None)
    monkeypatch.setattr(bundle, "preallocate", lambda fd, offset, length: False)
    bundle.save(tmp_path / "plain", tensors)
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / ("fast" + suffix)).read_bytes() == (tmp_path / ("plain" + suffix)).read_bytes()
    loaded = bundle.load(tmp_path / "plain")
    for name, value in tensors.items():
        assert loaded[name].tolist() == value.tolist()
    fn = bundle._load_crc32c_nogil()
    if fn is not None:  # the ctypes route computes the same CRC32C as google_crc32c
        import google_crc32c
        data = np.frombuffer(b"deferflow" * 1000, np.uint8)
        assert fn(7, data.ctypes.data, data.size) == google_crc32c.extend(7, data.tobytes())
