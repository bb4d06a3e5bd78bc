"""tf.layers conv1d, conv2d_transpose, separable_conv2d, conv3d and 1-D/3-D pooling: TF's variable names and
shapes, op names and types, and outputs against real TensorFlow (tf-keras' legacy layers) with equal weights."""
import numpy as np
import pytest

import deferflow

_rng = np.random.RandomState(11)

LAYERS = {
    "conv1d": (lambda tf, x: tf.layers.conv1d(x, 4, 3, strides=2, padding="same", activation=tf.nn.relu), [2, 9, 3]),
    "conv1d_dilated": (lambda tf, x: tf.layers.conv1d(x, 2, 2, dilation_rate=2, name="c1"), [2, 9, 3]),
    "conv2d_transpose": (lambda tf, x: tf.layers.conv2d_transpose(x, 4, 3, strides=2, padding="same"), [2, 5, 5, 3]),
    "conv2d_transpose_valid": (lambda tf, x: tf.layers.conv2d_transpose(x, 2, (3, 2), strides=(2, 1)),
                               [2, 4, 5, 3]),
    "separable_conv2d": (lambda tf, x: tf.layers.separable_conv2d(x, 4, 3, depth_multiplier=2), [2, 9, 9, 3]),
    "separable_conv2d_same": (lambda tf, x: tf.layers.separable_conv2d(x, 5, (3, 2), strides=2, padding="same",
                                                                        use_bias=False), [2, 8, 7, 3]),
    "conv3d": (lambda tf, x: tf.layers.conv3d(x, 4, 2), [2, 4, 4, 4, 3]),
    "max_pooling1d": (lambda tf, x: tf.layers.max_pooling1d(x, 2, 2), [2, 9, 3]),
    "average_pooling1d": (lambda tf, x: tf.layers.average_pooling1d(x, 3, 2, padding="same"), [2, 9, 3]),
    "max_pooling3d": (lambda tf, x: tf.layers.max_pooling3d(x, 2, 2), [2, 4, 5, 4, 3]),
    "average_pooling3d": (lambda tf, x: tf.layers.average_pooling3d(x, 2, 1, padding="same"), [2, 3, 4, 4, 3]),
    "stacked": (lambda tf, x: tf.layers.conv1d(tf.layers.conv1d(x, 3, 2), 2, 2), [2, 9, 3]),
}


def _build(tf, name):
    fn, shape = LAYERS[name]
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, shape, name="x")
        y = fn(tf, x)
        variables = [(v.name, v.shape.as_list()) for v in tf.global_variables()]
        ops = [(op.name, op.type) for op in g.get_operations()
               if "Initializer" not in op.name and op.type not in ("Const", "Assign", "VariableV2", "Identity")]
        vals = {}
        rng = np.random.RandomState(3)
        assigns = []
        for v in tf.global_variables():
            vals[v.name] = rng.uniform(-1, 1, v.shape.as_list()).astype(np.float32)
            assigns.append(tf.assign(v, vals[v.name]))
        with tf.Session(graph=g) as sess:
            sess.run(assigns)
            feed = np.random.RandomState(4).randn(*shape).astype(np.float32)
            out = sess.run(y, {x: feed})
    return variables, ops, y.shape.as_list(), out


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_same_as_tensorflow(tf_real, name):
    ours = _build(deferflow, name)
    theirs = _build(tf_real, name)
    assert ours[0] == theirs[0]  # variable names and shapes
    assert ours[1] == theirs[1]  # op names and types
    assert ours[2] == theirs[2]  # static output shape
    np.testing.assert_allclose(ours[3], theirs[3], rtol=2e-5, atol=2e-5)


def test_layer_weights_without_tf():
    variables, _, shape, out = _build(deferflow, "separable_conv2d")
    assert variables == [("separable_conv2d/depthwise_kernel:0", [3, 3, 3, 2]),
                         ("separable_conv2d/pointwise_kernel:0", [1, 1, 6, 4]), ("separable_conv2d/bias:0", [4])]
    assert shape == [2, 7, 7, 4] and out.shape == (2, 7, 7, 4)
    variables, _, shape, _ = _build(deferflow, "conv2d_transpose")
    assert variables[0] == ("conv2d_transpose/kernel:0", [3, 3, 4, 3]) and shape == [2, 10, 10, 4]


def test_conv2d_transpose_unknown_batch():
    g = deferflow.Graph()
    with g.as_default():
        x = deferflow.placeholder(deferflow.float32, [None, 5, 5, 3])
        y = deferflow.layers.conv2d_transpose(x, 4, 3, strides=2, padding="valid")
        assert y.shape.as_list() == [None, 11, 11, 4]
        with deferflow.Session() as sess:
            sess.run(deferflow.global_variables_initializer())
            assert sess.run(y, {x: np.zeros([3, 5, 5, 3], np.float32)}).shape == (3, 11, 11, 4)
