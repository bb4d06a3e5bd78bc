"""``tf.gfile`` / ``tf.io.gfile`` on the local file system (what TF1 code uses to read frozen ``.pb`` graphs)."""
import glob as _glob
import os
import shutil

from deferflow.framework import errors


class GFile:
    """``tf.gfile.GFile(name, mode)``: a file object; a missing file is NotFoundError, as in TF."""

    def __init__(self, name, mode="r"):
        name = os.fspath(name)
        if "r" in mode and not os.path.exists(name):
            raise errors.NotFoundError(None, None, f"{name}; No such file or directory")
        self._f = open(name, mode)
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self):
        return iter(self._f)

    def __getattr__(self, item):
        return getattr(self._f, item)

    def size(self):
        return os.path.getsize(self.name)


Open = FastGFile = GFile


def exists(path):
    return os.path.exists(os.fspath(path))


def isdir(path):
    return os.path.isdir(os.fspath(path))


def listdir(path):
    if not isdir(path):
        raise errors.NotFoundError(None, None, f"Could not find directory {path}")
    return os.listdir(os.fspath(path))


def glob(pattern):
    return sorted(_glob.glob(os.fspath(pattern)))


def makedirs(path):
    os.makedirs(os.fspath(path), exist_ok=True)


def mkdir(path):
    os.mkdir(os.fspath(path))


def remove(path):
    if not exists(path):
        raise errors.NotFoundError(None, None, f"{path}; No such file or directory")
    os.remove(os.fspath(path))


def rmtree(path):
    if not exists(path):
        raise errors.NotFoundError(None, None, f"{path}; No such file or directory")
    shutil.rmtree(os.fspath(path))


def rename(src, dst, overwrite=False):
    if exists(dst) and not overwrite:
        raise errors.AlreadyExistsError(None, None, f"file already exists: {dst}")
    os.replace(os.fspath(src), os.fspath(dst))


def copy(src, dst, overwrite=False):
    if exists(dst) and not overwrite:
        raise errors.AlreadyExistsError(None, None, f"file already exists: {dst}")
    shutil.copyfile(os.fspath(src), os.fspath(dst))


def walk(top, topdown=True, onerror=None):
    return os.walk(os.fspath(top), topdown=topdown, onerror=onerror)


def stat(path):
    return os.stat(os.fspath(path))


# TF1's CamelCase names (tf.gfile.Exists ...)
Exists, IsDirectory, ListDirectory, Glob, MakeDirs, MkDir = exists, isdir, listdir, glob, makedirs, mkdir
Remove, DeleteRecursively, Rename, Copy, Walk, Stat = remove, rmtree, rename, copy, walk, stat
