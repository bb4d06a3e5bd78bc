"""Math ops: elementwise arithmetic, comparisons, reductions, scans, matmul and einsum.

Each op is one block: TF signature, shape function, NumPy kernel and gradient, then its Python wrapper.
Gradients of broadcasting ops return full-shaped input gradients; ``tf.gradients`` reduces them to the
input shapes centrally (``OpDef.broadcasting``).
"""
import builtins
import re

import math

import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor, Tensor
from deferflow.ops import array_ops
from deferflow.ops.common import (FLOAT, FLOAT_COMPLEX, NUMERIC, binary, constant_value, lookup_error_gradient,
                                  static_axes, unary)

define = op_registry.define
cast = array_ops.cast

_SIGNED = "{bfloat16, half, float, double, int8, int16, int32, int64, complex64, complex128}"
_CMP = "{bfloat16, half, float, double, int8, int16, int32, int64, uint8, uint16, uint32, uint64}"
_INT_REAL = "{bfloat16, half, float, double, int8, int16, int32, int64, uint8, uint16, uint32, uint64}"


def _quiet(fn, *args):
    """``fn(*args)`` cast to the first input's dtype, with TF's silent inf/nan instead of NumPy warnings."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args), dtype=args[0].dtype)


def _err(msg):
    return errors.InvalidArgumentError(None, None, msg)


# ---- elementwise binary (one line each) ------------------------------------------------------
def _realdiv_grad(op, g):
    x, y = op.inputs
    return [realdiv(g, y), g * realdiv(realdiv(-x, y), y)]


def _int_checked(fn):
    def kernel(x, y):
        if x.dtype.kind in "iu" and x.size and np.any(y == 0):  # an empty result divides nothing
            raise _err("Integer division by zero")
        return fn(x, y)
    return kernel


def _trunc_div(x, y):
    if x.dtype.kind in "iu":
        q = np.abs(x) // np.abs(y)
        return np.where((x < 0) != (y < 0), -q, q)
    return np.true_divide(x, y)


def _div_no_nan(x, y):
    safe = np.where(y == 0, np.ones_like(y), y)
    return np.where(y == 0, np.zeros_like(x), x / safe)


def _pow(x, y):
    if x.dtype.kind in "iu" and np.any(y < 0):
        raise _err("Integers to negative integer powers are not allowed")
    return np.power(x, y)


def _pow_grad(op, g):
    x, y = op.inputs
    z = op.outputs[0]
    gx = g * y * pow(x, y - 1)
    mask = x > 0
    safe_x = where(mask, x, array_ops.ones_like(x))  # avoids the false singularity of log at x = 0
    log_x = where(mask, log(safe_x), array_ops.zeros_like(x))
    return [gx, g * z * log_x]


def _max_min_grad(selector):
    def grad(op, g):
        x, y = op.inputs
        zeros = array_ops.zeros_like(g)
        xmask = selector(x, y)
        return [where_v2(xmask, g, zeros), where_v2(xmask, zeros, g)]
    return grad


def _sq_diff_grad(op, g):
    x, y = op.inputs
    gx = array_ops.constant(2, dtype=g.dtype.base_dtype) * g * (x - y)
    return [gx, -gx]


def _floor_mod_grad(op, g):
    x, y = op.inputs
    return [g, g * negative(floordiv(x, y))]


AddV2 = binary("AddV2", np.add, grad=lambda op, g: [g, g])
Add = binary("Add", np.add, types="{bfloat16, half, float, double, uint8, int8, int16, int32, int64, complex64, "
             "complex128, string}", grad=lambda op, g: [g, g])
Sub = binary("Sub", np.subtract, grad=lambda op, g: [g, -g])
Mul = binary("Mul", np.multiply, grad=lambda op, g: [multiply(g, op.inputs[1]), multiply(op.inputs[0], g)])
RealDiv = binary("RealDiv", np.true_divide, grad=_realdiv_grad)
Div = binary("Div", _int_checked(_trunc_div), grad=_realdiv_grad)
DivNoNan = binary("DivNoNan", _div_no_nan, types="{half, float, bfloat16, double, complex64, complex128}",
                  grad=lambda op, g: [div_no_nan(g, op.inputs[1]),
                                      g * div_no_nan(div_no_nan(-op.inputs[0], op.inputs[1]), op.inputs[1])])
MulNoNan = binary("MulNoNan", lambda x, y: np.where(y == 0, np.zeros_like(x), x * y),
                  types="{half, float, bfloat16, double, complex64, complex128}",
                  grad=lambda op, g: [mul_no_nan(g, op.inputs[1]), mul_no_nan(op.inputs[0], g)])
FloorDiv = binary("FloorDiv", _int_checked(np.floor_divide)).no_gradient()  # TF: gradient None
TruncateDiv = binary("TruncateDiv", _int_checked(_trunc_div)).no_gradient()
FloorMod = binary("FloorMod", _int_checked(np.mod), types=_INT_REAL, grad=_floor_mod_grad)
TruncateMod = lookup_error_gradient(binary("TruncateMod", _int_checked(np.fmod),
                                           types="{int32, int64, bfloat16, half, float, double}"))
Maximum = binary("Maximum", np.maximum, types=_INT_REAL, grad=_max_min_grad(lambda x, y: greater_equal(x, y)))
Minimum = binary("Minimum", np.minimum, types=_INT_REAL, grad=_max_min_grad(lambda x, y: less_equal(x, y)))
SquaredDifference = binary("SquaredDifference", lambda x, y: np.square(x - y),
                           types="{bfloat16, half, float, double, int32, int64, complex64, complex128}",
                           grad=_sq_diff_grad)
Pow = binary("Pow", _pow, types="{bfloat16, float, half, double, int8, int16, int32, int64, complex64, complex128}",
             grad=_pow_grad)

# Atan2(y, x): TF names its inputs y, x.
Atan2 = define("Atan2", "y: T, x: T", "z: T", [f"T: {FLOAT}"])
Atan2.shape(lambda op: [ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape)])
Atan2.kernel(lambda y, x: _quiet(np.arctan2, y, x))
Atan2.broadcasting = "binary"


@Atan2.grad
def _atan2_grad(op, g):
    y, x = op.inputs
    inv = g / (square(x) + square(y))
    return [x * inv, -y * inv]


# ---- comparisons and logic ---------------------------------------------------------------------
Less = binary("Less", np.less, types=_CMP, out="z: bool")
LessEqual = binary("LessEqual", np.less_equal, types=_CMP, out="z: bool")
Greater = binary("Greater", np.greater, types=_CMP, out="z: bool")
GreaterEqual = binary("GreaterEqual", np.greater_equal, types=_CMP, out="z: bool")
Equal = define("Equal", "x: T, y: T", "z: bool", ["T: type", "incompatible_shape_error: bool = true"])
NotEqual = define("NotEqual", "x: T, y: T", "z: bool", ["T: type", "incompatible_shape_error: bool = true"])
for _od, _fn in ((Equal, np.equal), (NotEqual, np.not_equal)):
    _od.shape(lambda op: [ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape)])
    _od.kernel(lambda x, y, _fn=_fn: np.asarray(_fn(x, y)))
LogicalAnd = define("LogicalAnd", "x: bool, y: bool", "z: bool")
LogicalOr = define("LogicalOr", "x: bool, y: bool", "z: bool")
for _od, _fn in ((LogicalAnd, np.logical_and), (LogicalOr, np.logical_or)):
    _od.shape(lambda op: [ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape)])
    _od.kernel(lambda x, y, _fn=_fn: np.asarray(_fn(x, y)))
LogicalNot = define("LogicalNot", "x: bool", "y: bool")
LogicalNot.shape(lambda op: [op._inputs[0].shape])
LogicalNot.kernel(lambda x: np.logical_not(x))
IsNan = define("IsNan", "x: T", "y: bool", [f"T: {FLOAT}"])
IsInf = define("IsInf", "x: T", "y: bool", [f"T: {FLOAT}"])
IsFinite = define("IsFinite", "x: T", "y: bool", [f"T: {FLOAT}"])
for _od, _fn in ((IsNan, np.isnan), (IsInf, np.isinf), (IsFinite, np.isfinite)):
    _od.shape(lambda op: [op._inputs[0].shape])
    _od.kernel(lambda x, _fn=_fn: np.asarray(_fn(x)))
for _od in (Less, LessEqual, Greater, GreaterEqual, Equal, NotEqual, LogicalAnd, LogicalOr, LogicalNot,
            IsNan, IsInf, IsFinite):
    _od.no_gradient()


# ---- elementwise unary -------------------------------------------------------------------------
def _sigmoid(x):
    e = np.exp(-x)  # inf for very negative x gives 0, as TF; 3 passes instead of 7 (hot in RNN cells)
    e += 1
    return np.reciprocal(e, out=e)


def _c(t, v):
    """A scalar constant of ``t``'s dtype."""
    return array_ops.constant(v, dtype=t.dtype.base_dtype)


Neg = unary("Neg", np.negative, types=_SIGNED, grad=lambda op, g: [-g])
Abs = unary("Abs", np.abs, types="{bfloat16, half, float, double, int8, int16, int32, int64}",
            grad=lambda op, g: [g * sign(op.inputs[0])])
Sign = unary("Sign", np.sign, types=_SIGNED, grad=lambda op, g: [array_ops.zeros_like(op.inputs[0])])
Square = unary("Square", np.square, types=NUMERIC, grad=lambda op, g: [
    multiply(g, multiply(op.inputs[0], array_ops.constant(2.0, dtype=g.dtype.base_dtype)))])
Sqrt = unary("Sqrt", np.sqrt, grad=lambda op, g: [apply_op("SqrtGrad", y=op.outputs[0], dy=g)])
Rsqrt = unary("Rsqrt", lambda x: 1 / np.sqrt(x), grad=lambda op, g: [apply_op("RsqrtGrad", y=op.outputs[0], dy=g)])
Reciprocal = unary("Reciprocal", np.reciprocal, types=_SIGNED,
                   grad=lambda op, g: [apply_op("ReciprocalGrad", y=op.outputs[0], dy=g)])
Inv = unary("Inv", np.reciprocal, types=_SIGNED, grad=lambda op, g: [apply_op("InvGrad", y=op.outputs[0], dy=g)])
Exp = unary("Exp", np.exp, grad=lambda op, g: [g * op.outputs[0]])
Expm1 = unary("Expm1", np.expm1, grad=lambda op, g: [g * exp(op.inputs[0])])
Log = unary("Log", np.log, grad=lambda op, g: [g * reciprocal(op.inputs[0])])
Log1p = unary("Log1p", np.log1p, grad=lambda op, g: [g * reciprocal(_c(g, 1) + op.inputs[0])])
Sigmoid = unary("Sigmoid", _sigmoid, grad=lambda op, g: [apply_op("SigmoidGrad", y=op.outputs[0], dy=g)])
Tanh = unary("Tanh", np.tanh, grad=lambda op, g: [apply_op("TanhGrad", y=op.outputs[0], dy=g)])
Sin = unary("Sin", np.sin, grad=lambda op, g: [g * cos(op.inputs[0])])
Cos = unary("Cos", np.cos, grad=lambda op, g: [-g * sin(op.inputs[0])])
Tan = unary("Tan", np.tan, grad=lambda op, g: [g * square(reciprocal(cos(op.inputs[0])))])
Asin = unary("Asin", np.arcsin, grad=lambda op, g: [g * rsqrt(_c(g, 1) - square(op.inputs[0]))])
Acos = unary("Acos", np.arccos, grad=lambda op, g: [-g * rsqrt(_c(g, 1) - square(op.inputs[0]))])
Atan = unary("Atan", np.arctan, grad=lambda op, g: [g * reciprocal(_c(g, 1) + square(op.inputs[0]))])
Sinh = unary("Sinh", np.sinh, grad=lambda op, g: [g * cosh(op.inputs[0])])
Cosh = unary("Cosh", np.cosh, grad=lambda op, g: [g * sinh(op.inputs[0])])
Floor = unary("Floor", np.floor, types=FLOAT).no_gradient()  # TF registers gradients that are None
Ceil = unary("Ceil", np.ceil, types=FLOAT).no_gradient()
Round = unary("Round", np.round, types=_SIGNED).no_gradient()
Rint = unary("Rint", np.rint, types=FLOAT).no_gradient()


def _erf(x):
    import math
    return np.vectorize(math.erf, otypes=[np.float64])(x)


Erf = unary("Erf", _erf, types=FLOAT, grad=lambda op, g: [
    g * _c(g, 2 / np.sqrt(np.pi)) * exp(-square(op.inputs[0]))])

# The "...Grad" ops TF's gradients emit: z = f(y, dy); each is differentiable again (second order).
_GRAD_T = f"T: {FLOAT_COMPLEX}"
SqrtGrad = define("SqrtGrad", "y: T, dy: T", "z: T", [_GRAD_T])
RsqrtGrad = define("RsqrtGrad", "y: T, dy: T", "z: T", [_GRAD_T])
ReciprocalGrad = define("ReciprocalGrad", "y: T, dy: T", "z: T", [_GRAD_T])
InvGrad = define("InvGrad", "y: T, dy: T", "z: T", [_GRAD_T])
SigmoidGrad = define("SigmoidGrad", "y: T, dy: T", "z: T", [_GRAD_T])
TanhGrad = define("TanhGrad", "y: T, dy: T", "z: T", [_GRAD_T])
for _od, _fn in ((SqrtGrad, lambda y, dy: dy * np.asarray(0.5, y.dtype) / y),
                 (RsqrtGrad, lambda y, dy: dy * np.asarray(-0.5, y.dtype) * y * y * y),
                 (ReciprocalGrad, lambda y, dy: -dy * y * y), (InvGrad, lambda y, dy: -dy * y * y),
                 (SigmoidGrad, lambda y, dy: dy * (y * (1 - y))), (TanhGrad, lambda y, dy: dy * (1 - y * y))):
    _od.shape(lambda op: [op._inputs[0].shape.merge_with(op._inputs[1].shape)])
    _od.kernel(lambda y, dy, _fn=_fn: _quiet(_fn, y, dy))


@SqrtGrad.grad
def _sqrt_grad_grad(op, g):
    a = op.inputs[0]
    ga = g / a
    return [-ga * op.outputs[0], _c(g, 0.5) * ga]


@RsqrtGrad.grad
def _rsqrt_grad_grad(op, g):
    a, b = op.inputs
    return [_c(g, -1.5) * g * b * square(a), apply_op("RsqrtGrad", y=a, dy=g)]


def _reciprocal_grad_grad(op, g):
    a, b = op.inputs
    return [g * _c(g, -2) * b * a, apply_op(op.type, y=a, dy=g)]


ReciprocalGrad.grad(_reciprocal_grad_grad)
InvGrad.grad(_reciprocal_grad_grad)


@SigmoidGrad.grad
def _sigmoid_grad_grad(op, g):
    a, b = op.inputs
    gb = g * b
    return [gb - _c(g, 2) * gb * a, apply_op("SigmoidGrad", y=a, dy=g)]


@TanhGrad.grad
def _tanh_grad_grad(op, g):
    a, b = op.inputs
    return [g * _c(g, -2) * b * a, apply_op("TanhGrad", y=a, dy=g)]


# ---- select ----------------------------------------------------------------------------------------
Select = define("Select", "condition: bool, t: T, e: T", "output: T", ["T: type"])
SelectV2 = define("SelectV2", "condition: bool, t: T, e: T", "output: T", ["T: type"])


@Select.shape
def _select_shape(op):
    c, t, e = (x.shape for x in op._inputs)
    out = t.merge_with(e)
    if c.ndims is not None and out.ndims is not None and c.ndims not in (0, 1, out.ndims):
        raise ValueError(f"Shape must be rank 0, 1 or {out.ndims} but is rank {c.ndims}")
    if c.ndims == out.ndims:
        out = out.merge_with(c)
    return [out]


@Select.kernel
def _select_kernel(c, t, e):
    if c.ndim == 1 and t.ndim > 1:  # a vector condition picks whole rows
        if c.shape[0] != t.shape[0]:
            raise _err(f"Number of batches of 'then' must match size of 'cond', but saw: {t.shape[0]} vs. "
                       f"{c.shape[0]}")
        c = c.reshape((-1,) + (1,) * (t.ndim - 1))
    elif c.shape != t.shape and c.ndim != 0 or t.shape != e.shape:
        raise _err(f"'then' and 'else' must have the same size.  but received: {list(t.shape)} vs. "
                   f"{list(e.shape)}" if t.shape != e.shape else
                   f"'cond' and 'then' must have the same size.  but received: {list(c.shape)} vs. {list(t.shape)}")
    return np.where(c, t, e)


SelectV2.shape(lambda op: [ts.broadcast_shape(ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape),
                                              op._inputs[2].shape)])
SelectV2.kernel(lambda c, t, e: np.asarray(np.where(c, t, e), dtype=t.dtype))
SelectV2.broadcasting = True


@Select.grad
def _select_grad(op, g):
    c, x = op.inputs[0], op.inputs[1]
    zeros = array_ops.zeros_like(x)
    return [None, select(c, g, zeros), select(c, zeros, g)]


@SelectV2.grad
def _select_v2_grad(op, g):
    c = op.inputs[0]
    zeros = array_ops.zeros_like(g)
    return [None, where_v2(c, g, zeros), where_v2(c, zeros, g)]


def select(condition, x, y, name=None):
    return apply_op("Select", name=name or "Select", condition=condition, t=x, e=y)


def _where(select_type, condition, x, y, name):
    if x is None and y is None:
        with ops.name_scope(name, "Where", [condition]) as scope:
            condition = convert_to_tensor(condition, preferred_dtype=dtypes.bool, name="condition")
            return apply_op("Where", name=scope, input=condition)
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    return apply_op(select_type, name=name or select_type, condition=condition, t=x, e=y)


def where(condition, x=None, y=None, name=None):
    """``tf.where`` (TF1): indices of true elements, or an elementwise ``Select``."""
    return _where("Select", condition, x, y, name)


def where_v2(condition, x=None, y=None, name=None):
    """``tf.where_v2``: like ``where`` but broadcasting (``SelectV2``)."""
    return _where("SelectV2", condition, x, y, name)


# ---- matmul ------------------------------------------------------------------------------------------
MatMul = define("MatMul", "a: T, b: T", "product: T",
                ["transpose_a: bool = false", "transpose_b: bool = false",
                 "T: {bfloat16, half, float, double, int32, int64, uint8, uint16, uint32, uint64, complex64, "
                 "complex128}", "grad_a: bool = false", "grad_b: bool = false"])


@MatMul.shape
def _matmul_shape(op):
    a, b = op._inputs[0].shape, op._inputs[1].shape
    for s in (a, b):
        if s.ndims is not None and s.ndims != 2:
            raise ValueError(f"Shape must be rank 2 but is rank {s.ndims}")
    a, b = a.with_rank(2), b.with_rank(2)
    ta, tb = op._attrs["transpose_a"], op._attrs["transpose_b"]
    m, k1 = (a[1], a[0]) if ta else (a[0], a[1])
    k2, n = (b[1], b[0]) if tb else (b[0], b[1])
    if not k1.is_compatible_with(k2):
        raise ValueError(f"Dimensions must be equal, but are {k1} and {k2}")
    return [ts.TensorShape([m, n])]


@MatMul.kernel
def _matmul_kernel(a, b, *, transpose_a, transpose_b):
    if a.ndim != 2 or b.ndim != 2:
        raise _err(f"In[0] and In[1] must be matrices, got shapes {list(a.shape)} and {list(b.shape)}")
    a = a.T if transpose_a else a
    b = b.T if transpose_b else b
    if a.shape[1] != b.shape[0]:
        raise _err(f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    if transpose_b and not transpose_a and a.shape[0] < 128 <= 4 * a.shape[1]:
        # few rows times a transposed operand (an RNN's input gradient): OpenBLAS is ~1.5x faster on (b a^T)^T
        return np.ascontiguousarray(np.matmul(b.T, a.T).T)
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


_BMM_ATTRS = ["adj_x: bool = false", "adj_y: bool = false", "grad_x: bool = false", "grad_y: bool = false"]
BatchMatMul = define("BatchMatMul", "x: T, y: T", "output: T",
                     ["T: {bfloat16, half, float, double, int32, int64, complex64, complex128}"] + _BMM_ATTRS)
BatchMatMulV2 = define("BatchMatMulV2", "x: T, y: T", "output: T",
                       ["T: {bfloat16, half, float, double, int16, int32, int64, uint8, uint16, uint32, uint64, "
                        "complex64, complex128}"] + _BMM_ATTRS)


def _bmm_shape(broadcast):
    def shape_fn(op):
        x, y = op._inputs[0].shape, op._inputs[1].shape
        if x.ndims is None or y.ndims is None:
            return [ts.unknown_shape()]
        if x.ndims < 2 or y.ndims < 2:
            raise ValueError(f"Shape must be at least rank 2 but is rank {min(x.ndims, y.ndims)}")
        xd, yd = x.as_list(), y.as_list()
        m, k1 = (xd[-1], xd[-2]) if op._attrs["adj_x"] else (xd[-2], xd[-1])
        k2, n = (yd[-1], yd[-2]) if op._attrs["adj_y"] else (yd[-2], yd[-1])
        if k1 is not None and k2 is not None and k1 != k2:
            raise ValueError(f"Dimensions must be equal, but are {k1} and {k2}")
        if broadcast:
            batch = ts.broadcast_shape(xd[:-2], yd[:-2]).as_list()
        else:
            if len(xd) != len(yd):
                raise ValueError(f"Shape must be rank {len(xd)} but is rank {len(yd)}")
            batch = ts.TensorShape(xd[:-2]).merge_with(yd[:-2]).as_list()
        return [ts.TensorShape(batch + [m, n])]
    return shape_fn


def _bmm_kernel(x, y, *, adj_x, adj_y):
    if adj_x:
        x = np.conj(np.swapaxes(x, -1, -2))
    if adj_y:
        y = np.conj(np.swapaxes(y, -1, -2))
    if x.shape[-1] != y.shape[-2]:
        raise _err(f"Matrix size-incompatible: In[0]: {list(x.shape)}, In[1]: {list(y.shape)}")
    try:
        return np.matmul(x, y)
    except ValueError:
        raise _err(f"In[0] and In[1] must have compatible batch dimensions: {list(x.shape)} vs. "
                   f"{list(y.shape)}") from None


def _bmm_grad(op, g):
    x, y = op.inputs
    ax, ay = op._attrs["adj_x"], op._attrs["adj_y"]
    if not ax:
        if not ay:
            return [matmul(g, y, adjoint_b=True), matmul(x, g, adjoint_a=True)]
        return [matmul(g, y), matmul(g, x, adjoint_a=True)]
    if not ay:
        return [matmul(y, g, adjoint_b=True), matmul(x, g)]
    return [matmul(y, g, adjoint_a=True, adjoint_b=True), matmul(g, x, adjoint_a=True, adjoint_b=True)]


for _od, _bc in ((BatchMatMul, False), (BatchMatMulV2, True)):
    _od.shape(_bmm_shape(_bc))
    _od.kernel(_bmm_kernel)
    _od.grad(_bmm_grad)
BatchMatMulV2.broadcasting = True  # broadcast batch dims are summed back centrally


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, a_is_sparse=False,
           b_is_sparse=False, name=None, output_type=None):
    """``tf.matmul``: ``MatMul`` for matrices, ``BatchMatMulV2`` (broadcasting) for higher ranks."""
    with ops.name_scope(name, "MatMul", [a, b]) as scope:
        if transpose_a and adjoint_a:
            raise ValueError("Only one of transpose_a and adjoint_a can be True.")
        if transpose_b and adjoint_b:
            raise ValueError("Only one of transpose_b and adjoint_b can be True.")
        a = convert_to_tensor(a, name="a")
        b = convert_to_tensor(b, name="b", preferred_dtype=a.dtype.base_dtype)
        if a.dtype.base_dtype != b.dtype.base_dtype:
            raise TypeError(f"Input 'b' of 'MatMul' Op has type {b.dtype.base_dtype.name} that does not match "
                            f"type {a.dtype.base_dtype.name} of argument 'a'.")
        ra, rb = a.shape.ndims, b.shape.ndims
        if ra is None or rb is None or ra > 2 or rb > 2:
            return apply_op("BatchMatMulV2", name=scope, x=a, y=b, adj_x=adjoint_a or transpose_a,
                            adj_y=adjoint_b or transpose_b)
        if adjoint_a:
            a, transpose_a = conj(a), True
        if adjoint_b:
            b, transpose_b = conj(b), True
        return apply_op("MatMul", name=scope, a=a, b=b, transpose_a=transpose_a, transpose_b=transpose_b)


def conj(x, name=None):
    x = convert_to_tensor(x)
    if x.dtype.base_dtype.is_complex:
        raise NotImplementedError("complex conjugation is not supported by deferflow")
    return x


# ---- reductions -----------------------------------------------------------------------------------
def _reduction_shape(op):
    x, axes = op._inputs
    keep = op._attrs["keep_dims"]
    v = constant_value(axes)
    if x.shape.ndims is None:
        return [ts.unknown_shape()]
    n = x.shape.ndims
    if v is None:
        if axes.shape.ndims == 0 and not keep:  # one unknown axis
            return [ts.unknown_shape(max(n - 1, 0))]
        return [ts.unknown_shape(n) if keep else ts.unknown_shape()]
    axes_set = set()
    for a in np.reshape(v, [-1]).tolist():
        if not -max(n, 1) <= a < max(n, 1):
            raise ValueError(f"Invalid reduction dimension {a} for input with {n} dimensions.")
        axes_set.add(a % n if n else 0)
    dims = x.shape.as_list()
    return [ts.TensorShape([1 if i in axes_set else d for i, d in enumerate(dims)] if keep
                           else [d for i, d in enumerate(dims) if i not in axes_set])]


def _axes_tuple(x, axes):
    n = x.ndim
    out = []
    for a in np.reshape(axes, [-1]).tolist():
        if not -max(n, 1) <= a < max(n, 1):
            raise _err(f"Invalid reduction dimension ({a} for input with {n} dimension(s)")
        out.append(a % n if n else 0)
    return tuple(sorted(set(out))) if n else ()


def _reducer(name, fn, types=NUMERIC, acc_half=False):
    od = define(name, "input: T, reduction_indices: Tidx", "output: T",
                ["keep_dims: bool = false", f"T: {types}", "Tidx: {int32, int64} = int32"])
    od.shape(_reduction_shape)

    def kernel(x, axes, *, keep_dims):
        ax = _axes_tuple(x, axes)
        with np.errstate(all="ignore"):
            if acc_half and x.dtype.itemsize == 2 and x.dtype.kind == "f" or x.dtype.kind == "V":
                r = fn(x.astype(np.float32), axis=ax, keepdims=keep_dims)  # TF accumulates half in float
            else:
                r = fn(x, axis=ax, keepdims=keep_dims)
        return np.asarray(r).astype(x.dtype, copy=False)
    od.kernel(kernel)
    return od


def _mean(x, axis, keepdims):
    n = int(np.prod([x.shape[a] for a in axis], dtype=np.int64))
    if x.dtype.kind in "iu":  # TF: integer sum, then integer division truncating toward zero
        s = np.sum(x, axis=axis, keepdims=keepdims, dtype=np.int64)
        n = max(n, 1)
        return np.where(s < 0, -(-s // n), s // n)
    return np.true_divide(np.sum(x, axis=axis, keepdims=keepdims), x.dtype.type(n))  # empty -> nan, no warning


Sum = _reducer("Sum", np.sum, acc_half=True)
Mean = _reducer("Mean", _mean, acc_half=True)
Prod = _reducer("Prod", np.prod)
def _extreme(fn, lowest):
    """np.max / np.min that, like TF, give the dtype's lowest / highest value over an empty reduction."""
    def reduce(x, axis, keepdims):
        if x.size:
            return fn(x, axis=axis, keepdims=keepdims)
        info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype) if x.dtype.kind in "iu" else None
        init = (-np.inf if lowest else np.inf) if info is None else (info.min if lowest else info.max)
        return fn(x, axis=axis, keepdims=keepdims, initial=init)
    return reduce


Max = _reducer("Max", _extreme(np.max, True), types=_INT_REAL)
Min = _reducer("Min", _extreme(np.min, False), types=_INT_REAL)
EuclideanNorm = _reducer("EuclideanNorm", lambda x, axis, keepdims: np.sqrt(np.sum(
    np.square(x), axis=axis, keepdims=keepdims)), acc_half=True)
All = define("All", "input: bool, reduction_indices: Tidx", "output: bool",
             ["keep_dims: bool = false", "Tidx: {int32, int64} = int32"])
Any = define("Any", "input: bool, reduction_indices: Tidx", "output: bool",
             ["keep_dims: bool = false", "Tidx: {int32, int64} = int32"])
for _od, _fn in ((All, np.all), (Any, np.any)):
    _od.shape(_reduction_shape)
    _od.kernel(lambda x, axes, *, keep_dims, _fn=_fn: np.asarray(_fn(x, axis=_axes_tuple(x, axes),
                                                                     keepdims=keep_dims)))
    _od.no_gradient()


def reduced_shape(input_shape, axes):
    """The shape of a reduction's output with the reduced dims kept as 1s (an int32 tensor), as TF computes it."""
    input_shape = convert_to_tensor(input_shape)
    axes = convert_to_tensor(axes)
    if axes.dtype.base_dtype != dtypes.int32:
        axes = cast(axes, dtypes.int32)
    if input_shape.dtype.base_dtype != dtypes.int32:
        input_shape = cast(input_shape, dtypes.int32)
    sv, av = constant_value(input_shape), constant_value(axes)
    if sv is not None and av is not None:  # static: a value, made a Const where it is used (as TF)
        dims = [int(d) for d in sv]
        for a in np.reshape(av, [-1]):
            dims[int(a) % len(dims)] = 1
        return np.array(dims, dtype=np.int32)
    input_rank = array_ops.size(input_shape)
    axes = (axes + input_rank) % input_rank
    axes_shape = array_ops.shape(axes)
    return apply_op("DynamicStitch", indices=[range_(0, input_rank), axes],
                    data=[input_shape, array_ops.ones(axes_shape, dtypes.int32)])


def _expand_reduction_grad(op, g, *, tile=True):
    """A reduction's gradient broadcast back over its input, with TF's ops (Reshape + Tile, or BroadcastTo)."""
    x, axes = op.inputs
    dims = x.shape.as_list() if x.shape.ndims is not None else None
    av = constant_value(axes) if dims is not None and tile else None
    if av is not None:
        rank = len(dims)
        if np.array_equal(np.reshape(av, [-1]), np.arange(rank)):  # all dims, in order
            g = array_ops.reshape(g, [1] * rank)
            multiples = array_ops.shape(x) if None in dims else array_ops.constant(dims, dtype=dtypes.int32)
            return array_ops.tile(g, multiples)
        if None not in dims:
            kept = [1 if i in {int(a) % rank for a in np.reshape(av, [-1])} else d for i, d in enumerate(dims)]
            return array_ops.tile(array_ops.reshape(g, kept), [d // builtins.max(k, 1) for d, k in zip(dims, kept)])
    input_shape = array_ops.shape(x)
    if not op._attrs["keep_dims"]:
        g = array_ops.reshape(g, reduced_shape(input_shape, axes))
    return array_ops.broadcast_to(g, input_shape)


@Sum.grad
def _sum_grad(op, g):
    return [_expand_reduction_grad(op, g), None]


@Mean.grad
def _mean_grad(op, g):
    sum_grad = _expand_reduction_grad(op, g)
    x, y = op.inputs[0], op.outputs[0]
    if x.shape.is_fully_defined() and y.shape.is_fully_defined():
        factor = x.shape.num_elements() // builtins.max(y.shape.num_elements(), 1)
        factor = array_ops.constant(factor, dtype=sum_grad.dtype.base_dtype)
    else:
        input_shape = array_ops.shape(x)
        input_rank = array_ops.size(input_shape)
        axes = (op.inputs[1] + input_rank) % input_rank
        factor = reduce_prod(array_ops.gather(input_shape, axes))
    return [truediv(sum_grad, cast(factor, sum_grad.dtype.base_dtype)), None]


def _min_or_max_grad(op, g):
    x, axes = op.inputs
    y = op.outputs[0]
    if op._attrs["keep_dims"]:
        kept = array_ops.shape(y)
    else:
        kept = reduced_shape(array_ops.shape(x), axes)
        y = array_ops.reshape(y, kept)
        g = array_ops.reshape(g, kept)
    indicators = cast(equal(y, x), g.dtype.base_dtype)
    num_selected = array_ops.reshape(reduce_sum(indicators, axes), kept)
    return [divide(indicators, num_selected) * g, None]


Max.grad(_min_or_max_grad)
Min.grad(_min_or_max_grad)


@Prod.grad
def _prod_grad(op, g):
    # Product of all other entries as an exclusive cumprod from both sides, so zeros are handled.
    x, axes = op.inputs
    input_shape = array_ops.shape(x)
    g = _expand_reduction_grad(op, g, tile=False)
    rank = x.shape.ndims
    ax = static_axes(axes, rank)
    if ax is not None:
        other = [i for i in builtins.range(rank) if i not in ax]
        perm = array_ops.constant(np.array(ax + other, dtype=np.int32))
        reduced_i = array_ops.constant(np.array(ax, dtype=np.int32))
        other_i = array_ops.constant(np.array(other, dtype=np.int32))
    else:
        r = array_ops.rank(x)
        reduced_i = (cast(array_ops.reshape(axes, [-1]), dtypes.int32) + r) % r
        other_i, _ = apply_op("ListDiff", x=range_(0, r), y=reduced_i, out_idx=dtypes.int32)
        perm = array_ops.concat([reduced_i, other_i], 0)
    reduced_num = reduce_prod(array_ops.gather(input_shape, reduced_i))
    other_num = reduce_prod(array_ops.gather(input_shape, other_i))
    permuted = array_ops.transpose(x, perm)
    permuted_shape = array_ops.shape(permuted)
    reshaped = array_ops.reshape(permuted, array_ops.stack([reduced_num, other_num]))
    left = cumprod(reshaped, axis=0, exclusive=True)
    right = cumprod(reshaped, axis=0, exclusive=True, reverse=True)
    y = array_ops.reshape(left * right, permuted_shape)
    out = g * array_ops.transpose(y, array_ops.invert_permutation(perm))
    return [array_ops.reshape(out, input_shape), None]


@EuclideanNorm.grad
def _euclidean_norm_grad(op, g):
    out = op.outputs[0]
    if not op._attrs["keep_dims"]:
        kept = reduced_shape(array_ops.shape(op.inputs[0]), op.inputs[1])
        out = array_ops.reshape(out, kept)
        g = array_ops.reshape(g, kept)
    return [truediv(op.inputs[0], out / g), None]


def _reduction_dims(x, axis):
    if axis is not None:
        return axis
    if x.shape.ndims:
        return array_ops.constant(np.arange(x.shape.ndims, dtype=np.int32))
    return range_(0, array_ops.rank(x))


def _reduce(op_type, default_name, bool_only=False):
    def reduce(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
        if axis is not None and reduction_indices is not None:
            raise ValueError("Cannot specify both 'axis' and 'reduction_indices'.")
        if keepdims is not None and keep_dims is not None:
            raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'.")
        axis = reduction_indices if axis is None else axis
        keepdims = bool(keep_dims) if keepdims is None else bool(keepdims)
        x = convert_to_tensor(input_tensor)
        if bool_only and x.dtype.base_dtype != dtypes.bool:
            raise TypeError(f"Input 'input' of '{op_type}' Op has type {x.dtype.base_dtype.name} that does not "
                            "match expected type of bool.")
        out = apply_op(op_type, name=name or default_name, input=x, reduction_indices=_reduction_dims(x, axis),
                       keep_dims=keepdims)
        if axis is None and not keepdims:
            out.set_shape([])  # all dims reduced, even of an input of unknown rank
        return out
    reduce.__name__ = "reduce_" + default_name.lower()
    reduce.__doc__ = (f"``tf.{reduce.__name__}`` (``{op_type}``); ``keep_dims`` and ``reduction_indices`` are "
                      "TF1's old names.")
    return reduce


reduce_sum = _reduce("Sum", "Sum")
reduce_mean = _reduce("Mean", "Mean")
reduce_prod = _reduce("Prod", "Prod")
reduce_max = _reduce("Max", "Max")
reduce_min = _reduce("Min", "Min")
reduce_euclidean_norm = _reduce("EuclideanNorm", "EuclideanNorm")
reduce_all = _reduce("All", "All", bool_only=True)
reduce_any = _reduce("Any", "Any", bool_only=True)


def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
    """``log(sum(exp(x)))`` computed stably, with TF's ops (``ReduceLogSumExp`` scope)."""
    axis = reduction_indices if axis is None else axis
    keepdims = bool(keep_dims) if keepdims is None else bool(keepdims)
    with ops.name_scope(name, "ReduceLogSumExp", [input_tensor]) as scope:
        x = convert_to_tensor(input_tensor)
        raw_max = reduce_max(x, axis, keepdims=True)
        my_max = array_ops.stop_gradient(where_v2(is_finite(raw_max), raw_max, 0))
        result = log(reduce_sum(exp(subtract(x, my_max)), axis, keepdims=keepdims))
        if not keepdims:
            my_max = array_ops.reshape(my_max, apply_op("Shape", input=result))  # TF's raw Shape op here
        result = add(result, my_max, name=scope)
        if axis is None and not keepdims:
            result.set_shape([])
        return result


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    with ops.name_scope(name, "reduce_variance", [input_tensor]):
        x = convert_to_tensor(input_tensor)
        means = reduce_mean(x, axis, keepdims=True)
        return reduce_mean(squared_difference(x, means), axis, keepdims=keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    with ops.name_scope(name, "reduce_std", [input_tensor]):
        return sqrt(reduce_variance(input_tensor, axis, keepdims))


def count_nonzero(input_tensor=None, axis=None, keepdims=None, dtype=dtypes.int64, name=None,
                  reduction_indices=None, keep_dims=None, input=None):  # noqa: A002 - TF's argument name
    """Number of nonzero elements (``count_nonzero/Sum``, int64 unless ``dtype`` says otherwise)."""
    input_tensor = input if input_tensor is None else input_tensor
    axis = reduction_indices if axis is None else axis
    keepdims = bool(keep_dims) if keepdims is None else bool(keepdims)
    with ops.name_scope(name, "count_nonzero", [input_tensor]):
        x = convert_to_tensor(input_tensor, name="input")
        zero = array_ops.zeros([], dtype=x.dtype.base_dtype)
        return cast(reduce_sum(cast(not_equal(x, zero), dtypes.int64), axis=axis, keepdims=keepdims), dtype)


# ---- argmax / argmin ------------------------------------------------------------------------------
_ARG_T = "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, uint64, bool}"
ArgMax = define("ArgMax", "input: T, dimension: Tidx", "output: output_type",
                [_ARG_T, "Tidx: {int16, int32, int64} = int32", "output_type: {int16, uint16, int32, int64} = int64"])
ArgMin = define("ArgMin", "input: T, dimension: Tidx", "output: output_type",
                [_ARG_T, "Tidx: {int32, int64} = int32", "output_type: {int32, int64} = int64"])


def _arg_shape(op):
    x, d = op._inputs
    v = constant_value(d)
    if x.shape.ndims is None:
        return [ts.unknown_shape()]
    n = x.shape.ndims
    if v is None:
        return [ts.unknown_shape(max(n - 1, 0))]
    a = int(v)
    if not -n <= a < n:
        raise ValueError(f"Expected dimension in the range [{-n}, {n}), but got {a}")
    dims = x.shape.as_list()
    return [ts.TensorShape(dims[:a % n] + dims[a % n + 1:])]


def _arg_kernel(fn):
    def kernel(x, dim, *, output_type):
        a = int(dim)
        if not -x.ndim <= a < x.ndim:
            raise _err(f"Expected dimension in the range [{-x.ndim}, {x.ndim}), but got {a}")
        if x.shape[a] == 0:
            raise _err(f"Reduction axis {a} is empty in shape {list(x.shape)}")
        return np.asarray(fn(x, axis=a), dtype=output_type.as_numpy_dtype)
    return kernel


for _od, _fn in ((ArgMax, np.argmax), (ArgMin, np.argmin)):
    _od.shape(_arg_shape)
    _od.kernel(_arg_kernel(_fn))
    _od.no_gradient()  # TF: gradient None


def _arg(op_type):
    def fn(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
        if axis is not None and dimension is not None:
            raise ValueError("Cannot specify both 'axis' and 'dimension'")
        axis = dimension if axis is None else axis
        axis = 0 if axis is None else axis
        return apply_op(op_type, name=name or op_type, input=input, dimension=axis, output_type=output_type)
    fn.__name__ = op_type.lower()
    return fn


argmax = _arg("ArgMax")
argmin = _arg("ArgMin")


# ---- scans -------------------------------------------------------------------------------------------
def _scan(name, fn, identity):
    od = define(name, "x: T, axis: Tidx", "out: T",
                ["exclusive: bool = false", "reverse: bool = false", f"T: {NUMERIC}", "Tidx: {int32, int64} = int32"])
    od.shape(lambda op: [op._inputs[0].shape])

    def kernel(x, axis, *, exclusive, reverse):
        a = int(axis)
        if not -x.ndim <= a < max(x.ndim, 1) or x.ndim == 0:
            raise _err(f"ScanOp: Expected scan axis in the range [{-x.ndim}, {x.ndim}), but got {a}")
        if reverse:
            x = np.flip(x, a)
        with np.errstate(all="ignore"):
            out = fn(x, axis=a, dtype=x.dtype)
        if exclusive:
            first = np.full_like(np.take(x, [0], axis=a), identity)
            out = np.concatenate([first, np.delete(out, -1, axis=a)], axis=a) if x.shape[a] else out
        return np.flip(out, a) if reverse else out
    od.kernel(kernel)
    return od


Cumsum = _scan("Cumsum", np.cumsum, 0)
Cumprod = _scan("Cumprod", np.cumprod, 1)


@Cumsum.grad
def _cumsum_grad(op, g):
    return [cumsum(g, op.inputs[1], exclusive=op._attrs["exclusive"], reverse=not op._attrs["reverse"]), None]


@Cumprod.grad
def _cumprod_grad(op, g):
    x, axis = op.inputs
    ex, rev = op._attrs["exclusive"], op._attrs["reverse"]
    prod = cumprod(x, axis, exclusive=ex, reverse=rev)
    out = cumsum(prod * g, axis, exclusive=ex, reverse=not rev)
    return [div_no_nan(out, x), None]


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    with ops.name_scope(name, "Cumsum", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        return apply_op("Cumsum", name=scope, x=x, axis=axis, exclusive=exclusive, reverse=reverse)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    with ops.name_scope(name, "Cumprod", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        return apply_op("Cumprod", name=scope, x=x, axis=axis, exclusive=exclusive, reverse=reverse)


# ---- segment sums ------------------------------------------------------------------------------------
UnsortedSegmentSum = define("UnsortedSegmentSum", "data: T, segment_ids: Tindices, num_segments: Tnumsegments",
                            "output: T", [f"T: {NUMERIC}", "Tindices: {int16, int32, int64}",
                                          "Tnumsegments: {int32, int64} = int32"])


@UnsortedSegmentSum.shape
def _uss_shape(op):
    data, ids, num = op._inputs
    n = constant_value(num)
    if data.shape.ndims is None or ids.shape.ndims is None:
        return [ts.unknown_shape()]
    return [ts.TensorShape([None if n is None else int(n)] + data.shape.as_list()[ids.shape.ndims:])]


@UnsortedSegmentSum.kernel
def _uss_kernel(data, ids, num):
    num = int(num)
    if data.shape[:ids.ndim] != ids.shape:
        raise _err(f"data.shape = {list(data.shape)} does not start with segment_ids.shape = {list(ids.shape)}")
    if ids.size and ids.max() >= num:
        raise _err(f"segment_ids[{int(np.argmax(ids.reshape(-1) >= num))}] = {ids.max()} is out of range "
                   f"[0, {num})")
    out = np.zeros((num,) + data.shape[ids.ndim:], dtype=data.dtype)
    flat_ids = ids.reshape(-1)
    vals = data.reshape((-1,) + data.shape[ids.ndim:])
    keep = flat_ids >= 0  # TF drops negative ids
    if keep.all():
        np.add.at(out, flat_ids, vals)
    else:
        np.add.at(out, flat_ids[keep], vals[keep])
    return out


@UnsortedSegmentSum.grad
def _uss_grad(op, g):
    return [_gather_drop_negatives(g, op.inputs[1]), None, None]


def _gather_drop_negatives(params, indices):
    """``gather(params, indices)`` with zeros where an index is negative (TF's _GatherDropNegatives)."""
    clipped = maximum(indices, array_ops.zeros_like(indices))
    gathered = array_ops.gather(params, clipped)
    is_positive = greater_equal(indices, 0)
    pos_shape = array_ops.shape(is_positive)
    bshape = array_ops.concat([pos_shape, array_ops.ones(
        array_ops.stack([array_ops.rank(gathered) - array_ops.rank(is_positive)]), dtype=pos_shape.dtype)], axis=0)
    is_positive = array_ops.reshape(is_positive, bshape)
    is_positive = logical_and(is_positive, array_ops.ones_like(gathered, dtype=dtypes.bool))
    return where(is_positive, gathered, array_ops.zeros_like(gathered))


def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    return apply_op("UnsortedSegmentSum", name=name or "UnsortedSegmentSum", data=data, segment_ids=segment_ids,
                    num_segments=num_segments)


# ---- AddN and gradient helpers -----------------------------------------------------------------------
AddN = define("AddN", "inputs: N * T", "sum: T", ["N: int >= 1", "T: {bfloat16, half, float, double, int8, "
              "int16, int32, int64, uint8, uint16, uint32, uint64, complex64, complex128, variant}"])


@AddN.shape
def _addn_shape(op):
    s = ts.unknown_shape()
    for t in op._inputs:
        try:
            s = s.merge_with(t.shape)
        except ValueError:
            raise ValueError(f"Shapes must be equal rank, but are {s.ndims} and {t.shape.ndims}" if
                             s.ndims != t.shape.ndims else f"Dimensions must be equal: {s} vs. {t.shape}") from None
    return [s]


@AddN.kernel
def _addn_kernel(*xs):
    if any(x.shape != xs[0].shape for x in xs):
        raise _err(f"Inputs to operation AddN of type AddN must have the same size and shape.  Input 0: "
                   f"{list(xs[0].shape)} != input {next(i for i, x in enumerate(xs) if x.shape != xs[0].shape)}")
    if len(xs) == 1:
        return xs[0]
    if xs[0].ndim == 0:
        return np.asarray(sum(xs[1:], xs[0]))
    out = np.add(xs[0], xs[1])
    for x in xs[2:]:
        np.add(out, x, out=out)  # ``out`` is this kernel's own fresh array
    return out


AddN.grad(lambda op, g: [g] * len(op.inputs))


def add_n(inputs, name=None):
    """``tf.add_n``: elementwise sum of same-shaped tensors (one input is returned as is, as in TF)."""
    if not inputs or not isinstance(inputs, (list, tuple)):
        raise ValueError("inputs must be a list of at least one Tensor/IndexedSlices with the same dtype and shape")
    inputs = [convert_to_tensor(x) for x in inputs]
    if len(inputs) == 1:
        return array_ops.identity(inputs[0], name=name) if name else inputs[0]
    return apply_op("AddN", name=name or "AddN", inputs=inputs)


def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    return add_n(inputs, name=name)


BroadcastGradientArgs = define("BroadcastGradientArgs", "s0: T, s1: T", "r0: T, r1: T",
                               ["T: {int32, int64} = int32"])
BroadcastGradientArgs.shape(lambda op: [ts.unknown_shape(1), ts.unknown_shape(1)])
BroadcastGradientArgs.no_gradient()


@BroadcastGradientArgs.kernel
def _bcast_args_kernel(s0, s1):
    n = builtins.max(len(s0), len(s1))
    a = [1] * (n - len(s0)) + list(s0)
    b = [1] * (n - len(s1)) + list(s1)
    for p, q in zip(a, b):
        if p != q and p != 1 and q != 1:
            raise _err(f"Incompatible shapes: {list(s0)} vs. {list(s1)}")
    r0 = [i for i in builtins.range(n) if a[i] == 1 and b[i] != 1 or i < n - len(s0)]
    r1 = [i for i in builtins.range(n) if b[i] == 1 and a[i] != 1 or i < n - len(s1)]
    return np.array(r0, dtype=s0.dtype), np.array(r1, dtype=s0.dtype)


# ---- range and linspace --------------------------------------------------------------------------------
Range = define("Range", "start: Tidx, limit: Tidx, delta: Tidx", "output: Tidx",
               ["Tidx: {bfloat16, half, float, double, int8, int16, int32, int64, uint16, uint32, uint64} = int32"])
Range.no_gradient()


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
        raise _err(f"Requires delta != 0: {delta}")
    if delta > 0 and start > limit or delta < 0 and start < limit:
        raise _err(f"Requires start <= limit when delta > 0: {start}/{limit}" if delta > 0 else
                   f"Requires start >= limit when delta < 0: {start}/{limit}")
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
            dtype = builtins.max((v.dtype.base_dtype for v in vals), key=lambda d: order.index(d) if d in order else 0)
        vals = [cast(v, dtype) for v in vals]
        return apply_op("Range", name=scope, start=vals[0], limit=vals[1], delta=vals[2])


LinSpace = define("LinSpace", "start: T, stop: T, num: Tidx", "output: T",
                  [f"T: {FLOAT}", "Tidx: {int32, int64} = int32"])
LinSpace.no_gradient()


@LinSpace.shape
def _linspace_shape(op):
    n = constant_value(op._inputs[2])
    return [ts.TensorShape([None if n is None else int(n)])]


@LinSpace.kernel
def _linspace_kernel(start, stop, num):
    if num <= 0:
        raise _err(f"Requires num > 0: {num}")
    return np.linspace(start, stop, int(num)).astype(start.dtype)


def linspace(start, stop, num, name=None, axis=0):
    return apply_op("LinSpace", name=name or "LinSpace", start=start, stop=stop, num=num)


lin_space = linspace


# ---- einsum and tensordot --------------------------------------------------------------------------
Einsum = define("Einsum", "inputs: N * T", "output: T", ["equation: string", "N: int >= 1", "T: type"])
Einsum.broadcasting = True  # ellipsis batch dims broadcast like NumPy's


def _einsum_parts(equation):
    lhs, _, out = equation.replace(" ", "").partition("->")
    return lhs.split(","), out


def _einsum_terms(sub):
    """Subscript string -> list of labels, with '...' as one label."""
    return re.findall(r"\.\.\.|[a-zA-Z]", sub)


@Einsum.shape
def _einsum_shape(op):
    ins, out = _einsum_parts(op._attrs["equation"])
    if len(ins) != len(op._inputs):
        raise ValueError(f"Expected {len(ins)} inputs but got: {len(op._inputs)}")
    sizes, ell = {}, ts.TensorShape([])
    for sub, t in zip(ins, op._inputs):
        if t.shape.ndims is None:
            return [ts.unknown_shape()]
        terms, dims = _einsum_terms(sub), t.shape.as_list()
        n_ell = len(dims) - (len(terms) - ("..." in terms))
        i = 0
        for term in terms:
            if term == "...":
                ell = ts.broadcast_shape(ell, dims[i:i + n_ell])
                i += n_ell
                continue
            d = dims[i]
            i += 1
            prev = sizes.get(term)
            if prev is not None and d is not None and prev != d and 1 not in (prev, d):
                raise ValueError(f"Expected dimension {prev} at axis {i - 1} of the input shaped {dims} but got "
                                 f"dimension {d}")
            if prev is None or prev == 1:
                sizes[term] = d
    dims = []
    for term in _einsum_terms(out):
        dims.extend(ell.as_list() if term == "..." else [sizes.get(term)])
    return [ts.TensorShape(dims)]


@Einsum.kernel
def _einsum_kernel(*inputs, equation):
    try:
        return np.asarray(np.einsum(equation, *inputs, optimize=len(inputs) > 2), dtype=inputs[0].dtype)
    except ValueError as e:
        raise _err(f"einsum {equation!r}: {e}") from None


@Einsum.grad
def _einsum_grad(op, g):
    ins, out = _einsum_parts(op._attrs["equation"])
    grads = []
    for i, (sub, x) in enumerate(zip(ins, op.inputs)):
        terms = _einsum_terms(sub)
        if len(set(terms)) != len(terms):
            raise NotImplementedError(f"gradient of einsum {op._attrs['equation']!r}: repeated labels in an input")
        others = [t for j, s in enumerate(ins) if j != i for t in _einsum_terms(s)] + _einsum_terms(out)
        kept = [t for t in terms if t in others]
        eq = ",".join([out] + [s for j, s in enumerate(ins) if j != i]) + "->" + "".join(kept)
        gx = einsum(eq, g, *[t for j, t in enumerate(op.inputs) if j != i])
        if len(kept) != len(terms):  # labels summed only within this input: broadcast back
            ref = array_ops.shape(x)
            if "..." in terms:
                raise NotImplementedError("gradient of einsum with an input-only label next to an ellipsis")
            kept_shape = array_ops.stack([array_ops.gather(ref, terms.index(t)) if t in kept else 1 for t in terms])
            gx = array_ops.broadcast_to(array_ops.reshape(gx, kept_shape), ref)
        grads.append(gx)
    return grads


def _implicit_output(ins):
    counts = {}
    for sub in ins:
        for t in _einsum_terms(sub):
            counts[t] = counts.get(t, 0) + 1
    ell = "..." if "..." in counts else ""
    return ell + "".join(sorted(t for t, c in counts.items() if c == 1 and t != "..."))


def einsum(equation, *inputs, **kwargs):
    """``tf.einsum``: one ``Einsum`` op (under an ``einsum`` scope, as TF)."""
    name = kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"Invalid keyword arguments for this function: {', '.join(sorted(kwargs))}")
    equation = equation.replace(" ", "")
    ins, out = _einsum_parts(equation)
    if "->" not in equation:
        equation = f"{equation}->{_implicit_output(ins)}"
    if len(ins) != len(inputs):
        raise ValueError(f"Got {len(inputs)} arguments for equation \"{equation}\", expecting {len(ins)}")
    with ops.name_scope(name, "einsum", list(inputs)):
        inputs = [convert_to_tensor(x, name=f"inputs_{i}") for i, x in enumerate(inputs)]
        return apply_op("Einsum", name="Einsum", inputs=inputs, equation=equation)


def _indices(positions):
    """Axis positions as an int32 array (an empty list would otherwise become a float32 constant)."""
    return np.asarray(list(positions), dtype=np.int32)


def tensordot(a, b, axes, name=None):
    """``tf.tensordot``: transposes and reshapes both operands to matrices, one ``MatMul``."""
    with ops.name_scope(name, "Tensordot", [a, b, axes]) as scope:
        a = convert_to_tensor(a, name="a")
        b = convert_to_tensor(b, name="b", dtype=a.dtype.base_dtype)
        if a.shape.ndims is None or b.shape.ndims is None:
            raise NotImplementedError("tensordot needs operands of known rank in deferflow")
        ra, rb = a.shape.ndims, b.shape.ndims
        if isinstance(axes, (int, np.integer)) or (isinstance(axes, np.ndarray) and axes.ndim == 0):
            n = int(axes)
            if n < 0:
                raise ValueError(f"'axes' must be at least 0, but got {n}.")
            if n > builtins.min(ra, rb):
                raise ValueError(f"'axes' must not be larger than the number of dimensions of tensor {a}.")
            a_axes, b_axes = list(builtins.range(ra - n, ra)), list(builtins.range(n))
        else:
            axes = [axes[0], axes[1]] if len(axes) == 2 else axes
            if len(axes) != 2:
                raise ValueError(f"`axes` must be an integer or have length 2. Received {axes}.")
            a_axes, b_axes = ([int(x) for x in np.reshape(ax, [-1])] for ax in axes)
            if len(a_axes) != len(b_axes):
                raise ValueError(f"Different number of contraction axes `a` and `b`, {len(a_axes)} != "
                                 f"{len(b_axes)}.")
        a_axes = [x % ra for x in a_axes] if ra else a_axes
        b_axes = [x % rb for x in b_axes] if rb else b_axes

        def prep(t, contract, rank, flipped):
            free = [i for i in builtins.range(rank) if i not in contract]
            perm = contract + free if flipped else free + contract
            dims = t.shape.as_list()
            free_dims = [dims[i] for i in free]
            if perm != list(builtins.range(rank)):
                t = array_ops.transpose(t, perm)
            if t.shape.is_fully_defined():
                fd = int(np.prod(free_dims, dtype=np.int64))
                cd = int(np.prod([dims[i] for i in contract], dtype=np.int64))
                new = [cd, fd] if flipped else [fd, cd]
            else:
                s = array_ops.shape(t)
                nf = len(free)
                fdp = reduce_prod(array_ops.gather(s, _indices(builtins.range(rank - nf, rank) if flipped
                                                               else builtins.range(nf))))
                cdp = reduce_prod(array_ops.gather(s, _indices(builtins.range(rank - nf) if flipped
                                                               else builtins.range(nf, rank))))
                new = array_ops.stack([cdp, fdp] if flipped else [fdp, cdp])
            if t.shape.ndims != 2 or not isinstance(new, list) or t.shape.as_list() != new:
                t = array_ops.reshape(t, new)
            return t, free_dims, free

        a2, a_free, a_free_idx = prep(a, a_axes, ra, False)
        b2, b_free, b_free_idx = prep(b, b_axes, rb, True)
        product = matmul(a2, b2)
        out_dims = a_free + b_free
        if all(d is not None for d in out_dims) and product.shape.as_list() == out_dims:
            return product
        if all(d is not None for d in out_dims):
            return array_ops.reshape(product, out_dims, name=scope)
        parts = [array_ops.gather(array_ops.shape(a), _indices(a_free_idx)),
                 array_ops.gather(array_ops.shape(b), _indices(b_free_idx))]
        return array_ops.reshape(product, array_ops.concat(parts, 0), name=scope)


# ---- Python wrappers ----------------------------------------------------------------------------------
def _unary_fn(op_type, doc_name=None):
    def fn(x, name=None):
        return apply_op(op_type, name=name or op_type, x=x)
    fn.__name__ = doc_name or op_type.lower()
    fn.__doc__ = f"Elementwise ``{op_type}``."
    return fn


def _binary_fn(op_type, default_name=None):
    def fn(x, y, name=None):
        return apply_op(op_type, name=name or default_name or op_type, x=x, y=y)
    fn.__doc__ = f"Elementwise ``{op_type}`` with broadcasting."
    return fn


negative = _unary_fn("Neg", "negative")
abs = _unary_fn("Abs", "abs")  # noqa: A001 - TF's name
sign = _unary_fn("Sign")
square = _unary_fn("Square")
sqrt = _unary_fn("Sqrt")
rsqrt = _unary_fn("Rsqrt")
reciprocal = _unary_fn("Reciprocal")
inv = _unary_fn("Inv")
exp = _unary_fn("Exp")
expm1 = _unary_fn("Expm1")
log = _unary_fn("Log")
log1p = _unary_fn("Log1p")
tanh = _unary_fn("Tanh")
sin = _unary_fn("Sin")
cos = _unary_fn("Cos")
tan = _unary_fn("Tan")
asin = _unary_fn("Asin")
acos = _unary_fn("Acos")
atan = _unary_fn("Atan")
sinh = _unary_fn("Sinh")
cosh = _unary_fn("Cosh")
erf = _unary_fn("Erf")
floor = _unary_fn("Floor")
ceil = _unary_fn("Ceil")
rint = _unary_fn("Rint")
is_nan = _unary_fn("IsNan", "is_nan")
is_inf = _unary_fn("IsInf", "is_inf")
is_finite = _unary_fn("IsFinite", "is_finite")
logical_not = _unary_fn("LogicalNot", "logical_not")


def sigmoid(x, name=None):
    with ops.name_scope(name, "Sigmoid", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        return apply_op("Sigmoid", name=scope, x=x)


def round(x, name=None):  # noqa: A001 - TF's name
    """Rounds half to even; integer tensors are returned unchanged, as in TF."""
    x = convert_to_tensor(x, name="x")
    if x.dtype.base_dtype.is_integer:
        return x
    return apply_op("Round", name=name or "Round", x=x)


def atan2(y, x, name=None):
    return apply_op("Atan2", name=name or "Atan2", y=y, x=x)


maximum = _binary_fn("Maximum")
minimum = _binary_fn("Minimum")
squared_difference = _binary_fn("SquaredDifference")
pow = _binary_fn("Pow")  # noqa: A001 - TF's name
realdiv = _binary_fn("RealDiv")
truncatediv = _binary_fn("TruncateDiv")
truncatemod = _binary_fn("TruncateMod")
floormod = _binary_fn("FloorMod")
mod = floormod
equal = _binary_fn("Equal")
not_equal = _binary_fn("NotEqual")
less = _binary_fn("Less")
less_equal = _binary_fn("LessEqual")
greater = _binary_fn("Greater")
greater_equal = _binary_fn("GreaterEqual")
logical_and = _binary_fn("LogicalAnd")
logical_or = _binary_fn("LogicalOr")
mul_no_nan = _binary_fn("MulNoNan", "multiply_no_nan")


def div_no_nan(x, y, name=None):
    with ops.name_scope(name, "div_no_nan", [x, y]) as scope:
        x = convert_to_tensor(x, name="x")
        y = convert_to_tensor(y, name="y", dtype=x.dtype.base_dtype)
        return apply_op("DivNoNan", name=scope, x=x, y=y)


def floordiv(x, y, name=None):
    with ops.name_scope(name, "floordiv", [x, y]) as scope:
        return apply_op("FloorDiv", name=scope, x=x, y=y)


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


def scalar_mul(scalar, x, name=None):
    scalar = convert_to_tensor(scalar, dtype=convert_to_tensor(x).dtype.base_dtype, name="scalar")
    if scalar.shape.ndims != 0:
        raise ValueError(f"`scalar` must be a 0-D Tensor or scalar, got shape {scalar.shape}")
    return multiply(scalar, x, name=name)


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
    """TF1's ``tf.div``: floor division for integers, true division for floats."""
    with ops.name_scope(name, "div", [x, y]) as scope:
        x = convert_to_tensor(x, name="x")
        y = convert_to_tensor(y, name="y", dtype=x.dtype.base_dtype)
        if x.dtype.base_dtype.is_integer:
            return apply_op("FloorDiv", name=scope, x=x, y=y)
        return apply_op("RealDiv", name=scope, x=x, y=y)


def logical_xor(x, y, name="LogicalXor"):
    """``(x | y) & ~(x & y)``; as in TF, only the last op gets ``name``."""
    return logical_and(logical_or(x, y), logical_not(logical_and(x, y)), name=name)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``minimum(t, max)`` then ``maximum(·, min)``, named ``clip_by_value`` as in TF."""
    with ops.name_scope(name, "clip_by_value", [t, clip_value_min, clip_value_max]) as scope:
        values = convert_to_tensor(t, name="t")
        t_min = minimum(values, clip_value_max)
        values.shape.assert_is_compatible_with(t_min.shape)
        t_max = maximum(t_min, clip_value_min, name=scope)
        values.shape.assert_is_compatible_with(t_max.shape)
        return t_max


def _slices_values(t):
    """The rows of an IndexedSlices (what norms and clipping act on), else ``t`` itself."""
    return t.values if getattr(t, "_is_indexed_slices", False) else t


def _like(t, values):
    """``values`` in the form of ``t``: an IndexedSlices with ``t``'s indices when ``t`` is one."""
    if getattr(t, "_is_indexed_slices", False):
        return type(t)(values, t.indices, t.dense_shape)
    return values


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """Scales ``t`` so its L2 norm over ``axes`` is at most ``clip_norm`` (an IndexedSlices stays one)."""
    with ops.name_scope(name, "clip_by_norm", [t, clip_norm]) as scope:
        values = convert_to_tensor(_slices_values(t), name="t")
        l2sum = reduce_sum(values * values, axes, keepdims=True)
        pred = l2sum > 0
        l2sum_safe = where(pred, l2sum, array_ops.ones_like(l2sum))  # keeps the gradient finite at 0
        l2norm = where(pred, sqrt(l2sum_safe), l2sum)
        intermediate = values * clip_norm
        values.shape.assert_is_compatible_with(intermediate.shape)
        return _like(t, array_ops.identity(intermediate / maximum(l2norm, clip_norm), name=scope))


def global_norm(t_list, name=None):
    """``sqrt(sum(l2norm(t)**2))`` over a list of tensors (None entries skipped)."""
    if not isinstance(t_list, (list, tuple)):
        raise TypeError(f"`t_list` should be a sequence of tensors. Received {type(t_list)}.")
    t_list = list(t_list)
    with ops.name_scope(name, "global_norm", [t for t in t_list if t is not None]):
        values = [None if t is None else convert_to_tensor(_slices_values(t), name=f"t_{i}")
                  for i, t in enumerate(t_list)]
        halves = []
        for v in values:
            if v is not None:
                if op_registry.get("L2Loss") is not None:
                    halves.append(apply_op("L2Loss", t=v))
                else:
                    halves.append(reduce_sum(square(v)) / array_ops.constant(2, dtype=v.dtype.base_dtype))
        half = reduce_sum(array_ops.stack(halves))
        return sqrt(half * array_ops.constant(2.0, dtype=half.dtype.base_dtype), name="global_norm")


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """Scales every tensor by ``clip_norm / max(global_norm, clip_norm)``; returns (clipped list, norm)."""
    if not isinstance(t_list, (list, tuple)) or isinstance(t_list, str):
        raise TypeError(f"`t_list` should be a sequence of tensors. Received {type(t_list)}.")
    t_list = list(t_list)
    if use_norm is None:
        use_norm = global_norm(t_list, name)
    with ops.name_scope(name, "clip_by_global_norm", [t for t in t_list if t is not None] + [clip_norm]) as scope:
        one = array_ops.constant(1.0, dtype=use_norm.dtype.base_dtype)
        scale_for_finite = clip_norm * minimum(one / use_norm, one / clip_norm)
        scale = scale_for_finite + (use_norm - use_norm)  # NaN when the norm is not finite, as TF
        values = [None if t is None else convert_to_tensor(_slices_values(t), name=f"t_{i}")
                  for i, t in enumerate(t_list)]
        out = []
        for i, (t, v) in enumerate(zip(t_list, values)):
            out.append(None if v is None else _like(t, array_ops.identity(v * cast(scale, v.dtype.base_dtype),
                                                                          name=f"{scope}_{i}")))
        return out, use_norm


# ---- operator overloads (TF's op names: `a + b` is an AddV2 named "add") ------------------------------
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


# ---- gradients of ops defined in array_ops that need math -------------------------------------------
op_registry.get("Cast").grad(lambda op, g: [
    cast(g, op.inputs[0].dtype.base_dtype)
    if op.inputs[0].dtype.base_dtype.is_floating and g.dtype.base_dtype.is_floating else None])


def _to(dtype, default_name):
    def fn(x, name=default_name):
        return cast(x, dtype, name=name)
    fn.__doc__ = f"TF1's deprecated ``cast`` to {dtype.name}, named ``{default_name}``."
    return fn


to_float = _to(dtypes.float32, "ToFloat")
to_double = _to(dtypes.float64, "ToDouble")
to_int32 = _to(dtypes.int32, "ToInt32")
to_int64 = _to(dtypes.int64, "ToInt64")
to_bfloat16 = _to(dtypes.bfloat16, "ToBFloat16")

top_k = array_ops.top_k  # exported as tf.nn.top_k and tf.math.top_k


# ---- erfc ---------------------------------------------------------------------------------------
def _erfc(x):
    import math
    return np.vectorize(math.erfc, otypes=[np.float64])(x)


Erfc = unary("Erfc", _erfc, types=FLOAT, grad=lambda op, g: [
    g * (_c(g, -2 / np.sqrt(np.pi)) * exp(-square(op.inputs[0])))])
erfc = _unary_fn("Erfc")


# ---- Lgamma, Digamma, Polygamma, Zeta (no SciPy: series and Euler-Maclaurin in NumPy) -------------------
def _lgamma_kernel(x):
    out = np.empty(x.shape, np.float64)
    flat = x.astype(np.float64).reshape(-1)
    for i, v in enumerate(flat):
        try:
            out.reshape(-1)[i] = math.lgamma(v)
        except (ValueError, OverflowError):  # poles at 0, -1, -2, ...
            out.reshape(-1)[i] = np.inf
    return out.astype(x.dtype)


def _digamma64(x):
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    neg = x <= 0
    pole = neg & (x == np.floor(x))
    y = np.where(neg, 1.0 - x, x)  # reflection: psi(x) = psi(1 - x) - pi / tan(pi x)
    acc = np.zeros_like(y)
    while True:  # recurrence psi(y) = psi(y + 1) - 1/y up to y >= 10, then the asymptotic series
        small = y < 10
        if not small.any():
            break
        acc -= np.where(small, 1.0 / np.where(small, y, 1.0), 0.0)
        y = np.where(small, y + 1, y)
    inv2 = 1.0 / (y * y)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 * (
        1 / 132 - inv2 * (691 / 32760 - inv2 / 12))))))
    out[...] = np.log(y) - 0.5 / y - series + acc
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(neg, out - np.pi / np.tan(np.pi * x), out)
    return np.where(pole, np.nan, out)


_ZETA_A = [12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
           -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
           1.8152105401943546773e17, -7.1661652561756670113e18]


def _zeta64(x, q):
    """Hurwitz zeta(x, q) for x > 1, q > 0 (Euler-Maclaurin, Cephes's constants); nan/inf elsewhere as TF."""
    x, q = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(q, np.float64))
    finite_q = q[np.isfinite(q)]
    n = 9 + (max(0, int(np.ceil(-finite_q.min()))) if finite_q.size else 0)  # sum until q + n > 9
    with np.errstate(all="ignore"):
        total = sum((q + k) ** -x for k in range(n + 1))
        w = q + n
        b = w ** -x
        total = total + b * w / (x - 1) - 0.5 * b
        a, k = np.ones_like(x), 0.0
        for coeff in _ZETA_A:
            a = a * (x + k)
            b = b / w
            total = total + a * b / coeff
            k += 1
            a = a * (x + k)
            b = b / w
            k += 1
    total = np.where(x == 1, np.inf, total)
    bad_q = (q <= 0) & ((q == np.floor(q)) | (x != np.floor(x)))  # poles, and no real value (TF: nan)
    return np.where((x < 1) | bad_q, np.nan, total)


def _polygamma64(n, x):
    n, x = np.broadcast_arrays(np.asarray(n, np.float64), np.asarray(x, np.float64))
    with np.errstate(all="ignore"):
        fact = np.vectorize(lambda v: math.gamma(v + 1) if v == np.floor(v) and 0 <= v < 171 else np.nan)(n)
        out = np.where(n % 2 == 0, -1.0, 1.0) * fact * _zeta64(n + 1, x)
    out = np.where(n == 0, _digamma64(x), out)
    return np.where((n < 0) | (n != np.floor(n)), np.nan, out)


Lgamma = unary("Lgamma", _lgamma_kernel, types="{bfloat16, half, float, double}",
               grad=lambda op, g: [g * digamma(op.inputs[0])])
Digamma = unary("Digamma", lambda x: _digamma64(x).astype(x.dtype), types="{bfloat16, half, float, double}",
                grad=lambda op, g: [g * polygamma(array_ops.constant(1, dtype=op.inputs[0].dtype.base_dtype),
                                                  op.inputs[0])])
lgamma = _unary_fn("Lgamma")
digamma = _unary_fn("Digamma")

Polygamma = define("Polygamma", "a: T, x: T", "z: T", ["T: {float, double}"])
Polygamma.shape(lambda op: [ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape)])
Polygamma.kernel(lambda a, x: _polygamma64(a, x).astype(np.result_type(a, x)))
Polygamma.broadcasting = "binary"
Polygamma.grad(lambda op, g: [None, g * polygamma(op.inputs[0] + 1, op.inputs[1])])

Zeta = define("Zeta", "x: T, q: T", "z: T", ["T: {float, double}"])
Zeta.shape(lambda op: [ts.broadcast_shape(op._inputs[0].shape, op._inputs[1].shape)])
Zeta.kernel(lambda x, q: _zeta64(x, q).astype(np.result_type(x, q)))
Zeta.broadcasting = "binary"
Zeta.grad(lambda op, g: [None, g * -op.inputs[0] * zeta(op.inputs[0] + 1, op.inputs[1])])


def polygamma(a, x, name=None):
    """``tf.polygamma``: the a-th derivative of digamma at x."""
    return apply_op("Polygamma", name=name or "Polygamma", a=a, x=x)


def zeta(x, q, name=None):
    """``tf.zeta``: the Hurwitz zeta function."""
    return apply_op("Zeta", name=name or "Zeta", x=x, q=q)


# ---- clip_by_average_norm ---------------------------------------------------------------------------
def clip_by_average_norm(t, clip_norm, name=None):
    """``t * clip_norm / max(l2norm(t) / size(t), clip_norm)``, TF's composition (the size is float32)."""
    with ops.name_scope(name, "clip_by_average_norm", [t, clip_norm]) as scope:
        t = convert_to_tensor(t, name="t")
        n_element = cast(array_ops.size(t), dtypes.float32)
        l2norm_inv = rsqrt(reduce_sum(t * t, range_(array_ops.rank(t))))
        return array_ops.identity(
            t * clip_norm * minimum(l2norm_inv * n_element, array_ops.constant(1.0) / clip_norm), name=scope)


# ---- sorted segment reductions (SegmentSum lives in sparse_ops) and unsorted max/min/prod ----------------
def _segment_kernel(ufunc, empty):
    """A SegmentX kernel: ``ufunc.at`` over sorted ids; ids absent from [0, max id] get ``empty``."""
    def kernel(data, segment_ids):
        from deferflow.ops.sparse_ops import _check_segments
        if segment_ids.ndim != 1:
            raise _err("segment_ids should be a vector.")
        if data.ndim == 0 or len(segment_ids) != data.shape[0]:
            raise _err("segment_ids should be the same size as dimension 0 of input.")
        ids, n = _check_segments(segment_ids)
        if ufunc is None:  # mean
            out = np.zeros((n,) + data.shape[1:], dtype=data.dtype)
            np.add.at(out, ids, data)
            counts = np.bincount(ids, minlength=n).reshape((n,) + (1,) * (data.ndim - 1))
            with np.errstate(all="ignore"):
                return np.where(counts > 0, out / np.maximum(counts, 1), 0).astype(data.dtype)
        out = np.full((n,) + data.shape[1:], _identity(ufunc, data.dtype), dtype=data.dtype)
        ufunc.at(out, ids, data)
        present = np.bincount(ids, minlength=n) > 0
        out[~present] = empty
        return out
    return kernel


def _identity(ufunc, dtype):
    if ufunc is np.multiply:
        return 1
    info = np.finfo(dtype) if np.issubdtype(dtype, np.floating) else np.iinfo(dtype)
    return info.min if ufunc is np.maximum else info.max


def _define_segment(name, ufunc, empty, types=_INT_REAL):
    od = define(name, "data: T, segment_ids: Tindices", "output: T", [f"T: {types}", "Tindices: {int32, int64}"])
    od.shape(lambda op: [ts.TensorShape([None]).concatenate(op._inputs[0].shape[1:])
                         if op._inputs[0].shape.ndims else ts.unknown_shape()])
    od.kernel(_segment_kernel(ufunc, empty))
    return od


SegmentMean = _define_segment("SegmentMean", None, 0, NUMERIC)
SegmentMax = _define_segment("SegmentMax", np.maximum, 0)
SegmentMin = _define_segment("SegmentMin", np.minimum, 0)
SegmentProd = _define_segment("SegmentProd", np.multiply, 1, NUMERIC)


@SegmentMean.grad
def _segment_mean_grad(op, g):
    from deferflow.ops.sparse_ops import segment_sum
    input_rank = array_ops.rank(op.inputs[0])
    ones_shape = array_ops.concat([array_ops.shape(op.inputs[1]), array_ops.ones(
        array_ops.expand_dims(input_rank - 1, 0), dtype=dtypes.int32)], 0)
    ones = array_ops.ones(ones_shape, dtype=g.dtype.base_dtype)
    scaled = divide(g, segment_sum(ones, op.inputs[1]))
    return [array_ops.gather(scaled, op.inputs[1]), None]


def _segment_min_max_grad(op, g):
    from deferflow.ops.sparse_ops import segment_sum
    zeros = array_ops.zeros_like(op.inputs[0])
    gathered_outputs = array_ops.gather(op.outputs[0], op.inputs[1])
    is_selected = equal(op.inputs[0], gathered_outputs)
    num_selected = segment_sum(cast(is_selected, g.dtype.base_dtype), op.inputs[1])
    gathered_grads = array_ops.gather(divide(g, num_selected), op.inputs[1])
    return [where_v2(is_selected, gathered_grads, zeros), None]


SegmentMax.grad(_segment_min_max_grad)
SegmentMin.grad(_segment_min_max_grad)


@SegmentProd.grad
def _segment_prod_grad(op, g):
    from deferflow.ops.sparse_ops import segment_sum
    data, ids = op.inputs
    is_zero = equal(data, 0)
    num_zeros = segment_sum(cast(is_zero, dtypes.int32), ids)
    g = where_v2(greater(num_zeros, 1), array_ops.zeros_like(g), g)
    non_zero_data = where_v2(is_zero, array_ops.ones_like(data), data)
    non_zero_prod = segment_prod(non_zero_data, ids)
    gathered_prod = array_ops.gather(op.outputs[0], ids)
    gathered_non_zero_prod = array_ops.gather(non_zero_prod, ids)
    partial = where_v2(is_zero, gathered_non_zero_prod, gathered_prod / non_zero_data)
    return [array_ops.gather(g, ids) * partial, None]


def _unsorted_kernel(ufunc):
    def kernel(data, ids, num):
        num = int(num)
        if data.shape[:ids.ndim] != ids.shape:
            raise _err(f"data.shape = {list(data.shape)} does not start with segment_ids.shape = {list(ids.shape)}")
        if ids.size and ids.max() >= num:
            raise _err(f"segment_ids[{int(np.argmax(ids.reshape(-1) >= num))}] = {ids.max()} is out of range "
                       f"[0, {num})")
        out = np.full((num,) + data.shape[ids.ndim:], _identity(ufunc, data.dtype), dtype=data.dtype)
        flat_ids = ids.reshape(-1)
        vals = data.reshape((-1,) + data.shape[ids.ndim:])
        keep = flat_ids >= 0  # TF drops negative ids
        ufunc.at(out, flat_ids[keep], vals[keep])
        return out
    return kernel


def _define_unsorted(name, ufunc, types=_INT_REAL):
    od = define(name, "data: T, segment_ids: Tindices, num_segments: Tnumsegments", "output: T",
                [f"T: {types}", "Tindices: {int32, int64}", "Tnumsegments: {int32, int64} = int32"])
    od.shape(_uss_shape)
    od.kernel(_unsorted_kernel(ufunc))
    return od


UnsortedSegmentMax = _define_unsorted("UnsortedSegmentMax", np.maximum)
UnsortedSegmentMin = _define_unsorted("UnsortedSegmentMin", np.minimum)
UnsortedSegmentProd = _define_unsorted("UnsortedSegmentProd", np.multiply, NUMERIC)


def _gather_drop_negatives_full(params, ids, zero_clipped=None, is_positive=None):
    """TF's _GatherDropNegatives with its reusable clipped indices and mask."""
    if zero_clipped is None:
        zero_clipped = maximum(ids, array_ops.zeros_like(ids))
    gathered = array_ops.gather(params, zero_clipped)
    if is_positive is None:
        is_positive = greater_equal(ids, 0)
        pos_shape = array_ops.shape(is_positive)
        bshape = array_ops.concat([pos_shape, array_ops.ones(array_ops.stack(
            [array_ops.rank(gathered) - array_ops.rank(is_positive)]), dtype=pos_shape.dtype)], axis=0)
        is_positive = logical_and(array_ops.reshape(is_positive, bshape),
                                  array_ops.ones_like(gathered, dtype=dtypes.bool))
    return where_v2(is_positive, gathered, array_ops.zeros_like(gathered)), zero_clipped, is_positive


def _unsorted_min_max_grad(op, g):
    gathered_outputs, zero_clipped, is_positive = _gather_drop_negatives_full(op.outputs[0], op.inputs[1])
    is_selected = logical_and(equal(op.inputs[0], gathered_outputs), is_positive)
    num_selected = unsorted_segment_sum(cast(is_selected, g.dtype.base_dtype), op.inputs[1], op.inputs[2])
    gathered_grads, _, _ = _gather_drop_negatives_full(divide(g, num_selected), None, zero_clipped, is_positive)
    return [where_v2(is_selected, gathered_grads, array_ops.zeros_like(gathered_grads)), None, None]


UnsortedSegmentMax.grad(_unsorted_min_max_grad)
UnsortedSegmentMin.grad(_unsorted_min_max_grad)


@UnsortedSegmentProd.grad
def _unsorted_prod_grad(op, g):
    data, ids, num = op.inputs
    is_zero = equal(data, 0)
    num_zeros = unsorted_segment_sum(cast(is_zero, dtypes.int32), ids, num)
    g = where_v2(greater(num_zeros, 1), array_ops.zeros_like(g), g)
    non_zero_data = where_v2(is_zero, array_ops.ones_like(data), data)
    non_zero_prod = unsorted_segment_prod(non_zero_data, ids, num)
    zero_clipped = maximum(ids, array_ops.zeros_like(ids))
    gathered_prod = array_ops.gather(op.outputs[0], zero_clipped)
    gathered_non_zero_prod = array_ops.gather(non_zero_prod, zero_clipped)
    partial = where_v2(is_zero, gathered_non_zero_prod, gathered_prod / data)  # may hold inf/nan, as TF
    gathered_grad = _gather_drop_negatives_full(g, ids, zero_clipped)[0]
    return [gathered_grad * partial, None, None]


def _segment_fn(op_type):
    def fn(data, segment_ids, name=None):
        return apply_op(op_type, name=name, data=data, segment_ids=segment_ids)
    fn.__name__ = fn.__qualname__ = re.sub(r"(?<!^)([A-Z])", r"_\1", op_type).lower()
    return fn


def _unsorted_fn(op_type):
    def fn(data, segment_ids, num_segments, name=None):
        return apply_op(op_type, name=name, data=data, segment_ids=segment_ids, num_segments=num_segments)
    fn.__name__ = fn.__qualname__ = re.sub(r"(?<!^)([A-Z])", r"_\1", op_type).lower()
    return fn


segment_mean = _segment_fn("SegmentMean")
segment_max = _segment_fn("SegmentMax")
segment_min = _segment_fn("SegmentMin")
segment_prod = _segment_fn("SegmentProd")
unsorted_segment_max = _unsorted_fn("UnsortedSegmentMax")
unsorted_segment_min = _unsorted_fn("UnsortedSegmentMin")
unsorted_segment_prod = _unsorted_fn("UnsortedSegmentProd")


def _unsorted_segment_n(data, segment_ids, num_segments):
    """Per-segment counts (at least 1), shaped to broadcast against the segment sums (TF's composition)."""
    num_segments = convert_to_tensor(num_segments)
    ones = array_ops.ones(array_ops.shape(segment_ids), dtype=data.dtype.base_dtype)
    n = unsorted_segment_sum(ones, segment_ids, num_segments)
    bshape = array_ops.concat([array_ops.expand_dims(num_segments, 0), array_ops.ones(array_ops.stack(
        [array_ops.rank(data) - array_ops.rank(segment_ids)]), dtype=num_segments.dtype)], axis=0)
    return maximum(array_ops.reshape(n, bshape), array_ops.constant(1, dtype=data.dtype.base_dtype))


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    with ops.name_scope(name, "UnsortedSegmentMean"):
        data, segment_ids = convert_to_tensor(data), convert_to_tensor(segment_ids)
        n = _unsorted_segment_n(data, segment_ids, num_segments)
        return unsorted_segment_sum(data, segment_ids, num_segments) / n


def unsorted_segment_sqrt_n(data, segment_ids, num_segments, name=None):
    with ops.name_scope(name, "UnsortedSegmentSqrtN"):
        data, segment_ids = convert_to_tensor(data), convert_to_tensor(segment_ids)
        n = _unsorted_segment_n(data, segment_ids, num_segments)
        return unsorted_segment_sum(data, segment_ids, num_segments) / sqrt(n)


# ---- bincount and histogram_fixed_width -----------------------------------------------------------------
DenseBincount = define("DenseBincount", "input: Tidx, size: Tidx, weights: T", "output: T",
                       ["Tidx: {int32, int64}", "T: {int32, int64, float, double}", "binary_output: bool = false"])
DenseBincount.shape(lambda op: [ts.TensorShape([None]) if op._inputs[0].shape.ndims == 1 else ts.unknown_shape()])


@DenseBincount.kernel
def _dense_bincount_kernel(arr, size, weights, *, binary_output):
    size = int(size)
    if size < 0:
        raise _err(f"size ({size}) must be non-negative")
    if arr.size and arr.min() < 0:
        raise _err("Input arr must be non-negative!")
    if weights.size and weights.shape != arr.shape:
        raise _err(f"Input arr and weights must have the same shape: {list(arr.shape)} vs {list(weights.shape)}")
    rows = arr.reshape(-1, arr.shape[-1]) if arr.ndim == 2 else arr.reshape(1, -1)
    w = weights.reshape(rows.shape) if weights.size else None
    out = np.zeros((rows.shape[0], size), dtype=weights.dtype)
    for i, r in enumerate(rows):
        keep = r < size  # values past the last bin are dropped
        if binary_output:
            out[i, r[keep]] = 1
        else:
            np.add.at(out[i], r[keep], 1 if w is None else w[i][keep])
    return out if arr.ndim == 2 else out[0]


DenseBincount = lookup_error_gradient(DenseBincount)


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype=dtypes.int32, name=None):
    """``tf.bincount``: counts (or summed weights) of each value of a non-negative int32 ``arr``."""
    with ops.name_scope(name, "bincount", [arr, weights, minlength, maxlength]):
        arr = convert_to_tensor(arr, name="arr", dtype=dtypes.int32)
        array_is_nonempty = greater(array_ops.size(arr), 0)
        output_size = cast(array_is_nonempty, dtypes.int32) * (reduce_max(arr) + 1)
        if minlength is not None:
            output_size = maximum(convert_to_tensor(minlength, name="minlength", dtype=dtypes.int32), output_size)
        if maxlength is not None:
            output_size = minimum(convert_to_tensor(maxlength, name="maxlength", dtype=dtypes.int32), output_size)
        if weights is not None:
            weights = convert_to_tensor(weights, name="weights")
            dtype = weights.dtype.base_dtype
            arr = array_ops.reshape(arr, [-1])
            weights = array_ops.reshape(weights, [-1])
        else:
            weights = array_ops.constant([], dtype)
            arr = array_ops.reshape(arr, [-1])
        return apply_op("DenseBincount", input=arr, size=output_size, weights=weights, binary_output=False)


HistogramFixedWidth = define("HistogramFixedWidth", "values: T, value_range: T, nbins: int32", "out: dtype",
                             ["T: {int32, int64, float, double}", "dtype: {int32, int64} = int32"])
HistogramFixedWidth.shape(lambda op: [ts.TensorShape([None if constant_value(op._inputs[2]) is None
                                                      else int(constant_value(op._inputs[2]))])])


@HistogramFixedWidth.kernel
def _histogram_kernel(values, value_range, nbins, *, dtype):
    nbins = int(nbins)
    if nbins <= 0:
        raise _err(f"nbins should be a positive number, but got '{nbins}'")
    lo, hi = value_range.astype(np.float64)[:2]
    if not lo < hi:
        raise _err(f"value_range should satisfy value_range[0] < value_range[1], but got '[{lo}, {hi}]'")
    step = (hi - lo) / nbins
    idx = np.minimum((np.maximum(values.astype(np.float64), lo) - lo) / step, nbins - 1).astype(np.int32)
    return np.bincount(idx.reshape(-1), minlength=nbins).astype(dtype.as_numpy_dtype)


HistogramFixedWidth = lookup_error_gradient(HistogramFixedWidth)


def histogram_fixed_width(values, value_range, nbins=100, dtype=dtypes.int32, name=None):
    with ops.name_scope(name, "histogram_fixed_width", [values, value_range, nbins]) as scope:
        return apply_op("HistogramFixedWidth", name=scope, values=values, value_range=value_range, nbins=nbins,
                        dtype=dtype)
