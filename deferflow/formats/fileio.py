"""Crash-safe file writing: temp file in the same directory, renamed into place.

A file written through ``AtomicFile``/``atomic_write`` appears under its final name only once it is
complete, so a process killed mid-write leaves the old file (or none), never a torn one. That needs no
fsync: once written, the data is the kernel's, and a killed process cannot lose it. Surviving a power
loss or an OS crash is another matter: that takes fsync of the file before the rename and of the
directory after it, which costs a trip to the disk (TensorFlow does not do it). It is off by default
and switched on by the environment variable ``DEFERFLOW_CHECKPOINT_FSYNC=1`` (read when a file is
opened for writing) or by ``set_checkpoint_fsync(True)``.
"""
import ctypes
import os
import secrets

FSYNC_ENV = "DEFERFLOW_CHECKPOINT_FSYNC"
_TRUE = ("1", "true", "yes", "on")
_fsync_override = None


def set_checkpoint_fsync(enabled):
    """Make atomic writes (checkpoints, the ``checkpoint`` state file, graphs) durable across power loss
    (True: fsync files and directories) or not (False); None goes back to ``$DEFERFLOW_CHECKPOINT_FSYNC``."""
    global _fsync_override
    _fsync_override = None if enabled is None else bool(enabled)


def checkpoint_fsync():
    """Whether atomic writes fsync now: ``set_checkpoint_fsync``'s setting, else ``$DEFERFLOW_CHECKPOINT_FSYNC``."""
    if _fsync_override is not None:
        return _fsync_override
    return os.environ.get(FSYNC_ENV, "").strip().lower() in _TRUE


def temp_path(path):
    """A fresh temp name beside ``path`` (same directory, so rename is atomic), TensorFlow-style."""
    return f"{path}.tempstate{secrets.randbits(63)}"


def fsync_dir(directory):
    """Persist a rename by syncing its directory (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _libc_fallocate():
    try:
        fn = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):  # not Linux/glibc-like: no preallocation
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    return fn


_fallocate = _libc_fallocate()


def preallocate(fd, offset, length):
    """Reserve disk blocks for bytes ``[offset, offset + length)`` of ``fd`` (the file grows to cover them).

    Writing a big tensor into reserved blocks skips the file system's per-page block reservation
    (measured ~4.5 vs ~4.1 GB/s on ext4). Uses the Linux ``fallocate`` call, never a zero-filling
    emulation; returns False where it is unsupported, and the caller just writes.
    """
    if _fallocate is None or length <= 0:
        return False
    return _fallocate(fd, 0, offset, length) == 0


class AtomicFile:
    """A file written under a temp name and renamed to ``path`` only by ``commit()``.

    ``file`` is a binary file object (``buffering=0``: unbuffered). ``close_temp()`` flushes it to the
    OS (and fsyncs it when ``sync``) and closes it without renaming, so several files can be finished
    first and renamed back to back. If a commit never happens, ``discard()`` (or leaving a ``with``
    block by an exception) removes it. ``sync=None`` follows ``checkpoint_fsync()`` at opening.
    """

    def __init__(self, path, buffering=8 << 20, sync=None):
        self.path = os.fspath(path)
        self.temp = temp_path(self.path)
        self.sync = checkpoint_fsync() if sync is None else bool(sync)
        self.file = open(self.temp, "wb", buffering=buffering)

    def close_temp(self):
        if not self.file.closed:
            self.file.flush()
            if self.sync:
                os.fsync(self.file.fileno())
            self.file.close()

    def commit(self, sync_dir=True, path=None):
        """Rename the finished temp file to its final name (or to ``path``); with ``sync``, make it durable."""
        self.close_temp()
        if path is not None:
            self.path = os.fspath(path)
        os.replace(self.temp, self.path)
        if sync_dir and self.sync:
            fsync_dir(os.path.dirname(self.path))

    def discard(self):
        if not self.file.closed:
            self.file.close()
        try:
            os.remove(self.temp)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(path, data, sync=None):
    """Write ``data`` (bytes-like) to ``path`` atomically: readers see the old or the new file, never a mix.

    ``sync`` (default: ``checkpoint_fsync()``) also makes it durable across power loss.
    """
    with AtomicFile(path, buffering=-1, sync=sync) as f:
        f.file.write(data)


def ensure_parent_dir(path):
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
