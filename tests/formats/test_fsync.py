"""Durability switch: by default a bundle save does no fsync (a killed process cannot lose data the kernel
holds; TensorFlow does not fsync either); ``DEFERFLOW_CHECKPOINT_FSYNC=1`` or ``set_checkpoint_fsync(True)``
fsyncs the data file, the index file and their directory, for power-loss durability."""
import os

import numpy as np
import pytest

from deferflow.formats import bundle, fileio


def _tensors():
    return {"big": np.arange(3 << 20, dtype=np.float32),  # 12 MiB: the checksum-beside-write path
            "small": np.ones((3, 4), np.int64), "names": np.array([b"a", b"bc"], dtype=object)}


def _ident(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _check(prefix, tensors):
    loaded = bundle.load(prefix)
    assert sorted(loaded) == sorted(tensors)
    for name, value in tensors.items():
        assert loaded[name].tolist() == value.tolist()


def test_no_fsync_by_default(tmp_path, synced):
    assert not fileio.checkpoint_fsync()
    prefix = str(tmp_path / "model.ckpt")
    bundle.save(prefix, _tensors())
    bundle.save(prefix, _tensors())  # an overwrite in place (extra shard, then back to one) too
    assert synced == []
    _check(prefix, _tensors())
    assert sorted(os.listdir(tmp_path)) == ["model.ckpt.data-00000-of-00001", "model.ckpt.index"]


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_environment_switch_fsyncs_data_index_and_directory(tmp_path, synced, monkeypatch, value):
    monkeypatch.setenv(fileio.FSYNC_ENV, value)
    assert fileio.checkpoint_fsync()
    prefix = str(tmp_path / "model.ckpt")
    bundle.save(prefix, _tensors())
    _check(prefix, _tensors())
    for path in (prefix + ".data-00000-of-00001", prefix + ".index", str(tmp_path)):
        assert _ident(path) in synced, path


@pytest.mark.parametrize("value", ["0", "", "no", "off"])
def test_environment_switch_off_values(tmp_path, synced, monkeypatch, value):
    monkeypatch.setenv(fileio.FSYNC_ENV, value)
    bundle.save(str(tmp_path / "m"), _tensors())
    assert synced == []


def test_function_switch_overrides_environment(tmp_path, synced, monkeypatch):
    monkeypatch.setenv(fileio.FSYNC_ENV, "1")
    fileio.set_checkpoint_fsync(False)
    bundle.save(str(tmp_path / "a"), _tensors())
    assert synced == []
    monkeypatch.delenv(fileio.FSYNC_ENV)
    fileio.set_checkpoint_fsync(True)
    bundle.save(str(tmp_path / "b"), _tensors())
    assert _ident(str(tmp_path / "b.index")) in synced
    fileio.set_checkpoint_fsync(None)  # back to the (now unset) environment
    assert not fileio.checkpoint_fsync()


def test_switch_is_read_when_the_save_starts(tmp_path, synced, monkeypatch):
    monkeypatch.setenv(fileio.FSYNC_ENV, "1")
    writer = bundle.BundleWriter(str(tmp_path / "m"))
    monkeypatch.delenv(fileio.FSYNC_ENV)  # changed mid-save: this save keeps the setting it began with
    writer.add("big", _tensors()["big"])
    writer.finish()
    assert _ident(str(tmp_path / "m.index")) in synced


def test_atomic_write_follows_the_switch(tmp_path, synced):
    target = tmp_path / "checkpoint"
    fileio.atomic_write(target, b"one")
    assert synced == [] and target.read_bytes() == b"one"
    fileio.set_checkpoint_fsync(True)
    fileio.atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert _ident(str(target)) in synced and _ident(str(tmp_path)) in synced
    synced.clear()
    fileio.atomic_write(target, b"three", sync=False)  # an explicit choice wins
    assert synced == [] and target.read_bytes() == b"three"


def test_merge_follows_the_switch(tmp_path, synced):
    for i in range(2):
        bundle.save(str(tmp_path / f"part{i}"), {f"t{i}": np.full(5, i, np.float32)})
    bundle.merge_bundles([str(tmp_path / "part0"), str(tmp_path / "part1")], str(tmp_path / "merged"))
    assert synced == []
    fileio.set_checkpoint_fsync(True)
    for i in range(2):
        bundle.save(str(tmp_path / f"q{i}"), {f"t{i}": np.full(5, i, np.float32)})
    synced.clear()
    bundle.merge_bundles([str(tmp_path / "q0"), str(tmp_path / "q1")], str(tmp_path / "merged2"))
    assert _ident(str(tmp_path / "merged2.index")) in synced and _ident(str(tmp_path)) in synced
    assert bundle.load(str(tmp_path / "merged2"))["t1"].tolist() == [1.0] * 5


def test_preallocate_reports_support(tmp_path):
    path = tmp_path / "f"
    with open(path, "wb") as f:
        ok = fileio.preallocate(f.fileno(), 0, 1 << 20)
        assert ok in (True, False)
        if ok:  # the file covers the reserved range; the writer fills it exactly
            assert os.fstat(f.fileno()).st_size == 1 << 20
        assert fileio.preallocate(f.fileno(), 0, 0) is False
