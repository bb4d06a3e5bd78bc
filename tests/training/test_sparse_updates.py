"""IndexedSlices gradients (gathers, embedding lookups) and the sparse updates optimizers build from them:
``Scatter*``/``ResourceScatter*``, ``SparseApply*``/``ResourceSparseApply*``, as TensorFlow builds and runs them."""
import os

import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import errors

OPTIMIZERS = {
    "sgd": lambda lib: lib.train.GradientDescentOptimizer(0.1),
    "adam": lambda lib: lib.train.AdamOptimizer(0.1),
    "momentum": lambda lib: lib.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    "adagrad": lambda lib: lib.train.AdagradOptimizer(0.1),
    "rmsprop": lambda lib: lib.train.RMSPropOptimizer(0.1, momentum=0.3),
    "centered_rmsprop": lambda lib: lib.train.RMSPropOptimizer(0.1, momentum=0.3, centered=True),
    "adadelta": lambda lib: lib.train.AdadeltaOptimizer(1.0),
    "ftrl": lambda lib: lib.train.FtrlOptimizer(0.1, l1_regularization_strength=0.001),
    "ftrl_v2": lambda lib: lib.train.FtrlOptimizer(0.1, l2_shrinkage_regularization_strength=0.1),
}
IDS = [1, 3, 1, 4]  # row 1 twice, rows 0 and 2 never


def _embedding_model(lib, opt_name, resource, steps=3):
    graph = lib.Graph()
    with graph.as_default():
        emb = lib.get_variable("emb", initializer=np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4),
                               use_resource=resource)
        looked_up = lib.nn.embedding_lookup(emb, lib.constant(IDS))
        loss = lib.reduce_sum(lib.square(looked_up - 0.5) * lib.constant([[1.0], [2.0], [3.0], [4.0]]))
        train = OPTIMIZERS[opt_name](lib).minimize(loss)
        sess = lib.Session(graph=graph)
        sess.run(lib.global_variables_initializer())
        losses = [sess.run([loss, train])[0] for _ in range(steps)]
        return {"losses": losses,
                "values": {v.op.name: sess.run(v) for v in lib.global_variables()},
                "update_types": sorted(op.type for op in graph.get_operations()
                                       if "Apply" in op.type or "Scatter" in op.type)}


@pytest.mark.parametrize("resource", [False, True], ids=["ref", "resource"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_sparse_training_matches_tensorflow(opt_name, resource, tf_real):
    ours, theirs = _embedding_model(tf, opt_name, resource), _embedding_model(tf_real, opt_name, resource)
    assert ours["update_types"] == theirs["update_types"]
    assert not any(t.startswith(("Apply", "ResourceApply")) for t in ours["update_types"])  # no dense update
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-5)
    assert sorted(ours["values"]) == sorted(theirs["values"])
    for name, value in theirs["values"].items():
        np.testing.assert_allclose(ours["values"][name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("opt_name", ["momentum", "adagrad", "rmsprop", "adadelta", "ftrl"])
def test_rows_never_looked_up_keep_their_values_and_slots(opt_name):
    result = _embedding_model(tf, opt_name, resource=False)
    start = np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4)
    emb = result["values"]["emb"]
    np.testing.assert_array_equal(emb[[0, 2]], start[[0, 2]])
    assert not np.allclose(emb[[1, 3, 4]], start[[1, 3, 4]])


def test_gather_gradient_is_indexed_slices_and_fetches_as_a_value():
    with tf.Graph().as_default():
        w = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3), name="w")
        g = tf.gradients(tf.reduce_sum(tf.gather(w, [2, 0, 2]) * 2.0), w)[0]
        assert isinstance(g, tf.IndexedSlices) and g.dtype == tf.float32 and g.shape.as_list() == [4, 3]
        twice = tf.gradients(tf.reduce_sum(tf.gather(w, [1])) + tf.reduce_sum(tf.gather(w, [3, 1])), w)[0]
        mixed = tf.gradients(tf.reduce_sum(tf.gather(w, [1])) + tf.reduce_sum(w * 3.0), w)[0]
        clipped, norm = tf.clip_by_global_norm([g, tf.ones([2])], 1.0)
        sess = tf.Session()
        sess.run(w.initializer)
        value = sess.run(g)
        assert isinstance(value, tf.IndexedSlicesValue)
        np.testing.assert_array_equal(value.indices, [2, 0, 2])
        np.testing.assert_array_equal(value.values, np.full((3, 3), 2.0, np.float32))
        np.testing.assert_array_equal(value.dense_shape, [4, 3])
        dense = sess.run(tf.convert_to_tensor(g))
        np.testing.assert_array_equal(dense, [[2] * 3, [0] * 3, [4] * 3, [0] * 3])
        assert isinstance(twice, tf.IndexedSlices)  # all contributions sparse: rows concatenated
        np.testing.assert_array_equal(sess.run(twice).indices, [3, 1, 1])
        assert isinstance(mixed, tf.Tensor)  # a dense contribution: summed densely
        np.testing.assert_array_equal(sess.run(mixed), [[3] * 3, [4] * 3, [3] * 3, [3] * 3])
        assert isinstance(clipped[0], tf.IndexedSlices)
        total = np.sqrt(9 * 4.0 + 2)
        np.testing.assert_allclose(sess.run(norm), total, rtol=1e-6)
        np.testing.assert_allclose(sess.run(clipped[0]).values, np.full((3, 3), 2.0 / total), rtol=1e-6)


def _sequential_adagrad(var, accum, lr, grad, indices):
    var, accum = var.copy(), accum.copy()
    for row, g in zip(indices, grad):  # TF's kernel: one row after another
        accum[row] += g * g
        var[row] -= lr * g / np.sqrt(accum[row])
    return var, accum


def test_sparse_apply_with_repeated_rows_applies_them_in_turn():
    start = np.linspace(0.5, 2, 12, dtype=np.float32).reshape(4, 3)
    grad = np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3)
    indices = np.array([3, 1, 3, 0, 3], np.int64)
    with tf.Graph().as_default():
        var = tf.Variable(start, name="var")
        accum = tf.Variable(np.full((4, 3), 0.1, np.float32), name="accum")
        update = tf.raw_ops.SparseApplyAdagrad(var=var._ref(), accum=accum._ref(), lr=np.float32(0.5), grad=grad,
                                               indices=indices)
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
        sess.run(update)
        want_var, want_accum = _sequential_adagrad(start, np.full((4, 3), 0.1, np.float32), np.float32(0.5), grad,
                                                   indices)
        np.testing.assert_allclose(sess.run(var), want_var, rtol=1e-6)
        np.testing.assert_allclose(sess.run(accum), want_accum, rtol=1e-6)


def test_sparse_and_scatter_errors_name_the_problem():
    with tf.Graph().as_default():
        var = tf.Variable(np.zeros((4, 3), np.float32), name="var")
        accum = tf.Variable(np.ones((4, 3), np.float32), name="accum")
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
        bad_row = tf.raw_ops.SparseApplyAdagrad(var=var._ref(), accum=accum._ref(), lr=np.float32(0.1),
                                                grad=np.ones((1, 3), np.float32), indices=[7])
        with pytest.raises(errors.InvalidArgumentError, match="Index 7 at offset 0 in indices is out of range"):
            sess.run(bad_row)
        bad_width = tf.raw_ops.SparseApplyAdagrad(var=var._ref(), accum=accum._ref(), lr=np.float32(0.1),
                                                  grad=np.ones((1, 2), np.float32), indices=[0])
        with pytest.raises(errors.InvalidArgumentError, match="var and grad must match in dimension 1"):
            sess.run(bad_width)
        with pytest.raises(errors.InvalidArgumentError, match=r"indices\[1\] = 9 is not in \[0, 4\)"):
            sess.run(tf.scatter_add(var, [0, 9], np.ones((2, 3), np.float32)))
        with pytest.raises(errors.InvalidArgumentError, match="Must have updates.shape = indices.shape"):
            sess.run(tf.scatter_update(var, [0, 1], np.ones((2, 2), np.float32)))
        np.testing.assert_array_equal(sess.run(var), np.zeros((4, 3)))  # failed updates changed nothing


@pytest.mark.parametrize("resource", [False, True], ids=["ref", "resource"])
def test_scatter_ops_match_tensorflow(resource, tf_real):
    def run(lib):
        with lib.Graph().as_default():
            v = lib.get_variable("v", initializer=np.arange(1, 13, dtype=np.float32).reshape(4, 3),
                                 use_resource=resource)
            rows = np.array([[1.0, 2, 3], [4, 5, 6], [-1, -1, -1]], np.float32)
            ops_ = [lib.scatter_add(v, [0, 2, 0], rows), lib.scatter_sub(v, [3, 3, 1], rows),
                    lib.scatter_mul(v, [1, 1, 2], rows), lib.scatter_div(v, [2, 0, 3], rows),
                    lib.scatter_min(v, [0, 1, 2], rows), lib.scatter_max(v, [3, 2, 1], rows),
                    lib.scatter_update(v, [2, 1, 0], rows)]
            sess = lib.Session()
            sess.run(lib.global_variables_initializer())
            return [sess.run(op) for op in ops_]
    for ours, theirs in zip(run(tf), run(tf_real)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


_X_IDS = np.array([[0, 2], [3, 3], [1, 0]], np.int32)
_Y = np.array([1.0, -1.0, 0.5], np.float32)


def _their_embedding_graph(tf_real, path, opt):
    with tf_real.Graph().as_default():
        ids = tf_real.placeholder(tf_real.int32, [None, 2], name="ids")
        y = tf_real.placeholder(tf_real.float32, [None], name="y")
        emb = tf_real.get_variable("emb", initializer=np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3),
                                   use_resource=True)
        w = tf_real.get_variable("w", initializer=np.ones((3, 1), np.float32), use_resource=True)
        pooled = tf_real.reduce_mean(tf_real.nn.embedding_lookup(emb, ids), axis=1)
        loss = tf_real.reduce_mean(tf_real.square(tf_real.squeeze(tf_real.matmul(pooled, w), 1) - y), name="loss")
        train = opt(tf_real).minimize(loss, name="train")
        tf_real.add_to_collection("train_op", train)
        saver = tf_real.train.Saver()
        with tf_real.Session() as sess:
            sess.run(tf_real.global_variables_initializer())
            sess.run(train, {ids: _X_IDS, y: _Y})
            saver.save(sess, os.path.join(path, "model.ckpt"))


def _continue(lib, path, steps=3):
    with lib.Graph().as_default():
        saver = lib.train.import_meta_graph(os.path.join(path, "model.ckpt.meta"))
        with lib.Session() as sess:
            saver.restore(sess, os.path.join(path, "model.ckpt"))
            train = lib.get_collection("train_op")[0]
            feed = {"ids:0": _X_IDS, "y:0": _Y}
            losses = [sess.run(["loss:0", train], feed)[0] for _ in range(steps)]
            return losses, {v.op.name: sess.run(v) for v in lib.global_variables()}


@pytest.mark.parametrize("opt_name", ["adagrad", "adam"])
def test_tensorflow_embedding_graph_with_sparse_updates_trains_here(opt_name, tf_real, tmp_path):
    _their_embedding_graph(tf_real, str(tmp_path), OPTIMIZERS[opt_name])
    ours, theirs = _continue(tf, str(tmp_path)), _continue(tf_real, str(tmp_path))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    for name, value in theirs[1].items():
        np.testing.assert_allclose(ours[1][name], value, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_partitioned_embedding_trains_sparsely_as_tensorflow(strategy, tf_real):
    def run(lib):
        graph = lib.Graph()
        with graph.as_default():
            emb = lib.get_variable("emb", shape=[7, 3], initializer=lib.ones_initializer(),
                                   partitioner=lib.fixed_size_partitioner(3))
            looked_up = lib.nn.embedding_lookup(emb, lib.constant([1, 6, 1, 4, 0]), partition_strategy=strategy)
            loss = lib.reduce_sum(lib.square(looked_up - 0.3) * lib.constant([[1.0], [2.0], [3.0], [4.0], [5.0]]))
            train = lib.train.AdagradOptimizer(0.5).minimize(loss)
            sess = lib.Session(graph=graph)
            sess.run(lib.global_variables_initializer())
            losses = [sess.run([loss, train])[0] for _ in range(3)]
            types = sorted(op.type for op in graph.get_operations() if "Apply" in op.type)
            return losses, {v.op.name: sess.run(v) for v in lib.global_variables()}, types
    ours, theirs = run(tf), run(tf_real)
    assert ours[2] == theirs[2] == ["SparseApplyAdagrad"] * 3
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    assert sorted(ours[1]) == sorted(theirs[1])
    for name, value in theirs[1].items():
        np.testing.assert_allclose(ours[1][name], value, rtol=1e-5, err_msg=name)
