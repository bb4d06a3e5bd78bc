"""Writes the golden event file in this directory with REAL TensorFlow's tf.compat.v1 FileWriter.

Run: python tests/golden/summary/make_golden.py. Output (committed): events.out.tfevents.golden.
The summaries' inputs come from ``inputs()``, which the tests import to rebuild them with deferflow.
"""
import glob
import os
import shutil
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "events.out.tfevents.golden")


def inputs():
    """Deterministic inputs of every summary in the golden file (step -> feed values)."""
    rng = np.random.default_rng(20240601)
    return [{"loss": np.float32(1.0 / (step + 1)),
             "weights": rng.normal(size=200).astype(np.float32),
             "images": rng.uniform(size=(2, 6, 5, 3)).astype(np.float32),
             "note": f"step {step}".encode()} for step in range(3)]


def build(tf):
    """The summary graph, the same code for TensorFlow and deferflow; returns (placeholders, merged)."""
    ph = {"loss": tf.placeholder(tf.float32, [], name="loss"),
          "weights": tf.placeholder(tf.float32, [None], name="weights"),
          "images": tf.placeholder(tf.float32, [None, 6, 5, 3], name="images"),
          "note": tf.placeholder(tf.string, [], name="note")}
    with tf.name_scope("train"):
        tf.summary.scalar("loss", ph["loss"])
        tf.summary.histogram("weights", ph["weights"])
    tf.summary.image("inputs", ph["images"], max_outputs=2)
    tf.summary.text("note", ph["note"])
    return ph, tf.summary.merge_all()


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    out = tempfile.mkdtemp()
    with tf.Graph().as_default():
        ph, merged = build(tf)
        writer = tf.summary.FileWriter(out)
        writer.add_session_log(tf.SessionLog(status=tf.SessionLog.START), 0)
        with tf.Session() as sess:
            for step, feed in enumerate(inputs()):
                writer.add_summary(sess.run(merged, {ph[k]: v for k, v in feed.items()}), step)
        writer.close()
    (produced,) = glob.glob(os.path.join(out, "events.out.tfevents.*"))
    shutil.move(produced, GOLDEN)
    shutil.rmtree(out)
    print("wrote", GOLDEN, os.path.getsize(GOLDEN), "bytes")


if __name__ == "__main__":
    main()
