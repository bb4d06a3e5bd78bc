"""Fixtures for the command-line tests."""
import numpy as np
import pytest


@pytest.fixture(scope="session")
def df_checkpoint(tmp_path_factory):
    """A checkpoint + .meta written by deferflow: prefix of 'model-7' in a fresh directory."""
    import deferflow as tf

    out = tmp_path_factory.mktemp("dfckpt")
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        with tf.variable_scope("dense"):
            w = tf.get_variable("kernel", [3, 2], initializer=tf.constant_initializer(
                np.arange(6, dtype=np.float32).reshape(3, 2)))
            b = tf.get_variable("bias", [2], initializer=tf.zeros_initializer())
        logits = tf.matmul(x, w) + b
        tf.nn.softmax(logits, name="probs")
        loss = tf.reduce_mean(tf.square(logits - 1.0), name="loss")
        step = tf.train.get_or_create_global_step()
        train = tf.train.GradientDescentOptimizer(0.01).minimize(loss, global_step=step)
        tf.Variable(np.array([b"ab", b"c"], dtype=object), name="words", trainable=False)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(7):
                sess.run(train, {x: np.ones((2, 3), np.float32)})
            values = {v.op.name: sess.run(v) for v in tf.global_variables()}
            prefix = saver.save(sess, str(out / "model"), global_step=7)
    return prefix, values
