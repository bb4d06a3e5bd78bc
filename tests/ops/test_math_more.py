"""Segment reductions, dynamic_partition, unique_with_counts, bincount, tensor_scatter_nd_*, searchsorted,
histogram_fixed_width: values, static shapes, gradients and errors against TensorFlow, plus TF-free checks.
Gradient cases join GRADIENT_CASES for the registry-wide coverage test."""
import numpy as np
import pytest

import deferflow
import test_gradients as tg
from test_gradients import case, rnd

_IDS = [0, 0, 1, 3, 3, 3]
_UIDS = [2, 0, -1, 1, 0, 2]  # no empty segment: max/min would hold the dtype's extreme there
_ZEROS = np.array([[1.5, 0.0], [2.0, -1.0], [0.0, 0.0], [0.7, 3.0], [-2.0, 0.5], [1.1, 0.0]])

MATH_MORE_CASES = [
    case("segment_mean", lambda tf, x: tf.segment_mean(x, _IDS), rnd(6, 2)),
    case("segment_max", lambda tf, x: tf.segment_max(x, _IDS), rnd(6, 2)),
    case("segment_min", lambda tf, x: tf.math.segment_min(x, _IDS), rnd(6, 2)),
    case("segment_prod", lambda tf, x: tf.segment_prod(x, _IDS), rnd(6, 2)),
    case("segment_prod_zeros", lambda tf, x: tf.segment_prod(x, _IDS), _ZEROS),
    case("unsorted_segment_max", lambda tf, x: tf.unsorted_segment_max(x, _UIDS, 3), rnd(6, 2)),
    case("unsorted_segment_min", lambda tf, x: tf.unsorted_segment_min(x, _UIDS, 3), rnd(6, 2)),
    case("unsorted_segment_prod", lambda tf, x: tf.unsorted_segment_prod(x, _UIDS, 3), rnd(6, 2)),
    case("unsorted_segment_prod_zeros", lambda tf, x: tf.unsorted_segment_prod(x, _UIDS, 3), _ZEROS),
    case("unsorted_segment_mean", lambda tf, x: tf.unsorted_segment_mean(x, [[0, 2], [2, 1]], 4), rnd(2, 2, 3)),
    case("unsorted_segment_sqrt_n", lambda tf, x: tf.unsorted_segment_sqrt_n(x, _UIDS, 3), rnd(6)),
    case("dynamic_partition", lambda tf, x: tf.dynamic_partition(x, [[1, 0, 2], [0, 0, 1]], 3), rnd(2, 3, 2)),
    case("tensor_scatter_update", lambda tf, x, u: tf.tensor_scatter_nd_update(x, [[0], [2]], u), rnd(3, 2),
         rnd(2, 2)),
    case("tensor_scatter_add", lambda tf, x, u: tf.tensor_scatter_nd_add(x, [[0, 1], [2, 0], [0, 1]], u),
         rnd(3, 2), rnd(3)),
    case("tensor_scatter_sub", lambda tf, x, u: tf.tensor_scatter_nd_sub(x, [[1]], u), rnd(3, 2), rnd(1, 2)),
]
tg.GRADIENT_CASES.extend(MATH_MORE_CASES)


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", MATH_MORE_CASES, ids=lambda c: c.name)
def test_math_more_gradient_matches_finite_differences(request, c, mode):
    if tg.scheduled_elsewhere(request, c, mode):
        pytest.skip("run by test_gradients.py in this session")
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", MATH_MORE_CASES, ids=lambda c: c.name)
def test_math_more_gradient_matches_tensorflow(tf_real, c):
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-10, atol=1e-12)


def _run(tf, build, feeds, static=True):
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(v.dtype), v.shape if static else None) for v in feeds]
        out = build(tf, *phs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        with tf.Session(graph=g) as sess:
            vals = sess.run(outs, dict(zip(phs, feeds)))
    return vals, [o.shape.as_list() if o.shape.ndims is not None else None for o in outs], [o.dtype for o in outs]


_f = np.random.RandomState(3).randn(6, 2).astype(np.float32)
_i = np.array([[3, 1, 4], [1, 5, 9], [2, 6, 5], [3, 5, 8], [9, 7, 9], [3, 2, 3]], np.int32)
FORWARD = {
    "segment_mean_gap": (lambda tf, x: tf.segment_mean(x, [0, 0, 2, 2, 2, 5]), [_f]),
    "segment_max_int": (lambda tf, x: tf.segment_max(x, tf.constant([0, 1, 1, 3, 3, 3], tf.int64)), [_i]),
    "segment_min": (lambda tf, x: tf.segment_min(x, [0, 0, 0, 1, 1, 4]), [_f]),
    "segment_prod_int": (lambda tf, x: tf.segment_prod(x, [1, 1, 1, 2, 2, 2]), [_i]),
    "unsorted_max_empty": (lambda tf, x: tf.unsorted_segment_max(x, [0, 4, 0, -1, 2, 2], 5), [_f]),
    "unsorted_min_int": (lambda tf, x: tf.unsorted_segment_min(x, [0, 3, 0, 1, 1, 1], 5), [_i]),
    "unsorted_prod": (lambda tf, x: tf.unsorted_segment_prod(x, [0, 3, 0, 1, -1, 1], 5), [_f]),
    "unsorted_mean": (lambda tf, x: tf.unsorted_segment_mean(x, [0, 3, 0, 1, 1, 1], 5), [_f]),
    "unsorted_sqrt_n": (lambda tf, x: tf.unsorted_segment_sqrt_n(x, [0, 3, 0, 1, 1, 1], 5), [_f]),
    "dynamic_partition": (lambda tf, x: tf.dynamic_partition(x, [1, 0, 1, 1, 3, 0], 4), [_i]),
    "unique_with_counts": (lambda tf, x: tuple(tf.unique_with_counts(x)), [np.array([4, 1, 4, 4, 2, 1])]),
    "unique_with_counts64": (lambda tf, x: tuple(tf.unique_with_counts(x, out_idx=tf.int64)),
                             [np.array([0.5, 0.5, -1.0], np.float32)]),
    "bincount": (lambda tf, x: tf.bincount(x), [np.array([1, 1, 3, 0, 7], np.int32)]),
    "bincount_2d_min": (lambda tf, x: tf.bincount(x, minlength=12), [_i]),
    "bincount_weights_max": (lambda tf, x, w: tf.bincount(x, weights=w, maxlength=4),
                             [np.array([1, 1, 3, 0, 7], np.int32), np.arange(5, dtype=np.float32)]),
    "bincount_empty": (lambda tf, x: tf.bincount(x, dtype=tf.float32), [np.zeros([0], np.int32)]),
    "scatter_update": (lambda tf, x: tf.tensor_scatter_nd_update(x, [[1], [3]], [[7, 8, 9], [1, 2, 3]]), [_i]),
    "scatter_add": (lambda tf, x: tf.tensor_scatter_add(x, [[1, 1], [1, 1]], [10, 20]), [_i]),
    "scatter_sub": (lambda tf, x: tf.tensor_scatter_nd_sub(x, [[0, 0]], [1.5]), [_f]),
    "searchsorted_left": (lambda tf, s, v: tf.searchsorted(s, v), [np.sort(_f, axis=1),
                                                                   np.array([[0.0, 5.0, -9.0]] * 6, np.float32)]),
    "searchsorted_right_1d": (lambda tf, s, v: tf.searchsorted(s, v, side="right", out_type=tf.int64),
                              [np.array([1, 2, 2, 3], np.int32), np.array([2, 0, 3, 4], np.int32)]),
    "histogram": (lambda tf, x: tf.histogram_fixed_width(x, [-1.0, 1.0], nbins=5), [_f]),
    "histogram_int64": (lambda tf, x: tf.histogram_fixed_width(x, [0, 8], nbins=4, dtype=tf.int64), [_i]),
}


@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("name", sorted(FORWARD))
def test_forward_same_as_tensorflow(tf_real, name, static):
    build, feeds = FORWARD[name]
    ours, theirs = _run(deferflow, build, feeds, static), _run(tf_real, build, feeds, static)
    assert ours[1] == theirs[1]
    assert [d.name for d in ours[2]] == [d.name for d in theirs[2]]
    for a, b in zip(ours[0], theirs[0]):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("build,feeds", [
    (lambda tf, x: tf.segment_max(x, [1, 0]), [np.ones([2], np.float32)]),
    (lambda tf, x: tf.unsorted_segment_max(x, [0, 5], 3), [np.ones([2], np.float32)]),
    (lambda tf, x: tf.dynamic_partition(x, [0, 2], 2), [np.ones([2], np.float32)]),
    (lambda tf, x: tf.bincount(x), [np.array([1, -1], np.int32)]),
    (lambda tf, x: tf.tensor_scatter_nd_update(x, [[5]], [1.0]), [np.ones([2], np.float32)]),
    (lambda tf, x: tf.histogram_fixed_width(x, [1.0, 0.0]), [np.ones([2], np.float32)]),
])
def test_runtime_errors_as_tensorflow(tf_real, build, feeds):
    for tf in (deferflow, tf_real):
        with pytest.raises(tf.errors.InvalidArgumentError):
            _run(tf, build, feeds, static=False)


def test_static_errors_as_tensorflow(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default(), pytest.raises(ValueError, match="Argument `side` must be either"):
            tf.searchsorted([1, 2], [1], side="middle")


def test_without_tf():
    vals, shapes, _ = _run(deferflow, lambda tf, x: [tf.segment_max(x, [0, 0, 2]), tf.unsorted_segment_prod(
        x, [1, 1, 0], 3), *tf.dynamic_partition(x, [1, 0, 1], 2), tf.bincount(tf.cast(x, tf.int32))],
        [np.array([2.0, 5.0, 3.0])])
    np.testing.assert_array_equal(vals[0], [5.0, 0.0, 3.0])
    np.testing.assert_array_equal(vals[1], [3.0, 10.0, 1.0])
    np.testing.assert_array_equal(vals[2], [5.0])
    np.testing.assert_array_equal(vals[3], [2.0, 3.0])
    np.testing.assert_array_equal(vals[4], [0, 0, 1, 1, 0, 1])
    assert shapes[0] == [None] and shapes[1] == [3]
