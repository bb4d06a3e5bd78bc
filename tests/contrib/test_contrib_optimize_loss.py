"""``optimize_loss`` against tf_slim's: variables it creates, summaries, and the loss over training steps."""
import numpy as np
import pytest

import deferflow

X = np.random.RandomState(4).randn(8, 3).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)


def _train(lib, layers, optimizer, steps=4, **kw):
    g = lib.Graph()
    with g.as_default():
        x, y = lib.constant(X), lib.constant(Y)
        w = lib.get_variable("w", [3, 1], initializer=lib.constant_initializer(0.1))
        b = lib.get_variable("b", [1], initializer=lib.zeros_initializer())
        loss = lib.reduce_mean(lib.square(lib.matmul(x, w) + b - y))
        step = lib.train.get_or_create_global_step()
        train = layers.optimize_loss(loss, step, 0.05, optimizer, **kw)
        names = [v.op.name for v in lib.global_variables()]
        summaries = sorted(op.name for op in g.get_operations() if op.type in ("ScalarSummary", "HistogramSummary"))
        with lib.Session(graph=g) as sess:
            sess.run(lib.global_variables_initializer())
            losses = [sess.run(train) for _ in range(steps)]
            return names, summaries, losses, sess.run([w, b, step])


@pytest.mark.parametrize("optimizer,kw", [
    ("SGD", {}),
    ("Adagrad", {"clip_gradients": 0.5, "summaries": ["loss", "gradients", "gradient_norm"]}),
    ("Momentum", {"learning_rate_decay_fn": lambda lr, step: lr * 0.5}),
    ("SGD", {"gradient_multipliers": {"w:0": 10.0}, "increment_global_step": False}),
])
def test_optimize_loss_matches_tf_slim(tf_real, slim_real, optimizer, kw):
    theirs = _train(tf_real, slim_real, optimizer, **kw)
    ours = _train(deferflow, deferflow.contrib.layers, optimizer, **kw)
    assert ours[0] == theirs[0]
    assert "OptimizeLoss/learning_rate" in ours[0]
    assert ours[1] == theirs[1]
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)
    for a, b in zip(ours[3], theirs[3]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert ours[2][-1] < ours[2][0]


def test_gradient_multiplier_scales_one_variable():
    plain = _train(deferflow, deferflow.contrib.layers, "SGD", steps=1)[3]
    scaled = _train(deferflow, deferflow.contrib.layers, "SGD", steps=1, gradient_multipliers={"w:0": 10.0})[3]
    np.testing.assert_allclose(scaled[0] - 0.1, 10 * (plain[0] - 0.1), rtol=1e-5)
    np.testing.assert_allclose(scaled[1], plain[1])


def test_optimize_loss_errors():
    loss = deferflow.reduce_sum(deferflow.get_variable("v", [2]))
    step = deferflow.train.get_or_create_global_step()
    layers = deferflow.contrib.layers
    with pytest.raises(ValueError, match="Optimizer name should be one of"):
        layers.optimize_loss(loss, step, 0.1, "Lion")
    with pytest.raises(ValueError, match="Learning rate should be 0d Tensor or float"):
        layers.optimize_loss(loss, step, 1, "SGD")
    with pytest.raises(ValueError, match="Summaries should be one of"):
        layers.optimize_loss(loss, step, 0.1, "SGD", summaries=["weights"])
