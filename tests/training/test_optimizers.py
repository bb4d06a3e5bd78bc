"""Optimizers against real TensorFlow: linear and logistic regression, an MLP and a small conv net trained a
few steps from identical weights on fixed data give the same losses and weights, for each optimizer; slot
variables, collections and names as TF's; a TF-saved optimizer state resumes training identically here;
learning-rate schedules."""
import numpy as np
import pytest

import deferflow

_rng = np.random.RandomState(0)
X_LIN = _rng.randn(16, 3).astype(np.float32)
Y_LIN = (X_LIN @ np.array([[1.5], [-2.0], [0.5]]) + 0.3).astype(np.float32)
Y_LOG = (X_LIN[:, :1] + X_LIN[:, 1:2] > 0).astype(np.float32)
X_MLP = _rng.randn(8, 6).astype(np.float32)
Y_MLP = _rng.randint(0, 3, 8)
X_IMG = _rng.randn(4, 6, 6, 2).astype(np.float32)
Y_IMG = _rng.randint(0, 3, 4)
INIT = {name: _rng.randn(*shape).astype(np.float32) * 0.5 for name, shape in [
    ("lin/w", (3, 1)), ("lin/b", (1,)), ("mlp/w1", (6, 5)), ("mlp/b1", (5,)), ("mlp/w2", (5, 3)), ("mlp/b2", (3,)),
    ("conv/k", (3, 3, 2, 4)), ("conv/b", (4,)), ("conv/w", (36, 3)), ("conv/fb", (3,))]}


def _var(tf, name):
    return tf.Variable(INIT[name], name=name.split("/")[1])


def _linear(tf):
    with tf.variable_scope("lin"):
        w, b = _var(tf, "lin/w"), _var(tf, "lin/b")
    return tf.reduce_mean(tf.square(tf.matmul(tf.constant(X_LIN), w) + b - Y_LIN))


def _logistic(tf):
    with tf.variable_scope("lin"):
        w, b = _var(tf, "lin/w"), _var(tf, "lin/b")
    logits = tf.matmul(tf.constant(X_LIN), w) + b
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant(Y_LOG), logits=logits))


def _mlp(tf):
    with tf.variable_scope("mlp"):
        w1, b1, w2, b2 = (_var(tf, f"mlp/{n}") for n in ("w1", "b1", "w2", "b2"))
    h = tf.nn.relu(tf.matmul(tf.constant(X_MLP), w1) + b1)
    logits = tf.matmul(h, w2) + b2
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(Y_MLP), logits=logits))


def _convnet(tf):
    with tf.variable_scope("conv"):
        k, b, w, fb = (_var(tf, f"conv/{n}") for n in ("k", "b", "w", "fb"))
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(tf.constant(X_IMG), k, [1, 1, 1, 1], "SAME"), b))
    h = tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
    logits = tf.matmul(tf.reshape(h, [4, 36]), w) + fb
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=tf.one_hot(Y_IMG, 3), logits=logits))


MODELS = {"linear": _linear, "logistic": _logistic, "mlp": _mlp, "convnet": _convnet}
OPTIMIZERS = {
    "sgd": lambda tf: tf.train.GradientDescentOptimizer(0.1),
    "momentum": lambda tf: tf.train.MomentumOptimizer(0.05, 0.9),
    "nesterov": lambda tf: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "adam": lambda tf: tf.train.AdamOptimizer(0.05),
    "adagrad": lambda tf: tf.train.AdagradOptimizer(0.2, initial_accumulator_value=0.2),
    "rmsprop": lambda tf: tf.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5),
    "rmsprop_centered": lambda tf: tf.train.RMSPropOptimizer(0.01, momentum=0.3, centered=True),
    "adadelta": lambda tf: tf.train.AdadeltaOptimizer(2.0, rho=0.9, epsilon=1e-6),
    "ftrl": lambda tf: tf.train.FtrlOptimizer(0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.05),
    "ftrl_shrinkage": lambda tf: tf.train.FtrlOptimizer(0.1, learning_rate_power=-0.4,
                                                        l2_shrinkage_regularization_strength=0.1),
}


def _train(tf, model, make_opt, steps=4):
    """(losses per step, final variable values by name, global variable names, global step, train op)."""
    g = tf.Graph()
    with g.as_default():
        loss = MODELS[model](tf)
        gs = tf.train.get_or_create_global_step()
        train = make_opt(tf).minimize(loss, global_step=gs)
        with tf.Session(graph=g) as s:
            s.run(tf.global_variables_initializer())
            losses = [s.run([train, loss])[1] for _ in range(steps)]
            values = {v.op.name: s.run(v) for v in tf.global_variables()}
            return losses, values, [v.op.name for v in tf.global_variables()], s.run(gs), (train.name, train.type)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_training_matches_tensorflow(tf_real, model, opt):
    ours = _train(deferflow, model, OPTIMIZERS[opt])
    theirs = _train(tf_real, model, OPTIMIZERS[opt])
    np.testing.assert_allclose(ours[0], theirs[0], rtol=2e-5, atol=1e-6, err_msg="losses")
    assert ours[2] == theirs[2], "global variables (slots, accumulators) differ"
    for name, v in theirs[1].items():
        np.testing.assert_allclose(ours[1][name], v, rtol=2e-5, atol=2e-6, err_msg=name)
    assert ours[3] == theirs[3] == 4
    assert ours[4] == theirs[4]
    assert ours[0][-1] < ours[0][0] or opt.startswith("ftrl")  # it learns


def test_slots_collections_and_accessors(tf_real):
    def build(tf):
        g = tf.Graph()
        with g.as_default():
            loss = _mlp(tf)
            opt = tf.train.AdamOptimizer(0.1)
            train = opt.minimize(loss)
            w1 = [v for v in tf.global_variables() if v.op.name == "mlp/w1"][0]
            return dict(
                slot_names=opt.get_slot_names(), m=opt.get_slot(w1, "m").op.name, v=opt.get_slot(w1, "v").op.name,
                missing=opt.get_slot(w1, "nope"), variables=[v.op.name for v in opt.variables()],
                trainable=[v.op.name for v in tf.trainable_variables()],
                train_ops=[o.name for o in tf.get_collection(tf.GraphKeys.TRAIN_OP)], train=(train.name, train.type),
                update_types=sorted({o.type for o in g.get_operations() if "/update_" in o.name}))
    assert build(deferflow) == build(tf_real)


def test_rmsprop_and_momentum_slot_names(tf_real):
    def names(tf):
        g = tf.Graph()
        with g.as_default():
            loss = _linear(tf)
            tf.train.RMSPropOptimizer(0.1, centered=True).minimize(loss)
            tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
            tf.train.AdagradOptimizer(0.1).minimize(loss)
            tf.train.AdadeltaOptimizer().minimize(loss)
            tf.train.FtrlOptimizer(0.1).minimize(loss)
            return [v.op.name for v in tf.global_variables()], sorted(o.name for o in g.get_operations()
                                                                      if o.type.startswith("Apply"))
    assert names(deferflow) == names(tf_real)


def test_compute_and_apply_gradients_options(tf_real):
    def run(tf):
        g = tf.Graph()
        with g.as_default():
            loss = _mlp(tf)
            opt = tf.train.MomentumOptimizer(0.1, 0.5)
            var_list = [v for v in tf.trainable_variables() if "w" in v.op.name]
            gv = opt.compute_gradients(loss, var_list=var_list, gate_gradients=opt.GATE_GRAPH,
                                       grad_loss=tf.constant(2.0))
            gv = [(tf.clip_by_value(gr, -0.1, 0.1), v) for gr, v in gv] + [(None, tf.trainable_variables()[1])]
            train = opt.apply_gradients(gv, name="apply")
            with tf.Session(graph=g) as s:
                s.run(tf.global_variables_initializer())
                for _ in range(3):
                    s.run(train)
                return train.name, [s.run(v) for v in tf.trainable_variables()]
    ours, theirs = run(deferflow), run(tf_real)
    assert ours[0] == theirs[0]
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_optimizer_errors_match_tensorflow(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            with pytest.raises(ValueError, match="No variables to optimize"):
                tf.train.GradientDescentOptimizer(0.1).minimize(tf.constant(1.0))
            v = tf.Variable(1.0)
            w = tf.Variable(2.0)
            with pytest.raises(ValueError, match="No gradients provided for any variable"):
                tf.train.GradientDescentOptimizer(0.1).minimize(w * 2.0, var_list=[v])
            with pytest.raises(ValueError, match="Invalid type"):
                tf.train.GradientDescentOptimizer(0.1).minimize(tf.constant(1), var_list=[v])
            with pytest.raises(ValueError, match="No variables provided"):
                tf.train.AdamOptimizer().apply_gradients([])
            with pytest.raises(ValueError):
                tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)
            with pytest.raises(ValueError):
                tf.train.FtrlOptimizer(0.1, learning_rate_power=0.5)
            with pytest.raises(ValueError):
                tf.train.GradientDescentOptimizer(0.1).minimize(v * 2.0, gate_gradients=7)


def test_tf_saved_adam_state_resumes_identically(tf_real, tmp_path):
    """TF trains 3 steps and saves (weights, Adam slots, beta powers, global step); deferflow restores and trains
    3 more steps; the result equals TF training 6 steps straight."""
    def graph(tf):
        loss = _mlp(tf)
        gs = tf.train.get_or_create_global_step()
        train = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=gs)
        return loss, train, tf.train.Saver()

    ckpt = str(tmp_path / "model.ckpt")
    with tf_real.Graph().as_default():
        loss, train, saver = graph(tf_real)
        with tf_real.Session() as s:
            s.run(tf_real.global_variables_initializer())
            for _ in range(3):
                s.run(train)
            saver.save(s, ckpt)
            tail = [s.run([train, loss])[1] for _ in range(3)]
            final = {v.op.name: s.run(v) for v in tf_real.global_variables()}
    with deferflow.Graph().as_default():
        loss, train, saver = graph(deferflow)
        with deferflow.Session() as s:
            saver.restore(s, ckpt)
            ours = [s.run([train, loss])[1] for _ in range(3)]
            ours_final = {v.op.name: s.run(v) for v in deferflow.global_variables()}
    np.testing.assert_allclose(ours, tail, rtol=2e-5)
    assert set(ours_final) == set(final)
    for k, v in final.items():
        np.testing.assert_allclose(ours_final[k], v, rtol=2e-5, atol=1e-6, err_msg=k)


SCHEDULES = {
    "exponential": lambda tf, gs: tf.train.exponential_decay(0.5, gs, 3, 0.7),
    "exponential_staircase": lambda tf, gs: tf.train.exponential_decay(0.5, gs, 3, 0.7, staircase=True),
    "natural_exp": lambda tf, gs: tf.train.natural_exp_decay(0.5, gs, 3, 0.2, staircase=True),
    "inverse_time": lambda tf, gs: tf.train.inverse_time_decay(0.5, gs, 2, 0.5),
    "polynomial": lambda tf, gs: tf.train.polynomial_decay(0.5, gs, 6, 0.01, power=2.0),
    "polynomial_cycle": lambda tf, gs: tf.train.polynomial_decay(0.5, gs, 4, 0.01, cycle=True),
    "cosine": lambda tf, gs: tf.train.cosine_decay(0.5, gs, 7, alpha=0.1),
    "linear_cosine": lambda tf, gs: tf.train.linear_cosine_decay(0.5, gs, 7),
    "piecewise": lambda tf, gs: tf.train.piecewise_constant(gs, [2, 5], [1.0, 0.5, 0.1]),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_learning_rate_schedules_match_tensorflow(tf_real, name):
    def values(tf):
        with tf.Graph().as_default():
            gs = tf.train.get_or_create_global_step()
            lr = SCHEDULES[name](tf, gs)
            inc = tf.assign_add(gs, 1)
            with tf.Session() as s:
                s.run(tf.global_variables_initializer())
                out = []
                for _ in range(10):
                    out.append(s.run(lr))
                    s.run(inc)
                return np.array(out), lr.dtype.name
    ours, theirs = values(deferflow), values(tf_real)
    assert ours[1] == theirs[1]
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)


def test_schedules_need_a_global_step():
    with deferflow.Graph().as_default():
        for fn in (lambda: deferflow.train.exponential_decay(0.1, None, 10, 0.9),
                   lambda: deferflow.train.cosine_decay(0.1, None, 10)):
            with pytest.raises(ValueError, match="global_step is required"):
                fn()


def test_decayed_learning_rate_drives_training(tf_real):
    def run(tf):
        with tf.Graph().as_default():
            loss = _linear(tf)
            gs = tf.train.get_or_create_global_step()
            lr = tf.train.exponential_decay(0.2, gs, 2, 0.5, staircase=True)
            train = tf.train.MomentumOptimizer(lr, 0.9).minimize(loss, global_step=gs)
            with tf.Session() as s:
                s.run(tf.global_variables_initializer())
                return [s.run([train, loss])[1] for _ in range(6)]
    np.testing.assert_allclose(run(deferflow), run(tf_real), rtol=2e-5)


def test_partitioned_variable_slots_match_tensorflow(tf_real):
    """Slots of a partitioned variable: one per part ('w/part_0/Adam'), saved as slices of 'w/Adam'."""
    def run(tf):
        with tf.Graph().as_default() as g:
            w = tf.get_variable("w", shape=[6, 2], initializer=tf.constant_initializer(0.5),
                                partitioner=tf.fixed_size_partitioner(3))
            loss = tf.reduce_sum(tf.square(tf.matmul(tf.ones([1, 6]), tf.concat(list(w), 0)) - 1.0))
            tf.train.AdamOptimizer(0.1).minimize(loss)
            info = [(v.op.name, v._get_save_slice_info().full_name if v._get_save_slice_info() else None)
                    for v in tf.global_variables()]
            with tf.Session() as s:
                s.run(tf.global_variables_initializer())
                for _ in range(2):
                    s.run(g.get_collection(tf.GraphKeys.TRAIN_OP)[0])
                return info, s.run(list(w))
    ours, theirs = run(deferflow), run(tf_real)
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(np.concatenate(ours[1]), np.concatenate(theirs[1]), rtol=1e-6)
