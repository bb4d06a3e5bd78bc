"""Recurrent networks against TensorFlow: same variable names, outputs, gradients and training steps."""
import numpy as np
import pytest

import deferflow as tf
from rnnutil import compare_model

RNG = np.random.RandomState(0)
X = RNG.randn(3, 6, 4).astype(np.float32)
LENGTHS = np.array([6, 2, 4], np.int32)


def _cells(t, kind):
    c = t.nn.rnn_cell
    return {
        "basic_rnn": lambda: c.BasicRNNCell(5),
        "gru": lambda: c.GRUCell(5),
        "basic_lstm": lambda: c.BasicLSTMCell(5),
        "lstm_peephole_proj": lambda: c.LSTMCell(6, use_peepholes=True, num_proj=3, cell_clip=0.5, proj_clip=0.4),
        "lstm_concat_state": lambda: c.LSTMCell(4, state_is_tuple=False),
        "multi": lambda: c.MultiRNNCell([c.GRUCell(3), c.BasicLSTMCell(4), c.LSTMCell(5, num_proj=2)]),
    }[kind]()


@pytest.mark.parametrize("kind", ["basic_rnn", "gru", "basic_lstm", "lstm_peephole_proj", "lstm_concat_state",
                                  "multi"])
def test_dynamic_rnn_cells(tf_real, kind):
    def build(t):
        x = t.placeholder(t.float32, [3, 6, 4], name="x")
        lengths = t.placeholder(t.int32, [3], name="lengths")
        out, state = t.nn.dynamic_rnn(_cells(t, kind), x, sequence_length=lengths, dtype=t.float32)
        loss = t.reduce_sum(out * out) + 0.5 * t.add_n([t.reduce_sum(s) for s in _flat(state)])
        return loss, {"out": out, "state": _flat(state)}, [x, lengths]
    compare_model(tf_real, build, [X, LENGTHS])


def _flat(s):
    if isinstance(s, (list, tuple)):
        return [y for x in s for y in _flat(x)]
    return [s]


def test_variable_names_match_tensorflow(tf_real):
    names = []
    for lib in (tf, tf_real):
        with lib.Graph().as_default():
            x = lib.placeholder(lib.float32, [2, 5, 3])
            c = lib.nn.rnn_cell
            lib.nn.dynamic_rnn(c.BasicLSTMCell(4), x, dtype=lib.float32)
            lib.nn.dynamic_rnn(c.MultiRNNCell([c.GRUCell(4), c.LSTMCell(5, use_peepholes=True, num_proj=3)]), x,
                               dtype=lib.float32, scope="multi")
            lib.nn.bidirectional_dynamic_rnn(c.BasicRNNCell(4), c.BasicRNNCell(4), x, dtype=lib.float32)
            lib.nn.static_rnn(c.BasicLSTMCell(4), lib.unstack(x, axis=1), dtype=lib.float32, scope="st")
            names.append([(v.op.name, v.shape.as_list()) for v in lib.global_variables()])
    assert names[0] == names[1]
    assert ("rnn/basic_lstm_cell/kernel", [7, 16]) in names[0]
    assert ("multi/multi_rnn_cell/cell_1/lstm_cell/projection/kernel", [5, 3]) in names[0]


def test_time_major_initial_state_and_training(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [6, 3, 4], name="x")
        cell = t.nn.rnn_cell.BasicLSTMCell(5)
        init = cell.zero_state(3, t.float32)
        init = t.nn.rnn_cell.LSTMStateTuple(init.c + 0.1, init.h - 0.2)
        out, state = t.nn.dynamic_rnn(cell, x, initial_state=init, time_major=True)
        logits = t.layers.dense(state.h, 2, name="head")
        loss = t.reduce_mean(t.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 1, 1], logits=logits))
        return loss, {"out": out}, [x]
    ours, theirs = compare_model(tf_real, build, [np.transpose(X, [1, 0, 2])], train_steps=3, lr=0.5)
    assert ours[-1][0] < ours[0][0]  # training lowered the loss


def test_gru_training(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [3, 6, 4], name="x")
        out, state = t.nn.dynamic_rnn(t.nn.rnn_cell.GRUCell(6), x, dtype=t.float32)
        loss = t.reduce_mean(t.square(t.layers.dense(state, 1, name="head") - 1.0))
        return loss, {"state": state}, [x]
    compare_model(tf_real, build, [X], train_steps=3, lr=0.3)


def test_bidirectional_and_static(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [3, 6, 4], name="x")
        lengths = t.placeholder(t.int32, [3], name="lengths")
        c = t.nn.rnn_cell
        (fw, bw), (sf, sb) = t.nn.bidirectional_dynamic_rnn(c.GRUCell(3), c.BasicLSTMCell(3), x,
                                                            sequence_length=lengths, dtype=t.float32)
        outs, st = t.nn.static_rnn(c.BasicRNNCell(4), t.unstack(x, axis=1), dtype=t.float32,
                                   sequence_length=lengths, scope="static")
        souts, sfw, sbw = t.nn.static_bidirectional_rnn(c.BasicRNNCell(2), c.BasicRNNCell(2), t.unstack(x, axis=1),
                                                        dtype=t.float32, scope="sbi")
        loss = (t.reduce_sum(fw * bw) + t.reduce_sum(sb.c) + t.reduce_sum(sf) + t.add_n([t.reduce_sum(o) for o in outs])
                + t.reduce_sum(st) + t.add_n([t.reduce_sum(o * o) for o in souts]))
        return loss, {"fw": fw, "bw": bw, "static": outs, "sbi": souts}, [x, lengths]
    compare_model(tf_real, build, [X, LENGTHS])


def test_dropout_wrapper_keep_one_is_identity(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [3, 6, 4], name="x")
        cell = t.nn.rnn_cell.DropoutWrapper(t.nn.rnn_cell.BasicLSTMCell(3), input_keep_prob=1.0,
                                            output_keep_prob=1.0)
        out, _ = t.nn.dynamic_rnn(cell, x, dtype=t.float32)
        return t.reduce_sum(out), {"out": out}, [x]
    compare_model(tf_real, build, [X])


def test_dropout_wrapper_drops():
    x = tf.placeholder(tf.float32, [3, 6, 4])
    cell = tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.BasicRNNCell(50), output_keep_prob=0.5, seed=3)
    out, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    assert [v.op.name for v in tf.global_variables()] == ["rnn/basic_rnn_cell/kernel", "rnn/basic_rnn_cell/bias"]
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        o = s.run(out, {x: X})
    frac = np.mean(o == 0)
    assert 0.3 < frac < 0.7


def test_rnn_errors():
    x = tf.placeholder(tf.float32, [3, 6, 4])
    with pytest.raises(ValueError, match="If there is no initial_state, you must give a dtype"):
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(2), x)
    with pytest.raises(TypeError, match="is not an RNNCell"):
        tf.nn.dynamic_rnn(object(), x, dtype=tf.float32)
    with pytest.raises(ValueError, match="Input size \\(depth of inputs\\) must be accessible"):
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(2), tf.placeholder(tf.float32, [3, 6, None]),
                          dtype=tf.float32, scope="bad")
    y = tf.placeholder(tf.float32, [None, None, 4])
    lengths = tf.placeholder(tf.int32, [None])
    out, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(2), y, sequence_length=lengths, dtype=tf.float32,
                               scope="dyn")
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        assert s.run(out, {y: X, lengths: LENGTHS}).shape == (3, 6, 2)
        with pytest.raises(tf.errors.InvalidArgumentError, match="Expected shape for Tensor"):
            s.run(out, {y: X, lengths: [1, 2]})
