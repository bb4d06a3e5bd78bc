"""import_meta_graph + Saver.restore of a ~10,000-node graph, deferflow vs TensorFlow, in one run.

    python bench/bench_import.py [--layers 188] [--width 64] [--repeat 3] [--no-tf]

The graph is an MLP of ``--layers`` dense layers trained with Adam (a global step, gradients, slots, the
Saver's ops): about 60 nodes per layer. It is written once (.meta + V2 checkpoint) by TensorFlow when it
is installed (else by deferflow); each round then times, in a fresh graph and session, the seed's two
lines: ``saver = tf.train.import_meta_graph(meta)`` and ``saver.restore(sess, prefix)``.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import deferflow  # noqa: E402
from _common import real_tf, report  # noqa: E402


def build_and_save(lib, prefix, layers, width):
    rng = np.random.default_rng(0)
    with lib.Graph().as_default() as g:
        x = lib.placeholder(lib.float32, [None, width], name="x")
        y = lib.placeholder(lib.float32, [None, width], name="y")
        h = x
        for i in range(layers):
            w = lib.Variable(rng.standard_normal((width, width), dtype=np.float32) * 0.1, name=f"layer{i}/w")
            b = lib.Variable(np.zeros(width, np.float32), name=f"layer{i}/b")
            h = lib.nn.relu(lib.matmul(h, w) + b, name=f"layer{i}/out")
        loss = lib.reduce_mean(lib.square(h - y), name="loss")
        step = lib.train.get_or_create_global_step()
        lib.train.AdamOptimizer(1e-3).minimize(loss, global_step=step, name="train")
        saver = lib.train.Saver()
        with lib.Session() as sess:
            sess.run(lib.global_variables_initializer())
            saver.save(sess, prefix)
        return len(g.get_operations())


def time_import(lib, prefix, repeat):
    best = None
    for _ in range(repeat):
        with lib.Graph().as_default():
            t0 = time.perf_counter()
            saver = lib.train.import_meta_graph(prefix + ".meta")
            sess = lib.Session()
            saver.restore(sess, prefix)
            dt = time.perf_counter() - t0
            sess.close()
        best = dt if best is None else min(best, dt)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=188)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-tf", action="store_true")
    args = parser.parse_args()
    tf = None if args.no_tf else real_tf()
    tmp = tempfile.mkdtemp(prefix="bench_import_")
    try:
        prefix = os.path.join(tmp, "model")
        n = build_and_save(tf or deferflow, prefix, args.layers, args.width)
        writer = "TensorFlow" if tf else "deferflow"
        print(f"graph: {n} nodes, .meta {os.path.getsize(prefix + '.meta') / 1e6:.1f} MB, written by {writer}")
        ours = time_import(deferflow, prefix, args.repeat)
        theirs = time_import(tf, prefix, args.repeat) if tf else None
        report("import_meta_graph + restore", ours, theirs, "s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
