"""Summary ops: each kernel returns a serialized ``Summary`` protobuf, byte for byte as TensorFlow's.

``ScalarSummary``, ``HistogramSummary`` (TF's default exponential buckets), ``ImageSummary`` (PNG
encoded here with NumPy and zlib, following libpng's choices so the bytes match), ``AudioSummaryV2``
(16-bit PCM WAV), ``TensorSummaryV2`` and ``MergeSummary``.
"""
import contextlib
import logging
import re
import struct
import sys
import zlib

import numpy as np

from deferflow.formats import protos
from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework.op_registry import AttrSpec
from deferflow.framework.ops import apply_op
from deferflow.ops.common import REAL, scalar_shape

define = op_registry.define


def _bad(msg):
    return errors.InvalidArgumentError(None, None, msg)


def _text(value):
    """A scalar string tensor's value as ``str`` (proto string fields hold text)."""
    v = value.item() if isinstance(value, np.ndarray) else value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _shape_str(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _out(summary):
    """Kernels return string scalars as 0-d object arrays."""
    out = np.empty((), dtype=object)
    out[()] = summary.SerializeToString()
    return out


def _check_scalar_tag(tag, what="tag"):
    if np.ndim(tag) != 0:
        raise _bad(f"{what} must be scalar, got shape {_shape_str(np.shape(tag))}")


# ---- ScalarSummary ------------------------------------------------------------------------
ScalarSummary = define("ScalarSummary", "tags: string, values: T", "summary: string", [f"T: {REAL}"])
ScalarSummary.shape(scalar_shape)
ScalarSummary.no_gradient()


@ScalarSummary.kernel
def _scalar_summary(tags, values):
    if np.ndim(tags) == 0 and np.ndim(values) == 0:  # the usual case, kept cheap for training loops
        return _out(protos.Summary(value=[protos.Summary.Value(tag=_text(tags), simple_value=np.float32(values))]))
    tags, values = np.asarray(tags, dtype=object), np.asarray(values)
    if tags.shape != values.shape:
        raise _bad(f"tags and values are not the same shape: {_shape_str(tags.shape)} != "
                   f"{_shape_str(values.shape)}")
    s = protos.Summary()
    for tag, v in zip(tags.reshape(-1).tolist(), values.astype(np.float32).reshape(-1).tolist()):
        s.value.add(tag=_text(tag), simple_value=v)
    return _out(s)


# ---- HistogramSummary ---------------------------------------------------------------------
def _default_bucket_limits():
    """TF's default histogram buckets: +-1e-12 growing by 10% up to 1e20, then +-DBL_MAX, and 0."""
    pos, v = [], 1.0e-12
    while v < 1.0e20:
        pos.append(v)
        v *= 1.1
    pos.append(sys.float_info.max)
    return np.array([-x for x in reversed(pos)] + [0.0] + pos)


_BUCKET_LIMITS = _default_bucket_limits()


def histogram_proto(values, limits=_BUCKET_LIMITS):
    """A ``HistogramProto`` of ``values`` as TF's Histogram builds and encodes it (empty runs of
    buckets collapsed into one, sums accumulated in order)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    h = protos.HistogramProto()
    if x.size:
        h.min, h.max, h.num = float(x.min()), float(x.max()), float(x.size)
        with np.errstate(over="ignore", invalid="ignore"):
            h.sum = float(np.cumsum(x)[-1])  # sequential, as TF adds one value at a time
            h.sum_squares = float(np.cumsum(x * x)[-1])
        counts = np.bincount(np.searchsorted(limits, x, side="right"), minlength=len(limits))
        counts = counts[:len(limits)].astype(np.float64)
        full = counts > 0
        # keep non-empty buckets and the last bucket of each run of empty ones
        keep = full | np.append(full[1:], True)
        h.bucket_limit.extend(limits[keep].tolist())
        h.bucket.extend(counts[keep].tolist())
    else:
        h.min, h.max = sys.float_info.max, -sys.float_info.max
        h.bucket_limit.append(sys.float_info.max)
        h.bucket.append(0.0)
    return h


HistogramSummary = define("HistogramSummary", "tag: string, values: T", "summary: string",
                          [f"T: {REAL} = float"])
HistogramSummary.shape(scalar_shape)
HistogramSummary.no_gradient()


@HistogramSummary.kernel
def _histogram_summary(tag, values):
    _check_scalar_tag(tag)
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise _bad(f"Nan in summary histogram for: {_text(tag)}")
    s = protos.Summary()
    s.value.add(tag=_text(tag), histo=histogram_proto(values))
    return _out(s)


# ---- PNG (as libpng writes it for TF: adaptive filters, Z_FILTERED, a window fitted to the data) --
def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _filtered_rows(img):
    """Each row run through libpng's five filters, choosing the smallest sum of |signed byte|."""
    h, w, c = img.shape
    raw = img.reshape(h, w * c).astype(np.int16)
    up = np.vstack([np.zeros((1, w * c), np.int16), raw[:-1]])
    left = np.hstack([np.zeros((h, c), np.int16), raw[:, :-c]])
    upleft = np.hstack([np.zeros((h, c), np.int16), up[:, :-c]])
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    cands = np.stack([raw, raw - left, raw - up, raw - (left + up) // 2, raw - paeth]) & 0xFF
    cost = np.where(cands < 128, cands, 256 - cands).sum(axis=2)
    best = np.argmin(cost, axis=0)  # the first of equal sums wins, as libpng prefers
    rows = cands[best, np.arange(h)].astype(np.uint8)
    return np.hstack([best.astype(np.uint8)[:, None], rows]).tobytes()


def encode_png(img):
    """PNG bytes of an ``[height, width, channels]`` uint8 image (1: gray, 3: RGB, 4: RGBA)."""
    h, w, c = img.shape
    data = _filtered_rows(img) if h and w else b"\0" * h
    wbits, half = 15, 1 << 14
    while len(data) <= 16384 and len(data) + 262 <= half:  # libpng shrinks the window for small images
        half >>= 1
        wbits -= 1
    z = zlib.compressobj(-1, zlib.DEFLATED, wbits, 8, zlib.Z_FILTERED)
    stream = bytearray(z.compress(data) + z.flush())
    if len(data) <= 16384 and stream[0] & 0x0F == 8 and stream[0] & 0xF0 <= 0x70:
        cinfo = stream[0] >> 4  # libpng rewrites the header to the smallest window that fits
        half = 1 << (cinfo + 7)
        if len(data) <= half:
            while True:
                half >>= 1
                cinfo -= 1
                if not (cinfo > 0 and len(data) <= half):
                    break
            stream[0] = (stream[0] & 0x0F) | (cinfo << 4)
            flg = stream[1] & 0xE0
            stream[1] = flg + 0x1F - ((stream[0] << 8) + flg) % 0x1F
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))]
    out += [_chunk(b"IDAT", bytes(stream[i:i + 8192])) for i in range(0, len(stream), 8192)]
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


def _to_uint8(image, bad_color):
    """TF's float image normalization: [0, max] -> [0, 255]; with negatives, 0 -> 128 and
    max |value| -> 127 away; pixels with a non-finite channel take ``bad_color``."""
    if image.dtype == np.uint8:
        return image
    t = image.dtype.type
    finite = np.isfinite(image).all(axis=-1)
    good = image[finite].astype(np.float32)
    lo = good.min() if good.size else np.float32(np.inf)
    hi = good.max() if good.size else np.float32(-np.inf)
    if lo < 0:
        top = max(abs(lo), abs(hi))
        scale, offset = (0.0 if top < 1e-6 else np.float32(127.0) / top), 128.0
    else:
        scale, offset = (0.0 if hi < 1e-6 else np.float32(255.0) / hi), 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        out = (image * t(np.float32(scale)) + t(offset)).astype(np.uint8)
    out[~finite] = bad_color[:image.shape[-1]]
    return out


ImageSummary = define("ImageSummary", "tag: string, tensor: T", "summary: string",
                      ["max_images: int >= 1 = 3", "T: {uint8, float, half, float64} = float"])
ImageSummary.attrs["bad_color"] = AttrSpec("bad_color", "tensor", np.array([255, 0, 0, 255], np.uint8))
ImageSummary.attrs = {k: ImageSummary.attrs[k] for k in ("max_images", "T", "bad_color")}
ImageSummary.shape(scalar_shape)
ImageSummary.no_gradient()


@ImageSummary.kernel
def _image_summary(tag, tensor, *, max_images, bad_color):
    _check_scalar_tag(tag)
    tensor = np.asarray(tensor)
    if tensor.ndim != 4 or tensor.shape[-1] not in (1, 3, 4):
        raise _bad(f"Tensor must be 4-D with last dim 1, 3, or 4, not {_shape_str(tensor.shape)}")
    bad_color = np.asarray(bad_color)
    if bad_color.ndim != 1 or bad_color.dtype != np.uint8:
        raise _bad(f"bad_color must be a 1-D uint8 tensor, got shape {_shape_str(bad_color.shape)}")
    if bad_color.size < tensor.shape[-1]:
        raise _bad(f"bad_color must have at least {tensor.shape[-1]} elements, got {bad_color.size}")
    base, s = _text(tag), protos.Summary()
    for i in range(min(tensor.shape[0], max_images)):
        img = _to_uint8(tensor[i], bad_color)
        v = s.value.add(tag=f"{base}/image" if max_images == 1 else f"{base}/image/{i}")
        v.image.height, v.image.width, v.image.colorspace = img.shape
        v.image.encoded_image_string = encode_png(img)
    return _out(s)


# ---- AudioSummaryV2 -----------------------------------------------------------------------
def encode_wav(audio, sample_rate):
    """16-bit little-endian PCM WAV of ``[frames, channels]`` floats in [-1, 1] (x 32768, clamped)."""
    frames, channels = audio.shape
    x = audio.astype(np.float32).astype(np.float64) * 32768.0
    x = np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5))  # roundf: halves away from zero
    pcm = np.clip(x, -32768, 32767).astype("<i2").tobytes()
    rate = int(sample_rate)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, channels,
                         rate, rate * channels * 2, channels * 2, 16, b"data", len(pcm))
    return header + pcm


AudioSummaryV2 = define("AudioSummaryV2", "tag: string, tensor: float, sample_rate: float", "summary: string",
                        ["max_outputs: int >= 1 = 3"])
AudioSummaryV2.shape(scalar_shape)
AudioSummaryV2.no_gradient()


@AudioSummaryV2.kernel
def _audio_summary(tag, tensor, sample_rate, *, max_outputs):
    _check_scalar_tag(tag)
    tensor = np.asarray(tensor)
    if tensor.ndim not in (2, 3):
        raise _bad(f"Tensor must be 3-D or 2-D, got: {_shape_str(tensor.shape)}")
    if np.ndim(sample_rate) != 0:
        raise _bad(f"sample_rate must be rank 0, got shape {_shape_str(np.shape(sample_rate))}")
    rate = float(sample_rate)
    if rate <= 0:
        raise _bad("sample_rate must be > 0")
    if tensor.ndim == 2:
        tensor = tensor[:, :, None]
    base, s = _text(tag), protos.Summary()
    for i in range(min(tensor.shape[0], max_outputs)):
        v = s.value.add(tag=f"{base}/audio" if max_outputs == 1 else f"{base}/audio/{i}")
        v.audio.sample_rate = rate
        v.audio.num_channels, v.audio.length_frames = tensor.shape[2], tensor.shape[1]
        v.audio.encoded_audio_string = encode_wav(tensor[i], rate)
        v.audio.content_type = "audio/wav"
    return _out(s)


# ---- TensorSummaryV2 ----------------------------------------------------------------------
def tensor_content_proto(value, dtype, target):
    """TF's ``AsProtoField`` for strings, ``AsProtoTensorContent`` (raw bytes) for the rest."""
    value = np.asarray(value)
    target.dtype = dtype.as_datatype_enum
    target.tensor_shape.SetInParent()
    for d in value.shape:
        target.tensor_shape.dim.add().size = d
    if dtype == dtypes.string:
        target.string_val.extend(x if isinstance(x, bytes) else str(x).encode()
                                 for x in value.reshape(-1).tolist())
    else:
        target.tensor_content = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
    return target


TensorSummaryV2 = define("TensorSummaryV2", "tag: string, tensor: T, serialized_summary_metadata: string",
                         "summary: string", ["T: type"])
TensorSummaryV2.shape(scalar_shape)
TensorSummaryV2.no_gradient()


@TensorSummaryV2.kernel
def _tensor_summary(tag, tensor, serialized_summary_metadata, *, T):
    _check_scalar_tag(tag)
    s = protos.Summary()
    v = s.value.add(tag=_text(tag))
    meta = np.asarray(serialized_summary_metadata, dtype=object).item()
    v.metadata.SetInParent()
    v.metadata.MergeFromString(meta if isinstance(meta, bytes) else str(meta).encode())
    tensor_content_proto(tensor, T, v.tensor)
    return _out(s)


# ---- MergeSummary -------------------------------------------------------------------------
MergeSummary = define("MergeSummary", "inputs: N * string", "summary: string", ["N: int >= 1"])
MergeSummary.shape(scalar_shape)
MergeSummary.no_gradient()


@MergeSummary.kernel
def _merge_summary(*inputs):
    merged, seen = protos.Summary(), set()
    for x in inputs:
        for item in np.asarray(x, dtype=object).reshape(-1).tolist():
            try:
                part = protos.Summary.FromString(item)
            except Exception:
                raise _bad("Could not parse one of the summary inputs") from None
            for v in part.value:
                if v.tag and v.tag in seen:
                    raise _bad(f"Duplicate tag {v.tag} found in summary inputs ")
                seen.add(v.tag)
            merged.value.extend(part.value)
    return _out(merged)



# ---- the tf.summary functions -------------------------------------------------------------
_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w.]")


def _clean_tag(name):
    """TF's tag cleaning: characters outside ``[-/\\w.]`` become ``_``; leading slashes go."""
    if name is None:
        return None
    new = _INVALID_TAG_CHARACTERS.sub("_", name).lstrip("/")
    if new != name:
        logging.getLogger("deferflow").info("Summary name %s is illegal; using %s instead.", name, new)
    return new


@contextlib.contextmanager
def _summary_scope(name, family=None, values=None):
    """Yields ``(tag, scope)``: the tag is the unique scope name, prefixed by ``family`` if given."""
    name, family = _clean_tag(name), _clean_tag(family)
    with ops.name_scope(name if family is None else f"{family}/{name}", None, values) as scope:
        tag = scope.rstrip("/")
        yield (tag if family is None else f"{family}/{tag}"), scope


def _collect(value, collections, default=(ops.GraphKeys.SUMMARIES,)):
    for key in default if collections is None else collections:
        ops.add_to_collection(key, value)


def scalar(name, tensor, collections=None, family=None):
    """``tf.summary.scalar``: a ``Summary`` string with one ``simple_value``."""
    with _summary_scope(name, family, [tensor]) as (tag, scope):
        out = apply_op("ScalarSummary", name=scope, tags=tag, values=tensor)
        _collect(out, collections)
    return out


def histogram(name, values, collections=None, family=None):
    """``tf.summary.histogram``: a ``Summary`` string holding a ``HistogramProto`` of ``values``."""
    with _summary_scope(name, family, [values]) as (tag, scope):
        out = apply_op("HistogramSummary", name=scope, tag=tag, values=values)
        _collect(out, collections)
    return out


def image(name, tensor, max_outputs=3, collections=None, family=None):
    """``tf.summary.image``: up to ``max_outputs`` PNG images from a ``[batch, h, w, 1|3|4]`` tensor."""
    with _summary_scope(name, family, [tensor]) as (tag, scope):
        out = apply_op("ImageSummary", name=scope, tag=tag, tensor=tensor, max_images=max_outputs)
        _collect(out, collections)
    return out


def audio(name, tensor, sample_rate, max_outputs=3, collections=None, family=None):
    """``tf.summary.audio``: up to ``max_outputs`` WAV clips from ``[batch, frames(, channels)]`` floats."""
    with _summary_scope(name, family, [tensor]) as (tag, scope):
        rate = ops.convert_to_tensor(sample_rate, dtype=dtypes.float32, name="sample_rate")
        out = apply_op("AudioSummaryV2", name=scope, tag=tag, tensor=tensor, sample_rate=rate,
                       max_outputs=max_outputs)
        _collect(out, collections)
    return out


def tensor_summary(name, tensor, summary_description=None, collections=None, summary_metadata=None, family=None,
                   display_name=None):
    """``tf.summary.tensor_summary``: a ``Summary`` string holding the whole tensor."""
    meta = protos.SummaryMetadata() if summary_metadata is None else _as_summary_metadata(summary_metadata)
    if summary_description is not None:
        meta.summary_description = summary_description
    if display_name is not None:
        meta.display_name = display_name
    with _summary_scope(name, family, [tensor]) as (tag, scope):
        out = apply_op("TensorSummaryV2", name=scope, tag=tag, tensor=tensor,
                       serialized_summary_metadata=meta.SerializeToString())
        _collect(out, collections)
    return out


def _as_summary_metadata(m):
    if isinstance(m, protos.SummaryMetadata):
        out = protos.SummaryMetadata()
        out.CopyFrom(m)
        return out
    return protos.SummaryMetadata.FromString(m if isinstance(m, bytes) else m.SerializeToString())


def text(name, tensor, collections=None):
    """``tf.summary.text``: a string tensor for TensorBoard's text dashboard."""
    tensor = ops.convert_to_tensor(tensor)
    if tensor.dtype != dtypes.string:
        raise ValueError("Expected tensor %s to have dtype string, got %s" % (tensor.name, tensor.dtype))
    meta = protos.SummaryMetadata()
    meta.plugin_data.plugin_name = "text"
    return tensor_summary(name=name, tensor=tensor, summary_metadata=meta, collections=collections)


def merge(inputs, collections=None, name=None):
    """``tf.summary.merge``: one ``Summary`` string holding the values of all ``inputs``."""
    inputs = list(inputs)
    with ops.name_scope(name, "Merge", inputs):
        out = apply_op("MergeSummary", name=name, inputs=inputs)
    _collect(out, collections, default=())
    return out


def merge_all(key=ops.GraphKeys.SUMMARIES, scope=None, name=None):
    """``tf.summary.merge_all``: merges the summaries in collection ``key``; None if there are none."""
    summaries = ops.get_collection(key, scope=scope)
    return merge(summaries, name=name) if summaries else None


def get_summary_description(node_def):
    """The ``SummaryDescription`` of a ``TensorSummary`` node (TF's helper)."""
    if node_def.op != "TensorSummary":
        raise ValueError(f"Can't get_summary_description on {node_def.op}")
    from google.protobuf import json_format
    raw = node_def.attr["description"].s
    return json_format.Parse(raw.decode() if isinstance(raw, bytes) else raw, protos.SummaryDescription())
