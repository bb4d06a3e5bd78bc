"""Helpers: run one pipeline description in deferflow and in TensorFlow and compare what comes out."""
import numpy as np

import deferflow


def _types(tf, s):
    if isinstance(s, dict):
        return {k: _types(tf, v) for k, v in s.items()}
    if isinstance(s, tuple):
        return tuple(_types(tf, v) for v in s)
    return s.name


def _shapes(s):
    if isinstance(s, dict):
        return {k: _shapes(v) for k, v in s.items()}
    if isinstance(s, tuple):
        return tuple(_shapes(v) for v in s)
    return None if s.ndims is None else s.as_list()


def drain(tf, build, limit=1000):
    """Every element of ``build(tf)`` through a one-shot iterator, plus its output types and shapes."""
    with tf.Graph().as_default():
        ds = build(tf)
        nxt = tf.data.make_one_shot_iterator(ds).get_next()
        out = []
        with tf.Session() as s:
            for _ in range(limit):
                try:
                    out.append(s.run(nxt))
                except tf.errors.OutOfRangeError:
                    break
        return {"types": _types(tf, ds.output_types), "shapes": _shapes(ds.output_shapes), "elements": out,
                "tensor_shapes": _shapes(nest_shapes(nxt))}


def nest_shapes(x):
    if isinstance(x, dict):
        return {k: nest_shapes(v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(nest_shapes(v) for v in x)
    return x.shape


def run_both(tf_real, build):
    ours, theirs = drain(deferflow, build), drain(tf_real, build)
    assert ours["tensor_shapes"] == theirs["tensor_shapes"]
    assert ours["tensor_shapes"] == ours["shapes"]
    return ours, theirs


def assert_same_elements(a, b):
    assert type(a) is type(b) or isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)), (a, b)
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for k in a:
            assert_same_elements(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            assert_same_elements(x, y)
    else:
        x, y = np.asarray(a), np.asarray(b)
        assert x.dtype == y.dtype and x.shape == y.shape, (a, b)
        assert x.tolist() == y.tolist(), (a, b)
