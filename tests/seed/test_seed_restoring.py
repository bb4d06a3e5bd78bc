"""The seed's "Importing a pre-trained model" and "Working with restored models" snippets
(tensorflow_basics.md), as written: 24, then 60 and 120 after the restore, and the VGG fine-tuning pattern."""
import os

import numpy as np

import deferflow as tf

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "meta")


def _save_the_small_network():
    w1 = tf.placeholder("float", name="w1")
    w2 = tf.placeholder("float", name="w2")
    b1 = tf.Variable(2.0, name="bias")
    feed_dict = {w1: 4, w2: 8}
    w3 = tf.add(w1, w2)
    w4 = tf.multiply(w3, b1, name="op_to_restore")
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver()
    value = sess.run(w4, feed_dict)
    saver.save(sess, 'my_test_model', global_step=1000)
    return value


def test_working_with_restored_models_prints_24_60_120(in_tmp, capsys):
    print(_save_the_small_network())
    tf.reset_default_graph()

    sess = tf.Session()
    saver = tf.train.import_meta_graph('my_test_model-1000.meta')
    saver.restore(sess, tf.train.latest_checkpoint('./'))
    graph = tf.get_default_graph()
    w1 = graph.get_tensor_by_name("w1:0")
    w2 = graph.get_tensor_by_name("w2:0")
    feed_dict = {w1: 13.0, w2: 17.0}
    op_to_restore = graph.get_tensor_by_name("op_to_restore:0")
    print(sess.run(op_to_restore, feed_dict))
    tf.reset_default_graph()

    sess = tf.Session()
    saver = tf.train.import_meta_graph('my_test_model-1000.meta')
    saver.restore(sess, tf.train.latest_checkpoint('./'))
    graph = tf.get_default_graph()
    w1 = graph.get_tensor_by_name("w1:0")
    w2 = graph.get_tensor_by_name("w2:0")
    feed_dict = {w1: 13.0, w2: 17.0}
    op_to_restore = graph.get_tensor_by_name("op_to_restore:0")
    add_on_op = tf.multiply(op_to_restore, 2)
    print(sess.run(add_on_op, feed_dict))
    assert capsys.readouterr().out.split() == ["24.0", "60.0", "120.0"]


def test_restored_bias_is_a_working_trainable_variable(in_tmp):
    _save_the_small_network()
    tf.reset_default_graph()
    sess = tf.Session()
    saver = tf.train.import_meta_graph('my_test_model-1000.meta')
    saver.restore(sess, tf.train.latest_checkpoint('./'))
    (bias,) = tf.trainable_variables()
    assert bias.name == "bias:0" and tf.global_variables() == [bias]
    assert sess.run(bias) == 2.0
    sess.run(bias.assign(3.0))
    assert sess.run("op_to_restore:0", {"w1:0": 13.0, "w2:0": 17.0}) == 90.0


def test_importing_a_pretrained_model_restores_w1(in_tmp):
    w1 = tf.Variable(tf.random_normal(shape=[2]), name='w1')
    w2 = tf.Variable(tf.random_normal(shape=[5]), name='w2')
    saver = tf.train.Saver([w1, w2])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saved = sess.run(w1)
    saver.save(sess, 'my_test_model', global_step=1000)
    tf.reset_default_graph()

    with tf.Session() as sess:
        new_saver = tf.train.import_meta_graph('my_test_model-1000.meta')
        new_saver.restore(sess, tf.train.latest_checkpoint('./'))
        np.testing.assert_array_equal(sess.run('w1:0'), saved)
    tf.reset_default_graph()
    with tf.Session() as sess:
        saver = tf.train.import_meta_graph('my_test_model-1000.meta')
        saver.restore(sess, tf.train.latest_checkpoint('./'))
        np.testing.assert_array_equal(sess.run('w1:0'), saved)


def test_vgg_example_on_a_tensorflow_written_conv_net():
    expected = np.load(os.path.join(GOLDEN, "expected.npz"), allow_pickle=True)
    saver = tf.train.import_meta_graph(os.path.join(GOLDEN, "vgg", "model.ckpt.meta"))
    graph = tf.get_default_graph()
    fc7 = graph.get_tensor_by_name('fc7:0')
    fc7 = tf.stop_gradient(fc7)  # It's an identity function
    fc7_shape = fc7.get_shape().as_list()
    num_outputs = 2
    weights = tf.Variable(tf.truncated_normal([fc7_shape[-1], num_outputs], stddev=0.05))
    biases = tf.Variable(tf.constant(0.05, shape=[num_outputs]))
    output = tf.matmul(fc7, weights) + biases
    pred = tf.nn.softmax(output)

    labels = tf.placeholder(tf.float32, [None, num_outputs])
    loss = tf.reduce_mean(tf.square(pred - labels))
    train = tf.train.GradientDescentOptimizer(0.05).minimize(loss)
    sess = tf.Session()
    sess.run(tf.variables_initializer([weights, biases]))
    saver.restore(sess, os.path.join(GOLDEN, "vgg", "model.ckpt"))
    sess.run(tf.variables_initializer([v for v in tf.global_variables() if "GradientDescent" in v.name]))
    feed = {"images:0": expected["vgg_images"], labels: [[1, 0], [0, 1]]}
    np.testing.assert_allclose(sess.run("fc7:0", feed), expected["vgg_fc7"], rtol=1e-5, atol=1e-6)
    conv1 = sess.run("conv1/weights:0")
    before = sess.run(loss, feed)
    for _ in range(20):
        sess.run(train, feed)
    assert sess.run(loss, feed) < before
    np.testing.assert_array_equal(sess.run("conv1/weights:0"), conv1)  # stop_gradient kept the old layers
    assert sess.run(pred, feed).shape == (2, 2)
