"""tf.train.Saver save and restore throughput, deferflow vs TensorFlow's Saver, in one run.

    python bench/bench_saver.py [--vars 16] [--rows 2048] [--cols 4096] [--repeat 5] [--max-to-keep N]
                                [--dir DIR] [--no-tf]

Default: 16 float32 variables of 2048x4096 (512 MiB). Both Savers run through Session.run in graph mode
(SaveV2 / RestoreV2 + Assign), writing to a temp dir on the same disk, without the .meta file; restores
read what was just written (page cache), as a restore right after a save does. Neither library fsyncs
(deferflow's default; ``DEFERFLOW_CHECKPOINT_FSYNC=1`` turns it on). The libraries take turns, round by
round, the first one alternating, after an ``os.sync()`` each round, so that both meet the same memory
conditions: on a VM whose host backs guest memory lazily (or takes freed memory back), the page cache a
save fills can come from never-touched memory, which runs at the host's page-fault speed (~0.45 GB/s
measured here) whichever library writes. Checkpoints stay until the end (``--max-to-keep`` N deletes the
older ones as the Saver's max_to_keep does, so later saves reuse their memory, as a training loop's do).
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
from _common import real_tf  # noqa: E402


def _setup(lib, arrays, max_to_keep):
    """A graph with one variable per array (loaded through feeds, not constants), its Saver and a Session."""
    graph = lib.Graph()
    with graph.as_default():
        variables = [lib.Variable(lib.zeros(a.shape, lib.float32), name=f"layer_{i:02d}/kernel")
                     for i, a in enumerate(arrays)]
        saver = lib.train.Saver(max_to_keep=max_to_keep)
        sess = lib.Session(graph=graph)
        sess.run(lib.global_variables_initializer())
        for v, a in zip(variables, arrays):
            v.load(a, sess)
    return variables, saver, sess


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vars", type=int, default=16)
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-to-keep", type=int, default=None, help="Saver(max_to_keep=N); default: keep all")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow comparison")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    arrays = [rng.random((args.rows, args.cols), dtype=np.float32) for _ in range(args.vars)]
    gb = sum(a.nbytes for a in arrays) / 1e9
    libs = {"deferflow": deferflow}
    tf = None if args.no_tf else real_tf()
    if tf is not None:
        libs["tensorflow"] = tf
    workdir = tempfile.mkdtemp(dir=args.dir)
    times = {(name, op): [] for name in libs for op in ("save", "restore")}
    try:
        setups = {name: _setup(lib, arrays, args.max_to_keep) for name, lib in libs.items()}
        names = list(setups)
        for round_ in range(args.repeat):
            os.sync()  # no dirty pages left from the round before
            for name in (names if round_ % 2 == 0 else names[::-1]):
                variables, saver, sess = setups[name]
                prefix = os.path.join(workdir, name, "model.ckpt")
                times[name, "save"].append(_timed(lambda: saver.save(sess, prefix, global_step=round_,
                                                                     write_meta_graph=False)))
                times[name, "restore"].append(_timed(lambda: saver.restore(sess, f"{prefix}-{round_}")))
                if round_ == 0:  # the restored values are the saved ones
                    last = sess.run(variables[-1])
                    assert np.array_equal(last, arrays[-1]), name
        for _, _, sess in setups.values():
            sess.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"Saver: {args.vars} x float32[{args.rows}x{args.cols}] = {gb * 1e9 / 2**20:.0f} MiB, "
          f"best of {args.repeat} (median in brackets), max_to_keep={args.max_to_keep}")
    best = {}
    for (name, op), ts in times.items():
        best[name, op] = min(ts)
        print(f"  {name:10s} {op:8s} {min(ts) * 1000:8.1f} ms  {gb / min(ts):6.2f} GB/s  "
              f"[{gb / float(np.median(ts)):5.2f} GB/s]  rounds: {' '.join(f'{gb / t:.2f}' for t in ts)}")
    if tf is not None:
        for op in ("save", "restore"):
            ratio = best["tensorflow", op] / best["deferflow", op]
            median = float(np.median(times["tensorflow", op]) / np.median(times["deferflow", op]))
            print(f"  {op}: deferflow {gb / best['deferflow', op]:.2f} GB/s vs TensorFlow "
                  f"{gb / best['tensorflow', op]:.2f} GB/s = {ratio:.2f}x (medians: {median:.2f}x)")


if __name__ == "__main__":
    main()
