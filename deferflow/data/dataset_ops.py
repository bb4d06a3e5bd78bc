"""``tf.data.Dataset`` for TF1 graphs: each transformation adds one TF-named dataset op to the graph.

A ``Dataset`` holds its ``variant`` tensor and its element structure (nested dtypes and static shapes);
iterators (``iterator_ops``) turn it into ``IteratorGetNext`` tensors. Functions given to ``map``/``filter`` are
traced into a separate graph (``function.py``).
"""
import itertools

import numpy as np

from deferflow.data import structure as nest
from deferflow.data.function import _name_attr, trace_function
from deferflow.framework import dtypes, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops import dataset_ops as _ops  # noqa: F401 - registers the dataset op types

AUTOTUNE = -1
_generator_tokens = itertools.count(1)
_DEFAULT_READER_BUFFER_SIZE_BYTES = 256 * 1024


def _int64(value, name):
    return convert_to_tensor(value, dtype=dtypes.int64, name=name)


def _static_int(t):
    from deferflow.ops.common import constant_value
    v = constant_value(t)
    return None if v is None else int(np.asarray(v))


class Dataset:
    """A TF1 ``tf.data.Dataset``: a graph-side description of a sequence of nested elements."""

    def __init__(self, variant, types, shapes):
        self._variant_tensor = variant
        self._types, self._shapes = types, shapes

    # --- structure --------------------------------------------------------------------------------
    output_types = property(lambda self: self._types)
    output_shapes = property(lambda self: self._shapes)

    @property
    def output_classes(self):
        return nest.map_structure(lambda _: ops.Tensor, self._types)

    def _flat_attrs(self):
        return {"output_types": nest.flatten(self._types), "output_shapes": nest.flatten(self._shapes)}

    def _derived(self, op_type, types=None, shapes=None, **inputs):
        types = self._types if types is None else types
        shapes = self._shapes if shapes is None else shapes
        v = apply_op(op_type, input_dataset=self._variant_tensor, output_types=nest.flatten(types),
                     output_shapes=nest.flatten(shapes), **inputs)
        return Dataset(v, types, shapes)

    def __iter__(self):
        raise RuntimeError("`tf.data.Dataset` only supports Python-style iteration in eager mode or within "
                           "tf.function.")

    def __repr__(self):
        return f"<{type(self).__name__} shapes: {nest.describe(self._shapes)}, types: {nest.describe(self._types)}>"

    # --- sources ----------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        """Elements are the slices of ``tensors`` (any nesting) along their first dimension."""
        flat = [convert_to_tensor(t, name=f"component_{i}") for i, t in enumerate(nest.flatten(tensors))]
        if not flat:
            raise ValueError("Invalid `tensors`. `tensors` should not be empty.")
        n = ts.Dimension(None)
        for t in flat:
            if t.shape.ndims == 0:
                raise ValueError("Unbatching a tensor is only supported for rank >= 1")
            if t.shape.ndims is not None:
                n = n.merge_with(t.shape[0])
        shapes = [t.shape[1:] if t.shape.ndims is not None else ts.unknown_shape() for t in flat]
        v = apply_op("TensorSliceDataset", components=flat, output_shapes=shapes)
        return Dataset(v, nest.pack(tensors, [t.dtype.base_dtype for t in flat]), nest.pack(tensors, shapes))

    @staticmethod
    def from_tensors(tensors):
        """One element: ``tensors`` itself."""
        flat = [convert_to_tensor(t, name=f"component_{i}") for i, t in enumerate(nest.flatten(tensors))]
        shapes = [t.shape for t in flat]
        v = apply_op("TensorDataset", components=flat, output_shapes=shapes)
        return Dataset(v, nest.pack(tensors, [t.dtype.base_dtype for t in flat]), nest.pack(tensors, shapes))

    @staticmethod
    def range(*args):  # noqa: A003 - TF's name
        """``range(stop)``, ``range(start, stop[, step])``: int64 scalars, as Python's ``range``."""
        if not 1 <= len(args) <= 3:
            raise ValueError(f"Invalid arguments to range: {args}")
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (args + (1,))[:3]
        v = apply_op("RangeDataset", start=_int64(start, "start"), stop=_int64(stop, "stop"),
                     step=_int64(step, "step"), output_types=[dtypes.int64], output_shapes=[ts.TensorShape([])])
        return Dataset(v, dtypes.int64, ts.TensorShape([]))

    @staticmethod
    def zip(datasets):  # noqa: A003 - TF's name
        """Elements combine the elements of ``datasets`` (a tuple or dict of datasets); stops at the shortest."""
        flat = nest.flatten(datasets)
        for d in flat:
            if not isinstance(d, Dataset):
                raise TypeError(f"Invalid `datasets`. `datasets` is expected to be a (nested) structure of "
                                f"`tf.data.Dataset` objects. Encountered object with type {type(d)}.")
        types = nest.pack(datasets, [d.output_types for d in flat])
        shapes = nest.pack(datasets, [d.output_shapes for d in flat])
        v = apply_op("ZipDataset", input_datasets=[d._variant_tensor for d in flat],
                     output_types=nest.flatten(types), output_shapes=nest.flatten(shapes))
        return Dataset(v, types, shapes)

    # --- transformations --------------------------------------------------------------------------
    def batch(self, batch_size, drop_remainder=False):
        """Consecutive elements stacked into batches; the batch dimension is static only when dropping remainders."""
        size = _int64(batch_size, "batch_size")
        drop = convert_to_tensor(drop_remainder, dtype=dtypes.bool, name="drop_remainder")
        n = _static_int(size) if _static_int(drop) else None
        shapes = nest.map_structure(lambda s: ts.TensorShape([n]).concatenate(s), self._shapes)
        return self._derived("BatchDatasetV2", shapes=shapes, batch_size=size, drop_remainder=drop)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None, drop_remainder=False):
        """Batches elements of different shapes, padding each component to ``padded_shapes`` (None: the
        batch's largest) with ``padding_values`` (default zero / empty string)."""
        if padded_shapes is None:
            padded_shapes = nest.map_structure(lambda s: ts.TensorShape([None] * s.ndims), self._shapes)
        flat_types, flat_shapes = nest.flatten(self._types), nest.flatten(self._shapes)
        flat_pad = nest.flatten(padded_shapes) if nest.is_nested(self._shapes) else [padded_shapes]
        if len(flat_pad) != len(flat_types):
            raise ValueError(f"The two structures don't have the same nested structure: {padded_shapes} and "
                             f"{self._shapes}")
        pad_tensors, static = [], []
        for i, (p, s) in enumerate(zip(flat_pad, flat_shapes)):
            shape = ts.as_shape(p) if not isinstance(p, ops.Tensor) else ts.unknown_shape()
            if not shape.is_compatible_with(s) and s.ndims is not None:
                raise ValueError(f"The padded shape {shape} is not compatible with the shape {s} of the "
                                 f"corresponding input component.")
            static.append(shape)
            dims = [-1 if d is None else d for d in shape.as_list()] if shape.ndims is not None else p
            pad_tensors.append(_int64(np.zeros([0], np.int64) if shape.ndims == 0 else dims, "padded_shape"))
        if padding_values is None:
            values = [b"" if t == dtypes.string else np.zeros([], t.as_numpy_dtype) for t in flat_types]
        else:
            values = nest.flatten(padding_values) if nest.is_nested(self._types) else [padding_values]
        values = [convert_to_tensor(v, dtype=t, name="padding_value") for v, t in zip(values, flat_types)]
        size = _int64(batch_size, "batch_size")
        drop = convert_to_tensor(drop_remainder, dtype=dtypes.bool, name="drop_remainder")
        n = _static_int(size) if _static_int(drop) else None
        shapes = nest.pack(self._shapes, [ts.TensorShape([n]).concatenate(s) for s in static])
        v = apply_op("PaddedBatchDatasetV2", input_dataset=self._variant_tensor, batch_size=size,
                     padded_shapes=pad_tensors, padding_values=values, drop_remainder=drop,
                     output_shapes=nest.flatten(shapes))
        return Dataset(v, self._types, shapes)

    def repeat(self, count=None):
        """The elements ``count`` times over (forever when None or -1)."""
        return self._derived("RepeatDataset", count=_int64(-1 if count is None else count, "count"))

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=None):
        """Elements drawn at random from a buffer of ``buffer_size`` elements: each element once per epoch."""
        from deferflow.ops.random_ops import get_seed
        s, s2 = get_seed(seed)
        return self._derived("ShuffleDataset", buffer_size=_int64(buffer_size, "buffer_size"),
                             seed=_int64(s or 0, "seed"), seed2=_int64(s2 or 0, "seed2"),
                             reshuffle_each_iteration=True if reshuffle_each_iteration is None
                             else bool(reshuffle_each_iteration))

    def take(self, count):
        return self._derived("TakeDataset", count=_int64(count, "count"))

    def skip(self, count):
        return self._derived("SkipDataset", count=_int64(count, "count"))

    def prefetch(self, buffer_size):
        return self._derived("PrefetchDataset", buffer_size=_int64(buffer_size, "buffer_size"))

    def cache(self, filename=""):
        """Elements of the first complete pass are kept in memory and replayed on later passes."""
        if filename:
            raise NotImplementedError("deferflow's Dataset.cache keeps elements in memory only: call cache() "
                                      "without a filename")
        return self._derived("CacheDataset", filename=convert_to_tensor("", dtype=dtypes.string, name="filename"))

    def map(self, map_func, num_parallel_calls=None, deterministic=None):  # noqa: A003 - TF's name
        """``map_func`` (traced once into graph ops) applied to each element."""
        fn = trace_function(map_func, self._types, self._shapes, "map")
        if num_parallel_calls is None:
            return self._derived("MapDataset", types=fn.output_types, shapes=fn.output_shapes,
                                 other_arguments=fn.captured, f=fn.attr, preserve_cardinality=True)
        return self._derived("ParallelMapDatasetV2", types=fn.output_types, shapes=fn.output_shapes,
                             other_arguments=fn.captured, f=fn.attr, preserve_cardinality=True,
                             num_parallel_calls=_int64(num_parallel_calls, "num_parallel_calls"),
                             deterministic="default" if deterministic is None else str(bool(deterministic)).lower())

    def filter(self, predicate):  # noqa: A003 - TF's name
        """The elements for which ``predicate`` (traced into graph ops) gives a scalar True."""
        fn = trace_function(predicate, self._types, self._shapes, "filter")
        t, s = fn.output_types, fn.output_shapes
        if t != dtypes.bool or not isinstance(s, ts.TensorShape) or not s.is_compatible_with(ts.TensorShape([])):
            raise ValueError(f"Invalid `predicate`. `predicate` must return a `tf.bool` scalar tensor, but its "
                             f"return type is TensorSpec(shape={nest.describe(s)}, dtype={nest.describe(t)}, "
                             f"name=None).")
        return self._derived("FilterDataset", other_arguments=fn.captured, predicate=fn.attr)

    def flat_map(self, map_func):
        """The elements of the datasets that ``map_func`` (traced into graph ops) makes from each element."""
        made = []

        def body(*args):
            ds = map_func(*args)
            if not isinstance(ds, Dataset):
                raise TypeError(f"The `map_func` argument must return a `Dataset` object. Got {type(ds)!r}.")
            made.append(ds)
            return ds._variant_tensor
        fn = trace_function(body, self._types, self._shapes, "flat_map")
        return self._derived("FlatMapDataset", types=made[0].output_types, shapes=made[0].output_shapes,
                             other_arguments=fn.captured, f=fn.attr)

    def interleave(self, map_func, cycle_length=None, block_length=None, num_parallel_calls=None,
                   deterministic=None):
        """The elements of the datasets ``map_func`` makes, taken ``block_length`` at a time from
        ``cycle_length`` of them in turn (InterleaveDataset; runs in order whatever ``num_parallel_calls``)."""
        made = []

        def body(*args):
            ds = map_func(*args)
            if not isinstance(ds, Dataset):
                raise TypeError(f"The `map_func` argument must return a `Dataset` object. Got {type(ds)!r}.")
            made.append(ds)
            return ds._variant_tensor
        fn = trace_function(body, self._types, self._shapes, "interleave")
        return self._derived("InterleaveDataset", types=made[0].output_types, shapes=made[0].output_shapes,
                             other_arguments=fn.captured, f=fn.attr,
                             cycle_length=_int64(AUTOTUNE if cycle_length is None else cycle_length, "cycle_length"),
                             block_length=_int64(1 if block_length is None else block_length, "block_length"))

    def unbatch(self):
        """Each element split along its first dimension into that many elements."""
        for s in nest.flatten(self._shapes):
            if s.ndims == 0:
                raise ValueError("Cannot unbatch an input with scalar components.")
        return self._derived("UnbatchDataset", shapes=nest.map_structure(
            lambda s: s[1:] if s.ndims is not None else ts.unknown_shape(), self._shapes))

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None, output_signature=None):
        """Elements yielded by ``generator(*args)`` (a callable returning an iterator), run in this process on
        each iterator initialization; ``args`` are tensors whose values it gets as NumPy values. The graph's
        ``GeneratorDataset`` names the generator by a token of this process: such a graph exports, but cannot run
        after import (deferflow raises UnimplementedError; TensorFlow finds no such functions)."""
        from deferflow.ops.dataset_ops import GENERATOR_PREFIX, GENERATORS
        if not callable(generator):
            raise TypeError("`generator` must be a Python callable.")
        if output_signature is not None:
            output_types = nest.map_structure(lambda spec: spec.dtype, output_signature)
            output_shapes = nest.map_structure(lambda spec: spec.shape, output_signature)
        if output_types is None:
            raise TypeError("To specify the output signature you need to provide either the `output_signature` "
                            "argument or the `output_types` argument.")
        types = nest.map_structure(dtypes.as_dtype, output_types)
        if output_shapes is None:
            shapes = nest.map_structure(lambda _: ts.unknown_shape(), types)
        elif nest.is_nested(types):
            shapes = nest.pack(types, [ts.as_shape(s) for s in nest.flatten(output_shapes)]) \
                if nest.same_structure(types, output_shapes) else None
            if shapes is None:
                raise TypeError(f"The two structures don't have the same sequence type. Input structure has type "
                                f"{type(types)}, while shallow structure has type {type(output_shapes)}.")
        else:
            shapes = ts.as_shape(output_shapes)
        arg_tensors = [convert_to_tensor(a, name=f"args_{i}") for i, a in enumerate(args or ())]
        token = str(next(_generator_tokens))
        GENERATORS[token] = (generator, types, shapes, types)
        fname = _name_attr(GENERATOR_PREFIX + token)
        v = apply_op("GeneratorDataset", init_func_other_args=arg_tensors, next_func_other_args=[],
                     finalize_func_other_args=[], init_func=fname, next_func=fname, finalize_func=fname,
                     Tinit_func_args=[t.dtype.base_dtype for t in arg_tensors], Tnext_func_args=[],
                     Tfinalize_func_args=[], output_types=nest.flatten(types), output_shapes=nest.flatten(shapes))
        return Dataset(v, types, shapes)

    def shard(self, num_shards, index):
        """Every ``num_shards``-th element, starting at ``index``."""
        return self._derived("ShardDataset", num_shards=_int64(num_shards, "num_shards"),
                             index=_int64(index, "index"))

    def apply(self, transformation_func):
        return transformation_func(self)

    # --- iterators --------------------------------------------------------------------------------
    def make_one_shot_iterator(self):
        """An iterator that needs no initialization (the dataset may not use placeholders)."""
        from deferflow.data.iterator_ops import one_shot_iterator
        return one_shot_iterator(self)

    def make_initializable_iterator(self, shared_name=None):
        """An iterator with an ``initializer`` op; running it (again) starts from the first element."""
        from deferflow.data.iterator_ops import initializable_iterator
        return initializable_iterator(self, shared_name)


DatasetV1 = Dataset


class TFRecordDataset(Dataset):
    """The records of TFRecord files (``compression_type`` None/'' , 'ZLIB' or 'GZIP'), as scalar strings."""

    _op = "TFRecordDataset"

    def __init__(self, filenames, compression_type=None, buffer_size=None, num_parallel_reads=None):
        names = convert_to_tensor(filenames, dtype=dtypes.string, name="filenames")
        if names.shape.ndims not in (None, 0, 1):
            raise TypeError("`filenames` must be a `tf.Tensor` of dtype `tf.string` and shape [] or [None]")
        comp = convert_to_tensor(compression_type or "", dtype=dtypes.string, name="compression_type")
        buf = _int64(_DEFAULT_READER_BUFFER_SIZE_BYTES if buffer_size is None else buffer_size, "buffer_size")
        v = apply_op(self._op, filenames=names, compression_type=comp, buffer_size=buf)
        super().__init__(v, dtypes.string, ts.TensorShape([]))


class TextLineDataset(TFRecordDataset):
    """The lines of text files, without their line endings, as scalar strings."""

    _op = "TextLineDataset"
