"""``gather_nd`` with ``batch_dims`` (built from ops as TF builds it) and list outputs of length one."""
import numpy as np
import pytest

import deferflow as tf

PARAMS = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
CASES = {
    "one_batch_dim": (1, np.array([[[0], [2]], [[1], [0]]])),
    "two_batch_dims": (2, np.random.RandomState(0).randint(0, 4, (2, 3, 2, 1))),
    "deeper_index": (1, np.array([[[2, 1, 0]], [[0, 0, 1]]])),
}


def _run(lib, batch_dims, indices):
    with lib.Graph().as_default():
        params = lib.constant(PARAMS)
        out = lib.gather_nd(params, lib.constant(indices), batch_dims=batch_dims)
        grad = lib.gradients(lib.reduce_sum(out * out), params)[0]
        static = out.shape.as_list()
        return lib.Session().run([out, lib.convert_to_tensor(grad)]), static


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gather_nd_batch_dims_matches_tensorflow(case, dtype, tf_real):
    batch_dims, indices = CASES[case]
    (ours, our_grad), _ = _run(tf, batch_dims, indices.astype(dtype))
    (theirs, their_grad), _ = _run(tf_real, batch_dims, indices.astype(dtype))
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(our_grad, their_grad)


def test_gather_nd_batch_dims_values_without_tensorflow():
    (out, grad), _ = _run(tf, 1, np.array([[[2, 1, 0]], [[0, 0, 1]]], np.int32))
    np.testing.assert_array_equal(out, [[PARAMS[0, 2, 1, 0]], [PARAMS[1, 0, 0, 1]]])
    want = np.zeros_like(PARAMS)
    want[0, 2, 1, 0], want[1, 0, 0, 1] = 2 * PARAMS[0, 2, 1, 0], 2 * PARAMS[1, 0, 0, 1]
    np.testing.assert_array_equal(grad, want)
    with pytest.raises(ValueError, match="batch_dims = 3 must be less than rank"):
        tf.gather_nd(tf.constant(PARAMS), tf.constant(np.zeros((2, 3, 1), np.int32)), batch_dims=3)


def test_list_outputs_of_length_one_are_single_values():
    shape = tf.shape(tf.constant(np.zeros((2, 3))))[:1]
    parts = tf.unstack(shape, num=1)
    pieces = tf.split(tf.constant([1.0, 2.0]), 1)
    shapes = tf.shape_n([tf.constant([1.0, 2.0])])
    total = parts[0] * 10 + tf.size(pieces[0]) + shapes[0][0]  # each usable as a plain tensor downstream
    sess = tf.Session()
    got_parts, got_pieces, got_shapes, got_total = sess.run([parts, pieces, shapes, total])
    assert got_parts == [2] and got_total == 24
    np.testing.assert_array_equal(got_pieces[0], [1.0, 2.0])
    np.testing.assert_array_equal(got_shapes[0], [2])
