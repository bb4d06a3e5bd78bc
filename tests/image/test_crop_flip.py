"""Cropping, padding, flipping, rotating and random crops/flips against TensorFlow (values, static shapes, errors)."""
import numpy as np
import pytest

import deferflow
from image_helpers import assert_same, run_both, static_shape

_rng = np.random.RandomState(5)
_IMG = _rng.randint(0, 255, size=(2, 6, 5, 3)).astype(np.float32)


def _feeds(img, kind):
    return [(img, None if kind == "static" else [None] * (img.ndim - 1) + [img.shape[-1]])]


@pytest.mark.parametrize("kind", ["static", "dynamic"])
@pytest.mark.parametrize("img", [_IMG, _IMG[0]], ids=["4d", "3d"])
def test_flips_rot90_transpose(tf_real, img, kind):
    def build(tf, x):
        return [tf.image.flip_left_right(x), tf.image.flip_up_down(x), tf.image.transpose_image(x),
                tf.image.rot90(x), tf.image.rot90(x, k=2), tf.image.rot90(x, 3), tf.image.rot90(x, -1),
                tf.image.rot90(x, tf.constant(5))]
    feeds = _feeds(img, kind)
    ours, theirs = run_both(tf_real, build, feeds)
    assert_same(ours, theirs)
    assert static_shape(deferflow, build, feeds) == static_shape(tf_real, build, feeds)


def test_flips_unknown_rank(tf_real):
    def build(tf, x):
        ph = tf.placeholder_with_default(x, shape=None)
        return [tf.image.flip_left_right(ph), tf.image.flip_up_down(ph)]
    for img in (_IMG, _IMG[0]):
        ours, theirs = run_both(tf_real, build, [(img, None)])
        assert_same(ours, theirs)
    feeds = [(_IMG[0], None)]
    assert static_shape(deferflow, build, feeds) == static_shape(tf_real, build, feeds)


@pytest.mark.parametrize("kind", ["static", "dynamic"])
@pytest.mark.parametrize("img", [_IMG, _IMG[0]], ids=["4d", "3d"])
def test_crop_pad_central(tf_real, img, kind):
    def build(tf, x):
        return [tf.image.crop_to_bounding_box(x, 1, 2, 4, 3), tf.image.pad_to_bounding_box(x, 2, 1, 9, 8),
                tf.image.resize_image_with_crop_or_pad(x, 4, 9), tf.image.resize_image_with_crop_or_pad(x, 8, 2),
                tf.image.resize_image_with_crop_or_pad(x, 6, 5), tf.image.central_crop(x, 0.5),
                tf.image.central_crop(x, 0.33), tf.image.central_crop(x, 1.0)]
    feeds = _feeds(img, kind)
    ours, theirs = run_both(tf_real, build, feeds)
    assert_same(ours, theirs)
    assert static_shape(deferflow, build, feeds) == static_shape(tf_real, build, feeds)


def test_crop_pad_with_tensor_offsets_and_sizes(tf_real):
    def build(tf, x, oh, th):
        return [tf.image.crop_to_bounding_box(x, oh, 1, th, 2), tf.image.pad_to_bounding_box(x, oh, 0, th + 6, 7),
                tf.image.resize_image_with_crop_or_pad(x, th, 7), tf.image.central_crop(x, tf.constant(0.6)),
                tf.image.central_crop(x, tf.constant(0.6) + 0.0)]
    feeds = [(_IMG, None), (np.int32(1), []), (np.int32(3), [])]
    ours, theirs = run_both(tf_real, build, feeds)
    assert_same(ours, theirs)
    # TF's shape inference also folds the float arithmetic of a computed fraction; deferflow leaves it unknown
    assert static_shape(deferflow, build, feeds)[:-1] == static_shape(tf_real, build, feeds)[:-1]


@pytest.mark.parametrize("fn, args, message", [
    ("crop_to_bounding_box", (-1, 0, 2, 2), "offset_height must be >= 0."),
    ("crop_to_bounding_box", (0, -1, 2, 2), "offset_width must be >= 0."),
    ("crop_to_bounding_box", (0, 0, 0, 2), "target_height must be > 0."),
    ("crop_to_bounding_box", (0, 0, 2, 0), "target_width must be > 0."),
    ("crop_to_bounding_box", (5, 0, 2, 2), "height must be >= target + offset."),
    ("crop_to_bounding_box", (0, 4, 2, 2), "width must be >= target + offset."),
    ("pad_to_bounding_box", (-1, 0, 9, 9), "offset_height must be >= 0"),
    ("pad_to_bounding_box", (0, 0, 3, 9), "height must be <= target - offset"),
    ("pad_to_bounding_box", (0, 0, 9, 3), "width must be <= target - offset"),
    ("resize_image_with_crop_or_pad", (0, 4), "target_height must be > 0."),
    ("central_crop", (0.0,), "central_fraction must be within (0, 1]"),
    ("central_crop", (1.5,), "central_fraction must be within (0, 1]"),
])
def test_static_argument_errors(tf_real, fn, args, message):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(ValueError) as e:
                getattr(tf.image, fn)(tf.constant(_IMG[0]), *args)
            assert str(e.value) == message


@pytest.mark.parametrize("fn, args", [("flip_left_right", ()), ("flip_up_down", ()), ("rot90", ()),
                                      ("transpose_image", ()), ("crop_to_bounding_box", (0, 0, 1, 1)),
                                      ("pad_to_bounding_box", (0, 0, 1, 1)), ("central_crop", (0.5,))])
def test_rank_errors(tf_real, fn, args):
    msgs = []
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(ValueError) as e:
                getattr(tf.image, fn)(tf.zeros([1, 2, 3, 4, 1]) if fn not in ("flip_left_right",) else
                                      tf.zeros([2, 3]), *args)
            msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_runtime_check_of_dynamic_image(tf_real):
    """A fed image with an empty inner dim fails the run, as TF's assert_positive does."""
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            x = tf.placeholder(tf.float32, [None, None, 3])
            y = tf.image.flip_left_right(x)
            c = tf.image.crop_to_bounding_box(x, 0, 0, 2, 2)
            with tf.Session() as sess:
                with pytest.raises(tf.errors.InvalidArgumentError,
                                   match="inner 3 dims of .*image.shape.* must be > 0."):
                    sess.run(y, {x: np.zeros([0, 2, 3])})
                with pytest.raises(tf.errors.InvalidArgumentError, match="height must be >= target \\+ offset."):
                    sess.run(c, {x: np.zeros([1, 5, 3])})


# ---- random crops and flips: semantics (not TF's random stream) ------------------------------------
def test_random_crop_is_a_window_and_seeded_graphs_repeat():
    x = np.arange(6 * 7 * 3).reshape(6, 7, 3).astype(np.float32)
    runs = []
    for _ in range(2):
        with deferflow.Graph().as_default():
            deferflow.set_random_seed(3)
            c = deferflow.random_crop(x, [3, 4, 3])
            c2 = deferflow.image.random_crop(x, [6, 7, 3])
            with deferflow.Session() as sess:
                vals = [sess.run(c) for _ in range(12)]
                assert np.array_equal(sess.run(c2), x)
        runs.append(vals)
    for v in runs[0]:
        offs = np.argwhere(x == v[0, 0, 0])[0]
        assert np.array_equal(v, x[offs[0]:offs[0] + 3, offs[1]:offs[1] + 4])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))  # same seed, same crops
    assert len({v[0, 0, 0] for v in runs[0]}) > 1  # offsets vary between runs


def test_random_crop_too_large_fails_like_tf(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            x = tf.placeholder(tf.float32, [None, None])
            c = tf.random_crop(x, [3, 3])
            assert c.shape.as_list() == [3, 3]
            with tf.Session() as sess:
                with pytest.raises(tf.errors.InvalidArgumentError, match="Need value.shape >= size, got"):
                    sess.run(c, {x: np.zeros([2, 5])})


@pytest.mark.parametrize("fn, axis", [("random_flip_left_right", 1), ("random_flip_up_down", 0)])
def test_random_flips_flip_or_keep_each_image(tf_real, fn, axis):
    x = _rng.rand(16, 4, 5, 2).astype(np.float32)
    with deferflow.Graph().as_default():
        deferflow.set_random_seed(1)
        y4 = getattr(deferflow.image, fn)(x)
        y3 = getattr(deferflow.image, fn)(x[0], seed=7)
        with deferflow.Session() as sess:
            got4 = sess.run(y4)
            got3 = [sess.run(y3) for _ in range(20)]
    flipped = [np.array_equal(g, np.flip(i, axis)) for g, i in zip(got4, x)]
    kept = [np.array_equal(g, i) for g, i in zip(got4, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    assert any(np.array_equal(g, x[0]) for g in got3) and any(np.array_equal(g, np.flip(x[0], axis)) for g in got3)
    feeds = [(x, [None, 4, 5, 2])]
    build = lambda tf, v: [getattr(tf.image, fn)(v), getattr(tf.image, fn)(v[0])]  # noqa: E731
    assert static_shape(deferflow, build, feeds) == static_shape(tf_real, build, feeds)
