"""Damaged checkpoints through the user-facing APIs (Saver.restore, NewCheckpointReader, load_variable):
``DataLossError`` naming the file and the tensor, ``NotFoundError`` for missing files; never another
exception, a hang or wrong values."""
import json
import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deferflow as tf
from deferflow.framework import errors

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden")
EXPECTED = json.load(open(os.path.join(GOLDEN, "expected.json")))["dtypes"]
DATA = ".data-00000-of-00001"


def _copy(tmp_path, case="dtypes"):
    src = os.path.join(GOLDEN, case)
    for name in os.listdir(src):
        if name.startswith("model.ckpt"):
            shutil.copy(os.path.join(src, name), tmp_path / name)
    return str(tmp_path / "model.ckpt")


def _graph():
    """Variables matching the golden "dtypes" checkpoint; returns (variables, saver)."""
    tf.reset_default_graph()
    vs = {}
    for name, info in EXPECTED.items():
        dtype = tf.as_dtype(info["dtype"])
        vs[name] = tf.Variable(tf.zeros(info["shape"], dtype) if dtype != tf.string else
                               tf.constant(b"", shape=info["shape"]), name=name)
    return vs, tf.train.Saver()


def _restore(prefix):
    """The restored values, or the tf.errors exception raised; any other exception fails the test."""
    vs, saver = _graph()
    with tf.Session() as sess:
        try:
            saver.restore(sess, prefix)
        except (errors.DataLossError, errors.NotFoundError, errors.InvalidArgumentError) as e:
            return e
        return {k: sess.run(v) for k, v in vs.items()}


def _assert_golden_values(values):
    reference = tf.train.NewCheckpointReader(os.path.join(GOLDEN, "dtypes", "model.ckpt"))
    for name, value in values.items():
        want = reference.get_tensor(name)
        assert np.asarray(value).tobytes() == np.asarray(want).tobytes() if np.asarray(want).dtype != object \
            else list(np.asarray(value).reshape(-1)) == list(np.asarray(want).reshape(-1)), name


def test_truncated_data_names_file_and_tensor(tmp_path):
    prefix = _copy(tmp_path)
    with open(prefix + DATA, "r+b") as f:
        f.truncate(40)
    err = _restore(prefix)
    assert isinstance(err, errors.DataLossError)
    assert "model.ckpt" + DATA in err.message and "reading tensor '" in err.message
    assert err.message.startswith("Unable to read checkpoint")
    reader = tf.train.NewCheckpointReader(prefix)  # the index is fine: the reader opens, reads fail
    assert reader.has_tensor("f32")
    with pytest.raises(errors.DataLossError, match=r"model\.ckpt\.data-00000-of-00001.*'str_vec'"):
        reader.get_tensor("str_vec")


def test_flipped_data_byte_is_a_checksum_error(tmp_path):
    prefix = _copy(tmp_path)
    entry_offset = 0
    reader = tf.train.NewCheckpointReader(prefix)
    with open(prefix + DATA, "r+b") as f:
        data = bytearray(f.read())
        data[entry_offset] ^= 0x40
        f.seek(0)
        f.write(data)
    errs = [n for n in reader.get_variable_to_shape_map() if _raises(reader, n)]
    assert errs  # the tensor at offset 0 is damaged and detected
    with pytest.raises(errors.DataLossError, match="checksum"):
        reader.get_tensor(errs[0])


def _raises(reader, name):
    try:
        reader.get_tensor(name)
    except errors.DataLossError:
        return True
    return False


@pytest.mark.parametrize("damage", ["truncate_index", "wrong_magic", "empty_index"])
def test_damaged_index(tmp_path, damage):
    prefix = _copy(tmp_path)
    path = prefix + ".index"
    data = open(path, "rb").read()
    if damage == "truncate_index":
        data = data[:len(data) // 2]
    elif damage == "wrong_magic":
        data = data[:-8] + b"\x00" * 8
    else:
        data = b""
    open(path, "wb").write(data)
    err = _restore(prefix)
    assert isinstance(err, errors.DataLossError) and "model.ckpt.index" in err.message
    with pytest.raises(errors.DataLossError, match=r"model\.ckpt\.index"):
        tf.train.NewCheckpointReader(prefix)
    with pytest.raises(errors.DataLossError):
        tf.train.load_variable(prefix, "f32")


def test_missing_data_shard_is_not_found(tmp_path):
    prefix = _copy(tmp_path, "sharded")
    os.remove(prefix + ".data-00001-of-00002")
    with pytest.raises(errors.NotFoundError, match=r"model\.ckpt\.data-00001-of-00002"):
        tf.train.NewCheckpointReader(prefix)
    tf.Variable(np.zeros((2, 3), np.float32), name="a")
    with pytest.raises(errors.NotFoundError, match=r"data-00001-of-00002"):
        tf.train.Saver().restore(tf.Session(), prefix)


def test_missing_checkpoint_is_not_found(tmp_path):
    with pytest.raises(errors.NotFoundError, match="Failed to find any matching files for"):
        tf.train.NewCheckpointReader(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="Couldn't find 'checkpoint' file"):
        tf.train.load_checkpoint(str(tmp_path))


FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SOURCES = {s: open(os.path.join(GOLDEN, "dtypes", "model.ckpt" + s), "rb").read() for s in (".index", DATA)}


@st.composite
def mutated(draw):
    suffix = draw(st.sampled_from(sorted(SOURCES)))
    data = bytearray(SOURCES[suffix])
    for _ in range(draw(st.integers(1, 3))):
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
    return suffix, bytes(data)


@FUZZ
@given(mutation=mutated())
def test_fuzz_restore_of_mutated_tensorflow_files(tmp_path_factory, mutation):
    suffix, data = mutation
    prefix = str(tmp_path_factory.mktemp("fuzz") / "model.ckpt")
    for s, original in SOURCES.items():
        open(prefix + s, "wb").write(data if s == suffix else original)
    result = _restore(prefix)
    if isinstance(result, errors.OpError):
        assert "model.ckpt" in result.message  # the damaged file (or the prefix) is named
    else:
        _assert_golden_values(result)
