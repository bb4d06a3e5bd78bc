"""``tf.train.Saver.restore`` of TensorFlow V1 checkpoints (pre-2017 single-file format, e.g. TF-slim's
published models), through the RestoreV2 op as in TensorFlow: plain, partitioned and sharded goldens."""
import base64
import json
import os

import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import errors

V1 = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "v1")
with open(os.path.join(V1, "expected.json")) as _f:
    EXPECTED = json.load(_f)


def _expected(spec):
    if spec["dtype"] == "string":
        return np.array([base64.b64decode(v) for v in spec["values"]], dtype=object).reshape(spec["shape"])
    return np.array(spec["values"], dtype=np.float64 if spec["dtype"].startswith("float") else spec["dtype"]
                    ).astype(spec["dtype"]).reshape(spec["shape"])


def _restore(case, make_vars, save_path=None):
    with tf.Graph().as_default():
        variables = make_vars()
        saver = tf.train.Saver()
        with tf.Session() as sess:
            saver.restore(sess, save_path or os.path.join(V1, EXPECTED[case]["saved_path"]))
            return {name: sess.run(v) for name, v in variables.items()}


def test_restore_every_real_dtype_of_a_tensorflow_v1_checkpoint():
    tensors = {k: v for k, v in EXPECTED["dtypes"]["tensors"].items() if not v["dtype"].startswith("complex")}

    def make():
        return {name: tf.Variable(np.zeros(spec["shape"], object if spec["dtype"] == "string" else spec["dtype"]),
                                  name=name) for name, spec in tensors.items()}
    got = _restore("dtypes", make)
    assert sorted(got) == sorted(tensors)
    for name, spec in tensors.items():
        np.testing.assert_array_equal(got[name], _expected(spec), err_msg=name)


@pytest.mark.parametrize("partitions", [1, 2, 5])
def test_partitioned_variables_restore_from_v1_slices_whatever_their_partitioning(partitions):
    spec = EXPECTED["partitioned"]["tensors"]

    def make():
        emb = tf.get_variable("emb", [10, 4], tf.float32, partitioner=tf.fixed_size_partitioner(partitions))
        assert len(list(emb)) == partitions
        return {"emb": tf.convert_to_tensor(emb), "bias": tf.Variable(np.zeros(3, np.float32), name="bias"),
                "wide": tf.Variable(np.zeros((2, 7), np.int64), name="wide")}
    got = _restore("partitioned", make)
    for name in ("emb", "bias", "wide"):
        np.testing.assert_array_equal(got[name], _expected(spec[name]), err_msg=name)


def test_sharded_v1_checkpoint_restores_through_latest_checkpoint():
    spec = EXPECTED["sharded"]["tensors"]
    path = tf.train.latest_checkpoint(os.path.join(V1, "sharded"))
    assert path.endswith("model.ckpt-?????-of-00002") and tf.train.checkpoint_exists(path)

    def make():
        return {name: tf.Variable(np.zeros(s["shape"], object if s["dtype"] == "string" else s["dtype"]),
                                  name=name) for name, s in spec.items()}
    got = _restore("sharded", make, save_path=path)
    for name, s in spec.items():
        np.testing.assert_array_equal(got[name], _expected(s), err_msg=name)


def test_missing_variable_in_a_v1_checkpoint_is_not_found():
    with tf.Graph().as_default():
        tf.Variable(np.zeros(3, np.float32), name="bias")
        tf.Variable(np.zeros(2, np.float32), name="not_there")
        saver = tf.train.Saver()
        with tf.Session() as sess:
            with pytest.raises(errors.NotFoundError, match="not_there"):
                saver.restore(sess, os.path.join(V1, "partitioned", "model.ckpt"))
