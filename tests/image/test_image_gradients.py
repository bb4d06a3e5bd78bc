"""Gradients of the differentiable image ops: finite differences and real TensorFlow's gradients.

The cases join ``tests/ops/test_gradients.GRADIENT_CASES`` (the registry-wide coverage check sees the image ops
when this module is collected) and run here too, as tests/nn does for its ops.
"""
import os
import sys

import numpy as np
import pytest

import deferflow

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
import test_gradients as tg  # noqa: E402
from test_gradients import case  # noqa: E402

_rng = np.random.RandomState(11)


def _img(*shape):
    return _rng.uniform(0.1, 1.0, size=shape)


def _resize(op, size, **kw):
    """float64 image in, float64 out: the resize ops compute in float32, so differences use a large step."""
    def build(tf, x):
        return tf.cast(getattr(tf.image, op)(x, size, **kw), tf.float64)
    return build


def _f32(name, build, *inputs, **kw):
    return case(name, build, *inputs, eps=1e-2, rtol=1e-4, atol=1e-5, **kw)


IMAGE_CASES = []
for _op in ("resize_bilinear", "resize_bicubic", "resize_nearest_neighbor"):
    for _size, _kw in (([3, 5], {}), ([7, 9], {"align_corners": True}), ([6, 4], {"half_pixel_centers": True})):
        _tag = "_".join(k for k in _kw) or "legacy"
        _build = _resize(_op, _size, **_kw)
        if _op == "resize_nearest_neighbor":  # float64 stays float64: exact
            IMAGE_CASES.append(case(f"image_{_op}_{_tag}", _build, _img(2, 4, 5, 2)))
        else:
            IMAGE_CASES.append(_f32(f"image_{_op}_{_tag}", _build, _img(2, 4, 5, 2)))
IMAGE_CASES.append(_f32("image_resize_images_3d_bilinear",
                        lambda tf, x: tf.cast(tf.image.resize_images(x, [5, 2]), tf.float64), _img(3, 4, 1),
                        unknown_rank=False))  # TF refuses an image of unknown rank

_HSV_IN = _rng.permutation(np.linspace(0.05, 0.95, 24)).reshape(2, 4, 3)  # no ties, no zeros
IMAGE_CASES.append(case("image_rgb_to_hsv", lambda tf, x: tf.image.rgb_to_hsv(x), _HSV_IN, eps=1e-7))
IMAGE_CASES.append(case("image_rgb_to_hsv_channels", lambda tf, x: tf.image.rgb_to_hsv(x)[..., 1:], _HSV_IN[:, ::-1],
                        eps=1e-7))

tg.GRADIENT_CASES.extend(IMAGE_CASES)


@pytest.mark.parametrize("mode", ["static", "dynamic"])
@pytest.mark.parametrize("c", IMAGE_CASES, ids=lambda c: c.name)
def test_image_gradient_matches_finite_differences(c, mode):
    tg.test_gradient_matches_finite_differences(c, mode)


@pytest.mark.parametrize("c", IMAGE_CASES, ids=lambda c: c.name)
def test_image_gradient_matches_tensorflow(tf_real, c):
    tg.assert_gradients_match_tensorflow(tf_real, c, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["resize_bilinear", "resize_bicubic", "resize_nearest_neighbor"])
def test_resize_grad_ops_directly(tf_real, op, dtype):
    """The ...Grad kernels on float32/float64 images, upsampling and downsampling, as TensorFlow."""
    x = _img(2, 5, 7, 3).astype(dtype)
    outs = []
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            xt = tf.constant(x)
            grads = []
            for size, kw in (([3, 4], {}), ([11, 13], {"align_corners": True}), ([9, 2], {"half_pixel_centers": True})):
                y = getattr(tf.image, op)(xt, size, **kw)
                gy = tf.constant(np.random.RandomState(5).randn(2, size[0], size[1], 3).astype(y.dtype.as_numpy_dtype))
                grads.append(tf.gradients(y, xt, grad_ys=gy)[0])
            with tf.Session() as sess:
                outs.append(sess.run(grads))
    for a, b in zip(*outs):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-10, atol=1e-5)


def test_bicubic_gradient_of_integer_image_is_none_and_area_has_none(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            x = tf.placeholder(tf.uint8, [1, 4, 4, 1])
            assert tf.gradients(tf.image.resize_bicubic(x, [2, 2]), x) == [None]
            z = tf.zeros([1, 4, 4, 1])
            with pytest.raises(LookupError, match="ResizeArea"):
                tf.gradients(tf.image.resize_area(z, [2, 2]), z)
