"""tf.cond / tf.case: values, gradients, graph structure and errors, against real TensorFlow."""
import numpy as np
import pytest

import deferflow as tf
from cfutil import differential, op_types


@pytest.mark.parametrize("p", [True, False])
def test_cond_values_and_gradients(tf_real, p):
    def build(t):
        x = t.placeholder(t.float32, [3], name="x")
        pred = t.placeholder(t.bool, [], name="p")
        y = t.cond(pred, lambda: x * x + 1.0, lambda: t.sin(x) * 3.0)
        g = t.gradients(t.reduce_sum(y), x)
        return [y, g], {x: [0.5, -1.0, 2.0], pred: p}
    differential(tf_real, build)


@pytest.mark.parametrize("a,b", [(True, True), (True, False), (False, True), (False, False)])
def test_nested_cond_with_structures(tf_real, a, b):
    def build(t):
        x = t.placeholder(t.float32, [2], name="x")
        pa = t.placeholder(t.bool, [], name="pa")
        pb = t.placeholder(t.bool, [], name="pb")

        def inner_true():
            return t.cond(pb, lambda: {"u": x * 2.0, "v": (x, x + 1.0)}, lambda: {"u": -x, "v": (x * x, x)})

        def inner_false():
            return {"u": x + 10.0, "v": (t.exp(x), 3.0 * x)}
        out = t.cond(pa, inner_true, inner_false)
        loss = t.reduce_sum(out["u"]) + t.reduce_sum(out["v"][0] * out["v"][1])
        return [out, t.gradients(loss, x)], {x: [0.3, -0.7], pa: a, pb: b}
    differential(tf_real, build)


def test_graph_matches_tensorflow(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [], name="x")
        p = t.placeholder(t.bool, [], name="p")
        t.cond(p, lambda: x * 2.0, lambda: x + 1.0)
        return [], {}
    ours, theirs = [], []
    for lib, out in ((tf, ours), (tf_real, theirs)):
        g = lib.Graph()
        with g.as_default():
            build(lib)
        out.extend(op_types(g))
    assert ours == theirs


def test_branch_ops_created_inside_run_only_when_taken():
    v = tf.Variable(0.0, name="v")
    p = tf.placeholder(tf.bool, [])
    r = tf.cond(p, lambda: tf.assign_add(v, 1.0), lambda: tf.assign_add(v, 10.0))
    with tf.Session() as s:
        s.run(v.initializer)
        s.run(r, {p: True})
        s.run(r, {p: True})
        assert s.run(v) == 2.0
        assert s.run(r, {p: False}) == 12.0


def test_control_dependencies_inside_branch():
    v = tf.Variable(1.0)
    p = tf.placeholder(tf.bool, [])

    def true_fn():
        up = tf.assign(v, 5.0)
        with tf.control_dependencies([up]):
            return tf.identity(v.read_value() * 2.0)
    r = tf.cond(p, true_fn, lambda: tf.constant(-1.0))
    with tf.Session() as s:
        s.run(v.initializer)
        assert s.run(r, {p: False}) == -1.0
        assert s.run(v) == 1.0  # the untaken branch's assign did not run
        assert s.run(r, {p: True}) == 10.0


def test_case(tf_real):
    def build(t):
        x = t.placeholder(t.int32, [], name="x")
        r = t.case([(t.less(x, 0), lambda: t.constant(-1)), (t.equal(x, 0), lambda: t.constant(0))],
                   default=lambda: t.constant(1))
        return [r], {}
    for v in (-5, 0, 7):
        def b(t, v=v):
            fetches, _ = build(t)
            g = t.get_default_graph()
            return fetches, {g.get_tensor_by_name("x:0"): v}
        assert differential(tf_real, b) == [int(np.sign(v))]


def test_case_exclusive_violation():
    x = tf.placeholder(tf.int32, [])
    r = tf.case([(x > 0, lambda: tf.constant(1)), (x > 1, lambda: tf.constant(2))], default=lambda: tf.constant(0),
                exclusive=True)
    with tf.Session() as s:
        assert s.run(r, {x: 1}) == 1
        with pytest.raises(tf.errors.InvalidArgumentError, match="more than 1 conditions"):
            s.run(r, {x: 5})


def test_fetching_a_dead_value_fails():
    from deferflow.ops import control_flow_ops as cfo
    x = tf.constant(1.0)
    p = tf.placeholder(tf.bool, [])
    f, t = cfo.switch(x, p)
    with tf.Session() as s:
        assert s.run(t, {p: True}) == 1.0
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"Retval\[0\] does not have value"):
            s.run(f, {p: True})


def test_bad_predicates(tf_real):
    x = tf.constant(1.0)
    with pytest.raises(TypeError, match="must not be a Python bool"):
        tf.cond(True, lambda: x, lambda: x)
    with pytest.raises(ValueError, match="Shape must be rank 0 but is rank 1"):
        tf.cond(tf.constant([True, False]), lambda: x, lambda: x)
    with pytest.raises(TypeError, match="bool"):
        tf.cond(tf.constant(1.0), lambda: x, lambda: x)
    q = tf.placeholder(tf.bool, None)
    r = tf.cond(q, lambda: x, lambda: x + 1)
    with tf.Session() as s:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"The second input must be a scalar, but it has shape \[2\]") as e:
            s.run(r, {q: [True, False]})
        assert e.value.op.name == "cond_3/Switch"  # as in TF, the failed conds above used up cond..cond_2


def test_mismatched_branches():
    x = tf.constant(1.0)
    with pytest.raises(ValueError, match="Incompatible return values of `true_fn` and `false_fn`"):
        tf.cond(tf.constant(True), lambda: (x, x), lambda: x)
    with pytest.raises(TypeError, match="must have the same type"):
        tf.cond(tf.constant(True), lambda: x, lambda: tf.constant(1))
    with pytest.raises(ValueError, match="true_fn' must have a return value"):
        tf.cond(tf.constant(True), lambda: None, lambda: x)
    with pytest.raises(TypeError, match="'true_fn' must be callable"):
        tf.cond(tf.constant(True), x, lambda: x)


def test_cond_in_collection_and_contexts():
    p = tf.placeholder(tf.bool, [])
    r = tf.cond(p, lambda: tf.constant(1.0), lambda: tf.constant(2.0))
    ctxs = tf.get_collection(tf.GraphKeys.COND_CONTEXT)
    assert [c.branch for c in ctxs] == [1, 0]
    assert r.op.type == "Merge"
    with tf.Session() as s:
        assert s.run(r, {p: False}) == 2.0
