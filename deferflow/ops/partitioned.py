"""Partitioned variables: ``get_variable(..., partitioner=...)`` creates ``name/part_0``... slices, each
carrying a ``SaveSliceInfo`` so the Saver writes them as slices of one checkpoint tensor ``name``.
"""
import math

from deferflow.framework import dtypes, ops
from deferflow.framework import tensor_shape as ts
from deferflow.ops import array_ops


class SaveSliceInfo:
    """Where a variable sits inside a larger (partitioned) tensor: ``full_name``, ``full_shape``, offset, shape."""

    def __init__(self, full_name=None, full_shape=None, var_offset=None, var_shape=None, save_slice_info_def=None,
                 import_scope=None):
        if save_slice_info_def is not None:
            full_name = ops.prepend_name_scope(save_slice_info_def.full_name, import_scope)
            full_shape = list(save_slice_info_def.full_shape)
            var_offset = list(save_slice_info_def.var_offset)
            var_shape = list(save_slice_info_def.var_shape)
        self.full_name = full_name
        self.full_shape = [int(d) for d in full_shape] if full_shape is not None else None
        self.var_offset = [int(d) for d in var_offset] if var_offset is not None else None
        self.var_shape = [int(d) for d in var_shape] if var_shape is not None else None

    @property
    def spec(self):
        """TF's shape-and-slice string, e.g. ``"10 4 0,4:0,4"``."""
        full = " ".join(str(d) for d in self.full_shape) + " "
        return full + ":".join(f"{o},{s}" for o, s in zip(self.var_offset, self.var_shape))

    def to_proto(self, export_scope=None):
        from deferflow.formats.protos import SaveSliceInfoDef
        if export_scope is not None and not self.full_name.startswith(export_scope):
            return None
        return SaveSliceInfoDef(full_name=ops.strip_name_scope(self.full_name, export_scope),
                                full_shape=self.full_shape, var_offset=self.var_offset, var_shape=self.var_shape)

    @classmethod
    def from_proto(cls, save_slice_info_def, import_scope=None):
        return cls(save_slice_info_def=save_slice_info_def, import_scope=import_scope)

    def __repr__(self):
        return f"SaveSliceInfo({self.full_name!r}, {self.spec!r})"


class _PartitionInfo:
    """What an initializer of one slice learns about the whole variable (``partition_info``)."""

    def __init__(self, full_shape, var_offset):
        self.full_shape, self.var_offset = list(full_shape), list(var_offset)

    def single_offset(self, shape):
        dim = self.single_slice_dim(shape)
        return 0 if dim is None else self.var_offset[dim]

    def single_slice_dim(self, shape):
        for i, (full, part) in enumerate(zip(self.full_shape, shape)):
            if full != part:
                return i
        return None


class PartitionedVariable:
    """A variable stored as slices along one axis; converts to the concatenated tensor."""

    def __init__(self, name, shape, dtype, variable_list, partitions):
        if not isinstance(variable_list, (list, tuple)):
            raise TypeError(f"variable_list is not a list or tuple: {variable_list}")
        if not isinstance(partitions, (list, tuple)):
            raise TypeError(f"partitions is not a list or tuple: {partitions}")
        if not all(p >= 1 for p in partitions):
            raise ValueError(f"partition values must be positive: {partitions}")
        if not variable_list:
            raise ValueError("variable_list may not be empty")
        for v in variable_list:
            if v._get_save_slice_info() is None:
                raise ValueError(f"All variables must have a save_slice_info available: "
                                 f"{[v.name for v in variable_list]}")
        self._variable_list = sorted(variable_list, key=lambda v: v._get_save_slice_info().var_offset)
        self._name, self._shape, self._dtype = name, ts.as_shape(shape), dtypes.as_dtype(dtype)
        self._partitions = list(partitions)

    name = property(lambda self: self._name)
    dtype = property(lambda self: self._dtype)
    shape = property(lambda self: self._shape)
    graph = property(lambda self: self._variable_list[0].graph)

    def get_shape(self):
        return self._shape

    def __iter__(self):
        return iter(self._variable_list)

    def __len__(self):
        if len(self._partition_axes()) > 1:
            raise ValueError(f"Cannot get a length for {len(self._partition_axes())} > 1 partition axes")
        return len(self._variable_list)

    def _get_variable_list(self):
        return self._variable_list

    def _get_partitions(self):
        return self._partitions

    def _partition_axes(self):
        if all(p == 1 for p in self._partitions):
            return [0]
        return [i for i, p in enumerate(self._partitions) if p > 1]

    def _concat(self):
        if len(self._variable_list) == 1:
            with ops.name_scope(None):
                return array_ops.identity(self._variable_list[0], name=self._name)
        axis = self._partition_axes()[0]
        with ops.name_scope(self._name + "/ConcatPartitions/"):
            joined = array_ops.concat([v.value() for v in self._variable_list], axis)
        with ops.name_scope(None):
            return array_ops.identity(joined, name=self._name)

    def as_tensor(self):
        with ops.control_dependencies(None):
            return self._concat()

    def _apply_assign_fn(self, assign_fn, value):
        axis = self._partition_axes()[0]
        if isinstance(value, (list, PartitionedVariable)):
            parts = list(value)
        else:
            value = ops.convert_to_tensor(value, dtype=self._dtype)
            parts = []
            for v in self._variable_list:
                info = v._get_save_slice_info()
                index = [slice(None)] * len(self._shape)
                index[axis] = slice(info.var_offset[axis], info.var_offset[axis] + info.var_shape[axis])
                parts.append(value[tuple(index)])
        return [assign_fn(v, p) for v, p in zip(self._variable_list, parts)]

    def assign(self, value, use_locking=False, name=None, read_value=True):
        return self._apply_assign_fn(lambda v, p: v.assign(p, use_locking=use_locking, read_value=read_value),
                                     value)

    def __repr__(self):
        return f"<tf.PartitionedVariable '{self._name}' shape={self._shape} dtype={self._dtype.name}>"


def _partitioned_conversion(v, dtype=None, name=None, as_ref=False):
    if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(v.dtype):
        raise ValueError(f"Incompatible type conversion requested to type '{dtypes.as_dtype(dtype).name}' for "
                         f"variable of type '{v.dtype.name}'")
    if as_ref:
        raise NotImplementedError("PartitionedVariable doesn't support being used as a reference.")
    return v.as_tensor()


ops.register_tensor_conversion_function(PartitionedVariable, _partitioned_conversion)


# --- partitioners ------------------------------------------------------------------------------

def fixed_size_partitioner(num_shards, axis=0):
    """Splits ``axis`` into ``num_shards`` (fewer if the axis is shorter)."""
    def _partitioner(shape, **unused):
        parts = [1] * len(shape)
        parts[axis] = min(num_shards, ts.as_shape(shape)[axis].value)
        return parts
    return _partitioner


def variable_axis_size_partitioner(max_shard_bytes, axis=0, bytes_per_string_element=16, max_shards=None):
    """Shards ``axis`` so each shard holds at most ``max_shard_bytes`` (and at most ``max_shards`` shards)."""
    if max_shard_bytes < 1 or bytes_per_string_element < 1:
        raise ValueError(f"Both max_shard_bytes and bytes_per_string_element must be positive. Currently, "
                         f"max_shard_bytes is {max_shard_bytes} and bytes_per_string_element is "
                         f"{bytes_per_string_element}")
    if max_shards and max_shards < 1:
        raise ValueError("max_shards must be positive.")

    def _partitioner(shape, dtype):
        shape = _checked_shape(shape)
        dtype = dtypes.as_dtype(dtype)
        size = bytes_per_string_element if dtype.base_dtype == dtypes.string else dtype.size
        bytes_per_slice = 1.0 * (shape.num_elements() / shape[axis].value) * size
        slices_per_shard = max(1, math.floor(max_shard_bytes / bytes_per_slice))
        shards = int(math.ceil(1.0 * shape[axis].value / slices_per_shard))
        if max_shards:
            shards = min(max_shards, shards)
        parts = [1] * shape.ndims
        parts[axis] = shards
        return parts
    return _partitioner


def min_max_variable_partitioner(max_partitions=1, axis=0, min_slice_size=256 << 10, bytes_per_string_element=16):
    """As many partitions of at least ``min_slice_size`` bytes as fit, at most ``max_partitions``."""
    if axis < 0:
        raise ValueError(f"axis must be a non-negative integer, got {axis}")
    if max_partitions < 1:
        raise ValueError(f"max_partitions must be greater than or equal to 1, got {max_partitions}")

    def _partitioner(shape, dtype):
        shape = _checked_shape(shape)
        dtype = dtypes.as_dtype(dtype)
        size = bytes_per_string_element if dtype.base_dtype == dtypes.string else dtype.size
        partitions = shape.num_elements() * size / min_slice_size
        parts = [1] * len(shape)
        parts[axis] = max(1, min(shape[axis].value, max_partitions, int(math.ceil(partitions))))
        return parts
    return _partitioner


def _checked_shape(shape):
    if not isinstance(shape, ts.TensorShape):
        raise ValueError(f"shape is not a TensorShape: {shape}")
    if not shape.is_fully_defined():
        raise ValueError(f"shape is not fully defined: {shape}")
    return shape


# --- creation (called by the variable store) ---------------------------------------------------

def _call_partitioner(partitioner, shape, dtype):
    if not shape.is_fully_defined():
        raise ValueError(f"Shape of a new partitioned variable must be fully defined, but instead was {shape}.")
    if shape.ndims < 1:
        raise ValueError(f"A partitioned Variable must have rank at least 1, shape: {shape}")
    slicing = partitioner(shape=shape, dtype=dtype)
    if not isinstance(slicing, (list, tuple)):
        raise ValueError(f"Partitioner must return a sequence, but saw: {slicing}")
    if len(slicing) != shape.ndims:
        raise ValueError(f"Partitioner returned a partition list that does not match the Variable's rank: "
                         f"{slicing} vs. {shape}")
    if any(p < 1 for p in slicing):
        raise ValueError(f"Partitioner returned zero partitions for some axes: {slicing}")
    if sum(p > 1 for p in slicing) > 1:
        raise ValueError(f"Can only slice a variable along one dimension: shape: {shape}, partitioning: {slicing}")
    return list(slicing)


def _slice_dim_and_count(slicing):
    for dim, count in enumerate(slicing):
        if count > 1:
            return dim, count
    return 0, 1


def _iter_slices(full_shape, num_slices, slice_dim):
    """(offset, shape) of each slice; the first ``full % num`` slices get one extra row, as in TF."""
    excess = full_shape[slice_dim] % num_slices
    offset = [0] * len(full_shape)
    base = full_shape[slice_dim] // num_slices
    for i in range(num_slices):
        shape = list(full_shape)
        shape[slice_dim] = base + (1 if i < excess else 0)
        yield list(offset), shape
        offset[slice_dim] += shape[slice_dim]


def get_partitioned_variable(store, name, shape, dtype, initializer, regularizer, reuse, trainable, collections,
                             validate_shape, partitioner):
    """Creates (or, under reuse, returns) the PartitionedVariable ``name`` made of ``name/part_i`` variables."""
    from_value = isinstance(initializer, ops.Tensor)
    if name in store._vars:
        raise ValueError(f"A partitioner was provided, but an unpartitioned version of the variable was found: "
                         f"{name}.  Perhaps a variable of the same name was already created without partitioning?")
    shape = ts.as_shape(shape)
    if from_value:
        shape = shape.merge_with(initializer.shape)
    partitions = _call_partitioner(partitioner, shape, dtype)
    if name in store._partitioned_vars:
        if reuse is False:
            raise ValueError(f"Partitioned variable with name {name} already exists. Did you mean to set "
                             "reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        existing = store._partitioned_vars[name]
        if not shape.is_compatible_with(existing.get_shape()):
            raise ValueError(f"Trying to reuse partitioned variable {name}, but specified shape {shape} and found "
                             f"shape {existing.get_shape()}.")
        if not dtype.is_compatible_with(existing.dtype):
            raise ValueError(f"Trying to reuse partitioned variable {name}, but specified dtype {dtype.name} and "
                             f"found dtype {existing.dtype.name}.")
        if existing._get_partitions() != partitions:
            raise ValueError(f"Trying to reuse partitioned variable {name}, but specified partitions {partitions} "
                             f"and found partitions {existing._get_partitions()}.")
        return existing
    if reuse is True:
        raise ValueError(f"PartitionedVariable {name} does not exist, or was not created with tf.get_variable(). "
                         "Did you mean to set reuse=False or reuse=tf.AUTO_REUSE in VarScope?")
    slice_dim, num_slices = _slice_dim_and_count(partitions)
    full = shape.as_list()
    parts = []
    for i, (offset, part_shape) in enumerate(_iter_slices(full, num_slices, slice_dim)):
        info = _PartitionInfo(full, offset)
        part_name = f"{name}/part_{i}"
        part_dtype = dtype
        with ops.name_scope(part_name + "/PartitionedInitializer"):
            if initializer is None or callable(initializer) and not isinstance(initializer, ops.Tensor):
                init = _with_partition_info(initializer, info, store, part_name, dtype)
                init_shape = part_shape
            else:
                value = initializer if from_value else ops.convert_to_tensor(initializer, dtype=dtype)
                index = tuple(slice(o, o + s) for o, s in zip(offset, part_shape))
                init = value[index]
                part_dtype = init.dtype.base_dtype
                init_shape = None
        with ops.name_scope(None):
            var = store._true_getter(part_name, init_shape, part_dtype, init, regularizer, reuse, trainable,
                                     collections, validate_shape, None, None)
        var._set_save_slice_info(SaveSliceInfo(name, full, offset, part_shape))
        parts.append(var)
    result = PartitionedVariable(name, shape, dtype, parts, partitions)
    store._partitioned_vars[name] = result
    return result


def _with_partition_info(initializer, info, store, name, dtype):
    """The initializer called with this slice's ``partition_info``, as TF's variable store does."""
    if initializer is None:
        from deferflow.ops import init_ops
        dtype = dtypes.as_dtype(dtype)
        initializer = (init_ops.glorot_uniform_initializer() if dtype.is_floating else
                       init_ops.zeros_initializer() if dtype.is_integer or dtype.is_bool else None)
        if initializer is None:
            raise ValueError(f"An initializer for variable {name} of {dtype!r} is required")
    if isinstance(initializer, type):
        initializer = initializer(dtype=dtype)

    def init(shape, dtype=None, partition_info=None):
        try:
            return initializer(shape, dtype=dtype, partition_info=info)
        except TypeError as e:
            if "partition_info" not in str(e):
                raise
            return initializer(shape, dtype=dtype)
    return init
