"""The ``tf.math`` namespace."""
from deferflow.ops.array_ops import invert_permutation, top_k  # noqa: F401
from deferflow.ops.math_ops import (  # noqa: F401
    abs, accumulate_n, acos, add, add_n, argmax, argmin, asin, atan, atan2, ceil, cos, cosh, count_nonzero, cumprod,
    cumsum, divide, equal, erf, exp, expm1, floor, floordiv, floormod, greater, greater_equal, is_finite, is_inf,
    is_nan, less, less_equal, log, log1p, logical_and, logical_not, logical_or, logical_xor, maximum, minimum, mod,
    multiply, negative, not_equal, pow, reciprocal, reduce_all, reduce_any, reduce_euclidean_norm, reduce_logsumexp,
    reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_std, reduce_sum, reduce_variance, rint, round, rsqrt,
    scalar_mul, sigmoid, sign, sin, sinh, sqrt, square, squared_difference, subtract, tan, tanh, truediv,
    unsorted_segment_sum)
from deferflow.ops.math_ops import div_no_nan as divide_no_nan  # noqa: F401
from deferflow.ops.math_ops import mul_no_nan as multiply_no_nan  # noqa: F401
from deferflow.ops.math_ops import erfc  # noqa: F401,E402
from deferflow.ops.math_ops import (bincount, segment_max, segment_mean, segment_min, segment_prod,  # noqa: F401,E402
                                    unsorted_segment_max, unsorted_segment_mean, unsorted_segment_min,
                                    unsorted_segment_prod, unsorted_segment_sqrt_n)
from deferflow.ops.sparse_ops import segment_sum  # noqa: F401,E402
from deferflow.ops.linalg_ops import confusion_matrix  # noqa: F401,E402
from deferflow.ops.math_ops import digamma, lgamma, polygamma, zeta  # noqa: F401,E402
