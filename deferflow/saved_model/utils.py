"""``tf.saved_model.utils``: TensorInfo <-> tensors."""
from deferflow.formats import protos
from deferflow.framework import graph_io, ops


def build_tensor_info(tensor):
    """The ``TensorInfo`` (name, dtype, shape) of a tensor."""
    if not isinstance(tensor, ops.Tensor):
        tensor = ops.convert_to_tensor(tensor)
    info = protos.TensorInfo(name=tensor.name, dtype=tensor.dtype.base_dtype.as_datatype_enum)
    graph_io.shape_to_proto(tensor.shape, info.tensor_shape)
    return info


def get_tensor_from_tensor_info(tensor_info, graph=None, import_scope=None):
    """The tensor a ``TensorInfo`` names in ``graph`` (default graph)."""
    graph = graph or ops.get_default_graph()
    encoding = tensor_info.WhichOneof("encoding")
    if encoding != "name":
        raise ValueError(f"Invalid TensorInfo.encoding: {encoding} (deferflow reads dense tensors only)")
    t = graph.get_tensor_by_name(ops.prepend_name_scope(tensor_info.name, import_scope))
    return t


def get_element_from_tensor_info(tensor_info, graph=None, import_scope=None):
    graph = graph or ops.get_default_graph()
    return graph.as_graph_element(ops.prepend_name_scope(tensor_info.name, import_scope))


