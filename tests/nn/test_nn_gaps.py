"""tf.nn gaps filled for legacy models: 1-D/atrous/separable/3-D convolutions, 3-D pooling, space/batch/depth
rearrangements, crelu/swish, Poisson loss and weighted moments — values, static shapes, op names and types and
gradients against real TensorFlow, plus TF-free checks."""
import os
import sys

import numpy as np
import pytest

import deferflow

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
import test_gradients as tg  # noqa: E402
from test_gradients import case, pos, rnd  # noqa: E402

_rng = np.random.RandomState(5)


def _f32case(name, fn, *inputs, **kw):
    """Ops TF defines only up to float32 (3-D max pooling): computed in float32, checked loosely."""
    def build(tf, *xs):
        out = fn(tf, *[tf.cast(x, tf.float32) for x in xs])
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [tf.cast(o, tf.float64) for o in outs]
    tol = dict(eps=1e-3, rtol=2e-2, atol=2e-3)
    tol.update(kw)
    return case(name, build, *inputs, **tol)


def _distinct(*shape):
    n = int(np.prod(shape))
    return _rng.permutation((np.arange(n) - n / 2 + 0.37) / n * 4).reshape(shape)


def _avg3_grad(tf, v):
    """AvgPool3DGrad as a function of the upstream gradient ``v`` (float32, as TF's CPU kernels need)."""
    c = tf.constant(np.ones([1, 3, 3, 3, 1], np.float32))
    return tf.gradients(tf.nn.avg_pool3d(c, 2, 1, "VALID"), c, grad_ys=v)[0]


_G222 = np.random.RandomState(3).randn(1, 2, 2, 2, 1).astype(np.float32)


def _max3_grad_grad(tf, x, h):
    """d/d(upstream) of MaxPool3D's gradient, weighted by ``h``: MaxPool3DGradGrad(x, y, h)."""
    g = tf.constant(_G222)
    dx = tf.gradients(tf.nn.max_pool3d(x, 2, 1, "VALID"), x, grad_ys=g)[0]
    return tf.gradients(dx, g, grad_ys=h)[0]


NN_GAP_CASES = [
    case("gap_conv1d", lambda tf, x, w: tf.nn.conv1d(x, w, 2, "SAME"), rnd(2, 7, 3), rnd(3, 3, 2),
         unknown_rank=False),
    case("gap_atrous_conv2d_same", lambda tf, x, w: tf.nn.atrous_conv2d(x, w, 2, "SAME"), rnd(1, 6, 5, 2),
         rnd(3, 3, 2, 2), dynamic=False),
    case("gap_atrous_conv2d_valid", lambda tf, x, w: tf.nn.atrous_conv2d(x, w, 2, "VALID"), rnd(1, 7, 6, 1),
         rnd(2, 2, 1, 2), dynamic=False),
    case("gap_separable_conv2d", lambda tf, x, d, p: tf.nn.separable_conv2d(x, d, p, [1, 1, 1, 1], "SAME"),
         rnd(1, 4, 4, 2), rnd(2, 2, 2, 2), rnd(1, 1, 4, 3), dynamic=False),
    case("gap_conv3d", lambda tf, x, w: tf.nn.conv3d(x, w, [1, 2, 1, 1, 1], "SAME"), rnd(1, 4, 3, 3, 2),
         rnd(2, 2, 2, 2, 2), dynamic=False),
    case("gap_conv3d_valid", lambda tf, x, w: tf.nn.conv3d(x, w, [1, 1, 1, 1, 1], "VALID"), rnd(2, 3, 3, 3, 1),
         rnd(2, 2, 2, 1, 2), dynamic=False),
    case("gap_conv3d_backprop_input", lambda tf, w, dy: tf.nn.conv3d_transpose(
        dy, w, [1, 4, 3, 3, 2], [1, 2, 1, 1, 1], "SAME"), rnd(2, 2, 2, 2, 3), rnd(1, 2, 3, 3, 3), dynamic=False),
    case("gap_conv3d_backprop_filter", lambda tf, x, dy: tf.raw_ops.Conv3DBackpropFilterV2(
        input=x, filter_sizes=[2, 2, 2, 2, 3], out_backprop=dy, strides=[1, 1, 1, 1, 1], padding="VALID"),
        rnd(1, 3, 3, 3, 2), rnd(1, 2, 2, 2, 3), dynamic=False),
    _f32case("gap_max_pool3d", lambda tf, x: tf.nn.max_pool3d(x, 2, 2, "SAME"), _distinct(1, 3, 4, 3, 2),
             dynamic=False),
    _f32case("gap_max_pool3d_grad", tg._second(lambda tf, x: tf.nn.max_pool3d(x, 2, 1, "VALID")),
             _distinct(1, 3, 3, 3, 1), rnd(1, 2, 2, 2, 1), dynamic=False),
    _f32case("gap_max_pool3d_grad_grad", _max3_grad_grad, _distinct(1, 3, 3, 3, 1), rnd(1, 3, 3, 3, 1),
             dynamic=False),
    _f32case("gap_avg_pool3d", lambda tf, x: tf.nn.avg_pool3d(x, [2, 2, 3], [1, 2, 2], "SAME"), rnd(1, 3, 4, 5, 2),
         dynamic=False),
    _f32case("gap_avg_pool3d_grad", lambda tf, v: _avg3_grad(tf, v), rnd(1, 2, 2, 2, 1), dynamic=False),
    case("gap_space_to_batch_nd", lambda tf, x: tf.space_to_batch_nd(x, [2, 2], [[1, 1], [0, 2]]),
         rnd(2, 4, 2, 3)),
    case("gap_batch_to_space_nd", lambda tf, x: tf.batch_to_space_nd(x, [2, 1], [[1, 0], [0, 1]]),
         rnd(4, 2, 3, 2)),
    case("gap_space_to_depth", lambda tf, x: tf.nn.space_to_depth(x, 2), rnd(2, 4, 6, 3)),
    case("gap_depth_to_space", lambda tf, x: tf.nn.depth_to_space(x, 2), rnd(2, 2, 3, 8)),
    case("gap_crelu", lambda tf, x: tf.nn.crelu(x), _distinct(3, 4)),
    case("gap_swish", lambda tf, x: tf.nn.swish(x), rnd(3, 4)),
    case("gap_log_poisson_loss", lambda tf, t, x: tf.nn.log_poisson_loss(t, x, compute_full_loss=True),
         pos(3, 4, low=0.2, high=3.0), rnd(3, 4)),
    case("gap_weighted_moments", lambda tf, x, w: list(tf.nn.weighted_moments(x, [0], w)), rnd(4, 3),
         pos(4, 3), unknown_rank=False),
    case("gap_normalize_moments", lambda tf, m, v: list(tf.nn.normalize_moments(
        tf.constant(4.0, tf.float64), m, v, None)), rnd(3), pos(3)),
]

tg.GRADIENT_CASES.extend(NN_GAP_CASES)
# The nn-wide coverage check in test_nn_gradients.py walks its NN_CASES: these cases cover the new nn ops there.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_nn_gradients as tng  # noqa: E402
tng.NN_CASES.extend(c for c in NN_GAP_CASES if c not in tng.NN_CASES)


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", NN_GAP_CASES, ids=lambda c: c.name)
def test_gap_gradient_matches_finite_differences(request, c, mode):
    if tg.scheduled_elsewhere(request, c, mode):
        pytest.skip("run by tests/ops/test_gradients.py in this session")
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", NN_GAP_CASES, ids=lambda c: c.name)
def test_gap_gradient_matches_tensorflow(tf_real, c):
    loose = c.rtol > 1e-4
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-5 if loose else 1e-9, atol=1e-6 if loose else 1e-11)


# ---- forward values, static shapes and op names/types against TensorFlow ---------------------------
def _run(tf, build, feeds, shapes=None):
    """(values, static shapes, [(name, type)] of non-Const ops) of ``build(tf, *placeholders)``."""
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(v.dtype), (shapes[i] if shapes else v.shape), name=f"x{i}")
               for i, v in enumerate(feeds)]
        out = build(tf, *phs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        static = [o.shape.as_list() if o.shape.ndims is not None else None for o in outs]
        names = [(op.name, op.type) for op in g.get_operations() if op.type != "Const"]
        with tf.Session(graph=g) as sess:
            vals = sess.run(outs, dict(zip(phs, feeds)))
    return vals, static, names


def _f(*shape):
    return _rng.randn(*shape).astype(np.float32)


FORWARD = {
    "conv1d_nwc": (lambda tf, x: tf.nn.conv1d(x, np.ones([3, 3, 4], np.float32) * 0.1, 2, "SAME"), [_f(2, 9, 3)]),
    "conv1d_dilated": (lambda tf, x, w: tf.nn.conv1d(x, w, 1, "VALID", dilations=2), [_f(2, 9, 3), _f(2, 3, 4)]),
    "atrous_same": (lambda tf, x, w: tf.nn.atrous_conv2d(x, w, 2, "SAME"), [_f(2, 9, 8, 3), _f(3, 3, 3, 4)]),
    "atrous_valid": (lambda tf, x, w: tf.nn.atrous_conv2d(x, w, 3, "VALID"), [_f(2, 10, 9, 3), _f(2, 3, 3, 2)]),
    "separable": (lambda tf, x, d, p: tf.nn.separable_conv2d(x, d, p, [1, 2, 2, 1], "SAME"),
                  [_f(2, 9, 9, 3), _f(3, 3, 3, 2), _f(1, 1, 6, 5)]),
    "separable_rate": (lambda tf, x, d, p: tf.nn.separable_conv2d(x, d, p, [1, 1, 1, 1], "VALID", rate=[2, 2]),
                       [_f(2, 9, 9, 3), _f(3, 3, 3, 2), _f(1, 1, 6, 5)]),
    "convolution_2d": (lambda tf, x, w: tf.nn.convolution(x, w, "SAME", strides=[2, 1]),
                       [_f(2, 9, 8, 3), _f(3, 3, 3, 4)]),
    "convolution_dilated": (lambda tf, x, w: tf.nn.convolution(x, w, "SAME", dilation_rate=[2, 3]),
                            [_f(2, 9, 8, 3), _f(3, 3, 3, 4)]),
    "conv3d": (lambda tf, x, w: tf.nn.conv3d(x, w, [1, 1, 2, 1, 1], "SAME"), [_f(2, 5, 5, 4, 3),
                                                                            _f(2, 3, 2, 3, 4)]),
    "max_pool3d": (lambda tf, x: tf.nn.max_pool3d(x, [1, 2, 3, 2, 1], [1, 2, 2, 1, 1], "SAME"), [_f(2, 5, 5, 4, 3)]),
    "avg_pool3d": (lambda tf, x: tf.nn.avg_pool3d(x, 3, 2, "SAME"), [_f(2, 5, 6, 4, 3)]),
    "avg_pool3d_valid": (lambda tf, x: tf.nn.avg_pool3d(x, 2, 1, "VALID"), [_f(1, 3, 4, 3, 2)]),
    "pool_max": (lambda tf, x: tf.nn.pool(x, [2, 2], "MAX", "SAME", strides=[2, 2]), [_f(2, 9, 9, 3)]),
    "pool_avg3d": (lambda tf, x: tf.nn.pool(x, [2, 2, 2], "AVG", "VALID", strides=[1, 2, 2]), [_f(1, 4, 5, 5, 2)]),
    "space_to_batch": (lambda tf, x: tf.space_to_batch_nd(x, [2, 3], [[1, 1], [2, 1]]), [_f(2, 4, 3, 2)]),
    "batch_to_space": (lambda tf, x: tf.batch_to_space_nd(x, [2, 2], [[0, 1], [1, 0]]), [_f(8, 2, 3, 1)]),
    "space_to_batch_1d": (lambda tf, x: tf.space_to_batch_nd(x, [2], [[0, 1]]), [_f(3, 5, 2, 2)]),
    "space_to_depth": (lambda tf, x: tf.nn.space_to_depth(x, 3), [_f(2, 6, 9, 2)]),
    "depth_to_space": (lambda tf, x: tf.nn.depth_to_space(x, 2), [_f(2, 3, 2, 12)]),
    "crelu": (lambda tf, x: tf.nn.crelu(x), [_f(3, 4)]),
    "swish": (lambda tf, x: tf.nn.swish(x), [_f(3, 4)]),
    "log_poisson": (lambda tf, t, x: tf.nn.log_poisson_loss(t, x, compute_full_loss=True),
                    [np.abs(_f(3, 4)) * 3, _f(3, 4)]),
    "log_poisson_plain": (lambda tf, t, x: tf.nn.log_poisson_loss(t, x), [np.abs(_f(3, 4)), _f(3, 4)]),
    "weighted_moments": (lambda tf, x, w: list(tf.nn.weighted_moments(x, [0, 1], w, keepdims=True)),
                         [_f(3, 4, 2), np.abs(_f(3, 4, 1))]),
    "normalize_moments": (lambda tf, m, v: list(tf.nn.normalize_moments(tf.constant(3.0), m, v, tf.constant(0.5))),
                          [_f(4), np.abs(_f(4))]),
}

# TF's own compositions whose every op we reproduce by name and type
SAME_OPS = {"conv1d_nwc", "conv1d_dilated", "atrous_same", "atrous_valid", "separable", "separable_rate",
            "convolution_2d", "convolution_dilated", "conv3d", "max_pool3d", "avg_pool3d",
            "avg_pool3d_valid", "pool_max", "space_to_batch", "batch_to_space", "space_to_depth", "depth_to_space",
            "crelu", "log_poisson", "log_poisson_plain", "weighted_moments", "normalize_moments"}


@pytest.mark.parametrize("name", sorted(FORWARD))
def test_forward_same_as_tensorflow(tf_real, name):
    build, feeds = FORWARD[name]
    ours, our_shapes, our_ops = _run(deferflow, build, feeds)
    theirs, their_shapes, their_ops = _run(tf_real, build, feeds)
    assert our_shapes == their_shapes
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
    if name in SAME_OPS:
        assert our_ops == their_ops


@pytest.mark.parametrize("name", ["atrous_same", "separable_rate", "space_to_batch", "conv3d", "max_pool3d"])
def test_unknown_shapes_same_as_tensorflow(tf_real, name):
    """Dims unknown when the graph is built: the same values and partially known static shapes."""
    build, feeds = FORWARD[name]
    shapes = [[None] * (f.ndim - 1) + [f.shape[-1]] if i == 0 else list(f.shape) for i, f in enumerate(feeds)]
    ours, our_shapes, _ = _run(deferflow, build, feeds, shapes)
    theirs, their_shapes, _ = _run(tf_real, build, feeds, shapes)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
    for s, t in zip(our_shapes, their_shapes):  # we may know more than TF, never something different
        assert len(s) == len(t) and all(b is None or a == b for a, b in zip(s, t))


# ---- without TensorFlow -------------------------------------------------------------------------
def _eval(build, *feeds):
    vals, _, _ = _run(deferflow, build, [np.asarray(f) for f in feeds])
    return vals


def test_space_depth_round_trip():
    x = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
    back, = _eval(lambda tf, v: tf.nn.depth_to_space(tf.nn.space_to_depth(v, 2), 2), x)
    np.testing.assert_array_equal(back, x)
    y, = _eval(lambda tf, v: tf.nn.space_to_depth(v, 2), x)
    np.testing.assert_array_equal(y[0, 0, 0], np.concatenate([x[0, 0, 0], x[0, 0, 1], x[0, 1, 0], x[0, 1, 1]]))


def test_space_batch_round_trip_and_layout():
    x = np.arange(1 * 4 * 4 * 1, dtype=np.float32).reshape(1, 4, 4, 1)
    y, = _eval(lambda tf, v: tf.space_to_batch_nd(v, [2, 2], [[0, 0], [0, 0]]), x)
    np.testing.assert_array_equal(y[:, :, :, 0], [[[0, 2], [8, 10]], [[1, 3], [9, 11]], [[4, 6], [12, 14]],
                                                  [[5, 7], [13, 15]]])
    back, = _eval(lambda tf, v: tf.batch_to_space_nd(tf.space_to_batch_nd(v, [2, 2], [[1, 1], [1, 1]]), [2, 2],
                                                     [[1, 1], [1, 1]]), x)
    np.testing.assert_array_equal(back, x)


def test_atrous_equals_dilated_conv2d():
    x, w = _f(2, 9, 8, 3), _f(3, 3, 3, 4)
    a, b = _eval(lambda tf, v, f: [tf.nn.atrous_conv2d(v, f, 2, "SAME"), tf.nn.conv2d(v, f, 1, "SAME", dilations=2)],
                 x, w)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_conv3d_matches_direct_sum():
    x, w = _f(1, 3, 4, 3, 2), _f(2, 2, 2, 2, 3)
    y, = _eval(lambda tf, v, f: tf.nn.conv3d(v, f, [1] * 5, "VALID"), x, w)
    ref = np.zeros((1, 2, 3, 2, 3), np.float32)
    for d in range(2):
        for h in range(3):
            for c in range(2):
                ref[0, d, h, c] = np.einsum("ijkl,ijklm->m", x[0, d:d + 2, h:h + 2, c:c + 2], w)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_pool3d_values():
    x = _f(1, 4, 4, 4, 2)
    m, a = _eval(lambda tf, v: [tf.nn.max_pool3d(v, 2, 2, "VALID"), tf.nn.avg_pool3d(v, 2, 2, "VALID")], x)
    blocks = x.reshape(1, 2, 2, 2, 2, 2, 2, 2).transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(1, 2, 2, 2, 8, 2)
    np.testing.assert_allclose(m, blocks.max(axis=4))
    np.testing.assert_allclose(a, blocks.mean(axis=4), rtol=1e-6)


def test_shape_errors():
    g = deferflow.Graph()
    with g.as_default():
        with pytest.raises(ValueError, match="divisible"):
            deferflow.nn.space_to_depth(deferflow.zeros([1, 3, 4, 1]), 2)
        with pytest.raises(ValueError, match="rank 5"):
            deferflow.nn.conv3d(deferflow.zeros([1, 3, 4, 1]), deferflow.zeros([1, 1, 1, 1, 1]), [1] * 5, "SAME")
        with pytest.raises(ValueError, match="strides > 1"):
            deferflow.nn.convolution(deferflow.zeros([1, 8, 8, 1]), deferflow.zeros([2, 2, 1, 1]), "SAME",
                                     strides=2, dilation_rate=2)


def test_batch_to_space_kernel_error():
    g = deferflow.Graph()
    with g.as_default():
        x = deferflow.placeholder(deferflow.float32, [None, 2, 2, 1])
        y = deferflow.batch_to_space_nd(x, [2, 2], [[0, 0], [0, 0]])
        with deferflow.Session() as sess:
            with pytest.raises(deferflow.errors.InvalidArgumentError, match="divisible"):
                sess.run(y, {x: np.zeros([3, 2, 2, 1], np.float32)})


def test_max_pool3d_grad_ties_same_as_tensorflow(tf_real):
    """A window's gradient goes to its first maximal input only (TF's CPU kernel, fed inputs)."""
    x = np.zeros([1, 2, 2, 2, 1], np.float32)
    x[0, 0, 1, 0, 0] = x[0, 1, 1, 1, 0] = 1

    def build(tf, p):
        y = tf.nn.max_pool3d(p, 2, 2, "VALID")
        return [tf.gradients(y, p)[0]]
    ours, _, _ = _run(deferflow, build, [x])
    theirs, _, _ = _run(tf_real, build, [x])
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert ours[0].sum() == 1
