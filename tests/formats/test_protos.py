"""Our compiled proto subset against TensorFlow's: schemas, and bytes in both directions."""
import ast
import importlib
import os
import pathlib

import numpy as np
import pytest
from conftest import CHECKPOINT_CASES, GOLDEN, ROOT

from deferflow.formats import protos
from deferflow.formats.proto import types_pb2

# (our module, TensorFlow's module) for every schema we mirror.
TF_MODULES = {
    "types_pb2": "tensorflow.core.framework.types_pb2",
    "tensor_shape_pb2": "tensorflow.core.framework.tensor_shape_pb2",
    "resource_handle_pb2": "tensorflow.core.framework.resource_handle_pb2",
    "tensor_pb2": "tensorflow.core.framework.tensor_pb2",
    "attr_value_pb2": "tensorflow.core.framework.attr_value_pb2",
    "full_type_pb2": "tensorflow.core.framework.full_type_pb2",
    "node_def_pb2": "tensorflow.core.framework.node_def_pb2",
    "op_def_pb2": "tensorflow.core.framework.op_def_pb2",
    "function_pb2": "tensorflow.core.framework.function_pb2",
    "versions_pb2": "tensorflow.core.framework.versions_pb2",
    "graph_pb2": "tensorflow.core.framework.graph_pb2",
    "saver_pb2": "tensorflow.core.protobuf.saver_pb2",
    "variable_pb2": "tensorflow.core.framework.variable_pb2",
    "meta_graph_pb2": "tensorflow.core.protobuf.meta_graph_pb2",
    "saved_model_pb2": "tensorflow.core.protobuf.saved_model_pb2",
    "checkpoint_state_pb2": "tensorflow.python.training.checkpoint_state_pb2",
    "tensor_slice_pb2": "tensorflow.core.framework.tensor_slice_pb2",
    "tensor_bundle_pb2": "tensorflow.core.protobuf.tensor_bundle_pb2",
    "summary_pb2": "tensorflow.core.framework.summary_pb2",
    "event_pb2": "tensorflow.core.util.event_pb2",
}
# Fields we deliberately leave to protobuf's unknown-field handling.
NOT_MODELLED = {"tensorflow.GraphDef.debug_info", "tensorflow.MetaGraphDef.object_graph_def",
                "tensorflow.TensorInfo.composite_tensor"}


def _tf_name(full_name):
    return full_name.replace("deferflow.tfproto.", "tensorflow.")


def _type_of(field):
    sub = field.message_type or field.enum_type
    return (field.type, _tf_name(sub.full_name) if sub else None, field.is_repeated)


def _compare_enum(ours, theirs):
    assert {v.name: v.number for v in ours.values} == {v.name: v.number for v in theirs.values}, ours.full_name


def _compare_message(ours, theirs):
    assert _tf_name(ours.full_name) == theirs.full_name
    for field in ours.fields:
        other = theirs.fields_by_number.get(field.number)
        assert other is not None, f"{ours.full_name}.{field.name}: no field {field.number} in TensorFlow"
        assert field.name == other.name, (ours.full_name, field.number)
        assert _type_of(field) == _type_of(other), f"{ours.full_name}.{field.name}"
        assert (field.containing_oneof and field.containing_oneof.name) == \
            (other.containing_oneof and other.containing_oneof.name), f"{ours.full_name}.{field.name}"
    missing = {f"{theirs.full_name}.{f.name}" for f in theirs.fields if f.number not in ours.fields_by_number}
    assert missing <= NOT_MODELLED, missing
    # Same declaration order, so serializers that follow it emit the same bytes.
    theirs_order = [f.number for f in theirs.fields if f.number in ours.fields_by_number]
    assert [f.number for f in ours.fields] == theirs_order, ours.full_name
    for nested in ours.nested_types:
        if not nested.GetOptions().map_entry:
            _compare_message(nested, theirs.nested_types_by_name[nested.name])
    for enum in ours.enum_types:
        _compare_enum(enum, theirs.enum_types_by_name[enum.name])


@pytest.mark.parametrize("module", sorted(TF_MODULES))
def test_schema_matches_tensorflow(tf, module):
    ours = importlib.import_module(f"deferflow.formats.proto.{module}").DESCRIPTOR
    theirs = importlib.import_module(TF_MODULES[module]).DESCRIPTOR
    assert ours.package == "deferflow.tfproto" and theirs.package == "tensorflow"
    pool = theirs.pool  # TensorFlow keeps some messages (HistogramProto) in other files
    for message in ours.message_types_by_name.values():
        _compare_message(message, pool.FindMessageTypeByName(_tf_name(message.full_name)))
    for enum in ours.enum_types_by_name.values():
        _compare_enum(enum, pool.FindEnumTypeByName(_tf_name(enum.full_name)))


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_golden_meta_reserializes_identically(case):
    data = pathlib.Path(GOLDEN, case, "model.ckpt.meta").read_bytes()
    meta = protos.MetaGraphDef.FromString(data)
    assert meta.SerializeToString(deterministic=True) == data
    assert meta.saver_def.version == protos.SaverDef.V2
    assert meta.meta_info_def.tensorflow_version
    assert any(node.op in ("SaveV2", "MergeV2Checkpoints") for node in meta.graph_def.node)
    assert "variables" in meta.collection_def or "trainable_variables" in meta.collection_def


def test_golden_meta_variable_defs():
    meta = protos.MetaGraphDef.FromString(pathlib.Path(GOLDEN, "partitioned", "model.ckpt.meta").read_bytes())
    defs = [protos.VariableDef.FromString(b) for b in meta.collection_def["variables"].bytes_list.value]
    slices = [d.save_slice_info_def for d in defs if d.HasField("save_slice_info_def")]
    assert [list(s.var_offset) for s in slices] == [[0, 0], [4, 0], [7, 0]]
    assert all(s.full_name == "part" and list(s.full_shape) == [10, 4] for s in slices)


def _small_meta_graph(tf):
    with tf.Graph().as_default():
        v1 = tf.compat.v1
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.get_variable("w", initializer=np.ones((3, 2), np.float32), use_resource=False)
        b = v1.get_variable("b", initializer=np.zeros(2, np.float32), use_resource=True)
        y = tf.identity(tf.matmul(x, w) + b, name="y")
        v1.add_to_collection("my_floats", 1.5)
        v1.add_to_collection("my_ints", 7)
        v1.add_to_collection("my_strings", "s")

        @tf.function
        def double(t):
            return t * 2.0
        double.get_concrete_function(tf.TensorSpec([None, 2], tf.float32))
        tf.identity(y, name="out")
        v1.train.Saver()
        sig = v1.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y})
        meta = v1.train.export_meta_graph()
        meta.signature_def["serving_default"].CopyFrom(sig)
        return meta


def test_tensorflow_bytes_parse_and_reserialize(tf):
    tf_meta = _small_meta_graph(tf)
    data = tf_meta.SerializeToString(deterministic=True)
    ours = protos.MetaGraphDef.FromString(data)
    assert ours.SerializeToString(deterministic=True) == data
    assert ours.signature_def["serving_default"].inputs["x"].name == "x:0"
    assert {"my_floats", "my_ints", "my_strings", "variables"} <= set(ours.collection_def)
    assert len(ours.graph_def.library.function) >= 0  # parsed whether or not a library was exported


def test_our_bytes_parse_in_tensorflow(tf):
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.core.util import event_pb2
    meta = protos.MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    meta.meta_info_def.stripped_op_list.op.add(name="Const")
    node = meta.graph_def.node.add(name="c", op="Const")
    node.attr["dtype"].type = types_pb2.DT_FLOAT
    tensor = node.attr["value"].tensor
    tensor.dtype = types_pb2.DT_FLOAT
    tensor.tensor_shape.dim.add(size=2)
    tensor.float_val.extend([1.0, 2.0])
    node.attr["list"].list.i.extend([1, -2, 3])
    meta.graph_def.versions.producer = 27
    meta.saver_def.version = protos.SaverDef.V2
    meta.collection_def["vars"].bytes_list.value.append(protos.VariableDef(variable_name="v:0").SerializeToString())
    protos.pack_any(protos.VariableDef(variable_name="w:0"), meta.collection_def["anys"].any_list.value.add())
    ours = meta.SerializeToString(deterministic=True)
    theirs = meta_graph_pb2.MetaGraphDef.FromString(ours)
    assert theirs.SerializeToString(deterministic=True) == ours
    assert theirs.graph_def.node[0].attr["value"].tensor.float_val == [1.0, 2.0]
    from tensorflow.core.framework import variable_pb2
    unpacked = variable_pb2.VariableDef()
    assert theirs.collection_def["anys"].any_list.value[0].Unpack(unpacked)  # TF accepts our type_url
    assert unpacked.variable_name == "w:0"

    event = protos.Event(wall_time=1.5, step=3)
    event.summary.value.add(tag="loss", simple_value=0.25)
    event.summary.value.add(tag="h").histo.bucket.extend([1, 2])
    data = event.SerializeToString()
    assert event_pb2.Event.FromString(data).SerializeToString() == data


def test_unpack_any_checks_type():
    any_msg = protos.pack_any(protos.SaverDef(max_to_keep=3))
    assert any_msg.type_url == "type.googleapis.com/tensorflow.SaverDef"
    assert protos.unpack_any(any_msg, protos.SaverDef).max_to_keep == 3
    with pytest.raises(ValueError):
        protos.unpack_any(any_msg, protos.VariableDef)


ALLOWED_IMPORTS = {"numpy", "google", "google_crc32c", "ml_dtypes", "deferflow"}


def test_formats_imports_only_bytes_level_libraries():
    import sys
    fmt_dir = pathlib.Path(ROOT, "deferflow", "formats")
    for path in fmt_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED_IMPORTS or top in sys.stdlib_module_names, (path, name)
                if top == "deferflow":
                    assert name.startswith("deferflow.formats"), (path, name)


def _strip_json_names(message):
    for field in message.field:
        field.ClearField("json_name")
    for nested in message.nested_type:
        _strip_json_names(nested)


def test_generated_code_is_current(tmp_path):
    """The committed *_pb2.py embed exactly the descriptors compiled from today's .proto files."""
    grpc_tools = pytest.importorskip("grpc_tools")
    import subprocess
    import sys
    from google.protobuf import descriptor_pb2
    proto_dir = pathlib.Path(ROOT, "deferflow", "formats", "proto")
    sources = sorted(str(p.relative_to(ROOT)) for p in proto_dir.glob("*.proto"))
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    out = tmp_path / "set.pb"
    # A subprocess: protoc's C++ runtime clashes with TensorFlow's when both are loaded in one process.
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I.", f"-I{include}", f"-o{out}", *sources],
                   cwd=ROOT, check=True)
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    assert len(compiled) == len(list(proto_dir.glob("*_pb2.py")))
    for fd in compiled:
        for message in fd.message_type:
            _strip_json_names(message)  # python gencode omits json names
        module = importlib.import_module(fd.name[:-len(".proto")].replace("/", ".") + "_pb2")
        embedded = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        assert embedded == fd, f"{fd.name}: generated module is stale; run tools/gen_protos.py"
