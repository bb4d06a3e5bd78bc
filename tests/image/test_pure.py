"""tf.image checks that need no TensorFlow: known closed-form results of the resize and flip ops."""
import numpy as np

import deferflow as tf


def _run(t, feed=None):
    with tf.Session() as sess:
        return sess.run(t, feed)


def test_bilinear_align_corners_reproduces_a_linear_ramp():
    ramp = np.add.outer(np.arange(4.0) * 2, np.arange(5.0))[None, :, :, None].astype(np.float32)
    out = _run(tf.image.resize_bilinear(ramp, [7, 9], align_corners=True))
    want = np.add.outer(np.linspace(0, 6, 7), np.linspace(0, 4, 9))[None, :, :, None]
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)


def test_area_halving_is_the_2x2_mean_and_nearest_keeps_dtype():
    x = np.arange(2 * 4 * 6 * 3).reshape(2, 4, 6, 3).astype(np.uint8)
    area = _run(tf.image.resize_area(x, [2, 3]))
    want = x.reshape(2, 2, 2, 3, 2, 3).astype(np.float64).mean(axis=(2, 4))
    assert area.dtype == np.float32
    np.testing.assert_allclose(area, want, rtol=1e-6)
    nn = _run(tf.image.resize_nearest_neighbor(x, [8, 12]))
    assert nn.dtype == np.uint8 and np.array_equal(nn, x.repeat(2, axis=1).repeat(2, axis=2))


def test_bicubic_upsampling_keeps_constants_and_flips_match_numpy():
    c = np.full((1, 3, 4, 2), 7.5, np.float32)
    for hp in (False, True):
        np.testing.assert_allclose(_run(tf.image.resize_bicubic(c, [5, 9], half_pixel_centers=hp)), 7.5, rtol=1e-6)
    x = np.random.RandomState(0).rand(2, 3, 4, 1).astype(np.float32)
    lr, ud, r1 = _run([tf.image.flip_left_right(x), tf.image.flip_up_down(x), tf.image.rot90(x)])
    assert np.array_equal(lr, x[:, :, ::-1]) and np.array_equal(ud, x[:, ::-1])
    assert np.array_equal(r1, np.rot90(x, 1, axes=(1, 2)))


def test_resize_gradient_sums_to_the_upstream_total():
    """Bilinear weights sum to one, so the image gradient conserves the upstream gradient's sum."""
    x = tf.constant(np.random.RandomState(1).rand(1, 5, 6, 2).astype(np.float32))
    y = tf.image.resize_bilinear(x, [9, 4], half_pixel_centers=True)
    g = np.random.RandomState(2).rand(1, 9, 4, 2).astype(np.float32)
    dx = _run(tf.gradients(y, x, grad_ys=g)[0])
    np.testing.assert_allclose(dx.sum(), g.sum(), rtol=1e-5)


def test_convert_image_dtype_round_trip_and_standardization():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    f = tf.image.convert_image_dtype(x, tf.float32)
    back = tf.image.convert_image_dtype(f, tf.uint8)
    std = tf.image.per_image_standardization(f)
    fv, bv, sv = _run([f, back, std])
    np.testing.assert_allclose(fv, x / 255.0, rtol=1e-6)
    assert np.array_equal(bv, x)
    assert abs(sv.mean()) < 1e-5 and abs(sv.std() - 1) < 1e-4
