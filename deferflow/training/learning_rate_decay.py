"""Learning-rate schedules of ``tf.train`` (``exponential_decay`` ...): tensors computed from ``global_step``."""
import math

from deferflow.framework import ops
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops import array_ops, math_ops


def _need_step(global_step, fn):
    if global_step is None:
        raise ValueError(f"global_step is required for {fn}.")


def _start(learning_rate, global_step):
    lr = convert_to_tensor(learning_rate, name="initial_learning_rate")
    dtype = lr.dtype.base_dtype
    return lr, dtype, array_ops.cast(global_step, dtype)


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """``learning_rate * decay_rate ** (global_step / decay_steps)`` (the exponent floored if ``staircase``)."""
    _need_step(global_step, "exponential_decay")
    with ops.name_scope(name or "ExponentialDecay") as scope:
        lr, dtype, step = _start(learning_rate, global_step)
        p = step / array_ops.cast(decay_steps, dtype)
        if staircase:
            p = math_ops.floor(p)
        return math_ops.multiply(lr, math_ops.pow(array_ops.cast(decay_rate, dtype), p), name=scope)


def natural_exp_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """``learning_rate * exp(-decay_rate * global_step / decay_steps)``."""
    _need_step(global_step, "natural_exp_decay")
    rate = math_ops.exp(math_ops.negative(convert_to_tensor(decay_rate)))
    return exponential_decay(learning_rate, global_step, decay_steps, rate, staircase, name)


def inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """``learning_rate / (1 + decay_rate * global_step / decay_steps)``."""
    _need_step(global_step, "inverse_time_decay")
    with ops.name_scope(name or "InverseTimeDecay") as scope:
        lr, dtype, step = _start(learning_rate, global_step)
        p = step / array_ops.cast(decay_steps, dtype)
        if staircase:
            p = math_ops.floor(p)
        denom = math_ops.add(array_ops.cast(array_ops.constant(1), dtype),
                             math_ops.multiply(array_ops.cast(decay_rate, dtype), p))
        return math_ops.divide(lr, denom, name=scope)


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                     name=None):
    """Polynomial interpolation from ``learning_rate`` to ``end_learning_rate`` over ``decay_steps``."""
    _need_step(global_step, "polynomial_decay")
    with ops.name_scope(name or "PolynomialDecay") as scope:
        lr, dtype, step = _start(learning_rate, global_step)
        end = array_ops.cast(end_learning_rate, dtype)
        power_t = array_ops.cast(power, dtype)
        steps = array_ops.cast(decay_steps, dtype)
        if cycle:
            multiplier = apply_op("SelectV2", condition=math_ops.equal(step, 0), t=array_ops.constant(1.0, dtype),
                                  e=math_ops.ceil(step / decay_steps))
            steps = math_ops.multiply(steps, multiplier)
        else:
            step = math_ops.minimum(step, steps)
        p = math_ops.divide(step, steps)
        return math_ops.add(math_ops.multiply(lr - end, math_ops.pow(1 - p, power_t)), end, name=scope)


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name=None):
    """Cosine annealing from ``learning_rate`` to ``alpha * learning_rate`` over ``decay_steps``."""
    _need_step(global_step, "cosine_decay")
    with ops.name_scope(name or "CosineDecay"):
        lr, dtype, step = _start(learning_rate, global_step)
        steps = array_ops.cast(decay_steps, dtype)
        step = math_ops.minimum(step, steps)
        fraction = step / steps
        cosine = 0.5 * (1.0 + math_ops.cos(array_ops.constant(math.pi) * fraction))
        decayed = (1 - alpha) * cosine + alpha
        return math_ops.multiply(lr, decayed)


def piecewise_constant(x, boundaries, values, name=None):
    """``values[i]`` for the interval of ``boundaries`` holding ``x`` (intervals closed on the right)."""
    if len(boundaries) != len(values) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values")
    with ops.name_scope(name or "PiecewiseConstant"):
        x = convert_to_tensor(x)
        bounds = [convert_to_tensor(b) for b in boundaries]
        bounds = [b if b.dtype.base_dtype == x.dtype.base_dtype else array_ops.cast(b, x.dtype.base_dtype)
                  for b in bounds]
        vals = [convert_to_tensor(v) for v in values]
        dtype = vals[0].dtype.base_dtype
        for v in vals[1:]:
            if v.dtype.base_dtype != dtype:
                raise ValueError(f"Values must have elements all with the same dtype ({dtype.name} vs "
                                 f"{v.dtype.base_dtype.name}).")
        out = vals[-1]  # x > boundaries[-1]
        for b, v in zip(reversed(bounds), reversed(vals[:-1])):
            out = apply_op("SelectV2", condition=x <= b, t=v, e=out)
        return out


def linear_cosine_decay(learning_rate, global_step, decay_steps, num_periods=0.5, alpha=0.0, beta=0.001,
                        name=None):
    _need_step(global_step, "linear_cosine_decay")
    with ops.name_scope(name or "LinearCosineDecay") as scope:
        lr, dtype, step = _start(learning_rate, global_step)
        steps = array_ops.cast(decay_steps, dtype)
        step = math_ops.minimum(step, steps)
        linear = (steps - step) / steps
        fraction = 2.0 * array_ops.cast(num_periods, dtype) * (step / steps)
        cosine = 0.5 * (1.0 + math_ops.cos(array_ops.constant(math.pi) * fraction))
        return math_ops.multiply(lr, (array_ops.cast(alpha, dtype) + linear) * cosine +
                                 array_ops.cast(beta, dtype), name=scope)
