"""Checkpoints interchangeable with real TensorFlow, both ways (the ``tf_real`` oracle)."""
import os
import time

import ml_dtypes
import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import op_registry

VALUES = {
    "dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    "f64": np.array([np.e, -1e-300], np.float64), "f16": np.float16([0.5, -65504.0]),
    "bf16": np.array([1.0, -3.140625], ml_dtypes.bfloat16), "i8": np.int8([-128, 127]),
    "i64": np.int64([2 ** 63 - 1, -2 ** 63]), "u8": np.uint8([0, 255]), "flag": np.array([True, False]),
    "c64": np.complex64([1 - 2j]), "scalar": np.float32(0.125), "empty": np.zeros((0, 3), np.float32),
    "strings": np.array([b"a", b"", "\u00e9t\u00e9".encode(), b"x" * 300], dtype=object),
}


def _check_equal(got, want, name):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, name
    if want.dtype == object:
        assert [bytes(x) for x in got.reshape(-1)] == list(want.reshape(-1)), name
    else:
        assert got.dtype == want.dtype, name
        assert got.tobytes() == want.tobytes(), name


def _saver_ops(g, scope="save/"):
    return [(op.name, op.type, [t.name for t in op.inputs], sorted(c.name for c in op.control_inputs))
            for op in g.get_operations() if op.name.startswith(scope)]


def test_saver_graph_and_saver_def_match_tensorflow(tf_real):
    with tf_real.Graph().as_default() as g:
        tf_real.Variable([1.0, 2.0], name="w1")
        tf_real.Variable([3, 4], name="w2")
        theirs = tf_real.train.Saver(max_to_keep=3, keep_checkpoint_every_n_hours=2.5)
    tf.Variable([1.0, 2.0], name="w1")
    tf.Variable([3, 4], name="w2")
    ours = tf.train.Saver(max_to_keep=3, keep_checkpoint_every_n_hours=2.5)
    assert _saver_ops(tf.get_default_graph()) == _saver_ops(g)
    assert ours.as_saver_def().SerializeToString() == theirs.as_saver_def().SerializeToString()
    for name in ["save/SaveV2", "save/RestoreV2"]:
        assert tf.get_default_graph().get_operation_by_name(name).get_attr("dtypes") == \
            [tf.as_dtype(d.as_datatype_enum) for d in g.get_operation_by_name(name).get_attr("dtypes")]


def test_sharded_saver_def_matches_tensorflow(tf_real):
    def build(lib):
        with lib.device("/cpu:0"):
            lib.Variable([1.0], name="a")
        with lib.device("/cpu:1"):
            lib.Variable([2.0], name="b")
        return lib.train.Saver(sharded=True)
    with tf_real.Graph().as_default() as g:
        theirs = build(tf_real)
    ours = build(tf)
    assert ours.as_saver_def().SerializeToString() == theirs.as_saver_def().SerializeToString()
    mine = _saver_ops(tf.get_default_graph())
    if op_registry.get("Select") is not None:  # the s3:// suffix switch needs Select from the op library
        theirs_ops = _saver_ops(g)
        assert [(n, t) for n, t, _, _ in mine] == [(n, t) for n, t, _, _ in theirs_ops if
                                                   not n.startswith("save/restore_all/")]
    else:
        assert [n for n, *_ in mine if "ShardedFilename" in n or "Merge" in n or "restore_shard" in n] == [
            n for n, *_ in _saver_ops(g) if "ShardedFilename" in n or "Merge" in n or "restore_shard" in n]


def test_our_checkpoint_restores_in_tensorflow(tf_real, tmp_path):
    vs = [tf.Variable(v, name=n) for n, v in VALUES.items()]
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    prefix = tf.train.Saver().save(sess, str(tmp_path / "model.ckpt"), global_step=5, write_meta_graph=False)
    del vs
    assert tf_real.train.latest_checkpoint(str(tmp_path)) == prefix
    assert tf_real.train.list_variables(str(tmp_path)) == tf.train.list_variables(str(tmp_path))
    reader = tf_real.train.NewCheckpointReader(prefix)
    assert {k: v.name for k, v in reader.get_variable_to_dtype_map().items()} == \
        {k: v.name for k, v in tf.train.NewCheckpointReader(prefix).get_variable_to_dtype_map().items()}
    with tf_real.Graph().as_default():
        theirs = {n: tf_real.Variable(np.zeros_like(v) if v.dtype != object else np.array([b""] * v.size, object),
                                      name=n) for n, v in VALUES.items()}
        saver = tf_real.train.Saver()
        with tf_real.Session() as tsess:
            saver.restore(tsess, prefix)
            for n, v in theirs.items():
                _check_equal(tsess.run(v), VALUES[n], n)


def test_tensorflow_checkpoint_restores_here(tf_real, tmp_path):
    with tf_real.Graph().as_default():
        for n, v in VALUES.items():
            tf_real.Variable(v, name=n)
        with tf_real.Session() as tsess:
            tsess.run(tf_real.global_variables_initializer())
            prefix = tf_real.train.Saver().save(tsess, str(tmp_path / "model.ckpt"), global_step=7)
    ours = {n: tf.Variable(np.zeros_like(v) if v.dtype != object else np.array([b""] * v.size, object), name=n)
            for n, v in VALUES.items()}
    sess = tf.Session()
    tf.train.Saver().restore(sess, tf.train.latest_checkpoint(str(tmp_path)))
    for n, v in ours.items():
        _check_equal(sess.run(v), VALUES[n], n)
    assert tf.train.list_variables(prefix) == tf_real.train.list_variables(prefix)


def test_tensorflow_resource_variables_and_adam_slots_restore_here(tf_real, tmp_path):
    rng = np.random.RandomState(1)
    x_data = rng.randn(8, 3).astype(np.float32)
    y_data = rng.randn(8, 1).astype(np.float32)
    with tf_real.Graph().as_default():
        x = tf_real.constant(x_data)
        w = tf_real.get_variable("w", initializer=rng.randn(3, 1).astype(np.float32), use_resource=True)
        b = tf_real.get_variable("b", initializer=np.zeros(1, np.float32), use_resource=True)
        loss = tf_real.reduce_mean(tf_real.square(tf_real.matmul(x, w) + b - y_data))
        step = tf_real.train.get_or_create_global_step()
        train = tf_real.train.AdamOptimizer(0.05).minimize(loss, global_step=step)
        with tf_real.Session() as tsess:
            tsess.run(tf_real.global_variables_initializer())
            for _ in range(3):
                tsess.run(train)
            prefix = tf_real.train.Saver().save(tsess, str(tmp_path / "adam"), global_step=step)
            reader = tf_real.train.NewCheckpointReader(prefix)
            expected = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
    assert prefix.endswith("adam-3")
    assert set(expected) == {"w", "b", "w/Adam", "w/Adam_1", "b/Adam", "b/Adam_1", "beta1_power", "beta2_power",
                             "global_step"}
    ours = {k: tf.Variable(np.zeros_like(v), name=k) for k, v in expected.items()}
    sess = tf.Session()
    tf.train.Saver().restore(sess, prefix)
    for k, v in ours.items():
        _check_equal(sess.run(v), expected[k], k)


def _partition_init(lib, full):
    def init(shape, dtype=None, partition_info=None):
        row = partition_info.var_offset[0] if partition_info else 0
        return lib.constant(full[row:row + shape[0]])
    return init


def test_partitioned_variables_both_ways(tf_real, tmp_path):
    full = np.arange(70, dtype=np.float32).reshape(14, 5)
    with tf_real.Graph().as_default():
        tf_real.get_variable("emb", shape=[14, 5], initializer=_partition_init(tf_real, full),
                             partitioner=tf_real.fixed_size_partitioner(4), use_resource=False)
        with tf_real.Session() as tsess:
            tsess.run(tf_real.global_variables_initializer())
            theirs = tf_real.train.Saver().save(tsess, str(tmp_path / "tf" / "m"))
    emb = tf.get_variable("emb", shape=[14, 5], partitioner=tf.fixed_size_partitioner(3))
    sess = tf.Session()
    tf.train.Saver().restore(sess, theirs)  # 4 slices in the file, 3 here
    np.testing.assert_array_equal(sess.run(tf.convert_to_tensor(emb)), full)
    ours = tf.train.Saver().save(sess, str(tmp_path / "df" / "m"), write_meta_graph=False)
    with tf_real.Graph().as_default():
        emb2 = tf_real.get_variable("emb", shape=[14, 5], partitioner=tf_real.fixed_size_partitioner(2),
                                    use_resource=False)
        with tf_real.Session() as tsess:
            tf_real.train.Saver().restore(tsess, ours)
            np.testing.assert_array_equal(tsess.run(tf_real.convert_to_tensor(emb2)), full)
    assert tf_real.train.list_variables(ours) == tf.train.list_variables(ours) == [("emb", [14, 5])]


def test_multi_shard_both_ways(tf_real, tmp_path):
    def build(lib):
        with lib.device("/cpu:0"):
            a = lib.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="a")
        with lib.device("/cpu:1"):
            b = lib.Variable(np.array([7, 8, 9], np.int64), name="b")
        return a, b
    os.makedirs(tmp_path / "tf")  # TF's sharded save needs the directory to exist
    with tf_real.Graph().as_default():
        build(tf_real)
        with tf_real.Session(config=tf_real.ConfigProto(device_count={"CPU": 2})) as tsess:
            tsess.run(tf_real.global_variables_initializer())
            theirs = tf_real.train.Saver(sharded=True).save(tsess, str(tmp_path / "tf" / "m"),
                                                            write_meta_graph=False)
    assert os.path.exists(theirs + ".data-00001-of-00002")
    a, b = build(tf)
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver(sharded=True)
    ours = saver.save(sess, str(tmp_path / "df" / "m"), write_meta_graph=False)
    assert sorted(os.listdir(tmp_path / "df")) == sorted(os.listdir(tmp_path / "tf")) == [
        "checkpoint", "m.data-00000-of-00002", "m.data-00001-of-00002", "m.index"]
    sess.run([tf.assign(a, tf.zeros_like(a)), tf.assign(b, tf.zeros_like(b))])
    saver.restore(sess, theirs)
    np.testing.assert_array_equal(sess.run(b), [7, 8, 9])
    with tf_real.Graph().as_default():
        ta, tb = build(tf_real)
        with tf_real.Session(config=tf_real.ConfigProto(device_count={"CPU": 2})) as tsess:
            tf_real.train.Saver().restore(tsess, ours)
            np.testing.assert_array_equal(tsess.run(ta), np.arange(6).reshape(2, 3))
            np.testing.assert_array_equal(tsess.run(tb), [7, 8, 9])


def test_checkpoint_state_file_and_deletion_rules_match(tf_real, tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])  # TF's Saver reads the same clock
    results = {}
    for lib, sub in ((tf, "df"), (tf_real, "tf")):
        os.makedirs(tmp_path / sub)
        monkeypatch.chdir(tmp_path / sub)
        clock[0] = 1000.0
        with lib.Graph().as_default():
            lib.Variable([1.0], name="v")
            saver = lib.train.Saver(max_to_keep=2, keep_checkpoint_every_n_hours=1)
            with lib.Session() as s:
                s.run(lib.global_variables_initializer())
                for step in range(9):
                    clock[0] += 1300
                    saver.save(s, "ckpt/model", global_step=step, write_meta_graph=False)
                results[sub] = (sorted(os.listdir("ckpt")), open("ckpt/checkpoint").read(), saver.last_checkpoints)
    assert results["df"] == results["tf"]


def test_missing_key_message_starts_like_tensorflows(tf_real, tmp_path):
    prefix = str(tmp_path / "m")
    with tf_real.Graph().as_default():
        tf_real.Variable([1.0], name="w")
        with tf_real.Session() as tsess:
            tsess.run(tf_real.global_variables_initializer())
            tf_real.train.Saver().save(tsess, prefix)
        tf_real.Variable([1.0], name="bias")
        with tf_real.Session() as tsess, pytest.raises(tf_real.errors.NotFoundError) as theirs:
            tf_real.train.Saver().restore(tsess, prefix)
    tf.Variable([1.0], name="w")
    tf.Variable([1.0], name="bias")
    with pytest.raises(tf.errors.NotFoundError) as ours:
        tf.train.Saver().restore(tf.Session(), prefix)
    head = "This is most likely due to a Variable name or other graph key that is missing from the checkpoint"
    assert head in theirs.value.message and head in ours.value.message
    assert "Key bias not found in checkpoint" in theirs.value.message
    assert "Key bias not found in checkpoint" in ours.value.message


def test_our_meta_graph_saver_runs_in_tensorflow(tf_real, tmp_path, monkeypatch):
    """TF imports our .meta, restores with our sharded saver graph, and saves through it."""
    pytest.importorskip("deferflow.training.meta_graph")
    monkeypatch.chdir(tmp_path)
    w1 = tf.Variable(np.float32([1.5, -2.0]), name="w1")
    with tf.device("/cpu:1"):
        tf.Variable(np.int64([1, 2, 3]), name="w2")
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    tf.train.Saver(sharded=True).save(sess, "m", global_step=3)
    sess.run(tf.assign(w1, [0.0, 0.0]))
    with tf_real.Graph().as_default(), tf_real.Session(config=tf_real.ConfigProto(device_count={"CPU": 2})) as ts:
        saver = tf_real.train.import_meta_graph("m-3.meta")
        saver.restore(ts, tf_real.train.latest_checkpoint("./"))
        np.testing.assert_array_equal(ts.run("w1:0"), [1.5, -2.0])
        np.testing.assert_array_equal(ts.run("w2:0"), [1, 2, 3])
        assert saver.save(ts, "tf", global_step=4, write_meta_graph=False) == "tf-4"
    tf.train.Saver().restore(sess, "tf-4")
    np.testing.assert_array_equal(sess.run(w1), [1.5, -2.0])


def _resource_variable(lib, name, value):
    if lib is tf:
        rvo = pytest.importorskip("deferflow.ops.resource_variable_ops")
        return rvo.ResourceVariable(value, name=name)
    return lib.get_variable(name, initializer=value, use_resource=True)


def test_resource_variables_save_and_restore_like_tensorflow(tf_real, tmp_path):
    with tf_real.Graph().as_default() as g:
        _resource_variable(tf_real, "w", np.float32([1.0, 2.0]))
        tf_real.train.Saver()
    w = _resource_variable(tf, "w", np.float32([1.0, 2.0]))
    saver = tf.train.Saver()
    assert [(n, t) for n, t, _, _ in _saver_ops(tf.get_default_graph())] == \
        [(n, t) for n, t, _, _ in _saver_ops(g)]
    assert tf.get_default_graph().get_operation_by_name("save/SaveV2").inputs[3].op.type == "ReadVariableOp"
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    prefix = saver.save(sess, str(tmp_path / "m"), write_meta_graph=False)
    sess.run(w.assign([0.0, 0.0]))
    saver.restore(sess, prefix)
    np.testing.assert_array_equal(sess.run(w), [1.0, 2.0])
    with tf_real.Graph().as_default():
        tw = _resource_variable(tf_real, "w", np.float32([0.0, 0.0]))
        with tf_real.Session() as ts:
            tf_real.train.Saver().restore(ts, prefix)
            np.testing.assert_array_equal(ts.run(tw), [1.0, 2.0])
