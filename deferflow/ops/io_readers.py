"""TF1 readers: ``TFRecordReaderV2``/``TextLineReaderV2``/``WholeFileReaderV2``/``FixedLengthRecordReaderV2``
resources and ``ReaderReadV2``/``ReaderReadUpToV2``..., with ``tf.TFRecordReader`` & co.

A reader takes filenames ("work units") from a string queue, one at a time, and yields ``(key, value)``
records from the current file, as TF's ``ReaderBase``: when the file is exhausted it dequeues the next
name, and a closed, empty queue ends the reading with the queue's ``OutOfRangeError``.
"""
import collections
import threading

import numpy as np

from deferflow.framework import dtypes, errors, op_registry
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops import data_flow_ops

define = op_registry.define


def _file_error(e, path):
    from deferflow.formats.errors import CorruptFileError, MissingFileError
    if isinstance(e, (MissingFileError, FileNotFoundError)):
        return errors.NotFoundError(None, None, f"{path}; No such file or directory")
    if isinstance(e, CorruptFileError):
        return errors.DataLossError(None, None, f"corrupted record at {path}: {e}")
    return errors.UnknownError(None, None, f"{path}; {e}")


def _read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise _file_error(e, path) from None


# ---- record sources: filename -> iterator of (key, value) bytes --------------------------------------
def _tfrecords(path, compression_type):
    from deferflow.formats import tfrecord
    from deferflow.formats.errors import FormatError
    offset = 0
    try:
        for rec in tfrecord.read_records(path, compression_type=compression_type):
            yield f"{path}:{offset}".encode(), rec
            offset += 16 + len(rec)  # length, its CRC, data, data CRC
    except (OSError, FormatError) as e:
        raise _file_error(e, path) from None


def _text_lines(path, skip_header_lines):
    lines = _read_file(path).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # a final newline ends the last line; it does not start another
    for i, line in enumerate(lines):
        if i >= skip_header_lines:
            yield f"{path}:{i + 1}".encode(), line[:-1] if line.endswith(b"\r") else line


def _whole_file(path):
    yield path.encode(), _read_file(path)


def _fixed_length(path, header_bytes, record_bytes, footer_bytes, hop_bytes, encoding):
    data = _read_file(path)
    if encoding:
        import gzip
        import zlib
        data = gzip.decompress(data) if encoding == "GZIP" else zlib.decompress(data)
    end = len(data) - footer_bytes
    step = hop_bytes or record_bytes
    pos, n = header_bytes, 0
    while pos + record_bytes <= end:
        yield f"{path}:{n}".encode(), data[pos:pos + record_bytes]
        pos += step
        n += 1


class Reader:
    """One reader's progress: the current work unit and its record iterator, and TF's counters."""

    def __init__(self, name, records):
        self.name, self._records = name, records
        self.lock = threading.Lock()  # one read at a time, as TF's ReaderBase mutex
        self.work = None
        self.it = None
        self.produced = 0
        self.completed = 0
        self.queue = None

    def _next_record(self, queue, deadline):
        """The next record, taking work units from ``queue`` as needed; None when the current file ended
        and ``stop_at_file_end`` is set."""
        while True:
            if self.it is None:
                name = queue.dequeue(deadline)[0]
                name = name.item() if isinstance(name, np.ndarray) else name
                self.work = name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else str(name)
                self.it = self._records(self.work)
            rec = next(self.it, None)
            if rec is not None:
                self.produced += 1
                return rec
            self.it = None
            self.completed += 1
            return None

    def read(self, queue, deadline):
        with self.lock:
            while True:
                rec = self._next_record(queue, deadline)
                if rec is not None:
                    return np.array(rec[0], dtype=object), np.array(rec[1], dtype=object)

    def read_up_to(self, queue, n, deadline):
        keys, values = [], []
        with self.lock:
            while len(keys) < n:
                try:
                    rec = self._next_record(queue, deadline)
                except errors.OutOfRangeError:
                    if keys:
                        break
                    raise
                if rec is None:
                    if keys:  # a batch ends with its file, as in TF
                        break
                    continue
                keys.append(rec[0])
                values.append(rec[1])
        return np.array(keys, dtype=object), np.array(values, dtype=object)

    def reset(self):
        with self.lock:
            self.work, self.it, self.produced, self.completed = None, None, 0, 0


def _reader_op(name, attrs, records):
    od = define(name, "", "reader_handle: resource", attrs + ["container: string = ''", "shared_name: string = ''"],
                stateful=True)
    od.shape(lambda op: [ts.TensorShape([])])
    od.no_gradient()

    @od.kernel(ctx=True)
    def kernel(ctx, **kw):
        return data_flow_ops.get_or_create_resource(
            ctx, kw.get("container"), kw.get("shared_name"), lambda rname: Reader(rname, records(kw)))
    od.kernel_attrs = tuple(od.attrs)
    return od


TFRecordReaderV2 = _reader_op("TFRecordReaderV2", ["compression_type: string = ''"],
                              lambda a: lambda p: _tfrecords(p, a["compression_type"]))
TextLineReaderV2 = _reader_op("TextLineReaderV2", ["skip_header_lines: int = 0"],
                              lambda a: lambda p: _text_lines(p, a["skip_header_lines"]))
WholeFileReaderV2 = _reader_op("WholeFileReaderV2", [], lambda a: _whole_file)
FixedLengthRecordReaderV2 = _reader_op(
    "FixedLengthRecordReaderV2", ["header_bytes: int = 0", "record_bytes: int", "footer_bytes: int = 0",
                                  "hop_bytes: int = 0", "encoding: string = ''"],
    lambda a: lambda p: _fixed_length(p, a["header_bytes"], a["record_bytes"], a["footer_bytes"], a["hop_bytes"],
                                      a["encoding"]))


def _reader_of(h):
    if not isinstance(h, Reader):
        raise errors.InvalidArgumentError(None, None, f"Expected a reader handle, got {type(h).__name__}")
    return h


ReaderReadV2 = define("ReaderReadV2", "reader_handle: resource, queue_handle: resource",
                      "key: string, value: string", stateful=True)
ReaderReadV2.shape(lambda op: [ts.TensorShape([]), ts.TensorShape([])])
ReaderReadV2.no_gradient()
ReaderReadV2.kernel(ctx=True)(lambda ctx, r, q: _reader_of(r).read(data_flow_ops._queue_of(q),
                                                                   data_flow_ops.run_deadline(ctx)))

ReaderReadUpToV2 = define("ReaderReadUpToV2", "reader_handle: resource, queue_handle: resource, num_records: int64",
                          "keys: string, values: string", stateful=True)
ReaderReadUpToV2.shape(lambda op: [ts.TensorShape([None]), ts.TensorShape([None])])
ReaderReadUpToV2.no_gradient()


@ReaderReadUpToV2.kernel(ctx=True)
def _read_up_to(ctx, r, q, n):
    n = int(n)
    if n <= 0:
        raise errors.InvalidArgumentError(None, None, f"num_records ({n}) must be > 0")
    return _reader_of(r).read_up_to(data_flow_ops._queue_of(q), n, data_flow_ops.run_deadline(ctx))


def _reader_scalar_op(name, out, fn):
    od = define(name, "reader_handle: resource", out, stateful=True)
    od.shape(lambda op: [ts.TensorShape([])] if op._outputs else [])
    od.no_gradient()
    od.kernel(lambda r: fn(_reader_of(r)))
    return od


_reader_scalar_op("ReaderNumRecordsProducedV2", "records_produced: int64", lambda r: np.int64(r.produced))
_reader_scalar_op("ReaderNumWorkUnitsCompletedV2", "units_completed: int64", lambda r: np.int64(r.completed))
_reader_scalar_op("ReaderResetV2", "", lambda r: r.reset())


# ---- Python API ----------------------------------------------------------------------------------
ReaderReadOutput = collections.namedtuple("ReaderReadV2", ["key", "value"])
ReaderReadUpToOutput = collections.namedtuple("ReaderReadUpToV2", ["keys", "values"])


def _queue_ref(queue):
    return queue if not hasattr(queue, "queue_ref") else queue.queue_ref


class ReaderBase:
    """``tf.ReaderBase``: reads records from the files named in a string queue."""

    def __init__(self, reader_ref, supports_serialize=False):
        self._reader_ref = reader_ref
        self._supports_serialize = supports_serialize

    reader_ref = property(lambda self: self._reader_ref)
    supports_serialize = property(lambda self: self._supports_serialize)

    def read(self, queue, name=None):
        """The next ``(key, value)`` record, dequeuing a filename from ``queue`` when the current file ends."""
        k, v = apply_op("ReaderReadV2", name=name, reader_handle=self._reader_ref, queue_handle=_queue_ref(queue))
        return ReaderReadOutput(k, v)

    def read_up_to(self, queue, num_records, name=None):
        """Up to ``num_records`` records (fewer at the end of a file), as two string vectors."""
        with_name = name or "ReaderReadUpToV2"
        from deferflow.framework import ops
        with ops.get_default_graph().name_scope(with_name) as scope:
            n = convert_to_tensor(num_records, dtype=dtypes.int64, name="num_records")
        k, v = apply_op("ReaderReadUpToV2", name=scope, reader_handle=self._reader_ref,
                        queue_handle=_queue_ref(queue), num_records=n)
        return ReaderReadUpToOutput(k, v)

    def num_records_produced(self, name=None):
        return apply_op("ReaderNumRecordsProducedV2", name=name, reader_handle=self._reader_ref)

    def num_work_units_completed(self, name=None):
        return apply_op("ReaderNumWorkUnitsCompletedV2", name=name, reader_handle=self._reader_ref)

    def reset(self, name=None):
        return apply_op("ReaderResetV2", name=name, reader_handle=self._reader_ref)


class TFRecordReader(ReaderBase):
    """``tf.TFRecordReader(name=None, options=None)``; ``options`` a ``TFRecordOptions`` or compression name."""

    def __init__(self, name=None, options=None):
        from deferflow.training.tf_record import TFRecordOptions
        compression = TFRecordOptions.get_compression_type_string(options)
        super().__init__(apply_op("TFRecordReaderV2", name=name, compression_type=compression))


class TextLineReader(ReaderBase):
    """``tf.TextLineReader(skip_header_lines=None)``: one record per line, keyed ``filename:line``."""

    def __init__(self, skip_header_lines=None, name=None):
        super().__init__(apply_op("TextLineReaderV2", name=name, skip_header_lines=skip_header_lines or 0))


class WholeFileReader(ReaderBase):
    """``tf.WholeFileReader``: one record per file, keyed by its name."""

    def __init__(self, name=None):
        super().__init__(apply_op("WholeFileReaderV2", name=name), supports_serialize=True)


class FixedLengthRecordReader(ReaderBase):
    """``tf.FixedLengthRecordReader(record_bytes, header_bytes=None, footer_bytes=None, hop_bytes=None)``."""

    def __init__(self, record_bytes, header_bytes=None, footer_bytes=None, hop_bytes=None, name=None,
                 encoding=None):
        super().__init__(apply_op("FixedLengthRecordReaderV2", name=name, record_bytes=record_bytes,
                                  header_bytes=header_bytes or 0, footer_bytes=footer_bytes or 0,
                                  hop_bytes=hop_bytes or 0, encoding=encoding or ""))
