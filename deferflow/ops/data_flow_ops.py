"""TF1 queues: ``FIFOQueueV2``/``PaddingFIFOQueueV2``/``RandomShuffleQueueV2``/``PriorityQueueV2`` resources and
the ``QueueEnqueueV2``/``QueueDequeue*V2``/``QueueCloseV2``... ops, with ``tf.FIFOQueue`` & co. on top.

A queue lives in the session state (one per queue node, or per ``shared_name``), created by the first run of
its handle op; the handle's run-time value is the queue object itself. Enqueues and dequeues block on the
queue's condition variable, so queue runners' threads and the main thread meet through it, as in TF. A
blocked op wakes up on close, on ``Session.close`` (``cancel_on_session_close``) and at the run's deadline
(``RunOptions(timeout_in_ms=...)``).
"""
import collections
import heapq
import itertools
import threading
import time

import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor

define = op_registry.define

_CREATE_LOCK = threading.Lock()  # get-or-create of session resources by concurrent runs
_UNIQUE_IDS = itertools.count()  # process-wide, as TF numbers unshared resources across sessions


def unique_resource_name(ctx, node_name):
    """TF's name for an unshared resource: ``_<process-wide counter>_<node name>``, numbered in creation order."""
    return f"_{next(_UNIQUE_IDS)}_{node_name}"


def get_or_create_resource(ctx, container, shared_name, make):
    """The session resource behind a handle op: one per node, or one per ``(container, shared_name)``."""
    key = ("__resource__", container or "localhost", shared_name) if shared_name else ("__node__", ctx.op._name)
    r = ctx.state.resources.get(key)
    if r is None:
        with _CREATE_LOCK:
            r = ctx.state.resources.get(key)
            if r is None:
                r = ctx.state.resources[key] = make(shared_name or unique_resource_name(ctx, ctx.op._name))
    return r


def run_deadline(ctx):
    """The monotonic time this run must finish by (``RunOptions.timeout_in_ms``), or None."""
    s = ctx.session
    return s._run_deadline() if s is not None and hasattr(s, "_run_deadline") else None


def _deadline_error():
    return errors.DeadlineExceededError(None, None, "Timed out waiting for notification")


# ---- the run-time queue ---------------------------------------------------------------------------
class Queue:
    """One queue's elements (tuples of arrays), with TF's blocking, closing and cancellation rules."""

    kind = "FIFOQueue"

    def __init__(self, name, component_types, shapes, capacity):
        self.name = name
        self.np_types = [dtypes.as_dtype(t).as_numpy_dtype for t in component_types]
        self.type_names = [dtypes.as_dtype(t).name for t in component_types]
        self.shapes = ([ts.as_shape(s) for s in shapes] if shapes and len(shapes) == len(component_types)
                       else None)
        self.capacity = capacity if capacity >= 0 else float("inf")
        self.cv = threading.Condition()
        self.closed = False
        self.cancel_enqueues = False
        self.cancelled = False  # the session closed
        self._init_store()

    # element store (FIFO); subclasses override these three
    def _init_store(self):
        self.items = collections.deque()

    def _put(self, elem):
        self.items.append(elem)

    def _take(self):
        return self.items.popleft()

    def size(self):
        return len(self.items)

    def cancel_on_session_close(self):
        with self.cv:
            self.cancelled = True
            self.cv.notify_all()

    def _wait(self, deadline, what):
        if self.cancelled:
            raise errors.CancelledError(None, None, f"{what} operation was cancelled")
        if deadline is None:
            self.cv.wait()
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _deadline_error()
            self.cv.wait(left)
        if self.cancelled:
            raise errors.CancelledError(None, None, f"{what} operation was cancelled")

    def _closed_error(self):
        return errors.CancelledError(None, None, f"{self.kind} '{self.name}' is closed.")

    def _insufficient(self, n):
        return errors.OutOfRangeError(None, None, f"{self.kind} '{self.name}' is closed and has insufficient "
                                                  f"elements (requested {n}, current size {self.size()})")

    # -- validation
    def _check_types(self, values):
        if len(values) != len(self.np_types):
            raise errors.InvalidArgumentError(None, None, f"Expected {len(self.np_types)} components, got "
                                                          f"{len(values)}")
        out = []
        for i, (v, t) in enumerate(zip(values, self.np_types)):
            v = np.array(v, dtype=object) if np.dtype(t).kind == "O" and np.asarray(v).dtype.kind in "SU" \
                else np.array(v)  # a copy: the caller's array may change after the run
            if v.dtype != np.dtype(t):
                raise errors.InvalidArgumentError(
                    None, None, f"Type mismatch in tuple component {i}. Expected {self.type_names[i]}, got "
                                f"{dtypes.from_numpy(v.dtype).name}")
            out.append(v)
        return out

    def _check_shape(self, i, got, prefix=()):
        want = self.shapes[i] if self.shapes is not None else ts.unknown_shape()
        if want.ndims is None:
            return
        expected = [*prefix, *want.as_list()]
        if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
            raise errors.InvalidArgumentError(
                None, None, f"Shape mismatch in tuple component {i}. Expected "
                            f"[{','.join('?' if d is None else str(d) for d in expected)}], "
                            f"got [{','.join(str(d) for d in got)}]")

    # -- operations
    def enqueue(self, values, deadline):
        values = self._check_types(values)
        for i, v in enumerate(values):
            self._check_shape(i, v.shape)
        self._enqueue_elements([tuple(values)], deadline)

    def enqueue_many(self, values, deadline):
        values = self._check_types(values)
        if any(v.ndim == 0 for v in values):
            raise errors.InvalidArgumentError(None, None, "Shape mismatch in tuple component 0. Expected "
                                                          "rank at least 1, got a scalar")
        n = values[0].shape[0]
        for i, v in enumerate(values):
            self._check_shape(i, v.shape, (n,))
            if v.shape[0] != n:
                raise errors.InvalidArgumentError(
                    None, None, f"Expected all components to have the same size in the 0th dimension, got {n} "
                                f"and {v.shape[0]}")
        self._enqueue_elements([tuple(v[j, ...] for v in values) for j in range(n)], deadline)

    def _enqueue_elements(self, elems, deadline):
        with self.cv:
            if self.closed:
                raise self._closed_error()
            for e in elems:  # one at a time, as space frees (an enqueue_many may exceed the capacity)
                while self.size() >= self.capacity:
                    if self.closed and self.cancel_enqueues:
                        raise errors.CancelledError(None, None, "Enqueue operation was cancelled")
                    self._wait(deadline, "Enqueue")
                    if self.closed and self.cancel_enqueues:
                        raise errors.CancelledError(None, None, "Enqueue operation was cancelled")
                self._put(e)
                self.cv.notify_all()

    def _available(self, n):
        """Whether ``n`` elements can be taken now (a RandomShuffleQueue keeps ``min_after_dequeue``)."""
        return self.size() >= n

    def dequeue(self, deadline):
        return self._dequeue(1, deadline, False)[0]

    def dequeue_many(self, n, deadline, up_to=False):
        if self.shapes is None or not all(s.is_fully_defined() for s in self.shapes):
            if not self._pads:
                raise errors.InvalidArgumentError(
                    None, None, f"{self.kind}'s DequeueMany and DequeueUpTo require the components to have "
                                "specified shapes.")
        if n < 0:
            raise errors.InvalidArgumentError(None, None, f"Requested {n} elements, which is negative")
        elems = self._dequeue(n, deadline, up_to) if n else []
        return self._batch(elems)

    _pads = False

    def _batch(self, elems):
        out = []
        for i, t in enumerate(self.np_types):
            if elems:
                out.append(np.stack([e[i] for e in elems]).astype(t, copy=False))
            else:
                out.append(np.zeros([0] + self.shapes[i].as_list(), dtype=t))
        return out

    def _dequeue(self, n, deadline, up_to):
        with self.cv:
            while not self._available(n):
                if self.closed:
                    k = self.size()
                    if up_to and k > 0:
                        n = min(n, k)
                        break
                    if k >= n:
                        break
                    raise self._insufficient(n)
                self._wait(deadline, "Dequeue")
            elems = [self._take() for _ in range(n)]
            self.cv.notify_all()
            return elems

    def close(self, cancel_pending_enqueues):
        with self.cv:
            self.closed = True
            if cancel_pending_enqueues:
                self.cancel_enqueues = True
            self.cv.notify_all()


class _PaddingQueue(Queue):
    kind = "PaddingFIFOQueue"
    _pads = True

    def _batch(self, elems):
        out = []
        for i, t in enumerate(self.np_types):
            shape = self.shapes[i].as_list()
            dims = [max((e[i].shape[d] for e in elems), default=0) if s is None else s
                    for d, s in enumerate(shape)]
            fill = b"" if t is np.object_ else 0
            a = np.full([len(elems)] + dims, fill, dtype=t)
            for j, e in enumerate(elems):
                a[(j,) + tuple(slice(0, d) for d in e[i].shape)] = e[i]
            out.append(a)
        return out


class _ShuffleQueue(Queue):
    kind = "RandomShuffleQueue"

    def __init__(self, name, component_types, shapes, capacity, min_after_dequeue, seed, seed2):
        super().__init__(name, component_types, shapes, capacity)
        self.min_after_dequeue = min_after_dequeue
        self.rng = (np.random.default_rng() if seed == 0 and seed2 == 0 else
                    np.random.Generator(np.random.Philox(key=[seed & 0xFFFFFFFFFFFFFFFF, seed2 & 0xFFFFFFFFFFFFFFFF])))

    def _init_store(self):
        self.items = []

    def _take(self):
        i = int(self.rng.integers(len(self.items)))
        self.items[i], self.items[-1] = self.items[-1], self.items[i]
        return self.items.pop()

    def _available(self, n):
        return self.size() - n >= (0 if self.closed else self.min_after_dequeue)


class _PriorityQueue(Queue):
    kind = "PriorityQueue"

    def _init_store(self):
        self.items = []
        self._count = itertools.count()

    def _put(self, elem):
        heapq.heappush(self.items, (int(elem[0]), next(self._count), elem))

    def _take(self):
        return heapq.heappop(self.items)[2]

    def _check_types(self, values):
        out = super()._check_types(values)
        if out[0].dtype != np.int64:
            raise errors.InvalidArgumentError(None, None, "PriorityQueue priority component must be int64")
        return out


# ---- op definitions ------------------------------------------------------------------------------
_QUEUE_ATTRS = ["component_types: list(type) >= 1", "shapes: list(shape) >= 0 = []", "capacity: int = -1",
                "container: string = ''", "shared_name: string = ''"]


def _handle_op(name, attrs, make):
    od = define(name, "", "handle: resource", attrs, stateful=True)
    od.shape(lambda op: [ts.TensorShape([])])
    od.no_gradient()

    @od.kernel(ctx=True)
    def kernel(ctx, **kw):
        return get_or_create_resource(ctx, kw.get("container"), kw.get("shared_name"),
                                      lambda rname: make(rname, kw))
    # the kernel takes every attr as a keyword
    od.kernel_attrs = tuple(od.attrs)
    return od


FIFOQueueV2 = _handle_op("FIFOQueueV2", _QUEUE_ATTRS, lambda n, a: Queue(n, a["component_types"], a["shapes"],
                                                                          a["capacity"]))
PaddingFIFOQueueV2 = _handle_op("PaddingFIFOQueueV2", _QUEUE_ATTRS,
                                lambda n, a: _PaddingQueue(n, a["component_types"], a["shapes"], a["capacity"]))
RandomShuffleQueueV2 = _handle_op(
    "RandomShuffleQueueV2", _QUEUE_ATTRS[:3] + ["min_after_dequeue: int = 0", "seed: int = 0", "seed2: int = 0"]
    + _QUEUE_ATTRS[3:],
    lambda n, a: _ShuffleQueue(n, a["component_types"], a["shapes"], a["capacity"], a["min_after_dequeue"],
                                    a["seed"], a["seed2"]))
PriorityQueueV2 = _handle_op(
    "PriorityQueueV2", ["component_types: list(type) >= 0 = []", "shapes: list(shape) >= 0",
                        "capacity: int = -1", "container: string = ''", "shared_name: string = ''"],
    lambda n, a: _PriorityQueue(n, [dtypes.int64] + list(a["component_types"]), [[]] + list(a["shapes"]),
                               a["capacity"]))


def _queue_of(handle):
    if not isinstance(handle, Queue):
        raise errors.InvalidArgumentError(None, None, f"Expected a queue handle, got {type(handle).__name__}")
    return handle


def _element_shapes(op):
    """Static component shapes of the queue an op reads (from its handle op's attrs), or unknowns."""
    h = op._inputs[0].op
    while h.type == "Identity" and h._inputs:
        h = h._inputs[0].op
    n = len(op._outputs)
    shapes = h._attrs.get("shapes") if h.type.endswith("QueueV2") else None
    if h.type == "PriorityQueueV2" and shapes is not None:
        shapes = [ts.TensorShape([])] + list(shapes)
    if not shapes or len(shapes) != n:
        return [ts.unknown_shape()] * n
    return [ts.as_shape(s) for s in shapes]


QueueEnqueueV2 = define("QueueEnqueueV2", "handle: resource, components: Tcomponents", "",
                        ["Tcomponents: list(type) >= 1", "timeout_ms: int = -1"], stateful=True)
QueueEnqueueV2.shape(lambda op: [])
QueueEnqueueV2.no_gradient()
QueueEnqueueV2.kernel(ctx=True)(lambda ctx, h, *vals: _queue_of(h).enqueue(list(vals), run_deadline(ctx)))

QueueEnqueueManyV2 = define("QueueEnqueueManyV2", "handle: resource, components: Tcomponents", "",
                            ["Tcomponents: list(type) >= 1", "timeout_ms: int = -1"], stateful=True)
QueueEnqueueManyV2.shape(lambda op: [])
QueueEnqueueManyV2.no_gradient()
QueueEnqueueManyV2.kernel(ctx=True)(lambda ctx, h, *vals: _queue_of(h).enqueue_many(list(vals), run_deadline(ctx)))

QueueDequeueV2 = define("QueueDequeueV2", "handle: resource", "components: component_types",
                        ["component_types: list(type) >= 1", "timeout_ms: int = -1"], stateful=True)
QueueDequeueV2.shape(_element_shapes)
QueueDequeueV2.no_gradient()


@QueueDequeueV2.kernel(ctx=True)
def _dequeue(ctx, h):
    return list(_queue_of(h).dequeue(run_deadline(ctx)))


def _batched_shapes(op, n):
    return [ts.TensorShape([n]).concatenate(s) for s in _element_shapes(op)]


def _const_n(op):
    from deferflow.ops.common import constant_value
    v = constant_value(op._inputs[1])
    return None if v is None else int(v)


QueueDequeueManyV2 = define("QueueDequeueManyV2", "handle: resource, n: int32", "components: component_types",
                            ["component_types: list(type) >= 1", "timeout_ms: int = -1"], stateful=True)
QueueDequeueManyV2.shape(lambda op: _batched_shapes(op, _const_n(op)))
QueueDequeueManyV2.no_gradient()
QueueDequeueManyV2.kernel(ctx=True)(lambda ctx, h, n: _queue_of(h).dequeue_many(int(n), run_deadline(ctx)))

QueueDequeueUpToV2 = define("QueueDequeueUpToV2", "handle: resource, n: int32", "components: component_types",
                            ["component_types: list(type) >= 1", "timeout_ms: int = -1"], stateful=True)
QueueDequeueUpToV2.shape(lambda op: _batched_shapes(op, None))
QueueDequeueUpToV2.no_gradient()
QueueDequeueUpToV2.kernel(ctx=True)(lambda ctx, h, n: _queue_of(h).dequeue_many(int(n), run_deadline(ctx), True))

QueueCloseV2 = define("QueueCloseV2", "handle: resource", "", ["cancel_pending_enqueues: bool = false"],
                      stateful=True)
QueueCloseV2.shape(lambda op: [])
QueueCloseV2.no_gradient()
QueueCloseV2.kernel(lambda h, *, cancel_pending_enqueues: _queue_of(h).close(cancel_pending_enqueues))

QueueSizeV2 = define("QueueSizeV2", "handle: resource", "size: int32", stateful=True)
QueueSizeV2.shape(lambda op: [ts.TensorShape([])])
QueueSizeV2.no_gradient()
QueueSizeV2.kernel(lambda h: np.int32(_queue_of(h).size()))

QueueIsClosedV2 = define("QueueIsClosedV2", "handle: resource", "is_closed: bool", stateful=True)
QueueIsClosedV2.shape(lambda op: [ts.TensorShape([])])
QueueIsClosedV2.no_gradient()
QueueIsClosedV2.kernel(lambda h: np.bool_(_queue_of(h).closed))


# ---- CountUpTo (the epoch counter of limit_epochs) -------------------------------------------------
CountUpTo = define("CountUpTo", "ref: Ref(T)", "output: T", ["limit: int", "T: {int32, int64}"], stateful=True)
CountUpTo.shape(lambda op: [op._inputs[0].shape])
CountUpTo.no_gradient()
_COUNT_LOCK = threading.Lock()


@CountUpTo.kernel
def _count_up_to(ref, *, limit):
    with _COUNT_LOCK:  # queue runners' threads count concurrently
        v = ref.get()
        if v >= limit:
            raise errors.OutOfRangeError(None, None, f"Reached limit of {limit}")
        ref.set(v + 1)
    return v


# ---- Python API ----------------------------------------------------------------------------------
def _as_type_list(dtypes_):
    if isinstance(dtypes_, (list, tuple)):
        return [dtypes.as_dtype(t) for t in dtypes_]
    return [dtypes.as_dtype(dtypes_)]


def _as_shape_list(shapes, dtypes_, unknown_dim_allowed=False):
    if shapes is None:
        return None
    if isinstance(shapes, ts.TensorShape):
        shapes = [shapes]
    elif not isinstance(shapes, (list, tuple)):
        raise TypeError("shapes must be a TensorShape or a list or tuple of TensorShapes.")
    elif all(s is None or isinstance(s, int) for s in shapes) and shapes and not isinstance(shapes[0], (list,
                                                                                                      tuple)):
        shapes = [shapes]
    shapes = [ts.as_shape(s) for s in shapes]
    if not unknown_dim_allowed and any(not s.is_fully_defined() for s in shapes):
        raise ValueError(f"All shapes must be fully defined: {shapes}")
    return shapes


def _shape_common(s1, s2):
    s1, s2 = ts.as_shape(s1), ts.as_shape(s2)
    if s1.ndims is None or s2.ndims is None or s1.ndims != s2.ndims:
        return ts.unknown_shape()
    return ts.TensorShape([d1 if d1 == d2 else None for d1, d2 in zip(s1.as_list(), s2.as_list())])


class QueueBase:
    """``tf.QueueBase``: the Python side of a queue resource tensor (``queue_ref``)."""

    def __init__(self, dtypes, shapes, names, queue_ref):  # noqa: A002 - TF's argument name
        self._dtypes = dtypes
        if shapes is not None:
            if len(shapes) != len(dtypes):
                raise ValueError("Queue shapes must have the same length as dtypes, received "
                                 f"len(shapes)={len(shapes)}, len(dtypes)={len(dtypes)}")
            self._shapes = [ts.as_shape(s) for s in shapes]
        else:
            self._shapes = [ts.unknown_shape() for _ in dtypes]
        if names is not None:
            if len(names) != len(dtypes):
                raise ValueError(f"Queue names must have the same length as dtypes,received len(names)="
                                 f"{len(names)},len {len(dtypes)}")
            self._names = names
        else:
            self._names = None
        self._queue_ref = queue_ref
        self._name = queue_ref.op.name.split("/")[-1]

    @staticmethod
    def from_list(index, queues):
        """A queue that is ``queues[index]`` at run time (all must have the same dtypes and names)."""
        if not queues or not isinstance(queues, list) or not all(isinstance(q, QueueBase) for q in queues):
            raise TypeError("A list of queues expected")
        if not all(queues[0].dtypes == q.dtypes for q in queues[1:]):
            raise TypeError("Queues do not have matching component dtypes.")
        if not all(queues[0].names == q.names for q in queues[1:]):
            raise TypeError("Queues do not have matching component names.")
        import functools
        from deferflow.ops import array_ops
        shapes = [functools.reduce(_shape_common, s) for s in zip(*[q.shapes for q in queues])]
        refs = array_ops.stack([q.queue_ref for q in queues])
        return QueueBase(queues[0].dtypes, shapes, queues[0].names, array_ops.gather(refs, index))

    queue_ref = property(lambda self: self._queue_ref)
    name = property(lambda self: self._queue_ref.op.name)
    dtypes = property(lambda self: self._dtypes)
    shapes = property(lambda self: self._shapes)
    names = property(lambda self: self._names)

    def _check_enqueue_dtypes(self, vals):
        if isinstance(vals, dict):
            if not self._names:
                raise ValueError("Queue must have names to enqueue a dictionary")
            if sorted(self._names, key=str) != sorted(vals.keys(), key=str):
                raise ValueError(f"Keys in dictionary to enqueue do not match names of Queue.  Dictionary: "
                                 f"{sorted(vals.keys())},Queue: {sorted(self._names)}")
            vals = [vals[k] for k in self._names]
        else:
            if self._names:
                raise ValueError("You must enqueue a dictionary in a Queue with names")
            if not isinstance(vals, (list, tuple)):
                vals = [vals]
        return [convert_to_tensor(v, dtype=t, name=f"component_{i}") for i, (v, t) in enumerate(zip(vals,
                                                                                                 self._dtypes))]

    @staticmethod
    def _scope_vals(vals):
        if isinstance(vals, (list, tuple)):
            return list(vals)
        if isinstance(vals, dict):
            return list(vals.values())
        return [vals]

    def enqueue(self, vals, name=None):
        """Enqueues one element (a tensor, a list/tuple of tensors, or a dict keyed by ``names``)."""
        with ops.name_scope(name, f"{self._name}_enqueue", self._scope_vals(vals)) as scope:
            vals = self._check_enqueue_dtypes(vals)
            for v, s in zip(vals, self._shapes):
                v.shape.assert_is_compatible_with(s)
            return apply_op("QueueEnqueueV2", name=scope, handle=self._queue_ref, components=vals)

    def enqueue_many(self, vals, name=None):
        """Enqueues the slices along dimension 0 of each component as separate elements."""
        with ops.name_scope(name, f"{self._name}_EnqueueMany", self._scope_vals(vals)) as scope:
            vals = self._check_enqueue_dtypes(vals)
            batch = ts.dimension_value(vals[0].shape.with_rank_at_least(1)[0])
            for v, s in zip(vals, self._shapes):
                b = ts.dimension_value(v.shape.with_rank_at_least(1)[0])
                if batch is not None and b is not None and b != batch:
                    raise ValueError(f"Dimensions {batch} and {b} are not compatible")
                batch = batch if batch is not None else b
                v.shape[1:].assert_is_compatible_with(s)
            return apply_op("QueueEnqueueManyV2", name=scope, handle=self._queue_ref, components=vals)

    def _dequeue_return_value(self, tensors):
        if self._names:
            return {n: t for n, t in zip(self._names, tensors)}
        if len(tensors) == 1:
            return tensors[0]
        return tensors

    def dequeue(self, name=None):
        """Dequeues one element; blocks while the queue is empty and open."""
        if name is None:
            name = f"{self._name}_Dequeue"
        out = apply_op("QueueDequeueV2", name=name, handle=self._queue_ref, component_types=self._dtypes)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        for t, s in zip(out, self._shapes):
            t.set_shape(s)
        return self._dequeue_return_value(out)

    def _dequeue_n(self, op_type, default, n, name, batch_dim):
        if name is None:
            name = f"{self._name}_{default}"
        out = apply_op(op_type, name=name, handle=self._queue_ref, n=n, component_types=self._dtypes)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        for t, s in zip(out, self._shapes):
            t.set_shape(ts.TensorShape([batch_dim]).concatenate(s))
        return self._dequeue_return_value(out)

    def dequeue_many(self, n, name=None):
        """Dequeues and concatenates ``n`` elements."""
        from deferflow.ops.common import constant_value
        out_name = name if name is not None else f"{self._name}_DequeueMany"
        with ops.get_default_graph().name_scope(out_name) as scope:
            n_t = convert_to_tensor(n, dtype=dtypes.int32, name="n")
        v = constant_value(n_t)
        return self._dequeue_n("QueueDequeueManyV2", "DequeueMany", n_t, scope, None if v is None else int(v))

    def dequeue_up_to(self, n, name=None):
        """Dequeues up to ``n`` elements: fewer only once the queue is closed."""
        out_name = name if name is not None else f"{self._name}_DequeueUpTo"
        with ops.get_default_graph().name_scope(out_name) as scope:
            n_t = convert_to_tensor(n, dtype=dtypes.int32, name="n")
        return self._dequeue_n("QueueDequeueUpToV2", "DequeueUpTo", n_t, scope, None)

    def close(self, cancel_pending_enqueues=False, name=None):
        """Closes the queue: later enqueues fail, dequeues drain what is left, then raise OutOfRangeError."""
        if name is None:
            name = f"{self._name}_Close"
        return apply_op("QueueCloseV2", name=name, handle=self._queue_ref,
                        cancel_pending_enqueues=cancel_pending_enqueues)

    def is_closed(self, name=None):
        if name is None:
            name = f"{self._name}_Is_Closed"
        return apply_op("QueueIsClosedV2", name=name, handle=self._queue_ref)

    def size(self, name=None):
        if name is None:
            name = f"{self._name}_Size"
        return apply_op("QueueSizeV2", name=name, handle=self._queue_ref)


def _shared(shared_name):
    return shared_name or ""


class FIFOQueue(QueueBase):
    """``tf.FIFOQueue(capacity, dtypes, shapes=None, names=None, shared_name=None, name='fifo_queue')``."""

    def __init__(self, capacity, dtypes, shapes=None, names=None, shared_name=None,  # noqa: A002
                 name="fifo_queue"):
        dtypes = _as_type_list(dtypes)
        shapes = _as_shape_list(shapes, dtypes)
        names = _as_name_list(names, dtypes)
        ref = apply_op("FIFOQueueV2", name=name, component_types=dtypes, shapes=shapes or [], capacity=capacity,
                       shared_name=_shared(shared_name))
        super().__init__(dtypes, shapes, names, ref)


class PaddingFIFOQueue(QueueBase):
    """``tf.PaddingFIFOQueue``: ``dequeue_many`` pads components of unknown dimensions with zeros."""

    def __init__(self, capacity, dtypes, shapes, names=None, shared_name=None,  # noqa: A002
                 name="padding_fifo_queue"):
        dtypes = _as_type_list(dtypes)
        shapes = _as_shape_list(shapes, dtypes, unknown_dim_allowed=True)
        names = _as_name_list(names, dtypes)
        if len(dtypes) != len(shapes):
            raise ValueError(f"Shapes must be provided for all components, but received {len(dtypes)} dtypes and "
                             f"{len(shapes)} shapes.")
        ref = apply_op("PaddingFIFOQueueV2", name=name, component_types=dtypes, shapes=shapes, capacity=capacity,
                       shared_name=_shared(shared_name))
        super().__init__(dtypes, shapes, names, ref)


class RandomShuffleQueue(QueueBase):
    """``tf.RandomShuffleQueue``: dequeues a random element, keeping ``min_after_dequeue`` until closed."""

    def __init__(self, capacity, min_after_dequeue, dtypes, shapes=None, names=None, seed=None,  # noqa: A002
                 shared_name=None, name="random_shuffle_queue"):
        from deferflow.ops.random_ops import get_seed
        dtypes = _as_type_list(dtypes)
        shapes = _as_shape_list(shapes, dtypes)
        names = _as_name_list(names, dtypes)
        seed1, seed2 = get_seed(seed)
        if seed1 is None and seed2 is None:
            seed1, seed2 = 0, 0
        elif seed is None and shared_name is not None:  # as TF: a shared queue's seed2 comes from its name
            import hashlib
            seed2 = int(hashlib.md5((str(seed1) + shared_name).encode("utf-8")).hexdigest()[:8], 16) & 0x7FFFFFFF
        ref = apply_op("RandomShuffleQueueV2", name=name, component_types=dtypes, shapes=shapes or [],
                       capacity=capacity, min_after_dequeue=min_after_dequeue, seed=seed1, seed2=seed2,
                       shared_name=_shared(shared_name))
        super().__init__(dtypes, shapes, names, ref)


class PriorityQueue(QueueBase):
    """``tf.PriorityQueue``: elements are ``(int64 priority, *components)``, dequeued lowest priority first."""

    def __init__(self, capacity, types, shapes=None, names=None, shared_name=None, name="priority_queue"):
        types = _as_type_list(types)
        shapes = _as_shape_list(shapes, types)
        ref = apply_op("PriorityQueueV2", name=name, component_types=types, shapes=shapes or [], capacity=capacity,
                       shared_name=_shared(shared_name))
        priority_dtypes = [dtypes.int64] + types
        priority_shapes = [ts.TensorShape([])] + shapes if shapes else shapes
        super().__init__(priority_dtypes, priority_shapes, names, ref)


def _as_name_list(names, dtypes_):
    if names is None:
        return None
    if not isinstance(names, (list, tuple)):
        names = [names]
    if len(names) != len(dtypes_):
        raise ValueError("List of names must have the same length as the list of dtypes")
    return list(names)
