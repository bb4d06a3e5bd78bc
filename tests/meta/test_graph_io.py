"""Graph <-> GraphDef translation: tensors, attrs, NodeDefs, and import_graph_def's semantics and errors."""
import os

import ml_dtypes
import numpy as np
import pytest

import deferflow as tf
from deferflow.formats import protos
from deferflow.framework import errors, graph_io, op_registry

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "meta")
EXPECTED = np.load(os.path.join(GOLDEN, "expected.npz"), allow_pickle=True)


def _golden_graph_def(case):
    with open(os.path.join(GOLDEN, case, "model.ckpt.meta"), "rb") as f:
        return protos.MetaGraphDef.FromString(f.read()).graph_def


def _as_np(v):
    return np.array(v, dtype=object) if isinstance(v, bytes) else np.asarray(v)


# --- tensors ------------------------------------------------------------------------------------
def test_consts_written_by_tensorflow_read_exactly_and_rewrite_byte_identical():
    with open(os.path.join(GOLDEN, "consts.pb"), "rb") as f:
        gd = tf.GraphDef.FromString(f.read())
    tf.import_graph_def(gd, name="")
    sess = tf.Session()
    for op in tf.get_default_graph().get_operations():
        want = EXPECTED["const_" + op.name]
        got = _as_np(sess.run(op.outputs[0]))
        if op.name.endswith("bf16"):
            assert got.dtype == ml_dtypes.bfloat16
            got = got.view(np.uint16)
        assert got.dtype == want.dtype and got.shape == want.shape, op.name
        if got.dtype == object:
            assert got.tolist() == want.tolist(), op.name
        else:
            assert got.tobytes() == want.tobytes(), op.name  # bitwise: -0.0, NaN, extremes
    theirs = {n.name: n for n in gd.node}
    ours = tf.get_default_graph().as_graph_def()
    assert len(ours.node) == len(gd.node) == 29
    for n in ours.node:  # tensor_content vs typed lists vs one-value splats chosen as TF chooses
        assert n.attr["value"] == theirs[n.name].attr["value"], n.name
        assert n.attr["dtype"] == theirs[n.name].attr["dtype"], n.name


_TYPED = [  # (enum, field, stored values, expected array)
    (1, "float_val", [1.5, -2.0, 3.0], np.array([1.5, -2, 3], np.float32)),
    (2, "double_val", [1e-300, 2.0, 3.0], np.array([1e-300, 2, 3], np.float64)),
    (3, "int_val", [-1, 2, 2**31 - 1], np.array([-1, 2, 2**31 - 1], np.int32)),
    (4, "int_val", [0, 255, 7], np.array([0, 255, 7], np.uint8)),
    (5, "int_val", [-32768, 1, 2], np.array([-32768, 1, 2], np.int16)),
    (6, "int_val", [-128, 127, 0], np.array([-128, 127, 0], np.int8)),
    (9, "int64_val", [-2**63, 0, 2**63 - 1], np.array([-2**63, 0, 2**63 - 1], np.int64)),
    (10, "bool_val", [True, False, True], np.array([True, False, True])),
    (17, "int_val", [65535, 0, 1], np.array([65535, 0, 1], np.uint16)),
    (22, "uint32_val", [2**32 - 1, 0, 1], np.array([2**32 - 1, 0, 1], np.uint32)),
    (23, "uint64_val", [2**64 - 1, 0, 1], np.array([2**64 - 1, 0, 1], np.uint64)),
    (19, "half_val", [0x3C00, 0xC000, 0x7BFF], np.array([1, -2, 65504], np.float16)),
    (14, "half_val", [0x3F80, 0xC049, 0x0000], np.array([1, -3.140625, 0], ml_dtypes.bfloat16)),
    (8, "scomplex_val", [1, 2, 3, -4, 0, 0.5], np.array([1 + 2j, 3 - 4j, 0.5j], np.complex64)),
    (18, "dcomplex_val", [1, 2, 3, -4, 0, 0.5], np.array([1 + 2j, 3 - 4j, 0.5j], np.complex128)),
    (7, "string_val", [b"a", b"", b"\xff"], np.array([b"a", b"", b"\xff"], object)),
]


@pytest.mark.parametrize("enum,field,stored,want", _TYPED, ids=[str(t[0]) for t in _TYPED])
def test_typed_value_lists_of_every_dtype(enum, field, stored, want):
    tp = protos.TensorProto(dtype=enum)
    tp.tensor_shape.dim.add().size = 3
    getattr(tp, field).extend(stored)
    got = graph_io.tensor_from_proto(tp)
    assert got.dtype == want.dtype and got.shape == (3,) and not got.flags.writeable
    assert got.tolist() == want.tolist() if got.dtype == object else got.tobytes() == want.tobytes()
    # a single value fills the shape (TF's compact form); no value means zeros
    del getattr(tp, field)[1:]
    tp.tensor_shape.dim[0].size = 4
    if enum in (8, 18):
        getattr(tp, field).append(stored[1])
    splat = graph_io.tensor_from_proto(tp)
    assert splat.shape == (4,) and (splat == want[:1]).all()
    del getattr(tp, field)[:]
    zeros = graph_io.tensor_from_proto(tp)
    assert zeros.shape == (4,) and (zeros == (b"" if enum == 7 else 0)).all()


@pytest.mark.parametrize("value", [
    np.arange(6, dtype=np.float32).reshape(2, 3), np.array([np.nan, -0.0, np.inf], np.float64),
    np.array([1, -2], np.int8), np.array([2**63 - 1], np.int64), np.array([True, False]),
    np.array([0.5, -1], np.float16), np.array([1.5, 2], ml_dtypes.bfloat16), np.array([1 + 1j], np.complex64),
    np.array([[b"x", b"yy"]], object), np.float32(3), np.zeros((0, 4), np.int32), np.full((40, 40), -0.0),
])
def test_tensor_round_trip(value):
    tp = protos.TensorProto.FromString(graph_io.tensor_to_proto(value).SerializeToString())
    got = graph_io.tensor_from_proto(tp)
    value = np.asarray(value)
    assert got.shape == value.shape and got.dtype == value.dtype
    assert got.tolist() == value.tolist() if value.dtype == object else got.tobytes() == value.tobytes()


def test_large_uniform_tensors_are_written_compactly():
    tp = graph_io.tensor_to_proto(np.zeros((1000, 1000), np.float32))
    assert tp.ByteSize() < 32 and list(tp.float_val) == [0.0]
    assert graph_io.tensor_from_proto(tp).shape == (1000, 1000)


@pytest.mark.parametrize("bad,match", [
    (dict(dtype=1, dims=[3], tensor_content=b"\0" * 8), "tensor_content holds 8 bytes"),
    (dict(dtype=1, dims=[2], float_val=[1, 2, 3]), "holds 3 values"),
    (dict(dtype=1, dims=[-1], float_val=[1]), "negative dimension"),
    (dict(dtype=8, dims=[1], scomplex_val=[1]), "odd number"),
])
def test_malformed_tensor_protos_are_value_errors(bad, match):
    tp = protos.TensorProto(dtype=bad.pop("dtype"))
    for d in bad.pop("dims"):
        tp.tensor_shape.dim.add().size = d
    for k, v in bad.items():
        if k == "tensor_content":
            tp.tensor_content = v
        else:
            getattr(tp, k).extend(v)
    with pytest.raises(ValueError, match=match):
        graph_io.tensor_from_proto(tp)


def test_tensor_protos_interchange_with_tensorflow(tf_real):
    from tensorflow.core.framework import tensor_pb2
    from tensorflow.python.framework import tensor_util
    values = [np.arange(6, dtype=np.float32).reshape(2, 3), np.float64(-0.0), np.array([1, 2], np.uint16),
              np.array([1 + 2j], np.complex128), np.array([b"a", b"bc"], object), np.array([True, False]),
              np.array([0.5, 1.5], np.float16), np.array([3.0, -1], ml_dtypes.bfloat16), np.int64(-7),
              np.array([2**64 - 1], np.uint64), np.zeros((3, 0), np.int8)]
    for v in values:
        theirs = tensor_util.make_tensor_proto(v)
        assert graph_io.tensor_to_proto(v).SerializeToString(deterministic=True) == \
            theirs.SerializeToString(deterministic=True), repr(v)
        back = tensor_util.MakeNdarray(tensor_pb2.TensorProto.FromString(
            graph_io.tensor_to_proto(v).SerializeToString()))
        assert np.asarray(back).tobytes() == np.asarray(v).tobytes() or np.asarray(back).tolist() == v.tolist()
        ours = graph_io.tensor_from_proto(protos.TensorProto.FromString(theirs.SerializeToString()))
        assert ours.tolist() == np.asarray(v).tolist() and ours.dtype == np.asarray(v).dtype
    splat = tensor_util.make_tensor_proto(7, dtype=tf_real.int32, shape=[2, 3])
    assert graph_io.tensor_from_proto(protos.TensorProto.FromString(splat.SerializeToString())).tolist() == \
        [[7] * 3] * 2
    assert tf.make_ndarray(splat).tolist() == [[7] * 3] * 2  # tf.make_ndarray takes TF's messages too


# --- attrs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,kind", [
    ("SAME", "string"), (3, "int"), (0.5, "float"), (True, "bool"), (tf.float16, "type"),
    (tf.TensorShape([None, 3]), "shape"), (tf.TensorShape(None), "shape"), ([1, 2, 2, 1], "list(int)"),
    (["loc:@a", "b"], "list(string)"), ([tf.int32, tf.string], "list(type)"), ([0.5, 2.0], "list(float)"),
    ([True, False], "list(bool)"), ([tf.TensorShape([2]), tf.TensorShape(None)], "list(shape)"), ([], "list(int)"),
])
def test_attr_values_round_trip(value, kind):
    av = graph_io.attr_value_to_proto(value, kind)
    back = graph_io.attr_value_from_proto(protos.AttrValue.FromString(av.SerializeToString()), kind)
    assert back == value
    assert graph_io.attr_value_from_proto(av) == value  # kind inferred from the message (TF-created attrs)


def test_attr_of_the_wrong_kind_is_refused():
    with pytest.raises(ValueError, match="had value with type 'int' when 'type' expected"):
        graph_io.attr_value_from_proto(protos.AttrValue(i=3), "type")
    with pytest.raises(ValueError, match="'list\\(int\\)' when 'list\\(string\\)' expected"):
        graph_io.attr_value_from_proto(graph_io.attr_value_to_proto([1], "list(int)"), "list(string)")


def test_node_def_matches_tensorflow(tf_real):
    with tf_real.Graph().as_default() as tg:
        x = tf_real.placeholder(tf_real.float32, [None, 8, 8, 3], name="x")
        k = tf_real.constant(np.ones((3, 3, 3, 4), np.float32), name="k")
        tf_real.nn.max_pool(tf_real.nn.relu(tf_real.nn.conv2d(x, k, [1, 1, 1, 1], "SAME")), [1, 2, 2, 1],
                            [1, 2, 2, 1], "VALID", name="pool")
    x = tf.placeholder(tf.float32, [None, 8, 8, 3], name="x")
    k = tf.constant(np.ones((3, 3, 3, 4), np.float32), name="k")
    tf.nn.max_pool(tf.nn.relu(tf.nn.conv2d(x, k, [1, 1, 1, 1], "SAME")), [1, 2, 2, 1], [1, 2, 2, 1], "VALID",
                   name="pool")
    for op in tf.get_default_graph().get_operations():
        theirs = protos.NodeDef.FromString(tg.get_operation_by_name(op.name).node_def.SerializeToString())
        ours = op.node_def
        assert (ours.op, list(ours.input)) == (theirs.op, list(theirs.input)), op.name
        for key, value in ours.attr.items():  # every attr we write is TF's, with TF's value
            assert key in theirs.attr and theirs.attr[key] == value, (op.name, key)


# --- GraphDef round trips ----------------------------------------------------------------------
@pytest.mark.parametrize("case", ["mlp", "resource", "vgg"])
def test_tensorflow_graph_defs_round_trip_attr_for_attr(case):
    gd = _golden_graph_def(case)
    tf.import_graph_def(gd, name="")
    ours = tf.get_default_graph().as_graph_def(add_shapes=True)
    theirs = {n.name: n for n in gd.node}
    assert [n.name for n in ours.node] == [n.name for n in gd.node]
    for n in ours.node:
        t = theirs[n.name]
        assert (n.op, list(n.input), n.device) == (t.op, list(t.input), t.device)
        assert dict(n.attr) == dict(t.attr), n.name  # _output_shapes included: our shapes are TF's


def test_tensorflow_imports_our_graph_def(tf_real):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.constant(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
    y = tf.nn.softmax(tf.matmul(x, w) + tf.constant([0.5, -0.5]), name="y")
    data = tf.get_default_graph().as_graph_def().SerializeToString()
    with tf_real.Graph().as_default():
        gd = tf_real.GraphDef.FromString(data)
        (ty,) = tf_real.import_graph_def(gd, return_elements=["y:0"], name="")
        with tf_real.Session() as s:
            theirs = s.run(ty, {"x:0": [[1, 2, 3]]})
    np.testing.assert_allclose(tf.Session().run(y, {x: [[1, 2, 3]]}), theirs, rtol=1e-6)


# --- import_graph_def semantics -----------------------------------------------------------------
def _small_graph_def():
    g = tf.Graph()
    with g.as_default():
        a = tf.placeholder(tf.float32, [2], name="a")
        b = tf.constant([1.0, 2.0], name="b")
        c = tf.add(a, b, name="c")
        with tf.control_dependencies([b.op]):
            tf.identity(c, name="d")
    return g.as_graph_def()


def test_default_prefix_is_import_and_is_uniquified():
    gd = _small_graph_def()
    tf.import_graph_def(gd)
    tf.import_graph_def(gd)
    with tf.name_scope("outer"):
        tf.import_graph_def(gd)
    names = [op.name for op in tf.get_default_graph().get_operations()]
    assert names[:4] == ["import/a", "import/b", "import/c", "import/d"]
    assert names[4:8] == ["import_1/a", "import_1/b", "import_1/c", "import_1/d"]
    assert names[8:] == ["outer/import/a", "outer/import/b", "outer/import/c", "outer/import/d"]
    d = tf.get_default_graph().get_operation_by_name("import_1/d")
    assert [t.name for t in d.inputs] == ["import_1/c:0"] and [c.name for c in d.control_inputs] == ["import_1/b"]


def test_empty_name_imports_at_the_root_and_uniquifies_clashing_nodes():
    tf.constant(0.0, name="c")
    gd = _small_graph_def()
    d, c = tf.import_graph_def(gd, name="", return_elements=["d:0", "c"])
    assert c.name == "c_1" and d.name == "d:0" and d.op.inputs[0].op is c
    assert tf.constant(1.0, name="d").name == "d_1:0"  # imported names are marked used


def test_input_map_and_return_elements():
    x = tf.constant([10.0, 20.0], name="x")
    gate = tf.no_op(name="gate")
    gd = _small_graph_def()
    c, d_op = tf.import_graph_def(gd, input_map={"a:0": x, "^b": gate}, return_elements=["c:0", "d"])
    assert c.op.inputs[0] is x and d_op.control_inputs == [gate]
    assert tf.Session().run(c).tolist() == [11.0, 22.0]
    with pytest.raises(ValueError, match="Attempted to map inputs that were not found in graph_def: \\[zz:0\\]"):
        tf.import_graph_def(gd, input_map={"zz:0": x})
    with pytest.raises(ValueError, match="Requested return tensor 'zz:0' not found in graph def"):
        tf.import_graph_def(gd, return_elements=["zz:0"])
    with pytest.raises(ValueError, match="Requested return node 'zz' not found in graph def"):
        tf.import_graph_def(gd, return_elements=["zz"])
    with pytest.raises(ValueError, match="Input 0 of node import_.*/c was passed int32 from .* incompatible with "
                                         "expected float"):
        tf.import_graph_def(gd, input_map={"a:0": tf.constant([1, 2])})


def _node(gd, name, op, inputs=(), **attrs):
    n = gd.node.add(name=name, op=op)
    n.input.extend(inputs)
    for k, v in attrs.items():
        n.attr[k].CopyFrom(v)
    return n


F32 = protos.AttrValue(type=1)


def _const(gd, name, value=1.0):
    _node(gd, name, "Const", dtype=F32, value=protos.AttrValue(tensor=graph_io.tensor_to_proto(np.float32(value))))


def _bad_graphs():
    out = {}
    gd = protos.GraphDef()
    _const(gd, "a")
    _node(gd, "b", "Identity", ["zz"], T=F32)
    out["Unknown input node 'zz'"] = gd
    gd = protos.GraphDef()
    _const(gd, "a")
    _node(gd, "b", "Identity", ["a:3"], T=F32)
    out["Connecting to invalid output 3 of source node a which has 1 outputs"] = gd
    gd = protos.GraphDef()
    _const(gd, "a")
    _node(gd, "b", "AddV2", ["a", "c"], T=F32)
    _node(gd, "c", "Identity", ["b"], T=F32)
    out["2 nodes in a cycle"] = gd
    gd = protos.GraphDef()
    _const(gd, "a")
    _node(gd, "b", "Identity", ["a"], T=protos.AttrValue(i=3))
    out["AttrValue had value with type 'int' when 'type' expected"] = gd
    gd = protos.GraphDef()
    _const(gd, "a")
    _node(gd, "b", "Identity", ["a"])
    out["NodeDef missing attr 'T'"] = gd
    gd = protos.GraphDef()
    _const(gd, "a")
    _node(gd, "b", "Identity", ["a", "a"], T=F32)
    out["expected inputs 'float' do not match 2 inputs"] = gd
    gd = protos.GraphDef()
    _const(gd, "a")
    _const(gd, "a")
    out["Node 'a' is not unique"] = gd
    gd = protos.GraphDef()
    _const(gd, "a")
    _node(gd, "b", "Identity", ["a"], T=protos.AttrValue(type=3))
    out["Input 0 of node import/b was passed float from import/a:0 incompatible with expected int32"] = gd
    return out


@pytest.mark.parametrize("message", list(_bad_graphs()))
def test_bad_graph_defs_raise_and_leave_the_graph_untouched(message):
    g = tf.get_default_graph()
    tf.constant(1.0, name="existing")
    before = (list(g.get_operations()), dict(g._names_in_use), g.get_all_collection_keys())
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace("[", "\\[")):
        tf.import_graph_def(_bad_graphs()[message])
    assert (list(g.get_operations()), dict(g._names_in_use), g.get_all_collection_keys()) == before
    assert g.get_operation_by_name("existing").outputs[0].consumers() == []
    assert tf.constant(2.0, name="import").op.name == "import"  # the failed import's scope was not taken


def test_tensorflow_rejects_the_same_bad_graphs(tf_real):
    from tensorflow.core.framework import graph_pb2
    for message, gd in _bad_graphs().items():
        with tf_real.Graph().as_default():
            with pytest.raises(ValueError, match=message.replace("(", "\\(")):
                tf_real.import_graph_def(graph_pb2.GraphDef.FromString(gd.SerializeToString()))


def test_out_of_order_nodes_are_sorted_and_missing_attrs_take_defaults():
    gd = protos.GraphDef()
    _node(gd, "m", "MatMul", ["a", "b"], T=F32)  # transpose_a/transpose_b absent: OpDef defaults
    _node(gd, "a", "Const", dtype=F32, value=protos.AttrValue(tensor=graph_io.tensor_to_proto(
        np.eye(2, dtype=np.float32))))
    _node(gd, "b", "Const", dtype=F32, value=protos.AttrValue(tensor=graph_io.tensor_to_proto(
        np.array([[1, 2], [3, 4]], np.float32))))
    (m,) = tf.import_graph_def(gd, name="", return_elements=["m:0"])
    assert [op.name for op in tf.get_default_graph().get_operations()] == ["a", "b", "m"]
    assert m.op.get_attr("transpose_a") is False and m.shape.as_list() == [2, 2]
    assert tf.Session().run(m).tolist() == [[1, 2], [3, 4]]


def test_colocation_and_output_shapes_attrs_are_kept_and_prefixed():
    gd = protos.GraphDef()
    _const(gd, "a")
    n = _node(gd, "b", "Identity", ["a"], T=F32)
    n.attr["_class"].list.s.append(b"loc:@a")
    n.attr["_output_shapes"].list.shape.add()
    tf.import_graph_def(gd, name="pre")
    b = tf.get_default_graph().get_operation_by_name("pre/b")
    assert b.get_attr("_class") == [b"loc:@pre/a"]
    assert b.node_def.attr["_output_shapes"].list.shape[0] == protos.TensorShapeProto()


def test_device_strings_are_kept_and_never_stop_execution():
    gd = _small_graph_def()
    for n, dev in zip(gd.node, ["/gpu:0", "/job:worker/task:3/device:GPU:1", "/device:TPU:0", ""]):
        n.device = dev
    c = tf.import_graph_def(gd, name="", return_elements=["c:0"])[0]
    assert c.op.device == "/device:TPU:0"
    assert tf.Session().run(c, {"a:0": [1.0, 1.0]}).tolist() == [2.0, 3.0]
    c2 = tf.import_graph_def(gd, return_elements=["c:0"], clear_devices=True)[0]
    assert c2.op.device == ""


def test_tensorflow_graph_def_objects_are_accepted(tf_real):
    with tf_real.Graph().as_default() as tg:
        tf_real.add(tf_real.constant(1.0, name="p"), 2.0, name="q")
    (q,) = tf.import_graph_def(tg.as_graph_def(), return_elements=["q:0"])
    assert tf.Session().run(q) == 3.0


# --- ops deferflow lacks -------------------------------------------------------------------------
def test_unknown_op_in_a_bare_graph_def_imports_and_can_be_given_a_kernel():
    gd = protos.GraphDef()
    _const(gd, "a", 3.0)
    _node(gd, "custom", "DeferflowTestBareOp", ["a"], scale=protos.AttrValue(f=2.0), T=F32)
    _node(gd, "out", "Square", ["custom:1"], T=F32)
    out, custom = tf.import_graph_def(gd, name="", return_elements=["out:0", "custom"])
    assert [t.dtype for t in custom.outputs] == [tf.float32, tf.float32]  # typed from the consumer
    sess = tf.Session()
    with pytest.raises(errors.UnimplementedError, match="DeferflowTestBareOp.*node custom") as e:
        sess.run(out)
    assert e.value.op is custom
    tf.register_kernel("DeferflowTestBareOp", lambda x, scale, T: (x, x * scale))
    assert sess.run(out) == 36.0


def test_unknown_op_with_an_op_list_gets_its_signature():
    op_list = protos.OpList()
    od = op_list.op.add(name="DeferflowTestListedOp")
    od.input_arg.add(name="x", type_attr="T")
    od.output_arg.add(name="y", type_attr="T")
    a = od.attr.add(name="T", type="type")
    a = od.attr.add(name="power", type="int")
    a.default_value.i = 3
    gd = protos.GraphDef()
    _node(gd, "a", "Const", dtype=protos.AttrValue(type=2),
          value=protos.AttrValue(tensor=graph_io.tensor_to_proto(np.float64(2))))
    _node(gd, "p", "DeferflowTestListedOp", ["a"], T=protos.AttrValue(type=2))
    (p,) = tf.import_graph_def(gd, return_elements=["p:0"], producer_op_list=op_list)
    assert p.dtype == tf.float64 and p.op.get_attr("power") == 3  # missing attr from the listed default
    with pytest.raises(errors.UnimplementedError, match="DeferflowTestListedOp"):
        tf.Session().run(p)

    @op_registry.get("DeferflowTestListedOp").kernel
    def _power(x, *, power):
        return x ** power
    assert tf.Session().run(p) == 8.0


# --- files ------------------------------------------------------------------------------------
def test_text_graph_written_by_tensorflow_imports(tmp_path):
    gd = graph_io.read_graph_def(os.path.join(GOLDEN, "vgg", "graph.pbtxt"))
    (prob,) = tf.import_graph_def(gd, name="", return_elements=["prob:0"])
    assert prob.shape.as_list() == [None, 10]
    path = tf.train.write_graph(tf.get_default_graph(), str(tmp_path), "g.pbtxt")
    again = graph_io.read_graph_def(path)
    assert [n.name for n in again.node] == [n.name for n in gd.node]
    path = tf.io.write_graph(again, str(tmp_path / "sub"), "g.pb", as_text=False)
    with open(path, "rb") as f:
        assert tf.GraphDef.FromString(f.read()) == again


def test_unparsable_graph_files_are_data_loss_errors_naming_the_file(tmp_path):
    path = tmp_path / "bad.pb"
    path.write_bytes(b"\xff\xfe not a protobuf \x00")
    with pytest.raises(errors.DataLossError, match="bad.pb"):
        graph_io.read_graph_def(str(path))


def test_tf1_while_loop_and_cond_import_with_back_edges_and_run():
    with open(os.path.join(GOLDEN, "control_flow.pb"), "rb") as f:
        gd = tf.GraphDef.FromString(f.read())
    tf.import_graph_def(gd, name="")
    merges = [op for op in tf.get_default_graph().get_operations() if op.type == "Merge" and "loop" in op.name]
    assert merges and all(op.inputs[1].op.type == "NextIteration" for op in merges)  # back edges patched
    np.testing.assert_array_equal(tf.Session().run(["out:0", "out2:0"], {"x:0": 3.0}), EXPECTED["cf_out"])


def test_importing_scope_control_dependencies_and_device_apply_to_imported_ops():
    gd = _small_graph_def()
    gd.node[1].device = "/job:ps/task:1"
    gate = tf.no_op(name="gate")
    with tf.control_dependencies([gate]), tf.device("/device:GPU:0"):
        tf.import_graph_def(gd)
    g = tf.get_default_graph()
    for name in ("import/a", "import/b", "import/c", "import/d"):
        assert gate in g.get_operation_by_name(name).control_inputs
    assert g.get_operation_by_name("import/a").device == "/device:GPU:0"
    assert g.get_operation_by_name("import/b").device == "/job:ps/task:1/device:GPU:0"


def test_frozen_graph_loading_idiom_with_gfile():
    path = os.path.join(GOLDEN, "vgg", "frozen.pb")
    with tf.gfile.GFile(path, "rb") as f:
        graph_def = tf.GraphDef()
        graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name="prefix")
    assert graph.get_tensor_by_name("prefix/prob:0").shape.as_list() == [None, 10]
    assert tf.io.gfile.exists(path) and tf.gfile.Exists(path) and path in tf.gfile.Glob(path)
    with pytest.raises(errors.NotFoundError):
        tf.gfile.GFile(path + ".missing", "rb")
