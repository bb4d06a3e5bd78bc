"""contrib's own weight initializers (``xavier_initializer``, ``variance_scaling_initializer``).

contrib's variance scaling differs from ``tf.variance_scaling_initializer``: ``factor`` and ``mode`` are
upper-case FAN_* names, and the normal case draws a truncated normal with stddev ``sqrt(1.3 * factor / n)``
(not ``sqrt(scale / n) / .8796``).
"""
import math

from deferflow.framework import dtypes
from deferflow.ops import random_ops

__all__ = ["xavier_initializer", "xavier_initializer_conv2d", "variance_scaling_initializer"]


def xavier_initializer(uniform=True, seed=None, dtype=dtypes.float32):
    """Glorot/Xavier: uniform in ``±sqrt(6 / (fan_in + fan_out))`` or truncated normal of the same variance."""
    return variance_scaling_initializer(factor=1.0, mode="FAN_AVG", uniform=uniform, seed=seed, dtype=dtype)


xavier_initializer_conv2d = xavier_initializer


def _fans(shape):
    if not shape:
        return 1.0, 1.0
    fan_in = float(shape[-2]) if len(shape) > 1 else float(shape[-1])
    fan_out = float(shape[-1])
    for dim in shape[:-2]:  # receptive field of a conv kernel counts on both sides
        fan_in *= float(dim)
        fan_out *= float(dim)
    return fan_in, fan_out


def variance_scaling_initializer(factor=2.0, mode="FAN_IN", uniform=False, seed=None, dtype=dtypes.float32):
    """He/MSRA by default: ``n`` is fan-in, fan-out or their mean (``mode``); the draw has variance
    ``factor / n`` (uniform in ``±sqrt(3 factor / n)``, or truncated normal of stddev ``sqrt(1.3 factor / n)``)."""
    dtype = dtypes.as_dtype(dtype)
    if not dtype.is_floating:
        raise TypeError("Cannot create initializer for non-floating point type.")
    if mode not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
        raise TypeError(f"Unknown mode {mode} [FAN_IN, FAN_OUT, FAN_AVG]")
    default_dtype = dtype

    def _initializer(shape, dtype=default_dtype, partition_info=None):
        dtype = dtypes.as_dtype(dtype)
        if not dtype.is_floating:
            raise TypeError("Cannot create initializer for non-floating point type.")
        if hasattr(shape, "as_list"):
            shape = shape.as_list()
        shape = list(shape)
        fan_in, fan_out = _fans(shape)
        n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2.0}[mode]
        if uniform:
            limit = math.sqrt(3.0 * factor / n)
            return random_ops.random_uniform(shape, -limit, limit, dtype, seed=seed)
        return random_ops.truncated_normal(shape, 0.0, math.sqrt(1.3 * factor / n), dtype, seed=seed)

    return _initializer
