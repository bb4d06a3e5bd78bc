"""``tf.multinomial`` / ``tf.random.categorical`` (the Multinomial op) and the ``tf.random`` namespace."""
import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import errors

PROBS = np.array([[0.1, 0.2, 0.3, 0.4, 0.0], [0.5, 0.0, 0.0, 0.25, 0.25]])


def _graph(lib):
    with lib.Graph().as_default() as g:
        logits = lib.placeholder(lib.float32, [None, 5], name="logits")
        m = lib.multinomial(logits, 3, seed=1)
        c = lib.random.categorical(logits, 4, dtype=lib.int32)
        return ([(op.name, op.type) for op in g.get_operations()], m.shape.as_list(), m.dtype, c.shape.as_list(),
                c.dtype, lib.gradients(lib.reduce_sum(lib.cast(m, lib.float32)), logits))


def test_graph_matches_tensorflow(tf_real):
    ours, theirs = _graph(tf), _graph(tf_real)
    assert ours[0] == theirs[0] and ours[1] == theirs[1] == [None, 3] and ours[3] == theirs[3] == [None, 4]
    assert (ours[2].name, ours[4].name) == (theirs[2].name, theirs[4].name) == ("int64", "int32")
    assert ours[5] == theirs[5] == [None]  # not differentiable


def test_samples_follow_softmax_of_logits():
    with tf.Graph().as_default():
        tf.set_random_seed(3)
        draws = tf.multinomial(np.log(PROBS + 1e-30).astype(np.float32), 200_000)
        sess = tf.Session()
        first, second = sess.run(draws), sess.run(draws)
    assert first.shape == (2, 200_000) and first.dtype == np.int64
    assert not np.array_equal(first, second)  # each run draws anew
    for row, p in zip(first, PROBS):
        freq = np.bincount(row, minlength=5) / row.size
        np.testing.assert_allclose(freq, p, atol=5 * np.sqrt(0.25 / row.size))
        assert not np.any(freq[p == 0])  # impossible classes never come out


def test_seeded_draws_repeat_across_sessions():
    with tf.Graph().as_default():
        draws = tf.random.categorical(tf.zeros([3, 10]), 50, seed=7)
        runs = [tf.Session().run(draws) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_bad_input_errors(tf_real):
    for lib in (tf, tf_real):
        with lib.Graph().as_default():
            empty_classes = lib.multinomial(lib.zeros([2, 0]), 2)
            n = lib.placeholder(lib.int32, [])
            negative = lib.multinomial(lib.zeros([2, 3]), n)
            no_rows = lib.multinomial(lib.zeros([0, 3]), 2)
            sess = lib.Session()
            with pytest.raises(lib.errors.InvalidArgumentError, match="num_classes should be positive, got 0"):
                sess.run(empty_classes)
            with pytest.raises(lib.errors.InvalidArgumentError, match="num_samples should be non-negative, got -1"):
                sess.run(negative, {n: -1})
            assert sess.run(no_rows).shape == (0, 2)
    with pytest.raises(ValueError, match="Shape must be rank 2"):
        tf.multinomial(tf.zeros([3]), 2)
    assert issubclass(errors.InvalidArgumentError, errors.OpError)


def test_random_namespace():
    assert tf.random.shuffle is tf.random_shuffle and tf.random.normal is tf.random_normal
    assert tf.random.uniform is tf.random_uniform and tf.random.categorical and tf.random.crop
