"""Array ops: constants, placeholders, shapes, reshaping and slicing."""
import collections

import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor, Tensor
from deferflow.ops.common import (constant_value, lookup_error_gradient, shape_from_tensor, static_shape,
                                  unchanged_shape)

define = op_registry.define

# ---- Const --------------------------------------------------------------------------------
Const = define("Const", "", "output: dtype", ["value: tensor", "dtype: type"])
Const.shape(lambda op: [ts.TensorShape(op._attrs["value"].shape)])
Const.kernel(lambda *, value: value)
Const.no_gradient()


def _to_numpy(value, dtype=None):
    """TF's constant conversion: Python floats are float32, ints int32 (int64 if too big), str bytes."""
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
    else:
        if isinstance(value, (list, tuple)) and _has_tensor(value):
            raise TypeError("contains tensors")
        try:
            arr = np.asarray(value)
        except ValueError as e:
            raise ValueError(f"Can't convert non-rectangular Python sequence to Tensor: {value!r}") from e
        if arr.dtype == object and not _all_strings(arr):
            raise TypeError(f"Failed to convert object of type {type(value)} to Tensor. Contents: {value!r}. "
                            "Consider casting elements to a supported type.")
        if arr.dtype.kind in "SU":  # NumPy's fixed-width strings drop trailing NULs: keep the Python objects
            arr = np.array(value, dtype=object)
        if dtype is None:
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            elif arr.dtype.kind == "i":
                info = np.iinfo(np.int32)
                arr = arr.astype(np.int32 if arr.size == 0 or info.min <= arr.min() and arr.max() <= info.max
                                 else np.int64)
    if arr.dtype.kind in "SUO":
        if dtype is not None and dtypes.as_dtype(dtype) != dtypes.string:
            raise TypeError(f"Expected {dtypes.as_dtype(dtype).name}, got {value!r} of type "
                            f"'{type(value).__name__}' instead.")
        flat = [x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in arr.reshape(-1).tolist()]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(arr.shape), dtypes.string
    if dtype is None:
        return arr, dtypes.from_numpy(arr.dtype)
    dt = dtypes.as_dtype(dtype).base_dtype
    target = dt.as_numpy_dtype
    if dt == dtypes.string and arr.size == 0:  # [] as a string tensor: no elements to check
        return np.empty(arr.shape, dtype=object), dt
    if dt == dtypes.string:
        raise TypeError(f"Expected string, got {value!r} of type '{type(value).__name__}' instead.")
    if not isinstance(value, (np.ndarray, np.generic)):
        if (dt.is_integer or dt.is_bool) and arr.dtype.kind == "f" and np.any(arr != np.round(arr)):
            raise TypeError(f"Expected {dt.name}, but got {value!r} of type '{type(value).__name__}'.")
        if dt.is_integer and arr.dtype.kind in "iu" and arr.size:
            info = np.iinfo(target)
            if arr.min() < info.min or arr.max() > info.max:
                raise TypeError(f"Value out of range for {dt.name}: {value!r}")
        if not dt.is_complex and arr.dtype.kind == "c":
            raise TypeError(f"Expected {dt.name}, got {value!r} of type 'complex' instead.")
    return arr.astype(target, copy=False), dt


def _all_strings(arr):
    return all(isinstance(x, (str, bytes)) for x in arr.reshape(-1).tolist())


def _has_tensor(seq):
    for x in seq:
        if isinstance(x, Tensor) or hasattr(x, "_as_graph_element"):
            return True
        if isinstance(x, (list, tuple)) and _has_tensor(x):
            return True
    return False


def constant(value, dtype=None, shape=None, name="Const", verify_shape=False):
    """``tf.constant``: a ``Const`` node holding ``value``."""
    arr, dt = _to_numpy(value, dtype)
    if shape is not None:
        shape = [int(d) for d in ts.as_shape(shape).as_list()]
        n = int(np.prod(shape, dtype=np.int64))
        if verify_shape and list(arr.shape) != shape:
            raise TypeError(f"Expected Tensor's shape: {tuple(shape)}, got {arr.shape}.")
        if arr.size == n:
            arr = arr.reshape(shape)
        elif arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=arr.dtype)
        elif arr.size < n:
            arr = np.concatenate([arr.reshape(-1), np.repeat(arr.reshape(-1)[-1:], n - arr.size)]).reshape(shape)
        else:
            raise TypeError(f"Too many elements provided. Needed at most {n}, but received {arr.size}")
    arr = arr.copy() if not arr.flags.c_contiguous or arr.base is not None or arr.flags.writeable else arr
    arr.flags.writeable = False
    return apply_op("Const", name=name, value=arr, dtype=dt)


def _constant_for_conversion(value, dtype, name):
    if isinstance(value, (list, tuple)) and _has_tensor(value):
        return _autopack(value, dtype, name)
    return constant(value, dtype=dtype, name=name)


def _autopack(value, dtype, name):
    """Lists mixing tensors and numbers become a ``Pack`` (as TF converts ``[batch, -1]``)."""
    items = []
    for x in value:
        if isinstance(x, (list, tuple)) and _has_tensor(x):
            items.append(_autopack(x, dtype, None))
        else:
            items.append(x)
    if dtype is None:
        for x in items:
            if isinstance(x, Tensor) or hasattr(x, "_as_graph_element"):
                dtype = convert_to_tensor(x).dtype.base_dtype
                break
    return stack([convert_to_tensor(x, dtype=dtype) for x in items], name=name if name != "Const" else "packed")


ops._constant_fn = _constant_for_conversion

# ---- placeholders, identity ---------------------------------------------------------------
Placeholder = define("Placeholder", "", "output: dtype", ["dtype: type", "shape: shape = None"])
Placeholder.shape(lambda op: [op._attrs["shape"]])


@Placeholder.kernel(ctx=True)
def _placeholder_kernel(ctx, *, dtype):
    raise errors.InvalidArgumentError(
        None, ctx.op, f"You must feed a value for placeholder tensor '{ctx.op.name}' with dtype {dtype.name}"
        + ("" if ctx.op._attrs["shape"].ndims is None else
           f" and shape {_shape_str(ctx.op._attrs['shape'])}"))


Placeholder.no_gradient()


def _shape_str(shape):
    return "[" + ",".join("?" if d is None else str(d) for d in shape.as_list()) + "]"


def placeholder(dtype, shape=None, name=None):
    """``tf.placeholder``: a tensor whose value must be fed."""
    return apply_op("Placeholder", name=name, dtype=dtype, shape=ts.as_shape(shape))


PlaceholderWithDefault = define("PlaceholderWithDefault", "input: dtype", "output: dtype",
                                ["dtype: type", "shape: shape"])
PlaceholderWithDefault.shape(lambda op: [op._attrs["shape"]])
PlaceholderWithDefault.kernel(lambda x: x)
PlaceholderWithDefault.grad(lambda op, g: [g])


def placeholder_with_default(input, shape, name=None):  # noqa: A002 - TF's argument name
    return apply_op("PlaceholderWithDefault", name=name, input=input, shape=ts.as_shape(shape))


Identity = define("Identity", "input: T", "output: T", ["T: type"])
Identity.shape(unchanged_shape)
Identity.kernel(lambda x: x)
Identity.grad(lambda op, g: [g])


def identity(input, name=None):  # noqa: A002
    return apply_op("Identity", name=name, input=input)


StopGradient = define("StopGradient", "input: T", "output: T", ["T: type"])
StopGradient.shape(unchanged_shape)
StopGradient.kernel(lambda x: x)
StopGradient.no_gradient()


def stop_gradient(input, name=None):  # noqa: A002
    return apply_op("StopGradient", name=name, input=input)


# ---- shape ops ----------------------------------------------------------------------------
Shape = define("Shape", "input: T", "output: out_type", ["T: type", "out_type: {int32, int64} = int32"])
Shape.shape(lambda op: [ts.TensorShape([op._inputs[0].shape.ndims])])
Shape.kernel(lambda x, *, out_type: np.array(np.shape(x), dtype=out_type.as_numpy_dtype))
Shape.no_gradient()
ShapeN = define("ShapeN", "input: N * T", "output: N * out_type",
                ["N: int >= 1", "T: type", "out_type: {int32, int64} = int32"])
ShapeN.shape(lambda op: [ts.TensorShape([t.shape.ndims]) for t in op._inputs])
ShapeN.kernel(lambda *xs, out_type: tuple(np.array(np.shape(x), dtype=out_type.as_numpy_dtype) for x in xs))
ShapeN.no_gradient()
Size = define("Size", "input: T", "output: out_type", ["T: type", "out_type: {int32, int64} = int32"])
Size.shape(lambda op: [ts.TensorShape([])])
Size.kernel(lambda x, *, out_type: np.array(np.size(x), dtype=out_type.as_numpy_dtype))
Size.no_gradient()
Rank = define("Rank", "input: T", "output: int32", ["T: type"])
Rank.shape(lambda op: [ts.TensorShape([])])
Rank.kernel(lambda x: np.array(np.ndim(x), dtype=np.int32))
Rank.no_gradient()


def shape(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """``tf.shape``: a Const when the static shape is fully known (as TF builds it), else a ``Shape`` op."""
    with ops.name_scope(name, "Shape", [input]) as scope:
        x = convert_to_tensor(input)
        if x.shape.is_fully_defined():
            return constant(x.shape.as_list(), dtype=out_type, name=scope)
        return apply_op("Shape", name=scope, input=x, out_type=out_type)


def shape_n(input, out_type=dtypes.int32, name=None):  # noqa: A002
    return apply_op("ShapeN", name=name or "ShapeN", input=list(input), out_type=out_type)


def size(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """``tf.size``: a Const when the static shape is fully known, else a ``Size`` op."""
    with ops.name_scope(name, "Size", [input]) as scope:
        x = convert_to_tensor(input)
        if x.shape.is_fully_defined():
            return constant(x.shape.num_elements(), dtype=out_type, name=scope)
        return apply_op("Size", name=scope, input=x, out_type=out_type)


def rank(input, name=None):  # noqa: A002
    """``tf.rank``: a Const when the rank is known, else a ``Rank`` op."""
    with ops.name_scope(name, "Rank", [input]) as scope:
        x = convert_to_tensor(input)
        if x.shape.ndims is not None:
            return constant(x.shape.ndims, dtype=dtypes.int32, name=scope)
        return apply_op("Rank", name=scope, input=x)


Reshape = define("Reshape", "tensor: T, shape: Tshape", "output: T", ["T: type", "Tshape: {int32, int64} = int32"])


@Reshape.shape
def _reshape_shape(op):
    x, s = op._inputs
    target = shape_from_tensor(s)
    if target.ndims is None:
        return [target]
    dims = target.as_list()
    v = constant_value(s)
    if v is not None:
        dims = [int(d) for d in np.reshape(v, [-1])]
        n_in = x.shape.num_elements()
        neg = [i for i, d in enumerate(dims) if d == -1]
        if len(neg) > 1:
            raise ValueError("Cannot infer multiple unknown dimensions in shape")
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        if neg:
            if n_in is not None:
                if known == 0 or n_in % known:
                    raise ValueError(f"Cannot reshape a tensor with {n_in} elements to shape {dims} "
                                     f"({known} elements)")
                dims[neg[0]] = n_in // known
            else:
                dims[neg[0]] = None
        elif n_in is not None and n_in != known:
            raise ValueError(f"Cannot reshape a tensor with {n_in} elements to shape {dims} ({known} elements)")
    return [ts.TensorShape(dims)]


@Reshape.kernel
def _reshape_kernel(x, shape):
    try:
        return np.reshape(x, shape)
    except ValueError:
        raise errors.InvalidArgumentError(
            None, None, f"Input to reshape is a tensor with {np.size(x)} values, but the requested shape has "
                        f"{int(np.prod(shape))}") from None


def reshape(tensor, shape, name=None):
    return apply_op("Reshape", name=name, tensor=tensor, shape=shape)


Fill = define("Fill", "dims: index_type, value: T", "output: T", ["T: type", "index_type: {int32, int64} = int32"])
Fill.shape(lambda op: [shape_from_tensor(op._inputs[0])])
Fill.kernel(lambda dims, value: np.full(dims, value, dtype=value.dtype))
Fill.grad(lambda op, g: [None, _math().reduce_sum(g)])


def _math():
    from deferflow.ops import math_ops  # math_ops imports this module
    return math_ops


def fill(dims, value, name=None):
    return apply_op("Fill", name=name, dims=dims, value=value)


def _zeros_or_ones(shape, dtype, name, default_name, fill_value):
    dtype = dtypes.as_dtype(dtype).base_dtype
    with ops.name_scope(name, default_name, [shape]) as scope:
        if isinstance(shape, ts.TensorShape):
            shape = shape.as_list()
        if not isinstance(shape, Tensor) and not _has_tensor(shape if isinstance(shape, (list, tuple)) else []):
            dims = [int(d) for d in np.reshape(np.asarray(shape, dtype=np.int64), [-1])]
            if int(np.prod(dims, dtype=np.int64)) < 1000:
                return constant(fill_value, dtype=dtype, shape=dims, name=scope)
            shape = constant(dims, dtype=dtypes.int32, name="shape_as_tensor")
        else:
            shape = convert_to_tensor(shape, dtype=dtypes.int32, name="shape_as_tensor")
        return fill(shape, constant(fill_value, dtype=dtype), name=scope)


def zeros(shape, dtype=dtypes.float32, name=None):
    """``tf.zeros``; for strings the zero is the empty string, as in TF."""
    return _zeros_or_ones(shape, dtype, name, "zeros", b"" if dtypes.as_dtype(dtype).base_dtype == dtypes.string
                          else 0)


def ones(shape, dtype=dtypes.float32, name=None):
    return _zeros_or_ones(shape, dtype, name, "ones", 1)


ZerosLike = define("ZerosLike", "x: T", "y: T", ["T: type"])
ZerosLike.shape(unchanged_shape)
ZerosLike.kernel(lambda x: np.zeros_like(x))
ZerosLike.no_gradient()

OnesLike = define("OnesLike", "x: T", "y: T", ["T: type"])
OnesLike.shape(unchanged_shape)
OnesLike.kernel(lambda x: np.ones_like(x))
OnesLike.no_gradient()


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    tensor = convert_to_tensor(tensor)
    with ops.name_scope(name, "zeros_like", [tensor]) as scope:
        if dtype is not None and dtypes.as_dtype(dtype) != tensor.dtype.base_dtype:
            return zeros(shape(tensor), dtype, name=scope)
        if optimize and tensor.shape.is_fully_defined() and tensor.dtype.base_dtype != dtypes.variant:
            return zeros(tensor.shape.as_list(), tensor.dtype.base_dtype, name=scope)
        return apply_op("ZerosLike", name=scope, x=tensor)


def ones_like(tensor, dtype=None, name=None, optimize=True):
    tensor = convert_to_tensor(tensor)
    with ops.name_scope(name, "ones_like", [tensor]) as scope:
        if optimize and tensor.shape.is_fully_defined():
            s = constant(tensor.shape.as_list(), dtype=dtypes.int32, name="Shape/shape_as_tensor")
        else:
            s = shape(tensor)
        return fill(s, constant(1, dtype=dtype or tensor.dtype.base_dtype), name=scope)


Pack = define("Pack", "values: N * T", "output: T", ["N: int >= 1", "T: type", "axis: int = 0"])


@Pack.shape
def _pack_shape(op):
    s = ts.unknown_shape()
    for t in op._inputs:
        s = s.merge_with(t.shape)
    if s.ndims is None:
        return [s]
    dims = s.as_list()
    axis = op._attrs["axis"]
    if axis < 0:
        axis += len(dims) + 1
    dims.insert(axis, len(op._inputs))
    return [ts.TensorShape(dims)]


Pack.kernel(lambda *values, axis: np.stack(values, axis=axis))


def stack(values, axis=0, name="stack"):
    """``tf.stack`` (``Pack``); an all-constant list along axis 0 becomes one Const, as in TF."""
    if isinstance(values, Tensor):
        values = unstack(values)
    values = list(values)
    if axis == 0 and not _has_tensor(values):  # TF folds all-constant stacks into one Const
        try:
            return constant(values, name=name)
        except (TypeError, ValueError):
            pass
    first = convert_to_tensor(values[0], name=name)  # as TF does (a Const here takes the name "stack")
    if first.shape.ndims is not None:
        n = first.shape.ndims + 1
        if not -n <= axis < n:
            raise ValueError(f"Argument `axis` = {axis} not in range [{-n}, {n})")
    return apply_op("Pack", name=name, values=[first] + values[1:], axis=axis)


Cast = define("Cast", "x: SrcT", "y: DstT", ["SrcT: type", "DstT: type", "Truncate: bool = false"])
Cast.shape(unchanged_shape)
Cast.kernel(lambda x, *, DstT: np.asarray(x).astype(DstT.as_numpy_dtype))


def cast(x, dtype, name=None):
    """``tf.cast``; a no-op (returns ``x``) when the dtype already matches, as in TF."""
    dtype = dtypes.as_dtype(dtype).base_dtype
    x = convert_to_tensor(x)
    if x.dtype.base_dtype == dtype:
        return x
    with ops.name_scope(name, "Cast", [x]) as scope:
        return apply_op("Cast", name=scope, x=x, DstT=dtype)


# ---- slicing ------------------------------------------------------------------------------
_SS_MASKS = ["begin_mask: int = 0", "end_mask: int = 0", "ellipsis_mask: int = 0", "new_axis_mask: int = 0",
             "shrink_axis_mask: int = 0"]
_MASK_NAMES = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
StridedSlice = define("StridedSlice", "input: T, begin: Index, end: Index, strides: Index", "output: T",
                      ["T: type", "Index: {int16, int32, int64}"] + _SS_MASKS)
StridedSliceGrad = define("StridedSliceGrad", "shape: Index, begin: Index, end: Index, strides: Index, dy: T",
                          "output: T", ["T: type", "Index: {int32, int64}"] + _SS_MASKS)


def _masks(op):
    return {k: op._attrs[k] for k in _MASK_NAMES}


def _slice_spec(begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask):
    """The NumPy index equivalent to a StridedSlice's sparse spec (entries of ``begin`` may be None: unknown)."""
    spec = []
    for i in range(len(begin)):
        bit = 1 << i
        if ellipsis_mask & bit:
            spec.append(Ellipsis)
        elif new_axis_mask & bit:
            spec.append(np.newaxis)
        elif shrink_axis_mask & bit:
            if strides[i] is not None and int(strides[i]) != 1:
                raise ValueError("only stride 1 allowed on non-range indexing.")
            spec.append(_UNKNOWN_INDEX if begin[i] is None else int(begin[i]))
        else:
            if strides[i] is not None and int(strides[i]) == 0:
                raise ValueError("strides[%d] must be non-zero" % i)
            spec.append(slice(None if begin_mask & bit else _maybe_int(begin[i]),
                              None if end_mask & bit else _maybe_int(end[i]), _maybe_int(strides[i])))
    return tuple(spec)


_UNKNOWN_INDEX = object()
_UNKNOWN = object()


def _maybe_int(v):
    return _UNKNOWN if v is None else int(v)


@StridedSlice.kernel
def _strided_slice_kernel(x, begin, end, strides, *, begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                          shrink_axis_mask):
    try:
        spec = _slice_spec(begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask)
        return np.asarray(x[spec], dtype=x.dtype)  # (object dtype: a bytes element stays whole)
    except (IndexError, ValueError) as e:
        raise errors.InvalidArgumentError(None, None, f"slice index out of bounds: {e}") from None


def _partial_values(t):
    """Element values of a 1-D index tensor known at build time (None where unknown); None if its length is unknown."""
    v = constant_value(t)
    if v is not None:
        return [int(x) for x in np.reshape(v, [-1])]
    if t.op.type == "Pack" and t.op._attrs["axis"] == 0:
        out = []
        for x in t.op._inputs:
            xv = constant_value(x)
            out.append(None if xv is None or np.ndim(xv) else int(xv))
        return out
    if t.shape.ndims == 1 and t.shape[0].value is not None:
        return [None] * t.shape[0].value
    return None


def _sliced_shape(dims, spec):
    """Static output dims of ``x[spec]`` for input dims (None = unknown)."""
    n_real = sum(1 for p in spec if p is not None and p is not Ellipsis)
    full = []
    for p in spec:
        full.extend([slice(None)] * (len(dims) - n_real) if p is Ellipsis else [p])
    if Ellipsis not in spec:
        full.extend([slice(None)] * (len(dims) - n_real))
    out, d = [], 0
    for p in full:
        if p is None:
            out.append(1)
            continue
        if d >= len(dims):
            raise ValueError(f"Index out of range using input dim {d}")
        size = dims[d]
        d += 1
        if p is _UNKNOWN_INDEX:
            continue
        if isinstance(p, int):
            if size is not None and not -size <= p < size:
                raise ValueError(f"slice index {p} of dimension {d - 1} out of bounds.")
            continue
        parts = (p.start, p.stop, p.step)
        if size is None or any(x is _UNKNOWN for x in parts):
            full_dim = p.start is None and p.stop is None and p.step in (1, -1)
            out.append(size if full_dim else None)
        else:
            out.append(len(range(*p.indices(size))))
    return out


@StridedSlice.shape
def _strided_slice_shape(op):
    x, b, e, s = op._inputs
    bv, ev, sv = _partial_values(b), _partial_values(e), _partial_values(s)
    if bv is None or ev is None or sv is None or x.shape.ndims is None:
        return [ts.unknown_shape()]
    spec = _slice_spec(bv, ev, sv, **_masks(op))
    return [ts.TensorShape(_sliced_shape(x.shape.as_list(), spec))]


@StridedSlice.grad
def _strided_slice_grad(op, g):
    x, b, e, s = op.inputs
    xs = shape(x, out_type=b.dtype.base_dtype)
    args = [xs, b, e, s]
    args = [a if constant_value(a) is None else constant_value(a) for a in args]  # static: Consts in the op scope
    return [apply_op("StridedSliceGrad", shape=args[0], begin=args[1], end=args[2], strides=args[3], dy=g,
                     **_masks(op)), None, None, None]


@StridedSliceGrad.kernel
def _strided_slice_grad_kernel(shape, begin, end, strides, dy, *, begin_mask, end_mask, ellipsis_mask,
                               new_axis_mask, shrink_axis_mask):
    spec = _slice_spec(begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask)
    out = np.zeros([int(d) for d in shape], dtype=dy.dtype)
    out[spec] = dy
    return out


StridedSliceGrad.shape(lambda op: [shape_from_tensor(op._inputs[0])])
StridedSliceGrad.grad(lambda op, g: [None, None, None, None, strided_slice(
    g, op.inputs[1], op.inputs[2], op.inputs[3], **_masks(op))])


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                  shrink_axis_mask=0, var=None, name=None):
    """``tf.strided_slice``: the op behind ``tensor[...]``."""
    if strides is None:
        strides = [1] * len(begin) if not isinstance(begin, Tensor) else ones_like(begin)
    return apply_op("StridedSlice", name=name or "StridedSlice", input=input_, begin=begin, end=end,
                    strides=strides, begin_mask=begin_mask, end_mask=end_mask, ellipsis_mask=ellipsis_mask,
                    new_axis_mask=new_axis_mask, shrink_axis_mask=shrink_axis_mask)


def _check_index(idx):
    if isinstance(idx, (int, np.integer)) and not isinstance(idx, (bool, np.bool_)):
        return
    if (isinstance(idx, Tensor) and idx.dtype.base_dtype in (dtypes.int32, dtypes.int64)
            and idx.shape.ndims in (0, None)):
        return
    raise TypeError("Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and scalar tf.int32/tf.int64 "
                    f"tensors are valid indices, got {idx!r}")


def _slice_helper(tensor, slice_spec, var=None):
    """``Tensor.__getitem__``: ints, slices, Ellipsis, newaxis, scalar int tensors and boolean masks, as TF."""
    if (isinstance(slice_spec, (bool, np.bool_)) or isinstance(slice_spec, Tensor) and
            slice_spec.dtype.base_dtype == dtypes.bool or isinstance(slice_spec, np.ndarray) and
            slice_spec.dtype == bool):
        return boolean_mask(tensor=tensor, mask=slice_spec)
    if not isinstance(slice_spec, (list, tuple)):
        slice_spec = [slice_spec]
    begin, end, strides = [], [], []
    begin_mask = end_mask = ellipsis_mask = new_axis_mask = shrink_axis_mask = 0
    for i, s in enumerate(slice_spec):
        if isinstance(s, slice):
            for v in (s.start, s.stop, s.step):
                if v is not None:
                    _check_index(v)
            begin.append(0 if s.start is None else s.start)
            end.append(0 if s.stop is None else s.stop)
            strides.append(1 if s.step is None else s.step)
            if s.start is None:
                begin_mask |= 1 << i
            if s.stop is None:
                end_mask |= 1 << i
        elif s is Ellipsis:
            begin.append(0), end.append(0), strides.append(1)
            ellipsis_mask |= 1 << i
        elif s is np.newaxis:
            begin.append(0), end.append(0), strides.append(1)
            new_axis_mask |= 1 << i
        else:
            _check_index(s)
            begin.append(s)
            end.append(s + 1)
            strides.append(1)
            shrink_axis_mask |= 1 << i
    with ops.name_scope(None, "strided_slice", [tensor]) as name:
        if begin:
            packed = [stack(begin, name="stack"), stack(end, name="stack_1"), stack(strides, name="stack_2")]
        else:
            packed = [constant(np.zeros([0], np.int32), name=n) for n in ("stack", "stack_1", "stack_2")]
        return strided_slice(tensor, packed[0], packed[1], packed[2], begin_mask=begin_mask, end_mask=end_mask,
                             ellipsis_mask=ellipsis_mask, new_axis_mask=new_axis_mask,
                             shrink_axis_mask=shrink_axis_mask, name=name)


Tensor.__getitem__ = _slice_helper
newaxis = None

Slice = define("Slice", "input: T, begin: Index, size: Index", "output: T", ["T: type", "Index: {int32, int64}"])


@Slice.shape
def _slice_shape(op):
    x, b, s = op._inputs
    bv, sv = _partial_values(b), _partial_values(s)
    if x.shape.ndims is None:
        n = len(sv) if sv is not None else (len(bv) if bv is not None else None)
        return [ts.unknown_shape(n)]
    if sv is None:
        return [ts.unknown_shape(x.shape.ndims)]
    if len(sv) != x.shape.ndims:
        raise ValueError(f"Shape must be rank {x.shape.ndims} but is rank {len(sv)}")
    out = []
    for i, (d, sz) in enumerate(zip(x.shape.as_list(), sv)):
        b_i = bv[i] if bv is not None else None
        if sz is None:
            out.append(None)
        elif sz == -1:
            out.append(None if d is None or b_i is None else d - b_i)
        else:
            out.append(sz)
    return [ts.TensorShape(out)]


@Slice.kernel
def _slice_kernel(x, begin, size):
    if len(begin) != x.ndim or len(size) != x.ndim:
        raise errors.InvalidArgumentError(None, None, f"Expected begin and size arguments to be 1-D tensors of size "
                                          f"{x.ndim}, but got shapes {list(begin.shape)} and {list(size.shape)}")
    spec = []
    for i, (b, s) in enumerate(zip(begin.tolist(), size.tolist())):
        s = x.shape[i] - b if s == -1 else s
        if not (0 <= b <= x.shape[i] and 0 <= s and b + s <= x.shape[i]):
            raise errors.InvalidArgumentError(None, None, f"Expected size[{i}] in [0, {x.shape[i] - b}], "
                                              f"but got {s}")
        spec.append(slice(b, b + s))
    return x[tuple(spec)]


@Slice.grad
def _slice_grad(op, g):
    x, begin = op.inputs[0], op.inputs[1]
    xs, bv, ys = static_shape(x), constant_value(begin), static_shape(op.outputs[0])
    if xs is not None and bv is not None and ys is not None:
        pads = [[int(b), d - int(b) - s] for b, d, s in zip(bv, xs, ys)]
        return [pad(g, pads), None, None]
    before = reshape(begin, stack([rank(x), 1]))
    after = reshape(shape(x, out_type=begin.dtype.base_dtype) - shape(op.outputs[0], out_type=begin.dtype.base_dtype)
                    - begin, stack([rank(x), 1]))
    return [pad(g, concat([before, after], 1)), None, None]


def slice_(input_, begin, size, name=None):
    """``tf.slice``: ``size`` elements from ``begin`` (``-1`` = to the end)."""
    return apply_op("Slice", name=name or "Slice", input=input_, begin=begin, size=size)


# ---- masks and gathers -----------------------------------------------------------------------
Where = define("Where", "input: T", "index: int64", ["T: {float, double, int32, uint8, int16, int8, complex64, "
               "int64, bfloat16, uint16, complex128, half, uint32, uint64, bool} = bool"])
Where.shape(lambda op: [ts.TensorShape([None, op._inputs[0].shape.ndims])])
Where.kernel(lambda x: np.argwhere(x).astype(np.int64))
Where.no_gradient()

GatherV2 = define("GatherV2", "params: Tparams, indices: Tindices, axis: Taxis", "output: Tparams",
                  ["batch_dims: int = 0", "Tparams: type", "Tindices: {int16, int32, int64}",
                   "Taxis: {int32, int64}"])
Gather = define("Gather", "params: Tparams, indices: Tindices", "output: Tparams",
                ["validate_indices: bool = true", "Tparams: type", "Tindices: {int32, int64}"])


@GatherV2.shape
def _gather_shape(op):
    p, i = op._inputs[0], op._inputs[1]
    av = constant_value(op._inputs[2]) if len(op._inputs) > 2 else 0
    if av is None or p.shape.ndims is None or i.shape.ndims is None:
        return [ts.unknown_shape()]
    if not -p.shape.ndims <= int(av) < max(p.shape.ndims, 1):
        raise ValueError(f"Shape must be at least rank {int(av) + 1} but is rank {p.shape.ndims}")
    axis = int(av) % max(p.shape.ndims, 1)
    bd = op._attrs.get("batch_dims", 0)
    dims = p.shape.as_list()
    return [ts.TensorShape(dims[:axis] + i.shape.as_list()[bd:] + dims[axis + 1:])]


def _check_gather_indices(indices, n):
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        flat = indices.reshape(-1)
        pos = int(np.argmax((flat < 0) | (flat >= n)))
        raise errors.InvalidArgumentError(None, None, f"indices[{pos}] = {flat[pos]} is not in [0, {n})")


@GatherV2.kernel
def _gather_kernel(params, indices, axis, *, batch_dims):
    axis = int(axis)
    if not -params.ndim <= axis < max(params.ndim, 1):
        raise errors.InvalidArgumentError(None, None, f"Expected axis in the range [{-params.ndim}, "
                                          f"{params.ndim}), but got {axis}")
    axis %= max(params.ndim, 1)
    _check_gather_indices(indices, params.shape[axis])
    if batch_dims == 0:
        return np.take(params, indices, axis=axis)
    bd = batch_dims % max(indices.ndim, 1) if batch_dims < 0 else batch_dims
    lead = params.shape[:bd]
    p = params.reshape((-1,) + params.shape[bd:])
    i = indices.reshape((-1,) + indices.shape[bd:])
    out = np.stack([np.take(pp, ii, axis=axis - bd) for pp, ii in zip(p, i)])
    return out.reshape(lead + out.shape[1:])


Gather.shape(_gather_shape)


@Gather.kernel
def _gather_v1_kernel(params, indices):
    _check_gather_indices(indices, params.shape[0])
    return np.take(params, indices, axis=0)


def _gather_grad(op, g):
    from deferflow.ops import math_ops
    params, indices = op.inputs[0], op.inputs[1]
    axis = constant_value(op.inputs[2]) if op.type == "GatherV2" else 0
    if op._attrs.get("batch_dims", 0) != 0 or axis is None:
        raise NotImplementedError(f"gradient of {op.type} '{op.name}' with batch_dims or a computed axis")
    axis = int(axis)
    if axis == 0:  # rows of params: an IndexedSlices, as TF builds it
        from deferflow.framework.indexed_slices import IndexedSlices
        grad = IndexedSlices(*rows_gradient(g, indices, shape(params)))
        return [grad, None, None] if op.type == "GatherV2" else [grad, None]
    p_shape = shape(params)
    pv = static_shape(params)
    ids = reshape(indices, [-1])
    p_rank, i_rank = params.shape.ndims, indices.shape.ndims
    if p_rank is None or i_rank is None:
        raise NotImplementedError(f"gradient of {op.type} '{op.name}' along axis {axis} needs known ranks")
    axis %= p_rank
    g_rank = p_rank - 1 + i_rank
    perm = list(range(axis, axis + i_rank)) + list(range(axis)) + list(range(axis + i_rank, g_rank))
    moved = transpose(g, perm)
    outer = [d for i, d in enumerate(pv) if i != axis] if pv is not None else None
    if outer is not None:
        values, num = reshape(moved, [-1] + outer), pv[axis]
    else:
        rest = concat([slice_(p_shape, [0], [axis]), slice_(p_shape, [axis + 1], [-1])], 0)
        values, num = reshape(moved, concat([[-1], rest], 0)), gather(p_shape, axis)
    summed = math_ops.unsorted_segment_sum(values, ids, num)
    back = list(range(1, axis + 1)) + [0] + list(range(axis + 1, p_rank))
    return [transpose(summed, back), None, None]


GatherV2.grad(_gather_grad)
Gather.grad(_gather_grad)


def rows_gradient(g, indices, params_shape):
    """(values, indices, dense_shape) of the IndexedSlices gradient of an axis-0 gather of ``indices``
    from params shaped ``params_shape``: ``g`` reshaped to one row per index."""
    n = expand_dims(size(indices), 0)
    values = reshape(convert_to_tensor(g), concat([n, params_shape[1:]], 0))
    return values, reshape(indices, n), params_shape


def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """``tf.gather`` (``GatherV2``); the gradient of an axis-0 gather is an IndexedSlices. Rows of a resource
    variable are its ``sparse_read`` (``ResourceGather``), as in TF."""
    if axis is None:
        axis = batch_dims
    if batch_dims == 0 and constant_value(axis) == 0 and hasattr(params, "sparse_read") and \
            getattr(params, "_is_resource", False):
        return params.sparse_read(indices, name=name)
    return apply_op("GatherV2", name=name or "GatherV2", params=params, indices=indices, axis=axis,
                    batch_dims=batch_dims)


GatherNd = define("GatherNd", "params: Tparams, indices: Tindices", "output: Tparams",
                  ["Tparams: type", "Tindices: {int16, int32, int64}", "bad_indices_policy: string = ''"])
ScatterNd = define("ScatterNd", "indices: Tindices, updates: T, shape: Tindices", "output: T",
                   ["T: type", "Tindices: {int16, int32, int64}", "bad_indices_policy: string = ''"])


@GatherNd.shape
def _gather_nd_shape(op):
    p, i = op._inputs[0].shape, op._inputs[1].shape
    if p.ndims is None or i.ndims is None or i[-1].value is None:
        return [ts.unknown_shape()]
    depth = i[-1].value
    if depth > p.ndims:
        raise ValueError(f"indices.shape[-1] must be <= params.rank, but saw indices shape: {i} and params shape: {p}")
    return [ts.TensorShape(i.as_list()[:-1] + p.as_list()[depth:])]


def _nd_index(indices, shape, what):
    depth = indices.shape[-1]
    flat = indices.reshape(-1, depth)
    bad = np.any((flat < 0) | (flat >= np.asarray(shape[:depth])), axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        raise errors.InvalidArgumentError(None, None, f"indices[{k}] = {flat[k].tolist()} does not index into "
                                          f"{what} shape {list(shape)}")
    return tuple(np.moveaxis(indices, -1, 0))


@GatherNd.kernel
def _gather_nd_kernel(params, indices):
    return np.asarray(params[_nd_index(indices, params.shape, "param")], dtype=params.dtype)


@ScatterNd.shape
def _scatter_nd_shape(op):
    return [shape_from_tensor(op._inputs[2])]


@ScatterNd.kernel
def _scatter_nd_kernel(indices, updates, shape):
    out = np.zeros([int(d) for d in shape], dtype=updates.dtype)
    np.add.at(out, _nd_index(indices, out.shape, "output"), updates)  # duplicates accumulate, as in TF
    return out


GatherNd.grad(lambda op, g: [scatter_nd(op.inputs[1], g, shape(op.inputs[0], out_type=op.inputs[1].dtype.base_dtype)),
                             None])
ScatterNd.grad(lambda op, g: [None, gather_nd(g, op.inputs[0]), None])


def gather_nd(params, indices, name=None, batch_dims=0):
    """``tf.gather_nd``; with ``batch_dims`` the leading dims index in step, built from ops as TF builds it."""
    if isinstance(batch_dims, int) and batch_dims == 0:
        return apply_op("GatherNd", name=name or "GatherNd", params=params, indices=indices)
    with ops.name_scope(name, "GatherNd", [params, indices]):
        return _batch_gather_nd(convert_to_tensor(params), convert_to_tensor(indices), batch_dims)


def _batch_gather_nd(params, indices, batch_dims):
    """gather_nd over [b1..bM, ...] params with [b1..bM, i1..iK, C] indices: each batch position's own
    indices, prefixed with that position's coordinates, into one plain gather_nd."""
    from deferflow.ops import math_ops
    if not isinstance(batch_dims, int) or batch_dims < 0:
        raise ValueError(f"batch_dims must be a non-negative int for gather_nd, got {batch_dims!r}")
    if indices.shape.ndims is None:
        raise ValueError("gather_nd with batch_dims needs indices of known rank")
    if batch_dims >= indices.shape.ndims:
        raise ValueError(f"batch_dims = {batch_dims} must be less than rank(indices) = {indices.shape.ndims}")
    idx_dtype = indices.dtype.base_dtype
    params_shape, indices_shape = shape(params, out_type=idx_dtype), shape(indices, out_type=idx_dtype)
    batch_shape = params_shape[:batch_dims]
    batch_size = math_ops.reduce_prod(batch_shape)
    inner_ndims = indices.shape.ndims - batch_dims - 1
    ranges = [math_ops.range_(0, d, dtype=idx_dtype) for d in unstack(batch_shape, num=batch_dims, axis=0)]
    grid = transpose(stack([reshape(m, [-1]) for m in meshgrid(*ranges, indexing="ij")], axis=0))
    grid_shape = shape(grid, out_type=idx_dtype)
    grid = reshape(grid, concat([grid_shape[:1], ones([inner_ndims], dtype=idx_dtype), grid_shape[1:]], 0))
    grid = tile(grid, concat([[1], indices_shape[batch_dims:-1], [1]], 0))
    flat = reshape(indices, concat([[batch_size], indices_shape[batch_dims:]], 0))
    out = apply_op("GatherNd", params=params, indices=concat([grid, flat], -1))
    return reshape(out, concat([batch_shape, shape(out, out_type=idx_dtype)[1:]], 0))


def scatter_nd(indices, updates, shape, name=None):  # noqa: A002 - TF's argument name
    return apply_op("ScatterNd", name=name or "ScatterNd", indices=indices, updates=updates, shape=shape)


def boolean_mask(tensor, mask, name="boolean_mask", axis=None):
    """``tf.boolean_mask``, built as TF builds it: flatten the masked dims, ``Where``, ``GatherV2``."""
    with ops.name_scope(name, values=[tensor, mask]):
        tensor = convert_to_tensor(tensor, name="tensor")
        mask = convert_to_tensor(mask, name="mask")
        shape_mask = mask.shape
        ndims_mask = shape_mask.ndims
        shape_tensor = tensor.shape
        if ndims_mask == 0:
            raise ValueError("mask cannot be scalar.")
        if ndims_mask is None:
            raise ValueError("Number of mask dimensions must be specified, even if some dimensions are None. "
                             "E.g. shape=[None] is ok, but shape=None is not.")
        axis = 0 if axis is None else axis
        av = constant_value(axis)
        if av is not None:
            axis = int(av)
            shape_tensor[axis:axis + ndims_mask].assert_is_compatible_with(shape_mask)
        leading_size = apply_op("Prod", input=shape(tensor)[axis:axis + ndims_mask], reduction_indices=[0])
        tensor = reshape(tensor, concat([shape(tensor)[:axis], [leading_size], shape(tensor)[axis + ndims_mask:]],
                                        0))
        if shape_tensor.ndims is not None:
            first_dim = shape_tensor[axis:axis + ndims_mask].num_elements()
            tensor.set_shape(shape_tensor[:axis].concatenate([first_dim]).concatenate(
                shape_tensor[axis + ndims_mask:]))
        mask = reshape(mask, [-1])
        return gather(tensor, squeeze(_math().where(mask), axis=[1]), axis=axis)


# ---- concat / split / stack ---------------------------------------------------------------------
ConcatV2 = define("ConcatV2", "values: N * T, axis: Tidx", "output: T",
                  ["N: int >= 2", "T: type", "Tidx: {int32, int64} = int32"])
Concat = define("Concat", "concat_dim: int32, values: N * T", "output: T", ["N: int >= 2", "T: type"])


def _concat_static_shape(vals, axis_t):
    av = constant_value(axis_t)
    rank = next((v.shape.ndims for v in vals if v.shape.ndims is not None), None)
    if rank is None:
        return ts.unknown_shape()
    if av is None:
        return ts.unknown_shape(rank)
    a = int(av)
    if not -rank <= a < rank:
        raise ValueError(f"ConcatOp : Expected concatenating dimensions in the range [{-rank}, {rank}), but got {a}")
    a %= rank
    dims = [None] * rank
    total = 0
    for v in vals:
        if v.shape.ndims is None:
            total = None
            continue
        if v.shape.ndims != rank:
            raise ValueError(f"Shape must be rank {rank} but is rank {v.shape.ndims}")
        for i, d in enumerate(v.shape.as_list()):
            if i == a:
                total = None if total is None or d is None else total + d
            elif dims[i] is None:
                dims[i] = d
            elif d is not None and d != dims[i]:
                raise ValueError(f"Dimension {i} in both shapes must be equal, but are {dims[i]} and {d}. Shapes "
                                 f"are {vals[0].shape} and {v.shape}.")
    dims[a] = total
    return ts.TensorShape(dims)


def _concat_kernel(values, axis):
    a = int(axis)
    r = values[0].ndim
    if not -r <= a < max(r, 1):
        raise errors.InvalidArgumentError(None, None, f"ConcatOp : Expected concatenating dimensions in the range "
                                          f"[{-r}, {r}), but got {a}")
    try:
        return np.concatenate(values, axis=a)
    except ValueError:
        raise errors.InvalidArgumentError(None, None, "ConcatOp : Dimension mismatch in inputs: " +
                                          ", ".join(str(list(v.shape)) for v in values)) from None


ConcatV2.shape(lambda op: [_concat_static_shape(op._inputs[:-1], op._inputs[-1])])
ConcatV2.kernel(lambda *args: _concat_kernel(args[:-1], args[-1]))
Concat.shape(lambda op: [_concat_static_shape(op._inputs[1:], op._inputs[0])])
Concat.kernel(lambda dim, *values: _concat_kernel(values, dim))


ConcatOffset = define("ConcatOffset", "concat_dim: int32, shape: N * shape_type", "offset: N * shape_type",
                      ["N: int >= 2", "shape_type: {int32, int64} = int32"])
ConcatOffset.shape(lambda op: [t.shape for t in op._inputs[1:]])
ConcatOffset.no_gradient()


@ConcatOffset.kernel
def _concat_offset_kernel(dim, *shapes):
    a = int(dim)
    out, pos = [], 0
    for s in shapes:
        o = np.zeros_like(s)
        o[a] = pos
        pos += int(s[a])
        out.append(o)
    return tuple(out)


def _concat_grad_parts(values, axis_t, g):
    """Slices a concat's gradient back into one piece per input (TF's ConcatOffset + Slice)."""
    dim = axis_t % rank(values[0])
    sizes = [shape(v) for v in values]
    if not all(s.op.type == "Const" for s in sizes):
        sizes = shape_n(values)
    if len(sizes) > 16:  # TF switches to one split for many inputs
        sizes = squeeze(slice_(stack(sizes, axis=1), stack([dim, 0]), [1, -1]))
        return split(g, sizes, dim, num=len(values))
    offsets = apply_op("ConcatOffset", concat_dim=dim, shape=sizes)
    return [slice_(g, b, s) for b, s in zip(offsets, sizes)]


ConcatV2.grad(lambda op, g: _concat_grad_parts(op.inputs[:-1], op.inputs[-1], g) + [None])
Concat.grad(lambda op, g: [None] + _concat_grad_parts(op.inputs[1:], op.inputs[0], g))


def concat(values, axis, name="concat"):
    """``tf.concat`` (``ConcatV2``); one value is passed through an Identity, as in TF."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(values) == 1:
        with ops.name_scope(name) as scope:
            convert_to_tensor(axis, name="concat_dim", dtype=dtypes.int32)
            return identity(values[0], name=name)  # TF names it "concat/concat"
    return apply_op("ConcatV2", name=name, values=values, axis=axis)


Unpack = define("Unpack", "value: T", "output: num * T", ["num: int >= 0", "T: type", "axis: int = 0"])


@Unpack.shape
def _unpack_shape(op):
    s = op._inputs[0].shape
    n, axis = op._attrs["num"], op._attrs["axis"]
    if s.ndims is None:
        return [ts.unknown_shape()] * n
    if not -s.ndims <= axis < s.ndims:
        raise ValueError(f"Dimension must be in range [{-s.ndims}, {s.ndims}), but is {axis}")
    dims = s.as_list()
    del dims[axis % s.ndims]
    return [ts.TensorShape(dims)] * n


@Unpack.kernel
def _unpack_kernel(x, *, axis, num):
    if x.shape[axis] != num:
        raise errors.InvalidArgumentError(None, None, f"Input shape axis {axis} must equal {num}, got shape "
                                          f"{list(x.shape)}")
    return tuple(np.take(x, i, axis=axis) for i in range(num))


Pack.grad(lambda op, g: unstack(g, num=op._attrs["N"], axis=op._attrs["axis"]))
Unpack.grad(lambda op, *gs: [stack(list(gs), axis=op._attrs["axis"])])


def unstack(value, num=None, axis=0, name="unstack"):
    """``tf.unstack`` (``Unpack``): a list of the slices along ``axis``."""
    value = convert_to_tensor(value)
    if num is None:
        s = value.shape
        if s.ndims is None:
            raise ValueError(f"Cannot infer argument `num` from shape {s}")
        if not -s.ndims <= axis < s.ndims:
            raise ValueError(f"Argument `axis` = {axis} not in range [{-s.ndims}, {s.ndims})")
        num = s[axis].value
        if num is None:
            raise ValueError(f"Cannot infer argument `num` from shape {s}")
    out = apply_op("Unpack", name=name, value=value, num=num, axis=axis)
    return out


Split = define("Split", "split_dim: int32, value: T", "output: num_split * T", ["num_split: int >= 1", "T: type"])
SplitV = define("SplitV", "value: T, size_splits: Tlen, split_dim: int32", "output: num_split * T",
                ["num_split: int >= 1", "T: type", "Tlen: {int8, int32, int64} = int64"])


@Split.shape
def _split_shape(op):
    dim_t, x = op._inputs
    n = op._attrs["num_split"]
    av = constant_value(dim_t)
    if x.shape.ndims is None:
        return [ts.unknown_shape()] * n
    if av is None:
        return [ts.unknown_shape(x.shape.ndims)] * n
    a = int(av) % x.shape.ndims
    dims = x.shape.as_list()
    if dims[a] is not None:
        if dims[a] % n:
            raise ValueError(f"Dimension size must be evenly divisible by {n} but is {dims[a]}")
        dims[a] //= n
    return [ts.TensorShape(dims)] * n


@Split.kernel
def _split_kernel(dim, x, *, num_split):
    a = int(dim)
    if not -x.ndim <= a < x.ndim:
        raise errors.InvalidArgumentError(None, None, f"-input rank(-{x.ndim}) <= split_dim < input rank ({x.ndim})"
                                          f", but got {a}")
    if x.shape[a] % num_split:
        raise errors.InvalidArgumentError(None, None, f"Number of ways to split should evenly divide the split "
                                          f"dimension, but got split_dim {a} (size = {x.shape[a]}) and num_split "
                                          f"{num_split}")
    return tuple(np.split(x, num_split, axis=a))


def _resolved_sizes(sizes, total):
    sizes = list(sizes)
    if sizes.count(-1) > 1:
        raise ValueError("Only one dimension in size_splits can be -1")
    if -1 in sizes and total is not None:
        sizes[sizes.index(-1)] = total - (sum(sizes) + 1)
    return sizes


@SplitV.shape
def _splitv_shape(op):
    x, sz, dim_t = op._inputs
    n = op._attrs["num_split"]
    av, sv = constant_value(dim_t), constant_value(sz)
    if x.shape.ndims is None:
        return [ts.unknown_shape()] * n
    if av is None or sv is None:
        return [ts.unknown_shape(x.shape.ndims)] * n
    a = int(av) % x.shape.ndims
    dims = x.shape.as_list()
    sizes = _resolved_sizes([int(v) for v in sv], dims[a])
    if dims[a] is not None and -1 not in sizes and sum(sizes) != dims[a]:
        raise ValueError(f"Determined shape must either match input shape along split_dim exactly if fully "
                         f"specified, or be less than the size of the input along split_dim if not fully specified."
                         f"  Got: {sum(sizes)}")
    return [ts.TensorShape(dims[:a] + [None if s == -1 else s] + dims[a + 1:]) for s in sizes]


@SplitV.kernel
def _splitv_kernel(x, sizes, dim, *, num_split):
    a = int(dim)
    if not -x.ndim <= a < x.ndim:
        raise errors.InvalidArgumentError(None, None, f"-input rank(-{x.ndim}) <= split_dim < input rank ({x.ndim})"
                                          f", but got {a}")
    try:
        sizes = _resolved_sizes([int(s) for s in sizes], x.shape[a])
    except ValueError as e:
        raise errors.InvalidArgumentError(None, None, str(e)) from None
    if len(sizes) != num_split or sum(sizes) != x.shape[a] or min(sizes, default=0) < 0:
        raise errors.InvalidArgumentError(None, None, f"Determined shape must either match input shape along "
                                          f"split_dim exactly if fully specified, or be less than the size of the "
                                          f"input along split_dim if not fully specified.  Got: {sum(sizes)}")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=a))


Split.grad(lambda op, *gs: [None, concat(list(gs), op.inputs[0])])
SplitV.grad(lambda op, *gs: [concat(list(gs), op.inputs[2]), None, None])


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """``tf.split``: ``Split`` for a number of equal pieces, ``SplitV`` for a list of sizes."""
    if isinstance(num_or_size_splits, (int, np.integer, ts.Dimension)) and not isinstance(num_or_size_splits, bool):
        return apply_op("Split", name=name, split_dim=axis, value=value, num_split=int(num_or_size_splits))
    size_splits = convert_to_tensor(num_or_size_splits)
    if size_splits.shape.ndims == 0:
        raise ValueError("Rank-0 tensors are not supported as the num_or_size_splits argument to split. Argument "
                         f"provided: {num_or_size_splits}")
    if num is None:
        num = size_splits.shape[0].value if size_splits.shape.ndims else None
        if num is None:
            raise ValueError(f"Cannot infer argument `num` from shape {num_or_size_splits}")
    return apply_op("SplitV", name=name, value=value, size_splits=size_splits, split_dim=axis, num_split=num)


# ---- squeeze / expand_dims / transpose ----------------------------------------------------------
Squeeze = define("Squeeze", "input: T", "output: T", ["T: type", "squeeze_dims: list(int) >= 0 = []"])


@Squeeze.shape
def _squeeze_shape(op):
    s = op._inputs[0].shape
    if s.ndims is None:
        return [s]
    for a in op._attrs["squeeze_dims"]:
        if not -s.ndims <= a < max(s.ndims, 1):
            raise ValueError(f"Tried to squeeze dim index {a} for tensor with {s.ndims} dimensions.")
    axes = [a % s.ndims for a in op._attrs["squeeze_dims"]] if s.ndims else []
    dims = s.as_list()
    if not axes:
        if any(d is None for d in dims):
            return [ts.unknown_shape()]
        return [ts.TensorShape([d for d in dims if d != 1])]
    for a in axes:
        if dims[a] is not None and dims[a] != 1:
            raise ValueError(f"Can not squeeze dim[{a}], expected a dimension of 1, got {dims[a]}")
    return [ts.TensorShape([d for i, d in enumerate(dims) if i not in axes])]


@Squeeze.kernel
def _squeeze_kernel(x, *, squeeze_dims):
    try:
        return np.squeeze(x, axis=tuple(squeeze_dims) if squeeze_dims else None)
    except ValueError:
        bad = next(a for a in squeeze_dims if x.shape[a] != 1)
        raise errors.InvalidArgumentError(None, None, f"Can not squeeze dim[{bad % x.ndim}], expected a dimension "
                                          f"of 1, got {x.shape[bad]}") from None


def _reshape_to_input(op, g):
    return [reshape(g, shape(op.inputs[0]))] + [None] * (len(op.inputs) - 1)


Squeeze.grad(_reshape_to_input)
Reshape.grad(_reshape_to_input)


def squeeze_axis(x, axis):
    return apply_op("Squeeze", input=x, squeeze_dims=[axis])


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    if axis is not None and squeeze_dims is not None:
        raise ValueError("Cannot specify both 'axis' and 'squeeze_dims'.")
    if axis is None:
        axis = squeeze_dims
    if isinstance(axis, int):
        axis = [axis]
    return apply_op("Squeeze", name=name, input=input, squeeze_dims=list(axis or []))


ExpandDims = define("ExpandDims", "input: T, dim: Tdim", "output: T", ["T: type", "Tdim: {int32, int64} = int32"])


@ExpandDims.shape
def _expand_dims_shape(op):
    x, d = op._inputs
    v = constant_value(d)
    if x.shape.ndims is None or v is None:
        return [ts.unknown_shape(None if x.shape.ndims is None else x.shape.ndims + 1)]
    n = x.shape.ndims
    a = int(np.reshape(v, [-1])[0])
    if not -n - 1 <= a <= n:
        raise ValueError(f"Tried to expand dim index {a} for tensor with {n} dimensions.")
    dims = x.shape.as_list()
    dims.insert(a % (n + 1), 1)
    return [ts.TensorShape(dims)]


@ExpandDims.kernel
def _expand_dims_kernel(x, dim):
    if dim.size != 1:
        raise errors.InvalidArgumentError(None, None, f"'dim' must be a tensor with a single value, got {dim}")
    a = int(np.reshape(dim, [-1])[0])
    if not -x.ndim - 1 <= a <= x.ndim:
        raise errors.InvalidArgumentError(None, None, f"Tried to expand dim index {a} for tensor with {x.ndim} "
                                          "dimensions.")
    return np.expand_dims(x, a)


ExpandDims.grad(_reshape_to_input)


def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002
    """``tf.expand_dims``; ``dim`` is TF1's old name of ``axis``."""
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and 'dim'.")
    axis = dim if axis is None else axis
    if axis is None:
        raise ValueError("Must specify an axis argument to tf.expand_dims()")
    return apply_op("ExpandDims", name=name or "ExpandDims", input=input, dim=axis)


Transpose = define("Transpose", "x: T, perm: Tperm", "y: T", ["T: type", "Tperm: {int32, int64} = int32"])


@Transpose.shape
def _transpose_shape(op):
    x, p = op._inputs
    v = constant_value(p)
    n = x.shape.ndims if x.shape.ndims is not None else (p.shape[0].value if p.shape.ndims == 1 else None)
    if v is None or x.shape.ndims is None:
        return [ts.unknown_shape(n)]
    perm = [int(i) for i in np.reshape(v, [-1])]
    if len(perm) != x.shape.ndims:
        raise ValueError(f"Dimension must be {x.shape.ndims} but is {len(perm)}")
    if sorted(perm) != list(range(x.shape.ndims)):
        return [ts.unknown_shape(x.shape.ndims)]  # TF reports a bad permutation when it runs
    dims = x.shape.as_list()
    return [ts.TensorShape([dims[i] for i in perm])]


@Transpose.kernel
def _transpose_kernel(x, perm):
    if sorted(perm.tolist()) != list(range(x.ndim)):
        raise errors.InvalidArgumentError(None, None, f"transpose expects a vector of size {x.ndim}. But input(1) "
                                          f"is a vector of size {perm.size}" if perm.size != x.ndim else
                                          f"{perm.tolist()} is not a permutation")
    return np.transpose(x, perm)


Transpose.grad(lambda op, g: [transpose(g, invert_permutation(op.inputs[1])), None])


def transpose(a, perm=None, name="transpose", conjugate=False):
    """``tf.transpose``: reverses the dims when ``perm`` is None."""
    with ops.name_scope(name, "transpose", [a]) as scope:
        a = convert_to_tensor(a, name="a")
        if conjugate and a.dtype.base_dtype.is_complex:
            raise NotImplementedError("conjugate transpose of complex tensors is not supported by deferflow")
        if perm is None:
            if a.shape.ndims is not None:
                perm = np.arange(a.shape.ndims - 1, -1, -1, dtype=np.int32)
            else:
                from deferflow.ops import math_ops
                r = rank(a)
                perm = (r - 1) - math_ops.range_(0, r, 1)
        return apply_op("Transpose", name=scope, x=a, perm=perm)


def matrix_transpose(a, name="matrix_transpose", conjugate=False):
    with ops.name_scope(name, values=[a]):
        a = convert_to_tensor(a, name="a")
        n = a.shape.ndims
        if n is None:
            raise NotImplementedError("matrix_transpose needs a tensor of known rank in deferflow")
        if n < 2:
            raise ValueError(f"Argument `a` should be a (batch) matrix with rank >= 2.  Received `a` = {a} with "
                             f"shape: {a.shape}")
        return transpose(a, list(range(n - 2)) + [n - 1, n - 2], conjugate=conjugate)


InvertPermutation = define("InvertPermutation", "x: T", "y: T", ["T: {int32, int64} = int32"])
InvertPermutation.shape(lambda op: [op._inputs[0].shape])
InvertPermutation.no_gradient()


@InvertPermutation.kernel
def _invert_permutation_kernel(x):
    if x.ndim != 1 or sorted(x.tolist()) != list(range(x.size)):
        raise errors.InvalidArgumentError(None, None, f"{x.tolist()} is not a permutation")
    out = np.empty_like(x)
    out[x] = np.arange(x.size, dtype=x.dtype)
    return out


def invert_permutation(x, name=None):
    return apply_op("InvertPermutation", name=name or "InvertPermutation", x=x)


# ---- tile / pad / reverse / broadcast_to --------------------------------------------------------
Tile = define("Tile", "input: T, multiples: Tmultiples", "output: T", ["T: type", "Tmultiples: {int32, int64} = int32"])


@Tile.shape
def _tile_shape(op):
    x, m = op._inputs
    mv = _partial_values(m)
    if x.shape.ndims is None:
        return [ts.unknown_shape(None if mv is None else len(mv))]
    if mv is None:
        return [ts.unknown_shape(x.shape.ndims)]
    if len(mv) != x.shape.ndims:
        raise ValueError(f"Shape must be rank {x.shape.ndims} but is rank {len(mv)}")
    return [ts.TensorShape([None if d is None or k is None else d * k for d, k in zip(x.shape.as_list(), mv)])]


@Tile.kernel
def _tile_kernel(x, multiples):
    if multiples.shape != (x.ndim,):
        raise errors.InvalidArgumentError(None, None, f"Expected multiples argument to be a vector of length "
                                          f"{x.ndim} but got length {multiples.size}")
    if np.any(multiples < 0):
        raise errors.InvalidArgumentError(None, None, f"Expected multiples to be non-negative, got {multiples}")
    return np.tile(x, multiples.tolist()) if x.ndim else x.copy()


@Tile.grad
def _tile_grad(op, g):
    from deferflow.ops import math_ops
    x, m = op.inputs
    xs, mv = static_shape(x), constant_value(m)
    if xs is not None and mv is not None:
        split_shape = [v for pair in zip([int(k) for k in mv], xs) for v in pair]
        axes = list(range(0, len(split_shape), 2))
        return [math_ops.reduce_sum(reshape(g, split_shape), axes) if axes else g, None]
    split_shape = reshape(transpose(stack([m, shape(x, out_type=m.dtype.base_dtype)])), [-1])
    axes = math_ops.range_(0, size(split_shape), 2)
    out = math_ops.reduce_sum(reshape(g, split_shape), axes)
    out.set_shape(x.shape)
    return [out, None]


def tile(input, multiples, name=None):  # noqa: A002
    return apply_op("Tile", name=name or "Tile", input=input, multiples=multiples)


Pad = define("Pad", "input: T, paddings: Tpaddings", "output: T", ["T: type", "Tpaddings: {int32, int64} = int32"])
PadV2 = define("PadV2", "input: T, paddings: Tpaddings, constant_values: T", "output: T",
               ["T: type", "Tpaddings: {int32, int64} = int32"])
MirrorPad = define("MirrorPad", "input: T, paddings: Tpaddings", "output: T",
                   ["T: type", "Tpaddings: {int32, int64} = int32", "mode: {'REFLECT', 'SYMMETRIC'}"])
MirrorPadGrad = define("MirrorPadGrad", "input: T, paddings: Tpaddings", "output: T",
                       ["T: type", "Tpaddings: {int32, int64} = int32", "mode: {'REFLECT', 'SYMMETRIC'}"])


def _pad_shape(sign):
    def shape_fn(op):
        x, p = op._inputs[0], op._inputs[1]
        pv = constant_value(p)
        n = x.shape.ndims if x.shape.ndims is not None else (p.shape[0].value if p.shape.ndims == 2 else None)
        if pv is None or x.shape.ndims is None:
            return [ts.unknown_shape(n)]
        pv = np.reshape(pv, [-1, 2])
        if pv.shape[0] != x.shape.ndims:
            raise ValueError(f"Shape must be rank {x.shape.ndims} but is rank {pv.shape[0]}")
        return [ts.TensorShape([None if d is None else d + sign * int(a + b)
                                for d, (a, b) in zip(x.shape.as_list(), pv)])]
    return shape_fn


def _check_paddings(x, paddings):
    if paddings.shape != (x.ndim, 2):
        raise errors.InvalidArgumentError(None, None, f"The first dimension of paddings must be the rank of inputs"
                                          f"[{x.ndim},2], but got {list(paddings.shape)}")
    if np.any(paddings < 0):
        raise errors.InvalidArgumentError(None, None, f"Paddings must be non-negative: {paddings.tolist()}")


@Pad.kernel
def _pad_kernel(x, paddings):
    _check_paddings(x, paddings)
    return np.pad(x, paddings.tolist()) if x.dtype != object else np.pad(x, paddings.tolist(), constant_values=b"")


@PadV2.kernel
def _padv2_kernel(x, paddings, constant_values):
    _check_paddings(x, paddings)
    return np.pad(x, paddings.tolist(), constant_values=constant_values)


@MirrorPad.kernel
def _mirror_pad_kernel(x, paddings, *, mode):
    _check_paddings(x, paddings)
    off = 1 if mode == "REFLECT" else 0
    for i, (a, b) in enumerate(paddings.tolist()):
        if a > x.shape[i] - off or b > x.shape[i] - off:
            raise errors.InvalidArgumentError(None, None, f"paddings must be less than the dimension size: {a}, {b} "
                                              f"not less than {x.shape[i]}" if off else
                                              f"paddings must be no greater than the dimension size: {a}, {b} "
                                              f"greater than {x.shape[i]}")
    return np.pad(x, paddings.tolist(), mode=mode.lower())


@MirrorPadGrad.kernel
def _mirror_pad_grad_kernel(g, paddings, *, mode):
    off = 1 if mode == "REFLECT" else 0
    out = g
    for axis, (a, b) in enumerate(paddings.tolist()):
        n = out.shape[axis] - a - b
        core = np.array(np.take(out, np.arange(a, a + n), axis=axis))
        idx = [np.s_[:]] * out.ndim
        if a:
            left = np.flip(np.take(out, np.arange(0, a), axis=axis), axis)
            idx[axis] = np.s_[off:off + a]
            core[tuple(idx)] += left
        if b:
            right = np.flip(np.take(out, np.arange(a + n, a + n + b), axis=axis), axis)
            idx[axis] = np.s_[n - off - b:n - off]
            core[tuple(idx)] += right
        out = core
    return out if out is not g else g.copy()


Pad.shape(_pad_shape(1))
PadV2.shape(_pad_shape(1))
MirrorPad.shape(_pad_shape(1))
MirrorPadGrad.shape(_pad_shape(-1))


def _pad_grad(op, g):
    x, p = op.inputs[0], op.inputs[1]
    pv = constant_value(p)
    if pv is not None:
        begin = np.reshape(pv, [-1, 2])[:, 0].astype(p.dtype.base_dtype.as_numpy_dtype)
    else:
        begin = reshape(slice_(p, [0, 0], stack([rank(x), 1])), [-1])
    out = slice_(g, begin, shape(x, out_type=p.dtype.base_dtype))
    return [out, None] + [None] * (len(op.inputs) - 2)


Pad.grad(_pad_grad)
PadV2.grad(_pad_grad)
MirrorPad.grad(lambda op, g: [apply_op("MirrorPadGrad", input=g, paddings=op.inputs[1], mode=op._attrs["mode"]),
                              None])
MirrorPadGrad.grad(lambda op, g: [apply_op("MirrorPad", input=g, paddings=op.inputs[1], mode=op._attrs["mode"]),
                                  None])


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):
    """``tf.pad``: ``Pad`` (zeros), ``PadV2`` (another constant) or ``MirrorPad`` (REFLECT/SYMMETRIC)."""
    m = mode.upper() if isinstance(mode, str) else mode
    if m == "CONSTANT":
        if not isinstance(constant_values, Tensor) and np.ndim(constant_values) == 0 and constant_values == 0:
            return apply_op("Pad", name=name or "Pad", input=tensor, paddings=paddings)
        return apply_op("PadV2", name=name or "PadV2", input=tensor, paddings=paddings,
                        constant_values=constant_values)
    if m in ("REFLECT", "SYMMETRIC"):
        return apply_op("MirrorPad", name=name or "MirrorPad", input=tensor, paddings=paddings, mode=m)
    raise ValueError('Value of argument `mode` expected to be one of "CONSTANT", "REFLECT", or "SYMMETRIC". '
                     f"Received `mode` = {mode}")


ReverseV2 = define("ReverseV2", "tensor: T, axis: Tidx", "output: T",
                   ["Tidx: {int32, int64} = int32", "T: {uint8, int8, uint16, int16, int32, uint32, int64, uint64, "
                    "bool, bfloat16, half, float, double, complex64, complex128, string}"])
ReverseV2.shape(unchanged_shape)


@ReverseV2.kernel
def _reverse_kernel(x, axis):
    axes = [int(a) for a in np.reshape(axis, [-1])]
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            raise errors.InvalidArgumentError(None, None, f"'axis'[0] = {a} is out of valid range [0, {x.ndim - 1}")
    if len({a % x.ndim for a in axes}) != len(axes):
        raise errors.InvalidArgumentError(None, None, f"axis {axes} specified more than once.")
    return np.flip(x, axis=tuple(axes)) if axes else x


ReverseV2.grad(lambda op, g: [reverse(g, op.inputs[1]), None])


def reverse(tensor, axis, name=None):
    return apply_op("ReverseV2", name=name or "ReverseV2", tensor=tensor, axis=axis)


reverse_v2 = reverse

BroadcastTo = define("BroadcastTo", "input: T, shape: Tidx", "output: T", ["T: type", "Tidx: {int32, int64} = int32"])
BroadcastTo.broadcasting = True  # its gradient is summed back to the input's shape centrally


@BroadcastTo.shape
def _broadcast_to_shape(op):
    target = shape_from_tensor(op._inputs[1])
    x = op._inputs[0].shape
    if target.ndims is not None and x.ndims is not None:
        if x.ndims > target.ndims:
            raise ValueError(f"Rank of input ({x.ndims}) must be no greater than rank of output shape "
                             f"({target.ndims}).")
        ts.broadcast_shape(x, target)  # raises on incompatible dims
    return [target]


@BroadcastTo.kernel
def _broadcast_to_kernel(x, shape):
    try:
        return np.broadcast_to(x, [int(d) for d in shape])
    except ValueError:
        raise errors.InvalidArgumentError(None, None, f"Unable to broadcast tensor of shape {list(x.shape)} to "
                                          f"tensor of shape {shape.tolist()}") from None


BroadcastTo.grad(lambda op, g: [g, None])


def broadcast_to(input, shape, name=None):  # noqa: A002
    return apply_op("BroadcastTo", name=name or "BroadcastTo", input=input, shape=shape)


# ---- one_hot, sequence_mask, meshgrid -----------------------------------------------------------
OneHot = define("OneHot", "indices: TI, depth: int32, on_value: T, off_value: T", "output: T",
                ["axis: int = -1", "T: type", "TI: {uint8, int8, int32, int64} = int64"])
OneHot.no_gradient()


@OneHot.shape
def _one_hot_shape(op):
    idx = op._inputs[0].shape
    d = constant_value(op._inputs[1])
    if idx.ndims is None:
        return [ts.unknown_shape()]
    axis = op._attrs["axis"]
    if axis < -1 or axis > idx.ndims:
        raise ValueError(f"Expected axis to be -1 or between [0, {idx.ndims}).  But received: {axis}")
    dims = idx.as_list()
    dims.insert(idx.ndims if axis == -1 else axis, None if d is None else int(d))
    return [ts.TensorShape(dims)]


@OneHot.kernel
def _one_hot_kernel(indices, depth, on_value, off_value, *, axis):
    depth = int(depth)
    if depth < 0:
        raise errors.InvalidArgumentError(None, None, f"depth must be non-negative, got: {depth}")
    hot = indices[..., None] == np.arange(depth, dtype=np.int64)
    out = np.where(hot, on_value, off_value).astype(on_value.dtype, copy=False)
    return np.moveaxis(out, -1, axis) if axis != -1 else out


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """``tf.one_hot``: dtype from ``on_value``/``off_value``/``dtype``, float32 by default."""
    with ops.name_scope(name, "one_hot", [indices, depth, on_value, off_value, axis, dtype]) as scope:
        dtype = None if dtype is None else dtypes.as_dtype(dtype).base_dtype
        if on_value is not None:
            on_value = convert_to_tensor(on_value, dtype_hint=dtype)
        if off_value is not None:
            off_value = convert_to_tensor(off_value, dtype_hint=dtype)
        on_dtype = on_value.dtype.base_dtype if on_value is not None else None
        off_dtype = off_value.dtype.base_dtype if off_value is not None else None
        if on_value is not None or off_value is not None:
            if dtype is not None:
                if on_value is not None and on_dtype != dtype:
                    raise TypeError(f"dtype {on_dtype!r} of on_value does not match dtype parameter {dtype!r}")
                if off_value is not None and off_dtype != dtype:
                    raise TypeError(f"dtype {off_dtype!r} of off_value does not match dtype parameter {dtype!r}")
            else:
                dtype = on_dtype if on_value is not None else off_dtype
        elif dtype is None:
            dtype = dtypes.float32
        if on_value is None:
            on_value = convert_to_tensor(1, dtype, name="on_value")
            on_dtype = dtype
        if off_value is None:
            off_value = convert_to_tensor(0, dtype, name="off_value")
            off_dtype = dtype
        if on_dtype != off_dtype:
            raise TypeError(f"dtype {on_dtype!r} of on_value does not match dtype {off_dtype!r} of off_value")
        return apply_op("OneHot", name=scope, indices=indices, depth=depth, on_value=on_value,
                        off_value=off_value, axis=-1 if axis is None else axis)


def sequence_mask(lengths, maxlen=None, dtype=dtypes.bool, name=None):
    """``mask[i, j] = j < lengths[i]`` (``SequenceMask/Less``)."""
    from deferflow.ops import math_ops
    with ops.name_scope(name, "SequenceMask", [lengths, maxlen]):
        lengths = convert_to_tensor(lengths)
        if maxlen is None:
            maxlen = math_ops.reduce_max(lengths, list(range(lengths.shape.ndims)) if lengths.shape.ndims
                                         is not None else None)
            maxlen = math_ops.maximum(constant(0, dtype=maxlen.dtype.base_dtype), maxlen)
        else:
            maxlen = convert_to_tensor(maxlen)
        if maxlen.shape.ndims is not None and maxlen.shape.ndims != 0:
            raise ValueError(f"Argument `maxlen` must be scalar for sequence_mask, received `maxlen` = {maxlen}.")
        md = maxlen.dtype.base_dtype
        row_vector = apply_op("Range", start=constant(0, dtype=md), limit=maxlen, delta=constant(1, dtype=md))
        matrix = apply_op("Cast", x=expand_dims(lengths, -1), DstT=md)  # TF casts even to the same dtype
        result = math_ops.less(row_vector, matrix)
        if dtype is None or dtypes.as_dtype(dtype).base_dtype == dtypes.bool:
            return result
        return apply_op("Cast", x=result, DstT=dtype)


def meshgrid(*args, **kwargs):
    """``tf.meshgrid`` (``indexing='xy'`` or ``'ij'``), built as TF builds it."""
    indexing = kwargs.pop("indexing", "xy")
    name = kwargs.pop("name", "meshgrid")
    if kwargs:
        raise TypeError(f"'{next(iter(kwargs))}' is an invalid keyword argument for this function")
    if indexing not in ("xy", "ij"):
        raise ValueError(f"Argument `indexing` parameter must be either 'xy' or 'ij', got '{indexing}'")
    with ops.name_scope(name, "meshgrid", list(args)):
        ndim = len(args)
        s0 = (1,) * ndim
        if not ndim:
            return []
        output = [reshape(x if isinstance(x, Tensor) else stack(x), s0[:i] + (-1,) + s0[i + 1:])
                  for i, x in enumerate(args)]
        shapes = [size(x) for x in args]
        out_dtype = convert_to_tensor(args[0]).dtype.base_dtype
        if indexing == "xy" and ndim > 1:
            output[0] = reshape(output[0], (1, -1) + (1,) * (ndim - 2))
            output[1] = reshape(output[1], (-1, 1) + (1,) * (ndim - 2))
            shapes[0], shapes[1] = shapes[1], shapes[0]
        mult = ones(shapes, out_dtype)
        return [x * mult for x in output]


# ---- unique, top_k, set difference -----------------------------------------------------------------
Unique = define("Unique", "x: T", "y: T, idx: out_idx", ["T: type", "out_idx: {int32, int64} = int32"])
@Unique.shape
def _unique_shape(op):
    s = op._inputs[0].shape
    if s.ndims is not None and s.ndims != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {s.ndims}")
    return [ts.unknown_shape(1), s.with_rank(1)]
lookup_error_gradient(Unique)  # TF registers no gradient for Unique


@Unique.kernel
def _unique_kernel(x, *, out_idx):
    if x.ndim != 1:
        raise errors.InvalidArgumentError(None, None, f"unique expects a 1D vector, got shape {list(x.shape)}")
    u, first, inv = np.unique(x, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # TF keeps first-occurrence order
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    return u[order], pos[inv.reshape(-1)].astype(out_idx.as_numpy_dtype)


UniqueOutput = collections.namedtuple("Unique", ["y", "idx"])


def unique(x, out_idx=dtypes.int32, name=None):
    return UniqueOutput(*apply_op("Unique", name=name or "Unique", x=x, out_idx=out_idx))


TopKV2 = define("TopKV2", "input: T, k: Tk", "values: T, indices: index_type",
                ["sorted: bool = true", "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, "
                 "uint32, uint64}", "Tk: {int16, int32, int64} = int32", "index_type: {int16, int32, int64} = int32"])


@TopKV2.shape
def _topk_shape(op):
    x = op._inputs[0].shape
    k = constant_value(op._inputs[1])
    if x.ndims is None:
        return [ts.unknown_shape()] * 2
    if x.ndims < 1:
        raise ValueError("Shape must be at least rank 1 but is rank 0")
    if k is not None and x[-1].value is not None and int(k) > x[-1].value:
        raise ValueError(f"input must have last dimension >= k = {int(k)} but is {x[-1].value}")
    s = ts.TensorShape(x.as_list()[:-1] + [None if k is None else int(k)])
    return [s, s]


@TopKV2.kernel
def _topk_kernel(x, k, *, sorted, index_type):  # noqa: A002 - TF's attr name
    k = int(k)
    n = x.shape[-1]
    if k < 0 or k > n:
        raise errors.InvalidArgumentError(None, None, f"input must have at least k columns. Had {n}, needed {k}"
                                          if k > n else f"Need k >= 0, got {k}")
    # stable ascending sort of the reversed row, read backwards: descending, ties by lower index
    order = np.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1][..., :k]
    idx = (n - 1 - order)
    return np.take_along_axis(x, idx, axis=-1), idx.astype(index_type.as_numpy_dtype)


@TopKV2.grad
def _topk_grad(op, g_values, g_indices):
    from deferflow.ops import math_ops
    x, idx = op.inputs[0], op.outputs[1]
    in_shape = shape(x)
    n = x.shape[-1].value
    last = constant(n, dtype=dtypes.int32) if n is not None else gather(in_shape, size(in_shape) - 1)
    k = idx.shape[-1].value
    idx2d = reshape(idx, stack([-1, k if k is not None else gather(shape(idx), size(shape(idx)) - 1)]))
    rows = gather(shape(idx2d), 0)
    offsets = expand_dims(math_ops.range_(0, rows * last, last), -1)
    flat = reshape(math_ops.cast(idx2d, dtypes.int32) + offsets, [-1])
    total = math_ops.reduce_prod(in_shape)
    out = scatter_nd(expand_dims(flat, -1), reshape(g_values, [-1]), reshape(total, [1]))
    return [reshape(out, in_shape), None]


TopKOutput = collections.namedtuple("TopKV2", ["values", "indices"])


def top_k(input, k=1, sorted=True, name=None, index_type=dtypes.int32):  # noqa: A002
    """``tf.nn.top_k``: the ``k`` largest entries of the last dim, descending, and their indices."""
    return TopKOutput(*apply_op("TopKV2", name=name or "TopKV2", input=input, k=k, sorted=sorted,
                                index_type=index_type))


ListDiff = define("ListDiff", "x: T, y: T", "out: T, idx: out_idx", ["T: type", "out_idx: {int32, int64} = int32"])
ListDiff.shape(lambda op: [ts.unknown_shape(1), ts.unknown_shape(1)])
lookup_error_gradient(ListDiff)


@ListDiff.kernel
def _list_diff_kernel(x, y, *, out_idx):
    keep = ~np.isin(x, y)
    return x[keep], np.nonzero(keep)[0].astype(out_idx.as_numpy_dtype)


def setdiff1d(x, y, index_dtype=dtypes.int32, name=None):
    return apply_op("ListDiff", name=name or "ListDiff", x=x, y=y, out_idx=index_dtype)


# ---- stitching, identity_n, checks ----------------------------------------------------------------
DynamicStitch = define("DynamicStitch", "indices: N * int32, data: N * T", "merged: T", ["N: int >= 1", "T: type"])


@DynamicStitch.shape
def _dynamic_stitch_shape(op):
    n = op._attrs["N"]
    idx, data = op._inputs[:n], op._inputs[n:]
    tail = None
    for i, d in zip(idx, data):
        if i.shape.ndims is not None and d.shape.ndims is not None:
            t = ts.TensorShape(d.shape.as_list()[i.shape.ndims:])
            tail = t if tail is None else tail.merge_with(t)
    vals = [constant_value(i) for i in idx]
    first = None if any(v is None for v in vals) else int(max((v.max() for v in vals if v.size), default=-1)) + 1
    if tail is None:
        return [ts.unknown_shape()]
    return [ts.TensorShape([first]).concatenate(tail)]


@DynamicStitch.kernel
def _dynamic_stitch_kernel(*args):
    n = len(args) // 2
    idx, data = args[:n], args[n:]
    size_ = int(max((int(i.max()) for i in idx if i.size), default=-1)) + 1
    tail = data[0].shape[idx[0].ndim:]
    out = np.zeros((size_,) + tail, dtype=data[0].dtype)
    for i, d in zip(idx, data):
        if d.shape[:i.ndim] != i.shape:
            raise errors.InvalidArgumentError(None, None, f"data[0].shape = {list(d.shape)} does not start with "
                                              f"indices[0].shape = {list(i.shape)}")
        out[i.reshape(-1)] = d.reshape((-1,) + tail)  # later entries win, as in TF
    return out


@DynamicStitch.grad
def _dynamic_stitch_grad(op, g):
    n = op._attrs["N"]
    return [None] * n + [gather(g, i) for i in op.inputs[:n]]


def dynamic_stitch(indices, data, name=None):
    return apply_op("DynamicStitch", name=name or "DynamicStitch", indices=list(indices), data=list(data))


IdentityN = define("IdentityN", "input: T", "output: T", ["T: list(type) >= 1"])
IdentityN.shape(lambda op: [t.shape for t in op._inputs])
IdentityN.kernel(lambda *xs: tuple(xs))
IdentityN.grad(lambda op, *gs: list(gs))


def identity_n(input, name=None):  # noqa: A002
    return apply_op("IdentityN", name=name or "IdentityN", input=list(input))


CheckNumerics = define("CheckNumerics", "tensor: T", "output: T", ["T: {bfloat16, half, float, double}",
                                                                   "message: string"])
CheckNumerics.shape(unchanged_shape)


@CheckNumerics.kernel
def _check_numerics_kernel(x, *, message):
    if np.isnan(x).any():
        raise errors.InvalidArgumentError(None, None, f"{message} : Tensor had NaN values")
    if np.isinf(x).any():
        raise errors.InvalidArgumentError(None, None, f"{message} : Tensor had Inf values")
    return x


CheckNumerics.grad(lambda op, g: [check_numerics(g, "Not a number (NaN) or infinity (Inf) values detected in "
                                                    "gradient. " + op._attrs["message"])])


def check_numerics(tensor, message, name=None):
    return apply_op("CheckNumerics", name=name or "CheckNumerics", tensor=tensor, message=message)


EnsureShape = define("EnsureShape", "input: T", "output: T", ["shape: shape", "T: type"])
EnsureShape.shape(lambda op: [op._inputs[0].shape.merge_with(op._attrs["shape"])])
EnsureShape.grad(lambda op, g: [g])


@EnsureShape.kernel
def _ensure_shape_kernel(x, *, shape):
    if not ts.TensorShape(list(x.shape)).is_compatible_with(shape):
        raise errors.InvalidArgumentError(None, None, f"Shape of tensor {list(x.shape)} is not compatible with "
                                          f"expected shape {ts.TensorShape(shape)}.")
    return x


def ensure_shape(x, shape, name=None):  # noqa: A002
    return apply_op("EnsureShape", name=name or "EnsureShape", input=x, shape=ts.as_shape(shape))


# ---- space <-> batch / depth ----------------------------------------------------------------
def _block_and_pads(op):
    """(block_shape, pairs) as far as known at graph-build time (each None where not)."""
    b, p = constant_value(op._inputs[1]), constant_value(op._inputs[2])
    block = None if b is None else [int(v) for v in np.reshape(b, [-1])]
    pairs = None if p is None else np.reshape(p, [-1, 2]).astype(np.int64).tolist()
    return block, pairs


def _space_batch_shape(to_batch):
    def shape_fn(op):
        x = op._inputs[0].shape
        block, pairs = _block_and_pads(op)
        bs = op._inputs[1].shape
        m = len(block) if block is not None else (bs[0].value if bs.ndims == 1 else None)
        if x.ndims is None:
            return [ts.unknown_shape()]
        if m is None:
            return [ts.unknown_shape(x.ndims)]
        if x.ndims < m + 1:
            raise ValueError(f"input rank should be >= {m + 1} instead of {x.ndims} for '{op.name}' "
                             f"(op: '{op.type}')")
        d = x.as_list()
        prod = None if block is None else int(np.prod(block))
        out = []
        if to_batch:
            out.append(None if d[0] is None or prod is None else d[0] * prod)
            for i in range(m):
                s = d[i + 1]
                padded = None if s is None or pairs is None else s + pairs[i][0] + pairs[i][1]
                if padded is not None and block is not None and padded % block[i]:
                    raise ValueError(f"padded_shape[{i}]={padded} is not divisible by block_shape[{i}]="
                                     f"{block[i]} for '{op.name}' (op: '{op.type}')")
                out.append(None if padded is None or block is None else padded // block[i])
        else:
            if d[0] is not None and prod is not None and d[0] % prod:
                raise ValueError(f"Input batch dimension ({d[0]}) is not divisible by product of block sizes "
                                 f"({prod}) for '{op.name}' (op: '{op.type}')")
            out.append(None if d[0] is None or prod is None else d[0] // prod)
            for i in range(m):
                s = d[i + 1]
                out.append(None if s is None or block is None or pairs is None
                           else s * block[i] - pairs[i][0] - pairs[i][1])
        return [ts.TensorShape(out + d[m + 1:])]
    return shape_fn


def _check_block(x, block, pairs, what):
    if block.ndim != 1 or pairs.shape != (block.size, 2):
        raise errors.InvalidArgumentError(None, None, f"{what} should have shape [{block.size}, 2] instead of "
                                          f"{list(pairs.shape)}")
    if (block < 1).any():
        raise errors.InvalidArgumentError(None, None, f"All values in block_shape must be positive, got "
                                          f"{block.tolist()}")
    if (pairs < 0).any():
        raise errors.InvalidArgumentError(None, None, f"All values in {what} must be non-negative, got "
                                          f"{pairs.tolist()}")
    if x.ndim < block.size + 1:
        raise errors.InvalidArgumentError(None, None, f"input rank should be >= {block.size + 1} instead of "
                                          f"{x.ndim}")


SpaceToBatchND = define("SpaceToBatchND", "input: T, block_shape: Tblock_shape, paddings: Tpaddings", "output: T",
                        ["T: type", "Tblock_shape: {int32, int64} = int32", "Tpaddings: {int32, int64} = int32"])
SpaceToBatchND.shape(_space_batch_shape(True))


@SpaceToBatchND.kernel
def _space_to_batch_nd_kernel(x, block_shape, paddings):
    block, pairs = np.asarray(block_shape, np.int64).reshape(-1), np.asarray(paddings, np.int64)
    _check_block(x, block, pairs, "paddings")
    m = block.size
    xp = np.pad(x, [(0, 0)] + pairs.tolist() + [(0, 0)] * (x.ndim - m - 1))
    for i in range(m):
        if xp.shape[i + 1] % block[i]:
            raise errors.InvalidArgumentError(None, None, f"padded_shape[{i}]={xp.shape[i + 1]} is not divisible "
                                              f"by block_shape[{i}]={block[i]}")
    b, rest = x.shape[0], xp.shape[m + 1:]
    split = [b]
    for i in range(m):
        split += [xp.shape[i + 1] // block[i], block[i]]
    y = xp.reshape(split + list(rest))
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + list(range(1 + 2 * m, y.ndim))
    y = y.transpose(perm)
    return np.ascontiguousarray(y.reshape([b * int(np.prod(block))] + [xp.shape[i + 1] // block[i] for i in range(m)]
                                          + list(rest)))


SpaceToBatchND.grad(lambda op, g: [apply_op("BatchToSpaceND", input=g, block_shape=op.inputs[1],
                                            crops=op.inputs[2]), None, None])

BatchToSpaceND = define("BatchToSpaceND", "input: T, block_shape: Tblock_shape, crops: Tcrops", "output: T",
                        ["T: type", "Tblock_shape: {int32, int64} = int32", "Tcrops: {int32, int64} = int32"])
BatchToSpaceND.shape(_space_batch_shape(False))


@BatchToSpaceND.kernel
def _batch_to_space_nd_kernel(x, block_shape, crops):
    block, pairs = np.asarray(block_shape, np.int64).reshape(-1), np.asarray(crops, np.int64)
    _check_block(x, block, pairs, "crops")
    m, prod = block.size, int(np.prod(block))
    if x.shape[0] % prod:
        raise errors.InvalidArgumentError(None, None, f"Input batch dimension ({x.shape[0]}) is not divisible by "
                                          f"product of block sizes ({prod})")
    b = x.shape[0] // prod
    y = x.reshape(list(block) + [b] + list(x.shape[1:]))
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, y.ndim))
    y = y.transpose(perm).reshape([b] + [x.shape[i + 1] * block[i] for i in range(m)] + list(x.shape[m + 1:]))
    for i in range(m):
        if pairs[i].sum() > y.shape[i + 1]:
            raise errors.InvalidArgumentError(None, None, f"crops must be less than or equal to the size of the "
                                              f"dimension, got crops {pairs[i].tolist()} for size {y.shape[i + 1]}")
    sl = tuple(slice(int(p[0]), y.shape[i + 1] - int(p[1])) for i, p in enumerate(pairs))
    return np.ascontiguousarray(y[(slice(None),) + sl])


BatchToSpaceND.grad(lambda op, g: [apply_op("SpaceToBatchND", input=g, block_shape=op.inputs[1],
                                            paddings=op.inputs[2]), None, None])


def space_to_batch_nd(input, block_shape, paddings, name=None):  # noqa: A002
    return apply_op("SpaceToBatchND", name=name, input=input, block_shape=block_shape, paddings=paddings)


def batch_to_space_nd(input, block_shape, crops, name=None):  # noqa: A002
    return apply_op("BatchToSpaceND", name=name, input=input, block_shape=block_shape, crops=crops)


def _depth_space_shape(to_depth):
    def shape_fn(op):
        x = op._inputs[0].shape
        if x.ndims is not None and x.ndims != 4:
            raise ValueError(f"Shape must be rank 4 but is rank {x.ndims} for '{op.name}' (op: '{op.type}')")
        if x.ndims is None:
            return [ts.unknown_shape(4)]
        b = op._attrs["block_size"]
        nchw = op._attrs["data_format"] == "NCHW"
        n, h, w, c = (lambda d: (d[0], d[2], d[3], d[1]) if nchw else tuple(d))(x.as_list())
        if to_depth:
            for s in (h, w):
                if s is not None and s % b:
                    raise ValueError(f"Dimension size must be evenly divisible by {b} but is {s} for '{op.name}' "
                                     f"(op: '{op.type}')")
            h, w, c = (None if h is None else h // b), (None if w is None else w // b), (None if c is None else
                                                                                          c * b * b)
        else:
            if c is not None and c % (b * b):
                raise ValueError(f"Dimension size must be evenly divisible by {b * b} but is {c} for '{op.name}' "
                                 f"(op: '{op.type}')")
            h, w, c = (None if h is None else h * b), (None if w is None else w * b), (None if c is None else
                                                                                        c // (b * b))
        return [ts.TensorShape([n, c, h, w] if nchw else [n, h, w, c])]
    return shape_fn


def _depth_space_kernel(to_depth):
    def kernel(x, *, block_size, data_format):
        if data_format == "NCHW_VECT_C":
            raise errors.UnimplementedError(None, None, "NCHW_VECT_C is not supported by deferflow's CPU kernels")
        b = block_size
        xn = x.transpose(0, 2, 3, 1) if data_format == "NCHW" else x
        n, h, w, c = xn.shape
        if to_depth:
            if h % b or w % b:
                raise errors.InvalidArgumentError(None, None, f"Image width {w} and height {h} should be divisible "
                                                  f"by block_size: {b}")
            y = xn.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h // b, w // b,
                                                                                          b * b * c)
        else:
            if c % (b * b):
                raise errors.InvalidArgumentError(None, None, f"Input depth dimension {c} should be divisible by: "
                                                  f"{b * b}")
            y = xn.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b,
                                                                                           c // (b * b))
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2) if data_format == "NCHW" else y)
    return kernel


_DS_ATTRS = ["T: type", "block_size: int >= 2", "data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'"]
SpaceToDepth = define("SpaceToDepth", "input: T", "output: T", _DS_ATTRS)
SpaceToDepth.shape(_depth_space_shape(True))
SpaceToDepth.kernel(_depth_space_kernel(True))
SpaceToDepth.grad(lambda op, g: [apply_op("DepthToSpace", input=g, block_size=op._attrs["block_size"],
                                          data_format=op._attrs["data_format"])])
DepthToSpace = define("DepthToSpace", "input: T", "output: T", _DS_ATTRS)
DepthToSpace.shape(_depth_space_shape(False))
DepthToSpace.kernel(_depth_space_kernel(False))
DepthToSpace.grad(lambda op, g: [apply_op("SpaceToDepth", input=g, block_size=op._attrs["block_size"],
                                          data_format=op._attrs["data_format"])])


def space_to_depth(input, block_size, name=None, data_format="NHWC"):  # noqa: A002
    return apply_op("SpaceToDepth", name=name, input=input, block_size=block_size, data_format=data_format)


def depth_to_space(input, block_size, name=None, data_format="NHWC"):  # noqa: A002
    return apply_op("DepthToSpace", name=name, input=input, block_size=block_size, data_format=data_format)


# ---- roll / matrix_band_part ----------------------------------------------------------------
Roll = define("Roll", "input: T, shift: Tshift, axis: Taxis", "output: T",
              ["T: type", "Tshift: {int32, int64}", "Taxis: {int32, int64}"])
Roll.shape(unchanged_shape)


@Roll.kernel
def _roll_kernel(x, shift, axis):
    shift, axis = np.reshape(shift, [-1]), np.reshape(axis, [-1])
    if shift.size != axis.size:
        raise errors.InvalidArgumentError(None, None, f"shift and axis must have the same size, got "
                                          f"{shift.size} and {axis.size}")
    for a in axis:
        if not -x.ndim <= a < x.ndim:
            raise errors.InvalidArgumentError(None, None, f"axis {int(a)} is out of range")
    return np.roll(x, [int(s) for s in shift], [int(a) for a in axis]) if shift.size else x.copy()


Roll.grad(lambda op, g: [apply_op("Roll", input=g, shift=_math().negative(op.inputs[1]), axis=op.inputs[2]),
                         None, None])


def roll(input, shift, axis, name=None):  # noqa: A002
    return apply_op("Roll", name=name, input=input, shift=shift, axis=axis)


MatrixBandPart = define("MatrixBandPart", "input: T, num_lower: Tindex, num_upper: Tindex", "band: T",
                        ["T: type", "Tindex: {int32, int64} = int64"])
MatrixBandPart.shape(unchanged_shape)


@MatrixBandPart.kernel
def _matrix_band_part_kernel(x, num_lower, num_upper):
    if x.ndim < 2:
        raise errors.InvalidArgumentError(None, None, f"input must be at least 2-dim, received shape: "
                                          f"{list(x.shape)}")
    m, n = x.shape[-2:]
    lo, up = int(num_lower), int(num_upper)
    if lo > m or up > n:
        raise errors.InvalidArgumentError(None, None, f"num_lower must be negative or less or equal to number "
                                          f"of rows ({m}) got: {lo}" if lo > m else
                                          f"num_upper must be negative or less or equal to number of columns "
                                          f"({n}) got: {up}")
    d = np.arange(n)[None, :] - np.arange(m)[:, None]  # column - row
    keep = ((lo < 0) | (-d <= lo)) & ((up < 0) | (d <= up))
    return np.where(keep, x, np.zeros((), x.dtype))


MatrixBandPart.grad(lambda op, g: [apply_op("MatrixBandPart", input=g, num_lower=op.inputs[1],
                                            num_upper=op.inputs[2]), None, None])


def matrix_band_part(input, num_lower, num_upper, name=None):  # noqa: A002
    return apply_op("MatrixBandPart", name=name, input=input, num_lower=num_lower, num_upper=num_upper)


# ---- dynamic_partition, unique_with_counts -------------------------------------------------------------
DynamicPartition = define("DynamicPartition", "data: T, partitions: int32", "outputs: num_partitions * T",
                          ["num_partitions: int >= 1", "T: type"])


@DynamicPartition.shape
def _dynamic_partition_shape(op):
    d, p = op._inputs[0].shape, op._inputs[1].shape
    if p.ndims is not None and d.ndims is not None:
        d[:p.ndims].assert_is_compatible_with(p)
        out = ts.TensorShape([None]).concatenate(d[p.ndims:])
    else:
        out = ts.unknown_shape()
    return [out] * op._attrs["num_partitions"]


@DynamicPartition.kernel
def _dynamic_partition_kernel(data, partitions, *, num_partitions):
    if data.shape[:partitions.ndim] != partitions.shape:
        raise errors.InvalidArgumentError(None, None, f"data.shape must start with partitions.shape, got data.shape "
                                          f"= {list(data.shape)}, partitions.shape = {list(partitions.shape)}")
    flat = partitions.reshape(-1)
    bad = (flat < 0) | (flat >= num_partitions)
    if bad.any():
        k = int(np.argmax(bad))
        raise errors.InvalidArgumentError(None, None, f"partitions[{k}] = {flat[k]} is not in [0, {num_partitions})")
    rows = data.reshape((-1,) + data.shape[partitions.ndim:])
    return tuple(rows[flat == i] for i in range(num_partitions))


@DynamicPartition.grad
def _dynamic_partition_grad(op, *grads):
    from deferflow.ops import math_ops
    data, indices = op.inputs
    num_partitions = op.get_attr("num_partitions")
    prefix_shape = shape(indices)
    original = reshape(math_ops.range_(math_ops.reduce_prod(prefix_shape)), prefix_shape)
    partitioned = dynamic_partition(original, indices, num_partitions)
    reconstructed = dynamic_stitch(partitioned, list(grads))  # TF: parallel_dynamic_stitch, same values
    return [reshape(reconstructed, shape(data)), None]


def dynamic_partition(data, partitions, num_partitions, name=None):
    return apply_op("DynamicPartition", name=name or "DynamicPartition", data=data, partitions=partitions,
                    num_partitions=num_partitions)


UniqueWithCounts = define("UniqueWithCounts", "x: T", "y: T, idx: out_idx, count: out_idx",
                          ["T: type", "out_idx: {int32, int64} = int32"])
UniqueWithCounts.shape(lambda op: _unique_shape(op)[:1] + [op._inputs[0].shape, ts.unknown_shape(1)])
lookup_error_gradient(UniqueWithCounts)


@UniqueWithCounts.kernel
def _unique_with_counts_kernel(x, *, out_idx):
    y, idx = _unique_kernel(x, out_idx=out_idx)
    return y, idx, np.bincount(idx, minlength=len(y)).astype(out_idx.as_numpy_dtype)


UniqueWithCountsOutput = collections.namedtuple("UniqueWithCounts", ["y", "idx", "count"])


def unique_with_counts(x, out_idx=dtypes.int32, name=None):
    return UniqueWithCountsOutput(*apply_op("UniqueWithCounts", name=name or "UniqueWithCounts", x=x,
                                            out_idx=out_idx))


# ---- tensor_scatter_nd_update / add / sub -------------------------------------------------------------
def _tensor_scatter(name, combine, index_types="{int32, int64}"):
    od = define(name, "tensor: T, indices: Tindices, updates: T", "output: T",
                ["T: type", f"Tindices: {index_types}", "bad_indices_policy: string = ''"])

    def shape_fn(op):
        t, i, u = (x.shape for x in op._inputs)
        if t.ndims is not None and i.ndims is not None and u.ndims is not None and i[-1].value is not None:
            depth = i[-1].value
            want = i[:-1].concatenate(t[depth:])
            if not u.is_compatible_with(want):
                raise ValueError(f"Dimensions [{0},{i.ndims - 1}) of indices[shape={i}] = {i[:-1]} must match "
                                 f"dimensions [0,{u.ndims}) of updates[shape={u}]" if u.ndims != want.ndims else
                                 f"Shapes {u} and {want} are incompatible")
        return [t]
    od.shape(shape_fn)

    def kernel(tensor, indices, updates):
        out = np.array(tensor, copy=True)
        idx = _nd_index(indices, out.shape, "output") if indices.size else None
        if idx is not None:
            combine(out, idx, np.asarray(updates, dtype=out.dtype))
        return out
    od.kernel(kernel)
    return od


def _assign(out, idx, u):
    out[idx] = u


TensorScatterUpdate = _tensor_scatter("TensorScatterUpdate", _assign, "{int16, int32, int64, uint16}")
TensorScatterAdd = _tensor_scatter("TensorScatterAdd", np.add.at)
TensorScatterSub = _tensor_scatter("TensorScatterSub", np.subtract.at)


@TensorScatterUpdate.grad
def _tensor_scatter_update_grad(op, g):
    indices = op.inputs[1]
    tensor_grad = tensor_scatter_nd_update(identity(g), indices, zeros_like(op.inputs[2], dtype=g.dtype.base_dtype))
    return [tensor_grad, None, gather_nd(g, indices)]


TensorScatterAdd.grad(lambda op, g: [identity(g), None, gather_nd(g, op.inputs[1])])
TensorScatterSub.grad(lambda op, g: [identity(g), None, -gather_nd(g, op.inputs[1])])


def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    return apply_op("TensorScatterUpdate", name=name, tensor=tensor, indices=indices, updates=updates)


def tensor_scatter_nd_add(tensor, indices, updates, name=None):
    return apply_op("TensorScatterAdd", name=name, tensor=tensor, indices=indices, updates=updates)


def tensor_scatter_nd_sub(tensor, indices, updates, name=None):
    return apply_op("TensorScatterSub", name=name, tensor=tensor, indices=indices, updates=updates)


# ---- searchsorted (LowerBound / UpperBound) --------------------------------------------------------------
def _bound(name, side):
    od = define(name, "sorted_inputs: T, values: T", "output: out_type",
                ["T: type", "out_type: {int32, int64} = int32"])

    def shape_fn(op):
        s, v = op._inputs[0].shape, op._inputs[1].shape
        if s.ndims is not None and s.ndims != 2:
            raise ValueError(f"Shape must be rank 2 but is rank {s.ndims}")
        if v.ndims is not None and v.ndims != 2:
            raise ValueError(f"Shape must be rank 2 but is rank {v.ndims}")
        return [v]
    od.shape(shape_fn)

    def kernel(sorted_inputs, values, *, out_type):
        if sorted_inputs.shape[0] != values.shape[0]:
            raise errors.InvalidArgumentError(None, None, "Leading dim_size of both tensors must match.")
        out = np.empty(values.shape, dtype=out_type.as_numpy_dtype)
        for i in range(values.shape[0]):
            out[i] = np.searchsorted(sorted_inputs[i], values[i], side=side)
        return out
    od.kernel(kernel)
    return lookup_error_gradient(od)


LowerBound = _bound("LowerBound", "left")
UpperBound = _bound("UpperBound", "right")


def searchsorted(sorted_sequence, values, side="left", out_type=dtypes.int32, name=None):
    """``tf.searchsorted``: per-row insertion points of ``values`` in ``sorted_sequence`` (last axis)."""
    sequence_size = shape(sorted_sequence)[-1]
    values_size = shape(values)[-1]
    sorted_2d = reshape(sorted_sequence, stack([-1, sequence_size]))
    values_2d = reshape(values, stack([-1, values_size]))
    if side == "right":
        out = apply_op("UpperBound", name=name, sorted_inputs=sorted_2d, values=values_2d, out_type=out_type)
    elif side == "left":
        out = apply_op("LowerBound", name=name, sorted_inputs=sorted_2d, values=values_2d, out_type=out_type)
    else:
        raise ValueError(f"Argument `side` must be either 'right' or 'left'. Received: `side` = {side}.")
    return reshape(out, shape(values))
