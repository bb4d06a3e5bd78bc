"""Kernels on their fast paths against real TensorFlow: batches large enough that nn_ops splits them over its
helper threads (in unequal parts), several im2col chunks per part, exactly tiling max pools with ties and
non-finite gradients; plus the thread team's own contract (exceptions, order-independent sums)."""
import os
import sys

import numpy as np
import pytest

import deferflow
from deferflow.ops import nn_ops

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
from oprun import assert_same  # noqa: E402

_rng = np.random.RandomState(7)
XB = _rng.randn(5, 18, 16, 8).astype(np.float32)  # odd batch: the team's parts differ in size


@pytest.fixture(params=["team", "serial"])
def ways(request, monkeypatch):
    """Runs a test with the helper threads (when this machine has them) and on the calling thread alone."""
    if request.param == "serial":
        monkeypatch.setattr(nn_ops._team, "ways", 1)
    monkeypatch.setattr(nn_ops._team, "MIN_BYTES", 1 << 12)
    return request.param


BIG_CONV_CASES = [  # (filter shape, strides, padding, dilations)
    ((3, 3, 8, 6), 1, "SAME", 1), ((3, 3, 8, 6), 1, "VALID", 1), ((3, 2, 8, 4), 2, "SAME", 1),
    ((3, 3, 8, 4), 1, "SAME", 2), ((1, 1, 8, 5), 1, "VALID", 1), ((3, 3, 8, 4), 2, [[0, 0], [2, 0], [1, 1], [0, 0]], 1),
]


@pytest.mark.parametrize("chunk", [1 << 22, 1 << 14], ids=["one-chunk", "many-chunks"])
@pytest.mark.parametrize("fshape,strides,padding,dil", BIG_CONV_CASES, ids=[str(i) for i in range(len(BIG_CONV_CASES))])
def test_split_conv2d_and_backprops_match_tensorflow(tf_real, ways, monkeypatch, chunk, fshape, strides, padding, dil):
    monkeypatch.setattr(nn_ops, "_CHUNK_BYTES", chunk)
    w = np.random.RandomState(sum(fshape)).randn(*fshape).astype(np.float32)

    def build(tf):
        xt, wt = tf.constant(XB), tf.constant(w)
        y = tf.nn.conv2d(xt, wt, strides=strides, padding=padding, dilations=dil)
        dy = tf.constant(np.random.RandomState(3).randn(*y.shape.as_list()).astype(np.float32))
        dx, dw = tf.gradients(y, [xt, wt], grad_ys=dy)
        return [y, dx, dw]
    assert_same(tf_real, build, rtol=1e-4, atol=1e-4)


def test_split_filter_gradient_is_the_same_every_run(ways):
    """Partial sums are added in batch order, not in the order the threads finish."""
    with deferflow.Graph().as_default():
        xt = deferflow.constant(XB)
        wt = deferflow.constant(_rng.randn(3, 3, 8, 6).astype(np.float32))
        dw = deferflow.gradients(deferflow.reduce_sum(deferflow.nn.conv2d(xt, wt, 1, "SAME") ** 2), wt)[0]
        with deferflow.Session() as s:
            runs = [s.run(dw) for _ in range(8)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])


TILED_POOLS = [(2, 2, "VALID"), (2, 2, "SAME"), (3, 3, "VALID"), ([2, 4], [2, 4], "SAME"), ([1, 2], [1, 2], "VALID"),
               ([3, 1], [3, 1], "VALID")]


@pytest.mark.parametrize("upstream", ["finite", "inf-and-nan"])
@pytest.mark.parametrize("ksize,strides,padding", TILED_POOLS, ids=[str(i) for i in range(len(TILED_POOLS))])
def test_tiling_max_pool_routes_ties_like_tensorflow(tf_real, ways, ksize, strides, padding, upstream):
    x = np.maximum(_rng.randn(5, 12, 24, 8), 0).astype(np.float32)  # ReLU zeros: whole windows tie
    x[:, ::3, ::2] = x[:, 1::3, 1::2].max()  # and ties between positive values

    def build(tf):
        xt = tf.constant(x)
        mp = tf.nn.max_pool(xt, ksize, strides, padding)
        r = np.random.RandomState(5).randn(*mp.shape.as_list()).astype(np.float32)
        if upstream != "finite":
            r.reshape(-1)[::7] = np.inf
            r.reshape(-1)[3::11] = np.nan
        dmp = tf.gradients(mp, xt, grad_ys=tf.constant(r))[0]
        return [mp, dmp]
    assert_same(tf_real, build)


def test_tiling_max_pool_nchw_equals_nhwc(ways):
    x = np.maximum(_rng.randn(4, 8, 12, 16), 0).astype(np.float32)
    with deferflow.Graph().as_default():
        xt = deferflow.constant(x)
        mp = deferflow.nn.max_pool(xt, 2, 2, "VALID", data_format="NCHW")
        xh = deferflow.constant(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        ref = deferflow.transpose(deferflow.nn.max_pool(xh, 2, 2, "VALID"), [0, 3, 1, 2])
        r = _rng.randn(4, 8, 6, 8).astype(np.float32)
        d = deferflow.gradients(mp * r, xt)[0]
        dref = deferflow.transpose(deferflow.gradients(ref * r, xh)[0], [0, 3, 1, 2])
        with deferflow.Session() as s:
            a, b, da, db = s.run([mp, ref, d, dref])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(da, db)


def test_split_relu_gradient_matches_tensorflow_with_nonfinite_gradients(tf_real, ways):
    x = _rng.randn(6, 20, 16, 8).astype(np.float32)
    g = _rng.randn(*x.shape).astype(np.float32)
    g.reshape(-1)[::13] = np.inf  # inf * 0 where the ReLU is off: NaN, as in TF
    g.reshape(-1)[5::17] = np.nan

    def build(tf):
        xt = tf.constant(x)
        y = tf.nn.relu(xt)
        return [y, tf.gradients(y, xt, grad_ys=tf.constant(g))[0]]
    assert_same(tf_real, build)


def test_team_hands_back_a_helper_threads_exception(monkeypatch):
    monkeypatch.setattr(nn_ops._team, "MIN_BYTES", 0)
    seen = []

    def part(a, b):
        seen.append((a, b))
        if a > 0:
            raise ValueError("from the second part")
    if nn_ops._team.ways < 2:
        pytest.skip("no helper threads on this machine")
    with pytest.raises(ValueError, match="second part"):
        nn_ops._team.split(part, 4, 1)
    assert sorted(seen)[0] == (0, 4 // nn_ops._team.ways)
    seen.clear()
    nn_ops._team.split(lambda a, b: seen.append((a, b)), 4, 1)  # the team still works afterwards
    assert sorted(seen)[0][0] == 0 and sorted(seen)[-1][1] == 4


def test_split_relu_and_bias_add_match_tensorflow(tf_real, ways):
    x = _rng.randn(6, 20, 16, 8).astype(np.float32)
    x.reshape(-1)[::19] = np.nan  # NaN passes through both, as in TF
    b = _rng.randn(8).astype(np.float32)

    def build(tf):
        y = tf.nn.bias_add(tf.constant(x), tf.constant(b))
        return [y, tf.nn.relu(y), tf.nn.relu(tf.constant(x))]
    assert_same(tf_real, build)


def test_team_stays_on_the_calling_thread_while_other_python_threads_run(monkeypatch):
    """Another thread might be inside OpenBLAS: its workers must not be stopped under it."""
    import threading
    monkeypatch.setattr(nn_ops._team, "MIN_BYTES", 0)
    if nn_ops._team.ways < 2:
        pytest.skip("no helper threads on this machine")
    nn_ops._team.split(lambda a, b: None, 4, 1)  # helpers started
    seen = []
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        nn_ops._team.split(lambda a, b: seen.append((a, b, threading.current_thread())), 4, 1)
    finally:
        release.set()
        other.join()
    assert seen == [(0, 4, threading.main_thread())]
    seen.clear()
    nn_ops._team.split(lambda a, b: seen.append((a, b)), 4, 1)
    assert len(seen) == nn_ops._team.ways
