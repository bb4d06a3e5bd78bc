"""tf.lgamma, tf.digamma, tf.polygamma and tf.zeta (NumPy series, no SciPy): values against TensorFlow in
float64 including negative arguments and poles, gradients (finite differences and TF's), and TF-free
identities. The gradient cases join GRADIENT_CASES for the registry-wide coverage test."""
import math

import numpy as np
import pytest

import deferflow
import test_gradients as tg
from test_gradients import case

_POS = np.array([[0.6, 1.3, 2.5], [4.0, 7.5, 11.0]])
SPECIAL_CASES = [
    case("special_lgamma", lambda tf, x: tf.lgamma(x), _POS),
    case("special_digamma", lambda tf, x: tf.digamma(x), _POS),
    case("special_polygamma", lambda tf, x: tf.polygamma(tf.constant(np.ones((2, 3))), x), _POS),
    case("special_zeta", lambda tf, q: tf.zeta(tf.constant(np.full((2, 3), 3.0)), q), _POS),
]
tg.GRADIENT_CASES.extend(SPECIAL_CASES)

X = np.array([0.3, 1.0, 2.5, 7.0, 30.0, -0.5, -2.0, -2.7, 0.0, 1e-3, 150.0])
A = np.array([1.0, 2.0, 3.0, 0.0, 1.0, 1.5, 1.0, 2.0, 4.0])
AX = np.array([0.5, 1.0, 4.0, 2.0, -1.5, 1.0, -12.5, -3.0, 0.25])
ZX = np.array([2.0, 3.0, 1.5, 1.0, 0.5, 2.0, 3.0, 7.0, 1.01])
ZQ = np.array([1.0, 0.5, 3.0, 1.0, 1.0, -2.5, -1.0, 0.1, 2.0])


def _values(lib):
    with lib.Graph().as_default():
        return lib.Session().run([lib.lgamma(lib.constant(X)), lib.digamma(lib.constant(X)),
                                  lib.polygamma(lib.constant(A), lib.constant(AX)),
                                  lib.zeta(lib.constant(ZX), lib.constant(ZQ))])


def test_values_match_tensorflow(tf_real):
    for ours, theirs in zip(_values(deferflow), _values(tf_real)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", SPECIAL_CASES, ids=lambda c: c.name)
def test_special_gradient_matches_finite_differences(request, c, mode):
    if tg.scheduled_elsewhere(request, c, mode):
        pytest.skip("run by test_gradients.py in this session")
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", SPECIAL_CASES, ids=lambda c: c.name)
def test_special_gradient_matches_tensorflow(tf_real, c):
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-8, atol=1e-10)


def test_identities_without_tensorflow():
    lg, dg, pg, zt = _values(deferflow)
    np.testing.assert_allclose(lg[:5], [math.lgamma(v) for v in X[:5]], rtol=1e-12)
    assert lg[6] == np.inf and np.isnan(dg[6])  # the pole at -2
    np.testing.assert_allclose(dg[1], -0.5772156649015329, rtol=1e-12)  # -Euler's constant
    np.testing.assert_allclose(zt[0], np.pi ** 2 / 6, rtol=1e-12)
    np.testing.assert_allclose(pg[0], np.pi ** 2 / 2, rtol=1e-12)  # trigamma(1/2)
    with deferflow.Graph().as_default():
        x = deferflow.constant(np.float32(2.5))
        assert deferflow.lgamma(x).dtype == deferflow.float32
        assert deferflow.gradients(deferflow.polygamma(deferflow.constant(1.0), x), x)[0] is not None
