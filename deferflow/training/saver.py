"""``tf.train.Saver``: builds TensorFlow's save/restore ops (``save/SaveV2``, ``save/RestoreV2``,
``save/restore_all``...) and a ``SaverDef`` into the graph; ``save``/``restore`` run them through
``Session.run``, so a Saver rebuilt from a ``.meta`` file's SaverDef works the same way.

What a variable contributes is pluggable, as in TensorFlow: a ``SaveableObject`` lists ``SaveSpec``s
(tensor to save, checkpoint name, slice) and builds the op that restores it. Reference variables,
resource variables (anything with ``handle`` and ``_graph_element``), partitioned variables and
user-defined SaveableObjects all go through it.
"""
import collections
import logging
import os
import time

import numpy as np

from deferflow.formats.protos import SaverDef
from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework.ops import GraphKeys, Tensor
from deferflow.ops import array_ops, control_flow_ops, io_ops, state_ops
from deferflow.training import checkpoint_management

_log = logging.getLogger("deferflow")
_VARIABLE_OPS = ("Variable", "VariableV2", "AutoReloadVariable", "VarHandleOp", "ReadVariableOp")
_REF_VARIABLE_OPS = ("Variable", "VariableV2", "AutoReloadVariable")


# --- saveables ---------------------------------------------------------------------------------

class SaveSpec:
    """One tensor to save: ``tensor`` (or a callable making it), checkpoint ``name``, ``slice_spec``."""

    def __init__(self, tensor, slice_spec, name, dtype=None, device=None):
        self._tensor = tensor
        self.slice_spec = slice_spec
        self.name = name
        if dtype is None:
            dtype = tensor.dtype
        self.dtype = dtypes.as_dtype(dtype).base_dtype
        self.device = device if device is not None else (tensor.device if isinstance(tensor, Tensor) else "")

    @property
    def tensor(self):
        return self._tensor() if callable(self._tensor) and not isinstance(self._tensor, Tensor) else self._tensor


class SaveableObject:
    """Something the Saver can save (``specs``) and restore (``restore(tensors, shapes)`` -> op)."""

    def __init__(self, op, specs, name):
        self.op = op
        self.specs = specs
        self.name = name

    @property
    def device(self):
        return self.specs[0].device

    def restore(self, restored_tensors, restored_shapes):
        raise NotImplementedError


class ReferenceVariableSaveable(SaveableObject):
    """A TF1 reference variable: saved from its ref tensor, restored with ``Assign``."""

    def __init__(self, var, slice_spec, name):
        super().__init__(var, [SaveSpec(var, slice_spec, name, dtype=var.dtype)], name)

    def restore(self, restored_tensors, restored_shapes):
        restored = restored_tensors[0]
        if restored_shapes is not None:
            restored = array_ops.reshape(restored, restored_shapes[0])
        return state_ops.apply_op("Assign", name="Assign", ref=self.op, value=restored, use_locking=True,
                                  validate_shape=restored_shapes is None and self.op.shape.is_fully_defined())


class ResourceVariableSaveable(SaveableObject):
    """A resource variable (``VarHandleOp``): saved from its read tensor, restored with ``AssignVariableOp``."""

    def __init__(self, var, slice_spec, name):
        self._var_device = var.device
        self._var_shape = var.shape
        if isinstance(var, Tensor):  # a ReadVariableOp output
            self.handle_op = var.op.inputs[0]
            tensor = var
        else:
            self.handle_op = var.handle
            tensor = var._graph_element
        super().__init__(var, [SaveSpec(tensor, slice_spec, name, dtype=var.dtype, device=var.device)], name)

    def restore(self, restored_tensors, restored_shapes):
        restored = restored_tensors[0]
        if restored_shapes is not None:
            restored = array_ops.reshape(restored, restored_shapes[0])
        with ops.device(self._var_device):
            restored = array_ops.identity(restored)
            if not self._var_shape.is_compatible_with(restored.shape):
                raise ValueError(f"Received incompatible tensor with shape {restored.shape} when attempting to "
                                 f"restore variable with shape {self._var_shape} and name {self.name}.")
            return ops.apply_op("AssignVariableOp", resource=self.handle_op, value=restored)


def _is_resource_variable(v):
    return not isinstance(v, Tensor) and (getattr(v, "_should_act_as_resource_variable", False)
                                          or hasattr(v, "handle") and hasattr(v, "_graph_element"))


def _is_variable(v):
    from deferflow.ops.variables import Variable
    return isinstance(v, Variable) or _is_resource_variable(v)


def _tensor_comes_from_variable(t):
    return isinstance(t, Tensor) and t.op.type in _VARIABLE_OPS


def _var_tensor(var):
    """The tensor that names a variable in a var_list: ref tensor, or a resource variable's read."""
    if _is_resource_variable(var):
        return var._graph_element
    return ops.convert_to_tensor(var, as_ref=True)


def op_list_to_dict(op_list, convert_variable_to_tensor=True):
    """{checkpoint name: variable or list of slices} for a list of variables, as TF names them."""
    from deferflow.ops.partitioned import PartitionedVariable
    if not isinstance(op_list, (list, tuple, set)):
        raise TypeError(f"Variables to save should be passed in a dict or a list: {op_list}")
    flat = []
    for x in op_list:
        if isinstance(x, (list, tuple)):
            flat.extend(x)
        else:
            flat.append(x)
    flat = sorted(flat, key=lambda x: x.name)
    result = {}
    for var in flat:
        if isinstance(var, SaveableObject):
            result[var.name] = var
        elif isinstance(var, PartitionedVariable):
            if var.name in result:
                raise ValueError(f"At least two variables have the same name: {var.name}")
            result[var.name] = var
        elif _is_variable(var) and getattr(var, "_save_slice_info", None):
            name = var._save_slice_info.full_name
            if name in result and not isinstance(result[name], list):
                raise ValueError(f"Mixing slices and non-slices with the same name: {name}")
            result.setdefault(name, []).append(var)
        else:
            if convert_variable_to_tensor:
                var = _var_tensor(var) if _is_variable(var) else ops.convert_to_tensor(var, as_ref=True)
                if not _tensor_comes_from_variable(var):
                    raise TypeError(f"Variable to save is not a Variable: {var}")
            name = var.op.inputs[0].op.name if var.op.type == "ReadVariableOp" else var.op.name
            if name in result:
                raise ValueError(f"At least two variables have the same name: {name}")
            result[name] = var
    return result


def saveable_objects_for_op(op, name):
    """The SaveableObjects for one var_list entry (a variable, a tensor of one, slices, or a saveable)."""
    from deferflow.ops.partitioned import PartitionedVariable
    if not isinstance(name, str):
        raise TypeError(f"names_to_saveables must be a dict mapping string names to checkpointable operations. "
                        f"Name is not a string: {name}")
    if isinstance(op, SaveableObject):
        yield op
    elif isinstance(op, (list, tuple, PartitionedVariable)):
        slice_name = None
        for variable in list(op):
            if isinstance(variable, SaveableObject):
                yield variable
                continue
            if not _is_variable(variable):
                raise ValueError(f"Slices must all be Variables: {variable}")
            info = getattr(variable, "_save_slice_info", None)
            if not info:
                raise ValueError(f"Slices must all be slices: {variable}")
            if slice_name is None:
                slice_name = info.full_name
            elif slice_name != info.full_name:
                raise ValueError(f"Slices must all be from the same tensor: {slice_name} != {info.full_name}")
            yield _variable_saveable(variable, info.spec, name)
    elif _is_resource_variable(op):
        yield ResourceVariableSaveable(op, "", name)
    else:
        variable = ops.convert_to_tensor(op, as_ref=True)
        if not _tensor_comes_from_variable(variable):
            raise TypeError(f"names_to_saveables must be a dict mapping string names to Tensors/Variables. Not a "
                            f"variable: {variable}")
        yield _variable_saveable(variable, "", name)


def _variable_saveable(variable, slice_spec, name):
    if _is_resource_variable(variable):
        return ResourceVariableSaveable(variable, slice_spec, name)
    t = ops.convert_to_tensor(variable, as_ref=True) if not isinstance(variable, Tensor) else variable
    if t.op.type in _REF_VARIABLE_OPS:
        return ReferenceVariableSaveable(t, slice_spec, name)
    return ResourceVariableSaveable(t, slice_spec, name)


def validate_and_slice_inputs(names_to_saveables):
    """The SaveableObjects of a var_list (list or dict), sorted by checkpoint name; rejects duplicates."""
    if not isinstance(names_to_saveables, dict):
        names_to_saveables = op_list_to_dict(names_to_saveables)
    saveables, seen = [], set()
    for name, op in sorted(names_to_saveables.items(), key=lambda x: x[0]):
        for saveable in saveable_objects_for_op(op, name):
            key = id(saveable.op) if saveable.op is not None else None
            if key is not None and key in seen:
                raise ValueError(f"The same saveable will be restored with two names: {saveable.name}")
            saveables.append(saveable)
            seen.add(key)
    return saveables


# --- devices -----------------------------------------------------------------------------------

def _parse_device(spec):
    fields = {}
    for part in (spec or "").strip("/").split("/"):
        if ":" not in part:
            continue
        key, _, value = part.partition(":")
        low = key.lower()
        if low in ("job", "replica", "task"):
            fields[low] = value
        elif low == "device":
            kind, _, index = value.partition(":")
            fields["device"] = f"{kind.upper()}:{index or '*'}"
        elif low in ("cpu", "gpu", "tpu"):
            fields["device"] = f"{low.upper()}:{value}"
    return fields


def _device_string(fields):
    out = "".join(f"/{k}:{fields[k]}" for k in ("job", "replica", "task") if k in fields)
    return out + (f"/device:{fields['device']}" if "device" in fields else "")


def canonical_device(spec):
    """``/cpu:0`` -> ``/device:CPU:0`` (job/replica/task kept), as TF's pydev.canonical_name."""
    return _device_string(_parse_device(spec))


def set_cpu0(spec):
    """The same job/replica/task, on its CPU:0 (where TF runs save ops)."""
    fields = _parse_device(spec)
    fields["device"] = "CPU:0"
    return _device_string(fields)


# --- builder -----------------------------------------------------------------------------------

def _scoped(g, name, build):
    """Runs ``build(scope)`` inside a fresh name scope ``name``; ops named ``scope`` take the scope's name."""
    with g.name_scope(name) as scope:
        return build(scope)


class BaseSaverBuilder:
    """Builds save and restore ops for a list of SaveableObjects (one RestoreV2 per tensor)."""

    VariableSaveable = ReferenceVariableSaveable
    ResourceVariableSaveable = ResourceVariableSaveable
    SaveSpec = SaveSpec
    SaveableObject = SaveableObject

    def __init__(self, write_version=SaverDef.V2):
        self._write_version = write_version

    def save_op(self, filename_tensor, saveables):
        names, tensors, slices = [], [], []
        for saveable in saveables:
            for spec in saveable.specs:
                names.append(spec.name)
                tensors.append(spec.tensor)
                slices.append(spec.slice_spec)
        if self._write_version != SaverDef.V2:
            raise ValueError(f"Unexpected write_version: {self._write_version} (deferflow writes V2 checkpoints)")
        return io_ops.save_v2(filename_tensor, names, slices, tensors)

    def restore_op(self, filename_tensor, saveable, preferred_shard):
        return [io_ops.restore_v2(filename_tensor, [spec.name], [spec.slice_spec], [spec.dtype])[0]
                for spec in saveable.specs]

    def bulk_restore(self, filename_tensor, saveables, preferred_shard, restore_sequentially):
        tensors = []
        for saveable in saveables:
            with ops.device(set_cpu0(saveable.device) if saveable.device else None):
                tensors.extend(self.restore_op(filename_tensor, saveable, preferred_shard))
        return tensors

    def sharded_filename(self, filename_tensor, shard, num_shards):
        return io_ops.sharded_filename(filename_tensor, shard, num_shards)

    def _AddSaveOps(self, filename_tensor, saveables):  # noqa: N802 - TF's method names
        save = self.save_op(filename_tensor, saveables)
        return control_flow_ops.with_dependencies([save], filename_tensor)

    def _AddShardedSaveOpsForV2(self, checkpoint_prefix, per_device):  # noqa: N802
        g = ops.get_default_graph()
        with ops.device("/device:CPU:*"):
            if op_registry.get("Select") is not None:  # TF's graph: object stores (s3://) skip the temp dir
                is_s3 = io_ops.static_regex_full_match(checkpoint_prefix, "^s3://.*")
                part = array_ops.constant(".part")
                temp = array_ops.constant("_temp/part")
                suffix = ops.apply_op("Select", condition=is_s3, t=part, e=temp)
            else:
                suffix = array_ops.constant("_temp/part")
            tmp_prefix = io_ops.string_join([checkpoint_prefix, suffix])
        num_shards = array_ops.constant(len(per_device), name="num_shards")
        saves, prefixes, last_device = [], [], None
        for shard, (device, saveables) in enumerate(per_device):
            last_device = device
            with ops.device(set_cpu0(device)):
                name = self.sharded_filename(tmp_prefix, shard, num_shards)
                prefixes.append(name)
                saves.append(self._AddSaveOps(name, saveables))
        with g.control_dependencies([x.op for x in saves]):
            with ops.device(set_cpu0(last_device)):
                merge = io_ops.merge_v2_checkpoints(prefixes, checkpoint_prefix, delete_old_dirs=True)
                with g.control_dependencies([merge]):
                    return array_ops.identity(checkpoint_prefix)

    def _AddShardedSaveOps(self, filename_tensor, per_device):  # noqa: N802
        return self._AddShardedSaveOpsForV2(filename_tensor, per_device)

    def _AddRestoreOps(self, filename_tensor, saveables, restore_sequentially, reshape, preferred_shard=-1,  # noqa
                       name="restore_all"):
        tensors = self.bulk_restore(filename_tensor, saveables, preferred_shard, restore_sequentially)
        assigns, i = [], 0
        for saveable in saveables:
            shapes = None
            if reshape:
                shapes = []
                for spec in saveable.specs:
                    t = spec.tensor
                    shapes.append(t.shape.as_list() if t.shape.is_fully_defined() else array_ops.shape(t))
            assigns.append(saveable.restore(tensors[i:i + len(saveable.specs)], shapes))
            i += len(saveable.specs)
        return control_flow_ops.group(*assigns, name=name)

    def _AddShardedRestoreOps(self, filename_tensor, per_device, restore_sequentially, reshape):  # noqa: N802
        restores = []
        for shard, (device, saveables) in enumerate(per_device):
            with ops.device(device):
                restores.append(self._AddRestoreOps(filename_tensor, saveables, restore_sequentially, reshape,
                                                    preferred_shard=shard, name="restore_shard"))
        return control_flow_ops.group(*restores, name="restore_all")

    @staticmethod
    def _GroupByDevices(saveables):  # noqa: N802
        per_device = collections.defaultdict(list)
        for saveable in saveables:
            devices = {canonical_device(spec.device) for spec in saveable.specs}
            if len(devices) != 1:
                raise ValueError(f"All tensors of a saveable object must be on the same device: {saveable.name}")
            per_device[devices.pop()].append(saveable)
        return sorted(per_device.items(), key=lambda t: t[0])

    def build(self, names_to_saveables, reshape=False, sharded=False, max_to_keep=5,
              keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False, filename="model"):
        return self._build_internal(names_to_saveables, reshape, sharded, max_to_keep,
                                    keep_checkpoint_every_n_hours, name, restore_sequentially, filename)

    def _build_internal(self, names_to_saveables, reshape=False, sharded=False, max_to_keep=5,
                        keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                        filename="model", build_save=True, build_restore=True):
        if not isinstance(names_to_saveables, dict) and not isinstance(names_to_saveables, (list, tuple, set)):
            raise TypeError(f"Variables to save should be passed in a dict or a list: {names_to_saveables}")
        saveables = validate_and_slice_inputs(names_to_saveables)
        if max_to_keep is None:
            max_to_keep = 0
        save_tensor = restore_op = None
        with ops.name_scope(name, "save", [s.op for s in saveables if s.op is not None]):
            g = ops.get_default_graph()
            filename_tensor = _scoped(g, "filename", lambda s: array_ops.placeholder_with_default(
                array_ops.constant(filename or "model", dtype=dtypes.string, name="input"), shape=[], name=s))
            # "Const" is the filename tensor's name in every TF SaverDef: kept for compatibility.
            filename_tensor = array_ops.placeholder_with_default(filename_tensor, shape=[], name="Const")
            if sharded:
                per_device = self._GroupByDevices(saveables)
                if build_save:
                    save_tensor = self._AddShardedSaveOps(filename_tensor, per_device)
                if build_restore:
                    restore_op = self._AddShardedRestoreOps(filename_tensor, per_device, restore_sequentially,
                                                            reshape)
            else:
                if build_save:
                    save_tensor = self._AddSaveOps(filename_tensor, saveables)
                if build_restore:
                    restore_op = self._AddRestoreOps(filename_tensor, saveables, restore_sequentially, reshape)
        return SaverDef(filename_tensor_name=filename_tensor.name,
                        save_tensor_name=save_tensor.name if save_tensor is not None else "",
                        restore_op_name=restore_op.name if restore_op is not None else "",
                        max_to_keep=max_to_keep, sharded=sharded,
                        keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours, version=self._write_version)


class BulkSaverBuilder(BaseSaverBuilder):
    """The default builder: one ``RestoreV2`` (on CPU:0) reads every tensor."""

    def bulk_restore(self, filename_tensor, saveables, preferred_shard, restore_sequentially):
        specs = [(spec.name, spec.slice_spec, spec.dtype) for s in saveables for spec in s.specs]
        names, slices, types = zip(*specs)
        with ops.device("/device:CPU:0"):
            return io_ops.restore_v2(filename_tensor, names, slices, types)


# --- Saver -------------------------------------------------------------------------------------

def _as_saver_def(saver_def):
    if isinstance(saver_def, SaverDef):
        return saver_def
    if hasattr(saver_def, "SerializeToString") and hasattr(saver_def, "restore_op_name"):
        return SaverDef.FromString(saver_def.SerializeToString())  # e.g. real TensorFlow's SaverDef class
    raise ValueError(f"saver_def must be a saver_pb2.SaverDef: {saver_def}")


def _all_saveable_objects(scope=None):
    return ops.get_collection(GraphKeys.GLOBAL_VARIABLES, scope) + ops.get_collection(GraphKeys.SAVEABLE_OBJECTS,
                                                                                       scope)


class Saver:
    """Saves and restores variables as TensorFlow V2 checkpoints (``PREFIX.index`` + ``PREFIX.data-*``)."""

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False, saver_def=None,
                 builder=None, defer_build=False, allow_empty=False, write_version=SaverDef.V2,
                 pad_step_number=False, save_relative_paths=False, filename=None):
        if defer_build and var_list:
            raise ValueError("If `var_list` is provided then build cannot be deferred. Either set defer_build=False "
                             "or var_list=None.")
        if write_version != SaverDef.V2 and saver_def is None:
            raise ValueError("deferflow writes only V2 checkpoints (write_version=tf.train.SaverDef.V2); V1 "
                             "checkpoints are deprecated in TensorFlow too")
        self._var_list = var_list
        self._reshape = reshape
        self._sharded = sharded
        self._max_to_keep = max_to_keep
        self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self._name = name
        self._restore_sequentially = restore_sequentially
        self.saver_def = _as_saver_def(saver_def) if saver_def is not None else None
        if self.saver_def is not None:
            self.saver_def = SaverDef.FromString(self.saver_def.SerializeToString())  # never edit the caller's
        self._builder = builder
        self._is_built = False
        self._allow_empty = allow_empty
        self._is_empty = None
        self._write_version = write_version
        self._pad_step_number = pad_step_number
        self._filename = filename
        self._last_checkpoints = []
        self._checkpoints_to_be_deleted = []
        self._next_checkpoint_time = None
        if not defer_build:
            self.build()
        if self.saver_def:
            self._check_saver_def()
            self._write_version = self.saver_def.version
        self._save_relative_paths = save_relative_paths

    # --- building ---

    def build(self):
        self._build(self._filename, build_save=True, build_restore=True)

    def _build(self, checkpoint_path, build_save, build_restore):
        if self._is_built:
            return
        self._is_built = True
        if not self.saver_def:
            if self._builder is None:
                self._builder = BulkSaverBuilder(self._write_version)
            if self._var_list is None:
                self._var_list = _all_saveable_objects()
            if not self._var_list:
                if self._allow_empty:
                    self._is_empty = True
                    return
                raise ValueError("No variables to save")
            self._is_empty = False
            self.saver_def = self._builder._build_internal(
                self._var_list, reshape=self._reshape, sharded=self._sharded, max_to_keep=self._max_to_keep,
                keep_checkpoint_every_n_hours=self._keep_checkpoint_every_n_hours, name=self._name,
                restore_sequentially=self._restore_sequentially, filename=checkpoint_path,
                build_save=build_save, build_restore=build_restore)
        elif self._name:
            # With a saver_def, ``name`` is the import scope its tensor names live under.
            sd = self.saver_def
            sd.filename_tensor_name = ops.prepend_name_scope(sd.filename_tensor_name, self._name)
            sd.save_tensor_name = ops.prepend_name_scope(sd.save_tensor_name, self._name)
            sd.restore_op_name = ops.prepend_name_scope(sd.restore_op_name, self._name)
        self._check_saver_def()
        self._next_checkpoint_time = time.time() + self.saver_def.keep_checkpoint_every_n_hours * 3600

    def _check_saver_def(self):
        if not isinstance(self.saver_def, SaverDef):
            raise ValueError(f"saver_def must be a saver_pb2.SaverDef: {self.saver_def}")
        if not self.saver_def.save_tensor_name:
            raise ValueError(f"saver_def must specify the save_tensor_name: {self.saver_def}")
        if not self.saver_def.restore_op_name:
            raise ValueError(f"saver_def must specify the restore_op_name: {self.saver_def}")

    def as_saver_def(self):
        """The SaverDef naming this saver's filename tensor, save tensor and restore op."""
        return self.saver_def

    def to_proto(self, export_scope=None):
        """The SaverDef with ``export_scope`` stripped from its names (None if they are outside the scope)."""
        if export_scope is None:
            return self.saver_def
        sd = self.saver_def
        if not (sd.filename_tensor_name.startswith(export_scope) and sd.save_tensor_name.startswith(export_scope)
                and sd.restore_op_name.startswith(export_scope)):
            return None
        out = SaverDef()
        out.CopyFrom(sd)
        out.filename_tensor_name = ops.strip_name_scope(out.filename_tensor_name, export_scope)
        out.save_tensor_name = ops.strip_name_scope(out.save_tensor_name, export_scope)
        out.restore_op_name = ops.strip_name_scope(out.restore_op_name, export_scope)
        return out

    @staticmethod
    def from_proto(saver_def, import_scope=None):
        return Saver(saver_def=saver_def, name=import_scope)

    # --- checkpoint bookkeeping (TF's rules) ---

    @property
    def last_checkpoints(self):
        """Prefixes of the checkpoints not yet deleted, oldest first."""
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints(self, last_checkpoints):
        """Adopts ``last_checkpoints``; they get an infinite timestamp so they are never deleted."""
        assert isinstance(last_checkpoints, list)
        self._last_checkpoints = [(s, np.inf) for s in last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time):
        """Adopts a list of (prefix, timestamp)."""
        assert isinstance(last_checkpoints_with_time, list)
        self._last_checkpoints = last_checkpoints_with_time

    def recover_last_checkpoints(self, checkpoint_paths):
        """Adopts the existing ones of ``checkpoint_paths`` with their file times (after a restart)."""
        with_times = []
        for path in checkpoint_paths:
            mtime = checkpoint_management.get_checkpoint_mtimes([path])
            if mtime:
                with_times.append((path, mtime[0]))
        self.set_last_checkpoints_with_time(with_times)

    def _RecordLastCheckpoint(self, latest_save_path):  # noqa: N802 - TF's name
        if not self.saver_def.max_to_keep:
            return
        self._last_checkpoints = [p for p in self._last_checkpoints if p[0] != latest_save_path]
        self._last_checkpoints.append((latest_save_path, time.time()))
        if len(self._last_checkpoints) > self.saver_def.max_to_keep:
            self._checkpoints_to_be_deleted.append(self._last_checkpoints.pop(0))

    def _MaybeDeleteOldCheckpoints(self, meta_graph_suffix="meta"):  # noqa: N802
        if self._checkpoints_to_be_deleted:
            path, stamp = self._checkpoints_to_be_deleted.pop(0)
            # One checkpoint per keep_checkpoint_every_n_hours survives max_to_keep.
            if stamp > self._next_checkpoint_time:
                self._next_checkpoint_time += self.saver_def.keep_checkpoint_every_n_hours * 3600
                return
            try:
                checkpoint_management.remove_checkpoint(path, self.saver_def.version, meta_graph_suffix)
            except OSError as e:
                _log.warning("Ignoring: %s", e)

    # --- save / restore ---

    def save(self, sess, save_path, global_step=None, latest_filename=None, meta_graph_suffix="meta",
             write_meta_graph=True, write_state=True, strip_default_attrs=False, save_debug_info=False):
        """Saves the variables to ``save_path[-global_step]``; returns that prefix (e.g. ``model-1000``)."""
        if not self._is_built:
            raise RuntimeError("`build()` should be called before save if defer_build==True")
        if latest_filename is None:
            latest_filename = "checkpoint"
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        save_path = os.fspath(save_path)
        if isinstance(save_path, bytes):
            save_path = save_path.decode("utf-8", "surrogateescape")
        if global_step is not None:
            if not isinstance(global_step, (int, np.integer)):
                global_step = int(sess.run(global_step))
            global_step = int(global_step)
            checkpoint_file = f"{save_path}-{global_step:08d}" if self._pad_step_number else \
                f"{save_path}-{global_step}"
        else:
            checkpoint_file = save_path
            if os.path.basename(save_path) == latest_filename and not self._sharded:
                raise ValueError(f"'latest_filename' collides with 'save_path': '{latest_filename}' and "
                                 f"'{save_path}'")
        if not hasattr(sess, "run") or not hasattr(sess, "graph"):
            raise TypeError(f"'sess' must be a Session; {sess}")
        save_path_parent = os.path.dirname(save_path)
        model_checkpoint_path = None
        if not self._is_empty:
            try:
                model_checkpoint_path = sess.run(self.saver_def.save_tensor_name,
                                                 {self.saver_def.filename_tensor_name: checkpoint_file})
            except (errors.FailedPreconditionError, errors.NotFoundError) as exc:
                if save_path_parent and not os.path.isdir(save_path_parent):
                    raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.") from exc
                raise
            model_checkpoint_path = io_ops._str(model_checkpoint_path)
            if write_state:
                # The state file is replaced atomically and only after the checkpoint is complete.
                self._RecordLastCheckpoint(model_checkpoint_path)
                checkpoint_management.update_checkpoint_state_internal(
                    save_dir=save_path_parent, model_checkpoint_path=model_checkpoint_path,
                    all_model_checkpoint_paths=self.last_checkpoints, latest_filename=latest_filename,
                    save_relative_paths=self._save_relative_paths)
                self._MaybeDeleteOldCheckpoints(meta_graph_suffix=meta_graph_suffix)
        if write_meta_graph:
            meta_file = checkpoint_management.meta_graph_filename(checkpoint_file, meta_graph_suffix)
            with sess.graph.as_default():
                self.export_meta_graph(meta_file, strip_default_attrs=strip_default_attrs)
        return None if self._is_empty else model_checkpoint_path

    def export_meta_graph(self, filename=None, collection_list=None, as_text=False, export_scope=None,
                          clear_devices=False, clear_extraneous_savers=False, strip_default_attrs=False,
                          save_debug_info=False):
        """Writes the default graph and this saver's SaverDef as a MetaGraphDef (``tf.train.export_meta_graph``)."""
        try:
            from deferflow.training import meta_graph
        except ImportError:  # the meta-graph module has not landed: checkpoints stay complete without it
            _log.warning("deferflow.training.meta_graph is unavailable; %s not written", filename)
            return None
        return meta_graph.export_meta_graph(
            filename=filename, graph_def=ops.get_default_graph().as_graph_def(add_shapes=True),
            saver_def=self.saver_def, collection_list=collection_list, as_text=as_text, export_scope=export_scope,
            clear_devices=clear_devices, clear_extraneous_savers=clear_extraneous_savers,
            strip_default_attrs=strip_default_attrs)

    def restore(self, sess, save_path):
        """Restores the variables from checkpoint prefix ``save_path`` (e.g. ``tf.train.latest_checkpoint(dir)``)."""
        if self._is_empty:
            return
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        save_path = os.fspath(save_path)
        if isinstance(save_path, bytes):
            save_path = save_path.decode("utf-8", "surrogateescape")
        hint = io_ops.path_hint(save_path)
        if hint is not None:
            raise ValueError(f"The passed save_path is not a valid checkpoint: {save_path}. {hint}")
        if not checkpoint_management.checkpoint_exists_internal(save_path):
            raise ValueError("The passed save_path is not a valid checkpoint: " + save_path)
        _log.info("Restoring parameters from %s", save_path)
        try:
            sess.run(self.saver_def.restore_op_name, {self.saver_def.filename_tensor_name: save_path})
        except errors.NotFoundError as err:
            raise _wrap_restore_error(err, "a Variable name or other graph key that is missing") from None
        except errors.InvalidArgumentError as err:
            raise _wrap_restore_error(err, "a mismatch between the current graph and the graph",
                                      _mismatch_detail(err, save_path)) from None


def _wrap_restore_error(err, what, detail=""):
    msg = (f"Restoring from checkpoint failed. This is most likely due to {what} from the checkpoint. Please ensure "
           f"that you have not altered the graph expected based on the checkpoint. Original error:\n\n{err.message}"
           + (f"\n\n{detail}" if detail else ""))
    return type(err)(err.node_def, err.op, msg)


def _restore_source(t):
    """(RestoreV2 op, output index) feeding ``t`` through Identity/Reshape, or None."""
    while t.op.type in ("Identity", "Reshape"):
        t = t.op.inputs[0]
    return (t.op, t.value_index) if t.op.type == "RestoreV2" else None


def _mismatch_detail(err, save_path):
    """Names the variable and the checkpoint key of a failed restore Assign, with both shapes."""
    op = err.op
    if op is None or op.type not in ("Assign", "AssignVariableOp") or len(op.inputs) < 2:
        return ""
    source = _restore_source(op.inputs[1])
    if source is None:
        return ""
    restore, index = source
    from deferflow.ops.common import constant_value
    names = constant_value(restore.inputs[1])
    if names is None:
        return ""
    key = io_ops._str(names.reshape(-1)[index])
    var = op.inputs[0]
    var_name = var.op.name
    try:
        with io_ops.open_reader(save_path) as reader:
            stored = list(reader.entry(key).shape)
    except (errors.OpError, KeyError):
        return ""
    return (f"Variable {var_name!r} has shape {var.shape} but checkpoint key {key!r} in {save_path} has shape "
            f"{stored}.")


SaverBuilder = BulkSaverBuilder  # TF's public alias (tf.train.SaverBuilder)
