"""tf.erfc, tf.roll and tf.matrix_band_part: values, static shapes and gradients against TensorFlow, plus
TF-free checks. Their gradient cases join GRADIENT_CASES for the registry-wide coverage test."""
import numpy as np
import pytest

import deferflow
import test_gradients as tg
from test_gradients import case, rnd

MATH_GAP_CASES = [
    case("gap_erfc", lambda tf, x: tf.erfc(x), rnd(2, 3)),
    case("gap_roll", lambda tf, x: tf.roll(x, [1, -2], [0, 1]), rnd(3, 4)),
    case("gap_matrix_band_part", lambda tf, x: tf.matrix_band_part(x, 1, 0), rnd(2, 3, 4)),
]
tg.GRADIENT_CASES.extend(MATH_GAP_CASES)


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", MATH_GAP_CASES, ids=lambda c: c.name)
def test_math_gap_gradient_matches_finite_differences(request, c, mode):
    if tg.scheduled_elsewhere(request, c, mode):
        pytest.skip("run by test_gradients.py in this session")
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", MATH_GAP_CASES, ids=lambda c: c.name)
def test_math_gap_gradient_matches_tensorflow(tf_real, c):
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-9, atol=1e-11)


def _run(tf, build, feeds):
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(v.dtype), v.shape) for v in feeds]
        out = build(tf, *phs)
        with tf.Session(graph=g) as sess:
            return sess.run(out, dict(zip(phs, feeds))), out.shape.as_list(), out.op.type


FORWARD = {
    "erfc": (lambda tf, x: tf.erfc(x), [np.linspace(-3, 3, 12).reshape(3, 4).astype(np.float32)]),
    "roll_int": (lambda tf, x: tf.roll(x, 2, 0), [np.arange(5, dtype=np.int64)]),
    "roll_multi": (lambda tf, x: tf.roll(x, [1, 3, -1], [0, 1, 0]), [np.arange(12, dtype=np.float32).reshape(3, 4)]),
    "band_lower": (lambda tf, x: tf.matrix_band_part(x, -1, 0), [np.arange(12, dtype=np.int32).reshape(3, 4)]),
    "band_upper": (lambda tf, x: tf.linalg.band_part(x, 0, 2), [np.ones([2, 4, 3], np.float64)]),
}


@pytest.mark.parametrize("name", sorted(FORWARD))
def test_forward_same_as_tensorflow(tf_real, name):
    build, feeds = FORWARD[name]
    ours, theirs = _run(deferflow, build, feeds), _run(tf_real, build, feeds)
    assert ours[1:] == theirs[1:]
    assert ours[0].dtype == theirs[0].dtype
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)


def test_without_tf():
    v, _, _ = _run(deferflow, lambda tf, x: tf.matrix_band_part(x, 0, 0), [np.arange(9.0).reshape(3, 3)])
    np.testing.assert_array_equal(v, np.diag([0.0, 4.0, 8.0]))
    v, _, _ = _run(deferflow, lambda tf, x: tf.roll(x, 1, 0), [np.arange(4)])
    np.testing.assert_array_equal(v, [3, 0, 1, 2])
    v, _, _ = _run(deferflow, lambda tf, x: tf.erfc(x), [np.array([0.0, 1.0])])
    np.testing.assert_allclose(v, [1.0, 0.157299207050285], rtol=1e-12)
