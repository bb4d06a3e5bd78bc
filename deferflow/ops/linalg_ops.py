"""Linear algebra ops (MatrixInverse, Cholesky, MatrixDeterminant, solves, Svd, Qr) and ``tf.norm``.

Kernels work on batches of matrices (``[..., M, N]``) as TF's do; gradients are TF's formulas.
"""
import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops import array_ops, math_ops

define = op_registry.define
_LINALG_T = "T: {double, float, half, complex64, complex128}"


def _err(msg):
    return errors.InvalidArgumentError(None, None, msg)


def _matrix_shape(t, square=True, what="input"):
    """(batch TensorShape, rows, cols) of a ``[..., M, N]`` tensor; checks rank >= 2 (and squareness)."""
    s = t.shape
    if s.ndims is None:
        return None, None, None
    if s.ndims < 2:
        raise ValueError(f"Shape must be at least rank 2 but is rank {s.ndims}")
    m, n = s[-2].value, s[-1].value
    if square and m is not None and n is not None and m != n:
        raise ValueError(f"Dimensions must be equal, but are {m} and {n}")
    if square:
        m = n = m if m is not None else n
    return s[:-2], m, n


def _square_shape(op):
    batch, m, _ = _matrix_shape(op._inputs[0])
    return [ts.unknown_shape() if batch is None else batch.concatenate([m, m])]


def _check_square(a, what="Input"):
    if a.ndim < 2:
        raise _err(f"{what} must have rank >= 2, got {a.ndim}")
    if a.shape[-1] != a.shape[-2]:
        raise _err(f"{what} matrices must be squares, got{a.shape[-2]} != {a.shape[-1]}")


# ---- MatrixInverse ---------------------------------------------------------------------------------
MatrixInverse = define("MatrixInverse", "input: T", "output: T", ["adjoint: bool = false", _LINALG_T])
MatrixInverse.shape(_square_shape)


def _adj(a):
    return np.conj(np.swapaxes(a, -1, -2))


@MatrixInverse.kernel
def _inverse_kernel(a, *, adjoint):
    _check_square(a)
    if adjoint:
        a = _adj(a)
    try:
        return np.linalg.inv(a).astype(a.dtype)
    except np.linalg.LinAlgError:
        raise _err("Input is not invertible.") from None


@MatrixInverse.grad
def _inverse_grad(op, g):
    ainv = op.outputs[0]
    adj = op.get_attr("adjoint")
    return [-math_ops.matmul(ainv, math_ops.matmul(g, ainv, adjoint_a=adj, adjoint_b=not adj), adjoint_a=not adj)]


def matrix_inverse(input, adjoint=False, name=None):  # noqa: A002
    return apply_op("MatrixInverse", name=name, input=input, adjoint=adjoint)


# ---- determinants ----------------------------------------------------------------------------------
MatrixDeterminant = define("MatrixDeterminant", "input: T", "output: T", ["T: {half, float, double, complex64, "
                                                                          "complex128}"])
LogMatrixDeterminant = define("LogMatrixDeterminant", "input: T", "sign: T, log_abs_determinant: T",
                              ["T: {half, float, double, complex64, complex128}"])


def _det_shape(op):
    batch, _, _ = _matrix_shape(op._inputs[0])
    return [ts.unknown_shape() if batch is None else batch] * len(op._outputs)


MatrixDeterminant.shape(_det_shape)
LogMatrixDeterminant.shape(_det_shape)


@MatrixDeterminant.kernel
def _det_kernel(a):
    _check_square(a)
    return np.asarray(np.linalg.det(a) if a.shape[-1] else np.ones(a.shape[:-2]), dtype=a.dtype)


@LogMatrixDeterminant.kernel
def _slogdet_kernel(a):
    _check_square(a)
    sign, logdet = np.linalg.slogdet(a)
    return np.asarray(sign, dtype=a.dtype), np.asarray(logdet, dtype=a.dtype)


def _det_multipliers(g, c):
    return array_ops.reshape(g, array_ops.concat([array_ops.shape(c), [1, 1]], 0))


@MatrixDeterminant.grad
def _det_grad(op, g):
    c = op.outputs[0]
    return [_det_multipliers(g * c, c) * matrix_inverse(op.inputs[0], adjoint=True)]


@LogMatrixDeterminant.grad
def _slogdet_grad(op, _, g):
    return [_det_multipliers(g, op.outputs[1]) * matrix_inverse(op.inputs[0], adjoint=True)]


def matrix_determinant(input, name=None):  # noqa: A002
    return apply_op("MatrixDeterminant", name=name, input=input)


def log_matrix_determinant(input, name=None):  # noqa: A002
    sign, log_abs = apply_op("LogMatrixDeterminant", name=name, input=input)
    return sign, log_abs


def logdet(matrix, name=None):
    """``tf.linalg.logdet``: log-determinant of Hermitian positive definite matrices, via Cholesky."""
    with ops.name_scope(name, "logdet", [matrix]):
        chol = cholesky(matrix)
        two = array_ops.constant(2, dtype=chol.dtype.base_dtype)
        return two * math_ops.reduce_sum(math_ops.log(_diag_part(chol)), axis=[-1])


def _diag_part(m):
    """The main diagonal of ``[..., N, N]`` as ``[..., N]`` (band part summed over the last axis)."""
    return math_ops.reduce_sum(array_ops.matrix_band_part(m, 0, 0), axis=-1)


# ---- Cholesky ----------------------------------------------------------------------------------------
Cholesky = define("Cholesky", "input: T", "output: T", [_LINALG_T])
Cholesky.shape(_square_shape)


@Cholesky.kernel
def _cholesky_kernel(a):
    _check_square(a)
    try:
        return np.linalg.cholesky(a).astype(a.dtype)
    except np.linalg.LinAlgError:  # TF 2.x: a matrix that is not positive definite gives NaN in its lower triangle
        flat = a.reshape((-1,) + a.shape[-2:])
        out = np.empty_like(flat)
        for i, m in enumerate(flat):
            try:
                out[i] = np.linalg.cholesky(m)
            except np.linalg.LinAlgError:
                out[i] = np.tril(np.full_like(m, np.nan))
        return out.reshape(a.shape)


@Cholesky.grad
def _cholesky_grad(op, g):
    l = op.outputs[0]  # noqa: E741 - TF's name
    eye = array_ops.matrix_band_part(array_ops.ones_like(l), 0, 0)
    l_inverse = matrix_triangular_solve(l, eye)
    middle = math_ops.matmul(l, g, adjoint_a=True)
    half = array_ops.constant(0.5, dtype=l.dtype.base_dtype)
    # TF halves the diagonal with matrix_set_diag; the lower band minus half the diagonal is the same matrix
    middle = array_ops.matrix_band_part(middle, -1, 0) - half * array_ops.matrix_band_part(middle, 0, 0)
    grad_a = math_ops.matmul(math_ops.matmul(l_inverse, middle, adjoint_a=True), l_inverse)
    grad_a += _adjoint(grad_a)
    return [grad_a * half]


def _adjoint(m):
    """Swaps the last two axes (``tf.linalg.adjoint`` for real tensors), also when the rank is unknown."""
    if m.shape.ndims is not None:
        return array_ops.matrix_transpose(m)
    rank = array_ops.rank(m)
    perm = array_ops.concat([math_ops.range_(rank - 2), array_ops.stack([rank - 1, rank - 2])], 0)
    return array_ops.transpose(m, perm)


def cholesky(input, name=None):  # noqa: A002
    return apply_op("Cholesky", name=name, input=input)


# ---- solves -------------------------------------------------------------------------------------------
MatrixSolve = define("MatrixSolve", "matrix: T, rhs: T", "output: T", ["adjoint: bool = false", _LINALG_T])
MatrixTriangularSolve = define("MatrixTriangularSolve", "matrix: T, rhs: T", "output: T",
                               ["lower: bool = true", "adjoint: bool = false",
                                "T: {bfloat16, double, float, half, complex64, complex128}"])


def _solve_shape(broadcast):
    def shape(op):
        m, rhs = op._inputs
        mb, mm, _ = _matrix_shape(m)
        rb, rm, rk = _matrix_shape(rhs, square=False)
        if mm is not None and rm is not None and mm != rm:
            raise ValueError(f"Dimensions must be equal, but are {mm} and {rm}")
        if mb is None or rb is None:
            return [ts.unknown_shape()]
        batch = ts.broadcast_shape(mb, rb) if broadcast else mb.merge_with(rb)
        return [batch.concatenate([mm if mm is not None else rm, rk])]
    return shape


MatrixSolve.shape(_solve_shape(False))
MatrixTriangularSolve.shape(_solve_shape(True))


def _check_rhs(m, rhs, broadcast):
    _check_square(m)
    if rhs.ndim < 2:
        raise _err(f"Input rhs must have rank >= 2, got {rhs.ndim}")
    if m.shape[-1] != rhs.shape[-2]:
        raise _err(f"Input matrix and right-hand side must have the same number of rows: {m.shape[-2]} vs. "
                   f"{rhs.shape[-2]}" if not broadcast else
                   f"Incompatible matrix dimensions: {m.shape[-2]} vs. {rhs.shape[-2]}")
    if not broadcast and m.shape[:-2] != rhs.shape[:-2]:
        raise _err("All input tensors must have the same outer dimensions.")


@MatrixSolve.kernel
def _solve_kernel(m, rhs, *, adjoint):
    _check_rhs(m, rhs, False)
    if adjoint:
        m = _adj(m)
    try:
        return np.linalg.solve(m, rhs).astype(m.dtype)
    except np.linalg.LinAlgError:
        raise _err("Input matrix is not invertible.") from None


def _triangular_solve(a, b, lower):
    """Forward/back substitution over a batch; a zero on the diagonal gives inf/nan as TF does."""
    n = a.shape[-1]
    x = np.zeros(b.shape, dtype=np.result_type(a, b))
    rows = range(n) if lower else range(n - 1, -1, -1)
    with np.errstate(all="ignore"):
        for i in rows:
            done = slice(0, i) if lower else slice(i + 1, n)
            acc = b[..., i, :] - np.einsum("...j,...jk->...k", a[..., i, done], x[..., done, :])
            x[..., i, :] = acc / a[..., i, i][..., None]
    return x


@MatrixTriangularSolve.kernel
def _triangular_solve_kernel(m, rhs, *, lower, adjoint):
    _check_rhs(m, rhs, True)
    batch = np.broadcast_shapes(m.shape[:-2], rhs.shape[:-2])
    m = np.broadcast_to(m, batch + m.shape[-2:])
    rhs = np.broadcast_to(rhs, batch + rhs.shape[-2:])
    if adjoint:  # the adjoint of a lower triangle is an upper one
        m, lower = _adj(m), not lower
    return _triangular_solve(m, rhs, lower).astype(rhs.dtype)


@MatrixSolve.grad
def _solve_grad(op, g):
    a = op.inputs[0]
    adjoint_a = op.get_attr("adjoint")
    c = op.outputs[0]
    grad_b = matrix_solve(a, g, adjoint=not adjoint_a)
    if adjoint_a:
        grad_a = -math_ops.matmul(c, grad_b, adjoint_b=True)
    else:
        grad_a = -math_ops.matmul(grad_b, c, adjoint_b=True)
    return [grad_a, grad_b]


@MatrixTriangularSolve.grad
def _triangular_solve_grad(op, g):
    a, b = op.inputs
    adjoint_a, lower_a = op.get_attr("adjoint"), op.get_attr("lower")
    c = op.outputs[0]
    grad_b = matrix_triangular_solve(a, g, lower=lower_a, adjoint=not adjoint_a)
    if adjoint_a:
        grad_a = -math_ops.matmul(c, grad_b, adjoint_b=True)
    else:
        grad_a = -math_ops.matmul(grad_b, c, adjoint_b=True)
    grad_a = array_ops.matrix_band_part(grad_a, -1, 0) if lower_a else array_ops.matrix_band_part(grad_a, 0, -1)
    if a.shape.is_fully_defined() and b.shape.is_fully_defined() and a.shape[:-2] == b.shape[:-2]:
        return [grad_a, grad_b]
    a_shape, b_shape = array_ops.shape(a), array_ops.shape(b)
    ra, rb = apply_op("BroadcastGradientArgs", s0=a_shape[:-2], s1=b_shape[:-2])
    grad_a = array_ops.reshape(math_ops.reduce_sum(grad_a, axis=ra), a_shape)
    grad_b = array_ops.reshape(math_ops.reduce_sum(grad_b, axis=rb), b_shape)
    return [grad_a, grad_b]


def matrix_solve(matrix, rhs, adjoint=False, name=None):
    return apply_op("MatrixSolve", name=name, matrix=matrix, rhs=rhs, adjoint=adjoint)


def matrix_triangular_solve(matrix, rhs, lower=True, adjoint=False, name=None):
    return apply_op("MatrixTriangularSolve", name=name, matrix=matrix, rhs=rhs, lower=lower, adjoint=adjoint)


# ---- Svd and Qr ------------------------------------------------------------------------------------------
Svd = define("Svd", "input: T", "s: T, u: T, v: T", ["compute_uv: bool = true", "full_matrices: bool = false",
                                                     "T: {double, float, half, complex64, complex128}"])


@Svd.shape
def _svd_shape(op):
    batch, m, n = _matrix_shape(op._inputs[0], square=False)
    if batch is None:
        return [ts.unknown_shape()] * 3
    p = None if m is None or n is None else min(m, n)
    s = batch.concatenate([p])
    if not op._attrs["compute_uv"]:
        return [s, ts.TensorShape([0]), ts.TensorShape([0])]
    full = op._attrs["full_matrices"]
    return [s, batch.concatenate([m, m if full else p]), batch.concatenate([n, n if full else p])]


@Svd.kernel
def _svd_kernel(a, *, compute_uv, full_matrices):
    if a.ndim < 2:
        raise _err(f"Input must have rank >= 2, got {a.ndim}")
    if not compute_uv:
        s = np.linalg.svd(a, compute_uv=False)
        return s.astype(a.dtype), np.zeros([0], a.dtype), np.zeros([0], a.dtype)
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return s.astype(a.dtype), u.astype(a.dtype), _adj(vh).astype(a.dtype)


@Svd.grad
def _svd_grad(op, grad_s, grad_u, grad_v):
    a = op.inputs[0]
    if not op.get_attr("compute_uv"):  # TF: recompute u, v and use ds only
        s, u, v = svd(a, compute_uv=True)
        return [math_ops.matmul(u, math_ops.matmul(_matrix_diag(grad_s), v, adjoint_b=True))]
    raise NotImplementedError("deferflow implements the Svd gradient only for compute_uv=False (singular values)")


def _matrix_diag(d):
    """``[..., N] -> [..., N, N]`` with ``d`` on the diagonal (as MatrixDiag), from existing ops."""
    n = array_ops.shape(d)[-1:]
    eye_shape = array_ops.concat([array_ops.shape(d), n], 0)
    eye = array_ops.matrix_band_part(array_ops.ones(eye_shape, dtype=d.dtype.base_dtype), 0, 0)
    return eye * array_ops.expand_dims(d, -1)


def svd(tensor, full_matrices=False, compute_uv=True, name=None):
    """``tf.svd``: ``s`` or ``(s, u, v)`` with ``tensor = u @ diag(s) @ adjoint(v)``."""
    s, u, v = apply_op("Svd", name=name, input=tensor, compute_uv=compute_uv, full_matrices=full_matrices)
    return (s, u, v) if compute_uv else s


Qr = define("Qr", "input: T", "q: T, r: T", ["full_matrices: bool = false",
                                               "T: {double, float, half, complex64, complex128}"])


@Qr.shape
def _qr_shape(op):
    batch, m, n = _matrix_shape(op._inputs[0], square=False)
    if batch is None:
        return [ts.unknown_shape()] * 2
    full = op._attrs["full_matrices"]
    p = m if full else (None if m is None or n is None else min(m, n))
    return [batch.concatenate([m, p]), batch.concatenate([p, n])]


@Qr.kernel
def _qr_kernel(a, *, full_matrices):
    if a.ndim < 2:
        raise _err(f"Input must have rank >= 2, got {a.ndim}")
    q, r = np.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    return q.astype(a.dtype), r.astype(a.dtype)


@Qr.grad
def _qr_grad(op, dq, dr):
    """TF's QR gradient for m >= n (square or tall) reduced factorizations."""
    q, r = op.outputs
    if r.shape.ndims is None or r.shape[-2].value is None or r.shape[-1].value is None:
        raise NotImplementedError(f"QrGrad not implemented with dynamic shapes. Received r.shape: {r.shape}")
    m, n = q.shape[-2].value, r.shape[-1].value
    if r.shape[-2].value > n and q.shape[-2].value == q.shape[-1].value:
        raise NotImplementedError("QrGrad not implemented when nrows > ncols and full_matrices is true. Received "
                                  f"r.shape={r.shape} with nrows={r.shape[-2]}and ncols={n}.")
    if m < n:
        raise NotImplementedError("deferflow implements QrGrad only for nrows >= ncols")
    qdq = math_ops.matmul(q, dq, adjoint_a=True)
    qdq_ = qdq - array_ops.matrix_transpose(qdq, conjugate=True)
    rdr = math_ops.matmul(r, dr, adjoint_b=True)
    rdr_ = rdr - array_ops.matrix_transpose(rdr, conjugate=True)
    tril = array_ops.matrix_band_part(qdq_ + rdr_, -1, 0)

    def _triangular_solve(x, r_):
        return array_ops.matrix_transpose(matrix_triangular_solve(
            r_, array_ops.matrix_transpose(x, conjugate=True), lower=False, adjoint=False), conjugate=True)

    grad_a = math_ops.matmul(q, dr + _triangular_solve(tril, r))
    grad_b = _triangular_solve(dq - math_ops.matmul(q, qdq), r)
    return [grad_a + grad_b]


def qr(input, full_matrices=False, name=None):  # noqa: A002
    q, r = apply_op("Qr", name=name, input=input, full_matrices=full_matrices)
    return q, r


# ---- norm (TF's composition) ------------------------------------------------------------------------------
def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None, keep_dims=None):  # noqa: A002
    """``tf.norm``: vector p-norms (p > 0) and matrix 'fro'/'euclidean', 1, 2 and inf norms."""
    if keepdims is not None and keep_dims is not None:
        raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'")
    keepdims = bool(keepdims if keepdims is not None else keep_dims)
    is_matrix_norm = isinstance(axis, (tuple, list)) and len(axis) == 2
    if is_matrix_norm:
        axis = tuple(axis)
        if not isinstance(axis[0], int) or not isinstance(axis[1], int) or axis[0] == axis[1]:
            raise ValueError(f"'axis' must be None, an integer, or a tuple of 2 unique integers, got {axis}")
        supported = ["euclidean", "fro", 1, 2, np.inf]
        if ord not in supported:
            raise ValueError(f"'ord' must be a supported matrix norm in {supported}, got {ord}")
    else:
        if not (isinstance(axis, int) or axis is None):
            raise ValueError(f"'axis' must be None, an integer, or a tuple of 2 unique integers, got {axis}")
        if (not np.isreal(ord) or ord <= 0) and ord not in ["euclidean", 1, 2, np.inf]:
            raise ValueError(f"'ord' must be a supported vector norm, got {ord}")
        if axis is not None:
            axis = (axis,)
    with ops.name_scope(name, "norm", [tensor]):
        tensor = convert_to_tensor(tensor)
        if ord in ["fro", "euclidean", 2, 2.0]:
            if is_matrix_norm and ord in [2, 2.0]:
                rank = array_ops.rank(tensor)
                axis_t = convert_to_tensor(list(axis), dtype=dtypes.int32)
                positive_axis = math_ops.floormod(axis_t, rank)  # TF: map_fn(cond(i >= 0, i, i + rank))
                axes = math_ops.range_(rank)
                perm_before = array_ops.concat([array_ops.setdiff1d(axes, positive_axis)[0], positive_axis], 0)
                perm_after = array_ops.invert_permutation(perm_before)
                permed = array_ops.transpose(tensor, perm=perm_before)
                s = svd(permed, compute_uv=False)
                matrix_2_norm = array_ops.expand_dims(
                    math_ops.reduce_max(math_ops.abs(s), axis=-1, keepdims=True), axis=-1)
                result = array_ops.transpose(matrix_2_norm, perm=perm_after)
            else:
                result = math_ops.sqrt(math_ops.reduce_sum(tensor * math_ops.conj(tensor), axis, keepdims=True))
        else:
            result = math_ops.abs(tensor)
            if ord == 1:
                result = math_ops.reduce_sum(result, None if axis is None else axis[0], keepdims=True)
                if is_matrix_norm:
                    result = math_ops.reduce_max(result, axis[-1], keepdims=True)
            elif ord == np.inf:
                if is_matrix_norm:
                    result = math_ops.reduce_sum(result, axis[1], keepdims=True)
                result = math_ops.reduce_max(result, None if axis is None else axis[0], keepdims=True)
            else:
                result = math_ops.pow(math_ops.reduce_sum(math_ops.pow(result, ord), axis, keepdims=True),
                                      1.0 / ord)
        if not keepdims:
            result = array_ops.squeeze(result, axis)
        return result


# ---- diagonals: MatrixDiagV3 / MatrixDiagPartV3 / MatrixSetDiagV3 (main diagonal), Diag / DiagPart -------
_ALIGN = "align: {'LEFT_RIGHT', 'RIGHT_LEFT', 'LEFT_LEFT', 'RIGHT_RIGHT'} = 'RIGHT_LEFT'"
MatrixDiagV3 = define("MatrixDiagV3", "diagonal: T, k: int32, num_rows: int32, num_cols: int32, padding_value: T",
                      "output: T", ["T: type", _ALIGN])
MatrixDiagPartV3 = define("MatrixDiagPartV3", "input: T, k: int32, padding_value: T", "diagonal: T",
                          ["T: type", _ALIGN])
MatrixSetDiagV3 = define("MatrixSetDiagV3", "input: T, diagonal: T, k: int32", "output: T", ["T: type", _ALIGN])
_DIAG_T = "T: {bfloat16, half, float, double, int32, int64, complex64, complex128}"
Diag = define("Diag", "diagonal: T", "output: T", [_DIAG_T])
DiagPart = define("DiagPart", "input: T", "diagonal: T", [_DIAG_T])


def _main_diagonal_only(op_type, k):
    k = np.asarray(k).reshape(-1)
    if k.size not in (1, 2) or np.any(k != 0):
        raise errors.UnimplementedError(None, None, f"{op_type} with k = {k.tolist()}: deferflow supports the main "
                                                    "diagonal (k = 0) only")


@MatrixDiagV3.shape
def _matrix_diag_shape(op):
    from deferflow.ops.common import constant_value
    d = op._inputs[0].shape
    rows, cols = (constant_value(t) for t in op._inputs[2:4])
    if d.ndims is None:
        return [ts.unknown_shape()]
    n = d[-1].value if d.ndims else None
    rows = n if rows is None or int(rows) == -1 else int(rows)
    cols = n if cols is None or int(cols) == -1 else int(cols)
    return [d[:-1].concatenate([rows, cols])]


@MatrixDiagV3.kernel
def _matrix_diag_kernel(diagonal, k, num_rows, num_cols, padding_value, *, align):
    _main_diagonal_only("MatrixDiagV3", k)
    n = diagonal.shape[-1]
    rows = n if int(num_rows) == -1 else int(num_rows)
    cols = n if int(num_cols) == -1 else int(num_cols)
    if min(rows, cols) != n:
        raise errors.InvalidArgumentError(None, None, f"The number of diagonal elements {n} should match "
                                          f"min(num_rows, num_cols) = {min(rows, cols)}")
    out = np.full(diagonal.shape[:-1] + (rows, cols), padding_value, dtype=diagonal.dtype)
    i = np.arange(n)
    out[..., i, i] = diagonal
    return out


@MatrixDiagPartV3.shape
def _matrix_diag_part_shape(op):
    s = op._inputs[0].shape
    if s.ndims is None:
        return [ts.unknown_shape()]
    if s.ndims < 2:
        raise ValueError(f"Shape must be at least rank 2 but is rank {s.ndims} for '{op.name}' "
                         "(op: 'MatrixDiagPartV3')")
    m, n = s[-2].value, s[-1].value
    return [s[:-2].concatenate([None if m is None or n is None else min(m, n)])]


@MatrixDiagPartV3.kernel
def _matrix_diag_part_kernel(x, k, padding_value, *, align):
    _main_diagonal_only("MatrixDiagPartV3", k)
    if x.ndim < 2:
        raise errors.InvalidArgumentError(None, None, f"input must be at least 2-dim, received shape: "
                                                      f"{list(x.shape)}")
    return np.ascontiguousarray(np.diagonal(x, axis1=-2, axis2=-1))


MatrixSetDiagV3.shape(lambda op: [op._inputs[0].shape])


@MatrixSetDiagV3.kernel
def _matrix_set_diag_kernel(x, diagonal, k, *, align):
    _main_diagonal_only("MatrixSetDiagV3", k)
    n = min(x.shape[-2:]) if x.ndim >= 2 else -1
    if x.ndim < 2 or diagonal.shape != x.shape[:-2] + (n,):
        raise errors.InvalidArgumentError(None, None, f"diagonal must have shape {list(x.shape[:-2]) + [n]}, "
                                                      f"got {list(diagonal.shape)}")
    out = np.array(x, copy=True)
    i = np.arange(n)
    out[..., i, i] = diagonal
    return out


Diag.shape(lambda op: [op._inputs[0].shape.concatenate(op._inputs[0].shape)
                       if op._inputs[0].shape.ndims is not None else ts.unknown_shape()])
Diag.kernel(lambda d: np.diag(d.reshape(-1)).reshape(d.shape + d.shape).astype(d.dtype, copy=False))


@DiagPart.shape
def _diag_part_shape(op):
    s = op._inputs[0].shape
    if s.ndims is None:
        return [ts.unknown_shape()]
    if s.ndims % 2:
        raise ValueError(f"Input must have even rank <= 2*{s.ndims}, got rank {s.ndims} for '{op.name}'")
    return [s[:s.ndims // 2]]


@DiagPart.kernel
def _diag_part_kernel(x):
    half = x.ndim // 2
    if x.ndim % 2 or x.shape[:half] != x.shape[half:]:
        raise errors.InvalidArgumentError(None, None, f"Invalid shape {list(x.shape)}: dimensions must pair up")
    n = int(np.prod(x.shape[:half], dtype=np.int64))
    return np.ascontiguousarray(np.diag(x.reshape(n, n)).reshape(x.shape[:half]))


MatrixDiagV3.grad(lambda op, g: [matrix_diag_part(g, k=op.inputs[1], align=op.get_attr("align")),
                                 None, None, None, None])
Diag.grad(lambda op, g: [diag_part(g)])
DiagPart.grad(lambda op, g: [diag(g)])


@MatrixDiagPartV3.grad
def _matrix_diag_part_grad(op, g):
    shape = op.inputs[0].shape[-2:]
    align = op.get_attr("align")
    if shape.is_fully_defined():
        return [matrix_diag(g, k=op.inputs[1], num_rows=shape[0].value, num_cols=shape[1].value, align=align),
                None, None]
    return [matrix_set_diag(array_ops.zeros_like(op.inputs[0]), g, k=op.inputs[1], align=align), None, None]


@MatrixSetDiagV3.grad
def _matrix_set_diag_grad(op, g):
    align = op.get_attr("align")
    diag_shape = op.inputs[1].shape
    zeros = (array_ops.zeros(diag_shape.as_list(), dtype=g.dtype) if diag_shape.is_fully_defined()
             else array_ops.zeros_like(op.inputs[1]))
    return [matrix_set_diag(g, zeros, k=op.inputs[2], align=align), matrix_diag_part(g, k=op.inputs[2], align=align),
            None]


def matrix_diag(diagonal, name="diag", k=0, num_rows=-1, num_cols=-1, padding_value=0, align="RIGHT_LEFT"):
    """``tf.matrix_diag`` / ``tf.linalg.diag``: batched matrices with ``diagonal`` on the main diagonal."""
    diagonal = convert_to_tensor(diagonal, name="diagonal")
    return apply_op("MatrixDiagV3", name=name, diagonal=diagonal, k=k, num_rows=num_rows, num_cols=num_cols,
                    padding_value=np.asarray(padding_value, diagonal.dtype.as_numpy_dtype), align=align)


def matrix_diag_part(input, name="diag_part", k=0, padding_value=0, align="RIGHT_LEFT"):  # noqa: A002
    """``tf.matrix_diag_part`` / ``tf.linalg.diag_part``: the main diagonal of each matrix."""
    x = convert_to_tensor(input, name="input")
    return apply_op("MatrixDiagPartV3", name=name, input=x, k=k,
                    padding_value=np.asarray(padding_value, x.dtype.as_numpy_dtype), align=align)


def matrix_set_diag(input, diagonal, name="set_diag", k=0, align="RIGHT_LEFT"):  # noqa: A002
    """``tf.matrix_set_diag`` / ``tf.linalg.set_diag``: ``input`` with its main diagonals replaced."""
    return apply_op("MatrixSetDiagV3", name=name, input=input, diagonal=diagonal, k=k, align=align)


def diag(diagonal, name=None):
    """``tf.diag``: a tensor of rank 2k with ``diagonal`` (rank k) on its diagonal."""
    return apply_op("Diag", name=name, diagonal=diagonal)


def diag_part(input, name=None):  # noqa: A002
    return apply_op("DiagPart", name=name, input=input)


def trace(x, name=None):
    """``tf.trace``: the sum of each matrix's main diagonal."""
    with ops.name_scope(name, "Trace", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        return math_ops.reduce_sum(matrix_diag_part(x), [-1], name=scope)


def eye(num_rows, num_columns=None, batch_shape=None, dtype=dtypes.float32, name=None):
    """``tf.eye``: identity matrices (``num_rows`` x ``num_columns``), optionally batched."""
    with ops.name_scope(name, "eye", [num_rows, num_columns, batch_shape]):
        batch = [] if batch_shape is None else [int(d) for d in batch_shape]
        square = num_columns is None
        size = int(num_rows) if square else min(int(num_rows), int(num_columns))
        ones = array_ops.constant(np.ones(batch + [size], dtypes.as_dtype(dtype).as_numpy_dtype), name="ones")
        if square:
            return matrix_diag(ones)
        zeros = array_ops.constant(np.zeros(batch + [int(num_rows), int(num_columns)],
                                            dtypes.as_dtype(dtype).as_numpy_dtype), name="zeros")
        return matrix_set_diag(zeros, ones)


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype=dtypes.int32, name=None):
    """``tf.confusion_matrix``: counts (or summed ``weights``) of (label, prediction) pairs, labels as rows."""
    with ops.name_scope(name, "confusion_matrix", [predictions, labels, num_classes, weights]):
        labels = math_ops.cast(convert_to_tensor(labels, name="labels"), dtypes.int64)
        predictions = math_ops.cast(convert_to_tensor(predictions, name="predictions"), dtypes.int64)
        if num_classes is None:
            num_classes = math_ops.maximum(math_ops.reduce_max(predictions), math_ops.reduce_max(labels)) + 1
        else:
            num_classes = math_ops.cast(num_classes, dtypes.int64)
        shape = array_ops.stack([num_classes, num_classes])
        indices = array_ops.stack([labels, predictions], axis=1)
        values = array_ops.ones_like(predictions, dtype) if weights is None else \
            math_ops.cast(convert_to_tensor(weights, name="weights"), dtype)
        return array_ops.scatter_nd(indices, values, shape)
