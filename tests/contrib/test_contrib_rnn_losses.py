"""``tf.contrib.rnn`` against TF's ``tf.compat.v1.nn.rnn_cell`` (contrib.rnn's cells are those classes), and
``slim.losses`` (the old contrib.losses argument order) against tf_slim's losses."""
import types

import numpy as np
import pytest

import deferflow

SEQ = np.random.RandomState(2).randn(3, 4, 5).astype(np.float32)  # [time, batch, depth]


def test_contrib_rnn_names_are_the_core_cells():
    rnn = deferflow.contrib.rnn
    core = deferflow.nn.rnn_cell
    for name in ("BasicLSTMCell", "LSTMCell", "GRUCell", "BasicRNNCell", "MultiRNNCell", "DropoutWrapper",
                 "LSTMStateTuple", "RNNCell"):
        assert getattr(rnn, name) is getattr(core, name)
    assert rnn.static_rnn is deferflow.nn.static_rnn
    assert rnn.static_bidirectional_rnn is deferflow.nn.static_bidirectional_rnn


def _rnn_model(lib, rnn):
    inputs = [lib.placeholder(lib.float32, [None, 5]) for _ in range(3)]
    cell = rnn.MultiRNNCell([rnn.BasicLSTMCell(6), rnn.GRUCell(4), rnn.LSTMCell(3, use_peepholes=True)])
    outputs, state = rnn.static_rnn(cell, inputs, dtype=lib.float32)
    fw, bw = rnn.BasicRNNCell(2), rnn.BasicRNNCell(2)
    bi, _, _ = rnn.static_bidirectional_rnn(fw, bw, inputs, dtype=lib.float32)
    return inputs, [outputs, state[0].h, state[2].c, bi]


def test_contrib_rnn_matches_tf(tf_real):
    got, weights = {}, None
    for key, lib, rnn in (("tf", tf_real, None), ("ours", deferflow, deferflow.contrib.rnn)):
        g = lib.Graph()
        with g.as_default():
            if rnn is None:  # TF 2.x keeps the contrib.rnn cells (and static_rnn) under compat.v1.nn
                cells = tf_real.nn.rnn_cell
                rnn = types.SimpleNamespace(
                    **{n: getattr(cells, n) for n in ("MultiRNNCell", "BasicLSTMCell", "GRUCell", "LSTMCell",
                                                      "BasicRNNCell")},
                    static_rnn=tf_real.nn.static_rnn, static_bidirectional_rnn=tf_real.nn.static_bidirectional_rnn)
            lib.set_random_seed(1)
            phs, fetches = _rnn_model(lib, rnn)
            names = [(v.op.name, v.shape.as_list()) for v in lib.global_variables()]
            with lib.Session(graph=g) as sess:
                sess.run(lib.global_variables_initializer())
                if weights is None:
                    weights = {v.op.name: sess.run(v) for v in lib.global_variables()}
                else:
                    for v in lib.global_variables():
                        v.load(weights[v.op.name], sess)
                got[key] = names, sess.run(fetches, dict(zip(phs, SEQ)))
    assert got["ours"][0] == got["tf"][0]
    assert got["ours"][0][0] == ("rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel", [11, 24])
    for a, b in zip(got["ours"][1], got["tf"][1]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


P = np.array([[0.2, 0.7, 0.1], [0.6, 0.1, 0.3]], np.float32)
Y = np.array([[0, 1, 0], [1, 0, 0]], np.float32)
LOGITS = np.array([[1.0, -2.0, 0.5], [0.3, 0.2, -1.0]], np.float32)
WEIGHTS = np.array([1.0, 0.0], np.float32)


def _losses(lib, losses):
    p, y, z = lib.constant(P), lib.constant(Y), lib.constant(LOGITS)
    w = lib.constant(WEIGHTS)
    out = [losses.absolute_difference(p, y), losses.mean_squared_error(p, y, weights=2.0),
           losses.log_loss(p, y), losses.sigmoid_cross_entropy(z, y, label_smoothing=0.1),
           losses.softmax_cross_entropy(z, y, weights=w), losses.softmax_cross_entropy(z, y, label_smoothing=0.2),
           losses.sparse_softmax_cross_entropy(z, lib.constant([1, 0])), losses.hinge_loss(z, y),
           losses.compute_weighted_loss(lib.constant([1.0, 3.0, 5.0]), lib.constant([1.0, 0.0, 1.0]))]
    n_collected = len(losses.get_losses())
    total = losses.get_total_loss()
    with lib.Session() as sess:
        return sess.run(out + [total]), n_collected


def test_slim_losses_match_tf_slim(tf_real, slim_real):
    with tf_real.Graph().as_default():
        theirs, t_n = _losses(tf_real, slim_real.losses)
    ours, n = _losses(deferflow, deferflow.contrib.slim.losses)
    assert n == t_n == 8  # hinge_loss returns unreduced losses and does not collect them
    assert ours[7].shape == (2, 3)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[8], 3.0)


def test_slim_losses_total_includes_regularization():
    slim = deferflow.contrib.slim
    slim.fully_connected(deferflow.ones([1, 2]), 1, weights_initializer=deferflow.ones_initializer(),
                         weights_regularizer=slim.l2_regularizer(0.5))
    slim.losses.add_loss(deferflow.constant(2.0))
    with deferflow.Session() as sess:
        sess.run(deferflow.global_variables_initializer())
        assert sess.run(slim.losses.get_total_loss()) == pytest.approx(2.0 + 0.5 * 2 / 2)
        assert sess.run(slim.losses.get_total_loss(add_regularization_losses=False)) == 2.0
