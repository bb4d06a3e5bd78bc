"""V1 checkpoints (TensorSliceWriter files): TF-written goldens read without TF, live differential tests
against TensorFlow's own reader, and damaged files raising only CorruptFileError / MissingFileError."""
import base64
import glob
import json
import os
import shutil
import tracemalloc

import ml_dtypes  # noqa: F401 - registers bfloat16 with NumPy
import numpy as np
import pytest
from conftest import GOLDEN, assert_same, golden_prefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deferflow.formats import bundle, checkpoint_v1, tensor_slice
from deferflow.formats.errors import CorruptFileError, MissingFileError
from deferflow.formats.proto import types_pb2
from deferflow.formats.proto.saved_tensor_slice_pb2 import SavedTensorSlices
from deferflow.formats.table import build_table, read_table

V1 = os.path.join(GOLDEN, "v1")
with open(os.path.join(V1, "expected.json")) as _f:
    EXPECTED = json.load(_f)


def expected_array(spec):
    dtype = spec["dtype"]
    if dtype == "string":
        out = np.empty(len(spec["values"]), dtype=object)
        out[:] = [base64.b64decode(v) for v in spec["values"]]
        return out.reshape(spec["shape"])
    if dtype.startswith("complex"):
        return np.array([complex(*v) for v in spec["values"]], dtype).reshape(spec["shape"])
    return np.array(spec["values"], dtype=np.float64 if dtype.startswith("float") else dtype).astype(
        dtype).reshape(spec["shape"])


def saved_path(case):
    return os.path.join(V1, EXPECTED[case]["saved_path"])


# --- goldens written by TensorFlow ---

@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_golden_values(case):
    expected = EXPECTED[case]["tensors"]
    with checkpoint_v1.open_checkpoint(saved_path(case)) as reader:
        assert isinstance(reader, checkpoint_v1.V1Reader)
        assert reader.keys() == sorted(expected)
        shapes, dtypes_ = reader.variable_to_shape_map(), reader.variable_to_dtype_map()
        for name, spec in expected.items():
            want = expected_array(spec)
            assert shapes[name] == list(want.shape)
            entry = reader.entry(name)
            assert entry.shape == want.shape and entry.dtype == dtypes_[name]
            assert types_pb2.DataType.Name(entry.dtype) == "DT_" + {"float32": "FLOAT", "float64": "DOUBLE",
                                                                    "float16": "HALF"}.get(spec["dtype"],
                                                                                           spec["dtype"].upper())
            assert_same(reader.read(name), want)


def test_golden_dtype_coverage():
    names = {spec["dtype"] for spec in EXPECTED["dtypes"]["tensors"].values()}
    assert names >= {"float32", "float64", "int32", "int64", "int8", "int16", "uint8", "uint16", "bool", "string",
                     "float16", "complex64", "complex128"}


def test_sharded_golden_files_and_paths():
    files = sorted(glob.glob(os.path.join(V1, "sharded", "model.ckpt-*")))
    assert [os.path.basename(f) for f in files] == ["model.ckpt-00000-of-00002", "model.ckpt-00001-of-00002"]
    expected = {k: expected_array(v) for k, v in EXPECTED["sharded"]["tensors"].items()}
    # the glob pattern the saver records, the bare prefix, and a single shard (which holds only its tensors)
    for path in (saved_path("sharded"), os.path.join(V1, "sharded", "model.ckpt")):
        with checkpoint_v1.open_checkpoint(path) as reader:
            assert reader.num_shards == 2
            for name, value in expected.items():
                assert_same(reader.read(name), value)
    with checkpoint_v1.V1Reader(files[1]) as reader:
        assert reader.num_shards == 1 and reader.keys() == ["dev1/names", "dev1/w"]


def test_partitioned_golden_slices():
    expected = {k: expected_array(v) for k, v in EXPECTED["partitioned"]["tensors"].items()}
    with checkpoint_v1.open_checkpoint(saved_path("partitioned")) as reader:
        emb = reader.entry("emb")
        assert [tensor_slice.slice_string(e) for e in emb.slices] == ["0,4:0,4", "4,3:0,4", "7,3:0,4"]
        assert reader.entry("bias").slices == ()
        assert [tensor_slice.slice_string(e) for e in reader.entry("wide").slices] == ["0,2:0,3", "0,2:3,2",
                                                                                      "0,2:5,2"]
        for name, full in expected.items():
            entry = reader.entry(name)
            for extents in ([(0, -1)] * full.ndim, [(1, 1)] * full.ndim, [(0, 2), (2, 2)][:full.ndim]):
                if full.ndim == 1:
                    extents = extents[:1]
                bounds = tensor_slice.resolve(extents, full.shape)
                assert_same(reader.read(name, extents), full[tuple(slice(a, b) for a, b in bounds)])
            for extents in entry.slices:  # each stored slice under its own key, as in a V2 bundle
                key = tensor_slice.encode_tensor_name_slice(name, list(extents))
                bounds = tensor_slice.resolve(list(extents), full.shape)
                assert reader.entry(key).shape == tuple(b - a for a, b in bounds)
                assert reader.entry(key).size > 0
                assert_same(reader.read(key), full[tuple(slice(a, b) for a, b in bounds)])
        assert len(reader.keys(include_slices=True)) == 3 + 6
        with pytest.raises(ValueError, match="emb"):
            reader.read("emb", [(8, 4), (0, 4)])
        with pytest.raises(KeyError, match="nope"):
            reader.read("nope")
        assert "emb" in reader and "nope" not in reader


def test_close_then_read_again():
    reader = checkpoint_v1.V1Reader(saved_path("dtypes"))
    first = reader.read("t_float32")
    reader.close()
    assert_same(reader.read("t_float32"), first)  # files are mapped again
    reader.close()
    reader.close()


def test_open_checkpoint_picks_the_format(tmp_path):
    v2 = checkpoint_v1.open_checkpoint(golden_prefix("dtypes"))
    assert isinstance(v2, bundle.BundleReader)
    v2.close()
    # A V1 file and a V2 bundle under one name: V2 wins, as in TensorFlow.
    shutil.copy(saved_path("dtypes"), tmp_path / "model.ckpt")
    assert checkpoint_v1.is_v1_checkpoint(tmp_path / "model.ckpt")
    for name in os.listdir(os.path.dirname(golden_prefix("partitioned"))):
        if name.startswith("model.ckpt."):
            shutil.copy(os.path.join(os.path.dirname(golden_prefix("partitioned")), name), tmp_path / name)
    assert not checkpoint_v1.is_v1_checkpoint(tmp_path / "model.ckpt")
    with checkpoint_v1.open_checkpoint(str(tmp_path / "model.ckpt")) as reader:
        assert isinstance(reader, bundle.BundleReader)
    assert not checkpoint_v1.is_v1_checkpoint(golden_prefix("dtypes"))
    assert not checkpoint_v1.is_v1_checkpoint(golden_prefix("dtypes") + ".index")
    assert not checkpoint_v1.is_v1_checkpoint(golden_prefix("dtypes") + ".data-00000-of-00001")
    assert not checkpoint_v1.is_v1_checkpoint(tmp_path / "absent")
    assert checkpoint_v1.is_v1_checkpoint(saved_path("sharded"))
    assert checkpoint_v1.is_v1_checkpoint(os.path.join(V1, "sharded", "model.ckpt").encode())
    with pytest.raises(MissingFileError, match="absent.index"):
        checkpoint_v1.open_checkpoint(str(tmp_path / "absent"))
    with pytest.raises(MissingFileError):
        checkpoint_v1.V1Reader(str(tmp_path / "absent"))
    with pytest.raises(CorruptFileError, match="V2 checkpoint"):  # the .index of a V2 bundle is no V1 file
        checkpoint_v1.V1Reader(golden_prefix("dtypes") + ".index")


def test_missing_shard(tmp_path):
    for f in glob.glob(os.path.join(V1, "sharded", "model.ckpt-*")):
        shutil.copy(f, tmp_path)
    os.remove(tmp_path / "model.ckpt-00001-of-00002")
    for path in (str(tmp_path / "model.ckpt-?????-of-00002"), str(tmp_path / "model.ckpt")):
        with pytest.raises(MissingFileError, match="model.ckpt-00001-of-00002"):
            checkpoint_v1.open_checkpoint(path)


# --- live differential tests: V1 files fresh from TensorFlow, compared with TensorFlow's reader ---

_LIVE_DTYPES = ["float32", "float64", "int32", "int64", "int8", "int16", "uint8", "bool", "string"]
_RESTORE_ONLY = ["float16", "complex64", "complex128", "uint16"]  # TF's NewCheckpointReader cannot read these


def _random_value(rng, dtype, shape):
    if dtype == "string":
        out = np.empty(shape, dtype=object)
        out.reshape(-1)[:] = [bytes(rng.randint(0, 256, rng.randint(0, 12)).astype(np.uint8))
                              for _ in range(int(np.prod(shape)))]
        return out
    if dtype == "bool":
        return np.asarray(rng.rand(*shape) < 0.5)
    if dtype.startswith("complex"):
        return np.asarray(rng.randn(*shape) + 1j * rng.randn(*shape)).astype(dtype)
    if dtype.startswith("float"):
        return np.asarray(rng.randn(*shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.randint(info.min, info.max, size=shape, dtype=np.int64 if dtype != "uint64" else np.uint64).astype(
        dtype) if shape else np.array(info.max, dtype)


def _tf_restore(tf, path, name, entry):
    """Tensor ``name`` of a V1 checkpoint as TensorFlow's restore op reads it (into a whole variable)."""
    with tf.Graph().as_default():
        dtype = tf.as_dtype(entry.dtype)
        var = tf.Variable(tf.zeros(entry.shape, dtype) if dtype != tf.string else tf.fill(entry.shape, ""))
        with tf.Session(config=tf.ConfigProto(device_count={"CPU": 2})) as sess:
            tf.train.Saver({name: var}, write_version=tf.train.SaverDef.V1).restore(sess, path)
            value = np.asarray(sess.run(var))
    return value.astype(object) if value.dtype.kind == "S" else value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_live_tf_v1_checkpoints(tf_real, tmp_path, seed):
    tf = tf_real
    rng = np.random.RandomState(seed)
    values = {}
    with tf.Graph().as_default():
        with tf.device("/cpu:0"):
            for i, dtype in enumerate(_LIVE_DTYPES + _RESTORE_ONLY):
                shape = [int(d) for d in rng.randint(0, 5, size=rng.randint(0, 4))]
                values[f"s{i}/{dtype}"] = _random_value(rng, dtype, shape)
            values["big"] = rng.randn(300, 257).astype(np.float32)  # 300 KB: its own table block
            for name, value in values.items():
                tf.Variable(value, name=name)
            parts = [3, 2, 4][seed]
            part = tf.get_variable("part", [11, 3 + seed], tf.float32, tf.random_normal_initializer(seed=seed),
                                   partitioner=tf.fixed_size_partitioner(parts, axis=seed % 2))
        with tf.device("/cpu:1"):
            tf.Variable(np.arange(7, dtype=np.int64) * seed, name="other_device/v")
        saver = tf.train.Saver(write_version=tf.train.SaverDef.V1, sharded=seed == 2)
        with tf.Session(config=tf.ConfigProto(device_count={"CPU": 2})) as sess:
            sess.run(tf.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "model.ckpt"), write_meta_graph=False)
            values["part"] = np.concatenate(sess.run(list(part)), axis=seed % 2)
    assert not glob.glob(str(tmp_path / "*.index"))
    assert checkpoint_v1.is_v1_checkpoint(path)

    tf_reader = tf.train.NewCheckpointReader(path)
    tf_shapes = tf_reader.get_variable_to_shape_map()
    tf_dtypes = tf_reader.get_variable_to_dtype_map()
    with checkpoint_v1.open_checkpoint(path) as reader:
        assert isinstance(reader, checkpoint_v1.V1Reader)
        assert reader.num_shards == (2 if seed == 2 else 1)
        assert reader.variable_to_shape_map() == tf_shapes
        assert reader.variable_to_dtype_map() == {k: v.as_datatype_enum for k, v in tf_dtypes.items()}
        assert [(k, reader.entry(k).shape) for k in reader.keys()] == \
            [(k, tuple(s)) for k, s in tf.train.list_variables(path)]
        assert len(reader.entry("part").slices) == parts
        for name in reader.keys():
            ours = reader.read(name)
            if any(d in name for d in _RESTORE_ONLY) or name == "part":  # TF's reader refuses: use its restore op
                assert_same(ours, _tf_restore(tf, path, name, reader.entry(name)))
                assert_same(ours, np.asarray(values[name]))
                continue
            theirs = np.asarray(tf_reader.get_tensor(name))
            if theirs.dtype.kind == "S" or (theirs.dtype == object):
                theirs = theirs.astype(object)
            assert_same(ours, theirs)
            if name in values:
                assert_same(ours, np.asarray(values[name]))


# --- damaged files ---

def _read_or_error(path):
    try:
        with checkpoint_v1.open_checkpoint(path) as reader:
            out = {}
            for k in reader.keys():
                out[k] = reader.read(k)
                entry = reader.entry(k)
                assert out[k].shape == entry.shape and out[k].dtype == entry.numpy_dtype
            return out
    except (CorruptFileError, MissingFileError) as e:
        return e


def _check_damaged(path, case, exact=True):
    """Only the documented errors, naming the damaged file; anything read must be TF's values (``exact``;
    else only arrays of the shape and dtype the file declares)."""
    tracemalloc.start()
    try:
        result = _read_or_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * os.path.getsize(path) + (1 << 20)
    if isinstance(result, Exception):
        assert os.path.basename(path) in str(result), result
        return result
    if not exact:
        return None
    expected = EXPECTED[case]["tensors"]
    assert sorted(result) == sorted(expected)
    for name, spec in expected.items():
        assert_same(result[name], expected_array(spec))
    return None


def _copy(tmp_path, case):
    target = tmp_path / "model.ckpt"
    shutil.copy(saved_path(case), target)
    return str(target)


@pytest.mark.parametrize("case", ["dtypes", "partitioned"])
@pytest.mark.parametrize("keep", [0, 1, 47, 48, 0.5, -1])
def test_truncated(tmp_path, case, keep):
    path = _copy(tmp_path, case)
    data = open(path, "rb").read()
    keep = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    open(path, "wb").write(data[:keep])
    assert isinstance(_check_damaged(path, case), CorruptFileError)


@pytest.mark.parametrize("case", ["dtypes", "partitioned"])
def test_every_flipped_byte(tmp_path, case):
    path = _copy(tmp_path, case)
    original = open(path, "rb").read()
    detected = 0
    for i in range(len(original)):
        with open(path, "wb") as f:
            f.write(original[:i] + bytes([original[i] ^ 0x10]) + original[i + 1:])
        detected += _check_damaged(path, case) is not None
    assert detected >= len(original) - 40  # only the footer's zero padding may go unnoticed


def _forge(tmp_path, records):
    """A V1 file holding ``records`` ({key: SavedTensorSlices or bytes}), with valid table checksums."""
    path = str(tmp_path / "forged.ckpt")
    items = sorted((k, v if isinstance(v, bytes) else v.SerializeToString()) for k, v in records.items())
    open(path, "wb").write(build_table(items))
    return path


def _meta(name="t", dtype=types_pb2.DT_FLOAT, dims=(4,), slices=None, producer=1):
    sts = SavedTensorSlices()
    sts.meta.versions.producer = producer
    tensor = sts.meta.tensor.add(name=name, type=dtype)
    for d in dims:
        tensor.shape.dim.add(size=d)
    for extents in (slices if slices is not None else [[(0, -1)] * len(dims)]):
        tensor_slice.extents_to_proto(extents, tensor.slice.add())
    return sts


def _data(name="t", extents=((0, -1),), floats=(1.0, 2.0, 3.0, 4.0), **fields):
    sts = SavedTensorSlices()
    sts.data.name = name
    tensor_slice.extents_to_proto(list(extents), sts.data.slice)
    sts.data.data.float_val.extend(floats)
    for field, values in fields.items():
        getattr(sts.data.data, field).extend(values)
    return sts


def _key(name="t", extents=((0, -1),)):
    return tensor_slice.encode_tensor_name_slice(name, list(extents))


def test_forged_valid_file_reads(tmp_path):
    path = _forge(tmp_path, {b"": _meta(), _key(): _data()})
    assert_same(checkpoint_v1.load(path)["t"], np.array([1, 2, 3, 4], np.float32))


@pytest.mark.parametrize("records", [
    {b"": _meta(dims=(2**31, 2**31, 2**31), slices=[[(0, -1)] * 3])},        # giant shape, no data
    {b"": _meta(dims=(-1,))},                                                # negative dim
    {b"": _meta(dtype=77)},                                                  # unknown dtype
    {b"": _meta(slices=[])},                                                 # no slices
    {b"": _meta(slices=[[(0, 2)]])},                                         # slices do not cover it
    {b"": _meta(dims=(2**40,), slices=[[(0, 2)], [(2, 2**40 - 2)]]),
     _key(extents=[(0, 2)]): _data(extents=[(0, 2)], floats=(1, 2))},       # giant partitioned tensor
    {b"": _meta(slices=[[(0, 3)], [(2, 2)]]), _key(extents=[(0, 3)]): _data(extents=[(0, 3)], floats=(1, 2, 3)),
     _key(extents=[(2, 2)]): _data(extents=[(2, 2)], floats=(1, 2))},        # overlapping slices
    {b"": _meta(slices=[[(2, 3)]])},                                         # slice out of range
    {b"": _meta(slices=[[(0, -1), (0, -1)]])},                               # slice rank differs
    {b"": _meta()},                                                          # data record missing
    {b"": _meta(), _key(): _data(floats=(1.0, 2.0))},                        # too few values
    {b"": _meta(), _key(): _data(floats=()), },                              # no values
    {b"": _meta(), _key(): _data(name="u")},                                 # record of another tensor
    {b"": _meta(), _key(): _data(extents=[(0, 2)], floats=(1, 2))},          # record of another slice
    {b"": _meta(), _key(): b"\xff\xff\xff"},                                 # record not a proto
    {b"": _meta(dtype=types_pb2.DT_STRING), _key(): _data(floats=())},       # strings missing
    {b"": _meta(dtype=types_pb2.DT_RESOURCE), _key(): _data()},              # dtype with no NumPy form
    {b"": _meta(producer=-1), _key(): _data()},                              # producer too old
    {b"": b"\x0a\x05\x0a\x03\x0a\x01"},                                      # truncated metadata
    {b"": SavedTensorSlices()},                                              # no metadata at all
    {b"x": b""},                                                             # no metadata key
])
def test_forged_records(tmp_path, records):
    path = _forge(tmp_path, records)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptFileError) as info:
            checkpoint_v1.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "forged.ckpt" in str(info.value)
    assert peak < 1 << 20


def test_forged_conflicting_shards(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _forge(tmp_path / "a", {b"": _meta(), _key(): _data()})
    b = _forge(tmp_path / "b", {b"": _meta(dims=(5,))})
    shutil.move(a, tmp_path / "m-00000-of-00002")
    shutil.move(b, tmp_path / "m-00001-of-00002")
    with pytest.raises(CorruptFileError, match="m-00001-of-00002"):
        checkpoint_v1.V1Reader(str(tmp_path / "m"))


def test_tensor_content_fallback(tmp_path):
    """TF writes typed *_val fields only; raw tensor_content of the right size is accepted as well."""
    record = _data(floats=())
    record.data.data.tensor_content = np.arange(4, dtype=np.float32).tobytes()
    assert_same(checkpoint_v1.load(_forge(tmp_path, {b"": _meta(), _key(): record}))["t"],
                np.arange(4, dtype=np.float32))


FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RECORDS = {case: read_table(saved_path(case)) for case in ("dtypes", "partitioned")}


@st.composite
def record_mutations(draw):
    """A golden file with some records' bytes changed (re-framed with valid checksums, so the mutated
    protobufs reach the V1 reader's own checks) or dropped."""
    case = draw(st.sampled_from(sorted(RECORDS)))
    records = [list(r) for r in RECORDS[case]]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(records) - 1))
        value = bytearray(records[i][1])
        kind = draw(st.sampled_from(["set", "truncate", "insert", "delete", "drop"]))
        pos = draw(st.integers(0, max(0, len(value) - 1)))
        if kind == "drop" and len(records) > 1:
            del records[i]
            continue
        if kind == "set" and value:
            value[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del value[pos:]
        elif kind == "insert":
            value[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif value:
            del value[pos:pos + draw(st.integers(1, 8))]
        records[i][1] = bytes(value)
    return case, build_table([tuple(r) for r in records])


@FUZZ
@given(mutation=record_mutations())
def test_fuzz_mutated_records(tmp_path_factory, mutation):
    case, data = mutation
    path = str(tmp_path_factory.mktemp("fuzz") / "model.ckpt")
    open(path, "wb").write(data)
    _check_damaged(path, case, exact=False)  # checksums are valid again: changed values cannot be noticed


@FUZZ
@given(case=st.sampled_from(["dtypes", "partitioned"]), edits=st.lists(
    st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=4))
def test_fuzz_mutated_file_bytes(tmp_path_factory, case, edits):
    data = bytearray(open(saved_path(case), "rb").read())
    for pos, byte in edits:
        data[pos % len(data)] = byte
    path = str(tmp_path_factory.mktemp("fuzz") / "model.ckpt")
    open(path, "wb").write(bytes(data))
    _check_damaged(path, case)


@st.composite
def forged_partitions(draw):
    """A forged V1 file: random shape and slices (possibly overlapping, out of range or incomplete), each
    slice's record holding a random number of values (usually the right one)."""
    dims = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3) | st.lists(st.integers(-1, 2**40),
                                                                                max_size=2))
    slices = draw(st.lists(st.lists(st.tuples(st.integers(-1, 6), st.integers(-2, 6)), min_size=len(dims),
                                    max_size=len(dims)) | st.just([(0, -1)] * len(dims)), min_size=1, max_size=4))
    records = {b"": _meta(dims=dims, slices=slices)}
    truth = {}
    for extents in slices:
        try:
            bounds = tensor_slice.resolve(extents, dims)
        except ValueError:
            continue
        n = int(np.prod([b - a for a, b in bounds], dtype=object))
        if n > 1000:
            continue
        count = draw(st.sampled_from([n, n, n, max(0, n - 1), n + 1]))
        values = draw(st.lists(st.floats(width=32, allow_nan=False), min_size=count, max_size=count))
        records[_key(extents=extents)] = _data(extents=extents, floats=values)
        if count == n:
            truth[tuple(bounds)] = np.array(values, np.float32).reshape([b - a for a, b in bounds])
    return dims, records, truth


@FUZZ
@given(forged=forged_partitions())
def test_fuzz_forged_partitions(tmp_path_factory, forged):
    dims, records, truth = forged
    path = _forge(tmp_path_factory.mktemp("forged"), records)
    tracemalloc.start()
    try:
        try:
            result = checkpoint_v1.load(path)["t"]
        except CorruptFileError as e:
            assert "forged.ckpt" in str(e)
            result = None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    if result is not None:  # then the slices tile the tensor exactly, each with the right count of values
        assert result.shape == tuple(dims) and result.dtype == np.float32
        covered = np.zeros(dims, int)
        for bounds, values in truth.items():
            region = tuple(slice(a, b) for a, b in bounds)
            covered[region] += 1
            assert result[region].tobytes() == values.tobytes()
        assert (covered == 1).all()
