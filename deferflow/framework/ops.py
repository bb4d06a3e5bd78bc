"""Graph, Operation and Tensor: an in-memory TensorFlow GraphDef with TF's naming rules."""
import contextlib
import difflib
import threading

import numpy as np

from deferflow.framework import dtypes, op_registry
from deferflow.framework import tensor_shape as ts
from deferflow.framework.tensor_shape import TensorShape


class GraphKeys:
    GLOBAL_VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    METRIC_VARIABLES = "metric_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    SUMMARIES = "summaries"
    QUEUE_RUNNERS = "queue_runners"
    TABLE_INITIALIZERS = "table_initializer"
    ASSET_FILEPATHS = "asset_filepaths"
    MOVING_AVERAGE_VARIABLES = "moving_average_variables"
    REGULARIZATION_LOSSES = "regularization_losses"
    CONCATENATED_VARIABLES = "concatenated_variables"
    SAVERS = "savers"
    WEIGHTS = "weights"
    BIASES = "biases"
    ACTIVATIONS = "activations"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    SAVEABLE_OBJECTS = "saveable_objects"
    RESOURCES = "resources"
    LOCAL_RESOURCES = "local_resources"
    TRAINABLE_RESOURCE_VARIABLES = "trainable_resource_variables"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    READY_OP = "ready_op"
    READY_FOR_LOCAL_INIT_OP = "ready_for_local_init_op"
    SUMMARY_OP = "summary_op"
    GLOBAL_STEP = "global_step"
    EVAL_STEP = "eval_step"
    TRAIN_OP = "train_op"
    COND_CONTEXT = "cond_context"
    WHILE_CONTEXT = "while_context"
    _VARIABLE_COLLECTIONS = ["variables", "local_variables", "metric_variables", "model_variables",
                             "trainable_variables", "moving_average_variables", "concatenated_variables",
                             "trainable_resource_variables"]


def _suggest(name, candidates):
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class Tensor:
    """A symbolic handle to one output of an ``Operation``."""

    __slots__ = ("_op", "_value_index", "_dtype", "_shape", "_consumers", "__weakref__")

    def __init__(self, op, value_index, dtype, shape=None):
        self._op = op
        self._value_index = value_index
        self._dtype = dtype
        self._shape = ts.unknown_shape() if shape is None else shape
        self._consumers = []

    op = property(lambda self: self._op)
    value_index = property(lambda self: self._value_index)
    dtype = property(lambda self: self._dtype)
    graph = property(lambda self: self._op._graph)
    device = property(lambda self: self._op.device)

    @property
    def name(self):
        return f"{self._op._name}:{self._value_index}"

    @property
    def shape(self):
        return self._shape

    def get_shape(self):
        return self._shape

    def set_shape(self, shape):
        self._shape = self._shape.merge_with(shape)

    def consumers(self):
        return list(self._consumers)

    def eval(self, feed_dict=None, session=None):
        return _run_with_default(self, feed_dict, session)

    def _as_node_def_input(self):
        return self._op._name if self._value_index == 0 else f"{self._op._name}:{self._value_index}"

    def __repr__(self):
        return f'Tensor("{self.name}", shape={self._shape}, dtype={self._dtype.name})'


    def __hash__(self):
        return id(self)

    def __eq__(self, other):  # TF1 graph tensors compare by identity
        return self is other

    def __bool__(self):
        raise TypeError("Using a `tf.Tensor` as a Python `bool` is not allowed. Use `if t is not None:` "
                        "instead of `if t:` or use TensorFlow ops such as tf.cond to execute subgraphs "
                        "conditioned on the value of a tensor.")

    def __len__(self):
        raise TypeError(f"len is not well defined for symbolic Tensors. ({self.name}) "
                        "Please call `x.shape` rather than `len(x)` for shape information.")

    def __iter__(self):
        shape = self._shape
        if shape.ndims is None or shape[0].value is None:
            raise TypeError("Tensor objects are only iterable when the first dimension is known.")
        return iter([self[i] for i in range(shape[0].value)])

    __array_priority__ = 100

    def __array__(self, dtype=None, copy=None):
        raise NotImplementedError(f"Cannot convert a symbolic Tensor ({self.name}) to a numpy array.")


def _run_with_default(fetch, feed_dict, session):
    from deferflow.client import session as session_lib
    sess = session or session_lib.get_default_session()
    if sess is None:
        raise ValueError("Cannot evaluate tensor using `eval()`: No default session is registered. "
                         "Use `with sess.as_default()` or pass an explicit session to `eval(session=sess)`")
    if sess.graph is not fetch.graph:
        raise ValueError("Cannot use the given session to evaluate tensor: the tensor's graph is "
                         "different from the session's graph.")
    return sess.run(fetch, feed_dict)


class Operation:
    """A node of the graph: TF op type, attrs, inputs named ``op:index`` and control inputs."""

    __slots__ = ("_graph", "_name", "_type", "_inputs", "_control_inputs", "_outputs", "_attrs",
                 "_device", "_id", "_op_def", "_control_outputs", "_extra", "__weakref__")

    def __init__(self, graph, name, op_type, inputs, attrs, out_dtypes, control_inputs, device, op_def):
        self._graph = graph
        self._name = name
        self._type = op_type
        self._inputs = list(inputs)
        self._control_inputs = list(control_inputs)
        self._attrs = attrs
        self._device = device or ""
        self._op_def = op_def
        self._outputs = [Tensor(self, i, dt) for i, dt in enumerate(out_dtypes)]
        self._control_outputs = []
        self._extra = None  # per-op Python-side metadata (e.g. control-flow context)

    name = property(lambda self: self._name)
    type = property(lambda self: self._type)
    graph = property(lambda self: self._graph)
    outputs = property(lambda self: list(self._outputs))
    control_inputs = property(lambda self: list(self._control_inputs))
    device = property(lambda self: self._device)
    op_def = property(lambda self: self._op_def)

    @property
    def inputs(self):
        return tuple(self._inputs)

    @property
    def _control_outputs_list(self):
        return self._control_outputs

    @property
    def node_def(self):
        from deferflow.framework import graph_io
        return graph_io.node_def_from_op(self)

    @property
    def attrs(self):
        return dict(self._attrs)

    def get_attr(self, name):
        if name not in self._attrs:
            raise ValueError(f"Operation '{self._name}' has no attr named '{name}'.")
        v = self._attrs[name]
        if isinstance(v, str):
            return v.encode("utf-8", "surrogateescape")
        if isinstance(v, list) and v and isinstance(v[0], str):
            return [x.encode("utf-8", "surrogateescape") for x in v]
        return v

    def _set_attr(self, name, value):
        self._attrs[name] = value
        self._graph._version += 1

    def _set_device(self, device):
        self._device = device or ""

    def _add_control_input(self, op):
        if op not in self._control_inputs:
            self._control_inputs.append(op)
            op._control_outputs.append(self)
            self._graph._version += 1

    def _add_control_inputs(self, ops):
        for op in ops:
            self._add_control_input(op)

    def _update_input(self, index, tensor):
        self._inputs[index]._consumers.remove(self)
        self._inputs[index] = tensor
        tensor._consumers.append(self)
        self._graph._version += 1

    def values(self):
        return tuple(self._outputs)

    def run(self, feed_dict=None, session=None):
        _run_with_default(self, feed_dict, session)

    def __repr__(self):
        return f"<tf.Operation '{self._name}' type={self._type}>"


    def __str__(self):
        return str(self.node_def)


class _DefaultStack(threading.local):
    def __init__(self):
        self.stack = []


_default_graph_stack = _DefaultStack()
_global_default_graph = None


def get_default_graph():
    """The graph new ops go into: the innermost ``as_default()`` graph, else the global one."""
    global _global_default_graph
    if _default_graph_stack.stack:
        return _default_graph_stack.stack[-1]
    if _global_default_graph is None:
        _global_default_graph = Graph()
    return _global_default_graph


def reset_default_graph():
    global _global_default_graph
    if _default_graph_stack.stack:
        raise AssertionError("Do not use tf.reset_default_graph() to clear nested graphs. If you need a "
                             "cleared graph, exit the nesting and create a new graph.")
    _global_default_graph = Graph()


class Graph:
    """A TensorFlow graph: named operations in creation (topological) order plus collections."""

    def __init__(self):
        self._ops = []
        self._ops_by_name = {}
        self._names_in_use = {}
        self._name_stack = ""
        self._control_deps_stack = []  # list of lists of ops; None entry clears outer ones
        self._device_stack = []
        self._collections = {}
        self._version = 0
        self._finalized = False
        self.seed = None
        self._lock = threading.RLock()
        self._attr_scope_map = {}
        self._gradient_override_map = {}
        self._colocation_stack = []
        self._control_flow_context = None
        self._extra = {}  # per-graph state kept by higher layers (variable store, savers ...)

    # --- default graph ------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        _default_graph_stack.stack.append(self)
        try:
            yield self
        finally:
            _default_graph_stack.stack.pop()

    def finalize(self):
        self._finalized = True

    @property
    def finalized(self):
        return self._finalized

    def _unsafe_unfinalize(self):
        self._finalized = False

    @property
    def version(self):
        return self._version

    @property
    def graph_def_versions(self):
        from deferflow.formats import protos
        return protos.VersionDef(producer=27, min_consumer=12)

    # --- naming -------------------------------------------------------------------------
    def unique_name(self, name, mark_as_used=True):
        """TF's rule: ``name``, ``name_1``, ``name_2``... case-insensitively, under the name scope."""
        if self._name_stack:
            name = self._name_stack + "/" + name
        name_key = name.lower()
        i = self._names_in_use.get(name_key, 0)
        if mark_as_used:
            self._names_in_use[name_key] = i + 1
        if i > 0:
            base = name_key
            while name_key in self._names_in_use:
                name_key = f"{base}_{i}"
                i += 1
            if mark_as_used:
                self._names_in_use[name_key] = 1
            name = f"{name}_{i - 1}"
        return name

    def get_name_scope(self):
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name):
        """Yields the scope string with a trailing ``/`` (or "" at the root)."""
        old = self._name_stack
        if not name:
            new = ""
        elif name[-1] == "/":
            new = name[:-1]
        else:
            new = self.unique_name(name)
        self._name_stack = new
        try:
            yield (new + "/") if new else ""
        finally:
            self._name_stack = old

    # --- devices / control deps -----------------------------------------------------------
    @contextlib.contextmanager
    def device(self, device_name_or_function):
        self._device_stack.append(device_name_or_function)
        try:
            yield
        finally:
            self._device_stack.pop()

    def _current_device(self, op=None):
        dev = ""
        for d in self._device_stack:
            if callable(d):
                dev = d(op) if op is not None else dev
            elif d is None:
                dev = ""
            else:
                dev = _merge_device(dev, d)
        return dev or ""

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs):
        cf_context = self._control_flow_context
        if control_inputs is None:
            self._control_deps_stack.append(None)
            self._control_flow_context = None  # TF: None also leaves any cond/while context
        else:
            ops = []
            for c in control_inputs:
                c = self.as_graph_element(c, allow_tensor=True, allow_operation=True)
                ops.append(c.op if isinstance(c, Tensor) else c)
            self._control_deps_stack.append(ops)
        try:
            yield
        finally:
            self._control_deps_stack.pop()
            if control_inputs is None:
                self._control_flow_context = cf_context

    def _current_control_deps(self):
        out = []
        for frame in reversed(self._control_deps_stack):
            if frame is None:
                break
            for op in frame:
                if op not in out:
                    out.append(op)
        return out

    @contextlib.contextmanager
    def colocate_with(self, op, ignore_existing=False):
        yield  # placement is not modelled; accepted for compatibility

    @contextlib.contextmanager
    def gradient_override_map(self, op_type_map):
        saved = dict(self._gradient_override_map)
        self._gradient_override_map.update(op_type_map)
        try:
            yield
        finally:
            self._gradient_override_map = saved

    # --- op creation ----------------------------------------------------------------------
    def _check_not_finalized(self):
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")

    def _create_op_raw(self, op_type, inputs, attrs, name, out_dtypes, control_inputs=(), device=None,
                       op_def=None, compute_shapes=True, use_scope_deps=True):
        """Adds a node with fully resolved attrs; ``name`` is final (already unique)."""
        self._check_not_finalized()
        for t in inputs:
            if t.graph is not self:
                raise ValueError(f"{t!r} must be from the same graph as the other inputs of op {name!r} "
                                 "(tensors of two graphs cannot be mixed).")
        if name in self._ops_by_name:
            raise ValueError(f"Duplicate node name in graph: '{name}'")
        ctrl = []
        if use_scope_deps:
            input_ops = {t._op for t in inputs}
            ctrl = [c for c in self._current_control_deps() if c not in input_ops]
        for c in control_inputs:
            if c not in ctrl:
                ctrl.append(c)
        mapped = self._gradient_override_map.get(op_type)
        if mapped is not None:  # recorded on the op, as TF does: it holds after the override block ends
            attrs = dict(attrs, _gradient_op_type=mapped)
        op = Operation(self, name, op_type, inputs, attrs, out_dtypes, ctrl,
                       device if device is not None else self._current_device(), op_def)
        if device is None and any(callable(d) for d in self._device_stack):
            op._device = self._current_device(op)
        op._id = len(self._ops)
        for t in inputs:
            t._consumers.append(op)
        for c in ctrl:
            c._control_outputs.append(op)
        if compute_shapes and op_def is not None and op_def.shape_fn is not None:
            try:
                shapes = op_def.shape_fn(op)
            except ValueError as e:
                raise ValueError(f"{e} for '{{{{node {name}}}}} = {op_type}[{_attrs_str(attrs)}]' with input "
                                 "shapes: " + ", ".join(_shape_str(t.shape) for t in inputs) + ".") from None
            for t, s in zip(op._outputs, shapes):
                t._shape = s if isinstance(s, TensorShape) else TensorShape(s)
        self._ops.append(op)
        self._ops_by_name[name] = op
        self._version += 1
        if self._control_flow_context is not None:  # after registering: ops it adds come later, as in TF
            self._control_flow_context._add_op(op)
        return op

    def create_op(self, op_type, inputs, dtypes=None, input_types=None, name=None, attrs=None,
                  op_def=None, compute_shapes=True, compute_device=True):
        """TF's low-level ``Graph.create_op``: attrs are given, missing ones take OpDef defaults."""
        od = op_registry.get(op_type)
        attrs = dict(attrs or {})
        if od is not None:
            for k, spec in od.attrs.items():
                if k not in attrs and spec.has_default:
                    attrs[k] = spec.default
        name = self.unique_name(name or op_type)
        out = dtypes if dtypes is not None else op_registry.output_dtypes(od, attrs)
        return self._create_op_raw(op_type, list(inputs), attrs, name, out, op_def=od,
                                   compute_shapes=compute_shapes)

    # --- lookups --------------------------------------------------------------------------
    def get_operations(self):
        return list(self._ops)

    def get_operation_by_name(self, name):
        if not isinstance(name, str):
            raise TypeError(f"Operation names are strings (or similar), not {type(name).__name__}.")
        return self.as_graph_element(name, allow_tensor=False, allow_operation=True)

    def _get_operation_by_name_unsafe(self, name):
        return self._ops_by_name[name]

    def get_tensor_by_name(self, name):
        if not isinstance(name, str):
            raise TypeError(f"Tensor names are strings (or similar), not {type(name).__name__}.")
        return self.as_graph_element(name, allow_tensor=True, allow_operation=False)

    def as_graph_element(self, obj, allow_tensor=True, allow_operation=True):
        with self._lock:
            return self._as_graph_element_locked(obj, allow_tensor, allow_operation)

    def _as_graph_element_locked(self, obj, allow_tensor, allow_operation):
        types_str = " or ".join(x for x, ok in (("Tensor", allow_tensor), ("Operation", allow_operation)) if ok)
        conv = getattr(obj, "_as_graph_element", None)
        if conv is not None and not isinstance(obj, (Tensor, Operation)):
            obj = conv()
        if isinstance(obj, str):
            name = obj
            if ":" in name and allow_tensor:
                op_name, _, idx = name.rpartition(":")
                try:
                    idx = int(idx)
                except ValueError:
                    raise ValueError(f"The name {name!r} looks a like a Tensor name, but is not a valid one. "
                                     "Tensor names must be of the form \"<op_name>:<output_index>\".") from None
                op = self._ops_by_name.get(op_name)
                if op is None:
                    cands = [t.name for o in self._ops for t in o._outputs]
                    raise KeyError(f"The name {name!r} refers to a Tensor which does not exist. The operation, "
                                   f"{op_name!r}, does not exist in the graph{_suggest(name, cands)}")
                if idx >= len(op._outputs) or idx < 0:
                    raise KeyError(f"The name {name!r} refers to a Tensor which does not exist. The operation, "
                                   f"{op_name!r}, exists but only has {len(op._outputs)} outputs.")
                return op._outputs[idx]
            if ":" in name and not allow_tensor:
                raise ValueError(f"Name {name!r} appears to refer to a Tensor, not a {types_str}.")
            if not allow_operation:
                if name in self._ops_by_name:
                    raise ValueError(f"The name {name!r} refers to an Operation, not a {types_str}. Tensor names "
                                     f"must be of the form \"<op_name>:<output_index>\".")
                raise ValueError(f"The name {name!r} looks like an (invalid) Operation name, not a {types_str}.")
            op = self._ops_by_name.get(name)
            if op is None:
                raise KeyError(f"The name {name!r} refers to an Operation not in the graph"
                               f"{_suggest(name, self._ops_by_name)}")
            return op
        if isinstance(obj, Tensor) and allow_tensor:
            if obj.graph is not self:
                raise ValueError(f"Tensor {obj} is not an element of this graph.")
            return obj
        if isinstance(obj, Operation) and allow_operation:
            if obj.graph is not self:
                raise ValueError(f"Operation {obj} is not an element of this graph.")
            return obj
        raise TypeError(f"Can not convert a {type(obj).__name__} into a {types_str}.")

    # --- collections ----------------------------------------------------------------------
    def add_to_collection(self, name, value):
        self._check_not_finalized()
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names, value):
        names = (names,) if isinstance(names, str) else set(names)
        for n in names:
            self.add_to_collection(n, value)

    def get_collection_ref(self, name):
        return self._collections.setdefault(name, [])

    def get_collection(self, name, scope=None):
        items = self._collections.get(name, [])
        if scope is None:
            return list(items)
        import re
        pat = re.compile(scope)
        return [x for x in items if getattr(x, "name", None) is not None and pat.match(x.name)]

    def get_all_collection_keys(self):
        return [k for k in self._collections if isinstance(k, str)]

    def clear_collection(self, name):
        self._collections.pop(name, None)

    @property
    def collections(self):
        return self.get_all_collection_keys()

    # --- serialization (graph_io keeps the message translation in one place) ---------------
    def as_graph_def(self, from_version=None, add_shapes=False):
        from deferflow.framework import graph_io
        return graph_io.graph_to_graph_def(self, add_shapes=add_shapes)

    def is_fetchable(self, tensor_or_op):
        return True

    def is_feedable(self, tensor):
        return True

    def __contains__(self, name):
        return name in self._ops_by_name


def _shape_str(shape):
    return "?" if shape.ndims is None else "[" + ",".join("?" if d is None else str(d) for d in shape.as_tuple()) + "]"


def _attrs_str(attrs):
    def fmt(v):
        if isinstance(v, dtypes.DType):
            return "DT_" + {"float32": "FLOAT", "float64": "DOUBLE", "float16": "HALF"}.get(v.name, v.name.upper())
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, np.ndarray):
            return "<tensor>"
        return str(v)
    return ", ".join(f"{k}={fmt(v)}" for k, v in sorted(attrs.items()))


def _merge_device(outer, inner):
    """Later device specs override field by field (job/replica/task/device), as in TF."""
    if not outer:
        return inner
    if not inner:
        return outer

    def fields(spec):
        out = {}
        for part in spec.strip("/").split("/"):
            if ":" in part:
                k, _, v = part.partition(":")
                k = k.lower()
                out["device" if k in ("cpu", "gpu", "device", "tpu") else k] = part  # "/device:CPU:0" stays whole
        return out
    f = fields(outer)
    f.update(fields(inner))
    order = ["job", "replica", "task", "device"]
    return "".join("/" + (f[k] if k == "device" else f"{k}:{f[k].split(':', 1)[1]}") for k in order if k in f)


# --- scopes as module functions (the tf.* API) ---------------------------------------------
class name_scope:  # noqa: N801 - TF's public name
    """``tf.name_scope(name, default_name=None, values=None)``; yields the scope with trailing ``/``."""

    def __init__(self, name, default_name=None, values=None):
        self._name = default_name if name is None else name
        self._values = values
        self._ctx = None

    def __enter__(self):
        g = _graph_from_values(self._values) if self._values else get_default_graph()
        self._g_ctx = None
        if g is not get_default_graph():
            self._g_ctx = g.as_default()
            self._g_ctx.__enter__()
        self._ctx = g.name_scope(self._name)
        return self._ctx.__enter__()

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        if self._g_ctx is not None:
            self._g_ctx.__exit__(*exc)
        return False


def _graph_from_values(values):
    """The graph an op on ``values`` belongs to: that of its first tensor, or the default graph when that
    is a function graph being traced inside the tensor's graph (its ops capture the outer tensors)."""
    default = get_default_graph()
    for v in values:
        t = v if isinstance(v, (Tensor, Operation)) else getattr(v, "_graph_element_for_scope", None)
        if t is not None:
            g = t.graph
            inner = default
            while inner is not g and getattr(inner, "outer", None) is not None:
                inner = inner.outer
            return default if inner is g else g
    return default


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)


def device(device_name_or_function):
    return get_default_graph().device(device_name_or_function)


def colocate_with(op, ignore_existing=False):
    return get_default_graph().colocate_with(op, ignore_existing)


def add_to_collection(name, value):
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value):
    get_default_graph().add_to_collections(names, value)


def get_collection(key, scope=None):
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    return get_default_graph().get_collection_ref(key)


# --- tensor conversion ------------------------------------------------------------------------
_conversion_funcs = []  # (types, fn(value, dtype, name, as_ref)) checked in order
_constant_fn = None  # set by deferflow.ops.array_ops: fn(value, dtype, name) -> Tensor


def register_tensor_conversion_function(base_type, conversion_func, priority=100):
    _conversion_funcs.append((base_type, conversion_func))


def convert_to_tensor(value, dtype=None, name=None, preferred_dtype=None, as_ref=False, dtype_hint=None):
    """Tensors pass through (dtype checked); variables give their value; anything else becomes a Const."""
    preferred_dtype = preferred_dtype or dtype_hint
    if isinstance(value, Tensor):
        if dtype is not None:
            dtype = dtypes.as_dtype(dtype)
            if not dtype.is_compatible_with(value.dtype):
                raise ValueError(f"Tensor conversion requested dtype {dtype.name} for Tensor with dtype "
                                 f"{value.dtype.name}: {value!r}")
        return value
    for base_type, fn in _conversion_funcs:
        if isinstance(value, base_type):
            t = fn(value, dtype=dtype, name=name, as_ref=as_ref)
            if t is not NotImplemented:
                return t
    if isinstance(value, Operation):
        raise TypeError(f"Can't convert Operation '{value.name}' to Tensor (target dtype={dtype}, "
                        f"name={name}, as_ref={as_ref})")
    if dtype is None and preferred_dtype is not None:
        try:
            return _constant_fn(value, dtypes.as_dtype(preferred_dtype), name or "Const")
        except (TypeError, ValueError):
            pass
    return _constant_fn(value, None if dtype is None else dtypes.as_dtype(dtype), name or "Const")


def convert_n_to_tensor(values, dtype=None, name=None, preferred_dtype=None):
    return [convert_to_tensor(v, dtype, None if name is None else f"{name}_{i}", preferred_dtype)
            for i, v in enumerate(values)]


def _is_tensor_like(v):
    return isinstance(v, Tensor) or hasattr(v, "_as_graph_element") and not isinstance(v, Operation)


def _infer_attrs_and_convert(op_def, kw, attrs):
    """TF's _apply_op_helper: binds python values to input args, inferring type and number attrs."""
    # Pre-pass: a type attr shared by several inputs takes the dtype of any tensor among them.
    for arg in op_def.inputs:
        if arg.type_attr and arg.type_attr not in attrs and not arg.type_list_attr:
            vals = kw.get(arg.name)
            vals = vals if arg.number_attr else [vals]
            for v in vals or ():
                if _is_tensor_like(v):
                    dt = getattr(v, "dtype", None)  # a variable's dtype without reading it (no stray read op)
                    attrs[arg.type_attr] = (dtypes.as_dtype(dt) if dt is not None else
                                            convert_to_tensor(v, as_ref=arg.is_ref).dtype).base_dtype
                    break
    inputs = []
    for arg in op_def.inputs:
        if arg.name not in kw:
            raise TypeError(f"{op_def.name} missing required input {arg.name!r}")
        val = kw[arg.name]
        if arg.type_list_attr:
            ts_ = [convert_to_tensor(v, as_ref=arg.is_ref, name=f"{arg.name}_{i}") for i, v in enumerate(val)]
            attrs.setdefault(arg.type_list_attr, [t.dtype.base_dtype for t in ts_])
            inputs.extend(ts_)
            continue
        if arg.number_attr:
            if not isinstance(val, (list, tuple)):
                raise TypeError(f"Expected list for '{arg.name}' argument to '{op_def.name}' Op, not {val!r}.")
            attrs.setdefault(arg.number_attr, len(val))
            items = list(val)
        else:
            items = [val]
        want = arg.dtype if arg.dtype is not None else attrs.get(arg.type_attr)
        for i, v in enumerate(items):
            const_name = f"{arg.name}_{i}" if arg.number_attr else arg.name
            default = None
            if want is None and arg.type_attr:
                spec = op_def.attrs.get(arg.type_attr)
                if spec is not None and spec.has_default:
                    default = spec.default
            try:
                t = convert_to_tensor(v, dtype=want, as_ref=arg.is_ref, preferred_dtype=default, name=const_name)
            except (TypeError, ValueError) as e:
                raise TypeError(f"Input '{arg.name}' of '{op_def.name}' Op has type "
                                f"{_dtype_name_of(v)} that does not match expected type of "
                                f"{want.name if want else '?'}: {e}") from None
            if want is not None and t.dtype.base_dtype != want.base_dtype:
                raise TypeError(f"Input '{arg.name}' of '{op_def.name}' Op has type {t.dtype.base_dtype.name} "
                                f"that does not match type {want.name} of argument "
                                f"'{op_def.inputs[0].name}'.")
            if arg.is_ref and not t.dtype.is_ref_dtype:
                raise TypeError(f"'{op_def.name}' Op requires that input '{arg.name}' be a mutable tensor "
                                "(e.g.: a tf.Variable)")
            if want is None and arg.type_attr:
                want = t.dtype.base_dtype
                attrs[arg.type_attr] = want
            inputs.append(t)
    return inputs


def _dtype_name_of(v):
    return getattr(getattr(v, "dtype", None), "name", type(v).__name__)


def apply_op(op_type, name=None, **kwargs):
    """Creates an op of a registered type from inputs and attrs given by their TF names.

    Returns the single output Tensor, a list for one list-typed output, a tuple for several
    outputs, or the Operation when there are none.
    """
    op_def = op_registry.get(op_type)
    if op_def is None:
        raise KeyError(f"Op type not registered '{op_type}'")
    g = _graph_from_values([v for v in kwargs.values() if not isinstance(v, (list, tuple))]
                           + [x for v in kwargs.values() if isinstance(v, (list, tuple)) for x in v])
    attrs = {}
    for k, spec in op_def.attrs.items():
        if k in kwargs and kwargs[k] is not None:
            attrs[k] = _canon_attr(kwargs[k], spec.type)
    with g.as_default(), g.name_scope(name or op_type) as scope:
        inputs = _infer_attrs_and_convert(op_def, kwargs, attrs)
        for k, spec in op_def.attrs.items():
            if k not in attrs:
                if spec.has_default:
                    attrs[k] = spec.default
                else:
                    raise TypeError(f"No value for attr '{k}' of op '{op_type}'")
        op = g._create_op_raw(op_type, inputs, attrs, scope[:-1], op_registry.output_dtypes(op_def, attrs),
                              op_def=op_def)
    return _op_result(op)


def _op_result(op):
    outs = op._outputs
    od = op._op_def
    if not outs:
        return op
    if len(od.outputs) == 1:
        return list(outs) if od.outputs[0].is_list else outs[0]
    res, i = [], 0
    for arg in od.outputs:
        if arg.is_list:
            n = op._attrs[arg.number_attr] if arg.number_attr else len(op._attrs[arg.type_list_attr])
            res.append(list(outs[i:i + n]))
            i += n
        else:
            res.append(outs[i])
            i += 1
    return tuple(res)


def _canon_attr(value, kind):
    """Python attr values in the graph's canonical form (DType, TensorShape, str, lists)."""
    if kind == "type":
        return dtypes.as_dtype(value)
    if kind == "list(type)":
        return [dtypes.as_dtype(v) for v in value]
    if kind == "shape":
        return ts.as_shape(value)
    if kind == "list(shape)":
        return [ts.as_shape(v) for v in value]
    if kind == "string":
        return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    if kind == "list(string)":
        return [v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v for v in value]
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return bool(value)
    if kind in ("list(int)",):
        return [int(v) for v in value]
    if kind in ("list(float)",):
        return [float(v) for v in value]
    if kind == "tensor":
        return np.asarray(value)
    return value


def get_name_scope():
    return get_default_graph().get_name_scope()


def name_from_scope_name(name):
    return name[:-1] if name and name[-1] == "/" else name


def prepend_name_scope(name, import_scope):
    """``x`` -> ``scope/x``, keeping a leading ``^`` or ``loc:@`` (meta graph import)."""
    if not import_scope:
        return name
    import_scope = import_scope.rstrip("/")
    for lead in ("^", "loc:@"):
        if name.startswith(lead):
            return f"{lead}{import_scope}/{name[len(lead):]}"
    return f"{import_scope}/{name}"


def strip_name_scope(name, export_scope):
    """``scope/x`` -> ``x`` (first occurrence after a leading ``^``/``loc:@``), as TF's export does."""
    if not export_scope:
        return name
    export_scope = export_scope.rstrip("/")
    lead = "^" if name.startswith("^") else "loc:@" if name.startswith("loc:@") else ""
    body = name[len(lead):]
    if body.startswith(export_scope + "/"):
        return lead + body[len(export_scope):].lstrip("/")
    return name


def get_gradient_function(op):
    mapped = op._attrs.get("_gradient_op_type")  # set under gradient_override_map when the op was made
    op_type = (mapped.decode() if isinstance(mapped, bytes) else mapped) if mapped else op.type
    od = op_registry.get(op_type)
    if od is None or od.grad_fn is None:
        raise LookupError(f"No gradient defined for operation '{op.name}' (op type: {op.type}). "
                          "In general every operation must have an associated `@tf.RegisterGradient` "
                          "for correct autodiff, which this op is lacking.")
    return None if od.grad_fn is op_registry.NO_GRADIENT else od.grad_fn


class RegisterGradient:
    """``@tf.RegisterGradient("OpType")``: gradient for an op type (or an override-map name)."""

    def __init__(self, op_type):
        self._op_type = op_type

    def __call__(self, fn):
        od = op_registry.get(self._op_type)
        if od is None:  # a name used only through gradient_override_map
            od = op_registry.define(self._op_type)
            od.from_graph = True
        od.grad_fn = fn
        return fn


def NotDifferentiable(op_type):  # noqa: N802 - TF's public name
    od = op_registry.get(op_type)
    if od is None:
        od = op_registry.define(op_type)
        od.from_graph = True
    od.grad_fn = op_registry.NO_GRADIENT


NoGradient = NotDifferentiable
