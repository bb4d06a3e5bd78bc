"""The ``tf.math`` namespace."""
from deferflow.ops.array_ops import invert_permutation, setdiff1d  # noqa: F401
from deferflow.ops.array_ops import top_k  # noqa: F401
from deferflow.ops.math_ops import (  # noqa: F401
    abs, accumulate_n, acos, add, add_n, argmax, argmin, asin, atan, atan2, ceil, cos, cosh, count_nonzero, cumprod,
    cumsum, divide, div_no_nan, equal, erf, exp, expm1, floor, floordiv, floormod, greater, greater_equal, is_finite,
    is_inf, is_nan, less, less_equal, log, log1p, logical_and, logical_not, logical_or, logical_xor, maximum, minimum,
    mod, multiply, mul_no_nan, negative, not_equal, pow, realdiv, reciprocal, reduce_all, reduce_any,
    reduce_euclidean_norm, reduce_logsumexp, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_std,
    reduce_sum, reduce_variance, rint, round, rsqrt, scalar_mul, sigmoid, sign, sin, sinh, sqrt, square,
    squared_difference, subtract, tan, tanh, truediv, truncatediv, truncatemod, unsorted_segment_sum)
from deferflow.ops.math_ops import mul_no_nan as multiply_no_nan  # noqa: F401
