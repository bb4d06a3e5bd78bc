"""Helpers of contrib/slim layers: named outputs (end points) and static/dynamic conditionals."""
import collections
import weakref

from deferflow.framework import ops
from deferflow.framework.ops import Tensor

__all__ = ["append_tensor_alias", "collect_named_outputs", "constant_value", "convert_collection_to_dict",
           "get_tensor_aliases", "last_dimension", "smart_cond", "static_cond"]

# deferflow Tensors have __slots__, so TF-slim's ``tensor.aliases`` attribute lives here instead
_ALIASES = weakref.WeakKeyDictionary()


def append_tensor_alias(tensor, alias):
    if alias.endswith("/"):
        alias = alias[:-1]
    _ALIASES.setdefault(tensor, []).append(alias)
    return tensor


def get_tensor_aliases(tensor):
    """The aliases given by ``collect_named_outputs``, else the tensor's name without ``:0``."""
    if tensor in _ALIASES:
        return list(_ALIASES[tensor])
    name = tensor.name
    return [name[:-2] if name.endswith(":0") else name]


def collect_named_outputs(collections_, alias, outputs):
    """Adds ``outputs`` under ``alias`` to ``collections_`` (nothing when it is empty)."""
    if collections_:
        append_tensor_alias(outputs, alias)
        ops.add_to_collections(collections_, outputs)
    return outputs


def convert_collection_to_dict(collection, clear_collection=False):
    """An ordered ``{alias: tensor}`` of a collection filled by ``outputs_collections=``."""
    result = collections.OrderedDict((alias, t) for t in ops.get_collection(collection)
                                     for alias in get_tensor_aliases(t))
    if clear_collection:
        ops.get_default_graph().clear_collection(collection)
    return result


def constant_value(value_or_tensor_or_var, dtype=None):
    """The Python value of a bool/number or constant tensor, None when only known at run time."""
    if value_or_tensor_or_var is None:
        raise ValueError("value_or_tensor_or_var cannot be None")
    v = value_or_tensor_or_var
    if isinstance(v, Tensor):
        if dtype and v.dtype != dtype:
            raise ValueError(f"It has the wrong type {v.dtype} instead of {dtype}")
        if v.op.type == "Const":
            return v.op.get_attr("value")
        return None
    if hasattr(v, "_as_graph_element"):  # a Variable
        return None
    return v


def static_cond(pred, fn1, fn2):
    if not callable(fn1):
        raise TypeError("fn1 must be callable.")
    if not callable(fn2):
        raise TypeError("fn2 must be callable.")
    return fn1() if pred else fn2()


def smart_cond(pred, fn1, fn2, name=None):
    """``fn1()``/``fn2()`` chosen now when ``pred`` is known, else a ``tf.cond``."""
    value = constant_value(pred)
    if value is not None:
        return static_cond(value, fn1, fn2)
    from deferflow.ops import control_flow_ops
    return control_flow_ops.cond(pred, fn1, fn2, name=name)


def last_dimension(shape, min_rank=1):
    dims = shape.dims if hasattr(shape, "dims") else None
    if dims is None:
        raise ValueError("dims of shape must be known but is None")
    if len(dims) < min_rank:
        raise ValueError(f"rank of shape must be at least {min_rank} not: {len(dims)}")
    value = dims[-1].value
    if value is None:
        raise ValueError("last dimension shape must be known but is None")
    return value
