"""Write this directory's graph/checkpoint files with REAL TensorFlow (run: python tests/cli/golden/make_golden.py).

- ``convnet/``: a small conv net (placeholders ``x``/``labels``, ``conv1``, ``fc7``, softmax ``prob``,
  Adam, global_step) saved by ``tf.train.Saver`` at step 3: ``model-3.index/.data/.meta`` + ``checkpoint``.
- ``scoped.meta``: the same net built under ``variable_scope("net")`` (for ``deferflow diff`` renames).
- ``frozen.pb`` / ``graph.pbtxt``: the inference GraphDef (binary / text, ``tf.train.write_graph``).
- ``saved_model/``: a TF1 SavedModel (tag ``serve``, signature ``serving_default``).
"""
import os
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    return tf


def build(tf, train=True):
    x = tf.placeholder(tf.float32, [None, 8, 8, 1], name="x")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    with tf.variable_scope("conv1"):
        w = tf.get_variable("weights", [3, 3, 1, 4], initializer=tf.truncated_normal_initializer(stddev=0.3))
        b = tf.get_variable("biases", [4], initializer=tf.zeros_initializer())
        net = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), b))
    net = tf.nn.max_pool(net, [1, 2, 2, 1], [1, 2, 2, 1], "VALID", name="pool1")
    net = tf.reshape(net, [-1, 64])
    with tf.variable_scope("fc7") as scope:
        w7 = tf.get_variable("weights", [64, 8], initializer=tf.truncated_normal_initializer(stddev=0.1))
        b7 = tf.get_variable("biases", [8], initializer=tf.zeros_initializer())
        fc7 = tf.nn.relu(tf.matmul(net, w7) + b7, name=scope.original_name_scope)  # the op is named 'fc7'
    with tf.variable_scope("fc8"):
        w8 = tf.get_variable("weights", [8, 10], initializer=tf.truncated_normal_initializer(stddev=0.1))
        b8 = tf.get_variable("biases", [10], initializer=tf.zeros_initializer())
    logits = tf.add(tf.matmul(fc7, w8), b8, name="logits")
    prob = tf.nn.softmax(logits, name="prob")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                          name="loss")
    train_op = None
    if train:
        step = tf.train.get_or_create_global_step()
        train_op = tf.train.AdamOptimizer(0.01).minimize(loss, global_step=step, name="train")
    return x, labels, prob, loss, train_op


def feed(x, labels):
    rng = np.random.RandomState(0)
    return {x: rng.rand(16, 8, 8, 1).astype(np.float32), labels: rng.randint(0, 10, 16)}


def main():
    tf = _tf()
    for name in ("convnet", "saved_model"):
        shutil.rmtree(os.path.join(HERE, name), ignore_errors=True)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        x, labels, prob, loss, train_op = build(tf)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op, feed(x, labels))
            cwd = os.getcwd()
            os.makedirs(os.path.join(HERE, "convnet"))
            os.chdir(os.path.join(HERE, "convnet"))  # relative paths in the 'checkpoint' file
            try:
                saver.save(sess, "model", global_step=3)
            finally:
                os.chdir(cwd)
    with tf.Graph().as_default():
        with tf.variable_scope("net"):
            build(tf)
        tf.train.export_meta_graph(os.path.join(HERE, "scoped.meta"))
    with tf.Graph().as_default() as g:
        x, labels, prob, loss, _ = build(tf, train=False)
        tf.train.write_graph(g.as_graph_def(), HERE, "frozen.pb", as_text=False)
        tf.train.write_graph(g.as_graph_def(), HERE, "graph.pbtxt", as_text=True)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            builder = tf.saved_model.builder.SavedModelBuilder(os.path.join(HERE, "saved_model"))
            sig = tf.saved_model.signature_def_utils.predict_signature_def({"images": x}, {"scores": prob})
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
            builder.save()


if __name__ == "__main__":
    main()
