"""Array ops: constants, placeholders, shapes, reshaping and slicing."""
import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor, Tensor
from deferflow.ops.common import constant_value, shape_from_tensor, unchanged_shape

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


def shape(input, name=None, out_type=dtypes.int32):  # noqa: A002
    return apply_op("Shape", name=name, input=input, out_type=out_type)


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
    return _zeros_or_ones(shape, dtype, name, "zeros", 0)


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
    values = list(values)
    if axis == 0 and not _has_tensor(values):  # TF folds all-constant stacks into one Const
        try:
            return constant(values, name=name)
        except (TypeError, ValueError):
            pass
    return apply_op("Pack", name=name, values=values, axis=axis)


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
StridedSlice = define("StridedSlice", "input: T, begin: Index, end: Index, strides: Index", "output: T",
                      ["T: type", "Index: {int16, int32, int64}", "begin_mask: int = 0", "end_mask: int = 0",
                       "ellipsis_mask: int = 0", "new_axis_mask: int = 0", "shrink_axis_mask: int = 0"])


def _slice_spec(begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask):
    """The NumPy index equivalent to a StridedSlice's dense spec."""
    spec = []
    for i in range(len(begin)):
        bit = 1 << i
        if ellipsis_mask & bit:
            spec.append(Ellipsis)
        elif new_axis_mask & bit:
            spec.append(np.newaxis)
        elif shrink_axis_mask & bit:
            spec.append(int(begin[i]))
        else:
            spec.append(slice(None if begin_mask & bit else int(begin[i]),
                              None if end_mask & bit else int(end[i]), int(strides[i])))
    return tuple(spec)


@StridedSlice.kernel
def _strided_slice_kernel(x, begin, end, strides, *, begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                          shrink_axis_mask):
    spec = _slice_spec(begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask)
    try:
        return np.asarray(x[spec])
    except IndexError as e:
        raise errors.InvalidArgumentError(None, None, f"slice index out of bounds: {e}") from None


@StridedSlice.shape
def _strided_slice_shape(op):
    x, b, e, s = op._inputs
    bv, ev, sv = constant_value(b), constant_value(e), constant_value(s)
    if bv is None or ev is None or sv is None or x.shape.ndims is None:
        return [ts.unknown_shape()]
    a = op._attrs
    spec = _slice_spec(bv, ev, sv, a["begin_mask"], a["end_mask"], a["ellipsis_mask"], a["new_axis_mask"],
                       a["shrink_axis_mask"])
    dims = x.shape.as_list()
    # expand the ellipsis, then walk dims
    n_real = sum(1 for p in spec if p is not None and p is not Ellipsis)
    full = []
    for p in spec:
        if p is Ellipsis:
            full.extend([slice(None)] * (len(dims) - n_real))
        else:
            full.append(p)
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
        if isinstance(p, int):
            if size is not None and not -size <= p < size:
                raise ValueError(f"slice index {p} of dimension {d - 1} out of bounds")
            continue
        if size is None:
            out.append(None)
        else:
            out.append(len(range(*p.indices(size))))
    return [ts.TensorShape(out)]


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                  shrink_axis_mask=0, var=None, name=None):
    if strides is None:
        strides = [1] * len(begin)
    return apply_op("StridedSlice", name=name, input=input_, begin=begin, end=end, strides=strides,
                    begin_mask=begin_mask, end_mask=end_mask, ellipsis_mask=ellipsis_mask,
                    new_axis_mask=new_axis_mask, shrink_axis_mask=shrink_axis_mask)


def _slice_helper(tensor, slice_spec, var=None):
    """``Tensor.__getitem__``: ints, slices, Ellipsis, newaxis and scalar tensors, as TF encodes them."""
    if not isinstance(slice_spec, (list, tuple)) or isinstance(slice_spec, Tensor):
        slice_spec = [slice_spec]
    begin, end, strides = [], [], []
    begin_mask = end_mask = ellipsis_mask = new_axis_mask = shrink_axis_mask = 0
    for i, s in enumerate(slice_spec):
        if isinstance(s, slice):
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
            if isinstance(s, (bool, np.bool_)) or isinstance(s, (list, np.ndarray)):
                raise TypeError("Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and scalar "
                                f"tf.int32/tf.int64 tensors are valid indices, got {s!r}")
            begin.append(s)
            end.append(s + 1 if not isinstance(s, Tensor) else s + 1)
            strides.append(1)
            shrink_axis_mask |= 1 << i
    with ops.name_scope(None, "strided_slice", [tensor]) as name:
        packed = []
        for vals, nm in ((begin, "stack"), (end, "stack_1"), (strides, "stack_2")):
            if _has_tensor(vals):
                packed.append(stack([convert_to_tensor(v, dtype=dtypes.int32) for v in vals], name=nm))
            else:
                packed.append(constant(np.array(vals, dtype=np.int32), name=nm))
        return strided_slice(tensor, packed[0], packed[1], packed[2], begin_mask=begin_mask, end_mask=end_mask,
                             ellipsis_mask=ellipsis_mask, new_axis_mask=new_axis_mask,
                             shrink_axis_mask=shrink_axis_mask, name=name)


Tensor.__getitem__ = _slice_helper
newaxis = None


# ---- masks and gathers -----------------------------------------------------------------------
Where = define("Where", "input: T", "index: int64", ["T: type = bool"])
Where.shape(lambda op: [ts.TensorShape([None, op._inputs[0].shape.ndims])])
Where.kernel(lambda x: np.argwhere(x).astype(np.int64))
Where.no_gradient()

GatherV2 = define("GatherV2", "params: Tparams, indices: Tindices, axis: Taxis", "output: Tparams",
                  ["batch_dims: int = 0", "Tparams: type", "Tindices: {int16, int32, int64}",
                   "Taxis: {int32, int64}"])


@GatherV2.shape
def _gather_shape(op):
    p, i, a = op._inputs
    av = constant_value(a)
    if av is None or p.shape.ndims is None or i.shape.ndims is None:
        return [ts.unknown_shape()]
    axis = int(av) % max(p.shape.ndims, 1)
    bd = op._attrs["batch_dims"]
    dims = p.shape.as_list()
    return [ts.TensorShape(dims[:axis] + i.shape.as_list()[bd:] + dims[axis + 1:])]


@GatherV2.kernel
def _gather_kernel(params, indices, axis, *, batch_dims):
    axis = int(axis)
    n = params.shape[axis]
    if indices.size and (indices.min() < -n or indices.max() >= n or indices.min() < 0):
        bad = indices[(indices < 0) | (indices >= n)].reshape(-1)[0]
        raise errors.InvalidArgumentError(None, None, f"indices = {bad} is not in [0, {n})")
    if batch_dims == 0:
        return np.take(params, indices, axis=axis)
    out = [np.take(p, i, axis=axis - batch_dims) for p, i in zip(params, indices)]
    return np.stack(out)


def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    if axis is None:
        axis = batch_dims
    return apply_op("GatherV2", name=name or "GatherV2", params=params, indices=indices,
                    axis=convert_to_tensor(axis, dtype=dtypes.int32, name="axis")
                    if not isinstance(axis, Tensor) else axis, batch_dims=batch_dims)


def boolean_mask(tensor, mask, name="boolean_mask", axis=None):
    """``tf.boolean_mask`` as TF composes it: flatten the masked dims, ``Where``, ``GatherV2``."""
    with ops.name_scope(name, values=[tensor, mask]):
        tensor = convert_to_tensor(tensor, name="tensor")
        mask = convert_to_tensor(mask, name="mask")
        ndims_mask = mask.shape.ndims
        if ndims_mask is None:
            raise ValueError("Number of mask dimensions must be specified, even if some dimensions are None. "
                             "E.g. shape=[None] is ok, but shape=None is not.")
        axis = 0 if axis is None else axis
        leading = tensor.shape[axis:axis + ndims_mask].num_elements() if tensor.shape.ndims is not None else None
        shape_t = shape(tensor)
        lead = -1 if leading is None else leading
        new_shape = reshape(tensor, _concat_shape(shape_t, axis, ndims_mask, lead)) if ndims_mask != 1 or axis             else tensor
        indices = squeeze_axis(apply_op("Where", input=reshape(mask, [-1])), 1)
        return gather(new_shape, indices, axis=axis)


def _concat_shape(shape_t, axis, ndims_mask, lead):
    from deferflow.framework.ops import apply_op as _a
    parts = [strided_slice(shape_t, [0], [axis], [1]) if axis else None, constant([lead], dtype=dtypes.int32),
             strided_slice(shape_t, [axis + ndims_mask], [0], [1], end_mask=1)]
    parts = [p for p in parts if p is not None]
    return _a("ConcatV2", values=parts, axis=constant(0, dtype=dtypes.int32))


ConcatV2 = define("ConcatV2", "values: N * T, axis: Tidx", "output: T",
                  ["N: int >= 2", "T: type", "Tidx: {int32, int64} = int32"])


@ConcatV2.shape
def _concat_shape_fn(op):
    *vals, axis = op._inputs
    av = constant_value(axis)
    rank = next((v.shape.ndims for v in vals if v.shape.ndims is not None), None)
    if rank is None:
        return [ts.unknown_shape()]
    if av is None:
        return [ts.unknown_shape(rank)]
    a = int(av)
    if not -rank <= a < rank:
        raise ValueError(f"Expected concatenating dimensions in the range [{-rank}, {rank}), but got {a}")
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
                raise ValueError(f"Dimension {i} in both shapes must be equal, but are {dims[i]} and {d}")
    dims[a] = total
    return [ts.TensorShape(dims)]


ConcatV2.kernel(lambda *args: np.concatenate(args[:-1], axis=int(args[-1])))


def concat(values, axis, name="concat"):
    values = list(values)
    if len(values) == 1:
        with ops.name_scope(name) as scope:
            return identity(values[0], name=scope)
    return apply_op("ConcatV2", name=name, values=values, axis=axis)


Squeeze = define("Squeeze", "input: T", "output: T", ["T: type", "squeeze_dims: list(int) >= 0 = []"])


@Squeeze.shape
def _squeeze_shape(op):
    s = op._inputs[0].shape
    if s.ndims is None:
        return [s]
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
    except ValueError as e:
        raise errors.InvalidArgumentError(None, None, f"Can not squeeze: {e}") from None


def squeeze_axis(x, axis):
    return apply_op("Squeeze", input=x, squeeze_dims=[axis])


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    if axis is None:
        axis = squeeze_dims
    if isinstance(axis, int):
        axis = [axis]
    return apply_op("Squeeze", name=name, input=input, squeeze_dims=list(axis or []))
