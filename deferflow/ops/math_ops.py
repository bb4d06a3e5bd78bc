"""Math ops: elementwise arithmetic, comparisons, reductions and matmul."""
import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor, Tensor
from deferflow.ops import array_ops
from deferflow.ops.common import (FLOAT, FLOAT_COMPLEX, INT_IDX, NUMERIC, REAL, binary, constant_value,
                                  unary)

define = op_registry.define

# ---- elementwise binary (one line each; gradients are reduced to input shapes centrally) ----
AddV2 = binary("AddV2", np.add, grad=lambda op, g: [g, g])
Add = binary("Add", np.add, types=NUMERIC[:-1] + ", string}", grad=lambda op, g: [g, g])
Sub = binary("Sub", np.subtract, grad=lambda op, g: [g, -g])
Mul = binary("Mul", np.multiply, grad=lambda op, g: [g * op.inputs[1], op.inputs[0] * g])
RealDiv = binary("RealDiv", np.true_divide, grad=lambda op, g: [
    g / op.inputs[1], -g * op.inputs[0] / square(op.inputs[1])])
Maximum = binary("Maximum", np.maximum, types=REAL)
Minimum = binary("Minimum", np.minimum, types=REAL)
SquaredDifference = binary("SquaredDifference", lambda x, y: np.square(x - y))
Pow = binary("Pow", np.power)


def _int_div(x, y):
    if np.issubdtype(x.dtype, np.integer) and np.any(y == 0):
        raise errors.InvalidArgumentError(None, None, "Integer division by zero")
    return np.floor_divide(x, y)


def _trunc_div(x, y):
    if np.issubdtype(x.dtype, np.integer):
        if np.any(y == 0):
            raise errors.InvalidArgumentError(None, None, "Integer division by zero")
        q = np.abs(x) // np.abs(y)
        return np.where((x < 0) != (y < 0), -q, q)
    return np.true_divide(x, y)


def _floor_mod(x, y):
    if np.issubdtype(x.dtype, np.integer) and np.any(y == 0):
        raise errors.InvalidArgumentError(None, None, "Integer division by zero")
    return np.mod(x, y)


FloorDiv = binary("FloorDiv", _int_div)
FloorMod = binary("FloorMod", _floor_mod, types=REAL)
Div = binary("Div", _trunc_div)
TruncateDiv = binary("TruncateDiv", _trunc_div)

_CMP = "{bfloat16, half, float, double, int8, int16, int32, int64, uint8, uint16, uint32, uint64}"
Less = binary("Less", np.less, types=_CMP, out="z: bool")
LessEqual = binary("LessEqual", np.less_equal, types=_CMP, out="z: bool")
Greater = binary("Greater", np.greater, types=_CMP, out="z: bool")
GreaterEqual = binary("GreaterEqual", np.greater_equal, types=_CMP, out="z: bool")

for _od in (Less, LessEqual, Greater, GreaterEqual):
    _od.no_gradient()

_EQ = define("Equal", "x: T, y: T", "z: bool", ["T: type", "incompatible_shape_error: bool = true"])
_NE = define("NotEqual", "x: T, y: T", "z: bool", ["T: type", "incompatible_shape_error: bool = true"])
for _od, _fn in ((_EQ, np.equal), (_NE, np.not_equal)):
    _od.shape(lambda op: [ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape)])
    _od.kernel(lambda x, y, _fn=_fn: np.asarray(_fn(x, y)))
    _od.no_gradient()

LogicalAnd = define("LogicalAnd", "x: bool, y: bool", "z: bool")
LogicalOr = define("LogicalOr", "x: bool, y: bool", "z: bool")
for _od, _fn in ((LogicalAnd, np.logical_and), (LogicalOr, np.logical_or)):
    _od.shape(lambda op: [ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape)])
    _od.kernel(lambda x, y, _fn=_fn: np.asarray(_fn(x, y)))
    _od.no_gradient()
LogicalNot = define("LogicalNot", "x: bool", "y: bool")
LogicalNot.shape(lambda op: [op._inputs[0].shape])
LogicalNot.kernel(lambda x: np.logical_not(x))
LogicalNot.no_gradient()

# ---- elementwise unary -------------------------------------------------------------------
_SIGNED = "{bfloat16, half, float, double, int8, int16, int32, int64, complex64, complex128}"
Neg = unary("Neg", np.negative, types=_SIGNED, grad=lambda op, g: [-g])
Square = unary("Square", np.square, types=_SIGNED, grad=lambda op, g: [g * (2.0 * op.inputs[0])])
Sqrt = unary("Sqrt", np.sqrt, grad=lambda op, g: [g * 0.5 / op.outputs[0]])
Exp = unary("Exp", np.exp, grad=lambda op, g: [g * op.outputs[0]])
Log = unary("Log", np.log, grad=lambda op, g: [g / op.inputs[0]])
Abs = unary("Abs", np.abs, types="{bfloat16, half, float, double, int8, int16, int32, int64}")


# ---- matmul ------------------------------------------------------------------------------
MatMul = define("MatMul", "a: T, b: T", "product: T",
                ["transpose_a: bool = false", "transpose_b: bool = false",
                 "T: {bfloat16, half, float, double, int32, int64, complex64, complex128}"])


@MatMul.shape
def _matmul_shape(op):
    a, b = (t.shape.with_rank(2) if t.shape.ndims is not None else ts.unknown_shape(2) for t in op._inputs)
    try:
        a, b = op._inputs[0].shape.with_rank(2), op._inputs[1].shape.with_rank(2)
    except ValueError:
        raise ValueError(f"Shape must be rank 2 but is rank "
                         f"{next(t.shape.ndims for t in op._inputs if t.shape.ndims != 2)}") from None
    ta, tb = op._attrs["transpose_a"], op._attrs["transpose_b"]
    m, k1 = (a[1], a[0]) if ta else (a[0], a[1])
    k2, n = (b[1], b[0]) if tb else (b[0], b[1])
    if not k1.is_compatible_with(k2):
        raise ValueError(f"Dimensions must be equal, but are {k1} and {k2}")
    return [ts.TensorShape([m, n])]


@MatMul.kernel
def _matmul_kernel(a, b, *, transpose_a, transpose_b):
    if a.ndim != 2 or b.ndim != 2:
        raise errors.InvalidArgumentError(None, None, f"In[0] and In[1] must be matrices, got shapes "
                                          f"{list(a.shape)} and {list(b.shape)}")
    a = a.T if transpose_a else a
    b = b.T if transpose_b else b
    if a.shape[1] != b.shape[0]:
        raise errors.InvalidArgumentError(None, None, f"Matrix size-incompatible: In[0]: {list(a.shape)}, "
                                          f"In[1]: {list(b.shape)}")
    return np.matmul(a, b)


@MatMul.grad
def _matmul_grad(op, g):
    a, b = op.inputs
    ta, tb = op._attrs["transpose_a"], op._attrs["transpose_b"]
    if not ta and not tb:
        return [matmul(g, b, transpose_b=True), matmul(a, g, transpose_a=True)]
    if not ta and tb:
        return [matmul(g, b), matmul(g, a, transpose_a=True)]
    if ta and not tb:
        return [matmul(b, g, transpose_b=True), matmul(a, g)]
    return [matmul(b, g, transpose_a=True, transpose_b=True), matmul(g, a, transpose_a=True, transpose_b=True)]


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, a_is_sparse=False,
           b_is_sparse=False, name=None, output_type=None):
    """``tf.matmul`` for rank-2 operands (batched operands use ``BatchMatMulV2``)."""
    with ops.name_scope(name, "MatMul", [a, b]) as scope:
        a = convert_to_tensor(a, name="a")
        b = convert_to_tensor(b, name="b", dtype=a.dtype.base_dtype)
        if adjoint_a:
            transpose_a = True
        if adjoint_b:
            transpose_b = True
        ra, rb = a.shape.ndims, b.shape.ndims
        if (ra is not None and ra > 2) or (rb is not None and rb > 2):
            batch = op_registry.get("BatchMatMulV2")
            if batch is not None:
                return apply_op("BatchMatMulV2", name=scope, x=a, y=b, adj_x=transpose_a, adj_y=transpose_b)
        return apply_op("MatMul", name=scope, a=a, b=b, transpose_a=transpose_a, transpose_b=transpose_b)


# ---- reductions --------------------------------------------------------------------------
def _reduction_shape(op):
    x, axes = op._inputs
    keep = op._attrs["keep_dims"]
    v = constant_value(axes)
    if x.shape.ndims is None:
        return [ts.unknown_shape()]
    n = x.shape.ndims
    if v is None:
        return [ts.unknown_shape(n) if keep else ts.unknown_shape()]
    axes_set = set()
    for a in np.reshape(v, [-1]).tolist():
        if not -n <= a < max(n, 1):
            raise ValueError(f"Invalid reduction dimension {a} for input with {n} dimensions.")
        axes_set.add(a % n if n else 0)
    dims = x.shape.as_list()
    return [ts.TensorShape([1 if i in axes_set else d for i, d in enumerate(dims)] if keep
                           else [d for i, d in enumerate(dims) if i not in axes_set])]


def _reducer(name, fn, types=NUMERIC):
    od = define(name, "input: T, reduction_indices: Tidx", "output: T",
                ["keep_dims: bool = false", f"T: {types}", "Tidx: {int32, int64} = int32"])
    od.shape(_reduction_shape)

    def kernel(x, axes, *, keep_dims):
        axes = tuple(int(a) for a in np.reshape(axes, [-1]))
        try:
            return np.asarray(fn(x, axis=axes, keepdims=keep_dims)).astype(x.dtype, copy=False)
        except (np.exceptions.AxisError, ValueError) as e:
            raise errors.InvalidArgumentError(None, None, f"Invalid reduction dimension: {e}") from None
    od.kernel(kernel)
    return od


Sum = _reducer("Sum", np.sum)
Mean = _reducer("Mean", np.mean)


def _reduced_shape_and_tile(op, g):
    """Reshapes a reduction's gradient to keep_dims form and tiles it back over the input."""
    x, axes = op.inputs
    if x.shape.is_fully_defined() and constant_value(axes) is not None:
        dims = x.shape.as_list()
        ax = {int(a) % max(len(dims), 1) for a in np.reshape(constant_value(axes), [-1])}
        kept = [1 if i in ax else d for i, d in enumerate(dims)]
        return ops.apply_op("BroadcastTo", input=array_ops.reshape(g, kept), shape=dims) \
            if op_registry.get("BroadcastTo") else array_ops.reshape(g, kept) * array_ops.ones(dims, g.dtype)
    xs = array_ops.shape(x)
    kept = ops.apply_op("ReducedShape", input_shape=xs, axes=axes) if op_registry.get("ReducedShape") else None
    return array_ops.reshape(g, kept) * array_ops.ones_like(x)


@Sum.grad
def _sum_grad(op, g):
    return [_reduced_shape_and_tile(op, g), None]


@Mean.grad
def _mean_grad(op, g):
    x, y = op.inputs[0], op.outputs[0]
    if x.shape.is_fully_defined() and y.shape.is_fully_defined():
        factor = max(x.shape.num_elements() // max(y.shape.num_elements(), 1), 1)
        return [_reduced_shape_and_tile(op, g) / array_ops.constant(factor, dtype=g.dtype.base_dtype), None]
    factor = cast(reduce_prod(array_ops.shape(x)), g.dtype.base_dtype) / cast(
        ops.apply_op("Maximum", x=reduce_prod(array_ops.shape(y)), y=1), g.dtype.base_dtype)
    return [_reduced_shape_and_tile(op, g) / factor, None]
Prod = _reducer("Prod", np.prod)
Max = _reducer("Max", np.max, types=REAL)
Min = _reducer("Min", np.min, types=REAL)
All = define("All", "input: bool, reduction_indices: Tidx", "output: bool",
             ["keep_dims: bool = false", "Tidx: {int32, int64} = int32"])
Any = define("Any", "input: bool, reduction_indices: Tidx", "output: bool",
             ["keep_dims: bool = false", "Tidx: {int32, int64} = int32"])
for _od, _fn in ((All, np.all), (Any, np.any)):
    _od.shape(_reduction_shape)
    _od.kernel(lambda x, axes, *, keep_dims, _fn=_fn: np.asarray(
        _fn(x, axis=tuple(int(a) for a in np.reshape(axes, [-1])), keepdims=keep_dims)))
    _od.no_gradient()


def _reduction_dims(x, axis):
    if axis is not None:
        return axis
    if x.shape.ndims is not None:
        return array_ops.constant(np.arange(x.shape.ndims, dtype=np.int32))
    return range_(0, apply_op("Rank", input=x), 1)


def _reduce(op_type, default_name):
    def reduce(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
        if axis is None:
            axis = reduction_indices
        if keepdims is None:
            keepdims = bool(keep_dims)
        x = convert_to_tensor(input_tensor)
        if op_type in ("All", "Any") and x.dtype.base_dtype != dtypes.bool:
            raise TypeError(f"Input 'input' of '{op_type}' Op has type {x.dtype.name} that does not match "
                            "expected type of bool.")
        return apply_op(op_type, name=name or default_name, input=x, reduction_indices=_reduction_dims(x, axis),
                        keep_dims=bool(keepdims))
    reduce.__name__ = "reduce_" + default_name.lower()
    return reduce


reduce_sum = _reduce("Sum", "Sum")
reduce_mean = _reduce("Mean", "Mean")
reduce_prod = _reduce("Prod", "Prod")
reduce_max = _reduce("Max", "Max")
reduce_min = _reduce("Min", "Min")
reduce_all = _reduce("All", "All")
reduce_any = _reduce("Any", "Any")

Rank = define("Rank", "input: T", "output: int32", ["T: type"])
Rank.shape(lambda op: [ts.TensorShape([])])
Rank.kernel(lambda x: np.array(np.ndim(x), dtype=np.int32))
Rank.no_gradient()

Range = define("Range", "start: Tidx, limit: Tidx, delta: Tidx", "output: Tidx",
               ["Tidx: {bfloat16, half, float, double, int8, int16, int32, int64, uint16, uint32} = int32"])


@Range.shape
def _range_shape(op):
    vals = [constant_value(t) for t in op._inputs]
    if any(v is None for v in vals):
        return [ts.unknown_shape(1)]
    start, limit, delta = (v.item() for v in vals)
    if delta == 0:
        raise ValueError("Requires delta != 0")
    return [ts.TensorShape([len(np.arange(start, limit, delta))])]


@Range.kernel
def _range_kernel(start, limit, delta):
    if delta == 0:
        raise errors.InvalidArgumentError(None, None, f"Requires delta != 0: {delta}")
    return np.arange(start, limit, delta, dtype=start.dtype)


def range_(start, limit=None, delta=1, dtype=None, name="range"):
    """``tf.range(limit)`` / ``tf.range(start, limit, delta)``; mixed types promote as in TF."""
    if limit is None:
        start, limit = 0, start
    with ops.name_scope(name, "Range", [start, limit, delta]) as scope:
        vals = [v if isinstance(v, Tensor) else convert_to_tensor(v, dtype=dtype, name=n)
                for v, n in zip((start, limit, delta), ("start", "limit", "delta"))]
        if dtype is None:
            order = [dtypes.int32, dtypes.int64, dtypes.float32, dtypes.float64]
            dtype = max((v.dtype.base_dtype for v in vals), key=lambda d: order.index(d) if d in order else 0)
        vals = [cast(v, dtype) for v in vals]
        return apply_op("Range", name=scope, start=vals[0], limit=vals[1], delta=vals[2])


cast = array_ops.cast


# ---- Python wrappers ---------------------------------------------------------------------
def add(x, y, name=None):
    with ops.name_scope(name, "Add", [x, y]) as scope:
        x = convert_to_tensor(x, name="x") if isinstance(x, Tensor) or not isinstance(y, Tensor) else x
        if isinstance(x, Tensor) and x.dtype.base_dtype == dtypes.string:
            return apply_op("Add", name=scope, x=x, y=y)
        return apply_op("AddV2", name=scope, x=x, y=y)


def subtract(x, y, name=None):
    return apply_op("Sub", name=name or "Sub", x=x, y=y)


def multiply(x, y, name=None):
    return apply_op("Mul", name=name or "Mul", x=x, y=y)


def _truediv(x, y, name):
    with ops.name_scope(name, "truediv", [x, y]) as scope:
        x = convert_to_tensor(x, name="x") if isinstance(x, Tensor) or not isinstance(y, Tensor) else x
        if isinstance(x, Tensor):
            y = convert_to_tensor(y, dtype=x.dtype.base_dtype, name="y")
        else:
            y = convert_to_tensor(y, name="y")
            x = convert_to_tensor(x, dtype=y.dtype.base_dtype, name="x")
        dt = x.dtype.base_dtype
        if dt.is_integer:
            target = dtypes.float64 if dt in (dtypes.int32, dtypes.int64, dtypes.uint32, dtypes.uint64) \
                else dtypes.float32
            x, y = cast(x, target), cast(y, target)
        return apply_op("RealDiv", name=scope, x=x, y=y)


def truediv(x, y, name=None):
    return _truediv(x, y, name)


def divide(x, y, name=None):
    if name is not None:
        return _truediv(x, y, name)
    return _truediv(x, y, "truediv")


def div(x, y, name=None):
    x = convert_to_tensor(x)
    if x.dtype.base_dtype.is_integer:
        return apply_op("FloorDiv", name=name or "div", x=x, y=y)
    return apply_op("RealDiv", name=name or "div", x=x, y=y)


def floordiv(x, y, name=None):
    return apply_op("FloorDiv", name=name or "floordiv", x=x, y=y)


def floormod(x, y, name=None):
    return apply_op("FloorMod", name=name or "FloorMod", x=x, y=y)


mod = floormod


def pow(x, y, name=None):  # noqa: A001 - TF's name
    return apply_op("Pow", name=name or "Pow", x=x, y=y)


def negative(x, name=None):
    return apply_op("Neg", name=name or "Neg", x=x)


def square(x, name=None):
    return apply_op("Square", name=name or "Square", x=x)


def sqrt(x, name=None):
    return apply_op("Sqrt", name=name or "Sqrt", x=x)


def exp(x, name=None):
    return apply_op("Exp", name=name or "Exp", x=x)


def log(x, name=None):
    return apply_op("Log", name=name or "Log", x=x)


def abs(x, name=None):  # noqa: A001
    return apply_op("Abs", name=name or "Abs", x=x)


def maximum(x, y, name=None):
    return apply_op("Maximum", name=name or "Maximum", x=x, y=y)


def minimum(x, y, name=None):
    return apply_op("Minimum", name=name or "Minimum", x=x, y=y)


def squared_difference(x, y, name=None):
    return apply_op("SquaredDifference", name=name or "SquaredDifference", x=x, y=y)


def equal(x, y, name=None):
    return apply_op("Equal", name=name or "Equal", x=x, y=y)


def not_equal(x, y, name=None):
    return apply_op("NotEqual", name=name or "NotEqual", x=x, y=y)


def less(x, y, name=None):
    return apply_op("Less", name=name or "Less", x=x, y=y)


def less_equal(x, y, name=None):
    return apply_op("LessEqual", name=name or "LessEqual", x=x, y=y)


def greater(x, y, name=None):
    return apply_op("Greater", name=name or "Greater", x=x, y=y)


def greater_equal(x, y, name=None):
    return apply_op("GreaterEqual", name=name or "GreaterEqual", x=x, y=y)


def logical_and(x, y, name=None):
    return apply_op("LogicalAnd", name=name or "LogicalAnd", x=x, y=y)


def logical_or(x, y, name=None):
    return apply_op("LogicalOr", name=name or "LogicalOr", x=x, y=y)


def logical_not(x, name=None):
    return apply_op("LogicalNot", name=name or "LogicalNot", x=x)


def logical_xor(x, y, name="LogicalXor"):
    with ops.name_scope(name, "LogicalXor", [x, y]) as scope:
        return logical_and(logical_or(x, y), logical_not(logical_and(x, y)), name=scope)


# ---- operator overloads (TF's op names: `a + b` is an AddV2 named "add") --------------------
def _binary_overload(fn, op_name, reverse=False):
    def method(self, other):
        with ops.name_scope(None, op_name, [self, other]) as scope:
            if reverse:
                x = convert_to_tensor(other, dtype=self.dtype.base_dtype, name="x")
                return fn(x, self, scope)
            y = convert_to_tensor(other, dtype=self.dtype.base_dtype, name="y")
            return fn(self, y, scope)
    return method


def _bin(op_type):
    return lambda x, y, name: apply_op(op_type, name=name, x=x, y=y)


def _add_fn(x, y, name):
    return apply_op("Add" if x.dtype.base_dtype == dtypes.string else "AddV2", name=name, x=x, y=y)


_OVERLOADS = {
    "add": (_add_fn, "add"), "sub": (_bin("Sub"), "sub"), "mul": (_bin("Mul"), "mul"),
    "truediv": (lambda x, y, n: _truediv(x, y, n), "truediv"), "floordiv": (_bin("FloorDiv"), "floordiv"),
    "mod": (_bin("FloorMod"), "mod"), "pow": (_bin("Pow"), "pow"),
    "and": (_bin("LogicalAnd"), "and"), "or": (_bin("LogicalOr"), "or"),
    "xor": (lambda x, y, n: logical_xor(x, y, n), "xor"), "matmul": (lambda x, y, n: matmul(x, y, name=n), "matmul"),
}
for _k, (_fn, _nm) in _OVERLOADS.items():
    setattr(Tensor, f"__{_k}__", _binary_overload(_fn, _nm))
    setattr(Tensor, f"__r{_k}__", _binary_overload(_fn, _nm, reverse=True))
Tensor.__div__ = Tensor.__truediv__
Tensor.__rdiv__ = Tensor.__rtruediv__
for _k, _t in (("lt", "Less"), ("le", "LessEqual"), ("gt", "Greater"), ("ge", "GreaterEqual")):
    setattr(Tensor, f"__{_k}__", lambda self, other, _t=_t: apply_op(_t, x=self, y=other))
Tensor.__neg__ = lambda self: apply_op("Neg", x=self)
Tensor.__abs__ = lambda self: apply_op("Abs", x=self)
Tensor.__invert__ = lambda self: apply_op("LogicalNot", x=self)


# ---- gradient helpers --------------------------------------------------------------------
AddN = define("AddN", "inputs: N * T", "sum: T", ["N: int >= 1", "T: {bfloat16, half, float, double, int8, "
              "int16, int32, int64, uint8, uint16, uint32, uint64, complex64, complex128, variant}"])


@AddN.shape
def _addn_shape(op):
    s = ts.unknown_shape()
    for t in op._inputs:
        s = s.merge_with(t.shape)
    return [s]


@AddN.kernel
def _addn_kernel(*xs):
    out = xs[0].copy() if len(xs) > 1 else xs[0]
    for x in xs[1:]:
        out += x
    return out


AddN.grad(lambda op, g: [g] * len(op.inputs))


def add_n(inputs, name=None):
    inputs = list(inputs)
    if len(inputs) == 1:
        return array_ops.identity(inputs[0], name=name)
    return apply_op("AddN", name=name or "AddN", inputs=inputs)


BroadcastGradientArgs = define("BroadcastGradientArgs", "s0: T, s1: T", "r0: T, r1: T", ["T: {int32, int64} = int32"])
BroadcastGradientArgs.shape(lambda op: [ts.unknown_shape(1), ts.unknown_shape(1)])
BroadcastGradientArgs.no_gradient()


@BroadcastGradientArgs.kernel
def _bcast_args_kernel(s0, s1):
    n = max(len(s0), len(s1))
    a = [1] * (n - len(s0)) + list(s0)
    b = [1] * (n - len(s1)) + list(s1)
    r0 = [i for i in range(n) if a[i] == 1 and b[i] != 1 or (i < n - len(s0))]
    r1 = [i for i in range(n) if b[i] == 1 and a[i] != 1 or (i < n - len(s1))]
    return np.array(r0, dtype=s0.dtype), np.array(r1, dtype=s0.dtype)


Cast_ = op_registry.get("Cast")
Cast_.grad(lambda op, g: [cast(g, op.inputs[0].dtype.base_dtype)
                          if op.inputs[0].dtype.base_dtype.is_floating and g.dtype.base_dtype.is_floating else None])
op_registry.get("Reshape").grad(lambda op, g: [array_ops.reshape(g, array_ops.shape(op.inputs[0])), None])
Abs.grad(lambda op, g: [g * ops.apply_op("Sign", x=op.inputs[0])])
