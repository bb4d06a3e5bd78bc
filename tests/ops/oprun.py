"""Runs one builder on deferflow and on real TensorFlow and compares what comes out (shared by the op tests)."""
import numpy as np

import deferflow


def run(tf, build):
    """Builds ``build(tf)`` in a fresh graph -> (output descriptions, values, graph op (name, type) list)."""
    g = tf.Graph()
    with g.as_default():
        res = build(tf)
        outs, feed = res if isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], dict) else (res, {})
        outs = list(outs)
        desc = [(o.op.name, o.op.type, None if o.shape.ndims is None else o.shape.as_list(), o.dtype.name)
                for o in outs]
        graph_ops = [(op.name, op.type) for op in g.get_operations()]
        with tf.Session(graph=g) as s:
            vals = s.run(outs, {g.get_tensor_by_name(k): v for k, v in feed.items()})
    return desc, vals, graph_ops


def assert_same(tf_real, build, exact_graph=False, rtol=1e-6, atol=0.0):
    """Same output op names/types, static shapes, dtypes and values (and optionally the whole graph) as TF."""
    ours = run(deferflow, build)
    theirs = run(tf_real, build)
    for i, (a, b) in enumerate(zip(ours[0], theirs[0])):
        assert a == b, f"output {i}: ours (name, type, static shape, dtype) {a} != TF's {b}"
    assert len(ours[0]) == len(theirs[0])
    if exact_graph:
        assert ours[2] == theirs[2], "graph ops differ"
    for i, (a, b) in enumerate(zip(ours[1], theirs[1])):
        a, b = np.asarray(a), np.asarray(b)
        where = f"output {i} ({ours[0][i][0]})"
        assert a.dtype == b.dtype, f"{where}: dtype {a.dtype} != TF's {b.dtype}"
        assert a.shape == b.shape, f"{where}: shape {a.shape} != TF's {b.shape}"
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=where)
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)


def error_of(tf, build):
    """The class name of the error ``build(tf)`` raises while building or running, or None."""
    g = tf.Graph()
    try:
        with g.as_default():
            res = build(tf)
            outs, feed = res if isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], dict) else (res, {})
            with tf.Session(graph=g) as s:
                s.run(outs, {g.get_tensor_by_name(k): v for k, v in feed.items()})
    except Exception as e:  # noqa: BLE001 - the class is what is compared
        return type(e).__name__
    return None
