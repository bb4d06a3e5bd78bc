"""tf.layers, tf.losses and tf.metrics against real TensorFlow: variable names and collections, outputs from
identical weights, batch-norm update ops, a TF-written tf.layers checkpoint restoring by name; loss
reductions and collections; streaming metrics with their local variables."""
import os

import numpy as np
import pytest

import deferflow

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.compat.v1.layers needs tf-keras
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated:UserWarning")  # TF's notes on tf.layers

_rng = np.random.RandomState(11)
X_IMG = _rng.randn(4, 8, 8, 3).astype(np.float32)
LABELS = np.array([1, 0, 3, 2])


def _weights_for(var):
    """Deterministic per-variable values so both frameworks start from the same weights."""
    seed = sum(map(ord, var.op.name))
    return (np.random.RandomState(seed).randn(*var.shape.as_list()) * 0.3).astype(np.float32)


def _model(tf, training=True):
    x = tf.placeholder(tf.float32, [None, 8, 8, 3], name="x")
    h = tf.layers.conv2d(x, 4, 3, activation=tf.nn.relu)
    h = tf.layers.conv2d(h, 4, [3, 2], strides=[1, 2], padding="same", use_bias=False)
    h = tf.layers.batch_normalization(h, training=training, momentum=0.9)
    h = tf.layers.max_pooling2d(h, 2, 2)
    h = tf.layers.average_pooling2d(h, [2, 1], 1, padding="same")
    h = tf.layers.flatten(h)
    h = tf.layers.dropout(h, 0.5, training=False)
    with tf.variable_scope("head"):
        h = tf.layers.dense(h, 6, activation=tf.nn.tanh, kernel_regularizer=lambda w: 0.01 * tf.reduce_sum(w * w))
        h = tf.layers.batch_normalization(h, training=training)
        logits = tf.layers.dense(h, 4, name="logits")
    return x, logits


def _run_model(tf, training=True):
    g = tf.Graph()
    with g.as_default():
        x, logits = _model(tf, training)
        loss = tf.losses.sparse_softmax_cross_entropy(LABELS, logits) + tf.losses.get_regularization_loss()
        updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        with tf.control_dependencies(updates):
            train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        info = dict(globals=[(v.op.name, v.shape.as_list()) for v in tf.global_variables()],
                    trainable=[v.op.name for v in tf.trainable_variables()],
                    updates=[u.name for u in updates], reg=[r.name for r in tf.losses.get_regularization_losses()],
                    logits=logits.name)
        with tf.Session(graph=g) as s:
            s.run(tf.global_variables_initializer())
            for v in tf.global_variables():
                if "moving_variance" not in v.op.name:
                    v.load(_weights_for(v), s)
            out = [s.run([train, loss, logits], {x: X_IMG})[1:] for _ in range(3)]
            final = {v.op.name: s.run(v) for v in tf.global_variables()}
    return info, out, final


@pytest.mark.parametrize("training", [True, False])
def test_layers_model_matches_tensorflow(tf_real, training):
    ours, theirs = _run_model(deferflow, training), _run_model(tf_real, training)
    assert ours[0] == theirs[0]
    for (l1, y1), (l2, y2) in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(l1, l2, rtol=1e-5)
        np.testing.assert_allclose(y1, y2, rtol=1e-4, atol=1e-5)
    for k, v in theirs[2].items():
        np.testing.assert_allclose(ours[2][k], v, rtol=1e-4, atol=1e-5, err_msg=k)


def test_layer_names_reuse_and_scopes(tf_real):
    def names(tf):
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [None, 5])
            outs = [tf.layers.dense(x, 3), tf.layers.dense(x, 3, name="dense", reuse=True), tf.layers.dense(x, 2)]
            with tf.variable_scope("block"):
                outs.append(tf.layers.dense(x, 2, use_bias=False))
                with tf.variable_scope("inner", reuse=tf.AUTO_REUSE):
                    outs += [tf.layers.dense(x, 2, name="shared"), tf.layers.dense(x, 2, name="shared")]
            img = tf.placeholder(tf.float32, [None, 6, 6, 2])
            outs += [tf.layers.conv2d(img, 2, 3), tf.layers.conv2d(img, 2, 1, data_format="channels_last"),
                     tf.layers.batch_normalization(img), tf.layers.batch_normalization(img, axis=1, name="bn_c")]
            layer = tf.layers.Dense(4, name="cls")
            outs += [layer(x), layer(x)]
            return ([v.op.name for v in tf.global_variables()], [o.name for o in outs],
                    [v.op.name for v in layer.trainable_weights])
    assert names(deferflow) == names(tf_real)


def test_tf_written_layers_checkpoint_restores_by_name(tf_real, tmp_path):
    ckpt = str(tmp_path / "layers.ckpt")
    with tf_real.Graph().as_default():
        x, logits = _model(tf_real, training=False)
        with tf_real.Session() as s:
            s.run(tf_real.global_variables_initializer())
            for v in tf_real.global_variables():
                v.load(np.abs(_weights_for(v)) + 0.1 if "variance" in v.op.name else _weights_for(v), s)
            tf_real.train.Saver().save(s, ckpt)
            expected = s.run(logits, {x: X_IMG})
    with deferflow.Graph().as_default():
        x, logits = _model(deferflow, training=False)
        with deferflow.Session() as s:
            deferflow.train.Saver().restore(s, ckpt)
            np.testing.assert_allclose(s.run(logits, {x: X_IMG}), expected, rtol=1e-4, atol=1e-5)


def test_dropout_layer_training_switch():
    with deferflow.Graph().as_default():
        x = deferflow.ones([50, 40])
        training = deferflow.placeholder(deferflow.bool, [])
        off = deferflow.layers.dropout(x, 0.5, training=False)
        on = deferflow.layers.dropout(x, 0.5, training=True)
        switch = deferflow.layers.dropout(x, 0.5, training=training)
        with deferflow.Session() as s:
            a, b, c = s.run([off, on, switch], {training: False})
            d = s.run(switch, {training: True})
    assert (a == 1).all() and (c == 1).all()
    for v in (b, d):
        assert set(np.unique(v)) == {0.0, 2.0} and 0.4 < (v == 0).mean() < 0.6


def test_batch_norm_with_training_tensor(tf_real):
    """A boolean ``training`` tensor: batch statistics and moving-average updates only when it is true."""
    def run(tf):
        with tf.Graph().as_default():
            x = tf.constant(X_IMG)
            training = tf.placeholder(tf.bool, [])
            y = tf.layers.batch_normalization(x, training=training, momentum=0.5)
            y2 = tf.layers.batch_normalization(tf.reshape(x, [4, -1]), training=training, momentum=0.5)
            updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
            moving = [v for v in tf.global_variables() if "moving" in v.op.name]
            with tf.Session() as s:
                s.run(tf.global_variables_initializer())
                out = s.run([y, y2] + updates, {training: False})[:2]
                stats_after_eval = s.run(moving)
                out += s.run([y, y2] + updates, {training: True})[:2]
                return out, stats_after_eval, s.run(moving)
    ours, theirs = run(deferflow), run(tf_real)
    for a, b in zip(ours[0] + ours[1] + ours[2], theirs[0] + theirs[1] + theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ---- tf.losses -------------------------------------------------------------------------------------------
P = np.array([[0.2, 0.7], [0.9, 0.4], [0.5, 0.1]], dtype=np.float32)
T = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
W_ROWS = np.array([[1.0], [0.0], [2.0]], dtype=np.float32)


def _losses(tf):
    p, t = tf.constant(P), tf.constant(T)
    logits = tf.constant(P * 4 - 2)
    out = []
    for red in (tf.losses.Reduction.SUM_BY_NONZERO_WEIGHTS, tf.losses.Reduction.SUM, tf.losses.Reduction.MEAN,
                tf.losses.Reduction.SUM_OVER_BATCH_SIZE, tf.losses.Reduction.NONE):
        out += [tf.losses.mean_squared_error(t, p, weights=W_ROWS, reduction=red),
                tf.losses.absolute_difference(t, p, reduction=red)]
    out += [tf.losses.log_loss(t, p), tf.losses.log_loss(t, p, weights=2.0),
            tf.losses.sigmoid_cross_entropy(t, logits, label_smoothing=0.1),
            tf.losses.softmax_cross_entropy(t, logits, weights=tf.constant([1.0, 0.5, 0.0])),
            tf.losses.softmax_cross_entropy(t, logits, label_smoothing=0.2),
            tf.losses.sparse_softmax_cross_entropy([1, 0, 1], logits),
            tf.losses.sparse_softmax_cross_entropy([[1], [0], [1]], logits, weights=[[1.0], [2.0], [0.0]]),
            tf.losses.hinge_loss(t, logits), tf.losses.huber_loss(t, p * 3, delta=0.5),
            tf.losses.mean_squared_error(t, p, weights=0.0)]
    return out


def test_losses_match_tensorflow(tf_real):
    def run(tf):
        with tf.Graph().as_default():
            outs = _losses(tf)
            coll = [t.name for t in tf.losses.get_losses()]
            with tf.Session() as s:
                return [o.name for o in outs], s.run(outs), coll
    ours, theirs = run(deferflow), run(tf_real)
    assert ours[0] == theirs[0]
    assert ours[2] == theirs[2]
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_total_loss_and_add_loss(tf_real):
    def run(tf):
        with tf.Graph().as_default():
            tf.losses.mean_squared_error(tf.constant(T), tf.constant(P))
            tf.losses.add_loss(tf.constant(0.25))
            tf.add_to_collection(tf.GraphKeys.REGULARIZATION_LOSSES, tf.constant(0.5))
            total, no_reg = tf.losses.get_total_loss(), tf.losses.get_total_loss(False, name="plain")
            with tf.Session() as s:
                return total.name, no_reg.name, s.run([total, no_reg, tf.losses.get_regularization_loss()])
    ours, theirs = run(deferflow), run(tf_real)
    assert ours[:2] == theirs[:2]
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6)


def test_regularization_losses_and_invalid_reduction(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            assert tf.losses.get_regularization_losses() == []
            with tf.variable_scope("s", regularizer=lambda w: tf.reduce_sum(tf.abs(w))):
                v = tf.get_variable("v", initializer=tf.constant([1.0, -2.0]))
            total = tf.losses.get_regularization_loss()
            with pytest.raises(ValueError, match="Invalid Reduction Key"):
                tf.losses.mean_squared_error(tf.ones([2]), tf.ones([2]), reduction="bogus")
            with pytest.raises(ValueError):
                tf.losses.mean_squared_error(None, tf.ones([2]))
            with tf.Session() as s:
                s.run(v.initializer)
                assert s.run(total) == 3.0


# ---- tf.metrics ------------------------------------------------------------------------------------------
def test_metrics_match_tensorflow(tf_real):
    batches = [(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4]), np.array([1.0, 1.0, 2.0, 0.0])),
               (np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), np.array([0.5, 1.0, 1.0, 1.0]))]

    def run(tf):
        with tf.Graph().as_default():
            labels = tf.placeholder(tf.int64, [4])
            preds = tf.placeholder(tf.int64, [4])
            w = tf.placeholder(tf.float32, [4])
            acc, acc_up = tf.metrics.accuracy(labels, preds)
            wacc, wacc_up = tf.metrics.accuracy(labels, preds, weights=w, name="weighted")
            mean, mean_up = tf.metrics.mean(tf.cast(preds, tf.float32), weights=w)
            mse, mse_up = tf.metrics.mean_squared_error(tf.cast(labels, tf.float32), tf.cast(preds, tf.float32))
            names = dict(local=[v.op.name for v in tf.local_variables()],
                         metric=[v.op.name for v in tf.get_collection(tf.GraphKeys.METRIC_VARIABLES)],
                         globals=[v.op.name for v in tf.global_variables()],
                         tensors=[t.name for t in (acc, acc_up, wacc, mean, mean_up, mse_up)])
            with tf.Session() as s:
                s.run(tf.local_variables_initializer())
                vals = [s.run([acc, wacc, mean, mse])]
                for lab, pr, ww in batches:
                    vals.append(s.run([acc_up, wacc_up, mean_up, mse_up], {labels: lab, preds: pr, w: ww}))
                vals.append(s.run([acc, wacc, mean, mse]))
                s.run(tf.local_variables_initializer())
                vals.append(s.run([acc, wacc, mean, mse]))
                return names, np.array(vals)
    ours, theirs = run(deferflow), run(tf_real)
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)
