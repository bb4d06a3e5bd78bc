"""TF1 reference-variable ops: ``VariableV2``, ``Assign``, ``AssignAdd``, ``AssignSub``."""
import numpy as np

from deferflow.framework import errors, op_registry
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op
from deferflow.ops.common import NUMERIC, unchanged_shape

define = op_registry.define

VariableV2 = define("VariableV2", "", "ref: Ref(dtype)",
                    ["shape: shape", "dtype: type", "container: string = ''", "shared_name: string = ''"],
                    stateful=True)
VariableV2.shape(lambda op: [op._attrs["shape"]])
VariableV2.no_gradient()


@VariableV2.kernel(ctx=True)
def _variable_kernel(ctx, *, dtype, shared_name):
    return ctx.state.ref(shared_name or ctx.op._name, ctx.op._name, dtype.as_numpy_dtype)


Variable = define("Variable", "", "ref: Ref(dtype)",
                  ["shape: shape", "dtype: type", "container: string = ''", "shared_name: string = ''"],
                  stateful=True)
Variable.shape(lambda op: [op._attrs["shape"]])
Variable.kernel(ctx=True)(_variable_kernel)
Variable.no_gradient()

Assign = define("Assign", "ref: Ref(T), value: T", "output_ref: Ref(T)",
                ["T: type", "validate_shape: bool = true", "use_locking: bool = true"])


@Assign.shape
def _assign_shape(op):
    ref, value = op._inputs
    if op._attrs["validate_shape"]:
        if not ref.shape.is_compatible_with(value.shape):
            raise ValueError(f"Shapes must be equal rank, but are {ref.shape.ndims} and {value.shape.ndims}"
                             if ref.shape.ndims != value.shape.ndims else
                             f"Dimension mismatch: {ref.shape} vs. {value.shape}")
        return [ref.shape.merge_with(value.shape)]
    return [value.shape]


@Assign.kernel(ctx=True)
def _assign_kernel(ctx, ref, value, *, validate_shape):
    if validate_shape:
        declared = ctx.op._inputs[0].op._attrs.get("shape")
        old = ref.store.get(ref.key)
        want = old.shape if old is not None else (tuple(declared.as_list()) if declared is not None and
                                                  declared.is_fully_defined() else None)
        if want is not None and tuple(np.shape(value)) != tuple(want):
            raise errors.InvalidArgumentError(
                None, None, f"Assign requires shapes of both tensors to match. lhs shape= {list(want)} "
                            f"rhs shape= {list(np.shape(value))}")
    ref.set(value)
    return ref


Assign.no_gradient()


def _update(name, fn):
    od = define(name, "ref: Ref(T), value: T", "output_ref: Ref(T)", [f"T: {NUMERIC}", "use_locking: bool = false"])
    od.shape(unchanged_shape)

    @od.kernel
    def kernel(ref, value):
        old = ref.get()
        if np.shape(value) != old.shape and np.broadcast_shapes(np.shape(value), old.shape) != old.shape:
            raise errors.InvalidArgumentError(None, None, f"{name} requires shapes of both tensors to match. "
                                              f"lhs shape= {list(old.shape)} rhs shape= {list(np.shape(value))}")
        ref.set(fn(old, value))
        return ref
    od.no_gradient()
    return od


AssignAdd = _update("AssignAdd", np.add)
AssignSub = _update("AssignSub", np.subtract)

IsVariableInitialized = define("IsVariableInitialized", "ref: Ref(dtype)", "is_initialized: bool", ["dtype: type"])
IsVariableInitialized.shape(lambda op: [ts.TensorShape([])])
IsVariableInitialized.kernel(lambda ref: np.array(ref.is_initialized()))
IsVariableInitialized.no_gradient()


def variable_op_v2(shape, dtype, name="Variable", container="", shared_name=""):
    return apply_op("VariableV2", name=name, shape=ts.as_shape(shape), dtype=dtype, container=container,
                    shared_name=shared_name)


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    """``tf.assign``: for a ``tf.Variable`` this is ``ref.assign(value)``."""
    if hasattr(ref, "_variable"):
        return ref.assign(value, use_locking=use_locking, name=name)
    return apply_op("Assign", name=name or "Assign", ref=ref, value=value,
                    validate_shape=True if validate_shape is None else validate_shape,
                    use_locking=True if use_locking is None else use_locking)


def assign_add(ref, value, use_locking=None, name=None):
    if hasattr(ref, "_variable"):
        return ref.assign_add(value, use_locking=use_locking, name=name)
    return apply_op("AssignAdd", name=name or "AssignAdd", ref=ref, value=value, use_locking=bool(use_locking))


def assign_sub(ref, value, use_locking=None, name=None):
    if hasattr(ref, "_variable"):
        return ref.assign_sub(value, use_locking=use_locking, name=name)
    return apply_op("AssignSub", name=name or "AssignSub", ref=ref, value=value, use_locking=bool(use_locking))


def is_variable_initialized(variable):
    return apply_op("IsVariableInitialized", ref=getattr(variable, "_variable", variable))
