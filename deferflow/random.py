"""The ``tf.random`` namespace (TF 1.x's compat names)."""
from deferflow.ops.random_ops import (  # noqa: F401
    categorical, get_seed, multinomial, random_normal as normal, random_shuffle as shuffle,
    random_uniform as uniform, set_random_seed, truncated_normal)


def __getattr__(name):
    if name == "crop":  # tf.image's, imported on first use
        from deferflow.ops.image_ops import random_crop
        return random_crop
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
