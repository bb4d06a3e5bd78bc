"""FileWriter and event files: naming, framing (byte-identical to a TF-written file), reading back,
closing and reopening, errors, flushing at exit, and real TensorFlow reading our files."""
import glob
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import deferflow as tf
from deferflow.formats import protos

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_DIR = os.path.join(HERE, "..", "golden", "summary")
GOLDEN = os.path.join(GOLDEN_DIR, "events.out.tfevents.golden")


def _golden_module():
    spec = importlib.util.spec_from_file_location("make_golden_summary", os.path.join(GOLDEN_DIR, "make_golden.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _event_files(logdir):
    return sorted(glob.glob(os.path.join(str(logdir), "events.out.tfevents.*")))


def _events(path):
    return list(tf.train.summary_iterator(path))


def _scalar(tag, value):
    return tf.Summary(value=[tf.Summary.Value(tag=tag, simple_value=value)])


# ---- naming and framing ------------------------------------------------------------------------
def test_file_name_and_version_event(tmp_path):
    before = int(time.time())
    w = tf.summary.FileWriter(str(tmp_path / "logs"))
    (path,) = _event_files(tmp_path / "logs")  # created (with its version record) at construction
    name = os.path.basename(path)
    prefix, stamp, host = name[:len("events.out.tfevents.")], name.split(".")[3], name.split(".", 4)[4]
    assert prefix == "events.out.tfevents." and len(stamp) == 10 and host == socket.gethostname()
    assert before <= int(stamp) <= time.time() + 1
    w.close()
    (first,) = _events(path)
    assert first.file_version == "brain.Event:2" and first.step == 0 and abs(first.wall_time - time.time()) < 60
    assert w.get_logdir() == str(tmp_path / "logs")


def test_filename_suffix(tmp_path):
    with tf.summary.FileWriter(str(tmp_path), filename_suffix=".eval") as w:
        w.add_summary(_scalar("a", 1.0), 1)
    (path,) = _event_files(tmp_path)
    assert path.endswith("." + socket.gethostname() + ".eval")


def test_framing_identical_to_tensorflow_file(tmp_path):
    golden = open(GOLDEN, "rb").read()
    records = list(tf.io.tf_record_iterator(GOLDEN))
    assert len(records) == 5 and protos.Event.FromString(records[0]).file_version == "brain.Event:2"
    with tf.io.TFRecordWriter(str(tmp_path / "copy")) as w:
        for r in records:
            w.write(r)
    assert open(tmp_path / "copy", "rb").read() == golden
    # FileWriter.add_event keeps events as given: after our own version record the bytes are TF's
    with tf.summary.FileWriter(str(tmp_path / "logs")) as fw:
        for r in records[1:]:
            fw.add_event(protos.Event.FromString(r))
    (path,) = _event_files(tmp_path / "logs")
    ours = open(path, "rb").read()
    first = 12 + len(next(tf.io.tf_record_iterator(path))) + 4
    golden_first = 12 + len(records[0]) + 4
    assert ours[first:] == golden[golden_first:]
    assert ours[12:first - 4] == protos.Event(wall_time=_events(path)[0].wall_time,
                                              file_version="brain.Event:2").SerializeToString()


def test_summaries_match_tensorflow_written_ones():
    mod = _golden_module()
    golden = [e for e in _events(GOLDEN) if e.HasField("summary")]
    ph, merged = mod.build(tf)
    with tf.Session() as sess:
        for step, (event, feed) in enumerate(zip(golden, mod.inputs())):
            ours = protos.Summary.FromString(sess.run(merged, {ph[k]: v for k, v in feed.items()}))
            if step:  # FileWriter keeps a tag's metadata on its first value only
                for v in ours.value:
                    v.ClearField("metadata")
            assert event.step == step
            assert ours.SerializeToString() == event.summary.SerializeToString()


def test_writer_strips_repeated_metadata_as_tensorflow(tmp_path):
    mod = _golden_module()
    ph, merged = mod.build(tf)
    with tf.Session() as sess, tf.summary.FileWriter(str(tmp_path)) as w:
        w.add_session_log(tf.SessionLog(status=tf.SessionLog.START), 0)
        for step, feed in enumerate(mod.inputs()):
            w.add_summary(sess.run(merged, {ph[k]: v for k, v in feed.items()}), step)
    ours, theirs = _events(_event_files(tmp_path)[0]), _events(GOLDEN)
    assert len(ours) == len(theirs) == 5
    for a, b in zip(ours[1:], theirs[1:]):
        a.wall_time = b.wall_time
        assert a.SerializeToString() == b.SerializeToString()


# ---- the writer's API -------------------------------------------------------------------------
def test_add_everything_and_read_back(tmp_path):
    x = tf.placeholder(tf.float32, [], name="x")
    with tf.name_scope("layer"):
        y = tf.multiply(x, 2.0, name="double")
    s = tf.summary.scalar("y", y)
    w = tf.summary.FileWriter(str(tmp_path), tf.get_default_graph())
    with tf.Session() as sess:
        for step in range(5):
            w.add_summary(sess.run(s, {x: step}), global_step=step)
    w.add_summary(_scalar("manual", 0.5).SerializeToString(), 7)
    w.add_session_log(tf.SessionLog(status=tf.SessionLog.STOP), 9)
    w.add_run_metadata(tf.RunMetadata(), "step_9", 9)
    with pytest.raises(ValueError, match="already used"):
        w.add_run_metadata(tf.RunMetadata(), "step_9")
    w.add_graph(tf.get_default_graph().as_graph_def(), 10)
    with pytest.raises(TypeError, match="MetaGraphDef"):
        w.add_meta_graph(tf.get_default_graph().as_graph_def())
    with pytest.raises(ValueError, match="only graph"):
        w.add_graph(tf.get_default_graph(), graph_def=tf.get_default_graph().as_graph_def())
    with pytest.raises(TypeError, match="Graph"):
        w.add_graph("not a graph")
    w.close()
    events = _events(_event_files(tmp_path)[0])
    kinds = [e.WhichOneof("what") for e in events]
    assert kinds == ["file_version", "graph_def", "meta_graph_def"] + ["summary"] * 6 + [
        "session_log", "tagged_run_metadata", "graph_def"]
    gd = protos.GraphDef.FromString(events[1].graph_def)
    assert {n.name for n in gd.node} >= {"x", "layer/double", "y", "y/tags"}
    assert all("_output_shapes" in n.attr for n in gd.node)  # add_graph serializes with shapes, as TF
    mgd = protos.MetaGraphDef.FromString(events[2].meta_graph_def)
    assert {n.name for n in mgd.graph_def.node} == {n.name for n in gd.node}
    assert "ScalarSummary" in [o.name for o in mgd.meta_info_def.stripped_op_list.op]
    assert "summaries" in mgd.collection_def  # collections come along, as in TF's meta graph event
    scalars = [(e.step, v.tag, v.simple_value) for e in events if e.HasField("summary") for v in e.summary.value]
    assert scalars == [(i, "y", 2.0 * i) for i in range(5)] + [(7, "manual", 0.5)]
    assert events[-3].session_log.status == protos.SessionLog.STOP and events[-3].step == 9
    assert events[-2].tagged_run_metadata.tag == "step_9"
    assert all(b.wall_time >= a.wall_time for a, b in zip(events, events[1:]))


def test_close_then_noop_with_warning_then_reopen_new_file(tmp_path):
    w = tf.summary.FileWriter(str(tmp_path))
    w.add_summary(_scalar("a", 1.0), 1)
    w.close()
    w.close()  # closing twice is fine
    with pytest.warns(UserWarning, match="closed FileWriter"):
        w.add_summary(_scalar("a", 2.0), 2)
    with pytest.warns(UserWarning, match="closed FileWriter"):
        w.flush()
    w.reopen()
    w.add_summary(_scalar("a", 3.0), 3)
    w.close()
    files = _event_files(tmp_path)
    assert len(files) == 2  # reopening in the same second still makes a new file, never truncates
    steps = [[e.step for e in _events(p) if e.HasField("summary")] for p in files]
    assert steps == [[1], [3]]


def test_context_manager_and_flush_make_events_visible(tmp_path):
    with tf.summary.FileWriter(str(tmp_path), flush_secs=1000) as w:
        w.add_summary(_scalar("a", 1.0), 1)
        w.flush()
        (path,) = _event_files(tmp_path)
        assert [e.step for e in _events(path)] == [0, 1]
        w.add_summary(_scalar("a", 2.0), 2)
    assert [e.step for e in _events(path)] == [0, 1, 2]


def test_periodic_flush(tmp_path):
    w = tf.summary.FileWriter(str(tmp_path), flush_secs=0.2)
    for step in range(3):
        w.add_summary(_scalar("a", step), step)
    path = _event_files(tmp_path)[0]
    deadline = time.time() + 10
    while len(_events(path)) < 4 and time.time() < deadline:
        time.sleep(0.05)
    assert len(_events(path)) == 4  # written without flush() or close()
    w.close()


def test_thread_writes_batches_before_any_flush(tmp_path):
    w = tf.summary.FileWriter(str(tmp_path), flush_secs=1000)
    path = _event_files(tmp_path)[0]
    start = os.path.getsize(path)
    for step in range(2000):  # about 80 KiB of events: the writer thread wakes by size
        w.add_summary(_scalar("loss", float(step)), step)
    deadline = time.time() + 10
    while os.path.getsize(path) - start < 32 * 1024 and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.getsize(path) - start >= 32 * 1024
    w.close()
    assert len(_events(path)) == 2001


def test_many_events_small_queue_keep_order(tmp_path):
    with tf.summary.FileWriter(str(tmp_path), max_queue=2) as w:
        for step in range(2000):
            w.add_summary(_scalar("loss", float(step)), step)
    events = _events(_event_files(tmp_path)[0])[1:]
    assert [e.step for e in events] == list(range(2000))
    assert [e.summary.value[0].simple_value for e in events] == [float(s) for s in range(2000)]


def test_writers_from_several_threads(tmp_path):
    w = tf.summary.FileWriter(str(tmp_path), max_queue=3)

    def log(tag):
        for step in range(200):
            w.add_summary(_scalar(tag, step), step)
    threads = [threading.Thread(target=log, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    events = _events(_event_files(tmp_path)[0])[1:]
    for i in range(4):
        assert [e.step for e in events if e.summary.value[0].tag == f"t{i}"] == list(range(200))


def test_accepts_tensorflow_protos(tf_real, tmp_path):
    with tf.summary.FileWriter(str(tmp_path)) as w:
        w.add_summary(tf_real.Summary(value=[tf_real.Summary.Value(tag="tf", simple_value=4.0)]), 4)
        with tf_real.Graph().as_default() as g:
            tf_real.constant(1.0, name="tf_const")
        w.add_graph(g.as_graph_def())
    events = _events(_event_files(tmp_path)[0])
    assert events[1].summary.value[0].simple_value == 4.0
    assert [n.name for n in protos.GraphDef.FromString(events[2].graph_def).node] == ["tf_const"]


def test_file_writer_cache(tmp_path):
    a = tf.summary.FileWriterCache.get(str(tmp_path / "a"))
    assert tf.summary.FileWriterCache.get(str(tmp_path / "a")) is a
    assert tf.summary.FileWriterCache.get(str(tmp_path / "b")) is not a
    tf.summary.FileWriterCache.clear()
    assert tf.summary.FileWriterCache.get(str(tmp_path / "a")) is not a
    tf.summary.FileWriterCache.clear()
    # the cached writer gets the default graph, as TF's does
    kinds = [e.WhichOneof("what") for e in _events(_event_files(tmp_path / "a")[0])]
    assert kinds == ["file_version", "graph_def", "meta_graph_def"]


# ---- errors -----------------------------------------------------------------------------------
def test_logdir_that_is_a_file_fails_at_construction(tmp_path):
    (tmp_path / "afile").write_text("x")
    for logdir in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        with pytest.raises(tf.errors.FailedPreconditionError, match="is not a directory"):
            tf.summary.FileWriter(str(logdir))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_logdir_fails_at_construction(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(tf.errors.PermissionDeniedError):
            tf.summary.FileWriter(str(d))
    finally:
        d.chmod(0o700)


def test_write_failure_surfaces_on_the_next_call(tmp_path, monkeypatch):
    w = tf.summary.FileWriter(str(tmp_path))

    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass
    monkeypatch.setattr(w.event_writer, "_file", Full())
    w.add_summary(_scalar("a", 1.0), 1)
    with pytest.raises(tf.errors.OpError, match="No space left"):
        w.flush()
    w.close()  # the writer is closed after the error; closing again is quiet


def test_corrupted_file_raises_data_loss_after_good_records(tmp_path):
    data = bytearray(open(GOLDEN, "rb").read())
    records = list(tf.io.tf_record_iterator(GOLDEN))
    second = 16 + len(records[0])  # offset of record 1
    bad = tmp_path / "events.out.tfevents.bad"
    data[second + 12 + 3] ^= 0x40  # flip a bit inside record 1's data
    bad.write_bytes(bytes(data))
    it = tf.train.summary_iterator(str(bad))
    assert next(it).file_version == "brain.Event:2"
    with pytest.raises(tf.errors.DataLossError, match="corrupt"):
        next(it)
    got = []
    with pytest.raises(tf.errors.DataLossError):
        for r in tf.python_io.tf_record_iterator(str(bad)):
            got.append(r)
    assert got == records[:1]


def test_truncated_file(tmp_path):
    data = open(GOLDEN, "rb").read()
    records = list(tf.io.tf_record_iterator(GOLDEN))
    p = tmp_path / "trunc"
    p.write_bytes(data[:-3])  # inside the last record's data
    with pytest.raises(tf.errors.DataLossError):
        list(tf.io.tf_record_iterator(str(p)))
    p.write_bytes(data[:-(16 + len(records[-1])) + 5])  # a partial header reads as the end, as in TF
    assert list(tf.io.tf_record_iterator(str(p))) == records[:-1]
    with pytest.raises(tf.errors.NotFoundError):
        list(tf.io.tf_record_iterator(str(tmp_path / "missing")))


def test_tfrecord_writer_api(tmp_path):
    p = str(tmp_path / "r.tfrecord")
    w = tf.python_io.TFRecordWriter(p)
    w.write(b"one")
    w.write("two")
    w.flush()
    w.close()
    with pytest.raises(tf.errors.FailedPreconditionError, match="Writer is closed"):
        w.write(b"three")
    assert list(tf.python_io.tf_record_iterator(p)) == [b"one", b"two"]
    with pytest.raises(tf.errors.NotFoundError):
        tf.io.TFRecordWriter(str(tmp_path / "nodir" / "r"))
    with tf.io.TFRecordWriter(p, tf.io.TFRecordOptions(tf.io.TFRecordCompressionType.GZIP)) as gz:
        gz.write(b"packed")  # compressed files are supported (tests/training/test_tfrecord_compression.py)
    assert list(tf.io.tf_record_iterator(p, "GZIP")) == [b"packed"]
    assert tf.io.TFRecordOptions.get_compression_type_string(None) == ""


# ---- flushing at interpreter exit --------------------------------------------------------------
def test_unclosed_writer_is_flushed_at_exit(tmp_path):
    script = (
        "import deferflow as tf\n"
        f"w = tf.summary.FileWriter({str(tmp_path)!r}, flush_secs=1000, max_queue=1000)\n"
        "for step in range(300):\n"
        "    w.add_summary(tf.Summary(value=[tf.Summary.Value(tag='x', simple_value=step)]), step)\n"
        "del w\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120,
                   cwd=os.path.dirname(os.path.dirname(HERE)))
    events = _events(_event_files(tmp_path)[0])
    assert [e.step for e in events[1:]] == list(range(300))


# ---- real TensorFlow and deferflow read each other's files --------------------------------------
def test_tensorflow_reads_our_event_file(tf_real, tmp_path):
    x = tf.placeholder(tf.float32, [None], name="x")
    merged = tf.summary.merge([tf.summary.scalar("avg", tf.reduce_mean(x)), tf.summary.histogram("x", x),
                               tf.summary.image("img", tf.reshape(x, [1, 2, 2, 1])),
                               tf.summary.text("t", tf.constant("hi"))])
    with tf.Session() as sess, tf.summary.FileWriter(str(tmp_path), sess.graph) as w:
        for step in range(3):
            w.add_summary(sess.run(merged, {x: np.arange(4, dtype=np.float32) + step}), step)
    path = _event_files(tmp_path)[0]
    theirs = list(tf_real.train.summary_iterator(path))
    assert [e.SerializeToString() for e in theirs] == [e.SerializeToString() for e in _events(path)]
    assert theirs[0].file_version == "brain.Event:2"
    means = [(e.step, v.simple_value) for e in theirs if e.HasField("summary") for v in e.summary.value
             if v.tag == "avg"]
    assert means == [(0, 1.5), (1, 2.5), (2, 3.5)]
    assert list(tf_real.io.tf_record_iterator(path)) == list(tf.io.tf_record_iterator(path))


def test_we_read_a_tensorflow_event_file(tf_real, tmp_path):
    with tf_real.Graph().as_default():
        with tf_real.summary.FileWriter(str(tmp_path)) as w:
            w.add_summary(tf_real.Summary(value=[tf_real.Summary.Value(tag="a", simple_value=2.0)]), 5)
    (path,) = _event_files(tmp_path)
    events = _events(path)
    assert events[0].file_version == "brain.Event:2"
    assert (events[1].step, events[1].summary.value[0].simple_value) == (5, 2.0)


def test_no_warnings_in_normal_use(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tf.summary.FileWriter(str(tmp_path)) as w:
            w.add_summary(_scalar("a", 1.0))
