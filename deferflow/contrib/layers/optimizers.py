"""``tf.contrib.layers.optimize_loss``: one call from a loss to a training op (with TF1's scope
``OptimizeLoss``, its ``learning_rate`` variable and optional gradient clipping, noise and multipliers)."""
import numbers

from deferflow.framework import ops
from deferflow.framework.indexed_slices import IndexedSlices
from deferflow.framework.ops import GraphKeys, convert_to_tensor
from deferflow.ops import array_ops, control_flow_ops, init_ops, math_ops, random_ops, variable_scope
from deferflow.ops.variables import trainable_variables
from deferflow.training import global_step as _gs
from deferflow.training import optimizers as _opt
from deferflow.training.optimizer import Optimizer

__all__ = ["optimize_loss", "OPTIMIZER_CLS_NAMES", "OPTIMIZER_SUMMARIES"]

OPTIMIZER_CLS_NAMES = {
    "Adagrad": _opt.AdagradOptimizer,
    "Adam": _opt.AdamOptimizer,
    "Ftrl": _opt.FtrlOptimizer,
    "Momentum": lambda learning_rate: _opt.MomentumOptimizer(learning_rate, momentum=0.9),
    "RMSProp": _opt.RMSPropOptimizer,
    "SGD": _opt.GradientDescentOptimizer,
}

OPTIMIZER_SUMMARIES = ["learning_rate", "loss", "gradients", "gradient_norm", "global_gradient_norm"]


def _values(g):
    return g.values if isinstance(g, IndexedSlices) else g


def _global_norm(grads):
    return math_ops.global_norm([g for g in grads if g is not None])


def _add_noise(grads_and_vars, scale):
    out = []
    for g, v in grads_and_vars:
        if g is None:
            out.append((g, v))
            continue
        shape = g.dense_shape if isinstance(g, IndexedSlices) else array_ops.shape(g)
        out.append((g + random_ops.random_normal(shape) * scale, v))
    return out


def _multiply(grads_and_vars, multipliers):
    out = []
    for g, v in grads_and_vars:
        key = v if v in multipliers else v.name if v.name in multipliers else None
        if g is not None and key is not None:
            m = convert_to_tensor(multipliers[key], dtype=g.dtype.base_dtype)
            g = IndexedSlices(g.values * m, g.indices, g.dense_shape) if isinstance(g, IndexedSlices) else g * m
        out.append((g, v))
    return out


def optimize_loss(loss, global_step, learning_rate, optimizer, gradient_noise_scale=None, gradient_multipliers=None,
                  clip_gradients=None, learning_rate_decay_fn=None, update_ops=None, variables=None, name=None,
                  summaries=None, colocate_gradients_with_ops=False, increment_global_step=True):
    """Returns a tensor that evaluates ``loss`` after one update of ``variables`` (default: all trainable)
    by ``optimizer`` (a name in ``OPTIMIZER_CLS_NAMES``, an Optimizer class or instance, or a function of
    the learning rate); ``UPDATE_OPS`` run first."""
    from deferflow.ops import summary_ops
    loss = convert_to_tensor(loss)
    if loss.shape.ndims not in (None, 0):
        raise ValueError(f"Expected scalar shape for {loss.name}, saw shape: {loss.shape}.")
    if global_step is None:
        global_step = _gs.get_global_step()
    else:
        _gs.assert_global_step(global_step)
    with variable_scope.variable_scope(name, "OptimizeLoss", [loss, global_step]):
        if update_ops is None:
            update_ops = list(dict.fromkeys(ops.get_collection(GraphKeys.UPDATE_OPS)))
        if update_ops:
            loss = control_flow_ops.with_dependencies(list(update_ops), loss)
        lr = None
        if learning_rate is not None:
            if isinstance(learning_rate, ops.Tensor) and learning_rate.shape.ndims == 0:
                lr = learning_rate
            elif isinstance(learning_rate, float):
                if learning_rate < 0.0:
                    raise ValueError(f"Invalid learning_rate {learning_rate}.")
                lr = variable_scope.get_variable("learning_rate", [], trainable=False,
                                                 initializer=init_ops.constant_initializer(learning_rate))
            else:
                raise ValueError(f"Learning rate should be 0d Tensor or float. Got {learning_rate} of type "
                                 f"{type(learning_rate)}")
        if summaries is None:
            summaries = ["loss", "learning_rate", "global_gradient_norm"]
        for s in summaries:
            if s not in OPTIMIZER_SUMMARIES:
                raise ValueError(f"Summaries should be one of [{', '.join(OPTIMIZER_SUMMARIES)}], you provided {s}.")
        if learning_rate is not None and learning_rate_decay_fn is not None:
            if global_step is None:
                raise ValueError("global_step is required for learning_rate_decay_fn.")
            lr = learning_rate_decay_fn(lr, global_step)
            if "learning_rate" in summaries:
                summary_ops.scalar("learning_rate", lr)
        if isinstance(optimizer, str):
            if lr is None:
                raise ValueError(f"Learning rate is None, but should be specified if optimizer is string "
                                 f"({optimizer}).")
            if optimizer not in OPTIMIZER_CLS_NAMES:
                raise ValueError(f"Optimizer name should be one of [{', '.join(OPTIMIZER_CLS_NAMES)}], you "
                                 f"provided {optimizer}.")
            opt = OPTIMIZER_CLS_NAMES[optimizer](learning_rate=lr)
        elif isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
            if lr is None:
                raise ValueError(f"Learning rate is None, but should be specified if optimizer is class "
                                 f"({optimizer}).")
            opt = optimizer(learning_rate=lr)
        elif isinstance(optimizer, Optimizer):
            opt = optimizer
        elif callable(optimizer):
            opt = optimizer(lr) if learning_rate is not None else optimizer()
            if not isinstance(opt, Optimizer):
                raise ValueError(f"Unrecognized optimizer: function should return subclass of Optimizer. Got "
                                 f"{opt}.")
        else:
            raise ValueError("Unrecognized optimizer: should be string, subclass of Optimizer, instance of "
                             f"subclass of Optimizer or function with one argument. Got {optimizer}.")
        if variables is None:
            variables = trainable_variables()
        grads = opt.compute_gradients(loss, variables, colocate_gradients_with_ops=colocate_gradients_with_ops)
        if gradient_noise_scale is not None:
            grads = _add_noise(grads, gradient_noise_scale)
        if gradient_multipliers is not None:
            grads = _multiply(grads, gradient_multipliers)
            if not grads:
                raise ValueError("Empty list of (gradient, var) pairs encountered. This is most likely to be caused "
                                 "by an improper value of gradient_multipliers.")
        norms_wanted = "global_gradient_norm" in summaries or "gradient_norm" in summaries
        if norms_wanted:
            summary_ops.scalar("global_norm/gradient_norm", _global_norm([_values(g) for g, _ in grads]))
        if isinstance(clip_gradients, numbers.Real) and not isinstance(clip_gradients, bool):
            gs, vs = zip(*grads)
            clipped, _ = math_ops.clip_by_global_norm(list(gs), float(clip_gradients))
            grads = list(zip(clipped, vs))
        elif callable(clip_gradients):
            grads = clip_gradients(grads)
        elif clip_gradients is not None:
            raise ValueError(f"Unknown type {type(clip_gradients)} for clip_gradients")
        if "loss" in summaries:
            summary_ops.scalar("loss", loss)
        for g, v in grads:
            values = _values(g) if g is not None else None
            if values is not None:
                var_name = v.name.replace(":", "_")
                if "gradients" in summaries:
                    summary_ops.histogram(f"gradients/{var_name}", values)
                if "gradient_norm" in summaries:
                    summary_ops.scalar(f"gradient_norm/{var_name}", math_ops.global_norm([values]))
        if clip_gradients is not None and norms_wanted:
            summary_ops.scalar("global_norm/clipped_gradient_norm", _global_norm([_values(g) for g, _ in grads]))
        train_op = opt.apply_gradients(grads, global_step=global_step if increment_global_step else None,
                                       name="train")
        return control_flow_ops.with_dependencies([train_op], loss)
