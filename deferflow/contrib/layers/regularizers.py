"""Weight regularizers: functions ``weights -> scalar loss`` (or None when disabled)."""
import numbers

from deferflow.framework import ops
from deferflow.framework.ops import GraphKeys, convert_to_tensor
from deferflow.ops import array_ops, math_ops, nn_ops

__all__ = ["l1_regularizer", "l2_regularizer", "l1_l2_regularizer", "sum_regularizer", "apply_regularization"]


def _check_scale(scale, what="scale"):
    """Returns False when the regularizer is disabled (scale 0)."""
    if isinstance(scale, numbers.Integral):
        raise ValueError(f"{what} cannot be an integer: {scale}")
    if isinstance(scale, numbers.Real):
        if scale < 0.0:
            raise ValueError(f"Setting a scale less than 0 on a regularizer: {scale:g}")
        if scale == 0.0:
            return False
    return True


def _scaled(scale, scope, default_name, penalty):
    def regularizer(weights, name=None):
        with ops.name_scope(scope, default_name, [weights]) as name:
            my_scale = convert_to_tensor(scale, dtype=weights.dtype.base_dtype, name="scale")
            return math_ops.multiply(my_scale, penalty(weights), name=name)
    return regularizer


def l1_regularizer(scale, scope=None):
    """``scale * sum(|w|)``; scale 0 gives a regularizer that returns None."""
    if not _check_scale(scale):
        return lambda _: None
    return _scaled(scale, scope, "l1_regularizer", lambda w: math_ops.reduce_sum(math_ops.abs(w)))


def l2_regularizer(scale, scope=None):
    """``scale * sum(w ** 2) / 2`` (``tf.nn.l2_loss``); scale 0 gives a regularizer that returns None."""
    if not _check_scale(scale):
        return lambda _: None
    return _scaled(scale, scope, "l2_regularizer", nn_ops.l2_loss)


def l1_l2_regularizer(scale_l1=1.0, scale_l2=1.0, scope=None):
    """The sum of an L1 and an L2 regularizer (just one of them when the other's scale is 0)."""
    if isinstance(scale_l1, numbers.Integral):
        raise ValueError(f"scale_l1 cannot be an integer: {scale_l1}")
    if isinstance(scale_l2, numbers.Integral):
        raise ValueError(f"scale_l2 cannot be an integer: {scale_l2}")
    scope = scope or "l1_l2_regularizer"
    if isinstance(scale_l1, numbers.Real) and scale_l1 == 0.0:
        return l2_regularizer(scale_l2, scope)
    if isinstance(scale_l2, numbers.Real) and scale_l2 == 0.0:
        return l1_regularizer(scale_l1, scope)
    return sum_regularizer([l1_regularizer(scale_l1), l2_regularizer(scale_l2)], scope=scope)


def sum_regularizer(regularizer_list, scope=None):
    """A regularizer adding the results of ``regularizer_list`` (None if the list is empty)."""
    regularizer_list = [r for r in regularizer_list if r is not None]
    if not regularizer_list:
        return None

    def sum_reg(weights):
        with ops.name_scope(scope, "sum_regularizer", [weights]) as name:
            terms = [t for t in (r(weights) for r in regularizer_list) if t is not None]
            return math_ops.add_n(terms, name=name) if terms else None
    return sum_reg


def apply_regularization(regularizer, weights_list=None):
    """The summed penalty of ``regularizer`` over ``weights_list`` (default: the ``WEIGHTS`` collection),
    also added to ``REGULARIZATION_LOSSES``."""
    if not weights_list:
        weights_list = ops.get_collection(GraphKeys.WEIGHTS)
    if not weights_list:
        raise ValueError("No weights to regularize.")
    with ops.name_scope("get_regularization_penalty", values=weights_list) as scope:
        penalties = [regularizer(w) for w in weights_list]
        penalties = [p if p is not None else array_ops.constant(0.0) for p in penalties]
        for p in penalties:
            if p.shape.ndims != 0:
                raise ValueError(f"regularizer must return a scalar Tensor instead of a Tensor with rank "
                                 f"{p.shape.ndims}.")
        total = math_ops.add_n(penalties, name=scope)
        ops.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, total)
        return total
