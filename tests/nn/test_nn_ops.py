"""tf.nn forward values against real TensorFlow: output names, static shapes, dtypes and values, over a table
of shapes and attrs (NHWC/NCHW, SAME/VALID/explicit padding, strides, dilations); plus errors."""
import os
import sys

import numpy as np
import pytest

import deferflow

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
from oprun import assert_same, error_of, run  # noqa: E402

_rng = np.random.RandomState(42)
X4 = _rng.randn(2, 7, 6, 3).astype(np.float32)
X2 = _rng.randn(4, 5).astype(np.float32)
LABELS_1H = np.eye(5, dtype=np.float32)[[0, 3, 1, 4]]
SPARSE = np.array([0, 3, 1, 4], dtype=np.int64)
LRN_X = _rng.randn(1, 2, 2, 9).astype(np.float32)
PARAMS = _rng.randn(6, 3).astype(np.float32)
SHARDS = [_rng.randn(n, 2).astype(np.float32) for n in (3, 3, 2)]
W52 = _rng.randn(5, 2).astype(np.float32)


def assert_values(tf_real, build, rtol, atol):
    """Values only, for compositions TF builds from other ops (e.g. atrous convs via SpaceToBatchND)."""
    for a, b in zip(run(deferflow, build)[1], run(tf_real, build)[1]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _pad_nchw(pad):
    return [pad[0], pad[3], pad[1], pad[2]] if isinstance(pad, list) else pad


# ---- activations, softmax family, losses -----------------------------------------------------------------
def _activations(tf):
    x = tf.constant(X2 * 4)
    return [tf.nn.relu(x), tf.nn.relu6(x * 2), tf.nn.elu(x), tf.nn.selu(x), tf.nn.leaky_relu(x),
            tf.nn.leaky_relu(x, alpha=0.01), tf.nn.softplus(x), tf.nn.softplus(x * 30), tf.nn.softmax(x),
            tf.nn.log_softmax(x), tf.nn.softmax(x, axis=0), tf.nn.log_softmax(x, axis=0),
            tf.nn.relu(tf.constant([[-3, 4]], dtype=tf.int32)), tf.nn.softmax(tf.constant(X4), axis=1)]


def _cross_entropies(tf):
    x, lab = tf.constant(X2), tf.constant(LABELS_1H)
    z = tf.constant((X2 > 0).astype(np.float32))
    return [tf.nn.softmax_cross_entropy_with_logits_v2(labels=lab, logits=x),
            tf.nn.softmax_cross_entropy_with_logits(labels=lab * 0.5 + 0.1, logits=x),
            tf.nn.softmax_cross_entropy_with_logits_v2(labels=tf.transpose(lab), logits=tf.transpose(x), axis=0),
            tf.nn.softmax_cross_entropy_with_logits_v2(labels=tf.reshape(lab, [2, 2, 5]),
                                                       logits=tf.reshape(x, [2, 2, 5])),
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(SPARSE), logits=x),
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(SPARSE.astype(np.int32)), logits=x),
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.reshape(tf.constant(SPARSE), [2, 2]),
                                                           logits=tf.reshape(x, [2, 2, 5])),
            tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x * 10),
            tf.nn.weighted_cross_entropy_with_logits(labels=z, logits=x * 10, pos_weight=3.0),
            tf.nn.l2_loss(x), tf.nn.l2_normalize(x, axis=1), tf.nn.l2_normalize(x, axis=[0, 1], epsilon=1e-3)]


def _raw_xent(tf):
    x, lab = tf.constant(X2), tf.constant(LABELS_1H)
    loss, backprop = tf.raw_ops.SoftmaxCrossEntropyWithLogits(features=x, labels=lab)
    sloss, sbackprop = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=x, labels=tf.constant(SPARSE))
    return [loss, backprop, sloss, sbackprop]


def _normalisation(tf):
    x = tf.placeholder(tf.float32, X4.shape, name="x")  # fed: TF would constant-fold fused batch norm away
    mean, var = tf.nn.moments(x, [0, 1, 2])
    m2, v2 = tf.nn.moments(x, [1], keep_dims=True)
    bn = tf.nn.batch_normalization(x, mean, var, tf.constant([0.1, 0.2, 0.3]), tf.constant([1.0, 2.0, 0.5]), 1e-3)
    bn2 = tf.nn.batch_normalization(x, mean, var, None, None, 1e-3)
    scale, offset = tf.constant([1.0, 2.0, 0.5]), tf.constant([0.1, 0.2, 0.3])
    y, bm, bv = tf.nn.fused_batch_norm(x, scale, offset, epsilon=1e-3)
    yi, mi, vi = tf.nn.fused_batch_norm(x, scale, offset, mean=mean, variance=var + 1.0, is_training=False)
    xc = tf.transpose(x, [0, 3, 1, 2])
    yc, bmc, bvc = tf.nn.fused_batch_norm(xc, scale, offset, data_format="NCHW")
    lrn = tf.nn.local_response_normalization(x, depth_radius=1, bias=2.0, alpha=0.3, beta=0.75)
    lrn2 = tf.nn.lrn(tf.constant(LRN_X))
    return [mean, var, m2, v2, bn, bn2, y, bm, bv, yi, mi, vi, yc, bmc, bvc, lrn, lrn2], {"x:0": X4}


def _fused_bn_avg(tf):
    x = tf.placeholder(tf.float32, X4.shape, name="x")
    outs = tf.raw_ops.FusedBatchNormV3(x=x, scale=[1.0, 2.0, 0.5], offset=[0.1, 0.2, 0.3], mean=[1.0, 0.0, -1.0],
                                       variance=[1.0, 2.0, 3.0], epsilon=0.01, exponential_avg_factor=0.3)
    return list(outs[:5]), {"x:0": X4}


def _misc(tf):
    preds = tf.constant([[0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.5, 0.0], [np.nan, 1.0, 0.0]])
    targets = tf.constant([1, 0, 1, 0])
    params = tf.constant(PARAMS)
    ids = tf.constant([[0, 5], [2, 2]])
    return [tf.nn.in_top_k(preds, targets, 1), tf.nn.in_top_k(preds, targets, 2),
            tf.nn.in_top_k(preds, tf.constant([1, 0, 1, 0], tf.int64), 3), tf.nn.embedding_lookup(params, ids),
            tf.nn.bias_add(tf.constant(X4), tf.constant([1.0, -1.0, 2.0])),
            tf.nn.bias_add(tf.constant(_nchw(X4)), tf.constant([1.0, -1.0, 2.0]), data_format="NCHW"),
            tf.nn.bias_add(tf.constant(X2), tf.constant(np.arange(5, dtype=np.float32))),
            tf.nn.xw_plus_b(tf.constant(X2), tf.constant(W52), [1.0, 2.0]),
            tf.nn.relu_layer(tf.constant(X2), tf.constant(W52), [1.0, -2.0])]


@pytest.mark.parametrize("build", [_activations, _cross_entropies, _raw_xent, _normalisation, _fused_bn_avg, _misc],
                         ids=lambda f: f.__name__.strip("_"))
def test_forward_matches_tensorflow(tf_real, build):
    assert_same(tf_real, build, rtol=2e-5, atol=2e-6)


def test_sharded_embedding_lookup_values_match_tensorflow(tf_real):
    """Values only: TF gathers shards with DynamicPartition/DynamicStitch, deferflow by masked gathers."""
    def values(tf):
        with tf.Graph().as_default():
            shards = [tf.constant(v) for v in SHARDS]
            ids = tf.constant([[0, 7], [4, 2]])
            outs = [tf.nn.embedding_lookup(shards, ids), tf.nn.embedding_lookup(shards, ids, partition_strategy="div")]
            with tf.Session() as s:
                return s.run(outs)
    for a, b in zip(values(deferflow), values(tf_real)):
        np.testing.assert_array_equal(a, b)


# ---- convolutions over a table of attrs ----------------------------------------------------------------------
CONV_CASES = [  # (filter shape, strides, padding, dilations)
    ((3, 3, 3, 4), 1, "SAME", 1), ((3, 3, 3, 4), 1, "VALID", 1), ((3, 2, 3, 4), 2, "SAME", 1),
    ((3, 2, 3, 4), [1, 2], "VALID", 1), ((2, 2, 3, 5), 3, "SAME", 1), ((3, 3, 3, 4), 1, "SAME", 2),
    ((2, 3, 3, 2), 1, "VALID", [2, 1]), ((1, 1, 3, 4), 1, "VALID", 1), ((1, 1, 3, 4), 2, "SAME", 1),
    ((3, 3, 3, 4), 1, [[0, 0], [1, 2], [0, 1], [0, 0]], 1), ((3, 3, 3, 4), 2, [[0, 0], [2, 0], [1, 1], [0, 0]], 1),
]


def _conv_and_grads(tf, x, w, strides, pad, fmt, dil):
    xt, wt = tf.constant(x), tf.constant(w)
    y = tf.nn.conv2d(xt, wt, strides=strides, padding=pad, data_format=fmt, dilations=dil)
    dy = tf.constant(np.random.RandomState(3).randn(*y.shape.as_list()).astype(np.float32))
    dx, dw = tf.gradients(y, [xt, wt], grad_ys=dy)
    return [y, dx, dw]


@pytest.mark.parametrize("fshape,strides,padding,dil", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv2d_and_backprops_match_tensorflow(tf_real, fshape, strides, padding, dil):
    w = np.random.RandomState(sum(fshape)).randn(*fshape).astype(np.float32)
    assert_same(tf_real, lambda tf: _conv_and_grads(tf, X4, w, strides, padding, "NHWC", dil), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fshape,strides,padding,dil", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv2d_nchw_equals_tensorflow_nhwc(tf_real, fshape, strides, padding, dil):
    """TF's CPU kernels are NHWC-only: deferflow's NCHW results must equal TF's NHWC ones, transposed."""
    w = np.random.RandomState(sum(fshape)).randn(*fshape).astype(np.float32)
    with tf_real.Graph().as_default():
        with tf_real.Session() as s:
            theirs = s.run(_conv_and_grads(tf_real, X4, w, strides, padding, "NHWC", dil))
    with deferflow.Graph().as_default():
        nchw = strides if isinstance(strides, int) else [1, 1] + list(strides)
        d = dil if isinstance(dil, int) else [1, 1] + list(dil)
        xt, wt = deferflow.constant(_nchw(X4)), deferflow.constant(w)
        y = deferflow.nn.conv2d(xt, wt, strides=nchw, padding=_pad_nchw(padding), data_format="NCHW", dilations=d)
        dy = _nchw(np.random.RandomState(3).randn(*theirs[0].shape).astype(np.float32))
        dx, dw = deferflow.gradients(y, [xt, wt], grad_ys=deferflow.constant(dy))
        assert y.shape.as_list() == list(_nchw(theirs[0]).shape)
        with deferflow.Session() as s:
            ours = s.run([y, dx, dw])
    for a, b in zip(ours, [_nchw(theirs[0]), _nchw(theirs[1]), theirs[2]]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("strides,padding,dil", [(1, "SAME", 1), (2, "VALID", 1), (2, "SAME", 1), (1, "VALID", 2)])
def test_depthwise_conv2d_matches_tensorflow(tf_real, fmt, strides, padding, dil):
    w = _rng.randn(3, 3, 3, 2).astype(np.float32)
    x = X4 if fmt == "NHWC" else _nchw(X4)
    if fmt == "NCHW" and dil != 1:
        pytest.skip("TensorFlow's CPU depthwise kernel supports dilations only in NHWC")

    def build(tf):
        xt, wt = tf.constant(x), tf.constant(w)
        y = tf.nn.depthwise_conv2d(xt, wt, strides=_strides4(strides, fmt), padding=padding, rate=[dil, dil]
                                   if dil != 1 else None, data_format=fmt)
        dy = np.random.RandomState(8).randn(*y.shape.as_list()).astype(np.float32)
        dx, dw = tf.gradients(y, [xt, wt], grad_ys=tf.constant(dy))
        return [y, dx, dw]
    (assert_same if dil == 1 else assert_values)(tf_real, build, rtol=1e-4, atol=1e-5)


def _strides4(s, fmt):
    return [1, s, s, 1] if fmt == "NHWC" else [1, 1, s, s]


@pytest.mark.parametrize("strides,padding", [(1, "SAME"), (2, "SAME"), (2, "VALID"), (3, "SAME")])
def test_conv2d_transpose_matches_tensorflow(tf_real, strides, padding):
    w = _rng.randn(3, 3, 4, 3).astype(np.float32)  # [h, w, out, in]
    x = _rng.randn(2, 4, 3, 3).astype(np.float32)

    def build(tf):
        h = 4 * strides if padding == "SAME" else (4 - 1) * strides + 3
        wd = 3 * strides if padding == "SAME" else (3 - 1) * strides + 3
        xt, wt = tf.constant(x), tf.constant(w)
        y = tf.nn.conv2d_transpose(xt, wt, [2, h, wd, 4], strides=[1, strides, strides, 1], padding=padding)
        dx, dw = tf.gradients(tf.reduce_sum(y * y), [xt, wt])
        return [y, dx, dw]
    assert_same(tf_real, build, rtol=1e-4, atol=1e-4)


POOL_CASES = [(2, 2, "VALID"), (2, 2, "SAME"), (3, 2, "SAME"), (3, 1, "VALID"), (2, 1, "SAME"),
              ([2, 3], [1, 2], "SAME"), ([3, 1], [2, 3], "VALID")]


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("ksize,strides,padding", POOL_CASES, ids=[str(i) for i in range(len(POOL_CASES))])
def test_pooling_and_gradients_match_tensorflow(tf_real, fmt, ksize, strides, padding):
    x = np.maximum(X4, 0)  # ReLU zeros make ties: gradients must go to the first maximum, as in TF
    x = x if fmt == "NHWC" else _nchw(x)

    def build(tf):
        xt = tf.constant(x)
        mp = tf.nn.max_pool(xt, ksize, strides, padding, data_format=fmt)
        ap = tf.nn.avg_pool(xt, ksize, strides, padding, data_format=fmt)
        r = np.random.RandomState(5).randn(*mp.shape.as_list()).astype(np.float32)
        dmp = tf.gradients(mp * r, xt)[0]
        dap = tf.gradients(ap * r, xt)[0]
        upstream = dmp.op.inputs[2]  # MaxPoolGrad's incoming gradient: differentiating by it gives MaxPoolGradGrad
        ggrad = tf.gradients(dmp * tf.constant(np.random.RandomState(6).randn(*x.shape).astype(np.float32)),
                             upstream)[0]
        return [mp, ap, dmp, dap, ggrad]
    if fmt == "NCHW":  # TF's CPU pooling kernels are NHWC-only: compare against the transposed NHWC result
        _check_nchw_via_nhwc(x, ksize, strides, padding)
        return
    assert_same(tf_real, build, rtol=1e-5, atol=1e-6)


def _check_nchw_via_nhwc(x, ksize, strides, padding):
    """deferflow's NCHW pooling equals its NHWC pooling on the transposed input (checked against TF above)."""
    g = deferflow.Graph()
    with g.as_default():
        xt = deferflow.constant(x)
        outs = [deferflow.nn.max_pool(xt, ksize, strides, padding, data_format="NCHW"),
                deferflow.nn.avg_pool(xt, ksize, strides, padding, data_format="NCHW")]
        xh = deferflow.constant(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        ref = [deferflow.transpose(deferflow.nn.max_pool(xh, ksize, strides, padding), [0, 3, 1, 2]),
               deferflow.transpose(deferflow.nn.avg_pool(xh, ksize, strides, padding), [0, 3, 1, 2])]
        r = np.random.RandomState(5).randn(*outs[0].shape.as_list()).astype(np.float32)
        outs += [deferflow.gradients(outs[0] * r, xt)[0], deferflow.gradients(outs[1] * r, xt)[0]]
        ref += [deferflow.transpose(deferflow.gradients(ref[0] * r, xh)[0], [0, 3, 1, 2]),
                deferflow.transpose(deferflow.gradients(ref[1] * r, xh)[0], [0, 3, 1, 2])]
        with deferflow.Session() as s:
            a, b = s.run([outs, ref])
    for p, q in zip(a, b):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)


def test_dropout_keeps_expected_fraction_and_scales():
    g = deferflow.Graph()
    with g.as_default():
        x = deferflow.ones([200, 100])
        d1 = deferflow.nn.dropout(x, keep_prob=0.75, seed=3)
        d2 = deferflow.nn.dropout(x, rate=0.25, noise_shape=[200, 1], seed=4)
        kp = deferflow.placeholder(deferflow.float32, [])
        d3 = deferflow.nn.dropout(x, keep_prob=kp)
        assert [o.type for o in g.get_operations() if o.name.startswith("dropout/")].count("Floor") == 1
        assert d1.shape.as_list() == [200, 100]
        with deferflow.Session() as s:
            a, b, c = s.run([d1, d2, d3], {kp: 0.5})
    for v, keep, tol in ((a, 0.75, 0.02), (b, 0.75, 0.12), (c, 0.5, 0.02)):  # b: only 200 independent draws
        assert set(np.unique(v)) <= {0.0, np.float32(1 / keep)}
        assert abs((v != 0).mean() - keep) < tol
    assert all(len(set(row)) == 1 for row in b)  # noise_shape [200, 1]: whole rows kept or dropped


def test_dropout_rate_zero_is_identity_and_bad_rates_raise(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            x = tf.constant(X2)
            assert tf.nn.dropout(x, rate=0.0) is x
            for bad in ({"rate": 1.0}, {"rate": -0.1}, {"keep_prob": 0.0}, {"keep_prob": 1.5}):
                with pytest.raises(ValueError):
                    tf.nn.dropout(x, **bad)
            with pytest.raises(ValueError):
                tf.nn.dropout(tf.constant([1, 2]), rate=0.5)


# ---- errors ---------------------------------------------------------------------------------------------
def _bad_sparse_label(tf):
    return [tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([0, 7]), logits=tf.ones([2, 3]))]


def _bad_bias_shape(tf):
    x = tf.placeholder(tf.float32, [None, None])
    return [tf.nn.bias_add(x, tf.constant([1.0, 2.0]))], {"Placeholder:0": np.ones((2, 3), np.float32)}


def _bad_conv_channels(tf):
    x = tf.placeholder(tf.float32, [None, None, None, None])
    return [tf.nn.conv2d(x, tf.ones([3, 3, 2, 4]), 1, "SAME")], {"Placeholder:0": np.ones((1, 5, 5, 3), np.float32)}


@pytest.mark.parametrize("build", [_bad_sparse_label, _bad_bias_shape, _bad_conv_channels],
                         ids=lambda f: f.__name__.strip("_"))
def test_runtime_errors_match_tensorflow(tf_real, build):
    assert error_of(deferflow, build) == error_of(tf_real, build) == "InvalidArgumentError"


def _static_errors():
    return [lambda tf: tf.nn.conv2d(tf.ones([1, 5, 5, 3]), tf.ones([3, 3, 2, 4]), 1, "SAME"),
            lambda tf: tf.nn.conv2d(tf.ones([1, 2, 2, 3]), tf.ones([3, 3, 3, 4]), 1, "VALID"),
            lambda tf: tf.nn.bias_add(tf.ones([2, 3]), tf.ones([4])),
            lambda tf: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.ones([2, 3], tf.int32),
                                                                      logits=tf.ones([2, 3])),
            lambda tf: tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones([2]), logits=tf.ones([3])),
            lambda tf: tf.nn.max_pool(tf.ones([2, 3]), 2, 2, "VALID"),
            lambda tf: tf.nn.conv2d(tf.ones([1, 5, 5, 3]), tf.ones([3, 3, 3, 4]), 1, "FULL")]


@pytest.mark.parametrize("i", range(len(_static_errors())))
def test_graph_construction_errors_match_tensorflow(tf_real, i):
    build = _static_errors()[i]
    kinds = []
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises((ValueError, TypeError)) as e:
                build(tf)
            kinds.append(type(e.value))
    assert issubclass(kinds[0], ValueError) == issubclass(kinds[1], ValueError)


def test_static_shapes_with_unknown_dims(tf_real):
    def build(tf):
        x = tf.placeholder(tf.float32, [None, 9, None, 3])
        c = tf.nn.conv2d(x, tf.ones([3, 3, 3, 5]), [1, 2, 2, 1], "SAME")
        p = tf.nn.max_pool(c, 2, 2, "VALID")
        b = tf.nn.bias_add(p, tf.ones([5]))
        s = tf.nn.softmax(tf.placeholder(tf.float32, [None, 4]))
        return [(t.shape.as_list()) for t in (c, p, b, s)]
    with deferflow.Graph().as_default():
        ours = build(deferflow)
    with tf_real.Graph().as_default():
        theirs = build(tf_real)
    assert ours == theirs
