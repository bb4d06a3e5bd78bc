"""Queues against TensorFlow: op types, names and static shapes as ``tf.FIFOQueue`` & co. build them, and the
values and errors of enqueue/dequeue/close runs (single-threaded here; threads in test_blocking.py)."""
import re

import numpy as np

import deferflow


def _err(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - the class and message are compared
        msg = getattr(e, "message", str(e))
        msg = msg.split("\n")[-2] if "[[{{node" in msg else msg.split("\n")[-1]
        return (type(e).__name__, re.sub(r"'_\d+_", "'_N_", msg))  # resource numbers are process-wide


def _graph_ops(tf):
    with tf.Graph().as_default() as g:
        q = tf.FIFOQueue(3, [tf.float32, tf.int32], shapes=[[2], []], names=["a", "b"])
        q.enqueue({"a": [1., 2.], "b": 3})
        q.enqueue_many({"a": [[1., 2.], [3, 4]], "b": [5, 6]})
        d, dm, du = q.dequeue(), q.dequeue_many(2), q.dequeue_up_to(2)
        q.close(), q.close(True), q.size(), q.is_closed()
        p = tf.PaddingFIFOQueue(10, [tf.int32], shapes=[[None]])
        pd = p.dequeue_many(2)
        r = tf.RandomShuffleQueue(10, 2, [tf.int32], seed=3)
        pq = tf.PriorityQueue(10, [tf.string], shapes=[[]])
        pqd = pq.dequeue_many(3)
        plain = tf.FIFOQueue(4, tf.int32)
        out = {
            "ops": [(op.name, op.type, [i.name for i in op.inputs]) for op in g.get_operations()],
            "attrs": {op.name: sorted(k for k in op.node_def.attr) for op in g.get_operations()
                      if op.type.endswith("QueueV2")},
            "rsq_seeds": (r.queue_ref.op.get_attr("seed"), r.queue_ref.op.get_attr("seed2"),
                          r.queue_ref.op.get_attr("min_after_dequeue")),
            "shapes": [t.shape.as_list() for t in [d["a"], d["b"], dm["a"], dm["b"], du["a"], du["b"], pd]]
            + [t.shape.as_list() for t in pqd],
            "names": q.names, "name": q.name, "dtypes": [t.name for t in pq.dtypes],
            "plain": (plain.dequeue().shape.ndims, plain.names, plain.dequeue().name),
        }
        return out


def test_queue_graphs_match_tensorflow(tf_real):
    ours, theirs = _graph_ops(deferflow), _graph_ops(tf_real)
    assert ours["ops"] == theirs["ops"]
    assert ours == theirs
    assert ("fifo_queue", "FIFOQueueV2", []) in ours["ops"]
    assert ours["shapes"][:4] == [[2], [], [2, 2], [2]]


def _semantics(tf):
    out = []
    with tf.Graph().as_default():
        q = tf.FIFOQueue(10, [tf.int32, tf.string], shapes=[[2], []])
        p = tf.placeholder(tf.int32)
        ops_ = dict(enq=q.enqueue(([1, 2], "x")), enq_many=q.enqueue_many(([[3, 4], [5, 6], [7, 8]], ["a", "b", "c"])),
                    enq_bad=q.enqueue((p, "y")), deq=q.dequeue(), deq2=q.dequeue_many(2), upto=q.dequeue_up_to(5),
                    deq0=q.dequeue_many(0), close=q.close(), size=q.size(), closed=q.is_closed())
        pad = tf.PaddingFIFOQueue(10, [tf.int32, tf.string], shapes=[[None], []])
        pad_enq = [pad.enqueue(([1, 2, 3], "a")), pad.enqueue(([4], "b"))]
        pad_deq = pad.dequeue_many(2)
        nos = tf.FIFOQueue(10, tf.int32)
        nos_enq, nos_many = nos.enqueue(1), nos.dequeue_many(1)
        pq = tf.PriorityQueue(10, [tf.string], shapes=[[]])
        pq_enq, pq_deq = pq.enqueue_many(([3, 1, 2], ["c", "a", "b"])), pq.dequeue_many(3)
        with tf.Session() as s:
            out.append(s.run([ops_["size"], ops_["closed"]]))
            s.run(ops_["enq"])
            s.run(ops_["enq_many"])
            out.append(_err(lambda: s.run(ops_["enq_bad"], {p: [1, 2, 3]})))
            out.append(s.run(ops_["deq"]))
            out.append(s.run(ops_["deq2"]))
            out.append(s.run(ops_["deq0"])[0].shape)
            s.run(ops_["close"])
            out.append(s.run([ops_["size"], ops_["closed"]]))
            out.append(_err(lambda: s.run(ops_["enq"])))
            out.append(_err(lambda: s.run(ops_["deq2"])))
            out.append(s.run(ops_["upto"]))
            out.append(_err(lambda: s.run(ops_["upto"])))
            out.append(_err(lambda: s.run(ops_["deq"])))
            for e in pad_enq:
                s.run(e)
            out.append(s.run(pad_deq))
            s.run(nos_enq)
            out.append(_err(lambda: s.run(nos_many)))
            s.run(pq_enq)
            out.append(s.run(pq_deq))
    return out


def _norm(x):
    if isinstance(x, np.ndarray):
        return ("nd", x.dtype.kind, x.shape, x.tolist())
    if isinstance(x, (list, tuple)):
        return [_norm(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def test_queue_semantics_and_errors_match_tensorflow(tf_real):
    ours, theirs = _norm(_semantics(deferflow)), _norm(_semantics(tf_real))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, i
    assert len(ours) == len(theirs)
    assert ours[7] == ["OutOfRangeError", "FIFOQueue '_N_fifo_queue' is closed and has insufficient elements "
                                          "(requested 2, current size 1)"]


def _shuffle(tf):
    with tf.Graph().as_default():
        q = tf.RandomShuffleQueue(10, 3, tf.int32, shapes=[[]], seed=3)
        enq, deq, deq1, close = q.enqueue_many([list(range(8))]), q.dequeue_many(5), q.dequeue(), q.close()
        upto = q.dequeue_up_to(10)
        with tf.Session() as s:
            s.run(enq)
            first = s.run(deq)
            s.run(close)
            rest = s.run(upto)
            return sorted(first.tolist() + rest.tolist()), len(first), len(rest), _err(lambda: s.run(deq1))


def test_random_shuffle_queue_keeps_min_after_dequeue_until_closed(tf_real):
    ours = _shuffle(deferflow)
    assert ours == _shuffle(tf_real)
    assert ours[0] == list(range(8))


def test_random_shuffle_queue_is_seeded():
    def draw():
        with deferflow.Graph().as_default():
            q = deferflow.RandomShuffleQueue(100, 0, deferflow.int32, shapes=[[]], seed=7)
            enq, deq = q.enqueue_many([list(range(50))]), q.dequeue_many(50)
            with deferflow.Session() as s:
                s.run(enq)
                return s.run(deq).tolist()
    a, b = draw(), draw()
    assert a == b and sorted(a) == list(range(50)) and a != list(range(50))


def test_python_side_errors_match_tensorflow(tf_real):
    def errs(tf):
        with tf.Graph().as_default():
            return [_err(lambda: tf.FIFOQueue(10, [tf.int32], shapes=[[2]]).enqueue([1, 2, 3])),
                    _err(lambda: tf.FIFOQueue(10, [tf.int32], names=["a"]).enqueue([1])),
                    _err(lambda: tf.FIFOQueue(10, [tf.int32], names=["a"]).enqueue({"b": 1})),
                    _err(lambda: tf.FIFOQueue(10, [tf.int32, tf.float32], shapes=[[]])),
                    _err(lambda: tf.FIFOQueue(10, tf.int32, names=["a"]).enqueue({"a": 1}).type)]
    assert errs(deferflow) == errs(tf_real)


def test_count_up_to_raises_out_of_range_at_its_limit(tf_real):
    def run(tf):
        with tf.Graph().as_default():
            v = tf.Variable(0, dtype=tf.int64)
            c = v.count_up_to(2)
            with tf.Session() as s:
                s.run(v.initializer)
                return [s.run(c), s.run(c), _err(lambda: s.run(c)), s.run(v)]
    assert _norm(run(deferflow)) == _norm(run(tf_real)) == [0, 1, ["OutOfRangeError", "Reached limit of 2"], 2]
