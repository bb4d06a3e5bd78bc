"""Saver.save killed (SIGKILL) at many points: ``latest_checkpoint`` always names a complete checkpoint, and
every checkpoint the state file lists restores with the values of one step."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import deferflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N, SIZE = 5, 1 << 17

# Saves steps base..base+2 (max_to_keep=2, so old checkpoints are deleted too). With kill_at > 0 the child
# SIGKILLs itself at that file-system call (write, rename, fsync, remove...) counted from its first save.
CHILD = r"""
import os, signal, sys
root, directory, kill_at, base, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sys.path.insert(0, root)
import numpy as np
import deferflow as tf
vs = [tf.Variable(np.zeros(%(size)d, np.float32), name=f"v{k}") for k in range(%(n)d)]
saver = tf.train.Saver(max_to_keep=2)
sess = tf.Session()
sess.run(tf.global_variables_initializer())
calls = [0]
def trap(fn):
    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return wrapped
for name in ("write", "replace", "rename", "fsync", "remove", "unlink", "rmdir", "open"):
    setattr(os, name, trap(getattr(os, name)))
print("ready", flush=True)
for step in range(base, base + steps):
    for k, v in enumerate(vs):
        v.load(np.full(%(size)d, step * 10 + k, np.float32), sess)
    saver.save(sess, os.path.join(directory, "model.ckpt"), global_step=step, write_meta_graph=False)
print("calls", calls[0], flush=True)
""" % {"size": SIZE, "n": N}


def _run(directory, kill_at, base, steps=3):
    """CHILD's save loop in a forked copy of this process (no interpreter start-up per kill point).

    Returns the child's exit status and, on a normal exit, the number of file operations it made.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            os.close(read)
            namespace = {}
            source = CHILD.split('print("ready", flush=True)')
            sys.argv = ["child", ROOT, str(directory), str(kill_at), str(base), str(steps)]
            tf.reset_default_graph()
            exec(source[0] + source[1].replace('print("calls", calls[0], flush=True)',
                                               'os.write(%d, str(calls[0]).encode())' % write), namespace)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as f:
        out = f.read()
    return os.waitstatus_to_exitcode(status), int(out) if out else None


def _check(directory):
    """Every checkpoint listed in the state file is complete and consistent; the latest restores."""
    latest = tf.train.latest_checkpoint(str(directory))
    assert latest is not None
    state = tf.train.get_checkpoint_state(str(directory))
    assert state.model_checkpoint_path == latest
    for prefix in state.all_model_checkpoint_paths:
        step = int(prefix.rsplit("-", 1)[1])
        reader = tf.train.NewCheckpointReader(prefix)
        for k in range(N):
            np.testing.assert_array_equal(reader.get_tensor(f"v{k}"), np.full(SIZE, step * 10 + k, np.float32))
    tf.reset_default_graph()
    vs = [tf.Variable(np.zeros(SIZE, np.float32), name=f"v{k}") for k in range(N)]
    with tf.Session() as sess:
        tf.train.Saver().restore(sess, latest)
        step = int(latest.rsplit("-", 1)[1])
        assert [float(sess.run(v)[-1]) for v in vs] == [step * 10 + k for k in range(N)]
    return latest


def test_kill_at_every_file_operation_of_save(tmp_path):
    assert _run(tmp_path, 0, 0, steps=1)[0] == 0
    code, total = _run(tmp_path / "count", 0, 0)  # how many file operations three saves make
    assert code == 0 and total > 20
    latest = []
    for kill_at in range(1, total + 1):
        code, _ = _run(tmp_path, kill_at, kill_at * 10)
        assert code == -signal.SIGKILL
        latest.append(_check(tmp_path))
    assert len(set(latest)) > total // 3  # kills landed both before and after the new state was written


@pytest.mark.parametrize("seed", [7])
def test_kill_at_random_moments(tmp_path, seed):
    assert _run(tmp_path, 0, 0, steps=1)[0] == 0
    rng = random.Random(seed)
    for attempt in range(6):
        child = subprocess.Popen([sys.executable, "-c", CHILD, ROOT, str(tmp_path), "0", str(1000 * (attempt + 1)),
                                  "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.05, 0.5))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        _check(tmp_path)
