"""Optimizer updates write into the variable's buffer only when nothing else can see that buffer.

``Apply*`` kernels update in place when the session state is the sole holder of a variable's array
(``Ref.exclusive``); a caller's array handed to ``load``/a fed initial value, values fetched earlier and
values another op of the same step still holds must never change under the caller.
"""
import numpy as np
import pytest

import deferflow as tf
from deferflow.client import executor

OPTIMIZERS = {
    "sgd": lambda: tf.train.GradientDescentOptimizer(0.1),
    "momentum": lambda: tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    "adam": lambda: tf.train.AdamOptimizer(0.1),
    "adagrad": lambda: tf.train.AdagradOptimizer(0.1),
    "rmsprop": lambda: tf.train.RMSPropOptimizer(0.1, momentum=0.5, centered=True),
    "adadelta": lambda: tf.train.AdadeltaOptimizer(1.0),
}


def _model(opt_name, init=None):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
        if init is None:
            w = tf.Variable(np.full((3, 2), 0.5, np.float32), name="w")
        else:
            w = tf.Variable(init, name="w")
        loss = tf.reduce_sum(tf.square(tf.matmul(x, w) - 1.0))
        train = OPTIMIZERS[opt_name]().minimize(loss)
        sess = tf.Session(graph=graph)
    return graph, w, train, sess


def _buffer_address(sess, var):
    value = sess._state.variables[var.op.name]
    return value.__array_interface__["data"][0]


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_updates_reuse_the_buffer_and_match_copying_updates(opt_name, monkeypatch):
    graph, w, train, sess = _model(opt_name)
    with graph.as_default():
        sess.run(tf.global_variables_initializer())
    sess.run(train)
    address = _buffer_address(sess, w)
    for _ in range(3):
        sess.run(train)
    assert _buffer_address(sess, w) == address  # updated in place after the first step
    in_place = sess.run(w)

    monkeypatch.setattr(executor.Ref, "exclusive", lambda self: None)  # force the copying path
    graph, w, train, sess = _model(opt_name)
    with graph.as_default():
        sess.run(tf.global_variables_initializer())
    for _ in range(4):
        sess.run(train)
    np.testing.assert_array_equal(sess.run(w), in_place)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_callers_arrays_and_fetched_values_never_change(opt_name):
    graph, w, train, sess = _model(opt_name)
    with graph.as_default():
        sess.run(tf.global_variables_initializer())
    mine = np.full((3, 2), 0.25, np.float32)
    w.load(mine, sess)
    fetched = sess.run(w)
    for _ in range(3):
        sess.run(train)
    np.testing.assert_array_equal(mine, np.full((3, 2), 0.25, np.float32))
    np.testing.assert_array_equal(fetched, np.full((3, 2), 0.25, np.float32))
    assert not np.array_equal(sess.run(w), fetched)


def test_fed_initial_value_is_not_updated_in_place():
    fed = np.full((3, 2), 0.5, np.float32)
    graph = tf.Graph()
    with graph.as_default():
        init = tf.placeholder(tf.float32, [3, 2])
        w = tf.Variable(init, name="w")
        train = tf.train.GradientDescentOptimizer(0.5).minimize(tf.reduce_sum(w * w))
        sess = tf.Session(graph=graph)
        sess.run(w.initializer, {init: fed})
    sess.run(train)
    sess.run(train)
    np.testing.assert_array_equal(fed, np.full((3, 2), 0.5, np.float32))
    np.testing.assert_array_equal(sess.run(w), np.zeros((3, 2), np.float32))  # 0.5 - 0.5 * (2 * 0.5), then still 0


def test_a_view_held_by_the_same_step_keeps_its_value():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.arange(6, dtype=np.float32), name="w")
        flat = tf.reshape(w, [2, 3])  # a view of the variable's buffer in this step
        with tf.control_dependencies([flat]):
            train = tf.train.GradientDescentOptimizer(1.0).minimize(tf.reduce_sum(w))
        sess = tf.Session(graph=graph)
        sess.run(w.initializer)
    sess.run(train)  # the first update publishes a buffer of the state's own
    before = sess.run(w)
    seen, _ = sess.run([flat, train])
    np.testing.assert_array_equal(seen, before.reshape(2, 3))
    np.testing.assert_array_equal(sess.run(w), before - 1)


def test_uninitialized_variable_still_fails_precondition():
    graph, w, train, sess = _model("adam")
    with graph.as_default():
        sess.run([v.initializer for v in tf.global_variables() if v is not w])
    with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value w"):
        sess.run(train)
