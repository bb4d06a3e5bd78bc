"""PNG decoding/encoding against TensorFlow (both directions), decode_image dispatch, JPEG's clear refusal."""
import struct
import zlib

import numpy as np
import pytest

import deferflow
from image_helpers import assert_same

_rng = np.random.RandomState(2)


def _smooth(h, w, c, dtype=np.uint8):
    """Gradients plus noise: libpng's adaptive filter choice then uses Sub/Up/Average/Paeth rows."""
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(yy * 7 + xx * 3 + k * 40) % 256 for k in range(c)], -1) * (top // 255)
    return np.clip(base + _rng.randint(0, 4, size=(h, w, c)), 0, top).astype(dtype)


def _run(tf, fn):
    with tf.Graph().as_default():
        out = fn(tf)
        with tf.Session() as sess:
            return sess.run(out)


_IMAGES = [(_smooth(9, 13, c, dt), dt) for c in (1, 2, 3, 4) for dt in (np.uint8, np.uint16)]


@pytest.mark.parametrize("img, dtype", _IMAGES, ids=[f"{i.shape[-1]}ch-{d.__name__}" for i, d in _IMAGES])
def test_decode_pngs_tensorflow_wrote(tf_real, img, dtype):
    encoded = [_run(tf_real, lambda tf: tf.image.encode_png(img, compression=level)) for level in (-1, 0, 9)]
    for data in encoded:
        def build(tf):
            return [tf.image.decode_png(data, channels=c, dtype=d) for c in (0, 1, 3, 4)
                    for d in (tf.uint8, tf.uint16)]
        assert_same(_run(deferflow, build), _run(tf_real, build))


@pytest.mark.parametrize("img, dtype", _IMAGES, ids=[f"{i.shape[-1]}ch-{d.__name__}" for i, d in _IMAGES])
def test_tensorflow_decodes_pngs_we_wrote(tf_real, img, dtype):
    data = _run(deferflow, lambda tf: [tf.image.encode_png(img), tf.image.encode_png(tf.constant(img), 9)])
    for d in data:
        assert isinstance(d, bytes) and d.startswith(b"\x89PNG")
        back = _run(tf_real, lambda tf: tf.image.decode_png(d, dtype=tf.as_dtype(dtype)))
        assert_same(back, img)


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width, height, depth, ctype, rows, extra=b"", filters=None):
    raw = b"".join(bytes([filters[i] if filters else 0]) + r for i, r in enumerate(rows))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0))
            + extra + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def test_palette_low_bit_depth_and_filtered_pngs(tf_real):
    """Files TF's encoder never writes: palette (with tRNS), 1/2/4-bit grey, hand-chosen row filters."""
    palette = bytes(_rng.randint(0, 256, size=48).astype(np.uint8))
    idx = _rng.randint(0, 16, size=(5, 6)).astype(np.uint8)
    rows4 = [bytes((r[0::2] << 4) | r[1::2]) for r in idx]
    files = [
        _png(6, 5, 4, 3, rows4, _chunk(b"PLTE", palette)),
        _png(6, 5, 4, 3, rows4, _chunk(b"PLTE", palette) + _chunk(b"tRNS", bytes([0, 128, 255, 7]))),
        _png(6, 5, 8, 3, [bytes(r) for r in idx], _chunk(b"PLTE", palette)),
        _png(10, 3, 1, 0, [bytes(np.packbits(_rng.randint(0, 2, 10)).tolist()) for _ in range(3)]),
        _png(7, 2, 2, 0, [bytes(np.packbits(np.unpackbits(_rng.randint(0, 256, 2).astype(np.uint8))[:14]).tolist())
                          for _ in range(2)]),
        _png(5, 5, 8, 2, [bytes(_rng.randint(0, 256, 15).astype(np.uint8)) for _ in range(5)],
             filters=[0, 1, 2, 3, 4]),
        _png(4, 5, 16, 6, [bytes(_rng.randint(0, 256, 32).astype(np.uint8)) for _ in range(5)],
             filters=[4, 3, 2, 1, 0]),
    ]
    for data in files:
        def build(tf):
            return [tf.image.decode_png(data, channels=c) for c in (0, 1, 3, 4)] + [tf.image.decode_image(data)]
        assert_same(_run(deferflow, build), _run(tf_real, build))


def test_decode_image_dispatch_and_dtypes(tf_real):
    img = _smooth(6, 5, 3)
    data = _run(tf_real, lambda tf: tf.image.encode_png(img))

    def build(tf):
        return [tf.image.decode_image(data), tf.image.decode_image(data, dtype=tf.float32),
                tf.image.decode_image(data, channels=4, dtype=tf.uint16),
                tf.image.decode_image(data, dtype=tf.float16, expand_animations=False),
                tf.image.decode_image(data, channels=1, expand_animations=False)]
    assert_same(_run(deferflow, build), _run(tf_real, build))
    shapes = []
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            shapes.append([None if t.shape.ndims is None else t.shape.as_list() for t in build(tf)])
    assert shapes[0] == shapes[1]


def test_unknown_format_and_bad_png_errors(tf_real):
    for tf in (deferflow, tf_real):
        with tf.Graph().as_default():
            s = tf.placeholder(tf.string, [])
            y, p = tf.image.decode_image(s), tf.image.decode_png(s)
            with tf.Session() as sess:
                with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
                    sess.run(y, {s: b"hello, not an image"})
                with pytest.raises(tf.errors.InvalidArgumentError):
                    sess.run(p, {s: b"\x89PNG\r\n\x1a\n" + b"\x00" * 30})


def test_jpeg_is_refused_clearly():
    jpeg_head = b"\xff\xd8\xff\xe0" + b"\x00" * 20
    with deferflow.Graph().as_default():
        s = deferflow.placeholder(deferflow.string, [])
        a, b = deferflow.image.decode_jpeg(s), deferflow.image.decode_image(s)
        assert a.op.type == "DecodeJpeg" and a.dtype == deferflow.uint8
        with deferflow.Session() as sess:
            for t, op in ((a, "DecodeJpeg"), (b, "DecodeImage")):
                with pytest.raises(deferflow.errors.UnimplementedError, match=f"{op}: JPEG decoding is not available"):
                    sess.run(t, {s: jpeg_head})


def test_png_round_trip_without_tensorflow():
    for c in (1, 2, 3, 4):
        for dt in (np.uint8, np.uint16):
            img = _smooth(4, 7, c, dt)
            with deferflow.Graph().as_default():
                back = deferflow.image.decode_png(deferflow.image.encode_png(img), dtype=deferflow.as_dtype(dt))
                assert back.shape.as_list() == [None, None, None]
                with deferflow.Session() as sess:
                    np.testing.assert_array_equal(sess.run(back), img)


@pytest.mark.parametrize("data, message", [
    (b"\x89PNG\r\n\x1a\n", "no IHDR chunk"),
    (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 1 << 30) + b"IHDR", "runs past the end"),
])
def test_malformed_pngs_are_invalid_argument_not_crashes(data, message):
    with deferflow.Graph().as_default():
        y = deferflow.image.decode_png(data)
        with deferflow.Session() as sess:
            with pytest.raises(deferflow.errors.InvalidArgumentError, match=message):
                sess.run(y)


def test_png_bomb_is_bounded():
    """IDAT inflating far past the declared size is rejected without inflating it all."""
    bomb = _png(2, 2, 8, 0, [b"\x00\x00"] * 2)
    big = zlib.compress(b"\x00" * (50 << 20))
    bomb = bomb.replace(_chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00\x00\x00")), _chunk(b"IDAT", big))
    with deferflow.Graph().as_default():
        y = deferflow.image.decode_png(bomb)
        with deferflow.Session() as sess:
            with pytest.raises(deferflow.errors.InvalidArgumentError, match="expected 6"):
                sess.run(y)
