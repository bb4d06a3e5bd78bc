"""Blocking queue ops with threads: wake-ups by enqueue, dequeue, close, Session.close and run deadlines;
the Coordinator. Every wait is bounded, so a bug fails the test instead of hanging the suite."""
import threading
import time

import pytest

import deferflow as tf

WAIT = 5.0  # seconds a thread may take to finish once it should


def _start(fn):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except Exception as e:  # noqa: BLE001 - handed to the test
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)  # daemon: a bug cannot keep the interpreter alive
    t.start()
    return t, box


def _join(t, what):
    t.join(WAIT)
    if t.is_alive():
        pytest.fail(f"{what}: thread still blocked after {WAIT} s")


def _still_blocked(t):
    time.sleep(0.1)
    return t.is_alive()


def test_dequeue_blocks_until_another_thread_enqueues():
    q = tf.FIFOQueue(4, tf.int32, shapes=[[]])
    deq, enq = q.dequeue(), q.enqueue(7)
    with tf.Session() as s:
        t, box = _start(lambda: s.run(deq))
        assert _still_blocked(t)
        s.run(enq)
        _join(t, "dequeue")
        assert box == {"value": 7}


def test_capacity_blocks_enqueue_until_a_dequeue():
    q = tf.FIFOQueue(1, tf.int32, shapes=[[]])
    enq_many, deq = q.enqueue_many([[1, 2, 3]]), q.dequeue()
    with tf.Session() as s:
        t, box = _start(lambda: s.run(enq_many))  # more elements than the capacity: goes in as space frees
        assert _still_blocked(t)
        got = [s.run(deq), s.run(deq)]
        _join(t, "enqueue_many")
        got.append(s.run(deq))
        assert got == [1, 2, 3] and "error" not in box


def test_close_wakes_a_blocked_dequeue_with_out_of_range():
    q = tf.FIFOQueue(4, tf.int32, shapes=[[]])
    deq, close = q.dequeue_many(2), q.close()
    enq = q.enqueue(1)
    with tf.Session() as s:
        s.run(enq)
        t, box = _start(lambda: s.run(deq))
        assert _still_blocked(t)
        s.run(close)
        _join(t, "dequeue_many")
        assert isinstance(box["error"], tf.errors.OutOfRangeError)
        assert "is closed and has insufficient elements (requested 2, current size 1)" in box["error"].message


def test_close_with_cancel_pending_enqueues_cancels_a_blocked_enqueue():
    q = tf.FIFOQueue(1, tf.int32, shapes=[[]])
    enq, cancel, size = q.enqueue(1), q.close(cancel_pending_enqueues=True), q.size()
    with tf.Session() as s:
        s.run(enq)
        t, box = _start(lambda: s.run(enq))
        assert _still_blocked(t)
        s.run(cancel)
        _join(t, "enqueue")
        assert isinstance(box["error"], tf.errors.CancelledError)
        assert box["error"].message.startswith("Enqueue operation was cancelled")
        assert s.run(size) == 1


def test_session_close_cancels_blocked_ops():
    q = tf.FIFOQueue(1, tf.int32, shapes=[[]])
    deq = q.dequeue()
    s = tf.Session()
    t, box = _start(lambda: s.run(deq))
    assert _still_blocked(t)
    s.close()
    _join(t, "dequeue at Session.close")
    assert isinstance(box["error"], tf.errors.CancelledError)
    assert box["error"].message.startswith("Dequeue operation was cancelled")


def test_run_options_timeout_raises_deadline_exceeded():
    q = tf.FIFOQueue(1, tf.int32, shapes=[[]])
    deq, enq = q.dequeue(), q.enqueue(3)
    with tf.Session() as s:
        t0 = time.monotonic()
        with pytest.raises(tf.errors.DeadlineExceededError, match="Timed out waiting for notification"):
            s.run(deq, options=tf.RunOptions(timeout_in_ms=50))
        assert time.monotonic() - t0 < WAIT
        s.run(enq)
        assert s.run(deq, options=tf.RunOptions(timeout_in_ms=50)) == 3  # the element was not lost
    with tf.Session(config=tf.ConfigProto(operation_timeout_in_ms=50)) as s:
        with pytest.raises(tf.errors.DeadlineExceededError):
            s.run(deq)


def test_reader_blocks_on_an_empty_filename_queue(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"x\ny\n")
    q = tf.FIFOQueue(4, tf.string, shapes=[[]])
    key, value = tf.TextLineReader().read(q)
    enq = q.enqueue(str(path))
    with tf.Session() as s:
        t, box = _start(lambda: s.run([key, value]))
        assert _still_blocked(t)
        s.run(enq)
        _join(t, "ReaderReadV2")
        assert box["value"] == [f"{path}:1".encode(), b"x"]


def test_coordinator_reports_the_first_exception_from_join():
    coord = tf.train.Coordinator()

    def worker(fail):
        with coord.stop_on_exception():
            if fail:
                raise ValueError("boom")
            while not coord.should_stop():
                time.sleep(0.01)
    threads = [threading.Thread(target=worker, args=(i == 0,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    with pytest.raises(ValueError, match="boom"):
        coord.join(threads, stop_grace_period_secs=WAIT)
    assert coord.should_stop() and coord.joined and not any(t.is_alive() for t in threads)


def test_coordinator_clean_stop_and_stragglers():
    coord = tf.train.Coordinator()
    coord.request_stop(tf.errors.OutOfRangeError(None, None, "end of input"))  # a clean stop: not re-raised
    coord.join([], stop_grace_period_secs=0)
    coord.clear_stop()
    release = threading.Event()
    t = threading.Thread(target=release.wait, args=(WAIT,), daemon=True, name="straggler")
    t.start()
    coord.request_stop()
    with pytest.raises(RuntimeError, match="Coordinator stopped with threads still running: straggler"):
        coord.join([t], stop_grace_period_secs=0.05)
    release.set()
    _join(t, "straggler")


def test_queue_runner_closes_its_queue_when_the_input_ends():
    src = tf.train.range_input_producer(5, num_epochs=1, shuffle=False, capacity=2)
    deq = src.dequeue()
    with tf.Session() as s:
        s.run(tf.local_variables_initializer())
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(s, coord)
        got = []
        with pytest.raises(tf.errors.OutOfRangeError):
            for _ in range(10):
                got.append(s.run(deq))
        coord.request_stop()
        coord.join(threads, stop_grace_period_secs=WAIT)
        assert got == [0, 1, 2, 3, 4]
        assert not any(t.is_alive() for t in threads)
