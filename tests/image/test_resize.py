"""Resize ops and tf.image.resize_images against TensorFlow: exact float32 sampling, dtypes, static shapes,
errors. Gradients are in test_image_gradients.py."""
import numpy as np
import pytest

import deferflow
from image_helpers import assert_same, run_both, static_shape

_rng = np.random.RandomState(3)
_IMG = (_rng.rand(2, 5, 7, 3) * 255).astype(np.float32)
_OPS = ["resize_bilinear", "resize_nearest_neighbor", "resize_bicubic", "resize_area"]
_SIZES = [(3, 4), (10, 13), (1, 1), (16, 5), (5, 7)]
_MODES = [(False, False), (True, False), (False, True)]


def _kw(op, ac, hp):
    return dict(align_corners=ac) if op == "resize_area" else dict(align_corners=ac, half_pixel_centers=hp)


@pytest.mark.parametrize("op", _OPS)
def test_resize_ops_bit_exact_float32(tf_real, op):
    """Every size and sampling mode in one graph; float32 results equal TensorFlow's bit for bit."""
    cases = [(s, ac, hp) for s in _SIZES for ac, hp in _MODES if not (op == "resize_area" and hp)]

    def build(tf, x):
        return [getattr(tf.image, op)(x, list(s), **_kw(op, ac, hp)) for s, ac, hp in cases]
    ours, theirs = run_both(tf_real, build, [(_IMG, None)])
    assert_same(ours, theirs)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64, np.float16, np.int16])
@pytest.mark.parametrize("op", _OPS)
def test_resize_ops_input_dtypes(tf_real, op, dtype):
    """Integer and other float inputs: float32 out (the input dtype for nearest neighbor), same values."""
    x = _IMG.astype(dtype)

    def build(tf, x):
        return [getattr(tf.image, op)(x, [4, 9], **_kw(op, False, hp)) for hp in (False, True)
                if not (op == "resize_area" and hp)]
    ours, theirs = run_both(tf_real, build, [(x, None)])
    assert_same(ours, theirs)


def test_resize_ops_dynamic_size_and_shape(tf_real):
    """Unknown batch/size: static shapes as TF infers them, values from the fed size."""
    def build(tf, x, size):
        return [tf.image.resize_bilinear(x, size), tf.image.resize_nearest_neighbor(x, [6, 2]),
                tf.image.resize_bicubic(x, tf.constant([3, 3]) * 2)]
    feeds = [(_IMG, [None, None, None, 3]), (np.array([4, 6], np.int32), [2])]
    ours, theirs = run_both(tf_real, build, feeds)
    assert_same(ours, theirs)
    assert static_shape(deferflow, build, feeds) == static_shape(tf_real, build, feeds)


_METHODS = ["BILINEAR", "NEAREST_NEIGHBOR", "BICUBIC", "AREA"]


@pytest.mark.parametrize("method", _METHODS)
@pytest.mark.parametrize("align", [False, True])
def test_resize_images_methods_3d_and_4d(tf_real, method, align):
    def build(tf, x):
        m = getattr(tf.image.ResizeMethod, method)
        return [tf.image.resize_images(x, [8, 3], method=m, align_corners=align),
                tf.image.resize_images(x[0], [8, 3], method=m, align_corners=align),
                tf.image.resize(x, (2, 11), method=m, align_corners=align)]
    ours, theirs = run_both(tf_real, build, [(_IMG, None)])
    assert_same(ours, theirs)


def test_resize_images_method_strings_and_integer_images(tf_real):
    """TF2's method strings are accepted; an integer image of the same size comes back unresized (its dtype)."""
    x = _IMG.astype(np.uint8)

    def build(tf, x):
        return [tf.image.resize_images(x, [4, 4], method="bicubic"), tf.image.resize_images(x, [5, 7]),
                tf.image.resize_images(x, [4, 4], method="nearest"), tf.image.resize_images(x, [9, 9], method=3)]
    ours, theirs = run_both(tf_real, build, [(x, None)])
    assert_same(ours, theirs)
    assert ours[1].dtype == np.uint8 and ours[0].dtype == np.float32


@pytest.mark.parametrize("shape", [[2, 5, 7, 3], [None, None, None, 3], [5, 7, 3]])
def test_resize_images_preserve_aspect_ratio(tf_real, shape):
    x = _IMG if len(shape) == 4 else _IMG[0]

    def build(tf, x):
        return [tf.image.resize_images(x, [20, 20], preserve_aspect_ratio=True),
                tf.image.resize_images(x, [3, 100], preserve_aspect_ratio=True, method=1)]
    ours, theirs = run_both(tf_real, build, [(x, shape)])
    assert_same(ours, theirs)
    assert static_shape(deferflow, build, [(x, shape)]) == static_shape(tf_real, build, [(x, shape)])


def test_resize_images_static_shapes(tf_real):
    feeds = [(_IMG, [None, 5, None, 3]), (np.array([2, 3], np.int32), [2])]

    def build(tf, x, size):
        return [tf.image.resize_images(x, [4, 6]), tf.image.resize_images(x, size),
                tf.image.resize_images(x[0], [4, 6]), tf.image.resize_images(x, tf.stack([4, size[1]]))]
    assert static_shape(deferflow, build, feeds) == static_shape(tf_real, build, feeds)
    ours, theirs = run_both(tf_real, build, feeds)
    assert_same(ours, theirs)


# ---- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("images, size, message", [
    (np.zeros([2, 3], np.float32), [2, 2], "'images' must have either 3 or 4 dimensions."),
    (np.zeros([1, 2, 3, 4, 5], np.float32), [2, 2], "'images' must have either 3 or 4 dimensions."),
    (np.zeros([2, 3, 1], np.float32), [2, 2, 2], "'size' must be a 1-D Tensor of 2 elements: new_height, new_width"),
    (np.zeros([2, 3, 1], np.float32), [2.5, 2], "'size' must be a 1-D int32 Tensor"),
])
def test_resize_images_value_errors(tf_real, images, size, message):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(ValueError) as e:
                tf.image.resize_images(tf.constant(images), size)
            assert str(e.value) == message


def test_resize_images_unknown_rank_and_bad_method(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(ValueError, match="'images' contains no shape."):
                tf.image.resize_images(tf.placeholder(tf.float32), [2, 2])
            with pytest.raises(ValueError, match="Resize method is not implemented: 7"):
                tf.image.resize_images(tf.zeros([4, 4, 1]), [2, 2], method=7)


def test_resize_op_rank_error_at_graph_build(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(ValueError, match="Shape must be rank 4 but is rank 3"):
                tf.image.resize_bilinear(tf.zeros([4, 4, 1]), [2, 2])


@pytest.mark.parametrize("op", _OPS)
@pytest.mark.parametrize("x, size, kw, message", [
    (np.zeros([1, 0, 3, 1], np.float32), [2, 2], {}, "input image must be of non-zero size"),
    (np.zeros([1, 3, 3, 1], np.float32), [0, 2], {}, "output dimensions must be positive"),
    (np.zeros([1, 3, 3, 0], np.float32), [2, 2], {}, "image must have at least one channel"),
    (np.zeros([1, 3, 3, 1], np.float32), [2, 2], {"align_corners": True, "half_pixel_centers": True},
     "If half_pixel_centers is True, align_corners must be False."),
])
def test_resize_op_runtime_errors(tf_real, op, x, size, kw, message):
    if op == "resize_area" and "half_pixel_centers" in kw:
        pytest.skip("ResizeArea has no half_pixel_centers attr")
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            xs = tf.placeholder(tf.float32, [None] * 4)
            sz = tf.placeholder(tf.int32, [2])
            y = getattr(tf.image, op)(xs, sz, **kw)
            with tf.Session() as sess:
                with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                    sess.run(y, {xs: x, sz: size})
