"""Shared by the tf.image tests: build the same graph in deferflow and TensorFlow and run it."""
import numpy as np

import deferflow


def run_both(tf_real, build, feeds=()):
    """``build(tf, *placeholders_or_values)`` in each framework; returns (ours, theirs) fetched values.

    ``feeds`` is a list of (array, static shape or None); each becomes a placeholder of that shape
    (the array's own shape when None) fed with the array.
    """
    out = []
    for tf in (deferflow, tf_real):
        g = tf.Graph()
        with g.as_default():
            phs = [tf.placeholder(tf.as_dtype(np.asarray(v).dtype), np.shape(v) if s is None else s)
                   for v, s in feeds]
            ys = build(tf, *phs)
            with tf.Session(graph=g) as sess:
                out.append(sess.run(ys, dict(zip(phs, [v for v, _ in feeds]))))
    return out


def static_shape(tf, build, feeds=()):
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(np.asarray(v).dtype), np.shape(v) if s is None else s) for v, s in feeds]
        ys = build(tf, *phs)
        return [y.shape.as_list() if y.shape.ndims is not None else None
                for y in (ys if isinstance(ys, (list, tuple)) else [ys])]


def assert_same(ours, theirs, rtol=0.0, atol=0.0):
    if isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b, rtol, atol)
        return
    a, b = np.asarray(ours), np.asarray(theirs)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    if rtol == 0 and atol == 0:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
