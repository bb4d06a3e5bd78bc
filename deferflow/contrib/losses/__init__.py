"""``tf.contrib.losses`` / ``slim.losses``: the pre-``tf.losses`` API, with predictions/logits before labels.

Each function computes what ``tf.losses`` computes (weighted mean over non-zero weights, added to the
``LOSSES`` collection); only the argument order differs, and ``hinge_loss`` returns the unreduced losses.
"""
from deferflow import losses as _losses
from deferflow.contrib._missing import missing as _missing
from deferflow.framework import dtypes, ops
from deferflow.ops import array_ops, math_ops, nn_ops

add_loss = _losses.add_loss
get_losses = _losses.get_losses
get_regularization_losses = _losses.get_regularization_losses


def get_total_loss(add_regularization_losses=True, name="total_loss"):
    """The sum of the ``LOSSES`` collection (and of the regularization losses)."""
    terms = get_losses()
    if add_regularization_losses:
        terms += get_regularization_losses()
    return math_ops.add_n(terms, name=name)


def compute_weighted_loss(losses, weights=1.0, scope=None):
    return _losses.compute_weighted_loss(losses, weights, scope=scope)


def absolute_difference(predictions, labels=None, weights=1.0, scope=None):
    return _losses.absolute_difference(labels, predictions, weights, scope=scope)


def mean_squared_error(predictions, labels=None, weights=1.0, scope=None):
    return _losses.mean_squared_error(labels, predictions, weights, scope=scope)


def log_loss(predictions, labels=None, weights=1.0, epsilon=1e-7, scope=None):
    return _losses.log_loss(labels, predictions, weights, epsilon, scope=scope)


def sigmoid_cross_entropy(logits, multi_class_labels, weights=1.0, label_smoothing=0, scope=None):
    return _losses.sigmoid_cross_entropy(multi_class_labels, logits, weights, label_smoothing, scope=scope)


def softmax_cross_entropy(logits, onehot_labels, weights=1.0, label_smoothing=0, scope=None):
    return _losses.softmax_cross_entropy(onehot_labels, logits, weights, label_smoothing, scope=scope)


def sparse_softmax_cross_entropy(logits, labels, weights=1.0, scope=None):
    return _losses.sparse_softmax_cross_entropy(labels, logits, weights, scope=scope)


def hinge_loss(logits, labels=None, scope=None):
    """The unreduced hinge losses ``relu(1 - (2 labels - 1) * logits)`` (labels in {0, 1})."""
    with ops.name_scope(scope, "hinge_loss", [logits, labels]):
        logits = ops.convert_to_tensor(logits)
        labels = math_ops.cast(labels, dtypes.float32)
        if not logits.shape.is_compatible_with(labels.shape):
            raise ValueError(f"Shapes {logits.shape} and {labels.shape} are incompatible")
        ones = array_ops.ones_like(labels)
        signs = math_ops.subtract(2 * labels, ones)
        return nn_ops.relu(math_ops.subtract(ones, math_ops.multiply(signs, logits)))


def __getattr__(name):
    raise _missing("tf.contrib.losses", name)
