"""The ``tf.metrics`` namespace (TF1): streaming metrics as (value, update_op) pairs whose ``total`` and
``count`` accumulators are local variables (``LOCAL_VARIABLES`` and ``METRIC_VARIABLES``)."""
from deferflow.framework import dtypes, ops
from deferflow.framework.ops import GraphKeys, apply_op, convert_to_tensor
from deferflow.ops import array_ops, math_ops, variable_scope
from deferflow.ops.variables import Variable


def metric_variable(shape, dtype, validate_shape=True, name=None):
    """A zero-initialized local variable in the metric collections."""
    return Variable(lambda: array_ops.zeros(shape, dtype), trainable=False,
                    collections=[GraphKeys.LOCAL_VARIABLES, GraphKeys.METRIC_VARIABLES],
                    validate_shape=validate_shape, name=name)


def _squeeze_last(t):
    return array_ops.squeeze(t, [-1])


def _remove_squeezable_dimensions(predictions, labels, weights):
    """Drops a trailing size-1 dim that makes labels/predictions/weights ranks disagree (static ranks)."""
    predictions = convert_to_tensor(predictions)
    if labels is not None:
        labels = convert_to_tensor(labels)
        pr, lr = predictions.shape.ndims, labels.shape.ndims
        if pr is not None and lr is not None:
            if pr - lr == 1 and predictions.shape[-1].is_compatible_with(1):
                predictions = _squeeze_last(predictions)
            elif lr - pr == 1 and labels.shape[-1].is_compatible_with(1):
                labels = _squeeze_last(labels)
    if weights is None:
        return predictions, labels, None
    weights = convert_to_tensor(weights)
    wr, pr = weights.shape.ndims, predictions.shape.ndims
    if wr == 0:
        return predictions, labels, weights
    if wr is not None and pr is not None:
        if wr - pr == 1:
            weights = _squeeze_last(weights)
        elif pr - wr == 1:
            weights = array_ops.expand_dims(weights, -1)
    return predictions, labels, weights


def _div_no_nan(x, y, name):
    return apply_op("DivNoNan", name=name, x=x, y=y)


def mean(values, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The (weighted) mean of ``values`` over all updates: ``total / count``."""
    with variable_scope.variable_scope(name, "mean", (values, weights)):
        values = math_ops.cast(values, dtypes.float32)
        total = metric_variable([], dtypes.float32, name="total")
        count = metric_variable([], dtypes.float32, name="count")
        if weights is None:
            num_values = math_ops.cast(array_ops.size(values), dtypes.float32)
        else:
            values, _, weights = _remove_squeezable_dimensions(values, None, weights)
            weights = math_ops.multiply(math_ops.cast(weights, dtypes.float32), array_ops.ones_like(values))
            values = math_ops.multiply(values, weights)
            num_values = math_ops.reduce_sum(weights)
        update_total = total.assign_add(math_ops.reduce_sum(values))
        with ops.control_dependencies([values]):
            update_count = count.assign_add(num_values)
        mean_t = _div_no_nan(total, math_ops.maximum(count, 0), "value")
        update_op = _div_no_nan(update_total, math_ops.maximum(update_count, 0), "update_op")
        if metrics_collections:
            ops.add_to_collections(metrics_collections, mean_t)
        if updates_collections:
            ops.add_to_collections(updates_collections, update_op)
        return mean_t, update_op


def accuracy(labels, predictions, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """How often ``predictions`` equals ``labels``, accumulated over updates."""
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    if not predictions.shape.is_compatible_with(labels.shape):
        raise ValueError(f"Shapes {predictions.shape} and {labels.shape} are incompatible")
    if labels.dtype.base_dtype != predictions.dtype.base_dtype:
        predictions = math_ops.cast(predictions, labels.dtype.base_dtype)
    is_correct = math_ops.cast(math_ops.equal(predictions, labels), dtypes.float32)
    return mean(is_correct, weights, metrics_collections, updates_collections, name or "accuracy")


def mean_squared_error(labels, predictions, weights=None, metrics_collections=None, updates_collections=None,
                       name=None):
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    squared = math_ops.squared_difference(labels, predictions)
    return mean(squared, weights, metrics_collections, updates_collections, name or "mean_squared_error")


def mean_absolute_error(labels, predictions, weights=None, metrics_collections=None, updates_collections=None,
                        name=None):
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    absolute = math_ops.abs(predictions - labels)
    return mean(absolute, weights, metrics_collections, updates_collections, name or "mean_absolute_error")
