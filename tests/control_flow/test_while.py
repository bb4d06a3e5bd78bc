"""tf.while_loop: values, gradients, nesting, graphs written by TensorFlow, errors and interruption."""
import _thread
import threading
import time

import numpy as np
import pytest

import deferflow as tf
from cfutil import assert_same, differential, op_types


def test_counter_and_accumulator(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [2], name="x")
        n = t.placeholder(t.int32, [], name="n")
        i, acc, prod = t.while_loop(lambda i, a, p: i < n,
                                    lambda i, a, p: (i + 1, a + t.cast(i, t.float32) * x, p * x),
                                    [t.constant(0), t.zeros([2]), t.ones([2])])
        g = t.gradients(t.reduce_sum(acc) + t.reduce_sum(prod), x)
        return [i, acc, prod, g], {x: [1.5, -0.5], n: 4}
    differential(tf_real, build)


def test_zero_iterations(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [], name="x")
        r = t.while_loop(lambda a: a < 0.0, lambda a: a * 2.0, [x])
        return [r, t.gradients(r * 3.0, x)], {x: 5.0}
    assert differential(tf_real, build)[0] == 5.0


def test_nested_loops_with_gradients(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [3], name="x")

        def outer_body(i, acc):
            _, inner = t.while_loop(lambda j, b: j < i + 1, lambda j, b: (j + 1, b * x + 1.0), [0, acc])
            return i + 1, inner * 0.5
        _, r = t.while_loop(lambda i, a: i < 3, outer_body, [t.constant(0), t.ones([3])])
        return [r, t.gradients(t.reduce_sum(r * r), x)], {x: [0.5, 1.0, -1.5]}
    differential(tf_real, build, rtol=1e-4)


def test_cond_inside_loop_with_gradients(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [], name="x")

        def body(i, a):
            a = t.cond(t.equal(i % 2, 0), lambda: a * x, lambda: a + x * x)
            return i + 1, a
        _, r = t.while_loop(lambda i, a: i < 5, body, [t.constant(0), t.constant(1.0)])
        return [r, t.gradients(r, x)], {x: 1.5}
    differential(tf_real, build)


def test_tensor_array_loop_with_gradients(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [4, 3], name="x")
        w = t.constant(np.linspace(-1, 1, 9).reshape(3, 3).astype(np.float32))
        inp = t.TensorArray(t.float32, size=4).unstack(x)
        out = t.TensorArray(t.float32, size=4)

        def body(i, h, out):
            h = t.tanh(t.matmul(t.reshape(inp.read(i), [1, 3]), w) + h)
            return i + 1, h, out.write(i, t.reshape(h, [3]))
        _, h, out = t.while_loop(lambda i, h, o: i < 4, body, [t.constant(0), t.zeros([1, 3]), out])
        y = out.stack()
        return [y, h, t.gradients(t.reduce_sum(y * y), x)], {x: np.arange(12, dtype=np.float32).reshape(4, 3) / 10}
    differential(tf_real, build, rtol=1e-4)


def test_loop_graph_and_gradient_graph_match_tensorflow(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [], name="x")
        p = t.placeholder(t.bool, [], name="p")
        r = t.cond(p, lambda: x * 2.0, lambda: x + 1.0)
        w = t.while_loop(lambda i, a: i < 5, lambda i, a: (i + 1, a * x), [t.constant(0), x])
        t.gradients([r, w[1]], x)
    graphs = []
    for lib in (tf, tf_real):
        g = lib.Graph()
        with g.as_default():
            build(lib)
        graphs.append(g)
    ours, theirs = (op_types(g) for g in graphs)
    assert sorted(ours) == sorted(theirs)
    for name, typ in ours:
        if typ in ("Enter", "Merge", "Switch", "Exit", "NextIteration", "StackPushV2", "StackPopV2"):
            a, b = graphs[0].get_operation_by_name(name), graphs[1].get_operation_by_name(name)
            assert sorted(t.name for t in a.inputs) == sorted(t.name for t in b.inputs), name
            if typ == "Enter":
                assert a.get_attr("frame_name") == b.get_attr("frame_name")
                assert a.get_attr("is_constant") == b.get_attr("is_constant")


def test_tensorflow_written_loop_graph_runs_here(tf_real):
    """A GraphDef TF wrote (loops, conds in loops, TensorArrays, stack-based gradients) runs unchanged."""
    g = tf_real.Graph()
    with g.as_default():
        x = tf_real.placeholder(tf_real.float32, [3], name="x")

        def body(i, a, ta):
            a = tf_real.cond(i < 2, lambda: a * x, lambda: tf_real.sin(a) + x)
            return i + 1, a, ta.write(i, a)
        _, a, ta = tf_real.while_loop(lambda i, a, ta: i < 4, body,
                                      [tf_real.constant(0), tf_real.ones([3]), tf_real.TensorArray(tf_real.float32, 4)])
        y = tf_real.reduce_sum(ta.stack() * 2.0) + tf_real.reduce_sum(a)
        tf_real.identity(tf_real.gradients(y, x)[0], name="dx")
        tf_real.identity(y, name="y")
        with tf_real.Session() as s:
            want = s.run(["y:0", "dx:0"], {"x:0": [0.1, 0.2, -0.3]})
    gd = g.as_graph_def()
    with tf.Graph().as_default() as ours:
        tf.import_graph_def(gd, name="")
        with tf.Session() as s:
            got = s.run(["y:0", "dx:0"], {"x:0": [0.1, 0.2, -0.3]})
    assert_same(got, want, rtol=1e-5)
    assert {op.type for op in ours.get_operations()} >= {"StackV2", "StackPushV2", "StackPopV2", "Enter", "Exit",
                                                         "TensorArrayV3", "TensorArrayGradV3", "ControlTrigger"}


def test_variables_updated_in_loop():
    v = tf.Variable(0.0)

    def body(i):
        with tf.control_dependencies([tf.assign_add(v, 2.0)]):
            return i + 1
    r = tf.while_loop(lambda i: i < 3, body, [tf.constant(0)])
    with tf.Session() as s:
        s.run(v.initializer)
        assert s.run(r) == 3
        assert s.run(v) == 6.0


def test_maximum_iterations(tf_real):
    def build(t):
        r = t.while_loop(lambda i: t.constant(True), lambda i: i + 2, [t.constant(0)], maximum_iterations=7)
        return [r], {}
    assert differential(tf_real, build) == [14]


def test_shape_invariants(tf_real):
    x = tf.constant([1.0, 2.0])
    with pytest.raises(ValueError, match=r"Input tensor 'Const:0' enters the loop with shape \(2,\), but has shape "
                                         r"\(4,\) after one iteration. To allow the shape to vary"):
        tf.while_loop(lambda a: tf.size(a) < 10, lambda a: tf.concat([a, a], 0), [x])
    r = tf.while_loop(lambda a: tf.size(a) < 10, lambda a: tf.concat([a, a], 0), [x],
                      shape_invariants=[tf.TensorShape([None])])
    assert r.shape.as_list() == [None]
    with pytest.raises(ValueError, match="The shape invariant specified for .* is not compatible with the initial"):
        tf.while_loop(lambda a: a < 3, lambda a: a + 1, [tf.constant(0)], shape_invariants=[tf.TensorShape([2])])
    with tf.Session() as s:
        np.testing.assert_array_equal(s.run(r), [1, 2] * 8)


def test_bad_loops():
    x = tf.constant([1.0, 2.0])
    with pytest.raises(TypeError, match="'LoopCond'.*bool"):
        tf.while_loop(lambda a: tf.constant(1.0), lambda a: a, [x])
    with pytest.raises(ValueError, match="don't have the same number of elements"):
        tf.while_loop(lambda a, b: a < 3, lambda a, b: a + 1, [tf.constant(0), x])
    with pytest.raises(ValueError, match=r"'maximum_iterations' must be a scalar. Received shape: \(2,\)"):
        tf.while_loop(lambda a: a < 3, lambda a: a + 1, [tf.constant(0)], maximum_iterations=[3, 4])
    with pytest.raises(TypeError, match="'body' must be callable."):
        tf.while_loop(lambda a: a < 3, 5, [tf.constant(0)])
    with pytest.raises(ValueError, match="'loop_vars' must be provided."):
        tf.while_loop(lambda a: a < 3, lambda a: a, [])


def test_inner_loop_tensors_are_not_fetchable():
    r = tf.while_loop(lambda a: a < 3, lambda a: a + 1, [tf.constant(0)])
    inner = tf.get_default_graph().get_tensor_by_name("while/Identity:0")
    with tf.Session() as s:
        assert s.run(r) == 3
        with pytest.raises(ValueError, match="has been marked as not fetchable"):
            s.run(inner)


def test_infinite_loop_in_an_imported_graph_can_be_interrupted():
    with tf.Graph().as_default() as g:
        tf.while_loop(lambda i: i >= 0, lambda i: i + 1, [tf.placeholder(tf.int32, [], name="x")])  # endless for x >= 0
    x, r = tf.import_graph_def(g.as_graph_def(), name="", return_elements=["x:0", "while/Exit:0"])
    timer = threading.Timer(0.3, _thread.interrupt_main)
    with tf.Session() as s:
        t0 = time.time()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            s.run(r, {x: 0})
        assert time.time() - t0 < 10
        assert s.run(r, {x: -5}) == -5  # the session still works


def test_loop_values_are_not_folded_as_constants(tf_real):
    """A loop counter starts from a constant but is no constant: slicing with it and differentiating work."""
    def build(t):
        x = t.placeholder(t.float32, [None], name="x")
        n = t.shape(x)[0]
        ta = t.TensorArray(t.float32, size=0, dynamic_size=True)
        _, ta = t.while_loop(lambda i, ta: i < n, lambda i, ta: (i + 1, ta.write(i, x[i] * x[i])), [0, ta])
        y = t.reduce_sum(ta.stack())

        def body(i, a):
            return i + 1, a + 0.1 * t.gradients(a * a * 3.0, a)[0]  # a gradient inside the loop body
        _, z = t.while_loop(lambda i, a: i < 3, body, [t.constant(0), t.constant(1.0)])
        return [y, t.gradients(y, x)[0], z], {x: [1.0, 2.0, 3.0]}
    assert differential(tf_real, build)[0] == 14.0
