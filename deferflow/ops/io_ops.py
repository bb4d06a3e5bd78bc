"""Checkpoint I/O ops: ``SaveV2``, ``RestoreV2``, ``MergeV2Checkpoints``, ``ShardedFilename``,
``ShardedFilespec``, and the string ops TF's sharded saver builds its temp names with
(``StringJoin``, ``StaticRegexFullMatch``). Kernels call the bytes-level formats layer and
translate its errors into ``tf.errors`` naming the file and the tensor.
"""
import contextlib
import difflib
import errno
import os
import re
import threading

import numpy as np

from deferflow.formats import bundle, checkpoint_v1, tensor_slice
from deferflow.formats import errors as format_errors
from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.ops import array_ops

define = op_registry.define
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")


# --- helpers shared with saver / checkpoint_utils ----------------------------------------------

def _str(value):
    """A Python str from a string-tensor element (bytes), a 0-d object array or a str."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size == 1 else value.item()
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _str_list(array):
    return [_str(x) for x in np.asarray(array, dtype=object).reshape(-1).tolist()]


def path_hint(path):
    """What to pass instead, when ``path`` is a directory or one of a checkpoint's files; else None."""
    path = os.fspath(path)
    if os.path.isdir(path):
        from deferflow.formats import checkpoint_state
        latest = None
        try:
            state = checkpoint_state.read_checkpoint_state(os.path.join(path, checkpoint_state.CHECKPOINT_FILENAME))
            latest = state.model_checkpoint_path
            if not os.path.isabs(latest):
                latest = os.path.join(path, latest)
        except format_errors.FormatError:
            pass
        tail = (f"; its latest checkpoint is {latest!r} (tf.train.latest_checkpoint({path!r}))" if latest
                else "; tf.train.latest_checkpoint(dir) finds the newest one")
        return f"{path!r} is a directory: pass a checkpoint prefix such as 'dir/model.ckpt-1000'{tail}"
    for suffix in (".index", ".meta"):
        if path.endswith(suffix) and os.path.exists(bundle.index_filename(path[:-len(suffix)])):
            return f"{path!r} is one of a checkpoint's files: pass its prefix {path[:-len(suffix)]!r}"
    m = _DATA_SUFFIX.search(path)
    if m and os.path.exists(bundle.index_filename(path[:m.start()])):
        return f"{path!r} is one of a checkpoint's data files: pass its prefix {path[:m.start()]!r}"
    if os.path.basename(path) == "checkpoint" and os.path.isfile(path):
        return (f"{path!r} is a checkpoint state file: pass tf.train.latest_checkpoint("
                f"{os.path.dirname(path) or '.'!r}) instead")
    if os.path.isfile(path) and not os.path.exists(bundle.index_filename(path)) and \
            not checkpoint_v1.is_v1_checkpoint(path):
        return (f"{path!r} is a single file, not the prefix of a V2 checkpoint (PREFIX.index + PREFIX.data-*) "
                "nor a V1 checkpoint file")
    return None


def translate_error(e, prefix=None, key=None):
    """A tf.errors exception for a formats-layer or OS error (file, and key when known, in the message)."""
    what = f" (reading tensor {key!r})" if key is not None else ""
    if isinstance(e, format_errors.MissingFileError):
        hint = path_hint(prefix) if prefix is not None else None
        if hint is None and prefix is not None and e.filename == bundle.index_filename(prefix):
            msg = f"Failed to find any matching files for {prefix}: no checkpoint {prefix}.index"
        else:
            msg = f"{e.filename}: {e.detail}{what}"
        return errors.NotFoundError(None, None, msg + (f". {hint}" if hint else ""))
    if isinstance(e, format_errors.FormatError):
        hint = path_hint(prefix) if prefix is not None else None
        return errors.DataLossError(None, None, f"Unable to read checkpoint {e.filename}{what}: {e.detail}"
                                    + (f". {hint}" if hint else ""))
    if isinstance(e, OSError):
        cls = {errno.ENOENT: errors.NotFoundError, errno.EACCES: errors.PermissionDeniedError,
               errno.EPERM: errors.PermissionDeniedError, errno.ENOSPC: errors.ResourceExhaustedError,
               errno.EISDIR: errors.FailedPreconditionError, errno.ENOTDIR: errors.FailedPreconditionError,
               }.get(e.errno, errors.UnknownError)
        return cls(None, None, f"{e.filename or prefix}: {e.strerror or e}{what}")
    return e


try:  # NumPy's switch for madvise(MADV_HUGEPAGE) on large new arrays
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # pragma: no cover - older/newer NumPy without it
    _set_madvise_hugepage = None
_hugepage_lock = threading.Lock()
_hugepage_depth = [0, None]


@contextlib.contextmanager
def no_hugepage_stalls():
    """Allocate restored tensors with plain pages.

    With transparent huge pages in "madvise" defrag mode, each fresh huge page NumPy asks for can stall
    on memory compaction (a page cache full of checkpoint files makes that likely): reading 512 MiB into
    new arrays measured ~1.2 s with huge pages and ~0.3 s without.
    """
    if _set_madvise_hugepage is None:
        yield
        return
    with _hugepage_lock:
        if _hugepage_depth[0] == 0:
            _hugepage_depth[1] = _set_madvise_hugepage(False)
        _hugepage_depth[0] += 1
    try:
        yield
    finally:
        with _hugepage_lock:
            _hugepage_depth[0] -= 1
            if _hugepage_depth[0] == 0:
                _set_madvise_hugepage(_hugepage_depth[1])


def _closest(name, keys, n=3):
    return difflib.get_close_matches(name, keys, n=n, cutoff=0.4)


def missing_keys_message(prefix, missing, requested, present):
    """TF's "Key X not found in checkpoint", then the closest keys and every requested key that is absent."""
    lines = [f"Key {missing[0]} not found in checkpoint"]
    present = sorted(present)
    for name in missing[:10]:
        close = _closest(name, present)
        lines.append(f"  {name!r}: " + (f"closest keys in checkpoint: {', '.join(map(repr, close))}" if close
                                         else "no similar key in checkpoint"))
    if len(missing) > 10:
        lines.append(f"  ... and {len(missing) - 10} more")
    shown = ", ".join(missing[:50]) + (", ..." if len(missing) > 50 else "")
    lines.append(f"{len(missing)} of the {len(requested)} tensors requested are not in checkpoint {prefix} "
                 f"(which holds {len(present)} keys): {shown}")
    return "\n".join(lines)


# --- SaveV2 / RestoreV2 ------------------------------------------------------------------------

SaveV2 = define("SaveV2", "prefix: string, tensor_names: string, shape_and_slices: string, tensors: dtypes", "",
                ["dtypes: list(type) >= 1"], stateful=True)
SaveV2.shape(lambda op: [])
SaveV2.no_gradient()


def _check_names(names, slices, n):
    if len(names) != n or len(slices) != n:
        raise errors.InvalidArgumentError(
            None, None, f"Expected {n} tensor names and shape_and_slices, got {len(names)} names and "
                        f"{len(slices)} shape_and_slices")


@SaveV2.kernel
def _save_v2(prefix, tensor_names, shape_and_slices, *tensors):
    prefix = _str(prefix)
    names, slices = _str_list(tensor_names), _str_list(shape_and_slices)
    _check_names(names, slices, len(tensors))
    try:
        writer = bundle.BundleWriter(prefix)
    except OSError as e:
        raise translate_error(e, prefix) from None
    try:
        for name, spec, value in zip(names, slices, tensors):
            if spec:
                full_shape, extents = tensor_slice.parse_shape_and_slice(spec)
                writer.add_slice(name, full_shape, extents, value)
            else:
                writer.add(name, value)  # arrays go to the file as they are: no copy
        writer.finish()
    except BaseException as e:
        if not writer._finished:
            writer.abort()
        if isinstance(e, ValueError):
            raise errors.InvalidArgumentError(None, None, f"Saving {prefix}: {e}") from None
        raise translate_error(e, prefix) from None


RestoreV2 = define("RestoreV2", "prefix: string, tensor_names: string, shape_and_slices: string", "tensors: dtypes",
                   ["dtypes: list(type) >= 1"], stateful=True)
RestoreV2.no_gradient()


@RestoreV2.shape
def _restore_v2_shape(op):
    from deferflow.ops.common import constant_value
    slices = constant_value(op._inputs[2])
    out = []
    for i in range(len(op._outputs)):
        shape = ts.unknown_shape()
        if slices is not None and slices.size == len(op._outputs):
            spec = _str(slices.reshape(-1)[i])
            if spec:  # a sliced restore knows its slice's shape
                try:
                    full, extents = tensor_slice.parse_shape_and_slice(spec)
                    shape = ts.TensorShape([b - a for a, b in tensor_slice.resolve(extents, full)])
                except ValueError:
                    pass
        out.append(shape)
    return out


def open_reader(prefix):
    """A reader for the checkpoint at ``prefix`` — V2 (``prefix.index``), or a V1 file (``prefix`` itself, or
    its ``-?????-of-?????`` shards), as TF's RestoreV2 falls back to V1 — formats errors translated
    (NotFoundError with a hint, DataLossError)."""
    try:
        return checkpoint_v1.open_checkpoint(prefix)
    except (format_errors.FormatError, OSError) as e:
        raise translate_error(e, prefix) from None


def read_tensor(reader, prefix, name, spec="", dtype=None):
    """Tensor ``name`` (slice ``spec``: "d0 d1 slice" or "") of an open checkpoint, checked against ``dtype``."""
    try:
        entry = reader.entry(name)
        if dtype is not None and dtype.as_datatype_enum != entry.dtype:
            raise errors.InvalidArgumentError(
                None, None, f"tensor_name = {name}; expected dtype {dtype.name} does not equal original dtype "
                            f"{dtypes.as_dtype(entry.dtype).name} (checkpoint {prefix})")
        if not spec:
            return reader.read(name)
        full_shape, extents = tensor_slice.parse_shape_and_slice(spec)
        if tuple(full_shape) != tuple(entry.shape):
            raise errors.InvalidArgumentError(
                None, None, f"tensor_name = {name}; shape in shape_and_slice spec {full_shape} does not match the "
                            f"shape stored in checkpoint: {list(entry.shape)} (checkpoint {prefix})")
        return reader.read(name, extents)
    except KeyError:
        raise errors.NotFoundError(None, None, f"Key {name} not found in checkpoint") from None
    except ValueError as e:
        if isinstance(e, errors.OpError):
            raise
        raise errors.InvalidArgumentError(None, None, f"tensor_name = {name}: {e} (checkpoint {prefix})") from None
    except (format_errors.FormatError, OSError) as e:
        raise translate_error(e, prefix, name) from None


@RestoreV2.kernel
def _restore_v2(prefix, tensor_names, shape_and_slices, *, dtypes):
    prefix = _str(prefix)
    names, slices = _str_list(tensor_names), _str_list(shape_and_slices)
    _check_names(names, slices, len(dtypes))
    reader = open_reader(prefix)
    with reader, no_hugepage_stalls():
        missing = [n for n in names if n not in reader]
        if missing:
            raise errors.NotFoundError(None, None, missing_keys_message(prefix, missing, names, reader.keys()))
        out = tuple(read_tensor(reader, prefix, n, s, dt) for n, s, dt in zip(names, slices, dtypes))
    return out if len(out) > 1 else out[0]


MergeV2Checkpoints = define("MergeV2Checkpoints", "checkpoint_prefixes: string, destination_prefix: string", "",
                            ["delete_old_dirs: bool = true", "allow_missing_files: bool = false"], stateful=True)
MergeV2Checkpoints.shape(lambda op: [])
MergeV2Checkpoints.no_gradient()


@MergeV2Checkpoints.kernel
def _merge_v2(checkpoint_prefixes, destination_prefix, *, delete_old_dirs, allow_missing_files):
    prefixes = _str_list(checkpoint_prefixes)
    dest = _str(destination_prefix)
    if allow_missing_files:
        prefixes = [p for p in prefixes if os.path.exists(bundle.index_filename(p))]
        if not prefixes:
            raise errors.InvalidArgumentError(None, None, "MergeV2Checkpoints: none of the checkpoint_prefixes exist")
    try:
        bundle.merge_bundles(prefixes, dest)
    except ValueError as e:
        raise errors.InvalidArgumentError(None, None, f"Merging into {dest}: {e}") from None
    except (format_errors.FormatError, OSError) as e:
        raise translate_error(e, dest) from None
    if delete_old_dirs:  # the per-shard temp directory (PREFIX_temp/) is empty now
        for d in sorted({os.path.dirname(p) for p in prefixes}):
            if os.path.abspath(d) != os.path.abspath(os.path.dirname(dest) or "."):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


# --- file names --------------------------------------------------------------------------------

ShardedFilename = define("ShardedFilename", "basename: string, shard: int32, num_shards: int32", "filename: string")
ShardedFilename.shape(lambda op: [ts.TensorShape([])])
ShardedFilename.no_gradient()


@ShardedFilename.kernel
def _sharded_filename(basename, shard, num_shards):
    return np.array(f"{_str(basename)}-{int(shard):05d}-of-{int(num_shards):05d}".encode("utf-8", "surrogateescape"),
                    dtype=object)


ShardedFilespec = define("ShardedFilespec", "basename: string, num_shards: int32", "filename: string")
ShardedFilespec.shape(lambda op: [ts.TensorShape([])])
ShardedFilespec.no_gradient()


@ShardedFilespec.kernel
def _sharded_filespec(basename, num_shards):
    return np.array(f"{_str(basename)}-?????-of-{int(num_shards):05d}".encode("utf-8", "surrogateescape"),
                    dtype=object)


StringJoin = define("StringJoin", "inputs: N * string", "output: string", ["N: int >= 0", "separator: string = ''"])
StringJoin.no_gradient()


@StringJoin.shape
def _string_join_shape(op):
    out = ts.TensorShape([])
    for t in op._inputs:
        if t.shape.ndims != 0:
            out = out.merge_with(t.shape) if out.ndims != 0 else t.shape
    return [out]


@StringJoin.kernel
def _string_join(*inputs, separator):
    sep = separator.encode("utf-8", "surrogateescape") if isinstance(separator, str) else bytes(separator)
    arrays = [np.asarray(x, dtype=object) for x in inputs]
    shapes = {a.shape for a in arrays if a.ndim}
    if len(shapes) > 1:
        raise errors.InvalidArgumentError(None, None, f"Input shapes do not match: {' vs. '.join(map(str, shapes))}")
    shape = shapes.pop() if shapes else ()
    flat = [np.broadcast_to(a, shape).reshape(-1) for a in arrays]
    out = np.empty(int(np.prod(shape, dtype=np.int64)), dtype=object)
    for i in range(out.size):
        out[i] = sep.join(_bytes(f[i]) for f in flat)
    return out.reshape(shape)


def _bytes(x):
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


StaticRegexFullMatch = define("StaticRegexFullMatch", "input: string", "output: bool", ["pattern: string"])
StaticRegexFullMatch.shape(lambda op: [op._inputs[0].shape])
StaticRegexFullMatch.no_gradient()


@StaticRegexFullMatch.kernel
def _static_regex_full_match(x, *, pattern):
    rx = re.compile(pattern.encode("utf-8", "surrogateescape") if isinstance(pattern, str) else pattern)
    x = np.asarray(x, dtype=object)
    return np.array([rx.fullmatch(_bytes(v)) is not None for v in x.reshape(-1).tolist()], dtype=bool).reshape(x.shape)


# --- Python wrappers (tf.raw_ops-style names as TF's io_ops module has them) ------------------

def _string_const(value, name):
    return array_ops.constant(np.asarray(value, dtype=object) if isinstance(value, (list, tuple)) else value,
                              dtype=dtypes.string, name=name)


def save_v2(prefix, tensor_names, shape_and_slices, tensors, name=None):
    """Adds a ``SaveV2`` op: writes ``tensors`` under ``tensor_names`` to checkpoint ``prefix``."""
    g = ops.get_default_graph()
    with g.name_scope(name or "SaveV2") as scope:
        names = tensor_names if isinstance(tensor_names, ops.Tensor) else _string_const(list(tensor_names),
                                                                                       "tensor_names")
        slices = shape_and_slices if isinstance(shape_and_slices, ops.Tensor) else _string_const(
            list(shape_and_slices), "shape_and_slices")
        return ops.apply_op("SaveV2", name=scope, prefix=prefix, tensor_names=names, shape_and_slices=slices,
                            tensors=list(tensors))


def restore_v2(prefix, tensor_names, shape_and_slices, dtypes, name=None):  # noqa: A002 - TF's argument name
    """Adds a ``RestoreV2`` op; returns one tensor per name."""
    g = ops.get_default_graph()
    with g.name_scope(name or "RestoreV2") as scope:
        names = tensor_names if isinstance(tensor_names, ops.Tensor) else _string_const(list(tensor_names),
                                                                                       "tensor_names")
        slices = shape_and_slices if isinstance(shape_and_slices, ops.Tensor) else _string_const(
            list(shape_and_slices), "shape_and_slices")
        out = ops.apply_op("RestoreV2", name=scope, prefix=prefix, tensor_names=names, shape_and_slices=slices,
                           dtypes=[_dtype_base(d) for d in dtypes])
    return out if isinstance(out, list) else [out]


def _dtype_base(d):
    return dtypes.as_dtype(d).base_dtype


def merge_v2_checkpoints(checkpoint_prefixes, destination_prefix, delete_old_dirs=True, allow_missing_files=False,
                         name=None):
    g = ops.get_default_graph()
    with g.name_scope(name or "MergeV2Checkpoints") as scope:
        prefixes = checkpoint_prefixes
        if isinstance(prefixes, (list, tuple)):
            prefixes = array_ops.stack(list(prefixes), name="checkpoint_prefixes")
        return ops.apply_op("MergeV2Checkpoints", name=scope, checkpoint_prefixes=prefixes,
                            destination_prefix=destination_prefix, delete_old_dirs=delete_old_dirs,
                            allow_missing_files=allow_missing_files)


def sharded_filename(basename, shard, num_shards, name=None):
    g = ops.get_default_graph()
    with g.name_scope(name or "ShardedFilename") as scope:
        if not isinstance(shard, ops.Tensor):
            shard = array_ops.constant(shard, dtype=dtypes.int32, name="shard")
        return ops.apply_op("ShardedFilename", name=scope, basename=basename, shard=shard, num_shards=num_shards)


def sharded_filespec(basename, num_shards, name=None):
    return ops.apply_op("ShardedFilespec", name=name or "ShardedFilespec", basename=basename, num_shards=num_shards)


def string_join(inputs, separator="", name=None):
    return ops.apply_op("StringJoin", name=name or "StringJoin", inputs=list(inputs), separator=separator)


def static_regex_full_match(input, pattern, name=None):  # noqa: A002 - TF's argument name
    return ops.apply_op("StaticRegexFullMatch", name=name or "StaticRegexFullMatch", input=input, pattern=pattern)
