"""``slim_real``: the ``tf_slim`` package on real TensorFlow, the oracle for ``tf.contrib.layers``/``slim``.

Two shims make tf_slim 1.1 run on TF 2.21 (oracle-side only): TF's lazy loader looks for the legacy layers
at ``tf_keras.legacy_tf_layers`` (tf_keras ships them under ``tf_keras.src``), and tf_slim uses
``ops.Tensor`` and ``ops.IndexedSlices``, which TF 2.21's ``framework.ops`` no longer exports.
"""
import os
import sys

import pytest


@pytest.fixture(scope="session")
def slim_real(tf_real):
    try:
        import tf_keras.src.legacy_tf_layers as legacy
        import tf_keras.src.legacy_tf_layers.normalization as legacy_norm
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.framework import indexed_slices as tf_indexed_slices
        from tensorflow.python.framework import tensor as tf_tensor
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"tf_keras is needed for the tf_slim oracle: {e}")
        pytest.skip(f"tf_keras is not installed: {e}")
    sys.modules.setdefault("tf_keras.legacy_tf_layers", legacy)
    sys.modules.setdefault("tf_keras.legacy_tf_layers.normalization", legacy_norm)
    if not hasattr(tf_ops, "Tensor"):
        tf_ops.Tensor = tf_tensor.Tensor
    if not hasattr(tf_ops, "IndexedSlices"):
        tf_ops.IndexedSlices = tf_indexed_slices.IndexedSlices
    try:
        import tf_slim
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("tf-slim is not installed but CI must run the contrib interop tests")
        pytest.skip("tf-slim is not installed")
    return tf_slim
