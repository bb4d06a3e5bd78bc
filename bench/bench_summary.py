"""Cost of TensorBoard logging in a training loop: the same MLP trained with and without a
``tf.summary.scalar`` fetched and written by a ``FileWriter`` every step, 10,000 scalar summaries.

Both loops fetch the loss, as training loops do to report it; the logged one also fetches the summary
and hands it to ``writer.add_summary``. Plain and logged steps alternate, one each, so load from other
processes hits both alike; the overhead is the difference of the median step times, plus the writer's
creation (graph and meta graph events) and ``close()`` (flush to disk) spread over the run. Process
CPU time (all threads, the writer's included) is reported too.

Run: ``python bench/bench_summary.py [summaries]``. Target: overhead < 5% of the loop.
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODELS = {  # name: (inputs, hidden, batch)
    "MNIST-sized MLP 784-128-10, batch 64": (784, 128, 64),
    "tiny MLP 64-32-10, batch 16": (64, 32, 16),
}


def build(tf, n_in, n_hidden, batch):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(batch * 16, n_in)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch * 16)]
    x = tf.placeholder(tf.float32, [None, n_in], name="x")
    y = tf.placeholder(tf.float32, [None, 10], name="y")
    with tf.name_scope("hidden"):
        w1 = tf.Variable(rng.normal(scale=0.05, size=(n_in, n_hidden)).astype(np.float32), name="weights")
        b1 = tf.Variable(np.zeros(n_hidden, np.float32), name="biases")
        h = tf.nn.relu(tf.matmul(x, w1) + b1)
    with tf.name_scope("output"):
        w2 = tf.Variable(rng.normal(scale=0.1, size=(n_hidden, 10)).astype(np.float32), name="weights")
        b2 = tf.Variable(np.zeros(10, np.float32), name="biases")
        logits = tf.matmul(h, w2) + b2
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    train = tf.train.GradientDescentOptimizer(0.05).minimize(loss)
    summary = tf.summary.scalar("loss", loss)
    feeds = [{x: data[i:i + batch], y: labels[i:i + batch]} for i in range(0, batch * 16, batch)]
    return train, loss, summary, feeds


def measure(tf, model, summaries, logdir):
    """Alternates one plain and one logged step; returns the median seconds of each, the writer's
    setup + close seconds, and the process CPU seconds of all plain and all logged steps."""
    clock, cpu = time.perf_counter, time.process_time
    with tf.Graph().as_default():
        train, loss, summary, feeds = build(tf, *model)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for i in range(200):  # warm up plans and caches
                sess.run([train, loss, summary], feeds[i % 16])
            t0 = clock()
            writer = tf.summary.FileWriter(logdir, sess.graph)
            setup = clock() - t0
            plain, logged, cpu_plain, cpu_logged = [], [], 0.0, 0.0
            for i in range(summaries):
                c0, t0 = cpu(), clock()
                sess.run([train, loss], feeds[i % 16])
                t1, c1 = clock(), cpu()
                _, _, s = sess.run([train, loss, summary], feeds[i % 16])
                writer.add_summary(s, i)
                t2, c2 = clock(), cpu()
                plain.append(t1 - t0)
                logged.append(t2 - t1)
                cpu_plain += c1 - c0
                cpu_logged += c2 - c1
            t0 = clock()
            writer.close()  # everything logged is on disk
            setup += clock() - t0
    path = os.path.join(logdir, os.listdir(logdir)[0])
    n_events = sum(1 for _ in tf.train.summary_iterator(path))
    assert n_events == summaries + 3, n_events  # version, graph, meta graph, then one per step
    return statistics.median(plain), statistics.median(logged), setup, cpu_plain, cpu_logged


def main():
    import deferflow as tf
    summaries = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    root = tempfile.mkdtemp()
    try:
        for i, (name, model) in enumerate(MODELS.items()):
            p, q, setup, cp, cl = measure(tf, model, summaries, os.path.join(root, str(i)))
            n = summaries
            each = q - p + setup / n  # the writer's creation and close, spread over the run
            print(f"{name}: median step {p * 1e6:.0f} us without summaries, {q * 1e6:.0f} us logging a scalar "
                  f"summary (writer creation + close: {setup * 1e3:.1f} ms)")
            print(f"  logging {n} scalar summaries costs {each * 1e6:.1f} us each: overhead {100 * each / p:.1f}% "
                  f"of the loop's time (process CPU: {100 * (cl - cp) / cp:.1f}%; target < 5%)")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
