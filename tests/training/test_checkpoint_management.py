"""The ``checkpoint`` state file and checkpoint naming helpers (tf.train.latest_checkpoint & co)."""
import os

import pytest

import deferflow as tf
from deferflow.training import checkpoint_management as cm


def _touch(*names):
    for name in names:
        os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
        open(name, "wb").close()


def test_update_and_get_state_relative_dir(in_tmp):
    _touch("d/m-1.index", "d/m-2.index")
    tf.train.update_checkpoint_state("d", "d/m-2", ["d/m-1"])
    assert open("d/checkpoint").read() == ('model_checkpoint_path: "m-2"\n'
                                           'all_model_checkpoint_paths: "m-1"\n'
                                           'all_model_checkpoint_paths: "m-2"\n')
    state = tf.train.get_checkpoint_state("d")
    assert state.model_checkpoint_path == "d/m-2"
    assert list(state.all_model_checkpoint_paths) == ["d/m-1", "d/m-2"]
    assert tf.train.latest_checkpoint("d") == "d/m-2"


def test_absolute_dir_keeps_paths_as_given(in_tmp):
    d = os.path.abspath("abs")
    _touch(os.path.join(d, "m.index"))
    tf.train.update_checkpoint_state(d, "m", all_model_checkpoint_timestamps=[12.5], last_preserved_timestamp=3.0)
    text = open(os.path.join(d, "checkpoint")).read()
    assert 'model_checkpoint_path: "m"' in text and "all_model_checkpoint_timestamps: 12.5" in text
    assert "last_preserved_timestamp: 3" in text
    assert tf.train.latest_checkpoint(d) == os.path.join(d, "m")
    with pytest.raises(ValueError, match="timestamps"):
        tf.train.update_checkpoint_state(d, "m", ["a", "m"], all_model_checkpoint_timestamps=[1.0])


def test_latest_checkpoint_missing_cases(in_tmp):
    os.mkdir("empty")
    assert tf.train.latest_checkpoint("empty") is None
    assert tf.train.get_checkpoint_state("empty") is None
    tf.train.update_checkpoint_state("empty", "empty/gone")
    assert tf.train.latest_checkpoint("empty") is None  # named, but its files are not there
    open("empty/checkpoint", "w").write("this is { not a proto")
    assert tf.train.get_checkpoint_state("empty") is None
    open("empty/checkpoint", "w").write('all_model_checkpoint_paths: "x"\n')
    with pytest.raises(ValueError, match="Invalid checkpoint state"):
        tf.train.get_checkpoint_state("empty")
    with pytest.raises(RuntimeError, match="conflicts with path used for checkpoint state"):
        tf.train.update_checkpoint_state(os.path.abspath("empty"), os.path.abspath("empty/checkpoint"))


def test_checkpoint_exists_mtimes_and_remove(in_tmp):
    _touch("m-1.index", "m-1.data-00000-of-00001", "m-1.meta", "v1file", "m-2.index")
    assert tf.train.checkpoint_exists("m-1") and tf.train.checkpoint_exists("v1file")
    assert tf.train.checkpoint_exists("m-*") and not tf.train.checkpoint_exists("m-3")
    os.utime("m-2.index", (1000, 1000))
    mtimes = tf.train.get_checkpoint_mtimes(["m-2", "nope", "m-1"])
    assert len(mtimes) == 2 and mtimes[0] == 1000.0 and mtimes[1] > 1000
    tf.train.remove_checkpoint("m-1")
    assert sorted(os.listdir(".")) == ["m-2.index", "v1file"]
    tf.train.remove_checkpoint("v1file", tf.train.SaverDef.V1)
    assert os.listdir(".") == ["m-2.index"]


def test_remove_checkpoint_treats_prefix_literally(in_tmp):
    _touch("a[1].index", "a[1].data-00000-of-00001", "a1.index")
    tf.train.remove_checkpoint("a[1]")
    assert os.listdir(".") == ["a1.index"]


@pytest.mark.parametrize("name,expected", [("model-1000", "model-1000.meta"),
                                           ("model-?????-of-00004", "model.meta"),
                                           ("model-00001-of-00004", "model.meta")])
def test_meta_graph_filename(name, expected):
    assert cm.meta_graph_filename(name) == expected


def test_state_file_matches_tensorflow(tf_real, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for lib, d in ((tf, "ours"), (tf_real, "theirs")):
        os.mkdir(d)
        lib.train.update_checkpoint_state(d, f"{d}/m-2", [f"{d}/m-0", f"{d}/m-1"],
                                          all_model_checkpoint_timestamps=[1.5, 2.5, 3.25],
                                          last_preserved_timestamp=0.5)
        lib.train.update_checkpoint_state(os.path.abspath(d), "rel-5", ["/abs/m-4"], latest_filename="other")
    for name in ("checkpoint", "other"):
        assert open(f"ours/{name}").read() == open(f"theirs/{name}").read().replace("theirs", "ours")
    _touch("ours/m-2.index", "theirs/m-2.index")
    assert tf.train.latest_checkpoint("ours") == tf_real.train.latest_checkpoint("theirs").replace("theirs", "ours")
