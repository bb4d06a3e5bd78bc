"""Colour and value functions against TensorFlow: dtype conversion, adjustments, colour spaces, statistics."""
import numpy as np
import pytest

import deferflow
from image_helpers import assert_same, run_both, static_shape

_rng = np.random.RandomState(9)
_RGB = _rng.rand(2, 5, 6, 3).astype(np.float32)
_RGB[0, 0, 0] = [0.5, 0.5, 0.5]  # grey: no hue
_RGB[0, 0, 1] = [0.0, 0.0, 0.0]
_RGB[0, 0, 2] = [1.0, 0.2, 0.2]  # ties between channels
_RGB[0, 0, 3] = [0.3, 0.9, 0.9]
_U8 = _rng.randint(0, 256, size=(2, 5, 6, 3)).astype(np.uint8)

_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]


@pytest.mark.parametrize("src", _DTYPES)
def test_convert_image_dtype_all_pairs(tf_real, src):
    info = np.iinfo(src) if np.dtype(src).kind in "iu" else None
    if info is not None:
        x = np.array([info.min, info.min + 1, -1 if info.min < 0 else 0, 0, 1, 7, info.max // 2, info.max - 1,
                      info.max], dtype=src)
    else:
        x = np.array([-0.5, 0.0, 1e-4, 0.25, 0.5, 0.999, 1.0, 1.5], dtype=src)

    def build(tf, v):
        return [tf.image.convert_image_dtype(v, tf.as_dtype(d), saturate=sat) for d in _DTYPES for sat in (False, True)
                if not (np.dtype(d).kind == "f" and False)]
    ours, theirs = run_both(tf_real, build, [(x, None)])
    # float -> integer without saturation overflows: that cast is platform-defined; compare where in range
    for (d, sat), a, b in zip([(d, s) for d in _DTYPES for s in (False, True)], ours, theirs):
        if info is None and np.dtype(d).kind in "iu" and not sat:
            ok = (x >= 0) & (x <= 1)
            assert_same(a[ok], b[ok])
        else:
            assert_same(a, b)


def test_convert_image_dtype_errors(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(AttributeError, match="dtype must be either floating point or integer"):
                tf.image.convert_image_dtype(tf.zeros([2, 2, 3]), tf.bool)
            with pytest.raises(AttributeError, match="image dtype must be either floating point or integer"):
                tf.image.convert_image_dtype(tf.zeros([2, 2, 3], tf.bool), tf.float32)


@pytest.mark.parametrize("img", [_RGB, _U8, _RGB.astype(np.float64)], ids=["f32", "u8", "f64"])
def test_adjustments(tf_real, img):
    def build(tf, x):
        return [tf.image.adjust_brightness(x, 0.2), tf.image.adjust_brightness(x, -0.7),
                tf.image.adjust_contrast(x, 1.7), tf.image.adjust_contrast(x, 0.3),
                tf.image.adjust_gamma(x, 0.5), tf.image.adjust_gamma(x, 2, gain=1.3),
                tf.image.adjust_saturation(x, 0.4), tf.image.adjust_saturation(x, 2.5),
                tf.image.adjust_hue(x, 0.3), tf.image.adjust_hue(x, -0.45), tf.image.adjust_hue(x, 1.0)]
    ours, theirs = run_both(tf_real, build, [(img, None)])
    assert_same(ours, theirs)


def test_adjust_contrast_odd_sizes_and_3d(tf_real):
    """The per-image mean follows TF's folding order of additions, for any pixel count."""
    for shape in [(1, 1, 3), (7, 3, 2), (3, 11, 13, 1), (2, 2, 9, 5, 4)]:
        x = (_rng.rand(*shape) * 100).astype(np.float32)
        ours, theirs = run_both(tf_real, lambda tf, v: tf.image.adjust_contrast(v, 2.3), [(x, None)])
        assert_same(ours, theirs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_rgb_hsv_round_trip(tf_real, dtype):
    def build(tf, x):
        hsv = tf.image.rgb_to_hsv(x)
        return [hsv, tf.image.hsv_to_rgb(hsv), tf.image.hsv_to_rgb(x)]
    ours, theirs = run_both(tf_real, build, [(_RGB.astype(dtype), None)])
    assert_same(ours, theirs, rtol=1e-6 if dtype != np.float16 else 1e-3, atol=1e-7)


def test_grayscale(tf_real):
    def build(tf, x, u):
        g = tf.image.rgb_to_grayscale(x)
        return [g, tf.image.rgb_to_grayscale(u), tf.image.grayscale_to_rgb(g),
                tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(u[0]))]
    feeds = [(_RGB, None), (_U8, [None, None, None, 3])]
    ours, theirs = run_both(tf_real, build, feeds)
    assert_same(ours, theirs, rtol=1e-6, atol=1e-7)
    assert static_shape(deferflow, build, feeds) == static_shape(tf_real, build, feeds)
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(ValueError, match="Last dimension of a grayscale image should be size 1."):
                tf.image.grayscale_to_rgb(tf.zeros([2, 2, 3]))
            with pytest.raises(ValueError, match="must be at least two-dimensional"):
                tf.image.grayscale_to_rgb(tf.zeros([1]))


def test_standardization_variation_gradients_psnr(tf_real):
    def build(tf, x, u):
        dy, dx = tf.image.image_gradients(x)
        return [tf.image.per_image_standardization(x), tf.image.per_image_standardization(u[0]),
                tf.image.per_image_standardization(tf.ones([4, 4, 3])), tf.image.total_variation(x),
                tf.image.total_variation(x[1]), dy, dx, tf.image.psnr(x, x[::-1], 1.0),
                tf.image.psnr(u, u[::-1], 255)]
    feeds = [(_RGB, [None, None, None, 3]), (_U8, None)]
    ours, theirs = run_both(tf_real, build, feeds)
    assert_same(ours, theirs, rtol=2e-6, atol=2e-6)
    assert static_shape(deferflow, build, feeds) == static_shape(tf_real, build, feeds)


def test_random_color_functions_draw_factors_in_range():
    x = _RGB
    with deferflow.Graph().as_default():
        deferflow.set_random_seed(4)
        ops_ = [deferflow.image.random_brightness(x, 0.3), deferflow.image.random_contrast(x, 0.5, 1.5),
                deferflow.image.random_saturation(x, 0.5, 1.5), deferflow.image.random_hue(x, 0.2)]
        with deferflow.Session() as sess:
            runs = [sess.run(ops_) for _ in range(4)]
    for bright, *_ in runs:
        delta = bright - x
        assert np.allclose(delta, delta.flat[0], atol=1e-6) and abs(delta.flat[0]) <= 0.3
    assert not np.allclose(runs[0][1], runs[1][1])  # a new factor every run
    for tf_fn, args, msg in [("random_brightness", (-0.1,), "max_delta must be non-negative."),
                             ("random_contrast", (0.5, 0.5), "upper must be > lower."),
                             ("random_contrast", (-0.5, 0.5), "lower must be non-negative."),
                             ("random_saturation", (1.0, 0.5), "upper must be > lower."),
                             ("random_hue", (0.6,), "max_delta must be <= 0.5."),
                             ("random_hue", (-0.1,), "max_delta must be non-negative.")]:
        with pytest.raises(ValueError) as e:
            getattr(deferflow.image, tf_fn)(x, *args)
        assert str(e.value) == msg


@pytest.mark.parametrize("fn, x, message", [
    ("adjust_saturation", np.zeros([2, 2, 4], np.float32), "input must have 3 channels but instead has 4 channels."),
    ("adjust_hue", np.zeros([2, 2, 2], np.float32), "input must have 3 channels but instead has 2 channels."),
    ("adjust_contrast", np.zeros([2, 2], np.float32), "input must be at least 3-D"),
])
def test_colour_kernel_errors(tf_real, fn, x, message):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            ph = tf.placeholder(tf.float32)
            y = getattr(tf.image, fn)(ph, 0.5)
            with tf.Session() as sess:
                with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                    sess.run(y, {ph: x})
