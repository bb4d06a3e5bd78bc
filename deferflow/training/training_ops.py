"""TF's ``Apply*`` optimizer update ops. Each takes the variable and its slots as ref inputs and replaces
their values (state is never mutated in place: new arrays are computed, then ``ref.set``).

The arithmetic follows TF's CPU functors term by term, in the variable's dtype, so float32 results track
TensorFlow's. Large updates run in cache-sized chunks.
"""
import numpy as np

from deferflow.framework import errors, op_registry
from deferflow.ops.common import lookup_error_gradient, unchanged_shape

define = op_registry.define
_T = ("T: {float, double, int32, uint8, int16, int8, complex64, int64, qint8, quint8, qint32, bfloat16, qint16, "
      "quint16, uint16, complex128, half, uint32, uint64}")

_CHUNK = 1 << 16  # elements per chunk: the chunk's float32 operands and temporaries stay in L2


def _run_chunked(fn, ins, n_out):
    """Applies ``fn(*in_chunks, *out_chunks)`` over flat chunks of same-shaped arrays; returns the outputs.

    Single-threaded on purpose: a second Python thread competes with OpenBLAS's spinning workers and
    measured slower in whole training steps."""
    shape = ins[0].shape
    flat = [np.ascontiguousarray(a).reshape(-1) for a in ins]
    outs = [np.empty(shape, flat[0].dtype) for _ in range(n_out)]
    oflat = [o.reshape(-1) for o in outs]
    n = flat[0].size
    for a in range(0, max(n, 1), _CHUNK):
        b = min(a + _CHUNK, n)
        fn(*(f[a:b] for f in flat), *(o[a:b] for o in oflat))
    return outs


def _check(name, var, grad, *slots):
    for what, a in (("grad", grad),) + tuple(slots):
        if a.shape != var.shape:
            raise errors.InvalidArgumentError(None, None, f"var and {what} do not have the same shape"
                                              f"{list(var.shape)} {list(a.shape)}")


def _scalar(x, dtype, name):
    x = np.asarray(x)
    if x.ndim != 0:
        raise errors.InvalidArgumentError(None, None, f"{name} is not a scalar: {list(x.shape)}")
    return x.astype(dtype)[()]


def _ref_values(*refs):
    return [r.get() for r in refs]


# ---- ApplyGradientDescent ------------------------------------------------------------------
ApplyGradientDescent = define("ApplyGradientDescent", "var: Ref(T), alpha: T, delta: T", "out: Ref(T)",
                              [_T, "use_locking: bool = false"])
ApplyGradientDescent.shape(unchanged_shape)
lookup_error_gradient(ApplyGradientDescent)  # TF registers no gradient for update ops


@ApplyGradientDescent.kernel
def _apply_gradient_descent(var_ref, alpha, delta):
    var, = _ref_values(var_ref)
    _check("ApplyGradientDescent", var, delta)
    a = _scalar(alpha, var.dtype, "alpha")

    def fn(v, d, out):
        np.multiply(d, a, out=out)
        np.subtract(v, out, out=out)
    out, = _run_chunked(fn, [var, delta], 1)
    var_ref.set(out)
    return var_ref


# ---- ApplyMomentum -------------------------------------------------------------------------
ApplyMomentum = define("ApplyMomentum", "var: Ref(T), accum: Ref(T), lr: T, grad: T, momentum: T", "out: Ref(T)",
                       [_T, "use_locking: bool = false", "use_nesterov: bool = false"])
ApplyMomentum.shape(unchanged_shape)
lookup_error_gradient(ApplyMomentum)  # TF registers no gradient for update ops


@ApplyMomentum.kernel
def _apply_momentum(var_ref, accum_ref, lr, grad, momentum, *, use_nesterov):
    var, accum = _ref_values(var_ref, accum_ref)
    _check("ApplyMomentum", var, grad, ("accum", accum))
    lr_, mom = _scalar(lr, var.dtype, "lr"), _scalar(momentum, var.dtype, "momentum")

    def fn(v, acc, g, out_v, out_acc):
        np.multiply(acc, mom, out=out_acc)
        out_acc += g
        if use_nesterov:  # var -= grad * lr + accum * momentum * lr
            np.multiply(out_acc, mom, out=out_v)
            out_v *= lr_
            out_v += g * lr_
        else:
            np.multiply(out_acc, lr_, out=out_v)
        np.subtract(v, out_v, out=out_v)
    new_var, new_acc = _run_chunked(fn, [var, accum, grad], 2)
    accum_ref.set(new_acc)
    var_ref.set(new_var)
    return var_ref


# ---- ApplyAdam -----------------------------------------------------------------------------
ApplyAdam = define("ApplyAdam", "var: Ref(T), m: Ref(T), v: Ref(T), beta1_power: T, beta2_power: T, lr: T, "
                   "beta1: T, beta2: T, epsilon: T, grad: T", "out: Ref(T)",
                   [_T, "use_locking: bool = false", "use_nesterov: bool = false"])
ApplyAdam.shape(unchanged_shape)
lookup_error_gradient(ApplyAdam)  # TF registers no gradient for update ops


@ApplyAdam.kernel
def _apply_adam(var_ref, m_ref, v_ref, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad, *,
                use_nesterov):
    var, m, v = _ref_values(var_ref, m_ref, v_ref)
    _check("ApplyAdam", var, grad, ("m", m), ("v", v))
    dt = var.dtype
    b1p, b2p, lr_, b1, b2, eps = (_scalar(x, dt, n) for x, n in (
        (beta1_power, "beta1_power"), (beta2_power, "beta2_power"), (lr, "lr"), (beta1, "beta1"),
        (beta2, "beta2"), (epsilon, "epsilon")))
    one = dt.type(1)
    alpha = lr_ * np.sqrt(one - b2p) / (one - b1p)
    c1, c2 = one - b1, one - b2

    def fn(w, m0, v0, g, out_w, out_m, out_v):
        np.subtract(g, m0, out=out_m)  # m += (g - m) * (1 - beta1)
        out_m *= c1
        out_m += m0
        np.multiply(g, g, out=out_v)  # v += (g^2 - v) * (1 - beta2)
        out_v -= v0
        out_v *= c2
        out_v += v0
        if use_nesterov:  # var -= ((g * (1 - beta1) + beta1 * m) * alpha) / (sqrt(v) + eps)
            np.multiply(out_m, b1, out=out_w)
            out_w += g * c1
            out_w *= alpha
        else:  # var -= (m * alpha) / (sqrt(v) + eps)
            np.multiply(out_m, alpha, out=out_w)
        den = np.sqrt(out_v)
        den += eps
        out_w /= den
        np.subtract(w, out_w, out=out_w)
    new_var, new_m, new_v = _run_chunked(fn, [var, m, v, grad], 3)
    m_ref.set(new_m)
    v_ref.set(new_v)
    var_ref.set(new_var)
    return var_ref


# ---- ApplyAdagrad --------------------------------------------------------------------------
ApplyAdagrad = define("ApplyAdagrad", "var: Ref(T), accum: Ref(T), lr: T, grad: T", "out: Ref(T)",
                      [_T, "use_locking: bool = false", "update_slots: bool = true"])
ApplyAdagrad.shape(unchanged_shape)
lookup_error_gradient(ApplyAdagrad)  # TF registers no gradient for update ops


@ApplyAdagrad.kernel
def _apply_adagrad(var_ref, accum_ref, lr, grad, *, update_slots):
    var, accum = _ref_values(var_ref, accum_ref)
    _check("ApplyAdagrad", var, grad, ("accum", accum))
    lr_ = _scalar(lr, var.dtype, "lr")

    def fn(w, acc, g, out_w, out_acc):
        if update_slots:  # accum += g^2
            np.multiply(g, g, out=out_acc)
            out_acc += acc
        else:
            out_acc[...] = acc
        np.sqrt(out_acc, out=out_w)  # var -= lr * g * rsqrt(accum)
        np.divide(g, out_w, out=out_w)
        out_w *= lr_
        np.subtract(w, out_w, out=out_w)
    new_var, new_acc = _run_chunked(fn, [var, accum, grad], 2)
    accum_ref.set(new_acc)
    var_ref.set(new_var)
    return var_ref


# ---- ApplyRMSProp / ApplyCenteredRMSProp ---------------------------------------------------
ApplyRMSProp = define("ApplyRMSProp", "var: Ref(T), ms: Ref(T), mom: Ref(T), lr: T, rho: T, momentum: T, "
                      "epsilon: T, grad: T", "out: Ref(T)", [_T, "use_locking: bool = false"])
ApplyRMSProp.shape(unchanged_shape)
lookup_error_gradient(ApplyRMSProp)  # TF registers no gradient for update ops


@ApplyRMSProp.kernel
def _apply_rms_prop(var_ref, ms_ref, mom_ref, lr, rho, momentum, epsilon, grad):
    var, ms, mom = _ref_values(var_ref, ms_ref, mom_ref)
    _check("ApplyRMSProp", var, grad, ("ms", ms), ("mom", mom))
    dt = var.dtype
    lr_, rho_, mo, eps = (_scalar(x, dt, n) for x, n in ((lr, "lr"), (rho, "rho"), (momentum, "momentum"),
                                                          (epsilon, "epsilon")))
    c = dt.type(1) - rho_

    def fn(w, ms0, mom0, g, out_w, out_ms, out_mom):
        np.multiply(g, g, out=out_ms)  # ms += (g^2 - ms) * (1 - rho)
        out_ms -= ms0
        out_ms *= c
        out_ms += ms0
        np.add(out_ms, eps, out=out_w)  # mom = mom * momentum + (g * lr) / sqrt(ms + eps)
        np.sqrt(out_w, out=out_w)
        np.multiply(g, lr_, out=out_mom)
        out_mom /= out_w
        out_mom += mom0 * mo
        np.subtract(w, out_mom, out=out_w)
    new_var, new_ms, new_mom = _run_chunked(fn, [var, ms, mom, grad], 3)
    ms_ref.set(new_ms)
    mom_ref.set(new_mom)
    var_ref.set(new_var)
    return var_ref


ApplyCenteredRMSProp = define("ApplyCenteredRMSProp", "var: Ref(T), mg: Ref(T), ms: Ref(T), mom: Ref(T), lr: T, "
                              "rho: T, momentum: T, epsilon: T, grad: T", "out: Ref(T)",
                              [_T, "use_locking: bool = false"])
ApplyCenteredRMSProp.shape(unchanged_shape)
lookup_error_gradient(ApplyCenteredRMSProp)  # TF registers no gradient for update ops


@ApplyCenteredRMSProp.kernel
def _apply_centered_rms_prop(var_ref, mg_ref, ms_ref, mom_ref, lr, rho, momentum, epsilon, grad):
    var, mg, ms, mom = _ref_values(var_ref, mg_ref, ms_ref, mom_ref)
    _check("ApplyCenteredRMSProp", var, grad, ("mg", mg), ("ms", ms), ("mom", mom))
    dt = var.dtype
    lr_, rho_, mo, eps = (_scalar(x, dt, n) for x, n in ((lr, "lr"), (rho, "rho"), (momentum, "momentum"),
                                                          (epsilon, "epsilon")))
    c = dt.type(1) - rho_

    def fn(w, mg0, ms0, mom0, g, out_w, out_mg, out_ms, out_mom):
        np.multiply(g, g, out=out_ms)  # ms += (g^2 - ms) * (1 - rho)
        out_ms -= ms0
        out_ms *= c
        out_ms += ms0
        np.subtract(g, mg0, out=out_mg)  # mg += (g - mg) * (1 - rho)
        out_mg *= c
        out_mg += mg0
        np.multiply(out_mg, out_mg, out=out_w)  # denom = (ms - mg^2) + eps
        np.subtract(out_ms, out_w, out=out_w)
        out_w += eps
        np.sqrt(out_w, out=out_w)
        np.multiply(g, lr_, out=out_mom)  # mom = mom * momentum + (g * lr) / sqrt(denom)
        out_mom /= out_w
        out_mom += mom0 * mo
        np.subtract(w, out_mom, out=out_w)
    new_var, new_mg, new_ms, new_mom = _run_chunked(fn, [var, mg, ms, mom, grad], 4)
    mg_ref.set(new_mg)
    ms_ref.set(new_ms)
    mom_ref.set(new_mom)
    var_ref.set(new_var)
    return var_ref


# ---- ApplyAdadelta -------------------------------------------------------------------------
ApplyAdadelta = define("ApplyAdadelta", "var: Ref(T), accum: Ref(T), accum_update: Ref(T), lr: T, rho: T, "
                       "epsilon: T, grad: T", "out: Ref(T)", [_T, "use_locking: bool = false"])
ApplyAdadelta.shape(unchanged_shape)
lookup_error_gradient(ApplyAdadelta)  # TF registers no gradient for update ops


@ApplyAdadelta.kernel
def _apply_adadelta(var_ref, accum_ref, accum_update_ref, lr, rho, epsilon, grad):
    var, accum, accum_update = _ref_values(var_ref, accum_ref, accum_update_ref)
    _check("ApplyAdadelta", var, grad, ("accum", accum), ("accum_update", accum_update))
    dt = var.dtype
    lr_, rho_, eps = (_scalar(x, dt, n) for x, n in ((lr, "lr"), (rho, "rho"), (epsilon, "epsilon")))
    c = dt.type(1) - rho_

    def fn(w, acc0, upd0, g, out_w, out_acc, out_upd):
        np.multiply(g, g, out=out_acc)  # accum = accum * rho + g^2 * (1 - rho)
        out_acc *= c
        out_acc += acc0 * rho_
        update = upd0 + eps  # update = sqrt(accum_update + eps) * rsqrt(accum + eps) * g
        np.sqrt(update, out=update)
        np.add(out_acc, eps, out=out_w)
        np.sqrt(out_w, out=out_w)
        update /= out_w
        update *= g
        np.multiply(update, lr_, out=out_w)  # var -= update * lr
        np.subtract(w, out_w, out=out_w)
        np.multiply(update, update, out=out_upd)  # accum_update = accum_update * rho + update^2 * (1 - rho)
        out_upd *= c
        out_upd += upd0 * rho_
    new_var, new_acc, new_upd = _run_chunked(fn, [var, accum, accum_update, grad], 3)
    accum_ref.set(new_acc)
    accum_update_ref.set(new_upd)
    var_ref.set(new_var)
    return var_ref


# ---- ApplyFtrl / ApplyFtrlV2 ---------------------------------------------------------------
def _ftrl(var_ref, accum_ref, linear_ref, grad, lr, l1, l2, l2_shrinkage, lr_power, multiply_linear_by_lr):
    var, accum, linear = _ref_values(var_ref, accum_ref, linear_ref)
    _check("ApplyFtrl", var, grad, ("accum", accum), ("linear", linear))
    dt = var.dtype
    lr_, l1_, l2_, shrink, p = (_scalar(x, dt, n) for x, n in (
        (lr, "lr"), (l1, "l1"), (l2, "l2"), (l2_shrinkage, "l2_shrinkage"), (lr_power, "lr_power")))
    if lr_ <= 0:
        raise errors.InvalidArgumentError(None, None, f"lr is not a positive scalar: {lr_}")
    half = p == dt.type(-0.5)

    def powm(a):
        return np.sqrt(a) if half else np.power(a, -p)
    g_shrunk = grad + 2 * shrink * var if shrink != 0 else grad
    new_accum = accum + grad * grad
    if multiply_linear_by_lr:
        new_linear = linear + (g_shrunk * lr_ - (powm(new_accum) - powm(accum)) * var)
        x = l1_ * lr_ * np.sign(new_linear) - new_linear
        y = powm(new_accum) + 2 * l2_ * lr_
        keep = np.abs(new_linear) > l1_ * lr_
    else:
        new_linear = linear + (g_shrunk - (powm(new_accum) - powm(accum)) / lr_ * var)
        x = l1_ * np.sign(new_linear) - new_linear
        y = powm(new_accum) / lr_ + 2 * l2_
        keep = np.abs(new_linear) > l1_
    new_var = np.where(keep, x / y, dt.type(0)).astype(dt)
    linear_ref.set(new_linear.astype(dt))
    accum_ref.set(new_accum.astype(dt))
    var_ref.set(new_var)
    return var_ref


ApplyFtrl = define("ApplyFtrl", "var: Ref(T), accum: Ref(T), linear: Ref(T), grad: T, lr: T, l1: T, l2: T, "
                   "lr_power: T", "out: Ref(T)", [_T, "use_locking: bool = false",
                                                  "multiply_linear_by_lr: bool = false"])
ApplyFtrl.shape(unchanged_shape)
lookup_error_gradient(ApplyFtrl)  # TF registers no gradient for update ops
ApplyFtrl.kernel(lambda var, accum, linear, grad, lr, l1, l2, lr_power, *, multiply_linear_by_lr: _ftrl(
    var, accum, linear, grad, lr, l1, l2, 0, lr_power, multiply_linear_by_lr))

ApplyFtrlV2 = define("ApplyFtrlV2", "var: Ref(T), accum: Ref(T), linear: Ref(T), grad: T, lr: T, l1: T, l2: T, "
                     "l2_shrinkage: T, lr_power: T", "out: Ref(T)",
                     [_T, "use_locking: bool = false", "multiply_linear_by_lr: bool = false"])
ApplyFtrlV2.shape(unchanged_shape)
lookup_error_gradient(ApplyFtrlV2)  # TF registers no gradient for update ops
ApplyFtrlV2.kernel(lambda var, accum, linear, grad, lr, l1, l2, l2_shrinkage, lr_power, *, multiply_linear_by_lr:
                   _ftrl(var, accum, linear, grad, lr, l1, l2, l2_shrinkage, lr_power, multiply_linear_by_lr))
