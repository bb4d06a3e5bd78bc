"""Gradients, table-driven: every differentiable op is checked numerically and against TensorFlow.

``GRADIENT_CASES`` is the table. Each case builds a float64 function of its inputs with a framework
module ``tf`` (deferflow or real TensorFlow). For each case we check

- deferflow's ``tf.gradients`` against central finite differences, with inputs fed through placeholders
  of static shape, of unknown dims (``[None] * rank``) and of unknown rank (the dynamic-shape paths);
- deferflow's gradients against real TensorFlow's (same function, same inputs).

``test_every_differentiable_op_is_covered`` walks the op registry: every op type with a gradient
function must appear in some case's graph. To cover a new op, append a ``Case`` to ``GRADIENT_CASES``
(other test modules may do ``from test_gradients import GRADIENT_CASES, Case`` and extend it too).
"""
import collections
import os

import numpy as np
import pytest

import deferflow
from deferflow.framework import op_registry

_rng = np.random.RandomState(1234)


def rnd(*shape):
    """Standard-normal float64 values, no two alike (no ties for max/min/top_k)."""
    return _rng.randn(*shape)


def pos(*shape, low=0.5, high=2.0):
    return _rng.uniform(low, high, size=shape)


def unit(*shape):
    return _rng.uniform(-0.8, 0.8, size=shape)


class Case(collections.namedtuple("Case", "name build inputs dynamic unknown_rank compare_tf eps rtol atol")):
    """``build(tf, *inputs) -> tensor or list of tensors``; ``inputs`` are float64 arrays fed through placeholders.

    ``dynamic=False`` skips the unknown-dims run, ``unknown_rank=False`` the unknown-rank run,
    ``compare_tf=False`` the TF comparison.
    """


def case(name, build, *inputs, dynamic=True, unknown_rank=True, compare_tf=True, eps=1e-6, rtol=1e-5, atol=1e-6):
    return Case(name, build, [np.asarray(x, dtype=np.float64) for x in inputs], dynamic, unknown_rank and dynamic,
                compare_tf, eps, rtol, atol)


def _second(fn):
    """The gradient op of ``fn`` as a function of (x, upstream gradient): exercises ``...Grad`` ops' gradients."""
    def build(tf, x, v):
        return tf.gradients(fn(tf, x), x, grad_ys=v)[0]
    return build


def _second_upstream(fn, x):
    """The gradient op of ``fn`` at a fixed ``x`` as a function of the upstream gradient alone."""
    def build(tf, v):
        c = tf.constant(np.asarray(x, dtype=np.float64))
        return tf.gradients(fn(tf, c), c, grad_ys=v)[0]
    return build


_COND = np.array([[True, False, True], [False, True, True]])

GRADIENT_CASES = [
    # ---- elementwise binary, with broadcasting
    case("add", lambda tf, x, y: x + y, rnd(2, 3), rnd(3)),
    case("add_both_broadcast", lambda tf, x, y: tf.add(x, y), rnd(2, 1), rnd(1, 3)),
    case("add_legacy", lambda tf, x, y: tf.raw_ops.Add(x=x, y=y), rnd(2, 3), rnd(2, 1)),
    case("sub", lambda tf, x, y: x - y, rnd(3), rnd(2, 3)),
    case("mul", lambda tf, x, y: x * y, rnd(2, 3), rnd(2, 1)),
    case("mul_scalar", lambda tf, x, y: tf.multiply(x, y), rnd(2, 3), rnd()),
    case("realdiv", lambda tf, x, y: x / y, rnd(2, 3), pos(3)),
    case("div", lambda tf, x, y: tf.raw_ops.Div(x=x, y=y), rnd(2, 3), pos(2, 1)),
    case("div_no_nan", lambda tf, x, y: tf.div_no_nan(x, y), rnd(2, 3), pos(3)),
    case("mul_no_nan", lambda tf, x, y: tf.math.multiply_no_nan(x, y), rnd(2, 3), rnd(3)),
    case("floormod", lambda tf, x, y: tf.floormod(x, y), [[1.3, -2.7, 5.2]], [[0.7], [1.9]]),
    case("maximum", lambda tf, x, y: tf.maximum(x, y), rnd(2, 3), rnd(3)),
    case("minimum", lambda tf, x, y: tf.minimum(x, y), rnd(2, 3), rnd(2, 1)),
    case("squared_difference", lambda tf, x, y: tf.squared_difference(x, y), rnd(2, 3), rnd(3)),
    case("pow", lambda tf, x, y: tf.pow(x, y), pos(2, 3), rnd(3)),
    case("atan2", lambda tf, y, x: tf.atan2(y, x), rnd(2, 3), pos(3)),
    # ---- elementwise unary
    case("neg", lambda tf, x: -x, rnd(2, 3)),
    case("abs", lambda tf, x: tf.abs(x), rnd(2, 3)),
    case("sign", lambda tf, x: tf.sign(x) * x, rnd(2, 3)),
    case("square", lambda tf, x: tf.square(x), rnd(2, 3)),
    case("sqrt", lambda tf, x: tf.sqrt(x), pos(2, 3)),
    case("rsqrt", lambda tf, x: tf.rsqrt(x), pos(2, 3)),
    case("reciprocal", lambda tf, x: tf.reciprocal(x), pos(2, 3)),
    case("inv", lambda tf, x: tf.raw_ops.Inv(x=x), pos(2, 3)),
    case("exp", lambda tf, x: tf.exp(x), rnd(2, 3)),
    case("expm1", lambda tf, x: tf.expm1(x), rnd(2, 3)),
    case("log", lambda tf, x: tf.log(x), pos(2, 3)),
    case("log1p", lambda tf, x: tf.log1p(x), pos(2, 3)),
    case("sigmoid", lambda tf, x: tf.sigmoid(x), rnd(2, 3)),
    case("tanh", lambda tf, x: tf.tanh(x), rnd(2, 3)),
    case("sin", lambda tf, x: tf.sin(x), rnd(2, 3)),
    case("cos", lambda tf, x: tf.cos(x), rnd(2, 3)),
    case("tan", lambda tf, x: tf.tan(x), unit(2, 3)),
    case("asin", lambda tf, x: tf.asin(x), unit(2, 3)),
    case("acos", lambda tf, x: tf.acos(x), unit(2, 3)),
    case("atan", lambda tf, x: tf.atan(x), rnd(2, 3)),
    case("sinh", lambda tf, x: tf.sinh(x), rnd(2, 3)),
    case("cosh", lambda tf, x: tf.cosh(x), rnd(2, 3)),
    case("erf", lambda tf, x: tf.erf(x), rnd(2, 3)),
    # ---- the "...Grad" ops TF's gradients emit, differentiated again
    case("sqrt_grad", _second(lambda tf, x: tf.sqrt(x)), pos(2, 3), rnd(2, 3)),
    case("rsqrt_grad", _second(lambda tf, x: tf.rsqrt(x)), pos(2, 3), rnd(2, 3)),
    case("reciprocal_grad", _second(lambda tf, x: tf.reciprocal(x)), pos(2, 3), rnd(2, 3)),
    case("inv_grad", _second(lambda tf, x: tf.raw_ops.Inv(x=x)), pos(2, 3), rnd(2, 3)),
    case("sigmoid_grad", _second(lambda tf, x: tf.sigmoid(x)), rnd(2, 3), rnd(2, 3)),
    case("tanh_grad", _second(lambda tf, x: tf.tanh(x)), rnd(2, 3), rnd(2, 3)),
    # ---- select
    case("select", lambda tf, x, y: tf.where(tf.constant(_COND), x, y), rnd(2, 3), rnd(2, 3)),
    case("select_rows", lambda tf, x, y: tf.where(tf.constant([True, False]), x, y), rnd(2, 3), rnd(2, 3)),
    case("select_v2", lambda tf, x, y: tf.where_v2(tf.constant([True, False, True]), x, y), rnd(2, 3), rnd(2, 1)),
    # ---- matmul family
    case("matmul", lambda tf, a, b: tf.matmul(a, b), rnd(2, 3), rnd(3, 4)),
    case("matmul_ta", lambda tf, a, b: tf.matmul(a, b, transpose_a=True), rnd(3, 2), rnd(3, 4)),
    case("matmul_tb", lambda tf, a, b: tf.matmul(a, b, transpose_b=True), rnd(2, 3), rnd(4, 3)),
    case("matmul_tab", lambda tf, a, b: tf.matmul(a, b, transpose_a=True, transpose_b=True), rnd(3, 2), rnd(4, 3)),
    case("batch_matmul", lambda tf, a, b: tf.matmul(a, b), rnd(2, 2, 3), rnd(2, 3, 2)),
    case("batch_matmul_broadcast", lambda tf, a, b: tf.matmul(a, b, adjoint_b=True), rnd(2, 2, 3), rnd(2, 3)),
    case("batch_matmul_adj", lambda tf, a, b: tf.matmul(a, b, adjoint_a=True), rnd(3, 2, 2), rnd(1, 2, 3)),
    case("batch_matmul_v1", lambda tf, a, b: tf.raw_ops.BatchMatMul(x=a, y=b, adj_y=True), rnd(2, 2, 3),
         rnd(2, 4, 3)),
    case("einsum_matmul", lambda tf, a, b: tf.einsum("ij,jk->ik", a, b), rnd(2, 3), rnd(3, 2)),
    case("einsum_batch", lambda tf, a, b: tf.einsum("bij,bkj->bik", a, b), rnd(2, 2, 3), rnd(2, 2, 3)),
    case("einsum_outer", lambda tf, a, b: tf.einsum("i,j->ij", a, b), rnd(3), rnd(2)),
    case("einsum_reduce", lambda tf, a: tf.einsum("ij->j", a), rnd(2, 3)),
    case("einsum_transpose", lambda tf, a: tf.einsum("ijk->kij", a), rnd(2, 3, 2)),
    case("einsum_sum_only_in_a", lambda tf, a, b: tf.einsum("ij,j->", a, b), rnd(2, 3), rnd(3)),
    case("einsum_ellipsis", lambda tf, a, b: tf.einsum("...ij,...jk->...ik", a, b), rnd(2, 2, 3), rnd(3, 2)),
    case("tensordot", lambda tf, a, b: tf.tensordot(a, b, [[1, 2], [0, 1]]), rnd(2, 3, 2), rnd(3, 2, 2),
         unknown_rank=False),
    case("tensordot_int", lambda tf, a, b: tf.tensordot(a, b, 1), rnd(2, 3), rnd(3, 2), unknown_rank=False),
    # ---- reductions
    case("sum_all", lambda tf, x: tf.reduce_sum(x), rnd(2, 3)),
    case("sum_axis", lambda tf, x: tf.reduce_sum(x, 1), rnd(2, 3, 2)),
    case("sum_neg_axes_keep", lambda tf, x: tf.reduce_sum(x, [-1, 0], keepdims=True), rnd(2, 3, 2)),
    case("mean_all", lambda tf, x: tf.reduce_mean(x), rnd(2, 3)),
    case("mean_axis", lambda tf, x: tf.reduce_mean(x, [0, 2]), rnd(2, 3, 2)),
    case("mean_keep", lambda tf, x: tf.reduce_mean(x, 1, keep_dims=True), rnd(2, 3)),
    case("prod", lambda tf, x: tf.reduce_prod(x, 1), rnd(2, 3)),
    case("prod_with_zero", lambda tf, x: tf.reduce_prod(x, [0, 2]), [[[1.5, 0.0], [2.0, -1.0]], [[0.5, 3.0],
                                                                                           [-2.0, 0.7]]]),
    case("prod_all", lambda tf, x: tf.reduce_prod(x), pos(2, 2)),
    case("max", lambda tf, x: tf.reduce_max(x, 1), rnd(2, 3)),
    case("max_all_keep", lambda tf, x: tf.reduce_max(x, keepdims=True), rnd(2, 3)),
    case("min", lambda tf, x: tf.reduce_min(x, [0]), rnd(2, 3)),
    case("euclidean_norm", lambda tf, x: tf.math.reduce_euclidean_norm(x, 1), rnd(2, 3)),
    case("logsumexp", lambda tf, x: tf.reduce_logsumexp(x, 1), rnd(2, 3)),
    case("cumsum", lambda tf, x: tf.cumsum(x, 1), rnd(2, 3)),
    case("cumsum_excl_rev", lambda tf, x: tf.cumsum(x, 0, exclusive=True, reverse=True), rnd(3, 2)),
    case("cumprod", lambda tf, x: tf.cumprod(x, 1), pos(2, 3)),
    case("cumprod_excl_rev", lambda tf, x: tf.cumprod(x, 0, exclusive=True, reverse=True), pos(3, 2)),
    case("unsorted_segment_sum", lambda tf, x: tf.unsorted_segment_sum(x, tf.constant([0, 2, -1, 0]), 3),
         rnd(4, 2)),
    case("add_n", lambda tf, x, y: tf.add_n([x, y, x]), rnd(2, 3), rnd(2, 3)),
    case("clip_by_value", lambda tf, x: tf.clip_by_value(x, -0.5, 0.5), [[-1.0, -0.2, 0.3], [0.7, 0.1, -0.6]]),
    case("clip_by_norm", lambda tf, x: tf.clip_by_norm(x, 1.0), rnd(2, 3)),
    case("clip_by_global_norm", lambda tf, x, y: tf.clip_by_global_norm([x, y], 1.0)[0], rnd(2, 3), rnd(3)),
    case("cast", lambda tf, x: tf.cast(tf.cast(x, tf.float32) * 2.0, tf.float64), rnd(2, 3), eps=1e-2,
         rtol=1e-5),
    # ---- array ops
    case("identity", lambda tf, x: tf.identity(x), rnd(2, 3)),
    case("placeholder_with_default", lambda tf, x: tf.placeholder_with_default(x, [None, 3]), rnd(2, 3),
         dynamic=False),
    case("reshape", lambda tf, x: tf.reshape(x, [3, -1]), rnd(2, 3)),
    case("fill", lambda tf, x: tf.fill([2, 3], x), rnd()),
    case("stack", lambda tf, x, y: tf.stack([x, y], axis=1), rnd(2, 3), rnd(2, 3)),
    case("unstack", lambda tf, x: tf.unstack(x, num=2, axis=0)[1], rnd(2, 3)),
    case("getitem_index", lambda tf, x: x[1], rnd(2, 3)),
    case("getitem_slices", lambda tf, x: x[:, 1:3, ::-2], rnd(2, 4, 3)),
    case("getitem_newaxis_ellipsis", lambda tf, x: x[tf.newaxis, ..., -1], rnd(2, 3)),
    case("getitem_tensor_index", lambda tf, x: x[tf.constant(1), :2], rnd(3, 3)),
    case("strided_slice_grad", _second_upstream(lambda tf, x: x[1:, ::2], rnd(3, 4)), rnd(2, 2)),
    case("slice", lambda tf, x: tf.slice(x, [0, 1], [2, -1]), rnd(3, 3)),
    case("gather", lambda tf, x: tf.gather(x, [2, 0, 2]), rnd(3, 2)),
    case("gather_axis1_2d_indices", lambda tf, x: tf.gather(x, [[0, 1], [1, 1]], axis=1), rnd(2, 3, 2),
         unknown_rank=False),
    case("gather_v1", lambda tf, x: tf.raw_ops.Gather(params=x, indices=[1, 1, 0]), rnd(2, 3)),
    case("gather_nd", lambda tf, x: tf.gather_nd(x, [[0, 1], [1, 2], [0, 1]]), rnd(2, 3)),
    case("scatter_nd", lambda tf, u: tf.scatter_nd([[1], [3], [1]], u, [4, 2]), rnd(3, 2)),
    case("boolean_mask", lambda tf, x: tf.boolean_mask(x, tf.constant(_COND)), rnd(2, 3)),
    case("concat", lambda tf, x, y: tf.concat([x, y], 1), rnd(2, 3), rnd(2, 1)),
    case("concat_v1", lambda tf, x, y: tf.raw_ops.Concat(concat_dim=0, values=[x, y]), rnd(2, 3), rnd(1, 3)),
    case("split", lambda tf, x: tf.split(x, 2, axis=1)[1], rnd(2, 4)),
    case("split_v", lambda tf, x: tf.split(x, [1, -1], axis=0), rnd(3, 2)),
    case("squeeze", lambda tf, x: tf.squeeze(x, [1]), rnd(2, 1, 3)),
    case("expand_dims", lambda tf, x: tf.expand_dims(x, -1), rnd(2, 3)),
    case("transpose", lambda tf, x: tf.transpose(x, [2, 0, 1]), rnd(2, 3, 2)),
    case("transpose_default", lambda tf, x: tf.transpose(x), rnd(2, 3)),
    case("tile", lambda tf, x: tf.tile(x, [2, 1, 3]), rnd(2, 1, 2)),
    case("pad", lambda tf, x: tf.pad(x, [[1, 0], [2, 1]]), rnd(2, 3)),
    case("pad_v2", lambda tf, x: tf.pad(x, [[0, 1], [1, 1]], constant_values=2.0), rnd(2, 3)),
    case("mirror_pad_reflect", lambda tf, x: tf.pad(x, [[1, 1], [2, 1]], mode="REFLECT"), rnd(3, 4)),
    case("mirror_pad_symmetric", lambda tf, x: tf.pad(x, [[2, 1], [0, 3]], mode="SYMMETRIC"), rnd(3, 3)),
    case("mirror_pad_grad", _second_upstream(lambda tf, x: tf.pad(x, [[1, 1], [0, 2]], mode="REFLECT"), rnd(3, 3)),
         rnd(5, 5)),
    case("reverse", lambda tf, x: tf.reverse(x, [0, -1]), rnd(2, 3)),
    case("broadcast_to", lambda tf, x: tf.broadcast_to(x, [2, 3, 2]), rnd(3, 1)),
    case("top_k", lambda tf, x: tf.nn.top_k(x, 2).values, rnd(2, 4)),
    case("dynamic_stitch", lambda tf, x, y: tf.dynamic_stitch([[0, 2], [1]], [x, y]), rnd(2, 3), rnd(1, 3)),
    case("identity_n", lambda tf, x, y: tf.identity_n([x, y]), rnd(2), rnd(3)),
    case("check_numerics", lambda tf, x: tf.check_numerics(x, "bad"), rnd(2, 3)),
    case("ensure_shape", lambda tf, x: tf.ensure_shape(x, [2, None]), rnd(2, 3)),
    case("meshgrid", lambda tf, x, y: tf.meshgrid(x, y), rnd(3), rnd(2)),
    # TF1 control flow and TensorArrays (tests/control_flow has the fuller checks)
    case("cond", lambda tf, x: tf.cond(tf.reduce_sum(x) > 0, lambda: x * x, lambda: tf.sin(x)), pos(2, 3)),
    case("cond_false", lambda tf, x: tf.cond(tf.reduce_sum(x) > 0, lambda: x * x, lambda: tf.sin(x)), -pos(3)),
    case("while_loop", lambda tf, x: tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * x + 1.0),
                                                   [0, x])[1], unit(2, 2)),
    case("tensor_array", lambda tf, x: _tensor_array_fn(tf, x), rnd(3, 2)),
    case("print", lambda tf, x: tf.Print(x * 2.0, [], message=""), rnd(2)),
    case("reverse_sequence", lambda tf, x: tf.reverse_sequence(x, [2, 3], seq_axis=1, batch_axis=0), rnd(2, 3, 2)),
]


def _tensor_array_fn(tf, x):
    n = tf.shape(x)[0]
    ta = tf.TensorArray(x.dtype, size=n).unstack(x * 2.0)
    tb = tf.TensorArray(x.dtype, size=2).write(0, ta.read(1)).write(1, ta.read(0) * ta.read(2))
    tc = tf.TensorArray(x.dtype, size=2, infer_shape=False).split(tf.reshape(tb.stack(), [-1]), [1, 3])
    return tc.concat() * 3.0


# ---- the checks -----------------------------------------------------------------------------------
def _placeholder_shape(x, mode):
    return {"static": x.shape, "dynamic": [None] * x.ndim, "unknown_rank": None}[mode]


def _feeds_and_graph(tf, c, mode):
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.float64, _placeholder_shape(x, mode), name=f"in{i}")
               for i, x in enumerate(c.inputs)]
        ys = c.build(tf, *phs)
        ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    return g, phs, ys


def _gradients(tf, c, mode="static"):
    """(analytic gradients, loss function of the inputs) for case ``c`` in framework ``tf``."""
    g, phs, ys = _feeds_and_graph(tf, c, mode)
    with g.as_default():
        sess = tf.Session(graph=g)
        feed = dict(zip(phs, c.inputs))
        shapes = [np.shape(v) for v in sess.run(ys, feed)]
        w_rng = np.random.RandomState(7)
        weights = [w_rng.uniform(0.5, 1.5, size=s) for s in shapes]  # no symmetric cancellations
        loss = tf.add_n([tf.reduce_sum(y * w) for y, w in zip(ys, weights)])
        grads = tf.gradients(loss, phs)
        if any(gr is None for gr in grads):
            raise AssertionError(f"{c.name}: gradient is None for input(s) "
                                 f"{[i for i, gr in enumerate(grads) if gr is None]}")
        # an IndexedSlices gradient (gathers) is checked as the dense tensor it stands for
        analytic = sess.run([tf.convert_to_tensor(gr) if hasattr(gr, "indices") else gr for gr in grads], feed)

    def f(values):
        return sess.run(loss, dict(zip(phs, values)))
    return analytic, f, sess


def _numeric(f, inputs, eps):
    out = []
    for i, x in enumerate(inputs):
        num = np.zeros_like(x)
        for idx in np.ndindex(*x.shape):
            vals = [v.copy() for v in inputs]
            vals[i][idx] = x[idx] + eps
            up = f(vals)
            vals[i][idx] = x[idx] - eps
            down = f(vals)
            num[idx] = (up - down) / (2 * eps)
        out.append(num)
    return out


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", GRADIENT_CASES, ids=lambda c: c.name)
def test_gradient_matches_finite_differences(c, mode):
    if mode == "dynamic" and not c.dynamic or mode == "unknown_rank" and not c.unknown_rank:
        pytest.skip(f"case needs {'static shapes' if mode == 'dynamic' else 'known ranks'}")
    analytic, f, sess = _gradients(deferflow, c, mode)
    try:
        numeric = _numeric(f, c.inputs, c.eps)
    finally:
        sess.close()
    for i, (a, n, x) in enumerate(zip(analytic, numeric, c.inputs)):
        assert np.shape(a) == x.shape, f"input {i}: gradient shape {np.shape(a)} != input shape {x.shape}"
        np.testing.assert_allclose(a, n, rtol=c.rtol, atol=c.atol, err_msg=f"{c.name}: input {i}")


@pytest.mark.parametrize("c", [c for c in GRADIENT_CASES if c.compare_tf], ids=lambda c: c.name)
def test_gradient_matches_tensorflow(tf_real, c):
    assert_gradients_match_tensorflow(tf_real, c, rtol=1e-10, atol=1e-12, same_dtype=True)


# ---- shared by the test modules that add their own cases (nn, sparse, image, math...) -------------------
def assert_gradients_match_tensorflow(tf_real, c, rtol, atol, same_dtype=False):
    """Case ``c``'s analytic gradients in deferflow equal TensorFlow's."""
    ours, _, s1 = _gradients(deferflow, c)
    theirs, _, s2 = _gradients(tf_real, c)
    s1.close()
    s2.close()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if hasattr(b, "indices"):  # TF's IndexedSlicesValue (gather): densify
            dense = np.zeros(b.dense_shape, dtype=b.values.dtype)
            np.add.at(dense, b.indices, b.values)
            b = dense
        if same_dtype:
            assert a.dtype == np.asarray(b).dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{c.name}: input {i}")


def scheduled_elsewhere(request, c, mode):
    """Whether this session also runs ``test_gradient_matches_finite_differences`` for case ``c`` in
    ``mode`` (the case joined GRADIENT_CASES): a module's own copy of that check then skips, not runs twice."""
    marker = f"test_gradient_matches_finite_differences[{c.name}-{mode}]"
    here = os.path.abspath(__file__)  # by path: pytest and a sys.path import may hold two module objects
    return any(item.name == marker and os.path.abspath(str(item.fspath)) == here for item in request.session.items)


def _differentiable_ops():
    out = set()
    for name, od in op_registry.registered_ops().items():
        if od.from_graph or od.grad_fn is None or od.grad_fn is op_registry.NO_GRADIENT:
            continue
        if getattr(od.grad_fn, "lookup_error", False):
            continue
        out.add(name)
    return out


def test_every_differentiable_op_is_covered():
    """Registry-wide: each op type with a gradient appears in the graph of some GRADIENT_CASES entry."""
    import importlib
    import sys
    for folder, module in (("nn", "test_nn_gradients"), ("sparse", "test_sparse_gradients"), ("nn", "test_nn_gaps"),
                           ("ops", "test_math_gaps"), ("ops", "test_linalg"),
                           ("ops", "test_script_ops"), ("ops", "test_math_more"), ("image", "test_image_gradients"),
                           ("ops", "test_diag_ops"), ("ops", "test_special_functions")):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", folder))
        importlib.import_module(module)  # its cases join GRADIENT_CASES, whatever ran first
    covered = set()
    for c in GRADIENT_CASES:
        g, _, _ = _feeds_and_graph(deferflow, c, "static")
        covered.update(op.type for op in g.get_operations())
    missing = sorted(_differentiable_ops() - covered - set(NOT_NUMERICALLY_CHECKABLE))
    assert not missing, f"op types with a gradient but no GRADIENT_CASES entry: {missing}"


# Op types with a gradient that cannot be checked by perturbing float64 inputs: {op type: reason}.
NOT_NUMERICALLY_CHECKABLE = {
    **{t: "reference (variable) inputs only; tests/control_flow covers them" for t in
       ("RefEnter", "RefExit", "RefMerge", "RefNextIteration", "RefSwitch")},
    **{t: "resource-handle inputs; tests/meta/test_resource_variables.py checks them against TF" for t in
       ("ReadVariableOp", "ResourceGather")},
}


def test_case_names_unique():
    names = [c.name for c in GRADIENT_CASES]
    assert len(names) == len(set(names))


# ---- tf.gradients semantics, each against TensorFlow ------------------------------------------------
def _run_grads(tf, build):
    """build(tf) -> (gradient list possibly with None, feed by name); returns values (None kept)."""
    g = tf.Graph()
    with g.as_default():
        grads, feed = build(tf)
        init = tf.global_variables_initializer()
        with tf.Session(graph=g) as s:
            s.run(init)
            real = [x for x in grads if x is not None]
            vals = iter(s.run(real, {g.get_tensor_by_name(k): v for k, v in feed.items()}))
            return [None if x is None else next(vals) for x in grads]


def _same_grads(tf_real, build):
    ours, theirs = _run_grads(deferflow, build), _run_grads(tf_real, build)
    assert [o is None for o in ours] == [t is None for t in theirs], (ours, theirs)
    for a, b in zip(ours, theirs):
        if b is not None:
            assert hasattr(a, "indices") == hasattr(b, "indices"), (a, b)  # IndexedSlices where TF has them
            if hasattr(b, "indices"):
                np.testing.assert_array_equal(a.indices, b.indices)
                np.testing.assert_array_equal(a.dense_shape, b.dense_shape)
                a, b = a.values, b.values
            assert np.asarray(a).dtype == np.asarray(b).dtype
            np.testing.assert_allclose(a, b, rtol=1e-6)


_X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], np.float32)

SEMANTICS = {
    "stop_gradients_in_xs": lambda tf: (lambda a: (lambda b: (tf.gradients(a + b, [a, b], stop_gradients=[a, b]),
                                                              {}))(2.0 * a))(tf.constant(1.0)),
    "no_stop_gradients": lambda tf: (lambda a: (lambda b: (tf.gradients(a + b, [a, b]), {}))(2.0 * a))(
        tf.constant(1.0)),
    "stop_gradients_cut": lambda tf: (lambda x: (lambda h: (tf.gradients(h * h + x, [x], stop_gradients=[h]), {}))(
        tf.sin(x)))(tf.constant(_X)),
    "stop_gradient_op": lambda tf: (lambda x: (tf.gradients(tf.stop_gradient(x * x) * x + x, [x]), {}))(
        tf.constant(_X)),
    "unconnected_none": lambda tf: (lambda x, y: (tf.gradients(x * 2.0, [x, y]), {}))(tf.constant(_X),
                                                                                       tf.constant(1.0)),
    "unconnected_zero": lambda tf: (lambda x, y: (tf.gradients(x * 2.0, [x, y], unconnected_gradients="zero"),
                                                  {}))(tf.constant(_X), tf.constant([1.0, 2.0])),
    "integer_xs": lambda tf: (lambda i, x: (tf.gradients(tf.reduce_sum(tf.cast(i, tf.float32) * x), [i, x]), {}))(
        tf.constant([[1, 2, 3], [4, 5, 6]]), tf.constant(_X)),
    "integer_ys": lambda tf: (lambda i: (tf.gradients(i * 2, [i]), {}))(tf.constant([1, 2])),
    "through_argmax": lambda tf: (lambda x: (tf.gradients(tf.cast(tf.argmax(x, 1), tf.float32) + tf.reduce_sum(
        x, 1), [x]), {}))(tf.constant(_X)),
    "grad_ys_values": lambda tf: (lambda x: (tf.gradients([x * 3.0, tf.square(x)], [x],
                                                          grad_ys=[tf.constant(_X), None]), {}))(tf.constant(_X)),
    "several_ys_and_xs": lambda tf: (lambda x, y: (tf.gradients([x * y, tf.reduce_sum(x) * y, y], [y, x, x]), {}))(
        tf.constant(_X), tf.constant(1.5)),
    "intermediate_x": lambda tf: (lambda x: (lambda h: (tf.gradients(tf.reduce_sum(tf.exp(h)), [h, x]), {}))(
        x * x))(tf.constant(_X)),
    "variables": lambda tf: (lambda w: (tf.gradients(tf.reduce_sum(tf.matmul(tf.constant(_X), w) ** 2), [w]), {}))(
        tf.Variable(np.ones([3, 2], np.float32), name="w")),
    "second_order": lambda tf: (lambda x: (tf.gradients(tf.gradients(tf.reduce_sum(tf.tanh(x) * x), x)[0], x),
                                           {}))(tf.constant(_X)),
    "placeholder_unknown_shape": lambda tf: (lambda x: (tf.gradients(
        tf.reduce_mean(tf.reduce_max(x, 1, keepdims=True) * x), [x]), {"p:0": _X}))(
        tf.placeholder(tf.float32, name="p")),
    "float64_and_float16": lambda tf: (lambda x, h: (tf.gradients(tf.reduce_sum(x * x) + tf.cast(
        tf.reduce_sum(h * h), tf.float64), [x, h]), {}))(tf.constant(_X.astype(np.float64)),
                                                         tf.constant(_X.astype(np.float16))),
    "gather_rows": lambda tf: (lambda w: (tf.gradients(tf.reduce_sum(tf.gather(w, [0, 2, 0]) * 2.0), [w]), {}))(
        tf.Variable(np.ones([3, 2], np.float32), name="emb")),
}


@pytest.mark.parametrize("name", sorted(SEMANTICS))
def test_gradients_semantics_same_as_tensorflow(tf_real, name):
    _same_grads(tf_real, SEMANTICS[name])


def test_hessians_same_as_tensorflow(tf_real):
    def build(tf):
        x = tf.constant(np.array([0.5, -1.0, 2.0], np.float32))
        y = tf.constant(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
        return tf.hessians(tf.reduce_sum(tf.sin(x) * x[0]) + tf.reduce_sum(y ** 3), [x, y]), {}
    _same_grads(tf_real, build)


def test_lookup_error_names_op_type(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            x = tf.constant([1.0, 2.0, 1.0])
            y, _ = tf.unique(x * 2.0)
            with pytest.raises(LookupError, match="op type: Unique"):
                tf.gradients(tf.reduce_sum(y), x)


def test_grad_ys_errors(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            x = tf.constant(_X)
            with pytest.raises(ValueError, match="Length mismatch"):
                tf.gradients(x * 2.0, x, grad_ys=[tf.ones([2, 3]), tf.ones([2, 3])])
            with pytest.raises(ValueError):  # the gradient flowing into MatMul has the wrong shape
                tf.gradients(tf.matmul(x, x, transpose_b=True), x, grad_ys=tf.ones([3, 2]))
            with pytest.raises(TypeError):
                tf.gradients(x * 2.0, x, grad_ys=tf.constant([["a"] * 3] * 2))
            with pytest.raises(ValueError, match="Unknown value for unconnected_gradients"):
                tf.gradients(x * 2.0, x, unconnected_gradients="bad")


def test_gradient_names_under_scope():
    x = deferflow.placeholder(deferflow.float32, [2, 3], name="x")
    gx = deferflow.gradients(deferflow.reduce_sum(x * x), x, name="mygrads")[0]
    assert gx.name.startswith("mygrads/")
    gx2 = deferflow.gradients(deferflow.reduce_sum(x * x), x)[0]
    assert gx2.name.startswith("gradients/")


def _mlp(tf):
    x = tf.placeholder(tf.float32, [4, 3], name="x")
    y = tf.placeholder(tf.float32, [4, 2], name="y")
    w = tf.Variable(np.ones([3, 2], np.float32) * 0.1, name="w")
    b = tf.Variable(np.zeros([2], np.float32), name="b")
    h = tf.tanh(tf.matmul(x, w) + b)
    loss = tf.reduce_mean(tf.square(h - y)) + 0.01 * tf.reduce_sum(tf.sigmoid(w) ** 2)
    return tf.gradients(loss, [w, b])


def _mixed(tf):
    x = tf.placeholder(tf.float32, [4, 3], name="x")
    u = tf.placeholder(tf.float32, [None, 3], name="u")
    w = tf.Variable(np.ones([3, 2], np.float32) * 0.1, name="w")
    h = tf.matmul(x, w)
    h2 = tf.concat([h, h[:, :1] * 2.0], 1)
    h3 = tf.reduce_sum(tf.maximum(h2, 0.1) / 3.0) + tf.reduce_max(h2, 1)
    hu = tf.reduce_mean(tf.exp(tf.matmul(u, w)), 0)
    loss = tf.reduce_mean(h3) + tf.reduce_sum(hu) + tf.reduce_sum(tf.reshape(tf.transpose(w), [-1]) ** 2)
    return tf.gradients(loss, [w])


@pytest.mark.parametrize("build", [_mlp, _mixed], ids=lambda f: f.__name__.strip("_"))
def test_gradient_graph_same_as_tensorflow(tf_real, build):
    """The gradient ops tf.gradients adds: same node names and op types as TensorFlow's."""
    res = []
    for tf in (deferflow, tf_real):
        g = tf.Graph()
        with g.as_default():
            build(tf)
        res.append({(op.name, op.type) for op in g.get_operations()})
    assert res[0] == res[1], (sorted(res[0] - res[1]), sorted(res[1] - res[0]))
