"""Reading checkpoints without a graph: ``tf.train.load_checkpoint``, ``NewCheckpointReader``,
``list_variables``, ``load_variable``, and ``init_from_checkpoint`` (initializers that read a checkpoint).
V2 checkpoints and V1 ones (single files or sharded glob patterns) are both read.
"""
import os

from deferflow.formats import checkpoint_v1
from deferflow.formats import errors as format_errors
from deferflow.framework import dtypes, errors, ops
from deferflow.ops import io_ops
from deferflow.training import checkpoint_management


class CheckpointReader:
    """TensorFlow's ``CheckpointReader``: a V2 checkpoint prefix (``PREFIX.index`` exists) or, as TensorFlow
    falls back to, a V1 checkpoint file or glob pattern (``model.ckpt``, ``model.ckpt-?????-of-00002``)."""

    def __init__(self, filepattern):
        if isinstance(filepattern, bytes):
            filepattern = filepattern.decode("utf-8", "surrogateescape")
        self._prefix = os.fspath(filepattern)
        self._v1 = checkpoint_v1.is_v1_checkpoint(self._prefix)  # not for a V2 file such as m.index: that gets a hint
        if self._v1:
            try:
                self._reader = checkpoint_v1.V1Reader(self._prefix)
            except (format_errors.FormatError, OSError) as e:
                raise io_ops.translate_error(e) from None
        elif not os.path.exists(self._prefix + ".index"):
            hint = io_ops.path_hint(self._prefix)
            raise errors.NotFoundError(None, None, "Unsuccessful TensorSliceReader constructor: Failed to find any "
                                       f"matching files for {self._prefix}" + (f". {hint}" if hint else ""))
        else:
            self._reader = io_ops.open_reader(self._prefix)
        self._reader.close()  # data files are reopened per read; the index (V1: metadata) stays parsed

    def has_tensor(self, tensor_str):
        return tensor_str in self._reader

    def get_tensor(self, tensor_str):
        """The stored value of ``tensor_str`` as a NumPy array (NotFoundError if absent, DataLossError if damaged)."""
        if not self.has_tensor(tensor_str):
            raise errors.NotFoundError(None, None, f"Key {tensor_str} not found in checkpoint")
        try:
            with io_ops.no_hugepage_stalls():
                if self._v1:
                    value = self._read_v1(tensor_str)
                else:
                    value = io_ops.read_tensor(self._reader, self._prefix, tensor_str)
        finally:
            self._reader.close()
        return value[()] if value.ndim == 0 else value  # scalars come back as NumPy scalars / bytes, as in TF

    def _read_v1(self, name):
        try:
            return self._reader.read(name)
        except (format_errors.FormatError, OSError) as e:
            raise io_ops.translate_error(e, None, name) from None  # (its path hints speak of V2 prefixes only)

    def _translate(self, e):
        return io_ops.translate_error(e, None if self._v1 else self._prefix)

    def get_variable_to_shape_map(self):
        try:
            return self._reader.variable_to_shape_map()
        except (format_errors.FormatError, OSError) as e:
            raise self._translate(e) from None

    def get_variable_to_dtype_map(self):
        try:
            return {k: dtypes.as_dtype(v) for k, v in self._reader.variable_to_dtype_map().items()}
        except (format_errors.FormatError, OSError) as e:
            raise self._translate(e) from None

    def debug_string(self):
        from deferflow.formats.protos import DataType
        out = ""
        for k in self._reader.keys():
            entry = self._reader.entry(k)
            out += f"{k} ({DataType.Name(entry.dtype)}) [{','.join(str(d) for d in entry.shape)}]\n"
        return out.encode()


def NewCheckpointReader(filepattern):  # noqa: N802 - TF's name
    """A CheckpointReader for checkpoint prefix ``filepattern``."""
    return CheckpointReader(filepattern)


def _get_checkpoint_filename(ckpt_dir_or_file):
    ckpt_dir_or_file = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(ckpt_dir_or_file):
        return checkpoint_management.latest_checkpoint(ckpt_dir_or_file)
    return ckpt_dir_or_file


def load_checkpoint(ckpt_dir_or_file):
    """A CheckpointReader for a checkpoint prefix, or for the latest checkpoint of a directory."""
    filename = _get_checkpoint_filename(ckpt_dir_or_file)
    if filename is None:
        raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given directory {ckpt_dir_or_file}")
    return NewCheckpointReader(filename)


def load_variable(ckpt_dir_or_file, name):
    """The value of tensor ``name`` (a trailing ``:0`` is ignored) in a checkpoint."""
    if name.endswith(":0"):
        name = name[:-2]
    return load_checkpoint(ckpt_dir_or_file).get_tensor(name)


def list_variables(ckpt_dir_or_file):
    """Sorted ``[(name, shape)]`` of the tensors in a checkpoint."""
    shapes = load_checkpoint(ckpt_dir_or_file).get_variable_to_shape_map()
    return [(name, shapes[name]) for name in sorted(shapes)]


# --- init_from_checkpoint ----------------------------------------------------------------------

def _is_variable(x):
    from deferflow.training.saver import _is_variable as is_var
    return is_var(x)


def _collect_partitioned_variable(name, all_vars):
    if name + "/part_0" in all_vars:
        parts, i = [], 0
        while f"{name}/part_{i}" in all_vars:
            parts.append(all_vars[f"{name}/part_{i}"])
            i += 1
        return parts
    return None


def _set_checkpoint_initializer(variable, ckpt_file, tensor_name, slice_spec, name="checkpoint_initializer"):
    """Makes ``variable``'s initializer restore ``tensor_name`` from ``ckpt_file`` instead."""
    from deferflow.training.saver import _variable_saveable
    base = variable.dtype.base_dtype
    with ops.device(variable.device), ops.device("/cpu:0"):
        restore = io_ops.restore_v2(ckpt_file, [tensor_name], [slice_spec], [base], name=name)[0]
        saveable = _variable_saveable(variable, slice_spec, variable.op.name)
    init_op = saveable.restore([restore], None)
    variable._initializer_op = init_op if isinstance(init_op, ops.Operation) else init_op.op
    restore.set_shape(variable.shape)
    variable._initial_value = restore


def _set_variable_or_list_initializer(variable_or_list, ckpt_file, tensor_name):
    if isinstance(variable_or_list, (list, tuple)):
        slice_name = None
        for v in variable_or_list:
            info = v._save_slice_info
            if slice_name is None:
                slice_name = info.full_name
            elif slice_name != info.full_name:
                raise ValueError(f"Slices must all be from the same tensor: {slice_name} != {info.full_name}")
            _set_checkpoint_initializer(v, ckpt_file, tensor_name, info.spec)
    else:
        _set_checkpoint_initializer(variable_or_list, ckpt_file, tensor_name, "")


def init_from_checkpoint(ckpt_dir_or_file, assignment_map):
    """Replaces variables' initializers so they load values from a checkpoint.

    ``assignment_map`` maps checkpoint names or scopes (``'old_scope/'``) to variables, variable names,
    or scopes (``'new_scope/'``); ``'/'`` is the root. Only the initializers change: run
    ``tf.global_variables_initializer()`` afterwards.
    """
    from deferflow.ops import variable_scope
    ckpt_file = _get_checkpoint_filename(ckpt_dir_or_file)
    reader = load_checkpoint(ckpt_dir_or_file)
    variable_map = reader.get_variable_to_shape_map()
    items = assignment_map.items() if hasattr(assignment_map, "items") else assignment_map
    store_vars = variable_scope._get_store()._vars
    for tensor_name_in_ckpt, current in sorted(items, key=lambda pair: pair[0]):
        if _is_variable(current) or isinstance(current, list) and all(_is_variable(v) for v in current):
            var = current
        else:
            var = store_vars.get(current)
            if var is None:
                var = _collect_partitioned_variable(current, store_vars)
        if var is not None:
            if tensor_name_in_ckpt not in variable_map:
                raise ValueError(f"Tensor {tensor_name_in_ckpt} is not found in {ckpt_dir_or_file} checkpoint "
                                 f"{variable_map}")
            if _is_variable(var) and not var.shape.is_compatible_with(variable_map[tensor_name_in_ckpt]):
                raise ValueError(f"Shape of variable {var.name} ({var.shape}) doesn't match with shape of tensor "
                                 f"{tensor_name_in_ckpt} ({variable_map[tensor_name_in_ckpt]}) from checkpoint "
                                 "reader.")
            _set_variable_or_list_initializer(var, ckpt_file, tensor_name_in_ckpt)
            continue
        scopes = current[:current.rindex("/")] if "/" in current else ""
        if not tensor_name_in_ckpt.endswith("/"):
            raise ValueError(f"Assignment map with scope only name {scopes} should map to scope only "
                             f"{tensor_name_in_ckpt}. Should be 'scope/': 'other_scope/'.")
        scope_variables = set()
        for var_name in store_vars:
            if not scopes or var_name.startswith(scopes + "/"):
                if "/part_" in var_name:
                    var_name = var_name[:var_name.index("/part_")]
                scope_variables.add(var_name)
        for var_name in sorted(scope_variables):
            full_tensor_name = var_name[len(scopes):]
            if current != "/":
                full_tensor_name = full_tensor_name[1:]
            if tensor_name_in_ckpt != "/":
                full_tensor_name = tensor_name_in_ckpt + full_tensor_name
            if full_tensor_name.endswith("/"):
                full_tensor_name = full_tensor_name[:-1]
            if full_tensor_name not in variable_map:
                raise ValueError(f"Tensor {full_tensor_name} ({var_name[len(scopes) + 1:]} in {tensor_name_in_ckpt}) "
                                 f"is not found in {ckpt_dir_or_file} checkpoint")
            var = store_vars.get(var_name)
            if var is None:
                var = _collect_partitioned_variable(var_name, store_vars)
            _set_variable_or_list_initializer(var, ckpt_file, full_tensor_name)
