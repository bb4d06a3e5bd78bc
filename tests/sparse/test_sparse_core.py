"""SparseTensor and the sparse ops without TensorFlow: properties, fetch/feed forms, results against the
same computation on the dense NumPy array, TF's error messages, and a meta graph round trip."""
import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import errors


def _rand_sparse(shape, n, seed=0, ordered=True):
    rng = np.random.RandomState(seed)
    flat = rng.choice(int(np.prod(shape)), n, replace=False)
    flat = np.sort(flat) if ordered else flat
    idx = np.stack(np.unravel_index(flat, shape), axis=1).astype(np.int64)
    return idx, rng.randn(n).astype(np.float32), np.array(shape, np.int64)


def _dense(idx, vals, shape, default=0):
    out = np.full(shape, default, dtype=np.asarray(vals).dtype)
    out[tuple(np.asarray(idx).T)] = vals  # indices are unique here
    return out


def _run(fetches, feed=None):
    with tf.Session() as s:
        return s.run(fetches, feed)


# --- the SparseTensor object --------------------------------------------------------------------
def test_properties():
    sp = tf.SparseTensor([[0, 0], [1, 2]], [1.0, 2.0], [3, 4])
    assert sp.indices.dtype == tf.int64 and sp.dense_shape.dtype == tf.int64 and sp.dtype == tf.float32
    assert sp.shape.as_list() == [3, 4] and sp.get_shape().as_list() == [3, 4]
    assert sp.op is sp.values.op and sp.graph is tf.get_default_graph()
    assert [t.op.name for t in (sp.indices, sp.values, sp.dense_shape)] == [
        "SparseTensor/indices", "SparseTensor/values", "SparseTensor/dense_shape"]
    assert repr(sp).startswith("SparseTensor(indices=Tensor(")
    with tf.Session().as_default():
        v = sp.eval()
    assert isinstance(v, tf.SparseTensorValue)
    np.testing.assert_array_equal(v.indices, [[0, 0], [1, 2]])
    assert v.values.dtype == np.float32 and v.dense_shape.tolist() == [3, 4]
    sp.set_shape([3, None])
    with pytest.raises(ValueError):
        sp.set_shape([2, 4])
    w = sp.with_values(tf.constant([5, 6]))
    assert w.dtype == tf.int32 and w.indices is sp.indices


def test_construction_checks_ranks_and_counts():
    with pytest.raises(ValueError):
        tf.SparseTensor([0, 1], [1.0, 2.0], [3])  # indices must be a matrix
    with pytest.raises(ValueError):
        tf.SparseTensor([[0, 0]], [1.0, 2.0], [3, 4])  # one index, two values
    with pytest.raises(ValueError):
        tf.SparseTensor([[0, 0]], [1.0], [3, 4, 5])  # rank 2 indices, rank 3 shape


def test_conversions():
    sp = tf.SparseTensor([[0]], [1.0], [2])
    assert tf.convert_to_tensor_or_sparse_tensor(sp) is sp
    from_value = tf.convert_to_tensor_or_sparse_tensor(tf.SparseTensorValue([[1]], [2.0], [3]))
    assert isinstance(from_value, tf.SparseTensor) and from_value.shape.as_list() == [3]
    with pytest.raises(RuntimeError, match="Sparse dtype mismatch"):
        tf.convert_to_tensor_or_sparse_tensor(sp, dtype=tf.int32)
    assert isinstance(tf.convert_to_tensor_or_sparse_tensor([1, 2]), tf.Tensor)
    with pytest.raises(TypeError, match="Failed to convert elements of SparseTensor"):
        tf.add(sp, 1.0)
    with pytest.raises(TypeError, match="Input must be a SparseTensor"):
        tf.sparse.to_dense(tf.constant([1.0]))
    assert tf.sparse.SparseTensor is tf.SparseTensor and tf.compat.v1.sparse_placeholder is tf.sparse_placeholder


# --- fetch and feed -----------------------------------------------------------------------------------
def test_fetch_structures_hold_sparse_values():
    sp = tf.SparseTensor([[0, 1]], [7], [2, 2])
    out = _run({"a": [sp, sp.values], "b": (sp,)})
    assert isinstance(out["a"][0], tf.SparseTensorValue) and isinstance(out["b"], tuple)
    assert out["a"][0].values.tolist() == [7] and out["a"][1].tolist() == [7]


def test_sparse_placeholder_feeds():
    sp = tf.sparse_placeholder(tf.float32, shape=[2, None], name="x")
    assert [t.op.name for t in (sp.indices, sp.values, sp.dense_shape)] == ["x/indices", "x/values", "x/shape"]
    assert sp.dense_shape.op.type == "PlaceholderWithDefault" and sp.shape.as_list() == [2, None]
    dense = tf.sparse.to_dense(sp)
    want = np.array([[0, 1.5, 0], [2.5, 0, 0]], np.float32)
    with tf.Session() as s:
        for value in (tf.SparseTensorValue([[0, 1], [1, 0]], [1.5, 2.5], [2, 3]),
                      ([[0, 1], [1, 0]], [1.5, 2.5], [2, 3]),
                      [np.array([[0, 1], [1, 0]]), np.array([1.5, 2.5]), np.array([2, 3])]):
            np.testing.assert_array_equal(s.run(dense, {sp: value}), want)
        fetched = s.run(sp, {sp: ([[1, 1]], [4.0], [2, 2])})  # fetching the fed SparseTensor back
        assert fetched.dense_shape.tolist() == [2, 2] and fetched.values.dtype == np.float32
        f = s.make_callable(dense, [sp])
        np.testing.assert_array_equal(f(([[0, 1], [1, 0]], [1.5, 2.5], [2, 3])), want)
        with pytest.raises(TypeError, match="SparseTensorValue"):
            s.run(dense, {sp: np.zeros((2, 3))})
        with pytest.raises(ValueError, match="Cannot feed value of shape"):
            s.run(dense, {sp: ([0, 1], [1.5, 2.5], [2, 3])})  # indices must be [N, 2]
        with pytest.raises(errors.InvalidArgumentError, match="You must feed a value for placeholder tensor 'x/"):
            s.run(dense)


# --- results against the dense computation ------------------------------------------------------------
def test_to_dense_and_sparse_to_dense():
    idx, vals, shape = _rand_sparse([3, 4, 5], 10)
    ours = _run([tf.sparse.to_dense(tf.SparseTensor(idx, vals, shape), default_value=-2.0),
                 tf.sparse_to_dense(idx, shape, vals), tf.sparse_to_dense([1, 3], [5], 7, -1)])
    np.testing.assert_array_equal(ours[0], _dense(idx, vals, shape, -2.0))
    np.testing.assert_array_equal(ours[1], _dense(idx, vals, shape))
    np.testing.assert_array_equal(ours[2], [-1, 7, -1, 7, -1])


@pytest.mark.parametrize("adj_a,adj_b", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_equals_dense_matmul(adj_a, adj_b):
    idx, vals, shape = _rand_sparse([6, 5], 12, ordered=False)
    a = _dense(idx, vals, shape).astype(np.float64)
    a_op = a.T if adj_a else a
    b = np.random.RandomState(1).randn(*((4, a_op.shape[1]) if adj_b else (a_op.shape[1], 4)))
    y = tf.sparse_tensor_dense_matmul(tf.SparseTensor(idx, vals.astype(np.float64), shape), b,
                                      adjoint_a=adj_a, adjoint_b=adj_b)
    np.testing.assert_allclose(_run(y), a_op @ (b.T if adj_b else b), rtol=1e-12)


def test_large_sparse_matmul_takes_the_row_path():
    rng = np.random.RandomState(2)
    idx = np.stack([rng.randint(0, 3000, 40), rng.randint(0, 4000, 40)], 1).astype(np.int64)
    idx = idx[np.lexsort(idx.T[::-1])]
    vals = rng.randn(40)
    b = rng.randn(4000, 3)
    want = np.zeros((3000, 3))
    np.add.at(want, idx[:, 0], vals[:, None] * b[idx[:, 1]])
    np.testing.assert_allclose(_run(tf.sparse_tensor_dense_matmul(tf.SparseTensor(idx, vals, [3000, 4000]), b)),
                               want, rtol=1e-12)


def test_add_reduce_reorder_reshape_concat_slice_retain():
    idx, vals, shape = _rand_sparse([4, 6], 9, seed=3)
    b_idx, b_vals, _ = _rand_sparse([4, 6], 7, seed=4)
    a, b = tf.SparseTensor(idx, vals, shape), tf.SparseTensor(b_idx, b_vals, shape)
    da, db = _dense(idx, vals, shape), _dense(b_idx, b_vals, shape)
    shuffled = np.random.RandomState(5).permutation(len(idx))
    keep = np.arange(len(idx)) % 2 == 0
    out = _run({"sum": tf.sparse.to_dense(tf.sparse_add(a, b)), "plus_dense": tf.sparse_add(a, db),
                "rsum": tf.sparse_reduce_sum(a, 1), "rsum_all": tf.sparse_reduce_sum(a),
                "reorder": tf.sparse_reorder(tf.SparseTensor(idx[shuffled], vals[shuffled], shape)),
                "reshape": tf.sparse.to_dense(tf.sparse_reorder(tf.sparse_reshape(a, [3, -1, 2]))),
                "concat": tf.sparse.to_dense(tf.sparse_concat(1, [a, b])),
                "slice": tf.sparse.to_dense(tf.sparse_slice(a, [1, 2], [2, 10])),
                "retain": tf.sparse.to_dense(tf.sparse_retain(a, keep))})
    np.testing.assert_allclose(out["sum"], da + db, rtol=1e-6)
    np.testing.assert_allclose(out["plus_dense"], da + db, rtol=1e-6)
    np.testing.assert_allclose(out["rsum"], da.sum(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["rsum_all"], da.sum(), rtol=1e-5)
    np.testing.assert_array_equal(out["reorder"].indices, idx)
    np.testing.assert_array_equal(out["reorder"].values, vals)
    np.testing.assert_array_equal(out["reshape"], da.reshape(3, 4, 2))
    np.testing.assert_array_equal(out["concat"], np.concatenate([da, db], 1))
    np.testing.assert_array_equal(out["slice"], da[1:3, 2:])
    np.testing.assert_array_equal(out["retain"], _dense(idx[keep], vals[keep], shape))


def test_fill_empty_rows_softmax_and_embedding_lookup_sparse():
    sp = tf.SparseTensor([[0, 1], [0, 3], [2, 0]], [1.0, 2.0, 3.0], [4, 4])
    filled, empty = tf.sparse_fill_empty_rows(sp, -1.0)
    soft = tf.sparse.softmax(sp)
    params = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = tf.SparseTensor([[0, 0], [0, 1], [2, 0]], tf.constant([5, 1, 1], tf.int64), [3, 2])
    weights = tf.SparseTensor([[0, 0], [0, 1], [2, 0]], [2.0, 1.0, 4.0], [3, 2])
    emb = {c: tf.nn.embedding_lookup_sparse(params, ids, weights, combiner=c) for c in ("sum", "mean", "sqrtn")}
    out = _run([filled, empty, soft, emb])
    np.testing.assert_array_equal(out[0].indices, [[0, 1], [0, 3], [1, 0], [2, 0], [3, 0]])
    np.testing.assert_array_equal(out[0].values, [1, 2, -1, 3, -1])
    np.testing.assert_array_equal(out[1], [False, True, False, True])
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(out[2].values, list(e / e.sum()) + [1.0], rtol=1e-6)
    rows = [2 * params[5] + params[1], np.zeros(2), 4 * params[1]]
    np.testing.assert_allclose(out[3]["sum"], rows, rtol=1e-6)
    np.testing.assert_allclose(out[3]["mean"], [rows[0] / 3, rows[1], rows[2] / 4], rtol=1e-6)
    np.testing.assert_allclose(out[3]["sqrtn"], [rows[0] / np.sqrt(5), rows[1], rows[2] / 4], rtol=1e-6)


def test_embedding_lookup_sparse_gradient_is_indexed_slices():
    params = tf.Variable(np.ones((5, 2), np.float32))
    ids = tf.SparseTensor([[0, 0], [1, 0], [1, 1]], tf.constant([4, 0, 4], tf.int64), [2, 2])
    loss = tf.reduce_sum(tf.nn.embedding_lookup_sparse(params, ids, None, combiner="sum"))
    g = tf.gradients(loss, params)[0]
    assert isinstance(g, tf.IndexedSlices)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(s.run(tf.convert_to_tensor(g)), [[1, 1], [0, 0], [0, 0], [0, 0], [2, 2]])


# --- TF's error messages --------------------------------------------------------------------------
@pytest.mark.parametrize("build,message", [
    (lambda: tf.sparse_to_dense([[0, 0], [5, 1]], [3, 4], [1.0, 2.0]),
     "indices[1] = [5,1] is out of bounds: need 0 <= index < [3,4]"),
    (lambda: tf.sparse_to_dense([[1, 0], [0, 1]], [3, 4], [1.0, 2.0]),
     "indices[1] = [0,1] is out of order. Many sparse ops require sorted indices."),
    (lambda: tf.sparse_to_dense([[1, 0], [1, 0]], [3, 4], [1.0, 2.0]), "indices[1] = [1,0] is repeated"),
    (lambda: tf.sparse_to_dense([[0, 0], [1, 1]], [3, 4], [1.0, 2.0, 3.0]),
     "sparse_values has incorrect shape [3], should be [] or [2]"),
    (lambda: tf.sparse_tensor_dense_matmul(tf.SparseTensor([[0, 0], [3, 1]], [1.0, 2.0], [3, 6]), np.ones((6, 2),
                                                                                                     np.float32)),
     "m (3) from index[1,0] out of bounds (>=3)"),
    (lambda: tf.sparse_add(tf.SparseTensor([[0, 4]], [1.0], [3, 4]), np.ones((3, 4), np.float32)),
     "Sparse tensor has an invalid index on dimension 1: a_indices(0,1) = 4, dense tensor shape: 3 4"),
    (lambda: tf.sparse_reshape(tf.SparseTensor([[0, 0]], [1.0], tf.placeholder_with_default(
        np.array([3, 4], np.int64), [2])), [5, 2]).indices,
     "Input to reshape is a tensor with 12 dense values, but the requested shape has 10."),
    (lambda: tf.sparse_fill_empty_rows(tf.SparseTensor([[5, 0]], [1.0], [3, 4]), 0.0)[1],
     "indices(0, 0) is invalid: 5 >= 3"),
    (lambda: tf.sparse.segment_sum(np.ones((3, 1), np.float32), [0, 1, 2], [1, 0, 0]),
     "segment ids are not increasing"),
])
def test_bad_input_is_invalid_argument(build, message):
    t = build()
    with tf.Session() as s:
        with pytest.raises(errors.InvalidArgumentError) as e:
            s.run(t)
    assert message in e.value.message and t.op.name in e.value.message


def test_static_shape_errors():
    sp = tf.SparseTensor([[0, 0]], [1.0], [3, 6])
    with pytest.raises(ValueError, match="Dimensions must be equal, but are 6 and 5"):
        tf.sparse_tensor_dense_matmul(sp, np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match="At most one dimension can be inferred"):
        tf.sparse_reshape(sp, [-1, -1])
    with pytest.raises(TypeError, match="At least one input should be SparseTensor"):
        tf.sparse_add(tf.constant(1.0), tf.constant(2.0))


# --- meta graph round trip ---------------------------------------------------------------------------
def test_meta_graph_round_trip_keeps_the_sparse_ops(tmp_path):
    x = tf.sparse_placeholder(tf.float32, name="x")
    w = tf.Variable(np.arange(8, dtype=np.float32).reshape(4, 2), name="w")
    y = tf.identity(tf.sparse_tensor_dense_matmul(x, w) + tf.sparse_reduce_sum(x, 1, keepdims=True), name="y")
    saver = tf.train.Saver()
    feed = tf.SparseTensorValue([[0, 1], [1, 3]], [2.0, -1.0], [2, 4])
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        want = s.run(y, {x: feed})
        prefix = saver.save(s, str(tmp_path / "m"))
    tf.reset_default_graph()
    saver = tf.train.import_meta_graph(prefix + ".meta")
    g = tf.get_default_graph()
    assert g.get_operation_by_name("SparseTensorDenseMatMul/SparseTensorDenseMatMul").type == \
        "SparseTensorDenseMatMul"
    with tf.Session() as s:
        saver.restore(s, prefix)
        got = s.run("y:0", {"x/indices:0": feed.indices, "x/values:0": feed.values, "x/shape:0": feed.dense_shape})
    np.testing.assert_array_equal(got, want)
