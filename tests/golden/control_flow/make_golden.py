"""Write the golden files in this directory with REAL TensorFlow (run: python tests/golden/control_flow/make_golden.py).

``lstm/``: an LSTM sequence classifier built with ``tf.nn.dynamic_rnn`` (TF1 control flow: while loop,
TensorArrays, sequence_length) and trained a few steps with SGD, saved as ``model.ckpt`` + ``.meta``
(whose train op holds TF's stack-based loop gradients). ``expected.npz`` holds the inputs, the
outputs TensorFlow computes from the checkpoint, and the loss after one more run of its train op.
"""
import os
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH, STEPS, DEPTH, UNITS, CLASSES = 4, 7, 5, 6, 3


def data():
    rng = np.random.RandomState(42)
    x = rng.randn(BATCH, STEPS, DEPTH).astype(np.float32)
    lengths = np.array([7, 3, 5, 1], np.int32)
    labels = np.array([0, 2, 1, 2], np.int32)
    return x, lengths, labels


def build(tf):
    """The classifier; returns its named endpoints."""
    tf.set_random_seed(7)
    x = tf.placeholder(tf.float32, [None, STEPS, DEPTH], name="x")
    lengths = tf.placeholder(tf.int32, [None], name="lengths")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(UNITS), x, sequence_length=lengths,
                                       dtype=tf.float32)
    features = tf.identity(state.h, name="features")
    logits = tf.layers.dense(features, CLASSES, name="logits")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                          name="loss")
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss, name="train")
    tf.add_to_collection("train_op", train)
    return x, lengths, labels, outputs, features, logits, loss, train


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    out = os.path.join(HERE, "lstm")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    xv, lv, yv = data()
    with tf.Graph().as_default():
        x, lengths, labels, outputs, features, logits, loss, train = build(tf)
        saver = tf.train.Saver()
        feed = {x: xv, lengths: lv, labels: yv}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                sess.run(train, feed)
            saver.save(sess, os.path.join(out, "model.ckpt"))
            want_outputs, want_logits, want_loss = sess.run([outputs, logits, loss], feed)
            sess.run(train, feed)
            loss_after_step = sess.run(loss, feed)
    for name in os.listdir(out):  # relative paths only, so the directory can move
        if name == "checkpoint":
            with open(os.path.join(out, name), "w") as f:
                f.write('model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n')
    np.savez(os.path.join(HERE, "expected.npz"), x=xv, lengths=lv, labels=yv, outputs=want_outputs,
             logits=want_logits, loss=want_loss, loss_after_step=loss_after_step, version=tf.__version__)
    print("wrote", out, "and expected.npz with TensorFlow", tf.__version__)


if __name__ == "__main__":
    main()
