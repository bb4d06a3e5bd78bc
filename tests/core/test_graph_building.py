"""Graph building: TF's naming rules, scopes, collections, lookups, shapes, dtypes."""
import numpy as np
import pytest

import deferflow as tf


def test_unique_names_follow_tensorflow():
    a = tf.constant(1.0)
    b = tf.constant(2.0)
    assert (a.op.name, b.op.name) == ("Const", "Const_1")
    assert tf.add(a, b).op.name == "Add"
    assert tf.add(a, b).op.name == "Add_1"
    assert (a + b).op.name == "add_2"  # "add" collides with "Add" case-insensitively, as in TF
    assert (a + b).op.type == "AddV2"
    c = tf.constant(1, name="a")
    d = tf.constant(1, name="A")  # names are unique case-insensitively
    assert (c.op.name, d.op.name) == ("a", "A_1")


def test_name_scopes_and_reuse_after_close():
    with tf.name_scope("s") as scope:
        assert scope == "s/"
        assert tf.constant(1.0).name == "s/Const:0"
        with tf.name_scope("inner"):
            assert tf.constant(1.0).op.name == "s/inner/Const"
    with tf.name_scope("s") as scope2:
        assert scope2 == "s_1/"
    with tf.name_scope("s/"):  # a trailing slash re-enters the exact scope
        assert tf.constant(1.0).op.name == "s/Const_1"
    with tf.name_scope(None):
        assert tf.constant(1.0).op.name == "Const"


def test_node_def_structure_mirrors_graphdef():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(np.ones((3, 2), np.float32), name="w")
    with tf.control_dependencies([w.initializer]):
        y = tf.matmul(x, w, name="y")
    op = y.op
    assert op.type == "MatMul"
    assert [t.name for t in op.inputs] == ["x:0", "w/read:0"]
    assert op.control_inputs == [w.initializer]
    assert op.get_attr("transpose_a") is False
    assert op.get_attr("T") == tf.float32
    assert y.shape.as_list() == [None, 2]
    assert y.get_shape()[1].value == 2
    assert [o.type for o in w.op.graph.get_operations() if o.name.startswith("w")] == \
        ["Const", "VariableV2", "Assign", "Identity"]


def test_lookups_and_suggestions():
    g = tf.get_default_graph()
    x = tf.placeholder(tf.float32, name="input")
    assert g.get_tensor_by_name("input:0") is x
    assert g.get_operation_by_name("input") is x.op
    assert g.as_graph_element("input:0") is x
    with pytest.raises(KeyError, match="did you mean 'input:0'"):
        g.get_tensor_by_name("inptu:0")
    with pytest.raises(ValueError):
        g.get_tensor_by_name("input")


def test_collections():
    tf.add_to_collection("mine", 1)
    tf.add_to_collections(["mine", "other"], 2)
    assert tf.get_collection("mine") == [1, 2]
    ref = tf.get_collection_ref("other")
    ref.append(3)
    assert tf.get_collection("other") == [2, 3]
    v = tf.Variable(1.0, name="v", trainable=False)
    assert v in tf.global_variables() and v not in tf.trainable_variables()


def test_device_is_recorded_not_enforced():
    with tf.device("/gpu:0"):
        c = tf.constant(1.0)
    assert c.op.device == "/device:GPU:0" or c.op.device.lower().endswith("gpu:0")
    with tf.Session() as s:
        assert s.run(c) == 1.0


def test_finalize_blocks_changes():
    g = tf.Graph()
    with g.as_default():
        tf.constant(1)
    g.finalize()
    with g.as_default(), pytest.raises(RuntimeError):
        tf.constant(2)


def test_static_shape_errors_name_the_op():
    with pytest.raises(ValueError, match=r"node MatMul"):
        tf.matmul(tf.ones([2, 3]), tf.ones([2, 3]))
    with pytest.raises(ValueError, match="Cannot reshape a tensor with 6 elements"):
        tf.reshape(tf.ones([2, 3]), [4])


def test_set_shape_and_unknown_dims():
    p = tf.placeholder(tf.float32)
    assert p.shape.ndims is None
    p.set_shape([None, 4])
    assert p.shape.as_list() == [None, 4]
    with pytest.raises(ValueError):
        p.set_shape([2, 5])


def test_dtypes_and_aliases():
    assert tf.placeholder("float").dtype == tf.float32
    assert tf.as_dtype("double") == tf.float64
    assert tf.as_dtype(np.int64) == tf.int64
    assert tf.float32.as_numpy_dtype is np.float32
    assert tf.bfloat16.is_floating and not tf.int32.is_floating
    assert tf.float32._as_ref.base_dtype == tf.float32
    assert tf.float32.name == "float32"
    assert repr(tf.float16) == "<dtype: 'float16'>"
    assert tf.constant(3).dtype == tf.int32
    assert tf.constant(3.0).dtype == tf.float32
    assert tf.constant(np.float64(3)).dtype == tf.float64
    assert tf.constant(2 ** 40).dtype == tf.int64
    assert tf.constant("s").dtype == tf.string


def test_mixing_graphs_is_an_error():
    g2 = tf.Graph()
    with g2.as_default():
        z = tf.constant(1.0)
    x = tf.constant(2.0)
    with pytest.raises(ValueError, match="same graph"):
        tf.add(z, x)


def test_variable_scope_and_get_variable():
    with tf.variable_scope("vs"):
        q = tf.get_variable("q", [2], initializer=tf.zeros_initializer())
        assert tf.constant(1).op.name == "vs/Const"
    with pytest.raises(ValueError, match="already exists, disallowed"):
        with tf.variable_scope("vs"):
            tf.get_variable("q", [2])
    with tf.variable_scope("vs", reuse=True):
        assert tf.get_variable("q", [2]) is q
        with pytest.raises(ValueError, match="does not exist"):
            tf.get_variable("nope", [1])
    with tf.variable_scope("vs", reuse=tf.AUTO_REUSE):
        assert tf.get_variable("q") is q
        assert tf.get_variable("r", [1]).name == "vs/r:0"
    with tf.variable_scope(None, default_name="d"):
        assert tf.get_variable("q", [1]).name == "d/q:0"
    with tf.variable_scope(None, default_name="d"):
        assert tf.get_variable("q", [1]).name == "d_1/q:0"
    w = tf.get_variable("w", [3, 4])
    names = [o.name for o in tf.get_default_graph().get_operations() if o.name.startswith("w/")]
    assert "w/Initializer/random_uniform/RandomUniform" in names  # glorot-uniform default initializer
