"""``tf.variable_scope`` and ``tf.get_variable`` with TF1's reuse rules and naming."""
import contextlib

from deferflow.framework import dtypes, ops
from deferflow.framework import tensor_shape as ts
from deferflow.ops import init_ops
from deferflow.ops.variables import Variable


class _ReuseMode:
    AUTO_REUSE = 1


AUTO_REUSE = _ReuseMode.AUTO_REUSE


class VariableScope:
    """The state of one variable scope: name, reuse, defaults for ``get_variable``."""

    def __init__(self, reuse, name="", initializer=None, regularizer=None, caching_device=None, partitioner=None,
                 custom_getter=None, name_scope="", dtype=dtypes.float32, use_resource=None, constraint=None):
        self._name, self._reuse, self._initializer, self._regularizer = name, reuse, initializer, regularizer
        self._caching_device, self._partitioner, self._custom_getter = caching_device, partitioner, custom_getter
        self._name_scope, self._dtype, self._use_resource, self._constraint = name_scope, dtype, use_resource, \
            constraint

    name = property(lambda self: self._name)
    original_name_scope = property(lambda self: self._name_scope)
    reuse = property(lambda self: self._reuse)
    initializer = property(lambda self: self._initializer)
    regularizer = property(lambda self: self._regularizer)
    partitioner = property(lambda self: self._partitioner)
    custom_getter = property(lambda self: self._custom_getter)
    dtype = property(lambda self: self._dtype)
    caching_device = property(lambda self: self._caching_device)
    use_resource = property(lambda self: self._use_resource)
    constraint = property(lambda self: self._constraint)

    def reuse_variables(self):
        self._reuse = True

    def set_initializer(self, initializer):
        self._initializer = initializer

    def set_regularizer(self, regularizer):
        self._regularizer = regularizer

    def set_partitioner(self, partitioner):
        self._partitioner = partitioner

    def set_dtype(self, dtype):
        self._dtype = dtype

    def set_use_resource(self, use_resource):
        self._use_resource = use_resource

    def set_custom_getter(self, custom_getter):
        self._custom_getter = custom_getter

    def set_caching_device(self, caching_device):
        self._caching_device = caching_device

    def get_variable(self, var_store, name, shape=None, dtype=None, initializer=None, regularizer=None,
                     reuse=None, trainable=None, collections=None, caching_device=None, partitioner=None,
                     validate_shape=True, use_resource=None, custom_getter=None, constraint=None, **kwargs):
        full_name = f"{self._name}/{name}" if self._name else name
        if reuse is None:
            reuse = self._reuse
        with ops.name_scope(None):
            return var_store.get_variable(
                full_name, shape, dtype or self._dtype,
                initializer if initializer is not None else self._initializer,  # may be an ndarray
                regularizer or self._regularizer, reuse, trainable, collections, validate_shape,
                partitioner if partitioner is not None else self._partitioner,
                constraint or self._constraint, custom_getter or self._custom_getter,
                use_resource if use_resource is not None else self._use_resource)


class _VariableStore:
    def __init__(self):
        self._vars = {}
        self._partitioned_vars = {}
        self.variable_scopes_count = {}

    def get_variable(self, name, shape, dtype, initializer, regularizer, reuse, trainable, collections,
                     validate_shape, partitioner, constraint, custom_getter, use_resource=None):
        if custom_getter is not None:
            def real_getter(name, shape=None, dtype=dtypes.float32, initializer=None, regularizer=None, reuse=None,
                            trainable=None, collections=None, validate_shape=True, partitioner=None,
                            constraint=None, use_resource=None, **kw):
                return self._true_getter(name, shape, dtype, initializer, regularizer, reuse, trainable,
                                         collections, validate_shape, partitioner, constraint, use_resource)
            return custom_getter(real_getter, name, shape=shape, dtype=dtype, initializer=initializer,
                                 regularizer=regularizer, reuse=reuse, trainable=trainable,
                                 collections=collections, validate_shape=validate_shape, partitioner=partitioner,
                                 constraint=constraint, use_resource=use_resource)
        return self._true_getter(name, shape, dtype, initializer, regularizer, reuse, trainable, collections,
                                 validate_shape, partitioner, constraint, use_resource)

    def _true_getter(self, name, shape, dtype, initializer, regularizer, reuse, trainable, collections,
                     validate_shape, partitioner, constraint, use_resource=None):
        dtype = dtypes.as_dtype(dtype)
        shape = ts.as_shape(shape) if shape is not None else None
        if partitioner is not None:
            from deferflow.ops import partitioned
            return partitioned.get_partitioned_variable(self, name, shape, dtype, initializer, regularizer, reuse,
                                                        trainable, collections, validate_shape, partitioner)
        if name in self._vars:
            if reuse is False or reuse is None:
                raise ValueError(f"Variable {name} already exists, disallowed. Did you mean to set reuse=True "
                                 "or reuse=tf.AUTO_REUSE in VarScope?")
            found = self._vars[name]
            if shape is not None and not shape.is_compatible_with(found.shape):
                raise ValueError(f"Trying to share variable {name}, but specified shape {shape} and found "
                                 f"shape {found.shape}.")
            if not dtype.is_compatible_with(found.dtype.base_dtype):
                raise ValueError(f"Trying to share variable {name}, but specified dtype {dtype.name} and found "
                                 f"dtype {found.dtype.base_dtype.name}.")
            return found
        if reuse is True:
            raise ValueError(f"Variable {name} does not exist, or was not created with tf.get_variable(). Did "
                             "you mean to set reuse=tf.AUTO_REUSE in VarScope?")
        if initializer is None:
            if dtype.is_floating:
                initializer = init_ops.glorot_uniform_initializer()
            elif dtype.is_integer or dtype.is_bool or dtype.is_unsigned:
                initializer = init_ops.zeros_initializer()
            elif dtype == dtypes.string:
                initializer = init_ops.constant_initializer(b"")
            else:
                raise ValueError(f"An initializer for variable {name} of {dtype.base_dtype!r} is required")
        if callable(initializer) and not isinstance(initializer, (ops.Tensor,)):
            if isinstance(initializer, type):
                initializer = initializer(dtype=dtype)
            if shape is None or not shape.is_fully_defined():
                raise ValueError(f"Shape of a new variable ({name}) must be fully defined, but instead was "
                                 f"{shape}.")
            init_fn = lambda: initializer(shape.as_list(), dtype=dtype)  # noqa: E731
            init_dtype = dtype
        else:
            init_fn = initializer
            init_dtype = None
            if shape is not None and validate_shape:
                t = ops.convert_to_tensor(initializer) if not hasattr(initializer, "_as_graph_element") else None
                if t is not None and not shape.is_compatible_with(t.shape):
                    raise ValueError("If initializer is a constant, do not specify shape.")
        v = Variable(initial_value=init_fn, name=name, trainable=trainable, collections=collections,
                     dtype=init_dtype, validate_shape=validate_shape, constraint=constraint,
                     use_resource=use_resource)
        self._vars[name] = v
        if regularizer is not None:
            with ops.name_scope(name + "/Regularizer/"):
                loss = regularizer(v.value())
            if loss is not None:
                ops.add_to_collection(ops.GraphKeys.REGULARIZATION_LOSSES, loss)
        return v


def _get_store(graph=None):
    g = graph or ops.get_default_graph()
    store = g._extra.get("variable_store")
    if store is None:
        store = g._extra["variable_store"] = _VariableStore()
    return store


def get_variable_scope():
    g = ops.get_default_graph()
    scope = g._extra.get("variable_scope")
    if scope is None:
        scope = g._extra["variable_scope"] = VariableScope(False)
    return scope


def _set_variable_scope(scope):
    ops.get_default_graph()._extra["variable_scope"] = scope


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None,
                 collections=None, caching_device=None, partitioner=None, validate_shape=True, use_resource=None,
                 custom_getter=None, constraint=None, synchronization=None, aggregation=None):
    """``tf.get_variable``: creates or (under reuse) returns the variable ``scope/name``."""
    return get_variable_scope().get_variable(
        _get_store(), name, shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
        trainable=trainable, collections=collections, caching_device=caching_device, partitioner=partitioner,
        validate_shape=validate_shape, use_resource=use_resource, custom_getter=custom_getter,
        constraint=constraint)


def _unique_var_scope_name(store, prefix, default_name):
    """TF's rule: ``name`` if no open scope used it, else the first ``name_<i>`` not in use."""
    name = f"{prefix}/{default_name}" if prefix else default_name
    unique = name
    if store.variable_scopes_count.get(name, 0):
        i = 1
        while store.variable_scopes_count.get(f"{name}_{i}", 0):
            i += 1
        unique = f"{name}_{i}"
    return unique[len(prefix) + 1:] if prefix else unique  # default names may hold "/" (slots: "w/Adam")


def _bump_counts(store, name):
    store.variable_scopes_count[name] = store.variable_scopes_count.get(name, 0) + 1


def _close_subscopes(store, name):
    """On leaving a scope its sub-scope counts reset, so re-entering it names sub-scopes afresh (as TF)."""
    prefix = name + "/"
    for k in store.variable_scopes_count:
        if k.startswith(prefix):
            store.variable_scopes_count[k] = 0


@contextlib.contextmanager
def variable_scope(name_or_scope, default_name=None, values=None, initializer=None, regularizer=None,
                   caching_device=None, partitioner=None, custom_getter=None, reuse=None, dtype=None,
                   use_resource=None, constraint=None, auxiliary_name_scope=True):
    """``tf.variable_scope``: prefixes ``get_variable`` names and opens a matching name scope."""
    if name_or_scope is None and default_name is None:
        raise TypeError("If default_name is None then name_or_scope is required")
    if reuse is False:
        reuse = None
    store = _get_store()
    old = get_variable_scope()
    if isinstance(name_or_scope, VariableScope):
        full_name = name_or_scope.name
        ns = name_or_scope.original_name_scope
        base = name_or_scope
    else:
        if name_or_scope is not None:
            rel = name_or_scope
        else:
            rel = _unique_var_scope_name(store, old.name, default_name)
        full_name = f"{old.name}/{rel}" if old.name else rel
        base = old
        ns = None
    _bump_counts(store, full_name)
    saved_counts = dict(store.variable_scopes_count) if isinstance(name_or_scope, VariableScope) else None
    new_reuse = True if (reuse is True or (old.reuse is True and reuse is None)) else \
        (AUTO_REUSE if reuse == AUTO_REUSE or (old.reuse == AUTO_REUSE and reuse is None) else
         (base.reuse if isinstance(name_or_scope, VariableScope) and reuse is None else False))
    new = VariableScope(new_reuse, full_name,
                        initializer if initializer is not None else base.initializer,
                        regularizer if regularizer is not None else base.regularizer,
                        caching_device if caching_device is not None else base.caching_device,
                        partitioner if partitioner is not None else base.partitioner,
                        custom_getter if custom_getter is not None else base.custom_getter,
                        "", dtype if dtype is not None else base.dtype,
                        use_resource if use_resource is not None else base.use_resource,
                        constraint if constraint is not None else base.constraint)
    g = ops.get_default_graph()
    if auxiliary_name_scope:
        if ns is not None:
            name_ctx = g.name_scope(ns if ns else None)
        else:
            # TF names the ops' scope after default_name itself (uniquified by the graph), else the given name
            name_ctx = g.name_scope(default_name if name_or_scope is None else name_or_scope)
    else:
        name_ctx = contextlib.nullcontext(g.get_name_scope() + "/" if g.get_name_scope() else "")
    with name_ctx as scope_name:
        new._name_scope = scope_name
        _set_variable_scope(new)
        try:
            yield new
        finally:
            _set_variable_scope(old)
            if saved_counts is not None:
                store.variable_scopes_count = saved_counts
            else:
                _close_subscopes(store, full_name)


def variable_op_scope(values, name_or_scope, default_name=None, **kw):
    return variable_scope(name_or_scope, default_name=default_name, values=values, **kw)


def no_regularizer(_):
    return None
