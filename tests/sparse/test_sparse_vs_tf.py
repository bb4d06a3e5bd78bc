"""Sparse ops against real TensorFlow (compat.v1): values, gradients, static shapes and error messages."""
import numpy as np
import pytest

import deferflow

RNG = np.random.RandomState(7)


def _same(ours, theirs, rtol=1e-5, atol=1e-6):
    if isinstance(theirs, (tuple, list)):
        assert type(ours).__name__ == type(theirs).__name__ and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b, rtol, atol)
        return
    a, b = np.asarray(ours), np.asarray(theirs)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _both(tf_real, build, **tol):
    """Runs ``build(tf) -> (fetches, feed_dict)`` in deferflow and in TensorFlow and compares the results."""
    out, static = [], []
    for mod in (deferflow, tf_real):
        with mod.Graph().as_default() as g:
            fetches, feed, *info = build(mod)  # info: static facts (shapes) compared as they are
            static.append(info)
            with mod.Session(graph=g) as sess:
                sess.run(mod.global_variables_initializer())
                out.append(sess.run(fetches, feed))
    _same(out[0], out[1], **tol)
    assert static[0] == static[1]
    return out[0]


def _rand_sparse(shape, n, ordered=True, unique=True, seed=0):
    rng = np.random.RandomState(seed)
    size = int(np.prod(shape))
    flat = rng.choice(size, n, replace=not unique)
    if ordered:
        flat = np.sort(flat)
    idx = np.stack(np.unravel_index(flat, shape), axis=1).astype(np.int64)
    return idx, rng.randn(n).astype(np.float32), np.array(shape, np.int64)


def _grads(tf, ys, xs):
    return [tf.convert_to_tensor(g) for g in tf.gradients(ys, xs)]


# --- values and gradients ------------------------------------------------------------------------
@pytest.mark.parametrize("validate", [True, False])
def test_to_dense_and_its_gradients(tf_real, validate):
    idx, vals, shape = _rand_sparse([3, 4, 5], 12)
    w = RNG.randn(3, 4, 5).astype(np.float32)

    def build(tf):
        v = tf.Variable(vals)
        d = tf.Variable(np.float32(0.5))
        dense = tf.sparse_to_dense(idx, shape, v, d, validate_indices=validate)
        sp_dense = tf.sparse.to_dense(tf.SparseTensor(idx, v, shape), default_value=-1.0)
        loss = tf.reduce_sum(dense * w) + tf.reduce_sum(sp_dense * w)
        return [dense, sp_dense] + _grads(tf, loss, [v, d]), None
    _both(tf_real, build)


def test_sparse_to_dense_vector_and_scalar_forms(tf_real):
    def build(tf):
        return [tf.sparse_to_dense([1, 3], [5], 7), tf.sparse_to_dense([[0, 1], [2, 0]], [3, 2], 1.5, -1.0),
                tf.sparse_to_dense(2, [4], 9.0), tf.sparse_to_dense(np.array([1, 2], np.int64), [4], [3, 4])], None
    _both(tf_real, build)


@pytest.mark.parametrize("adjoint_a", [False, True])
@pytest.mark.parametrize("adjoint_b", [False, True])
def test_sparse_dense_matmul_and_gradients(tf_real, adjoint_a, adjoint_b):
    idx, vals, shape = _rand_sparse([6, 5], 11, ordered=False)
    idx = np.concatenate([idx, idx[:2]])  # repeated entries add up
    vals = np.concatenate([vals, [1.5, -2.0]]).astype(np.float32)
    a_rows, a_cols = (5, 6) if adjoint_a else (6, 5)
    b = RNG.randn(*((3, a_cols) if adjoint_b else (a_cols, 3))).astype(np.float32)

    def build(tf):
        v, bv = tf.Variable(vals), tf.Variable(b)
        sp = tf.SparseTensor(idx, v, shape)
        y = tf.sparse_tensor_dense_matmul(sp, bv, adjoint_a=adjoint_a, adjoint_b=adjoint_b)
        assert y.shape.as_list() == [a_rows, 3]
        loss = tf.reduce_sum(tf.sin(y))
        return [y] + _grads(tf, loss, [v, bv]), None
    _both(tf_real, build)


def test_matmul_with_the_sparse_operand_on_the_right_and_placeholders(tf_real):
    idx, vals, shape = _rand_sparse([5, 4], 7, seed=3)
    x = RNG.randn(2, 5).astype(np.float64)

    def build(tf):
        sp = tf.sparse_placeholder(tf.float64, name="sp")
        xv = tf.placeholder(tf.float64, [None, 5])
        y = tf.sparse.sparse_dense_matmul(xv, sp)  # dense @ sparse, as TF composes it
        z = tf.sparse.matmul(sp, tf.transpose(xv), adjoint_a=True)
        return [y, z], {sp: tf.SparseTensorValue(idx, vals.astype(np.float64), shape), xv: x}
    _both(tf_real, build)


def test_sparse_add_sparse_plus_dense_and_sparse_plus_sparse(tf_real):
    a_idx, a_vals, shape = _rand_sparse([4, 5], 8, seed=1)
    b_idx, b_vals, _ = _rand_sparse([4, 5], 9, seed=2)
    b_vals[:3] = 0.01
    dense = RNG.randn(4, 5).astype(np.float32)
    w = RNG.randn(4, 5).astype(np.float32)

    def build(tf):
        av, bv, dv = tf.Variable(a_vals), tf.Variable(b_vals), tf.Variable(dense)
        a, b = tf.SparseTensor(a_idx, av, shape), tf.SparseTensor(b_idx, bv, shape)
        sd = tf.sparse_add(a, dv)
        ds = tf.sparse.add(dv, b)
        ss = tf.sparse_add(a, b, threshold=0.05)
        ss_dense = tf.sparse.to_dense(ss)
        loss = tf.reduce_sum(sd * w) + tf.reduce_sum(ds * w * w) + tf.reduce_sum(tf.square(ss.values))
        return [sd, ds, ss, ss_dense] + _grads(tf, loss, [av, bv, dv]), None
    _both(tf_real, build)


def test_sparse_add_merges_unordered_inputs_as_tf_does(tf_real):
    def build(tf):
        a = tf.SparseTensor([[1, 1], [0, 0], [2, 3]], [1.0, 2.0, 3.0], [3, 4])
        b = tf.SparseTensor([[0, 0], [1, 1], [1, 1]], [10.0, 20.0, 30.0], [3, 4])
        return tf.sparse_add(a, b), None
    _both(tf_real, build)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, [0, 2], [2, 1, 0]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sparse_reduce_sum_and_gradient(tf_real, axis, keepdims):
    idx, vals, shape = _rand_sparse([3, 4, 2], 10, seed=4)

    def build(tf):
        v = tf.Variable(vals)
        r = tf.sparse_reduce_sum(tf.SparseTensor(idx, v, shape), axis=axis, keepdims=keepdims)
        w = tf.constant(np.arange(1, 1 + max(int(np.prod(r.shape.as_list())), 1), dtype=np.float32))
        loss = tf.reduce_sum(tf.reshape(r, [-1]) * w)
        return [r] + _grads(tf, loss, [v]), None, r.shape.as_list()
    _both(tf_real, build)


def test_reorder_values_and_gradient(tf_real):
    idx, vals, shape = _rand_sparse([4, 3, 5], 13, ordered=False, seed=5)
    w = RNG.randn(13).astype(np.float32)

    def build(tf):
        v = tf.Variable(vals)
        r = tf.sparse_reorder(tf.SparseTensor(idx, v, shape))
        loss = tf.reduce_sum(r.values * w)
        return [r] + _grads(tf, loss, [v]), None
    _both(tf_real, build)


@pytest.mark.parametrize("new_shape", [[12, 5], [-1, 10], [5, 3, 4], [60], [2, -1, 3]])
def test_reshape(tf_real, new_shape):
    idx, vals, shape = _rand_sparse([3, 4, 5], 9, seed=6)

    def build(tf):
        sp = tf.sparse_placeholder(tf.float32, shape=[3, 4, 5], name="x")
        r = tf.sparse_reshape(sp, new_shape)
        unknown = tf.sparse_placeholder(tf.float32, name="u")
        r2 = tf.sparse.reshape(unknown, new_shape)
        return [r, r2], {sp: (idx, vals, shape), unknown: (idx, vals, shape)}, r.shape.as_list(), r2.shape.ndims
    _both(tf_real, build)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(tf_real, axis):
    parts = [_rand_sparse([3, 4], 5, seed=10), _rand_sparse([3, 4], 4, seed=11, ordered=False),
             _rand_sparse([3, 4], 6, seed=12)]

    def build(tf):
        sps = [tf.SparseTensor(*p) for p in parts]
        c = tf.sparse_concat(axis, sps)
        return c, None, c.shape.as_list()
    _both(tf_real, build)


def test_concat_expanding_nonconcat_dims(tf_real):
    def build(tf):
        a = tf.SparseTensor([[0, 1], [2, 0]], [1.0, 2.0], [3, 2])
        b = tf.SparseTensor([[1, 3]], [3.0], [2, 4])
        c = tf.sparse.concat(1, [a, b], expand_nonconcat_dim=True)
        return c, None, c.shape.as_list()
    _both(tf_real, build)


def test_retain_fill_empty_rows_and_slice_with_gradients(tf_real):
    idx, vals, shape = _rand_sparse([6, 4], 7, seed=8)
    idx[:, 0] = [0, 0, 2, 2, 3, 5, 5]
    idx = idx[np.lexsort(idx.T[::-1])]
    keep = np.array([True, False, True, True, False, True, False])
    w = RNG.randn(20).astype(np.float32)

    def build(tf):
        v = tf.Variable(vals)
        d = tf.Variable(np.float32(-1.0))
        sp = tf.SparseTensor(idx, v, shape)
        kept = tf.sparse_retain(sp, keep)
        filled, empty = tf.sparse_fill_empty_rows(sp, d)
        sliced = tf.sparse_slice(sp, [1, 1], [4, 10])
        loss = (tf.reduce_sum(filled.values * w[:9]) + tf.reduce_sum(kept.values * w[10:14])
                + tf.reduce_sum(tf.square(sliced.values)))
        return [kept, filled, empty, sliced] + _grads(tf, loss, [v, d]), None
    _both(tf_real, build)


def test_fill_empty_rows_of_unordered_input(tf_real):
    def build(tf):
        sp = tf.SparseTensor([[3, 0], [1, 2], [1, 0], [3, 1]], [1, 2, 3, 4], [5, 4])
        return list(tf.sparse.fill_empty_rows(sp, 9)), None
    _both(tf_real, build)


def test_softmax_and_gradient(tf_real):
    idx, vals, shape = _rand_sparse([3, 2, 5], 14, seed=9)
    w = RNG.randn(14).astype(np.float32)

    def build(tf):
        v = tf.Variable(vals)
        s = tf.sparse.softmax(tf.SparseTensor(idx, v, shape))
        return [s] + _grads(tf, tf.reduce_sum(s.values * w), [v]), None
    _both(tf_real, build)


def test_elementwise_mul_and_div_by_dense_with_broadcast(tf_real):
    idx, vals, shape = _rand_sparse([3, 4], 6, seed=13)
    y = (RNG.rand(4) + 0.5).astype(np.float32)

    def build(tf):
        v, yv = tf.Variable(vals), tf.Variable(y)
        sp = tf.SparseTensor(idx, v, shape)
        m, q = sp * yv, sp / yv
        loss = tf.reduce_sum(m.values) + tf.reduce_sum(q.values * q.values)
        return [m, q] + _grads(tf, loss, [v, yv]), None
    _both(tf_real, build)


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shards", [1, 2])
def test_embedding_lookup_sparse(tf_real, combiner, weighted, shards):
    table = RNG.randn(10, 3).astype(np.float32)
    idx = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [3, 0], [3, 1]], np.int64)
    ids = np.array([3, 7, 3, 0, 9, 2], np.int64)
    wts = np.array([0.5, 2.0, 1.0, 3.0, -1.0, 0.25], np.float32)

    def build(tf):
        if shards == 1:
            params = [tf.Variable(table)]
        else:
            params = [tf.Variable(table[0::2]), tf.Variable(table[1::2])]
        sp_ids = tf.SparseTensor(idx, ids, [4, 3])
        sp_w = tf.SparseTensor(idx, wts, [4, 3]) if weighted else None
        emb = tf.nn.embedding_lookup_sparse(params if shards > 1 else params[0], sp_ids, sp_w, combiner=combiner)
        loss = tf.reduce_sum(emb * np.arange(1, 4, dtype=np.float32))
        grads = tf.gradients(loss, params)
        assert all(isinstance(g, tf.IndexedSlices) for g in grads)
        return [emb] + [tf.convert_to_tensor(g) for g in grads], None
    _both(tf_real, build)


@pytest.mark.parametrize("kind", ["sum", "mean", "sqrt_n"])
def test_segment_reductions_and_gradients(tf_real, kind):
    data = RNG.randn(5, 2).astype(np.float32)
    indices = np.array([0, 3, 3, 1, 4, 2], np.int32)
    segs = np.array([0, 0, 1, 1, 3, 3], np.int32)

    def build(tf):
        d = tf.Variable(data)
        out = getattr(tf.sparse, f"segment_{kind}")(d, indices, segs)
        plain = tf.segment_sum(d, [0, 0, 1, 3, 3])
        loss = tf.reduce_sum(tf.sin(out)) + tf.reduce_sum(plain * plain)
        return [out, plain] + _grads(tf, loss, [d]), None
    _both(tf_real, build)


def test_static_shapes_match(tf_real):
    def shapes(tf):
        sp = tf.SparseTensor([[0, 0], [1, 2]], [1.0, 2.0], [3, 4])
        ph = tf.sparse_placeholder(tf.float32, shape=[None, 7])
        out = [sp.shape, ph.shape, ph.indices.shape, ph.values.shape, ph.dense_shape.shape,
               tf.sparse.to_dense(sp).shape, tf.sparse.to_dense(ph).shape,
               tf.sparse_tensor_dense_matmul(sp, tf.ones([4, 2])).shape,
               tf.sparse_tensor_dense_matmul(ph, tf.ones([7, 2]), adjoint_a=False).shape,
               tf.sparse_add(sp, tf.zeros([3, 4])).shape, tf.sparse_add(sp, sp).shape,
               tf.sparse_reorder(sp).shape, tf.sparse_reorder(ph).shape,
               tf.sparse_reduce_sum(sp, 1).shape, tf.sparse_reduce_sum(sp, 0, keepdims=True).shape,
               tf.sparse_concat(0, [sp, sp]).shape, tf.sparse_fill_empty_rows(sp, 0.0)[1].shape,
               tf.sparse_fill_empty_rows(sp, 0.0)[0].indices.shape]
        return [s.as_list() if s.ndims is not None else None for s in out]
    with deferflow.Graph().as_default():
        ours = shapes(deferflow)
    with tf_real.Graph().as_default():
        theirs = shapes(tf_real)
    assert ours == theirs


def test_sparse_placeholder_names_and_feed_forms(tf_real):
    idx, vals, shape = _rand_sparse([2, 3], 3, seed=14)
    for mod in (deferflow, tf_real):
        with mod.Graph().as_default() as g:
            mod.sparse_placeholder(mod.float32, name="a")
            mod.sparse_placeholder(mod.float32, shape=[2, None], name="b")
            mod.sparse.placeholder(mod.int64)
            names = [(op.name, op.type) for op in g.get_operations()]
        if mod is deferflow:
            ours = names
    assert ours == names

    def build(tf):
        sp = tf.sparse_placeholder(tf.float32, shape=[2, 3], name="x")
        d = tf.sparse.to_dense(sp)
        return [d, sp], {sp: tf.SparseTensorValue(idx, vals, shape)}
    _both(tf_real, build)

    def build_tuple(tf):
        sp = tf.sparse_placeholder(tf.float32, name="x")
        return [tf.sparse.reduce_sum(sp, 1), sp], {sp: (idx.tolist(), vals.tolist(), shape.tolist())}
    _both(tf_real, build_tuple)


# --- bad input: TF's InvalidArgumentError messages ---------------------------------------------------
i64 = lambda x: np.array(x, np.int64)  # noqa: E731
f32 = lambda x: np.array(x, np.float32)  # noqa: E731
_BAD = {
    "to_dense_out_of_bounds": lambda tf: tf.sparse_to_dense(i64([[0, 0], [5, 1]]), i64([3, 4]), f32([1, 2]), 0.0),
    "to_dense_out_of_order": lambda tf: tf.sparse_to_dense(i64([[1, 0], [0, 1]]), i64([3, 4]), f32([1, 2]), 0.0),
    "to_dense_repeated": lambda tf: tf.sparse_to_dense(i64([[1, 0], [1, 0]]), i64([3, 4]), f32([1, 2]), 0.0),
    "to_dense_negative": lambda tf: tf.sparse_to_dense(i64([[0, -1]]), i64([3, 4]), f32([1]), 0.0),
    "to_dense_unvalidated_oob": lambda tf: tf.sparse_to_dense(i64([[0, 0], [5, 1]]), i64([3, 4]), f32([1, 2]), 0.0,
                                                              validate_indices=False),
    "matmul_k_oob": lambda tf: tf.sparse_tensor_dense_matmul(tf.SparseTensor(i64([[0, 0], [1, 6]]), f32([1, 2]),
                                                                             tf.placeholder_with_default(i64([3, 6]), [2])),
                                                             f32(np.ones((6, 2)))),
    "matmul_m_oob": lambda tf: tf.sparse_tensor_dense_matmul(tf.SparseTensor(i64([[0, 0], [3, 1]]), f32([1, 2]),
                                                                             i64([3, 6])), f32(np.ones((6, 2)))),
    "matmul_adjoint_oob": lambda tf: tf.sparse_tensor_dense_matmul(
        tf.SparseTensor(i64([[0, 0], [3, 1]]), f32([1, 2]), i64([3, 6])), f32(np.ones((3, 2))), adjoint_a=True),
    "matmul_negative": lambda tf: tf.sparse_tensor_dense_matmul(tf.SparseTensor(i64([[0, -1]]), f32([1]), i64([3, 6])),
                                                                f32(np.ones((6, 2)))),
    "dense_add_rank": lambda tf: tf.sparse_add(tf.SparseTensor(i64([[0, 0]]), f32([1]), i64([3, 4])),
                                               tf.placeholder_with_default(f32(np.ones(3)), None)),
    "dense_add_dim": lambda tf: tf.sparse_add(tf.SparseTensor(i64([[0, 0]]), f32([1]), i64([3, 4])),
                                              f32(np.ones((3, 5)))),
    "dense_add_oob": lambda tf: tf.sparse_add(tf.SparseTensor(i64([[0, 4]]), f32([1]), i64([3, 4])),
                                              f32(np.ones((3, 4)))),
    "add_shape_mismatch": lambda tf: tf.sparse_add(
        tf.SparseTensor(i64([[0, 0]]), f32([1]), tf.placeholder_with_default(i64([3, 4]), [2])),
        tf.SparseTensor(i64([[0, 0]]), f32([1]), tf.placeholder_with_default(i64([3, 5]), [2]))).values,
    "reduce_bad_axis": lambda tf: tf.sparse_reduce_sum(
        tf.SparseTensor(i64([[0, 0]]), f32([1]), tf.placeholder_with_default(i64([3, 4]), [2])),
        tf.placeholder_with_default(np.array([2], np.int32), [1])),
    "reshape_two_unknown": lambda tf: tf.sparse_reshape(tf.SparseTensor(i64([[0, 0]]), f32([1]),
                                                                        tf.placeholder_with_default(i64([3, 4]), [2])),
                                                        [-1, -1]).indices,
    "reshape_size": lambda tf: tf.sparse_reshape(tf.SparseTensor(i64([[0, 0]]), f32([1]),
                                                                 tf.placeholder_with_default(i64([3, 4]), [2])),
                                                 [5, 2]).indices,
    "reshape_multiple": lambda tf: tf.sparse_reshape(tf.SparseTensor(i64([[0, 0]]), f32([1]),
                                                                     tf.placeholder_with_default(i64([3, 4]), [2])),
                                                     [5, -1]).indices,
    "reshape_negative": lambda tf: tf.sparse_reshape(tf.SparseTensor(i64([[0, 0]]), f32([1]),
                                                                     tf.placeholder_with_default(i64([3, 4]), [2])),
                                                     [-2, 6]).indices,
    "concat_shapes": lambda tf: tf.sparse_concat(0, [
        tf.SparseTensor(i64([[0, 0]]), f32([1]), tf.placeholder_with_default(i64([3, 4]), [2])),
        tf.SparseTensor(i64([[0, 0]]), f32([1]), tf.placeholder_with_default(i64([3, 5]), [2]))]).values,
    "fill_rows_oob": lambda tf: tf.sparse_fill_empty_rows(tf.SparseTensor(i64([[5, 0]]), f32([1]), i64([3, 4])),
                                                          0.0)[0].values,
    "fill_rows_zero_rows": lambda tf: tf.sparse_fill_empty_rows(tf.SparseTensor(i64([[0, 0]]), f32([1]), i64([0, 4])),
                                                                0.0)[1],
    "slice_negative_size": lambda tf: tf.sparse_slice(tf.SparseTensor(i64([[0, 0]]), f32([1]), i64([4, 4])),
                                                      [1, 1], [-1, 2]).values,
    "segment_unsorted": lambda tf: tf.sparse.segment_sum(f32([[1], [2], [3]]), [0, 1, 2], [1, 0, 0]),
    "segment_index_oob": lambda tf: tf.sparse.segment_sum(f32([[1], [2], [3]]), [0, 5], [0, 0]),
    "segment_sum_length": lambda tf: tf.segment_sum(f32([[1], [2], [3]]),
                                                    tf.placeholder_with_default(np.array([0, 0], np.int32), [None])),
}


@pytest.mark.parametrize("case", sorted(_BAD))
def test_bad_input_raises_tf_error(tf_real, case):
    caught = []
    for mod in (deferflow, tf_real):
        with mod.Graph().as_default() as g:
            t = _BAD[case](mod)
            with mod.Session(graph=g) as sess:
                with pytest.raises(mod.errors.InvalidArgumentError) as e:
                    sess.run(t)
                caught.append(e.value.message)
    ours = caught[0].split("\n\t [[")[0]
    assert ours and ours in caught[1], (ours, caught[1])


def test_op_names_and_types_match(tf_real):
    def names(tf):
        with tf.Graph().as_default() as g:
            sp = tf.sparse_placeholder(tf.float32, shape=[4, 6], name="sp")
            other = tf.SparseTensor([[0, 0]], [1.0], [4, 6])
            tf.sparse_tensor_dense_matmul(sp, tf.ones([6, 2]))
            tf.sparse.to_dense(sp)
            tf.sparse_add(sp, other)
            tf.sparse_add(sp, tf.zeros([4, 6]))
            tf.sparse_reduce_sum(sp, 1)
            tf.sparse_reorder(sp)
            tf.sparse_reshape(sp, [-1, 3])
            tf.sparse_concat(0, [sp, other])
            tf.sparse_retain(sp, tf.ones([3], tf.bool))
            tf.sparse_fill_empty_rows(sp, 0.0)
            tf.sparse_slice(sp, [0, 0], [2, 2])
            tf.sparse.softmax(sp)
            return [(op.name, op.type) for op in g.get_operations()]
    assert names(deferflow) == names(tf_real)
