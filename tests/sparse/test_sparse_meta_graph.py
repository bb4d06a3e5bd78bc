"""Meta graphs with sparse features: a wide linear model TF wrote (sparse_placeholder ->
sparse_tensor_dense_matmul, trained with Adagrad) imports here and trains identically, and ours imports in TF."""
import numpy as np

import deferflow

VOCAB, BATCH = 50, 8


def _batches(n=5, seed=0):
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        rows = np.repeat(np.arange(BATCH), 3)
        cols = np.concatenate([np.sort(rng.choice(VOCAB, 3, replace=False)) for _ in range(BATCH)])
        idx = np.stack([rows, cols], axis=1).astype(np.int64)
        vals = rng.rand(len(idx)).astype(np.float32)
        labels = rng.randint(0, 2, size=(BATCH, 1)).astype(np.float32)
        out.append((deferflow.SparseTensorValue(idx, vals, np.array([BATCH, VOCAB], np.int64)), labels))
    return out


def _build(tf, shape=None):
    x = tf.sparse_placeholder(tf.float32, shape=shape, name="features")
    y = tf.placeholder(tf.float32, [None, 1], name="labels")
    w = tf.get_variable("w", [VOCAB, 1], initializer=tf.truncated_normal_initializer(stddev=0.1, seed=3))
    b = tf.get_variable("b", [1], initializer=tf.zeros_initializer())
    logits = tf.add(tf.sparse_tensor_dense_matmul(x, w), b, name="logits")
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits), name="loss")
    step = tf.train.get_or_create_global_step()
    train = tf.train.AdagradOptimizer(0.5).minimize(loss, global_step=step)
    tf.add_to_collection("train_op", train)
    return x, y, loss, train


def _train_by_names(tf, sess, train, loss, batches):
    """Feeds the sparse features through the three placeholders by name (how an imported graph is fed)."""
    losses = []
    for sp, labels in batches:
        feed = {"features/indices:0": sp.indices, "features/values:0": sp.values, "features/shape:0": sp.dense_shape,
                "labels:0": labels}
        losses.append(sess.run([loss, train], feed)[0])
    return np.array(losses)


def test_tf_written_wide_model_imports_and_trains_identically(tf_real, tmp_path):
    batches = _batches()
    prefix = str(tmp_path / "wide")
    with tf_real.Graph().as_default():
        x, _, loss, train = _build(tf_real)
        saver = tf_real.train.Saver()
        with tf_real.Session() as s:
            s.run(tf_real.global_variables_initializer())
            saver.save(s, prefix)  # writes wide.meta as well
            theirs = _train_by_names(tf_real, s, train, loss, batches)
            w_theirs = s.run("w:0")
            logits_theirs = s.run("logits:0", {x: batches[0][0]})

    saver = deferflow.train.import_meta_graph(prefix + ".meta")
    g = deferflow.get_default_graph()
    types = {op.type for op in g.get_operations()}
    assert {"SparseTensorDenseMatMul", "ApplyAdagrad"} <= types
    with deferflow.Session() as s:
        saver.restore(s, prefix)
        train = deferflow.get_collection("train_op")[0]
        ours = _train_by_names(deferflow, s, train, "loss:0", batches)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5)
        np.testing.assert_allclose(s.run("w:0"), w_theirs, rtol=1e-5, atol=1e-7)
        assert s.run(deferflow.train.get_global_step()) == len(batches)
        # the three placeholders as a SparseTensor again: fed whole from a SparseTensorValue
        sp = deferflow.SparseTensor(g.get_tensor_by_name("features/indices:0"),
                                    g.get_tensor_by_name("features/values:0"),
                                    g.get_tensor_by_name("features/shape:0"))
        np.testing.assert_allclose(s.run("logits:0", {sp: batches[0][0]}), logits_theirs, rtol=1e-5)


def test_our_wide_model_meta_graph_trains_the_same_in_tensorflow(tf_real, tmp_path):
    batches = _batches(seed=1)
    prefix = str(tmp_path / "ours")
    x, _, loss, train = _build(deferflow, shape=[None, VOCAB])
    saver = deferflow.train.Saver()
    with deferflow.Session() as s:
        s.run(deferflow.global_variables_initializer())
        saver.save(s, prefix)
        ours = [s.run([loss, train], {x: sp, "labels:0": lab})[0] for sp, lab in batches]
        w_ours = s.run("w:0")

    with tf_real.Graph().as_default():
        saver = tf_real.train.import_meta_graph(prefix + ".meta")
        with tf_real.Session() as s:
            saver.restore(s, prefix)
            train = tf_real.get_collection("train_op")[0]
            theirs = _train_by_names(tf_real, s, train, "loss:0", batches)
            w_theirs = s.run("w:0")
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    np.testing.assert_allclose(w_ours, w_theirs, rtol=1e-5, atol=1e-7)
