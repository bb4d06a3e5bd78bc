"""TensorFlow protobuf messages (our compiled subset, same field numbers as TensorFlow's).

Our package is ``deferflow.tfproto`` so these classes coexist with real TensorFlow's in one
process; the wire format depends only on field numbers, so bytes are interchangeable.
"""
from google.protobuf import any_pb2

from deferflow.formats.proto import (attr_value_pb2, checkpoint_state_pb2, event_pb2, full_type_pb2,
                                     function_pb2, graph_pb2, meta_graph_pb2, node_def_pb2, op_def_pb2,
                                     resource_handle_pb2, saved_model_pb2, saver_pb2, summary_pb2,
                                     tensor_bundle_pb2, tensor_pb2, tensor_shape_pb2, tensor_slice_pb2,
                                     types_pb2, variable_pb2, versions_pb2)

DataType = types_pb2.DataType
TensorShapeProto = tensor_shape_pb2.TensorShapeProto
ResourceHandleProto = resource_handle_pb2.ResourceHandleProto
TensorProto = tensor_pb2.TensorProto
VariantTensorDataProto = tensor_pb2.VariantTensorDataProto
AttrValue = attr_value_pb2.AttrValue
NameAttrList = attr_value_pb2.NameAttrList
FullTypeDef = full_type_pb2.FullTypeDef
NodeDef = node_def_pb2.NodeDef
OpDef = op_def_pb2.OpDef
OpList = op_def_pb2.OpList
OpDeprecation = op_def_pb2.OpDeprecation
FunctionDefLibrary = function_pb2.FunctionDefLibrary
FunctionDef = function_pb2.FunctionDef
GradientDef = function_pb2.GradientDef
VersionDef = versions_pb2.VersionDef
GraphDef = graph_pb2.GraphDef
SaverDef = saver_pb2.SaverDef
VariableDef = variable_pb2.VariableDef
SaveSliceInfoDef = variable_pb2.SaveSliceInfoDef
MetaGraphDef = meta_graph_pb2.MetaGraphDef
CollectionDef = meta_graph_pb2.CollectionDef
TensorInfo = meta_graph_pb2.TensorInfo
SignatureDef = meta_graph_pb2.SignatureDef
AssetFileDef = meta_graph_pb2.AssetFileDef
SavedModel = saved_model_pb2.SavedModel
from deferflow.formats.proto import control_flow_pb2  # noqa: E402 - cond/while contexts of meta graphs
ValuesDef = control_flow_pb2.ValuesDef
ControlFlowContextDef = control_flow_pb2.ControlFlowContextDef
CondContextDef = control_flow_pb2.CondContextDef
WhileContextDef = control_flow_pb2.WhileContextDef
from deferflow.formats.proto import queue_runner_pb2  # noqa: E402 - the queue_runners collection
QueueRunnerDef = queue_runner_pb2.QueueRunnerDef
CheckpointState = checkpoint_state_pb2.CheckpointState
TensorSliceProto = tensor_slice_pb2.TensorSliceProto
BundleHeaderProto = tensor_bundle_pb2.BundleHeaderProto
BundleEntryProto = tensor_bundle_pb2.BundleEntryProto
HistogramProto = summary_pb2.HistogramProto
SummaryMetadata = summary_pb2.SummaryMetadata
SummaryDescription = summary_pb2.SummaryDescription
Summary = summary_pb2.Summary
Event = event_pb2.Event
LogMessage = event_pb2.LogMessage
SessionLog = event_pb2.SessionLog
TaggedRunMetadata = event_pb2.TaggedRunMetadata
SourceMetadata = event_pb2.SourceMetadata
Any = any_pb2.Any

_OUR_PACKAGE = "deferflow.tfproto."
TYPE_URL_PREFIX = "type.googleapis.com/"


def tf_full_name(message):
    """TensorFlow's full name of a message (instance or class): ``tensorflow.VariableDef``."""
    name = message.DESCRIPTOR.full_name
    return "tensorflow." + name[len(_OUR_PACKAGE):] if name.startswith(_OUR_PACKAGE) else name


def pack_any(message, target=None):
    """Pack into a google.protobuf.Any whose type_url names TensorFlow's message, as TF does."""
    target = any_pb2.Any() if target is None else target
    target.type_url = TYPE_URL_PREFIX + tf_full_name(message)
    target.value = message.SerializeToString(deterministic=True)
    return target


def unpack_any(any_message, cls):
    """Parse an Any written by TensorFlow (or by pack_any) as ``cls``; ValueError if the type differs."""
    expected = TYPE_URL_PREFIX + tf_full_name(cls)
    if any_message.type_url != expected:
        raise ValueError(f"Any holds {any_message.type_url!r}, expected {expected!r}")
    return cls.FromString(any_message.value)
