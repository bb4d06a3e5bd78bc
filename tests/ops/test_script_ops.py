"""tf.py_func / tf.numpy_function / tf.py_function: TF's op types and attrs, values, TF's error classes,
gradients, and graphs exported to another process (the function is not there: a clear error) — against real
TensorFlow where it applies, and without it."""
import os
import subprocess
import sys

import numpy as np
import pytest

import deferflow

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_gradients as tg  # noqa: E402
from test_gradients import case, rnd  # noqa: E402


def _floor_plus_square(tf, x):
    """EagerPyFunc in the graph: its body (np.floor) is piecewise constant, so its zero gradient is exact."""
    return tf.py_function(lambda a: np.floor(a.numpy()), [x], tf.float64) + x * x


CASES = [case("py_function_eager", _floor_plus_square, rnd(3, 2) + 0.5, compare_tf=False)]
tg.GRADIENT_CASES.extend(c for c in CASES if c.name not in {x.name for x in tg.GRADIENT_CASES})


@pytest.mark.parametrize("mode", ["static", "dynamic", "unknown_rank"])
@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_gradient_cases(c, mode):
    g, _, _ = tg._feeds_and_graph(deferflow, c, "static")
    assert "EagerPyFunc" in {op.type for op in g.get_operations()}
    tg.test_gradient_matches_finite_differences(c, mode)


def _run(tf, build):
    with tf.Graph().as_default():
        out = build(tf)
        with tf.Session() as s:
            return s.run(out)


def _bad(exc):
    def f(*_):
        raise exc
    return f


def test_ops_attrs_and_shapes_match_tensorflow(tf_real):
    def build(tf):
        x = tf.constant([1.0, 2.0])
        n = tf.constant([3], tf.int64)
        outs = [tf.py_func(lambda a, b: (a * 2, b + 1), [x, n], [tf.float32, tf.int64]),
                tf.numpy_function(lambda a: a, [x], tf.float32, stateful=False),
                tf.py_function(lambda a: a, [x], tf.float32)]
        res = []
        for o in outs:
            t = o[0] if isinstance(o, list) else o
            op = t.op
            res.append((op.type, op.op_def.is_stateful if hasattr(op, "op_def") else None,
                        sorted(op.node_def.attr), [d for d in op.get_attr("Tin")], list(op.get_attr("Tout")),
                        op.get_attr("token").decode().startswith("pyfunc_"), t.shape.ndims, len(op.outputs)))
        return res
    with tf_real.Graph().as_default():
        theirs = build(tf_real)
    with deferflow.Graph().as_default():
        ours = build(deferflow)
    for o, t in zip(ours, theirs):
        assert o[0] == t[0] and o[2] == t[2] and o[5:] == t[5:]
        assert [d.name for d in o[3]] == [d.name for d in t[3]]
        assert [d.name for d in o[4]] == [d.name for d in t[4]]
    from deferflow.framework import op_registry
    assert op_registry.get("PyFunc").is_stateful and not op_registry.get("PyFuncStateless").is_stateful


def test_values_match_tensorflow(tf_real):
    def build(tf):
        x = tf.constant([[1.0, -2.0], [3.5, 4.0]])
        a, b = tf.py_func(lambda v: (v * 2, np.int32(v.size)), [x], [tf.float32, tf.int32])
        c = tf.numpy_function(lambda v, w: (v.sum(axis=1) + w).astype(np.float32), [x, a], tf.float32)
        d = tf.py_function(lambda v: v.numpy() ** 2, [c], tf.float32)
        e = tf.py_func(lambda: np.array([b"s", b"t"]), [], tf.string)
        return [a, b, c, d, e]
    for o, t in zip(_run(deferflow, build), _run(tf_real, build)):
        np.testing.assert_array_equal(o, t)
        assert np.asarray(o).dtype == np.asarray(t).dtype


@pytest.mark.parametrize("exc", [ValueError("boom"), TypeError("bad type"), RuntimeError("r"), IndexError("i"),
                                 StopIteration(), NotImplementedError("n"), KeyError("k")],
                         ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("which", ["py_func", "py_function"])
def test_exceptions_become_tensorflow_errors(tf_real, exc, which):
    def build(tf):
        fn = tf.py_func if which == "py_func" else tf.py_function
        return fn(_bad(exc), [tf.constant([1.0])], tf.float32)

    def caught(tf):
        with pytest.raises(tf.errors.OpError) as info:
            _run(tf, build)
        return info.value
    ours, theirs = caught(deferflow), caught(tf_real)
    assert type(ours).__name__ == type(theirs).__name__
    assert f"{type(exc).__name__}: {exc}" in ours.message
    assert ours.op is not None and ours.op.type == ("PyFunc" if which == "py_func" else "EagerPyFunc")


@pytest.mark.parametrize("body,pattern", [
    (lambda a: np.int32(3), r"0-th value returned by pyfunc_\d+ is int32, but expects float"),
    (lambda a: (a, a), r"pyfunc_\d+ returns 2 values, but expects to see 1 values.")])
def test_wrong_outputs_match_tensorflow(tf_real, body, pattern):
    for tf in (deferflow, tf_real):
        with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
            _run(tf, lambda tf: tf.py_func(body, [tf.constant([1.0])], tf.float32))


def test_gradients_match_tensorflow(tf_real):
    def build(tf):
        x = tf.constant([1.0, 2.0, 3.0])
        y = tf.py_func(lambda a: a * 2, [x], tf.float32)
        z = tf.numpy_function(lambda a: a * 3, [x], tf.float32, stateful=False)
        w = tf.py_function(lambda a: a.numpy() * 4, [x], tf.float32)
        assert tf.gradients(y, x) == [None] and tf.gradients(z, x) == [None]
        return tf.gradients(w, x)[0]
    ours, theirs = _run(deferflow, build), _run(tf_real, build)
    # an untaped body has zero gradient; TF's is a scalar 0, ours has the input's shape (so it adds up with others)
    assert np.all(theirs == 0) and np.asarray(theirs).shape == ()
    np.testing.assert_array_equal(ours, np.zeros(3, np.float32))


def test_registered_gradient_through_override_map(tf_real):
    """TF1's recipe for a differentiable py_func: RegisterGradient + gradient_override_map."""
    def build(tf, gname):
        @tf.RegisterGradient(gname)
        def _grad(op, dy):
            return dy * 2 * op.inputs[0]
        g = tf.get_default_graph()
        x = tf.constant([1.0, 2.0, 3.0])
        with g.gradient_override_map({"PyFunc": gname}):
            y = tf.py_func(lambda a: a * a, [x], tf.float32)
            y.set_shape(x.shape)
            return tf.gradients(tf.reduce_sum(y), x)[0]
    import uuid
    name = f"SquareGrad{uuid.uuid4().hex[:8]}"
    ours, theirs = _run(deferflow, lambda tf: build(tf, name)), _run(tf_real, lambda tf: build(tf, name))
    np.testing.assert_array_equal(ours, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(ours, theirs)


def test_stateful_py_func_runs_every_time():
    calls = []
    with deferflow.Graph().as_default():
        y = deferflow.py_func(lambda: calls.append(1) or np.float32(len(calls)), [], deferflow.float32)
        with deferflow.Session() as s:
            assert [s.run(y) for _ in range(3)] == [1.0, 2.0, 3.0]


_CHILD = """
import sys
import deferflow as tf
tf.train.import_meta_graph(sys.argv[1])
with tf.Session() as s:
    try:
        s.run("{name}:0")
    except tf.errors.OpError as e:
        print(type(e).__name__)
        print(e.message)
"""


@pytest.mark.parametrize("which,op_type", [("py_func", "PyFunc"), ("py_function", "EagerPyFunc")])
def test_imported_graph_in_another_process_cannot_find_the_function(tmp_path, which, op_type):
    path = str(tmp_path / "g.meta")
    with deferflow.Graph().as_default():
        y = getattr(deferflow, which)(lambda a: a + 1, [deferflow.constant([1.0])], deferflow.float32, name="f")
        token = y.op.get_attr("token").decode()
        deferflow.train.export_meta_graph(path)
        with deferflow.Session() as s:
            assert s.run(y) == [2.0]
    out = subprocess.run([sys.executable, "-c", _CHILD.format(name="f"), path], capture_output=True, text=True,
                         timeout=120, cwd=os.path.join(os.path.dirname(__file__), "..", ".."))
    lines = out.stdout.splitlines()
    assert lines and lines[0] == "InvalidArgumentError", out.stdout + out.stderr  # TF's class for a missing key
    assert f"Could not find callback with key={token}" in out.stdout
    assert "node f" in out.stdout


def test_missing_token_in_tensorflow_is_invalid_argument(tf_real):
    """TF's behaviour the test above follows: an unknown token fails with InvalidArgumentError."""
    with tf_real.Graph().as_default() as g:
        y = tf_real.py_func(lambda a: a, [tf_real.constant([1.0])], tf_real.float32)
        gd = g.as_graph_def()
    for n in gd.node:
        if n.op == "PyFunc":
            n.attr["token"].s = b"pyfunc_no_such_entry"
    with tf_real.Graph().as_default():
        tf_real.import_graph_def(gd, name="")
        with tf_real.Session() as s:
            with pytest.raises(tf_real.errors.InvalidArgumentError, match="Could not find callback"):
                s.run(y.name)


def test_non_callable_rejected():
    with deferflow.Graph().as_default():
        with pytest.raises(ValueError, match="Expected func to be callable"):
            deferflow.py_func(3, [], deferflow.float32)
