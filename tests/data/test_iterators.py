"""Iterator kinds (one-shot, initializable, reinitializable, feedable), session-held state, graph form, a
training loop fed by a dataset, and file datasets — against TensorFlow where it is installed."""
import numpy as np
import pytest

import deferflow
import deferflow.data  # noqa: F401 - registers the dataset ops


def _initializable_with_placeholder(tf):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2])
        y = tf.placeholder(tf.int64, [None])
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
        it = tf.data.make_initializable_iterator(ds)
        nxt = it.get_next()
        out = {"shapes": [t.shape.as_list() for t in nxt], "types": [t.dtype.name for t in nxt], "runs": []}
        with tf.Session() as s:
            for n in (3, 4):
                s.run(it.initializer, {x: np.arange(2 * n, dtype=np.float32).reshape(n, 2), y: np.arange(n)})
                run = [s.run(nxt)]
                s.run(it.initializer, {x: np.ones((n, 2)), y: np.arange(n) + 10})  # restarts, new values
                while True:
                    try:
                        run.append(s.run(nxt))
                    except tf.errors.OutOfRangeError:
                        break
                out["runs"].append([(a.tolist(), b.tolist()) for a, b in run])
        return out


def test_initializable_iterator_is_parameterised_by_fed_placeholders(tf_real):
    ours = _initializable_with_placeholder(deferflow)
    assert ours == _initializable_with_placeholder(tf_real)
    assert ours["shapes"] == [[None, 2], [None]]
    assert ours["runs"][0][1] == ([[1.0, 1.0], [1.0, 1.0]], [10, 11])


def _reinitializable(tf):
    with tf.Graph().as_default():
        train = tf.data.Dataset.range(10).map(lambda x: x * 2).batch(3)
        val = tf.data.Dataset.range(100, 104).batch(3)
        it = tf.data.Iterator.from_structure(train.output_types, train.output_shapes)
        nxt = it.get_next()
        train_init, val_init = it.make_initializer(train), it.make_initializer(val)
        out = []
        with tf.Session() as s:
            for init, n in ((train_init, 2), (val_init, 2), (train_init, 1)):
                s.run(init)
                out.append([s.run(nxt).tolist() for _ in range(n)])
        types = [op.type for op in tf.get_default_graph().get_operations()
                 if op.type in ("IteratorV2", "MakeIterator", "IteratorGetNext")]
        return out, types, nxt.shape.as_list()


def test_reinitializable_iterator_switches_datasets(tf_real):
    ours = _reinitializable(deferflow)
    assert ours == _reinitializable(tf_real)
    assert ours[0] == [[[0, 2, 4], [6, 8, 10]], [[100, 101, 102], [103]], [[0, 2, 4]]]


def _feedable(tf):
    with tf.Graph().as_default():
        a = tf.data.Dataset.range(5).make_one_shot_iterator()
        b = tf.data.Dataset.range(50, 55).make_initializable_iterator()
        handle = tf.placeholder(tf.string, [])
        it = tf.data.Iterator.from_string_handle(handle, a.output_types, a.output_shapes)
        nxt = it.get_next()
        with tf.Session() as s:
            ha, hb = s.run([a.string_handle(), b.string_handle()])
            s.run(b.initializer)
            return [int(s.run(nxt, {handle: h})) for h in (ha, ha, hb, ha, hb)]


def test_feedable_iterator_runs_the_iterator_its_handle_names(tf_real):
    assert _feedable(deferflow) == _feedable(tf_real) == [0, 1, 50, 2, 51]


def test_two_sessions_iterate_independently():
    with deferflow.Graph().as_default():
        nxt = deferflow.data.Dataset.range(4).make_one_shot_iterator().get_next()
        it = deferflow.data.Dataset.range(10, 14).make_initializable_iterator()
        nxt2 = it.get_next()
        s1, s2 = deferflow.Session(), deferflow.Session()
        s1.run(it.initializer)
        s2.run(it.initializer)
        assert [s1.run(nxt), s1.run(nxt), s2.run(nxt), s1.run(nxt)] == [0, 1, 0, 2]
        assert [s1.run(nxt2), s2.run(nxt2), s2.run(nxt2), s1.run(nxt2)] == [10, 10, 11, 11]
        s1.close()
        with pytest.raises(RuntimeError):
            s1.run(nxt)
        assert s2.run(nxt) == 1


def test_graph_holds_tensorflow_op_types(tf_real):
    def types(tf):
        with tf.Graph().as_default():
            ds = tf.data.Dataset.from_tensor_slices(np.arange(6)).map(lambda x: x + 1).filter(
                lambda x: x > 2).shuffle(3, seed=1).repeat(2).batch(2).take(3).skip(1).prefetch(1)
            tf.data.Dataset.zip((ds, ds)).make_one_shot_iterator().get_next()
            return [op.type for op in tf.get_default_graph().get_operations() if "Dataset" in op.type
                    or "Iterator" in op.type]
    ours, theirs = types(deferflow), types(tf_real)
    assert set(ours) <= set(theirs) | {"ShuffleDataset"}  # TF 2.x writes ShuffleDatasetV3 with a seed resource
    assert {"TensorSliceDataset", "MapDataset", "FilterDataset", "RepeatDataset", "BatchDatasetV2", "TakeDataset",
            "SkipDataset", "PrefetchDataset", "ZipDataset", "OneShotIterator", "IteratorGetNext"} <= set(ours)


def _train(tf, steps=25):
    rng = np.random.RandomState(0)
    x = rng.randn(40, 3).astype(np.float32)
    y = (x @ np.array([[1.5], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    with tf.Graph().as_default():
        ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8)
        xb, yb = ds.make_one_shot_iterator().get_next()
        w = tf.get_variable("w", initializer=np.zeros((3, 1), np.float32))
        b = tf.get_variable("b", initializer=np.zeros((1,), np.float32))
        loss = tf.reduce_mean(tf.square(tf.matmul(xb, w) + b - yb))
        step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        with tf.Session() as s:
            s.run(tf.global_variables_initializer())
            return [s.run([loss, step])[0] for _ in range(steps)]


def test_training_loop_fed_by_a_dataset_matches_tensorflow(tf_real):
    ours = _train(deferflow)
    assert ours[-1] < 0.05 * ours[0]
    np.testing.assert_allclose(ours, _train(tf_real), rtol=1e-4, atol=1e-6)


def _write_files(tf, tmp_path):
    recs = [b"first", b"", b"third record \x00\xff"]
    paths = []
    for i, comp in enumerate((None, "GZIP", "ZLIB")):
        p = str(tmp_path / f"r{i}.tfrecord")
        opts = tf.python_io.TFRecordOptions(getattr(tf.python_io.TFRecordCompressionType, comp or "NONE"))
        with tf.python_io.TFRecordWriter(p, opts) as w:
            for r in recs:
                w.write(r + str(i).encode())
        paths.append((p, comp))
    text = tmp_path / "lines.txt"
    text.write_bytes(b"alpha\nbeta\r\n\ngamma")
    text2 = tmp_path / "lines2.txt"
    text2.write_bytes(b"one\ntwo\n")
    return paths, [str(text), str(text2)]


def _read_files(tf, paths, texts):
    out = []
    with tf.Graph().as_default(), tf.Session() as s:
        for p, comp in paths:
            n = tf.data.TFRecordDataset(p, compression_type=comp).make_one_shot_iterator().get_next()
            out.append(_drain(tf, s, n))
        n = tf.data.TFRecordDataset([p for p, c in paths if c is None] * 2).batch(2).make_one_shot_iterator()
        out.append([v.tolist() for v in _drain(tf, s, n.get_next())])
        n = tf.data.TextLineDataset(texts).make_one_shot_iterator().get_next()
        out.append(_drain(tf, s, n))
        out.append(n.shape.as_list())
    return out


def _drain(tf, s, n):
    out = []
    while True:
        try:
            out.append(s.run(n))
        except tf.errors.OutOfRangeError:
            return out


def test_file_datasets_read_what_tensorflow_wrote(tf_real, tmp_path):
    paths, texts = _write_files(tf_real, tmp_path)
    ours = _read_files(deferflow, paths, texts)
    assert ours == _read_files(tf_real, paths, texts)
    assert ours[3] == [[b"first0", b"0"], [b"third record \x00\xff0", b"first0"], [b"0", b"third record \x00\xff0"]]
    assert ours[4] == [b"alpha", b"beta", b"", b"gamma", b"one", b"two"]


def test_file_datasets_pure(tmp_path):
    paths, texts = _write_files(deferflow, tmp_path)
    out = _read_files(deferflow, paths, texts)
    assert out[0] == [b"first0", b"0", b"third record \x00\xff0"]
    assert out[1][2] == b"third record \x00\xff1" and out[2][0] == b"first2"
    with deferflow.Graph().as_default(), deferflow.Session() as s:
        n = deferflow.data.TFRecordDataset(str(tmp_path / "missing")).make_one_shot_iterator().get_next()
        with pytest.raises(deferflow.errors.NotFoundError, match="missing; No such file or directory"):
            s.run(n)


def _export_pipeline(tmp_path):
    with deferflow.Graph().as_default():
        ds = deferflow.data.Dataset.from_tensor_slices(np.arange(10.0, dtype=np.float32)).batch(3)
        it = ds.make_initializable_iterator()
        it.get_next(name="next")
        deferflow.data.Dataset.range(3).map(lambda x: x * 2).make_one_shot_iterator().get_next(name="mapped")
        deferflow.Variable(1.0, name="v")
        saver = deferflow.train.Saver()
        with deferflow.Session() as s:
            s.run(deferflow.global_variables_initializer())
            assert s.run("mapped:0") == 0
            return saver.save(s, str(tmp_path / "model"))


def _run_imported(tf, prefix):
    with tf.Graph().as_default():
        saver = tf.train.import_meta_graph(prefix + ".meta")
        g = tf.get_default_graph()
        with tf.Session() as s:
            saver.restore(s, prefix)
            s.run(g.get_operation_by_name("MakeIterator"))
            out = [s.run("next:0").tolist() for _ in range(2)]
            mapped = [int(s.run("mapped:0")) for _ in range(3)]
            with pytest.raises(tf.errors.OutOfRangeError):
                s.run("mapped:0")
            return out, mapped


def test_saver_and_meta_graph_export_a_pipeline(tf_real, tmp_path):
    """Saving works with dataset ops in the graph; after import (here and in TensorFlow) the pipelines run,
    including the one-shot iterator over a traced map function (written to the file's function library)."""
    prefix = _export_pipeline(tmp_path)
    ours = _run_imported(deferflow, prefix)
    assert ours == ([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [0, 2, 4])
    theirs = _run_imported(tf_real, prefix)
    assert theirs == ours
