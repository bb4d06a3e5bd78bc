"""The classic TF1 input pipeline against TensorFlow: TF-written TFRecord files -> string_input_producer ->
TFRecordReader -> decode_raw -> batch / shuffle_batch -> a small model trained with Coordinator and
start_queue_runners. The same op names and types, the same losses where the order is deterministic, and no
thread left behind."""
import re
import threading

import numpy as np
import pytest

import deferflow

N_FILES, PER_FILE = 2, 6


@pytest.fixture(scope="module")
def records(tf_real, tmp_path_factory):
    """TFRecord files written by TensorFlow: each record is 4 float32 features then a float32 target."""
    d = tmp_path_factory.mktemp("records")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N_FILES):
        p = str(d / f"part-{i}.tfrecord")
        with tf_real.io.TFRecordWriter(p) as w:
            for _ in range(PER_FILE):
                x = rng.standard_normal(4).astype(np.float32)
                w.write(np.append(x, x.sum() * 0.5 + 1).astype(np.float32).tobytes())
        paths.append(p)
    return paths


def _pipeline(tf, paths, shuffle, steps=None):
    with tf.Graph().as_default() as g:
        tf.set_random_seed(1)
        files = tf.train.string_input_producer(paths, num_epochs=2, shuffle=False)
        key, value = tf.TFRecordReader().read(files)
        rec = tf.reshape(tf.decode_raw(value, tf.float32), [5])
        x, y = rec[:4], rec[4:]
        if shuffle:
            xb, yb = tf.train.shuffle_batch([x, y], batch_size=4, capacity=12, min_after_dequeue=4, seed=3)
        else:
            xb, yb = tf.train.batch([x, y], batch_size=4, capacity=8)
        w = tf.Variable(tf.zeros([4, 1]), name="w")
        b = tf.Variable(tf.zeros([1]), name="b")
        loss = tf.reduce_mean(tf.square(tf.matmul(xb, w) + b - yb))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        # (tf.Assert's own ops are left out: deferflow's Assert does not re-convert its data as TF does)
        pipeline_ops = [(op.name, op.type) for op in g.get_operations()
                        if re.match(r"input_producer|batch|shuffle_batch|TFRecordReader|ReaderRead|DecodeRaw",
                                    op.name) and not op.name.startswith("input_producer/Assert/")]
        losses, batches = [], []
        before = set(threading.enumerate())
        sess = tf.Session()
        sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        try:
            while not coord.should_stop() and (steps is None or len(losses) < steps):
                _, l, xv = sess.run([train, loss, xb])
                losses.append(float(l))
                batches.append(xv)
        except tf.errors.OutOfRangeError:
            pass
        finally:
            coord.request_stop()
        coord.join(threads, stop_grace_period_secs=5)
        final_w = sess.run(w)
        sess.close()
        leftover = [t for t in threading.enumerate() if t not in before]
        return dict(ops=pipeline_ops, losses=losses, batches=batches, w=final_w, leftover=leftover,
                    n_threads=len(threads), alive=[t.name for t in threads if t.is_alive()])


def test_batch_pipeline_trains_like_tensorflow(tf_real, records):
    ours, theirs = _pipeline(deferflow, records, False), _pipeline(tf_real, records, False)
    assert ours["ops"] == theirs["ops"]
    assert ("ReaderReadV2", "ReaderReadV2") in ours["ops"] and ("batch", "QueueDequeueManyV2") in ours["ops"]
    # 2 epochs of 12 records in batches of 4, in file order: 6 steps, the same numbers as TensorFlow
    assert len(ours["losses"]) == len(theirs["losses"]) == 2 * N_FILES * PER_FILE // 4
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-5)
    np.testing.assert_allclose(ours["w"], theirs["w"], rtol=1e-5)
    assert ours["losses"][-1] < ours["losses"][0]
    assert ours["n_threads"] == theirs["n_threads"] == 4  # two queue runners, each with its close_on_stop thread
    assert ours["alive"] == [] and ours["leftover"] == []


def test_shuffle_batch_pipeline_finishes_with_every_record(tf_real, records):
    ours = _pipeline(deferflow, records, True)
    theirs = _pipeline(tf_real, records, True)
    assert ours["ops"] == theirs["ops"]
    assert len(ours["losses"]) == len(theirs["losses"]) == 6
    seen = np.concatenate(ours["batches"])
    ordered = np.concatenate(_pipeline(deferflow, records, False)["batches"])
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, ordered.tolist()))  # a permutation
    assert not np.array_equal(seen, ordered)
    assert ours["alive"] == [] and ours["leftover"] == []


def test_stopping_early_leaves_no_thread(records):
    out = _pipeline(deferflow, records, True, steps=2)  # queue runners still blocked on full queues
    assert len(out["losses"]) == 2
    assert out["alive"] == [] and out["leftover"] == []


def _readers(tf, paths, tmp):
    text = tmp / "t.txt"
    text.write_bytes(b"hdr\nl1\nl2\n\nl4")
    fixed = tmp / "f.bin"
    fixed.write_bytes(bytes(range(23)))
    out = []
    cases = [(lambda: tf.TFRecordReader(), paths, None), (lambda: tf.TFRecordReader(), paths, 4),
             (lambda: tf.TextLineReader(skip_header_lines=1), [str(text)], None),
             (lambda: tf.FixedLengthRecordReader(5, header_bytes=2, footer_bytes=1, hop_bytes=3), [str(fixed)], None),
             (lambda: tf.WholeFileReader(), [str(text), str(fixed)], None),
             (lambda: tf.TFRecordReader(), [str(tmp / "missing")], None)]
    for make, files, up_to in cases:
        with tf.Graph().as_default():
            q = tf.FIFOQueue(10, tf.string, shapes=[[]])
            enq, close = q.enqueue_many([files]), q.close()
            r = make()
            kv = r.read(q) if up_to is None else r.read_up_to(q, up_to)
            counts = [r.num_records_produced(), r.num_work_units_completed()]
            got = [r.reader_ref.op.type, type(kv).__name__, [t.shape.as_list() for t in kv]]
            with tf.Session() as s:
                s.run(enq)
                s.run(close)
                while True:
                    try:
                        k, v = s.run(kv)
                        got.append((np.asarray(k).tolist(), np.asarray(v).tolist()))
                    except tf.errors.OpError as e:
                        lines = e.message.split("\n")  # the line above "[[{{node ...}}]]"
                        got.append((type(e).__name__, re.sub(r"'_\d+_", "'_N_", lines[-2] if len(lines) > 1
                                                             else lines[0])))
                        break
                got.append([int(c) for c in s.run(counts)])
        out.append(got)
    return out


def test_readers_match_tensorflow(tf_real, records, tmp_path):
    ours, theirs = _readers(deferflow, records, tmp_path), _readers(tf_real, records, tmp_path)
    for a, b in zip(ours, theirs):
        assert a == b
    assert len(ours) == len(theirs)
    assert ours[0][3][0] == f"{records[0]}:0".encode()
