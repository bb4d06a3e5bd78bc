"""Crash-safe file writing: temp file in the same directory, fsync, rename into place."""
import os
import secrets


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


class AtomicFile:
    """A file written under a temp name and renamed to ``path`` only by ``commit()``.

    ``file`` is a binary file object. ``close_temp()`` flushes, fsyncs and closes it without
    renaming, so several files can be made durable first and renamed back to back. If a
    commit never happens, ``discard()`` (or leaving a ``with`` block by an exception) removes it.
    """

    def __init__(self, path, buffering=8 << 20):
        self.path = os.fspath(path)
        self.temp = temp_path(self.path)
        self.file = open(self.temp, "wb", buffering=buffering)

    def close_temp(self):
        if not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()

    def commit(self, sync_dir=True, path=None):
        """Rename the durable temp file to its final name (or to ``path``)."""
        self.close_temp()
        if path is not None:
            self.path = os.fspath(path)
        os.replace(self.temp, self.path)
        if sync_dir:
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


def atomic_write(path, data):
    """Write ``data`` (bytes-like) to ``path`` atomically: readers see the old or the new file, never a mix."""
    with AtomicFile(path, buffering=-1) as f:
        f.file.write(data)


def ensure_parent_dir(path):
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
