import os

import pytest
from conftest import CHECKPOINT_CASES, GOLDEN

from deferflow.formats import checkpoint_state as cs
from deferflow.formats.errors import CorruptFileError, MissingFileError
from deferflow.formats.fileio import atomic_write


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_reads_tensorflow_checkpoint_files(case):
    state = cs.read_checkpoint_state(os.path.join(GOLDEN, case, "checkpoint"))
    assert state.model_checkpoint_path == "model.ckpt"
    assert list(state.all_model_checkpoint_paths) == ["model.ckpt"]


def test_round_trip_with_timestamps(tmp_path):
    state = cs.make_checkpoint_state("/d/model.ckpt-20", ["/d/model.ckpt-10"], [1700000000.25, 1700000100.5],
                                     last_preserved_timestamp=1699999999.0)
    assert list(state.all_model_checkpoint_paths) == ["/d/model.ckpt-10", "/d/model.ckpt-20"]
    cs.write_checkpoint_state(tmp_path / "checkpoint", state)
    text = (tmp_path / "checkpoint").read_text()
    assert text.startswith('model_checkpoint_path: "/d/model.ckpt-20"\n')
    assert cs.read_checkpoint_state(tmp_path / "checkpoint") == state
    assert os.listdir(tmp_path) == ["checkpoint"]
    with pytest.raises(ValueError):
        cs.make_checkpoint_state("a", ["b"], [1.0])


def test_errors(tmp_path):
    with pytest.raises(MissingFileError):
        cs.read_checkpoint_state(tmp_path / "checkpoint")
    (tmp_path / "checkpoint").write_text("model_checkpoint_path: \"unterminated\n")
    with pytest.raises(CorruptFileError, match="checkpoint"):
        cs.read_checkpoint_state(tmp_path / "checkpoint")
    (tmp_path / "checkpoint").write_bytes(b"\xff\xfe")
    with pytest.raises(CorruptFileError):
        cs.read_checkpoint_state(tmp_path / "checkpoint")


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "f"
    atomic_write(target, b"old contents")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f"]


def test_interoperates_with_tensorflow(tf, tmp_path):
    from tensorflow.python.checkpoint import checkpoint_management
    state = cs.make_checkpoint_state(str(tmp_path / "m-2"), [str(tmp_path / "m-1")], [1.5, 2.5], 0.5)
    cs.write_checkpoint_state(tmp_path / "checkpoint", state)
    theirs = tf.train.get_checkpoint_state(str(tmp_path))
    assert theirs.model_checkpoint_path == str(tmp_path / "m-2")
    assert list(theirs.all_model_checkpoint_timestamps) == [1.5, 2.5] and theirs.last_preserved_timestamp == 0.5
    checkpoint_management.update_checkpoint_state_internal(
        str(tmp_path), "m-3", ["m-2", "m-3"], save_relative_paths=True,
        all_model_checkpoint_timestamps=[3.0, 4.0], last_preserved_timestamp=2.0)
    ours = cs.read_checkpoint_state(tmp_path / "checkpoint")
    assert ours.model_checkpoint_path == "m-3" and list(ours.all_model_checkpoint_timestamps) == [3.0, 4.0]
    assert (tmp_path / "checkpoint").read_text() == \
        __import__("google.protobuf.text_format", fromlist=["x"]).MessageToString(ours)
