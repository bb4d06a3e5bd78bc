"""The text-format ``checkpoint`` file (CheckpointState) that names a directory's checkpoints."""
import os

from google.protobuf import text_format

from deferflow.formats.errors import CorruptFileError, MissingFileError
from deferflow.formats.fileio import atomic_write
from deferflow.formats.proto.checkpoint_state_pb2 import CheckpointState

CHECKPOINT_FILENAME = "checkpoint"


def make_checkpoint_state(model_checkpoint_path, all_model_checkpoint_paths=None,
                          all_model_checkpoint_timestamps=None, last_preserved_timestamp=None):
    """A CheckpointState; the latest path is appended to the list when missing, as TensorFlow does."""
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    timestamps = list(all_model_checkpoint_timestamps or [])
    if timestamps and len(timestamps) != len(paths):
        raise ValueError(f"{len(timestamps)} checkpoint timestamps for {len(paths)} checkpoint paths")
    state = CheckpointState(model_checkpoint_path=model_checkpoint_path, all_model_checkpoint_paths=paths,
                            all_model_checkpoint_timestamps=timestamps)
    if last_preserved_timestamp is not None:
        state.last_preserved_timestamp = last_preserved_timestamp
    return state


def write_checkpoint_state(path, state):
    """Atomically write ``state`` as text to ``path`` (a file path, e.g. ``dir/checkpoint``)."""
    atomic_write(path, text_format.MessageToString(state).encode("utf-8"))


def read_checkpoint_state(path):
    """Parse the text-format CheckpointState at ``path``. MissingFileError / CorruptFileError on failure."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise MissingFileError(path) from None
    state = CheckpointState()
    try:
        text_format.Merge(text.decode("utf-8"), state)
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise CorruptFileError(path, f"not a text CheckpointState: {e}") from None
    if not state.model_checkpoint_path:
        raise CorruptFileError(path, "CheckpointState has no model_checkpoint_path")
    return state
