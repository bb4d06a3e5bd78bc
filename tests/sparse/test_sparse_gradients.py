"""Gradients of every differentiable sparse op: central finite differences and real TensorFlow's gradients.

As the nn cases do, these join ``tests/ops/test_gradients.GRADIENT_CASES`` and also run here on their own
(skipped here when tests/ops runs the same case in the session). Inputs are the float64 values and dense
operands; the indices are constants of each case.
"""
import os
import sys

import numpy as np
import pytest

import deferflow

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
import test_gradients as tg  # noqa: E402
from test_gradients import case, pos, rnd  # noqa: E402

IDX = np.array([[0, 1], [0, 3], [1, 0], [2, 2], [2, 3]], np.int64)  # canonical order, shape [3, 4]
SHAPE = [3, 4]
UNORDERED = np.array([[2, 2], [0, 3], [1, 0], [0, 1], [2, 3]], np.int64)
IDX_B = np.array([[0, 1], [1, 1], [2, 2], [2, 0]], np.int64)[[0, 1, 3, 2]]


def _sp(tf, v, idx=IDX, shape=SHAPE):
    return tf.SparseTensor(idx, v, shape)


def _matmul(adj_a, adj_b):
    def build(tf, v, b):
        return tf.sparse_tensor_dense_matmul(_sp(tf, v), b, adjoint_a=adj_a, adjoint_b=adj_b)
    return build


def _b_shape(adj_a, adj_b):
    k = 3 if adj_a else 4
    return (2, k) if adj_b else (k, 2)


SPARSE_CASES = [
    case("sparse_to_dense", lambda tf, v, d: tf.sparse_to_dense(IDX, SHAPE, v, d), rnd(5), rnd()),
    case("sparse_tensor_to_dense", lambda tf, v: tf.sparse.to_dense(_sp(tf, v)), rnd(5)),
    *[case(f"sparse_dense_matmul_{int(a)}{int(b)}", _matmul(a, b), rnd(5), rnd(*_b_shape(a, b)))
      for a in (False, True) for b in (False, True)],
    case("sparse_dense_matmul_unordered", lambda tf, v, b: tf.sparse_tensor_dense_matmul(_sp(tf, v, UNORDERED), b),
         rnd(5), rnd(4, 3)),
    case("sparse_tensor_dense_add", lambda tf, v, b: tf.sparse_add(_sp(tf, v), b), rnd(5), rnd(3, 4)),
    case("sparse_add_sparse", lambda tf, a, b: tf.sparse_add(_sp(tf, a), _sp(tf, b, IDX_B)).values, rnd(5), rnd(4)),
    case("sparse_reduce_sum", lambda tf, v: tf.sparse_reduce_sum(_sp(tf, v), 1), rnd(5)),
    case("sparse_reduce_sum_keepdims", lambda tf, v: tf.sparse_reduce_sum(_sp(tf, v), [0], keepdims=True), rnd(5)),
    case("sparse_reduce_sum_all", lambda tf, v: tf.sparse_reduce_sum(_sp(tf, v)), rnd(5)),
    case("sparse_reorder", lambda tf, v: tf.sparse_reorder(_sp(tf, v, UNORDERED)).values, rnd(5)),
    case("sparse_fill_empty_rows", lambda tf, v, d: tf.sparse_fill_empty_rows(
        _sp(tf, v, IDX[[0, 1, 3, 4]], [4, 4]), d)[0].values, rnd(4), rnd()),
    case("sparse_slice", lambda tf, v: tf.sparse_slice(_sp(tf, v), [0, 1], [3, 2]).values, rnd(5)),
    case("sparse_softmax", lambda tf, v: tf.sparse.softmax(_sp(tf, v)).values, rnd(5)),
    case("sparse_dense_cwise_mul", lambda tf, v, y: (_sp(tf, v) * y).values, rnd(5), rnd(4)),
    case("sparse_dense_cwise_div", lambda tf, v, y: (_sp(tf, v) / y).values, rnd(5), pos(3, 1)),
    case("segment_sum", lambda tf, x: tf.segment_sum(x, [0, 0, 2, 2]), rnd(4, 3)),
    case("sparse_segment_sum", lambda tf, x: tf.sparse.segment_sum(x, [0, 3, 3, 1], [0, 0, 1, 3]), rnd(4, 2)),
    case("sparse_segment_mean", lambda tf, x: tf.sparse.segment_mean(x, [0, 3, 3, 1], [0, 0, 1, 3]), rnd(4, 2)),
    case("sparse_segment_sqrt_n", lambda tf, x: tf.sparse.segment_sqrt_n(x, [2, 3, 0, 1], [0, 0, 0, 2]), rnd(4, 2)),
    case("embedding_lookup_sparse_mean", lambda tf, p: tf.nn.embedding_lookup_sparse(
        p, tf.SparseTensor(IDX, np.array([3, 1, 3, 0, 2], np.int64), SHAPE), None), rnd(4, 2)),
]

tg.GRADIENT_CASES.extend(SPARSE_CASES)
tg.NOT_NUMERICALLY_CHECKABLE.setdefault(
    "SparseDenseCwiseAdd", "its gradient raises NotImplementedError, as TF's (test_sparse_cwise_add_gradient)")


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", SPARSE_CASES, ids=lambda c: c.name)
def test_sparse_gradient_matches_finite_differences(request, c, mode):
    if tg.scheduled_elsewhere(request, c, mode):
        pytest.skip("run by tests/ops/test_gradients.py in this session")
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", SPARSE_CASES, ids=lambda c: c.name)
def test_sparse_gradient_matches_tensorflow(tf_real, c):
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-9, atol=1e-11)


def test_sparse_cases_cover_every_differentiable_sparse_op():
    from deferflow.ops import sparse_ops
    types = {v.name for v in vars(sparse_ops).values() if type(v).__name__ == "OpDef"}
    types |= {n for n in tg._differentiable_ops() if n.startswith(("SparseSegment", "SparseDenseCwise"))}
    covered = set()
    for c in SPARSE_CASES:
        g, _, _ = tg._feeds_and_graph(deferflow, c, "static")
        covered.update(op.type for op in g.get_operations())
    missing = sorted((types & tg._differentiable_ops()) - covered - set(tg.NOT_NUMERICALLY_CHECKABLE))
    assert not missing, missing


def test_sparse_cwise_add_gradient_raises_as_tf():
    sp = deferflow.SparseTensor(IDX, deferflow.constant(np.ones(5)), SHAPE)
    from deferflow.ops.sparse_ops import sparse_dense_cwise_add
    s = sparse_dense_cwise_add(sp, deferflow.constant(np.ones(4)))
    with pytest.raises(NotImplementedError, match="Gradient for SparseDenseCwiseAdd is not implemented."):
        deferflow.gradients(s.values, [sp.values])
