"""The seed document (tensorflow_basics.md) end to end: save, restore, run with new data, add ops.

Run: ``python examples/seed_walkthrough.py [DIR]`` (default: a temporary folder). Each step is the
document's code with ``import deferflow as tf``; the printed values are the document's (24, 60, 120).
"""
import os
import sys
import tempfile

import deferflow as tf


def save_step(workdir):
    # "Working with restored models": placeholders, a variable, an op to restore; save at step 1000
    tf.reset_default_graph()
    w1 = tf.placeholder("float", name="w1")
    w2 = tf.placeholder("float", name="w2")
    b1 = tf.Variable(2.0, name="bias")
    feed_dict = {w1: 4, w2: 8}
    w3 = tf.add(w1, w2)
    w4 = tf.multiply(w3, b1, name="op_to_restore")
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver = tf.train.Saver()
    print("(w1 + w2) * bias =", sess.run(w4, feed_dict))  # 24
    path = saver.save(sess, os.path.join(workdir, "my_test_model"), global_step=1000)
    print("saved", path, "->", sorted(os.listdir(workdir)))
    return sess.run(w4, feed_dict)


def restore_step(workdir):
    # restore in a fresh graph, feed new data, then add an op on top of the restored one
    tf.reset_default_graph()
    sess = tf.Session()
    saver = tf.train.import_meta_graph(os.path.join(workdir, "my_test_model-1000.meta"))
    saver.restore(sess, tf.train.latest_checkpoint(workdir))
    graph = tf.get_default_graph()
    w1 = graph.get_tensor_by_name("w1:0")
    w2 = graph.get_tensor_by_name("w2:0")
    feed_dict = {w1: 13.0, w2: 17.0}
    op_to_restore = graph.get_tensor_by_name("op_to_restore:0")
    restored = sess.run(op_to_restore, feed_dict)
    print("restored with new feeds =", restored)  # 60
    add_on_op = tf.multiply(op_to_restore, 2)
    added = sess.run(add_on_op, feed_dict)
    print("with an added op =", added)  # 120
    return restored, added


def saver_options(workdir):
    # the Saver options the document lists: keep 4, one every 2 hours; the .meta only the first time
    tf.reset_default_graph()
    w1 = tf.Variable(tf.random_normal(shape=[2]), name="w1")
    w2 = tf.Variable(tf.random_normal(shape=[5]), name="w2")
    saver = tf.train.Saver([w1, w2], max_to_keep=4, keep_checkpoint_every_n_hours=2)
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    prefix = os.path.join(workdir, "my-model")
    for step in range(1000, 7000, 1000):
        saver.save(sess, prefix, global_step=step, write_meta_graph=(step == 1000))
    kept = sorted(f for f in os.listdir(workdir) if f.startswith("my-model"))
    print("after 6 saves with max_to_keep=4:", kept)
    print("note: the .meta written at step 1000 went with its checkpoint, as in TensorFlow")
    return kept


def main(workdir):
    assert save_step(workdir) == 24.0
    assert restore_step(workdir) == (60.0, 120.0)
    kept = saver_options(workdir)
    assert [f for f in kept if f.endswith(".index")] == [f"my-model-{s}.index" for s in (3000, 4000, 5000, 6000)]
    print("seed walk-through: all values as in the document")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as d:
            main(d)
