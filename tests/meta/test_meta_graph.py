"""export_meta_graph / import_meta_graph: TF-written .meta files here, ours in TensorFlow, collections,
savers, scopes, devices and bad files."""
import os
import shutil

import numpy as np
import pytest

import deferflow as tf
from deferflow.formats import protos
from deferflow.framework import errors
from deferflow.ops.resource_variable_ops import ResourceVariable
from deferflow.training import meta_graph

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "meta")
EXPECTED = np.load(os.path.join(GOLDEN, "expected.npz"), allow_pickle=True)


def _golden(case):
    return os.path.join(GOLDEN, case, "model.ckpt")


def _import_golden(case):
    saver = tf.train.import_meta_graph(_golden(case) + ".meta")
    sess = tf.Session()
    saver.restore(sess, _golden(case))
    return saver, sess


# --- TF-written meta graphs ------------------------------------------------------------------------
def test_mlp_trained_with_adam_in_tensorflow_runs_and_trains_on_here(tmp_path):
    saver, sess = _import_golden("mlp")
    x, y = EXPECTED["mlp_x"], EXPECTED["mlp_y"]
    logits, loss = sess.run(["fc2/logits:0", "loss:0"], {"x:0": x, "y:0": y})
    np.testing.assert_allclose(logits, EXPECTED["mlp_logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, EXPECTED["mlp_loss"], rtol=1e-5)
    # collections come back as TF restores them: working variables, tensors, ops, bytes, ints, floats
    names = [v.name for v in tf.global_variables()]
    assert names[:4] == ["fc1/w:0", "fc1/b:0", "fc2/w:0", "fc2/b:0"] and "fc1/w/Adam:0" in names
    assert [v.name for v in tf.trainable_variables()] == names[:4]
    assert all(isinstance(v, tf.Variable) for v in tf.global_variables())
    assert tf.global_variables()[0] is tf.trainable_variables()[0]  # one object per variable
    assert tf.train.get_global_step().name == "global_step:0" and sess.run(tf.train.get_global_step()) == 3
    train = tf.get_collection("train_op")[0]  # minimize() adds it too: TF's TRAIN_OP collection
    assert {op.name for op in tf.get_collection("train_op")} == {"train"}
    assert tf.get_collection("inputs")[0].name == "x:0"
    assert tf.get_collection("names") == [b"mlp"] and tf.get_collection("numbers") == [7]
    assert tf.get_collection("rates") == [0.5]
    sess.run(train, {"x:0": x, "y:0": y})
    np.testing.assert_allclose(sess.run("fc2/logits:0", {"x:0": x}), EXPECTED["mlp_logits_after_step"],
                               rtol=1e-4, atol=1e-5)
    assert sess.run("global_step:0") == EXPECTED["mlp_step_after_step"] == 4
    saver.save(sess, str(tmp_path / "further"))
    assert os.path.exists(tmp_path / "further.meta")


def test_mlp_trained_further_here_is_restored_by_tensorflow(tf_real, tmp_path):
    saver, sess = _import_golden("mlp")
    x, y = EXPECTED["mlp_x"], EXPECTED["mlp_y"]
    for _ in range(2):
        sess.run("train", {"x:0": x, "y:0": y})
    ours = sess.run("fc2/logits:0", {"x:0": x})
    prefix = saver.save(sess, str(tmp_path / "further"), global_step=tf.train.get_global_step())
    assert prefix.endswith("further-5")
    with tf_real.Graph().as_default():
        s2 = tf_real.train.import_meta_graph(prefix + ".meta")
        with tf_real.Session() as ts:
            s2.restore(ts, prefix)
            np.testing.assert_allclose(ts.run("fc2/logits:0", {"x:0": x}), ours, rtol=1e-6)
            assert ts.run(tf_real.train.get_global_step()) == 5
            ts.run("train", {"x:0": x, "y:0": y})  # and TF trains on from our Adam slots
            theirs = ts.run("fc2/logits:0", {"x:0": x})
    sess.run("train", {"x:0": x, "y:0": y})
    np.testing.assert_allclose(sess.run("fc2/logits:0", {"x:0": x}), theirs, rtol=1e-4, atol=1e-5)


def test_resource_variable_graph_from_tensorflow():
    saver, sess = _import_golden("resource")
    variables = tf.global_variables()
    assert [v.name for v in variables] == ["dense/kernel:0", "dense/bias:0", "counter:0"]
    assert all(isinstance(v, ResourceVariable) for v in variables)
    assert [v.name for v in tf.trainable_variables()] == ["dense/kernel:0", "dense/bias:0"]
    kernel = variables[0]
    assert kernel.dtype == tf.float32 and kernel.shape.as_list() == [3, 2]
    np.testing.assert_allclose(sess.run("out:0", {"x:0": EXPECTED["resource_x"]}), EXPECTED["resource_out"],
                               rtol=1e-6)
    assert sess.run(variables[2]) == 3
    sess.run(variables[2].assign_add(2))
    assert sess.run(variables[2].value()) == 5
    bump = tf.get_collection("train_op")[-1]
    assert [op.type for op in tf.get_collection("train_op")] == ["NoOp", "AssignAddVariableOp"]
    sess.run(bump, {"x:0": EXPECTED["resource_x"]})  # TF's ResourceApplyGradientDescent, then the counter
    np.testing.assert_allclose(sess.run("out:0", {"x:0": EXPECTED["resource_x"]}),
                               EXPECTED["resource_out_after_step"], rtol=1e-5)
    assert sess.run(variables[2].value()) == 6


def test_vgg_meta_graph_computes_tensorflows_outputs():
    _, sess = _import_golden("vgg")
    fc7, prob = sess.run(["fc7:0", "prob:0"], {"images:0": EXPECTED["vgg_images"]})
    np.testing.assert_allclose(fc7, EXPECTED["vgg_fc7"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prob, EXPECTED["vgg_prob"], rtol=1e-5, atol=1e-7)
    assert tf.get_default_graph().get_tensor_by_name("fc7:0").shape.as_list() == [None, 16]


def test_import_scope_prefixes_names_collections_and_saver():
    tf.constant(1.0, name="x")
    saver = tf.train.import_meta_graph(_golden("mlp") + ".meta", import_scope="net")
    assert tf.get_default_graph().get_operation_by_name("net/x").type == "Placeholder"
    assert [v.name for v in tf.trainable_variables()][:2] == ["net/fc1/w:0", "net/fc1/b:0"]
    assert tf.get_collection("inputs")[0].name == "net/x:0"
    assert saver.saver_def.restore_op_name == "net/save/restore_all"
    sess = tf.Session()
    saver.restore(sess, _golden("mlp"))
    np.testing.assert_allclose(sess.run("net/fc2/logits:0", {"net/x:0": EXPECTED["mlp_x"]}), EXPECTED["mlp_logits"],
                               rtol=1e-5, atol=1e-6)
    saver2 = tf.train.import_meta_graph(_golden("mlp") + ".meta", import_scope="net")  # taken: net_1
    assert saver2.saver_def.restore_op_name == "net_1/save/restore_all"
    saver2.restore(sess, _golden("mlp"))
    assert sess.run("net_1/global_step:0") == 3


def test_devices_kept_unless_cleared_and_never_stop_execution(tmp_path):
    mgd = meta_graph.read_meta_graph_file(_golden("vgg") + ".meta")
    for i, node in enumerate(mgd.graph_def.node):
        node.device = ["/job:worker/task:3/device:GPU:0", "/device:GPU:7", "/cpu:0"][i % 3]
    saver = tf.train.import_meta_graph(mgd)
    g = tf.get_default_graph()
    assert g.get_operation_by_name("fc7").device == mgd.graph_def.node[
        [n.name for n in mgd.graph_def.node].index("fc7")].device
    sess = tf.Session()
    saver.restore(sess, _golden("vgg"))
    np.testing.assert_allclose(sess.run("prob:0", {"images:0": EXPECTED["vgg_images"]}), EXPECTED["vgg_prob"],
                               rtol=1e-5, atol=1e-7)
    with tf.Graph().as_default() as g2:
        tf.train.import_meta_graph(mgd, clear_devices=True)
        assert all(op.device == "" for op in g2.get_operations())


def test_meta_graph_without_saver_def_gets_a_new_saver_or_none():
    mgd = meta_graph.read_meta_graph_file(_golden("mlp") + ".meta")
    mgd.ClearField("saver_def")
    saver = tf.train.import_meta_graph(mgd)
    assert isinstance(saver, tf.train.Saver) and saver.saver_def.restore_op_name == "save/restore_all_1"  # as TF names it
    with tf.Graph().as_default():
        tf.placeholder(tf.float32, name="p")
        assert tf.train.import_meta_graph(tf.train.export_meta_graph()) is None


# --- our meta graphs in TensorFlow ------------------------------------------------------------------
def _build_ours():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 10, name="w")
    r = ResourceVariable(np.array([0.5, -0.5], np.float32), name="r")
    with tf.device("/job:worker/task:3/device:GPU:0"):
        y = tf.nn.relu(tf.matmul(x, w) + r, name="y")
    tf.train.get_or_create_global_step()
    tf.add_to_collection("outputs", y)
    tf.add_to_collection("ops", y.op)
    tf.add_to_collection("labels", "hello")
    tf.add_to_collection("ints", 4)
    tf.add_to_collection("floats", 0.25)
    return x, y


def test_our_meta_graph_restores_in_tensorflow(tf_real, tmp_path):
    x, y = _build_ours()
    saver = tf.train.Saver()
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    sess.run(tf.trainable_variables()[0].assign_add(np.ones((3, 2), np.float32)))
    ours = sess.run(y, {x: [[1, 2, 3]]})
    prefix = saver.save(sess, str(tmp_path / "model"))
    with tf_real.Graph().as_default():
        s2 = tf_real.train.import_meta_graph(prefix + ".meta", clear_devices=True)
        with tf_real.Session() as ts:
            s2.restore(ts, prefix)
            np.testing.assert_allclose(ts.run("y:0", {"x:0": [[1, 2, 3]]}), ours, rtol=1e-6)
            gv = tf_real.global_variables()
            assert [v.name for v in gv] == ["w:0", "r:0", "global_step:0"]
            assert type(gv[1]).__name__ == "ResourceVariable" and [v.name for v in tf_real.trainable_variables()] \
                == ["w:0", "r:0"]
            assert tf_real.train.get_global_step().name == "global_step:0"
            assert [t.name for t in tf_real.get_collection("outputs")] == ["y:0"]
            assert [o.name for o in tf_real.get_collection("ops")] == ["y"]
            assert tf_real.get_collection("labels") == [b"hello"] and tf_real.get_collection("ints") == [4]
            assert tf_real.get_collection("floats") == [0.25]


def test_export_import_round_trip_is_stable(tmp_path):
    _build_ours()
    saver = tf.train.Saver()
    path = str(tmp_path / "a.meta")
    first = tf.train.export_meta_graph(path, saver_def=saver.saver_def)
    assert first.meta_info_def.tensorflow_version == tf.VERSION
    assert [op.name for op in first.meta_info_def.stripped_op_list.op] == sorted(
        {op.type for op in tf.get_default_graph().get_operations()})
    with tf.Graph().as_default():
        assert tf.train.import_meta_graph(path) is not None
        second = tf.train.export_meta_graph()
    assert second.graph_def == first.graph_def and second.collection_def == first.collection_def
    assert second.meta_info_def.stripped_op_list == first.meta_info_def.stripped_op_list
    with tf.Graph().as_default():
        as_text = tf.train.export_meta_graph(str(tmp_path / "t.meta"), as_text=True)
        tf.train.import_meta_graph(str(tmp_path / "t.meta"))  # text .meta files are read too
        assert as_text.graph_def.node == []


def test_stripped_op_list_matches_tensorflows_signatures(tf_real):
    from tensorflow.python.framework import op_def_registry
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    w = tf.Variable(tf.ones([4, 2]))
    tf.nn.softmax(tf.nn.bias_add(tf.matmul(x, w), tf.zeros([2])))
    for op in tf.train.export_meta_graph().meta_info_def.stripped_op_list.op:
        theirs = op_def_registry.get(op.name)
        assert [(a.name, a.type, a.type_attr, a.number_attr, a.type_list_attr, a.is_ref) for a in op.input_arg] == \
            [(a.name, a.type, a.type_attr, a.number_attr, a.type_list_attr, a.is_ref) for a in theirs.input_arg]
        assert [(a.name, a.type_attr, a.is_ref) for a in op.output_arg] == \
            [(a.name, a.type_attr, a.is_ref) for a in theirs.output_arg]
        their_attrs = {a.name: a for a in theirs.attr}
        for a in op.attr:
            assert a.name in their_attrs and a.type == their_attrs[a.name].type, (op.name, a.name)
            if a.HasField("default_value"):
                assert a.default_value.SerializeToString() == \
                    their_attrs[a.name].default_value.SerializeToString(), (op.name, a.name)


def test_export_options(tmp_path):
    x, y = _build_ours()
    with tf.name_scope("head"):
        out = tf.identity(y * 2.0, name="out")
    mgd = tf.train.export_meta_graph(export_scope="head")
    assert sorted(n.name for n in mgd.graph_def.node) == ["mul", "mul/y", "out"]
    mul = [n for n in mgd.graph_def.node if n.name == "mul"][0]
    assert list(mul.input) == ["$unbound_inputs_y", "mul/y"]
    assert list(mgd.collection_def["unbound_inputs"].bytes_list.value) == [b"$unbound_inputs_y"]
    with tf.Graph().as_default():
        z = tf.constant([[1.0, 2.0]])
        with pytest.raises(ValueError, match="Graph contains unbound inputs: \\$unbound_inputs_y"):
            tf.train.import_meta_graph(mgd)
        meta_graph.import_scoped_meta_graph(mgd, input_map={"$unbound_inputs_y": z}, import_scope="h")
        assert tf.Session().run("h/out:0").tolist() == [[2.0, 4.0]]
    cleared = tf.train.export_meta_graph(clear_devices=True)
    assert all(n.device == "" for n in cleared.graph_def.node)
    assert any(n.device for n in tf.train.export_meta_graph().graph_def.node)
    stripped = tf.train.export_meta_graph(strip_default_attrs=True)
    assert stripped.meta_info_def.stripped_default_attrs
    matmul = [n for n in stripped.graph_def.node if n.op == "MatMul"][0]
    assert "transpose_a" not in matmul.attr and "T" in matmul.attr
    with tf.Graph().as_default():  # TF's rule: stripped attrs come back from the OpDef defaults
        tf.train.import_meta_graph(stripped)
        assert tf.get_default_graph().get_operation_by_name(matmul.name).get_attr("transpose_a") is False
    only = tf.train.export_meta_graph(collection_list=["labels"])
    assert list(only.collection_def) == ["labels"]
    _ = out


def test_clear_extraneous_savers_keeps_only_the_given_saver():
    _build_ours()
    tf.train.Saver(name="old_saver")
    keep = tf.train.Saver()
    mgd = tf.train.export_meta_graph(saver_def=keep.saver_def, clear_extraneous_savers=True)
    names = [n.name for n in mgd.graph_def.node]
    assert not any(n.startswith("old_saver/") for n in names) and "save/restore_all" in names


def test_meta_graph_messages_interchange_with_tensorflow(tf_real):
    from tensorflow.core.protobuf import meta_graph_pb2
    _build_ours()
    tf.train.Saver()
    ours = tf.train.export_meta_graph()
    theirs = meta_graph_pb2.MetaGraphDef.FromString(ours.SerializeToString())
    assert theirs.SerializeToString(deterministic=True) == ours.SerializeToString(deterministic=True)
    with open(_golden("mlp") + ".meta", "rb") as f:
        data = f.read()
    assert protos.MetaGraphDef.FromString(data).SerializeToString(deterministic=True) == \
        meta_graph_pb2.MetaGraphDef.FromString(data).SerializeToString(deterministic=True)
    with tf.Graph().as_default():
        assert tf.train.import_meta_graph(theirs) is not None  # TF's own message objects are accepted


# --- bad files -------------------------------------------------------------------------------------
def _graph_state():
    g = tf.get_default_graph()
    return ([op.name for op in g.get_operations()], dict(g._names_in_use),
            {k: list(v) for k, v in g._collections.items()})


def test_truncated_and_garbage_meta_files_fail_cleanly_and_leave_the_graph(tmp_path):
    tf.Variable(1.0, name="mine")
    before = _graph_state()
    with open(_golden("vgg") + ".meta", "rb") as f:
        data = f.read()
    path = tmp_path / "broken.meta"
    rng = np.random.default_rng(0)
    cuts = sorted(set(rng.integers(1, len(data) - 1, size=40).tolist()))
    for cut in cuts:
        path.write_bytes(data[:cut])
        try:
            tf.train.import_meta_graph(str(path))
        except errors.DataLossError as e:
            assert "broken.meta" in str(e)
        except ValueError as e:  # parsed, but what it names is missing: the message names file and node
            assert "broken.meta" in str(e)
        else:  # a cut exactly between top-level fields parses as a smaller meta graph: it must be consistent
            tf.reset_default_graph()
            tf.Variable(1.0, name="mine")
            continue
        assert _graph_state() == before, cut
    path.write_bytes(b"\x00\xffgarbage that is not a protobuf\x01")
    with pytest.raises(errors.DataLossError, match="broken.meta"):
        tf.train.import_meta_graph(str(path))
    with pytest.raises(IOError, match="does not exist"):
        tf.train.import_meta_graph(str(tmp_path / "missing.meta"))
    assert _graph_state() == before


def test_saver_def_naming_missing_ops_fails_and_leaves_the_graph(tmp_path):
    mgd = meta_graph.read_meta_graph_file(_golden("mlp") + ".meta")
    mgd.saver_def.restore_op_name = "save/no_such_op"
    path = tmp_path / "m.meta"
    path.write_bytes(mgd.SerializeToString())
    before = _graph_state()
    with pytest.raises(ValueError, match="m.meta.*save/no_such_op"):
        tf.train.import_meta_graph(str(path))
    assert _graph_state() == before


def test_collection_naming_a_missing_node_fails_and_leaves_the_graph(tmp_path):
    mgd = meta_graph.read_meta_graph_file(_golden("mlp") + ".meta")
    mgd.collection_def["inputs"].node_list.value.append("nowhere:0")
    before = _graph_state()
    with pytest.raises(ValueError, match="nowhere"):
        tf.train.import_meta_graph(mgd)
    assert _graph_state() == before


def test_bad_node_in_a_meta_file_is_named_with_the_file(tmp_path):
    mgd = meta_graph.read_meta_graph_file(_golden("mlp") + ".meta")
    mgd.graph_def.node[5].input.append("ghost")
    path = tmp_path / "ghost.meta"
    path.write_bytes(mgd.SerializeToString())
    with pytest.raises(ValueError, match=f"ghost.meta: Node '{mgd.graph_def.node[5].name}': Unknown input node "
                                         "'ghost'"):
        tf.train.import_meta_graph(str(path))
    assert tf.get_default_graph().get_operations() == []
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_tf1_control_flow_contexts_round_trip_and_differentiate(tf_real, tmp_path):
    saver = tf.train.import_meta_graph(_golden("loop") + ".meta", import_scope="sc")
    assert len(tf.get_collection("while_context")) == 1 and len(tf.get_collection("cond_context")) == 2
    sess = tf.Session()
    saver.restore(sess, _golden("loop"))
    out = tf.get_default_graph().get_tensor_by_name("sc/out:0")
    (w,) = tf.global_variables()
    grad = tf.gradients(out, w)[0]  # through the imported while loop: needs its context
    np.testing.assert_allclose(sess.run([out, grad], {"sc/x:0": 2.0}), EXPECTED["loop_out_grad"], rtol=1e-6)
    with tf.Graph().as_default():
        saver = tf.train.import_meta_graph(_golden("loop") + ".meta")
        sess = tf.Session()
        saver.restore(sess, _golden("loop"))
        prefix = saver.save(sess, str(tmp_path / "ours"))
    with tf_real.Graph().as_default():
        s2 = tf_real.train.import_meta_graph(prefix + ".meta")
        assert len(tf_real.get_collection("while_context")) == 1
        out = tf_real.get_default_graph().get_tensor_by_name("out:0")
        grad = tf_real.gradients(out, tf_real.global_variables()[0])[0]
        with tf_real.Session() as ts:
            s2.restore(ts, prefix)
            np.testing.assert_allclose(ts.run([out, grad], {"x:0": 2.0}), EXPECTED["loop_out_grad"], rtol=1e-6)
