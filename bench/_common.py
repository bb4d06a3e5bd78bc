"""Shared helpers for the benchmarks: timing and importing real TensorFlow as the comparison."""
import os
import time


def real_tf():
    """TensorFlow's compat.v1 in graph mode, or None when it is not installed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow.compat.v1 as tf
    except ImportError:
        return None
    tf.disable_v2_behavior()
    return tf


def per_call(fn, min_time=1.0, repeat=5):
    """Best-of-``repeat`` seconds per call of ``fn``, each batch running at least ``min_time`` / repeat."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > min_time / repeat / 4:
            break
        n *= 2
    best = dt / n
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def report(label, ours, theirs, unit, higher_is_better=False):
    if theirs is None:
        print(f"{label}: deferflow {ours:.3f} {unit}; TensorFlow not installed")
        return
    ratio = (ours / theirs) if higher_is_better else (theirs / ours)
    verdict = f"{ratio:.2f}x faster than" if ratio >= 1 else f"{1 / ratio:.2f}x slower than"
    print(f"{label}: deferflow {ours:.3f} {unit}, TensorFlow {theirs:.3f} {unit} (deferflow {verdict} TensorFlow)")
