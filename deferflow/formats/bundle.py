"""TensorFlow V2 checkpoint ("tensor bundle"): ``PREFIX.index`` + ``PREFIX.data-NNNNN-of-NNNNN``.

The index is an SSTable mapping "" to a BundleHeaderProto and each tensor name to a
BundleEntryProto (dtype, shape, shard, offset, size, masked CRC32C of the stored bytes).
Numeric tensors are stored as raw little-endian bytes. A string tensor is stored as the
varint64 length of each element, the masked CRC32C of those lengths (as uint32s), then the
element bytes; its entry CRC covers the lengths (as uint32s), that checksum and the bytes.
"""
import glob
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from deferflow.formats import dtypes, tensor_slice
from deferflow.formats.coding import DecodeError, array_crc32c, crc32c, mask, put_varint, unmask
from deferflow.formats.errors import CorruptFileError, MissingFileError, UnsupportedFormatError
from deferflow.formats.fileio import AtomicFile, checkpoint_fsync, ensure_parent_dir, fsync_dir, preallocate
from deferflow.formats.proto.tensor_bundle_pb2 import BundleEntryProto, BundleHeaderProto
from deferflow.formats.proto.types_pb2 import DT_STRING
from deferflow.formats.table import TableReader, TableWriter

_CHUNK = 16 << 20      # big tensors are read in this size, overlapped with checksumming
_PARALLEL = 4 << 20    # tensors this big are checksummed on a worker thread while this one writes them
_DIRECT = 256 << 10    # tensors this big go from their own memory to the file; smaller ones are gathered
_STAGE = 1 << 20       # ... into write calls of about this size
_WRITEBACK = 32 << 20  # with fsync on: start an early fdatasync after this many bytes (overlaps disk writeback)
HEADER_KEY = b""
VERSION = 1          # kTensorBundleVersion: what we write, and the newest consumer we are
MIN_PRODUCER = 0
MAX_RANK = 254       # TensorShape's limit
_U32_MAX = 0xFFFFFFFF


def data_filename(prefix, shard_id, num_shards):
    return f"{os.fspath(prefix)}.data-{shard_id:05d}-of-{num_shards:05d}"


def index_filename(prefix):
    return f"{os.fspath(prefix)}.index"


def _key_bytes(key):
    return key.encode("utf-8", "surrogateescape") if isinstance(key, str) else bytes(key)


def _key_str(key):
    return key.decode("utf-8", "surrogateescape")  # round-trips any bytes


def _string_elements(array):
    """Element bytes of a string/bytes/object array (str encoded as UTF-8)."""
    out = []
    for item in array.reshape(-1).tolist():
        if isinstance(item, str):
            item = item.encode("utf-8")
        elif not isinstance(item, (bytes, bytearray, memoryview)):
            raise TypeError(f"string tensor element must be bytes or str, got {type(item).__name__}")
        out.append(bytes(item))
    return out


def _lengths_crc(lengths, big_endian=False):
    """CRC32C of string lengths as TensorFlow checksums them: uint32 each (uint64 if larger)."""
    order = ">" if big_endian else "<"
    if not lengths or max(lengths) <= _U32_MAX:
        return crc32c(np.asarray(lengths, dtype=order + "u4").tobytes())
    return crc32c(b"".join(np.asarray([n], order + ("u4" if n <= _U32_MAX else "u8")).tobytes()
                           for n in lengths))

def _load_crc32c_nogil():
    """``crc32c_extend(crc, address, length)`` from the crc32c library google-crc32c wraps, called through
    ctypes so that the GIL is released while it runs (google_crc32c.extend keeps the GIL for anything but
    ``bytes``, which would stall the thread writing the same tensor). None if that library is not found."""
    import ctypes
    import ctypes.util
    try:
        import google_crc32c
    except ImportError:
        return None
    here = os.path.dirname(google_crc32c.__file__)
    candidates = sorted(glob.glob(os.path.join(here + ".libs", "libcrc32c*.so*"))) + \
        sorted(glob.glob(os.path.join(here, "libcrc32c*.so*")))
    probe = np.frombuffer(b"123456789", np.uint8)
    for path in candidates + ["system"]:
        if path == "system":  # searching the system (ldconfig) is slow: only when the wheel has no library
            path = ctypes.util.find_library("crc32c")
            if not path:
                break
        try:
            fn = ctypes.CDLL(path).crc32c_extend
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]
        fn.restype = ctypes.c_uint32
        if fn(0, probe.ctypes.data, probe.size) == 0xE3069283:  # the CRC32C check value
            return fn
    return None


_UNLOADED = object()
_crc32c_nogil = _UNLOADED  # loaded on first use: finding the library costs milliseconds at import


def _flat_crc32c(flat, crc=0):
    """CRC32C of a contiguous uint8 array, releasing the GIL when the ctypes route is available."""
    global _crc32c_nogil
    if _crc32c_nogil is _UNLOADED:
        _crc32c_nogil = _load_crc32c_nogil()
    if _crc32c_nogil is not None:
        return _crc32c_nogil(crc, flat.ctypes.data, flat.size)
    return array_crc32c(flat, crc)


def _write_all(fd, data):
    """``os.write`` until all of ``data`` (a bytes-like object) is written; no copy is made."""
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        done += os.write(fd, view[done:])


class BundleWriter:
    """Writes a single-shard bundle. ``add``/``add_slice`` tensors, then ``finish()``.

    Nothing appears under the final names until ``finish()``: data and index are written to temp
    files; the data is renamed to a name the existing bundle (if any) does not use, and the index
    rename commits. A save killed at any point leaves the previous bundle readable. With
    ``checkpoint_fsync()`` on (``$DEFERFLOW_CHECKPOINT_FSYNC=1``, read when the writer is made) both
    files and the directory are also fsynced, which makes the bundle survive a power loss.
    """

    def __init__(self, prefix):
        self.prefix = os.fspath(prefix)
        ensure_parent_dir(self.prefix)
        self._sync = checkpoint_fsync()
        self._data = AtomicFile(data_filename(self.prefix, 0, 1), buffering=0, sync=self._sync)
        self._fd = self._data.file.fileno()
        self._stage = bytearray()  # small tensors gathered into one write
        self._prealloc = True      # until preallocate() says the file system cannot
        self._offset = 0
        self._entries = {}  # key bytes -> BundleEntryProto
        self._finished = False
        self._pool = None         # threads for checksums and early writeback, made on first need
        self._writeback = None    # pending fdatasync future
        self._unsynced = 0

    def add(self, key, value):
        """Add tensor ``value`` (array-like; str/bytes/object arrays are DT_STRING) under ``key``.

        ``value`` is not used once this returns: the caller may change it.
        """
        key = _key_bytes(key)
        if key == HEADER_KEY:
            raise ValueError("the empty key is reserved for the bundle header")
        if key in self._entries:
            raise ValueError(f"Adding duplicate key: {_key_str(key)}")
        self._entries[key] = self._write(value)

    def _put(self, data):
        """Write bytes-like ``data`` after everything before it: staged if small, else straight from its memory."""
        if len(data) < _DIRECT:
            self._stage += memoryview(data)  # (not ``+= ndarray``: NumPy would take that as an addition)
            if len(self._stage) >= _STAGE:
                self._flush_stage()
        else:
            self._flush_stage()
            _write_all(self._fd, data)

    def _flush_stage(self):
        if self._stage:
            _write_all(self._fd, self._stage)
            self._stage = bytearray()

    def _write(self, value):
        if self._finished:
            raise ValueError("BundleWriter is closed")
        array = np.asarray(value)
        info = dtypes.info_for_numpy(array.dtype)
        entry = BundleEntryProto(dtype=info.enum, shard_id=0, offset=self._offset)
        entry.shape.SetInParent()  # TensorFlow always sets shape, even for scalars
        for dim in array.shape:
            entry.shape.dim.add(size=dim)
        if info.enum == DT_STRING:
            elements = _string_elements(array)
            lengths = [len(e) for e in elements]
            crc = _lengths_crc(lengths)
            head = b"".join(put_varint(n) for n in lengths) + mask(crc).to_bytes(4, "little")
            crc = crc32c(head[-4:], crc)
            self._put(head)
            size = len(head)
            for element in elements:
                self._put(element)
                crc = crc32c(element, crc)
                size += len(element)
        else:
            array = np.ascontiguousarray(array, dtype=info.numpy)  # little-endian, C order
            flat = array.reshape(-1).view(np.uint8)
            size = flat.size
            if size >= _PARALLEL:
                self._flush_stage()
                if self._prealloc:  # reserve the blocks first: the write then runs faster
                    self._prealloc = preallocate(self._fd, self._offset, size)
                # The checksum (GIL released) runs on a worker beside the write of the same bytes.
                pending = self._threads().submit(_flat_crc32c, flat)
                try:
                    _write_all(self._fd, flat)
                finally:
                    crc = pending.result()  # the caller may change its array once add() returns
                if self._sync:
                    self._start_writeback(size)
            else:
                crc = _flat_crc32c(flat)
                self._put(flat)
        entry.size = size
        entry.crc32c = mask(crc)
        self._offset += size
        return entry

    def _start_writeback(self, size):
        """With fsync on: start flushing to disk early so that the final fsync has little left."""
        self._unsynced += size
        if self._unsynced >= _WRITEBACK and (self._writeback is None or self._writeback.done()):
            self._writeback = self._threads().submit(_fdatasync, self._fd)
            self._unsynced = 0

    def add_slice(self, full_key, full_shape, extents, value):
        """Add ``value`` as slice ``extents`` ([(start, length)], length -1 = whole dim) of ``full_key``."""
        full_key = _key_bytes(full_key)
        array = np.asarray(value)
        full_shape = [int(d) for d in full_shape]
        bounds = tensor_slice.resolve(extents, full_shape)
        if tuple(stop - start for start, stop in bounds) != array.shape:
            raise ValueError(f"slice {tensor_slice.slice_string(extents)} of {full_shape} does not match "
                             f"value shape {list(array.shape)}")
        if all(start == 0 and stop == dim for (start, stop), dim in zip(bounds, full_shape)):
            return self.add(full_key, array)  # a full slice is just the tensor
        info = dtypes.info_for_numpy(array.dtype)
        full = self._entries.get(full_key)
        if full is None:
            full = self._entries[full_key] = BundleEntryProto(dtype=info.enum)
            for dim in full_shape:
                full.shape.dim.add(size=dim)
        elif not full.slices or full.dtype != info.enum or [d.size for d in full.shape.dim] != full_shape:
            raise ValueError(f"slice of {_key_str(full_key)} conflicts with an earlier entry")
        tensor_slice.extents_to_proto(extents, full.slices.add())
        slice_key = tensor_slice.encode_tensor_name_slice(full_key, extents)
        if slice_key in self._entries:
            raise ValueError(f"duplicate slice {tensor_slice.slice_string(extents)} of {_key_str(full_key)}")
        self._entries[slice_key] = self._write(array)

    def _threads(self):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(2 if self._sync else 1, thread_name_prefix="bundle-writer")
        return self._pool

    def _stop_threads(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def finish(self):
        """Make the bundle visible under its final names (and durable, with fsync on)."""
        if self._finished:
            raise ValueError("BundleWriter is closed")
        self._finished = True
        self._stop_threads()
        num_shards = _unused_shard_count(self.prefix, 1)
        index = AtomicFile(index_filename(self.prefix), buffering=-1, sync=self._sync)
        try:
            self._flush_stage()
            self._data.close_temp()
            _write_empty_shards(self.prefix, 1, num_shards, self._sync)
            write_index(index.file, self._entries, num_shards)
            index.close_temp()
            self._data.commit(sync_dir=False, path=data_filename(self.prefix, 0, num_shards))
            index.commit()  # the single commit point: until here the old index and its data are untouched
        except BaseException:
            self._data.discard()
            index.discard()
            raise
        _remove_stale_shards(self.prefix, num_shards)
        if num_shards != 1:
            self._settle_single_shard(num_shards)

    def _settle_single_shard(self, num_shards):
        """After an in-place overwrite, move back to TF's ``-00000-of-00001`` name: hard-link the data
        under it, commit an index saying one shard, then drop the temporary names. Each step leaves
        the index pointing at complete files, so a kill anywhere still leaves a readable bundle."""
        final = data_filename(self.prefix, 0, 1)
        try:
            os.link(data_filename(self.prefix, 0, num_shards), final)
        except OSError:
            return  # no hard links here: keep the (valid, TF-readable) extra-shard layout
        index = AtomicFile(index_filename(self.prefix), buffering=-1, sync=self._sync)
        try:
            write_index(index.file, self._entries, 1)
            index.close_temp()
            index.commit()
        except BaseException:
            index.discard()
            raise
        _remove_stale_shards(self.prefix, 1)

    def abort(self):
        """Drop everything written so far."""
        self._finished = True
        self._stop_threads()
        self._data.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._finished:
            return
        if exc_type is None:
            self.finish()
        else:
            self.abort()


_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


def _unused_shard_count(prefix, num_shards):
    """``num_shards``, or one more if the bundle now at ``prefix`` uses those data file names.

    Overwriting a bundle in place must not touch the data its current index points to, so the
    new data goes under different names (an extra empty shard changes the "-of-N" part) and the
    index rename is the only commit point.
    """
    try:
        with open(index_filename(prefix), "rb") as f:
            header = BundleHeaderProto.FromString(next(iter(TableReader(f.read())))[1])
    except Exception:  # absent or unreadable: nothing there to protect
        return num_shards
    return num_shards + 1 if header.num_shards == num_shards else num_shards


def _write_empty_shards(prefix, first, num_shards, sync):
    for shard in range(first, num_shards):
        with open(data_filename(prefix, shard, num_shards), "wb") as f:
            if sync:
                os.fsync(f.fileno())


def _remove_stale_shards(prefix, num_shards):
    """After a commit, delete data files of ``prefix`` that belong to a different shard count."""
    suffix = f"-of-{num_shards:05d}"
    pattern = glob.escape(f"{prefix}.data-") + "[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]"
    for path in glob.glob(pattern):
        if not path.endswith(suffix):
            try:
                os.remove(path)
            except OSError:
                pass


def write_index(file, entries, num_shards, endianness=BundleHeaderProto.LITTLE, version=None):
    """Write a bundle index table: header, then ``entries`` ({key bytes: BundleEntryProto}) sorted."""
    header = BundleHeaderProto(num_shards=num_shards, endianness=endianness)
    if version is None:
        header.version.producer = VERSION
    else:
        header.version.CopyFrom(version)
    table = TableWriter(file)
    table.add(HEADER_KEY, header.SerializeToString(deterministic=True))
    for key in sorted(entries):
        table.add(key, entries[key].SerializeToString(deterministic=True))
    table.finish()


def save(prefix, tensors):
    """Write ``tensors`` ({name: array}) as a bundle at ``prefix``."""
    with BundleWriter(prefix) as writer:
        for name, value in tensors.items():
            writer.add(name, value)


@dataclass(frozen=True)
class TensorEntry:
    """A parsed BundleEntryProto. ``slices`` lists each stored slice's extents (for partitioned tensors)."""
    key: str
    dtype: int            # DataType enum number
    shape: tuple
    shard_id: int
    offset: int
    size: int
    crc32c: int           # masked, as stored
    slices: tuple = ()

    @property
    def numpy_dtype(self):
        return dtypes.numpy_for_enum(self.dtype)

    @property
    def num_elements(self):
        return int(np.prod(self.shape, dtype=object))


class BundleReader:
    """Reads a bundle. ``keys()``, ``entry(key)``, ``read(key)``; use as a context manager or ``close()``.

    Every offset, size and count is checked against the files before anything is allocated;
    bad bytes raise CorruptFileError naming the file (and key), an absent file MissingFileError,
    and an unknown key KeyError.
    """

    def __init__(self, prefix):
        self.prefix = os.fspath(prefix)
        self.index_path = index_filename(self.prefix)
        self._table = TableReader.open(self.index_path)
        self._files = {}
        self._pool = None  # a reader thread for big tensors, made on first need
        items = iter(self._table)
        first = next(items, None)
        if first is None or first[0] != HEADER_KEY:
            self._corrupt("the bundle header entry (empty key) is missing")
        header = BundleHeaderProto()
        try:
            header.ParseFromString(first[1])
        except Exception:
            self._corrupt("unable to parse the bundle header")
        self._keys = [key for key, _ in items]
        self.header = header
        self._entry_cache = {}
        if header.endianness not in (BundleHeaderProto.LITTLE, BundleHeaderProto.BIG):
            self._corrupt(f"unknown endianness {header.endianness}")
        self.big_endian = header.endianness == BundleHeaderProto.BIG
        version = header.version
        if version.producer < MIN_PRODUCER or version.min_consumer > VERSION or VERSION in version.bad_consumers:
            raise UnsupportedFormatError(self.index_path, f"checkpoint format version {version.producer} (min "
                                         f"consumer {version.min_consumer}) is not readable by version {VERSION}")
        self.num_shards = header.num_shards
        if not 1 <= self.num_shards <= len(self._keys) + 1:  # +1: writers may add one empty shard
            self._corrupt(f"header declares {self.num_shards} shards for {len(self._keys)} entries")
        self._shard_sizes = []
        for shard in range(self.num_shards):
            path = data_filename(self.prefix, shard, self.num_shards)
            try:
                self._shard_sizes.append(os.stat(path).st_size)
            except FileNotFoundError:
                raise MissingFileError(path, f"data shard {shard} of {self.num_shards} of checkpoint "
                                             f"{self.prefix} not found") from None

    def _corrupt(self, detail, filename=None):
        raise CorruptFileError(filename or self.index_path, detail)

    # --- metadata ---

    def keys(self, include_slices=False):
        """Tensor names (str), sorted; slice entries of partitioned tensors only if ``include_slices``."""
        return [_key_str(k) for k in self._keys if include_slices or not tensor_slice.is_slice_key(k)]

    def __contains__(self, key):
        return self._table.get(_key_bytes(key)) is not None and _key_bytes(key) != HEADER_KEY

    def entry(self, key):
        """The TensorEntry for ``key`` (KeyError if absent)."""
        key = _key_bytes(key)
        if key in self._entry_cache:
            return self._entry_cache[key]
        value = self._table.get(key) if key != HEADER_KEY else None
        if value is None:
            raise KeyError(f"Key {_key_str(key)} not found in checkpoint {self.prefix}")
        proto = BundleEntryProto()
        try:
            proto.ParseFromString(value)
        except Exception:
            self._corrupt(f"entry for key {_key_str(key)!r} is not parseable")
        name = _key_str(key)
        shape = proto.shape
        if shape.unknown_rank or len(shape.dim) > MAX_RANK or any(d.size < 0 for d in shape.dim):
            self._corrupt(f"invalid tensor shape for key {name!r}")
        if np.prod([d.size for d in shape.dim if d.size], dtype=object) >= 1 << 60:  # even if another dim is 0
            self._corrupt(f"tensor shape for key {name!r} is too large: {[d.size for d in shape.dim]}")
        if proto.dtype not in dtypes.BY_ENUM:
            self._corrupt(f"unknown dtype {proto.dtype} for key {name!r}")
        if not 0 <= proto.shard_id < self.num_shards or proto.offset < 0 or proto.size < 0:
            self._corrupt(f"entry for key {name!r} has shard {proto.shard_id} of {self.num_shards}, "
                          f"offset {proto.offset}, size {proto.size}")
        entry = TensorEntry(name, proto.dtype, tuple(d.size for d in shape.dim), proto.shard_id, proto.offset,
                            proto.size, proto.crc32c,
                            tuple(tuple(tensor_slice.extents_from_proto(s)) for s in proto.slices))
        self._entry_cache[key] = entry
        return entry

    def variable_to_shape_map(self):
        return {k: list(self.entry(k).shape) for k in self.keys()}

    def variable_to_dtype_map(self):
        """{name: DataType enum number}."""
        return {k: self.entry(k).dtype for k in self.keys()}

    # --- data ---

    def read(self, key, extents=None):
        """The tensor stored under ``key`` as an ndarray (DT_STRING: object array of bytes).

        ``extents`` ([(start, length)], -1 = whole dimension) returns just that slice.
        """
        entry = self.entry(key)
        array = self._read_sliced(entry) if entry.slices else self._read_entry(entry)
        if extents is not None:
            try:
                bounds = tensor_slice.resolve(extents, entry.shape)
            except ValueError as e:
                raise ValueError(f"{key}: {e}") from None
            array = array[tuple(slice(a, b) for a, b in bounds)]
        return array

    def _file(self, shard_id):
        f = self._files.get(shard_id)
        if f is None:
            path = data_filename(self.prefix, shard_id, self.num_shards)
            try:
                f = self._files[shard_id] = open(path, "rb", buffering=0)
            except FileNotFoundError:
                raise MissingFileError(path) from None
        return f

    def _read_entry(self, entry):
        info = dtypes.info_for_enum(entry.dtype)
        path = data_filename(self.prefix, entry.shard_id, self.num_shards)
        where = f"tensor {entry.key!r} (offset {entry.offset}, size {entry.size})"
        if entry.offset + entry.size > self._shard_sizes[entry.shard_id]:
            self._corrupt(f"{where} extends past the end of the {self._shard_sizes[entry.shard_id]}-byte file",
                          path)
        n = entry.num_elements
        if info.numpy is None:
            raise UnsupportedFormatError(path, f"{where} has dtype {info.enum_name}, which cannot be read")
        if info.enum == DT_STRING:
            if entry.size < n + 4 and not (n == 0 and entry.size == 0):
                self._corrupt(f"{where} is too small for {n} strings", path)
            return self._read_strings(entry, n, path, where)
        if entry.size != n * info.itemsize:
            self._corrupt(f"{where}: stored size does not match shape {list(entry.shape)} of "
                          f"{info.name} ({n * info.itemsize} bytes)", path)
        dtype = info.numpy.newbyteorder(">") if self.big_endian else info.numpy
        array = np.empty(entry.shape, dtype=dtype)
        if self._readinto(entry, array.reshape(-1).view(np.uint8), path, where) != unmask(entry.crc32c):
            self._corrupt(f"{where}: checksum mismatch (data corrupted)", path)
        return array.astype(info.numpy) if self.big_endian else array

    def _readinto(self, entry, buf, path, where, checksum=True):
        """Fill ``buf`` (uint8 array or bytearray) from the entry's bytes; returns their CRC32C.

        Big reads go chunk by chunk in a worker thread (file reads release the GIL) while this
        thread checksums the chunk before.
        """
        f = self._file(entry.shard_id)
        f.seek(entry.offset)
        view = memoryview(buf).cast("B")
        flat = np.frombuffer(view, np.uint8)  # for the checksum, which then releases the GIL

        def fill(lo, hi):
            while lo < hi:
                got = f.readinto(view[lo:hi])
                if not got:
                    return False
                lo += got
            return True

        chunks = [(lo, min(lo + _CHUNK, len(view))) for lo in range(0, len(view), _CHUNK)]
        crc, pending = 0, None
        for i, (lo, hi) in enumerate(chunks):
            ok = pending.result() if pending else fill(lo, hi)
            if not ok:
                self._corrupt(f"{where}: file ended early (truncated?)", path)
            pending = None
            if i + 1 < len(chunks):
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="bundle-reader")
                pending = self._pool.submit(fill, *chunks[i + 1])
            if checksum:
                crc = _flat_crc32c(flat[lo:hi], crc)
        return crc

    def _read_strings(self, entry, n, path, where):
        data = bytearray(entry.size)
        self._readinto(entry, data, path, where, checksum=False)
        if entry.size == 0:  # TensorFlow skips empty string tensors entirely
            return np.empty(entry.shape, dtype=object)
        raw, data = np.frombuffer(data, np.uint8), memoryview(data)
        try:
            lengths, pos = _decode_varints(raw, n)
        except DecodeError as e:
            self._corrupt(f"{where}: bad string lengths ({e})", path)
        if pos + 4 + sum(lengths) != entry.size:
            self._corrupt(f"{where}: string lengths do not add up to the stored size", path)
        crc = _lengths_crc(lengths, self.big_endian)
        stored = int.from_bytes(data[pos:pos + 4], "big" if self.big_endian else "little")
        if unmask(stored) != crc:
            self._corrupt(f"{where}: string length checksum mismatch", path)
        crc = crc32c(data[pos:], crc)  # covers the stored length checksum and all string bytes
        if crc != unmask(entry.crc32c):
            self._corrupt(f"{where}: checksum mismatch (data corrupted)", path)
        out = np.empty(n, dtype=object)
        pos += 4
        for i, length in enumerate(lengths):
            out[i] = bytes(data[pos:pos + length])
            pos += length
        return out.reshape(entry.shape)

    def _read_sliced(self, entry):
        """Reassemble a partitioned tensor from its slice entries."""
        info = dtypes.info_for_enum(entry.dtype)
        if info.numpy is None:
            raise UnsupportedFormatError(self.index_path, f"tensor {entry.key!r} has dtype {info.enum_name}")
        if len(entry.slices) > max(1, len(self._keys)):
            self._corrupt(f"tensor {entry.key!r} lists more slices than the index has entries")
        if entry.num_elements > sum(self._shard_sizes):  # every element is stored in >= 1 byte
            self._corrupt(f"tensor {entry.key!r} of shape {list(entry.shape)} is larger than the data files")
        out = np.empty(entry.shape, dtype=info.numpy)
        regions = []
        for extents in entry.slices:
            try:
                bounds = tensor_slice.resolve(list(extents), entry.shape)
            except ValueError as e:
                self._corrupt(f"tensor {entry.key!r}: {e}")
            part_key = tensor_slice.encode_tensor_name_slice(_key_bytes(entry.key), list(extents))
            try:
                part = self.entry(part_key)
            except KeyError:
                self._corrupt(f"tensor {entry.key!r}: slice {tensor_slice.slice_string(extents)} has no entry")
            shape = tuple(b - a for a, b in bounds)
            if part.shape != shape or part.dtype != entry.dtype or part.slices:
                self._corrupt(f"tensor {entry.key!r}: slice {tensor_slice.slice_string(extents)} entry has "
                              f"shape {list(part.shape)}, expected {list(shape)}")
            for other in regions:
                if all(a < d and c < b for (a, b), (c, d) in zip(bounds, other)) and all(shape):
                    self._corrupt(f"tensor {entry.key!r}: slices overlap")
            regions.append(bounds)
            out[tuple(slice(a, b) for a, b in bounds)] = self._read_entry(part)
        covered = sum(int(np.prod([b - a for a, b in r], dtype=object)) for r in regions)
        if covered != entry.num_elements:
            self._corrupt(f"tensor {entry.key!r}: slices cover {covered} of {entry.num_elements} elements")
        return out

    def read_all(self):
        """{name: ndarray} for every tensor."""
        return {k: self.read(k) for k in self.keys()}

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _decode_varints(raw, n):
    """The first ``n`` varint64s in uint8 array ``raw`` (vectorised); returns (list, bytes consumed)."""
    if n == 0:
        return [], 0
    ends = np.flatnonzero(raw[:10 * n] < 0x80)[:n]
    if len(ends) < n:
        raise DecodeError("truncated varint")
    starts = np.empty(n, np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    widths = ends - starts + 1
    if widths.max() > 10:
        raise DecodeError("overlong varint")
    values = np.zeros(n, np.uint64)
    for k in range(int(widths.max())):
        has = widths > k
        chunk = (raw[starts[has] + k] & 0x7F).astype(np.uint64)
        if k == 9 and (chunk > 1).any():
            raise DecodeError("varint exceeds 64 bits")
        values[has] |= chunk << np.uint64(7 * k)
    return values.tolist(), int(ends[-1]) + 1


def load(prefix):
    """{name: ndarray} of every tensor in the bundle at ``prefix``."""
    with BundleReader(prefix) as reader:
        return reader.read_all()


def merge_bundles(prefixes, merged_prefix):
    """Merge single-device bundles into one multi-shard bundle, as TensorFlow's MergeV2Checkpoints.

    Data files are renamed to ``merged_prefix.data-i-of-n``; source ``.index`` files are removed.
    """
    merged_prefix = os.fspath(merged_prefix)
    ensure_parent_dir(merged_prefix)
    sync = checkpoint_fsync()
    entries, renames, num_shards, first_header = {}, {}, 0, None
    for prefix in prefixes:
        with BundleReader(prefix) as reader:
            table, header = reader._table, reader.header
            if first_header is None:
                first_header = header
            elif (header.endianness != first_header.endianness or header.version.SerializeToString(
                    deterministic=True) != first_header.version.SerializeToString(deterministic=True)):
                raise ValueError(f"cannot merge {prefix}: endianness or version differs from {prefixes[0]}")
            num_shards += header.num_shards
            for key, value in table:
                if key == HEADER_KEY:
                    continue
                entry = BundleEntryProto.FromString(value)
                existing = entries.get(key)
                if existing is not None:
                    if not existing.slices or not entry.slices:
                        raise ValueError(f"duplicate tensor {_key_str(key)} when merging {prefix}")
                    existing.slices.extend(entry.slices)
                    continue
                source = data_filename(prefix, entry.shard_id, header.num_shards)
                entry.shard_id = renames.setdefault(source, len(renames))
                entries[key] = entry
    count = _unused_shard_count(merged_prefix, len(renames))
    if count != len(renames):  # an existing bundle there uses our names: add an empty shard
        num_shards = count
        _write_empty_shards(merged_prefix, len(renames), count, sync)
    for source, shard in renames.items():
        os.replace(source, data_filename(merged_prefix, shard, count))
    index = AtomicFile(index_filename(merged_prefix), buffering=-1, sync=sync)
    try:
        write_index(index.file, entries, num_shards or 1, first_header.endianness if first_header else 0,
                    first_header.version if first_header else None)
        index.commit()
    except BaseException:
        index.discard()
        raise
    _remove_stale_shards(merged_prefix, count)
    for prefix in prefixes:
        if os.path.abspath(prefix) != os.path.abspath(merged_prefix):
            try:
                os.remove(index_filename(prefix))
            except FileNotFoundError:
                pass
    if sync:
        fsync_dir(os.path.dirname(merged_prefix))
