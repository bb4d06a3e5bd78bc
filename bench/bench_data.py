"""tf.data input pipelines in TF1 graph mode: microseconds per ``sess.run(get_next)``.

Run: ``python bench/bench_data.py``. Two pipelines over 100,000 rows of 784 float32 features and int64
labels, repeated forever, batch 32, through a one-shot iterator: plain ``from_tensor_slices -> batch`` and
the same with ``map(x * 2 + 1)`` before the batch. Prints deferflow, TensorFlow (compat.v1) and the ratio.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import per_call, real_tf, report  # noqa: E402

_ROWS = np.random.default_rng(0).random((100_000, 784), dtype=np.float32)
_LABELS = np.arange(100_000, dtype=np.int64) % 10


def measure(tf, mapped):
    g = tf.Graph()
    with g.as_default():
        ds = tf.data.Dataset.from_tensor_slices((_ROWS, _LABELS)).repeat()
        if mapped:
            ds = ds.map(lambda x, y: (x * 2.0 + 1.0, y))
        x, y = tf.data.make_one_shot_iterator(ds.batch(32)).get_next()
        sess = tf.Session(graph=g)
    first = sess.run([x, y])
    want = _ROWS[:32] * 2 + 1 if mapped else _ROWS[:32]
    assert np.allclose(first[0], want) and np.array_equal(first[1], _LABELS[:32])
    return per_call(lambda: sess.run([x, y])) * 1e6


def main():
    import deferflow
    tf = real_tf()
    for mapped, label in ((False, "from_tensor_slices -> batch(32)"), (True, "from_tensor_slices -> map -> batch(32)")):
        ours = measure(deferflow, mapped)
        theirs = measure(tf, mapped) if tf is not None else None
        report(f"tf.data {label}, per sess.run(get_next)", ours, theirs, "us/call")


if __name__ == "__main__":
    main()
