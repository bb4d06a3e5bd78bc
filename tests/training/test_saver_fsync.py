"""Saver.save and the durability switch: no fsync by default; with DEFERFLOW_CHECKPOINT_FSYNC=1 the data,
the index, the ``checkpoint`` state file and the directory are fsynced."""
import os

import numpy as np

import deferflow as tf
from deferflow.formats import bundle, fileio


def _ident(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _save(tmp_path, step):
    v = tf.Variable(np.arange(6 << 20, dtype=np.float32), name="v")  # 24 MiB
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step)
    return path, v


def test_saver_does_not_fsync_by_default(tmp_path, synced):
    path, _ = _save(tmp_path, 1)
    assert synced == []
    assert tf.train.latest_checkpoint(str(tmp_path)) == path
    assert bundle.load(path)["v"][-1] == (6 << 20) - 1


def test_saver_fsyncs_everything_with_the_switch(tmp_path, synced, monkeypatch):
    monkeypatch.setenv(fileio.FSYNC_ENV, "1")
    path, _ = _save(tmp_path, 2)
    for name in (path + ".data-00000-of-00001", path + ".index", str(tmp_path / "checkpoint"),
                 path + ".meta", str(tmp_path)):
        assert _ident(name) in synced, name
    assert tf.train.latest_checkpoint(str(tmp_path)) == path
