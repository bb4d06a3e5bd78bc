"""Array ops against real TensorFlow: values, dtypes, static shapes and op names, table-driven."""
import numpy as np
import pytest

import deferflow
from oprun import assert_same, error_of

A = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7.5
M = np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], dtype=np.float32)
V = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.int32)


def _reshaping(tf):
    a, m = tf.constant(A), tf.constant(M)
    return [tf.transpose(m), tf.transpose(a, [2, 0, 1]), tf.transpose(a, perm=[1, 0, 2], name="t"),
            tf.matrix_transpose(a), tf.linalg.transpose(a), tf.expand_dims(m, 0), tf.expand_dims(m, -1),
            tf.expand_dims(m, dim=1), tf.squeeze(tf.constant(np.zeros([1, 2, 1, 3], np.int64))),
            tf.squeeze(tf.zeros([1, 2, 1]), [2]), tf.squeeze(tf.zeros([1, 2, 1]), axis=[0, -1]),
            tf.reshape(a, [4, -1]), tf.reshape(a, [-1]), tf.reshape(m, [3, 2], name="r")]


def _concat_stack_split(tf):
    a, m = tf.constant(A), tf.constant(M)
    s1 = tf.split(a, 2, axis=2)
    s2 = tf.split(a, [1, -1, 2], 2)
    s3 = tf.split(m, tf.constant([1, 2]), axis=1)
    u = tf.unstack(a, axis=1)
    return [tf.concat([m, m], 0), tf.concat([m, -m, m], -1), tf.concat([m], 1), tf.concat([a, a], axis=1),
            tf.stack([m, m]), tf.stack([m, -m], axis=-1), tf.stack([1, 2, 3]), tf.stack([[1.0], [2.0]], axis=1),
            s1[0], s1[1], s2[0], s2[1], s2[2], s3[1], u[0], u[2], tf.unstack(m)[1]]


def _slicing(tf):
    a = tf.constant(A)
    m = tf.constant(M)
    return [a[0], a[-1, 1], a[:, 1:], a[..., 2], a[1, ..., 1:3], a[:, tf.newaxis, ::2], a[::-1, ::-2, 1::3],
            a[None, ..., None], a[1:100], a[-100:1], a[:, 0, -1], a[0, :, tf.newaxis, 1], a[..., ::-1],
            a[:, 2:0:-1], a[tf.constant(1)], a[:, :tf.constant(2)], m[tf.constant([True, False])],
            m[tf.constant([[True, False, True], [False, False, True]])], a[:], a[...],
            tf.slice(a, [0, 1, 1], [2, 2, -1]), tf.slice(m, [1, 0], [-1, 2]),
            tf.strided_slice(a, [0, 0], [2, 3], [1, 2]), tf.strided_slice(a, [1], [2], shrink_axis_mask=1)]


def _gathers(tf):
    a, m = tf.constant(A), tf.constant(M)
    return [tf.gather(a, [1, 0, 1]), tf.gather(a, [[2, 0], [1, 1]], axis=1), tf.gather(a, 3, axis=-1),
            tf.gather(m, tf.constant([2, 0], tf.int64), axis=1), tf.gather(a, [[0], [1]], axis=1, batch_dims=1),
            tf.gather_nd(a, [[0, 1], [1, 2]]), tf.gather_nd(a, [[[1, 2, 3]], [[0, 0, 0]]]), tf.gather_nd(m, [1]),
            tf.scatter_nd([[1], [3], [1]], [1.0, 2.0, 3.0], [5]),
            tf.scatter_nd([[0, 1], [1, 0]], tf.constant([[1, 2], [3, 4]]), [2, 2, 2]),
            tf.boolean_mask(m, [True, False]), tf.boolean_mask(a, [[True, False, True], [False, True, True]]),
            tf.boolean_mask(a, [False, True, True, False], axis=2), tf.where(m > 0),
            tf.dynamic_stitch([[0, 2], [1, 3]], [[1.0, 2.0], [3.0, 4.0]]),
            tf.dynamic_stitch([[1, 0], [0]], [m, -m[:1]]), tf.unsorted_segment_sum(m, [1, 1], 2)]


def _padding_tiling(tf):
    m = tf.constant(M)
    i = tf.constant(V.reshape(2, 4))
    return [tf.tile(m, [2, 3]), tf.tile(i, tf.constant([1, 2])), tf.pad(m, [[1, 0], [0, 2]]),
            tf.pad(i, [[1, 1], [1, 1]], constant_values=-1), tf.pad(m, [[1, 1], [2, 2]], mode="REFLECT"),
            tf.pad(m, [[1, 1], [3, 2]], mode="symmetric"), tf.reverse(m, [1]), tf.reverse(m, [0, -1]),
            tf.reverse_v2(i, [0]), tf.broadcast_to(m, [2, 2, 3]), tf.broadcast_to(tf.constant([1, 2]), [3, 2])]


def _shapes(tf):
    a = tf.constant(A)
    p = tf.placeholder(tf.float32, [None, 3], name="p")
    u = tf.placeholder(tf.int32, name="u")
    sn = tf.shape_n([a, p])
    return ([tf.shape(a), tf.shape(p), tf.shape(u), tf.shape(a, out_type=tf.int64), tf.size(a), tf.size(p),
             tf.size(u, out_type=tf.int64), tf.rank(a), tf.rank(u), sn[0], sn[1], tf.zeros_like(p),
             tf.ones_like(u), tf.reshape(p, [-1]), tf.expand_dims(u, 0), tf.transpose(u), tf.concat([p, p], 1),
             tf.tile(p, [1, 2]), tf.gather(p, [0]), p[1:, 0], tf.stack([p, p], 1), tf.squeeze(p),
             tf.broadcast_to(p, tf.shape(p)), tf.pad(p, [[0, 1], [1, 0]]), tf.reverse(u, [0]),
             tf.unstack(p, num=2)[1], tf.one_hot(u, 3), tf.sequence_mask(u), tf.boolean_mask(p, p[:, 0] > 0)],
            {"p:0": M.repeat(1, 0), "u:0": np.array([2, 0, 1], np.int32)})


def _creation(tf):
    idx = tf.constant([0, 2, -1, 1])
    return [tf.one_hot(idx, 3), tf.one_hot(idx, 3, axis=0), tf.one_hot(idx, 3, on_value=5, off_value=-1),
            tf.one_hot(tf.constant([[0, 1]], tf.int64), 4, dtype=tf.float64), tf.one_hot(idx, 2, 1.0, 0.0),
            tf.sequence_mask([1, 3, 2], 5), tf.sequence_mask(tf.constant([[1, 2], [0, 3]])),
            tf.sequence_mask([2, 1], 3, dtype=tf.float32), tf.zeros([2, 3], tf.int32), tf.ones([3]),
            tf.fill([2, 2], 7), tf.zeros([1200]), tf.identity_n([tf.constant(1), tf.constant([2.0])])[1],
            tf.invert_permutation([2, 0, 1]), tf.meshgrid([1, 2, 3], [4, 5])[0], tf.meshgrid([1, 2, 3], [4, 5])[1],
            tf.meshgrid([1.0, 2.0], [3.0, 4.0, 5.0], indexing="ij")[1], tf.stop_gradient(tf.constant(M)),
            tf.check_numerics(tf.constant(M), "m"), tf.ensure_shape(tf.constant(M), [2, None])]


def _unique_topk(tf):
    v = tf.constant(V)
    u = tf.unique(v)
    u64 = tf.unique(tf.constant([2.0, 1.0, 2.0]), out_idx=tf.int64)
    t = tf.nn.top_k(tf.constant([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0]]), 3)
    ti = tf.math.top_k(v, k=4)
    d = tf.setdiff1d([1, 2, 3, 4], [2, 4])
    return [u.y, u.idx, u[0], u64.idx, t.values, t.indices, ti.values, ti.indices, d[0], d[1]]


FORWARD_CASES = [_reshaping, _concat_stack_split, _slicing, _gathers, _padding_tiling, _shapes, _creation,
                 _unique_topk]


@pytest.mark.parametrize("build", FORWARD_CASES, ids=lambda f: f.__name__.strip("_"))
def test_same_as_tensorflow(tf_real, build):
    assert_same(tf_real, build)


def _exact_names(tf):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    u = tf.placeholder(tf.float32, [None, 3], name="u")
    return ([tf.transpose(x), tf.expand_dims(x, 0), tf.tile(x, [1, 2]), tf.pad(x, [[1, 1], [0, 0]]),
             tf.gather(x, [1]), tf.one_hot([1, 2], 3), tf.split(x, 3, 1)[0], tf.split(x, [1, 2], 1)[1],
             tf.unstack(x)[0], tf.reverse(x, [1]), tf.slice(x, [0, 0], [1, 2]), x[1, ::2], tf.concat([x, x], 0),
             tf.shape(x), tf.shape(u), tf.size(x), tf.rank(u), tf.broadcast_to(x, [2, 2, 3]),
             tf.sequence_mask([1, 2], 3), tf.boolean_mask(x, [True, False])],
            {"x:0": M, "u:0": M})


def test_graph_structure_same_as_tensorflow(tf_real):
    assert_same(tf_real, _exact_names, exact_graph=True)


ERROR_CASES = {
    "gather_out_of_range": lambda tf: tf.gather(tf.zeros([3]), [0, 3]),
    "gather_negative": lambda tf: tf.gather(tf.zeros([3]), [-1]),
    "gather_nd_out_of_range": lambda tf: tf.gather_nd(tf.zeros([2, 2]), [[0, 2]]),
    "concat_rank_mismatch": lambda tf: tf.concat([tf.zeros([2]), tf.zeros([2, 2])], 0),
    "concat_dim_mismatch": lambda tf: tf.concat([tf.zeros([2, 3]), tf.zeros([2, 2])], 0),
    "concat_runtime_mismatch": lambda tf: (tf.concat([tf.placeholder(tf.float32, [None, None], name="a"),
                                                      tf.zeros([2, 2])], 0), {"a:0": np.zeros([1, 3], np.float32)}),
    "split_uneven": lambda tf: tf.split(tf.zeros([5]), 2),
    "split_sizes_mismatch": lambda tf: tf.split(tf.zeros([5]), [2, 2]),
    "split_runtime_uneven": lambda tf: (tf.split(tf.placeholder(tf.float32, [None], name="a"), 2),
                                        {"a:0": np.zeros(3, np.float32)}),
    "squeeze_non_one": lambda tf: tf.squeeze(tf.zeros([2, 3]), [0]),
    "squeeze_runtime_non_one": lambda tf: (tf.squeeze(tf.placeholder(tf.float32, [None], name="a"), [0]),
                                           {"a:0": np.zeros(3, np.float32)}),
    "reshape_bad_size": lambda tf: tf.reshape(tf.zeros([2, 3]), [4, 2]),
    "transpose_bad_perm": lambda tf: tf.transpose(tf.zeros([2, 3]), [0, 0]),
    "expand_dims_bad_axis": lambda tf: tf.expand_dims(tf.zeros([2, 3]), 4),
    "slice_index_out_of_range": lambda tf: tf.zeros([2, 3])[5],
    "slice_index_runtime_out_of_range": lambda tf: (tf.placeholder(tf.float32, [None], name="a")[3],
                                                    {"a:0": np.zeros(2, np.float32)}),
    "slice_size_too_large": lambda tf: tf.slice(tf.zeros([2, 3]), [1, 0], [2, 3]),
    "bad_index_type": lambda tf: tf.zeros([2, 3])[1.5],
    "shrink_with_stride": lambda tf: tf.strided_slice(tf.zeros([2, 3]), [1], [0], [-1], shrink_axis_mask=1),
    "stack_shape_mismatch": lambda tf: tf.stack([tf.zeros([2]), tf.zeros([3])]),
    "unstack_unknown_num": lambda tf: tf.unstack(tf.placeholder(tf.float32, [None, 2])),
    "tile_wrong_length": lambda tf: tf.tile(tf.zeros([2, 3]), [2]),
    "pad_reflect_too_big": lambda tf: tf.pad(tf.zeros([2, 3]), [[2, 0], [0, 0]], mode="REFLECT"),
    "pad_bad_mode": lambda tf: tf.pad(tf.zeros([2, 3]), [[1, 0], [0, 0]], mode="WRAP"),
    "broadcast_to_incompatible": lambda tf: tf.broadcast_to(tf.zeros([2, 3]), [3, 3]),
    "one_hot_dtype_mismatch": lambda tf: tf.one_hot([1], 3, on_value=1, off_value=0.0),
    "top_k_too_large": lambda tf: tf.nn.top_k(tf.zeros([2, 3]), 4),
    "unique_2d": lambda tf: tf.unique(tf.zeros([2, 2])),
    "invert_not_permutation": lambda tf: tf.invert_permutation([0, 0]),
    "check_numerics_nan": lambda tf: tf.check_numerics(tf.constant([np.nan]), "found"),
    "boolean_mask_scalar": lambda tf: tf.boolean_mask(tf.zeros([2]), True),
    "ensure_shape_runtime": lambda tf: (tf.ensure_shape(tf.placeholder(tf.float32, name="a"), [2]),
                                        {"a:0": np.zeros(3, np.float32)}),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_errors_same_as_tensorflow(tf_real, name):
    ours = error_of(deferflow, ERROR_CASES[name])
    theirs = error_of(tf_real, ERROR_CASES[name])
    assert theirs is not None, "TF accepts this: the case is wrong"
    assert ours == theirs


def test_check_numerics_message():
    with deferflow.Session() as s:
        with pytest.raises(deferflow.errors.InvalidArgumentError, match="found : Tensor had NaN values"):
            s.run(deferflow.check_numerics(deferflow.constant([np.nan]), "found"))


def test_kernels_do_not_modify_inputs():
    """State arrays are read-only: kernels that write (scatter, stitch, pad grads) must copy."""
    import deferflow as tf
    x = tf.placeholder(tf.float32, [3, 3])
    y = tf.pad(x, [[1, 1], [2, 1]], mode="REFLECT")
    g = tf.gradients(tf.reduce_sum(y * y), x)[0]
    outs = [g, tf.dynamic_stitch([[0, 1], [1]], [x[:2], x[2:]]), tf.scatter_nd([[0], [0]], x[:2], [3, 3]),
            tf.strided_slice(x, [0], [3], [2]), tf.add_n([x, x, x])]
    val = np.arange(9, dtype=np.float32).reshape(3, 3)
    val.flags.writeable = False
    with tf.Session() as s:
        s.run(outs, {x: val})
