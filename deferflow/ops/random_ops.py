"""Random ops. Seeds follow TF: graph seed + op seed make runs repeatable; each run draws anew."""
import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops.common import FLOAT, shape_from_tensor
from deferflow.ops import array_ops

define = op_registry.define
DEFAULT_GRAPH_SEED = 87654321
_MAXINT32 = 2 ** 31 - 1


def get_seed(op_seed):
    """TF's rule for (seed, seed2) from the graph-level and op-level seeds."""
    g = ops.get_default_graph()
    global_seed = g.seed
    if global_seed is not None:
        if op_seed is None:
            op_seed = len(g._ops)
        seeds = (global_seed, op_seed)
    elif op_seed is not None:
        seeds = (DEFAULT_GRAPH_SEED, op_seed)
    else:
        seeds = (None, None)
    if seeds == (0, 0):
        return 0, _MAXINT32
    return seeds


def set_random_seed(seed):
    ops.get_default_graph().seed = seed


_SEED_ATTRS = ["seed: int = 0", "seed2: int = 0"]


def _random_op(name, sampler, dtypes_=FLOAT):
    od = define(name, "shape: T", "output: dtype", _SEED_ATTRS + [f"dtype: {dtypes_}", "T: {int32, int64}"],
                stateful=True)
    od.shape(lambda op: [shape_from_tensor(op._inputs[0])])
    od.kernel(ctx=True)(lambda ctx, shape, *, dtype: np.asarray(
        sampler(ctx.rng(), tuple(int(d) for d in shape)), dtype=dtype.as_numpy_dtype))
    od.no_gradient()
    return od


def _truncated(rng, shape):
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out


RandomStandardNormal = _random_op("RandomStandardNormal", lambda rng, s: rng.standard_normal(s))
TruncatedNormal = _random_op("TruncatedNormal", _truncated)
RandomUniform = _random_op("RandomUniform", lambda rng, s: rng.random(s))

RandomUniformInt = define("RandomUniformInt", "shape: T, minval: Tout, maxval: Tout", "output: Tout",
                          _SEED_ATTRS + ["Tout: {int32, int64}", "T: {int32, int64}"], stateful=True)
RandomUniformInt.shape(lambda op: [shape_from_tensor(op._inputs[0])])
RandomUniformInt.kernel(ctx=True)(lambda ctx, shape, lo, hi: ctx.rng().integers(
    lo, hi, size=tuple(int(d) for d in shape)).astype(lo.dtype))
RandomUniformInt.no_gradient()


def _shape_tensor(shape):
    if isinstance(shape, ops.Tensor):
        return shape
    from deferflow.framework import tensor_shape as ts
    if isinstance(shape, ts.TensorShape):
        shape = shape.as_list()
    return convert_to_tensor(shape, dtype=dtypes.int32, name="shape")


def _scaled_normal(op_type, default_name, shape, mean, stddev, dtype, seed, name):
    """``sample * stddev + mean`` under TF's names (``<name>/mul``, ``<name>``)."""
    dtype = dtypes.as_dtype(dtype)
    with ops.name_scope(name, default_name, [shape, mean, stddev]) as scope:
        shape_t = _shape_tensor(shape)
        mean_t = convert_to_tensor(mean, dtype=dtype, name="mean")
        std_t = convert_to_tensor(stddev, dtype=dtype, name="stddev")
        s1, s2 = get_seed(seed)
        rnd = apply_op(op_type, shape=shape_t, dtype=dtype, seed=s1 or 0, seed2=s2 or 0)
        mul = apply_op("Mul", name="mul", x=rnd, y=std_t)
        return apply_op("AddV2", name=scope, x=mul, y=mean_t)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    return _scaled_normal("RandomStandardNormal", "random_normal", shape, mean, stddev, dtype, seed, name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    return _scaled_normal("TruncatedNormal", "truncated_normal", shape, mean, stddev, dtype, seed, name)


def random_uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    dtype = dtypes.as_dtype(dtype)
    if maxval is None:
        if dtype.is_integer:
            raise ValueError(f"Must specify maxval for integer dtype {dtype}")
        maxval = 1
    with ops.name_scope(name, "random_uniform", [shape, minval, maxval]) as scope:
        shape_t = _shape_tensor(shape)
        lo = convert_to_tensor(minval, dtype=dtype, name="min")
        hi = convert_to_tensor(maxval, dtype=dtype, name="max")
        s1, s2 = get_seed(seed)
        if dtype.is_integer:
            return apply_op("RandomUniformInt", name=scope, shape=shape_t, minval=lo, maxval=hi,
                            seed=s1 or 0, seed2=s2 or 0)
        rnd = apply_op("RandomUniform", shape=shape_t, dtype=dtype, seed=s1 or 0, seed2=s2 or 0)
        mul = apply_op("Mul", name="mul", x=rnd, y=apply_op("Sub", name="sub", x=hi, y=lo))
        return apply_op("AddV2", name=scope, x=mul, y=lo)


def random_shuffle(value, seed=None, name=None):
    return apply_op("RandomShuffle", name=name, value=value, **dict(zip(("seed", "seed2"),
                                                                        (s or 0 for s in get_seed(seed)))))


RandomShuffle = define("RandomShuffle", "value: T", "output: T", _SEED_ATTRS + ["T: type"], stateful=True)
RandomShuffle.shape(lambda op: [op._inputs[0].shape])
RandomShuffle.kernel(ctx=True)(lambda ctx, x: ctx.rng().permutation(x) if np.ndim(x) else x)
RandomShuffle.no_gradient()

# ---- Multinomial: tf.multinomial / tf.random.categorical ---------------------------------------
Multinomial = define("Multinomial", "logits: T, num_samples: int32", "output: output_dtype",
                     _SEED_ATTRS + ["T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, "
                                    "uint32, uint64}", "output_dtype: {int32, int64} = DT_INT64"], stateful=True)
Multinomial.no_gradient()


@Multinomial.shape
def _multinomial_shape(op):
    from deferflow.ops.common import constant_value
    logits = op._inputs[0].shape
    if logits.ndims is not None and logits.ndims != 2:
        raise ValueError(f"Shape must be rank 2 but is rank {logits.ndims} for '{op.name}' (op: 'Multinomial')")
    n = constant_value(op._inputs[1])
    rows = logits[0].value if logits.ndims == 2 else None
    return [ts.TensorShape([rows, None if n is None else int(n)])]


@Multinomial.kernel(ctx=True)
def _multinomial(ctx, logits, num_samples, *, output_dtype):
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise errors.InvalidArgumentError(None, None, f"logits should be a matrix, got shape {list(logits.shape)}")
    n = int(num_samples)
    if n < 0:
        raise errors.InvalidArgumentError(None, None, f"num_samples should be non-negative, got {n}")
    rows, classes = logits.shape
    if rows and not classes:
        raise errors.InvalidArgumentError(None, None, f"num_classes should be positive, got {classes}")
    out = np.empty((rows, n), dtype=output_dtype.as_numpy_dtype)
    rng = ctx.rng()
    x = logits.astype(np.float64)
    for i in range(rows):  # inverse-CDF sampling of softmax(logits[i])
        row = x[i] - np.max(x[i])
        cdf = np.cumsum(np.exp(row))
        picks = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
        out[i] = np.minimum(picks, classes - 1)
    return out


def multinomial(logits, num_samples, seed=None, name=None, output_dtype=None):
    """``tf.multinomial``: ``num_samples`` class indices per row, drawn from ``softmax(logits[row])``."""
    with ops.name_scope(name, "multinomial", [logits]):
        return _categorical(logits, num_samples, output_dtype, seed)


def categorical(logits, num_samples, dtype=None, seed=None, name=None):
    """``tf.random.categorical``: as ``tf.multinomial`` (output ``dtype`` int64 unless given)."""
    with ops.name_scope(name, "categorical", [logits]):
        return _categorical(logits, num_samples, dtype, seed)


def _categorical(logits, num_samples, dtype, seed):
    seed1, seed2 = (s or 0 for s in get_seed(seed))
    return apply_op("Multinomial", logits=logits, num_samples=num_samples, seed=seed1, seed2=seed2,
                    output_dtype=dtypes.int64 if dtype is None else dtype)


__all__ = ["random_normal", "truncated_normal", "random_uniform", "set_random_seed", "get_seed", "array_ops"]
