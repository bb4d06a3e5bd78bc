"""Helpers shared by op families: static values, shape functions and op-family factories."""
import numpy as np

from deferflow.framework import dtypes, op_registry, ops
from deferflow.framework import tensor_shape as ts

# Type sets used in signatures, as in TF's op registrations.
REAL = "{bfloat16, half, float, double, int8, int16, int32, int64, uint8, uint16, uint32, uint64}"
NUMERIC = "{bfloat16, half, float, double, int8, int16, int32, int64, uint8, uint16, uint32, uint64, complex64, complex128}"
FLOAT = "{bfloat16, half, float, double}"
FLOAT_COMPLEX = "{bfloat16, half, float, double, complex64, complex128}"
INT_IDX = "{int32, int64}"


_FOLD_MAX_ELEMENTS = 1024  # larger constant subgraphs are not evaluated at graph-build time
_NOT_FOLDABLE = object()


def constant_value(t):
    """The value of ``t`` if it is known when the graph is built, else None.

    Like TF's shape inference, small integer/bool subgraphs whose inputs are all known are evaluated
    with their kernels (``tf.shape(x)[0]``, ``reduce_max`` of a constant ...).
    """
    if not isinstance(t, ops.Tensor):
        return np.asarray(t)
    op = t.op
    if op.type == "Const":
        return op._attrs["value"]
    g = op._graph
    cache = g._extra.get("constant_values")
    if cache is None or cache[0] != g._version:  # valid until the graph changes
        cache = g._extra["constant_values"] = (g._version, {})
    v = cache[1].get(t)
    if v is None:
        v = _constant_value(t)
        cache[1][t] = _NOT_FOLDABLE if v is None else v
    return None if v is _NOT_FOLDABLE else v


def _constant_value(t):
    op = t.op
    if op.type in ("Identity", "StopGradient", "PlaceholderWithDefault") and op._inputs:
        return constant_value(op._inputs[0]) if op.type != "PlaceholderWithDefault" else None
    if op.type == "Shape" and op._inputs[0].shape.is_fully_defined():
        return np.array(op._inputs[0].shape.as_list(), dtype=op._attrs["out_type"].as_numpy_dtype)
    if op.type == "Size" and op._inputs[0].shape.is_fully_defined():
        return np.array(op._inputs[0].shape.num_elements(), dtype=op._attrs["out_type"].as_numpy_dtype)
    if op.type == "Rank" and op._inputs[0].shape.ndims is not None:
        return np.array(op._inputs[0].shape.ndims, dtype=np.int32)
    if op.type in ("Shape", "Size", "Rank"):
        return None
    if op.type in ("Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "RefEnter", "Exit", "RefExit",
                   "NextIteration", "RefNextIteration", "LoopCond"):
        return None  # a loop variable is no constant (and a loop is a cycle)
    od = op._op_def
    if (od is None or od.kernel_fn is None or od.is_stateful or od.kernel_needs_ctx or not op._inputs
            or getattr(od, "_kernel_takes_all", False)):
        return None
    if not all(x.dtype.base_dtype.is_integer or x.dtype.base_dtype.is_bool for x in op._outputs):
        if op.type not in ("Cast", "Pack", "ConcatV2", "Reshape", "Fill", "Range"):
            return None
    vals = []
    for x in op._inputs:
        v = constant_value(x)
        if v is None or np.size(v) > _FOLD_MAX_ELEMENTS:
            return None
        vals.append(np.asarray(v))
    try:
        kw = {a: op._attrs[a] for a in od.kernel_attrs if a in op._attrs}
        with np.errstate(all="ignore"):
            out = od.kernel_fn(*vals, **kw)
    except Exception:  # noqa: BLE001 - an op that fails here fails (with TF's error) when it runs
        return None
    out = out[t._value_index] if isinstance(out, (tuple, list)) else out
    out = np.asarray(out)
    if out.size > _FOLD_MAX_ELEMENTS:
        return None
    out = np.array(out)  # own, writable-free copy: a view into a Const's value must not alias it
    out.flags.writeable = False
    return out


def shape_from_tensor(t):
    """A static TensorShape from a shape-valued tensor, partially known where possible."""
    v = constant_value(t)
    if v is not None:
        return ts.TensorShape([None if d < 0 else int(d) for d in np.reshape(v, [-1])])
    if t.op.type == "Shape":
        return t.op._inputs[0].shape
    if t.op.type == "Pack":
        dims = []
        for x in t.op._inputs:
            xv = constant_value(x)
            dims.append(None if xv is None or int(xv) < 0 else int(xv))
        return ts.TensorShape(dims)
    n = t.shape[0].value if t.shape.ndims == 1 else None
    return ts.unknown_shape(n)


def unchanged_shape(op):
    return [op._inputs[0].shape]


def broadcast_shape(op):
    return [ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape)]


def scalar_shape(op):
    return [ts.TensorShape([])] * len(op._outputs)


def unknown_shape(op):
    return [ts.unknown_shape()] * len(op._outputs)


def unary(name, fn, types=FLOAT_COMPLEX, grad=None):
    """An elementwise op ``y = fn(x)``."""
    od = op_registry.define(name, "x: T", "y: T", [f"T: {types}"])
    od.shape(unchanged_shape)
    def kernel(x):
        with np.errstate(all="ignore"):  # TF returns inf/nan silently
            return np.asarray(fn(x), dtype=x.dtype)
    od.kernel(kernel)
    if grad is not None:
        od.grad(grad)
    return od


def binary(name, fn, types=NUMERIC, out="z: T", grad=None):
    """An elementwise broadcasting op ``z = fn(x, y)``; its input gradients are reduced centrally."""
    od = op_registry.define(name, "x: T, y: T", out, [f"T: {types}"])
    od.shape(broadcast_shape)
    as_bool = out.endswith(": bool")

    def kernel(x, y):
        with np.errstate(all="ignore"):  # TF returns inf/nan silently
            return np.asarray(fn(x, y)) if as_bool else np.asarray(fn(x, y), dtype=x.dtype)
    od.kernel(kernel)
    od.broadcasting = "binary"  # TF's two-argument reduction scheme (gradients.py)
    if grad is not None:
        od.grad(grad)
    return od


def as_np_dtype(dtype):
    return dtypes.as_dtype(dtype).as_numpy_dtype


def lookup_error_gradient(od):
    """Marks an op TensorFlow registers no gradient for: differentiating through it raises TF's LookupError."""
    def grad(op, *grads):
        raise LookupError(f"No gradient defined for operation'{op.name}' (op type: {op.type}). In general every "
                          "operation must have an associated `@tf.RegisterGradient` for correct autodiff, which "
                          "this op is lacking. If you want to pretend this operation is a constant in your "
                          "program, you may insert `tf.stop_gradient`. This can be useful to silence the error "
                          "in cases where you know gradients are not needed, e.g. the forward pass of "
                          "tf.custom_gradient. Please see more details in "
                          "https://www.tensorflow.org/api_docs/python/tf/custom_gradient.")
    grad.lookup_error = True
    od.grad(grad)
    return od


def static_axes(axes, rank):
    """Reduction axes known at graph-build time, normalized to ``[0, rank)``; None if not static."""
    v = constant_value(axes)
    if v is None or rank is None:
        return None
    return sorted({int(a) % rank if rank else 0 for a in np.reshape(v, [-1])})


def static_shape(t):
    """``t.shape`` as a list if fully defined, else None."""
    return t.shape.as_list() if t.shape.is_fully_defined() else None
