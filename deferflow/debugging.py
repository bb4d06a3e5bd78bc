"""The ``tf.debugging`` namespace: run-time checks."""
from deferflow.ops.array_ops import check_numerics
from deferflow.ops.logging_ops import Assert_ as Assert
from deferflow.ops.logging_ops import (assert_equal, assert_greater, assert_greater_equal, assert_less,
                                       assert_less_equal, assert_negative, assert_non_negative, assert_non_positive,
                                       assert_none_equal, assert_positive, assert_rank, assert_rank_at_least,
                                       assert_scalar, assert_type)
from deferflow.ops.math_ops import is_finite, is_inf, is_nan
