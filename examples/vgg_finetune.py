"""The seed's VGG example: restore a pre-trained net from its .meta, put a new 2-output layer on
``stop_gradient(fc7)`` and train only that, for a new task ("is the digit at least 5?").

Run: ``python examples/vgg_finetune.py [CHECKPOINT_DIR]``. CHECKPOINT_DIR holds a checkpoint and its
.meta graph with tensors ``x:0`` (8x8x1 digits), ``fc7:0`` — e.g. the folder ``deferflow demo`` writes,
or one written by real TensorFlow. Without it, ``deferflow demo`` first trains one in a temporary folder.
"""
import os
import sys
import tempfile

import numpy as np

import deferflow as tf
from deferflow.datasets import load_digits, train_test_split


def meta_file(checkpoint_dir):
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if latest and os.path.exists(latest + ".meta"):
        return latest + ".meta"
    metas = sorted(f for f in os.listdir(checkpoint_dir) if f.endswith(".meta"))
    return os.path.join(checkpoint_dir, metas[0])  # Saver(write_meta_graph=False) leaves only the first


def finetune(checkpoint_dir, steps=200, seed=0):
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    sess = tf.Session()
    saver = tf.train.import_meta_graph(meta_file(checkpoint_dir))
    saver.restore(sess, tf.train.latest_checkpoint(checkpoint_dir))
    # Access the graph
    graph = tf.get_default_graph()
    x = graph.get_tensor_by_name("x:0")
    # Access the appropriate output for fine-tuning
    fc7 = graph.get_tensor_by_name("fc7:0")
    restored = {v.op.name: sess.run(v) for v in tf.global_variables()}
    # use this if you only want to change gradients of the last layer
    fc7 = tf.stop_gradient(fc7)  # It's an identity function
    fc7_shape = fc7.get_shape().as_list()
    num_outputs = 2
    width = fc7_shape[-1]  # the seed's fc7_shape[3]: VGG's fc7 is [batch, 1, 1, 4096]
    weights = tf.Variable(tf.truncated_normal([width, num_outputs], stddev=0.05))
    biases = tf.Variable(tf.constant(0.05, shape=[num_outputs]))
    output = tf.matmul(tf.reshape(fc7, [-1, width]), weights) + biases
    pred = tf.nn.softmax(output)

    # Now, you run this with fine-tuning data in sess.run()
    labels = tf.placeholder(tf.int64, [None])
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=output))
    train = tf.train.AdamOptimizer(1e-2, name="FinetuneAdam").minimize(loss, var_list=[weights, biases])
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(pred, 1), labels), tf.float32))
    sess.run(tf.variables_initializer([v for v in tf.global_variables() if v.op.name not in restored]))

    images, digits = load_digits()
    (x_train, y_train), (x_test, y_test) = train_test_split(images[..., None], digits, 0.25, seed)
    y_train, y_test = (y_train >= 5).astype(np.int64), (y_test >= 5).astype(np.int64)
    rng = np.random.RandomState(seed)
    for step in range(steps):
        idx = rng.randint(0, len(x_train), 64)
        sess.run(train, {x: x_train[idx], labels: y_train[idx]})
    acc = sess.run(accuracy, {x: x_test, labels: y_test})
    unchanged = all(np.array_equal(sess.run(graph.get_tensor_by_name(name + ":0")), value)
                    for name, value in restored.items())
    print(f'"is the digit at least 5?" held-out accuracy after {steps} steps: {acc:.4f}')
    print(f"{len(restored)} restored variables unchanged by fine-tuning: {unchanged}")
    return float(acc), unchanged


def main(argv):
    if len(argv) > 1:
        return finetune(argv[1])
    from deferflow.tools.demo import run_demo
    with tempfile.TemporaryDirectory() as d:
        run_demo(d, steps=300, say=lambda *a: None)  # a pre-trained VGG-style net to start from
        return finetune(d)


if __name__ == "__main__":
    main(sys.argv)
