"""The seed's "Saving a Tensorflow model" snippets (tensorflow_basics.md), as written, with the exact files
they leave behind."""
import os

import numpy as np

import deferflow as tf

CKPT_FILES = ["my_test_model.data-00000-of-00001", "my_test_model.index", "my_test_model.meta", "checkpoint"]


def _expected(files):
    return sorted(files)


def test_complete_example_writes_the_four_files(in_tmp):
    w1 = tf.Variable(tf.random_normal(shape=[2]), name='w1')
    w2 = tf.Variable(tf.random_normal(shape=[5]), name='w2')
    saver = tf.train.Saver()
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    assert saver.save(sess, 'my_test_model') == 'my_test_model'
    assert sorted(os.listdir(".")) == _expected(CKPT_FILES)
    assert open("checkpoint").read() == ('model_checkpoint_path: "my_test_model"\n'
                                         'all_model_checkpoint_paths: "my_test_model"\n')
    values = sess.run([w1, w2])
    reader = tf.train.NewCheckpointReader("my_test_model")
    assert reader.get_variable_to_shape_map() == {"w1": [2], "w2": [5]}
    np.testing.assert_array_equal(reader.get_tensor("w1"), values[0])
    np.testing.assert_array_equal(reader.get_tensor("w2"), values[1])


def test_global_step_appends_the_step(in_tmp):
    tf.Variable(tf.random_normal(shape=[2]), name='w1')
    saver = tf.train.Saver()
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    assert saver.save(sess, 'my_test_model', global_step=1000) == 'my_test_model-1000'
    assert sorted(os.listdir(".")) == _expected(["my_test_model-1000.index", "my_test_model-1000.meta",
                                                 "my_test_model-1000.data-00000-of-00001", "checkpoint"])
    assert tf.train.latest_checkpoint('./') == './my_test_model-1000'


def test_write_meta_graph_false_writes_no_meta(in_tmp):
    tf.Variable(tf.random_normal(shape=[2]), name='w1')
    saver = tf.train.Saver()
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    for step in (1000, 2000, 3000):
        saver.save(sess, 'my-model', global_step=step, write_meta_graph=step == 1000)
    files = sorted(os.listdir("."))
    assert [f for f in files if f.endswith(".meta")] == _expected(["my-model-1000.meta"])
    assert [f for f in files if f.endswith(".index")] == ["my-model-1000.index", "my-model-2000.index",
                                                          "my-model-3000.index"]


def test_max_to_keep_4_keeps_the_4_latest(in_tmp):
    tf.Variable(tf.random_normal(shape=[2]), name='w1')
    # saves a model every 2 hours and maximum 4 latest models are saved.
    saver = tf.train.Saver(max_to_keep=4, keep_checkpoint_every_n_hours=2)
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    for step in range(1, 8):
        saver.save(sess, 'my-model', global_step=step, write_meta_graph=False)
    assert sorted(f for f in os.listdir(".") if f.endswith(".index")) == [
        f"my-model-{s}.index" for s in (4, 5, 6, 7)]
    assert saver.last_checkpoints == [f"my-model-{s}" for s in (4, 5, 6, 7)]
    state = tf.train.get_checkpoint_state(".")
    assert list(state.all_model_checkpoint_paths) == [f"./my-model-{s}" for s in (4, 5, 6, 7)]


def test_saving_a_list_of_variables(in_tmp):
    w1 = tf.Variable(tf.random_normal(shape=[2]), name='w1')
    w2 = tf.Variable(tf.random_normal(shape=[5]), name='w2')
    tf.Variable(tf.random_normal(shape=[3]), name='not_saved')
    saver = tf.train.Saver([w1, w2])
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    saver.save(sess, 'my_test_model', global_step=1000)
    assert tf.train.list_variables(".") == [("w1", [2]), ("w2", [5])]


def test_restore_latest_checkpoint_gives_the_saved_values(in_tmp):
    w1 = tf.Variable(tf.random_normal(shape=[2]), name='w1')
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        saved = sess.run(w1)
        saver.save(sess, 'my_test_model', global_step=1000)
    with tf.Session() as sess:
        saver.restore(sess, tf.train.latest_checkpoint('./'))
        np.testing.assert_array_equal(sess.run('w1:0'), saved)


def test_import_meta_graph_and_restore(in_tmp):
    w1 = tf.Variable(tf.random_normal(shape=[2]), name='w1')
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        saved = sess.run(w1)
        saver.save(sess, 'my_test_model', global_step=1000)
    tf.reset_default_graph()
    with tf.Session() as sess:
        new_saver = tf.train.import_meta_graph('my_test_model-1000.meta')
        new_saver.restore(sess, tf.train.latest_checkpoint('./'))
        np.testing.assert_array_equal(sess.run('w1:0'), saved)
