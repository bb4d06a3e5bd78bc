"""Session.run: fetch structures, feeds, errors, caching, callables, default sessions."""
import collections

import numpy as np
import pytest

import deferflow as tf


def _graph():
    w1 = tf.placeholder("float", name="w1")
    w2 = tf.placeholder("float", name="w2")
    b1 = tf.Variable(2.0, name="bias")
    w4 = tf.multiply(tf.add(w1, w2), b1, name="op_to_restore")
    return w1, w2, b1, w4


def test_fetch_structures():
    w1, w2, b1, w4 = _graph()
    Pair = collections.namedtuple("Pair", "a b")
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        feed = {w1: 4, w2: 8}
        assert s.run(w4, feed) == 24.0
        assert isinstance(s.run(w4, feed), np.float32)
        out = s.run({"x": [w4, (w4, "w1:0")], "p": Pair(b1, tf.no_op())}, feed)
        assert out["x"][0] == 24.0 and out["x"][1] == (24.0, 4.0)
        assert isinstance(out["x"][1], tuple)
        assert out["p"] == Pair(2.0, None)
        assert s.run("op_to_restore:0", {"w1:0": 1.0, "w2:0": 2.0}) == 6.0
        assert s.run(tf.global_variables_initializer()) is None


def test_feed_checks():
    x = tf.placeholder(tf.float32, [2], name="x")
    y = x * 2
    with tf.Session() as s:
        with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3,\) for Tensor x:0, which has shape \(2,\)"):
            s.run(y, {x: [1.0, 2.0, 3.0]})
        with pytest.raises(ValueError):
            s.run(y, {x: ["a", "b"]})
        with pytest.raises(TypeError, match="Cannot interpret feed_dict key"):
            s.run(y, {"nope:0": [1.0, 2.0]})
        with pytest.raises(TypeError, match="cannot be a tf.Tensor"):
            s.run(y, {x: y})
        with pytest.raises(tf.errors.InvalidArgumentError, match="You must feed a value for placeholder tensor 'x'"):
            s.run(y)
        # ints are converted to the placeholder's dtype
        np.testing.assert_array_equal(s.run(y, {x: [1, 2]}), np.array([2, 4], np.float32))


def test_fetch_errors():
    x = tf.placeholder(tf.float32, [2], name="x")
    with tf.Session() as s:
        with pytest.raises(ValueError, match="cannot be interpreted as a Tensor"):
            s.run("nope:0")
        with pytest.raises(TypeError, match="Cannot be None"):
            s.run(None)
        g2 = tf.Graph()
        with g2.as_default():
            z = tf.constant(1.0)
        with pytest.raises(ValueError, match="not an element of this graph"):
            s.run(z)
    with pytest.raises(RuntimeError, match="closed Session"):
        s.run(x, {x: [1, 2]})


def test_fed_non_placeholder_overrides_value():
    a = tf.constant(3.0)
    b = a * 2
    with tf.Session() as s:
        assert s.run(b, {a: 10.0}) == 20.0
        assert s.run(b) == 6.0


def test_uninitialized_variable_error_names_it():
    _, _, b1, w4 = _graph()
    with tf.Session() as s:
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value bias"):
            s.run(w4, {"w1:0": 1, "w2:0": 2})
        assert list(s.run(tf.report_uninitialized_variables())) == [b"bias"]
        s.run(b1.initializer)
        assert list(s.run(tf.report_uninitialized_variables())) == []
        assert s.run(tf.is_variable_initialized(b1))


def test_graph_changes_after_run_just_work():
    w1, w2, b1, w4 = _graph()
    s = tf.Session()
    s.run(tf.global_variables_initializer())
    assert s.run(w4, {w1: 1, w2: 1}) == 4.0
    doubled = tf.multiply(w4, 2)
    assert s.run(doubled, {w1: 13.0, w2: 17.0}) == 120.0


def test_each_node_runs_once_per_run():
    calls = []
    op = tf.register_kernel  # noqa: F841 - public API exists
    c = tf.random_uniform([3], seed=1)
    d = c + c
    with tf.Session() as s:
        v1, v2 = s.run([c, d])
        np.testing.assert_allclose(v2, 2 * v1)
        assert not calls


def test_make_callable_and_eval_and_interactive():
    w1, w2, b1, w4 = _graph()
    sess = tf.InteractiveSession()
    try:
        sess.run(tf.global_variables_initializer())
        f = sess.make_callable(w4, [w1, w2])
        assert f(4.0, 8.0) == 24.0
        assert w4.eval({w1: 1, w2: 2}) == 6.0
        assert b1.eval() == 2.0
        tf.assign(b1, 5.0).op.run()
        assert b1.eval() == 5.0
    finally:
        sess.close()
    assert tf.get_default_session() is None


def test_default_session_and_closed_session():
    c = tf.constant(2.0)
    with tf.Session() as s:
        assert tf.get_default_session() is s
        assert c.eval() == 2.0
    assert tf.get_default_session() is None
    with pytest.raises(ValueError, match="No default session"):
        c.eval()


def test_config_is_accepted():
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False)
    config.gpu_options.allow_growth = True
    with tf.Session(config=config) as s:
        assert s.run(tf.constant(1)) == 1


def test_random_seeds_repeat_across_sessions_and_draw_anew_each_run():
    tf.set_random_seed(42)
    r = tf.random_normal([4])
    with tf.Session() as s:
        a, b = s.run(r), s.run(r)
    with tf.Session() as s:
        a2 = s.run(r)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, a2)


def test_variable_api():
    v = tf.Variable([1.0, 2.0], name="v")
    assert v.name == "v:0" and v.op.name == "v" and v.shape.as_list() == [2] and v.dtype == tf.float32_ref
    with tf.Session() as s:
        s.run(v.initializer)
        np.testing.assert_array_equal(s.run(v.assign_add([1.0, 1.0])), [2.0, 3.0])
        np.testing.assert_array_equal(s.run(v.assign_sub([0.5, 0.5])), [1.5, 2.5])
        np.testing.assert_array_equal(s.run(v.read_value()), [1.5, 2.5])
        fetched = s.run(v)
        fetched[0] = 100.0  # fetched values never alias variable state
        np.testing.assert_array_equal(s.run(v), [1.5, 2.5])
        v.load([7.0, 8.0], s)
        np.testing.assert_array_equal(s.run(v.value()), [7.0, 8.0])
        with pytest.raises(tf.errors.InvalidArgumentError, match="Assign requires shapes"):
            s.run(tf.assign(v, tf.placeholder_with_default([1.0, 2.0, 3.0], [None])))


def test_global_step_helpers():
    gs = tf.train.get_or_create_global_step()
    assert gs.name == "global_step:0" and gs.dtype.base_dtype == tf.int64
    assert tf.train.get_global_step() is gs
    assert tf.train.get_or_create_global_step() is gs
    with pytest.raises(ValueError):
        tf.train.create_global_step()
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        assert tf.train.global_step(s, gs) == 0


def test_group_tuple_and_control_dependencies():
    v = tf.Variable(0.0, name="counter")
    inc = tf.assign_add(v, 1.0)
    with tf.control_dependencies([inc]):
        read = tf.identity(v)
    g = tf.group(inc, name="grp")
    assert g.type == "NoOp" and inc.op in g.control_inputs
    a, b = tf.tuple([tf.constant(1.0), tf.constant(2.0)])
    with tf.Session() as s:
        s.run(v.initializer)
        assert s.run(read) == 1.0
        s.run(g)
        assert s.run(v) == 2.0
        assert s.run([a, b]) == [1.0, 2.0]


def test_errors_module_classes():
    for name in ["OpError", "InvalidArgumentError", "FailedPreconditionError", "NotFoundError", "OutOfRangeError",
                 "DataLossError", "UnimplementedError", "ResourceExhaustedError", "AlreadyExistsError",
                 "AbortedError", "CancelledError", "InternalError", "UnknownError"]:
        cls = getattr(tf.errors, name)
        assert issubclass(cls, tf.errors.OpError)
    e = tf.errors.NotFoundError(None, None, "msg")
    assert e.message == "msg" and e.op is None and e.error_code == tf.errors.NOT_FOUND
