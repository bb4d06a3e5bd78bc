"""TensorFlow V1 checkpoints (TensorSliceWriter, the format before 2017), read-only.

A V1 checkpoint is one file (``model.ckpt``), or several (``model.ckpt-00000-of-00002`` ...; the saver
records the glob pattern ``model.ckpt-?????-of-00002``), each a LevelDB-format table as in ``table``:

- key ``""``: a SavedTensorSlices whose ``meta`` lists every tensor in the file (name, shape, dtype and
  the slices of it stored there) and the format version;
- one key per stored slice, ``tensor_slice.encode_tensor_name_slice(name, extents)`` (a whole tensor is
  one slice of full extents): a SavedTensorSlices whose ``data`` holds the values in the TensorProto
  field of the dtype (``float_val``, ``int_val``, ``half_val``, ``string_val`` ...).

There is no per-value checksum: the table's block CRC32C is what detects damage. A partitioned tensor
has several slices, possibly spread over several files; reading it assembles them.
``open_checkpoint(prefix)`` gives a ``bundle.BundleReader`` for V2 checkpoints and a ``V1Reader``
(same interface) otherwise.
"""
import glob
import mmap
import os
import re
import threading

import numpy as np

from deferflow.formats import bundle, dtypes, tensor_slice
from deferflow.formats.coding import DecodeError
from deferflow.formats.errors import CorruptFileError, MissingFileError, UnsupportedFormatError
from deferflow.formats.proto import types_pb2 as T
from deferflow.formats.proto.saved_tensor_slice_pb2 import SavedTensorSlices
from deferflow.formats.table import FOOTER_SIZE, MAGIC, TableReader

META_KEY = b""
VERSION = 1        # TF_CHECKPOINT_VERSION: the newest consumer we are
MIN_PRODUCER = 0   # TF_CHECKPOINT_VERSION_MIN_PRODUCER
MAX_RANK = 254
_MAX_ELEMENTS = 1 << 62
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})$")
_V2_DATA = re.compile(r"\.data-\d{5}-of-\d{5}$")

# dtype -> (TensorProto field, NumPy type the field holds its elements as, values per element)
_FIELDS = {
    T.DT_FLOAT: ("float_val", np.float32, 1), T.DT_DOUBLE: ("double_val", np.float64, 1),
    T.DT_INT32: ("int_val", np.int32, 1), T.DT_UINT8: ("int_val", np.int32, 1),
    T.DT_INT16: ("int_val", np.int32, 1), T.DT_INT8: ("int_val", np.int32, 1),
    T.DT_UINT16: ("int_val", np.int32, 1), T.DT_QINT8: ("int_val", np.int32, 1),
    T.DT_QUINT8: ("int_val", np.int32, 1), T.DT_QINT16: ("int_val", np.int32, 1),
    T.DT_QUINT16: ("int_val", np.int32, 1), T.DT_QINT32: ("int_val", np.int32, 1),
    T.DT_INT64: ("int64_val", np.int64, 1), T.DT_UINT32: ("uint32_val", np.uint32, 1),
    T.DT_UINT64: ("uint64_val", np.uint64, 1), T.DT_BOOL: ("bool_val", np.bool_, 1),
    T.DT_HALF: ("half_val", np.int32, 1), T.DT_BFLOAT16: ("half_val", np.int32, 1),  # 16-bit patterns
    T.DT_COMPLEX64: ("scomplex_val", np.float32, 2), T.DT_COMPLEX128: ("dcomplex_val", np.float64, 2),
    T.DT_STRING: ("string_val", object, 1),
}


def _path_str(path):
    return os.fsdecode(path) if isinstance(path, bytes) else os.fspath(path)


def matching_files(filepattern):
    """The files of the V1 checkpoint ``filepattern`` names, sorted; [] if none.

    As TensorFlow's reader: the path itself if it is a file, else the files its glob pattern matches.
    Beyond TensorFlow: a plain prefix whose only files are ``PREFIX-NNNNN-of-NNNNN`` (a sharded save)
    finds those.
    """
    pattern = _path_str(filepattern)
    if os.path.isfile(pattern):
        return [pattern]
    found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else []
    if not found:
        found = sorted(glob.glob(glob.escape(pattern) + "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]"))
    return found


def _check_shard_set(files, pattern):
    """MissingFileError when files named ``-i-of-n`` leave out some shard of their set."""
    groups = {}
    for path in files:
        m = _SHARD.search(path)
        if m:
            groups.setdefault((path[:m.start()], int(m.group(2))), set()).add(int(m.group(1)))
    for (head, count), present in groups.items():
        missing = [i for i in range(count) if i not in present]
        if missing:
            first = f"{head}-{missing[0]:05d}-of-{count:05d}"
            raise MissingFileError(first, f"shard {missing[0]} of {count} of V1 checkpoint {pattern} not found "
                                          f"({len(missing)} missing)")


def is_v1_checkpoint(path):
    """Whether ``path`` names a V1 checkpoint: no ``path.index``, and ``path`` (a file, glob pattern, or
    prefix of ``-NNNNN-of-NNNNN`` shards) finds files that end like a table. Only the last 8 bytes of
    the first file are read; ``V1Reader`` checks the rest."""
    path = _path_str(path)
    if os.path.exists(bundle.index_filename(path)) or path.endswith(".index") or _V2_DATA.search(path):
        return False
    files = matching_files(path)
    if not files:
        return False
    try:
        with open(files[0], "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < FOOTER_SIZE:
                return False
            f.seek(size - 8)
            return int.from_bytes(f.read(8), "little") == MAGIC
    except OSError:
        return False


def open_checkpoint(prefix):
    """A reader for the checkpoint at ``prefix``: ``bundle.BundleReader`` when ``prefix.index`` exists (V2
    wins), else a ``V1Reader`` when ``prefix`` matches files (V1), else the V2 reader's MissingFileError."""
    prefix = _path_str(prefix)
    if not os.path.exists(bundle.index_filename(prefix)) and matching_files(prefix):
        return V1Reader(prefix)
    return bundle.BundleReader(prefix)


class V1Entry:
    """A tensor (or one stored slice of it) of a V1 checkpoint, as ``bundle.TensorEntry`` describes one:
    ``key``, ``dtype`` (enum), ``shape``, ``slices`` (extents of each stored slice when the tensor is
    partitioned, else empty), ``shard_id`` (file holding it), ``size`` (stored bytes; reads the file)."""

    __slots__ = ("key", "dtype", "shape", "slices", "shard_id", "_reader", "_parts", "_size")

    def __init__(self, reader, key, dtype, shape, slices, parts):
        self._reader, self.key, self.dtype, self.shape, self.slices = reader, key, dtype, shape, slices
        self._parts = parts  # [(extents, file index)] whose record bytes make up ``size``
        self.shard_id = parts[0][1] if parts else 0
        self._size = None

    @property
    def size(self):
        if self._size is None:
            self._size = sum(len(self._reader._record(t, ext, f)[0]) for t, ext, f in self._parts)
        return self._size

    @property
    def num_elements(self):
        return int(np.prod(self.shape, dtype=object))

    @property
    def numpy_dtype(self):
        return dtypes.numpy_for_enum(self.dtype)

    def __repr__(self):
        return f"V1Entry({self.key!r}, dtype={self.dtype}, shape={list(self.shape)}, slices={len(self.slices)})"


class _Tensor:
    __slots__ = ("name", "dtype", "shape", "parts")

    def __init__(self, name, dtype, shape):
        self.name, self.dtype, self.shape, self.parts = name, dtype, shape, []  # parts: [(extents, bounds, file)]


class _Table(TableReader):
    """A table over a file's mmap that keeps only the last data block parsed (values can be huge)."""

    def _block(self, i):
        if i not in self._blocks:
            self._blocks.clear()
        return super()._block(i)


class V1Reader:
    """Reads a V1 checkpoint with ``bundle.BundleReader``'s interface: ``keys()``, ``entry(key)``,
    ``read(key, extents=None)``, ``variable_to_shape_map()``, ``variable_to_dtype_map()``, ``close()``.

    ``filepattern`` is the file, the glob pattern of a sharded save, or its prefix. Every length, count,
    shape and slice is checked against the files before anything is allocated; bad bytes raise
    CorruptFileError naming the file and tensor, absent files MissingFileError, unknown keys KeyError.
    Files are memory-mapped; ``close()`` unmaps them and a later read maps them again.
    """

    format_version = 1

    def __init__(self, filepattern):
        self.prefix = _path_str(filepattern)
        self.files = matching_files(self.prefix)
        if not self.files:
            raise MissingFileError(self.prefix, "no V1 checkpoint file matches this path")
        if self.files != [self.prefix]:  # found by pattern: all shards of a set must be there
            _check_shard_set(self.files, self.prefix)
        self.num_shards = len(self.files)
        self.index_path = self.files[0]  # what BundleReader users print as "the checkpoint file"
        self._open = {}  # file index -> (file, mmap, _Table)
        self._lock = threading.Lock()  # tables cache parsed blocks: one reader thread at a time in them
        self._tensors = {}  # name bytes -> _Tensor
        self._total_bytes = 0
        try:
            for i in range(len(self.files)):
                self._load_meta(i)
        except BaseException:
            self.close()
            raise
        self._names = sorted(self._tensors)
        self._entry_cache = {}

    # --- files ---

    def _table(self, i):
        opened = self._open.get(i)
        if opened is None:
            path = self.files[i]
            try:
                f = open(path, "rb")
            except FileNotFoundError:
                raise MissingFileError(path) from None
            except IsADirectoryError:
                raise CorruptFileError(path, "is a directory, not a V1 checkpoint file") from None
            try:
                size = os.fstat(f.fileno()).st_size
                if size < FOOTER_SIZE:
                    raise CorruptFileError(path, f"file is too short to be an sstable ({size} bytes, footer needs "
                                                 f"{FOOTER_SIZE})")
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                try:
                    opened = self._open[i] = (f, mm, _Table(mm, path))
                except BaseException:
                    _unmap(mm)
                    raise
            except BaseException:
                f.close()
                raise
        return opened[2]

    def _corrupt(self, i, detail):
        raise CorruptFileError(self.files[i], detail)

    def _load_meta(self, i):
        table = self._table(i)
        self._total_bytes += len(table.data)
        value = table.get(META_KEY)
        if value is None:
            self._corrupt(i, "no V1 checkpoint metadata (empty key) in this table")
        sts = SavedTensorSlices()
        try:
            sts.ParseFromString(value)
        except Exception:
            self._corrupt(i, "unable to parse the V1 checkpoint metadata")
        if not sts.HasField("meta"):
            if self.files[i].endswith(".index"):
                self._corrupt(i, "this is the index of a V2 checkpoint: pass its prefix (without .index)")
            self._corrupt(i, "the table's empty key holds no V1 checkpoint metadata")
        versions = sts.meta.versions
        if versions.producer < MIN_PRODUCER or versions.min_consumer > VERSION or VERSION in versions.bad_consumers:
            raise UnsupportedFormatError(self.files[i], f"checkpoint format version {versions.producer} (min consumer "
                                                        f"{versions.min_consumer}) is not readable by version {VERSION}")
        for meta in sts.meta.tensor:
            self._add_tensor(i, meta)

    def _add_tensor(self, i, meta):
        name = meta.name.encode("utf-8", "surrogateescape")
        shape = meta.shape
        dims = [d.size for d in shape.dim]
        if shape.unknown_rank or len(dims) > MAX_RANK or any(d < 0 for d in dims):
            self._corrupt(i, f"tensor {meta.name!r}: invalid shape {dims}")
        if np.prod([d for d in dims if d], dtype=object) >= _MAX_ELEMENTS:
            self._corrupt(i, f"tensor {meta.name!r}: shape {dims} is too large")
        if meta.type not in dtypes.BY_ENUM:
            self._corrupt(i, f"tensor {meta.name!r}: unknown dtype {meta.type}")
        tensor = self._tensors.get(name)
        if tensor is None:
            tensor = self._tensors[name] = _Tensor(name, meta.type, tuple(dims))
        elif tensor.dtype != meta.type or tensor.shape != tuple(dims):
            self._corrupt(i, f"tensor {meta.name!r}: dtype {meta.type} and shape {dims} differ from those of "
                             f"another file ({tensor.dtype}, {list(tensor.shape)})")
        if not meta.slice:
            self._corrupt(i, f"tensor {meta.name!r} lists no slices")
        for proto in meta.slice:
            extents = tensor_slice.extents_from_proto(proto)
            try:
                bounds = tensor_slice.resolve(extents, dims)
            except ValueError as e:
                self._corrupt(i, f"tensor {meta.name!r}: {e}")
            tensor.parts.append((tuple(extents), tuple(bounds), i))

    # --- metadata ---

    def keys(self, include_slices=False):
        """Tensor names (str), sorted; with ``include_slices`` also the slice keys of partitioned tensors."""
        out = [bundle._key_str(k) for k in self._names]
        if include_slices:
            out += [bundle._key_str(tensor_slice.encode_tensor_name_slice(t.name, list(ext)))
                    for t in (self._tensors[k] for k in self._names) if self._partitioned(t)
                    for ext, _, _ in t.parts]
            out.sort()
        return out

    def __contains__(self, key):
        try:
            self._lookup(bundle._key_bytes(key))
        except KeyError:
            return False
        return True

    @staticmethod
    def _partitioned(t):
        return len(t.parts) != 1 or t.parts[0][1] != tuple((0, d) for d in t.shape)

    def _lookup(self, key):
        """(tensor, part or None) for a tensor name or the slice key of one stored slice; KeyError if neither."""
        tensor = self._tensors.get(key)
        if tensor is not None:
            return tensor, None
        if tensor_slice.is_slice_key(key):
            try:
                name, extents = tensor_slice.decode_tensor_name_slice(key)
            except DecodeError:
                raise KeyError(key) from None
            tensor = self._tensors.get(name)
            if tensor is not None and self._partitioned(tensor):
                try:
                    bounds = tuple(tensor_slice.resolve(extents, tensor.shape))
                except ValueError:
                    raise KeyError(key) from None
                for part in tensor.parts:
                    if part[1] == bounds:
                        return tensor, part
        raise KeyError(key)

    def entry(self, key):
        """The V1Entry for tensor ``key`` or for a slice key (KeyError if absent)."""
        key = bundle._key_bytes(key)
        entry = self._entry_cache.get(key)
        if entry is None:
            try:
                tensor, part = self._lookup(key)
            except KeyError:
                raise KeyError(f"Key {bundle._key_str(key)} not found in checkpoint {self.prefix}") from None
            if part is not None:
                shape = tuple(b - a for a, b in part[1])
                entry = V1Entry(self, bundle._key_str(key), tensor.dtype, shape, (), [(part[0], part[2])])
            else:
                slices = tuple(ext for ext, _, _ in tensor.parts) if self._partitioned(tensor) else ()
                entry = V1Entry(self, bundle._key_str(key), tensor.dtype, tensor.shape, slices,
                                [(ext, f) for ext, _, f in tensor.parts])
            entry._parts = [(tensor, ext, f) for ext, f in entry._parts]
            self._entry_cache[key] = entry
        return entry

    def variable_to_shape_map(self):
        return {bundle._key_str(k): list(self._tensors[k].shape) for k in self._names}

    def variable_to_dtype_map(self):
        """{name: DataType enum number}."""
        return {bundle._key_str(k): self._tensors[k].dtype for k in self._names}

    # --- data ---

    def _record(self, tensor, extents, i):
        """(record bytes, parsed SavedSlice) of one stored slice, checked to be that slice."""
        key = tensor_slice.encode_tensor_name_slice(tensor.name, list(extents))
        where = f"tensor {bundle._key_str(tensor.name)!r} slice {tensor_slice.slice_string(extents) or '(scalar)'}"
        with self._lock:
            value = self._table(i).get(key)
        if value is None:
            self._corrupt(i, f"{where}: no data record (key missing)")
        sts = SavedTensorSlices()
        try:
            sts.ParseFromString(value)
        except Exception:
            self._corrupt(i, f"{where}: unable to parse the data record")
        saved = sts.data
        if saved.name.encode("utf-8", "surrogateescape") != tensor.name:
            self._corrupt(i, f"{where}: the data record is for tensor {saved.name!r}")
        try:
            stored = tensor_slice.resolve(tensor_slice.extents_from_proto(saved.slice), tensor.shape)
        except ValueError:
            stored = None
        if stored != tensor_slice.resolve(list(extents), tensor.shape):
            self._corrupt(i, f"{where}: the data record holds a different slice")
        return value, saved

    def _slice_values(self, tensor, extents, bounds, i):
        """The stored slice as an array of its shape."""
        _, saved = self._record(tensor, extents, i)
        where = f"tensor {bundle._key_str(tensor.name)!r} slice {tensor_slice.slice_string(extents) or '(scalar)'}"
        shape = tuple(b - a for a, b in bounds)
        n = int(np.prod(shape, dtype=object))
        info = dtypes.info_for_enum(tensor.dtype)
        field, held, per = _FIELDS[tensor.dtype]
        proto = saved.data
        values = getattr(proto, field)
        if len(values) == n * per:
            if held is object:
                out = np.empty(n, dtype=object)
                out[:] = list(values) if n else []
                return out.reshape(shape)
            raw = np.array(values, dtype=held)
            if tensor.dtype in (T.DT_HALF, T.DT_BFLOAT16):
                return raw.astype(np.uint16).view(info.numpy).reshape(shape)  # low 16 bits: the bit pattern
            if per == 2:
                return raw.view(info.numpy).reshape(shape)
            return raw.astype(info.numpy, copy=False).reshape(shape)  # int_val narrows as C++ static_cast
        content = proto.tensor_content
        if not values and held is not object and n and len(content) == n * info.itemsize:
            return np.frombuffer(content, dtype=info.numpy).reshape(shape).copy()  # never written by TensorFlow
        self._corrupt(i, f"{where}: holds {len(values) // per if per else len(values)} values in {field} "
                         f"where its shape {list(shape)} needs {n}")

    def read(self, key, extents=None):
        """The tensor stored under ``key`` as an ndarray (DT_STRING: object array of bytes); ``extents``
        ([(start, length)], -1 = whole dimension) returns just that slice. A slice key reads that slice."""
        tensor, part = self._lookup_or_keyerror(key)
        if part is not None:
            array = self._slice_values(tensor, part[0], part[1], part[2])
            if extents is not None:
                try:
                    bounds = tensor_slice.resolve(extents, array.shape)
                except ValueError as e:
                    raise ValueError(f"{bundle._key_str(bundle._key_bytes(key))}: {e}") from None
                array = array[tuple(slice(a, b) for a, b in bounds)]
            return array
        name = bundle._key_str(tensor.name)
        try:
            target = tensor_slice.resolve(extents, tensor.shape) if extents is not None else \
                [(0, d) for d in tensor.shape]
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
        info = dtypes.info_for_enum(tensor.dtype)
        first = tensor.parts[0][2]
        if info.numpy is None or tensor.dtype not in _FIELDS:
            raise UnsupportedFormatError(self.files[first], f"tensor {name!r} has dtype {info.enum_name}, "
                                                            "which cannot be read")
        if len(tensor.parts) == 1 and tensor.parts[0][1] == tuple(target):
            extents0, bounds0, i = tensor.parts[0]
            return self._slice_values(tensor, extents0, bounds0, i)  # the common case: one whole slice
        shape = tuple(b - a for a, b in target)
        need = int(np.prod(shape, dtype=object))
        if need > self._total_bytes:  # every stored element takes at least one byte
            self._corrupt(first, f"tensor {name!r} of shape {list(tensor.shape)} is larger than its files")
        out = np.empty(shape, dtype=info.numpy)
        seen = np.zeros(shape, dtype=bool)
        covered = 0
        for ext, bounds, i in tensor.parts:
            inter = [(max(a, c), min(b, d)) for (a, b), (c, d) in zip(bounds, target)]
            if any(lo >= hi for lo, hi in inter) and need:
                continue
            values = self._slice_values(tensor, ext, bounds, i)
            src = tuple(slice(lo - a, hi - a) for (lo, hi), (a, _) in zip(inter, bounds))
            dst = tuple(slice(lo - c, hi - c) for (lo, hi), (c, _) in zip(inter, target))
            if seen[dst].any():
                self._corrupt(i, f"tensor {name!r}: slice {tensor_slice.slice_string(ext)} overlaps another slice")
            seen[dst] = True
            out[dst] = values[src]
            covered += int(np.prod([max(0, hi - lo) for lo, hi in inter], dtype=object))
        if covered != need:
            self._corrupt(first, f"tensor {name!r}: its slices cover {covered} of the {need} elements requested")
        return out

    def _lookup_or_keyerror(self, key):
        try:
            return self._lookup(bundle._key_bytes(key))
        except KeyError:
            raise KeyError(f"Key {bundle._key_str(bundle._key_bytes(key))} not found in checkpoint "
                           f"{self.prefix}") from None

    def read_all(self):
        """{name: ndarray} for every tensor."""
        return {k: self.read(k) for k in self.keys()}

    def close(self):
        """Unmap the files (metadata stays parsed; a later read maps them again)."""
        with self._lock:
            opened, self._open = self._open, {}
        for f, mm, table in opened.values():
            del table
            _unmap(mm)
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _unmap(mm):
    try:
        mm.close()
    except BufferError:  # a view into it is still alive (e.g. in an exception's traceback): the GC unmaps it
        pass


def load(filepattern):
    """{name: ndarray} of every tensor in the V1 checkpoint ``filepattern``."""
    with V1Reader(filepattern) as reader:
        return reader.read_all()
