"""An LSTM training step (128 units, 50 time steps, batch 32, input depth 64): forward + backward + SGD
update through ``dynamic_rnn``'s while loop, deferflow vs TensorFlow (compat.v1, control flow v1).

Run: ``python bench/bench_rnn.py``. Prints milliseconds per step for both and the ratio. OpenBLAS's
threads spin when the machine is oversubscribed, so deferflow is also timed with its BLAS on one thread
(threadpoolctl, where installed).
"""
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.nn.rnn_cell needs tf_keras under TF 2.16+
sys.path.insert(0, os.path.dirname(__file__))
from _common import real_tf, report  # noqa: E402

BATCH, STEPS, DEPTH, UNITS = 32, 50, 64, 128


def build(tf):
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [BATCH, STEPS, DEPTH], name="x")
        y = tf.placeholder(tf.int32, [BATCH], name="y")
        _, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(UNITS), x, dtype=tf.float32)
        logits = tf.layers.dense(state.h, 10, name="head")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=g)
    sess.run(init)
    rng = np.random.RandomState(0)
    feed = {x: rng.randn(BATCH, STEPS, DEPTH).astype(np.float32), y: rng.randint(0, 10, BATCH)}
    return sess, loss, train, feed


def timed(sess, loss, train, feed, n):
    t0 = time.perf_counter()
    for _ in range(n):
        sess.run([loss, train], feed)
    return (time.perf_counter() - t0) / n


def best_of(lib, rounds=7, per_round=10):
    r = build(lib)
    timed(*r, 2)  # warm up: plans, kernels, allocator
    return min(timed(*r, per_round) for _ in range(rounds)) * 1e3


def main():
    """deferflow first, before TensorFlow's thread pools exist in the process, then TensorFlow."""
    import deferflow
    label = f"LSTM train step ({UNITS} units, {STEPS} steps, batch {BATCH})"
    ours = best_of(deferflow)
    ours_1 = None
    try:  # NumPy's BLAS limited to one thread: what a busy machine (spinning BLAS threads) leaves
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1, "blas"):
            ours_1 = best_of(deferflow)
    except ImportError:
        pass
    tf = real_tf()
    theirs = best_of(tf) if tf is not None else None
    report(label, ours, theirs, "ms/step")
    if ours_1 is not None:
        report(label + ", deferflow's BLAS on 1 thread", ours_1, theirs, "ms/step")


if __name__ == "__main__":
    main()
