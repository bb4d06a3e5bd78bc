"""``tf.raw_ops``: every registered op type as a keyword-only function, ``tf.raw_ops.MatMul(a=..., b=...)``."""
from deferflow.framework import op_registry as _op_registry
from deferflow.framework.ops import apply_op as _apply_op


def __getattr__(op_type):
    od = _op_registry.get(op_type)
    if od is None or od.from_graph and od.kernel_fn is None:
        raise AttributeError(f"module 'deferflow.raw_ops' has no attribute {op_type!r}")

    def op(name=None, **kwargs):
        return _apply_op(op_type, name=name, **kwargs)
    op.__name__ = op_type
    op.__doc__ = f"Creates a ``{op_type}`` op; inputs and attrs by their TF names."
    return op


def __dir__():
    return sorted(n for n, od in _op_registry.registered_ops().items() if not od.from_graph)
