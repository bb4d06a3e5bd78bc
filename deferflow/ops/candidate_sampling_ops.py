"""Candidate samplers (``tf.nn.*_candidate_sampler``) and ``ComputeAccidentalHits``, as TF's op types.

Each sampler draws ``num_sampled`` class ids from its distribution (``unique``: without repeats, counting
the draws it took) and reports expected counts as TF does: ``p * num_sampled`` when every draw was kept,
otherwise ``1 - (1 - p) ** num_tries``, in float32 like TF's kernels. The random stream is numpy's
(seeded per op from ``seed``/``seed2``), not TF's Philox stream.
"""
import numpy as np

from deferflow.framework import errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.framework import dtypes
from deferflow.ops import random_ops

define = op_registry.define
_COMMON = ["num_true: int >= 1", "num_sampled: int >= 1", "unique: bool"]
_SEEDS = ["seed: int = 0", "seed2: int = 0"]
_OUTS = "sampled_candidates: int64, true_expected_count: float, sampled_expected_count: float"


# ---- samplers: probability(ids) -> float32 probabilities, draw(rng, n) -> int64 ids ------------------
class _Uniform:
    def __init__(self, range_max):
        self.range = range_max
        self._p = np.float32(1.0 / range_max)

    def probability(self, ids):
        return np.full(np.shape(ids), self._p, np.float32)

    def draw(self, rng, n):
        return rng.integers(0, self.range, size=n, dtype=np.int64)


class _LogUniform:
    """P(k) = log((k + 2) / (k + 1)) / log(range_max + 1): frequent ids first, as in a Zipf vocabulary."""

    def __init__(self, range_max):
        self.range = range_max
        self._log_range = np.log1p(np.float64(range_max))

    def probability(self, ids):
        v = np.asarray(ids, np.float64)
        return (np.log((v + 2.0) / (v + 1.0)) / self._log_range).astype(np.float32)

    def draw(self, rng, n):
        v = np.exp(rng.random(n) * self._log_range).astype(np.int64) - 1
        return v % self.range


class _Weighted:
    """Draws ids in proportion to float32 weights (TF's fixed and learned unigram samplers)."""

    def _set(self, weights):
        self.weights = np.asarray(weights, np.float32)
        self.total = np.cumsum(self.weights, dtype=np.float32)[-1] if self.weights.size else np.float32(0)
        self._cdf = None

    def probability(self, ids):
        ids = np.asarray(ids, np.int64)
        ok = (ids >= 0) & (ids < self.weights.size)
        w = np.where(ok, self.weights[np.clip(ids, 0, max(self.weights.size - 1, 0))], np.float32(0))
        return (w / self.total).astype(np.float32)

    def draw(self, rng, n):
        if self._cdf is None:
            c = np.cumsum(self.weights, dtype=np.float64)
            self._cdf = c / c[-1]
        return np.minimum(np.searchsorted(self._cdf, rng.random(n), side="right"),
                          self.weights.size - 1).astype(np.int64)


class _FixedUnigram(_Weighted):
    def __init__(self, range_max, unigrams, vocab_file, distortion, num_reserved_ids, num_shards, shard):
        self.range = range_max
        weights = [0.0 for i in range(num_reserved_ids) if i % num_shards == shard]
        word_id = len(weights)
        for w in unigrams if not vocab_file else _vocab_weights(vocab_file):
            if word_id % num_shards == shard:
                weights.append(np.float32(np.float64(np.float32(w)) ** np.float64(np.float32(distortion))))  # powf, rounded once
            word_id += 1
        if len(weights) != range_max:
            raise errors.InvalidArgumentError(None, None, f"range is {range_max} must be equal to weights size  "
                                                          f"{len(weights)}")
        self._set(weights)


def _vocab_weights(path):
    """The last comma-separated field of each line of a vocabulary file (TF's format)."""
    from deferflow import gfile
    with gfile.GFile(path, "r") as f:
        for line in f.read().splitlines():
            cols = line.split(",")
            try:
                yield float(cols[-1])
            except ValueError:
                raise errors.InvalidArgumentError(None, None, f"Wrong vocabulary format at line: {line}") from None


class _LearnedUnigram(_Weighted):
    """Starts with weight 1 per id; each run adds 1 for every true class it saw (session state)."""

    def __init__(self, range_max):
        self.range = range_max
        self._set(np.ones(range_max, np.float32))

    def update(self, ids):
        counts = np.bincount(np.asarray(ids, np.int64).ravel(), minlength=self.range)
        self._set(self.weights + counts.astype(np.float32))


def _libm_float_fns():
    """C's float ``log1pf``/``expm1f`` (what TF's kernel calls): numpy's float32 versions differ by an ulp."""
    try:
        import ctypes
        import ctypes.util
        libm = ctypes.CDLL(ctypes.util.find_library("m"))
        fns = []
        for fname in ("log1pf", "expm1f"):
            f = getattr(libm, fname)
            f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
            fns.append(np.vectorize(f, otypes=[np.float32]))
        return fns
    except (OSError, AttributeError, TypeError):
        return np.log1p, np.expm1


_LOG1PF, _EXPM1F = _libm_float_fns()


def _expected_count(p, num_sampled, num_tries):
    """TF's estimate of how often an id shows up in a sample: ``p * n``, or ``1 - (1 - p) ** num_tries``
    when unique sampling needed more tries, in float32 arithmetic as TF's kernel does it."""
    p = np.asarray(p, np.float32)
    if num_tries == num_sampled:
        return (p * np.float32(num_sampled)).astype(np.float32)
    if p.size == 0:
        return p
    logs = np.asarray(_LOG1PF(-p), np.float32)
    return (-np.asarray(_EXPM1F((np.float32(num_tries) * logs).astype(np.float32)), np.float32)).astype(np.float32)


def sample(sampler, rng, num_sampled, unique):
    """(candidates, num_tries): ``num_sampled`` draws, or draws until that many distinct ids when unique."""
    if not unique:
        return sampler.draw(rng, num_sampled), num_sampled
    picked, seen, tries = [], set(), 0
    while len(picked) < num_sampled:
        for v in sampler.draw(rng, max(2 * (num_sampled - len(picked)), 16)).tolist():
            tries += 1
            if v not in seen:
                seen.add(v)
                picked.append(v)
                if len(picked) == num_sampled:
                    break
    return np.asarray(picked, np.int64), tries


def _run_sampler(ctx, sampler, true_classes, num_true, num_sampled, unique):
    if true_classes.ndim != 2:
        raise errors.InvalidArgumentError(None, None, "true_classes must be a matrix")
    if true_classes.shape[1] != num_true:
        raise errors.InvalidArgumentError(None, None, f"true_classes must have num_true columns, expected: "
                                                      f"{true_classes.shape[1]} was: {num_true}")
    if unique and num_sampled > sampler.range:
        raise errors.InvalidArgumentError(None, None, "Sampler's range is too small.")
    bad = true_classes[(true_classes < 0) | (true_classes >= sampler.range)]
    if bad.size:
        raise errors.InvalidArgumentError(None, None, f"`true_candidate` out of range [0, {sampler.range}), "
                                                      f"received {bad[0]}")
    candidates, tries = sample(sampler, ctx.rng(), num_sampled, unique)
    true_count = _expected_count(sampler.probability(true_classes), num_sampled, tries)
    sampled_count = _expected_count(sampler.probability(candidates), num_sampled, tries)
    if hasattr(sampler, "update"):
        sampler.update(true_classes)
    return candidates, true_count, sampled_count


def _session_sampler(ctx, make):
    """One sampler per op and session, as TF builds one per kernel (the learned sampler keeps counts)."""
    key = ("candidate_sampler", ctx.op._name)
    s = ctx.state.resources.get(key)
    if s is None:
        s = ctx.state.resources[key] = make()
    return s


def _shapes(op):
    t = op._inputs[0].shape
    rows = t[0] if t.ndims == 2 else ts.Dimension(None)
    n = op._attrs["num_sampled"]
    return [ts.TensorShape([n]), ts.TensorShape([rows, op._attrs["num_true"]]), ts.TensorShape([n])]


def _sampler_op(name, make, extra_attrs=(), with_range=True):
    attrs = _COMMON + (["range_max: int >= 1"] if with_range else []) + list(extra_attrs) + _SEEDS
    od = define(name, "true_classes: int64", _OUTS, attrs, stateful=True)
    od.shape(_shapes)

    @od.kernel(ctx=True)
    def kernel(ctx, true_classes):
        a = ctx.op._attrs
        sampler = _session_sampler(ctx, lambda: make(a))
        return _run_sampler(ctx, sampler, np.asarray(true_classes), a["num_true"], a["num_sampled"], a["unique"])
    od.no_gradient()
    return od


class _All:
    def __init__(self, n):
        self.range = n

    def probability(self, ids):
        return np.ones(np.shape(ids), np.float32)


UniformCandidateSampler = _sampler_op("UniformCandidateSampler", lambda a: _Uniform(a["range_max"]))
LogUniformCandidateSampler = _sampler_op("LogUniformCandidateSampler", lambda a: _LogUniform(a["range_max"]))
LearnedUnigramCandidateSampler = _sampler_op("LearnedUnigramCandidateSampler",
                                             lambda a: _LearnedUnigram(a["range_max"]))
ThreadUnsafeUnigramCandidateSampler = _sampler_op("ThreadUnsafeUnigramCandidateSampler",
                                                  lambda a: _LearnedUnigram(a["range_max"]))
FixedUnigramCandidateSampler = _sampler_op(
    "FixedUnigramCandidateSampler",
    lambda a: _FixedUnigram(a["range_max"], list(a.get("unigrams") or ()), a.get("vocab_file") or "",
                            a.get("distortion", 1.0), a.get("num_reserved_ids", 0), a.get("num_shards", 1),
                            a.get("shard", 0)),
    ["vocab_file: string = ''", "distortion: float = 1.0", "num_reserved_ids: int = 0",
     "num_shards: int >= 1 = 1", "shard: int >= 0 = 0", "unigrams: list(float) = []"])

AllCandidateSampler = define("AllCandidateSampler", "true_classes: int64", _OUTS, _COMMON + _SEEDS, stateful=True)
AllCandidateSampler.shape(_shapes)


@AllCandidateSampler.kernel(ctx=True)
def _all_kernel(ctx, true_classes):
    n = ctx.op._attrs["num_sampled"]
    return np.arange(n, dtype=np.int64), np.ones(np.shape(true_classes), np.float32), np.ones(n, np.float32)


AllCandidateSampler.no_gradient()

ComputeAccidentalHits = define("ComputeAccidentalHits", "true_classes: int64, sampled_candidates: int64",
                               "indices: int32, ids: int64, weights: float", ["num_true: int"] + _SEEDS)
ComputeAccidentalHits.shape(lambda op: [ts.TensorShape([None])] * 3)


@ComputeAccidentalHits.kernel
def _accidental_hits(true_classes, sampled_candidates, *, num_true):
    true_classes, sampled = np.asarray(true_classes), np.asarray(sampled_candidates)
    if true_classes.ndim != 2 or true_classes.shape[1] != num_true:
        raise errors.InvalidArgumentError(None, None, "true_candidates must be a batch_size * num_true matrix")
    if sampled.ndim != 1:
        raise errors.InvalidArgumentError(None, None, "sampled_candidates must be a vector, which is typically an "
                                                      "output from CandidateSampler")
    pos = {int(c): i for i, c in enumerate(sampled.tolist())}  # a repeated candidate maps to its last position
    rows, ids = [], []
    for i, row in enumerate(true_classes.tolist()):
        for c in row:
            j = pos.get(c)
            if j is not None:
                rows.append(i)
                ids.append(j)
    return (np.asarray(rows, np.int32), np.asarray(ids, np.int64),
            np.full(len(rows), -np.finfo(np.float32).max, np.float32))


ComputeAccidentalHits.no_gradient()


# ---- the Python API -------------------------------------------------------------------------------
def _seeds(seed):
    s1, s2 = random_ops.get_seed(seed)
    return s1 or 0, s2 or 0


def _sampler(op_type, true_classes, num_true, num_sampled, unique, seed, name, **attrs):
    s1, s2 = _seeds(seed)
    true_classes = convert_to_tensor(true_classes, dtype=dtypes.int64, name="true_classes")
    return tuple(apply_op(op_type, name=name, true_classes=true_classes, num_true=num_true,
                          num_sampled=num_sampled, unique=unique, seed=s1, seed2=s2, **attrs))


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, seed=None, name=None):
    """Samples ids uniformly from ``[0, range_max)``; returns (sampled, true_expected, sampled_expected)."""
    return _sampler("UniformCandidateSampler", true_classes, num_true, num_sampled, unique, seed, name,
                    range_max=range_max)


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, seed=None, name=None):
    """Samples ids from the log-uniform (Zipfian) distribution over ``[0, range_max)``."""
    return _sampler("LogUniformCandidateSampler", true_classes, num_true, num_sampled, unique, seed, name,
                    range_max=range_max)


def learned_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, seed=None,
                                      name=None):
    """Samples ids in proportion to how often they have appeared as true classes (starting from 1 each)."""
    return _sampler("LearnedUnigramCandidateSampler", true_classes, num_true, num_sampled, unique, seed, name,
                    range_max=range_max)


def fixed_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, vocab_file="",
                                    distortion=1.0, num_reserved_ids=0, num_shards=1, shard=0, unigrams=(),
                                    seed=None, name=None):
    """Samples ids in proportion to ``unigrams`` (or a vocabulary file's last column) ** ``distortion``."""
    return _sampler("FixedUnigramCandidateSampler", true_classes, num_true, num_sampled, unique, seed, name,
                    range_max=range_max, vocab_file=vocab_file, distortion=float(distortion),
                    num_reserved_ids=num_reserved_ids, num_shards=num_shards, shard=shard,
                    unigrams=[float(u) for u in unigrams])


def all_candidate_sampler(true_classes, num_true, num_sampled, unique, seed=None, name=None):
    """Returns every id in ``[0, num_sampled)`` with expected count 1."""
    return _sampler("AllCandidateSampler", true_classes, num_true, num_sampled, unique, seed, name)


def compute_accidental_hits(true_classes, sampled_candidates, num_true, seed=None, name=None):
    """(indices, ids, weights) of sampled candidates equal to a true class of their row, weights -FLT_MAX."""
    s1, s2 = _seeds(seed)
    return tuple(apply_op("ComputeAccidentalHits", name=name,
                          true_classes=convert_to_tensor(true_classes, dtype=dtypes.int64),
                          sampled_candidates=convert_to_tensor(sampled_candidates, dtype=dtypes.int64),
                          num_true=num_true, seed=s1, seed2=s2))
