"""``tf.gradients``: a reverse walk over the graph calling each op type's registered gradient.

Gradient ops go under TF's names (``gradients/<op>_grad/...``). Inputs of broadcasting ops get their
gradients summed back to their own shapes here, once, not in every op's gradient function.
"""
import numpy as np

from deferflow.framework import dtypes, op_registry, ops
from deferflow.framework.ops import Tensor, convert_to_tensor


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _reachable_forward(xs_ops, stop_ops):
    seen = set()
    stack = list(xs_ops)
    while stack:
        op = stack.pop()
        if op in seen or op in stop_ops:
            continue
        seen.add(op)
        for t in op._outputs:
            stack.extend(c for c in t._consumers if c not in seen)
    return seen


def _between(ys, xs, stop_ops):
    """Ops on a path from some x to some y (data edges only)."""
    fwd = _reachable_forward({x.op for x in xs}, stop_ops)
    between = set()
    stack = [y.op for y in ys if y.op in fwd]
    while stack:
        op = stack.pop()
        if op in between:
            continue
        between.add(op)
        for t in op._inputs:
            if t.op in fwd and t.op not in between:
                stack.append(t.op)
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


def _aggregate(grads, name):
    grads = [g for g in grads if g is not None]
    if not grads:
        return None
    if len(grads) == 1:
        return grads[0]
    if any(getattr(g, "_is_indexed_slices", False) for g in grads):
        grads = [g._dense() if getattr(g, "_is_indexed_slices", False) else g for g in grads]
    return ops.apply_op("AddN", name=name, inputs=grads)


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False, gate_gradients=False,
              aggregation_method=None, stop_gradients=None, unconnected_gradients="none"):
    """Symbolic derivatives of ``sum(ys)`` with respect to each of ``xs``."""
    ys = [convert_to_tensor(y) if not isinstance(y, Tensor) else y for y in _as_list(ys)]
    xs_in = _as_list(xs)
    xs = [ops.convert_to_tensor(x, as_ref=True) if not isinstance(x, Tensor) else x for x in xs_in]
    grad_ys = [None] * len(ys) if grad_ys is None else _as_list(grad_ys)
    stop_ops = {ops.convert_to_tensor(s).op for s in _as_list(stop_gradients or [])}
    g = ys[0].graph
    for x in xs:
        if x.graph is not g:
            raise ValueError(f"Tensor {x.name} is not an element of this graph.")
    with g.as_default(), ops.name_scope(name or "gradients"):
        between = _between(ys, xs, stop_ops)
        acc = {}  # tensor -> list of gradient contributions
        for i, (y, gy) in enumerate(zip(ys, grad_ys)):
            if gy is None:
                if not (y.dtype.is_floating or y.dtype.is_complex):
                    raise TypeError(f"Gradients of {y.dtype.base_dtype.name} values are not supported: {y.name}")
                with ops.name_scope(f"grad_ys_{i}"):
                    gy = _ones_like_for_grad(y)
            else:
                gy = convert_to_tensor(gy, dtype=y.dtype.base_dtype)
                if y.shape.is_fully_defined() and gy.shape.is_fully_defined() and y.shape != gy.shape:
                    raise ValueError(f"Incompatible shapes between op input and calculated input gradient. "
                                     f"Forward operation: {y.op.name}. Input index: 0. Original input shape: "
                                     f"{y.shape}. Calculated input gradient shape: {gy.shape}")
            acc.setdefault(y, []).append(gy)
        x_set = set(xs)
        for op in sorted(between, key=lambda o: o._id, reverse=True):
            if op in stop_ops:
                continue
            out_grads = []
            for t in op._outputs:
                out_grads.append(_aggregate(acc.get(t, []), None) if t in acc else None)
            if all(og is None for og in out_grads):
                continue
            if op.type == "StopGradient" and all(t not in x_set for t in op._outputs):
                continue
            if not any(t.op in between or t in x_set for t in op._inputs):
                continue  # nothing below this op leads to an x
            fn = ops.get_gradient_function(op)
            if fn is None:
                continue
            with ops.name_scope(op.name + "_grad"):
                filled = [og if og is not None else _zeros_for_grad(t) for og, t in zip(out_grads, op._outputs)]
                in_grads = _as_list(fn(op, *filled))
                if len(in_grads) != len(op._inputs):
                    raise ValueError(f"Num gradients {len(in_grads)} generated for op {op.type} "
                                     f"'{op.name}' do not match num inputs {len(op._inputs)}")
                od = op_registry.get(op.type)
                if od is not None and od.broadcasting:
                    in_grads = [None if gr is None else reduce_to_shape(gr, x) for gr, x in zip(in_grads, op._inputs)]
            for x, gr in zip(op._inputs, in_grads):
                if gr is None:
                    continue
                if not (x.dtype.base_dtype.is_floating or x.dtype.base_dtype.is_complex or
                        x.dtype.base_dtype == dtypes.resource or x.dtype.base_dtype == dtypes.variant):
                    continue
                if x.op in between or x in x_set:
                    acc.setdefault(x, []).append(gr)
        result = []
        for x in xs:
            contrib = acc.get(x)
            if not contrib:
                result.append(_unconnected(x, unconnected_gradients))
            else:
                result.append(_aggregate(contrib, None))
        return result


def _unconnected(x, mode):
    if mode in ("zero", getattr(UnconnectedGradients, "ZERO", "zero")):
        from deferflow.ops import array_ops
        return array_ops.zeros_like(x)
    return None


class UnconnectedGradients:
    NONE = "none"
    ZERO = "zero"


def _ones_like_for_grad(y):
    from deferflow.ops import array_ops
    if y.shape.is_fully_defined():
        s = array_ops.constant(np.array(y.shape.as_list(), dtype=np.int32), name="Shape")
    else:
        s = array_ops.shape(y)
    return array_ops.fill(s, array_ops.constant(1, dtype=y.dtype.base_dtype, name="Const"))


def _zeros_for_grad(t):
    from deferflow.ops import array_ops
    return array_ops.zeros_like(t)


def hessians(ys, xs, name="hessians", colocate_gradients_with_ops=False, gate_gradients=False,
             aggregation_method=None):
    """Hessians of ``sum(ys)`` for each x (flattened, as TF's ``tf.hessians``)."""
    from deferflow.ops import array_ops
    xs = _as_list(xs)
    out = []
    with ops.name_scope(name):
        for x, gx in zip(xs, gradients(ys, xs)):
            n = x.shape.num_elements()
            flat = array_ops.reshape(gx, [-1])
            rows = [gradients(flat[i], x)[0] for i in range(n)]
            out.append(array_ops.reshape(array_ops.stack(rows), x.shape.as_list() + x.shape.as_list()))
    return out
