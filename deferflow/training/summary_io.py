"""Event files for TensorBoard: ``tf.summary.FileWriter``, ``FileWriterCache`` and ``summary_iterator``.

An event file is a TFRecord file (framing from ``formats/tfrecord``) of serialized ``Event`` protos,
named ``events.out.tfevents.<seconds>.<host><suffix>``, whose first event is ``file_version:
"brain.Event:2"``. Events are framed and written by a background thread; ``flush()``, ``close()``
and interpreter exit push everything added so far to disk.
"""
import atexit
import collections
import os
import socket
import threading
import time
import warnings

from deferflow.formats import protos, tfrecord
from deferflow.framework import errors, ops
from deferflow.training.tf_record import tf_record_iterator

_OPEN_WRITERS = set()  # event writers not yet closed; flushed and closed at interpreter exit
_CLAIMED = set()  # event file paths created by this process
_CLAIM_LOCK = threading.Lock()
_BATCH_BYTES = 32 * 1024  # queued event bytes that wake the writer thread


def _os_error(e, path):
    """An OSError as the tf.errors class TensorFlow's file system raises."""
    if isinstance(e, (NotADirectoryError, FileExistsError)):
        return errors.FailedPreconditionError(None, None, f"{path} is not a directory")
    if isinstance(e, PermissionError):
        return errors.PermissionDeniedError(None, None, f"{path}; Permission denied")
    if isinstance(e, FileNotFoundError):
        return errors.NotFoundError(None, None, f"{path}; No such file or directory")
    return errors.UnknownError(None, None, f"{path}; {e.strerror or e}")


def _make_dirs(logdir):
    try:
        os.makedirs(logdir, exist_ok=True)
    except OSError as e:
        raise _os_error(e, logdir) from None
    if not os.path.isdir(logdir):
        raise errors.FailedPreconditionError(None, None, f"{logdir} is not a directory")


def _create_event_file(logdir, suffix):
    """Creates a new, empty event file and returns its path.

    The name's time part is bumped past names that already exist, so a writer reopened (or a second
    writer started) within the same second never truncates another's file.
    """
    host = socket.gethostname()
    t = int(time.time())
    with _CLAIM_LOCK:
        while True:
            path = os.path.join(logdir, f"events.out.tfevents.{t:010d}.{host}{suffix}")
            if path not in _CLAIMED:
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                    _CLAIMED.add(path)
                    return path
                except FileExistsError:
                    pass
                except OSError as e:
                    raise _os_error(e, path) from None
            t += 1


class EventFileWriter:
    """Writes serialized ``Event`` protos to one event file from a background thread.

    ``add_event`` frames the event and queues it; the thread writes queued events in batches (the
    first event at once, then whenever 32 KiB are queued, every ``flush_secs``, on ``flush()`` and on
    ``close()``) and fsyncs the file. Batching by size, not by ``max_queue`` events, matters: each
    wake of the thread costs a training loop more than the write itself. ``add_event`` blocks only
    while the thread is 100 x ``max_queue`` events behind.
    """

    def __init__(self, logdir, max_queue=10, flush_secs=120, filename_suffix=None):
        self._logdir = os.fspath(logdir)
        self._max_pending = 100 * max(1, int(max_queue))
        self._flush_secs = float(flush_secs)
        self._suffix = filename_suffix or ""
        _make_dirs(self._logdir)
        self._closed = True
        self._open()

    def _open(self):
        self._path = _create_event_file(self._logdir, self._suffix)
        try:
            self._file = open(self._path, "ab")
            self._file.write(tfrecord.encode_record(
                protos.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString()))
            self._sync()  # the file and its version record exist before we return
        except OSError as e:
            raise _os_error(e, self._path) from None
        self._cond = threading.Condition()
        self._pending = collections.deque()
        self._flush_requested = self._flush_done = 0
        self._closing = False
        self._error = None
        self._wake_bytes = 1  # pending bytes that wake the writer thread: the first event goes out at once
        self._pending_bytes = 0
        self._signalled = False  # the thread was woken and has not yet taken the batch
        self._thread = threading.Thread(target=self._run, name="EventLoggerThread", daemon=True)
        self._thread.start()
        self._closed = False
        _OPEN_WRITERS.add(self)

    # --- the writer thread ----------------------------------------------------------------
    def _run(self):
        dirty, deadline = False, 0.0  # the first events are flushed at once, as in TF
        while True:
            with self._cond:
                while not (self._closing or self._flush_requested > self._flush_done
                           or self._pending_bytes >= self._wake_bytes):
                    timeout = deadline - time.monotonic() if dirty or self._pending else None
                    if timeout is not None and timeout <= 0:
                        break
                    self._cond.wait(timeout)
                self._wake_bytes = _BATCH_BYTES
                self._signalled = False
                batch = [self._pending.popleft() for _ in range(len(self._pending))]
                self._pending_bytes = 0  # approximate: producers add to it without the lock
                requested, closing = self._flush_requested, self._closing
                self._cond.notify_all()  # producers waiting for room
            try:
                if batch:
                    self._file.write(b"".join(batch))
                    dirty = True
                if dirty and (closing or requested > self._flush_done or time.monotonic() >= deadline):
                    self._sync()
                    dirty, deadline = False, time.monotonic() + self._flush_secs
                if closing:
                    self._file.close()
            except Exception as e:  # noqa: BLE001 - handed to the caller of the next add/flush/close
                with self._cond:
                    self._error = e
                    self._flush_done = requested
                    self._cond.notify_all()
                try:
                    self._file.close()
                except Exception:  # noqa: BLE001 - the first error is the one to report
                    pass
                return
            with self._cond:
                self._flush_done = requested
                self._cond.notify_all()
            if closing:
                return

    def _sync(self):
        """Flush to the OS and fsync, so readers (TensorBoard) see whole records."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def _raise_error(self):
        e = self._error
        if e is not None:
            self._error = None
            self._closed = True
            _OPEN_WRITERS.discard(self)
            raise _os_error(e, self._path) if isinstance(e, OSError) else e

    # --- API ------------------------------------------------------------------------------
    def get_logdir(self):
        return self._logdir

    def add_serialized_event(self, data):
        if self._closed:
            return
        record = tfrecord.encode_record(data)  # framed here: the thread's GIL handoffs would cost more
        pending = self._pending
        pending.append(record)  # no lock: deque appends and poplefts are atomic
        self._pending_bytes += len(record)
        if self._pending_bytes < self._wake_bytes or self._signalled and len(pending) < self._max_pending:
            return  # the common case: waking the thread costs a training loop more than the write
        with self._cond:
            self._signalled = True
            self._cond.notify_all()
            while len(pending) >= self._max_pending and self._error is None and self._thread.is_alive():
                self._cond.wait()  # the thread is behind: wait for it
            self._raise_error()

    def add_event(self, event):
        self.add_serialized_event(event.SerializeToString())

    def flush(self):
        if self._closed:
            return
        with self._cond:
            self._flush_requested += 1
            wanted = self._flush_requested
            self._cond.notify_all()
            while self._flush_done < wanted and self._error is None and self._thread.is_alive():
                self._cond.wait()
            self._raise_error()

    def close(self):
        if self._closed:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._closed = True
        _OPEN_WRITERS.discard(self)
        with self._cond:
            self._raise_error()

    def reopen(self):
        """After ``close()``: continue in a new event file in the same directory."""
        if self._closed:
            _make_dirs(self._logdir)
            self._open()


@atexit.register
def _close_all_at_exit():
    for w in list(_OPEN_WRITERS):
        try:
            w.close()
        except Exception:  # noqa: BLE001 - never fail the interpreter's exit
            pass


class FileWriter:
    """``tf.summary.FileWriter``: writes ``Summary`` protos, graphs and other events to an event
    file in ``logdir``, from a background thread."""

    def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120, graph_def=None, filename_suffix=None,
                 session=None):
        if session is not None:
            raise NotImplementedError("FileWriter(session=...) (TF2 summary ops) is not supported by deferflow")
        self.event_writer = EventFileWriter(logdir, max_queue, flush_secs, filename_suffix)
        self._closed = False
        self._session_run_tags = {}
        self._seen_summary_tags = set()
        if graph is not None or graph_def is not None:
            self.add_graph(graph=graph, graph_def=graph_def)
            gd = graph.as_graph_def(add_shapes=True) if isinstance(graph, ops.Graph) else graph_def or graph
            self.add_meta_graph(_meta_graph_for(gd, graph if isinstance(graph, ops.Graph) else None))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get_logdir(self):
        return self.event_writer.get_logdir()

    def _warn_if_closed(self):
        if self._closed:
            warnings.warn("Attempting to use a closed FileWriter. The operation will be a noop unless the "
                          "FileWriter is explicitly reopened.")

    def _add_event(self, event, step):
        self._warn_if_closed()
        event.wall_time = time.time()
        if step is not None:
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_event(self, event):
        """Adds an ``Event`` proto as given."""
        self._warn_if_closed()
        self.event_writer.add_event(_as_message(event, protos.Event))

    def add_summary(self, summary, global_step=None):
        """Adds a ``Summary`` (a proto, or the serialized bytes a summary op returns) at ``global_step``."""
        event = protos.Event()
        if isinstance(summary, bytes):
            event.summary.MergeFromString(summary)
        else:
            event.summary.CopyFrom(_as_message(summary, protos.Summary))
        for value in event.summary.value:
            if not value.HasField("metadata"):
                continue
            if value.tag in self._seen_summary_tags:
                value.ClearField("metadata")  # as TF: only a tag's first value keeps its metadata
            else:
                self._seen_summary_tags.add(value.tag)
        self._add_event(event, global_step)

    def add_session_log(self, session_log, global_step=None):
        event = protos.Event()
        event.session_log.CopyFrom(_as_message(session_log, protos.SessionLog))
        self._add_event(event, global_step)

    def add_graph(self, graph, global_step=None, graph_def=None):
        """Adds a ``Graph`` (serialized with output shapes) or a ``GraphDef`` for the graph dashboard."""
        if graph is not None and graph_def is not None:
            raise ValueError("Please pass only graph, or graph_def (deprecated), but not both.")
        if isinstance(graph, ops.Graph) or isinstance(graph_def, ops.Graph):
            g = graph if isinstance(graph, ops.Graph) else graph_def
            gd = g.as_graph_def(add_shapes=True)
        elif _is_message(graph, "GraphDef") or _is_message(graph_def, "GraphDef"):
            gd = graph if graph is not None else graph_def
        else:
            raise TypeError("The passed graph must be an instance of `Graph` or the deprecated `GraphDef`")
        self._add_event(protos.Event(graph_def=gd.SerializeToString()), global_step)

    def add_meta_graph(self, meta_graph_def, global_step=None):
        if not _is_message(meta_graph_def, "MetaGraphDef"):
            raise TypeError(f"meta_graph_def must be type MetaGraphDef, saw type: {type(meta_graph_def)}")
        self._add_event(protos.Event(meta_graph_def=meta_graph_def.SerializeToString()), global_step)

    def add_run_metadata(self, run_metadata, tag, global_step=None):
        """Adds ``RunMetadata`` under ``tag`` (deferflow records no step stats: often empty)."""
        if tag in self._session_run_tags:
            raise ValueError("The provided tag was already used for this event type")
        self._session_run_tags[tag] = True
        data = run_metadata.SerializeToString() if hasattr(run_metadata, "SerializeToString") else b""
        event = protos.Event()
        event.tagged_run_metadata.tag = tag
        event.tagged_run_metadata.run_metadata = data
        self._add_event(event, global_step)

    def flush(self):
        """Writes everything added so far to disk."""
        self._warn_if_closed()
        self.event_writer.flush()

    def close(self):
        """Flushes and closes the event file; later adds are no-ops (with a warning) until ``reopen()``."""
        self.event_writer.close()
        self._closed = True

    def reopen(self):
        """After ``close()``, continues in a new event file in the same logdir."""
        self.event_writer.reopen()
        self._closed = False


def _is_message(obj, name):
    d = getattr(obj, "DESCRIPTOR", None)
    return d is not None and getattr(d, "name", None) == name and hasattr(obj, "SerializeToString")


def _as_message(obj, cls):
    """Our proto class from bytes, from our message, or from another library's (e.g. TF's) message."""
    if isinstance(obj, cls):
        return obj
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return cls.FromString(bytes(obj))
    if hasattr(obj, "item") and getattr(obj, "dtype", None) == object:  # a fetched 0-d string array
        return cls.FromString(obj.item())
    if _is_message(obj, cls.DESCRIPTOR.name):
        return cls.FromString(obj.SerializeToString())
    raise TypeError(f"Expected a {cls.DESCRIPTOR.name} proto or its serialized bytes, got {type(obj).__name__}")


def _meta_graph_for(graph_def, graph):
    """The MetaGraphDef TF's FileWriter writes beside the graph."""
    try:
        from deferflow.training import meta_graph
        create = meta_graph.create_meta_graph_def
    except (ImportError, AttributeError):
        create = None
    if create is not None:
        return create(graph_def=graph_def, graph=graph)
    from deferflow import VERSION
    mgd = protos.MetaGraphDef()
    mgd.meta_info_def.tensorflow_version = VERSION
    mgd.graph_def.MergeFromString(graph_def.SerializeToString())
    return mgd


class FileWriterCache:
    """One ``FileWriter`` per logdir, shared across the program."""

    _cache = {}
    _lock = threading.RLock()

    @staticmethod
    def clear():
        """Closes and forgets every cached writer."""
        with FileWriterCache._lock:
            for w in FileWriterCache._cache.values():
                w.close()
            FileWriterCache._cache = {}

    @staticmethod
    def get(logdir):
        """The cached ``FileWriter`` for ``logdir`` (created with the default graph)."""
        with FileWriterCache._lock:
            if logdir not in FileWriterCache._cache:
                FileWriterCache._cache[logdir] = FileWriter(logdir, graph=ops.get_default_graph())
            return FileWriterCache._cache[logdir]


# ---- reading ------------------------------------------------------------------------------
class _SummaryIterator:
    def __init__(self, path):
        self._records = tf_record_iterator(path)

    def __iter__(self):
        return self

    def __next__(self):
        return protos.Event.FromString(next(self._records))


def summary_iterator(path):
    """``tf.train.summary_iterator``: iterates over the ``Event`` protos of an event file."""
    return _SummaryIterator(path)
