"""The ``checkpoint`` state file and checkpoint naming: ``tf.train.latest_checkpoint`` and friends."""
import glob
import logging
import os
import re

from google.protobuf import text_format

from deferflow.formats import checkpoint_state as _state
from deferflow.formats import errors as format_errors
from deferflow.formats.fileio import atomic_write
from deferflow.formats.protos import CheckpointState, SaverDef

_log = logging.getLogger("deferflow")

V1, V2 = SaverDef.V1, SaverDef.V2


def _checkpoint_filename(save_dir, latest_filename):
    return os.path.join(save_dir, latest_filename or _state.CHECKPOINT_FILENAME)


def _prefix_to_checkpoint_path(prefix, format_version):
    return prefix + ".index" if format_version == V2 else prefix


def _matching_files(pattern):
    return sorted(glob.glob(glob.escape(pattern) if not any(c in pattern for c in "*?[") else pattern))


def generate_checkpoint_state_proto(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                                    all_model_checkpoint_timestamps=None, last_preserved_timestamp=None):
    """A CheckpointState; relative paths are made relative to a relative ``save_dir``, as TF does."""
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    if all_model_checkpoint_timestamps and len(all_model_checkpoint_timestamps) != len(paths):
        raise ValueError(f"Checkpoint timestamps, if provided, must match checkpoint paths (got paths {paths} "
                         f"and timestamps {all_model_checkpoint_timestamps})")
    if not os.path.isabs(save_dir):
        if not os.path.isabs(model_checkpoint_path):
            model_checkpoint_path = os.path.relpath(model_checkpoint_path, save_dir)
        paths = [p if os.path.isabs(p) else os.path.relpath(p, save_dir) for p in paths]
    return CheckpointState(model_checkpoint_path=model_checkpoint_path, all_model_checkpoint_paths=paths,
                           all_model_checkpoint_timestamps=all_model_checkpoint_timestamps or [],
                           last_preserved_timestamp=last_preserved_timestamp or 0.0)


def update_checkpoint_state(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                            latest_filename=None, all_model_checkpoint_timestamps=None,
                            last_preserved_timestamp=None):
    """Atomically rewrites ``save_dir/checkpoint`` (or ``latest_filename``) to name the latest checkpoint."""
    update_checkpoint_state_internal(save_dir, model_checkpoint_path, all_model_checkpoint_paths, latest_filename,
                                     False, all_model_checkpoint_timestamps, last_preserved_timestamp)


def update_checkpoint_state_internal(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                                     latest_filename=None, save_relative_paths=False,
                                     all_model_checkpoint_timestamps=None, last_preserved_timestamp=None):
    filename = _checkpoint_filename(save_dir, latest_filename)
    all_paths = list(all_model_checkpoint_paths or [])
    if save_relative_paths:
        rel = lambda p: os.path.relpath(p, save_dir) if os.path.isabs(p) else p  # noqa: E731
        model_checkpoint_path, all_paths = rel(model_checkpoint_path), [rel(p) for p in all_paths]
    state = generate_checkpoint_state_proto(save_dir, model_checkpoint_path, all_paths,
                                            all_model_checkpoint_timestamps, last_preserved_timestamp)
    if filename == state.model_checkpoint_path:
        raise RuntimeError(f"Save path '{model_checkpoint_path}' conflicts with path used for checkpoint state.  "
                           "Please use a different save path.")
    # Replaced atomically: a reader (or a crash) sees the old state or the new one, never a torn file.
    atomic_write(filename, text_format.MessageToString(state).encode("utf-8"))


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The CheckpointState in ``checkpoint_dir`` with relative paths joined to it, or None if absent/unreadable."""
    checkpoint_dir = os.fspath(checkpoint_dir)
    filename = _checkpoint_filename(checkpoint_dir, latest_filename)
    if not os.path.isfile(filename):
        return None
    try:
        state = _state.read_checkpoint_state(filename)
    except format_errors.CorruptFileError as e:
        if "no model_checkpoint_path" in e.detail:
            raise ValueError("Invalid checkpoint state loaded from " + checkpoint_dir) from None
        _log.warning("%s: %s; checkpoint ignored", filename, e.detail)
        return None
    except format_errors.FormatError:
        return None
    if not os.path.isabs(state.model_checkpoint_path):
        state.model_checkpoint_path = os.path.join(checkpoint_dir, state.model_checkpoint_path)
    for i, p in enumerate(state.all_model_checkpoint_paths):
        if not os.path.isabs(p):
            state.all_model_checkpoint_paths[i] = os.path.join(checkpoint_dir, p)
    return state


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the newest checkpoint named by ``checkpoint_dir/checkpoint`` if its files exist, else None."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state and state.model_checkpoint_path:
        prefix = state.model_checkpoint_path
        if _matching_files(_prefix_to_checkpoint_path(prefix, V2)) or _matching_files(prefix):
            return prefix
        _log.error("Couldn't match files for checkpoint %s", prefix)
    return None


def checkpoint_exists_internal(checkpoint_prefix):
    return bool(_matching_files(_prefix_to_checkpoint_path(checkpoint_prefix, V2))
                or _matching_files(checkpoint_prefix))


def checkpoint_exists(checkpoint_prefix):
    """Whether a V2 checkpoint (``prefix.index``) or a V1 file ``prefix`` exists (globs allowed)."""
    return checkpoint_exists_internal(os.fspath(checkpoint_prefix))


def get_checkpoint_mtimes(checkpoint_prefixes):
    """Modification times (seconds) of the checkpoints that exist, in order."""
    mtimes = []
    for prefix in checkpoint_prefixes:
        for pattern in (_prefix_to_checkpoint_path(prefix, V2), prefix):
            names = _matching_files(pattern)
            if names:
                mtimes.append(os.stat(names[0]).st_mtime_ns / 1e9)
                break
    return mtimes


def meta_graph_filename(checkpoint_filename, meta_graph_suffix="meta"):
    """``model-1000`` -> ``model-1000.meta`` (a sharded spec's ``-?????-of-N`` is dropped first)."""
    basename = re.sub(r"-[\d\?]+-of-\d+$", "", checkpoint_filename)
    return ".".join([basename, meta_graph_suffix])


def _delete_file_if_exists(pattern):
    for name in sorted(glob.glob(pattern)):
        try:
            os.remove(name)
        except FileNotFoundError:
            _log.warning("Hit NotFoundError when deleting '%s', possibly because another process/thread is "
                         "also deleting/moving the same file", name)


def remove_checkpoint(checkpoint_prefix, checkpoint_format_version=V2, meta_graph_suffix="meta"):
    """Deletes a checkpoint's files: ``.meta``, then ``.index`` (so it stops looking valid), then data."""
    literal = glob.escape
    _delete_file_if_exists(literal(meta_graph_filename(checkpoint_prefix, meta_graph_suffix)))
    if checkpoint_format_version == V2:
        _delete_file_if_exists(literal(checkpoint_prefix + ".index"))
        _delete_file_if_exists(literal(checkpoint_prefix) + ".data-?????-of-?????")
    else:
        _delete_file_if_exists(literal(checkpoint_prefix))
