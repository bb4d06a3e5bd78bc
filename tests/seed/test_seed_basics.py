"""The seed document's graph-building and running parts (tensorflow_basics.md), as written there."""
import numpy as np

import deferflow as tf
import deferflow.compat.v1 as tf1


def test_compat_v1_is_the_same_namespace():
    assert tf1.Session is tf.Session and tf1.placeholder is tf.placeholder
    assert tf.compat.v1.Session is tf.Session
    tf1.disable_v2_behavior()


def test_working_with_placeholders_prints_24(capsys):
    w1 = tf.placeholder("float", name="w1")
    w2 = tf.placeholder("float", name="w2")
    b1 = tf.Variable(2.0, name="bias")
    feed_dict = {w1: 4, w2: 8}
    w3 = tf.add(w1, w2)
    w4 = tf.multiply(w3, b1, name="op_to_restore")
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    print(sess.run(w4, feed_dict))
    assert capsys.readouterr().out == "24.0\n"
    # the restored-model part of the seed, on the same graph: new feeds, then a new op on top
    graph = tf.get_default_graph()
    w1 = graph.get_tensor_by_name("w1:0")
    w2 = graph.get_tensor_by_name("w2:0")
    feed_dict = {w1: 13.0, w2: 17.0}
    op_to_restore = graph.get_tensor_by_name("op_to_restore:0")
    print(sess.run(op_to_restore, feed_dict))
    add_on_op = tf.multiply(op_to_restore, 2)
    print(sess.run(add_on_op, feed_dict))
    assert capsys.readouterr().out == "60.0\n120.0\n"


def test_interactive_session_eval_and_run():
    sess = tf.InteractiveSession()
    try:
        a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
        b = tf.matmul(a, a)
        np.testing.assert_array_equal(b.eval(), [[7.0, 10.0], [15.0, 22.0]])
        v = tf.Variable(1.0)
        v.initializer.run()
        assert v.eval() == 1.0
    finally:
        sess.close()


def test_seed_variables_with_random_normal():
    w1 = tf.Variable(tf.random_normal(shape=[2]), name="w1")
    w2 = tf.Variable(tf.random_normal(shape=[5]), name="w2")
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    assert sess.run(w1).shape == (2,) and sess.run(w2).shape == (5,)
    assert sess.run("w1:0").dtype == np.float32


def test_vgg_style_head_shapes():
    fc7 = tf.placeholder(tf.float32, [None, 1, 1, 16], name="fc7")
    fc7 = tf.stop_gradient(fc7)
    fc7_shape = fc7.get_shape().as_list()
    num_outputs = 2
    weights = tf.Variable(tf.truncated_normal([fc7_shape[3], num_outputs], stddev=0.05))
    biases = tf.Variable(tf.constant(0.05, shape=[num_outputs]))
    output = tf.matmul(tf.reshape(fc7, [-1, fc7_shape[3]]), weights) + biases
    assert output.shape.as_list() == [None, 2]
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        w = s.run(weights)
        assert np.all(np.abs(w) <= 2 * 0.05 + 1e-6)  # truncated at two standard deviations
        np.testing.assert_allclose(s.run(biases), [0.05, 0.05])
