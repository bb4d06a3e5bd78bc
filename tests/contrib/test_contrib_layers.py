"""contrib/slim layers against TF-slim on real TensorFlow: variable names, shapes and order, collections,
regularization losses, and outputs from the same weights."""
import numpy as np
import pytest

import deferflow
from slimutil import assert_close, assert_same_structure, run_both

RNG = np.random.RandomState(0)
IMG = RNG.randn(2, 9, 9, 3).astype(np.float32)
VEC = RNG.randn(4, 6).astype(np.float32)


def test_fully_connected(tf_real, slim_real):
    def build(tf, slim):
        x = tf.placeholder(tf.float32, [None, 6])
        h = slim.fully_connected(x, 8, weights_regularizer=slim.l2_regularizer(0.05),
                                 biases_regularizer=slim.l1_regularizer(0.01))
        h2 = slim.fully_connected(h, 5, activation_fn=tf.nn.tanh)                  # fully_connected_1
        shared = slim.fully_connected(x, 8, scope="fully_connected", reuse=True)   # same weights again
        logits = slim.fully_connected(h2, 3, activation_fn=None, biases_initializer=None, scope="logits",
                                      outputs_collections="ends")
        seq = slim.fully_connected(tf.reshape(x, [-1, 2, 3]), 4, scope="seq")       # rank-3 input
        lin = slim.linear(h, 2)
        return [h, h2, shared, logits, seq, lin, tf.add_n(tf.losses.get_regularization_losses())], [x]

    res = run_both(tf_real, slim_real, build, [VEC])
    assert_same_structure(res)
    assert res["ours"]["vars"][:4] == [("fully_connected/weights", (6, 8)), ("fully_connected/biases", (8,)),
                                       ("fully_connected_1/weights", (8, 5)), ("fully_connected_1/biases", (5,))]
    assert ("logits/biases", (3,)) not in res["ours"]["vars"]
    assert res["ours"]["collections"]["regularization_losses"] == [
        "fully_connected/kernel/Regularizer/l2_regularizer:0", "fully_connected/bias/Regularizer/l1_regularizer:0"]
    assert_close(res["ours"]["out"], res["tf"]["out"])
    np.testing.assert_array_equal(res["ours"]["out"][0], res["ours"]["out"][2])


def test_fully_connected_rejects_non_int_outputs():
    x = deferflow.placeholder(deferflow.float32, [None, 3])
    with pytest.raises(ValueError, match="num_outputs type"):
        deferflow.contrib.layers.fully_connected(x, 2.0)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding="VALID"), dict(rate=2), dict(kernel_size=[1, 3])])
def test_conv2d(tf_real, slim_real, kw):
    kw = dict(kw)
    ksize = kw.pop("kernel_size", 3)

    def build(tf, slim):
        x = tf.placeholder(tf.float32, [None, 9, 9, 3])
        y = slim.conv2d(x, 4, ksize, weights_regularizer=slim.l2_regularizer(0.1), **kw)
        z = slim.convolution2d(y, 2, [2, 2], activation_fn=None, scope="head")
        return [y, z, tf.losses.get_regularization_losses()], [x]

    res = run_both(tf_real, slim_real, build, [IMG])
    assert_same_structure(res)
    assert res["ours"]["vars"][0][0] == "Conv/weights"
    assert_close(res["ours"]["out"], res["tf"]["out"], rtol=1e-4, atol=1e-5)


def test_conv2d_nchw_matches_nhwc():
    x = deferflow.constant(IMG)
    slim = deferflow.contrib.slim
    with deferflow.variable_scope("a"):
        y = slim.conv2d(x, 4, 3)
    with deferflow.variable_scope("b"):
        y2 = slim.conv2d(deferflow.transpose(x, [0, 3, 1, 2]), 4, 3, data_format="NCHW")
    w = deferflow.get_collection("variables", "a/")
    assert [v.op.name for v in deferflow.model_variables()] == ["a/Conv/weights", "a/Conv/biases",
                                                               "b/Conv/weights", "b/Conv/biases"]
    copy = [v.assign(u) for u, v in zip(w, deferflow.get_collection("variables", "b/"))]
    with deferflow.Session() as sess:
        sess.run(deferflow.global_variables_initializer())
        sess.run(copy)
        a, b = sess.run([y, y2])
    np.testing.assert_allclose(a, b.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)


def test_conv2d_transpose(tf_real, slim_real):
    def build(tf, slim):
        x = tf.placeholder(tf.float32, [None, 9, 9, 3])
        return [slim.conv2d_transpose(x, 4, 3, stride=2), slim.conv2d_transpose(x, 2, [3, 2], padding="VALID")], [x]

    res = run_both(tf_real, slim_real, build, [IMG])
    assert_same_structure(res)
    assert res["ours"]["vars"][0] == ("Conv2d_transpose/weights", (3, 3, 4, 3))
    assert_close(res["ours"]["out"], res["tf"]["out"], rtol=1e-4, atol=1e-5)


def test_pooling_flatten_one_hot_dropout(tf_real, slim_real):
    def build(tf, slim):
        x = tf.placeholder(tf.float32, [None, 9, 9, 3])
        m = slim.max_pool2d(x, 2)
        a = slim.avg_pool2d(x, [3, 3], stride=1, padding="SAME")
        f = slim.flatten(m)
        d = slim.dropout(f, 0.7, is_training=False)
        o = slim.one_hot_encoding(tf.constant([0, 2, 1]), 3, on_value=5.0, off_value=-1.0)
        return [m, a, f, d, o], [x]

    res = run_both(tf_real, slim_real, build, [IMG])
    assert res["ours"]["vars"] == []
    assert_close(res["ours"]["out"], res["tf"]["out"], rtol=1e-5, atol=1e-6)
    assert res["ours"]["out"][2].shape == (2, 4 * 4 * 3)


def test_dropout_training_keeps_or_zeroes():
    x = deferflow.constant(np.ones((200, 50), np.float32))
    train = deferflow.placeholder_with_default(True, [])
    y = deferflow.contrib.slim.dropout(x, 0.8, is_training=train)
    with deferflow.Session() as sess:
        on = sess.run(y)
        off = sess.run(y, {train: False})
    assert set(np.unique(on).round(5)) == {0.0, 1.25}
    assert abs((on == 0).mean() - 0.2) < 0.02
    np.testing.assert_array_equal(off, 1.0)


BN_CASES = {
    "conv_layer_route": (dict(scale=True), (2, 9, 9, 3)),
    "vector_fused_route": (dict(scale=True), (4, 6)),
    "unfused": (dict(fused=False, center=False, scale=True), (2, 9, 9, 3)),
    "no_update_collection": (dict(updates_collections=None, decay=0.9), (2, 9, 9, 3)),
    "inference": (dict(is_training=False, scale=True), (2, 9, 9, 3)),
    "rank3_unfused": (dict(epsilon=0.01), (2, 5, 3)),
}


@pytest.mark.parametrize("case", sorted(BN_CASES))
def test_batch_norm(tf_real, slim_real, case):
    kw, shape = BN_CASES[case]
    data = (RNG.randn(*shape) * 3 + 1).astype(np.float32)

    def build(tf, slim):
        x = tf.placeholder(tf.float32, [None] + list(shape[1:]))
        y = slim.batch_norm(x, param_regularizers={"gamma": slim.l2_regularizer(0.5)}, **kw)
        return [y], [x]

    res = run_both(tf_real, slim_real, build, [data], run_updates=True)
    assert_same_structure(res)
    names = [n for n, _ in res["ours"]["vars"]]
    assert "BatchNorm/moving_mean" in names and "BatchNorm/moving_variance" in names
    assert ("BatchNorm/gamma" in names) == kw.get("scale", False)
    assert_close(res["ours"]["out"], res["tf"]["out"], rtol=1e-4, atol=1e-4)
    assert_close(res["ours"]["after"], res["tf"]["after"], rtol=1e-5, atol=1e-6)
    if kw.get("is_training", True):
        assert not np.allclose(res["ours"]["after"]["BatchNorm/moving_mean"], 0)


def test_batch_norm_training_placeholder(tf_real, slim_real):
    data = (RNG.randn(2, 9, 9, 3) * 3 + 1).astype(np.float32)
    for training in (True, False):
        def build(tf, slim):
            x = tf.placeholder(tf.float32, [None, 9, 9, 3])
            t = tf.placeholder(tf.bool, [])
            y = slim.conv2d(x, 4, 3, normalizer_fn=slim.batch_norm, normalizer_params={"is_training": t})
            return [y], [x, t]

        res = run_both(tf_real, slim_real, build, [data, training], run_updates=True)
        assert_same_structure(res)
        assert_close(res["ours"]["out"], res["tf"]["out"], rtol=1e-4, atol=1e-4)
        assert_close(res["ours"]["after"], res["tf"]["after"], rtol=1e-5, atol=1e-6)
        moved = not np.allclose(res["ours"]["after"]["Conv/BatchNorm/moving_mean"], 0)
        assert moved == training


def test_bias_add_and_softmax(tf_real, slim_real):
    def build(tf, slim):
        x = tf.placeholder(tf.float32, [None, 6])
        b = slim.bias_add(x, activation_fn=tf.nn.relu, initializer=tf.constant_initializer(0.3))
        s = slim.softmax(tf.reshape(x, [2, 2, 6]))
        return [b, s], [x]

    res = run_both(tf_real, slim_real, build, [VEC])
    assert_same_structure(res)
    assert res["ours"]["vars"] == [("BiasAdd/biases", (6,))]
    assert_close(res["ours"]["out"], res["tf"]["out"])


def test_repeat_and_stack_scopes(tf_real, slim_real):
    def build(tf, slim):
        x = tf.placeholder(tf.float32, [None, 9, 9, 3])
        r = slim.repeat(x, 2, slim.conv2d, 4, [3, 3], scope="conv1")
        r2 = slim.repeat(r, 2, slim.conv2d, 4, [3, 3])
        s = slim.stack(slim.flatten(r2), slim.fully_connected, [5, 3], scope="fc")
        s2 = slim.stack(s, slim.fully_connected, [(4, None)])
        return [r, s, s2], [x]

    res = run_both(tf_real, slim_real, build, [IMG])
    assert_same_structure(res)
    names = [n for n, _ in res["ours"]["vars"]]
    assert names[:2] == ["conv1/conv1_1/weights", "conv1/conv1_1/biases"]
    assert "Repeat/convolution2d_2/weights" in names and "fc/fc_2/weights" in names
    assert "Stack/fully_connected_1/weights" in names
    assert_close(res["ours"]["out"], res["tf"]["out"], rtol=1e-4, atol=1e-5)


def test_variables_collections_and_end_points(tf_real, slim_real):
    got = {}
    for lib, slim in ((tf_real, slim_real), (deferflow, deferflow.contrib.slim)):
        g = lib.Graph()
        with g.as_default():
            x = lib.placeholder(lib.float32, [None, 6])
            slim.fully_connected(x, 3, variables_collections={"weights": ["my_weights"]},
                                 outputs_collections=["ends"], scope="a")
            slim.fully_connected(x, 3, variables_collections=["all_mine"], scope="b")
            found = ([v.op.name for v in g.get_collection("my_weights")],
                     [v.op.name for v in g.get_collection("all_mine")],
                     list(slim.utils.convert_collection_to_dict("ends")))
        got[lib is deferflow] = found
    assert got[True] == got[False] == (["a/weights"], ["b/weights", "b/biases"], ["a"])
