"""contrib initializers and regularizers: TF1 contrib's formulas, checked against tf_slim."""
import math

import numpy as np
import pytest

import deferflow

SHAPES = [(300, 200), (5, 5, 16, 32)]


def _sample(lib, init, shape):
    g = lib.Graph()
    with g.as_default():
        lib.set_random_seed(7)
        v = lib.get_variable("w", shape=shape, initializer=init)
        with lib.Session(graph=g) as sess:
            sess.run(lib.global_variables_initializer())
            return sess.run(v)


def _fans(shape):
    recept = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * recept, shape[-1] * recept


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,kw", [
    ("xavier_initializer", {}),
    ("xavier_initializer", {"uniform": False}),
    ("variance_scaling_initializer", {}),
    ("variance_scaling_initializer", {"factor": 1.0, "mode": "FAN_OUT", "uniform": True}),
    ("variance_scaling_initializer", {"factor": 3.0, "mode": "FAN_AVG"}),
])
def test_initializer_distribution(tf_real, slim_real, shape, name, kw):
    ours = _sample(deferflow, getattr(deferflow.contrib.layers, name)(**kw), shape)
    theirs = _sample(tf_real, getattr(slim_real, name)(**kw), shape)
    fan_in, fan_out = _fans(shape)
    factor = kw.get("factor", 1.0 if name == "xavier_initializer" else 2.0)
    mode = kw.get("mode", "FAN_AVG" if name == "xavier_initializer" else "FAN_IN")
    n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2}[mode]
    if kw.get("uniform", name == "xavier_initializer"):
        bound = math.sqrt(3 * factor / n)
        for s in (ours, theirs):
            assert np.abs(s).max() <= bound * (1 + 1e-6)
            assert np.abs(s).max() > 0.98 * bound
    else:  # contrib's truncated normal: stddev sqrt(1.3 factor / n) before truncation at 2 stddev
        trunc = 2 * math.sqrt(1.3 * factor / n)
        for s in (ours, theirs):
            assert np.abs(s).max() <= trunc * (1 + 1e-6)
            assert np.abs(s).max() > 0.95 * trunc
    assert ours.shape == theirs.shape == shape
    np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.04)
    assert abs(ours.mean()) < 0.05 * ours.std()


def test_initializer_seeds_follow_tf(tf_real, slim_real):
    """With an op seed and no graph seed, the random op's (seed, seed2) attrs equal TensorFlow's."""
    attrs = []
    for lib, layers in ((tf_real, slim_real), (deferflow, deferflow.contrib.layers)):
        g = lib.Graph()
        with g.as_default():
            lib.get_variable("w", [3, 4], initializer=layers.xavier_initializer(seed=5))
            op = [o for o in g.get_operations() if o.type == "RandomUniform"][0]
            attrs.append((op.name, op.get_attr("seed"), op.get_attr("seed2")))
    assert attrs[0] == attrs[1]


def test_initializer_errors():
    with pytest.raises(TypeError, match="non-floating"):
        deferflow.contrib.layers.xavier_initializer(dtype=deferflow.int32)
    with pytest.raises(TypeError, match="Unknown mode"):
        deferflow.contrib.layers.variance_scaling_initializer(mode="fan_in")


W = np.array([[1.5, -2.0], [0.25, -0.5]], np.float32)


def _reg_values(lib, layers):
    g = lib.Graph()
    with g.as_default():
        w = lib.constant(W)
        w2 = lib.constant(W * 3)
        regs = [layers.l1_regularizer(0.3)(w), layers.l2_regularizer(0.2)(w),
                layers.l1_l2_regularizer(0.1, 0.4)(w), layers.l1_l2_regularizer(0.0, 0.4)(w),
                layers.sum_regularizer([layers.l1_regularizer(0.5), None, layers.l2_regularizer(0.1)])(w),
                layers.apply_regularization(layers.l2_regularizer(0.3), [w, w2])]
        names = [r.name for r in regs]
        coll = [t.name for t in lib.get_collection(lib.GraphKeys.REGULARIZATION_LOSSES)]
        with lib.Session(graph=g) as sess:
            return names, coll, sess.run(regs)


def test_regularizers(tf_real, slim_real):
    names, coll, ours = _reg_values(deferflow, deferflow.contrib.layers)
    t_names, t_coll, theirs = _reg_values(tf_real, slim_real)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert names == t_names and coll == t_coll
    np.testing.assert_allclose(ours[0], 0.3 * np.abs(W).sum(), rtol=1e-6)
    np.testing.assert_allclose(ours[1], 0.2 * (W ** 2).sum() / 2, rtol=1e-6)


def test_regularizer_scale_rules():
    layers = deferflow.contrib.layers
    assert layers.l2_regularizer(0.0)(deferflow.constant(W)) is None
    assert layers.sum_regularizer([None]) is None
    with pytest.raises(ValueError, match="cannot be an integer"):
        layers.l1_regularizer(1)
    with pytest.raises(ValueError, match="less than 0"):
        layers.l2_regularizer(-0.1)
    with pytest.raises(ValueError, match="No weights to regularize"):
        layers.apply_regularization(layers.l2_regularizer(0.1))
