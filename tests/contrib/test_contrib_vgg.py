"""TF-slim's VGG-16, written here with slim calls, builds with tf_slim's variable names and shapes, and a
checkpoint saved by the tf_slim build restores in deferflow and gives the same logits."""
import os

import numpy as np
import pytest

import deferflow


def vgg_arg_scope(slim, tf, weight_decay=0.0005):
    with slim.arg_scope([slim.conv2d, slim.fully_connected], activation_fn=tf.nn.relu,
                        weights_regularizer=slim.l2_regularizer(weight_decay),
                        biases_initializer=tf.zeros_initializer()):
        with slim.arg_scope([slim.conv2d], padding="SAME") as sc:
            return sc


def vgg_16(slim, tf, inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5, spatial_squeeze=True,
           scope="vgg_16", fc_conv_padding="VALID", width=1.0):
    """VGG-16 ("configuration D") as TF-slim defines it; ``width`` scales every layer's channels (1.0: the
    published network) so the checkpoint test stays small."""
    def c(n):
        return max(1, int(n * width))
    with tf.variable_scope(scope, "vgg_16", [inputs]) as sc:
        end_points_collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.max_pool2d],
                            outputs_collections=end_points_collection):
            net = inputs
            for i, (reps, depth) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1):
                net = slim.repeat(net, reps, slim.conv2d, c(depth), [3, 3], scope=f"conv{i}")
                net = slim.max_pool2d(net, [2, 2], scope=f"pool{i}")
            net = slim.conv2d(net, c(4096), [7, 7], padding=fc_conv_padding, scope="fc6")
            net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout6")
            net = slim.conv2d(net, c(4096), [1, 1], scope="fc7")
            end_points = slim.utils.convert_collection_to_dict(end_points_collection)
            net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout7")
            net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="fc8")
            if spatial_squeeze:
                net = tf.squeeze(net, [1, 2], name="fc8/squeezed")
            end_points[sc.name + "/fc8"] = net
    return net, end_points


def _build(lib, slim, **kw):
    size = kw.pop("size", 224)
    images = lib.placeholder(lib.float32, [None, size, size, 3], name="images")
    with slim.arg_scope(vgg_arg_scope(slim, lib)):
        logits, end_points = vgg_16(slim, lib, images, **kw)
    return images, logits, end_points


def test_vgg16_variable_names_and_shapes(tf_real, slim_real):
    built = {}
    for key, lib, slim in (("tf", tf_real, slim_real), ("ours", deferflow, deferflow.contrib.slim)):
        with lib.Graph().as_default():
            _, logits, end_points = _build(lib, slim)
            built[key] = ([(v.op.name, v.shape.as_list()) for v in slim.get_model_variables()],
                          [v.op.name for v in lib.trainable_variables()],
                          [t.name for t in lib.losses.get_regularization_losses()],
                          {k: v.shape.as_list() for k, v in end_points.items()}, logits.shape.as_list())
    assert built["ours"] == built["tf"]
    names = [n for n, _ in built["ours"][0]]
    assert names[0] == "vgg_16/conv1/conv1_1/weights" and names[-1] == "vgg_16/fc8/biases" and len(names) == 32
    assert dict(built["ours"][0])["vgg_16/fc6/weights"] == [7, 7, 512, 4096]
    assert built["ours"][4] == [None, 1000]


@pytest.mark.parametrize("version", ["V2", "V1"])  # V1: the format of TF-slim's published checkpoints
def test_vgg16_checkpoint_from_tf_slim_restores_with_same_logits(version, tf_real, slim_real, tmp_path):
    kw = dict(num_classes=10, is_training=False, width=1 / 16, fc_conv_padding="SAME", size=32)
    images = np.random.RandomState(1).rand(2, 32, 32, 3).astype(np.float32)
    path = str(tmp_path / "vgg.ckpt")
    with tf_real.Graph().as_default():
        tf_real.set_random_seed(0)
        x, logits, end_points = _build(tf_real, slim_real, **dict(kw))
        with tf_real.Session() as sess:
            sess.run(tf_real.global_variables_initializer())
            theirs, theirs_fc7 = sess.run([logits, end_points["vgg_16/fc7"]], {x: images})
            tf_real.train.Saver(slim_real.get_variables_to_restore(),
                                write_version=getattr(tf_real.train.SaverDef, version)).save(sess, path)
    assert os.path.isfile(path) == (version == "V1")  # a V1 checkpoint is the single file itself
    assert np.abs(theirs).max() > 0

    x, logits, end_points = _build(deferflow, deferflow.contrib.slim, **dict(kw))
    slim = deferflow.contrib.slim
    with deferflow.Session() as sess:
        sess.run(deferflow.global_variables_initializer())
        deferflow.train.Saver(slim.get_variables_to_restore()).restore(sess, path)
        ours, ours_fc7 = sess.run([logits, end_points["vgg_16/fc7"]], {x: images})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours_fc7, theirs_fc7, rtol=1e-4, atol=1e-5)

    # fine-tuning style: restore all but the classifier with assign_from_checkpoint_fn
    deferflow.reset_default_graph()
    x, logits, _ = _build(deferflow, slim, **dict(kw))
    init_fn = slim.assign_from_checkpoint_fn(path, slim.get_variables_to_restore(exclude=["vgg_16/fc8"]))
    with deferflow.Session() as sess:
        sess.run(deferflow.global_variables_initializer())
        init_fn(sess)
        w6 = sess.run(slim.get_unique_variable("vgg_16/fc6/weights"))
        fc8 = sess.run(slim.get_unique_variable("vgg_16/fc8/weights"))
    np.testing.assert_array_equal(w6, deferflow.train.load_variable(path, "vgg_16/fc6/weights"))
    assert not np.array_equal(fc8, deferflow.train.load_variable(path, "vgg_16/fc8/weights"))
