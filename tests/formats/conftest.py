import base64
import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

GOLDEN = os.path.join(ROOT, "tests", "golden")
CHECKPOINT_CASES = ["dtypes", "resource", "adam", "partitioned", "sharded"]


def golden_prefix(case):
    return os.path.join(GOLDEN, case, "model.ckpt")


def load_expected():
    with open(os.path.join(GOLDEN, "expected.json")) as f:
        return json.load(f)


def expected_array(spec):
    """ndarray from an expected.json entry (dtype, shape, values)."""
    import ml_dtypes
    dtype = spec["dtype"]
    if dtype == "string":
        values = [base64.b64decode(v) for v in spec["values"]]
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out.reshape(spec["shape"])
    if dtype.startswith("complex"):
        return np.array([complex(*v) for v in spec["values"]], dtype).reshape(spec["shape"])
    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    return np.array(spec["values"], dtype=np.float64 if dtype == "bfloat16" else np_dtype).astype(
        np_dtype).reshape(spec["shape"])


def import_tf():
    """The tensorflow module (eager; use tf.compat.v1 inside tf.Graph() for graph code), or skip."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except Exception as e:  # ImportError, or a broken install
        if os.environ.get("CI"):
            pytest.fail(f"TensorFlow is not importable but CI must run the interop tests: {e}")
        pytest.skip(f"tensorflow not importable: {e}")
    return tf


@pytest.fixture
def tf():
    """Eager TensorFlow, even after other tests switched the process to graph mode (disable_v2_behavior)."""
    tf = import_tf()
    from tensorflow.python.eager import context
    with context.eager_mode():
        yield tf


def assert_same(actual, expected):
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert actual.dtype == object
        assert actual.reshape(-1).tolist() == expected.reshape(-1).tolist()
    else:
        assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
        assert actual.tobytes() == expected.tobytes()
