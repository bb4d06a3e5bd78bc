"""The error for a ``tf.contrib`` name deferflow does not provide."""


def missing(module_path, name):
    """An ``AttributeError`` naming the missing symbol (dunder look-ups stay ordinary)."""
    if name.startswith("__") and name.endswith("__"):
        return AttributeError(f"module {module_path!r} has no attribute {name!r}")
    return AttributeError(f"deferflow does not implement {module_path}.{name}")
