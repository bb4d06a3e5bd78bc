"""Builds one model with TF-slim on real TensorFlow and with deferflow's ``tf.contrib.slim``, gives both
TensorFlow's initial weights (copied by variable name) and returns what each computed."""
import numpy as np

import deferflow

COLLECTIONS = ("variables", "trainable_variables", "model_variables", "regularization_losses", "update_ops",
               "local_variables")


def _names(items):
    return [getattr(x, "name", str(x)) for x in items]


def run_both(tf_real, slim_real, build, feed_values=(), run_updates=False, seed=3):
    """``build(tf, slim)`` -> (fetches, placeholders). Returns {"tf": info, "ours": info}; an info holds
    ``vars`` [(name, shape)], ``collections`` {key: names}, ``out`` (fetched values) and, with
    ``run_updates``, ``after`` (variable values after one run of the UPDATE_OPS)."""
    results, weights = {}, None
    for key, lib, slim in (("tf", tf_real, slim_real), ("ours", deferflow, deferflow.contrib.slim)):
        g = lib.Graph()
        with g.as_default():
            lib.set_random_seed(seed)
            fetches, phs = build(lib, slim)
            info = {"vars": [(v.op.name, tuple(v.shape.as_list())) for v in lib.global_variables()],
                    "collections": {c: _names(g.get_collection(c)) for c in COLLECTIONS}}
            feed = dict(zip(phs, feed_values))
            with lib.Session(graph=g) as sess:
                sess.run(lib.global_variables_initializer())
                if weights is None:
                    weights = {v.op.name: sess.run(v) for v in lib.global_variables()}
                else:
                    for v in lib.global_variables():
                        v.load(weights[v.op.name], sess)
                info["out"] = sess.run(fetches, feed)
                if run_updates:
                    sess.run(lib.get_collection(lib.GraphKeys.UPDATE_OPS), feed)
                    info["after"] = {v.op.name: sess.run(v) for v in lib.global_variables()}
        results[key] = info
    return results


def assert_close(a, b, rtol=1e-5, atol=1e-5):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for k in a:
            assert_close(a[k], b[k], rtol, atol)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_close(x, y, rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def assert_same_structure(res):
    """Same variables (names, shapes, order) and same collection contents by name."""
    assert res["ours"]["vars"] == res["tf"]["vars"]
    for c in COLLECTIONS:
        assert res["ours"]["collections"][c] == res["tf"]["collections"][c], c
