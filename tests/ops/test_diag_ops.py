"""Diagonals (MatrixDiagV3, MatrixDiagPartV3, MatrixSetDiagV3, Diag, DiagPart), tf.eye, tf.trace and
tf.confusion_matrix: graphs op for op, values and gradients against TensorFlow, plus TF-free checks. The
gradient cases join GRADIENT_CASES for the registry-wide coverage test."""
import numpy as np
import pytest

import deferflow
import test_gradients as tg
from test_gradients import case, rnd

DIAG_CASES = [
    case("diag_matrix_diag", lambda tf, x: tf.matrix_diag(x), rnd(2, 3)),
    case("diag_matrix_diag_part", lambda tf, x: tf.matrix_diag_part(x), rnd(2, 3, 4)),
    case("diag_matrix_set_diag", lambda tf, x, d: tf.matrix_set_diag(x, d), rnd(2, 3, 3), rnd(2, 3)),
    case("diag_diag", lambda tf, x: tf.diag(x), rnd(2, 2)),
    case("diag_diag_part", lambda tf, x: tf.diag_part(x), rnd(3, 3)),
    case("diag_trace", lambda tf, x: tf.trace(x), rnd(2, 3, 3)),
]
tg.GRADIENT_CASES.extend(DIAG_CASES)

GRAPHS = {
    "eye": lambda tf: tf.eye(3),
    "eye_batched_wide": lambda tf: tf.eye(2, 3, batch_shape=[4], dtype=tf.int32),
    "matrix_diag": lambda tf: tf.matrix_diag(tf.constant([[1.0, 2.0]])),
    "matrix_diag_part": lambda tf: tf.matrix_diag_part(tf.constant(np.arange(24.0).reshape(2, 3, 4))),
    "matrix_set_diag": lambda tf: tf.matrix_set_diag(tf.ones([3, 3]), tf.constant([1.0, 2.0, 3.0])),
    "diag": lambda tf: tf.diag(tf.constant([[1.0, 2.0], [3.0, 4.0]])),
    "diag_part": lambda tf: tf.diag_part(tf.constant(np.arange(16.0).reshape(2, 2, 2, 2))),
    "trace": lambda tf: tf.trace(tf.constant(np.arange(18.0).reshape(2, 3, 3))),
    "linalg_names": lambda tf: tf.linalg.diag_part(tf.linalg.set_diag(tf.linalg.diag(tf.ones([2, 2])),
                                                                       tf.zeros([2, 2]))),
}


def _run(lib, build):
    with lib.Graph().as_default() as g:
        t = build(lib)
        return t.shape.as_list(), t.dtype.name, [(o.name, o.type) for o in g.get_operations()], lib.Session().run(t)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_and_values_match_tensorflow(name, tf_real):
    ours, theirs = _run(deferflow, GRAPHS[name]), _run(tf_real, GRAPHS[name])
    assert ours[:3] == theirs[:3]
    np.testing.assert_array_equal(ours[3], theirs[3])


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", DIAG_CASES, ids=lambda c: c.name)
def test_diag_gradient_matches_finite_differences(request, c, mode):
    if tg.scheduled_elsewhere(request, c, mode):
        pytest.skip("run by test_gradients.py in this session")
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", DIAG_CASES, ids=lambda c: c.name)
def test_diag_gradient_matches_tensorflow(tf_real, c):
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-10, atol=1e-12)


def test_confusion_matrix_matches_tensorflow(tf_real):
    labels, predictions = [0, 1, 2, 1, 4], [0, 2, 2, 1, 3]
    out = []
    for lib in (deferflow, tf_real):
        with lib.Graph().as_default():
            out.append(lib.Session().run([
                lib.confusion_matrix(labels, predictions),
                lib.confusion_matrix(labels, predictions, num_classes=6, weights=[1.0, 2.0, 3.0, 4.0, 5.0],
                                     dtype=lib.float32)]))
    for a, b in zip(*out):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_without_tensorflow():
    tf = deferflow
    x = np.arange(24.0).reshape(2, 3, 4)
    sess = tf.Session()
    np.testing.assert_array_equal(sess.run(tf.matrix_diag_part(x)), np.diagonal(x, axis1=-2, axis2=-1))
    np.testing.assert_array_equal(sess.run(tf.eye(2, 3)), np.eye(2, 3))
    np.testing.assert_array_equal(sess.run(tf.trace(x[:, :3, :3])), np.trace(x[:, :3, :3], axis1=1, axis2=2))
    np.testing.assert_array_equal(sess.run(tf.confusion_matrix([1, 0, 1], [1, 1, 1])), [[0, 1], [0, 2]])
    with pytest.raises(tf.errors.UnimplementedError, match="k = \\[1\\]"):
        sess.run(tf.matrix_diag_part(x, k=1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="diagonal must have shape \\[2, 3\\]"):
        sess.run(tf.matrix_set_diag(tf.placeholder_with_default(x, None), np.ones((2, 4))))
