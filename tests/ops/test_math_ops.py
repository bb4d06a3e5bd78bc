"""Math ops against real TensorFlow: values, dtypes, static shapes and op names, table-driven."""
import numpy as np
import pytest

import deferflow
from oprun import assert_same, error_of

F = np.array([[-2.5, -1.5, -0.5, 0.0], [0.5, 1.5, 2.5, 3.7]], dtype=np.float32)
P = np.array([[0.25, 1.0, 2.0, 9.0], [0.5, 3.0, 7.5, 100.0]], dtype=np.float32)
U = np.array([[-0.9, -0.3, 0.0, 0.6]], dtype=np.float32)
I = np.array([[-7, -3, 0, 5], [9, -1, 4, 2]], dtype=np.int32)
NZ = np.array([3, -2, 4, -5], dtype=np.int32)


def _unary_float(tf):
    x, p, u = tf.constant(F), tf.constant(P), tf.constant(U)
    return [tf.abs(x), tf.sign(x), tf.reciprocal(p), tf.math.reciprocal(p), tf.rsqrt(p), tf.log1p(p),
            tf.expm1(x), tf.sigmoid(x * 20.0), tf.math.sigmoid(x), tf.tanh(x), tf.sin(x), tf.cos(x), tf.floor(x),
            tf.ceil(x), tf.round(x), tf.rint(x), tf.erf(x), tf.tan(u), tf.asin(u), tf.acos(u), tf.atan(x),
            tf.sinh(x), tf.cosh(x), tf.exp(x), tf.log(p), tf.sqrt(p), tf.square(x), tf.negative(x), -x, abs(x)]


def _float64_and_half(tf):
    d = tf.constant(F.astype(np.float64))
    h = tf.constant(F.astype(np.float16))
    return [tf.sigmoid(d), tf.tanh(d), tf.abs(h), tf.square(h), tf.reduce_sum(h), tf.reduce_mean(h, 1),
            tf.sign(d), d * 2.0, h + 1.0, tf.round(d)]


def _binary_float(tf):
    x, p = tf.constant(F), tf.constant(P)
    row = tf.constant([1.0, -2.0, 0.0, 4.0])
    return [tf.pow(p, x), p ** 0.5, tf.maximum(x, row), tf.minimum(x, 0.0), tf.squared_difference(x, row),
            tf.floordiv(x, 0.75), x // -1.25, tf.floormod(x, 0.75), tf.mod(x, -1.25), x % 2.0, x / row,
            tf.truediv(x, p), tf.div(x, p), tf.realdiv(x, p), tf.div_no_nan(x, row), tf.divide(x, 3.0),
            tf.atan2(x, p), tf.scalar_mul(3.0, x), tf.math.multiply_no_nan(x, row), tf.subtract(x, row),
            tf.add(x, row), x - 1.0, 1.0 - x, 2.0 / p, tf.multiply(x, row)]


def _integer_arithmetic(tf):
    i, nz = tf.constant(I), tf.constant(NZ)
    i64, u8 = tf.constant(I.astype(np.int64)), tf.constant(np.array([3, 250, 7], dtype=np.uint8))
    i16 = tf.constant(I.astype(np.int16))
    return [tf.floordiv(i, nz), i // 3, tf.floormod(i, nz), i % -3, tf.truncatediv(i, nz), tf.truncatemod(i, nz),
            tf.div(i, nz), i / nz, tf.truediv(i, 4), i16 / 2, tf.pow(i, 2), tf.abs(i), tf.sign(i), tf.square(i64),
            tf.maximum(i64, 0), tf.negative(i), tf.round(i), i + nz, i * 2, u8 + 10, tf.minimum(u8, 9),
            tf.reduce_sum(i), tf.reduce_mean(i), tf.reduce_mean(i, 1), tf.reduce_prod(nz), tf.reduce_max(i64, 0),
            tf.reduce_sum(u8), tf.add_n([i, i, i]), tf.cumsum(i, 1), tf.cumprod(nz)]


def _comparisons(tf):
    x = tf.constant(F)
    row = tf.constant([1.0, -1.5, 0.0, 3.7])
    nan = tf.constant([np.nan, np.inf, -np.inf, 1.0])
    b = tf.constant([[True, False, True, False]])
    c = tf.constant([[True], [False]])
    return [tf.equal(x, row), tf.not_equal(x, 0.0), tf.less(x, row), tf.less_equal(x, row), tf.greater(x, row),
            tf.greater_equal(x, row), x < 0.5, x >= row, tf.logical_and(b, c), tf.logical_or(b, c),
            tf.logical_not(b), tf.logical_xor(b, c), b & c, b | c, ~b, b ^ c, tf.is_nan(nan), tf.is_inf(nan),
            tf.is_finite(nan), tf.equal(tf.constant(I), 0), tf.equal(tf.constant(["a", "b"]), "a")]


def _where_select(tf):
    x, y = tf.constant(F), tf.constant(P)
    cond = tf.constant([[True, False, True, False], [False, False, True, True]])
    rows = tf.constant([True, False])
    return [tf.where(cond), tf.where(x > 0), tf.where(cond, x, y), tf.where(rows, x, y),
            tf.where_v2(tf.constant([True, False, False, True]), x, 0.0), tf.where_v2(cond),
            tf.where(tf.constant([0, 3, 0, -1]))]


def _argmax(tf):
    x = tf.constant(np.array([[1.0, 5.0, 5.0], [7.0, -1.0, 7.0]], np.float32))
    i = tf.constant(np.array([[3, 1, 3], [0, 9, 9]], np.int64))
    return [tf.argmax(x), tf.argmax(x, 1), tf.argmin(x, axis=1), tf.argmax(x, dimension=0),
            tf.argmax(x, 1, output_type=tf.int32), tf.argmin(i, 0, output_type=tf.int32), tf.math.argmax(i, -1),
            tf.argmax(tf.constant([True, False, True]))]


def _reductions(tf):
    x = tf.constant(F)
    b = tf.constant([[True, False, True, True], [True, True, True, True]])
    t3 = tf.constant(np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7.0)
    return [tf.reduce_max(x), tf.reduce_max(x, 1), tf.reduce_min(x, 0, keepdims=True), tf.reduce_prod(x, [0, 1]),
            tf.reduce_any(b), tf.reduce_all(b, 1), tf.reduce_any(b, axis=0, keep_dims=True),
            tf.reduce_logsumexp(x), tf.reduce_logsumexp(x, 1), tf.reduce_logsumexp(x, 0, keepdims=True),
            tf.reduce_sum(t3, [0, -1]), tf.reduce_mean(t3, reduction_indices=[1]), tf.reduce_sum(t3, 2, keep_dims=True),
            tf.reduce_max(t3, -2), tf.reduce_sum(x, []), tf.count_nonzero(x), tf.count_nonzero(x, 1),
            tf.count_nonzero(b, dtype=tf.int32), tf.count_nonzero(x, axis=0, keepdims=True),
            tf.math.reduce_euclidean_norm(x, 1), tf.math.reduce_variance(x, 1), tf.math.reduce_std(x),
            tf.reduce_logsumexp(tf.constant([[-np.inf, -np.inf], [1.0, np.inf]]), 1),
            tf.reduce_sum(tf.constant(3.0)), tf.reduce_mean(tf.zeros([0, 3]), 0)]


def _scans(tf):
    x = tf.constant(F)
    return [tf.cumsum(x), tf.cumsum(x, 1), tf.cumsum(x, 1, exclusive=True), tf.cumsum(x, 0, reverse=True),
            tf.cumsum(x, -1, exclusive=True, reverse=True), tf.cumprod(x, 1), tf.cumprod(x, 1, exclusive=True),
            tf.cumprod(x, 0, reverse=True, exclusive=True), tf.math.cumsum(tf.constant([1, 2, 3]), axis=0)]


def _clipping(tf):
    x, y = tf.constant(F), tf.constant(P)
    clipped, norm = tf.clip_by_global_norm([x, y], 5.0)
    same, norm2 = tf.clip_by_global_norm([x, None, y], 1e6)
    return [tf.clip_by_value(x, -1.0, 1.0), tf.clip_by_value(x, [-1.0, 0.0, -3.0, 0.0], 2.0),
            tf.clip_by_norm(x, 2.0), tf.clip_by_norm(x, 2.0, axes=[1]), tf.clip_by_norm(tf.zeros([3]), 1.0),
            tf.global_norm([x, y]), clipped[0], clipped[1], norm, same[0], same[2], norm2]


def _matmul(tf):
    a = tf.constant(F)
    b = tf.constant(P.T.copy())
    a3 = tf.constant(np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 10.0)
    b3 = tf.constant(np.arange(16, dtype=np.float32).reshape(2, 4, 2) / 10.0)
    ai = tf.constant(I)
    return [tf.matmul(a, b), tf.matmul(a, a, transpose_b=True), tf.matmul(a, a, transpose_a=True),
            tf.matmul(b, a, transpose_a=True, transpose_b=True), tf.matmul(a, b, adjoint_a=False, adjoint_b=False),
            tf.matmul(a, a, adjoint_b=True), tf.matmul(a3, b3), tf.matmul(a3, b), tf.matmul(b3, a3, adjoint_a=True,
                                                                                         adjoint_b=True),
            tf.matmul(ai, tf.transpose(ai)), a @ b, tf.linalg.matmul(a3, a3, transpose_b=True)]


def _einsum_tensordot(tf):
    a = tf.constant(F)
    b = tf.constant(P)
    t3 = tf.constant(np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 10.0)
    return [tf.einsum("ij,kj->ik", a, b), tf.einsum("ij->ji", a), tf.einsum("ij->", a), tf.einsum("ij,ij->i", a, b),
            tf.einsum("bij,jk->bik", t3, tf.transpose(b)), tf.einsum("i,j->ij", a[0], b[1]), tf.einsum("ij", a),
            tf.einsum("ij,jk", a, tf.transpose(b)), tf.einsum("...j,kj->...k", t3, b), tf.einsum("ii->i", a[:, :2]),
            tf.tensordot(a, b, [[1], [1]]), tf.tensordot(t3, tf.transpose(b), 1), tf.tensordot(a, b, 0),
            tf.tensordot(t3, t3, [[0, 1], [0, 1]]), tf.tensordot(a, b, axes=([1, 0], [1, 0]))]


def _misc(tf):
    x = tf.constant(F)
    return [tf.add_n([x, x, x]), tf.add_n([x]), tf.accumulate_n([x, x]),
            tf.unsorted_segment_sum(x, [1, 0], 3), tf.unsorted_segment_sum(tf.constant([1, 2, 3]), [0, -1, 0], 2),
            tf.range(5), tf.range(2, 9, 3), tf.range(1.0, 2.0, 0.25), tf.range(5, 1, -2), tf.range(3, dtype=tf.int64),
            tf.to_float(tf.constant(I)),
            tf.to_int32(x), tf.to_int64(x), tf.to_double(x), tf.cast(x, tf.int32), tf.cast(x, tf.uint8),
            tf.cast(tf.constant([True, False]), tf.float32)]


def _dynamic_shapes(tf):
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    u = tf.placeholder(tf.float32, name="u")
    return ([tf.reduce_sum(x, 1), tf.reduce_max(u, 0), tf.argmax(x, 1), tf.matmul(x, x, transpose_b=True),
             tf.reduce_logsumexp(u), tf.count_nonzero(u, 1), tf.cumsum(u, 1), tf.einsum("ij,kj->ik", x, x),
             tf.tensordot(x, x, [[1], [1]]), tf.clip_by_norm(u, 1.0), tf.reduce_mean(u, [0, 1], keepdims=True)],
            {"x:0": F, "u:0": P})


FORWARD_CASES = [_unary_float, _float64_and_half, _binary_float, _integer_arithmetic, _comparisons, _where_select,
                 _argmax, _reductions, _scans, _clipping, _matmul, _einsum_tensordot, _misc, _dynamic_shapes]


@pytest.mark.parametrize("build", FORWARD_CASES, ids=lambda f: f.__name__.strip("_"))
def test_same_as_tensorflow(tf_real, build):
    assert_same(tf_real, build, rtol=2e-6)


def _exact_names(tf):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    return [tf.argmax(x, 1), tf.reduce_logsumexp(x), tf.clip_by_value(x, 0.0, 1.0), tf.cumsum(x, 1),
            tf.count_nonzero(x), tf.einsum("ij->j", x), tf.tensordot(x, x, [[0], [0]]), tf.where(x > 0, x, -x),
            tf.matmul(x, x, transpose_b=True), tf.sigmoid(x), tf.floordiv(x, 2.0),
            tf.div_no_nan(x, x)], {"x:0": F[:, :3]}


def test_graph_structure_same_as_tensorflow(tf_real):
    """Node names and types of the whole graph, for wrappers whose internals users see (e.g. in checkpoints)."""
    assert_same(tf_real, _exact_names, exact_graph=True)


# ---- errors: same exception class, at build time or at run time ---------------------------------
ERROR_CASES = {
    "int_div_by_zero": lambda tf: tf.floordiv(tf.constant([1, 2]), tf.constant([1, 0])),
    "int_mod_by_zero": lambda tf: tf.floormod(tf.constant([1, 2]), 0),
    "matmul_inner_mismatch": lambda tf: tf.matmul(tf.zeros([2, 3]), tf.zeros([2, 3])),
    "matmul_runtime_mismatch": lambda tf: (tf.matmul(tf.placeholder(tf.float32, [None, None], name="a"),
                                                     tf.zeros([2, 3])), {"a:0": np.zeros([2, 4], np.float32)}),
    "matmul_dtype_mismatch": lambda tf: tf.matmul(tf.zeros([2, 2]), tf.zeros([2, 2], tf.float64)),
    "reduce_bad_axis": lambda tf: tf.reduce_sum(tf.zeros([2, 3]), 2),
    "reduce_bad_axis_runtime": lambda tf: (tf.reduce_sum(tf.zeros([2, 3]), tf.placeholder(tf.int32, name="a")),
                                           {"a:0": 5}),
    "reduce_all_on_float": lambda tf: tf.reduce_all(tf.zeros([2])),
    "broadcast_mismatch": lambda tf: tf.constant([1.0, 2.0]) + tf.constant([1.0, 2.0, 3.0]),
    "broadcast_mismatch_runtime": lambda tf: (tf.placeholder(tf.float32, [None], name="a") + tf.zeros([3]),
                                              {"a:0": np.zeros(2, np.float32)}),
    "argmax_bad_axis": lambda tf: tf.argmax(tf.zeros([2, 3]), 2),
    "pow_int_negative": lambda tf: tf.pow(tf.constant([2, 3]), tf.constant([1, -1])),
    "add_n_shape_mismatch": lambda tf: tf.add_n([tf.zeros([2]), tf.zeros([3])]),
    "where_one_of_two": lambda tf: tf.where(tf.constant([True]), tf.constant([1.0])),
    "range_zero_delta": lambda tf: tf.range(0, 5, 0),
    "cumsum_bad_axis": lambda tf: (tf.cumsum(tf.zeros([2, 3]), tf.placeholder(tf.int32, name="a")), {"a:0": 3}),
    "einsum_arity": lambda tf: tf.einsum("ij,jk->ik", tf.zeros([2, 2])),
    "tensordot_bad_axes": lambda tf: tf.tensordot(tf.zeros([2, 3]), tf.zeros([3, 2]), 3),
    "unsorted_segment_out_of_range": lambda tf: tf.unsorted_segment_sum(tf.zeros([2]), [0, 5], 2),
    "logical_on_float": lambda tf: tf.logical_and(tf.zeros([2]), tf.zeros([2])),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_errors_same_as_tensorflow(tf_real, name):
    ours = error_of(deferflow, ERROR_CASES[name])
    theirs = error_of(tf_real, ERROR_CASES[name])
    assert theirs is not None, "TF accepts this: the case is wrong"
    assert ours == theirs


def test_nan_feeds_propagate_like_tensorflow(tf_real):
    """NaN and inf inputs give NaN/inf outputs (never silent zeros), as in TF."""
    def build(tf):
        x = tf.placeholder(tf.float32, [3], name="x")
        return ([tf.log(x), tf.sqrt(x), x / 0.0, tf.reduce_max(x), tf.sigmoid(x), tf.maximum(x, 0.0),
                 tf.reduce_logsumexp(x), tf.gradients(tf.reduce_sum(tf.sqrt(x)), x)[0]],
                {"x:0": np.array([np.nan, -1.0, 0.0], np.float32)})
    assert_same(tf_real, build)


def test_namespaces_exist_in_tensorflow(tf_real):
    """Every public name of tf.math / tf.linalg / tf.raw_ops-free top level we add is a TF1 name too."""
    for ours, theirs in ((deferflow.math, tf_real.math), (deferflow.linalg, tf_real.linalg)):
        names = [n for n in vars(ours) if not n.startswith("_")]
        assert names and not [n for n in names if not hasattr(theirs, n)]
    top = ["add_n", "argmax", "argmin", "clip_by_global_norm", "clip_by_norm", "clip_by_value", "count_nonzero",
           "cumprod", "cumsum", "einsum", "expand_dims", "gather_nd", "global_norm", "gradients", "hessians",
           "meshgrid", "one_hot", "pad", "reduce_logsumexp", "reverse", "scatter_nd", "sequence_mask", "slice",
           "split", "tensordot", "tile", "transpose", "unique", "unstack", "where", "where_v2", "broadcast_to",
           "UnconnectedGradients", "RegisterGradient", "NotDifferentiable", "NoGradient", "to_float", "setdiff1d"]
    assert not [n for n in top if not hasattr(deferflow, n) or not hasattr(tf_real, n)]
    assert deferflow.raw_ops.MatMul and hasattr(tf_real.raw_ops, "MatMul")
    with pytest.raises(AttributeError):
        deferflow.raw_ops.NoSuchOp
