"""TF1 control flow across the file boundary: a TF-written LSTM classifier (.meta + checkpoint) runs,
trains and fine-tunes here; graphs with loops and conds written here run and differentiate in TF."""
import os

import numpy as np

import deferflow as tf

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden", "control_flow")
EXP = np.load(os.path.join(GOLDEN, "expected.npz"))
CKPT = os.path.join(GOLDEN, "lstm", "model.ckpt")
FEED = {"x:0": EXP["x"], "lengths:0": EXP["lengths"], "labels:0": EXP["labels"]}
HEAD_W = np.random.RandomState(3).randn(6, 2).astype(np.float32) * 0.3
NEW_LABELS = np.array([0, 1, 1, 0], np.int32)


def test_tensorflow_lstm_classifier_gives_tensorflows_outputs_and_trains_like_it():
    saver = tf.train.import_meta_graph(CKPT + ".meta")
    g = tf.get_default_graph()
    assert [c.name for c in g.get_collection(tf.GraphKeys.WHILE_CONTEXT)] == ["rnn/while/while_context"]
    with tf.Session() as s:
        saver.restore(s, CKPT)
        outputs, logits, loss = s.run(["rnn/transpose_1:0", "logits/BiasAdd:0", "loss:0"], FEED)
        np.testing.assert_allclose(outputs, EXP["outputs"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(logits, EXP["logits"], rtol=1e-5, atol=1e-6)
        assert np.all(outputs[1, 3:] == 0)  # past sequence_length: zeros, as in TF
        s.run(g.get_collection("train_op")[0], FEED)  # TF's own stack-based loop gradients, run here
        np.testing.assert_allclose(s.run("loss:0", FEED), EXP["loss_after_step"], rtol=1e-5)


def _fine_tune(lib, steps=4):
    """A new head on the imported LSTM's features: its losses and the gradient reaching the LSTM kernel."""
    with lib.Graph().as_default() as g:
        saver = lib.train.import_meta_graph(CKPT + ".meta")
        feats = g.get_tensor_by_name("features:0")
        with lib.variable_scope("new_head"):
            logits = lib.layers.dense(feats, 2, kernel_initializer=lib.constant_initializer(HEAD_W))
        loss = lib.reduce_mean(lib.nn.sparse_softmax_cross_entropy_with_logits(labels=NEW_LABELS, logits=logits))
        kernel = g.get_tensor_by_name("rnn/basic_lstm_cell/kernel:0")
        grad_kernel = lib.gradients(loss, kernel)[0]
        head = lib.trainable_variables("new_head")
        step = lib.train.GradientDescentOptimizer(0.5).minimize(loss, var_list=head, name="fine_tune")
        with lib.Session() as s:
            saver.restore(s, CKPT)
            s.run(lib.variables_initializer(head))
            gk = s.run(grad_kernel, FEED)
            losses = [s.run([loss, step], FEED)[0] for _ in range(steps)]
            return gk, losses


def test_new_head_fine_tunes_as_in_tensorflow(tf_real):
    gk, losses = _fine_tune(tf)
    assert losses[-1] < losses[0]
    want_gk, want_losses = _fine_tune(tf_real)
    np.testing.assert_allclose(gk, want_gk, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)


def _loop_graph(lib):
    x = lib.placeholder(lib.float32, [3], name="x")

    def body(i, a, ta):
        a = lib.cond(i < 2, lambda: a * x, lambda: lib.sin(a) + x)
        return i + 1, a, ta.write(i, a)
    _, a, ta = lib.while_loop(lambda i, a, ta: i < 4, body,
                              [lib.constant(0), lib.ones([3]), lib.TensorArray(lib.float32, 4)])
    y = lib.identity(lib.reduce_sum(ta.stack() * 2.0) + lib.reduce_sum(a), name="y")
    lib.identity(lib.gradients(y, x)[0], name="dx")
    return x


def test_our_loop_graph_runs_and_differentiates_in_tensorflow(tf_real, tmp_path):
    path = str(tmp_path / "loop.meta")
    xv = np.array([0.1, 0.2, -0.3], np.float32)
    _loop_graph(tf)
    tf.train.export_meta_graph(path)
    with tf.Session() as s:
        ours = s.run(["y:0", "dx:0"], {"x:0": xv})
    with tf_real.Graph().as_default() as g:
        tf_real.train.import_meta_graph(path)
        assert len(g.get_collection("while_context")) == 1 and len(g.get_collection("cond_context")) == 0
        # TF differentiates through our loop again, from our WhileContextDef
        dx2 = tf_real.gradients(g.get_tensor_by_name("y:0"), g.get_tensor_by_name("x:0"), name="gradients_tf")[0]
        with tf_real.Session() as s:
            theirs = s.run(["y:0", "dx:0", dx2], {"x:0": xv})
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[2], rtol=1e-5)


def test_our_lstm_checkpoint_restores_in_tensorflow(tf_real, tmp_path):
    prefix = str(tmp_path / "model.ckpt")
    x = tf.placeholder(tf.float32, [None, 7, 5], name="x")
    out, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.LSTMCell(4, use_peepholes=True), x, dtype=tf.float32)
    tf.identity(state.h, name="h")
    saver = tf.train.Saver()
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        want = s.run("h:0", {"x:0": EXP["x"]})
        saver.save(s, prefix)
    with tf_real.Graph().as_default():
        restorer = tf_real.train.import_meta_graph(prefix + ".meta")
        with tf_real.Session() as s:
            restorer.restore(s, prefix)
            got = s.run("h:0", {"x:0": EXP["x"]})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _nested_control_flow(lib):
    x = lib.placeholder(lib.float32, [2], name="x")

    def outer(i, a):
        a = lib.cond(lib.reduce_sum(a) > 2.0, lambda: a * 0.5, lambda: a * x + 1.0)
        _, a = lib.while_loop(lambda j, b: j < i, lambda j, b: (j + 1, lib.sin(b) + x), [0, a])
        return i + 1, a
    _, y = lib.while_loop(lambda i, a: i < 3, outer, [lib.constant(0), lib.ones([2])])
    lib.identity(lib.reduce_sum(y * y), name="y")


def test_gradients_through_imported_nested_loops_and_conds(tf_real, tmp_path):
    """Contexts come back from the meta graph (both ways), so either side differentiates the other's loops."""
    xv = np.array([0.3, -0.2], np.float32)
    results = {}
    for writer, reader in ((tf_real, tf), (tf, tf_real)):
        path = str(tmp_path / f"nested_{writer.__name__}.meta")
        with writer.Graph().as_default():
            _nested_control_flow(writer)
            writer.train.export_meta_graph(path)
        with reader.Graph().as_default() as g:
            reader.train.import_meta_graph(path)
            assert len(g.get_collection("while_context")) == 1  # the nested ones hang below it
            dx = reader.gradients(g.get_tensor_by_name("y:0"), g.get_tensor_by_name("x:0"))[0]
            with reader.Session() as s:
                results[writer.__name__] = s.run(["y:0", dx], {"x:0": xv})
    with tf_real.Graph().as_default():  # TF differentiating its own graph: the reference
        _nested_control_flow(tf_real)
        g = tf_real.get_default_graph()
        dx = tf_real.gradients(g.get_tensor_by_name("y:0"), g.get_tensor_by_name("x:0"))[0]
        with tf_real.Session() as s:
            want = s.run(["y:0", dx], {"x:0": xv})
    for got in results.values():
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-6)
