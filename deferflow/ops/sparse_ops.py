"""Sparse ops: TF's ops on (indices, values, dense_shape) triples and the ``tf.sparse`` functions built on them.

Kernels take and return the three parts as arrays, so a graph TF wrote with these ops imports and runs as
any other. Where TF's kernel checks indices (bounds, order) the same check raises TF's InvalidArgumentError
with TF's message. ``embedding_lookup_sparse`` and the segment reductions it uses live here too.
"""
import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.framework.sparse_tensor import (SparseTensor, SparseTensorValue, convert_to_sparse_tensor,
                                               is_sparse)
from deferflow.ops import array_ops, math_ops
from deferflow.ops.common import NUMERIC, REAL, constant_value, lookup_error_gradient, shape_from_tensor

define = op_registry.define
_NUMBER = NUMERIC[:-1] + ", qint8, quint8, qint32}"  # TF's numbertype


def _bad(msg):
    raise errors.InvalidArgumentError(None, None, msg)


def _dims(a):
    return "[" + ",".join(str(int(d)) for d in np.reshape(a, [-1])) + "]"


def _shape_str(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _cmp_prev(idx):
    """For rows 1..N-1 of an index matrix: -1, 0 or 1 as the row sorts before, equal to or after the previous."""
    if len(idx) < 2 or idx.shape[1] == 0:
        return np.zeros(max(len(idx) - 1, 0), dtype=np.int64)
    d = np.sign(idx[1:] - idx[:-1])
    first = (d != 0).argmax(axis=1)
    return d[np.arange(len(d)), first]


def _lexsort_rows(idx):
    """The stable order that sorts the rows of ``idx`` lexicographically (TF's canonical order)."""
    if idx.shape[1] == 0:
        return np.arange(len(idx))
    return np.lexsort(idx.T[::-1])


def _check_valid(idx, shape):
    """TF's ``SparseTensor::IndicesValid``: in bounds, in order and not repeated, first failure reported."""
    oob = np.any((idx < 0) | (idx >= shape), axis=1)
    cmp = _cmp_prev(idx)
    bad = oob.copy()
    bad[1:] |= cmp <= 0
    if bad.any():
        n = int(np.argmax(bad))
        if oob[n]:
            _bad(f"indices[{n}] = {_dims(idx[n])} is out of bounds: need 0 <= index < {_dims(shape)}")
        if cmp[n - 1] < 0:
            _bad(f"indices[{n}] = {_dims(idx[n])} is out of order. Many sparse ops require sorted indices.\n"
                 "    Use `tf.sparse.reorder` to create a correctly ordered copy.\n\n")
        _bad(f"indices[{n}] = {_dims(idx[n])} is repeated")


def _row_positions(table, queries):
    """For each row of ``queries`` its position in ``table`` (rows unique there), or -1."""
    if len(table) == 0 or len(queries) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    both = np.concatenate([table, queries]).reshape(len(table) + len(queries), -1)
    _, inv = np.unique(both, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    where = np.full(inv.max() + 1, -1, dtype=np.int64)
    where[inv[:len(table)][::-1]] = np.arange(len(table))[::-1]  # first occurrence wins
    return where[inv[len(table):]]


def _sparse_parts(indices, values, shape, what="Input"):
    if indices.ndim != 2:
        _bad(f"{what} indices should be a matrix but received shape {_shape_str(indices.shape)}")
    if values.ndim != 1:
        _bad(f"{what} values should be a vector but received shape {_shape_str(values.shape)}")
    if shape.ndim != 1:
        _bad(f"{what} shape should be a vector but received shape {_shape_str(shape.shape)}")
    if len(indices) != len(values):
        _bad(f"Number of elements in {what.lower()} indices ({len(indices)}) and values ({len(values)}) do not "
             "match")
    if indices.shape[1] != len(shape):
        _bad(f"Input tensor rank must match input shape length.")
    return indices.astype(np.int64, copy=False), shape.astype(np.int64, copy=False)


def _sparse_result(indices, values, dense_shape):
    return SparseTensor(indices, values, dense_shape)


# ---- SparseToDense -------------------------------------------------------------------------------
SparseToDense = define("SparseToDense", "sparse_indices: Tindices, output_shape: Tindices, sparse_values: T, "
                       "default_value: T", "dense: T",
                       ["validate_indices: bool = true", "T: type", "Tindices: {int32, int64}"])
SparseToDense.shape(lambda op: [shape_from_tensor(op._inputs[1])])


@SparseToDense.kernel
def _sparse_to_dense_kernel(sparse_indices, output_shape, sparse_values, default_value, *, validate_indices):
    if sparse_indices.ndim > 2:
        _bad(f"sparse_indices should be a scalar, vector, or matrix, got shape {_shape_str(sparse_indices.shape)}")
    if output_shape.ndim != 1:
        _bad(f"output_shape must be rank 1, got shape {_shape_str(output_shape.shape)}")
    n = sparse_indices.shape[0] if sparse_indices.ndim > 0 else 1
    rank = sparse_indices.shape[1] if sparse_indices.ndim > 1 else 1
    if sparse_values.ndim > 1 or sparse_values.ndim == 1 and sparse_values.shape[0] != n:
        _bad(f"sparse_values has incorrect shape {_shape_str(sparse_values.shape)}, should be [] or [{n}]")
    if default_value.ndim != 0:
        _bad("default_value should be a scalar.")
    if output_shape.size != rank:
        _bad(f"output_shape has incorrect number of elements: {output_shape.size} should be: {rank}")
    shape = output_shape.astype(np.int64)
    if np.any(shape < 0):
        _bad(f"Dimension -1 must be >= 0")
    idx = sparse_indices.astype(np.int64, copy=False).reshape(n, rank)
    if validate_indices:
        _check_valid(idx, shape)
    elif np.any((idx < 0) | (idx >= shape)):
        _bad(f"Indices are not valid (out of bounds).  Shape: {_dims(shape)}")
    out = np.full(tuple(shape), default_value, dtype=default_value.dtype)
    if n:
        out[tuple(idx.T)] = sparse_values  # repeated indices: the last one wins, as in TF's loop
    return out


@SparseToDense.grad
def _sparse_to_dense_grad(op, grad):
    sparse_indices, output_shape = op.inputs[0], op.inputs[1]
    values_grad = array_ops.gather_nd(grad, sparse_indices)
    default_grad = math_ops.reduce_sum(grad) - math_ops.reduce_sum(values_grad)
    return [array_ops.zeros_like(sparse_indices), array_ops.zeros_like(output_shape), values_grad, default_grad]


def sparse_to_dense(sparse_indices, output_shape, sparse_values, default_value=0, validate_indices=True, name=None):
    """``tf.sparse_to_dense``: a dense tensor with ``sparse_values`` at ``sparse_indices``."""
    return apply_op("SparseToDense", name=name, sparse_indices=sparse_indices, output_shape=output_shape,
                    sparse_values=sparse_values, default_value=default_value, validate_indices=validate_indices)


def sparse_tensor_to_dense(sp_input, default_value=None, validate_indices=True, name=None):
    """``tf.sparse.to_dense``: the dense tensor a SparseTensor stands for (indices must be ordered)."""
    sp_input = convert_to_sparse_tensor(sp_input)
    if default_value is None:
        default_value = array_ops.zeros([], dtype=sp_input.dtype)
    return apply_op("SparseToDense", name=name, sparse_indices=sp_input.indices, output_shape=sp_input.dense_shape,
                    sparse_values=sp_input.values, default_value=default_value, validate_indices=validate_indices)


# ---- SparseTensorDenseMatMul ---------------------------------------------------------------------
SparseTensorDenseMatMul = define(
    "SparseTensorDenseMatMul", "a_indices: Tindices, a_values: T, a_shape: int64, b: T", "product: T",
    ["T: type", "Tindices: {int32, int64} = int64", "adjoint_a: bool = false", "adjoint_b: bool = false"])


@SparseTensorDenseMatMul.shape
def _sparse_matmul_shape(op):
    a_shape, b = shape_from_tensor(op._inputs[2]), op._inputs[3].shape
    if b.ndims is not None and b.ndims != 2:
        raise ValueError(f"Shape must be rank 2 but is rank {b.ndims} for '{op.name}' (op: {op.type}) with input "
                         f"shapes: {[t.shape for t in op._inputs]}.")
    if a_shape.ndims is not None and a_shape.ndims != 2:
        raise ValueError(f"Shape must be rank 2 but is rank {a_shape.ndims} for '{op.name}' (op: {op.type})")
    a = a_shape.as_list() if a_shape.ndims is not None else [None, None]
    bl = b.as_list() if b.ndims is not None else [None, None]
    if op._attrs["adjoint_a"]:
        a = a[::-1]
    if op._attrs["adjoint_b"]:
        bl = bl[::-1]
    if a[1] is not None and bl[0] is not None and a[1] != bl[0]:
        raise ValueError(f"Dimensions must be equal, but are {a[1]} and {bl[0]} for '{op.name}' (op: {op.type}) "
                         f"with input shapes: {[t.shape for t in op._inputs]}.")
    return [ts.TensorShape([a[0], bl[1]])]


@SparseTensorDenseMatMul.kernel
def _sparse_matmul_kernel(a_indices, a_values, a_shape, b, *, adjoint_a, adjoint_b):
    if a_shape.ndim != 1:
        _bad("Tensor 'a_shape' is not a vector")
    if a_shape.size != 2:
        _bad("Tensor 'a_shape' must have 2 elements")
    if a_values.ndim != 1:
        _bad("Tensor 'a_values' is not a vector")
    if b.ndim != 2:
        _bad("Tensor 'b' is not a matrix")
    if a_indices.ndim != 2:
        _bad("Tensor 'a_indices' is not a matrix")
    if a_indices.shape[0] != a_values.shape[0]:
        _bad("Number of rows of a_indices does not match number of entries in a_values")
    if a_indices.shape[1] != a_shape.size:
        _bad("Number of columns of a_indices does not match number of entries in a_shape")
    m, k = (int(a_shape[1]), int(a_shape[0])) if adjoint_a else (int(a_shape[0]), int(a_shape[1]))
    bm = b.conj().T if adjoint_b else b
    if k != bm.shape[0]:
        _bad(f"Cannot multiply A and B because inner dimension does not match: {k} vs. {bm.shape[0]}.  Did you "
             f"forget a transpose?  Dimensions of A: [{int(a_shape[0])}, {int(a_shape[1])}).  Dimensions of B: "
             f"{_shape_str(b.shape)}")
    idx = a_indices.astype(np.int64, copy=False)
    mc, kc = (1, 0) if adjoint_a else (0, 1)
    rows, cols = idx[:, mc], idx[:, kc]
    bad_m, bad_k = (rows < 0) | (rows >= m), (cols < 0) | (cols >= k)
    if bad_m.any() or bad_k.any():
        i = int(np.argmax(bad_m | bad_k))
        if bad_m[i]:
            _bad(f"m ({rows[i]}) from index[{i},{mc}] out of bounds (>={m})")
        _bad(f"k ({cols[i]}) from index[{i},{kc}] out of bounds (>={k})")
    vals = a_values.conj() if adjoint_a else a_values
    out_dtype = np.result_type(a_values.dtype, b.dtype)
    if m * k <= 4 * (len(vals) + 1) * max(bm.shape[1], 1) or m * k <= 1 << 16:  # dense A is cheap: BLAS
        a = np.zeros((m, k), dtype=out_dtype)
        np.add.at(a, (rows, cols), vals)
        return np.asarray(a @ bm, dtype=b.dtype)
    out = np.zeros((m, bm.shape[1]), dtype=out_dtype)
    np.add.at(out, rows, vals[:, None] * bm[cols])
    return out.astype(b.dtype, copy=False)


@SparseTensorDenseMatMul.grad
def _sparse_matmul_grad(op, grad):
    a_indices, a_values, a_shape, b = op.inputs
    adj_a, adj_b = op.get_attr("adjoint_a"), op.get_attr("adjoint_b")
    if a_values.dtype.base_dtype != b.dtype.base_dtype:
        raise TypeError(f"SparseTensorDenseMatMul op received operands with different types: "
                        f"`{a_values.dtype.base_dtype}` and `{b.dtype.base_dtype}`.")
    b_grad = apply_op("SparseTensorDenseMatMul", a_indices=a_indices, a_values=a_values, a_shape=a_shape, b=grad,
                      adjoint_a=not adj_a)
    if adj_b:
        b_grad = array_ops.matrix_transpose(b_grad, conjugate=True)
    rows, cols = a_indices[:, 0], a_indices[:, 1]
    parts_a = array_ops.gather(grad, cols if adj_a else rows)
    parts_b = array_ops.gather(array_ops.transpose(b) if adj_b else b, rows if adj_a else cols)
    ex = array_ops.expand_dims
    if not adj_a and not adj_b:
        g = math_ops.matmul(ex(parts_a, -2), ex(parts_b, -2), adjoint_b=True)
    elif adj_a and not adj_b:
        g = math_ops.matmul(ex(parts_a, -1), ex(parts_b, -1), adjoint_a=True)
    elif not adj_a and adj_b:
        g = math_ops.matmul(ex(parts_a, -2), ex(parts_b, -1))
    else:
        g = math_ops.matmul(ex(parts_a, -1), ex(parts_b, -2), adjoint_a=True, adjoint_b=True)
    return [None, array_ops.squeeze(g, axis=[-2, -1]), None, b_grad]


def sparse_tensor_dense_matmul(sp_a, b, adjoint_a=False, adjoint_b=False, name=None):
    """``tf.sparse.sparse_dense_matmul``: SparseTensor (rank 2) times dense matrix (either side sparse)."""
    if is_sparse(b):
        if adjoint_a != adjoint_b:
            return array_ops.transpose(sparse_tensor_dense_matmul(b, sp_a, adjoint_a, adjoint_b))
        return array_ops.transpose(sparse_tensor_dense_matmul(b, sp_a, adjoint_a=not adjoint_a,
                                                              adjoint_b=not adjoint_b))
    sp_a = convert_to_sparse_tensor(sp_a)
    with ops.name_scope(name, "SparseTensorDenseMatMul", [sp_a.indices, sp_a.values, b]) as name:
        b = convert_to_tensor(b, name="b")
        return apply_op("SparseTensorDenseMatMul", a_indices=sp_a.indices, a_values=sp_a.values,
                        a_shape=sp_a.dense_shape, b=b, adjoint_a=adjoint_a, adjoint_b=adjoint_b)


# ---- SparseTensorDenseAdd, SparseAdd -------------------------------------------------------------
SparseTensorDenseAdd = define("SparseTensorDenseAdd", "a_indices: Tindices, a_values: T, a_shape: Tindices, b: T",
                              "output: T", [f"T: {_NUMBER}", "Tindices: {int32, int64}"])
SparseTensorDenseAdd.shape(lambda op: [op._inputs[3].shape])


@SparseTensorDenseAdd.kernel
def _sparse_dense_add_kernel(a_indices, a_values, a_shape, b):
    if a_indices.ndim != 2:
        _bad(f"Input a_indices should be a matrix but received shape: {_shape_str(a_indices.shape)}")
    if a_values.ndim != 1 or a_shape.ndim != 1:
        _bad(f"Inputs a_values and a_shape should be vectors but received shapes: {_shape_str(a_values.shape)} "
             f"and {_shape_str(a_shape.shape)}")
    if a_shape.size != b.ndim:
        _bad(f"Two operands have different ranks; received: {a_shape.size} and {b.ndim}")
    for i, (s, d) in enumerate(zip(a_shape.tolist(), b.shape)):
        if s != d:
            _bad(f"Dimension {i} does not equal (no broadcasting is supported): sparse side {s} vs dense side {d}")
    if len(a_indices) != len(a_values) or a_indices.shape[1] != b.ndim:
        _bad(f"Input a_indices of shape {_shape_str(a_indices.shape)} does not match a_values of shape "
             f"{_shape_str(a_values.shape)} and a_shape {_dims(a_shape)}")
    idx = a_indices.astype(np.int64, copy=False)
    bad = (idx < 0) | (idx >= np.asarray(b.shape, dtype=np.int64))
    if bad.any():
        n, d = np.unravel_index(int(np.argmax(bad)), bad.shape)
        _bad(f"Sparse tensor has an invalid index on dimension {d}: a_indices({n},{d}) = {idx[n, d]}, dense tensor "
             f"shape: {' '.join(str(x) for x in b.shape)}")
    out = np.array(b, copy=True)
    np.add.at(out, tuple(idx.T), a_values)
    return out


SparseTensorDenseAdd.grad(lambda op, g: [None, array_ops.gather_nd(g, op.inputs[0]), None, g])

SparseAdd = define("SparseAdd", "a_indices: int64, a_values: T, a_shape: int64, b_indices: int64, b_values: T, "
                   "b_shape: int64, thresh: Treal", "sum_indices: int64, sum_values: T, sum_shape: int64",
                   [f"T: {_NUMBER}", f"Treal: {REAL}"])
SparseAdd.shape(lambda op: [ts.TensorShape([None, op._inputs[0].shape[1].value]), ts.TensorShape([None]),
                            op._inputs[2].shape])


def _merge_add(a_idx, a_val, b_idx, b_val, thresh):
    """TF's two-pointer merge of two index lists: equal indices add (kept if ``|sum| >= thresh``)."""
    if (_cmp_prev(a_idx) > 0).all() and (_cmp_prev(b_idx) > 0).all():  # strictly ordered: vectorized merge
        both = np.concatenate([a_idx, b_idx])
        src = np.concatenate([np.zeros(len(a_idx), np.int64), np.ones(len(b_idx), np.int64)])
        vals = np.concatenate([a_val, b_val])
        order = np.lexsort((src,) + tuple(both.T[::-1]))
        both, src, vals = both[order], src[order], vals[order]
        pair = np.zeros(len(both), dtype=bool)
        if len(both) > 1:
            pair[:-1] = (_cmp_prev(both) == 0)
        keep = np.ones(len(both), dtype=bool)
        keep[1:][pair[:-1]] = False  # the b half of a pair
        sums = vals.copy()
        p = np.flatnonzero(pair)
        sums[p] = vals[p] + vals[p + 1]
        keep[p] &= np.abs(sums[p]) >= thresh
        return both[keep], sums[keep]
    out_i, out_v, i, j = [], [], 0, 0
    while i < len(a_idx) and j < len(b_idx):
        ai, bj = tuple(a_idx[i]), tuple(b_idx[j])
        if ai < bj:
            out_i.append(a_idx[i]), out_v.append(a_val[i])
            i += 1
        elif ai > bj:
            out_i.append(b_idx[j]), out_v.append(b_val[j])
            j += 1
        else:
            s = a_val[i] + b_val[j]
            if np.abs(s) >= thresh:
                out_i.append(a_idx[i]), out_v.append(s)
            i, j = i + 1, j + 1
    out_i += list(a_idx[i:]) + list(b_idx[j:])
    out_v += list(a_val[i:]) + list(b_val[j:])
    rank = a_idx.shape[1]
    return (np.array(out_i, dtype=np.int64).reshape(-1, rank),
            np.array(out_v, dtype=a_val.dtype).reshape(-1))


@SparseAdd.kernel
def _sparse_add_kernel(a_indices, a_values, a_shape, b_indices, b_values, b_shape, thresh):
    if a_indices.ndim != 2 or b_indices.ndim != 2:
        _bad(f"Input indices should be matrices but received shapes: {_shape_str(a_indices.shape)} and "
             f"{_shape_str(b_indices.shape)}")
    if a_values.ndim != 1 or b_values.ndim != 1:
        _bad(f"Input values should be vectors but received shapes: {_shape_str(a_values.shape)} and "
             f"{_shape_str(b_values.shape)}")
    if a_shape.ndim != 1 or b_shape.ndim != 1:
        _bad(f"Input shapes should be a vector but received shapes {_shape_str(a_shape.shape)} and "
             f"{_shape_str(b_shape.shape)}")
    if thresh.ndim != 0:
        _bad(f"The magnitude threshold must be a scalar: got shape {_shape_str(thresh.shape)}")
    if len(a_indices) != len(a_values) or len(b_indices) != len(b_values):
        _bad(f"Expected {len(a_indices)} and {len(b_indices)} non-empty input values, got {len(a_values)} and "
             f"{len(b_values)}")
    if a_indices.shape[1] != b_indices.shape[1]:
        _bad(f"Input indices must have the same dimension, got {a_indices.shape[1]} and {b_indices.shape[1]}")
    if a_shape.size != b_shape.size:
        _bad(f"Operands do not have the same ranks; got shapes: {_dims(a_shape)} and {_dims(b_shape)}")
    for d, (x, y) in enumerate(zip(a_shape.tolist(), b_shape.tolist())):
        if x != y:
            _bad(f"Operands' shapes do not match: got {x} and {y} for dimension {d}")
    idx, vals = _merge_add(a_indices, a_values, b_indices, b_values, thresh)
    return idx, vals.astype(a_values.dtype, copy=False), a_shape.copy()


SparseAddGrad = define("SparseAddGrad", "backprop_val_grad: T, a_indices: int64, b_indices: int64, "
                       "sum_indices: int64", "a_val_grad: T, b_val_grad: T", [f"T: {_NUMBER}"])
SparseAddGrad.shape(lambda op: [ts.TensorShape([op._inputs[1].shape[0].value]),
                                ts.TensorShape([op._inputs[2].shape[0].value])])
SparseAddGrad.no_gradient()


@SparseAddGrad.kernel
def _sparse_add_grad_kernel(backprop_val_grad, a_indices, b_indices, sum_indices):
    if backprop_val_grad.ndim != 1 or len(backprop_val_grad) != len(sum_indices):
        _bad(f"Expected backprop_val_grad to be a vector of length {len(sum_indices)}, got shape "
             f"{_shape_str(backprop_val_grad.shape)}")
    out = []
    for idx in (a_indices, b_indices):
        pos = _row_positions(sum_indices, idx)
        g = np.zeros(len(idx), dtype=backprop_val_grad.dtype)
        g[pos >= 0] = backprop_val_grad[pos[pos >= 0]]
        out.append(g)
    return tuple(out)


@SparseAdd.grad
def _sparse_add_grad(op, *grads):
    a_grad, b_grad = apply_op("SparseAddGrad", backprop_val_grad=grads[1], a_indices=op.inputs[0],
                              b_indices=op.inputs[3], sum_indices=op.outputs[0])
    a_grad.set_shape(op.inputs[1].shape)
    b_grad.set_shape(op.inputs[4].shape)
    return [None, a_grad, None, None, b_grad, None, None]


def sparse_add(a, b, threshold=None, thresh=None):
    """``tf.sparse.add``: SparseTensor + SparseTensor (a SparseTensor) or SparseTensor + Tensor (a Tensor)."""
    if threshold is not None and thresh is not None:
        raise ValueError("Cannot specify both 'threshold' and 'thresh'")
    threshold = thresh if threshold is None else threshold
    threshold = 0 if threshold is None else threshold
    if not any(is_sparse(x) for x in (a, b)):
        raise TypeError("At least one input should be SparseTensor; do you mean to use tf.add()?")
    if all(is_sparse(x) for x in (a, b)):
        a, b = convert_to_sparse_tensor(a), convert_to_sparse_tensor(b)
        real = a.values.dtype.base_dtype.real_dtype if a.values.dtype.base_dtype.is_complex \
            else a.values.dtype.base_dtype
        threshold = convert_to_tensor(threshold, dtype=real, name="threshold")
        ind, val, shape = apply_op("SparseAdd", a_indices=a.indices, a_values=a.values, a_shape=a.dense_shape,
                                   b_indices=b.indices, b_values=b.values, b_shape=b.dense_shape, thresh=threshold)
        a.get_shape().assert_is_compatible_with(b.get_shape())
        static = a.get_shape().merge_with(b.get_shape())
        if static.is_fully_defined():
            shape = static.as_list()
        return SparseTensor(ind, val, shape)
    if is_sparse(b):
        a, b = b, a
    a = convert_to_sparse_tensor(a)
    return apply_op("SparseTensorDenseAdd", a_indices=a.indices, a_values=a.values, a_shape=a.dense_shape, b=b)


# ---- SparseDenseCwise{Add,Mul,Div}: dense broadcast to the sparse entries -------------------------
def _cwise_kernel(fn):
    def kernel(sp_indices, sp_values, sp_shape, dense):
        rank = sp_shape.size
        if dense.ndim > rank or any(d != 1 and d != s for d, s in zip(dense.shape[::-1], sp_shape[::-1].tolist())):
            _bad(f"SparseDenseBinaryOpShared broadcasts dense to sparse only; got incompatible shapes: "
                 f"{_dims(sp_shape)} vs. {_shape_str(dense.shape)}")
        idx = sp_indices.astype(np.int64, copy=False)[:, rank - dense.ndim:]
        idx = np.where(np.asarray(dense.shape) == 1, 0, idx)
        if np.any((idx < 0) | (idx >= np.asarray(dense.shape, dtype=np.int64))):
            _bad(f"Provided indices are out-of-bounds w.r.t. dense side with broadcasted shape")
        picked = dense[tuple(idx.T)] if dense.ndim else np.broadcast_to(dense, sp_values.shape)
        with np.errstate(all="ignore"):
            return np.asarray(fn(sp_values, picked), dtype=sp_values.dtype)
    return kernel


def _cwise_mul_div_grad(op, grad, is_mul):
    x_indices, x_values, x_shape, y = op.inputs
    y_shape = math_ops.cast(array_ops.shape(y), dtypes.int64)
    num_added = array_ops.expand_dims(array_ops.size(x_shape) - array_ops.size(y_shape), 0)
    augmented = array_ops.concat([array_ops.ones(num_added, dtypes.int64), y_shape], 0)
    scaled = math_ops.floordiv(x_indices, math_ops.floordiv(x_shape, augmented))
    scaled = array_ops.slice_(scaled, array_ops.concat([[0], num_added], 0), [-1, -1])
    dense_vals = array_ops.gather_nd(y, scaled)
    if is_mul:
        dx, dy_val = grad * dense_vals, grad * x_values
    else:
        dx, dy_val = grad / dense_vals, grad * (-x_values / math_ops.square(dense_vals))
    dy = sparse_add(array_ops.zeros_like(y), SparseTensor(scaled, dy_val, y_shape))
    return [None, dx, None, dy]


for _name, _fn in (("SparseDenseCwiseAdd", np.add), ("SparseDenseCwiseMul", np.multiply),
                   ("SparseDenseCwiseDiv", lambda a, b: a // b if np.issubdtype(a.dtype, np.integer) else a / b)):
    _od = define(_name, "sp_indices: int64, sp_values: T, sp_shape: int64, dense: T", "output: T",
                 [f"T: {_NUMBER}"])
    _od.shape(lambda op: [op._inputs[1].shape])
    _od.kernel(_cwise_kernel(_fn))
op_registry.get("SparseDenseCwiseMul").grad(lambda op, g: _cwise_mul_div_grad(op, g, True))
op_registry.get("SparseDenseCwiseDiv").grad(lambda op, g: _cwise_mul_div_grad(op, g, False))


@op_registry.get("SparseDenseCwiseAdd").grad
def _cwise_add_grad(op, grad):
    raise NotImplementedError("Gradient for SparseDenseCwiseAdd is not implemented.")


def _sparse_dense_cwise(op_type, sp, dense, true_div=False):
    """``sp * dense`` / ``sp / dense``: the op applied at the sparse entries, a SparseTensor with sp's indices."""
    with ops.name_scope(None, op_type[len("SparseDenseCwise"):].lower(), [sp.indices, sp.values, dense]):
        values = sp.values
        dense = convert_to_tensor(dense, dtype=values.dtype.base_dtype, name="y")
        if true_div and (values.dtype.base_dtype.is_integer):
            target = dtypes.float64 if values.dtype.base_dtype.size >= 4 else dtypes.float32
            values, dense = math_ops.cast(values, target), math_ops.cast(dense, target)
        out = apply_op(op_type, sp_indices=sp.indices, sp_values=values, sp_shape=sp.dense_shape, dense=dense)
        return SparseTensor(sp.indices, out, sp.dense_shape)


def sparse_dense_cwise_add(sp_t, dense_t):
    out = apply_op("SparseDenseCwiseAdd", sp_indices=sp_t.indices, sp_values=sp_t.values, sp_shape=sp_t.dense_shape,
                   dense=dense_t)
    return SparseTensor(sp_t.indices, out, sp_t.dense_shape)


# ---- SparseReduceSum -----------------------------------------------------------------------------
SparseReduceSum = define("SparseReduceSum", "input_indices: int64, input_values: T, input_shape: int64, "
                         "reduction_axes: int32", "output: T", ["keep_dims: bool = false", f"T: {_NUMBER}"])


@SparseReduceSum.shape
def _sparse_reduce_shape(op):
    shape, axes = constant_value(op._inputs[2]), constant_value(op._inputs[3])
    if shape is None or axes is None:
        return [ts.unknown_shape()]
    rank = len(shape)
    red = {int(a) % rank for a in np.reshape(axes, [-1])} if rank else set()
    keep = op._attrs["keep_dims"]
    return [ts.TensorShape([1 if d in red else int(s) for d, s in enumerate(shape) if keep or d not in red])]


@SparseReduceSum.kernel
def _sparse_reduce_sum_kernel(input_indices, input_values, input_shape, reduction_axes, *, keep_dims):
    idx, shape = _sparse_parts(input_indices, input_values, input_shape)
    rank = len(shape)
    red = set()
    for a in np.reshape(reduction_axes, [-1]).tolist():
        if not -rank <= a < rank:
            _bad(f"Invalid reduction dimension {a}, for input with {rank} dimensions.")
        red.add(a % rank)
    kept = [d for d in range(rank) if d not in red]
    kept_shape = shape[kept]
    kidx = idx[:, kept]
    bad = np.any((kidx < 0) | (kidx >= kept_shape), axis=1)
    if bad.any():
        n = int(np.argmax(bad))
        _bad(f"indices[{n}] = {_dims(idx[n])} is out of bounds: need 0 <= index < {_dims(shape)}")
    flat = np.zeros(int(np.prod(kept_shape)), dtype=input_values.dtype)
    lin = np.ravel_multi_index(tuple(kidx.T), tuple(kept_shape)) if kept else np.zeros(len(idx), np.int64)
    np.add.at(flat, lin, input_values)
    out_shape = [1 if d in red else int(shape[d]) for d in range(rank)] if keep_dims else kept_shape.tolist()
    return flat.reshape(out_shape)


@SparseReduceSum.grad
def _sparse_reduce_sum_grad(op, out_grad):
    sp_indices, sp_shape = op.inputs[0], op.inputs[2]
    kept = math_ops.reduced_shape(sp_shape, op.inputs[3])
    kept = array_ops.constant(kept) if isinstance(kept, np.ndarray) else kept
    out_grad = array_ops.reshape(out_grad, kept)
    scale = math_ops.floordiv(sp_shape, math_ops.cast(kept, dtypes.int64))
    return [None, array_ops.gather_nd(out_grad, math_ops.floordiv(sp_indices, scale)), None, None]


def _reduction_axes(sp_input, axis):
    if axis is not None:
        return axis
    rank = sp_input.shape.ndims
    if rank:
        return array_ops.constant(np.arange(rank, dtype=np.int32))
    return math_ops.range_(0, array_ops.size(sp_input.dense_shape))


def sparse_reduce_sum(sp_input, axis=None, keepdims=None, reduction_axes=None, keep_dims=None):
    """``tf.sparse.reduce_sum``: a dense sum over ``axis`` (all axes by default) of a SparseTensor."""
    keepdims = _deprecated_pair("keepdims", keepdims, "keep_dims", keep_dims)
    axis = _deprecated_pair("axis", axis, "reduction_axes", reduction_axes)
    sp_input = convert_to_sparse_tensor(sp_input)
    return apply_op("SparseReduceSum", input_indices=sp_input.indices, input_values=sp_input.values,
                    input_shape=sp_input.dense_shape, reduction_axes=_reduction_axes(sp_input, axis),
                    keep_dims=bool(keepdims))


def _deprecated_pair(new, new_value, old, old_value):
    if new_value is not None and old_value is not None:
        raise ValueError(f"Cannot specify both '{new}' and '{old}'")
    return old_value if new_value is None else new_value


# ---- SparseReorder -------------------------------------------------------------------------------
SparseReorder = define("SparseReorder", "input_indices: int64, input_values: T, input_shape: int64",
                       "output_indices: int64, output_values: T", ["T: type"])
SparseReorder.shape(lambda op: [op._inputs[0].shape, op._inputs[1].shape])


@SparseReorder.kernel
def _sparse_reorder_kernel(input_indices, input_values, input_shape):
    idx, _ = _sparse_parts(input_indices, input_values, input_shape)
    order = _lexsort_rows(idx)
    return idx[order], input_values[order]


@SparseReorder.grad
def _sparse_reorder_grad(op, _, values_grad):
    input_indices, input_shape = op.inputs[0], op.inputs[2]
    entries = math_ops.range_(array_ops.shape(input_indices)[0])
    ordered = sparse_reorder(SparseTensor(input_indices, entries, input_shape))
    return [None, array_ops.gather(values_grad, array_ops.invert_permutation(ordered.values)), None]


def sparse_reorder(sp_input, name=None):
    """``tf.sparse.reorder``: the same SparseTensor with its indices in canonical (row-major) order."""
    sp_input = convert_to_sparse_tensor(sp_input)
    ind, val = apply_op("SparseReorder", name=name, input_indices=sp_input.indices, input_values=sp_input.values,
                        input_shape=sp_input.dense_shape)
    if sp_input.get_shape().is_fully_defined():
        return SparseTensor(ind, val, sp_input.get_shape().as_list())
    out = SparseTensor(ind, val, array_ops.identity(sp_input.dense_shape))
    out.set_shape(sp_input.shape)
    return out


# ---- SparseReshape -------------------------------------------------------------------------------
SparseReshape = define("SparseReshape", "input_indices: int64, input_shape: int64, new_shape: int64",
                       "output_indices: int64, output_shape: int64")
SparseReshape.shape(lambda op: [ts.TensorShape([op._inputs[0].shape[0].value if op._inputs[0].shape.ndims else None,
                                                 op._inputs[2].shape[0].value if op._inputs[2].shape.ndims else None]),
                                op._inputs[2].shape])
SparseReshape.no_gradient()


@SparseReshape.kernel
def _sparse_reshape_kernel(input_indices, input_shape, new_shape):
    if input_indices.ndim != 2:
        _bad(f"Input indices should be a matrix but received shape {_shape_str(input_indices.shape)}")
    if input_shape.ndim != 1:
        _bad(f"Input shape should be a vector but received shape {_shape_str(input_shape.shape)}")
    if new_shape.ndim != 1:
        _bad(f"Target shape should be a vector but received shape {_shape_str(new_shape.shape)}")
    if input_indices.shape[1] != input_shape.size:
        _bad("Input tensor rank must match input shape length.")
    in_shape = input_shape.astype(np.int64).tolist()
    out = new_shape.astype(np.int64).tolist()
    unknown, product = -1, 1
    for d, s in enumerate(out):
        if s == -1:
            if unknown != -1:
                _bad(f"only one output dimension may be -1, not both {unknown} and {d}")
            unknown = d
        elif s < 0:
            _bad(f"size {d} must be non-negative, not {s}")
        else:
            product *= s
    dense_size = int(np.prod(in_shape, dtype=np.int64))
    if unknown != -1:
        shown = [1 if s == -1 else s for s in out]
        if product <= 0 or dense_size % product:
            _bad(f"Input to reshape is a SparseTensor with {dense_size} dense values, but the requested shape "
                 f"requires a multiple of {product}. input_shape={_dims(in_shape)} output_shape={_dims(shown)}")
        out[unknown] = dense_size // product
    elif product != dense_size:
        _bad(f"Input to reshape is a tensor with {dense_size} dense values, but the requested shape has {product}. "
             f"input_shape={_dims(in_shape)} output_shape={_dims(out)}")
    idx = input_indices.astype(np.int64, copy=False)
    if in_shape == out:
        return idx.copy(), np.array(out, dtype=np.int64)
    in_strides = np.cumprod([1] + in_shape[::-1])[:-1][::-1].astype(np.int64)
    lin = idx @ in_strides if len(in_shape) else np.zeros(len(idx), np.int64)
    res = np.empty((len(idx), len(out)), dtype=np.int64)
    for d in range(len(out) - 1, -1, -1):
        res[:, d] = lin % out[d] if out[d] else 0
        lin = lin // out[d] if out[d] else lin
    return res, np.array(out, dtype=np.int64)


def sparse_reshape(sp_input, shape, name=None):
    """``tf.sparse.reshape``: the same entries in a dense shape of equal size (one dimension may be -1)."""
    sp_input = convert_to_sparse_tensor(sp_input)
    with ops.name_scope(None, "Cast", [shape]) as scope:  # TF's cast: a Python shape is the Const "Cast/x"
        shape = convert_to_tensor(shape, name="x")
        if shape.dtype.base_dtype != dtypes.int64:
            shape = apply_op("Cast", name=scope, x=shape, DstT=dtypes.int64)
    with ops.name_scope(name, "SparseReshape", [sp_input]) as name:
        ind, out_shape = apply_op("SparseReshape", name=name, input_indices=sp_input.indices,
                                  input_shape=sp_input.dense_shape, new_shape=shape)
        target = shape_from_tensor(shape)
        target = target.as_list() if target.ndims is not None else None
        if target is not None and sp_input.shape.is_fully_defined():
            user = constant_value(shape)
            if user is not None and sum(int(d) == -1 for d in user) > 1:
                raise ValueError(f"At most one dimension can be inferred (-1). Found: {user}")
            original = list(target)
            size = int(np.prod(sp_input.shape.as_list(), dtype=np.int64))
            implied = sum(d is None for d in target)
            if implied == 1 and 0 not in target:
                i = original.index(None)
                rest = original[:i] + original[i + 1:]
                target[i] = int(size // int(np.prod(rest, dtype=np.int64)))
            if implied == 0 or implied == 1 and 0 not in target:
                reshaped = int(np.prod(target, dtype=np.int64))
                if reshaped != size:
                    raise ValueError(f"Cannot reshape a tensor with {size} elements to shape {original} "
                                     f"({reshaped} elements).")
                out_shape = array_ops.constant(target, dtype=dtypes.int64)
        return SparseTensor(ind, array_ops.identity(sp_input.values), out_shape)


# ---- SparseConcat --------------------------------------------------------------------------------
SparseConcat = define("SparseConcat", "indices: N * int64, values: N * T, shapes: N * int64",
                      "output_indices: int64, output_values: T, output_shape: int64",
                      ["concat_dim: int", "N: int >= 2", "T: type"])


@SparseConcat.shape
def _sparse_concat_shape(op):
    n = op._attrs["N"]
    rows = [t.shape[0].value if t.shape.ndims else None for t in op._inputs[:n]]
    ranks = {t.shape[1].value for t in op._inputs[:n] if t.shape.ndims and t.shape[1].value is not None}
    if len(ranks) > 1:
        raise ValueError(f"Dimensions must be equal, but are {sorted(ranks)[0]} and {sorted(ranks)[1]} for "
                         f"'{op.name}' (op: SparseConcat)")
    total = None if None in rows else sum(rows)
    rank = ranks.pop() if ranks else None
    return [ts.TensorShape([total, rank]), ts.TensorShape([total]), ts.TensorShape([rank])]


@SparseConcat.kernel
def _sparse_concat_kernel(*args, concat_dim, N):
    inds, vals, shapes = args[:N], args[N:2 * N], args[2 * N:]
    for i in range(N):
        _sparse_parts(inds[i], vals[i], shapes[i])
    rank = shapes[0].size
    for i, s in enumerate(shapes):
        if s.size != rank:
            _bad(f"Ranks of all input tensors should match: shape[0] = {_dims(shapes[0])} vs. shape[{i}] = "
                 f"{_dims(s)}")
    if not -rank <= concat_dim < rank:
        _bad(f"Concat dimension must be in range [{-rank}, {rank}), got {concat_dim}")
    dim = concat_dim % rank
    for i, s in enumerate(shapes[1:], 1):
        for d in range(rank):
            if d != dim and s[d] != shapes[0][d]:
                _bad(f"Input shapes must match: expected {shapes[0][d]} for dimension {d} but got {s[d]} at "
                     f"position {i}")
    out_shape = shapes[0].astype(np.int64).copy()
    parts, offset = [], 0
    for ind, s in zip(inds, shapes):
        p = ind.astype(np.int64, copy=True)
        p[:, dim] += offset
        offset += int(s[dim])
        parts.append(p)
    out_shape[dim] = offset
    idx = np.concatenate(parts).reshape(-1, rank)
    v = np.concatenate(vals)
    order = _lexsort_rows(idx)
    return idx[order], v[order], out_shape


SparseConcat.no_gradient()


def sparse_concat(axis, sp_inputs, name=None, expand_nonconcat_dim=False, concat_dim=None,
                  expand_nonconcat_dims=None):
    """``tf.sparse.concat``: SparseTensors joined along ``axis`` (others padded to the largest with
    ``expand_nonconcat_dim``)."""
    if expand_nonconcat_dims is not None:
        expand_nonconcat_dim = expand_nonconcat_dims
    axis = _deprecated_pair("axis", axis, "concat_dim", concat_dim)
    if not isinstance(sp_inputs, (list, tuple)):
        raise TypeError("Inputs must be a list or tuple.")
    sp_inputs = [convert_to_sparse_tensor(x) for x in sp_inputs]
    if len(sp_inputs) == 1:
        return sp_inputs[0]
    inds = [x.indices for x in sp_inputs]
    vals = [x.values for x in sp_inputs]
    shapes = [x.dense_shape for x in sp_inputs]
    if expand_nonconcat_dim:
        max_shape = math_ops.reduce_max(array_ops.concat([array_ops.reshape(s, [1, -1]) for s in shapes], 0), 0)
        shapes = [array_ops.concat([max_shape[:axis], s[-1:] if axis == -1 else s[axis:axis + 1],
                                    [] if axis == -1 else max_shape[axis + 1:]], 0) for s in shapes]
    ind, val, shape = apply_op("SparseConcat", name=name, indices=inds, values=vals, shapes=shapes, concat_dim=axis)
    in_shapes = [x.shape for x in sp_inputs]
    if all(s.ndims is not None for s in in_shapes):
        if expand_nonconcat_dim:
            static = [max((s[d].value for s in in_shapes), key=lambda v: -1 if v is None else v)
                      if all(s[d].value is not None for s in in_shapes) else None
                      for d in range(in_shapes[0].ndims)]
        else:
            static = in_shapes[0].as_list()
        dims = [s[axis].value for s in in_shapes]
        static[axis] = None if None in dims else sum(dims)
    else:
        static = None
    if all(s.is_fully_defined() for s in in_shapes):
        return SparseTensor(ind, val, array_ops.constant(static, dtype=dtypes.int64))
    out = SparseTensor(ind, val, shape)
    out.set_shape(ts.TensorShape(static) if static is not None else ts.unknown_shape())
    return out


# ---- sparse_retain, SparseFillEmptyRows ----------------------------------------------------------
def sparse_retain(sp_input, to_retain):
    """``tf.sparse.retain``: the entries of ``sp_input`` where the bool vector ``to_retain`` is true."""
    sp_input = convert_to_sparse_tensor(sp_input)
    to_retain = convert_to_tensor(to_retain)
    retain_shape = to_retain.get_shape()
    retain_shape.assert_has_rank(1)
    n_values = sp_input.values.get_shape()
    if n_values.ndims is not None and not n_values[0].is_compatible_with(retain_shape[0]):
        raise ValueError(f"Dimensions {n_values[0]} and {retain_shape[0]} are not compatible")
    where_true = array_ops.reshape(math_ops.where_v2(to_retain), [-1])
    return SparseTensor(array_ops.gather(sp_input.indices, where_true), array_ops.gather(sp_input.values, where_true),
                        array_ops.identity(sp_input.dense_shape))


SparseFillEmptyRows = define("SparseFillEmptyRows", "indices: int64, values: T, dense_shape: int64, default_value: T",
                             "output_indices: int64, output_values: T, empty_row_indicator: bool, "
                             "reverse_index_map: int64", ["T: type"])


@SparseFillEmptyRows.shape
def _fill_empty_rows_shape(op):
    ind, _, shape, default = op._inputs
    if default.shape.ndims is not None and default.shape.ndims != 0:
        raise ValueError(f"Shape must be rank 0 but is rank {default.shape.ndims} for '{op.name}' "
                         f"(op: SparseFillEmptyRows)")
    rank = ind.shape[1].value if ind.shape.ndims else None
    rows = shape_from_tensor(shape)
    nrows = rows[0].value if rows.ndims else None
    return [ts.TensorShape([None, rank]), ts.TensorShape([None]), ts.TensorShape([nrows]),
            ts.TensorShape([ind.shape[0].value if ind.shape.ndims else None])]


@SparseFillEmptyRows.kernel
def _fill_empty_rows_kernel(indices, values, dense_shape, default_value):
    if dense_shape.ndim != 1:
        _bad(f"dense_shape must be a vector, saw: {_shape_str(dense_shape.shape)}")
    if indices.ndim != 2:
        _bad(f"indices must be a matrix, saw: {_shape_str(indices.shape)}")
    if values.ndim != 1:
        _bad(f"values must be a vector, saw: {_shape_str(values.shape)}")
    if default_value.ndim != 0:
        _bad(f"default_value must be a scalar, saw: {_shape_str(default_value.shape)}")
    if len(indices) != len(values):
        _bad(f"The length of `values` ({len(values)}) must match the first dimension of `indices` "
             f"({len(indices)}).")
    if dense_shape.size == 0:
        _bad("Dense shape cannot be empty.")
    idx = indices.astype(np.int64, copy=False)
    n, rank, nrows = len(idx), idx.shape[1], int(dense_shape[0])
    if nrows == 0:
        if n:
            _bad(f"Received SparseTensor with dense_shape[0] = 0 but indices.shape[0] = {n}")
        return (np.zeros((0, rank), np.int64), values[:0].copy(), np.zeros(0, bool), np.zeros(0, np.int64))
    rows = idx[:, 0] if rank else np.zeros(n, np.int64)
    bad = (rows < 0) | (rows >= nrows)
    if bad.any():
        i = int(np.argmax(bad))
        _bad(f"indices({i}, 0) is invalid: {rows[i]} >= {nrows}" if rows[i] >= 0 else
             f"indices({i}, 0) is invalid: {rows[i]} < 0")
    counts = np.bincount(rows, minlength=nrows)
    empty = counts == 0
    out_counts = counts + empty
    starts = np.cumsum(out_counts) - out_counts
    order = np.argsort(rows, kind="stable")  # within a row, the input order is kept
    rank_in_row = np.arange(n) - (np.cumsum(counts) - counts)[rows[order]]
    reverse = np.empty(n, dtype=np.int64)
    reverse[order] = starts[rows[order]] + rank_in_row
    total = int(out_counts.sum())
    out_idx = np.zeros((total, rank), dtype=np.int64)
    out_val = np.empty(total, dtype=values.dtype)
    out_idx[reverse] = idx
    out_val[reverse] = values
    e = np.flatnonzero(empty)
    out_idx[starts[e], 0] = e
    out_val[starts[e]] = default_value
    return out_idx, out_val, empty, reverse


SparseFillEmptyRowsGrad = define("SparseFillEmptyRowsGrad", "reverse_index_map: int64, grad_values: T",
                                 "d_values: T, d_default_value: T", ["T: type"])
SparseFillEmptyRowsGrad.shape(lambda op: [op._inputs[0].shape, ts.TensorShape([])])
lookup_error_gradient(SparseFillEmptyRowsGrad)


@SparseFillEmptyRowsGrad.kernel
def _fill_empty_rows_grad_kernel(reverse_index_map, grad_values):
    rim = reverse_index_map.astype(np.int64, copy=False)
    if np.any((rim < 0) | (rim >= len(grad_values))):
        i = int(np.argmax((rim < 0) | (rim >= len(grad_values))))
        _bad(f"Elements in reverse index must be in [0, {len(grad_values)}) but got {rim[i]}")
    unused = np.ones(len(grad_values), dtype=bool)
    unused[rim] = False
    return grad_values[rim], np.asarray(grad_values[unused].sum(), dtype=grad_values.dtype)


@SparseFillEmptyRows.grad
def _fill_empty_rows_grad(op, _, values_grad, *unused):
    d_values, d_default = apply_op("SparseFillEmptyRowsGrad", reverse_index_map=op.outputs[3],
                                   grad_values=values_grad)
    return [None, d_values, None, d_default]


def sparse_fill_empty_rows(sp_input, default_value, name=None):
    """``tf.sparse.fill_empty_rows``: ``[row, 0, ...] = default_value`` added for each row with no entry;
    returns the filled SparseTensor and the bool vector of rows that were empty."""
    sp_input = convert_to_sparse_tensor(sp_input)
    with ops.name_scope(name, "SparseFillEmptyRows", [sp_input]):
        default_value = convert_to_tensor(default_value, dtype=sp_input.values.dtype)
        ind, val, empty, _ = apply_op("SparseFillEmptyRows", indices=sp_input.indices, values=sp_input.values,
                                      dense_shape=sp_input.dense_shape, default_value=default_value)
        return SparseTensor(ind, val, sp_input.dense_shape), empty


# ---- SparseSlice ---------------------------------------------------------------------------------
SparseSlice = define("SparseSlice", "indices: int64, values: T, shape: int64, start: int64, size: int64",
                     "output_indices: int64, output_values: T, output_shape: int64", ["T: type"])
SparseSlice.shape(lambda op: [ts.TensorShape([None, op._inputs[0].shape[1].value if op._inputs[0].shape.ndims
                                               else None]), ts.TensorShape([None]), op._inputs[2].shape])


@SparseSlice.kernel
def _sparse_slice_kernel(indices, values, shape, start, size):
    idx, shp = _sparse_parts(indices, values, shape)
    rank = len(shp)
    for what, v in (("start", start), ("size", size)):
        if v.ndim != 1 or v.size != rank:
            _bad(f"Expected {what} to be a vector of length {rank} but got length {v.size}")
    start, size = start.astype(np.int64), size.astype(np.int64)
    for s in start.tolist():
        if s < 0:
            _bad(f"Expected a non-negative start, got {s}")
    for s in size.tolist():
        if s < 0:
            _bad(f"Expected a non-negative size, got {s}")
    inside = np.all((idx >= start) & (idx < start + size), axis=1)
    out_shape = np.maximum(np.minimum(start + size, shp) - start, 0)
    return idx[inside] - start, values[inside], out_shape


SparseSliceGrad = define("SparseSliceGrad", "backprop_val_grad: T, input_indices: int64, input_start: int64, "
                         "output_indices: int64", "val_grad: T", [f"T: {_NUMBER}"])
SparseSliceGrad.shape(lambda op: [ts.TensorShape([op._inputs[1].shape[0].value if op._inputs[1].shape.ndims
                                                  else None])])
lookup_error_gradient(SparseSliceGrad)


@SparseSliceGrad.kernel
def _sparse_slice_grad_kernel(backprop_val_grad, input_indices, input_start, output_indices):
    if len(backprop_val_grad) != len(output_indices):
        _bad(f"backprop_val_grad has {len(backprop_val_grad)} entries but output_indices has "
             f"{len(output_indices)} rows")
    pos = _row_positions(input_indices, output_indices + input_start)
    if np.any(pos < 0):
        _bad("Elements of output_indices must be present in input_indices")
    out = np.zeros(len(input_indices), dtype=backprop_val_grad.dtype)
    out[pos] = backprop_val_grad
    return out


@SparseSlice.grad
def _sparse_slice_grad(op, *grads):
    g = apply_op("SparseSliceGrad", backprop_val_grad=grads[1], input_indices=op.inputs[0],
                 input_start=op.inputs[3], output_indices=op.outputs[0])
    g.set_shape(op.inputs[1].shape)
    return [None, g, None, None, None]


def sparse_slice(sp_input, start, size, name=None):
    """``tf.sparse.slice``: the entries inside ``[start, start + size)``, re-indexed from ``start``."""
    sp_input = convert_to_sparse_tensor(sp_input)
    start = convert_to_tensor(start, dtypes.int64)
    size = convert_to_tensor(size, dtypes.int64)
    with ops.name_scope(name, "SparseSlice", [sp_input]) as name:
        ind, val, shape = apply_op("SparseSlice", name=name, indices=sp_input.indices, values=sp_input.values,
                                   shape=sp_input.dense_shape, start=start, size=size)
        return SparseTensor(ind, val, shape)


# ---- SparseSoftmax -------------------------------------------------------------------------------
SparseSoftmax = define("SparseSoftmax", "sp_indices: int64, sp_values: T, sp_shape: int64", "output: T",
                       ["T: {half, float, double}"])
SparseSoftmax.shape(lambda op: [op._inputs[1].shape])


@SparseSoftmax.kernel
def _sparse_softmax_kernel(sp_indices, sp_values, sp_shape):
    idx, _ = _sparse_parts(sp_indices, sp_values, sp_shape)
    if idx.shape[1] < 2:
        _bad(f"Input should have rank >= 2, but received shape: {_dims(sp_shape)}")
    if not len(idx):
        return sp_values.copy()
    _, group = np.unique(idx[:, :-1], axis=0, return_inverse=True)
    group = group.reshape(-1)
    top = np.full(group.max() + 1, -np.inf, dtype=sp_values.dtype)
    np.maximum.at(top, group, sp_values)
    with np.errstate(all="ignore"):
        e = np.exp(sp_values - top[group])
        total = np.zeros_like(top)
        np.add.at(total, group, e)
        return (e / total[group]).astype(sp_values.dtype)


@SparseSoftmax.grad
def _sparse_softmax_grad(op, grad):
    indices, shape = op.inputs[0], op.inputs[2]
    out_vals = op.outputs[0]
    sp_grad = SparseTensor(indices, grad, shape)
    sp_product = SparseTensor(indices, out_vals * grad, shape)
    sum_reduced = -sparse_reduce_sum(sp_product, [-1], keepdims=True)
    sp_sum = sparse_dense_cwise_add(sp_grad, sum_reduced)
    return [None, sp_sum.values * out_vals, None]


def sparse_softmax(sp_input, name=None):
    """``tf.sparse.softmax``: softmax over the last dimension, counting only the entries present."""
    sp_input = convert_to_sparse_tensor(sp_input)
    with ops.name_scope(name, "SparseSoftmax", [sp_input.indices, sp_input.values]):
        out = apply_op("SparseSoftmax", sp_indices=sp_input.indices, sp_values=sp_input.values,
                       sp_shape=sp_input.dense_shape)
        return SparseTensor(sp_input.indices, out, sp_input.dense_shape)


# ---- segment reductions (embedding_lookup_sparse's building blocks) -------------------------------
def _check_segments(segment_ids, name="SegmentSum"):
    ids = segment_ids.astype(np.int64, copy=False)
    if len(ids) > 1 and np.any(ids[1:] < ids[:-1]):
        _bad("segment ids are not increasing")
    n = int(ids[-1]) + 1 if len(ids) else 0
    if len(ids) and ids[0] < 0:
        _bad(f"Segment id {ids[0]} out of range [0, {n}), possibly because 'segment_ids' input is not sorted.")
    return ids, n


SegmentSum = define("SegmentSum", "data: T, segment_ids: Tindices", "output: T",
                    [f"T: {_NUMBER}", "Tindices: {int32, int64}"])
SegmentSum.shape(lambda op: [ts.TensorShape([None]).concatenate(op._inputs[0].shape[1:])
                             if op._inputs[0].shape.ndims else ts.unknown_shape()])


@SegmentSum.kernel
def _segment_sum_kernel(data, segment_ids):
    if segment_ids.ndim != 1:
        _bad("segment_ids should be a vector.")
    if data.ndim == 0 or len(segment_ids) != data.shape[0]:
        _bad("segment_ids should be the same size as dimension 0 of input.")
    ids, n = _check_segments(segment_ids)
    out = np.zeros((n,) + data.shape[1:], dtype=data.dtype)
    np.add.at(out, ids, data)
    return out


SegmentSum.grad(lambda op, g: [array_ops.gather(g, op.inputs[1]), None])


def segment_sum(data, segment_ids, name=None):
    """``tf.math.segment_sum``: sums of the rows of ``data`` sharing a (sorted) segment id."""
    return apply_op("SegmentSum", name=name, data=data, segment_ids=segment_ids)


_SEG_ATTRS = ["Tidx: {int32, int64} = int32", "Tsegmentids: {int32, int64} = int32"]


def _segment_weights(ids, n, kind, dtype):
    if kind == "Sum":
        return np.ones(n, dtype=dtype)
    counts = np.bincount(ids, minlength=n).astype(dtype)
    with np.errstate(divide="ignore"):
        w = 1 / (counts if kind == "Mean" else np.sqrt(counts))
    w[counts == 0] = 0
    return w.astype(dtype)


def _sparse_segment_kernel(kind):
    def kernel(data, indices, segment_ids, *, sparse_gradient):
        if indices.ndim != 1:
            _bad("indices should be a vector.")
        if segment_ids.ndim != 1:
            _bad("segment_ids should be a vector.")
        if len(indices) != len(segment_ids):
            _bad("segment_ids and indices should have same size.")
        ids, n = _check_segments(segment_ids)
        idx = indices.astype(np.int64, copy=False)
        bad = (idx < 0) | (idx >= data.shape[0])
        if bad.any():
            i = int(np.argmax(bad))
            _bad(f"Bad: indices[{i}] == {idx[i]} out of range [0, {data.shape[0]})")
        out = np.zeros((n,) + data.shape[1:], dtype=data.dtype)
        np.add.at(out, ids, data[idx])
        if kind != "Sum":
            out *= _segment_weights(ids, n, kind, data.dtype).reshape((n,) + (1,) * (data.ndim - 1))
        return out
    return kernel


def _sparse_segment_grad_kernel(kind):
    def kernel(grad, indices, segment_ids, output_dim0):
        ids = segment_ids.astype(np.int64, copy=False)
        idx = indices.astype(np.int64, copy=False)
        dim0 = int(output_dim0)
        bad = (idx < 0) | (idx >= dim0)
        if bad.any():
            i = int(np.argmax(bad))
            _bad(f"Index {idx[i]} out of range [0, {dim0}).")
        if len(ids) and (ids.min() < 0 or ids.max() >= grad.shape[0]):
            _bad(f"Segment id {ids.max()} out of range [0, {grad.shape[0]}).")
        w = _segment_weights(ids, grad.shape[0], kind, grad.dtype)
        out = np.zeros((dim0,) + grad.shape[1:], dtype=grad.dtype)
        np.add.at(out, idx, grad[ids] * w[ids].reshape((-1,) + (1,) * (grad.ndim - 1)))
        return out
    return kernel


def _seg_shape(op):
    d = op._inputs[0].shape
    return [ts.TensorShape([None]).concatenate(d[1:]) if d.ndims else ts.unknown_shape()]


def _grad_shape(op):
    d = op._inputs[0].shape
    v = constant_value(op._inputs[3])
    return [ts.TensorShape([None if v is None else int(v)]).concatenate(d[1:]) if d.ndims else ts.unknown_shape()]


for _kind, _types in (("Sum", REAL), ("Mean", "{bfloat16, half, float, double}"),
                      ("SqrtN", "{bfloat16, half, float, double}")):
    _od = define(f"SparseSegment{_kind}", "data: T, indices: Tidx, segment_ids: Tsegmentids", "output: T",
                 [f"T: {_types}"] + _SEG_ATTRS + ["sparse_gradient: bool = false"])
    _od.shape(_seg_shape)
    _od.kernel(_sparse_segment_kernel(_kind))
    _gd = define(f"SparseSegment{_kind}Grad", "grad: T, indices: Tidx, segment_ids: Tsegmentids, output_dim0: int32",
                 "output: T", ["T: {bfloat16, half, float, double}"] + _SEG_ATTRS)
    _gd.shape(_grad_shape)
    _gd.kernel(_sparse_segment_grad_kernel(_kind))
    lookup_error_gradient(_gd)

    def _grad(op, grad, _kind=_kind):  # the dense form of TF's gradient (sparse_gradient gives the same values)
        dim0 = array_ops.shape(op.inputs[0])[0]
        return [apply_op(f"SparseSegment{_kind}Grad", grad=grad, indices=op.inputs[1], segment_ids=op.inputs[2],
                         output_dim0=dim0), None, None]
    _od.grad(_grad)


def _sparse_segment(kind):
    def fn(data, indices, segment_ids, name=None, num_segments=None, sparse_gradient=False):
        if num_segments is not None:
            raise NotImplementedError("num_segments (SparseSegment*WithNumSegments) is not supported by deferflow")
        return apply_op(f"SparseSegment{kind}", name=name, data=data, indices=indices, segment_ids=segment_ids,
                        sparse_gradient=sparse_gradient)
    fn.__name__ = {"Sum": "sparse_segment_sum", "Mean": "sparse_segment_mean", "SqrtN": "sparse_segment_sqrt_n"}[kind]
    fn.__doc__ = f"``tf.sparse.segment_{kind.lower()}``: segment {kind} of the rows ``data[indices]``."
    return fn


sparse_segment_sum = _sparse_segment("Sum")
sparse_segment_mean = _sparse_segment("Mean")
sparse_segment_sqrt_n = _sparse_segment("SqrtN")


# ---- embedding_lookup_sparse ---------------------------------------------------------------------
def embedding_lookup_sparse(params, sp_ids, sp_weights, partition_strategy="mod", name=None, combiner=None,
                            max_norm=None):
    """``tf.nn.embedding_lookup_sparse``: per row of ``sp_ids``, the (weighted) sum, mean or sqrtn-scaled
    sum of the embeddings of its ids, composed from ops as in TF (the params' gradient is IndexedSlices)."""
    from deferflow.ops.nn_impl import embedding_lookup
    if combiner is None:
        combiner = "mean"
    if combiner not in ("mean", "sqrtn", "sum"):
        raise ValueError(f"combiner must be one of 'mean', 'sqrtn' or 'sum', got {combiner}")
    if hasattr(params, "_get_variable_list"):
        params = list(params._get_variable_list())
    if not isinstance(params, list):
        params = [params]
    if not isinstance(sp_ids, SparseTensor):
        raise TypeError(f"sp_ids must be SparseTensor, got {type(sp_ids)}")
    ignore_weights = sp_weights is None
    if not ignore_weights:
        if not isinstance(sp_weights, SparseTensor):
            raise TypeError(f"sp_weights must be either None or SparseTensor,got {type(sp_weights)}")
        sp_ids.values.get_shape().assert_is_compatible_with(sp_weights.values.get_shape())
        sp_ids.indices.get_shape().assert_is_compatible_with(sp_weights.indices.get_shape())
        sp_ids.dense_shape.get_shape().assert_is_compatible_with(sp_weights.dense_shape.get_shape())
    with ops.name_scope(name, "embedding_lookup_sparse", params + [sp_ids]) as name:
        segment_ids = sp_ids.indices[:, 0]
        if segment_ids.dtype.base_dtype != dtypes.int32:
            segment_ids = math_ops.cast(segment_ids, dtypes.int32)
        ids, idx = array_ops.unique(sp_ids.values)
        embeddings = embedding_lookup(params, ids, partition_strategy=partition_strategy, max_norm=max_norm)
        if ignore_weights:
            fn = {"sum": sparse_segment_sum, "mean": sparse_segment_mean, "sqrtn": sparse_segment_sqrt_n}[combiner]
            return fn(embeddings, idx, segment_ids, name=name)
        weights = sp_weights.values
        if weights.dtype.base_dtype != embeddings.dtype.base_dtype:
            weights = math_ops.cast(weights, embeddings.dtype.base_dtype)
        embeddings = array_ops.gather(embeddings, idx)
        ones = array_ops.fill(array_ops.expand_dims(array_ops.rank(embeddings) - 1, 0), 1)
        bcast_shape = array_ops.concat([array_ops.shape(weights), ones], 0)
        orig_shape = weights.get_shape()
        weights = array_ops.reshape(weights, bcast_shape)
        if embeddings.get_shape().ndims is not None:
            weights.set_shape(orig_shape.concatenate([1] * (embeddings.get_shape().ndims - 1)))
        embeddings = embeddings * weights
        if combiner == "sum":
            return segment_sum(embeddings, segment_ids, name=name)
        embeddings = segment_sum(embeddings, segment_ids)
        if combiner == "mean":
            weight_sum = segment_sum(weights, segment_ids)
        else:
            weight_sum = math_ops.sqrt(segment_sum(math_ops.pow(weights, 2), segment_ids))
        return math_ops.div_no_nan(embeddings, weight_sum, name=name)


# ---- sparse_placeholder --------------------------------------------------------------------------
def sparse_placeholder(dtype, shape=None, name=None):
    """``tf.sparse_placeholder``: a SparseTensor fed as a whole; TF's ``name/indices``, ``name/values`` and
    ``name/shape`` placeholders (``name/shape`` has the given shape as its default)."""
    shape_name = None if name is None else name + "/shape"
    if shape is None:
        dense_shape = array_ops.placeholder(dtypes.int64, shape=[None], name=shape_name)
        rank, default = None, ts.unknown_shape()
    elif isinstance(shape, ops.Tensor):
        rank = shape.get_shape()[0].value
        default = shape_from_tensor(shape)
        dense_shape = array_ops.placeholder_with_default(shape, shape=shape.shape, name=shape_name)
    else:
        dims = [d.value if isinstance(d, ts.Dimension) else d for d in ts.as_shape(shape).as_list()] \
            if not isinstance(shape, (list, tuple)) else [getattr(d, "value", d) for d in shape]
        rank = len(dims)
        default = ts.TensorShape([None if d is None or d == -1 else d for d in dims])
        const = array_ops.constant([-1 if d is None else d for d in dims], dtype=dtypes.int64,
                                   name=None if name is None else name + "/shape_default")
        dense_shape = array_ops.placeholder_with_default(const, shape=const.shape, name=shape_name)
    values = array_ops.placeholder(dtype, shape=[None], name=None if name is None else name + "/values")
    indices = array_ops.placeholder(dtypes.int64, shape=[None, rank], name=None if name is None else name + "/indices")
    result = SparseTensor(indices=indices, values=values, dense_shape=dense_shape)
    result.set_shape(default)
    return result


__all__ = ["SparseTensor", "SparseTensorValue", "sparse_placeholder", "sparse_to_dense", "sparse_tensor_to_dense",
           "sparse_tensor_dense_matmul", "sparse_add", "sparse_reduce_sum", "sparse_reorder", "sparse_reshape",
           "sparse_concat", "sparse_retain", "sparse_fill_empty_rows", "sparse_slice", "sparse_softmax",
           "segment_sum", "sparse_segment_sum", "sparse_segment_mean", "sparse_segment_sqrt_n",
           "embedding_lookup_sparse"]
