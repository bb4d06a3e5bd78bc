"""Checkpoint save/restore throughput: deferflow's bundle writer/reader vs TensorFlow's SaveV2/RestoreV2.

    python bench/bench_checkpoint_io.py [--arrays 16] [--rows 2048] [--cols 4096] [--repeat 3] [--dir DIR]

Default: 16 float32 variables of 2048x4096 (512 MiB). Files go to a temp dir on the same disk
for both; restores read from the page cache (just written), as a restore right after a save does.
Neither save fsyncs (deferflow's default; ``DEFERFLOW_CHECKPOINT_FSYNC=1`` makes ours fsync both files and
the directory). Both overwrite one prefix, so each save mostly reuses the memory the previous one freed.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from deferflow.formats import bundle  # noqa: E402


def best_of(repeat, fn):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrays", type=int, default=16)
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow comparison")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    names = [f"layer_{i:02d}/kernel" for i in range(args.arrays)]
    arrays = [rng.random((args.rows, args.cols), dtype=np.float32) for _ in names]
    total = sum(a.nbytes for a in arrays)
    gb = total / 1e9
    workdir = tempfile.mkdtemp(dir=args.dir)
    results = {}
    try:
        ours = os.path.join(workdir, "ours")

        def our_save():
            with bundle.BundleWriter(ours) as writer:
                for name, array in zip(names, arrays):
                    writer.add(name, array)

        def our_restore():
            with bundle.BundleReader(ours) as reader:
                out = [reader.read(name) for name in names]
            assert out[-1].shape == arrays[-1].shape

        results["deferflow save"] = best_of(args.repeat, our_save)
        results["deferflow restore"] = best_of(args.repeat, our_restore)

        if not args.no_tf:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            try:
                import tensorflow as tf
            except ImportError:
                tf = None
                print("tensorflow not importable: skipping the comparison")
            if tf is not None:
                theirs = os.path.join(workdir, "tf")
                tensors = [tf.constant(a) for a in arrays]
                dtypes = [tf.float32] * len(names)

                def tf_save():
                    tf.raw_ops.SaveV2(prefix=theirs, tensor_names=names, shape_and_slices=[""] * len(names),
                                      tensors=tensors)

                def tf_restore():
                    out = tf.raw_ops.RestoreV2(prefix=theirs, tensor_names=names,
                                               shape_and_slices=[""] * len(names), dtypes=dtypes)
                    assert out[-1].shape == arrays[-1].shape

                results["tensorflow save"] = best_of(args.repeat, tf_save)
                results["tensorflow restore"] = best_of(args.repeat, tf_restore)
                same = all(open(f"{ours}{s}", "rb").read() == open(f"{theirs}{s}", "rb").read()
                           for s in (".index", ".data-00000-of-00001"))
                print(f"files byte-identical to TensorFlow's: {same}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{args.arrays} x float32[{args.rows}x{args.cols}] = {total / 2**20:.0f} MiB, best of {args.repeat}")
    for name, seconds in results.items():
        print(f"  {name:20s} {seconds * 1000:8.1f} ms  {gb / seconds:6.2f} GB/s")
    for op in ("save", "restore"):
        if f"tensorflow {op}" in results:
            ratio = results[f"tensorflow {op}"] / results[f"deferflow {op}"]
            print(f"  {op}: deferflow is {ratio:.2f}x TensorFlow's speed")


if __name__ == "__main__":
    main()
