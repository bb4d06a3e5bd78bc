"""``tf.Session``: fetch/feed structures on top of cached executor plans."""
import collections
import threading
import time

import numpy as np

from deferflow.client import executor
from deferflow.framework import errors, ops
from deferflow.framework.ops import Operation, Tensor


class _DefaultSessionStack(threading.local):
    def __init__(self):
        self.stack = []


_default_session = _DefaultSessionStack()


class _RunDeadline(threading.local):
    at = None  # monotonic time the calling thread's run must end by (RunOptions.timeout_in_ms), or None


_deadline = _RunDeadline()


def get_default_session():
    return _default_session.stack[-1] if _default_session.stack else None


class _AttrBag:
    """Accepts any keyword (``ConfigProto``, ``GPUOptions``...): placement options do not apply here."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        bag = _AttrBag()
        setattr(self, name, bag)
        return bag

    def SerializeToString(self):  # noqa: N802 - protobuf-style API
        return b""


class GPUOptions(_AttrBag):
    pass


class ConfigProto(_AttrBag):
    def __init__(self, **kwargs):
        kwargs.setdefault("gpu_options", GPUOptions())
        kwargs.setdefault("device_count", {})
        super().__init__(**kwargs)


class GraphOptions(_AttrBag):
    pass


class OptimizerOptions(_AttrBag):
    pass


class RunOptions(_AttrBag):
    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3


class RunMetadata(_AttrBag):
    pass


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _structure_key(f):
    t = type(f)
    if t is list or t is tuple or _is_namedtuple(f):
        return (t, tuple(_structure_key(x) for x in f))
    if isinstance(f, dict):
        return (t, tuple((k, _structure_key(v)) for k, v in f.items()))
    return f


def _fetch_error(fetch, e):
    detail = e.args[0] if e.args else e
    return ValueError(f"Argument `fetch` = {fetch} cannot be interpreted as a Tensor. ({detail!r})"
                      if isinstance(e, KeyError) else
                      f"Argument `fetch` = {fetch} cannot be interpreted as a Tensor. ({detail})")


class _Fetch:
    """Flattens a fetch structure into unique graph elements and rebuilds results from them."""

    def __init__(self, graph, fetches):
        self.elements = []
        self._index = {}
        self.build = self._flatten(graph, fetches)

    def _add(self, el):
        i = self._index.get(el)
        if i is None:
            i = self._index[el] = len(self.elements)
            self.elements.append(el)
        return i

    def _flatten(self, graph, f):
        if f is None:
            raise TypeError('Argument `fetch` = None has invalid type "NoneType". Cannot be None')
        if _is_namedtuple(f):
            subs = [self._flatten(graph, x) for x in f]
            return lambda v, t=type(f): t(*[s(v) for s in subs])
        if isinstance(f, (list, tuple)):
            subs = [self._flatten(graph, x) for x in f]
            return lambda v, t=type(f): t([s(v) for s in subs])
        if isinstance(f, dict):
            subs = [(k, self._flatten(graph, x)) for k, x in f.items()]
            if type(f) is collections.defaultdict:
                return lambda v: collections.defaultdict(f.default_factory, [(k, s(v)) for k, s in subs])
            return lambda v, t=type(f): t([(k, s(v)) for k, s in subs])
        if getattr(f, "_is_indexed_slices", False):  # TF returns an IndexedSlicesValue
            from deferflow.framework.indexed_slices import IndexedSlicesValue
            subs = [self._flatten(graph, x) for x in (f.values, f.indices)]
            dense = None if f.dense_shape is None else self._flatten(graph, f.dense_shape)
            return lambda v: IndexedSlicesValue(subs[0](v), subs[1](v), None if dense is None else dense(v))
        if getattr(f, "_is_sparse_tensor", False):  # TF returns a SparseTensorValue
            from deferflow.framework.sparse_tensor import SparseTensorValue
            subs = [self._flatten(graph, x) for x in (f.indices, f.values, f.dense_shape)]
            return lambda v: SparseTensorValue(subs[0](v), subs[1](v), subs[2](v))
        try:
            el = graph.as_graph_element(f, allow_tensor=True, allow_operation=True)
        except TypeError as e:
            raise TypeError(f"Argument `fetch` = {f} has invalid type \"{type(f).__name__}\", must be a string "
                            f"or Tensor. ({e})") from None
        except (ValueError, KeyError) as e:
            raise _fetch_error(f, e) from None
        i = self._add(el)
        if isinstance(el, Operation):
            return lambda v: None
        return lambda v: v[i]


class _RunEntry:
    __slots__ = ("plan", "build", "feed_info", "fetch_is_op", "expand_feeds")


def _sparse_feed_expander(feed_keys):
    """For feed keys with SparseTensors: (flat keys, a function splitting their values), or (keys, None).

    As in TF, a SparseTensor is fed through its indices, values and dense_shape tensors, from a
    ``SparseTensorValue`` or any ``(indices, values, dense_shape)`` triple.
    """
    flags = [getattr(k, "_is_sparse_tensor", False) for k in feed_keys]
    if not any(flags):
        return feed_keys, None
    flat = []
    for k, sp in zip(feed_keys, flags):
        flat.extend((k.indices, k.values, k.dense_shape) if sp else (k,))

    def expand(values):
        out = []
        for k, sp, v in zip(feed_keys, flags, values):
            if not sp:
                out.append(v)
                continue
            if not isinstance(v, (tuple, list)) or len(v) != 3:
                raise TypeError(f"The value fed for SparseTensor {k!r} must be a SparseTensorValue or an "
                                f"(indices, values, dense_shape) tuple, got {type(v).__name__} {v!r}")
            out.extend(v)
        return out
    return tuple(flat), expand


def _to_fetch_value(v):
    if type(v) is executor.Ref:
        v = v.get()
    if type(v) is not np.ndarray:
        return v
    if v.ndim == 0:
        return v[()]
    return v if v.flags.writeable else v.copy()


class BaseSession:
    def __init__(self, target="", graph=None, config=None):
        self._graph = graph if graph is not None else ops.get_default_graph()
        self._target = target
        self._config = config
        self._closed = False
        self._state = executor.SessionState()
        self._cache = {}
        self._lock = threading.RLock()
        self._default_ctx = None
        self._timeout_ms = int(getattr(config, "__dict__", {}).get("operation_timeout_in_ms") or 0)

    graph = property(lambda self: self._graph)
    sess_str = property(lambda self: self._target)

    @property
    def graph_def(self):
        return self._graph.as_graph_def()

    def list_devices(self):
        return []

    # --- context management ------------------------------------------------------------
    def as_default(self):
        sess = self

        class _Ctx:
            def __enter__(self_):
                _default_session.stack.append(sess)
                self_._g = sess._graph.as_default()
                self_._g.__enter__()
                return sess

            def __exit__(self_, *exc):
                self_._g.__exit__(*exc)
                _default_session.stack.remove(sess)
                return False
        return _Ctx()

    def __enter__(self):
        self._default_ctx = self.as_default()
        return self._default_ctx.__enter__()

    def __exit__(self, *exc):
        self._default_ctx.__exit__(*exc)
        self._default_ctx = None
        self.close()
        return False

    def close(self):
        self._closed = True
        self._cache.clear()
        state, self._state = self._state, executor.SessionState()
        for r in list(state.resources.values()):  # ops blocked on a queue or reader raise CancelledError, as in TF
            cancel = getattr(r, "cancel_on_session_close", None)
            if cancel is not None:
                cancel()

    def __del__(self):
        pass

    # --- running -----------------------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        if self._graph.version == 0 and not self._graph.get_operations():
            raise RuntimeError("The Session graph is empty. Add operations to the graph before calling run().")

    def _feed_info(self, feed_keys):
        info = []
        for k in feed_keys:
            try:
                t = self._graph.as_graph_element(k, allow_tensor=True, allow_operation=False)
            except TypeError as e:
                raise TypeError(f"Cannot interpret feed_dict key as Tensor: {e}") from None
            except (ValueError, KeyError) as e:
                raise TypeError(f"Cannot interpret feed_dict key as Tensor: {e.args[0] if e.args else e}") from None
            dims = t.shape.as_tuple()
            info.append((t, t.dtype.base_dtype.as_numpy_dtype, dims))
        return info

    def _make_entry(self, fetches, feed_keys, fetch_key):
        f = _Fetch(self._graph, fetches)
        feed_keys, expand = _sparse_feed_expander(feed_keys)
        feed_info = self._feed_info(feed_keys)
        tensors = [e for e in f.elements if isinstance(e, Tensor)]
        targets = [e for e in f.elements if isinstance(e, Operation)]
        plan = executor.build_plan(self._graph, tensors, targets, [x[0] for x in feed_info], self._state, self)
        # results come back in element order; operations give None
        pos = {t: i for i, t in enumerate(tensors)}
        order = [pos.get(e) for e in f.elements]
        entry = _RunEntry()
        entry.plan = plan
        entry.feed_info = feed_info
        entry.expand_feeds = expand
        build = f.build
        if all(o is not None for o in order) and order == list(range(len(order))):
            entry.build = build
        else:
            entry.build = lambda vals: build([None if o is None else vals[o] for o in order])
        return entry

    def _get_entry(self, fetches, feed_keys):
        try:
            key = (_structure_key(fetches), feed_keys)
            hash(key)
        except TypeError:
            key = None
        entry = self._cache.get(key) if key is not None else None
        if entry is None or entry.plan.version != self._graph._version:
            entry = self._make_entry(fetches, feed_keys, key)
            if key is not None:
                if len(self._cache) > 512:
                    self._cache.clear()
                self._cache[key] = entry
        return entry

    @staticmethod
    def _convert_feeds(feed_info, values):
        out = []
        for (t, np_dtype, dims), v in zip(feed_info, values):
            if type(v) is np.ndarray and v.dtype == np_dtype:
                a = v
            else:
                if isinstance(v, (Tensor, ops.Operation)) or hasattr(v, "_as_graph_element"):
                    raise TypeError("The value of a feed cannot be a tf.Tensor object. Acceptable feed values "
                                    "include Python scalars, strings, lists, numpy ndarrays, or TensorHandles. "
                                    f"For reference, the tensor object was {v!r} which was passed to the "
                                    f"argument `feed_dict` with key {t!r}.")
                try:
                    if np_dtype is np.object_:
                        a = np.asarray(v, dtype=object)
                        a = np.vectorize(lambda x: x.encode() if isinstance(x, str) else x, otypes=[object])(a) \
                            if a.size else a
                    else:
                        a = np.asarray(v, dtype=np_dtype)
                except (ValueError, TypeError, OverflowError) as e:
                    raise ValueError(f"Cannot feed value {v!r} to Tensor {t.name} of dtype {t.dtype.name}: {e}") \
                        from None
            if dims is not None:
                shp = a.shape
                if len(shp) != len(dims) or any(d is not None and d != s for d, s in zip(dims, shp)):
                    raise ValueError(f"Cannot feed value of shape {shp} for Tensor {t.name}, "
                                     f"which has shape {t.shape}")
            out.append(a)
        return out

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Runs the ops and evaluates the tensors in ``fetches`` (any nesting), feeding ``feed_dict``."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        if (options is not None or self._timeout_ms) and _deadline.at is None:
            ms = (getattr(options, "__dict__", {}).get("timeout_in_ms") or 0) or self._timeout_ms
            if ms > 0:  # blocking kernels (queues, readers) read the deadline through _run_deadline
                _deadline.at = time.monotonic() + ms / 1000.0
                try:
                    return self.run(fetches, feed_dict)
                finally:
                    _deadline.at = None
        if feed_dict:
            keys = tuple(feed_dict)
            entry = self._get_entry(fetches, keys)
            values = feed_dict.values()
            if entry.expand_feeds is not None:  # SparseTensor keys feed three tensors
                values = entry.expand_feeds(values)
            feeds = self._convert_feeds(entry.feed_info, values)
        else:
            entry = self._get_entry(fetches, ())
            feeds = ()
        vals = executor.run_plan(entry.plan, feeds)
        return entry.build([_to_fetch_value(v) for v in vals])

    @staticmethod
    def _run_deadline():
        return _deadline.at

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        """A function taking the ``feed_list`` values positionally and returning the fetches."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        entry = self._make_entry(fetches, tuple(feed_list or ()), None)
        plan, info, build, convert = entry.plan, entry.feed_info, entry.build, self._convert_feeds
        run_plan = executor.run_plan
        n_args = len(feed_list or ())
        if entry.expand_feeds is not None:  # SparseTensors in feed_list take one value each, fed as three
            expand, convert_flat = entry.expand_feeds, convert
            convert = lambda info, args: convert_flat(info, expand(args))  # noqa: E731

        def call(*args, **kwargs):
            if self._closed:
                raise RuntimeError("Attempted to use a closed Session.")
            if len(args) != n_args:
                raise TypeError(f"callable takes {n_args} feed values, got {len(args)}")
            if plan.version != self._graph._version:
                fresh = self._make_entry(fetches, tuple(feed_list or ()), None)
                return build([_to_fetch_value(v) for v in run_plan(fresh.plan, convert(info, args))])
            return build([_to_fetch_value(v) for v in run_plan(plan, convert(info, args))])
        return call

    def partial_run_setup(self, fetches, feeds=None):
        raise errors.UnimplementedError(None, None, "partial_run is not supported by deferflow")


class Session(BaseSession):
    """``tf.Session(target='', graph=None, config=None)``."""

    def __init__(self, target="", graph=None, config=None):
        super().__init__(target, graph, config)

    @staticmethod
    def reset(target, containers=None, config=None):
        pass


class InteractiveSession(BaseSession):
    """A session that installs itself as the default on construction."""

    def __init__(self, target="", graph=None, config=None):
        super().__init__(target, graph, config)
        self._ctx = self.as_default()
        self._ctx.__enter__()

    def close(self):
        super().close()
        if self._ctx is not None:
            try:
                self._ctx.__exit__(None, None, None)
            except ValueError:
                pass
            self._ctx = None
