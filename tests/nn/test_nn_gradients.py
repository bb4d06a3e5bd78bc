"""Gradients of every differentiable nn op: central finite differences and real TensorFlow's gradients.

The cases join ``tests/ops/test_gradients.GRADIENT_CASES`` (so the registry-wide coverage check sees the nn
ops) and are also run here, so ``pytest tests/nn`` checks them on its own; when that module's parametrized
finite-difference test already runs a case in the same session, the copy here is skipped.
"""
import os
import sys

import numpy as np
import pytest

import deferflow

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
import test_gradients as tg  # noqa: E402
from test_gradients import case, pos, rnd  # noqa: E402

_rng = np.random.RandomState(77)


def distinct(*shape, scale=1.0):
    """Values that are all different and away from 0 (no ties for max pooling, no ReLU kinks)."""
    n = int(np.prod(shape))
    v = (np.arange(n) - n / 2 + 0.37) / n * 4 * scale
    return _rng.permutation(v).reshape(shape)


def _f32(fn, eps=1e-3, rtol=2e-2, atol=2e-3):
    """Ops TF defines only for float32 (fused batch norm, LRN): computed in float32, checked loosely."""
    def build(tf, *xs):
        out = fn(tf, *[tf.cast(x, tf.float32) for x in xs])
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [tf.cast(o, tf.float64) for o in outs]
    return build, dict(eps=eps, rtol=rtol, atol=atol)


def _f32case(name, fn, *inputs, **kw):
    build, tol = _f32(fn)
    tol.update(kw)
    return case(name, build, *inputs, **tol)


def _conv(strides, padding, fmt="NHWC", dil=1):
    return lambda tf, x, w: tf.nn.conv2d(x, w, strides=strides, padding=padding, data_format=fmt, dilations=dil)


def _bn_train(tf, x, s, o):
    return tf.nn.fused_batch_norm(x, s, o, epsilon=1e-3)[0]


def _bn_infer(tf, x, s, o):
    return tf.nn.fused_batch_norm(x, s, o, mean=[0.1, -0.2], variance=[1.5, 0.7], is_training=False)[0]


def _bn_grad_train(tf, x, s, dy):
    y = tf.nn.fused_batch_norm(x, s, tf.zeros([2]), epsilon=1e-3)[0]
    return tf.gradients(y, [x, s], grad_ys=dy)


def _bias_grad_of(tf, g):
    """BiasAddGrad(g) as a function of g: its gradient is BiasAddGrad's own gradient."""
    b = tf.ones([4], tf.float64)
    return tf.gradients(tf.nn.bias_add(tf.ones([2, 3, 4], tf.float64), b), b, grad_ys=g)[0]


_G33 = rnd(1, 3, 3, 1)


def _max_pool_grad_grad(tf, x, h):
    """d/d(upstream) of MaxPool's gradient, weighted by ``h``: MaxPoolGradGrad(x, y, h)."""
    g = tf.constant(_G33)
    dx = tf.gradients(tf.nn.max_pool(x, 2, 1, "SAME"), x, grad_ys=g)[0]
    return tf.gradients(dx, g, grad_ys=h)[0]


_LOGITS = rnd(3, 4)
_ONEHOT = np.eye(4)[[1, 0, 3]]

NN_CASES = [
    # activations and their *Grad ops (second derivatives)
    case("nn_relu", lambda tf, x: tf.nn.relu(x), distinct(3, 4)),
    case("nn_relu_grad", tg._second(lambda tf, x: tf.nn.relu(x)), distinct(3, 4), rnd(3, 4)),
    case("nn_relu6", lambda tf, x: tf.nn.relu6(x), distinct(3, 4, scale=4)),
    case("nn_relu6_grad", tg._second(lambda tf, x: tf.nn.relu6(x)), distinct(3, 4, scale=4), rnd(3, 4)),
    case("nn_elu", lambda tf, x: tf.nn.elu(x), distinct(3, 4)),
    case("nn_elu_grad", tg._second(lambda tf, x: tf.nn.elu(x)), distinct(3, 4), rnd(3, 4)),
    case("nn_selu", lambda tf, x: tf.nn.selu(x), distinct(3, 4)),
    case("nn_selu_grad", tg._second(lambda tf, x: tf.nn.selu(x)), distinct(3, 4), rnd(3, 4)),
    case("nn_leaky_relu", lambda tf, x: tf.nn.leaky_relu(x, alpha=0.1), distinct(3, 4)),
    case("nn_leaky_relu_grad", tg._second(lambda tf, x: tf.nn.leaky_relu(x, alpha=0.1)), distinct(3, 4), rnd(3, 4)),
    case("nn_softplus", lambda tf, x: tf.nn.softplus(x), rnd(3, 4)),
    case("nn_softplus_grad", tg._second(lambda tf, x: tf.nn.softplus(x)), rnd(3, 4), rnd(3, 4)),
    # softmax family and cross entropies
    case("nn_softmax", lambda tf, x: tf.nn.softmax(x), rnd(3, 4)),
    case("nn_softmax_axis0", lambda tf, x: tf.nn.softmax(x, axis=0), rnd(3, 4), unknown_rank=False),
    case("nn_log_softmax", lambda tf, x: tf.nn.log_softmax(x), rnd(3, 4)),
    case("nn_softmax_xent", lambda tf, x, y: tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=x),
         _LOGITS, _ONEHOT * 0.8 + 0.05, unknown_rank=False),
    case("nn_softmax_xent_3d", lambda tf, x: tf.nn.softmax_cross_entropy_with_logits_v2(
        labels=np.eye(4)[[[1, 0], [3, 2]]], logits=x), rnd(2, 2, 4), dynamic=False),
    case("nn_softmax_xent_second", lambda tf, x: tf.gradients(tf.nn.softmax_cross_entropy_with_logits_v2(
        labels=_ONEHOT, logits=x), x)[0], _LOGITS, dynamic=False),
    case("nn_sparse_xent", lambda tf, x: tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=[1, 0, 3], logits=x), _LOGITS, dynamic=False),
    case("nn_sparse_xent_second", lambda tf, x: tf.gradients(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=[1, 0, 3], logits=x), x)[0], _LOGITS, dynamic=False),
    case("nn_sigmoid_xent", lambda tf, x, z: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
         distinct(3, 4), pos(3, 4, low=0, high=1)),
    case("nn_weighted_xent", lambda tf, x, z: tf.nn.weighted_cross_entropy_with_logits(
        labels=z, logits=x, pos_weight=2.5), distinct(3, 4), pos(3, 4, low=0, high=1)),
    case("nn_l2_loss", lambda tf, x: tf.nn.l2_loss(x), rnd(3, 4)),
    case("nn_l2_normalize", lambda tf, x: tf.nn.l2_normalize(x, axis=1), rnd(3, 4)),
    case("nn_moments", lambda tf, x: list(tf.nn.moments(x, [0, 1])), rnd(3, 4, 2), unknown_rank=False),
    case("nn_batch_normalization", lambda tf, x, m, v, o, s: tf.nn.batch_normalization(x, m, v, o, s, 1e-3),
         rnd(3, 2), rnd(2), pos(2), rnd(2), rnd(2)),
    # bias add
    case("nn_bias_add", lambda tf, x, b: tf.nn.bias_add(x, b), rnd(2, 3, 4), rnd(4)),
    case("nn_bias_add_nchw", lambda tf, x, b: tf.nn.bias_add(x, b, data_format="NCHW"), rnd(2, 3, 2, 2), rnd(3),
         unknown_rank=False),
    case("nn_bias_add_grad", lambda tf, g: _bias_grad_of(tf, g), rnd(2, 3, 4), dynamic=False),
    # convolutions (float64) and their backprop ops
    case("nn_conv2d_same", _conv(1, "SAME"), rnd(1, 4, 4, 2), rnd(3, 3, 2, 2), dynamic=False),
    case("nn_conv2d_valid_strided", _conv(2, "VALID"), rnd(2, 5, 5, 2), rnd(2, 3, 2, 3), dynamic=False),
    case("nn_conv2d_dilated", _conv(1, "SAME", dil=2), rnd(1, 5, 4, 1), rnd(2, 2, 1, 2), dynamic=False,
         compare_tf=False),  # TF's CPU filter backprop rejects dilations
    case("nn_conv2d_explicit", _conv([1, 2], [[0, 0], [1, 0], [2, 1], [0, 0]]), rnd(1, 3, 4, 2),
         rnd(2, 2, 2, 1), dynamic=False),
    case("nn_conv2d_nchw", _conv(1, "SAME", fmt="NCHW"), rnd(1, 2, 3, 3), rnd(3, 3, 2, 2), dynamic=False,
         compare_tf=False),
    case("nn_conv2d_transpose", lambda tf, x, w: tf.nn.conv2d_transpose(x, w, [1, 5, 5, 2], [1, 2, 2, 1], "SAME"),
         rnd(1, 3, 3, 3), rnd(3, 3, 2, 3), dynamic=False),
    case("nn_conv2d_backprop_filter", lambda tf, x, dy: tf.nn.conv2d_backprop_filter(
        x, [2, 2, 2, 3], dy, [1, 1, 1, 1], "VALID"), rnd(1, 3, 3, 2), rnd(1, 2, 2, 3), dynamic=False),
    case("nn_depthwise", lambda tf, x, w: tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME"), rnd(1, 4, 3, 2),
         rnd(2, 2, 2, 2), dynamic=False),
    case("nn_depthwise_strided", lambda tf, x, w: tf.nn.depthwise_conv2d_native(x, w, [1, 2, 2, 1], "VALID"),
         rnd(1, 5, 5, 2), rnd(3, 3, 2, 1), dynamic=False),
    case("nn_depthwise_backprop_input", lambda tf, w, dy: tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
        input_sizes=[1, 4, 3, 2], filter=w, out_backprop=dy, strides=[1, 1, 1, 1], padding="SAME"),
         rnd(2, 2, 2, 2), rnd(1, 4, 3, 4), dynamic=False),
    case("nn_depthwise_backprop_filter", lambda tf, x, dy: tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=x, filter_sizes=[2, 2, 2, 2], out_backprop=dy, strides=[1, 1, 1, 1], padding="SAME"),
         rnd(1, 4, 3, 2), rnd(1, 4, 3, 4), dynamic=False),
    # pooling
    case("nn_max_pool", lambda tf, x: tf.nn.max_pool(x, 2, 2, "SAME"), distinct(1, 5, 4, 2), dynamic=False),
    case("nn_max_pool_overlap", lambda tf, x: tf.nn.max_pool(x, 3, 1, "VALID"), distinct(2, 4, 4, 1),
         dynamic=False),
    case("nn_max_pool_grad", tg._second(lambda tf, x: tf.nn.max_pool(x, 2, 2, "VALID")), distinct(1, 4, 4, 2),
         rnd(1, 2, 2, 2), dynamic=False),
    case("nn_max_pool_grad_grad", lambda tf, x, h: _max_pool_grad_grad(tf, x, h), distinct(1, 3, 3, 1),
         rnd(1, 3, 3, 1), dynamic=False),
    case("nn_avg_pool", lambda tf, x: tf.nn.avg_pool(x, [2, 3], [1, 2], "SAME"), rnd(1, 5, 4, 2), dynamic=False),
    case("nn_avg_pool_grad", tg._second_upstream(lambda tf, x: tf.nn.avg_pool(x, 2, 2, "VALID"), rnd(1, 4, 4, 1)),
         rnd(1, 2, 2, 1), dynamic=False),
    # float32-only ops
    _f32case("nn_fused_batch_norm", _bn_train, rnd(2, 2, 3, 2), pos(2), rnd(2), dynamic=False),
    _f32case("nn_fused_batch_norm_inference", _bn_infer, rnd(2, 2, 3, 2), pos(2), rnd(2), dynamic=False),
    _f32case("nn_fused_batch_norm_grad", _bn_grad_train, rnd(2, 2, 2, 2), pos(2), rnd(2, 2, 2, 2),
             dynamic=False, rtol=5e-2, atol=5e-3),
    _f32case("nn_lrn", lambda tf, x: tf.nn.lrn(x, depth_radius=2, bias=1.5, alpha=0.3, beta=0.6), rnd(1, 2, 2, 5),
             dynamic=False),
]

tg.GRADIENT_CASES.extend(NN_CASES)


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", NN_CASES, ids=lambda c: c.name)
def test_nn_gradient_matches_finite_differences(request, c, mode):
    if tg.scheduled_elsewhere(request, c, mode):
        pytest.skip("run by tests/ops/test_gradients.py in this session")
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", [c for c in NN_CASES if c.compare_tf], ids=lambda c: c.name)
def test_nn_gradient_matches_tensorflow(tf_real, c):
    loose = c.rtol > 1e-4
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-5 if loose else 1e-9, atol=1e-6 if loose else 1e-11)


def test_nn_cases_cover_every_differentiable_nn_op():
    """Each nn op type with a gradient appears in some case's graph."""
    import importlib
    importlib.import_module("test_nn_gaps")  # its cases (3-D convs and pools...) join NN_CASES
    from deferflow.ops import nn_ops
    nn_types = {v.name for v in vars(nn_ops).values() if type(v).__name__ == "OpDef"}
    covered = set()
    for c in NN_CASES:
        g, _, _ = tg._feeds_and_graph(deferflow, c, "static")
        covered.update(op.type for op in g.get_operations())
    missing = sorted((nn_types & tg._differentiable_ops()) - covered)
    assert not missing, f"nn op types with a gradient but no case: {missing}"
