"""``tf.train.QueueRunner``, ``add_queue_runner`` and ``start_queue_runners``: threads that keep running a
queue's enqueue ops, closing the queue when they all hit its end and cancelling it when the coordinator stops."""
import logging
import threading

from deferflow.formats import protos
from deferflow.framework import errors, ops
from deferflow.framework.ops import GraphKeys
from deferflow.training import meta_graph

_log = logging.getLogger("deferflow")


class QueueRunner:
    """Holds a queue and its enqueue ops; ``create_threads`` starts one thread per enqueue op."""

    def __init__(self, queue=None, enqueue_ops=None, close_op=None, cancel_op=None,
                 queue_closed_exception_types=None, queue_runner_def=None, import_scope=None):
        self._lock = threading.Lock()
        self._runs_per_session = {}
        self._exceptions_raised = []
        if queue_runner_def is not None:
            if queue or enqueue_ops:
                raise ValueError("queue_runner_def and queue are mutually exclusive.")
            self._init_from_proto(queue_runner_def, import_scope=import_scope)
            return
        if not queue or not enqueue_ops:
            raise ValueError("Must provide queue and enqueue_ops.")
        self._queue = queue
        self._enqueue_ops = list(enqueue_ops)
        self._close_op = close_op if close_op is not None else queue.close()
        self._cancel_op = cancel_op if cancel_op is not None else queue.close(cancel_pending_enqueues=True)
        if queue_closed_exception_types is None:
            queue_closed_exception_types = (errors.OutOfRangeError,)
        elif not isinstance(queue_closed_exception_types, tuple) or not queue_closed_exception_types or not all(
                isinstance(t, type) and issubclass(t, errors.OpError) for t in queue_closed_exception_types):
            raise TypeError("queue_closed_exception_types, when provided, must be a tuple of tf.error types, "
                            f"but saw: {queue_closed_exception_types}")
        self._queue_closed_exception_types = queue_closed_exception_types

    def _init_from_proto(self, queue_runner_def, import_scope=None):
        """Binds to the ops a ``QueueRunnerDef`` names in the default graph; the queue is then its op."""
        if not isinstance(queue_runner_def, protos.QueueRunnerDef):
            queue_runner_def = protos.QueueRunnerDef.FromString(queue_runner_def.SerializeToString())
        g = ops.get_default_graph()

        def element(name):
            return g.as_graph_element(ops.prepend_name_scope(name, import_scope))

        self._queue = element(queue_runner_def.queue_name)
        self._enqueue_ops = [element(name) for name in queue_runner_def.enqueue_op_name]
        self._close_op = element(queue_runner_def.close_op_name)
        self._cancel_op = element(queue_runner_def.cancel_op_name)
        self._queue_closed_exception_types = tuple(
            errors.exception_type_from_error_code(code) for code in queue_runner_def.queue_closed_exception_types)
        if not self._queue_closed_exception_types:  # older meta graphs leave the field empty
            self._queue_closed_exception_types = (errors.OutOfRangeError,)

    def to_proto(self, export_scope=None):
        """This runner as a ``QueueRunnerDef`` with names relative to ``export_scope``; None when its queue
        is outside that scope."""
        if export_scope is not None and not self.queue.name.startswith(export_scope):
            return None
        qr = protos.QueueRunnerDef(queue_name=ops.strip_name_scope(self.queue.name, export_scope))
        qr.enqueue_op_name.extend(ops.strip_name_scope(op.name, export_scope) for op in self.enqueue_ops)
        qr.close_op_name = ops.strip_name_scope(self.close_op.name, export_scope)
        qr.cancel_op_name = ops.strip_name_scope(self.cancel_op.name, export_scope)
        qr.queue_closed_exception_types.extend(
            errors.error_code_from_exception_type(cls) for cls in self._queue_closed_exception_types)
        return qr

    @staticmethod
    def from_proto(queue_runner_def, import_scope=None):
        """A ``QueueRunner`` over the ops of the default graph that ``queue_runner_def`` names."""
        return QueueRunner(queue_runner_def=queue_runner_def, import_scope=import_scope)

    queue = property(lambda self: self._queue)
    enqueue_ops = property(lambda self: self._enqueue_ops)
    close_op = property(lambda self: self._close_op)
    cancel_op = property(lambda self: self._cancel_op)
    queue_closed_exception_types = property(lambda self: self._queue_closed_exception_types)
    name = property(lambda self: self._queue.name)

    @property
    def exceptions_raised(self):
        """Exceptions the threads raised without a coordinator to report them to."""
        return self._exceptions_raised

    def _run(self, sess, enqueue_op, coord=None):
        decremented = False
        try:
            enqueue = sess.make_callable(enqueue_op)
            while True:
                if coord is not None and coord.should_stop():
                    break
                try:
                    enqueue()
                except self._queue_closed_exception_types:
                    with self._lock:  # the last thread to reach the end closes the queue
                        self._runs_per_session[sess] -= 1
                        decremented = True
                        if self._runs_per_session[sess] == 0:
                            try:
                                sess.run(self._close_op)
                            except Exception as e:  # noqa: BLE001 - the session may be closing
                                _log.debug("Ignored exception: %s", e)
                        return
        except Exception as e:  # noqa: BLE001 - reported to the coordinator, as in TF
            if coord is not None:
                coord.request_stop(e)
            else:
                _log.error("Exception in QueueRunner: %s", e)
                with self._lock:
                    self._exceptions_raised.append(e)
                raise
        finally:
            if not decremented:
                with self._lock:
                    self._runs_per_session[sess] -= 1

    def _close_on_stop(self, sess, cancel_op, coord):
        coord.wait_for_stop()
        try:
            sess.run(cancel_op)
        except Exception as e:  # noqa: BLE001 - the session may already be closed
            _log.debug("Ignored exception: %s", e)

    def create_threads(self, sess, coord=None, daemon=False, start=False):
        """The threads running the enqueue ops in ``sess`` (plus one cancelling the queue when ``coord`` stops);
        none if they already run for this session."""
        with self._lock:
            if self._runs_per_session.get(sess, 0) > 0:
                return []
            self._runs_per_session[sess] = len(self._enqueue_ops)
            self._exceptions_raised = []
        threads = [threading.Thread(target=self._run, args=(sess, op, coord),
                                    name=f"QueueRunnerThread-{self.name}-{op.name}") for op in self._enqueue_ops]
        if coord is not None:
            threads.append(threading.Thread(target=self._close_on_stop, args=(sess, self._cancel_op, coord),
                                            name=f"QueueRunnerThread-{self.name}-close_on_stop"))
        for t in threads:
            if coord is not None:
                coord.register_thread(t)
            if daemon:
                t.daemon = True
            if start:
                t.start()
        return threads


def add_queue_runner(qr, collection=GraphKeys.QUEUE_RUNNERS):
    """Adds ``qr`` to the graph collection that ``start_queue_runners`` starts."""
    ops.add_to_collection(collection, qr)


def start_queue_runners(sess=None, coord=None, daemon=True, start=True, collection=GraphKeys.QUEUE_RUNNERS):
    """Starts the threads of every queue runner in ``collection`` for ``sess`` (default: the default session)."""
    if sess is None:
        from deferflow.client.session import get_default_session
        sess = get_default_session()
        if sess is None:
            raise ValueError("Cannot start queue runners: No default session is registered. Use `with "
                             "sess.as_default()` or pass an explicit session to tf.start_queue_runners(sess=sess)")
    with sess.graph.as_default():
        threads = []
        for qr in ops.get_collection(collection):
            threads.extend(qr.create_threads(sess, coord=coord, daemon=daemon, start=start))
    return threads


meta_graph.register_proto_function(GraphKeys.QUEUE_RUNNERS, proto_type=protos.QueueRunnerDef,
                                   to_proto=QueueRunner.to_proto, from_proto=QueueRunner.from_proto)
