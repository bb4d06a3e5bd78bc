"""tf.train.Saver without TensorFlow: graph it builds, save/restore, naming, deletion rules, errors."""
import os
import time

import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import errors


def _session_with(*values, names=None):
    vs = [tf.Variable(v, name=n) for v, n in zip(values, names)]
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    return vs, sess


# --- the graph: TensorFlow's op names and SaverDef -------------------------------------------

def test_saver_graph_has_tensorflows_names():
    tf.Variable([1.0, 2.0], name="w1")
    tf.Variable([3.0], name="w2")
    saver = tf.train.Saver()
    g = tf.get_default_graph()
    ops = {op.name: op for op in g.get_operations() if op.name.startswith("save/")}
    assert list(ops) == ["save/filename/input", "save/filename", "save/Const", "save/SaveV2/tensor_names",
                         "save/SaveV2/shape_and_slices", "save/SaveV2", "save/control_dependency",
                         "save/RestoreV2/tensor_names", "save/RestoreV2/shape_and_slices", "save/RestoreV2",
                         "save/Assign", "save/Assign_1", "save/restore_all"]
    types = {n: op.type for n, op in ops.items()}
    assert types["save/filename"] == types["save/Const"] == "PlaceholderWithDefault"
    assert (types["save/SaveV2"], types["save/RestoreV2"], types["save/restore_all"]) == ("SaveV2", "RestoreV2",
                                                                                           "NoOp")
    assert [t.name for t in ops["save/SaveV2"].inputs] == ["save/Const:0", "save/SaveV2/tensor_names:0",
                                                          "save/SaveV2/shape_and_slices:0", "w1:0", "w2:0"]
    assert ops["save/filename/input"].get_attr("value").reshape(-1)[0] == b"model"
    assert [t.name for t in ops["save/Assign_1"].inputs] == ["w2:0", "save/RestoreV2:1"]
    assert ops["save/RestoreV2"].device == "/device:CPU:0"
    assert [c.name for c in ops["save/control_dependency"].control_inputs] == ["save/SaveV2"]
    sd = saver.as_saver_def()
    assert (sd.filename_tensor_name, sd.save_tensor_name, sd.restore_op_name) == (
        "save/Const:0", "save/control_dependency:0", "save/restore_all")
    assert (sd.max_to_keep, sd.keep_checkpoint_every_n_hours, sd.sharded, sd.version) == (5, 10000.0, False,
                                                                                          tf.train.SaverDef.V2)


def test_second_saver_gets_save_1_scope_and_custom_name():
    tf.Variable(1.0, name="v")
    tf.train.Saver()
    s2 = tf.train.Saver()
    s3 = tf.train.Saver(name="my_saver", max_to_keep=None, filename="x.ckpt")
    assert s2.as_saver_def().restore_op_name == "save_1/restore_all"
    assert s3.as_saver_def().save_tensor_name == "my_saver/control_dependency:0"
    assert s3.as_saver_def().max_to_keep == 0
    const = tf.get_default_graph().get_operation_by_name("my_saver/filename/input")
    assert const.get_attr("value").reshape(-1)[0] == b"x.ckpt"


def test_no_variables_and_allow_empty(in_tmp):
    with pytest.raises(ValueError, match="No variables to save"):
        tf.train.Saver()
    saver = tf.train.Saver(allow_empty=True)
    tf.constant(1.0)
    sess = tf.Session()
    assert saver.save(sess, "m", write_meta_graph=False) is None
    assert saver.restore(sess, "m") is None
    assert os.listdir(".") == []


def test_defer_build(in_tmp):
    with pytest.raises(ValueError, match="cannot be deferred"):
        tf.train.Saver([tf.Variable(1.0, name="a")], defer_build=True)
    saver = tf.train.Saver(defer_build=True)
    assert saver.as_saver_def() is None
    tf.Variable(2.0, name="b")  # created after the Saver: still saved because build() runs later
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    with pytest.raises(RuntimeError, match="build"):
        saver.save(sess, "m")
    saver.build()
    saver.save(sess, "m", write_meta_graph=False)
    assert tf.train.list_variables("m") == [("a", []), ("b", [])]


# --- save / restore --------------------------------------------------------------------------

def test_round_trip_all_dtypes(in_tmp):
    import ml_dtypes
    values = {"f32": np.array([[1.5, -2.0]], np.float32), "f64": np.array([np.pi]), "f16": np.float16([0.5, 2]),
              "bf16": np.array([1.0, -3.0], ml_dtypes.bfloat16), "i8": np.int8([-128, 127]),
              "i16": np.int16([7]), "i32": np.int32([[1], [2]]), "i64": np.int64([2 ** 62]),
              "u8": np.uint8([255]), "u16": np.uint16([65535]), "b": np.array([True, False]),
              "c64": np.complex64([1 + 2j]), "c128": np.complex128([3 - 1j]), "scalar": np.float32(4.0),
              "empty": np.zeros((0, 3), np.float32), "s": np.array([b"a", b"", b"\x00\xff"], dtype=object)}
    vs, sess = _session_with(*values.values(), names=list(values))
    saver = tf.train.Saver()
    path = saver.save(sess, "all", write_meta_graph=False)
    sess.run([tf.assign(v, tf.zeros_like(v)) for v in vs if v.dtype.base_dtype != tf.string])
    sess.run(tf.assign(vs[-1], tf.constant([b"", b"", b""])))
    saver.restore(sess, path)
    for v, want in zip(vs, values.values()):
        got = sess.run(v)
        assert np.asarray(got).dtype == np.asarray(want).dtype, v.name
        np.testing.assert_array_equal(got, want)


def test_restored_state_is_not_copied_again(in_tmp):
    """RestoreV2 hands fresh arrays to Assign, which stores them as they are (read-only views)."""
    (v,), sess = _session_with(np.arange(1000, dtype=np.float32), names=["v"])
    saver = tf.train.Saver()
    saver.save(sess, "m", write_meta_graph=False)
    saver.restore(sess, "m")
    stored = sess._state.variables["v"]
    assert not stored.flags.writeable and stored.base is not None
    np.testing.assert_array_equal(sess.run(v), np.arange(1000))


@pytest.mark.parametrize("step,pad,expected", [(1000, False, "m-1000"), (np.int64(7), False, "m-7"),
                                               (42, True, "m-00000042")])
def test_global_step_int_and_padding(in_tmp, step, pad, expected):
    _session_with(1.0, names=["v"])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver(pad_step_number=pad)
    assert saver.save(sess, "m", global_step=step, write_meta_graph=False) == expected
    assert os.path.exists(expected + ".index")


def test_global_step_tensor_and_variable(in_tmp):
    step = tf.train.get_or_create_global_step()
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    sess.run(tf.assign(step, 12))
    saver = tf.train.Saver()
    assert saver.save(sess, "m", global_step=step, write_meta_graph=False) == "m-12"
    assert saver.save(sess, "m", global_step=tf.constant(13), write_meta_graph=False) == "m-13"
    np.testing.assert_array_equal(tf.train.load_variable(".", "global_step"), 12)


def test_dict_var_list_saves_under_checkpoint_names(in_tmp):
    (a, b), sess = _session_with([1.0, 2.0], [3.0], names=["a", "b"])
    saver = tf.train.Saver({"layer/kernel": a, "layer/bias": b})
    saver.save(sess, "m", write_meta_graph=False)
    assert tf.train.list_variables("m") == [("layer/bias", [1]), ("layer/kernel", [2])]
    tf.reset_default_graph()
    new = tf.Variable([0.0, 0.0], name="renamed")
    sess = tf.Session()
    tf.train.Saver({"layer/kernel": new}).restore(sess, "m")
    np.testing.assert_array_equal(sess.run(new), [1.0, 2.0])


def test_var_list_of_ref_tensors_and_duplicates():
    a = tf.Variable(1.0, name="a")
    saver = tf.train.Saver([a._ref()])
    assert tf.get_default_graph().get_operation_by_name("save/SaveV2").inputs[3].name == "a:0"
    with pytest.raises(ValueError, match="At least two variables have the same name: a"):
        tf.train.Saver([a, a])
    with pytest.raises(TypeError, match="not a Variable"):
        tf.train.Saver([tf.constant(1.0)])
    with pytest.raises(TypeError, match="dict or a list"):
        tf.train.Saver(a)
    del saver


def test_reshape_restores_into_a_new_shape(in_tmp):
    (v,), sess = _session_with(np.arange(6, dtype=np.float32).reshape(2, 3), names=["v"])
    tf.train.Saver().save(sess, "m", write_meta_graph=False)
    tf.reset_default_graph()
    v = tf.Variable(np.zeros((3, 2), np.float32), name="v")
    sess = tf.Session()
    with pytest.raises(errors.InvalidArgumentError):
        tf.train.Saver().restore(sess, "m")
    tf.train.Saver(reshape=True).restore(sess, "m")
    np.testing.assert_array_equal(sess.run(v), np.arange(6).reshape(3, 2))


def test_sharded_save_by_device(in_tmp):
    with tf.device("/cpu:0"):
        a = tf.Variable([1.0, 2.0], name="a")
    with tf.device("/cpu:1"):
        b = tf.Variable([3, 4], name="b")
    c = tf.Variable("text", name="c")
    saver = tf.train.Saver(sharded=True)
    sd = saver.as_saver_def()
    assert sd.sharded and sd.save_tensor_name == "save/Identity:0"
    g = tf.get_default_graph()
    assert g.get_operation_by_name("save/MergeV2Checkpoints").type == "MergeV2Checkpoints"
    assert g.get_operation_by_name("save/ShardedFilename_2").type == "ShardedFilename"
    assert g.get_operation_by_name("save/restore_shard_1").type == "NoOp"
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    assert saver.save(sess, "m", write_meta_graph=False) == "m"
    assert sorted(os.listdir(".")) == ["checkpoint", "m.data-00000-of-00003", "m.data-00001-of-00003",
                                       "m.data-00002-of-00003", "m.index"]  # the temp dir is gone
    sess.run([tf.assign(a, [0.0, 0.0]), tf.assign(b, [0, 0])])
    saver.restore(sess, "m")
    np.testing.assert_array_equal(sess.run(a), [1.0, 2.0])
    np.testing.assert_array_equal(sess.run(b), [3, 4])
    assert sess.run(c) == b"text"


def test_partitioned_variable_saved_as_one_tensor(in_tmp):
    full = np.arange(40, dtype=np.float32).reshape(10, 4)

    def init(shape, dtype=None, partition_info=None):
        row = partition_info.var_offset[0]
        return tf.constant(full[row:row + shape[0]])
    part = tf.get_variable("part", shape=[10, 4], initializer=init, partitioner=tf.fixed_size_partitioner(3))
    assert [v.name for v in part] == ["part/part_0:0", "part/part_1:0", "part/part_2:0"]
    assert [v.shape.as_list() for v in part] == [[4, 4], [3, 4], [3, 4]]
    assert list(part)[1]._save_slice_info.spec == "10 4 4,3:0,4"
    saver = tf.train.Saver()
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    np.testing.assert_array_equal(sess.run(tf.convert_to_tensor(part)), full)
    saver.save(sess, "m", write_meta_graph=False)
    assert tf.train.list_variables("m") == [("part", [10, 4])]
    np.testing.assert_array_equal(tf.train.load_variable("m", "part"), full)
    # into another partitioning, and into a plain variable
    tf.reset_default_graph()
    other = tf.get_variable("p", shape=[10, 4], partitioner=tf.fixed_size_partitioner(4))
    plain = tf.Variable(np.zeros((10, 4), np.float32), name="plain")
    sess = tf.Session()
    tf.train.Saver({"part": other}).restore(sess, "m")
    tf.train.Saver({"part": plain}).restore(sess, "m")
    np.testing.assert_array_equal(sess.run(tf.convert_to_tensor(other)), full)
    np.testing.assert_array_equal(sess.run(plain), full)


def test_partitioners():
    shape = tf.TensorShape([100, 8])
    assert tf.fixed_size_partitioner(3)(shape=shape, dtype=tf.float32) == [3, 1]
    assert tf.fixed_size_partitioner(300)(shape=shape, dtype=tf.float32) == [100, 1]
    assert tf.variable_axis_size_partitioner(32 * 10)(shape=shape, dtype=tf.float32) == [10, 1]
    assert tf.variable_axis_size_partitioner(32 * 10, max_shards=4)(shape=shape, dtype=tf.float32) == [4, 1]
    assert tf.min_max_variable_partitioner(max_partitions=8, min_slice_size=1024)(shape=shape,
                                                                                 dtype=tf.float32) == [4, 1]
    with pytest.raises(ValueError, match="only slice a variable along one dimension"):
        tf.get_variable("x", shape=[4, 4], partitioner=lambda shape, dtype: [2, 2])
    tf.get_variable("y", shape=[4], partitioner=tf.fixed_size_partitioner(2))
    with pytest.raises(ValueError, match="already exists"):
        tf.get_variable("y", shape=[4], partitioner=tf.fixed_size_partitioner(2))
    with tf.variable_scope("", reuse=True):
        assert isinstance(tf.get_variable("y", shape=[4], partitioner=tf.fixed_size_partitioner(2)),
                          tf.PartitionedVariable)


# --- saver_def round trips (what import_meta_graph does) ------------------------------------------

def test_saver_rebuilt_from_saver_def_saves_and_restores(in_tmp):
    (v,), sess = _session_with([1.0, 2.0], names=["v"])
    original = tf.train.Saver()
    rebuilt = tf.train.Saver(saver_def=original.as_saver_def())
    assert rebuilt.as_saver_def() == original.as_saver_def()
    n_ops = len(tf.get_default_graph().get_operations())
    rebuilt.save(sess, "m", write_meta_graph=False)
    sess.run(tf.assign(v, [0.0, 0.0]))
    rebuilt.restore(sess, "m")
    np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])
    assert len(tf.get_default_graph().get_operations()) == n_ops + 2  # the assign above only: no new save ops


def test_saver_def_with_import_scope_and_to_proto():
    with tf.name_scope("imported"):
        tf.Variable(1.0, name="v")
        saver = tf.train.Saver()
    sd = saver.to_proto(export_scope="imported")
    assert sd.restore_op_name == "save/restore_all" and sd.filename_tensor_name == "save/Const:0"
    assert saver.to_proto(export_scope="elsewhere") is None
    again = tf.train.Saver.from_proto(sd, import_scope="imported")
    assert again.as_saver_def().restore_op_name == "imported/save/restore_all"
    assert sd.restore_op_name == "save/restore_all"  # the caller's proto is not edited
    with pytest.raises(ValueError, match="save_tensor_name"):
        tf.train.Saver(saver_def=tf.train.SaverDef(restore_op_name="x"))


# --- checkpoint bookkeeping ----------------------------------------------------------------------

def _indexes():
    return sorted(f[:-len(".index")] for f in os.listdir(".") if f.endswith(".index"))


def test_max_to_keep_and_same_name_resave(in_tmp):
    _session_with(1.0, names=["v"])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver(max_to_keep=2)
    for name in ["a", "b", "a", "c"]:  # re-saving "a" moves it to the end instead of counting twice
        saver.save(sess, name, write_meta_graph=False)
    assert saver.last_checkpoints == ["a", "c"]
    assert _indexes() == ["a", "c"]


@pytest.mark.parametrize("max_to_keep", [0, None])
def test_max_to_keep_zero_or_none_keeps_all_without_tracking(in_tmp, max_to_keep):
    _session_with(1.0, names=["v"])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver(max_to_keep=max_to_keep)
    for step in range(4):
        saver.save(sess, "m", global_step=step, write_meta_graph=False)
    assert _indexes() == ["m-0", "m-1", "m-2", "m-3"]
    assert saver.last_checkpoints == []
    assert tf.train.latest_checkpoint(".") == "./m-3"


def test_keep_checkpoint_every_n_hours(in_tmp, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    _session_with(1.0, names=["v"])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver(max_to_keep=2, keep_checkpoint_every_n_hours=1)
    for step in range(8):  # one save every 20 minutes
        clock[0] += 1200
        saver.save(sess, "m", global_step=step, write_meta_graph=False)
    # leaving the max_to_keep window, a checkpoint survives if saved after the next keep time (start + 1 h,
    # then + 1 h from that time on): m-3 (t=5800 > 4600) survives, the others are deleted
    assert _indexes() == ["m-3", "m-6", "m-7"]
    assert saver.last_checkpoints == ["m-6", "m-7"]


def test_set_and_recover_last_checkpoints(in_tmp):
    _session_with(1.0, names=["v"])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver(max_to_keep=2)
    for step in range(3):
        saver.save(sess, "m", global_step=step, write_meta_graph=False)
    fresh = tf.train.Saver(max_to_keep=2)
    fresh.recover_last_checkpoints(["m-0", "m-1", "m-2", "gone"])
    assert fresh.last_checkpoints == ["m-1", "m-2"]
    assert all(isinstance(t, float) and t > 0 for _, t in fresh._last_checkpoints)
    fresh.save(sess, "m", global_step=3, write_meta_graph=False)
    assert _indexes() == ["m-2", "m-3"]
    fresh.set_last_checkpoints(["m-2", "m-3"])  # infinite timestamps: kept forever
    fresh.save(sess, "m", global_step=4, write_meta_graph=False)
    assert _indexes() == ["m-2", "m-3", "m-4"]
    fresh.set_last_checkpoints_with_time([("m-3", 1.0), ("m-4", 2.0)])
    fresh.save(sess, "m", global_step=5, write_meta_graph=False)
    assert _indexes() == ["m-2", "m-4", "m-5"]


def test_write_state_latest_filename_and_relative_paths(in_tmp):
    _session_with(1.0, names=["v"])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    os.mkdir("ckpts")
    saver = tf.train.Saver()
    saver.save(sess, "ckpts/m", global_step=1, write_state=False, write_meta_graph=False)
    assert not os.path.exists("ckpts/checkpoint")
    saver.save(sess, "ckpts/m", global_step=2, latest_filename="latest", write_meta_graph=False)
    assert tf.train.latest_checkpoint("ckpts", latest_filename="latest") == "ckpts/m-2"
    with pytest.raises(ValueError, match="path components"):
        saver.save(sess, "ckpts/m", latest_filename="a/b")
    with pytest.raises(ValueError, match="collides"):
        saver.save(sess, "ckpts/checkpoint")
    absolute = os.path.abspath("ckpts/abs")
    tf.train.Saver(save_relative_paths=True).save(sess, absolute, write_meta_graph=False)
    assert open("ckpts/checkpoint").read().startswith('model_checkpoint_path: "abs"')
    tf.train.Saver().save(sess, absolute, write_meta_graph=False)
    assert open("ckpts/checkpoint").read().startswith(f'model_checkpoint_path: "{absolute}"')


def test_save_into_new_directory_and_missing_session(in_tmp):
    _session_with(1.0, names=["v"])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver()
    assert saver.save(sess, "new_dir/model", write_meta_graph=False) == "new_dir/model"
    assert tf.train.latest_checkpoint("new_dir") == "new_dir/model"
    with pytest.raises(TypeError, match="must be a Session"):
        saver.save(object(), "x")


# --- restore errors ------------------------------------------------------------------------------

def _saved_model(path="m"):
    (a, b), sess = _session_with([1.0, 2.0], [3.0], names=["weights", "bias_1"])
    tf.train.Saver().save(sess, path, write_meta_graph=False)
    tf.reset_default_graph()


def test_missing_key_is_not_found_with_closest_keys(in_tmp):
    _saved_model()
    tf.Variable([0.0, 0.0], name="weights")
    tf.Variable([0.0], name="bias")
    tf.Variable([0.0], name="extra")
    sess = tf.Session()
    with pytest.raises(errors.NotFoundError) as info:
        tf.train.Saver().restore(sess, "m")
    msg = str(info.value)
    assert "Restoring from checkpoint failed" in msg
    assert "Key bias not found in checkpoint" in msg
    assert "'bias': closest keys in checkpoint: 'bias_1'" in msg
    assert "2 of the 3 tensors requested are not in checkpoint m" in msg and "bias, extra" in msg
    assert info.value.op.name == "save/RestoreV2"


def test_shape_mismatch_names_both_shapes(in_tmp):
    _saved_model()
    tf.Variable([0.0, 0.0, 0.0], name="weights")
    sess = tf.Session()
    with pytest.raises(errors.InvalidArgumentError) as info:
        tf.train.Saver().restore(sess, "m")
    msg = str(info.value)
    assert "lhs shape= [3] rhs shape= [2]" in msg
    assert "Variable 'weights' has shape (3,) but checkpoint key 'weights' in m has shape [2]" in msg


def test_dtype_mismatch(in_tmp):
    _saved_model()
    tf.Variable([0, 0], name="weights")
    with pytest.raises(errors.InvalidArgumentError, match="expected dtype int32 does not equal original dtype float"):
        tf.train.Saver().restore(tf.Session(), "m")


@pytest.mark.parametrize("path,hint", [
    (".", "is a directory: pass a checkpoint prefix.*latest checkpoint is './m'"),
    ("m.index", "pass its prefix 'm'"),
    ("m.data-00000-of-00001", "pass its prefix 'm'"),
])
def test_wrong_kind_of_path_says_what_to_pass(in_tmp, path, hint):
    _saved_model()
    tf.Variable([0.0, 0.0], name="weights")
    saver = tf.train.Saver()
    with pytest.raises(ValueError, match=hint):
        saver.restore(tf.Session(), path)
    with pytest.raises(errors.NotFoundError, match=hint):
        tf.train.NewCheckpointReader(path)


def test_single_file_path_is_not_a_v2_checkpoint(in_tmp):
    open("old_v1.ckpt", "wb").write(b"not a bundle")
    tf.Variable(1.0, name="v")
    with pytest.raises(ValueError, match="single file, not the prefix of a V2 checkpoint"):
        tf.train.Saver().restore(tf.Session(), "old_v1.ckpt")


def test_nonexistent_and_none_paths(in_tmp):
    tf.Variable(1.0, name="v")
    saver = tf.train.Saver()
    with pytest.raises(ValueError, match="The passed save_path is not a valid checkpoint: nope"):
        saver.restore(tf.Session(), "nope")
    with pytest.raises(ValueError, match="None"):
        saver.restore(tf.Session(), None)


@pytest.mark.parametrize("case", ["sharded", "partitioned", "adam", "dtypes"])
def test_saver_from_tensorflow_meta_graph_restores_and_saves(in_tmp, case):
    """TF-written .meta (golden): its saver graph (sharded: StaticRegexFullMatch/Select/StringJoin/
    ShardedFilename/MergeV2Checkpoints) restores and saves here."""
    meta_graph = pytest.importorskip("deferflow.training.meta_graph")
    golden = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden", case, "model.ckpt")
    saver = meta_graph.import_meta_graph(golden + ".meta")
    sess = tf.Session()
    saver.restore(sess, golden)
    values = {v.op.name: sess.run(v) for v in tf.global_variables()}
    assert saver.save(sess, "again", write_meta_graph=False) == "again"
    reader, original = tf.train.NewCheckpointReader("again"), tf.train.NewCheckpointReader(golden)
    assert reader.get_variable_to_shape_map() == original.get_variable_to_shape_map()
    for name in original.get_variable_to_shape_map():
        np.testing.assert_array_equal(reader.get_tensor(name), original.get_tensor(name))
    assert values
