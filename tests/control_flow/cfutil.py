"""Building one graph in deferflow and in real TensorFlow and comparing what the sessions return."""
import numpy as np

import deferflow


def run_in(tf, build, init=False):
    """``build(tf)`` -> (fetches, feed_dict); runs it in a fresh graph and session of that library."""
    g = tf.Graph()
    with g.as_default():
        fetches, feed = build(tf)
        with tf.Session(graph=g) as sess:
            if init:
                sess.run(tf.global_variables_initializer())
            return sess.run(fetches, feed)


def assert_same(a, b, rtol=1e-5, atol=1e-6):
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            assert_same(x, y, rtol, atol)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            assert_same(a[k], b[k], rtol, atol)
    elif a is None:
        assert b is None
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, (a.shape, b.shape)
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def differential(tf_real, build, init=False, rtol=1e-5, atol=1e-6):
    """Runs ``build`` in both libraries, asserts equal results, returns deferflow's."""
    ours = run_in(deferflow, build, init)
    theirs = run_in(tf_real, build, init)
    assert_same(ours, theirs, rtol, atol)
    return ours


def op_types(graph):
    return [(op.name, op.type) for op in graph.get_operations()]
