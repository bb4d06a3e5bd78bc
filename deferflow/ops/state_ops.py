"""TF1 reference-variable ops: ``VariableV2``, ``Assign``, ``AssignAdd``, ``AssignSub``, ``Scatter*``."""
import numpy as np

from deferflow.framework import errors, op_registry
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op
from deferflow.ops.common import NUMERIC, lookup_error_gradient, unchanged_shape

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

# ---- Scatter*: row updates of a variable ---------------------------------------------------
SCATTER_KINDS = {  # op suffix -> (how rows combine, T's allowed types, use_locking's default)
    "Update": (None, "type", "true"),
    "Add": (np.add, NUMERIC, "false"),
    "Sub": (np.subtract, NUMERIC, "false"),
    "Mul": (np.multiply, NUMERIC, "false"),
    "Div": ("div", NUMERIC, "false"),
    "Min": (np.minimum, "{half, bfloat16, float, double, int32, int64}", "false"),
    "Max": (np.maximum, "{half, bfloat16, float, double, int32, int64}", "false"),
}


def scatter_into(ref, indices, updates, combine):
    """Rows ``indices`` of the variable behind ``ref`` combined with ``updates`` (repeated indices apply in
    turn); in place when the session state is the array's only holder, else on a copy that replaces it."""
    target = ref.exclusive()
    fresh = target is None
    if fresh:
        target = np.array(ref.get(), order="C")
    indices, updates = np.asarray(indices), np.asarray(updates)
    if target.ndim == 0:
        raise errors.InvalidArgumentError(None, None, "Parameter must be at least a vector.")
    if updates.ndim != 0 and updates.shape != indices.shape + target.shape[1:]:
        raise errors.InvalidArgumentError(
            None, None, f"Must have updates.shape = indices.shape + params.shape[1:] or updates.shape = [], got "
                        f"updates.shape {list(updates.shape)}, indices.shape {list(indices.shape)}, params.shape "
                        f"{list(target.shape)}")
    flat = indices.reshape(-1)
    bad = np.flatnonzero((flat < 0) | (flat >= target.shape[0]))
    if bad.size:
        raise errors.InvalidArgumentError(None, None, f"indices[{bad[0]}] = {flat[bad[0]]} is not in "
                                                      f"[0, {target.shape[0]})")
    updates = updates.astype(target.dtype, copy=False)
    if combine is None:
        target[indices] = updates
    elif combine == "div":
        (np.floor_divide if target.dtype.kind in "iu" else np.divide).at(target, indices, updates)
    else:
        combine.at(target, indices, updates)
    if fresh:
        ref.set(target)


def _define_scatter(kind):
    combine, types, locking = SCATTER_KINDS[kind]
    od = define("Scatter" + kind, "ref: Ref(T), indices: Tindices, updates: T", "output_ref: Ref(T)",
                [f"T: {types}", "Tindices: {int32, int64}", f"use_locking: bool = {locking}"])
    od.shape(unchanged_shape)
    if kind in ("Add", "Sub", "Mul", "Div"):
        od.no_gradient()  # TF marks these not differentiable; the others have no gradient at all
    else:
        lookup_error_gradient(od)

    @od.kernel
    def kernel(ref, indices, updates):
        scatter_into(ref, indices, updates, combine)
        return ref
    return od


for _kind in SCATTER_KINDS:
    _define_scatter(_kind)


def _scatter(kind, ref, indices, updates, use_locking, name):
    if hasattr(ref, "_scatter"):  # a Variable: its own op (ResourceScatter* for resource variables)
        return ref._scatter(kind, indices, updates, use_locking, name)
    combine, types, locking = SCATTER_KINDS[kind]
    return apply_op("Scatter" + kind, name=name or "Scatter" + kind, ref=ref, indices=indices, updates=updates,
                    use_locking=(locking == "true") if use_locking is None else bool(use_locking))


def _scatter_function(kind):
    locking = SCATTER_KINDS[kind][2] == "true"

    def fn(ref, indices, updates, use_locking=locking, name=None):
        return _scatter(kind, ref, indices, updates, use_locking, name)
    fn.__name__ = fn.__qualname__ = "scatter_" + kind.lower()
    fn.__doc__ = f"``tf.scatter_{kind.lower()}``: rows ``indices`` of ``ref`` combined with ``updates``."
    return fn


scatter_update, scatter_add, scatter_sub, scatter_mul, scatter_div, scatter_min, scatter_max = (
    _scatter_function(kind) for kind in ("Update", "Add", "Sub", "Mul", "Div", "Min", "Max"))


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
