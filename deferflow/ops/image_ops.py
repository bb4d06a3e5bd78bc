"""Image ops (``tf.image``): resizing with TF's exact sampling, colour kernels, PNG coding, and the
TF1 Python compositions (cropping, padding, flipping, colour adjustment) built from basic ops."""
import struct
import zlib

import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops import array_ops, control_flow_ops, logging_ops, math_ops, random_ops
from deferflow.ops.common import constant_value, lookup_error_gradient, shape_from_tensor

define = op_registry.define
_f32 = np.float32

_RESIZE_T = "T: {int8, uint8, int16, uint16, int32, int64, bfloat16, half, float, double}"
_RESIZE_ATTRS = [_RESIZE_T, "align_corners: bool = false", "half_pixel_centers: bool = false"]


def _invalid(msg):
    return errors.InvalidArgumentError(None, None, msg)


def _shape_str(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


# ---- resize: shapes and sampling positions --------------------------------------------------
def _resize_shape(op):
    x = op._inputs[0].shape
    if x.ndims is not None and x.ndims != 4:
        raise ValueError(f"Shape must be rank 4 but is rank {x.ndims} for '{op.name}' (op: '{op.type}') "
                         f"with input shapes: {x}, {op._inputs[1].shape}.")
    size = op._inputs[1].shape
    if size.ndims is not None and size.ndims != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {size.ndims} for '{op.name}' (op: '{op.type}') "
                         f"with input shapes: {x}, {size}.")
    if size.ndims == 1 and size[0].value not in (None, 2):
        raise ValueError(f"Dimension must be 2 but is {size[0].value} for '{op.name}' (op: '{op.type}') "
                         f"with input shapes: {x}, {size}.")
    hw = shape_from_tensor(op._inputs[1]) if size.ndims == 1 else ts.unknown_shape(2)
    if hw.ndims != 2:
        hw = ts.unknown_shape(2)
    batch, chan = (x[0].value, x[3].value) if x.ndims == 4 else (None, None)
    return [ts.TensorShape([batch, hw[0].value, hw[1].value, chan])]


def _validate_resize(images, size, align_corners, half_pixel_centers=False):
    """TF's ImageResizerState checks; returns (out_h, out_w)."""
    if half_pixel_centers and align_corners:
        raise _invalid("If half_pixel_centers is True, align_corners must be False.")
    if images.ndim != 4:
        raise _invalid(f"input must be 4-dimensional{_shape_str(images.shape)}")
    if np.ndim(size) != 1:
        raise _invalid(f"shape_t must be 1-dimensional{_shape_str(np.shape(size))}")
    if np.size(size) != 2:
        raise _invalid(f"shape_t must have two elements{_shape_str(np.shape(size))}")
    out_h, out_w = int(size[0]), int(size[1])
    if out_h <= 0 or out_w <= 0:
        raise _invalid("output dimensions must be positive")
    if images.shape[3] <= 0:
        raise _invalid("image must have at least one channel")
    if images.shape[1] <= 0 or images.shape[2] <= 0:
        raise _invalid("input image must be of non-zero size")
    return out_h, out_w


def _scale(in_size, out_size, align_corners):
    if align_corners and out_size > 1:
        return _f32(in_size - 1) / _f32(out_size - 1)
    return _f32(in_size) / _f32(out_size)


def _source_coords(in_size, out_size, align_corners, half_pixel, minus_half=True):
    """Float32 source positions of the output samples (TF's legacy or half-pixel scaler)."""
    scale = _scale(in_size, out_size, align_corners)
    i = np.arange(out_size, dtype=_f32)
    if half_pixel:
        return (i + _f32(0.5)) * scale - _f32(0.5) if minus_half else (i + _f32(0.5)) * scale
    return i * scale


def _linear_taps(in_size, out_size, align_corners, half_pixel):
    src = _source_coords(in_size, out_size, align_corners, half_pixel)
    fl = np.floor(src)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    lower = np.minimum(np.maximum(fl.astype(np.int64), 0), upper)
    return lower, upper, (src - fl).astype(_f32)


def _nearest_index(in_size, out_size, align_corners, half_pixel):
    src = _source_coords(in_size, out_size, align_corners, half_pixel, minus_half=False)
    if align_corners:
        fl = np.floor(src)
        idx = fl + (src - fl >= _f32(0.5))  # roundf: halves away from zero (src >= 0)
    else:
        idx = np.floor(src)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0) if half_pixel else idx


def _cubic_table(a):
    """TF's 1025-entry cubic convolution coefficient table (computed in double, stored as float)."""
    x = (np.arange(1025, dtype=np.float64) / 1024).astype(_f32).astype(np.float64)
    near = (((a + 2) * x - (a + 3)) * x * x + 1).astype(_f32)
    x1 = (x + 1.0).astype(_f32).astype(np.float64)
    far = (((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a).astype(_f32)
    return near, far


_CUBIC_TABLES = {}


def _cubic_taps(in_size, out_size, align_corners, half_pixel):
    """Four (index, weight) taps per output sample, as TF's GetWeightsAndIndices."""
    keys = bool(half_pixel)  # Keys' a=-0.5 with renormalized borders; legacy a=-0.75
    if keys not in _CUBIC_TABLES:
        _CUBIC_TABLES[keys] = _cubic_table(-0.5 if keys else -0.75)
    near, far = _CUBIC_TABLES[keys]
    src = _source_coords(in_size, out_size, align_corners, half_pixel)
    loc = np.floor(src).astype(np.int64)
    delta = (src - loc.astype(_f32)).astype(_f32)
    off = np.rint(delta * _f32(1024)).astype(np.int64)
    wanted = [loc - 1, loc, loc + 1, loc + 2]
    idx = [np.clip(w, 0, in_size - 1) for w in wanted]
    ws = [far[off], near[off], near[1024 - off], far[1024 - off]]
    if keys:
        ws = [np.where(i == w, wt, _f32(0)) for i, w, wt in zip(idx, wanted, ws)]
        total = ws[0] + ws[1] + ws[2] + ws[3]
        ok = np.abs(total) >= _f32(1000) * np.finfo(_f32).tiny
        inv = np.where(ok, _f32(1) / np.where(ok, total, _f32(1)), _f32(1))
        ws = [np.where(ok, w * inv, w) for w in ws]
    return idx, [w.astype(_f32) for w in ws]


def _area_taps(in_size, out_size, align_corners):
    """Per output sample: up to K (index, weight) pairs covering its footprint, zero-weighted padding."""
    scale = _scale(in_size, out_size, align_corners)
    i = np.arange(out_size, dtype=_f32)
    lo, hi = i * scale, (i + _f32(1)) * scale
    start, end = np.floor(lo).astype(np.int64), np.ceil(hi).astype(np.int64)
    k_max = int((end - start).max())
    taps = []
    for k in range(k_max):
        v = start + k
        vf = v.astype(_f32)
        w = np.where(vf < lo, np.where(vf + 1 > hi, scale, vf + 1 - lo), np.where(vf + 1 > hi, hi - vf, _f32(1)))
        w = np.where(v < end, w, _f32(0)).astype(_f32)
        taps.append((np.clip(v, 0, in_size - 1), w))
    return taps, scale


# ---- resize kernels ------------------------------------------------------------------------
def _as_f32(x):
    return np.asarray(x).astype(_f32, copy=False)


def _bilinear(images, size, *, align_corners, half_pixel_centers):
    out_h, out_w = _validate_resize(images, size, align_corners, half_pixel_centers)
    _, h, w, _ = images.shape
    img = _as_f32(images)
    y0, y1, yl = _linear_taps(h, out_h, align_corners, half_pixel_centers)
    x0, x1, xl = _linear_taps(w, out_w, align_corners, half_pixel_centers)
    yl, xl = yl[None, :, None, None], xl[None, None, :, None]
    top_rows, bot_rows = img[:, y0], img[:, y1]
    top = top_rows[:, :, x0] + (top_rows[:, :, x1] - top_rows[:, :, x0]) * xl
    bot = bot_rows[:, :, x0] + (bot_rows[:, :, x1] - bot_rows[:, :, x0]) * xl
    return (top + (bot - top) * yl).astype(_f32, copy=False)


def _nearest(images, size, *, align_corners, half_pixel_centers):
    out_h, out_w = _validate_resize(images, size, align_corners, half_pixel_centers)
    _, h, w, _ = images.shape
    ys = _nearest_index(h, out_h, align_corners, half_pixel_centers)
    xs = _nearest_index(w, out_w, align_corners, half_pixel_centers)
    return np.ascontiguousarray(images[:, ys][:, :, xs])


def _bicubic(images, size, *, align_corners, half_pixel_centers):
    out_h, out_w = _validate_resize(images, size, align_corners, half_pixel_centers)
    _, h, w, _ = images.shape
    img = _as_f32(images)
    yi, yw = _cubic_taps(h, out_h, align_corners, half_pixel_centers)
    xi, xw = _cubic_taps(w, out_w, align_corners, half_pixel_centers)
    col = None
    for i, wt in zip(yi, yw):  # along y first, then x, in TF's order of additions
        term = img[:, i] * wt[None, :, None, None]
        col = term if col is None else col + term
    out = None
    for i, wt in zip(xi, xw):
        term = col[:, :, i] * wt[None, None, :, None]
        out = term if out is None else out + term
    return out.astype(_f32, copy=False)


def _area(images, size, *, align_corners):
    out_h, out_w = _validate_resize(images, size, align_corners)
    _, h, w, _ = images.shape
    ytaps, ys = _area_taps(h, out_h, align_corners)
    xtaps, xs = _area_taps(w, out_w, align_corners)
    total = None
    for yi, yw in ytaps:
        rows = images[:, yi]
        row_sum = None
        for xi, xw in xtaps:
            term = rows[:, :, xi].astype(_f32) * xw[None, None, :, None]
            row_sum = term if row_sum is None else row_sum + term
        term = row_sum * yw[None, :, None, None]
        total = term if total is None else total + term
    return (total * (_f32(1) / (ys * xs))).astype(_f32, copy=False)


# ---- resize gradients: each output gradient spread back over its taps, products as TF rounds them -----
def _check_grad_inputs(grads, original, align_corners, half_pixel_centers):
    if half_pixel_centers and align_corners:
        raise _invalid("If half_pixel_centers is True, align_corners must be False.")
    if grads.ndim != 4:
        raise _invalid(f"input_grad must be 4-dimensional{_shape_str(grads.shape)}")
    if original.ndim != 4:
        raise _invalid(f"original_image must be 4-dimensional{_shape_str(original.shape)}")
    if grads.shape[0] != original.shape[0] or grads.shape[3] != original.shape[3]:
        raise _invalid("original_image and input_grad must have the same batch size and channels")


def _spread(out, grads, y_taps, x_taps, dtype):
    """out[:, yi, xi] += (g * wy) * wx for every pair of (index, weight) taps, products in ``dtype``."""
    g = grads.astype(dtype, copy=False)
    for yi, wy in y_taps:
        gy = g * wy.astype(dtype)[None, :, None, None]
        for xi, wx in x_taps:
            np.add.at(out, (slice(None), yi[:, None], xi[None, :]), gy * wx.astype(dtype)[None, None, :, None])
    return out


def _bilinear_grad(grads, original, *, align_corners, half_pixel_centers):
    _check_grad_inputs(grads, original, align_corners, half_pixel_centers)
    b, h, w, c = original.shape
    y0, y1, yl = _linear_taps(h, grads.shape[1], align_corners, half_pixel_centers)
    x0, x1, xl = _linear_taps(w, grads.shape[2], align_corners, half_pixel_centers)
    one = _f32(1)
    out = np.zeros(original.shape, dtype=original.dtype)
    return _spread(out, _as_f32(grads), [(y0, one - yl), (y1, yl)], [(x0, one - xl), (x1, xl)], _f32)


def _bicubic_grad(grads, original, *, align_corners, half_pixel_centers):
    _check_grad_inputs(grads, original, align_corners, half_pixel_centers)
    b, h, w, c = original.shape
    yi, yw = _cubic_taps(h, grads.shape[1], align_corners, half_pixel_centers)
    xi, xw = _cubic_taps(w, grads.shape[2], align_corners, half_pixel_centers)
    out = np.zeros(original.shape, dtype=original.dtype)
    return _spread(out, _as_f32(grads), list(zip(yi, yw)), list(zip(xi, xw)), original.dtype)


def _grad_like_original_shape(op):
    g, orig = op._inputs[0].shape, op._inputs[1].shape
    if g.ndims is not None and g.ndims != 4 or orig.ndims is not None and orig.ndims != 4:
        raise ValueError(f"Shape must be rank 4 for '{op.name}' (op: '{op.type}') with input shapes: {g}, {orig}.")
    return [orig]


ResizeBilinear = define("ResizeBilinear", "images: T, size: int32", "resized_images: float", _RESIZE_ATTRS)
ResizeBilinear.shape(_resize_shape)
ResizeBilinear.kernel(_bilinear)


@ResizeBilinear.grad
def _resize_bilinear_grad(op, grad):
    return [apply_op("ResizeBilinearGrad", grads=grad, original_image=op._inputs[0],
                     align_corners=op._attrs["align_corners"],
                     half_pixel_centers=op._attrs["half_pixel_centers"]), None]


ResizeBilinearGrad = define("ResizeBilinearGrad", "grads: float, original_image: T", "output: T",
                            ["T: {float, bfloat16, half, double}", "align_corners: bool = false",
                             "half_pixel_centers: bool = false"])
ResizeBilinearGrad.shape(_grad_like_original_shape)
ResizeBilinearGrad.kernel(_bilinear_grad)
ResizeBilinearGrad.no_gradient()

ResizeBicubic = define("ResizeBicubic", "images: T, size: int32", "resized_images: float", _RESIZE_ATTRS)
ResizeBicubic.shape(_resize_shape)
ResizeBicubic.kernel(_bicubic)


@ResizeBicubic.grad
def _resize_bicubic_grad(op, grad):
    if op._inputs[0].dtype.base_dtype not in (dtypes.float32, dtypes.float64):
        return [None, None]
    return [apply_op("ResizeBicubicGrad", grads=grad, original_image=op._inputs[0],
                     align_corners=op._attrs["align_corners"],
                     half_pixel_centers=op._attrs["half_pixel_centers"]), None]


ResizeBicubicGrad = define("ResizeBicubicGrad", "grads: float, original_image: T", "output: T",
                           ["T: {float, double}", "align_corners: bool = false", "half_pixel_centers: bool = false"])
ResizeBicubicGrad.shape(_grad_like_original_shape)
ResizeBicubicGrad.kernel(_bicubic_grad)
lookup_error_gradient(ResizeBicubicGrad)

ResizeNearestNeighbor = define("ResizeNearestNeighbor", "images: T, size: int32", "resized_images: T",
                               _RESIZE_ATTRS)
ResizeNearestNeighbor.shape(_resize_shape)
ResizeNearestNeighbor.kernel(_nearest)


@ResizeNearestNeighbor.grad
def _resize_nearest_neighbor_grad(op, grad):
    image = op._inputs[0]
    if image.shape.ndims is not None and image.shape[1:3].is_fully_defined():
        size = image.shape[1:3].as_list()
    else:
        size = array_ops.strided_slice(array_ops.shape(image), [1], [3], [1])
    return [apply_op("ResizeNearestNeighborGrad", grads=grad, size=size, align_corners=op._attrs["align_corners"],
                     half_pixel_centers=op._attrs["half_pixel_centers"]), None]


ResizeNearestNeighborGrad = define("ResizeNearestNeighborGrad", "grads: T, size: int32", "output: T",
                                   ["T: {uint8, int8, int32, half, float, double, bfloat16}",
                                    "align_corners: bool = false", "half_pixel_centers: bool = false"])
ResizeNearestNeighborGrad.shape(_resize_shape)


@ResizeNearestNeighborGrad.kernel
def _nearest_grad(grads, size, *, align_corners, half_pixel_centers):
    if half_pixel_centers and align_corners:
        raise _invalid("If half_pixel_centers is True, align_corners must be False.")
    if grads.ndim != 4:
        raise _invalid(f"input must be 4-dimensional{_shape_str(grads.shape)}")
    if np.ndim(size) != 1 or np.size(size) != 2:
        raise _invalid(f"shape_t must be 1-dimensional and have two elements{_shape_str(np.shape(size))}")
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise _invalid("output dimensions must be positive")
    b, gh, gw, c = grads.shape
    ys = _nearest_index(h, gh, align_corners, half_pixel_centers)
    xs = _nearest_index(w, gw, align_corners, half_pixel_centers)
    rows = np.zeros((b, h, gw, c), dtype=grads.dtype)
    np.add.at(rows, (slice(None), ys), grads)
    out = np.zeros((b, h, w, c), dtype=grads.dtype)
    np.add.at(out, (slice(None), slice(None), xs), rows)
    return out


lookup_error_gradient(ResizeNearestNeighborGrad)

ResizeArea = define("ResizeArea", "images: T, size: int32", "resized_images: float",
                    [_RESIZE_T, "align_corners: bool = false"])
ResizeArea.shape(_resize_shape)
ResizeArea.kernel(_area)
lookup_error_gradient(ResizeArea)


def resize_bilinear(images, size, align_corners=False, name=None, half_pixel_centers=False):
    """``tf.image.resize_bilinear``: the ``ResizeBilinear`` op (float32 output)."""
    return apply_op("ResizeBilinear", name=name, images=images, size=_size(size), align_corners=align_corners,
                    half_pixel_centers=half_pixel_centers)


def resize_nearest_neighbor(images, size, align_corners=False, name=None, half_pixel_centers=False):
    """``tf.image.resize_nearest_neighbor``: the ``ResizeNearestNeighbor`` op (input dtype kept)."""
    return apply_op("ResizeNearestNeighbor", name=name, images=images, size=_size(size),
                    align_corners=align_corners, half_pixel_centers=half_pixel_centers)


def resize_bicubic(images, size, align_corners=False, name=None, half_pixel_centers=False):
    """``tf.image.resize_bicubic``: the ``ResizeBicubic`` op (float32 output)."""
    return apply_op("ResizeBicubic", name=name, images=images, size=_size(size), align_corners=align_corners,
                    half_pixel_centers=half_pixel_centers)


def resize_area(images, size, align_corners=False, name=None):
    """``tf.image.resize_area``: the ``ResizeArea`` op (float32 output)."""
    return apply_op("ResizeArea", name=name, images=images, size=_size(size), align_corners=align_corners)


def _size(size):
    return size if isinstance(size, ops.Tensor) else convert_to_tensor(size, dtype=dtypes.int32)


# ---- the TF1 Python API: shape checks ------------------------------------------------------
def _is_tensor(x):
    return isinstance(x, ops.Tensor) or hasattr(x, "_as_graph_element")


def _assert(cond, ex_type, msg):
    """A runtime Assert for a tensor condition; a Python condition is checked now."""
    if _is_tensor(cond):
        return [logging_ops.Assert_(cond, [msg])]
    if not cond:
        raise ex_type(msg)
    return []


def _image_dimensions(image, rank):
    """Static dims where known, else scalar tensors from the dynamic shape."""
    if image.shape.is_fully_defined():
        return image.shape.as_list()
    static = image.shape.with_rank(rank).as_list()
    dynamic = array_ops.unstack(array_ops.shape(image), rank)
    return [s if s is not None else d for s, d in zip(static, dynamic)]


def _check_at_least_3d(image, require_static=True):
    try:
        shape = image.shape.with_rank(3) if image.shape.ndims is None else image.shape.with_rank_at_least(3)
    except ValueError:
        raise ValueError(f"'image' (shape {image.shape}) must be at least three-dimensional.") from None
    if require_static and not shape.is_fully_defined():
        raise ValueError("'image' must be fully defined.")
    if any(d.value == 0 for d in shape[-3:]):
        raise ValueError(f"inner 3 dims of 'image.shape' must be > 0: {shape}")
    if not shape[-3:].is_fully_defined():
        inner = array_ops.strided_slice(array_ops.shape(image), [-3], [0], [1], end_mask=1)
        return [logging_ops.assert_positive(inner, ["inner 3 dims of 'image.shape' must be > 0."]),
                logging_ops.assert_greater_equal(array_ops.rank(image), 3,
                                                 message="'image' must be at least three-dimensional.")]
    return []


def _assert_at_least_3d(image):
    return control_flow_ops.with_dependencies(_check_at_least_3d(image, require_static=False), image)


def _check_grayscale(image, require_static=True):
    try:
        shape = image.shape.with_rank(2) if image.shape.ndims is None else image.shape.with_rank_at_least(2)
    except ValueError:
        raise ValueError(f"A grayscale image (shape {image.shape}) must be at least two-dimensional.") from None
    if require_static and not shape.is_fully_defined():
        raise ValueError("'image' must be fully defined.")
    if shape.is_fully_defined() and shape[-1].value != 1:
        raise ValueError("Last dimension of a grayscale image should be size 1.")
    if not shape.is_fully_defined():
        last = array_ops.shape(image)[-1]
        return [logging_ops.assert_equal(last, 1, message="Last dimension of a grayscale image should be size 1."),
                logging_ops.assert_greater_equal(array_ops.rank(image), 3,
                                                 message="A grayscale image must be at least two-dimensional.")]
    return []


def _fix_flip_shape(image, result):
    shape = image.shape
    result.set_shape([None, None, None] if shape.ndims is None else shape)
    return result


def _batched(image):
    """(4-D image, is_batch): a 3-D image (or one of unknown rank) gets a batch dimension."""
    image = convert_to_tensor(image, name="image")
    nd = image.shape.ndims
    if nd == 3:
        return array_ops.expand_dims(image, 0), False
    if nd is None:
        image = array_ops.expand_dims(image, 0)
        image.set_shape([None] * 4)
        return image, False
    if nd != 4:
        raise ValueError(f"'image' (shape {image.shape}) must have either 3 or 4 dimensions.")
    return image, True


def _unbatched(image, is_batch):
    return image if is_batch else array_ops.squeeze(image, axis=[0])


# ---- flips, rotations, transposes ----------------------------------------------------------
def _by_rank(image, f3, f4, bad_msg):
    shape = image.shape
    if shape.ndims is None:
        return control_flow_ops.cond(math_ops.equal(array_ops.rank(image), 3), f3, f4)
    if shape.ndims == 3:
        return f3()
    if shape.ndims == 4:
        return f4()
    raise ValueError(bad_msg % shape)


def _flip(image, axis, scope_name):
    with ops.name_scope(None, scope_name, [image]):
        image = _assert_at_least_3d(convert_to_tensor(image, name="image"))
        return _by_rank(image, lambda: _fix_flip_shape(image, array_ops.reverse(image, [axis])),
                        lambda: array_ops.reverse(image, [axis + 1]),
                        "'image' (shape %s)must have either 3 or 4 dimensions.")


def flip_left_right(image):
    """``tf.image.flip_left_right``: reverses the width axis of a 3-D or 4-D image."""
    return _flip(image, 1, "flip_left_right")


def flip_up_down(image):
    """``tf.image.flip_up_down``: reverses the height axis of a 3-D or 4-D image."""
    return _flip(image, 0, "flip_up_down")


def _random_flip(image, axis, seed, scope_name):
    with ops.name_scope(None, scope_name, [image]) as scope:
        image = _assert_at_least_3d(convert_to_tensor(image, name="image"))

        def f3():
            coin = random_ops.random_uniform([], 0, 1.0, seed=seed)
            result = control_flow_ops.cond(math_ops.less(coin, 0.5), lambda: array_ops.reverse(image, [axis]),
                                           lambda: image, name=scope)
            return _fix_flip_shape(image, result)

        def f4():
            batch = array_ops.shape(image)[0]
            coin = random_ops.random_uniform(array_ops.stack([batch]), 0, 1.0, seed=seed)
            flips = math_ops.round(array_ops.reshape(coin, array_ops.stack([batch, 1, 1, 1])))
            flips = math_ops.cast(flips, image.dtype)
            flipped = array_ops.reverse(image, [axis + 1])
            return flips * flipped + (1 - flips) * image
        return _by_rank(image, f3, f4, "'image' (shape %s) must have either 3 or 4 dimensions.")


def random_flip_left_right(image, seed=None):
    """``tf.image.random_flip_left_right``: each image flipped horizontally with probability 1/2."""
    return _random_flip(image, 1, seed, "random_flip_left_right")


def random_flip_up_down(image, seed=None):
    """``tf.image.random_flip_up_down``: each image flipped vertically with probability 1/2."""
    return _random_flip(image, 0, seed, "random_flip_up_down")


def rot90(image, k=1, name=None):
    """``tf.image.rot90``: rotates counter-clockwise by ``k`` quarter turns."""
    with ops.name_scope(name, "rot90", [image, k]) as scope:
        image = _assert_at_least_3d(convert_to_tensor(image, name="image"))
        k = convert_to_tensor(k, dtype=dtypes.int32, name="k")
        k.shape.assert_has_rank(0)
        k = math_ops.mod(k, 4)

        def rotations(img, h, perm):
            return [(math_ops.equal(k, 1), lambda: array_ops.transpose(array_ops.reverse(img, [h + 1]), perm)),
                    (math_ops.equal(k, 2), lambda: array_ops.reverse(img, [h, h + 1])),
                    (math_ops.equal(k, 3), lambda: array_ops.reverse(array_ops.transpose(img, perm), [h + 1]))]

        def f3():
            out = control_flow_ops.case(rotations(image, 0, [1, 0, 2]), default=lambda: image, exclusive=True,
                                        name=scope)
            out.set_shape([None, None, image.shape[2] if image.shape.ndims == 3 else None])
            return out

        def f4():
            out = control_flow_ops.case(rotations(image, 1, [0, 2, 1, 3]), default=lambda: image, exclusive=True,
                                        name=scope)
            s = out.shape
            out.set_shape([s[0], None, None, s[3]] if s.ndims == 4 else [None] * 4)
            return out
        return _by_rank(image, f3, f4, "'image' (shape %s) must have either 3 or 4 dimensions.")


def transpose(image, name=None):
    """``tf.image.transpose`` / ``transpose_image``: swaps height and width."""
    with ops.name_scope(name, "transpose", [image]):
        image = _assert_at_least_3d(convert_to_tensor(image, name="image"))
        return _by_rank(image, lambda: array_ops.transpose(image, [1, 0, 2], name=name),
                        lambda: array_ops.transpose(image, [0, 2, 1, 3], name=name),
                        "'image' (shape %s) must have either 3 or 4 dimensions.")


transpose_image = transpose


# ---- crops and pads ------------------------------------------------------------------------
def _static_or_none(x):
    return None if _is_tensor(x) else x


def central_crop(image, central_fraction):
    """``tf.image.central_crop``: keeps the central ``central_fraction`` of height and width."""
    with ops.name_scope(None, "central_crop", [image]):
        image = convert_to_tensor(image, name="image")
        frac_static = constant_value(central_fraction) if _is_tensor(central_fraction) else central_fraction
        if frac_static is not None:  # a constant tensor's value keeps its float32 arithmetic below, as in TF
            if frac_static <= 0.0 or frac_static > 1.0:
                raise ValueError("central_fraction must be within (0, 1]")
            if frac_static == 1.0:
                return image
        else:
            asserts = _assert(math_ops.logical_or(central_fraction > 0.0, central_fraction <= 1.0), ValueError,
                              "central_fraction must be within (0, 1]")
            image = control_flow_ops.with_dependencies(asserts, image)
        _assert_at_least_3d(image)
        rank = image.shape.ndims
        if rank != 3 and rank != 4:
            raise ValueError(f"`image` should either be a Tensor with rank = 3 or rank = 4. Had rank = {rank}.")

        def dim(idx):
            v = image.shape[idx].value
            return (v, False) if v is not None else (array_ops.shape(image)[idx], True)
        off = 0 if rank == 3 else 1
        img_h, dyn_h = dim(off)
        img_w, dyn_w = dim(off + 1)
        depth = image.shape[off + 2]

        def start(size, dynamic):
            if dynamic or frac_static is None:
                sd = math_ops.cast(size, dtypes.float64)
                return math_ops.cast((sd - sd * math_ops.cast(central_fraction, dtypes.float64)) / 2, dtypes.int32)
            return int((float(size) - float(size) * frac_static) / 2)
        dyn_h, dyn_w = dyn_h or frac_static is None, dyn_w or frac_static is None
        h0, w0 = start(img_h, dyn_h), start(img_w, dyn_w)
        h_size, w_size = img_h - h0 * 2, img_w - w0 * 2
        if rank == 3:
            begin, size = array_ops.stack([h0, w0, 0]), array_ops.stack([h_size, w_size, -1])
        else:
            begin, size = array_ops.stack([0, h0, w0, 0]), array_ops.stack([-1, h_size, w_size, -1])
        out = array_ops.slice_(image, begin, size)
        hw = [None if dyn_h else h_size, None if dyn_w else w_size]
        out.set_shape(hw + [depth] if rank == 3 else [image.shape[0]] + hw + [depth])
        return out


def pad_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """``tf.image.pad_to_bounding_box``: zero-pads to the target size with the image at the offset."""
    with ops.name_scope(None, "pad_to_bounding_box", [image]):
        image, is_batch = _batched(image)
        batch, height, width, depth = _image_dimensions(image, rank=4)
        after_w = target_width - offset_width - width
        after_h = target_height - offset_height - height
        asserts = _check_at_least_3d(image, require_static=False)
        asserts += _assert(offset_height >= 0, ValueError, "offset_height must be >= 0")
        asserts += _assert(offset_width >= 0, ValueError, "offset_width must be >= 0")
        asserts += _assert(after_w >= 0, ValueError, "width must be <= target - offset")
        asserts += _assert(after_h >= 0, ValueError, "height must be <= target - offset")
        image = control_flow_ops.with_dependencies(asserts, image)
        paddings = array_ops.reshape(array_ops.stack([0, 0, offset_height, after_h, offset_width, after_w, 0, 0]),
                                     [4, 2])
        padded = array_ops.pad(image, paddings)
        padded.set_shape([_static_or_none(d) for d in (batch, target_height, target_width, depth)])
        return _unbatched(padded, is_batch)


def crop_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """``tf.image.crop_to_bounding_box``: the ``target`` window at the offset."""
    with ops.name_scope(None, "crop_to_bounding_box", [image]):
        image, is_batch = _batched(image)
        asserts = _check_at_least_3d(image, require_static=False)
        batch, height, width, depth = _image_dimensions(image, rank=4)
        asserts += _assert(offset_width >= 0, ValueError, "offset_width must be >= 0.")
        asserts += _assert(offset_height >= 0, ValueError, "offset_height must be >= 0.")
        asserts += _assert(target_width > 0, ValueError, "target_width must be > 0.")
        asserts += _assert(target_height > 0, ValueError, "target_height must be > 0.")
        asserts += _assert(width >= target_width + offset_width, ValueError, "width must be >= target + offset.")
        asserts += _assert(height >= target_height + offset_height, ValueError,
                           "height must be >= target + offset.")
        image = control_flow_ops.with_dependencies(asserts, image)
        shape = array_ops.shape(image)
        cropped = array_ops.slice_(image, array_ops.stack([0, offset_height, offset_width, 0]),
                                   array_ops.stack([shape[0], target_height, target_width, shape[3]]))
        cropped.set_shape([_static_or_none(d) for d in (batch, target_height, target_width, depth)])
        return _unbatched(cropped, is_batch)


def resize_image_with_crop_or_pad(image, target_height, target_width):
    """``tf.image.resize_image_with_crop_or_pad``: centre-crops and/or zero-pads to the target size."""
    with ops.name_scope(None, "resize_image_with_crop_or_pad", [image]):
        image, is_batch = _batched(image)
        asserts = _check_at_least_3d(image, require_static=False)
        asserts += _assert(target_width > 0, ValueError, "target_width must be > 0.")
        asserts += _assert(target_height > 0, ValueError, "target_height must be > 0.")
        image = control_flow_ops.with_dependencies(asserts, image)
        if _is_tensor(target_height):
            target_height = control_flow_ops.with_dependencies(asserts, target_height)
        if _is_tensor(target_width):
            target_width = control_flow_ops.with_dependencies(asserts, target_width)

        def max_(x, y):
            return math_ops.maximum(x, y) if _is_tensor(x) or _is_tensor(y) else max(x, y)

        def min_(x, y):
            return math_ops.minimum(x, y) if _is_tensor(x) or _is_tensor(y) else min(x, y)

        def equal_(x, y):
            return math_ops.equal(x, y) if _is_tensor(x) or _is_tensor(y) else x == y
        _, height, width, _ = _image_dimensions(image, rank=4)
        width_diff, height_diff = target_width - width, target_height - height
        cropped = crop_to_bounding_box(image, max_(-height_diff // 2, 0), max_(-width_diff // 2, 0),
                                       min_(target_height, height), min_(target_width, width))
        resized = pad_to_bounding_box(cropped, max_(height_diff // 2, 0), max_(width_diff // 2, 0),
                                      target_height, target_width)
        if resized.shape.ndims is None:
            raise ValueError("resized contains no shape.")
        _, rh, rw, _ = _image_dimensions(resized, rank=4)
        asserts = _assert(equal_(rh, target_height), ValueError, "resized height is not correct.")
        asserts += _assert(equal_(rw, target_width), ValueError, "resized width is not correct.")
        resized = control_flow_ops.with_dependencies(asserts, resized)
        return _unbatched(resized, is_batch)


resize_with_crop_or_pad = resize_image_with_crop_or_pad


def random_crop(value, size, seed=None, name=None):
    """``tf.random_crop`` / ``tf.image.random_crop``: a ``size`` slice at a uniformly drawn offset."""
    with ops.name_scope(name, "random_crop", [value, size]) as name:
        value = convert_to_tensor(value, name="value")
        size = convert_to_tensor(size, dtype=dtypes.int32, name="size")
        shape = array_ops.shape(value)
        check = logging_ops.Assert_(math_ops.reduce_all(shape >= size),
                                    ["Need value.shape >= size, got ", shape, size], summarize=1000)
        shape = control_flow_ops.with_dependencies([check], shape)
        limit = shape - size + 1
        offset = random_ops.random_uniform(array_ops.shape(shape), dtype=size.dtype, maxval=size.dtype.max,
                                           seed=seed) % limit
        return array_ops.slice_(value, offset, size, name=name)


# ---- resize_images -------------------------------------------------------------------------
class ResizeMethod:
    """TF1's ``tf.image.ResizeMethod`` (integers; TF2's strings are accepted too)."""
    BILINEAR = 0
    NEAREST_NEIGHBOR = 1
    BICUBIC = 2
    AREA = 3


_METHOD_NAMES = {"bilinear": 0, "nearest": 1, "bicubic": 2, "area": 3}


def _resize_common(images, resizer, size, preserve_aspect_ratio, name, skip_resize_if_same):
    with ops.name_scope(name, "resize", [images, size]):
        images = convert_to_tensor(images, name="images")
        if images.shape.ndims is None:
            raise ValueError("'images' contains no shape.")
        is_batch = True
        if images.shape.ndims == 3:
            is_batch = False
            images = array_ops.expand_dims(images, 0)
        elif images.shape.ndims != 4:
            raise ValueError("'images' must have either 3 or 4 dimensions.")
        _, height, width, _ = images.shape.as_list()
        try:
            size = convert_to_tensor(size, dtypes.int32, name="size")
        except (TypeError, ValueError):
            raise ValueError("'size' must be a 1-D int32 Tensor") from None
        if not size.shape.is_compatible_with([2]):
            raise ValueError("'size' must be a 1-D Tensor of 2 elements: new_height, new_width")
        if preserve_aspect_ratio:
            _, cur_h, cur_w, _ = _image_dimensions(images, rank=4)
            f32 = dtypes.float32
            scale_h = math_ops.cast(size[0], f32) / math_ops.cast(cur_h, f32)
            scale_w = math_ops.cast(size[1], f32) / math_ops.cast(cur_w, f32)
            scale = math_ops.minimum(scale_h, scale_w)
            new_h = math_ops.cast(math_ops.round(scale * math_ops.cast(cur_h, f32)), dtypes.int32)
            new_w = math_ops.cast(math_ops.round(scale * math_ops.cast(cur_w, f32)), dtypes.int32)
            static_hw = _scaled_size(constant_value(size), cur_h, cur_w)
            size = convert_to_tensor([new_h, new_w], dtypes.int32, name="size")
        hw = shape_from_tensor(size)
        new_h, new_w = (hw[0].value, hw[1].value) if hw.ndims == 2 else (None, None)
        if preserve_aspect_ratio and static_hw is not None:  # TF's shape inference folds the float arithmetic
            new_h, new_w = static_hw
        if skip_resize_if_same and None not in (new_w, width, new_h, height) and (width, height) == (new_w, new_h):
            return _unbatched(images, is_batch)
        images = resizer(images, size)
        images.set_shape([None, new_h, new_w, None])
        return _unbatched(images, is_batch)


def _scaled_size(size, h, w):
    """The aspect-preserving size in TF's float32 arithmetic, when size and image dims are static."""
    if size is None or _is_tensor(h) or _is_tensor(w):
        return None
    f = np.float32
    scale = min(f(size[0]) / f(h), f(size[1]) / f(w))
    return int(np.rint(scale * f(h))), int(np.rint(scale * f(w)))


def resize_images(images, size, method=ResizeMethod.BILINEAR, align_corners=False, preserve_aspect_ratio=False,
                  name=None):
    """``tf.image.resize_images`` / compat.v1 ``tf.image.resize``: one of TF's four resize ops."""
    def resize_fn(images_t, new_size):
        m = _METHOD_NAMES.get(method, method) if isinstance(method, str) else method
        fn = {0: resize_bilinear, 1: resize_nearest_neighbor, 2: resize_bicubic, 3: resize_area}.get(m)
        if fn is None or isinstance(m, bool):
            raise ValueError(f"Resize method is not implemented: {method}")
        return fn(images_t, new_size, align_corners=align_corners)
    return _resize_common(images, resize_fn, size, preserve_aspect_ratio, name, skip_resize_if_same=True)


resize = resize_images


# ---- colour kernels ------------------------------------------------------------------------
def _at_least_3d(images, what="input"):
    if images.ndim < 3:
        raise _invalid(f"{what} must be at least 3-D, got shape{_shape_str(images.shape)}")


def _three_channels(images):
    _at_least_3d(images)
    if images.shape[-1] != 3:
        raise _invalid(f"input must have 3 channels but instead has {images.shape[-1]} channels.")


def _scalar_arg(v, what):
    if np.ndim(v) != 0:
        raise _invalid(f"{what} must be scalar: {_shape_str(np.shape(v))}")
    return _f32(v)


def _image_means(x):
    """Per-image, per-channel means in TF's order of float32 additions (halving folds over the pixels)."""
    n = x.shape[-3] * x.shape[-2]
    plane = x.reshape(x.shape[:-3] + (n, x.shape[-1]))
    acc, remaining, first = None, n, True
    while True:
        right = remaining // 2
        left = remaining - right
        if first:
            acc = plane.copy()
            acc[..., :right, :] = plane[..., left:left + right, :] + plane[..., :right, :]
            first = False
        else:
            acc[..., :right, :] += acc[..., left:left + right, :]
        remaining = left
        if remaining <= 1:
            break
    return acc[..., :1, :] * (_f32(1) / _f32(n))


AdjustContrastv2 = define("AdjustContrastv2", "images: T, contrast_factor: float", "output: T",
                          ["T: {half, float} = float"])
AdjustContrastv2.shape(lambda op: [op._inputs[0].shape])


@AdjustContrastv2.kernel
def _adjust_contrast(images, factor):
    _at_least_3d(images)
    factor = _scalar_arg(factor, "contrast_factor")
    x = images.astype(_f32)
    mean = _image_means(x)[..., None, :, :]
    return ((x - mean) * factor + mean).astype(images.dtype)


lookup_error_gradient(AdjustContrastv2)


def _rgb_to_hsv_adjust(r, g, b):
    """The HSV split TF's AdjustSaturation uses (its own float32 formulas)."""
    v = np.maximum(r, np.maximum(g, b))
    rng_ = v - np.minimum(r, np.minimum(g, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(v > 0, rng_ / v, _f32(0))
        norm = _f32(1) / (_f32(6) * rng_)
        # the 2/6 and 4/6 offsets are doubles in TF's kernel: added in double, then rounded to float
        h = np.where(r == v, norm * (g - b),
                     np.where(g == v, (norm * (b - r)).astype(np.float64) + 2.0 / 6.0,
                              (norm * (r - g)).astype(np.float64) + 4.0 / 6.0).astype(_f32))
    h = np.where(rng_ <= 0, _f32(0), h)
    h = np.where(h < 0, h + _f32(1), h)
    return h.astype(_f32), s.astype(_f32), v


def _hsv_to_rgb_adjust(h, s, v):
    c = s * v
    m = v - c
    dh = h * _f32(6)
    cat = dh.astype(np.int64)  # truncation toward zero
    fm = np.mod(dh, _f32(2))  # exact, as TF's repeated subtraction of 2 (a dh of 0 gives x = 0 either way)
    x = c * (_f32(1) - np.abs(fm - _f32(1)))
    z = np.zeros_like(c)
    table = {0: (c, x, z), 1: (x, c, z), 2: (z, c, x), 3: (z, x, c), 4: (x, z, c), 5: (c, z, x)}
    out = [np.zeros_like(c) for _ in range(3)]
    for k, rgb in table.items():
        sel = cat == k
        for o, val in zip(out, rgb):
            o[sel] = val[sel]
    return [(o + m).astype(_f32) for o in out]


AdjustSaturation = define("AdjustSaturation", "images: T, scale: float", "output: T", ["T: {half, float} = float"])
AdjustSaturation.shape(lambda op: [op._inputs[0].shape])


@AdjustSaturation.kernel
def _adjust_saturation(images, scale):
    _three_channels(images)
    scale = _scalar_arg(scale, "scale")
    x = images.astype(_f32)
    h, s, v = _rgb_to_hsv_adjust(x[..., 0], x[..., 1], x[..., 2])
    s = np.minimum(_f32(1), np.maximum(_f32(0), s * scale))
    return np.stack(_hsv_to_rgb_adjust(h, s, v), axis=-1).astype(images.dtype)


lookup_error_gradient(AdjustSaturation)


AdjustHue = define("AdjustHue", "images: T, delta: float", "output: T", ["T: {half, float} = float"])
AdjustHue.shape(lambda op: [op._inputs[0].shape])


@AdjustHue.kernel
def _adjust_hue(images, delta):
    """TF's hue rotation: hue as a position in [0, 6) between the min and max channel."""
    _three_channels(images)
    delta = _scalar_arg(delta, "delta")
    x = images.astype(_f32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    # the category of each (max, mid, min) ordering, as TF's comparisons pick it
    r_lt_g = r < g
    cat = np.where(r_lt_g, np.where(b < r, 1, np.where(b > g, 3, 2)), np.where(b < g, 0, np.where(b > r, 4, 5)))
    vmax = np.choose(cat, [r, g, g, b, b, r])
    vmid = np.choose(cat, [g, r, b, g, r, b])
    vmin = np.choose(cat, [b, b, r, r, g, g])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (vmid - vmin) / (vmax - vmin)
    h = cat.astype(_f32) + np.where(cat % 2 == 0, ratio, _f32(1) - ratio)
    h = np.where(vmax == vmin, _f32(0), h).astype(_f32)
    h = h + delta * _f32(6)
    while np.any(h < 0):
        h = np.where(h < 0, h + _f32(6), h)
    while np.any(h >= 6):
        h = np.where(h >= 6, h - _f32(6), h)
    cat = h.astype(np.int64)
    ratio = h - cat.astype(_f32)
    ratio = np.where(cat % 2 == 0, ratio, _f32(1) - ratio)
    vmid = vmin + ratio * (vmax - vmin)
    picks = {0: (vmax, vmid, vmin), 1: (vmid, vmax, vmin), 2: (vmin, vmax, vmid), 3: (vmin, vmid, vmax),
             4: (vmid, vmin, vmax), 5: (vmax, vmin, vmid)}
    out = [np.array(p, dtype=_f32) for p in picks[5]]
    for k in range(5):
        sel = cat == k
        for o, val in zip(out, picks[k]):
            o[sel] = val[sel]
    return np.stack(out, axis=-1).astype(images.dtype)


lookup_error_gradient(AdjustHue)

_HSV_T = "T: {half, bfloat16, float, double} = float"
RGBToHSV = define("RGBToHSV", "images: T", "output: T", [_HSV_T])
RGBToHSV.shape(lambda op: [op._inputs[0].shape])


def _check_three_channels(images):
    if images.ndim < 1 or images.shape[-1] != 3:
        raise _invalid(f"input must have 3 channels but input only has {images.shape[-1] if images.ndim else 0} "
                       "channels.")


@RGBToHSV.kernel
def _rgb_to_hsv(images):
    _check_three_channels(images)
    t = images.dtype.type
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    rng_ = v - np.minimum(np.minimum(r, g), b)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(v > 0, rng_ / v, t(0))
        norm = (t(1) / rng_) * (t(1) / t(6))
        h = np.where(r == v, norm * (g - b), np.where(g == v, norm * (b - r) + t(2) / t(6),
                                                      norm * (r - g) + t(4) / t(6)))
    h = np.where(rng_ > 0, h, t(0))
    h = np.where(h < 0, h + t(1), h)
    return np.stack([h, s, v], axis=-1).astype(images.dtype)


@RGBToHSV.grad
def _rgb_to_hsv_grad(op, grad):
    """TF's piecewise derivative of (h, s, v), channel by channel with the same tie-breaking."""
    dtype = op._inputs[0].dtype.base_dtype
    rgb = array_ops.unstack(op._inputs[0], num=3, axis=-1)
    _, sat, val = array_ops.unstack(op._outputs[0], num=3, axis=-1)
    gh, gs, gv = array_ops.unstack(grad, num=3, axis=-1)
    r, g, b = rgb

    def f(cond):
        return math_ops.cast(cond, dtype)

    def both(a, c):
        return math_ops.logical_and(a, c)

    def rcp(x):
        return math_ops.div_no_nan(math_ops.cast(1.0, dtype), x)
    ge, gt, lt, le = math_ops.greater_equal, math_ops.greater, math_ops.less, math_ops.less_equal
    big = [f(both(ge(r, b), ge(r, g))), f(both(gt(g, r), ge(g, b))), f(both(gt(b, r), gt(b, g)))]
    small = [f(both(lt(r, b), lt(r, g))), f(both(le(g, r), lt(g, b))), f(both(le(b, r), le(b, g)))]
    pos = [f(gt(c, 0)) for c in rgb]
    sv = rcp(math_ops.square(sat)) * rcp(math_ops.square(val))
    dv, ds, dh = [], [], []
    for x in range(3):
        n, p = (x + 1) % 3, (x + 2) % 3  # the next and previous channel in r -> g -> b -> r
        X, N, P = rgb[x], rgb[n], rgb[p]
        dv.append(big[x])
        ds.append(pos[x] * (big[x] * (small[n] * N + small[p] * P) * rcp(math_ops.square(X))
                            + small[x] * -1 * rcp(big[n] * N + big[p] * P)))
        terms = [pos[x] * big[x] * -1 * (N - P) * sv,
                 pos[n] * big[n] * small[x] * (P - N) * rcp(math_ops.square(X - N)),
                 pos[n] * big[n] * small[p] * -1 * rcp(N - P),
                 pos[p] * big[p] * small[x] * (P - N) * rcp(math_ops.square(P - X)),
                 pos[p] * big[p] * small[n] * rcp(P - N)]
        dh.append(math_ops.add_n([60 * t for t in terms]) / 360)
    parts = [array_ops.stack([gv * d for d in dv], axis=-1), array_ops.stack([gs * d for d in ds], axis=-1),
             array_ops.stack([gh * d for d in dh], axis=-1)]
    return [math_ops.add(math_ops.add(parts[0], parts[1]), parts[2])]


HSVToRGB = define("HSVToRGB", "images: T", "output: T", [_HSV_T])
HSVToRGB.shape(lambda op: [op._inputs[0].shape])


@HSVToRGB.kernel
def _hsv_to_rgb(images):
    _check_three_channels(images)
    t = images.dtype.type
    h, s, v = images[..., 0], images[..., 1], images[..., 2]
    dh = h * t(6)
    dr = np.clip(np.abs(dh - t(3)) - t(1), t(0), t(1))
    dg = np.clip(-np.abs(dh - t(2)) + t(2), t(0), t(1))
    db = np.clip(-np.abs(dh - t(4)) + t(2), t(0), t(1))
    one_s = -s + t(1)
    return np.stack([(one_s + s * d) * v for d in (dr, dg, db)], axis=-1).astype(images.dtype)


HSVToRGB.no_gradient()


def rgb_to_hsv(images, name=None):
    """``tf.image.rgb_to_hsv``: the ``RGBToHSV`` op (float images in [0, 1])."""
    return apply_op("RGBToHSV", name=name, images=images)


def hsv_to_rgb(images, name=None):
    """``tf.image.hsv_to_rgb``: the ``HSVToRGB`` op."""
    return apply_op("HSVToRGB", name=name, images=images)


# ---- dtype conversion and colour adjustment ---------------------------------------------------
def _limits(dt):
    """(min, max) of a real dtype (DType.min/max fail for float types while dtypes.py shadows ``float``)."""
    np_t = dt.as_numpy_dtype
    info = np.iinfo(np_t) if dt.is_integer else np.finfo(np_t)
    return (int(info.min), int(info.max)) if dt.is_integer else (float(info.min), float(info.max))


def _saturate_cast(value, dtype, name=None):
    """TF's saturate_cast: clamps to the target range (limits representable in the source type), then casts."""
    with ops.name_scope(name, "saturate_cast", [value]) as name:
        value = convert_to_tensor(value, name="value")
        dtype = dtypes.as_dtype(dtype).base_dtype
        src = value.dtype.base_dtype
        np_src = src.as_numpy_dtype
        (src_min, src_max), (out_min, out_max) = _limits(src), _limits(dtype)
        promoted = np.promote_types(np_src, dtype.as_numpy_dtype)
        lo = np_src(np.maximum(src_min, out_min))
        pair = np.array([lo, out_min], dtype=promoted)
        if pair[0] < pair[1]:  # the clamp value rounded past the target's range: step back inside
            lo = np.nextafter(lo, np_src(0), dtype=np_src)
        hi = np_src(np.minimum(float(src_max), float(out_max)))
        pair = np.array([hi, out_max], dtype=promoted)
        if pair[0] > pair[1]:
            hi = np.nextafter(hi, np_src(0), dtype=np_src)
        clamped = math_ops.clip_by_value(value, convert_to_tensor(lo, dtype=src), convert_to_tensor(hi, dtype=src),
                                         name="clamp")
        return math_ops.cast(clamped, dtype, name=name)


def convert_image_dtype(image, dtype, saturate=False, name=None):
    """``tf.image.convert_image_dtype``: rescales between integer ranges and [0, 1) floats as TF does."""
    image = convert_to_tensor(image, name="image")
    dtype = dtypes.as_dtype(dtype)
    if not dtype.is_floating and not dtype.is_integer:
        raise AttributeError("dtype must be either floating point or integer")
    src = image.dtype.base_dtype
    if not src.is_floating and not src.is_integer:
        raise AttributeError("image dtype must be either floating point or integer")
    if dtype == src:
        return array_ops.identity(image, name=name)
    with ops.name_scope(name, "convert_image", [image]) as name:
        if src.is_integer and dtype.is_integer:
            scale_in, scale_out = _limits(src)[1], _limits(dtype)[1]
            if scale_in > scale_out:
                scaled = math_ops.floordiv(image, (scale_in + 1) // (scale_out + 1))
                return _saturate_cast(scaled, dtype, name=name) if saturate else math_ops.cast(scaled, dtype,
                                                                                               name=name)
            cast = _saturate_cast(image, dtype) if saturate else math_ops.cast(image, dtype)
            return math_ops.multiply(cast, (scale_out + 1) // (scale_in + 1), name=name)
        if src.is_floating and dtype.is_floating:
            return math_ops.cast(image, dtype, name=name)
        if src.is_integer:
            return math_ops.multiply(math_ops.cast(image, dtype), 1.0 / _limits(src)[1], name=name)
        scaled = math_ops.multiply(image, _limits(dtype)[1] + 0.5)
        return _saturate_cast(scaled, dtype, name=name) if saturate else math_ops.cast(scaled, dtype, name=name)


def _float_image(image):
    return image if image.dtype.base_dtype in (dtypes.float16, dtypes.float32) else convert_image_dtype(
        image, dtypes.float32)


def adjust_brightness(image, delta):
    """``tf.image.adjust_brightness``: adds ``delta`` in the [0, 1] float scale."""
    with ops.name_scope(None, "adjust_brightness", [image, delta]) as name:
        image = convert_to_tensor(image, name="image")
        orig = image.dtype.base_dtype
        flt = _float_image(image)
        adjusted = math_ops.add(flt, math_ops.cast(delta, flt.dtype), name=name)
        return convert_image_dtype(adjusted, orig, saturate=True)


def adjust_contrast(images, contrast_factor):
    """``tf.image.adjust_contrast``: ``(x - mean) * factor + mean`` per image and channel (AdjustContrastv2)."""
    with ops.name_scope(None, "adjust_contrast", [images, contrast_factor]) as name:
        images = convert_to_tensor(images, name="images")
        orig = images.dtype.base_dtype
        flt = _float_image(images)
        adjusted = apply_op("AdjustContrastv2", name=name, images=flt,
                            contrast_factor=convert_to_tensor(contrast_factor, dtype=dtypes.float32))
        return convert_image_dtype(adjusted, orig, saturate=True)


def adjust_gamma(image, gamma=1, gain=1):
    """``tf.image.adjust_gamma``: ``gain * image ** gamma`` in the float scale."""
    with ops.name_scope(None, "adjust_gamma", [image, gamma, gain]):
        image = convert_to_tensor(image, name="image")
        orig = image.dtype.base_dtype
        flt = _float_image(image)
        asserts = _assert(gamma >= 0, ValueError, "Gamma should be a non-negative real number.")
        if asserts:
            gamma = control_flow_ops.with_dependencies(asserts, gamma)
        adjusted = gain * flt ** gamma
        return convert_image_dtype(adjusted, orig, saturate=True)


def _adjust_hsv(op_type, scope, image, name, **amount):
    """An HSV adjustment op on the image as float, converted back to its dtype (TF's composition)."""
    with ops.name_scope(name, scope, [image]):
        image = convert_to_tensor(image, name="image")
        orig = image.dtype.base_dtype
        (arg, value), = amount.items()
        rgb = apply_op(op_type, images=_float_image(image), **{arg: convert_to_tensor(value, dtype=dtypes.float32)})
        return convert_image_dtype(rgb, orig)


def adjust_hue(image, delta, name=None):
    """``tf.image.adjust_hue``: rotates hue by ``delta`` (a fraction of the colour wheel)."""
    return _adjust_hsv("AdjustHue", "adjust_hue", image, name, delta=delta)


def adjust_saturation(image, saturation_factor, name=None):
    """``tf.image.adjust_saturation``: scales saturation, clipped to [0, 1]."""
    return _adjust_hsv("AdjustSaturation", "adjust_saturation", image, name, scale=saturation_factor)


def random_brightness(image, max_delta, seed=None):
    """``tf.image.random_brightness``: a delta drawn from [-max_delta, max_delta)."""
    if max_delta < 0:
        raise ValueError("max_delta must be non-negative.")
    return adjust_brightness(image, random_ops.random_uniform([], -max_delta, max_delta, seed=seed))


def random_contrast(image, lower, upper, seed=None):
    """``tf.image.random_contrast``: a factor drawn from [lower, upper)."""
    if upper <= lower:
        raise ValueError("upper must be > lower.")
    if lower < 0:
        raise ValueError("lower must be non-negative.")
    return adjust_contrast(image, random_ops.random_uniform([], lower, upper, seed=seed))


def random_saturation(image, lower, upper, seed=None):
    """``tf.image.random_saturation``: a factor drawn from [lower, upper)."""
    if upper <= lower:
        raise ValueError("upper must be > lower.")
    if lower < 0:
        raise ValueError("lower must be non-negative.")
    return adjust_saturation(image, random_ops.random_uniform([], lower, upper, seed=seed))


def random_hue(image, max_delta, seed=None):
    """``tf.image.random_hue``: a hue delta drawn from [-max_delta, max_delta), max_delta <= 0.5."""
    if max_delta > 0.5:
        raise ValueError("max_delta must be <= 0.5.")
    if max_delta < 0:
        raise ValueError("max_delta must be non-negative.")
    return adjust_hue(image, random_ops.random_uniform([], -max_delta, max_delta, seed=seed))


def rgb_to_grayscale(images, name=None):
    """``tf.image.rgb_to_grayscale``: ITU-R 601 luma weights, last dimension 1."""
    with ops.name_scope(name, "rgb_to_grayscale", [images]) as name:
        images = convert_to_tensor(images, name="images")
        orig = images.dtype.base_dtype
        flt = convert_image_dtype(images, dtypes.float32)
        weights = convert_to_tensor([[0.2989], [0.587], [0.114]], dtype=dtypes.float32)
        # tensordot over the last axis, spelled out: pixels as rows of a MatMul with the weights
        gray = math_ops.matmul(array_ops.reshape(flt, [-1, 3]), weights)
        gray = array_ops.reshape(gray, array_ops.concat([array_ops.shape(flt)[:-1], [1]], 0))
        if flt.shape.ndims is not None:
            gray.set_shape(flt.shape[:-1].concatenate([1]))
        return convert_image_dtype(gray, orig, name=name)


def grayscale_to_rgb(images, name=None):
    """``tf.image.grayscale_to_rgb``: repeats the single channel three times."""
    with ops.name_scope(name, "grayscale_to_rgb", [images]) as name:
        images = convert_to_tensor(images, name="images")
        images = control_flow_ops.with_dependencies(_check_grayscale(images, require_static=False), images)
        rank_1 = array_ops.expand_dims(array_ops.rank(images) - 1, 0)
        multiples = array_ops.concat([array_ops.ones(rank_1, dtype=dtypes.int32), array_ops.expand_dims(3, 0)], 0)
        rgb = array_ops.tile(images, multiples, name=name)
        rgb.set_shape(images.shape[:-1].concatenate([3]) if images.shape.ndims is not None else None)
        return rgb


def per_image_standardization(image):
    """``tf.image.per_image_standardization``: zero mean, unit variance per image (stddev floored at 1/sqrt(N))."""
    with ops.name_scope(None, "per_image_standardization", [image]) as scope:
        image = _assert_at_least_3d(convert_to_tensor(image, name="image"))
        image = math_ops.cast(image, dtype=dtypes.float32)
        num_pixels = math_ops.reduce_prod(array_ops.strided_slice(array_ops.shape(image), [-3], [0], [1],
                                                                  end_mask=1))
        mean = math_ops.reduce_mean(image, axis=[-1, -2, -3], keepdims=True)
        stddev = math_ops.reduce_std(image, axis=[-1, -2, -3], keepdims=True)
        min_stddev = math_ops.rsqrt(math_ops.cast(num_pixels, dtypes.float32))
        adjusted = math_ops.maximum(stddev, min_stddev)
        image -= mean
        return math_ops.divide(image, adjusted, name=scope)


def total_variation(images, name=None):
    """``tf.image.total_variation``: sum of absolute neighbour differences (per image for a batch)."""
    with ops.name_scope(name, "total_variation"):
        ndims = images.shape.ndims
        if ndims == 3:
            d1 = images[1:, :, :] - images[:-1, :, :]
            d2 = images[:, 1:, :] - images[:, :-1, :]
            axis = None
        elif ndims == 4:
            d1 = images[:, 1:, :, :] - images[:, :-1, :, :]
            d2 = images[:, :, 1:, :] - images[:, :, :-1, :]
            axis = [1, 2, 3]
        else:
            raise ValueError("'images' must be either 3 or 4-dimensional.")
        return (math_ops.reduce_sum(math_ops.abs(d1), axis=axis)
                + math_ops.reduce_sum(math_ops.abs(d2), axis=axis))


def image_gradients(image):
    """``tf.image.image_gradients``: forward differences (dy, dx), zero in the last row/column."""
    if image.shape.ndims != 4:
        raise ValueError(f"image_gradients expects a 4D tensor [batch_size, h, w, d], not {image.shape}.")
    shape = array_ops.shape(image)
    batch, height, width, depth = array_ops.unstack(shape)
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    dy = array_ops.reshape(array_ops.concat([dy, array_ops.zeros(array_ops.stack([batch, 1, width, depth]),
                                                                 image.dtype)], 1), shape)
    dx = array_ops.reshape(array_ops.concat([dx, array_ops.zeros(array_ops.stack([batch, height, 1, depth]),
                                                                 image.dtype)], 2), shape)
    return dy, dx


def psnr(a, b, max_val, name=None):
    """``tf.image.psnr``: peak signal-to-noise ratio over the last three dimensions."""
    with ops.name_scope(name, "PSNR", [a, b]):
        max_val = convert_image_dtype(math_ops.cast(max_val, a.dtype), dtypes.float32)
        a = convert_image_dtype(a, dtypes.float32)
        b = convert_image_dtype(b, dtypes.float32)
        mse = math_ops.reduce_mean(math_ops.squared_difference(a, b), [-3, -2, -1])
        value = math_ops.subtract(20 * math_ops.log(max_val) / math_ops.log(10.0),
                                  np.float32(10 / np.log(10)) * math_ops.log(mse), name="psnr")
        if not a.shape[-3:].is_compatible_with(b.shape[-3:]):
            raise ValueError(f"Shapes {a.shape} and {b.shape} are incompatible.")
        return array_ops.identity(value)


# ---- PNG (zlib + row filters; 8/16-bit, non-interlaced) and the other decoders ---------------------
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_COMPONENTS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel in the file


def _png_error(msg):
    return _invalid(f"Invalid PNG data: {msg}")


def _png_chunks(data):
    pos = len(_PNG_MAGIC)
    while pos < len(data):
        if pos + 8 > len(data):
            raise _png_error("truncated chunk header")
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise _png_error(f"chunk {kind!r} of {length} bytes runs past the end of the data")
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4:end])[0]:
            raise _png_error(f"CRC mismatch in chunk {kind!r}")
        yield kind, body
        if kind == b"IEND":
            return
        pos = end


def _unfilter(raw, height, row_bytes, bpp):
    """Reverses PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, row_bytes + 1)
    out = np.zeros((height, row_bytes), dtype=np.uint8)
    prev = np.zeros(row_bytes, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        elif kind == 1:  # Sub: a running sum along each of the bpp byte lanes
            pad = (-row_bytes) % bpp
            lanes = np.concatenate([line, np.zeros(pad, np.int32)]).reshape(-1, bpp)
            cur = (np.cumsum(lanes, axis=0) & 0xFF).reshape(-1)[:row_bytes]
        elif kind in (3, 4):
            cur = line.copy()
            for i in range(row_bytes):  # each byte depends on the one bpp to its left
                a = cur[i - bpp] if i >= bpp else 0
                if kind == 3:
                    cur[i] = (cur[i] + ((a + prev[i]) >> 1)) & 0xFF
                else:
                    b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        else:
            raise _png_error(f"unknown row filter {kind}")
        out[y] = cur
        prev = cur
    return out


def _png_decode(data, channels, dtype):
    """PNG bytes -> [height, width, channels] uint8/uint16 array, converted as TF's libpng set-up does."""
    if channels not in (0, 1, 3, 4):
        raise _invalid(f"`channels` must be 0, 1, 3 or 4 but got {channels}")
    if not data.startswith(_PNG_MAGIC):
        raise _png_error("missing PNG signature")
    header, palette, trns, idat = None, None, None, []
    for kind, body in _png_chunks(data):
        if kind == b"IHDR":
            if len(body) != 13:
                raise _png_error("IHDR must be 13 bytes")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif kind == b"tRNS":
            trns = body
        elif kind == b"IDAT":
            idat.append(body)
    if header is None:
        raise _png_error("no IHDR chunk")
    width, height, depth, ctype, _, _, interlace = header
    if ctype not in _PNG_COMPONENTS or depth not in (1, 2, 4, 8, 16) or width == 0 or height == 0:
        raise _png_error(f"unsupported colour type {ctype} / bit depth {depth} / size {width}x{height}")
    if interlace:
        raise errors.UnimplementedError(None, None, "DecodePng: interlaced (Adam7) PNGs are not supported by "
                                                    "deferflow")
    comps = _PNG_COMPONENTS[ctype]
    bits = comps * depth
    row_bytes = (width * bits + 7) // 8
    expected = height * (row_bytes + 1)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(idat), expected + 1)  # bounded: a bomb can't grow past the image
    except zlib.error as e:
        raise _png_error(f"bad zlib stream ({e})") from None
    if len(raw) != expected:
        raise _png_error(f"image data is {len(raw)} bytes, expected {expected}")
    rows = _unfilter(raw, height, row_bytes, max(1, bits // 8))
    if depth == 16:
        px = rows.reshape(height, width * comps, 2).astype(np.uint16)
        px = ((px[..., 0] << 8) | px[..., 1]).reshape(height, width, comps)
    elif depth == 8:
        px = rows.reshape(height, width, comps)
    else:  # 1/2/4-bit grey or palette indices, packed high bits first
        bitsarr = np.unpackbits(rows, axis=1).reshape(height, -1, depth)[:, :width]
        px = (bitsarr * (1 << np.arange(depth - 1, -1, -1))).sum(-1).astype(np.uint8)[..., None]
        if ctype == 0:
            px = (px.astype(np.uint16) * (255 // ((1 << depth) - 1))).astype(np.uint8)
    if ctype == 3:
        if palette is None:
            raise _png_error("palette image without PLTE chunk")
        idx = px[..., 0]
        if idx.max() >= len(palette):
            raise _png_error("palette index out of range")
        px = palette[idx]
        if trns is not None:
            alpha = np.full(len(palette), 255, np.uint8)
            alpha[:min(len(trns), len(palette))] = np.frombuffer(trns, np.uint8)[:len(palette)]
            px = np.concatenate([px, alpha[idx][..., None]], axis=-1)
    # TF's libpng set-up adds the alpha filler before low-bit samples expand: the filler stays 2^depth - 1
    filler = (1 << depth) - 1 if depth < 8 else None
    px = _convert_channels(px, channels, filler)  # at the file's depth, before any 16 <-> 8 bit change (libpng's order)
    want16 = dtype == dtypes.uint16
    if depth == 16 and not want16:
        px = (px >> 8).astype(np.uint8)
    elif depth != 16 and want16:
        px = px.astype(np.uint16) * 257
    return px


def _convert_channels(px, channels, filler=None):
    have = px.shape[-1]
    if channels in (0, have):
        return np.ascontiguousarray(px)
    top = np.iinfo(px.dtype).max if filler is None else filler
    colour = px[..., :3] if have >= 3 else np.repeat(px[..., :1], 3, axis=-1)
    alpha = px[..., -1:] if have in (2, 4) else np.full(px.shape[:-1] + (1,), top, px.dtype)
    if channels in (1, 2):
        if have >= 3:  # libpng's fixed-point luma for (0.299, 0.587): truncated at 8 bits, rounded at 16
            c = colour.astype(np.int64)
            half = 16384 if px.dtype == np.uint16 else 0
            gray = ((9797 * c[..., 0] + 19234 * c[..., 1] + 3737 * c[..., 2] + half) >> 15).astype(px.dtype)
            gray = np.where((c[..., 0] == c[..., 1]) & (c[..., 1] == c[..., 2]), colour[..., 0], gray)[..., None]
        else:
            gray = px[..., :1]
        return np.concatenate([gray, alpha], -1) if channels == 2 else gray
    return colour if channels == 3 else np.concatenate([colour, alpha], -1)


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_encode(image, compression):
    """[height, width, channels] uint8/uint16 -> PNG bytes (no row filters, zlib at ``compression``)."""
    if image.ndim != 3:
        raise _invalid(f"image must be 3-dimensional{_shape_str(image.shape)}")
    height, width, chans = image.shape
    if chans not in (1, 2, 3, 4):
        raise _invalid(f"image must have 1, 2, 3, or 4 channels, got {chans}")
    if compression < -1 or compression > 9:
        raise _invalid(f"compression should be in [-1,9], got {compression}")
    depth = 16 if image.dtype == np.uint16 else 8
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[chans]
    rows = image.astype(">u2" if depth == 16 else np.uint8).reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    return (_PNG_MAGIC + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw, compression)) + _png_chunk(b"IEND", b""))


def _bytes_of(contents, op_name):
    if np.ndim(contents) != 0:
        raise _invalid(f"contents must be scalar, got shape {_shape_str(np.shape(contents))}")
    v = np.asarray(contents).reshape(()).item()
    return v if isinstance(v, bytes) else bytes(v)


def _image_shape_fn(op):
    c = op._attrs.get("channels", 0)
    return [ts.TensorShape([None, None, c or None])]


DecodePng = define("DecodePng", "contents: string", "image: dtype",
                   ["channels: int = 0", "dtype: {uint8, uint16} = uint8"])
DecodePng.shape(_image_shape_fn)
DecodePng.kernel(lambda contents, *, channels, dtype: _png_decode(_bytes_of(contents, "DecodePng"), channels, dtype))
lookup_error_gradient(DecodePng)

EncodePng = define("EncodePng", "image: T", "contents: string", ["compression: int = -1", "T: {uint8, uint16} = uint8"])
EncodePng.shape(lambda op: [ts.TensorShape([])])


@EncodePng.kernel
def _encode_png_kernel(image, *, compression):
    out = np.empty((), dtype=object)
    out[()] = _png_encode(np.asarray(image), compression)
    return out


lookup_error_gradient(EncodePng)


def _no_jpeg(op_type):
    return errors.UnimplementedError(None, None, f"{op_type}: JPEG decoding is not available in deferflow (it runs "
                                                 "on NumPy alone and has no JPEG decoder); decode JPEGs outside the "
                                                 "graph or convert them to PNG")


DecodeJpeg = define("DecodeJpeg", "contents: string", "image: uint8",
                    ["channels: int = 0", "ratio: int = 1", "fancy_upscaling: bool = true",
                     "try_recover_truncated: bool = false", "acceptable_fraction: float = 1",
                     "dct_method: string = ''"])
DecodeJpeg.shape(_image_shape_fn)


@DecodeJpeg.kernel
def _decode_jpeg_kernel(contents, *, channels):
    raise _no_jpeg("DecodeJpeg")


lookup_error_gradient(DecodeJpeg)

DecodeImage = define("DecodeImage", "contents: string", "image: dtype",
                     ["channels: int = 0", "dtype: {uint8, uint16, float} = uint8", "expand_animations: bool = true"])
DecodeImage.shape(lambda op: [ts.unknown_shape() if op._attrs["expand_animations"] else _image_shape_fn(op)[0]])


@DecodeImage.kernel
def _decode_image_kernel(contents, *, channels, dtype):
    data = _bytes_of(contents, "DecodeImage")
    if data.startswith(_PNG_MAGIC):
        if dtype == dtypes.float32:  # decoded at 16 bits, then scaled to [0, 1] in float32, as TF does
            return _png_decode(data, channels, dtypes.uint16).astype(_f32) * _f32(1.0 / 65535)
        return _png_decode(data, channels, dtype)
    if data[:3] == b"\xff\xd8\xff":
        raise _no_jpeg("DecodeImage")
    if data[:4] == b"GIF8" or data[:2] == b"BM":
        raise errors.UnimplementedError(None, None, "DecodeImage: GIF and BMP decoding are not available in "
                                                    "deferflow; only PNG is")
    raise _invalid("Unknown image file format. One of JPEG, PNG, GIF, BMP required.")


lookup_error_gradient(DecodeImage)


def decode_png(contents, channels=0, dtype=dtypes.uint8, name=None):
    """``tf.image.decode_png``: a [height, width, channels] uint8 (or uint16) image."""
    return apply_op("DecodePng", name=name, contents=contents, channels=channels, dtype=dtype)


def encode_png(image, compression=-1, name=None):
    """``tf.image.encode_png``: PNG bytes of a 3-D uint8/uint16 image."""
    return apply_op("EncodePng", name=name, image=convert_to_tensor(image), compression=compression)


def decode_jpeg(contents, channels=0, ratio=1, fancy_upscaling=True, try_recover_truncated=False,
                acceptable_fraction=1, dct_method="", name=None):
    """``tf.image.decode_jpeg``: builds TF's DecodeJpeg op; running it raises UnimplementedError (no decoder)."""
    return apply_op("DecodeJpeg", name=name, contents=contents, channels=channels, ratio=ratio,
                    fancy_upscaling=fancy_upscaling, try_recover_truncated=try_recover_truncated,
                    acceptable_fraction=acceptable_fraction, dct_method=dct_method)


def decode_image(contents, channels=None, dtype=dtypes.uint8, name=None, expand_animations=True):
    """``tf.image.decode_image``: PNG decoded here; JPEG/GIF/BMP raise UnimplementedError when run."""
    with ops.name_scope(name, "decode_image"):
        channels = 0 if channels is None else channels
        dtype = dtypes.as_dtype(dtype)
        decode_as = dtype if dtype in (dtypes.float32, dtypes.uint8, dtypes.uint16) else dtypes.uint16
        image = apply_op("DecodeImage", contents=contents, channels=channels, expand_animations=expand_animations,
                         dtype=decode_as)
        if decode_as != dtype:
            image = convert_image_dtype(image, dtype)
        if not expand_animations:
            image.set_shape([None, None, channels or None])
        return image
