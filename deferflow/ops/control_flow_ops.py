"""Grouping ops: ``NoOp``, ``tf.group``, ``tf.tuple``, ``with_dependencies``."""
import builtins

from deferflow.framework import op_registry, ops
from deferflow.framework.ops import Operation, Tensor

NoOp = op_registry.define("NoOp")
NoOp.shape(lambda op: [])
NoOp.kernel(lambda: None)
NoOp.no_gradient()


def no_op(name=None):
    return ops.apply_op("NoOp", name=name or "NoOp")


def _as_op(x):
    x = getattr(x, "_as_graph_element", lambda: x)() if not isinstance(x, (Tensor, Operation)) else x
    return x.op if isinstance(x, Tensor) else x


def group(*inputs, name=None):
    """An op that runs all ``inputs`` (a ``NoOp`` with them as control inputs)."""
    flat = []
    for x in inputs:
        if isinstance(x, (list, builtins.tuple)):
            flat.extend(x)
        elif isinstance(x, dict):
            flat.extend(x.values())
        else:
            flat.append(x)
    if not flat:
        return no_op(name=name or "NoOp")
    with ops.name_scope(name, "group_deps", flat) as scope:
        deps = [_as_op(x) for x in flat]
        deps = sorted(set(deps), key=lambda o: o.name)
        with ops.control_dependencies(deps):
            return no_op(name=scope)


def with_dependencies(dependencies, output_tensor, name=None):
    with ops.name_scope(name, "control_dependency", list(dependencies) + [output_tensor]) as scope:
        with ops.control_dependencies(dependencies):
            if isinstance(output_tensor, Operation):
                return group(output_tensor, name=scope)
            return ops.apply_op("Identity", name=scope, input=output_tensor)


def tuple(tensors, name=None, control_inputs=None):  # noqa: A001 - TF's name
    """Tensors with the same values, each available only after all of them are computed."""
    with ops.name_scope(name, "tuple", tensors) as scope:
        real = [t for t in tensors if t is not None]
        gating = group(*real) if not control_inputs else group(*(real + list(control_inputs)))
        return [None if t is None else with_dependencies([gating], t) for t in tensors]
