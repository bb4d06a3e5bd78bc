"""Shared fixtures. ``tf_real`` is real TensorFlow (compat.v1, graph mode), the oracle for differential tests.

Where TensorFlow is not installed those tests skip — except under CI (``CI=true``), where a missing
TensorFlow is an error, so interop tests can never silently skip there.
"""
import os

import pytest

import deferflow


def _import_real_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    try:
        import tensorflow.compat.v1 as tf
    except ImportError:
        return None
    tf.disable_v2_behavior()
    return tf


@pytest.fixture(scope="session")
def tf_real():
    tf = _import_real_tf()
    if tf is None:
        if os.environ.get("CI"):
            pytest.fail("TensorFlow is not installed but CI must run the interop tests")
        pytest.skip("tensorflow is not installed")
    return tf


@pytest.fixture(autouse=True)
def _fresh_default_graph():
    """Every test starts with an empty deferflow default graph."""
    deferflow.reset_default_graph()
    yield


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Runs the test inside a temporary working directory (the seed writes files to './')."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def synced(monkeypatch):
    """Records the (device, inode) of every file or directory passed to os.fsync / os.fdatasync, with the
    checkpoint fsync switch at its default (tests/formats/test_fsync.py, tests/training/test_saver_fsync.py)."""
    from deferflow.formats import bundle, fileio
    seen = []

    def record(real):
        def wrapped(fd):
            st = os.fstat(fd)
            seen.append((st.st_dev, st.st_ino))
            return real(fd)
        return wrapped

    monkeypatch.setattr(os, "fsync", record(os.fsync))
    if hasattr(os, "fdatasync"):
        monkeypatch.setattr(os, "fdatasync", record(os.fdatasync))
        monkeypatch.setattr(bundle, "_fdatasync", os.fdatasync)
    monkeypatch.delenv(fileio.FSYNC_ENV, raising=False)
    fileio.set_checkpoint_fsync(None)
    yield seen
    fileio.set_checkpoint_fsync(None)
