"""tf.Assert, tf.Print, tf.print and the tf.assert_* family."""
import numpy as np
import pytest

import deferflow as tf


def _fails(fetch, feed, match):
    with tf.Session() as s:
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            s.run(fetch, feed)


def test_assert_messages_match_tensorflow(tf_real):
    """The failure messages TF prints for the same checks (the part after the node header)."""
    msgs = []
    for lib in (tf, tf_real):
        g = lib.Graph()
        with g.as_default():
            x = lib.placeholder(lib.float32, [3], name="x")
            y = lib.placeholder(lib.float32, [3], name="y")
            checks = [lib.assert_equal(x, y, message="msg"), lib.assert_less(x, y), lib.assert_positive(x),
                      lib.Assert(lib.reduce_all(x > 0), [x, "hello", lib.constant([[1.5, 2, 3], [4, 5, 6]])],
                                 summarize=4)]
            out = []
            with lib.Session() as s:
                for c in checks:
                    try:
                        s.run(c, {x: [1, -2, 3], y: [1, 2, 2]})
                        out.append(None)
                    except lib.errors.InvalidArgumentError as e:
                        out.append(e.message[e.message.index("assertion failed"):].split("\n")[0])
        msgs.append(out)
    assert msgs[0] == msgs[1]
    assert msgs[0][3] == "assertion failed: [1 -2 3] [hello] [[1.5 2 3][4...]...]"


def test_passing_asserts_and_dependencies():
    x = tf.placeholder(tf.float32, [None])
    with tf.control_dependencies([tf.assert_non_negative(x), tf.assert_rank(x, 1)]):
        y = tf.identity(x * 2.0)
    with tf.Session() as s:
        np.testing.assert_array_equal(s.run(y, {x: [0.0, 1.0]}), [0.0, 2.0])
    _fails(y, {x: [-1.0]}, r"assertion failed: \[\] \[Condition x >= 0 did not hold element-wise:\]")


def test_static_asserts():
    with pytest.raises(tf.errors.InvalidArgumentError, match="Condition x == y did not hold element-wise"):
        tf.assert_equal(tf.constant(1), tf.constant(2))
    with pytest.raises(ValueError, match=r"Tensor x:0 must have rank 2.  Received rank 1, shape \(3,\)"):
        tf.assert_rank(tf.placeholder(tf.float32, [3], name="x"), 2)
    with pytest.raises(TypeError, match="must be of type"):
        tf.assert_type(tf.constant(1), tf.float32)
    assert tf.assert_greater(tf.constant(3), tf.constant(2)).type in ("Merge", "Assert", "NoOp")


def test_dynamic_rank_assert():
    x = tf.placeholder(tf.float32)
    a = tf.assert_rank(x, 2)
    with tf.Session() as s:
        s.run(a, {x: [[1.0]]})
    _fails(a, {x: [1.0]}, "must have rank")


def test_print_ops(capfd):
    x = tf.placeholder(tf.float32, [3])
    p = tf.Print(x, [x, x * 2.0], message="pm: ", first_n=1)
    pv2 = tf.print("hi", x, {"a": 1})
    with tf.Session() as s:
        np.testing.assert_array_equal(s.run(p, {x: [1, 2, 3]}), [1, 2, 3])
        s.run(p, {x: [1, 2, 3]})
        s.run(pv2, {x: [1.5, 2, 3]})
    err = capfd.readouterr().err
    assert err.count("pm: [1 2 3][2 4 6]") == 1
    assert "hi [1.5 2 3] {'a': 1}" in err
    assert tf.gradients(p, x)[0] is not None
