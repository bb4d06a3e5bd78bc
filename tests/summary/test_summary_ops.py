"""Summary ops: the serialized ``Summary`` bytes, op names and types equal real TensorFlow's."""
import struct
import zlib

import numpy as np
import pytest

import deferflow
from deferflow.formats import protos
from deferflow.framework import op_registry
from deferflow.framework.ops import apply_op
from deferflow.ops import summary_ops

RNG = np.random.default_rng(1234)


def _run_both(tf_real, build, feeds=None):
    """Runs ``build(tf)`` on both libraries; returns ([(name, type, input names)], outputs) for each."""
    results = []
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            outs = build(tf)
            with tf.Session() as sess:
                values = sess.run(outs, feeds(tf) if feeds else None)
            results.append(([(o.op.name, o.op.type, [i.name for i in o.op.inputs]) for o in outs], values))
    return results


SCALAR_CASES = [
    ("f32", lambda tf: tf.summary.scalar("loss", tf.constant(0.25))),
    ("f64", lambda tf: tf.summary.scalar("x", tf.constant(1 / 3, tf.float64))),
    ("i32", lambda tf: tf.summary.scalar("count", tf.constant(-7))),
    ("i64_big", lambda tf: tf.summary.scalar("big", tf.constant(2**53 + 1, tf.int64))),
    ("u8", lambda tf: tf.summary.scalar("b", tf.constant(200, tf.uint8))),
    ("f16", lambda tf: tf.summary.scalar("h", tf.constant(0.1, tf.float16))),
    ("zero", lambda tf: tf.summary.scalar("zero", tf.constant(0.0))),
    ("nan_inf", lambda tf: tf.summary.scalar("bad", tf.constant(np.float32(np.inf)))),
    ("family", lambda tf: tf.summary.scalar("acc", tf.constant(0.5), family="eval")),
    ("illegal", lambda tf: tf.summary.scalar("my loss (train)!", tf.constant(1.5))),
    ("leading_slash", lambda tf: tf.summary.scalar("/abs/name", tf.constant(2.5))),
]


@pytest.mark.parametrize("name,build", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_scalar_bytes_and_names(tf_real, name, build):
    ours, theirs = _run_both(tf_real, lambda tf: [build(tf)])
    assert ours == theirs


def test_scalar_names_in_scopes_and_duplicates(tf_real):
    def build(tf):
        x = tf.placeholder(tf.float32, [], name="x")
        outs = [tf.summary.scalar("loss", x), tf.summary.scalar("loss", x * 2)]
        with tf.name_scope("train"):
            outs += [tf.summary.scalar("loss", x), tf.summary.scalar("loss", x, family="fam")]
        with tf.variable_scope("vs"):
            outs.append(tf.summary.scalar("a/b", x))
        return outs
    ours, theirs = _run_both(tf_real, build, lambda tf: {"x:0": 3.0})
    assert ours == theirs
    assert ours[0][0] == ("loss", "ScalarSummary", ["loss/tags:0", "x:0"])


def test_scalar_vector_tags(tf_real):
    with deferflow.Session() as sess:
        ours = sess.run(apply_op("ScalarSummary", tags=["a", "b"], values=[1.0, 2.0]))
    with tf_real.Graph().as_default(), tf_real.Session() as sess:
        theirs = sess.run(tf_real.raw_ops.ScalarSummary(tags=["a", "b"], values=[1.0, 2.0]))
    assert ours == theirs


def test_scalar_shape_mismatch_raises():
    s = deferflow.summary.scalar("v", deferflow.constant([1.0, 2.0]))
    with deferflow.Session() as sess, pytest.raises(deferflow.errors.InvalidArgumentError, match="same shape"):
        sess.run(s)


HIST_VALUES = {
    "normal": RNG.normal(size=1000).astype(np.float32),
    "small": np.array([1.0, 2.0, -3.0, 0.0], np.float32),
    "wide_f64": np.concatenate([RNG.normal(scale=1e6, size=50), RNG.normal(scale=1e-9, size=50), [0.0, -0.0]]),
    "ints": RNG.integers(-1000, 1000, size=300).astype(np.int32),
    "int64": np.array([2**40, -2**40, 3], np.int64),
    "const": np.full(20, 7.5, np.float32),
    "empty": np.zeros([0], np.float32),
    "matrix": RNG.uniform(-1, 1, size=(20, 30)).astype(np.float32),
    "f16": RNG.normal(size=40).astype(np.float16),
}


@pytest.mark.parametrize("key", list(HIST_VALUES))
def test_histogram_bytes(tf_real, key):
    value = HIST_VALUES[key]
    ours, theirs = _run_both(tf_real, lambda tf: [tf.summary.histogram("weights/" + key, tf.constant(value))])
    assert ours == theirs


def test_histogram_default_buckets_match_tf(tf_real):
    # the full bucket list shows when every bucket is filled: one value inside each
    limits = summary_ops._BUCKET_LIMITS
    assert len(limits) == 1551 and limits[775] == 0.0 and limits[776] == 1e-12
    inside = (limits[:-1] + limits[1:]) / 2  # fills every bucket but the first (below -DBL_MAX)
    (_, ours), (_, theirs) = _run_both(tf_real, lambda tf: [tf.summary.histogram("all", tf.constant(inside))])
    assert ours == theirs
    h = protos.Summary.FromString(ours[0]).value[0].histo
    assert list(h.bucket_limit) == limits.tolist()


def test_histogram_nan_is_invalid_argument(tf_real):
    for tf, err in ((deferflow, deferflow.errors.InvalidArgumentError),
                    (tf_real, tf_real.errors.InvalidArgumentError)):
        with tf.Graph().as_default():
            h = tf.summary.histogram("w", tf.constant([1.0, np.nan]))
            with tf.Session() as sess, pytest.raises(err, match="Nan in summary histogram for: w"):
                sess.run(h)


IMAGES = {
    "u8_rgb_batch": RNG.integers(0, 256, (4, 8, 10, 3)).astype(np.uint8),
    "f32_gray_ramp": np.linspace(-1, 3, 16 * 16).reshape(1, 16, 16, 1).astype(np.float32),
    "f32_rgba_signed": RNG.normal(size=(1, 5, 7, 4)).astype(np.float32),
    "f32_positive": RNG.uniform(0, 0.3, (2, 9, 11, 3)).astype(np.float32),
    "f64": RNG.uniform(0, 5, (2, 9, 9, 3)),
    "f16": RNG.normal(size=(1, 6, 6, 1)).astype(np.float16),
    "nonfinite": np.where(RNG.uniform(size=(1, 6, 6, 3)) < 0.2, np.nan, RNG.normal(size=(1, 6, 6, 3))).astype(np.float32),
    "all_zero": np.zeros((1, 4, 4, 3), np.float32),
    "digits": (RNG.uniform(size=(3, 28, 28, 1)) > 0.7).astype(np.float32),
    "smooth_large": np.repeat((np.sin(np.arange(200) / 20.0)[:, None] * np.cos(np.arange(150) / 30.0))[None, :, :, None],
                              3, axis=3).astype(np.float32),  # several 8 KiB IDAT chunks
}


@pytest.mark.parametrize("key", list(IMAGES))
@pytest.mark.parametrize("max_outputs", [3, 1])
def test_image_bytes(tf_real, key, max_outputs):
    value = IMAGES[key]
    ours, theirs = _run_both(tf_real, lambda tf: [tf.summary.image(key, tf.constant(value), max_outputs=max_outputs)])
    assert ours == theirs


def _png_pixels(png):
    """Decodes our own (8-bit, non-interlaced) PNG output, undoing the row filters."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", png[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + data)
        ihdr = data if kind == b"IHDR" else ihdr
        idat += data if kind == b"IDAT" else b""
        pos += 12 + n
    w, h, _, color, _, _, _ = struct.unpack(">IIBBBBB", ihdr)
    c = {0: 1, 2: 3, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w * c + 1).astype(np.int32)
    out = np.zeros((h, w * c), np.int32)
    for y in range(h):
        f, row = raw[y, 0], raw[y, 1:]
        up = out[y - 1] if y else np.zeros(w * c, np.int32)
        for x in range(w * c):
            a = out[y, x - c] if x >= c else 0
            b, cc = up[x], (up[x - c] if x >= c else 0)
            p = a + b - cc
            pred = [0, a, b, (a + b) // 2,
                    a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - cc) else b if abs(p - b) <= abs(p - cc) else cc][f]
            out[y, x] = (row[x] + pred) & 0xFF
    return out.reshape(h, w, c).astype(np.uint8)


def test_image_noise_same_pixels(tf_real):
    # incompressible data: zlib versions differ in stored-block sizes, so compare decoded pixels and fields
    value = RNG.integers(0, 256, (1, 100, 120, 3)).astype(np.uint8)
    (_, ours), (_, theirs) = _run_both(tf_real, lambda tf: [tf.summary.image("noise", tf.constant(value))])
    a, b = protos.Summary.FromString(ours[0]).value[0], protos.Summary.FromString(theirs[0]).value[0]
    assert (a.tag, a.image.height, a.image.width, a.image.colorspace) == (b.tag, b.image.height, b.image.width,
                                                                          b.image.colorspace)
    np.testing.assert_array_equal(_png_pixels(a.image.encoded_image_string), value[0])


def test_image_decodes_with_pillow():
    pil = pytest.importorskip("PIL.Image")
    import io
    value = RNG.integers(0, 256, (2, 13, 17, 4)).astype(np.uint8)
    with deferflow.Session() as sess:
        s = protos.Summary.FromString(sess.run(deferflow.summary.image("im", deferflow.constant(value))))
    for i, v in enumerate(s.value):
        assert v.tag == f"im/image/{i}"
        np.testing.assert_array_equal(np.asarray(pil.open(io.BytesIO(v.image.encoded_image_string))), value[i])


def test_image_bad_rank_raises():
    s = deferflow.summary.image("im", deferflow.placeholder(deferflow.float32))
    with deferflow.Session() as sess, pytest.raises(deferflow.errors.InvalidArgumentError, match="4-D"):
        sess.run(s, {s.op.inputs[1]: np.zeros((2, 3, 2))})


@pytest.mark.parametrize("shape", [(2, 50), (1, 40, 2)])
def test_audio_bytes(tf_real, shape):
    value = np.clip(RNG.normal(scale=0.6, size=shape), -1.2, 1.2).astype(np.float32)
    value.reshape(-1)[:4] = [0.5, -0.5, 1.0, -1.0]
    ours, theirs = _run_both(tf_real, lambda tf: [tf.summary.audio("snd", tf.constant(value), 8000.5)])
    assert ours == theirs


def test_text_and_tensor_summary_bytes(tf_real):
    def build(tf):
        return [tf.summary.text("notes", tf.constant("hello **world**")),
                tf.summary.text("table", tf.constant([["a", "b"], ["c", "d"]])),
                tf.summary.tensor_summary("t_f32", tf.constant([[1.0, 2.0], [3.0, 4.0]])),
                tf.summary.tensor_summary("t_i64", tf.constant(5, tf.int64), summary_description="five"),
                tf.summary.tensor_summary("t_bool", tf.constant([True, False]), display_name="flags"),
                tf.summary.tensor_summary("t_f16", tf.constant([0.5, 1.5], tf.float16))]
    ours, theirs = _run_both(tf_real, build)
    assert ours == theirs


def test_text_rejects_non_string():
    with pytest.raises(ValueError, match="dtype string"):
        deferflow.summary.text("x", deferflow.constant(1.0))


def test_merge_and_merge_all(tf_real):
    def build(tf):
        x = tf.placeholder(tf.float32, [None], name="x")
        tf.summary.scalar("mean", tf.reduce_mean(x))
        tf.summary.histogram("x", x)
        tf.summary.scalar("other", tf.reduce_max(x), collections=["mine"])
        tf.summary.text("t", tf.constant("note"))
        mine = tf.summary.merge_all("mine")
        merged = tf.summary.merge_all()
        explicit = tf.summary.merge([merged, mine], name="both")
        return [merged, mine, explicit]
    ours, theirs = _run_both(tf_real, build, lambda tf: {"x:0": [1.0, 2.0, 6.0]})
    assert ours == theirs
    assert ours[0][1][:2] == ("Merge/MergeSummary", "MergeSummary")
    assert deferflow.summary.merge_all() is None


def test_merge_duplicate_tag_raises(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            m = tf.summary.merge([tf.summary.scalar("a", 1.0), tf.summary.scalar("c", 2.0)])
            dup = tf.summary.merge([m, m])
            with tf.Session() as sess:
                sess.run(m)
                with pytest.raises(tf.errors.InvalidArgumentError, match="Duplicate tag a found"):
                    sess.run(dup)


def test_summaries_join_the_collections():
    x = deferflow.constant(1.0)
    s1 = deferflow.summary.scalar("a", x)
    s2 = deferflow.summary.scalar("b", x, collections=["custom", "other"])
    m = deferflow.summary.merge([s1, s2], collections=["merged"])
    assert deferflow.get_collection(deferflow.GraphKeys.SUMMARIES) == [s1]
    assert deferflow.get_collection("custom") == [s2] == deferflow.get_collection("other")
    assert deferflow.get_collection("merged") == [m]


def test_summary_ops_are_complete_registry_entries():
    for name in ("ScalarSummary", "HistogramSummary", "ImageSummary", "AudioSummaryV2", "TensorSummaryV2",
                 "MergeSummary"):
        od = op_registry.get(name)
        assert od.kernel_fn is not None and od.shape_fn is not None
        assert od.grad_fn is op_registry.NO_GRADIENT
