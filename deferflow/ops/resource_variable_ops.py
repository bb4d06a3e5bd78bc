"""Resource variables: ``VarHandleOp`` + ``ReadVariableOp``/``AssignVariableOp``..., and ``ResourceVariable``.

A resource tensor's runtime value is a ``ResourceHandle``; the variable's value lives in the session
state (``state.resources[(container, shared_name)]``), so every handle op naming the same variable
shares it, as in TensorFlow.
"""
import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import GraphKeys, apply_op, convert_to_tensor
from deferflow.ops import array_ops, state_ops, variables

define = op_registry.define


class ResourceHandle:
    """The value of a ``resource`` tensor: which variable a handle op names."""

    __slots__ = ("container", "name", "dtype", "shape")

    def __init__(self, container, name, dtype, shape):
        self.container, self.name, self.dtype, self.shape = container or "localhost", name, dtype, shape

    @property
    def key(self):
        return (self.container, self.name)

    def __repr__(self):
        return f"<ResourceHandle {self.container}/{self.name} dtype={self.dtype.name}>"


def _lookup(ctx, handle, dtype=None):
    if not isinstance(handle, ResourceHandle):
        raise errors.InvalidArgumentError(None, None, f"Expected a resource handle, got {type(handle).__name__}")
    value = ctx.state.resources.get(handle.key)
    if value is None:
        raise errors.FailedPreconditionError(
            None, None, f"Could not find variable {handle.name}. This could mean that the variable has been deleted. "
                        f"In TF1, it can also mean the variable is uninitialized. Debug info: "
                        f"container={handle.container}, status error message=Resource "
                        f"{handle.container}/{handle.name}/class tensorflow::Var does not exist.")
    if dtype is not None and value.dtype != dtype.as_numpy_dtype:
        raise errors.InvalidArgumentError(
            None, None, f"Trying to read variable with wrong dtype. Expected {dtypes.from_numpy(value.dtype).name} "
                        f"got {dtype.name}")
    return value


def _frozen(value, dtype):
    value = np.asarray(value, dtype=dtype.as_numpy_dtype)
    if value.flags.writeable:
        value = value.view()
        value.flags.writeable = False  # session state is never mutated in place
    return value


def handle_shape(t):
    """The static shape of the variable behind a resource tensor (through Identity/Placeholder-free paths)."""
    op = t.op
    while op.type in ("Identity", "StopGradient") and op._inputs:
        op = op._inputs[0].op
    if op.type == "VarHandleOp":
        return op._attrs["shape"]
    return ts.unknown_shape()


# ---- VarHandleOp ---------------------------------------------------------------------------
VarHandleOp = define("VarHandleOp", "", "resource: resource",
                     ["container: string = ''", "shared_name: string = ''", "debug_name: string = ''",
                      "dtype: type", "shape: shape", "allowed_devices: list(string) = []"], stateful=True)
VarHandleOp.shape(lambda op: [ts.TensorShape([])])
VarHandleOp.no_gradient()


@VarHandleOp.kernel(ctx=True)
def _var_handle(ctx, *, container, shared_name, dtype, shape):
    return ResourceHandle(container, shared_name or ctx.op._name, dtype, shape)


# ---- ReadVariableOp ------------------------------------------------------------------------
ReadVariableOp = define("ReadVariableOp", "resource: resource", "value: dtype", ["dtype: type"], stateful=True)
ReadVariableOp.shape(lambda op: [handle_shape(op._inputs[0])])
ReadVariableOp.kernel(ctx=True)(lambda ctx, handle, *, dtype: _lookup(ctx, handle, dtype))
ReadVariableOp.grad(lambda op, grad: [grad])  # the gradient flows to the handle, as in TF


# ---- AssignVariableOp and updates ----------------------------------------------------------
AssignVariableOp = define("AssignVariableOp", "resource: resource, value: dtype", "",
                          ["dtype: type", "validate_shape: bool = false"], stateful=True)
AssignVariableOp.shape(lambda op: [])
AssignVariableOp.no_gradient()


@AssignVariableOp.kernel(ctx=True)
def _assign_variable(ctx, handle, value, *, dtype, validate_shape):
    old = ctx.state.resources.get(handle.key)
    if old is not None and old.dtype != dtype.as_numpy_dtype:
        raise errors.InvalidArgumentError(
            None, None, f"Trying to assign variable with wrong dtype. Expected {dtypes.from_numpy(old.dtype).name} "
                        f"got {dtype.name}")
    if validate_shape and old is not None and old.shape != np.shape(value):
        raise errors.InvalidArgumentError(
            None, None, f"Trying to assign to variable with tensor with wrong shape. Expected "
                        f"{list(old.shape)} got {list(np.shape(value))}")
    ctx.state.resources[handle.key] = _frozen(value, dtype)


def _update_op(name, fn):
    od = define(name, "resource: resource, value: dtype", "", ["dtype: type"], stateful=True)
    od.shape(lambda op: [])
    od.no_gradient()

    @od.kernel(ctx=True)
    def kernel(ctx, handle, value, *, dtype):
        old = _lookup(ctx, handle, dtype)
        if old.shape != np.shape(value):
            raise errors.InvalidArgumentError(
                None, None, f"Cannot update variable with shape {list(old.shape)} using a Tensor with shape "
                            f"{list(np.shape(value))}, shapes must be equal.")
        ctx.state.resources[handle.key] = _frozen(fn(old, value), dtype)
    return od


AssignAddVariableOp = _update_op("AssignAddVariableOp", np.add)
AssignSubVariableOp = _update_op("AssignSubVariableOp", np.subtract)


def _define_resource_scatter(kind):
    combine, types, _ = state_ops.SCATTER_KINDS[kind]
    od = define("ResourceScatter" + kind, "resource: resource, indices: Tindices, updates: dtype", "",
                [f"dtype: {types}", "Tindices: {int32, int64}"], stateful=True)
    od.shape(lambda op: [])
    od.no_gradient()

    @od.kernel(ctx=True)
    def kernel(ctx, handle, indices, updates, *, dtype):
        _lookup(ctx, handle, dtype)
        state_ops.scatter_into(ctx.state.resource_ref(handle.key, handle.name, dtype.as_numpy_dtype), indices,
                               updates, combine)
    return od


for _kind in state_ops.SCATTER_KINDS:
    _define_resource_scatter(_kind)

# ---- queries and cleanup -------------------------------------------------------------------
VarIsInitializedOp = define("VarIsInitializedOp", "resource: resource", "is_initialized: bool", stateful=True)
VarIsInitializedOp.shape(lambda op: [ts.TensorShape([])])
VarIsInitializedOp.kernel(ctx=True)(lambda ctx, handle: np.array(handle.key in ctx.state.resources))
VarIsInitializedOp.no_gradient()

VariableShape = define("VariableShape", "input: resource", "output: out_type",
                       ["out_type: {int32, int64} = DT_INT32"], stateful=True)
VariableShape.shape(lambda op: [ts.TensorShape([handle_shape(op._inputs[0]).ndims])])
VariableShape.kernel(ctx=True)(
    lambda ctx, handle, *, out_type: np.array(_lookup(ctx, handle).shape, dtype=out_type.as_numpy_dtype))
VariableShape.no_gradient()

DestroyResourceOp = define("DestroyResourceOp", "resource: resource", "", ["ignore_lookup_error: bool = true"],
                           stateful=True)
DestroyResourceOp.shape(lambda op: [])
DestroyResourceOp.no_gradient()


@DestroyResourceOp.kernel(ctx=True)
def _destroy(ctx, handle, *, ignore_lookup_error):
    if ctx.state.resources.pop(handle.key, None) is None and not ignore_lookup_error:
        raise errors.NotFoundError(None, None, f"Resource {handle.container}/{handle.name} does not exist.")


# ---- ResourceGather ------------------------------------------------------------------------
ResourceGather = define("ResourceGather", "resource: resource, indices: Tindices", "output: dtype",
                        ["batch_dims: int = 0", "validate_indices: bool = true", "dtype: type",
                         "Tindices: {int32, int64}"], stateful=True)


@ResourceGather.shape
def _gather_shape(op):
    params = handle_shape(op._inputs[0])
    if params.ndims is None:
        return [ts.unknown_shape()]
    return [op._inputs[1].shape.concatenate(params[1:])]


@ResourceGather.kernel(ctx=True)
def _gather(ctx, handle, indices, *, dtype, batch_dims):
    params = _lookup(ctx, handle, dtype)
    if batch_dims:
        raise errors.UnimplementedError(None, None, "ResourceGather with batch_dims != 0")
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= params.shape[0]):
        bad = indices[(indices < 0) | (indices >= params.shape[0])].reshape(-1)[0]
        raise errors.InvalidArgumentError(None, None, f"indices = {bad} is not in [0, {params.shape[0]})")
    return np.take(params, indices, axis=0)


@ResourceGather.grad
def _gather_grad(op, grad):
    """The looked-up rows of the variable, as an IndexedSlices (TF's ResourceGather gradient)."""
    from deferflow.framework.indexed_slices import IndexedSlices
    handle, indices = op.inputs
    static = handle_shape(handle)  # TF's variable_shape: a constant when the handle's shape is known
    shape = (array_ops.constant(static.as_list(), dtype=dtypes.int32) if static.is_fully_defined()
             else apply_op("VariableShape", input=handle))
    return [IndexedSlices(*array_ops.rows_gradient(grad, indices, shape)), None]


# ---- op wrappers ---------------------------------------------------------------------------
def var_handle_op(dtype, shape, container="", shared_name="", name=None, debug_name=""):
    return apply_op("VarHandleOp", name=name, dtype=dtype, shape=ts.as_shape(shape), container=container,
                    shared_name=shared_name, debug_name=debug_name)


def read_variable_op(resource, dtype, name=None):
    return apply_op("ReadVariableOp", name=name, resource=resource, dtype=dtype)


def assign_variable_op(resource, value, name=None, validate_shape=False):
    return apply_op("AssignVariableOp", name=name, resource=resource, value=value, validate_shape=validate_shape)


def var_is_initialized_op(resource, name=None):
    return apply_op("VarIsInitializedOp", name=name, resource=resource)


def resource_gather(resource, indices, dtype, name=None):
    return apply_op("ResourceGather", name=name, resource=resource, indices=indices, dtype=dtype)


# ---- ResourceVariable ----------------------------------------------------------------------
class ResourceVariable(variables.Variable):
    """A variable held by a resource handle (``tf.Variable(..., use_resource=True)``): reads are
    ``ReadVariableOp``s, writes ``AssignVariableOp``s, as TensorFlow builds them."""

    _is_resource = True
    _should_act_as_resource_variable = True

    def __init__(self, initial_value=None, trainable=None, collections=None, validate_shape=True,
                 caching_device=None, name=None, dtype=None, variable_def=None, import_scope=None,
                 constraint=None, shape=None, **unused):
        if variable_def is not None:
            self._init_from_proto(variable_def, import_scope)
            return
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        trainable = True if trainable is None else trainable
        collections = list(collections) if collections is not None else [GraphKeys.GLOBAL_VARIABLES]
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        init_from_fn = callable(initial_value)
        g = ops.get_default_graph()
        with g.control_dependencies(None), ops.name_scope(name, "Variable",
                                                          [] if init_from_fn else [initial_value]) as scope:
            handle_name = ops.name_from_scope_name(scope)
            with ops.name_scope("Initializer"):
                if init_from_fn:
                    initial_value = initial_value()
                self._initial_value = convert_to_tensor(initial_value, name="initial_value", dtype=dtype)
            var_shape = self._initial_value.shape if validate_shape else ts.unknown_shape()
            if shape is not None:
                var_shape = ts.as_shape(shape)
            self._dtype = self._initial_value.dtype.base_dtype
            self._handle = var_handle_op(self._dtype, var_shape, shared_name=handle_name, name=scope,
                                         debug_name=scope)
            with ops.name_scope("IsInitialized"):
                self._is_initialized_op = var_is_initialized_op(self._handle)
            with ops.name_scope("Assign") as n:
                self._initializer_op = assign_variable_op(self._handle, self._initial_value, name=n)
            with ops.name_scope("Read"):
                self._graph_element = read_variable_op(self._handle, self._dtype)
        self._finish(trainable, constraint, caching_device)
        g.add_to_collections(collections, self)

    def _finish(self, trainable, constraint=None, caching_device=None):
        self._variable = self._handle  # what VariableDef.variable_name names
        self._snapshot = self._graph_element
        self._trainable = trainable
        self._constraint = constraint
        self._caching_device = caching_device
        self._save_slice_info = getattr(self, "_save_slice_info", None)
        self._graph = self._handle.graph
        self._shape = handle_shape(self._handle)

    def _init_from_proto(self, variable_def, import_scope=None, graph=None):
        g = graph or ops.get_default_graph()

        def get(n):
            return g.as_graph_element(ops.prepend_name_scope(n, import_scope))
        self._handle = get(variable_def.variable_name)
        self._dtype = dtypes.as_dtype(self._handle.op._attrs["dtype"])
        self._initializer_op = get(variable_def.initializer_name)
        self._initial_value = get(variable_def.initial_value_name) if variable_def.initial_value_name else None
        if variable_def.snapshot_name:
            self._graph_element = get(variable_def.snapshot_name)
        else:
            with g.as_default(), ops.name_scope(self._handle.op.name + "/Read/"):
                self._graph_element = read_variable_op(self._handle, self._dtype)
        self._is_initialized_op = None
        self._save_slice_info = None
        if variable_def.HasField("save_slice_info_def"):
            from deferflow.ops.partitioned import SaveSliceInfo
            self._save_slice_info = SaveSliceInfo.from_proto(variable_def.save_slice_info_def, import_scope)
        self._finish(variable_def.trainable)

    # --- identity ---
    name = property(lambda self: self._handle.name)
    op = property(lambda self: self._handle.op)
    handle = property(lambda self: self._handle)
    dtype = property(lambda self: self._dtype)
    device = property(lambda self: self._handle.device)
    create = property(lambda self: self._initializer_op)

    @property
    def shape(self):
        return self._shape

    def get_shape(self):
        return self._shape

    def _as_graph_element(self):
        return self._graph_element

    @property
    def _graph_element_for_scope(self):
        return self._handle

    # --- reads ---
    def value(self):
        return self._read_variable_op()

    def _read_variable_op(self):
        return read_variable_op(self._handle, self._dtype)

    def read_value(self):
        with ops.name_scope("Read"):
            value = self._read_variable_op()
        return array_ops.identity(value)

    def sparse_read(self, indices, name=None):
        with ops.name_scope("Gather" if name is None else name) as n:
            return resource_gather(self._handle, indices, self._dtype, name=n)

    def is_initialized(self, name=None):
        return var_is_initialized_op(self._handle, name=name)

    def initialized_value(self):
        return self._graph_element

    def eval(self, session=None):
        return self._graph_element.eval(session=session)

    def load(self, value, session=None):
        from deferflow.client import session as session_lib
        session = session or session_lib.get_default_session()
        if session is None:
            raise ValueError("Either session argument should be provided or default session should be established")
        session.run(self._initializer_op, {self._initializer_op.inputs[1]: value})

    # --- writes: the op, then (read_value=True) a read ordered after it ---
    def _lazy_read(self, op):
        with ops.control_dependencies([op]):
            return self._read_variable_op()

    def assign(self, value, use_locking=None, name=None, read_value=True):
        value = convert_to_tensor(value, dtype=self._dtype)
        if not self._shape.is_compatible_with(value.shape):
            raise ValueError(f"Cannot assign value to variable ' {self._handle.op.name} ': Shape mismatch.The "
                             f"variable shape {self._shape}, and the assigned value shape {value.shape} are "
                             "incompatible.")
        op = assign_variable_op(self._handle, value, name=name)
        return self._lazy_read(op) if read_value else op

    def _update(self, op_type, delta, name, read_value):
        op = apply_op(op_type, name=name, resource=self._handle, value=convert_to_tensor(delta, dtype=self._dtype))
        return self._lazy_read(op) if read_value else op

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return self._update("AssignAddVariableOp", delta, name, read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return self._update("AssignSubVariableOp", delta, name, read_value)

    def count_up_to(self, limit):
        raise NotImplementedError("count_up_to is not supported on resource variables in deferflow")

    def _scatter(self, kind, indices, updates, use_locking, name):
        op = apply_op("ResourceScatter" + kind, name=name or "ResourceScatter" + kind, resource=self._handle,
                      indices=indices, updates=convert_to_tensor(updates, dtype=self._dtype))
        return self._lazy_read(op)

    def set_shape(self, shape):
        self._shape = self._shape.merge_with(shape)

    @staticmethod
    def from_proto(variable_def, import_scope=None):
        return ResourceVariable(variable_def=variable_def, import_scope=import_scope)

    def __getitem__(self, item):
        return self.value()[item]

    def __repr__(self):
        return f"<tf.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"


def _resource_conversion(v, dtype=None, name=None, as_ref=False):
    if as_ref:
        return v._handle
    if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(v._dtype):
        raise ValueError(f"Incompatible type conversion requested to type '{dtypes.as_dtype(dtype).name}' for "
                         f"variable of type '{v._dtype.name}'")
    return v.value()


def _overload(name):
    def method(self, *args):
        return getattr(self.value(), name)(*args)
    return method


for _m in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
           "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__",
           "__rmatmul__", "__neg__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__", "__and__", "__or__",
           "__invert__"):
    setattr(ResourceVariable, _m, _overload(_m))

# Checked before tf.Variable's conversion (ResourceVariable is a subclass): each use reads anew, as in TF.
ops._conversion_funcs.insert(0, (ResourceVariable, _resource_conversion))


def is_resource_variable(var):
    return isinstance(var, ResourceVariable) or getattr(var, "_should_act_as_resource_variable", False)
