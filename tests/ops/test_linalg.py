"""tf.norm and the linalg ops (inverse, determinants, Cholesky, solves, Svd, Qr): values, static shapes,
gradients and errors against TensorFlow, plus TF-free checks. Gradient cases join GRADIENT_CASES."""
import numpy as np
import pytest

import deferflow
import test_gradients as tg
from test_gradients import case, rnd

_r = np.random.RandomState(42)


def _well(*shape):
    """Well-conditioned square matrices (diagonally dominant)."""
    n = shape[-1]
    return _r.randn(*shape) + 3 * np.eye(n)


def _spd(tf, x):
    return tf.matmul(x, x, transpose_b=True) + tf.constant(3 * np.eye(3))


LINALG_CASES = [
    case("norm_euclidean", lambda tf, x: tf.norm(x), rnd(2, 3)),
    case("norm_l1_axis", lambda tf, x: tf.norm(x, ord=1, axis=1), rnd(2, 3)),
    case("norm_inf_keepdims", lambda tf, x: tf.norm(x, ord=np.inf, axis=-1, keepdims=True), rnd(2, 3)),
    case("norm_p3", lambda tf, x: tf.norm(x, ord=3, axis=0), rnd(2, 3)),
    case("norm_fro", lambda tf, x: tf.norm(x, ord="fro", axis=[1, 2]), rnd(2, 3, 4)),
    case("norm_matrix_1", lambda tf, x: tf.norm(x, ord=1, axis=(0, 1)), rnd(3, 4)),
    case("norm_matrix_inf", lambda tf, x: tf.norm(x, ord=np.inf, axis=(-2, -1)), rnd(2, 3, 4)),
    case("norm_matrix_2", lambda tf, x: tf.linalg.norm(x, ord=2, axis=(0, 2)), rnd(3, 2, 4), unknown_rank=False),
    case("clip_by_average_norm", lambda tf, x: tf.clip_by_average_norm(tf.cast(x, tf.float32), 0.1),
         rnd(2, 3), compare_tf=False, rtol=1e-2, atol=1e-3, eps=1e-3),
    case("matrix_inverse", lambda tf, x: tf.matrix_inverse(x), _well(2, 3, 3)),
    case("matrix_inverse_adjoint", lambda tf, x: tf.linalg.inv(x, adjoint=True), _well(3, 3)),
    case("matrix_determinant", lambda tf, x: tf.matrix_determinant(x), rnd(2, 3, 3)),
    case("log_matrix_determinant", lambda tf, x: tf.linalg.slogdet(x)[1], rnd(2, 3, 3)),
    case("cholesky", lambda tf, x: tf.cholesky(_spd(tf, x)), rnd(3, 3)),
    case("matrix_solve", lambda tf, a, b: tf.matrix_solve(a, b), _well(2, 3, 3), rnd(2, 3, 2)),
    case("matrix_solve_adjoint", lambda tf, a, b: tf.linalg.solve(a, b, adjoint=True), _well(3, 3), rnd(3, 1)),
    case("triangular_solve_lower", lambda tf, a, b: tf.matrix_triangular_solve(a, b), _well(3, 3), rnd(3, 2)),
    case("triangular_solve_upper_adjoint", lambda tf, a, b: tf.linalg.triangular_solve(a, b, lower=False,
                                                                                      adjoint=True),
         _well(2, 3, 3), rnd(2, 3, 2)),
    case("triangular_solve_broadcast", lambda tf, a, b: tf.matrix_triangular_solve(a, b), _well(3, 3),
         rnd(2, 3, 2)),
    case("svd_values", lambda tf, x: tf.svd(x, compute_uv=False), rnd(2, 4, 3)),
    case("qr", lambda tf, x: [tf.abs(t) for t in tf.qr(x)], rnd(4, 3), dynamic=False),  # TF: static shapes only
]
tg.GRADIENT_CASES.extend(LINALG_CASES)


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", LINALG_CASES, ids=lambda c: c.name)
def test_linalg_gradient_matches_finite_differences(request, c, mode):
    if tg.scheduled_elsewhere(request, c, mode):
        pytest.skip("run by test_gradients.py in this session")
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", [c for c in LINALG_CASES if c.compare_tf], ids=lambda c: c.name)
def test_linalg_gradient_matches_tensorflow(tf_real, c):
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-7, atol=1e-9)


def _run(tf, build, feeds, static=True):
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(v.dtype), v.shape if static else None) for v in feeds]
        out = build(tf, *phs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        with tf.Session(graph=g) as sess:
            vals = sess.run(outs, dict(zip(phs, feeds)))
    return vals, [o.shape.as_list() if o.shape.ndims is not None else None for o in outs], [o.dtype for o in outs]


_x = _r.randn(2, 3, 4).astype(np.float32)
_sq = _well(2, 3, 3)
FORWARD = {
    "norm_default": (lambda tf, x: tf.norm(x), [_x]),
    "norm_axis_keep": (lambda tf, x: tf.norm(x, axis=1, keep_dims=True), [_x]),
    "norm_p_half": (lambda tf, x: tf.norm(x, ord=0.5, axis=2), [_x]),
    "norm_matrix_2": (lambda tf, x: tf.norm(x, ord=2, axis=[-1, 0], keepdims=True), [_x]),
    "norm_matrix_fro": (lambda tf, x: tf.norm(x, ord="fro", axis=(0, 1)), [_x]),
    "clip_avg": (lambda tf, x: tf.clip_by_average_norm(x, 0.5), [_x]),
    "inverse": (lambda tf, x: tf.matrix_inverse(x), [_sq]),
    "inverse_f32": (lambda tf, x: tf.linalg.inv(x, adjoint=True), [_sq.astype(np.float32)]),
    "det": (lambda tf, x: tf.linalg.det(x), [_sq]),
    "det_empty": (lambda tf, x: tf.matrix_determinant(x), [np.zeros([2, 0, 0])]),
    "slogdet": (lambda tf, x: tf.linalg.slogdet(x), [_r.randn(3, 4, 4)]),
    "cholesky": (lambda tf, x: tf.linalg.cholesky(tf.matmul(x, x, transpose_b=True)), [_sq]),
    "logdet": (lambda tf, x: tf.linalg.logdet(tf.matmul(x, x, transpose_b=True)), [_sq]),
    "solve": (lambda tf, a, b: tf.matrix_solve(a, b), [_sq, _r.randn(2, 3, 5)]),
    "tri_solve": (lambda tf, a, b: tf.matrix_triangular_solve(a, b, lower=False), [_sq, _r.randn(2, 3, 5)]),
    "tri_solve_adj_bcast": (lambda tf, a, b: tf.matrix_triangular_solve(a, b, adjoint=True),
                            [_sq[0], _r.randn(4, 1, 3, 2)]),
    "svd_s": (lambda tf, x: tf.svd(x, compute_uv=False), [_x]),
}


@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("name", sorted(FORWARD))
def test_forward_same_as_tensorflow(tf_real, name, static):
    build, feeds = FORWARD[name]
    ours, theirs = _run(deferflow, build, feeds, static), _run(tf_real, build, feeds, static)
    for a, b in zip(ours[1], theirs[1]):  # TF's static shape, or ours more specific where TF's is unknown
        assert (a is None) == (b is None) and (a is None or len(a) == len(b) and all(
            y is None or x == y for x, y in zip(a, b))), (a, b)
    assert [d.name for d in ours[2]] == [d.name for d in theirs[2]]
    for a, b in zip(ours[0], theirs[0]):
        np.testing.assert_allclose(a, b, rtol=2e-5 if a.dtype == np.float32 else 1e-10, atol=1e-6)


def test_svd_and_qr_reconstruct_and_match_shapes(tf_real):
    x = _r.randn(2, 5, 3)
    for full in (False, True):
        def build(tf, p):
            s, u, v = tf.svd(p, full_matrices=full)
            q, r = tf.qr(p, full_matrices=full)
            return [s, u, v, q, r]
        (s, u, v, q, r), shapes, _ = _run(deferflow, build, [x])
        _, tf_shapes, _ = _run(tf_real, build, [x])
        assert shapes == tf_shapes
        k = 3
        np.testing.assert_allclose(u[..., :k] * s[..., None, :] @ np.swapaxes(v[..., :k], -1, -2), x, atol=1e-10)
        np.testing.assert_allclose(q @ r, x, atol=1e-10)
        np.testing.assert_allclose(np.tril(r[..., :3, :], -1), 0, atol=1e-12)


@pytest.mark.parametrize("build,msg", [
    (lambda tf: tf.norm(tf.ones([2, 2]), ord="fro"), "'ord' must be a supported vector norm"),
    (lambda tf: tf.norm(tf.ones([2, 2]), ord=-1), "'ord' must be a supported vector norm"),
    (lambda tf: tf.norm(tf.ones([2, 2]), ord=3, axis=[0, 1]), "'ord' must be a supported matrix norm"),
    (lambda tf: tf.norm(tf.ones([2, 2]), axis=[0, 0]), "'axis' must be None, an integer, or a tuple of 2"),
    (lambda tf: tf.norm(tf.ones([2, 2]), axis=[0, 1, 1]), "'axis' must be None, an integer, or a tuple of 2"),
    (lambda tf: tf.matrix_inverse(tf.ones([2, 3])), "Dimensions must be equal"),
    (lambda tf: tf.cholesky(tf.ones([3])), "must be at least rank 2"),
    (lambda tf: tf.matrix_solve(tf.ones([3, 3]), tf.ones([2, 1])), "Dimensions must be equal"),
])
def test_static_errors_as_tensorflow(tf_real, build, msg):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default(), pytest.raises(ValueError, match=msg):
            build(tf)


@pytest.mark.parametrize("build,feed", [
    (lambda tf, p: tf.matrix_inverse(p), np.zeros([2, 2])),
    (lambda tf, p: tf.matrix_solve(p, tf.ones([2, 1], tf.float64)), np.zeros([2, 2])),
])
def test_runtime_errors_as_tensorflow(tf_real, build, feed):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            p = tf.placeholder(tf.float64)
            out = build(tf, p)
            with tf.Session() as s, pytest.raises(tf.errors.InvalidArgumentError):
                s.run(out, {p: feed})


def test_cholesky_of_non_positive_definite_is_nan_as_tensorflow(tf_real):
    feed = np.stack([np.eye(2), -np.eye(2)])
    ours, theirs = (_run(tf, lambda tf, p: tf.cholesky(p), [feed])[0][0] for tf in (deferflow, tf_real))
    lower = np.tril(np.ones([2, 2], bool))  # compared where TF's kernel defines the result
    np.testing.assert_array_equal(ours[:, lower], theirs[:, lower])
    assert np.isnan(ours[1, 1, 0]) and ours[1, 0, 1] == 0 and ours[0, 0, 0] == 1


def test_without_tf():
    a = np.array([[4.0, 2.0], [2.0, 3.0]])
    vals, _, _ = _run(deferflow, lambda tf, x: [tf.matrix_inverse(x), tf.matrix_determinant(x), tf.cholesky(x),
                                                 tf.norm(x), tf.norm(x, ord=1, axis=[0, 1])], [a])
    np.testing.assert_allclose(vals[0], np.linalg.inv(a))
    np.testing.assert_allclose(vals[1], 8.0)
    np.testing.assert_allclose(vals[2], [[2.0, 0.0], [1.0, np.sqrt(2.0)]])
    np.testing.assert_allclose(vals[3], np.sqrt(33.0))
    np.testing.assert_allclose(vals[4], 6.0)
    vals, _, _ = _run(deferflow, lambda tf, x, b: tf.matrix_triangular_solve(x, b), [a, np.array([[4.0], [5.0]])])
    np.testing.assert_allclose(vals[0], [[1.0], [1.0]])
