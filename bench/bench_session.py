"""Session.run of the seed's graph ``(w1 + w2) * bias`` with a feed_dict: microseconds per call.

Run: ``python bench/bench_session.py``. Prints deferflow, TensorFlow (compat.v1) and the ratio.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _common import per_call, real_tf, report  # noqa: E402


def seed_graph(tf):
    g = tf.Graph()
    with g.as_default():
        w1 = tf.placeholder("float", name="w1")
        w2 = tf.placeholder("float", name="w2")
        b1 = tf.Variable(2.0, name="bias")
        w4 = tf.multiply(tf.add(w1, w2), b1, name="op_to_restore")
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=g)
    sess.run(init)
    return sess, w1, w2, w4


def measure(tf):
    sess, w1, w2, w4 = seed_graph(tf)
    feed = {w1: 4.0, w2: 8.0}
    assert float(sess.run(w4, feed)) == 24.0
    run_us = per_call(lambda: sess.run(w4, feed)) * 1e6
    f = sess.make_callable(w4, [w1, w2])
    call_us = per_call(lambda: f(4.0, 8.0)) * 1e6
    return run_us, call_us


def main():
    import deferflow
    ours = measure(deferflow)
    tf = real_tf()
    theirs = measure(tf) if tf is not None else (None, None)
    report("Session.run((w1+w2)*bias, feed_dict)", ours[0], theirs[0], "us/call")
    report("make_callable((w1+w2)*bias)", ours[1], theirs[1], "us/call")


if __name__ == "__main__":
    main()
