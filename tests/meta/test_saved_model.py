"""SavedModels and frozen graphs, both directions with TensorFlow; tf.graph_util."""
import os

import numpy as np
import pytest

import deferflow as tf
from deferflow.formats import protos
from deferflow.framework import errors, graph_io
from deferflow.ops.resource_variable_ops import ResourceVariable

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "meta")
EXPECTED = np.load(os.path.join(GOLDEN, "expected.npz"), allow_pickle=True)
SAVED_MODEL = os.path.join(GOLDEN, "vgg", "saved_model")


def _vgg_graph_def():
    with open(os.path.join(GOLDEN, "vgg", "model.ckpt.meta"), "rb") as f:
        return protos.MetaGraphDef.FromString(f.read()).graph_def


# --- SavedModel ---------------------------------------------------------------------------------
def test_tensorflow_saved_model_loads_and_serves():
    sess = tf.Session()
    mgd = tf.saved_model.loader.load(sess, [tf.saved_model.tag_constants.SERVING], SAVED_MODEL)
    sig = mgd.signature_def[tf.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
    assert sig.method_name == "tensorflow/serving/predict"
    x = tf.saved_model.utils.get_tensor_from_tensor_info(sig.inputs["images"])
    y = tf.saved_model.utils.get_tensor_from_tensor_info(sig.outputs["prob"])
    np.testing.assert_allclose(sess.run(y, {x: EXPECTED["vgg_images"]}), EXPECTED["vgg_prob"], rtol=1e-5, atol=1e-7)
    assert tf.saved_model.load is tf.saved_model.loader.load and tf.saved_model.contains_saved_model(SAVED_MODEL)


def test_missing_tags_and_missing_saved_model(tmp_path):
    with pytest.raises(RuntimeError, match="MetaGraphDef associated with tags \\['train'\\] could not be found"):
        tf.saved_model.loader.load(tf.Session(), ["train"], SAVED_MODEL)
    assert tf.get_default_graph().get_operations() == []
    with pytest.raises(IOError, match="SavedModel file does not exist"):
        tf.saved_model.loader.load(tf.Session(), ["serve"], str(tmp_path))
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xff\xff garbage")
    with pytest.raises(errors.DataLossError, match="saved_model.pb"):
        tf.saved_model.loader.load(tf.Session(), ["serve"], str(tmp_path))


def _model():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 4, name="w")
    b = ResourceVariable(np.array([1.0, -1.0], np.float32), name="b")
    y = tf.nn.softmax(tf.matmul(x, w) + b, name="y")
    counter = tf.Variable(0, name="counter", collections=[tf.GraphKeys.LOCAL_VARIABLES])
    return x, y, counter


def test_simple_save_loads_in_tensorflow_and_here(tf_real, tmp_path):
    x, y, counter = _model()
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    sess.run(tf.trainable_variables()[0].assign(tf.ones([3, 2])))
    feed = [[1.0, 2.0, 3.0]]
    ours = sess.run(y, {x: feed})
    export_dir = str(tmp_path / "model")
    tf.saved_model.simple_save(sess, export_dir, inputs={"x": x}, outputs={"y": y},
                               legacy_init_op=tf.local_variables_initializer())
    assert sorted(os.listdir(export_dir)) == ["saved_model.pb", "variables"]
    assert sorted(os.listdir(os.path.join(export_dir, "variables"))) == [
        "variables.data-00000-of-00001", "variables.index"]
    with tf_real.Graph().as_default():
        with tf_real.Session() as ts:
            mgd = tf_real.saved_model.loader.load(ts, ["serve"], export_dir)
            sig = mgd.signature_def["serving_default"]
            np.testing.assert_allclose(ts.run(sig.outputs["y"].name, {sig.inputs["x"].name: feed}), ours, rtol=1e-6)
            assert ts.run("counter:0") == 0  # the legacy init op ran
    with tf.Graph().as_default():
        s2 = tf.Session()
        mgd = tf.saved_model.load(s2, [tf.saved_model.SERVING], export_dir)
        sig = mgd.signature_def["serving_default"]
        np.testing.assert_allclose(s2.run(sig.outputs["y"].name, {sig.inputs["x"].name: feed}), ours, rtol=1e-6)
        assert s2.run("counter:0") == 0
        assert all(op.device == "" for op in s2.graph.get_operations())


def test_builder_with_two_meta_graphs_and_assets(tf_real, tmp_path):
    asset = tmp_path / "vocab.txt"
    asset.write_text("a\nb\n")
    x, y, _ = _model()
    path_t = tf.constant(str(asset), name="asset_path")
    tf.add_to_collection(tf.GraphKeys.ASSET_FILEPATHS, path_t)
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    export_dir = str(tmp_path / "built")
    builder = tf.saved_model.builder.SavedModelBuilder(export_dir)
    with pytest.raises(AssertionError, match="has not been saved yet"):
        builder.add_meta_graph(["eval"])
    sig = tf.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y})
    assert tf.saved_model.signature_def_utils.is_valid_signature(sig)
    builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"predict": sig},
                                         assets_collection=tf.get_collection(tf.GraphKeys.ASSET_FILEPATHS))
    builder.add_meta_graph(["eval", "gpu"])
    builder.save(as_text=True)
    assert os.path.exists(os.path.join(export_dir, "saved_model.pbtxt"))
    assert open(os.path.join(export_dir, "assets", "vocab.txt")).read() == "a\nb\n"
    with pytest.raises(AssertionError, match="already exists"):
        tf.saved_model.builder.SavedModelBuilder(export_dir)
    with tf_real.Graph().as_default():
        with tf_real.Session() as ts:
            mgd = tf_real.saved_model.loader.load(ts, ["gpu", "eval"], export_dir)
            assert set(mgd.meta_info_def.tags) == {"eval", "gpu"}
    with tf.Graph().as_default():
        s2 = tf.Session()
        tf.saved_model.loader.load(s2, ["serve"], export_dir)
        assert s2.run("y:0", {"x:0": [[0.0, 0.0, 0.0]]}).shape == (1, 2)


def test_signature_helpers_match_tensorflow(tf_real):
    x = tf.placeholder(tf.string, [None], name="examples")
    scores = tf.placeholder(tf.float32, [None, 3], name="scores")
    ours = tf.saved_model.signature_def_utils.classification_signature_def(x, None, scores)
    with tf_real.Graph().as_default():
        tx = tf_real.placeholder(tf_real.string, [None], name="examples")
        ts_ = tf_real.placeholder(tf_real.float32, [None, 3], name="scores")
        theirs = tf_real.saved_model.signature_def_utils.classification_signature_def(tx, None, ts_)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    assert tf.saved_model.build_tensor_info(scores).SerializeToString() == \
        tf_real.saved_model.build_tensor_info(ts_).SerializeToString()


# --- frozen graphs -------------------------------------------------------------------------------
def test_tensorflow_frozen_graph_runs_here():
    gd = graph_io.read_graph_def(os.path.join(GOLDEN, "vgg", "frozen.pb"))
    assert not any(n.op in ("VariableV2", "VarHandleOp") for n in gd.node)
    prob, = tf.import_graph_def(gd, name="", return_elements=["prob:0"])
    np.testing.assert_allclose(tf.Session().run(prob, {"images:0": EXPECTED["vgg_images"]}), EXPECTED["vgg_prob"],
                               rtol=1e-5, atol=1e-7)


def test_freezing_here_matches_tensorflows_frozen_graph():
    saver = tf.train.import_meta_graph(os.path.join(GOLDEN, "vgg", "model.ckpt.meta"))
    sess = tf.Session()
    saver.restore(sess, os.path.join(GOLDEN, "vgg", "model.ckpt"))
    ours = tf.graph_util.convert_variables_to_constants(sess, sess.graph.as_graph_def(), ["prob"])
    theirs = graph_io.read_graph_def(os.path.join(GOLDEN, "vgg", "frozen.pb"))
    assert [n.name for n in ours.node] == [n.name for n in theirs.node]
    by_name = {n.name: n for n in theirs.node}
    for n in ours.node:
        assert n.op == by_name[n.name].op and list(n.input) == list(by_name[n.name].input), n.name
        if n.op == "Const":
            np.testing.assert_array_equal(graph_io.tensor_from_proto(n.attr["value"].tensor),
                                          graph_io.tensor_from_proto(by_name[n.name].attr["value"].tensor))


def test_freezing_resource_variables_runs_in_tensorflow(tf_real):
    x, y, _ = _model()
    idx = tf.placeholder(tf.int32, [None], name="idx")
    gathered = tf.identity(tf.trainable_variables()[1].sparse_read(idx), name="gathered")
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    frozen = tf.graph_util.convert_variables_to_constants(sess, sess.graph.as_graph_def(), ["y", "gathered"])
    ops_used = {n.op for n in frozen.node}
    assert not ops_used & {"VariableV2", "VarHandleOp", "ReadVariableOp", "ResourceGather", "Assign"}
    assert "GatherV2" in ops_used
    feed = {"x:0": [[1.0, 0.0, 2.0]], "idx:0": [1, 0, 1]}
    ours = sess.run([y, gathered], {x: feed["x:0"], idx: feed["idx:0"]})
    with tf_real.Graph().as_default():
        tf_real.import_graph_def(tf_real.GraphDef.FromString(frozen.SerializeToString()), name="")
        with tf_real.Session() as ts:
            theirs = ts.run(["y:0", "gathered:0"], feed)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with tf.Graph().as_default():
        tf.import_graph_def(frozen, name="")
        np.testing.assert_allclose(tf.Session().run("y:0", feed), ours[0], rtol=1e-6)


def test_graph_util_matches_tensorflow(tf_real):
    from tensorflow.core.framework import graph_pb2
    gd = _vgg_graph_def()
    theirs_gd = graph_pb2.GraphDef.FromString(gd.SerializeToString())
    for dest in (["fc7"], ["prob", "save/restore_all"], ["conv1/Relu:0"]):
        ours = tf.graph_util.extract_sub_graph(gd, dest)
        theirs = tf_real.graph_util.extract_sub_graph(theirs_gd, [d.split(":")[0] for d in dest])
        assert [n.name for n in ours.node] == [n.name for n in theirs.node]
    ours = tf.graph_util.remove_training_nodes(gd, protected_nodes=["fc7"])
    theirs = tf_real.graph_util.remove_training_nodes(theirs_gd, protected_nodes=["fc7"])
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    with pytest.raises(TypeError):
        tf.graph_util.extract_sub_graph(gd, "fc7")
    with pytest.raises(AssertionError, match="nope is not in graph"):
        tf.graph_util.extract_sub_graph(gd, ["nope"])


def test_remove_training_nodes_splices_identities_and_check_numerics():
    gd = protos.GraphDef()
    for name, op, inputs in [("a", "Placeholder", []), ("i1", "Identity", ["a"]), ("cn", "CheckNumerics", ["i1"]),
                             ("i2", "Identity", ["cn"]), ("out", "Neg", ["i2"]), ("keep", "Identity", ["out"]),
                             ("after", "Neg", ["keep", "^i1"])]:
        gd.node.add(name=name, op=op).input.extend(inputs)
    out = tf.graph_util.remove_training_nodes(gd)
    # CheckNumerics and i2 are spliced out (TF drops cn's edge and then fails); i1 feeds a control edge: kept
    assert {n.name: list(n.input) for n in out.node} == {"a": [], "i1": ["a"], "out": ["i1"],
                                                         "after": ["out", "^i1"]}
