"""``tf.SparseTensor``: a dense tensor given by its non-default entries, as three ordinary tensors.

``indices`` (int64 ``[N, rank]``) says where the entries are, ``values`` (``[N]``) what they are and
``dense_shape`` (int64 ``[rank]``) how large the dense tensor is. The graph holds only the three tensors and
the ops on them (``SparseToDense``, ``SparseTensorDenseMatMul``...), so meta graphs need nothing special;
``Session.run`` fetches a SparseTensor as a ``SparseTensorValue`` and feeds one from any
``(indices, values, dense_shape)`` triple, as TensorFlow does.
"""
import collections

from deferflow.framework import dtypes, ops
from deferflow.framework import tensor_shape as ts


class SparseTensor:
    """``tf.SparseTensor(indices, values, dense_shape)``."""

    _is_sparse_tensor = True

    @classmethod
    def from_value(cls, sparse_tensor_value):
        if not is_sparse(sparse_tensor_value):
            raise TypeError(f"Argument sparse_tensor_value={sparse_tensor_value} is neither a SparseTensor nor "
                            "SparseTensorValue.")
        return SparseTensor(sparse_tensor_value.indices, sparse_tensor_value.values,
                            sparse_tensor_value.dense_shape)

    def __init__(self, indices, values, dense_shape):
        from deferflow.ops.common import shape_from_tensor
        with ops.name_scope(None, "SparseTensor", [indices, values, dense_shape]):
            indices = ops.convert_to_tensor(indices, name="indices", dtype=dtypes.int64)
            values = ops.convert_to_tensor(values, name="values")
            dense_shape = ops.convert_to_tensor(dense_shape, name="dense_shape", dtype=dtypes.int64)
            default = shape_from_tensor(dense_shape)
        self._indices, self._values, self._dense_shape = indices, values, dense_shape
        self._dense_shape_default = default
        ishape = indices.shape.with_rank(2)
        vshape = values.shape.with_rank(1)
        sshape = dense_shape.shape.with_rank(1)
        for a, b in ((ishape[0], vshape[0]), (ishape[1], sshape[0])):
            if not a.is_compatible_with(b):
                raise ValueError(f"Dimensions {a} and {b} are not compatible")

    indices = property(lambda self: self._indices)
    values = property(lambda self: self._values)
    dense_shape = property(lambda self: self._dense_shape)
    dtype = property(lambda self: self._values.dtype)
    op = property(lambda self: self._values.op)
    graph = property(lambda self: self._indices.graph)
    _graph_element_for_scope = property(lambda self: self._indices)  # name scopes find the graph through it

    @property
    def shape(self):
        """The dense shape as far as it is known when the graph is built."""
        return self._dense_shape_default

    def get_shape(self):
        return self._dense_shape_default

    def set_shape(self, shape):
        self._dense_shape_default = self._dense_shape_default.merge_with(ts.as_shape(shape))

    def with_values(self, new_values):
        """The same indices and dense shape with other values."""
        new_values = ops.convert_to_tensor(new_values)
        new_values.shape.assert_is_compatible_with(self._values.shape)
        out = SparseTensor(self._indices, new_values, self._dense_shape)
        out._dense_shape_default = self._dense_shape_default
        return out

    def eval(self, feed_dict=None, session=None):
        """The value in the default (or given) session, as a ``SparseTensorValue``."""
        return ops._run_with_default(self, feed_dict, session)

    def consumers(self):
        seen, out = set(), []
        for t in (self._indices, self._values, self._dense_shape):
            for op in t.consumers():
                if op not in seen:
                    seen.add(op)
                    out.append(op)
        return out

    def __repr__(self):
        return f"SparseTensor(indices={self._indices}, values={self._values}, dense_shape={self._dense_shape})"

    # TF's operators on sparse tensors: elementwise with a dense tensor, the result keeps the sparsity
    def __mul__(self, other):
        from deferflow.ops import sparse_ops
        return sparse_ops._sparse_dense_cwise("SparseDenseCwiseMul", self, other)

    def __truediv__(self, other):
        from deferflow.ops import sparse_ops
        return sparse_ops._sparse_dense_cwise("SparseDenseCwiseDiv", self, other, true_div=True)

    def __div__(self, other):
        from deferflow.ops import sparse_ops
        return sparse_ops._sparse_dense_cwise("SparseDenseCwiseDiv", self, other)

    def __neg__(self):
        from deferflow.ops import math_ops
        return SparseTensor(self._indices, math_ops.negative(self._values), self._dense_shape)

    def __bool__(self):
        raise TypeError("Using a `tf.SparseTensor` as a Python `bool` is not allowed.")


SparseTensorValue = collections.namedtuple("SparseTensorValue", ["indices", "values", "dense_shape"])
SparseTensorValue.__doc__ = "What ``Session.run`` returns for a ``SparseTensor`` fetch (and accepts as its feed)."


def is_sparse(x):
    """True for a ``SparseTensor`` or ``SparseTensorValue``."""
    return isinstance(x, (SparseTensor, SparseTensorValue))


def _no_dense_conversion(value, dtype=None, name=None, as_ref=False):
    raise TypeError(f"Failed to convert elements of {value} to Tensor. Consider casting elements to a supported "
                    "type. See https://www.tensorflow.org/api_docs/python/tf/dtypes for supported TF dtypes.")


ops.register_tensor_conversion_function(SparseTensor, _no_dense_conversion)


def convert_to_tensor_or_sparse_tensor(value, dtype=None, name=None):
    """SparseTensors (and values) pass through as SparseTensors, dtype checked; anything else becomes a Tensor."""
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    if isinstance(value, SparseTensorValue):
        value = SparseTensor.from_value(value)
    if isinstance(value, SparseTensor):
        if dtype is not None and not dtype.is_compatible_with(value.dtype):
            raise RuntimeError(f"Sparse dtype mismatch. Requested: {dtype.name},  Actual: {value.dtype.name}")
        return value
    return ops.convert_to_tensor(value, dtype=dtype, name=name)


def convert_to_sparse_tensor(sp_input):
    """A SparseTensor from a SparseTensor or SparseTensorValue (TF's check in every sparse op wrapper)."""
    if isinstance(sp_input, SparseTensorValue):
        return SparseTensor.from_value(sp_input)
    if not isinstance(sp_input, SparseTensor):
        raise TypeError("Input must be a SparseTensor.")
    return sp_input
