"""``tf.gradients``: a reverse walk over the graph calling each op type's registered gradient.

Gradient ops go under TF's names (``gradients/<op>_grad/...``). Inputs of broadcasting ops get their
gradients summed back to their own shapes here, once, not in every op's gradient function.
"""
import enum

import numpy as np

from deferflow.framework import dtypes, op_registry, ops
from deferflow.framework.indexed_slices import IndexedSlices, is_indexed_slices
from deferflow.framework.ops import Tensor, convert_to_tensor


class UnconnectedGradients(enum.Enum):
    """What ``tf.gradients`` returns for an x that no y depends on."""
    NONE = "none"
    ZERO = "zero"


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _is_trainable(t):
    """Gradients flow only through float, complex, resource and variant tensors (TF's IsTrainable)."""
    dt = t.dtype.base_dtype
    return dt.is_floating or dt.is_complex or dt in (dtypes.resource, dtypes.variant)


def _reachable_forward(xs_ops):
    """Ops reachable from the xs' ops through trainable tensors."""
    seen = set()
    stack = list(xs_ops)
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        for t in op._outputs:
            if _is_trainable(t):
                stack.extend(c for c in t._consumers if c not in seen)
    return seen


def _between(ys, xs):
    """Ops on a path from some x to some y (data edges only)."""
    fwd = _reachable_forward({x.op for x in xs})
    between = set()
    stack = [y.op for y in ys if y.op in fwd]
    while stack:
        op = stack.pop()
        if op in between:
            continue
        between.add(op)
        stack.extend(t.op for t in op._inputs if t.op in fwd and t.op not in between)
    return between


def reduce_to_shape(grad, like):
    """Sums ``grad`` (broadcast result shaped) back to the shape of tensor ``like``."""
    from deferflow.ops import array_ops, math_ops
    gs, xs = grad.shape, like.shape
    if gs.is_fully_defined() and xs.is_fully_defined():
        g, x = gs.as_list(), xs.as_list()
        if g == x:
            return grad
        lead = len(g) - len(x)
        axes = list(range(lead)) + [lead + i for i, d in enumerate(x) if d == 1 and g[lead + i] != 1]
        out = math_ops.reduce_sum(grad, axes, keepdims=False) if axes else grad
        return array_ops.reshape(out, x)
    sx = array_ops.shape(like)
    rx, _ = ops.apply_op("BroadcastGradientArgs", s0=sx, s1=array_ops.shape(grad))
    return array_ops.reshape(math_ops.reduce_sum(grad, rx), sx)


def _reduction_axes(xs, ys):
    """Static axes along which x and y were broadcast, or (None, None) where that is unknown (TF's inference)."""
    if xs.ndims is None or ys.ndims is None:
        return None, None
    n = max(xs.ndims, ys.ndims)
    xd = [1] * (n - xs.ndims) + xs.as_list()
    yd = [1] * (n - ys.ndims) + ys.as_list()
    x_axes, y_axes = [], []
    for axis, (a, b) in enumerate(zip(xd, yd)):
        if a == 1 and b != 1:
            x_axes.append(axis)
        elif b == 1 and a != 1:
            y_axes.append(axis)
        elif a is None or b is None:
            return None, None
    return x_axes, y_axes


def _reduce_binary(op, grad, gx, gy):
    """Sums the gradients of a broadcasting binary op back to its inputs' shapes, with TF's ops and names."""
    from deferflow.ops import array_ops, math_ops
    x, y = op._inputs
    if gx is None and gy is None:
        return [gx, gy]
    if op.type in ("Add", "AddV2", "Sub") or op.type == "Mul" and grad.dtype.base_dtype in (dtypes.float32,
                                                                                            dtypes.int32):
        if x.shape.is_fully_defined() and x.shape == y.shape == grad.shape:
            return [gx, gy]  # TF's fast path: nothing to reduce, no shape ops
    sx, sy = array_ops.shape(x), array_ops.shape(y)
    x_axes, y_axes = _reduction_axes(x.shape, y.shape)
    if x_axes is None:
        x_axes, y_axes = ops.apply_op("BroadcastGradientArgs", s0=sx, s1=sy)
        must = (True, True)
    else:
        must = (bool(x_axes) or x.shape.ndims < y.shape.ndims, bool(y_axes) or y.shape.ndims < x.shape.ndims)
    out = []
    for gr, s, axes, m in ((gx, sx, x_axes, must[0]), (gy, sy, y_axes, must[1])):
        if gr is not None and m:
            gr = array_ops.reshape(math_ops.reduce_sum(gr, axes, keepdims=True), s)
        out.append(gr)
    return out


def _aggregate(grads):
    """The sum of several gradient contributions, as TF sums them: ``AddN`` when any is a Tensor (IndexedSlices
    converted), and an IndexedSlices of the concatenated rows when all are IndexedSlices."""
    grads = [g for g in grads if g is not None]
    if not grads:
        return None
    if len(grads) == 1:
        return grads[0]
    if all(is_indexed_slices(g) for g in grads):
        from deferflow.ops import array_ops
        return IndexedSlices(array_ops.concat([g.values for g in grads], 0),
                             array_ops.concat([g.indices for g in grads], 0), grads[0].dense_shape)
    return ops.apply_op("AddN", inputs=[convert_to_tensor(g) for g in grads])


def _aggregated(acc, t):
    """The summed gradient of ``t`` (summed once, then reused)."""
    if t not in acc:
        return None
    g = _aggregate(acc[t])
    acc[t] = [g]
    return g


def _check_unconnected(mode):
    if isinstance(mode, UnconnectedGradients):
        return mode
    try:
        return UnconnectedGradients(mode)
    except ValueError:
        raise ValueError(f"Unknown value for unconnected_gradients: {mode!r}") from None


def _default_grad_ys(ys, grad_ys):
    from deferflow.ops import array_ops
    out = []
    for i, (y, gy) in enumerate(zip(ys, grad_ys)):
        if gy is None:
            if y.dtype.base_dtype.is_complex:
                raise TypeError(f"Gradients of complex tensors ({y}) must set grad_ys (y.dtype = "
                                f"{y.dtype.base_dtype!r})")
            s = array_ops.shape(y)
            with ops.name_scope(f"grad_ys_{i}") as scope:  # TF's ones(shape, name=grad_ys_i)
                out.append(array_ops.fill(s, array_ops.constant(1, dtype=y.dtype.base_dtype), name=scope))
            continue
        gy = convert_to_tensor(gy, dtype=y.dtype.base_dtype if not isinstance(gy, Tensor) else None)
        yd, gd = y.dtype.base_dtype, gy.dtype.base_dtype
        if yd.is_floating or yd.is_integer:
            if not (gd.is_floating or gd.is_integer):
                raise TypeError(f"Gradient type {gd.name} generated for real or integer-valued tensor {y} with "
                                f"type {yd.name} must be real or integer")
        elif yd.is_complex:
            if not gd.is_complex:
                raise TypeError(f"Gradient type {gd.name} generated for complex-valued tensor {y} with type "
                                f"{yd.name} must be real")
        elif yd == dtypes.variant:
            if gd != dtypes.variant:
                raise TypeError(f"Gradient type {gd.name} generated for variant tensor {y} with type {yd.name} "
                                "must be variant")
        elif yd != dtypes.resource:
            raise TypeError(f"Tensor {y} with type {yd.name} must be numeric to obtain a default gradient")
        out.append(array_ops.identity(gy, name=f"grad_ys_{i}"))
    return out


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False, gate_gradients=False,
              aggregation_method=None, stop_gradients=None, unconnected_gradients=UnconnectedGradients.NONE):
    """Symbolic derivatives of ``sum(ys)`` with respect to each of ``xs``, built into the graph as TF does.

    Returns one entry per x: a Tensor, or None where no y depends on it (zeros with
    ``unconnected_gradients='zero'``). Differentiating through an op type without a gradient raises
    LookupError naming the op type. ``colocate_gradients_with_ops``, ``gate_gradients`` and
    ``aggregation_method`` are accepted for compatibility.
    """
    mode = _check_unconnected(unconnected_gradients)
    ys = [y if isinstance(y, Tensor) else convert_to_tensor(y) for y in _as_list(ys)]
    xs = [x if isinstance(x, Tensor) else convert_to_tensor(x, as_ref=True) for x in _as_list(xs)]
    grad_ys = [None] * len(ys) if grad_ys is None else _as_list(grad_ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"Length mismatch. Passed {len(grad_ys)} grad_ys for {len(ys)} ys")
    stop_ops = {convert_to_tensor(s).op for s in _as_list(stop_gradients or [])}
    g = ys[0].graph
    for t in xs + ys:
        if t.graph is not g:
            raise ValueError(f"Tensor {t.name} is not an element of this graph.")
    with g.as_default(), ops.name_scope(name or "gradients"):
        grad_ys = _default_grad_ys(ys, grad_ys)
        between = _between(ys, xs)
        from deferflow.ops import control_flow_grad
        if control_flow_grad.needs_control_flow(between):  # cond/while_loop: TF's loop-aware walk
            return control_flow_grad.gradients(ys, xs, grad_ys, stop_ops, mode)
        acc = {}  # tensor -> list of gradient contributions
        for y, gy in zip(ys, grad_ys):
            acc.setdefault(y, []).append(gy)
        x_set = set(xs)
        for op in sorted(between, key=lambda o: o._id, reverse=True):
            if op in stop_ops:
                continue
            out_grads = [_aggregated(acc, t) for t in op._outputs]
            if all(og is None for og in out_grads):
                continue
            if not any(t.op in between for t in op._inputs):
                continue  # a source (e.g. the x itself): nothing below it to differentiate
            fn = ops.get_gradient_function(op)  # LookupError for op types without a gradient
            if fn is None:
                continue
            with ops.name_scope(op.name + "_grad"):
                filled = [og if og is not None or not _is_trainable(t) else _zeros_for_grad(t)
                          for og, t in zip(out_grads, op._outputs)]
                in_grads = _as_list(fn(op, *filled))
                if len(in_grads) != len(op._inputs):
                    raise ValueError(f"Num gradients {len(in_grads)} generated for op {op.type} "
                                     f"'{op.name}' do not match num inputs {len(op._inputs)}")

                od = op_registry.get(op.type)
                if od is not None and od.broadcasting == "binary":
                    in_grads = _reduce_binary(op, filled[0], *in_grads)
                elif od is not None and od.broadcasting:
                    in_grads = [None if gr is None or not isinstance(gr, Tensor) else reduce_to_shape(gr, x)
                                for gr, x in zip(in_grads, op._inputs)]
                if gate_gradients and sum(g is not None for g in in_grads) > 1:
                    in_grads = _gated(in_grads)
            for i, (x, gr) in enumerate(zip(op._inputs, in_grads)):
                if gr is None or not _is_trainable(x):
                    continue
                if isinstance(gr, Tensor) and x.dtype.base_dtype != dtypes.resource:
                    try:
                        gr.set_shape(x.shape)
                    except ValueError:
                        raise ValueError(
                            "Incompatible shapes between op input and calculated input gradient. Forward operation: "
                            f"{op.name}. Input index: {i}. Original input shape: {x.shape}. Calculated input "
                            f"gradient shape: {gr.shape}") from None
                if x.op in between or x in x_set:
                    acc.setdefault(x, []).append(gr)
        result = []
        for x in xs:
            contrib = acc.get(x)
            if contrib:
                result.append(_aggregated(acc, x))
            elif mode is UnconnectedGradients.ZERO:
                from deferflow.ops import array_ops
                result.append(array_ops.zeros_like(x))
            else:
                result.append(None)
    return result


def _gated(grads):
    """TF's gate_gradients: ``tuple(grads)``, each gradient released once all of them are computed. The
    gate's ``group_deps`` is marked so the executor treats its control inputs as ordering only: a gradient
    nothing reads (say, of a placeholder input) is not computed just to pass the gate."""
    from deferflow.ops import control_flow_ops
    gated = control_flow_ops.tuple(grads)
    gate = next(g for g in gated if g is not None).op._control_inputs[0]
    gate._extra = dict(gate._extra or {}, soft_control_inputs=True)
    return gated


def _zeros_for_grad(t):
    from deferflow.ops import array_ops
    return array_ops.zeros_like(t)


def hessians(ys, xs, name="hessians", colocate_gradients_with_ops=False, gate_gradients=False,
             aggregation_method=None):
    """``tf.hessians``: for each x, the Hessian of ``sum(ys)``, shaped ``x.shape + x.shape`` (x of known size)."""
    from deferflow.ops import array_ops
    xs = _as_list(xs)
    out = []
    for x, gx in zip(xs, gradients(ys, xs, name=name)):
        if gx is None:
            out.append(None)
            continue
        n = x.shape.num_elements()
        if n is None:
            raise NotImplementedError(f"tf.hessians needs {x.name} to have a fully defined shape in deferflow")
        flat = array_ops.reshape(gx, [-1])
        rows = []
        for i in range(n):
            r = gradients(flat[i], x, name=name)[0]
            rows.append(array_ops.zeros_like(x) if r is None else r)
        s = x.shape.as_list()
        out.append(array_ops.reshape(array_ops.stack(rows), np.array(s + s, dtype=np.int32)))
    return out
