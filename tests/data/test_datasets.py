"""tf.data transformations: element values, order, dtypes and static shapes against TensorFlow (compat.v1)."""
import numpy as np
import pytest

import deferflow
import deferflow.data  # noqa: F401 - registers the dataset ops

from datautil import assert_same_elements, drain, run_both

CASES = {
    "slices_tuple": lambda tf: tf.data.Dataset.from_tensor_slices(
        (np.arange(12, dtype=np.float32).reshape(4, 3), np.array([1, 2, 3, 4], np.int64))),
    "slices_dict_strings": lambda tf: tf.data.Dataset.from_tensor_slices(
        {"b": ["x", "yy", "zzz"], "a": np.array([[1, 2], [3, 4], [5, 6]], np.int32)}),
    "slices_nested": lambda tf: tf.data.Dataset.from_tensor_slices(
        (np.arange(3), {"k": (np.ones((3, 2), np.float64), [True, False, True])})),
    "slices_list_is_tensor": lambda tf: tf.data.Dataset.from_tensor_slices([[1, 2], [3, 4], [5, 6]]),
    "from_tensors": lambda tf: tf.data.Dataset.from_tensors((np.arange(4), "s")),
    "range_stop": lambda tf: tf.data.Dataset.range(5),
    "range_start_stop_step": lambda tf: tf.data.Dataset.range(2, 11, 3),
    "range_negative_step": lambda tf: tf.data.Dataset.range(5, 0, -2),
    "zip_tuple": lambda tf: tf.data.Dataset.zip((tf.data.Dataset.range(5),
                                                 tf.data.Dataset.from_tensor_slices(["a", "b", "c"]))),
    "zip_dict": lambda tf: tf.data.Dataset.zip({"x": tf.data.Dataset.range(3),
                                                "y": tf.data.Dataset.range(10, 14)}),
    "batch": lambda tf: tf.data.Dataset.range(10).batch(4),
    "batch_drop": lambda tf: tf.data.Dataset.from_tensor_slices(
        (np.arange(20).reshape(10, 2), np.arange(10.0))).batch(4, drop_remainder=True),
    "batch_strings": lambda tf: tf.data.Dataset.from_tensor_slices(["a", "b", "c"]).batch(2),
    "batch_of_batch": lambda tf: tf.data.Dataset.range(12).batch(3).batch(2),
    "repeat": lambda tf: tf.data.Dataset.range(3).repeat(3),
    "repeat_forever_take": lambda tf: tf.data.Dataset.range(3).repeat().take(7),
    "repeat_zero": lambda tf: tf.data.Dataset.range(3).repeat(0),
    "take_skip": lambda tf: tf.data.Dataset.range(10).skip(2).take(5),
    "take_all": lambda tf: tf.data.Dataset.range(4).take(-1),
    "skip_all": lambda tf: tf.data.Dataset.range(4).skip(-1),
    "skip_past_end": lambda tf: tf.data.Dataset.range(4).skip(10),
    "prefetch": lambda tf: tf.data.Dataset.range(4).prefetch(2).prefetch(tf.data.experimental.AUTOTUNE),
    "cache_repeat": lambda tf: tf.data.Dataset.range(4).cache().repeat(2),
    "map_scalar": lambda tf: tf.data.Dataset.range(5).map(lambda x: x * 2 + 1),
    "map_tuple_args": lambda tf: tf.data.Dataset.from_tensor_slices(
        (np.arange(4.0), np.arange(4))).map(lambda a, b: (a + tf.cast(b, tf.float64), [b, b * b])),
    "map_dict": lambda tf: tf.data.Dataset.from_tensor_slices({"a": np.arange(3), "b": np.arange(3.0)}).map(
        lambda d: {"s": tf.cast(d["a"], tf.float64) + d["b"], "a": d["a"]}),
    "map_list_result": lambda tf: tf.data.Dataset.range(3).map(lambda x: [x, x + 1]),
    "map_constant_result": lambda tf: tf.data.Dataset.range(3).map(lambda x: (x, 7)),
    "map_reduce": lambda tf: tf.data.Dataset.from_tensor_slices(np.arange(12.0).reshape(4, 3)).map(
        lambda r: (tf.reduce_sum(r), tf.reduce_max(r, keepdims=True))),
    "map_then_batch": lambda tf: tf.data.Dataset.range(7).map(lambda x: tf.fill([2], x)).batch(3),
    "map_parallel": lambda tf: tf.data.Dataset.range(6).map(lambda x: x * x, num_parallel_calls=4),
    "map_captures": lambda tf: (lambda c: tf.data.Dataset.range(4).map(lambda x: c * x + tf.constant(1, tf.int64)))(
        tf.constant(3, tf.int64)),
    "filter": lambda tf: tf.data.Dataset.range(10).filter(lambda x: tf.equal(x % 3, 0)),
    "filter_tuple": lambda tf: tf.data.Dataset.from_tensor_slices((np.arange(6), np.arange(6.0) / 2)).filter(
        lambda a, b: b > 1.0),
    "padded_batch": lambda tf: tf.data.Dataset.range(1, 6).map(lambda x: tf.fill([x], x)).padded_batch(
        2, padded_shapes=[None]),
    "padded_batch_fixed": lambda tf: tf.data.Dataset.range(1, 5).map(lambda x: (tf.fill([x], x), x)).padded_batch(
        3, padded_shapes=([6], []), padding_values=(np.int64(-1), np.int64(0)), drop_remainder=True),
    "flat_map": lambda tf: tf.data.Dataset.range(1, 4).flat_map(
        lambda x: tf.data.Dataset.from_tensor_slices(tf.fill([x], x)).map(lambda y: (y, y * 10))),
    "flat_map_tuple": lambda tf: tf.data.Dataset.from_tensor_slices((np.arange(3), np.arange(3) + 5)).flat_map(
        lambda a, b: tf.data.Dataset.range(a, b)),
    "shard": lambda tf: tf.data.Dataset.range(11).shard(3, 1),
    "shuffle_buffer_1": lambda tf: tf.data.Dataset.range(6).shuffle(1),
    "chain": lambda tf: tf.data.Dataset.from_tensor_slices((np.arange(10), np.arange(10) % 2)).filter(
        lambda x, y: tf.equal(y, 0)).map(lambda x, y: x * 10).repeat(2).batch(3),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_tensorflow(tf_real, name):
    ours, theirs = run_both(tf_real, CASES[name])
    assert ours["types"] == theirs["types"]
    assert ours["shapes"] == theirs["shapes"]
    assert_same_elements(ours["elements"], theirs["elements"])


def test_iterating_twice_gives_an_out_of_range_error_each_time():
    g = deferflow.Graph()
    with g.as_default():
        nxt = deferflow.data.Dataset.range(1).make_one_shot_iterator().get_next()
        with deferflow.Session() as s:
            assert s.run(nxt) == 0
            for _ in range(2):
                with pytest.raises(deferflow.errors.OutOfRangeError, match="End of sequence"):
                    s.run(nxt)


def test_shuffle_keeps_every_element_once_per_epoch_within_the_buffer():
    n, buf = 30, 5
    out = drain(deferflow, lambda tf: tf.data.Dataset.range(n).shuffle(buf, seed=3).repeat(3))["elements"]
    epochs = [list(map(int, out[i * n:(i + 1) * n])) for i in range(3)]
    for e in epochs:
        assert sorted(e) == list(range(n))
        for k, v in enumerate(e):
            assert v < k + buf  # the k-th output comes from the first k + buffer_size inputs
    assert epochs[0] != list(range(n))
    assert len({tuple(e) for e in epochs}) == 3  # reshuffled each epoch


def test_shuffle_is_deterministic_given_seeds_and_can_keep_its_order():
    a = drain(deferflow, lambda tf: tf.data.Dataset.range(20).shuffle(20, seed=7).repeat(2))["elements"]
    b = drain(deferflow, lambda tf: tf.data.Dataset.range(20).shuffle(20, seed=7).repeat(2))["elements"]
    assert list(a) == list(b)
    c = drain(deferflow, lambda tf: tf.data.Dataset.range(20).shuffle(
        20, seed=7, reshuffle_each_iteration=False).repeat(2))["elements"]
    assert list(c[:20]) == list(c[20:]) and list(c[:20]) != list(range(20))


def test_shuffle_graph_seed_makes_order_repeatable():
    def build(tf):
        tf.set_random_seed(5)
        return tf.data.Dataset.range(15).shuffle(15)
    assert list(drain(deferflow, build)["elements"]) == list(drain(deferflow, build)["elements"])


def test_cache_replays_the_first_pass():
    def build(tf):
        return tf.data.Dataset.range(6).map(lambda x: tf.random_uniform([], 0, 1000, tf.int64, seed=1) + x * 0) \
            .cache().repeat(3)
    out = list(drain(deferflow, build)["elements"])
    assert out[:6] == out[6:12] == out[12:]
    assert len(set(out[:6])) > 1


def test_map_sees_outer_placeholder_at_initialization(tf_real):
    def run(tf):
        g = tf.Graph()
        with g.as_default():
            scale = tf.placeholder(tf.float32, [])
            ds = tf.data.Dataset.range(3).map(lambda x: scale * tf.cast(x, tf.float32))
            it = ds.make_initializable_iterator()
            nxt = it.get_next()
            with tf.Session() as s:
                out = []
                for v in (2.0, -1.0):
                    s.run(it.initializer, {scale: v})
                    out.append([s.run(nxt) for _ in range(3)])
                return out
    assert np.allclose(run(deferflow), run(tf_real))
    assert np.allclose(run(deferflow), [[0, 2, 4], [0, -1, -2]])


def test_map_with_variable_and_training(tf_real):
    def run(tf):
        g = tf.Graph()
        with g.as_default():
            w = tf.Variable(2.0)
            ds = tf.data.Dataset.range(4).map(lambda x: tf.cast(x, tf.float32) * w)
            it = ds.make_initializable_iterator()
            nxt = it.get_next()
            with tf.Session() as s:
                s.run(tf.global_variables_initializer())
                s.run(it.initializer)
                first = [s.run(nxt) for _ in range(2)]
                return first
    assert np.allclose(run(deferflow), run(tf_real))


@pytest.mark.parametrize("bad", ["types", "shapes"])
def test_error_messages_match(tf_real, bad):
    def err(tf):
        g = tf.Graph()
        with g.as_default():
            it = tf.data.Iterator.from_structure(tf.int64, tf.TensorShape([]))
            ds = tf.data.Dataset.from_tensors(1.0) if bad == "types" else tf.data.Dataset.from_tensors(
                np.int64([1, 2]))
            with pytest.raises(TypeError) as e:
                it.make_initializer(ds)
            return str(e.value)
    assert err(deferflow) == err(tf_real).replace("tensorflow", "deferflow")


def test_graph_construction_errors(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(ValueError, match="Dimensions 3 and 4 are not compatible"):
                tf.data.Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
            with pytest.raises(ValueError, match="only supported for rank >= 1"):
                tf.data.Dataset.from_tensor_slices(3)
            with pytest.raises(ValueError, match="must return a `tf.bool` scalar tensor"):
                tf.data.Dataset.range(5).filter(lambda x: x)
            with pytest.raises(ValueError, match=r"Cannot capture a placeholder \(name:Placeholder, "
                                                 r"type:Placeholder\) by value"):
                tf.data.Dataset.from_tensor_slices(tf.placeholder(tf.int64, [None])).make_one_shot_iterator()
            with pytest.raises(ValueError, match="does not have an initializer"):
                tf.data.Dataset.range(2).make_one_shot_iterator().initializer


def test_runtime_errors(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with tf.Session() as s:
                it = tf.data.Dataset.range(3).make_initializable_iterator()
                with pytest.raises(tf.errors.FailedPreconditionError, match="has not been initialized"):
                    s.run(it.get_next())
                ph = tf.placeholder(tf.int64, [])
                it2 = tf.data.Dataset.range(3).batch(ph).make_initializable_iterator()
                with pytest.raises(tf.errors.InvalidArgumentError, match="Batch size must be greater than zero"):
                    s.run(it2.initializer, {ph: 0})
                    s.run(it2.get_next())
                ragged = tf.data.Dataset.range(1, 4).map(lambda x: tf.fill([x], x)).batch(2)
                with pytest.raises(tf.errors.InvalidArgumentError, match="Cannot add tensor to the batch: number "
                                                                         "of elements does not match"):
                    s.run(ragged.make_one_shot_iterator().get_next())
