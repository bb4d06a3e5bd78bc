"""tf.train.Example protos, tf.io.parse_example/parse_single_example and decode_raw against TensorFlow."""
import numpy as np
import pytest

import deferflow
import deferflow.data  # noqa: F401 - registers the dataset ops

from datautil import assert_same_elements


def example(tf, **features):
    """A serialized ``tf.train.Example`` built with ``tf``'s own proto classes."""
    e = tf.train.Example()
    for k, v in features.items():
        f = e.features.feature[k]
        if isinstance(v[0], bytes):
            f.bytes_list.value.extend(v)
        elif isinstance(v[0], float):
            f.float_list.value.extend(v)
        else:
            f.int64_list.value.extend(v)
    return e.SerializeToString()


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if type(x).__name__ == "SparseTensorValue":
        return ("sparse", _plain(x.indices), _plain(x.values), _plain(x.dense_shape))
    return np.asarray(x)


def test_example_protos_are_wire_compatible_with_tensorflow(tf_real):
    ours = deferflow.train.Example(features=deferflow.train.Features(feature={
        "i": deferflow.train.Feature(int64_list=deferflow.train.Int64List(value=[1, -2, 3])),
        "f": deferflow.train.Feature(float_list=deferflow.train.FloatList(value=[0.5, 2.0])),
        "b": deferflow.train.Feature(bytes_list=deferflow.train.BytesList(value=[b"x", b"\x00yz"]))}))
    theirs = tf_real.train.Example.FromString(ours.SerializeToString())
    assert list(theirs.features.feature["i"].int64_list.value) == [1, -2, 3]
    assert list(theirs.features.feature["f"].float_list.value) == [0.5, 2.0]
    assert list(theirs.features.feature["b"].bytes_list.value) == [b"x", b"\x00yz"]
    assert deferflow.train.Example.FromString(theirs.SerializeToString()) == ours
    seq = tf_real.train.SequenceExample()
    seq.context.feature["len"].int64_list.value.append(2)
    seq.feature_lists.feature_list["tok"].feature.add().bytes_list.value.append(b"a")
    back = deferflow.train.SequenceExample.FromString(seq.SerializeToString())
    assert back.context.feature["len"].int64_list.value == [2]
    assert back.feature_lists.feature_list["tok"].feature[0].bytes_list.value == [b"a"]


FEATURES = lambda tf: {  # noqa: E731
    "label": tf.io.FixedLenFeature([], tf.int64),
    "vec": tf.io.FixedLenFeature([2, 2], tf.float32),
    "name": tf.io.FixedLenFeature([], tf.string, default_value="anon"),
    "opt": tf.io.FixedLenFeature([3], tf.int64, default_value=[7, 8, 9]),
    "tags": tf.io.VarLenFeature(tf.string),
    "ids": tf.io.VarLenFeature(tf.int64),
    "seq": tf.io.FixedLenSequenceFeature([2], tf.float32, allow_missing=True, default_value=-1.0),
}

RECORDS = [
    dict(label=[1], vec=[1.0, 2.0, 3.0, 4.0], name=[b"a"], tags=[b"x", b"y"], ids=[5], seq=[1.0, 2.0, 3.0, 4.0]),
    dict(label=[2], vec=[0.0, 0.5, 1.0, 1.5], opt=[1, 2, 3], ids=[6, 7, 8]),
    dict(label=[3], vec=[9.0, 9.0, 9.0, 9.0], name=[b"c"], tags=[b"z"], seq=[5.0, 6.0]),
]


def _parse_batch(tf):
    with tf.Graph().as_default():
        s = tf.placeholder(tf.string, [None])
        out = tf.io.parse_example(s, FEATURES(tf))
        shapes = {k: (v.shape.as_list() if hasattr(v, "shape") and not hasattr(v, "indices")
                      else v.indices.shape.as_list()) for k, v in out.items()}
        types = sorted(op.type for op in tf.get_default_graph().get_operations() if op.type.startswith("Parse"))
        with tf.Session() as sess:
            vals = sess.run(out, {s: [example(tf, **r) for r in RECORDS]})
        return _plain(vals), shapes, types


def test_parse_example_batch_matches_tensorflow(tf_real):
    ours, theirs = _parse_batch(deferflow), _parse_batch(tf_real)
    assert_same_elements(ours[0], theirs[0])
    assert ours[1] == theirs[1]
    assert ours[2] == theirs[2] == ["ParseExampleV2"]
    assert ours[0]["opt"].tolist() == [[7, 8, 9], [1, 2, 3], [7, 8, 9]]


def _parse_single(tf, record):
    with tf.Graph().as_default():
        s = tf.placeholder(tf.string, [])
        out = tf.parse_single_example(s, FEATURES(tf))
        with tf.Session() as sess:
            return _plain(sess.run(out, {s: example(tf, **record)})), sorted(
                (k, v.shape.as_list()) for k, v in out.items() if not hasattr(v, "indices"))


@pytest.mark.parametrize("i", range(len(RECORDS)))
def test_parse_single_example_matches_tensorflow(tf_real, i):
    ours, theirs = _parse_single(deferflow, RECORDS[i]), _parse_single(tf_real, RECORDS[i])
    assert_same_elements(ours[0], theirs[0])
    assert ours[1] == theirs[1]


ERRORS = {
    "missing_required": ({"a": lambda tf: tf.io.FixedLenFeature([2], tf.int64)}, [dict(b=[1])]),
    "missing_in_second": ({"a": lambda tf: tf.io.FixedLenFeature([2], tf.int64)}, [dict(a=[1, 2]), dict(b=[1])]),
    "dense_wrong_type": ({"a": lambda tf: tf.io.FixedLenFeature([2], tf.int64)}, [dict(a=[1.0, 2.0])]),
    "dense_wrong_count": ({"a": lambda tf: tf.io.FixedLenFeature([2], tf.int64)}, [dict(a=[1, 2, 3])]),
    "sparse_wrong_type": ({"a": lambda tf: tf.io.VarLenFeature(tf.int64)}, [dict(a=[1.0])]),
}


def _parse_error(tf, case, single):
    feats, records = ERRORS[case]
    with tf.Graph().as_default():
        s = tf.placeholder(tf.string, [] if single else [None])
        fs = {k: f(tf) for k, f in feats.items()}
        out = tf.io.parse_single_example(s, fs) if single else tf.io.parse_example(s, fs)
        with tf.Session() as sess:
            data = example(tf, **records[-1]) if single else [example(tf, **r) for r in records]
            with pytest.raises(tf.errors.InvalidArgumentError) as e:
                sess.run(out, {s: data})
            return e.value.message


def _first_line(msg):
    text = msg.split("Node: ")[-1]
    lines = [ln for ln in text.split("\n") if ln and not ln.startswith("'") and "[[" not in ln]
    return lines[0]


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_parse_errors_match_tensorflow(tf_real, case):
    ours, theirs = _parse_error(deferflow, case, False), _parse_error(tf_real, case, False)
    assert _first_line(ours) == _first_line(theirs)


def test_parse_single_example_missing_feature_message(tf_real):
    ours = _parse_error(deferflow, "missing_required", True)
    theirs = _parse_error(tf_real, "missing_required", True)
    assert _first_line(ours) == _first_line(theirs) == \
        "Feature: a (data type: int64) is required but could not be found."


def test_garbage_record_is_invalid_argument():
    with deferflow.Graph().as_default():
        s = deferflow.placeholder(deferflow.string, [None])
        out = deferflow.io.parse_example(s, {"a": deferflow.io.FixedLenFeature([], deferflow.int64)})
        with deferflow.Session() as sess:
            with pytest.raises(deferflow.errors.InvalidArgumentError, match="Could not parse example input"):
                sess.run(out, {s: [b"garbage!"]})


@pytest.mark.parametrize("make, exc, text", [
    (lambda tf, s: tf.io.parse_example(s, {}), ValueError, "cannot be None or falsy"),
    (lambda tf, s: tf.io.parse_example(s, {"a": tf.io.FixedLenFeature([None], tf.int64)}), ValueError,
     "First dimension of shape for feature a unknown"),
    (lambda tf, s: tf.io.parse_example(s, {"a": tf.io.FixedLenFeature([2], tf.int32)}), TypeError,
     "DataType int32 not in list of allowed values"),
])
def test_build_errors_match_tensorflow(tf_real, make, exc, text):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            s = tf.placeholder(tf.string, [None])
            with pytest.raises(exc, match=text):
                make(tf, s)


def _decode(tf, little_endian, out_type):
    raw = [np.arange(4, dtype=np.int32).tobytes(), np.array([7, -1, 2 ** 20, 3], np.int32).tobytes()]
    with tf.Graph().as_default():
        s = tf.placeholder(tf.string, [2])
        s0 = tf.placeholder(tf.string, [])
        d = tf.io.decode_raw(s, getattr(tf, out_type), little_endian=little_endian)
        d1 = tf.decode_raw(s0, tf.uint8)
        with tf.Session() as sess:
            return sess.run([d, d1], {s: raw, s0: raw[0]}), d.shape.as_list()


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("out_type", ["int32", "float32", "int16", "uint8"])
def test_decode_raw_matches_tensorflow(tf_real, little_endian, out_type):
    (ours, ours_shape), (theirs, theirs_shape) = _decode(deferflow, little_endian, out_type), \
        _decode(tf_real, little_endian, out_type)
    assert ours_shape == theirs_shape
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_decode_raw_length_errors(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            s = tf.placeholder(tf.string, [None])
            d = tf.io.decode_raw(s, tf.int32)
            with tf.Session() as sess:
                with pytest.raises(tf.errors.InvalidArgumentError, match="not a multiple of 4"):
                    sess.run(d, {s: [b"abc"]})
                with pytest.raises(tf.errors.InvalidArgumentError, match="same size"):
                    sess.run(d, {s: [b"abcd", b"abcdefgh"]})


def _records_file(tf, path):
    with tf.io.TFRecordWriter(str(path)) as w:
        for r in RECORDS:
            w.write(example(tf, **r))


def _map_parse(tf, path):
    def parse(s):
        f = tf.io.parse_single_example(s, {"label": tf.io.FixedLenFeature([], tf.int64),
                                           "vec": tf.io.FixedLenFeature([4], tf.float32),
                                           "ids": tf.io.VarLenFeature(tf.int64)})
        return f["vec"] * 2.0, f["label"], tf.sparse.to_dense(f["ids"], default_value=-1)
    ds = tf.data.TFRecordDataset(str(path)).map(parse).padded_batch(2, padded_shapes=([4], [], [None]),
                                                                       padding_values=(0.0, np.int64(0),
                                                                                       np.int64(-9)))
    return ds


def test_parse_inside_dataset_map(tf_real, tmp_path):
    from datautil import run_both
    path = tmp_path / "r.tfrecord"
    _records_file(deferflow, path)
    ours, theirs = run_both(tf_real, lambda tf: _map_parse(tf, path))
    assert_same_elements(ours["elements"], theirs["elements"])
    assert ours["types"] == theirs["types"] and ours["shapes"] == theirs["shapes"]
    assert len(ours["elements"]) == 2
