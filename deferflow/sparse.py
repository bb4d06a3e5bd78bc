"""The ``tf.sparse`` namespace."""
from deferflow.framework.sparse_tensor import SparseTensor, SparseTensorValue  # noqa: F401
from deferflow.ops.sparse_ops import (  # noqa: F401
    sparse_add as add, sparse_concat as concat, sparse_fill_empty_rows as fill_empty_rows,
    sparse_placeholder as placeholder, sparse_reduce_sum as reduce_sum, sparse_reorder as reorder,
    sparse_reshape as reshape, sparse_retain as retain, sparse_segment_mean as segment_mean,
    sparse_segment_sqrt_n as segment_sqrt_n, sparse_segment_sum as segment_sum, sparse_slice as slice,
    sparse_softmax as softmax, sparse_tensor_dense_matmul as matmul, sparse_tensor_dense_matmul as sparse_dense_matmul,
    sparse_tensor_to_dense as to_dense)
