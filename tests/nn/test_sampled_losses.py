"""Candidate samplers, nce_loss and sampled_softmax_loss: expected counts, losses and gradients against real
TensorFlow (with a fixed ``sampled_values`` so randomness is out of the picture), sample distributions
statistically, and a word2vec-style training loop."""
import numpy as np
import pytest

import deferflow
from deferflow.ops import candidate_sampling_ops as cs

_rng = np.random.RandomState(11)
TRUE = np.array([[0, 3], [7, 1], [49, 12], [2, 2]], np.int64)
UNIGRAMS = list(np.arange(1, 51) % 7 + 0.5)


def _run(tf, build):
    g = tf.Graph()
    with g.as_default():
        out = build(tf)
        with tf.Session() as s:
            return s.run(out)


def _samplers(tf, kind, unique, num_sampled=6):
    t = tf.constant(TRUE, dtype=tf.int64)
    if kind == "uniform":
        return tf.nn.uniform_candidate_sampler(t, 2, num_sampled, unique, 50, seed=4)
    if kind == "log_uniform":
        return tf.nn.log_uniform_candidate_sampler(t, 2, num_sampled, unique, 50, seed=4)
    return tf.nn.fixed_unigram_candidate_sampler(t, 2, num_sampled, unique, 54, unigrams=UNIGRAMS, distortion=0.75,
                                                 num_reserved_ids=4, seed=4)


def _our_sampler(kind):
    if kind == "uniform":
        return cs._Uniform(50)
    if kind == "log_uniform":
        return cs._LogUniform(50)
    return cs._FixedUnigram(54, UNIGRAMS, "", 0.75, 4, 1, 0)


@pytest.mark.parametrize("kind", ["uniform", "log_uniform", "fixed_unigram"])
@pytest.mark.parametrize("unique", [False, True])
def test_expected_counts_match_tensorflow(tf_real, kind, unique):
    """For TF's own sample, our probabilities and count formula give TF's float32 counts bit for bit
    (unique: for the number of tries TF took, which is found by search)."""
    cands, true_ec, samp_ec = _run(tf_real, lambda tf: _samplers(tf, kind, unique, num_sampled=30))
    sampler = _our_sampler(kind)
    p_true, p_samp = sampler.probability(TRUE), sampler.probability(cands)
    tries = range(30, 30 + 1) if not unique else range(30, 20000)
    hits = [n for n in tries if np.array_equal(cs._expected_count(p_samp, 30, n), samp_ec)
            and np.array_equal(cs._expected_count(p_true, 30, n), true_ec)]
    assert hits, (true_ec, cs._expected_count(p_true, 30, 30))
    if unique:
        assert len(set(cands.tolist())) == 30


@pytest.mark.parametrize("kind", ["uniform", "log_uniform", "fixed_unigram"])
def test_sampler_outputs_shapes_and_attrs_match_tensorflow(tf_real, kind):
    def build(tf):
        out = _samplers(tf, kind, True)
        op = out[0].op
        return op.type, {k: op.get_attr(k) for k in sorted(op.node_def.attr)}, [o.shape.as_list() for o in out]
    g = tf_real.Graph()
    with g.as_default():
        theirs = build(tf_real)
    with deferflow.Graph().as_default():
        ours = build(deferflow)
    assert ours[0] == theirs[0]
    assert ours[2] == theirs[2]
    to_cmp = lambda d: {k: (list(v) if isinstance(v, list) else v) for k, v in d.items()}  # noqa: E731
    assert to_cmp(ours[1]).keys() == to_cmp(theirs[1]).keys()
    for k in theirs[1]:
        if k == "unigrams":
            np.testing.assert_allclose(ours[1][k], theirs[1][k], rtol=1e-7)
        elif k == "distortion":
            assert np.isclose(ours[1][k], theirs[1][k])
        else:
            assert ours[1][k] == theirs[1][k], k


@pytest.mark.parametrize("kind", ["uniform", "log_uniform", "fixed_unigram"])
def test_sample_distribution(kind):
    """A large non-unique draw follows the sampler's probabilities; its counts are p * num_sampled."""
    n = 200000
    cands, true_ec, samp_ec = _run(deferflow, lambda tf: _samplers(tf, kind, False, num_sampled=n))
    sampler = _our_sampler(kind)
    p = sampler.probability(np.arange(sampler.range))
    freq = np.bincount(cands, minlength=sampler.range) / n
    assert cands.min() >= 0 and cands.max() < sampler.range
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-6)
    np.testing.assert_allclose(true_ec, sampler.probability(TRUE) * np.float32(n), rtol=1e-6)
    if kind == "fixed_unigram":
        assert not np.isin(cands, [0, 1, 2, 3]).any()  # reserved ids have weight 0


def test_unique_sampling_and_counts():
    cands, true_ec, samp_ec = _run(deferflow, lambda tf: _samplers(tf, "log_uniform", True, num_sampled=40))
    assert len(set(cands.tolist())) == 40
    p = cs._LogUniform(50).probability(cands)
    tries = [k for k in range(40, 100000) if np.array_equal(cs._expected_count(p, 40, k), samp_ec)]
    assert tries and tries[0] > 40
    assert np.all(samp_ec <= 1) and np.all(samp_ec > 0) and np.any(samp_ec < 1)


def test_seeded_samplers_repeat_per_graph_and_differ_per_run():
    def build(tf):
        tf.set_random_seed(3)
        return _samplers(tf, "uniform", True)[0]
    g1, g2 = deferflow.Graph(), deferflow.Graph()
    with g1.as_default():
        a = build(deferflow)
    with g2.as_default():
        b = build(deferflow)
    with deferflow.Session(graph=g1) as s1, deferflow.Session(graph=g2) as s2:
        r1, r2 = s1.run(a), s1.run(a)
        assert np.array_equal(r1, s2.run(b))
        assert not np.array_equal(r1, r2)


def test_sampler_errors():
    with deferflow.Graph().as_default():
        t = deferflow.constant(TRUE, dtype=deferflow.int64)
        c = deferflow.nn.uniform_candidate_sampler(t, 2, 60, True, 50)[0]
        bad = deferflow.nn.uniform_candidate_sampler(t, 2, 5, True, 10)[0]
        with deferflow.Session() as s:
            with pytest.raises(deferflow.errors.InvalidArgumentError, match="Sampler's range is too small"):
                s.run(c)
            with pytest.raises(deferflow.errors.InvalidArgumentError, match=r"out of range \[0, 10\), received 49"):
                s.run(bad)


def test_learned_unigram_counts_true_classes():
    with deferflow.Graph().as_default():
        t = deferflow.constant([[3]], dtype=deferflow.int64)
        out = deferflow.nn.learned_unigram_candidate_sampler(t, 1, 1, False, 5, seed=1)
        with deferflow.Session() as s:
            first = s.run(out[1])
            second = s.run(out[1])
    assert first[0, 0] == np.float32(1 / 5)
    assert second[0, 0] == np.float32(2 / 6)  # id 3 was seen once: weights 1,1,1,2,1


def test_compute_accidental_hits_matches_tensorflow(tf_real):
    sampled = np.array([2, 5, 3, 7, 2, 12], np.int64)

    def build(tf):
        return tf.nn.compute_accidental_hits(tf.constant(TRUE), tf.constant(sampled), num_true=2)
    ours, theirs = _run(deferflow, build), _run(tf_real, build)
    for o, t in zip(ours, theirs):
        assert o.dtype == t.dtype
        np.testing.assert_array_equal(o, t)


# ---- losses --------------------------------------------------------------------------------------------
N_CLASSES, DIM, BATCH = 12, 5, 4
W = _rng.randn(N_CLASSES, DIM).astype(np.float32)
B = _rng.randn(N_CLASSES).astype(np.float32)
X = _rng.randn(BATCH, DIM).astype(np.float32)


def _labels(num_true):
    return np.array([[0, 4], [9, 2], [11, 3], [5, 5]][:BATCH], np.int64)[:, :num_true]


_SV = {}


def _loss_graph(tf, loss, num_true, remove, shards, strategy):
    if num_true not in _SV:
        _SV[num_true] = [np.asarray(v) for v in (np.array([3, 0, 9, 5, 11], np.int64),
                                                 (_rng.rand(BATCH, num_true) * 0.5 + 0.1).astype(np.float32),
                                                 np.array([0.3, 0.2, 0.7, 0.45, 0.9], np.float32))]
    sv = tuple(tf.constant(v) for v in _SV[num_true])
    if shards == 1:
        w = tf.Variable(W, name="w")
        ws, wlist = w, [w]
    else:
        wlist = [tf.Variable(W[:6], name="w0"), tf.Variable(W[6:], name="w1")] if strategy == "div" else \
            [tf.Variable(W[0::2], name="w0"), tf.Variable(W[1::2], name="w1")]
        ws = wlist
    b = tf.Variable(B, name="b")
    x = tf.Variable(X, name="x")
    fn = tf.nn.nce_loss if loss == "nce" else tf.nn.sampled_softmax_loss
    out = fn(weights=ws, biases=b, labels=tf.constant(_labels(num_true)), inputs=x, num_sampled=5,
             num_classes=N_CLASSES, num_true=num_true, sampled_values=sv, remove_accidental_hits=remove,
             partition_strategy=strategy)
    grads = tf.gradients(tf.reduce_sum(out * tf.constant([1.0, 2.0, -1.0, 0.5])), wlist + [b, x])
    dense = [tf.convert_to_tensor(g) for g in grads]
    return out, dense, grads


@pytest.mark.parametrize("loss", ["nce", "softmax"])
@pytest.mark.parametrize("num_true,remove,shards,strategy", [
    (1, False, 1, "mod"), (1, True, 1, "mod"), (2, True, 1, "mod"), (2, False, 1, "mod"),
    (1, True, 2, "mod"), (2, True, 2, "div")])
def test_losses_and_gradients_match_tensorflow(tf_real, loss, num_true, remove, shards, strategy):
    def run(tf):
        g = tf.Graph()
        with g.as_default():
            out, dense, grads = _loss_graph(tf, loss, num_true, remove, shards, strategy)
            with tf.Session() as s:
                s.run(tf.global_variables_initializer())
                return s.run([out, dense]), grads
    (ours, ours_g), grads = run(deferflow)
    (theirs, theirs_g), _ = run(tf_real)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    for a, b in zip(ours_g, theirs_g):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    if shards == 1:
        assert isinstance(grads[0], deferflow.IndexedSlices)  # the weight gradient touches looked-up rows only


def test_loss_graph_op_types_match_tensorflow(tf_real):
    """Single-shard graphs hold the same op types TF builds (accidental hits, sparse_to_dense, log-q...)."""
    def types(tf):
        g = tf.Graph()
        with g.as_default():
            sv = tuple(tf.constant(v) for v in (np.array([1, 2], np.int64), np.ones([2, 1], np.float32),
                                                np.ones([2], np.float32)))
            tf.nn.sampled_softmax_loss(tf.constant(W), tf.constant(B), tf.constant([[1], [3]], tf.int64),
                                       tf.constant(X[:2]), 2, N_CLASSES, sampled_values=sv)
            return sorted({op.type for op in g.get_operations()})
    assert types(deferflow) == types(tf_real)


def test_default_sampler_is_log_uniform_and_loss_finite():
    with deferflow.Graph().as_default():
        loss = deferflow.nn.nce_loss(deferflow.constant(W), deferflow.constant(B), deferflow.constant([[1], [3]]),
                                     deferflow.constant(X[:2]), 4, N_CLASSES)
        types = {op.type for op in deferflow.get_default_graph().get_operations()}
        with deferflow.Session() as s:
            v = s.run(loss)
    assert "LogUniformCandidateSampler" in types
    assert v.shape == (2,) and np.all(np.isfinite(v)) and np.all(v > 0)


@pytest.mark.parametrize("loss", ["nce", "softmax"])
def test_word2vec_training_loss_falls(loss):
    """Skip-gram on a tiny corpus where each word predicts its successor: the sampled loss drops."""
    vocab, dim = 20, 8
    rng = np.random.RandomState(0)
    centers = np.arange(vocab).repeat(4)
    contexts = ((centers + 1) % vocab).reshape(-1, 1)
    with deferflow.Graph().as_default():
        deferflow.set_random_seed(1)
        emb = deferflow.Variable(rng.uniform(-1, 1, [vocab, dim]).astype(np.float32))
        w = deferflow.Variable((rng.randn(vocab, dim) * 0.1).astype(np.float32))
        b = deferflow.Variable(np.zeros(vocab, np.float32))
        xs = deferflow.placeholder(deferflow.int32, [None])
        ys = deferflow.placeholder(deferflow.int64, [None, 1])
        embed = deferflow.nn.embedding_lookup(emb, xs)
        fn = deferflow.nn.nce_loss if loss == "nce" else deferflow.nn.sampled_softmax_loss
        cost = deferflow.reduce_mean(fn(w, b, ys, embed, num_sampled=5, num_classes=vocab))
        train = deferflow.train.GradientDescentOptimizer(0.5).minimize(cost)
        with deferflow.Session() as s:
            s.run(deferflow.global_variables_initializer())
            feed = {xs: centers, ys: contexts}
            first = np.mean([s.run(cost, feed) for _ in range(5)])
            for _ in range(150):
                s.run(train, feed)
            last = np.mean([s.run(cost, feed) for _ in range(5)])
    assert last < 0.5 * first, (first, last)
