"""Small framework behaviours: gradient overrides recorded on ops, lazily registered op families, and
dtype limits."""
import subprocess
import sys

import numpy as np

import deferflow as tf


def test_gradient_override_is_recorded_on_the_op_and_outlives_the_block(tf_real):
    results = []
    for lib in (tf, tf_real):
        with lib.Graph().as_default() as g:
            @lib.RegisterGradient(f"Triple{len(results)}")
            def _triple(op, grad):
                return [grad * 3.0]
            x = lib.constant([1.0, 2.0])
            with g.gradient_override_map({"Identity": f"Triple{len(results)}"}):
                y = lib.identity(x)
            plain = lib.identity(x)
            grads = lib.gradients([y, plain], x)[0]  # computed after the block: 3 + 1 per element
            results.append((lib.Session().run(grads).tolist(), y.op.get_attr("_gradient_op_type")))
    assert results[0] == ([4.0, 4.0], b"Triple0") and results[1] == ([4.0, 4.0], b"Triple1")


def test_lazily_loaded_op_families_are_found_by_type():
    """tf.data and tf.image load on first use; their op types are still known to a fresh process, so a
    graph holding ResizeBilinear or TensorSliceDataset imports with kernels."""
    code = ("import sys, deferflow\n"
            "from deferflow.framework import op_registry\n"
            "assert 'deferflow.ops.image_ops' not in sys.modules\n"
            "assert op_registry.get('ResizeBilinear').kernel_fn is not None\n"
            "assert op_registry.get('TensorSliceDataset') is not None\n"
            "assert op_registry.get('NoSuchOpType') is None\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dtype_limits():
    assert tf.float32.max == float(np.finfo(np.float32).max) and tf.float16.min == -65504.0
    assert tf.bfloat16.max > 3e38 and tf.int8.min == -128 and tf.uint16.max == 65535


def test_tensordot_with_shapes_known_only_at_run_time(tf_real):
    """A side with no free axes gathers an empty index list: it must stay an int32 index."""
    out = []
    for lib in (tf, tf_real):
        with lib.Graph().as_default():
            x = lib.placeholder(lib.float32, [None, 3])
            w = lib.placeholder(lib.float32, [None])
            y = lib.tensordot(x, w, [[1], [0]])
            z = lib.tensordot(x, lib.placeholder_with_default(np.ones((3, 2), np.float32), [None, None]), 1)
            out.append(lib.Session().run([y, z], {x: np.arange(6, dtype=np.float32).reshape(2, 3),
                                                  w: np.array([1.0, 2.0, 3.0], np.float32)}))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
