"""The same TF1 code run on deferflow and on real TensorFlow: same values, op names, op types, shapes."""
import numpy as np
import pytest

import deferflow


def _seed_graph(tf):
    w1 = tf.placeholder("float", name="w1")
    w2 = tf.placeholder("float", name="w2")
    b1 = tf.Variable(2.0, name="bias")
    w4 = tf.multiply(tf.add(w1, w2), b1, name="op_to_restore")
    return [w4, w4 * 2], {"w1:0": 4.0, "w2:0": 8.0}


def _arith(tf):
    a = tf.constant([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]])
    b = tf.constant([0.5, 2.0, -1.0])
    i = tf.constant([7, -7, 9])
    outs = [a + b, a - b, a * b, a / b, -a, a ** 2, tf.square(a), tf.sqrt(tf.abs(a)), tf.exp(a / 10),
            tf.log(tf.abs(a)), abs(a), i // 2, i % 4, i / 2, tf.truediv(i, 4), tf.divide(a, 2.0),
            tf.subtract(a, 1), tf.negative(b), tf.maximum(a, b), tf.minimum(a, 0.0), tf.squared_difference(a, b),
            a < b, a <= b, a > b, a >= b, tf.equal(a, b), tf.not_equal(a, 1.0),
            tf.logical_and(a > 0, b > 0), tf.logical_or(a > 0, b > 0), tf.logical_not(a > 0)]
    return outs, {}


def _reduce_shape(tf):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    outs = [tf.reduce_sum(x), tf.reduce_sum(x, 1), tf.reduce_sum(x, axis=[0], keepdims=True), tf.reduce_mean(x),
            tf.reduce_mean(x, 0), tf.reduce_max(x, 1), tf.reduce_min(x), tf.reduce_prod(x, 0),
            tf.reduce_any(x > 2, 1), tf.reduce_all(x > -10), tf.reshape(x, [-1]), tf.reshape(x, [3, -1]),
            tf.cast(x, tf.int32), tf.cast(x > 1, tf.float32), tf.identity(x), tf.shape(x), tf.zeros_like(x),
            tf.ones_like(x), x[0], x[:, 1], x[..., None], x[tf.newaxis, 1:, ::2], x[-1, -1], x[::-1],
            tf.matmul(x, x, transpose_b=True), x @ tf.ones([3, 2])]
    return outs, {"x:0": np.arange(12, dtype=np.float32).reshape(4, 3) - 5}


def _creation(tf):
    outs = [tf.zeros([2, 3]), tf.ones([2], dtype=tf.int32), tf.fill([2, 2], 7.0), tf.range(5), tf.range(1, 10, 3),
            tf.range(1.0, 4.0), tf.constant(1.5, shape=[2, 2]), tf.constant([1, 2, 3, 4], shape=[2, 2]),
            tf.placeholder_with_default([1.0, 2.0], [2]), tf.zeros([40, 30]), tf.stack([1, 2, 3]),
            tf.constant([[True, False]]), tf.constant(["a", "bc"])]
    return outs, {}


def _variables(tf):
    v = tf.Variable([1.0, 2.0], name="v")
    w = tf.get_variable("w", [2], initializer=tf.constant_initializer(3.0))
    with tf.variable_scope("scope"):
        u = tf.get_variable("u", [2, 2], initializer=tf.ones_initializer())
    return [v + w, u, v.read_value(), tf.assign(w, [5.0, 6.0]).op.inputs[1]], {}


def _updates(tf):
    v = tf.Variable([1.0, 2.0], name="v")
    return [v.assign_add([1.0, 1.0]), v.assign_sub([2.0, 0.5]), tf.assign(v, [5.0, 6.0])], {}


CASES = [_seed_graph, _arith, _reduce_shape, _creation, _variables]
UPDATE_CASES = [_updates]


def _run(tf, build):
    g = tf.Graph()
    with g.as_default():
        outs, feed = build(tf)
        init = tf.global_variables_initializer()
        names = [(o.op.name, o.op.type, o.shape.as_list() if o.shape.ndims is not None else None, o.dtype.name)
                 for o in outs]
        ops = [(op.name, op.type) for op in g.get_operations()]
        with tf.Session(graph=g) as s:
            s.run(init)
            vals = s.run(outs, {g.get_tensor_by_name(k): v for k, v in feed.items()})
    return names, ops, vals


@pytest.mark.parametrize("build", CASES, ids=lambda f: f.__name__)
def test_same_as_tensorflow(tf_real, build):
    ours = _run(deferflow, build)
    theirs = _run(tf_real, build)
    assert ours[0] == theirs[0], "op names/types/static shapes/dtypes differ"
    assert ours[1] == theirs[1], "graph ops differ"
    for a, b in zip(ours[2], theirs[2]):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)
        else:
            np.testing.assert_array_equal(a, b)


def test_updates_same_as_tensorflow(tf_real):
    """Updates run one per session.run (their order within one run is unspecified in TF)."""
    results = []
    for tf in (deferflow, tf_real):
        g = tf.Graph()
        with g.as_default():
            outs, _ = _updates(tf)
            with tf.Session(graph=g) as s:
                s.run(tf.global_variables_initializer())
                results.append([s.run(o) for o in outs] + [[o.op.name for o in outs]])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
