"""Write the V1 (pre-2017, TensorSliceWriter) checkpoints in this directory with REAL TensorFlow.

Run: python tests/golden/v1/make_v1_golden.py

Cases, each a directory holding what ``tf.train.Saver(write_version=tf.train.SaverDef.V1).save`` wrote:
- ``dtypes/model.ckpt``: one file; every dtype TensorFlow's V1 writer accepts (scalars, an empty tensor).
- ``partitioned/model.ckpt``: one file; two variables split by ``tf.fixed_size_partitioner(3)``.
- ``sharded/model.ckpt-0000{0,1}-of-00002``: ``sharded=True`` with variables on "/cpu:0" and "/cpu:1".
``expected.json`` holds each tensor's dtype, shape and values (strings base64), taken by restoring the
checkpoint into a fresh TensorFlow graph (TensorFlow's NewCheckpointReader cannot read float16, complex,
uint16 or quantized tensors from V1 files, although its restore op can).
TensorFlow refuses to write uint32, uint64 and bfloat16 in V1 files, so they are absent.
"""
import base64
import glob
import json
import os
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    return tf


def to_json(value, dtype):
    value = np.asarray(value)
    if dtype == "string":
        values = [base64.b64encode(bytes(v)).decode() for v in value.reshape(-1)]
    elif value.dtype.kind == "c":
        values = [[float(v.real), float(v.imag)] for v in value.reshape(-1)]
    elif value.dtype.kind == "f":
        values = [float(v) for v in value.astype(np.float64).reshape(-1)]
    else:
        values = [v.item() for v in value.reshape(-1)]
    return {"dtype": dtype, "shape": list(value.shape), "values": values}


def _save(tf, sess, saver, name):
    path = os.path.join(HERE, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    cwd = os.getcwd()
    os.chdir(HERE)  # relative paths in the 'checkpoint' state file
    try:
        saved = saver.save(sess, os.path.join(name, "model.ckpt"), write_meta_graph=False)
    finally:
        os.chdir(cwd)
    return os.path.join(HERE, saved)


def _restored_values(tf, build, path, config=None):
    """{saved name: (dtype name, value)} after restoring ``path`` into a fresh graph built by ``build``."""
    with tf.Graph().as_default():
        variables = build(tf)
        saver = tf.train.Saver(write_version=tf.train.SaverDef.V1)
        with tf.Session(config=config) as sess:
            saver.restore(sess, path)
            out = {}
            for var in variables:
                info = getattr(var, "_save_slice_info", None)
                out.setdefault(info.full_name if info else var.op.name, []).append((var, info))
            result = {}
            for name, parts in out.items():
                values = sess.run([v for v, _ in parts])
                dtype = parts[0][0].dtype.base_dtype.name
                if parts[0][1] is None:
                    result[name] = (dtype, values[0])
                else:
                    full = np.zeros(parts[0][1].full_shape, dtype=values[0].dtype)
                    for (_, info), value in zip(parts, values):
                        full[tuple(slice(o, o + n) for o, n in zip(info.var_offset, info.var_shape))] = value
                    result[name] = (dtype, full)
            return result


def _dtype_vars(tf):
    rng = np.random.RandomState(0)
    values = {
        "float32": rng.randn(2, 3).astype(np.float32),
        "float64": rng.randn(3).astype(np.float64),
        "int32": np.array([[-2147483648, -1, 0], [1, 7, 2147483647]], np.int32),
        "int64": np.array([-(1 << 63), -5, 0, (1 << 63) - 1], np.int64),
        "int8": np.array([-128, -1, 0, 127], np.int8),
        "int16": np.array([-32768, -3, 32767], np.int16),
        "uint8": np.array([0, 1, 128, 255], np.uint8),
        "uint16": np.array([0, 1, 40000, 65535], np.uint16),
        "bool": np.array([[True, False], [False, True]]),
        "float16": np.array([0.5, -2.25, 65504.0, 6e-8], np.float16),
        "complex64": np.array([1 + 2j, -0.5 - 3j], np.complex64),
        "complex128": np.array([[1e300 - 1j], [0.25 + 0j]], np.complex128),
    }
    out = [tf.Variable(v, name=f"t_{k}") for k, v in values.items()]
    out.append(tf.Variable([b"", b"abc", b"\x00\xff\x80 bytes", "h\u00e9llo".encode()], name="t_string"))
    out.append(tf.Variable(np.float32(3.5), name="scalar_float"))
    out.append(tf.Variable(np.int64(1234), name="global_step"))
    out.append(tf.Variable(np.zeros((0, 3), np.float32), name="empty"))
    out.append(tf.Variable(rng.randn(2, 1, 3, 2).astype(np.float32), name="scope/rank4"))
    return out


def _partitioned_vars(tf):
    def counting(full, scale, dtype):  # distinct values everywhere: element (i, j) of the full tensor
        table = (np.arange(np.prod(full)).reshape(full) * scale - 7).astype(dtype)

        def init(shape, dtype=None, partition_info=None):
            offsets = partition_info.var_offset if partition_info else [0] * len(shape)
            return tf.constant(table[tuple(slice(o, o + n) for o, n in zip(offsets, shape))])
        return init

    a = tf.get_variable("emb", [10, 4], tf.float32, counting([10, 4], 0.125, np.float32),
                        partitioner=tf.fixed_size_partitioner(3))
    b = tf.get_variable("wide", [2, 7], tf.int64, counting([2, 7], 1000, np.int64),
                        partitioner=tf.fixed_size_partitioner(3, axis=1))
    c = tf.get_variable("bias", [3], tf.float32, tf.constant_initializer([1.0, -2.0, 0.5]))
    return list(a) + list(b) + [c]


def _sharded_vars(tf):
    with tf.device("/cpu:0"):
        a = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="dev0/w")
        b = tf.Variable(np.int32(42), name="dev0/count")
    with tf.device("/cpu:1"):
        c = tf.Variable(np.linspace(-1, 1, 5, dtype=np.float64), name="dev1/w")
        d = tf.Variable([b"x", b"yz"], name="dev1/names")
    return [a, b, c, d]


CASES = {"dtypes": (_dtype_vars, False), "partitioned": (_partitioned_vars, False), "sharded": (_sharded_vars, True)}


def main():
    tf = _tf()
    config = tf.ConfigProto(device_count={"CPU": 2})
    expected = {}
    for name, (build, sharded) in CASES.items():
        with tf.Graph().as_default():
            build(tf)
            saver = tf.train.Saver(write_version=tf.train.SaverDef.V1, sharded=sharded)
            with tf.Session(config=config) as sess:
                sess.run(tf.global_variables_initializer())
                path = _save(tf, sess, saver, name)
        files = sorted(glob.glob(os.path.join(HERE, name, "model.ckpt*")))
        assert files and not any(f.endswith(".index") for f in files), files  # V1: no .index
        expected[name] = {"saved_path": os.path.relpath(path, HERE),
                          "tensors": {k: to_json(v, dt) for k, (dt, v) in
                                      sorted(_restored_values(tf, build, path, config).items())}}
        print(name, "->", [os.path.relpath(f, HERE) for f in files])
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
