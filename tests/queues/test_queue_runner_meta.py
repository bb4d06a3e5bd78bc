"""Queue runners through meta graphs, both ways with TensorFlow: the ``queue_runners`` collection holds TF's
``QueueRunnerDef`` bytes, so an input pipeline exported by either side restarts its threads after
``import_meta_graph`` on the other and trains the same."""
import threading

import numpy as np
import pytest

import deferflow
from deferflow.formats import protos
from deferflow.formats.proto import queue_runner_pb2

N_FILES, PER_FILE, BATCH, EPOCHS = 2, 6, 4, 2
STEPS = N_FILES * PER_FILE * EPOCHS // BATCH
W0 = np.array([[0.5], [-0.25], [0.125], [1.0]], np.float32)


@pytest.fixture(scope="module")
def records(tf_real, tmp_path_factory):
    """TFRecord files written by TensorFlow: each record is 4 float32 features then a float32 target."""
    d = tmp_path_factory.mktemp("qr_records")
    rng = np.random.default_rng(7)
    paths = []
    for i in range(N_FILES):
        p = str(d / f"part-{i}.tfrecord")
        with tf_real.io.TFRecordWriter(p) as w:
            for _ in range(PER_FILE):
                x = rng.standard_normal(4).astype(np.float32)
                w.write(np.append(x, x @ W0[:, 0] * 2 - 0.5).astype(np.float32).tobytes())
        paths.append(p)
    return paths


def _build(tf, paths):
    """The pipeline and a linear model; ``train_op`` and ``loss`` go in collections so the importer finds them."""
    files = tf.train.string_input_producer(paths, num_epochs=EPOCHS, shuffle=False)
    _, value = tf.TFRecordReader().read(files)
    rec = tf.reshape(tf.decode_raw(value, tf.float32), [5])
    xb, yb = tf.train.batch([rec[:4], rec[4:]], batch_size=BATCH, capacity=8)
    w = tf.Variable(W0, name="w")
    b = tf.Variable(np.zeros([1], np.float32), name="b")
    loss = tf.reduce_mean(tf.square(tf.matmul(xb, w) + b - yb))
    train = tf.train.GradientDescentOptimizer(0.05).minimize(loss)
    tf.add_to_collection("train_op", train)
    tf.add_to_collection("loss", loss)


def _export(tf, paths, prefix):
    """Builds, trains two steps from the files (so the checkpoint holds trained values), saves and exports."""
    with tf.Graph().as_default():
        _build(tf, paths)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
            coord = tf.train.Coordinator()
            threads = tf.train.start_queue_runners(sess=sess, coord=coord)
            for _ in range(2):
                sess.run(tf.get_collection("train_op")[0])
            coord.request_stop()
            coord.join(threads, stop_grace_period_secs=5)
            saver.save(sess, prefix)  # writes prefix.meta too
    return prefix


def _import_and_train(tf, prefix):
    """import_meta_graph + restore, then trains from the queue runners until the input runs out."""
    before = set(threading.enumerate())
    with tf.Graph().as_default() as g:
        saver = tf.train.import_meta_graph(prefix + ".meta")
        runners = g.get_collection(tf.GraphKeys.QUEUE_RUNNERS)
        train, loss = g.get_collection("train_op")[0], g.get_collection("loss")[0]
        sess = tf.Session()
        saver.restore(sess, prefix)
        sess.run(tf.local_variables_initializer())  # the epoch counter of string_input_producer
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        losses = []
        try:
            while not coord.should_stop():
                losses.append(float(sess.run([train, loss])[1]))
        except tf.errors.OutOfRangeError:
            pass
        finally:
            coord.request_stop()
        coord.join(threads, stop_grace_period_secs=5)
        final = sess.run([v for v in tf.global_variables() if v.op.name == "w"][0])
        sess.close()
    return dict(losses=losses, w=final, runners=[r.name for r in runners], n_threads=len(threads),
                alive=[t.name for t in threads if t.is_alive()],
                leftover=[t.name for t in threading.enumerate() if t not in before])


def test_tensorflow_meta_graph_runs_its_queue_runners_here(tf_real, records, tmp_path):
    prefix = _export(tf_real, records, str(tmp_path / "tf" / "model"))
    ours, theirs = _import_and_train(deferflow, prefix), _import_and_train(tf_real, prefix)
    assert ours["runners"] == theirs["runners"] == ["input_producer", "batch/fifo_queue"]
    assert len(ours["losses"]) == len(theirs["losses"]) == STEPS
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-5)
    np.testing.assert_allclose(ours["w"], theirs["w"], rtol=1e-5)
    assert ours["losses"][-1] < ours["losses"][0]
    assert ours["n_threads"] == theirs["n_threads"] == 4  # an enqueue thread and a close_on_stop thread each
    assert ours["alive"] == [] and ours["leftover"] == []


def test_our_meta_graph_runs_its_queue_runners_in_tensorflow(tf_real, records, tmp_path):
    prefix = _export(deferflow, records, str(tmp_path / "ours" / "model"))
    theirs, ours = _import_and_train(tf_real, prefix), _import_and_train(deferflow, prefix)
    assert theirs["runners"] == ["input_producer", "batch/fifo_queue"]
    assert len(theirs["losses"]) == STEPS
    np.testing.assert_allclose(theirs["losses"], ours["losses"], rtol=1e-5)
    np.testing.assert_allclose(theirs["w"], ours["w"], rtol=1e-5)
    assert theirs["n_threads"] == 4 and theirs["alive"] == []
    # and the same numbers as TensorFlow's own export of the same model trained the same way
    tf_own = _import_and_train(tf_real, _export(tf_real, records, str(tmp_path / "tf" / "model")))
    np.testing.assert_allclose(theirs["losses"], tf_own["losses"], rtol=1e-5)


def _runner_fields(tf, runner):
    return dict(queue=runner.queue.name, enqueue=[op.name for op in runner.enqueue_ops],
                close=runner.close_op.name, cancel=runner.cancel_op.name,
                types=[cls.__name__ for cls in runner.queue_closed_exception_types])


def test_round_trip_with_scopes():
    tf = deferflow
    with tf.Graph().as_default():
        with tf.name_scope("outer"):
            q = tf.FIFOQueue(4, tf.float32, shapes=[[]], name="q")
            enq = [q.enqueue(tf.constant(1.0)), q.enqueue(tf.constant(2.0))]
            qr = tf.train.QueueRunner(q, enq, queue_closed_exception_types=(tf.errors.OutOfRangeError,
                                                                            tf.errors.CancelledError))
            tf.train.add_queue_runner(qr)
            q.dequeue_many(4, name="take")
        other = tf.FIFOQueue(1, tf.int32, name="other")
        tf.train.add_queue_runner(tf.train.QueueRunner(other, [other.enqueue(3)]))

        d = qr.to_proto()
        assert isinstance(d, protos.QueueRunnerDef)
        assert (d.queue_name, list(d.enqueue_op_name), d.close_op_name, d.cancel_op_name) == (
            "outer/q", ["outer/q_enqueue", "outer/q_enqueue_1"], "outer/q_Close", "outer/q_Close_1")
        assert list(d.queue_closed_exception_types) == [tf.errors.OUT_OF_RANGE, tf.errors.CANCELLED]
        scoped = qr.to_proto(export_scope="outer")
        assert (scoped.queue_name, scoped.close_op_name) == ("q", "q_Close")
        assert qr.to_proto(export_scope="elsewhere") is None

        again = tf.train.QueueRunner.from_proto(d)
        assert _runner_fields(tf, again) == _runner_fields(tf, qr)
        assert again.to_proto() == d
        # a scoped def binds inside an import scope
        assert _runner_fields(tf, tf.train.QueueRunner(queue_runner_def=scoped, import_scope="outer")) == \
            _runner_fields(tf, qr)
        with pytest.raises(ValueError, match="mutually exclusive"):
            tf.train.QueueRunner(q, enq, queue_runner_def=d)
        # an empty exception list (older meta graphs) means OutOfRangeError only
        legacy = protos.QueueRunnerDef()
        legacy.CopyFrom(d)
        legacy.ClearField("queue_closed_exception_types")
        assert tf.train.QueueRunner(queue_runner_def=legacy).queue_closed_exception_types == (
            tf.errors.OutOfRangeError,)

        meta = tf.train.export_meta_graph(export_scope="outer")
    col = meta.collection_def["queue_runners"]
    assert col.WhichOneof("kind") == "bytes_list" and len(col.bytes_list.value) == 1  # "other" is out of scope
    assert protos.QueueRunnerDef.FromString(col.bytes_list.value[0]) == scoped

    with tf.Graph().as_default() as g2:
        tf.train.import_meta_graph(meta, import_scope="imp")
        (runner,) = g2.get_collection(tf.GraphKeys.QUEUE_RUNNERS)
        assert _runner_fields(tf, runner) == dict(
            queue="imp/q", enqueue=["imp/q_enqueue", "imp/q_enqueue_1"], close="imp/q_Close",
            cancel="imp/q_Close_1", types=["OutOfRangeError", "CancelledError"])
        assert runner.to_proto(export_scope="imp") == scoped
        take = g2.get_tensor_by_name("imp/take:0")
        with tf.Session() as sess:
            coord = tf.train.Coordinator()
            threads = tf.train.start_queue_runners(sess, coord)
            values = sess.run(take).tolist()
            assert len(values) == 4 and set(values) <= {1.0, 2.0}
            coord.request_stop()
            coord.join(threads, stop_grace_period_secs=5)
            assert not any(t.is_alive() for t in threads)
            with pytest.raises(tf.errors.CancelledError):  # the imported cancel op closed the queue
                sess.run(g2.get_operation_by_name("imp/q_enqueue"))


def _collection_defs(tf, export_scope=None):
    with tf.Graph().as_default():
        with tf.name_scope("outer"):
            files = tf.train.string_input_producer(["a", "b"], shuffle=False, num_epochs=1)
            tf.train.batch([files.dequeue()], batch_size=2, capacity=4, num_threads=2)
            q = tf.PaddingFIFOQueue(3, [tf.int64], shapes=[[None]])
            tf.train.add_queue_runner(tf.train.QueueRunner(
                q, [q.enqueue([[1, 2]])], queue_closed_exception_types=(tf.errors.OutOfRangeError,
                                                                        tf.errors.CancelledError,
                                                                        tf.errors.AbortedError)))
        meta = tf.train.export_meta_graph(export_scope=export_scope)
    col = meta.collection_def["queue_runners"]
    return col.WhichOneof("kind"), list(col.bytes_list.value)


@pytest.mark.parametrize("export_scope", [None, "outer"])
def test_collection_bytes_are_tensorflows_queue_runner_defs(tf_real, export_scope):
    from tensorflow.core.protobuf import queue_runner_pb2 as tf_queue_runner_pb2
    ours_kind, ours = _collection_defs(deferflow, export_scope)
    theirs_kind, theirs = _collection_defs(tf_real, export_scope)
    assert ours_kind == theirs_kind == "bytes_list"
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        mine, tfs = tf_queue_runner_pb2.QueueRunnerDef.FromString(a), tf_queue_runner_pb2.QueueRunnerDef.FromString(b)
        for field in tf_queue_runner_pb2.QueueRunnerDef.DESCRIPTOR.fields:
            assert getattr(mine, field.name) == getattr(tfs, field.name), field.name
        assert a == b
    first = tf_queue_runner_pb2.QueueRunnerDef.FromString(ours[0])
    prefix = "" if export_scope else "outer/"
    assert first.queue_name == prefix + "input_producer"
    assert list(first.enqueue_op_name) == [prefix + "input_producer/input_producer_EnqueueMany"]
    assert len(tf_queue_runner_pb2.QueueRunnerDef.FromString(ours[1]).enqueue_op_name) == 2  # num_threads=2
    assert list(tf_queue_runner_pb2.QueueRunnerDef.FromString(ours[2]).queue_closed_exception_types) == [11, 1, 10]


def test_tensorflow_import_scope_binds_the_same_ops(tf_real, tmp_path):
    """Both sides import one of our meta graphs under an import scope and bind their runners to the same ops."""
    path = str(tmp_path / "m.meta")
    with deferflow.Graph().as_default():
        with deferflow.name_scope("outer"):
            deferflow.train.batch([deferflow.train.string_input_producer(["a"]).dequeue()], batch_size=1)
        deferflow.train.export_meta_graph(path, export_scope="outer")
    got = []
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default() as g:
            tf.train.import_meta_graph(path, import_scope="imp")
            got.append([_runner_fields(tf, r) for r in g.get_collection(tf.GraphKeys.QUEUE_RUNNERS)])
    assert got[0] == got[1]
    assert [r["queue"] for r in got[0]] == ["imp/input_producer", "imp/batch/fifo_queue"]


def test_schema_matches_tensorflow(tf_real):
    from tensorflow.core.protobuf import queue_runner_pb2 as tf_queue_runner_pb2
    ours = queue_runner_pb2.QueueRunnerDef.DESCRIPTOR
    theirs = tf_queue_runner_pb2.QueueRunnerDef.DESCRIPTOR
    assert ours.full_name == "deferflow.tfproto.QueueRunnerDef" and theirs.full_name == "tensorflow.QueueRunnerDef"
    assert [(f.number, f.name, f.type, f.is_repeated) for f in ours.fields] == \
        [(f.number, f.name, f.type, f.is_repeated) for f in theirs.fields]
    code, tf_code = ours.fields_by_number[5].enum_type, theirs.fields_by_number[5].enum_type
    assert tf_code.full_name == "tensorflow.error.Code"
    assert {v.name: v.number for v in code.values} == {v.name: v.number for v in tf_code.values}
    assert all(getattr(deferflow.errors, v.name) == v.number for v in code.values if hasattr(deferflow.errors, v.name))
