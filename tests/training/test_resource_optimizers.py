"""Optimizers on resource variables: TF's ``ResourceApply*`` ops, resource slots and accumulators, and
meta graphs with them trained across TensorFlow and deferflow in both directions."""
import os

import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import errors
from deferflow.ops.resource_variable_ops import ResourceVariable

OPTIMIZERS = {
    "sgd": lambda lib: lib.train.GradientDescentOptimizer(0.1),
    "momentum": lambda lib: lib.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    "adam": lambda lib: lib.train.AdamOptimizer(0.1),
    "adagrad": lambda lib: lib.train.AdagradOptimizer(0.1),
    "rmsprop": lambda lib: lib.train.RMSPropOptimizer(0.05, momentum=0.5),
    "centered_rmsprop": lambda lib: lib.train.RMSPropOptimizer(0.05, momentum=0.5, centered=True),
    "adadelta": lambda lib: lib.train.AdadeltaOptimizer(1.0),
    "ftrl": lambda lib: lib.train.FtrlOptimizer(0.1, l1_regularization_strength=0.01),
    "ftrl_v2": lambda lib: lib.train.FtrlOptimizer(0.1, l2_shrinkage_regularization_strength=0.1),
}


def _train(lib, opt_name, steps=3):
    graph = lib.Graph()
    with graph.as_default():
        w = lib.get_variable("w", initializer=np.arange(6, dtype=np.float32).reshape(3, 2) / 10, use_resource=True)
        b = lib.Variable(np.array([0.5, -0.5], np.float32), name="b", use_resource=True)
        x = lib.constant(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        loss = lib.reduce_sum(lib.square(lib.matmul(x, w) + b - 1.0))
        step = lib.train.get_or_create_global_step()
        train = OPTIMIZERS[opt_name](lib).minimize(loss, global_step=step)
        sess = lib.Session(graph=graph)
        sess.run(lib.global_variables_initializer())
        losses = [sess.run([loss, train])[0] for _ in range(steps)]
        return {
            "losses": losses,
            "values": {v.op.name: sess.run(v) for v in lib.global_variables()},
            "apply_types": sorted(op.type for op in graph.get_operations() if "Apply" in op.type),
            "resource_vars": sorted(v.op.name for v in lib.global_variables() if v.op.type == "VarHandleOp"),
        }


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_resource_training_matches_tensorflow(opt_name, tf_real):
    ours, theirs = _train(tf, opt_name), _train(tf_real, opt_name)
    assert ours["apply_types"] == theirs["apply_types"]
    assert all(t.startswith("ResourceApply") for t in ours["apply_types"])
    assert ours["resource_vars"] == theirs["resource_vars"]  # slots and accumulators are resource variables too
    assert sorted(ours["values"]) == sorted(theirs["values"])
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-5)
    for name, value in theirs["values"].items():
        np.testing.assert_allclose(ours["values"][name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "ftrl"])
def test_resource_and_ref_variables_train_alike(opt_name):
    resource = _train(tf, opt_name, steps=4)
    graph = tf.Graph()
    with graph.as_default():
        w = tf.get_variable("w", initializer=np.arange(6, dtype=np.float32).reshape(3, 2) / 10, use_resource=False)
        b = tf.Variable(np.array([0.5, -0.5], np.float32), name="b")
        x = tf.constant(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        loss = tf.reduce_sum(tf.square(tf.matmul(x, w) + b - 1.0))
        train = OPTIMIZERS[opt_name](tf).minimize(loss, global_step=tf.train.get_or_create_global_step())
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
        losses = [sess.run([loss, train])[0] for _ in range(4)]
        assert all(not t.startswith("Resource") for t in (op.type for op in graph.get_operations()))
        values = {v.op.name: sess.run(v) for v in tf.global_variables()}
    np.testing.assert_array_equal(losses, resource["losses"])
    assert losses[-1] < losses[0]
    for name, value in values.items():
        np.testing.assert_array_equal(resource["values"][name], value, err_msg=name)


def test_use_resource_and_enable_resource_variables_make_resource_variables():
    with tf.Graph().as_default():
        assert type(tf.Variable(1.0, name="a")) is tf.Variable
        assert isinstance(tf.Variable(1.0, name="b", use_resource=True), ResourceVariable)
        assert isinstance(tf.get_variable("c", [2], use_resource=True), ResourceVariable)
        with tf.variable_scope("s", use_resource=True):
            assert isinstance(tf.get_variable("d", [2]), ResourceVariable)
        assert not tf.resource_variables_enabled()
        tf.enable_resource_variables()
        try:
            assert tf.resource_variables_enabled()
            assert isinstance(tf.Variable(1.0, name="e"), ResourceVariable)
            assert type(tf.Variable(1.0, name="f", use_resource=False)) is tf.Variable
        finally:
            tf.disable_resource_variables()
        assert type(tf.Variable(1.0, name="g")) is tf.Variable


def test_uninitialized_resource_slot_fails_with_tensorflows_error():
    with tf.Graph().as_default():
        w = tf.Variable(np.ones(3, np.float32), name="w", use_resource=True)
        train = tf.train.AdamOptimizer(0.1).minimize(tf.reduce_sum(w * w))
        sess = tf.Session()
        sess.run(w.initializer)
        with pytest.raises(errors.FailedPreconditionError, match="Could not find variable"):
            sess.run(train)


def _their_adam_graph(tf_real, path):
    with tf_real.Graph().as_default():
        x = tf_real.placeholder(tf_real.float32, [None, 3], name="x")
        y = tf_real.placeholder(tf_real.float32, [None, 2], name="y")
        w = tf_real.get_variable("dense/kernel", initializer=np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
                                 use_resource=True)
        b = tf_real.get_variable("dense/bias", initializer=np.zeros(2, np.float32), use_resource=True)
        loss = tf_real.reduce_mean(tf_real.square(tf_real.matmul(x, w) + b - y), name="loss")
        step = tf_real.train.get_or_create_global_step()
        train = tf_real.train.AdamOptimizer(0.05).minimize(loss, global_step=step, name="train")
        tf_real.add_to_collection("train_op", train)
        saver = tf_real.train.Saver()
        with tf_real.Session() as sess:
            sess.run(tf_real.global_variables_initializer())
            sess.run(train, _FEED)
            saver.save(sess, os.path.join(path, "model.ckpt"))


_FEED_X = np.linspace(0, 1, 15, dtype=np.float32).reshape(5, 3)
_FEED_Y = np.linspace(1, -1, 10, dtype=np.float32).reshape(5, 2)
_FEED = {"x:0": _FEED_X, "y:0": _FEED_Y}


def _continue(lib, path, steps=3):
    with lib.Graph().as_default():
        saver = lib.train.import_meta_graph(os.path.join(path, "model.ckpt.meta"))
        with lib.Session() as sess:
            saver.restore(sess, os.path.join(path, "model.ckpt"))
            train = lib.get_collection("train_op")[0]
            losses = [sess.run(["loss:0", train], _FEED)[0] for _ in range(steps)]
            values = {v.op.name: sess.run(v) for v in lib.global_variables()}
    return losses, values


def test_tensorflow_resource_adam_graph_trains_on_here(tf_real, tmp_path):
    _their_adam_graph(tf_real, str(tmp_path))
    ours, theirs = _continue(tf, str(tmp_path)), _continue(tf_real, str(tmp_path))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    assert sorted(ours[1]) == sorted(theirs[1])
    for name, value in theirs[1].items():
        np.testing.assert_allclose(ours[1][name], value, rtol=1e-5, atol=1e-7, err_msg=name)
    assert ours[1]["global_step"] == 4


def test_our_resource_adam_graph_trains_in_tensorflow(tf_real, tmp_path):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.placeholder(tf.float32, [None, 2], name="y")
        w = tf.get_variable("dense/kernel", initializer=np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
                            use_resource=True)
        b = tf.get_variable("dense/bias", initializer=np.zeros(2, np.float32), use_resource=True)
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y), name="loss")
        train = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=tf.train.get_or_create_global_step(),
                                                      name="train")
        tf.add_to_collection("train_op", train)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(train, _FEED)
            saver.save(sess, str(tmp_path / "model.ckpt"))
    ours, theirs = _continue(tf, str(tmp_path)), _continue(tf_real, str(tmp_path))
    np.testing.assert_allclose(theirs[0], ours[0], rtol=1e-5)
    for name, value in ours[1].items():
        np.testing.assert_allclose(theirs[1][name], value, rtol=1e-5, atol=1e-7, err_msg=name)
