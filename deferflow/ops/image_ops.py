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
