"""tf.data ops: dataset ops (``TensorSliceDataset``, ``BatchDatasetV2``, ``MapDataset``...) and iterator ops
(``IteratorV2``, ``MakeIterator``, ``IteratorGetNext``, ``OneShotIterator``...), with TF's signatures.

A dataset op's value (a ``variant`` tensor) is a ``DatasetValue``: an immutable description that makes a
fresh Python iterator of flat element tuples on each ``iterate()``. An iterator's position lives in the
session state (``state.resources[key]``), so two sessions iterate independently, as in TensorFlow.

Functions (``MapDataset.f``, ``FilterDataset.predicate``) are traced into separate deferflow graphs kept on the
outer graph (``graph._extra["dataset_functions"]``) under the name in the op's ``func`` attr; a session runs one
with its own small plan per element. ``OneShotIterator.dataset_factory`` names the dataset tensor of the
same graph that it iterates. A name the graph does not hold is looked up in the graph's FunctionDef library
(an imported file's) and built into a deferflow graph on first use (``deferflow.data.function``).
"""
import numpy as np

from deferflow.framework import errors, op_registry
from deferflow.framework import tensor_shape as ts

define = op_registry.define

_TYPES = ["output_types: list(type) >= 1", "output_shapes: list(shape) >= 1"]
_META = ["metadata: string = ''"]
FUNCTIONS_KEY = "dataset_functions"  # graph._extra key: func name -> traced function (deferflow.data)


def _dataset_op(name, inputs, attrs, stateful=False):
    od = define(name, inputs, "handle: variant", attrs, stateful=stateful)
    od.shape(lambda op: [ts.TensorShape([])])
    od.no_gradient()
    return od


def _invalid(msg):
    return errors.InvalidArgumentError(None, None, msg)


def _element(a, i):
    return np.array(a[i], dtype=a.dtype)  # a fresh array (object dtype kept for strings)


class DatasetValue:
    """The runtime value of a dataset tensor: ``iterate()`` gives a fresh iterator of flat element tuples."""

    def __init__(self, gen, *args):
        self._gen, self._args = gen, args

    def iterate(self):
        return self._gen(*self._args)


def _scalar(x, what):
    x = np.asarray(x)
    if x.ndim != 0:
        raise _invalid(f"{what} must be a scalar")
    return x.item()


# ---- sources -------------------------------------------------------------------------------------
def _slices(components):
    n = components[0].shape[0] if components[0].ndim else None
    for c in components:
        if c.ndim == 0:
            raise _invalid("Slicing a scalar tensor is not supported: every component needs a first dimension")
        if c.shape[0] != n:
            raise _invalid(f"All components must have the same size in the 0th dimension, got {n} and "
                           f"{c.shape[0]}")
    for i in range(n):
        yield tuple(_element(c, i) for c in components)


TensorSliceDataset = _dataset_op("TensorSliceDataset", "components: Toutput_types",
                                 ["Toutput_types: list(type) >= 1", "output_shapes: list(shape) >= 1",
                                  "is_files: bool = false"] + _META + ["replicate_on_split: bool = false"], stateful=True)
TensorSliceDataset.kernel(lambda *components: DatasetValue(_slices, [np.asarray(c) for c in components]))


def _single(components):
    yield tuple(np.array(c, dtype=c.dtype) for c in components)


TensorDataset = _dataset_op("TensorDataset", "components: Toutput_types",
                            ["Toutput_types: list(type) >= 1", "output_shapes: list(shape) >= 1"] + _META, stateful=True)
TensorDataset.kernel(lambda *components: DatasetValue(_single, [np.asarray(c) for c in components]))


def _range(start, stop, step):
    for v in range(start, stop, step):
        yield (np.array(v, np.int64),)


RangeDataset = _dataset_op("RangeDataset", "start: int64, stop: int64, step: int64",
                           _TYPES + _META + ["replicate_on_split: bool = false"], stateful=True)


@RangeDataset.kernel
def _range_kernel(start, stop, step):
    start, stop, step = (_scalar(x, n) for x, n in ((start, "start"), (stop, "stop"), (step, "step")))
    if step == 0:
        raise _invalid("step must be a non-zero integer.")
    return DatasetValue(_range, start, stop, step)


def _files(filenames):
    names = np.asarray(filenames, dtype=object).reshape(-1)
    return [n.decode("utf-8", "surrogateescape") if isinstance(n, bytes) else str(n) for n in names]


def _file_error(e, path):
    from deferflow.formats.errors import CorruptFileError, MissingFileError
    if isinstance(e, (MissingFileError, FileNotFoundError)):
        return errors.NotFoundError(None, None, f"{path}; No such file or directory")
    if isinstance(e, CorruptFileError):
        return errors.DataLossError(None, None, f"corrupted record in {path}: {e}")
    if isinstance(e, ValueError):
        return _invalid(str(e))
    return errors.UnknownError(None, None, f"{path}; {e}")


def _tfrecords(paths, compression):
    from deferflow.formats import tfrecord
    from deferflow.formats.errors import FormatError
    for p in paths:
        try:
            for rec in tfrecord.read_records(p, compression_type=compression):
                yield (np.array(rec, dtype=object),)
        except (OSError, ValueError, FormatError) as e:
            raise _file_error(e, p) from None


def _open_text(path, compression):
    import gzip
    import zlib
    with open(path, "rb") as f:
        data = f.read()
    if compression == "GZIP":
        return gzip.decompress(data)
    if compression == "ZLIB":
        return zlib.decompress(data)
    return data


def _text_lines(paths, compression):
    for p in paths:
        try:
            data = _open_text(p, compression)
        except (OSError, ValueError, EOFError) as e:
            raise _file_error(e, p) from None
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()  # a final newline ends the last line, it does not start an empty one
        for line in lines:
            yield (np.array(line[:-1] if line.endswith(b"\r") else line, dtype=object),)


def _compression(c):
    c = c.decode() if isinstance(c, bytes) else str(c)
    if c not in ("", "ZLIB", "GZIP"):
        raise _invalid(f"Unsupported compression_type: {c}.")
    return c


TFRecordDataset = _dataset_op("TFRecordDataset", "filenames: string, compression_type: string, buffer_size: int64",
                              _META, stateful=True)
TFRecordDataset.kernel(lambda filenames, compression, buffer_size: DatasetValue(
    _tfrecords, _files(filenames), _compression(_scalar(compression, "compression_type"))))
TextLineDataset = _dataset_op("TextLineDataset", "filenames: string, compression_type: string, buffer_size: int64",
                              _META, stateful=True)
TextLineDataset.kernel(lambda filenames, compression, buffer_size: DatasetValue(
    _text_lines, _files(filenames), _compression(_scalar(compression, "compression_type"))))


# ---- transformations -----------------------------------------------------------------------------
def _zip(datasets):
    its = [d.iterate() for d in datasets]
    while True:
        out = []
        for it in its:
            try:
                out.extend(next(it))
            except StopIteration:
                return
        yield tuple(out)


ZipDataset = _dataset_op("ZipDataset", "input_datasets: N * variant", _TYPES + ["N: int >= 1"] + _META)
ZipDataset.kernel(lambda *datasets: DatasetValue(_zip, datasets))


def _stack(items, index):
    first = items[0]
    for j, x in enumerate(items[1:], 1):
        if x.shape != first.shape:
            raise _invalid(f"Cannot add tensor to the batch: number of elements does not match. Shapes are: "
                           f"[tensor]: {list(first.shape)}, [batch]: {list(x.shape)} (component {index}, element {j})")
    return np.stack(items)


def _batches(ds, size, drop, pad=None):
    it = ds.iterate()
    while True:
        batch = []
        for elem in it:
            batch.append(elem)
            if len(batch) == size:
                break
        if not batch or drop and len(batch) < size:
            return
        cols = list(zip(*batch))
        if pad is None:
            yield tuple(_stack(list(c), i) for i, c in enumerate(cols))
        else:
            yield tuple(_pad_stack(list(c), i, *p) for i, (c, p) in enumerate(zip(cols, pad)))


def _batch_kernel(ds, batch_size, drop_remainder):
    size = _scalar(batch_size, "batch_size")
    if size <= 0:
        raise _invalid("Batch size must be greater than zero.")
    return DatasetValue(_batches, ds, size, bool(drop_remainder))


BatchDatasetV2 = _dataset_op("BatchDatasetV2", "input_dataset: variant, batch_size: int64, drop_remainder: bool",
                             ["parallel_copy: bool = false"] + _TYPES + _META)
BatchDatasetV2.kernel(_batch_kernel)


def _pad_stack(items, index, shape, value):
    rank = len(shape)
    for x in items:
        if x.ndim != rank:
            raise _invalid(f"All elements in a batch must have the same rank as the padded shape for component"
                           f"{index}: expected rank {rank} but got element with rank {x.ndim}")
    target = [max(x.shape[d] for x in items) if s < 0 else s for d, s in enumerate(shape)]
    for x in items:
        if any(a > b for a, b in zip(x.shape, target)):
            raise _invalid(f"Attempted to pad to a smaller size than the input element. (component {index}: "
                           f"element shape {list(x.shape)}, padded shape {target})")
    out = np.full([len(items)] + target, value, dtype=items[0].dtype)
    for j, x in enumerate(items):
        out[(j,) + tuple(slice(0, n) for n in x.shape)] = x
    return out


PaddedBatchDatasetV2 = _dataset_op(
    "PaddedBatchDatasetV2", "input_dataset: variant, batch_size: int64, padded_shapes: N * int64, "
                            "padding_values: Toutput_types, drop_remainder: bool",
    ["parallel_copy: bool = false", "Toutput_types: list(type) >= 1", "output_shapes: list(shape) >= 1",
     "N: int >= 1"] + _META)


@PaddedBatchDatasetV2.kernel
def _padded_batch_kernel(ds, batch_size, *rest):
    n = (len(rest) - 1) // 2
    shapes, values, drop = rest[:n], rest[n:2 * n], rest[-1]
    value = _batch_kernel(ds, batch_size, drop)
    pad = [([int(d) for d in np.asarray(s).reshape(-1)], np.asarray(v)) for s, v in zip(shapes, values)]
    return DatasetValue(_batches, ds, value._args[1], value._args[2], pad)


def _repeat(ds, count):
    epoch = 0
    while count < 0 or epoch < count:
        empty = True
        for elem in ds.iterate():
            empty = False
            yield elem
        if empty:  # repeating an empty dataset forever would never produce an element
            return
        epoch += 1


RepeatDataset = _dataset_op("RepeatDataset", "input_dataset: variant, count: int64", _TYPES + _META)
RepeatDataset.kernel(lambda ds, count: DatasetValue(_repeat, ds, _scalar(count, "count")))


def _take(ds, count):
    if count == 0:
        return
    for i, elem in enumerate(ds.iterate()):
        yield elem
        if i + 1 == count:
            return


def _skip(ds, count):
    it = ds.iterate()
    if count < 0:
        for _ in it:
            pass
        return
    for _ in range(count):
        if next(it, None) is None:
            return
    yield from it


TakeDataset = _dataset_op("TakeDataset", "input_dataset: variant, count: int64", _TYPES + _META)
TakeDataset.kernel(lambda ds, count: DatasetValue(_take, ds, _scalar(count, "count")))
SkipDataset = _dataset_op("SkipDataset", "input_dataset: variant, count: int64", _TYPES + _META)
SkipDataset.kernel(lambda ds, count: DatasetValue(_skip, ds, _scalar(count, "count")))

def _shard(ds, num_shards, index):
    for i, elem in enumerate(ds.iterate()):
        if i % num_shards == index:
            yield elem


ShardDataset = _dataset_op("ShardDataset", "input_dataset: variant, num_shards: int64, index: int64",
                           ["require_non_empty: bool = false"] + _TYPES + _META)


@ShardDataset.kernel
def _shard_kernel(ds, num_shards, index):
    n, i = _scalar(num_shards, "num_shards"), _scalar(index, "index")
    if n <= 0:
        raise _invalid(f"Number of shards must be greater than zero (currently num_shards = {n}).")
    if not 0 <= i < n:
        raise _invalid(f"Index must be between 0 and {n - 1} (currently index = {i}).")
    return DatasetValue(_shard, ds, n, i)


PrefetchDataset = _dataset_op("PrefetchDataset", "input_dataset: variant, buffer_size: int64",
                              _TYPES + ["slack_period: int = 0", "legacy_autotune: bool = true",
                                        "buffer_size_min: int = 0"] + _META)
PrefetchDataset.kernel(lambda ds, buffer_size: ds)  # elements are produced on demand: prefetching changes nothing


class _MemoryCache:
    """Elements recorded on the first complete pass, replayed afterwards."""

    def __init__(self, ds):
        self.ds, self.elements = ds, None

    def __call__(self):
        if self.elements is not None:
            yield from self.elements
            return
        seen = []
        for elem in self.ds.iterate():
            seen.append(elem)
            yield elem
        self.elements = seen


CacheDataset = _dataset_op("CacheDataset", "input_dataset: variant, filename: string", _TYPES + _META)


@CacheDataset.kernel
def _cache_kernel(ds, filename):
    if _scalar(filename, "filename"):
        raise errors.UnimplementedError(None, None, "deferflow caches datasets in memory only (filename='')")
    return DatasetValue(_MemoryCache(ds))


def _shuffle(ds, buffer_size, rng):
    buf = []
    it = ds.iterate()
    for elem in it:
        buf.append(elem)
        if len(buf) == buffer_size:
            break
    for elem in it:
        j = int(rng.integers(len(buf)))
        yield buf[j]
        buf[j] = elem
    while buf:
        j = int(rng.integers(len(buf)))
        buf[j], buf[-1] = buf[-1], buf[j]
        yield buf.pop()


class _Shuffled:
    """Each ``iterate()`` (epoch) draws its order from a generator the session keeps for this op, so
    re-initialised iterators and repeated epochs see new orders when ``reshuffle_each_iteration``."""

    def __init__(self, ds, buffer_size, rng, reshuffle):
        self.ds, self.buffer_size, self.rng = ds, buffer_size, rng
        self.fixed = None if reshuffle else int(rng.integers(2 ** 63))

    def __call__(self):
        seed = self.fixed if self.fixed is not None else int(self.rng.integers(2 ** 63))
        return _shuffle(self.ds, self.buffer_size, np.random.default_rng(seed))


ShuffleDataset = _dataset_op("ShuffleDataset", "input_dataset: variant, buffer_size: int64, seed: int64, seed2: int64",
                             ["reshuffle_each_iteration: bool = true"] + _TYPES + _META)


@ShuffleDataset.kernel(ctx=True)
def _shuffle_kernel(ctx, ds, buffer_size, seed, seed2, *, reshuffle_each_iteration):
    size = _scalar(buffer_size, "buffer_size")
    if size <= 0:
        raise _invalid("buffer_size must be greater than zero.")
    key = ("ShuffleDataset", ctx.op._name)
    rng = ctx.state.rngs.get(key)
    if rng is None:
        seed, seed2 = _scalar(seed, "seed"), _scalar(seed2, "seed2")
        rng = np.random.default_rng() if seed == 0 and seed2 == 0 else \
            np.random.Generator(np.random.Philox(key=[seed & 0xFFFFFFFFFFFFFFFF, seed2 & 0xFFFFFFFFFFFFFFFF]))
        ctx.state.rngs[key] = rng
    return DatasetValue(_Shuffled(ds, size, rng, reshuffle_each_iteration))


# ---- functions -----------------------------------------------------------------------------------
def _function(ctx, attr):
    name = ctx.op._attrs[attr]
    name = getattr(name, "name", name)
    graph = ctx.op._graph
    fn = graph._extra.get(FUNCTIONS_KEY, {}).get(name)
    if fn is None:
        lib = graph._extra.get("function_library")
        fdef = next((f for f in lib.function if f.signature.name == name), None) if lib is not None else None
        if fdef is None:
            raise errors.NotFoundError(
                None, None, f"{ctx.op._type} op '{ctx.op._name}' names function '{name}', which is not in the "
                            f"graph's function library")
        from deferflow.data.function import imported_function
        with graph._lock:
            fn = graph._extra.get(FUNCTIONS_KEY, {}).get(name)
            if fn is None:
                try:
                    fn = imported_function(graph, fdef)
                except (ValueError, TypeError, KeyError) as e:
                    raise errors.UnimplementedError(
                        None, None, f"{ctx.op._type} op '{ctx.op._name}': cannot build function '{name}' from the "
                                    f"graph's function library: {e}") from None
    return fn.runner(ctx)


def _map(ds, run, captured):
    for elem in ds.iterate():
        yield tuple(run(list(elem) + captured))


def _filter(ds, run, captured):
    for elem in ds.iterate():
        if run(list(elem) + captured)[0]:
            yield elem


_MAP_ATTRS = ["f: func", "Targuments: list(type) >= 0"] + _TYPES + ["use_inter_op_parallelism: bool = true"]
MapDataset = _dataset_op("MapDataset", "input_dataset: variant, other_arguments: Targuments",
                         _MAP_ATTRS + ["preserve_cardinality: bool = false", "force_synchronous: bool = false"]
                         + _META)
MapDataset.kernel(ctx=True)(lambda ctx, ds, *captured: DatasetValue(_map, ds, _function(ctx, "f"), list(captured)))
ParallelMapDatasetV2 = _dataset_op(
    "ParallelMapDatasetV2", "input_dataset: variant, other_arguments: Targuments, num_parallel_calls: int64",
    _MAP_ATTRS + ["deterministic: string = 'default'", "preserve_cardinality: bool = false",
                  "use_unbounded_threadpool: bool = false"] + _META)
ParallelMapDatasetV2.kernel(ctx=True)(
    lambda ctx, ds, *rest: DatasetValue(_map, ds, _function(ctx, "f"), list(rest[:-1])))  # runs in order
def _flat_map(ds, run, captured):
    for elem in ds.iterate():
        yield from run(list(elem) + captured)[0].iterate()


FlatMapDataset = _dataset_op("FlatMapDataset", "input_dataset: variant, other_arguments: Targuments",
                             ["f: func", "Targuments: list(type) >= 0"] + _TYPES + _META)
FlatMapDataset.kernel(ctx=True)(
    lambda ctx, ds, *captured: DatasetValue(_flat_map, ds, _function(ctx, "f"), list(captured)))
FilterDataset = _dataset_op("FilterDataset", "input_dataset: variant, other_arguments: Targuments",
                            ["predicate: func", "Targuments: list(type) >= 0"] + _TYPES + _META)
FilterDataset.kernel(ctx=True)(
    lambda ctx, ds, *captured: DatasetValue(_filter, ds, _function(ctx, "predicate"), list(captured)))


def _interleave(ds, run, captured, cycle_length, block_length):
    """TF's InterleaveDataset order: up to ``cycle_length`` open element iterators visited in turn,
    ``block_length`` elements from each; an exhausted one is replaced by the next input element's."""
    inputs = ds.iterate()
    slots = [None] * cycle_length
    index = block = opened = 0
    end_of_input = False
    while not end_of_input or opened:
        it = slots[index]
        if it is not None:
            elem = next(it, None)
            if elem is not None:
                block += 1
                if block == block_length:
                    index, block = (index + 1) % cycle_length, 0
                yield elem
                continue
            slots[index] = None
            opened -= 1
            index, block = (index + 1) % cycle_length, 0
        elif not end_of_input:
            elem = next(inputs, None)
            if elem is None:
                end_of_input = True
            else:
                slots[index] = run(list(elem) + captured)[0].iterate()
                opened += 1
        else:
            index, block = (index + 1) % cycle_length, 0


def _default_cycle_length():
    import os
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


InterleaveDataset = _dataset_op("InterleaveDataset", "input_dataset: variant, other_arguments: Targuments, "
                                                     "cycle_length: int64, block_length: int64",
                                ["f: func", "Targuments: list(type) >= 0"] + _TYPES + _META)


@InterleaveDataset.kernel(ctx=True)
def _interleave_kernel(ctx, ds, *rest):
    captured, cycle_length, block_length = list(rest[:-2]), _scalar(rest[-2], "cycle_length"), \
        _scalar(rest[-1], "block_length")
    if cycle_length == -1:
        cycle_length = _default_cycle_length()
    if cycle_length <= 0:
        raise _invalid("cycle_length must be greater than zero.")
    if block_length <= 0:
        raise _invalid("block_length must be greater than zero.")
    return DatasetValue(_interleave, ds, _function(ctx, "f"), captured, cycle_length, block_length)


def _unbatch(ds):
    for elem in ds.iterate():
        n = None
        for i, c in enumerate(elem):
            if c.ndim == 0:
                raise _invalid("Input element must have a non-scalar value in each component.")
            if n is None:
                n = c.shape[0]
            elif c.shape[0] != n:
                raise _invalid(f"Input element must have the same batch size in each component. Component 0 had "
                               f"size {n} but component {i} had size {c.shape[0]}.")
        for j in range(n):
            yield tuple(_element(c, j) for c in elem)


UnbatchDataset = _dataset_op("UnbatchDataset", "input_dataset: variant", _TYPES + _META)
UnbatchDataset.kernel(lambda ds: DatasetValue(_unbatch, ds))


# ---- from_generator ------------------------------------------------------------------------------
# A generator lives in this process only: the op's func attrs carry a token naming it in GENERATORS (functions
# that no FunctionDef library holds), so an exported graph using it cannot run anywhere else.
GENERATORS = {}
GENERATOR_PREFIX = "deferflow_from_generator_"


def _generated(gen, args, types, shapes, structure):
    from deferflow.data import structure as nest
    for value in gen(*args):
        try:
            flat = nest.flatten(nest.pack(structure, nest.flatten(value))) if nest.is_nested(structure) else [value]
        except (ValueError, TypeError):
            raise _invalid(f"`generator` yielded an element that did not match the expected structure. The expected "
                           f"structure was {nest.describe(types)}, but the yielded element was {value!r}.") from None
        out = []
        for v, t, s in zip(flat, nest.flatten(types), nest.flatten(shapes)):
            try:
                a = np.asarray(v, dtype=object) if t.name == "string" else np.asarray(v)
                if t.name == "string":
                    a = np.vectorize(lambda x: x.encode() if isinstance(x, str) else x, otypes=[object])(a) \
                        if a.size else a
                elif a.dtype.kind in "USO" or not np.can_cast(a.dtype, t.as_numpy_dtype, "same_kind") and \
                        not (a.dtype.kind in "iub" and np.dtype(t.as_numpy_dtype).kind in "iuf"):
                    raise TypeError
                else:
                    a = a.astype(t.as_numpy_dtype)
            except (TypeError, ValueError):
                raise _invalid(f"TypeError: `generator` yielded an element that could not be converted to the expected "
                               f"type. The expected type was {t.name}, but the yielded element was {v!r}.") from None
            if not ts.TensorShape(list(a.shape)).is_compatible_with(s):
                raise _invalid(f"`generator` yielded an element of shape {tuple(a.shape)} where an element of shape "
                               f"{_shape_tuple(s)} was expected.")
            out.append(a)
        yield tuple(out)


def _shape_tuple(s):
    return "<unknown>" if s.ndims is None else "(" + ", ".join("None" if d is None else str(d) for d in s.as_list()) \
        + ("," if s.ndims == 1 else "") + ")"


GeneratorDataset = _dataset_op(
    "GeneratorDataset", "init_func_other_args: Tinit_func_args, next_func_other_args: Tnext_func_args, "
                        "finalize_func_other_args: Tfinalize_func_args",
    ["init_func: func", "next_func: func", "finalize_func: func", "Tinit_func_args: list(type) >= 0",
     "Tnext_func_args: list(type) >= 0", "Tfinalize_func_args: list(type) >= 0"] + _TYPES + _META, stateful=True)


@GeneratorDataset.kernel(ctx=True)
def _generator_kernel(ctx, *args):
    name = ctx.op._attrs["next_func"]
    name = getattr(name, "name", name)
    entry = GENERATORS.get(name[len(GENERATOR_PREFIX):]) if name.startswith(GENERATOR_PREFIX) else None
    if entry is None:
        raise errors.UnimplementedError(
            None, None, f"GeneratorDataset op '{ctx.op._name}' runs a Python generator given to "
                        f"Dataset.from_generator in the process that built the graph; it is not available here "
                        f"(a graph using from_generator cannot be exported and run elsewhere)")
    gen, types, shapes, structure = entry
    values = [a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a for a in args]  # NumPy values, as TF
    return DatasetValue(_generated, gen, values, types, shapes, structure)


# ---- iterators -----------------------------------------------------------------------------------
class IteratorHandle:
    """The value of an iterator's ``resource`` tensor: where its state lives in the session."""

    __slots__ = ("key",)
    PREFIX = b"deferflow-iterator:"

    def __init__(self, key):
        self.key = key

    def __repr__(self):
        return f"<IteratorHandle {self.key[0]}/{self.key[1]}>"


def _handle(op, container, shared_name):
    return IteratorHandle(("Iterator", container or "localhost", shared_name or op._name))


IteratorV2 = define("IteratorV2", "", "handle: resource", ["shared_name: string", "container: string"] + _TYPES,
                    stateful=True)
IteratorV2.shape(lambda op: [ts.TensorShape([])])
IteratorV2.kernel(ctx=True)(lambda ctx, *, shared_name, container: _handle(ctx.op, container, shared_name))
IteratorV2.no_gradient()

MakeIterator = define("MakeIterator", "dataset: variant, iterator: resource", "", stateful=True)
MakeIterator.shape(lambda op: [])
MakeIterator.no_gradient()


@MakeIterator.kernel(ctx=True)
def _make_iterator(ctx, dataset, handle):
    ctx.state.resources[handle.key] = dataset.iterate()


IteratorGetNext = define("IteratorGetNext", "iterator: resource", "components: output_types", _TYPES, stateful=True)
IteratorGetNext.shape(lambda op: list(op._attrs["output_shapes"]))
IteratorGetNext.no_gradient()


@IteratorGetNext.kernel(ctx=True)
def _get_next(ctx, handle):
    it = ctx.state.resources.get(handle.key)
    if it is None:
        raise errors.FailedPreconditionError(
            None, None, "GetNext() failed because the iterator has not been initialized. Ensure that you have run "
                        "the initializer operation for this iterator before getting the next element.")
    try:
        return next(it)
    except StopIteration:
        raise errors.OutOfRangeError(None, None, "End of sequence") from None


OneShotIterator = define("OneShotIterator", "", "handle: resource",
                         ["dataset_factory: func"] + _TYPES + ["container: string = ''", "shared_name: string = ''"],
                         stateful=True)
OneShotIterator.shape(lambda op: [ts.TensorShape([])])
OneShotIterator.no_gradient()


@OneShotIterator.kernel(ctx=True)
def _one_shot(ctx, *, container, shared_name):
    handle = _handle(ctx.op, container, shared_name)
    if handle.key not in ctx.state.resources:  # the first run in a session makes the iterator
        dataset = _function(ctx, "dataset_factory")([])[0]
        ctx.state.resources[handle.key] = dataset.iterate()
    return handle


IteratorToStringHandle = define("IteratorToStringHandle", "resource_handle: resource", "string_handle: string",
                                stateful=True)
IteratorToStringHandle.shape(lambda op: [ts.TensorShape([])])
IteratorToStringHandle.no_gradient()
IteratorToStringHandle.kernel(lambda handle: np.array(
    IteratorHandle.PREFIX + f"{handle.key[1]}/{handle.key[2]}".encode("utf-8", "surrogateescape"), dtype=object))

IteratorFromStringHandleV2 = define("IteratorFromStringHandleV2", "string_handle: string", "resource_handle: resource",
                                    ["output_types: list(type) >= 0 = []", "output_shapes: list(shape) >= 0 = []"],
                                    stateful=True)
IteratorFromStringHandleV2.shape(lambda op: [ts.TensorShape([])])
IteratorFromStringHandleV2.no_gradient()


@IteratorFromStringHandleV2.kernel
def _from_string_handle(s):
    s = _scalar(s, "string_handle")
    s = s if isinstance(s, bytes) else str(s).encode()
    if not s.startswith(IteratorHandle.PREFIX) or b"/" not in s:
        raise _invalid(f"Could not parse an iterator handle from {s!r}")
    container, _, name = s[len(IteratorHandle.PREFIX):].decode("utf-8", "surrogateescape").partition("/")
    return IteratorHandle(("Iterator", container, name))
