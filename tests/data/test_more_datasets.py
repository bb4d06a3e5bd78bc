"""Dataset.interleave, unbatch and from_generator against TensorFlow (compat.v1), plus their errors."""
import numpy as np
import pytest

import deferflow
import deferflow.data  # noqa: F401 - registers the dataset ops

from datautil import assert_same_elements, drain, run_both

CASES = {
    "interleave_cycle2": lambda tf: tf.data.Dataset.range(1, 5).interleave(
        lambda x: tf.data.Dataset.from_tensors(x).repeat(x), cycle_length=2),
    "interleave_block2": lambda tf: tf.data.Dataset.range(1, 6).interleave(
        lambda x: tf.data.Dataset.range(x * 10, x * 10 + x), cycle_length=3, block_length=2),
    "interleave_cycle1_is_flat_map": lambda tf: tf.data.Dataset.range(4).interleave(
        lambda x: tf.data.Dataset.range(x), cycle_length=1, block_length=3),
    "interleave_captures_and_tuples": lambda tf: tf.data.Dataset.from_tensor_slices(
        (np.arange(3), np.array([b"a", b"b", b"c"], dtype=object))).interleave(
        lambda i, s: tf.data.Dataset.from_tensors((i * tf.constant(np.int64(100)), s)).repeat(2),
        cycle_length=2, block_length=1),
    "interleave_then_batch": lambda tf: tf.data.Dataset.range(3).interleave(
        lambda x: tf.data.Dataset.range(4).map(lambda y: y + 10 * x), cycle_length=3).batch(5),
    "unbatch": lambda tf: tf.data.Dataset.range(10).batch(3).unbatch(),
    "unbatch_tuple": lambda tf: tf.data.Dataset.from_tensor_slices(
        (np.arange(12).reshape(2, 3, 2), np.array([[b"a", b"b", b"c"], [b"d", b"e", b"f"]], dtype=object))).unbatch(),
    "unbatch_experimental": lambda tf: tf.data.Dataset.from_tensors(np.ones((4, 2), np.float32)).apply(
        tf.data.experimental.unbatch()),
    "from_generator": lambda tf: tf.data.Dataset.from_generator(
        lambda: iter([(1, [1.0, 2.0]), (2, [3.0]), (3, [])]), (tf.int64, tf.float32),
        (tf.TensorShape([]), tf.TensorShape([None]))).padded_batch(2, padded_shapes=([], [2])),
    "from_generator_args_dict": lambda tf: tf.data.Dataset.from_generator(
        lambda n, s: ({"i": np.int32(k), "s": s * (k + 1)} for k in range(n)), {"i": tf.int32, "s": tf.string},
        {"i": [], "s": []}, args=(3, b"ab")).map(lambda d: (d["i"] * 2, d["s"])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_tensorflow(tf_real, name):
    ours, theirs = run_both(tf_real, CASES[name])
    assert ours["types"] == theirs["types"]
    assert ours["shapes"] == theirs["shapes"]
    assert_same_elements(ours["elements"], theirs["elements"])
    assert ours["elements"]


def test_interleave_order_is_tensorflows():
    out = drain(deferflow, CASES["interleave_cycle2"])["elements"]
    assert [int(x) for x in out] == [1, 2, 2, 3, 3, 4, 3, 4, 4, 4]  # as TensorFlow (test_matches_tensorflow)


def test_unbatch_mismatched_components_is_invalid_argument(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            a = tf.placeholder(tf.int64, [None])
            b = tf.placeholder(tf.int64, [None])
            it = tf.data.Dataset.from_tensors((a, b)).unbatch().make_initializable_iterator()
            nxt = it.get_next()
            with tf.Session() as s:
                s.run(it.initializer, {a: [1, 2], b: [1, 2, 3]})
                with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size in each component"):
                    s.run(nxt)


def test_generator_errors(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            bad_shape = tf.data.Dataset.from_generator(lambda: iter([[1, 2, 3]]), tf.int64, [2])
            bad_type = tf.data.Dataset.from_generator(lambda: iter(["x"]), tf.int64, [])
            with tf.Session() as s:
                with pytest.raises(tf.errors.InvalidArgumentError, match="where an element of shape"):
                    s.run(tf.data.make_one_shot_iterator(bad_shape).get_next())
                with pytest.raises(tf.errors.InvalidArgumentError, match="could not be converted to the expected type"):
                    s.run(tf.data.make_one_shot_iterator(bad_type).get_next())


def test_generator_restarts_per_initialization():
    calls = []

    def gen():
        calls.append(1)
        yield from range(3)
    with deferflow.Graph().as_default():
        it = deferflow.data.Dataset.from_generator(gen, deferflow.int64).make_initializable_iterator()
        nxt = it.get_next()
        with deferflow.Session() as s:
            for _ in range(2):
                s.run(it.initializer)
                assert [int(s.run(nxt)) for _ in range(3)] == [0, 1, 2]
    assert len(calls) == 2


def test_generator_pipeline_cannot_run_after_import():
    with deferflow.Graph().as_default() as g:
        nxt = deferflow.data.Dataset.from_generator(lambda: iter([1, 2]), deferflow.int64).make_one_shot_iterator(
        ).get_next(name="out")
        with deferflow.Session() as s:
            assert s.run(nxt) == 1
        gd = g.as_graph_def()
    from deferflow.ops import dataset_ops
    saved = dict(dataset_ops.GENERATORS)
    dataset_ops.GENERATORS.clear()  # as in another process
    try:
        with deferflow.Graph().as_default():
            deferflow.import_graph_def(gd, name="")
            with deferflow.Session() as s:
                with pytest.raises(deferflow.errors.UnimplementedError, match="Python generator"):
                    s.run("out:0")
    finally:
        dataset_ops.GENERATORS.update(saved)


def test_interleave_exports_to_tensorflow(tf_real):
    with deferflow.Graph().as_default() as g:
        k = deferflow.constant(np.int64(10))
        ds = deferflow.data.Dataset.range(1, 4).interleave(
            lambda x: deferflow.data.Dataset.range(x).map(lambda y: y + k * x), cycle_length=2, block_length=2)
        deferflow.data.make_one_shot_iterator(ds).get_next(name="out")
        gd = g.as_graph_def()
    got = []
    with tf_real.Graph().as_default():
        tf_real.import_graph_def(tf_real.GraphDef.FromString(gd.SerializeToString()), name="")
        with tf_real.Session() as s:
            while True:
                try:
                    got.append(int(s.run("out:0")))
                except tf_real.errors.OutOfRangeError:
                    break
    ours = [int(x) for x in drain(deferflow, lambda tf: tf.data.Dataset.range(1, 4).interleave(
        lambda x: tf.data.Dataset.range(x).map(lambda y: y + np.int64(10) * x), cycle_length=2, block_length=2))[
        "elements"]]
    assert got == ours == [10, 20, 21, 30, 31, 32]
