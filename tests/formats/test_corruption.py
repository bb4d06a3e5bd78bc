"""Damaged checkpoints raise CorruptFileError / MissingFileError naming the file: never a crash,
hang, other exception or an allocation larger than the files."""
import os
import shutil
import tracemalloc

import numpy as np
import pytest
from conftest import assert_same, golden_prefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deferflow.formats import bundle
from deferflow.formats.errors import CorruptFileError, MissingFileError
from deferflow.formats.proto.tensor_bundle_pb2 import BundleEntryProto
from deferflow.formats.proto.types_pb2 import DT_FLOAT, DT_STRING

EXPECTED = bundle.load(golden_prefix("dtypes"))
DATA = ".data-00000-of-00001"


def _copy_golden(tmp_path, case="dtypes"):
    for name in os.listdir(os.path.dirname(golden_prefix(case))):
        if name.startswith("model.ckpt"):
            shutil.copy(os.path.join(os.path.dirname(golden_prefix(case)), name), tmp_path / name)
    return str(tmp_path / "model.ckpt")


def _load_or_error(prefix):
    """Values read from ``prefix``, or the formats error raised; anything else fails the test."""
    try:
        return bundle.load(prefix)
    except (CorruptFileError, MissingFileError) as e:
        return e


def _check(prefix, damaged_file):
    result = _load_or_error(prefix)
    if isinstance(result, Exception):
        assert os.path.basename(damaged_file) in str(result), result
        return result
    assert sorted(result) == sorted(EXPECTED)  # undetectable damage (e.g. footer padding) must not matter
    for name, value in EXPECTED.items():
        assert_same(result[name], value)
    return None


@pytest.mark.parametrize("suffix", [".index", DATA])
@pytest.mark.parametrize("keep", [0, 1, 47, 48, 0.5, -1])
def test_truncated(tmp_path, suffix, keep):
    prefix = _copy_golden(tmp_path)
    path = prefix + suffix
    data = open(path, "rb").read()
    keep = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    open(path, "wb").write(data[:keep])
    assert isinstance(_check(prefix, path), CorruptFileError)


@pytest.mark.parametrize("suffix", [".index", DATA])
def test_every_flipped_byte(tmp_path, suffix):
    prefix = _copy_golden(tmp_path)
    path = prefix + suffix
    original = open(path, "rb").read()
    detected = 0
    for i in range(len(original)):
        with open(path, "wb") as f:
            f.write(original[:i] + bytes([original[i] ^ 0x10]) + original[i + 1:])
        detected += _check(prefix, path) is not None
    # Only the footer's zero padding after the block handles may go unnoticed.
    assert detected >= len(original) - (40 if suffix == ".index" else 0)


def test_wrong_magic(tmp_path):
    prefix = _copy_golden(tmp_path)
    data = bytearray(open(prefix + ".index", "rb").read())
    data[-3] ^= 0xFF
    open(prefix + ".index", "wb").write(bytes(data))
    with pytest.raises(CorruptFileError, match="magic"):
        bundle.BundleReader(prefix)


def test_missing_files(tmp_path):
    prefix = _copy_golden(tmp_path, "sharded")
    os.remove(prefix + ".data-00001-of-00002")
    with pytest.raises(MissingFileError, match="data-00001-of-00002"):
        bundle.BundleReader(prefix)
    with pytest.raises(MissingFileError, match="nothing.index"):
        bundle.BundleReader(str(tmp_path / "nothing"))


def _forged(tmp_path, data=b"\0" * 64, **fields):
    """A bundle whose single entry 't' has the given BundleEntryProto fields."""
    entry = BundleEntryProto(**{k: v for k, v in fields.items() if k not in ("dims", "slices", "num_shards")})
    for d in fields.get("dims", ()):
        entry.shape.dim.add(size=d)
    for extents in fields.get("slices", ()):
        bundle.tensor_slice.extents_to_proto(extents, entry.slices.add())
    prefix = str(tmp_path / "forged")
    with open(bundle.index_filename(prefix), "wb") as f:
        bundle.write_index(f, {b"t": entry}, num_shards=fields.get("num_shards", 1))
    with open(bundle.data_filename(prefix, 0, 1), "wb") as f:
        f.write(data)
    return prefix


@pytest.mark.parametrize("fields", [
    dict(dtype=DT_FLOAT, dims=[4], size=2**40),                          # giant size
    dict(dtype=DT_FLOAT, dims=[4], size=16, offset=2**50),               # giant offset
    dict(dtype=DT_FLOAT, dims=[2**31, 2**31, 2**31], size=16),           # giant shape
    dict(dtype=DT_FLOAT, dims=[-1], size=16),                            # negative dim
    dict(dtype=DT_STRING, dims=[2**40], size=60),                        # giant string count
    dict(dtype=DT_STRING, dims=[3], size=60),                            # lengths don't add up
    dict(dtype=77, dims=[4], size=16),                                   # unknown dtype
    dict(dtype=DT_FLOAT, dims=[4], size=16, shard_id=5),                 # shard out of range
    dict(dtype=DT_FLOAT, dims=[2**40, 4], slices=[[(0, 2**40), (0, 4)]]),  # giant partitioned tensor
    dict(dtype=DT_FLOAT, dims=[10, 4], slices=[[(0, 4), (0, 4)]]),       # slice entry missing
    dict(dtype=DT_FLOAT, dims=[10, 4], slices=[[(8, 4), (0, 4)]]),       # slice out of range
])
def test_forged_entries(tmp_path, fields):
    prefix = _forged(tmp_path, **fields)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptFileError) as info:
            bundle.load(prefix)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "forged" in str(info.value)
    assert peak < 1 << 20


def test_giant_shard_count(tmp_path):
    with pytest.raises(CorruptFileError, match="shards"):
        bundle.load(_forged(tmp_path, dtype=DT_FLOAT, dims=[1], size=4, num_shards=2**31 - 1))


# --- fuzzing: mutated golden files and forged entries ---

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SOURCES = {case: {suffix: open(golden_prefix(case) + suffix, "rb").read() for suffix in (".index", DATA)}
           for case in ("dtypes", "partitioned")}


@st.composite
def mutations(draw):
    case = draw(st.sampled_from(sorted(SOURCES)))
    suffix = draw(st.sampled_from([".index", DATA]))
    data = bytearray(SOURCES[case][suffix])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "truncate", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[pos:pos + draw(st.integers(1, 8))]
    return case, suffix, bytes(data)


@FUZZ
@given(mutation=mutations())
def test_fuzz_mutated_golden_files(tmp_path_factory, mutation):
    case, suffix, data = mutation
    tmp = tmp_path_factory.mktemp("fuzz")
    prefix = str(tmp / "model.ckpt")
    for s, original in SOURCES[case].items():
        open(prefix + s, "wb").write(data if s == suffix else original)
    tracemalloc.start()
    try:
        result = _load_or_error(prefix)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * (len(data) + 4096) + (1 << 20)
    if not isinstance(result, Exception):
        expected = bundle.load(golden_prefix(case))
        assert sorted(result) == sorted(expected)
        for name, value in expected.items():
            assert_same(result[name], value)


@FUZZ
@given(dtype=st.sampled_from([DT_FLOAT, DT_STRING, 9, 10, 14, 20, 21, 0, 101, 99]),
       dims=st.lists(st.integers(-2, 2**62), max_size=4) | st.lists(st.integers(0, 6), max_size=3),
       offset=st.integers(0, 80) | st.integers(0, 2**63 - 1),
       size=st.integers(0, 80) | st.integers(0, 2**63 - 1),
       crc=st.integers(0, 2**32 - 1),
       slices=st.lists(st.lists(st.tuples(st.integers(0, 8), st.integers(-1, 8)), max_size=3), max_size=3),
       data=st.binary(max_size=80))
def test_fuzz_forged_entries(tmp_path_factory, dtype, dims, offset, size, crc, slices, data):
    prefix = _forged(tmp_path_factory.mktemp("forged"), data=data, dtype=dtype, dims=dims, offset=offset,
                     size=size, crc32c=crc, slices=slices)
    tracemalloc.start()
    try:
        result = _load_or_error(prefix)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    if not isinstance(result, Exception):
        assert isinstance(result["t"], np.ndarray)
