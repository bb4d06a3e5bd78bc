"""Where optimizers put their own variables: Adam's ``beta1_power``/``beta2_power`` go under the name scope
``minimize`` was called in (TF's ``init_scope`` keeps it), slots under the primary's variable name."""
import numpy as np
import pytest

import deferflow as tf


def _names(lib, resource):
    graph = lib.Graph()
    with graph.as_default():
        w = lib.get_variable("w", initializer=np.ones((3, 2), np.float32), use_resource=resource)
        with lib.variable_scope("x"):
            with lib.name_scope("inner"):
                lib.train.AdamOptimizer(0.1).minimize(lib.reduce_sum(w * w))
        with lib.name_scope("train"):
            lib.train.AdamOptimizer(0.1, name="Second").minimize(lib.reduce_sum(w * w * 2.0))
        lib.train.AdamOptimizer(0.1, name="Third").minimize(lib.reduce_sum(w * w * 3.0))
        return sorted(v.op.name for v in lib.global_variables())


@pytest.mark.parametrize("resource", [False, True], ids=["ref", "resource"])
def test_adam_accumulators_follow_the_name_scope(resource, tf_real):
    ours = _names(tf, resource)
    assert "x/inner/beta1_power" in ours and "train/beta2_power" in ours and "beta1_power" in ours
    assert ours == _names(tf_real, resource)


def test_adam_accumulators_follow_the_name_scope_without_tensorflow():
    names = _names(tf, False)
    assert names == sorted(["w", "x/w/Adam", "x/w/Adam_1", "x/inner/beta1_power", "x/inner/beta2_power",
                            "w/Second", "w/Second_1", "train/beta1_power", "train/beta2_power",
                            "w/Third", "w/Third_1", "beta1_power", "beta2_power"])


OPTIMIZERS = {
    "sgd": lambda lib: lib.train.GradientDescentOptimizer(0.1),
    "momentum": lambda lib: lib.train.MomentumOptimizer(0.1, 0.9),
    "adam": lambda lib: lib.train.AdamOptimizer(0.1),
    "adagrad": lambda lib: lib.train.AdagradOptimizer(0.1),
    "rmsprop": lambda lib: lib.train.RMSPropOptimizer(0.1, centered=True),
}


def _training_graph_ops(lib, opt_name, resource):
    graph = lib.Graph()
    with graph.as_default():
        x = lib.placeholder(lib.float32, [None, 4], name="x")
        ids = lib.placeholder(lib.int32, [None], name="ids")
        emb = lib.get_variable("emb", initializer=np.ones((6, 4), np.float32), use_resource=resource)
        w = lib.get_variable("w", initializer=np.ones((4, 3), np.float32), use_resource=resource)
        b = lib.get_variable("b", initializer=np.zeros(3, np.float32), use_resource=resource)
        h = lib.nn.relu(lib.matmul(x + lib.nn.embedding_lookup(emb, ids), w) + b)
        loss = lib.reduce_mean(lib.square(h - 1.0))
        OPTIMIZERS[opt_name](lib).minimize(loss, global_step=lib.train.get_or_create_global_step())
        return [(op.name, op.type) for op in graph.get_operations()]


@pytest.mark.parametrize("resource", [False, True], ids=["ref", "resource"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_training_graph_is_op_for_op_tensorflows(opt_name, resource, tf_real):
    """Forward, gradients (with GATE_OP's tuple gating and IndexedSlices), slots and updates: the same op
    names and types, in the same order, as TensorFlow builds."""
    assert _training_graph_ops(tf, opt_name, resource) == _training_graph_ops(tf_real, opt_name, resource)


def test_gradient_gate_does_not_force_unread_gradients():
    """GATE_OP's tuple is in the graph as TF builds it, but the gradient of a placeholder input (read by
    nothing) is not computed just to pass the gate; the trained values are unaffected."""
    from deferflow.client import executor
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [4, 3], name="x")
        w = tf.Variable(np.ones((3, 2), np.float32), name="w")
        train = tf.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_sum(tf.matmul(x, w) ** 2))
        graph = tf.get_default_graph()
        dx = graph.get_operation_by_name("gradients/MatMul_grad/MatMul")
        gate = graph.get_operation_by_name("gradients/MatMul_grad/tuple/group_deps")
        assert dx in gate.control_inputs
        needed = executor.needed_ops([], [train], {x})
        assert gate in needed and dx not in needed
        sess = tf.Session()
        sess.run(w.initializer)
        sess.run(train, {x: np.ones((4, 3), np.float32)})
        np.testing.assert_allclose(sess.run(w), np.ones((3, 2)) - 0.1 * 4 * 2 * 3)
