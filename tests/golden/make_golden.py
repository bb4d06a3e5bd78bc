"""Write the golden files in this directory with REAL TensorFlow (run: python tests/golden/make_golden.py).

Outputs (committed): one checkpoint directory per case (``model.ckpt.index``, ``.data-*``,
``.meta``, ``checkpoint``), ``events/events.out.tfevents.golden`` and ``expected.json``, which holds
every tensor's dtype, shape and values (strings base64) for the tests to compare against.
"""
import base64
import glob
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = ["dtypes", "resource", "adam", "partitioned", "sharded", "events"]


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    return tf


def to_json(value):
    value = np.asarray(value)
    if value.dtype == object or value.dtype.kind == "S":
        values = [base64.b64encode(bytes(v)).decode() for v in value.reshape(-1)]
    elif value.dtype.kind in "fV" or value.dtype.name == "bfloat16":
        values = [float(v) for v in value.astype(np.float64).reshape(-1)]
    elif value.dtype.kind == "c":
        values = [[float(v.real), float(v.imag)] for v in value.reshape(-1)]
    else:
        values = [v.item() for v in value.reshape(-1)]
    return {"shape": list(value.shape), "values": values}


def save(tf, sess, saver, name, expected):
    """Save into HERE/name/model.ckpt (relative paths in the checkpoint file) and record values."""
    path = os.path.join(HERE, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    cwd = os.getcwd()
    os.chdir(HERE)
    try:
        saver.save(sess, os.path.join(name, "model.ckpt"))
    finally:
        os.chdir(cwd)
    reader = tf.train.NewCheckpointReader(os.path.join(path, "model.ckpt"))
    dtypes = reader.get_variable_to_dtype_map()
    expected[name] = {k: dict(dtype=dtypes[k].name, **to_json(reader.get_tensor(k)))
                      for k in sorted(reader.get_variable_to_shape_map())}


def make_dtypes(tf, expected):
    import ml_dtypes
    with tf.Graph().as_default():
        values = {
            "f32": np.array([[1.5, -2.25, 3e-8], [np.pi, 1e30, -0.0]], np.float32),
            "f64": np.array([np.e, -1e-300, 12345.678901234], np.float64),
            "f16": np.array([0.5, -65504.0, 6.1e-5], np.float16),
            "bf16": np.array([1.0, -3.140625, 1e20], ml_dtypes.bfloat16),
            "i32": np.array([[2**31 - 1, -2**31], [0, 7]], np.int32),
            "i64": np.array([2**63 - 1, -2**63, 42], np.int64),
            "i8": np.array([-128, 127, 0], np.int8),
            "u8": np.array([0, 255, 17], np.uint8),
            "flag": np.array([True, False, True]),
            "scalar_f32": np.float32(0.125),
            "empty_f32": np.zeros((0, 3), np.float32),
        }
        for name, value in values.items():
            tf.Variable(value, name=name, use_resource=False)
        tf.Variable(b"hello \x00\xff world", name="str_scalar", use_resource=False)
        tf.Variable([b"a", b"", "\u00e9t\u00e9".encode(), b"x" * 300], name="str_vec", use_resource=False)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            save(tf, sess, saver, "dtypes", expected)


def make_resource(tf, expected):
    with tf.Graph().as_default():
        tf.get_variable("dense/kernel", initializer=np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
                        use_resource=True)
        tf.get_variable("counter", initializer=np.int64(-5), use_resource=True)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            save(tf, sess, saver, "resource", expected)


def make_adam(tf, expected):
    rng = np.random.RandomState(0)
    x_data = rng.randn(16, 3).astype(np.float32)
    y_data = (x_data @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.placeholder(tf.float32, [None, 1], name="y")
        w1 = tf.Variable(rng.randn(3, 4).astype(np.float32) * 0.5, name="w")
        b1 = tf.Variable(np.zeros(4, np.float32), name="b")
        w2 = tf.Variable(rng.randn(4, 1).astype(np.float32) * 0.5, name="w_out")
        hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
        loss = tf.reduce_mean(tf.square(tf.matmul(hidden, w2) - y), name="loss")
        global_step = tf.train.get_or_create_global_step()
        train = tf.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step, name="train")
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(5):
                sess.run(train, {x: x_data, y: y_data})
            save(tf, sess, saver, "adam", expected)


def make_partitioned(tf, expected):
    with tf.Graph().as_default():
        full = np.arange(40, dtype=np.float32).reshape(10, 4)

        def init(shape, dtype=None, partition_info=None):
            row, col = partition_info.var_offset if partition_info else (0, 0)
            return tf.constant(full[row:row + shape[0], col:col + shape[1]])

        tf.get_variable("part", shape=[10, 4], initializer=init, partitioner=tf.fixed_size_partitioner(3),
                        use_resource=False)
        tf.get_variable("plain", initializer=np.float64(2.5), use_resource=False)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            save(tf, sess, saver, "partitioned", expected)


def make_sharded(tf, expected):
    with tf.Graph().as_default():
        with tf.device("/cpu:0"):
            tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="a", use_resource=False)
            tf.Variable(np.array([b"on", b"cpu0"]), name="s", use_resource=False)
        with tf.device("/cpu:1"):
            tf.Variable(np.array([7, 8, 9], np.int64), name="b", use_resource=False)
            tf.Variable(np.float32(-1.0), name="c", use_resource=False)
        saver = tf.train.Saver(sharded=True)
        config = tf.ConfigProto(device_count={"CPU": 2})
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            save(tf, sess, saver, "sharded", expected)


def make_events(tf, expected):
    path = os.path.join(HERE, "events")
    shutil.rmtree(path, ignore_errors=True)
    with tf.Graph().as_default():
        loss = tf.placeholder(tf.float32, [], name="loss_value")
        summary = tf.summary.merge([tf.summary.scalar("loss", loss),
                                    tf.summary.histogram("weights", tf.constant([1.0, 2.0, 2.5, 4.0]) * loss)])
        writer = tf.summary.FileWriter(path, graph=tf.get_default_graph())
        with tf.Session() as sess:
            for step in range(3):
                writer.add_summary(sess.run(summary, {loss: 1.0 / (step + 1)}), step)
        writer.close()
    (produced,) = glob.glob(os.path.join(path, "events.out.tfevents.*"))
    os.rename(produced, os.path.join(path, "events.out.tfevents.golden"))
    expected["events"] = {"scalars": [[step, 1.0 / (step + 1)] for step in range(3)]}


def main():
    tf = _tf()
    expected = {"tensorflow_version": tf.__version__}
    for case in CASES:
        globals()["make_" + case](tf, expected)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(HERE, "**", "*"), recursive=True)
                if os.path.isfile(p))
    print(f"golden files: {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
