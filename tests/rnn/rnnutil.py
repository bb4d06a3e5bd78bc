"""Runs one RNN model in TensorFlow and in deferflow from TensorFlow's initial weights, copied by name."""
import numpy as np

import deferflow


def compare_model(tf_real, build, feed_values, train_steps=0, lr=0.1, rtol=2e-5, atol=2e-6):
    """``build(tf)`` -> (loss, fetches, placeholders). Returns (ours, theirs) results per step."""
    results = {}
    weights = None
    for name, lib in (("tf", tf_real), ("ours", deferflow)):
        g = lib.Graph()
        with g.as_default():
            lib.set_random_seed(1)
            loss, fetches, phs = build(lib)
            tvars = lib.trainable_variables()
            grads = lib.gradients(loss, tvars)
            train = lib.train.GradientDescentOptimizer(lr).minimize(loss) if train_steps else None
            feed = {p: v for p, v in zip(phs, feed_values)}
            with lib.Session(graph=g) as sess:
                sess.run(lib.global_variables_initializer())
                if weights is None:
                    weights = {v.op.name: sess.run(v) for v in lib.global_variables()}
                else:
                    assert sorted(weights) == sorted(v.op.name for v in lib.global_variables())
                    for v in lib.global_variables():
                        v.load(weights[v.op.name], sess)
                out = [sess.run([loss, fetches, grads], feed)]
                for _ in range(train_steps):
                    sess.run(train, feed)
                    out.append(sess.run([loss, fetches], feed))
                results[name] = out
    _close(results["ours"], results["tf"], rtol, atol)
    return results["ours"], results["tf"]


def _close(a, b, rtol, atol):
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y, rtol, atol)
    elif isinstance(a, dict):
        for k in a:
            _close(a[k], b[k], rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
