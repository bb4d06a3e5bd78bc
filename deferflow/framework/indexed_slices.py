"""``tf.IndexedSlices``: a sparse set of rows of a dense tensor, as gradients of gathers are represented.

``values[i]`` is the slice ``dense[indices[i]]``; repeated indices add up. ``dense_shape`` (a 1-D tensor)
gives the shape of the dense tensor. Gradients of ``Gather``/``GatherV2`` (axis 0) and ``ResourceGather``
are IndexedSlices, so optimizers can update only the rows that were looked up; anything that needs a
``Tensor`` converts one implicitly (``UnsortedSegmentSum`` of the values), as TensorFlow does.
"""
import collections
import warnings

import numpy as np

from deferflow.framework import dtypes, ops
from deferflow.framework import tensor_shape as ts

_LARGE_SPARSE_NUM_ELEMENTS = 100000000  # TF warns when a conversion makes a dense tensor this large


class IndexedSlices:
    """``tf.IndexedSlices(values, indices, dense_shape=None)``."""

    _is_indexed_slices = True

    def __init__(self, values, indices, dense_shape=None):
        self._values, self._indices, self._dense_shape = values, indices, dense_shape

    values = property(lambda self: self._values)
    indices = property(lambda self: self._indices)
    dense_shape = property(lambda self: self._dense_shape)
    name = property(lambda self: self._values.name)
    dtype = property(lambda self: self._values.dtype)
    op = property(lambda self: self._values.op)
    graph = property(lambda self: self._values.graph)
    device = property(lambda self: self._values.device)

    @property
    def shape(self):
        """The dense shape, as far as it is known statically."""
        from deferflow.ops.common import constant_value
        if self._dense_shape is not None:
            value = constant_value(self._dense_shape)
            if value is not None:
                return ts.TensorShape([int(d) for d in value])
        rows = self._values.shape
        return ts.unknown_shape() if rows.ndims is None else ts.TensorShape([None]).concatenate(rows[1:])

    def get_shape(self):
        return self.shape

    def __neg__(self):
        from deferflow.ops import math_ops
        return IndexedSlices(math_ops.negative(self._values), self._indices, self._dense_shape)

    def _dense(self, name=None):
        return _to_tensor(self, name=name)

    def __repr__(self):
        shape = "" if self._dense_shape is None else f", dense_shape={self._dense_shape}"
        return f"IndexedSlices(indices={self._indices}, values={self._values}{shape})"

    def consumers(self):
        return self._values.consumers()


IndexedSlicesValue = collections.namedtuple("IndexedSlicesValue", ["values", "indices", "dense_shape"])
IndexedSlicesValue.__doc__ = "What ``Session.run`` returns for an ``IndexedSlices`` fetch."


def _to_tensor(value, dtype=None, name=None, as_ref=False):
    """The dense tensor of an IndexedSlices: ``unsorted_segment_sum(values, indices, dense_shape[0])``."""
    from deferflow.ops import array_ops, math_ops
    if dtype is not None and not dtype.is_compatible_with(value.dtype):
        raise ValueError(f"Tensor conversion requested dtype {dtype.name} for IndexedSlices with dtype "
                         f"{value.dtype.name}")
    if value.dense_shape is None:
        raise ValueError(f"Tensor conversion requested for IndexedSlices without dense_shape: {value}")
    known = array_ops.constant_value(value.dense_shape)
    if known is None:
        warnings.warn("Converting sparse IndexedSlices to a dense Tensor of unknown shape. This may consume a "
                      "large amount of memory.", stacklevel=3)
    elif int(np.prod(known, dtype=np.int64)) >= _LARGE_SPARSE_NUM_ELEMENTS:
        warnings.warn(f"Converting sparse IndexedSlices to a dense Tensor with {int(np.prod(known))} elements. "
                      "This may consume a large amount of memory.", stacklevel=3)
    return math_ops.unsorted_segment_sum(value.values, value.indices, value.dense_shape[0], name=name)


ops.register_tensor_conversion_function(IndexedSlices, _to_tensor)


def is_indexed_slices(x):
    return getattr(x, "_is_indexed_slices", False)


def convert_to_tensor_or_indexed_slices(value, dtype=None, name=None):
    """IndexedSlices pass through (dtype checked); anything else becomes a Tensor."""
    if is_indexed_slices(value):
        if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(value.dtype):
            raise ValueError(f"Tensor conversion requested dtype {dtypes.as_dtype(dtype).name} for Tensor "
                             f"with dtype {value.dtype.name}: {value!r}")
        return value
    return ops.convert_to_tensor(value, dtype=dtype, name=name)
