"""TF's ``Apply*`` optimizer update ops. Each takes the variable and its slots as ref inputs and updates
their values in place when the session state is their only holder (``Ref.exclusive``), as TensorFlow's
kernels update the variables' buffers; otherwise (first update after an ``assign`` of a caller's array, a
memory-mapped restore, a value some other op of the step still holds) the update goes to fresh copies that
then replace the values.

The arithmetic follows TF's CPU functors term by term, in the variable's dtype, so float32 results track
TensorFlow's. Updates run in cache-sized chunks with small scratch buffers.
"""
import inspect

import numpy as np

from deferflow.framework import errors, op_registry
from deferflow.ops.common import lookup_error_gradient, unchanged_shape

define = op_registry.define
_T = ("T: {float, double, int32, uint8, int16, int8, complex64, int64, qint8, quint8, qint32, bfloat16, qint16, "
      "quint16, uint16, complex128, half, uint32, uint64}")

_CHUNK = 1 << 15  # elements per chunk: the chunk's float32 operands and temporaries stay in L2


def _check(var, grad, *slots):
    for what, a in (("grad", grad),) + slots:
        if a is not None and a.shape != var.shape:
            raise errors.InvalidArgumentError(None, None, f"var and {what} do not have the same shape"
                                              f"{list(var.shape)} {list(a.shape)}")


class _SparseGrad:
    """The gradient rows of a ``SparseApply*`` op: ``values[i]`` belongs to row ``indices[i]``."""

    __slots__ = ("values", "indices")

    def __init__(self, values, indices):
        self.values, self.indices = values, indices


def _run(states, g, fn, n_tmp):
    flat = [a.reshape(-1) for a in states]
    g = np.ascontiguousarray(g, dtype=states[0].dtype).reshape(-1)
    n = flat[0].size
    step = max(1, min(n, _CHUNK))
    tmps = [np.empty(step, states[0].dtype) for _ in range(n_tmp)]
    for a in range(0, n, step):
        b = min(a + step, n)
        fn(*(f[a:b] for f in flat), g[a:b], *(t[:b - a] for t in tmps))


def _sparse_rounds(indices):
    """Positions of ``indices`` grouped so no group repeats a row, in order: the k-th group holds every row's
    k-th occurrence (TF applies repeated rows one after another)."""
    if np.unique(indices).size == indices.size:
        return [np.arange(indices.size)]
    order = np.argsort(indices, kind="stable")
    sorted_idx = indices[order]
    starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
    rank = np.arange(indices.size) - np.repeat(starts, np.diff(np.r_[starts, indices.size]))
    occurrence = np.empty_like(rank)
    occurrence[order] = rank
    return [np.flatnonzero(occurrence == k) for k in range(int(occurrence.max()) + 1)]


def _apply_sparse(states, grad, fn, n_tmp):
    var = states[0]
    values, indices = np.asarray(grad.values), np.asarray(grad.indices)
    if indices.ndim != 1:
        raise errors.InvalidArgumentError(None, None, "indices must be one-dimensional")
    if var.ndim < 1:
        raise errors.InvalidArgumentError(None, None, "var must be at least 1 dimensional")
    if values.ndim != var.ndim or values.shape[1:] != var.shape[1:]:
        d = next((i for i in range(1, var.ndim) if values.ndim <= i or values.shape[i] != var.shape[i]), 1)
        raise errors.InvalidArgumentError(None, None, f"var and grad must match in dimension {d}")
    if values.shape[0] != indices.shape[0]:
        raise errors.InvalidArgumentError(None, None, "grad must be the same size as indices in the first dimension.")
    bad = np.flatnonzero((indices < 0) | (indices >= var.shape[0]))
    if bad.size:
        raise errors.InvalidArgumentError(None, None, f"Index {indices[bad[0]]} at offset {bad[0]} in indices is "
                                                      "out of range")
    for positions in _sparse_rounds(indices):
        rows = indices[positions]
        picked = [a[rows] for a in states]
        _run(picked, values[positions], fn, n_tmp)
        for a, p in zip(states, picked):
            a[rows] = p


def _update(refs, slot_names, grad, fn, n_tmp=1):
    """Runs ``fn(*state_chunks, grad_chunk, *tmp_chunks)`` over flat chunks; ``fn`` updates the state
    chunks (variable first, then its slots) in place. A ``_SparseGrad`` updates only its rows (the
    ``SparseApply*`` ops). Returns the variable's ref."""
    states, fresh = [], []
    for ref in refs:
        array = ref.exclusive()
        if array is None:
            array = np.array(ref.get(), order="C")  # a private copy to update, then publish
            fresh.append((ref, array))
        states.append(array)
    var = states[0]
    _check(var, None, *zip(slot_names, states[1:]))
    if type(grad) is _SparseGrad:
        _apply_sparse(states, grad, fn, n_tmp)
    else:
        grad = np.asarray(grad)
        _check(var, grad)
        _run(states, grad, fn, n_tmp)
    for ref, array in fresh:
        ref.set(array)
    return refs[0]


def _scalar(x, dtype, name):
    x = np.asarray(x)
    if x.ndim != 0:
        raise errors.InvalidArgumentError(None, None, f"{name} is not a scalar: {list(x.shape)}")
    return x.astype(dtype)[()]


def _resource_ref(ctx, handle, dtype):
    """A ``Ref`` on a resource variable's slot in the session state (after TF's lookup checks)."""
    from deferflow.ops.resource_variable_ops import _lookup
    _lookup(ctx, handle, dtype)
    return ctx.state.resource_ref(handle.key, handle.name, dtype.as_numpy_dtype)


def _define_apply(name, inputs, attrs=(), sparse=False):
    """Defines TF's ``Apply<name>`` (ref variables: ``Ref(T)`` inputs, the variable's ref as output) and
    ``ResourceApply<name>`` (resource handles, no outputs) from one signature, where ``~`` marks the
    variable and its slots; with ``sparse``, also ``SparseApply<name>``/``ResourceSparseApply<name>``, which
    take ``indices`` after ``grad`` and update those rows only. Returns a decorator registering one kernel,
    written against refs, for all of them."""
    attrs = [_T, "use_locking: bool = false", *attrs]
    n_state = inputs.count("~")
    variants = [("Apply", False, False), ("ResourceApply", True, False)]
    if sparse:
        variants += [("SparseApply", False, True), ("ResourceSparseApply", True, True)]
    names = [part.split(":")[0].strip() for part in inputs.split(",")]
    grad_at = names.index("grad") if sparse else None
    defs = []
    for prefix, resource, is_sparse in variants:
        sig = inputs.replace("grad: T", "grad: T, indices: Tindices") if is_sparse else inputs
        extra = ["Tindices: {int32, int64}"] if is_sparse else []
        if resource:
            od = define(prefix + name, sig.replace("~", "resource"), "", attrs + extra, stateful=True)
            od.shape(lambda op: [])
        else:
            od = define(prefix + name, sig.replace("~", "Ref(T)"), "out: Ref(T)", attrs + extra)
            od.shape(unchanged_shape)
        lookup_error_gradient(od)  # TF registers no gradient for update ops
        defs.append((od, resource, is_sparse))

    def register(kernel):
        attr_names = tuple(p.name for p in inspect.signature(kernel).parameters.values() if p.kind == p.KEYWORD_ONLY)
        for od, resource, is_sparse in defs:
            od.kernel(_variant_kernel(kernel, resource, is_sparse, n_state, grad_at), ctx=resource)
            od.kernel_attrs = attr_names
        return kernel
    return register


def _variant_kernel(kernel, resource, is_sparse, n_state, grad_at):
    """``kernel`` adapted to one op variant: resource handles become refs, grad + indices a _SparseGrad."""
    if not resource and not is_sparse:
        return kernel

    def run(*args, **attrs):
        if resource:
            ctx, args = args[0], args[1:]
            dtype = ctx.op._attrs["T"]
            args = tuple(_resource_ref(ctx, h, dtype) for h in args[:n_state]) + args[n_state:]
        if is_sparse:
            args = args[:grad_at] + (_SparseGrad(args[grad_at], args[grad_at + 1]),) + args[grad_at + 2:]
        out = kernel(*args, **attrs)
        return None if resource else out
    return run


# ---- ApplyGradientDescent ------------------------------------------------------------------
_gradientdescent_kernel = _define_apply("GradientDescent", "var: ~, alpha: T, delta: T")


@_gradientdescent_kernel
def _apply_gradient_descent(var_ref, alpha, delta):
    a = _scalar(alpha, np.dtype(var_ref.dtype), "alpha")

    def fn(w, d, t):  # var -= delta * alpha
        np.multiply(d, a, out=t)
        w -= t
    return _update([var_ref], [], delta, fn)


# ---- ApplyMomentum -------------------------------------------------------------------------
_momentum_kernel = _define_apply("Momentum", "var: ~, accum: ~, lr: T, grad: T, momentum: T",
                                 ["use_nesterov: bool = false"], sparse=True)


@_momentum_kernel
def _apply_momentum(var_ref, accum_ref, lr, grad, momentum, *, use_nesterov):
    dt = np.dtype(var_ref.dtype)
    lr_, mom = _scalar(lr, dt, "lr"), _scalar(momentum, dt, "momentum")

    def fn(w, acc, g, t, t2):
        acc *= mom  # accum = accum * momentum + grad
        acc += g
        if use_nesterov:  # var -= grad * lr + accum * momentum * lr
            np.multiply(acc, mom, out=t)
            t *= lr_
            np.multiply(g, lr_, out=t2)
            t += t2
        else:  # var -= accum * lr
            np.multiply(acc, lr_, out=t)
        w -= t
    return _update([var_ref, accum_ref], ["accum"], grad, fn, 2)


# ---- ApplyAdam -----------------------------------------------------------------------------
_adam_kernel = _define_apply("Adam", "var: ~, m: ~, v: ~, beta1_power: T, beta2_power: T, lr: T, "
                             "beta1: T, beta2: T, epsilon: T, grad: T", ["use_nesterov: bool = false"])


@_adam_kernel
def _apply_adam(var_ref, m_ref, v_ref, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad, *,
                use_nesterov):
    dt = np.dtype(var_ref.dtype)
    b1p, b2p, lr_, b1, b2, eps = (_scalar(x, dt, n) for x, n in (
        (beta1_power, "beta1_power"), (beta2_power, "beta2_power"), (lr, "lr"), (beta1, "beta1"),
        (beta2, "beta2"), (epsilon, "epsilon")))
    one = dt.type(1)
    alpha = lr_ * np.sqrt(one - b2p) / (one - b1p)
    c1, c2 = one - b1, one - b2

    def fn(w, m, v, g, t, t2):
        np.subtract(g, m, out=t)  # m += (g - m) * (1 - beta1)
        t *= c1
        m += t
        np.multiply(g, g, out=t)  # v += (g^2 - v) * (1 - beta2)
        t -= v
        t *= c2
        v += t
        if use_nesterov:  # var -= ((g * (1 - beta1) + beta1 * m) * alpha) / (sqrt(v) + eps)
            np.multiply(m, b1, out=t)
            np.multiply(g, c1, out=t2)
            t += t2
            t *= alpha
        else:  # var -= (m * alpha) / (sqrt(v) + eps)
            np.multiply(m, alpha, out=t)
        np.sqrt(v, out=t2)
        t2 += eps
        t /= t2
        w -= t
    return _update([var_ref, m_ref, v_ref], ["m", "v"], grad, fn, 2)


# ---- ApplyAdagrad --------------------------------------------------------------------------
_adagrad_kernel = _define_apply("Adagrad", "var: ~, accum: ~, lr: T, grad: T", ["update_slots: bool = true"],
                                sparse=True)


@_adagrad_kernel
def _apply_adagrad(var_ref, accum_ref, lr, grad, *, update_slots):
    lr_ = _scalar(lr, np.dtype(var_ref.dtype), "lr")

    def fn(w, acc, g, t):
        if update_slots:  # accum += g^2
            np.multiply(g, g, out=t)
            acc += t
        np.sqrt(acc, out=t)  # var -= lr * g * rsqrt(accum)
        np.divide(g, t, out=t)
        t *= lr_
        w -= t
    return _update([var_ref, accum_ref], ["accum"], grad, fn)


# ---- ApplyRMSProp / ApplyCenteredRMSProp ---------------------------------------------------
_rmsprop_kernel = _define_apply("RMSProp", "var: ~, ms: ~, mom: ~, lr: T, rho: T, momentum: T, "
                                "epsilon: T, grad: T", sparse=True)


@_rmsprop_kernel
def _apply_rms_prop(var_ref, ms_ref, mom_ref, lr, rho, momentum, epsilon, grad):
    dt = np.dtype(var_ref.dtype)
    lr_, rho_, mo, eps = (_scalar(x, dt, n) for x, n in ((lr, "lr"), (rho, "rho"), (momentum, "momentum"),
                                                          (epsilon, "epsilon")))
    c = dt.type(1) - rho_

    def fn(w, ms, mom, g, t, t2):
        np.multiply(g, g, out=t)  # ms += (g^2 - ms) * (1 - rho)
        t -= ms
        t *= c
        ms += t
        np.add(ms, eps, out=t)  # mom = mom * momentum + (g * lr) / sqrt(ms + eps)
        np.sqrt(t, out=t)
        np.multiply(g, lr_, out=t2)
        t2 /= t
        mom *= mo
        mom += t2
        w -= mom
    return _update([var_ref, ms_ref, mom_ref], ["ms", "mom"], grad, fn, 2)


_centeredrmsprop_kernel = _define_apply("CenteredRMSProp", "var: ~, mg: ~, ms: ~, mom: ~, lr: T, "
                                        "rho: T, momentum: T, epsilon: T, grad: T", sparse=True)


@_centeredrmsprop_kernel
def _apply_centered_rms_prop(var_ref, mg_ref, ms_ref, mom_ref, lr, rho, momentum, epsilon, grad):
    dt = np.dtype(var_ref.dtype)
    lr_, rho_, mo, eps = (_scalar(x, dt, n) for x, n in ((lr, "lr"), (rho, "rho"), (momentum, "momentum"),
                                                          (epsilon, "epsilon")))
    c = dt.type(1) - rho_

    def fn(w, mg, ms, mom, g, t, t2):
        np.multiply(g, g, out=t)  # ms += (g^2 - ms) * (1 - rho)
        t -= ms
        t *= c
        ms += t
        np.subtract(g, mg, out=t)  # mg += (g - mg) * (1 - rho)
        t *= c
        mg += t
        np.multiply(mg, mg, out=t)  # denom = (ms - mg^2) + eps
        np.subtract(ms, t, out=t)
        t += eps
        np.sqrt(t, out=t)
        np.multiply(g, lr_, out=t2)  # mom = mom * momentum + (g * lr) / sqrt(denom)
        t2 /= t
        mom *= mo
        mom += t2
        w -= mom
    return _update([var_ref, mg_ref, ms_ref, mom_ref], ["mg", "ms", "mom"], grad, fn, 2)


# ---- ApplyAdadelta -------------------------------------------------------------------------
_adadelta_kernel = _define_apply("Adadelta", "var: ~, accum: ~, accum_update: ~, lr: T, rho: T, "
                                 "epsilon: T, grad: T", sparse=True)


@_adadelta_kernel
def _apply_adadelta(var_ref, accum_ref, accum_update_ref, lr, rho, epsilon, grad):
    dt = np.dtype(var_ref.dtype)
    lr_, rho_, eps = (_scalar(x, dt, n) for x, n in ((lr, "lr"), (rho, "rho"), (epsilon, "epsilon")))
    c = dt.type(1) - rho_

    def fn(w, acc, upd, g, t, t2):
        np.multiply(g, g, out=t)  # accum = accum * rho + g^2 * (1 - rho)
        t *= c
        acc *= rho_
        acc += t
        np.add(upd, eps, out=t)  # update = sqrt(accum_update + eps) * rsqrt(accum + eps) * g
        np.sqrt(t, out=t)
        np.add(acc, eps, out=t2)
        np.sqrt(t2, out=t2)
        t /= t2
        t *= g
        np.multiply(t, lr_, out=t2)  # var -= update * lr
        w -= t2
        np.multiply(t, t, out=t2)  # accum_update = accum_update * rho + update^2 * (1 - rho)
        t2 *= c
        upd *= rho_
        upd += t2
    return _update([var_ref, accum_ref, accum_update_ref], ["accum", "accum_update"], grad, fn, 2)


# ---- ApplyFtrl / ApplyFtrlV2 ---------------------------------------------------------------
def _ftrl(var_ref, accum_ref, linear_ref, grad, lr, l1, l2, l2_shrinkage, lr_power, multiply_linear_by_lr):
    dt = np.dtype(var_ref.dtype)
    lr_, l1_, l2_, shrink, p = (_scalar(x, dt, n) for x, n in (
        (lr, "lr"), (l1, "l1"), (l2, "l2"), (l2_shrinkage, "l2_shrinkage"), (lr_power, "lr_power")))
    if lr_ <= 0:
        raise errors.InvalidArgumentError(None, None, f"lr is not a positive scalar: {lr_}")
    half = p == dt.type(-0.5)

    def powm(a):
        return np.sqrt(a) if half else np.power(a, -p)

    def fn(w, accum, linear, g):
        g_shrunk = g + 2 * shrink * w if shrink != 0 else g
        new_accum = accum + g * g
        if multiply_linear_by_lr:
            linear += g_shrunk * lr_ - (powm(new_accum) - powm(accum)) * w
            x = l1_ * lr_ * np.sign(linear) - linear
            y = powm(new_accum) + 2 * l2_ * lr_
            keep = np.abs(linear) > l1_ * lr_
        else:
            linear += g_shrunk - (powm(new_accum) - powm(accum)) / lr_ * w
            x = l1_ * np.sign(linear) - linear
            y = powm(new_accum) / lr_ + 2 * l2_
            keep = np.abs(linear) > l1_
        w[...] = np.where(keep, x / y, dt.type(0))
        accum[...] = new_accum
    return _update([var_ref, accum_ref, linear_ref], ["accum", "linear"], grad, fn, 0)


_define_apply("Ftrl", "var: ~, accum: ~, linear: ~, grad: T, lr: T, l1: T, l2: T, lr_power: T",
              ["multiply_linear_by_lr: bool = false"], sparse=True)(
    lambda var, accum, linear, grad, lr, l1, l2, lr_power, *, multiply_linear_by_lr: _ftrl(
        var, accum, linear, grad, lr, l1, l2, 0, lr_power, multiply_linear_by_lr))
_define_apply("FtrlV2", "var: ~, accum: ~, linear: ~, grad: T, lr: T, l1: T, l2: T, l2_shrinkage: T, lr_power: T",
              ["multiply_linear_by_lr: bool = false"], sparse=True)(
    lambda var, accum, linear, grad, lr, l1, l2, l2_shrinkage, lr_power, *, multiply_linear_by_lr: _ftrl(
        var, accum, linear, grad, lr, l1, l2, l2_shrinkage, lr_power, multiply_linear_by_lr))
