"""Training-step time and peak memory, deferflow vs TensorFlow, in one run.

    python bench/bench_training.py [--model mlp|vgg|both] [--steps 30] [--repeat 5] [--no-tf] [--no-memory]

(a) MLP 784-512-512-10, batch 128, ReLU, sparse softmax cross entropy, Adam: ms per training step.
(b) VGG-style conv net on 32x32x3, batch 32: 3x3 convs with 32, 32, 64, 64 channels (SAME, ReLU), a 2x2
    max-pool after each pair, a 256-unit fc7 and a 10-way output, plain SGD: ms per training step.

Both libraries build the same graph from the same initial weights and train on the same fixed batch; the
step time is the best of ``--repeat`` rounds of ``--steps`` steps (the machine is shared, so the best round
is the least disturbed one). Peak memory is each library's maximum resident set size in a fresh
subprocess (import, build, 20 steps), reported as the growth over the process's size right after import.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import real_tf, report  # noqa: E402


def _mlp(tf, rng):
    x = tf.placeholder(tf.float32, [128, 784], name="x")
    y = tf.placeholder(tf.int64, [128], name="y")
    h = x
    for i, n in enumerate([512, 512, 10]):
        w = tf.Variable((rng.standard_normal((int(h.shape[1]), n)) * 0.05).astype(np.float32), name=f"w{i}")
        b = tf.Variable(np.zeros(n, np.float32), name=f"b{i}")
        h = tf.matmul(h, w) + b
        if n != 10:
            h = tf.nn.relu(h)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))
    train = tf.train.AdamOptimizer(1e-3).minimize(loss)
    feed = {x: rng.random((128, 784), dtype=np.float32), y: rng.integers(0, 10, 128)}
    return loss, train, feed


def _vgg(tf, rng):
    x = tf.placeholder(tf.float32, [32, 32, 32, 3], name="x")
    y = tf.placeholder(tf.int64, [32], name="y")
    h, c = x, 3
    for i, n in enumerate([32, 32, "pool", 64, 64, "pool"]):
        if n == "pool":
            h = tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
            continue
        w = tf.Variable((rng.standard_normal((3, 3, c, n)) * np.sqrt(2.0 / (9 * c))).astype(np.float32),
                        name=f"conv{i}/weights")
        b = tf.Variable(np.zeros(n, np.float32), name=f"conv{i}/biases")
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, w, [1, 1, 1, 1], "SAME"), b))
        c = n
    h = tf.reshape(h, [32, -1])
    w = tf.Variable((rng.standard_normal((8 * 8 * 64, 256)) * 0.02).astype(np.float32), name="fc7/weights")
    b = tf.Variable(np.zeros(256, np.float32), name="fc7/biases")
    h = tf.nn.relu(tf.matmul(h, w) + b, name="fc7")
    w = tf.Variable((rng.standard_normal((256, 10)) * 0.05).astype(np.float32), name="fc8/weights")
    b = tf.Variable(np.zeros(10, np.float32), name="fc8/biases")
    logits = tf.matmul(h, w) + b
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    feed = {x: rng.random((32, 32, 32, 3), dtype=np.float32), y: rng.integers(0, 10, 32)}
    return loss, train, feed


MODELS = {"mlp": ("MLP 784-512-512-10, batch 128, Adam", _mlp),
          "vgg": ("VGG-style conv net 32x32x3, batch 32, SGD", _vgg)}


def build(tf, model):
    graph = tf.Graph()
    with graph.as_default():
        loss, train, feed = MODELS[model][1](tf, np.random.default_rng(0))
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
    feed = {graph.get_tensor_by_name(k.name): v for k, v in feed.items()}
    return sess, loss, train, feed


def step_ms(tf, model, steps, repeat):
    """Best-of-``repeat`` ms per step, and the losses of the first 3 steps (to check both agree)."""
    sess, loss, train, feed = build(tf, model)
    first = [float(sess.run([train, loss], feed)[1]) for _ in range(3)]
    for _ in range(3):
        sess.run(train, feed)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            sess.run(train, feed)
        best = min(best, (time.perf_counter() - t0) / steps * 1e3)
    sess.close()
    return best, first


def _rss_mb():
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited from the parent)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker(lib, model):
    """Subprocess body: peak RSS growth (MB) over the size right after import, for 20 training steps."""
    if lib == "tensorflow":
        tf = real_tf()
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        import deferflow as tf
    base = _rss_mb()
    sess, loss, train, feed = build(tf, model)
    for _ in range(20):
        sess.run(train, feed)
    print(json.dumps({"base_mb": base, "peak_mb": _rss_mb()}))


def peak_memory(lib, model):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", lib, "--model", model],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["peak_mb"] - r["base_mb"], r["peak_mb"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="both", choices=["mlp", "vgg", "both"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-tf", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.model)
        return
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import deferflow
    tf = None if args.no_tf else real_tf()
    for model in (["mlp", "vgg"] if args.model == "both" else [args.model]):
        label = MODELS[model][0]
        ours, ours_first = step_ms(deferflow, model, args.steps, args.repeat)
        theirs, theirs_first = step_ms(tf, model, args.steps, args.repeat) if tf is not None else (None, None)
        report(f"{label}: training step", ours, theirs, "ms")
        if theirs_first is not None:
            print(f"  first losses: deferflow {np.round(ours_first, 5).tolist()}, "
                  f"TensorFlow {np.round(theirs_first, 5).tolist()}")
        if not args.no_memory:
            grow, peak = peak_memory("deferflow", model)
            line = f"  peak memory (RSS growth over import / peak RSS): deferflow {grow:.0f} MB / {peak:.0f} MB"
            if tf is not None:
                tgrow, tpeak = peak_memory("tensorflow", model)
                line += f"; TensorFlow {tgrow:.0f} MB / {tpeak:.0f} MB"
            print(line)


if __name__ == "__main__":
    main()
