"""Neural-network ops: activations, softmax and cross entropies, bias add, convolutions, pooling,
batch norm, LRN, ``L2Loss`` and ``InTopKV2`` — each op's TF signature, shape function, NumPy kernel
and gradient side by side, followed by the thin ``tf.nn`` wrappers that create them.

Convolutions run as im2col (a strided window view copied into one matrix) + one large matmul, in
batch chunks so the column buffer stays small; pooling works tap by tap on strided views.
"""
import ctypes
import numbers
import os
import queue
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops import _memory  # noqa: F401 - keeps large kernel temporaries off fresh mmap pages
from deferflow.ops import array_ops
from deferflow.ops.common import constant_value, lookup_error_gradient, shape_from_tensor, unchanged_shape

define = op_registry.define

_FLOATS = "{half, bfloat16, float, double}"
_REALS = "{float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, uint64}"
_BIAS_TYPES = ("{float, double, int32, uint8, int16, int8, complex64, int64, qint8, quint8, qint32, bfloat16, "
               "qint16, quint16, uint16, complex128, half, uint32, uint64}")
_FMT = "data_format: {'NHWC', 'NCHW'} = 'NHWC'"


def _is_zeros(t):
    """True for the zero gradients tf.gradients fills in for unused outputs (TF's ``_is_zeros_tensor``)."""
    if t is None:
        return True
    if t.op.type == "ZerosLike":
        return True
    if t.op.type == "Fill":
        v = constant_value(t.op.inputs[1])
        return v is not None and not np.any(v)
    v = constant_value(t)
    return v is not None and v.size > 0 and not np.any(v)


# ==== activations =============================================================================
def _activation(name, fn, grad_name=None, grad_fn=None, from_output=False, types=_FLOATS, attrs=()):
    """An elementwise activation op plus its ``*Grad`` op (gradients, features-or-outputs)."""
    od = define(name, "features: T", "activations: T", list(attrs) + [f"T: {types}"])
    od.shape(unchanged_shape)
    kw = [a.split(":")[0] for a in attrs]
    if kw:
        od.kernel(lambda x, *, alpha: np.asarray(fn(x, alpha), dtype=x.dtype))
    else:
        od.kernel(lambda x: np.asarray(fn(x), dtype=x.dtype))
    second = "outputs" if from_output and name in ("Elu", "Selu") else "features"
    gd = define(grad_name, f"gradients: T, {second}: T", "backprops: T", list(attrs) + [f"T: {types}"])
    gd.shape(unchanged_shape)
    if kw:
        gd.kernel(lambda g, x, *, alpha: np.asarray(grad_fn(g, x, alpha), dtype=g.dtype))
    else:
        gd.kernel(lambda g, x: np.asarray(grad_fn(g, x), dtype=g.dtype))

    def grad(op, g):
        extra = {k: op.get_attr(k) for k in kw}
        return [apply_op(grad_name, gradients=g, **{second: op.outputs[0] if from_output else op.inputs[0]},
                         **extra)]
    od.grad(grad)

    def grad_grad(op, g):  # d/d(gradients) is the same mask; the mask itself has zero derivative
        extra = {k: op.get_attr(k) for k in kw}
        return [apply_op(grad_name, gradients=g, **{second: op.inputs[1]}, **extra),
                array_ops.zeros_like(op.inputs[1])]
    gd.grad(grad_grad)
    return od, gd


def _f32_attr(v, dtype):
    """A float attr as TF holds it (a 32-bit float), in the kernel's dtype."""
    return np.asarray(np.float32(v), dtype)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

def _flat_split(arrays):
    """1-D views of same-shape C-contiguous float arrays for the team to split, or None."""
    a0 = arrays[0]
    if a0.dtype.kind != "f" or a0.nbytes < _team.MIN_BYTES:
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.shape != a0.shape or a.dtype != a0.dtype or not a.flags.c_contiguous:
            return None
    return [a.reshape(-1) for a in arrays]


def _relu(x):
    flat = _flat_split([x])
    if flat is None:
        return np.maximum(x, 0)
    out = np.empty(x.shape, x.dtype)
    o, (x1,) = out.reshape(-1), flat
    _team.split(lambda a, b: np.maximum(x1[a:b], 0, out=o[a:b]), x1.size, x.nbytes)
    return out


def _relu_grad(g, y):
    flat = _flat_split([g, y])
    if flat is None:
        return g * (y > 0)
    out = np.empty(g.shape, g.dtype)
    o, (g1, y1) = out.reshape(-1), flat

    def part(a, b):  # g * mask, not a select: TF's product turns an inf or NaN gradient at y <= 0 into NaN
        with np.errstate(invalid="ignore"):
            np.multiply(g1[a:b], y1[a:b] > 0, out=o[a:b])
    _team.split(part, g1.size, 2 * g.nbytes)
    return out


Relu, ReluGrad = _activation("Relu", _relu, "ReluGrad", _relu_grad, from_output=True, types=_REALS)
Relu6, Relu6Grad = _activation("Relu6", lambda x: np.clip(x, 0, 6), "Relu6Grad",
                               lambda g, x: g * ((x > 0) & (x < 6)), from_output=True, types=_REALS)
Elu, EluGrad = _activation("Elu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), "EluGrad",
                           lambda g, y: np.where(y > 0, g, g * (y + 1)), from_output=True)
Selu, SeluGrad = _activation(
    "Selu", lambda x: np.where(x > 0, _SELU_SCALE * x, (_SELU_SCALE * _SELU_ALPHA) * np.expm1(np.minimum(x, 0))),
    "SeluGrad", lambda g, y: np.where(y > 0, g * _SELU_SCALE, g * (y + _SELU_SCALE * _SELU_ALPHA)),
    from_output=True)
LeakyRelu, LeakyReluGrad = _activation(
    "LeakyRelu", lambda x, a: np.where(x > 0, x, x * _f32_attr(a, x.dtype)), "LeakyReluGrad",
    lambda g, x, a: np.where(x > 0, g, g * _f32_attr(a, g.dtype)), attrs=["alpha: float = 0.2"],
    types="{half, bfloat16, float, double} = float")


def _sigmoid(x):
    return np.asarray(0.5 * (np.tanh(0.5 * x) + 1), dtype=x.dtype)  # overflow-free logistic


Softplus, SoftplusGrad = _activation("Softplus", lambda x: np.logaddexp(np.zeros((), x.dtype), x), "SoftplusGrad",
                                     lambda g, x: g * _sigmoid(x))
# TF's gradient-of-gradient for these ops differs from the mask rule above; set the exact ones.
EluGrad.grad(lambda op, g: [apply_op("EluGrad", gradients=g, outputs=op.inputs[1]),
                            apply_op("SelectV2", condition=op.inputs[1] < 0, t=g * op.inputs[0],
                                     e=array_ops.zeros_like(op.inputs[1]))])
SeluGrad.grad(lambda op, g: [apply_op("SeluGrad", gradients=g, outputs=op.inputs[1]),
                             apply_op("SelectV2", condition=op.inputs[1] < 0, t=g * op.inputs[0],
                                      e=array_ops.zeros_like(op.inputs[1]))])


@SoftplusGrad.grad
def _softplus_grad_grad(op, g):
    dy, x = op.inputs
    ddy = apply_op("SoftplusGrad", gradients=g, features=x)
    d2x = g * dy / (apply_op("Exp", x=-x) + 2.0 + apply_op("Exp", x=x))
    return [ddy, d2x]


# ==== softmax family ==========================================================================
def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _log_softmax(x):
    s = x - x.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def _rank_at_least_1(op):
    s = op._inputs[0].shape
    if s.ndims == 0:
        raise ValueError(f"Shape must be at least rank 1 but is rank 0 for '{op.name}' (op: '{op.type}')")
    return [s]


Softmax = define("Softmax", "logits: T", "softmax: T", [f"T: {_FLOATS}"])
Softmax.shape(_rank_at_least_1)
Softmax.kernel(lambda x: _softmax(x).astype(x.dtype, copy=False))


@Softmax.grad
def _softmax_grad(op, g):
    y = op.outputs[0]
    return [(g - _reduce_sum(g * y, -1, keepdims=True)) * y]


LogSoftmax = define("LogSoftmax", "logits: T", "logsoftmax: T", [f"T: {_FLOATS}"])
LogSoftmax.shape(_rank_at_least_1)
LogSoftmax.kernel(lambda x: _log_softmax(x).astype(x.dtype, copy=False))
LogSoftmax.grad(lambda op, g: [g - _reduce_sum(g, -1, keepdims=True) * apply_op("Exp", x=op.outputs[0])])


def _xent_shape(op):
    f = op._inputs[0].shape
    if op.type == "SparseSoftmaxCrossEntropyWithLogits":
        f = f.with_rank(2) if f.ndims is not None else ts.unknown_shape(2)
        lab = op._inputs[1].shape
        if lab.ndims is not None and lab.ndims != 1:
            raise ValueError(f"Shape must be rank 1 but is rank {lab.ndims} for '{op.name}' (op: '{op.type}')")
        batch = f[0].merge_with(lab[0] if lab.ndims else None)
        return [ts.TensorShape([batch]), ts.TensorShape([batch, f[1]])]
    lab = op._inputs[1].shape
    if f.ndims is not None and lab.ndims is not None:
        if f.ndims != 2 or lab.ndims != 2:
            raise ValueError(f"Shape must be rank 2 for '{op.name}' (op: '{op.type}')")
        dims = []
        for a, b in zip(f.as_list(), lab.as_list()):
            if a is not None and b is not None and a != b and 1 not in (a, b):
                raise ValueError(f"Dimensions must be equal, but are {a} and {b} for '{op.name}' (op: "
                                 f"'{op.type}') with input shapes: {f}, {lab}.")
            dims.append(a if b == 1 else b if a == 1 else a if a is not None else b)
        return [ts.TensorShape(dims[:1]), ts.TensorShape(dims)]
    return [ts.unknown_shape(1), ts.unknown_shape(2)]


SoftmaxCrossEntropyWithLogits = define("SoftmaxCrossEntropyWithLogits", "features: T, labels: T",
                                       "loss: T, backprop: T", [f"T: {_FLOATS}"])
SoftmaxCrossEntropyWithLogits.shape(_xent_shape)


@SoftmaxCrossEntropyWithLogits.kernel
def _softmax_xent_kernel(features, labels):
    if features.ndim != 2 or labels.ndim != 2:
        raise errors.InvalidArgumentError(None, None, f"logits and labels must be either 2-dimensional, or "
                                          f"broadcasted to be 2-dimensional: logits {list(features.shape)} "
                                          f"labels {list(labels.shape)}")
    features, labels = np.broadcast_arrays(features, labels)
    s = features - features.max(axis=-1, keepdims=True)
    e = np.exp(s)
    z = e.sum(axis=-1, keepdims=True)
    loss = np.sum(labels * (np.log(z) - s), axis=-1)
    return loss.astype(features.dtype, copy=False), (e / z - labels).astype(features.dtype, copy=False)


def _broadcast_mul(vec, mat):
    return array_ops.expand_dims(vec, -1) * mat


@SoftmaxCrossEntropyWithLogits.grad
def _softmax_xent_grad(op, grad_loss, grad_grad):
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    logits = op.inputs[0]
    if not _is_zeros(grad_grad):
        sm = apply_op("Softmax", logits=logits)
        grad += (grad_grad - _reduce_sum(grad_grad * sm, -1, keepdims=True)) * sm
    return [grad, _broadcast_mul(grad_loss, -apply_op("LogSoftmax", logits=logits))]


SparseSoftmaxCrossEntropyWithLogits = define(
    "SparseSoftmaxCrossEntropyWithLogits", "features: T, labels: Tlabels", "loss: T, backprop: T",
    [f"T: {_FLOATS}", "Tlabels: {int32, int64} = int64"])
SparseSoftmaxCrossEntropyWithLogits.shape(_xent_shape)


@SparseSoftmaxCrossEntropyWithLogits.kernel
def _sparse_xent_kernel(features, labels):
    if features.ndim != 2 or labels.ndim != 1 or features.shape[0] != labels.shape[0]:
        raise errors.InvalidArgumentError(None, None, f"logits and labels must have the same first dimension, "
                                          f"got logits shape {list(features.shape)} and labels shape "
                                          f"{list(labels.shape)}")
    n = features.shape[1]
    bad = (labels < 0) | (labels >= n)
    if bad.any():
        raise errors.InvalidArgumentError(None, None, f"Received a label value of {int(labels[bad][0])} which is "
                                          f"outside the valid range of [0, {n}).  Label values: "
                                          f"{' '.join(str(int(v)) for v in labels)}")
    s = features - features.max(axis=-1, keepdims=True)
    e = np.exp(s)
    z = e.sum(axis=-1, keepdims=True)
    rows = np.arange(features.shape[0])
    loss = np.log(z[:, 0]) - s[rows, labels]
    e /= z
    e[rows, labels] -= 1
    return loss.astype(features.dtype, copy=False), e.astype(features.dtype, copy=False)


@SparseSoftmaxCrossEntropyWithLogits.grad
def _sparse_xent_grad(op, grad_loss, grad_grad):
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    if not _is_zeros(grad_grad):
        sm = apply_op("Softmax", logits=op.inputs[0])
        grad += (grad_grad - _reduce_sum(grad_grad * sm, -1, keepdims=True)) * sm
    return [grad, None]


# ==== bias add ================================================================================
def _channel_axis(data_format, ndim):
    return 1 if data_format.startswith("NC") and ndim >= 3 else ndim - 1


BiasAdd = define("BiasAdd", "value: T, bias: T", "output: T", [f"T: {_BIAS_TYPES}", _FMT])


@BiasAdd.shape
def _bias_add_shape(op):
    x, b = op._inputs[0].shape, op._inputs[1].shape
    if b.ndims is not None and b.ndims != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {b.ndims} for '{op.name}' (op: 'BiasAdd')")
    if x.ndims is None:
        return [x]
    if x.ndims < 2:
        raise ValueError(f"Shape must be at least rank 2 but is rank {x.ndims} for '{op.name}' (op: 'BiasAdd')")
    ax = _channel_axis(op._attrs["data_format"], x.ndims)
    dims = list(x.dims)
    try:
        dims[ax] = dims[ax].merge_with(b[0] if b.ndims else None)
    except ValueError:
        raise ValueError(f"Dimensions must be equal, but are {x[ax]} and {b[0]} for '{op.name}' (op: "
                         f"'BiasAdd') with input shapes: {x}, {b}.") from None
    return [ts.TensorShape(dims)]


@BiasAdd.kernel
def _bias_add_kernel(x, b, *, data_format):
    ax = _channel_axis(data_format, x.ndim)
    if x.ndim < 2 or b.ndim != 1 or x.shape[ax] != b.shape[0]:
        raise errors.InvalidArgumentError(None, None, f"Must provide as many biases as the last dimension of the "
                                          f"input tensor: {list(b.shape)} vs. {list(x.shape)}")
    if ax == x.ndim - 1 and x.dtype.kind == "f" and x.dtype == b.dtype and x.flags.c_contiguous:
        out = np.empty(x.shape, x.dtype)
        x2, o2 = x.reshape(-1, b.shape[0]), out.reshape(-1, b.shape[0])
        _team.split(lambda i, j: np.add(x2[i:j], b, out=o2[i:j]), x2.shape[0], x.nbytes)
        return out
    return x + b.reshape((-1,) + (1,) * (x.ndim - 1 - ax))


BiasAdd.grad(lambda op, g: [g, apply_op("BiasAddGrad", out_backprop=g, data_format=op._attrs["data_format"])])

BiasAddGrad = define("BiasAddGrad", "out_backprop: T", "output: T", [f"T: {_BIAS_TYPES}", _FMT])


@BiasAddGrad.shape
def _bias_add_grad_shape(op):
    s = op._inputs[0].shape
    if s.ndims is None:
        return [ts.unknown_shape(1)]
    return [ts.TensorShape([s[_channel_axis(op._attrs["data_format"], s.ndims)]])]


@BiasAddGrad.kernel
def _bias_add_grad_kernel(g, *, data_format):
    ax = _channel_axis(data_format, g.ndim)
    if ax == g.ndim - 1:
        g2 = g.reshape(-1, g.shape[-1])
        if g2.dtype.kind == "f":  # a matrix-vector product sums the rows far faster than a strided reduction
            return np.ones(g2.shape[0], g2.dtype) @ g2
        return g2.sum(axis=0, dtype=g.dtype)
    return g.sum(axis=tuple(i for i in range(g.ndim) if i != ax), dtype=g.dtype)


# the gradient of a bias gradient broadcasts back: BiasAdd onto zeros does exactly that
BiasAddGrad.grad(lambda op, g: [apply_op("BiasAdd", value=array_ops.zeros_like(op.inputs[0]), bias=g,
                                         data_format=op._attrs["data_format"])])


# ==== convolution geometry ====================================================================
def _spatial(vals, data_format):
    """(h, w) entries of a 4-element attr in data_format order."""
    return (vals[2], vals[3]) if data_format == "NCHW" else (vals[1], vals[2])


def _out_and_pads(size, k, stride, dilation, padding, explicit=None):
    """Output size and (before, after) padding along one spatial dim, as TF computes them."""
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return (size - eff) // stride + 1, 0, 0
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    before, after = explicit
    return (size + before + after - eff) // stride + 1, before, after


def _explicit_hw(explicit_paddings, data_format):
    if not explicit_paddings:
        return None, None
    p = list(explicit_paddings)
    pairs = [(p[2 * i], p[2 * i + 1]) for i in range(4)]
    return _spatial(pairs, data_format)


class _Geom:
    """Conv/pool geometry in NHWC terms: kernel, strides, dilations, output size and paddings."""

    __slots__ = ("kh", "kw", "sh", "sw", "dh", "dw", "oh", "ow", "pt", "pb", "pl", "pr")

    def __init__(self, h, w, kh, kw, strides, dilations, padding, explicit_paddings, data_format):
        self.kh, self.kw = kh, kw
        self.sh, self.sw = _spatial(strides, data_format)
        self.dh, self.dw = _spatial(dilations, data_format) if dilations else (1, 1)
        eh, ew = _explicit_hw(explicit_paddings, data_format)
        self.oh, self.pt, self.pb = _out_and_pads(h, kh, self.sh, self.dh, padding, eh)
        self.ow, self.pl, self.pr = _out_and_pads(w, kw, self.sw, self.dw, padding, ew)
        if self.oh <= 0 or self.ow <= 0:
            raise errors.InvalidArgumentError(None, None, f"Computed output size would be negative: "
                                              f"{self.oh} [input_size: {h}, effective_filter_size: "
                                              f"{(kh - 1) * self.dh + 1}, stride: {self.sh}]")


def _nhwc(x, data_format):
    return x.transpose(0, 2, 3, 1) if data_format == "NCHW" else x


def _from_nhwc(x, data_format):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if data_format == "NCHW" else x


def _openblas_thread_api():
    """OpenBLAS's thread count and workers-running flag (its exported ``blas_cpu_number`` and
    ``blas_server_avail``) and its worker shutdown, for the OpenBLAS NumPy uses; None where not found."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        shutdown = getattr(lib, "blas_thread_shutdown_", None)
        try:
            count = ctypes.c_int.in_dll(lib, "blas_cpu_number")
            running = ctypes.c_int.in_dll(lib, "blas_server_avail")
        except ValueError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            get = getattr(lib, f"{prefix}_get_num_threads64_", None) or getattr(lib, f"{prefix}_get_num_threads",
                                                                                None)
            if get is not None and shutdown is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                shutdown.restype, shutdown.argtypes = ctypes.c_int, []
                if get() == count.value:  # the variable really is the thread count OpenBLAS reports
                    return count, running, shutdown
    return None


class _Team:
    """Runs a large kernel's batch in contiguous parts on the calling thread plus helper threads, each
    part calling a single-threaded OpenBLAS: im2col copies, padding and elementwise work then use every
    core too, and per-thread GEMMs on part of the rows beat one multi-threaded GEMM (conv-net step: 66 ms
    -> 46 ms on 2 cores).

    OpenBLAS's own workers busy-wait for about 0.1 s after each multi-threaded call, and a helper thread
    sharing a core with one ran slower than no helper at all. So a split sets OpenBLAS's thread count to
    one, stops its workers if they are running, and puts the count back after; the next multi-threaded
    call (``MatMul``, other NumPy code) restarts the workers itself, so consecutive splits pay nothing and
    everything else keeps multi-threaded BLAS. (``openblas_set_num_threads`` would restart the workers on
    every restore, which cost ~3 ms per conv-net step.) Where that OpenBLAS can't be found, or with
    ``DEFERFLOW_NN_THREADS=1``, kernels run on the calling thread alone; so they do while the process has
    Python threads of its own (one of them might be inside OpenBLAS, whose workers must not be stopped
    then). Native threads calling NumPy's OpenBLAS are not detected: set DEFERFLOW_NN_THREADS=1 there."""

    MIN_BYTES = 1 << 20  # smaller kernels run on the calling thread: the hand-off costs more than it saves

    def __init__(self):
        self._ways = None  # found on first use: looking up OpenBLAS costs milliseconds at import
        self.blas = None
        self.lock = threading.Lock()
        self.pid = None
        self.jobs = []
        self.results = queue.SimpleQueue()

    @property
    def ways(self):
        """How many threads a split uses (1: OpenBLAS not found, or DEFERFLOW_NN_THREADS=1)."""
        if self._ways is None:
            ways = 1
            want = os.environ.get("DEFERFLOW_NN_THREADS", "")
            self.blas = _openblas_thread_api() if want != "1" else None
            if self.blas is not None:
                n = int(want) if want.isdigit() and int(want) > 0 else self.blas[0].value
                ways = max(1, min(n, os.cpu_count() or 1))
            self._ways = ways
        return self._ways

    @ways.setter
    def ways(self, n):
        self._ways = n

    def _start(self):
        self.jobs = []
        for _ in range(self.ways - 1):
            q = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(q,), daemon=True, name="deferflow-nn").start()
            self.jobs.append(q)
        self.pid = os.getpid()

    def _serve(self, q):
        while True:
            fn, a, b = q.get()
            try:
                fn(a, b)
                self.results.put(None)
            except BaseException as e:  # handed back to the calling thread
                self.results.put(e)

    def split(self, fn, n, nbytes):
        """fn(a, b) over [0, n) in parts run concurrently; parts must touch disjoint outputs."""
        if (self.ways < 2 or n < 2 or nbytes < self.MIN_BYTES or threading.active_count() > 1 + len(self.jobs)
                or not self.lock.acquire(blocking=False)):
            fn(0, n)  # other Python threads may be inside OpenBLAS: its workers can't be stopped safely
            return
        count, running, shutdown = self.blas
        blas_threads = count.value
        try:
            if blas_threads > 1:
                count.value = 1
            if running.value:
                shutdown()
            if self.pid != os.getpid():
                self._start()
            ways = min(self.ways, n)
            cuts = [n * i // ways for i in range(ways + 1)]
            for q, i in zip(self.jobs, range(1, ways)):
                q.put((fn, cuts[i], cuts[i + 1]))
            err = None
            try:
                fn(cuts[0], cuts[1])
            except BaseException as e:
                err = e
            for _ in range(ways - 1):
                r = self.results.get()
                if err is None:
                    err = r
            if err is not None:
                raise err
        finally:
            if blas_threads > 1:
                count.value = blas_threads
            self.lock.release()


_team = _Team()


class _Workspace(threading.local):
    """Per-thread scratch buffers for kernel temporaries (padded inputs, im2col columns), reused across
    runs: fresh multi-megabyte arrays cost more in page faults than the copies that fill them."""

    def __init__(self):
        self.bufs = {}

    LIMIT = 1 << 26  # bytes: larger temporaries are allocated per use rather than kept for the thread's life

    def get(self, role, shape, dtype):
        n = int(np.prod(shape, dtype=np.int64))
        if n * np.dtype(dtype).itemsize > self.LIMIT:
            return np.empty(shape, dtype)
        key = (role, np.dtype(dtype))
        buf = self.bufs.get(key)
        if buf is None or buf.size < n:
            buf = self.bufs[key] = np.empty(n, dtype)
        return buf[:n].reshape(shape)


_ws = _Workspace()


def _padder(x, g, value=0, role="pad"):
    """(padded, fill): a scratch buffer for an NHWC array with H and W padded (or cropped, for negative
    amounts), and fill(a, b) writing batch rows a:b of it; ``x`` itself and a no-op fill when unpadded."""
    pt, pb, pl, pr = g.pt, g.pb, g.pl, g.pr
    if min(pt, pb, pl, pr) < 0:
        x = x[:, max(-pt, 0):x.shape[1] - max(-pb, 0), max(-pl, 0):x.shape[2] - max(-pr, 0)]
        pt, pb, pl, pr = max(pt, 0), max(pb, 0), max(pl, 0), max(pr, 0)
    if not (pt or pb or pl or pr):
        return x, lambda a, b: None
    n, h, w, c = x.shape
    out = _ws.get(role, (n, h + pt + pb, w + pl + pr, c), x.dtype)

    def fill(a, b):
        o = out[a:b]
        o[:, :pt] = value
        o[:, pt + h:] = value
        o[:, pt:pt + h, :pl] = value
        o[:, pt:pt + h, pl + w:] = value
        o[:, pt:pt + h, pl:pl + w] = x[a:b]
    return out, fill


def _pad(x, g, value=0, role="pad"):
    """H and W of an NHWC array padded (or cropped, for negative amounts); a scratch buffer unless no-op."""
    out, fill = _padder(x, g, value, role)
    fill(0, x.shape[0])
    return out


def _windows(xp, g):
    """A read-only (N, OH, OW, KH, KW, C) view of the receptive fields of a padded NHWC array."""
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (xp.shape[0], g.oh, g.ow, g.kh, g.kw, xp.shape[3]),
                      (s0, s1 * g.sh, s2 * g.sw, s1 * g.dh, s2 * g.dw, s3), writeable=False)


def _taps(xp, g):
    """(i, j, view) for each kernel tap: the (N, OH, OW, C) strided view of inputs it reads."""
    for i in range(g.kh):
        for j in range(g.kw):
            y0, x0 = i * g.dh, j * g.dw
            yield i, j, xp[:, y0:y0 + g.sh * (g.oh - 1) + 1:g.sh, x0:x0 + g.sw * (g.ow - 1) + 1:g.sw]


_CHUNK_BYTES = 1 << 22  # im2col columns are built and multiplied this many bytes at a time (stays in L2/L3)


def _chunks(a, b, row_bytes):
    step = max(1, min(b - a, _CHUNK_BYTES // max(row_bytes, 1)))
    return [(i, min(i + step, b)) for i in range(a, b, step)]


def _im2col(win, a, b, k):
    """Rows a:b of the window view as a (rows, KH*KW*C) matrix in the scratch buffer."""
    part = win[a:b]
    cols = _ws.get("cols", part.shape, win.dtype)
    np.copyto(cols, part)
    return cols.reshape(-1, k)


def _pointwise(x, g):
    return g.kh == g.kw == 1 and g.sh == g.sw == 1 and x.flags.c_contiguous


def _conv_nhwc(x, w, g):
    """Cross-correlation of NHWC ``x`` with HWIO ``w``: pad + im2col + matmul, the batch split over the
    team's threads and chunked within each part."""
    n, c, o = x.shape[0], x.shape[3], w.shape[3]
    k = g.kh * g.kw * c
    dt = np.result_type(x, w)
    w2 = np.ascontiguousarray(w.reshape(k, o), dtype=dt)
    out = np.empty((n, g.oh, g.ow, o), dt)
    xp, fill = _padder(x, g)
    if _pointwise(xp, g):
        x3 = xp.reshape(n, -1, c)

        def part(a, b):
            fill(a, b)
            np.matmul(x3[a:b].reshape(-1, c), w2, out=out[a:b].reshape(-1, o))
        _team.split(part, n, out.nbytes + x.nbytes)
        return out
    win = _windows(xp, g)
    row_bytes = g.oh * g.ow * k * x.itemsize

    def part(a, b):
        fill(a, b)
        for a2, b2 in _chunks(a, b, row_bytes):
            np.matmul(_im2col(win, a2, b2, k), w2, out=out[a2:b2].reshape(-1, o))
    _team.split(part, n, n * row_bytes)
    return out


def _conv_filter_grad_nhwc(x, dy, g, kshape):
    """dL/dw for NHWC ``x``: im2col(pad(x))^T @ dy, summed over chunks and the team's parts (in batch
    order, so the result does not depend on which thread finished first)."""
    n, c, o = x.shape[0], x.shape[3], dy.shape[3]
    k = g.kh * g.kw * c
    sums = {}
    xp, fill = _padder(x, g)
    if _pointwise(xp, g):
        x3, dy3 = xp.reshape(n, -1, c), dy.reshape(n, -1, o)

        def part(a, b):
            fill(a, b)
            sums[a] = x3[a:b].reshape(-1, c).T @ dy3[a:b].reshape(-1, o)
        _team.split(part, n, x.nbytes + dy.nbytes)
    else:
        win = _windows(xp, g)
        row_bytes = g.oh * g.ow * k * x.itemsize

        def part(a, b):
            fill(a, b)
            dw = None
            for a2, b2 in _chunks(a, b, row_bytes):
                p = _im2col(win, a2, b2, k).T @ dy[a2:b2].reshape(-1, o)
                dw = p if dw is None else dw.__iadd__(p)
            sums[a] = dw
        _team.split(part, n, n * row_bytes)
    parts = [sums[a] for a in sorted(sums)]
    dw = parts[0]
    for p in parts[1:]:
        dw += p
    return dw.reshape(kshape)


def _col2im_add(dxp, dcols6, g):
    """Adds each tap's column gradient back onto the padded input positions it was read from."""
    for i, j, view in _taps(dxp, g):
        view += dcols6[:, :, :, i, j]


def _conv_input_grad_nhwc(in_shape, w, dy, g):
    """dL/dx of an NHWC conv as an NHWC array of ``in_shape``."""
    n, h, wd, c = in_shape
    o = w.shape[3]
    if g.sh == g.sw == 1:  # a full correlation of dy with the flipped, transposed filter
        wf = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
        eh, ew = (g.kh - 1) * g.dh + 1, (g.kw - 1) * g.dw + 1
        gb = _Geom.__new__(_Geom)
        gb.kh, gb.kw, gb.sh, gb.sw, gb.dh, gb.dw, gb.oh, gb.ow = g.kh, g.kw, 1, 1, g.dh, g.dw, h, wd
        gb.pt, gb.pl = eh - 1 - g.pt, ew - 1 - g.pl
        gb.pb, gb.pr = h + eh - 1 - g.oh - gb.pt, wd + ew - 1 - g.ow - gb.pl
        return _conv_nhwc(dy, wf, gb)
    hp, wp = h + g.pt + g.pb, wd + g.pl + g.pr
    dxp = np.zeros((n, hp, wp, c), np.result_type(dy, w))
    w2t = w.reshape(-1, o).T
    row_bytes = g.oh * g.ow * g.kh * g.kw * c * dy.itemsize

    def part(a, b):
        for a2, b2 in _chunks(a, b, row_bytes):
            dcols = _ws.get("cols", ((b2 - a2) * g.oh * g.ow, g.kh * g.kw * c), dxp.dtype)
            np.matmul(dy[a2:b2].reshape(-1, o), w2t, out=dcols)
            _col2im_add(dxp[a2:b2], dcols.reshape(b2 - a2, g.oh, g.ow, g.kh, g.kw, c), g)
    _team.split(part, n, n * row_bytes)
    return dxp[:, g.pt:g.pt + h, g.pl:g.pl + wd]


# ==== Conv2D and its backprops ================================================================
_CONV_ATTRS = ["strides: list(int)", "use_cudnn_on_gpu: bool = true", "padding: {'SAME', 'VALID', 'EXPLICIT'}",
               "explicit_paddings: list(int) = []", _FMT, "dilations: list(int) = [1, 1, 1, 1]"]
_CONV_KW = ("strides", "padding", "explicit_paddings", "data_format", "dilations")


def _check_conv_attrs(op):
    strides, fmt = op._attrs["strides"], op._attrs["data_format"]
    if len(strides) != 4:
        raise ValueError(f"Conv2D requires the stride attribute to contain 4 values, but got: {len(strides)} "
                         f"for '{op.name}'")
    if strides[0] != 1 or strides[3 if fmt == "NHWC" else 1] != 1:
        raise ValueError("Current implementation does not yet support strides in the batch and depth dimensions.")
    if op._attrs["padding"] == "EXPLICIT" and len(op._attrs["explicit_paddings"]) != 8:
        raise ValueError(f"explicit_paddings attribute must contain 8 values, but got: "
                         f"{len(op._attrs['explicit_paddings'])}")


def _conv_out_shape(op, in_shape, kh, kw, out_c):
    """Static NHWC/NCHW output shape of a conv-like op."""
    fmt = op._attrs["data_format"]
    if in_shape.ndims is None:
        return ts.unknown_shape(4)
    d = in_shape.as_list()
    n, h, w = (d[0], d[2], d[3]) if fmt == "NCHW" else (d[0], d[1], d[2])
    sh, sw = _spatial(op._attrs["strides"], fmt)
    dh, dw = _spatial(op._attrs.get("dilations") or [1, 1, 1, 1], fmt)
    eh, ew = _explicit_hw(op._attrs.get("explicit_paddings"), fmt)
    pad = op._attrs["padding"]
    oh = None if h is None or kh is None else _out_and_pads(h, kh, sh, dh, pad, eh)[0]
    ow = None if w is None or kw is None else _out_and_pads(w, kw, sw, dw, pad, ew)[0]
    if (oh is not None and oh <= 0) or (ow is not None and ow <= 0):
        raise ValueError(f"Negative dimension size caused by subtracting filter size from input size for "
                         f"'{op.name}' (op: '{op.type}') with input shapes: {in_shape}")
    return ts.TensorShape([n, out_c, oh, ow] if fmt == "NCHW" else [n, oh, ow, out_c])


Conv2D = define("Conv2D", "input: T, filter: T", "output: T",
                ["T: {half, bfloat16, float, double, int32}"] + _CONV_ATTRS)


@Conv2D.shape
def _conv2d_shape(op):
    _check_conv_attrs(op)
    x, f = op._inputs[0].shape, op._inputs[1].shape
    if x.ndims is not None and x.ndims != 4:
        raise ValueError(f"Shape must be rank 4 but is rank {x.ndims} for '{op.name}' (op: 'Conv2D')")
    if f.ndims is not None and f.ndims != 4:
        raise ValueError(f"Shape must be rank 4 but is rank {f.ndims} for '{op.name}' (op: 'Conv2D')")
    fd = f.as_list() if f.ndims else [None] * 4
    if x.ndims is not None:
        cin = x[1 if op._attrs["data_format"] == "NCHW" else 3].value
        if cin is not None and fd[2] is not None and cin % fd[2]:
            raise ValueError(f"Depth of input ({cin}) is not a multiple of input depth of filter ({fd[2]}) for "
                             f"'{op.name}' (op: 'Conv2D')")
    return [_conv_out_shape(op, x, fd[0], fd[1], fd[3])]


def _geom_for(x_nhwc, kh, kw, strides, padding, explicit_paddings, data_format, dilations):
    return _Geom(x_nhwc.shape[1], x_nhwc.shape[2], kh, kw, strides, dilations, padding, explicit_paddings,
                 data_format)


@Conv2D.kernel
def _conv2d_kernel(x, w, *, strides, padding, explicit_paddings, data_format, dilations):
    if x.ndim != 4 or w.ndim != 4:
        raise errors.InvalidArgumentError(None, None, f"input and filter must be 4-dimensional: "
                                          f"{list(x.shape)} {list(w.shape)}")
    xn = _nhwc(x, data_format)
    if xn.shape[3] != w.shape[2]:
        raise errors.InvalidArgumentError(None, None, f"input depth must be evenly divisible by filter depth: "
                                          f"{xn.shape[3]} vs {w.shape[2]}")
    g = _geom_for(xn, w.shape[0], w.shape[1], strides, padding, explicit_paddings, data_format, dilations)
    return _from_nhwc(_conv_nhwc(xn, w, g), data_format)


def _conv_attrs(op):
    return {k: op._attrs[k] for k in _CONV_KW + ("use_cudnn_on_gpu",)}


@Conv2D.grad
def _conv2d_grad(op, g):
    a = _conv_attrs(op)
    return [apply_op("Conv2DBackpropInput", input_sizes=array_ops.shape(op.inputs[0]), filter=op.inputs[1],
                     out_backprop=g, **a),
            apply_op("Conv2DBackpropFilter", input=op.inputs[0], filter_sizes=array_ops.shape(op.inputs[1]),
                     out_backprop=g, **a)]


Conv2DBackpropInput = define("Conv2DBackpropInput", "input_sizes: int32, filter: T, out_backprop: T",
                             "output: T", ["T: {half, bfloat16, float, double, int32}"] + _CONV_ATTRS)
Conv2DBackpropInput.shape(lambda op: [shape_from_tensor(op._inputs[0]) if shape_from_tensor(
    op._inputs[0]).ndims is not None else ts.unknown_shape(4)])


@Conv2DBackpropInput.kernel
def _conv2d_backprop_input_kernel(input_sizes, w, dy, *, strides, padding, explicit_paddings, data_format,
                                  dilations):
    sizes = [int(v) for v in input_sizes]
    if len(sizes) != 4:
        raise errors.InvalidArgumentError(None, None, f"input_sizes must be 4-dimensional, got {sizes}")
    n, h, wd, c = (sizes[0], sizes[2], sizes[3], sizes[1]) if data_format == "NCHW" else sizes
    g = _Geom(h, wd, w.shape[0], w.shape[1], strides, dilations, padding, explicit_paddings, data_format)
    dyn = _nhwc(dy, data_format)
    if dyn.shape[1:3] != (g.oh, g.ow):
        raise errors.InvalidArgumentError(None, None, f"Conv2DBackpropInput: Size of out_backprop doesn't match "
                                          f"computed: actual = {list(dyn.shape[1:3])}, computed = "
                                          f"{[g.oh, g.ow]}")
    dx = _conv_input_grad_nhwc((n, h, wd, c), w, np.ascontiguousarray(dyn), g)
    return _from_nhwc(np.ascontiguousarray(dx), data_format)


@Conv2DBackpropInput.grad
def _conv2d_backprop_input_grad(op, g):
    a = _conv_attrs(op)
    return [None,
            apply_op("Conv2DBackpropFilter", input=g, filter_sizes=array_ops.shape(op.inputs[1]),
                     out_backprop=op.inputs[2], **a),
            apply_op("Conv2D", input=g, filter=op.inputs[1], **a)]


Conv2DBackpropFilter = define("Conv2DBackpropFilter", "input: T, filter_sizes: int32, out_backprop: T",
                              "output: T", ["T: {half, bfloat16, float, double}"] + _CONV_ATTRS)
Conv2DBackpropFilter.shape(lambda op: [shape_from_tensor(op._inputs[1]) if shape_from_tensor(
    op._inputs[1]).ndims is not None else ts.unknown_shape(4)])


@Conv2DBackpropFilter.kernel
def _conv2d_backprop_filter_kernel(x, filter_sizes, dy, *, strides, padding, explicit_paddings, data_format,
                                   dilations):
    kshape = tuple(int(v) for v in filter_sizes)
    xn = _nhwc(x, data_format)
    g = _geom_for(xn, kshape[0], kshape[1], strides, padding, explicit_paddings, data_format, dilations)
    dyn = np.ascontiguousarray(_nhwc(dy, data_format))
    if dyn.shape[1:3] != (g.oh, g.ow):
        raise errors.InvalidArgumentError(None, None, f"Conv2DBackpropFilter: Size of out_backprop doesn't "
                                          f"match computed: actual = {list(dyn.shape[1:3])}, computed = "
                                          f"{[g.oh, g.ow]}")
    return _conv_filter_grad_nhwc(np.ascontiguousarray(xn), dyn, g, kshape).astype(x.dtype, copy=False)


@Conv2DBackpropFilter.grad
def _conv2d_backprop_filter_grad(op, g):
    a = _conv_attrs(op)
    return [apply_op("Conv2DBackpropInput", input_sizes=array_ops.shape(op.inputs[0]), filter=g,
                     out_backprop=op.inputs[2], **a),
            None,
            apply_op("Conv2D", input=op.inputs[0], filter=g, **a)]


# ==== depthwise convolution ===================================================================
_DW_ATTRS = ["T: {half, bfloat16, float, double}", "strides: list(int)",
             "padding: {'SAME', 'VALID', 'EXPLICIT'}", "explicit_paddings: list(int) = []", _FMT,
             "dilations: list(int) = [1, 1, 1, 1]"]

DepthwiseConv2dNative = define("DepthwiseConv2dNative", "input: T, filter: T", "output: T", _DW_ATTRS)


@DepthwiseConv2dNative.shape
def _depthwise_shape(op):
    x, f = op._inputs[0].shape, op._inputs[1].shape
    fd = f.as_list() if f.ndims else [None] * 4
    out_c = None if fd[2] is None or fd[3] is None else fd[2] * fd[3]
    return [_conv_out_shape(op, x, fd[0], fd[1], out_c)]


def _depthwise_nhwc(xp, f, g):
    n, c = xp.shape[0], xp.shape[3]
    m = f.shape[3]
    out = np.zeros((n, g.oh, g.ow, c, m), np.result_type(xp, f))
    for i, j, view in _taps(xp, g):
        out += view[..., None] * f[i, j]
    return out.reshape(n, g.oh, g.ow, c * m)


@DepthwiseConv2dNative.kernel
def _depthwise_kernel(x, f, *, strides, padding, explicit_paddings, data_format, dilations):
    xn = _nhwc(x, data_format)
    g = _geom_for(xn, f.shape[0], f.shape[1], strides, padding, explicit_paddings, data_format, dilations)
    return _from_nhwc(_depthwise_nhwc(_pad(xn, g), f, g), data_format)


def _dw_attrs(op):
    return {k: op._attrs[k] for k in _CONV_KW}


DepthwiseConv2dNative.grad(lambda op, g: [
    apply_op("DepthwiseConv2dNativeBackpropInput", input_sizes=array_ops.shape(op.inputs[0]), filter=op.inputs[1],
             out_backprop=g, **_dw_attrs(op)),
    apply_op("DepthwiseConv2dNativeBackpropFilter", input=op.inputs[0], filter_sizes=array_ops.shape(op.inputs[1]),
             out_backprop=g, **_dw_attrs(op))])

DepthwiseConv2dNativeBackpropInput = define("DepthwiseConv2dNativeBackpropInput",
                                            "input_sizes: int32, filter: T, out_backprop: T", "output: T", _DW_ATTRS)
DepthwiseConv2dNativeBackpropInput.shape(lambda op: [shape_from_tensor(op._inputs[0])])


@DepthwiseConv2dNativeBackpropInput.kernel
def _depthwise_backprop_input_kernel(input_sizes, f, dy, *, strides, padding, explicit_paddings, data_format,
                                     dilations):
    sizes = [int(v) for v in input_sizes]
    n, h, wd, c = (sizes[0], sizes[2], sizes[3], sizes[1]) if data_format == "NCHW" else sizes
    g = _Geom(h, wd, f.shape[0], f.shape[1], strides, dilations, padding, explicit_paddings, data_format)
    m = f.shape[3]
    dy5 = _nhwc(dy, data_format).reshape(n, g.oh, g.ow, c, m)
    dxp = np.zeros((n, h + g.pt + g.pb, wd + g.pl + g.pr, c), np.result_type(dy, f))
    for i, j, view in _taps(dxp, g):
        view += np.einsum("nhwcm,cm->nhwc", dy5, f[i, j], optimize=True)
    return _from_nhwc(np.ascontiguousarray(dxp[:, g.pt:g.pt + h, g.pl:g.pl + wd]), data_format)


DepthwiseConv2dNativeBackpropInput.grad(lambda op, g: [
    None,
    apply_op("DepthwiseConv2dNativeBackpropFilter", input=g, filter_sizes=array_ops.shape(op.inputs[1]),
             out_backprop=op.inputs[2], **_dw_attrs(op)),
    apply_op("DepthwiseConv2dNative", input=g, filter=op.inputs[1], **_dw_attrs(op))])

DepthwiseConv2dNativeBackpropFilter = define("DepthwiseConv2dNativeBackpropFilter",
                                             "input: T, filter_sizes: int32, out_backprop: T", "output: T", _DW_ATTRS)
DepthwiseConv2dNativeBackpropFilter.shape(lambda op: [shape_from_tensor(op._inputs[1])])


@DepthwiseConv2dNativeBackpropFilter.kernel
def _depthwise_backprop_filter_kernel(x, filter_sizes, dy, *, strides, padding, explicit_paddings, data_format,
                                      dilations):
    kh, kw, c, m = (int(v) for v in filter_sizes)
    xn = _nhwc(x, data_format)
    g = _geom_for(xn, kh, kw, strides, padding, explicit_paddings, data_format, dilations)
    dy5 = _nhwc(dy, data_format).reshape(xn.shape[0], g.oh, g.ow, c, m)
    df = np.empty((kh, kw, c, m), np.result_type(x, dy))
    for i, j, view in _taps(_pad(xn, g), g):
        df[i, j] = np.einsum("nhwc,nhwcm->cm", view, dy5, optimize=True)
    return df


DepthwiseConv2dNativeBackpropFilter.grad(lambda op, g: [
    apply_op("DepthwiseConv2dNativeBackpropInput", input_sizes=array_ops.shape(op.inputs[0]), filter=g,
             out_backprop=op.inputs[2], **_dw_attrs(op)),
    None,
    apply_op("DepthwiseConv2dNative", input=op.inputs[0], filter=g, **_dw_attrs(op))])


# ==== pooling =================================================================================
_POOL_ATTRS = ["ksize: list(int) >= 4", "strides: list(int) >= 4"]
_POOL_KW = ("ksize", "strides", "padding", "data_format")


def _pool_shape(op):
    x = op._inputs[0].shape
    fmt = op._attrs["data_format"]
    if x.ndims is not None and x.ndims != 4:
        raise ValueError(f"Shape must be rank 4 but is rank {x.ndims} for '{op.name}' (op: '{op.type}')")
    ksize = op._attrs["ksize"]
    kh, kw = _spatial(ksize, fmt)
    c_k = ksize[1] if fmt == "NCHW" else ksize[3]
    if ksize[0] != 1 or c_k != 1:
        raise ValueError("Pooling is not yet supported on the batch dimension.")
    if x.ndims is None:
        return [ts.unknown_shape(4)]
    d = x.as_list()
    return [_conv_out_shape(op, x, kh, kw, d[1] if fmt == "NCHW" else d[3])]


def _pool_geom(xn, ksize, strides, padding, data_format, explicit_paddings=None):
    kh, kw = _spatial(ksize, data_format)
    return _Geom(xn.shape[1], xn.shape[2], kh, kw, strides, None, padding, explicit_paddings, data_format)


def _min_value(dtype):
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _tiles(xn, g):
    """True when the pooling windows tile the input exactly: no overlap, no padding, nothing left over."""
    return (g.sh == g.kh and g.sw == g.kw and g.oh * g.kh == xn.shape[1] and g.ow * g.kw == xn.shape[2]
            and not (g.pt or g.pb or g.pl or g.pr))


def _tiled_max_pool(xn, g):
    """MaxPool of exactly tiling windows: a (N, OH, KH, OW, KW, C) view maxed over rows, then columns."""
    n, c = xn.shape[0], xn.shape[3]
    x6 = xn.reshape(n, g.oh, g.kh, g.ow, g.kw, c)
    out = np.empty((n, g.oh, g.ow, c), xn.dtype)

    def part(a, b):
        rows = x6[a:b, :, 0] if g.kh == 1 else np.maximum(x6[a:b, :, 0], x6[a:b, :, 1])
        for i in range(2, g.kh):
            np.maximum(rows, x6[a:b, :, i], out=rows)
        o = out[a:b]
        if g.kw == 1:
            np.copyto(o, rows[:, :, :, 0])
            return
        np.maximum(rows[:, :, :, 0], rows[:, :, :, 1], out=o)
        for j in range(2, g.kw):
            np.maximum(o, rows[:, :, :, j], out=o)
    _team.split(part, n, xn.nbytes)
    return out


def _tiled_max_pool_grad(xn, yn, gn, g):
    """MaxPoolGrad of exactly tiling windows: each window's gradient goes to its first maximal element in
    row-major window order (TF's rule), through one equality mask laid out like the input."""
    n, c = xn.shape[0], xn.shape[3]
    x6 = xn.reshape(n, g.oh, g.kh, g.ow, g.kw, c)
    y6 = yn[:, :, None, :, None, :]
    g6 = gn[:, :, None, :, None, :]
    dx = np.empty(xn.shape, gn.dtype)
    d6 = dx.reshape(x6.shape)
    finite = bool(np.isfinite(gn).all()) if gn.dtype.kind == "f" else True

    def part(a, b):
        hit = np.equal(x6[a:b], y6[a:b])  # (n, OH, KH, OW, KW, C)
        taken = None  # windows whose maximum an earlier tap already claimed
        for i in range(g.kh):
            for j in range(g.kw):
                h = hit[:, :, i, :, j]
                if taken is None:
                    taken = h.copy()
                    continue
                np.greater(h, taken, out=h)  # hit and not yet taken
                if i != g.kh - 1 or j != g.kw - 1:
                    np.logical_or(taken, h, out=taken)
        if finite:  # g * mask equals the masked copy and is several times faster
            np.multiply(g6[a:b], hit, out=d6[a:b])
        else:
            d6[a:b] = 0
            np.copyto(d6[a:b], g6[a:b], where=hit)
    _team.split(part, n, xn.nbytes)
    return dx


def _max_pool_nhwc(xn, g):
    if _tiles(xn, g) and xn.flags.c_contiguous:
        return _tiled_max_pool(xn, g)
    xp = _pad(xn, g, _min_value(xn.dtype))
    out = None
    for _, _, view in _taps(xp, g):
        if out is None:
            out = view.copy()
        else:
            np.maximum(out, view, out=out)
    return out


MaxPool = define("MaxPool", "input: T", "output: T",
                 ["T: {half, bfloat16, float, double, int32, int64, uint8, int16, int8, uint16, qint8} = float"]
                 + _POOL_ATTRS + ["padding: {'SAME', 'VALID', 'EXPLICIT'}", "explicit_paddings: list(int) = []",
                                  "data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'"])
MaxPool.shape(_pool_shape)


@MaxPool.kernel
def _max_pool_kernel(x, *, ksize, strides, padding, explicit_paddings, data_format):
    xn = _nhwc(x, data_format)
    g = _pool_geom(xn, ksize, strides, padding, data_format, explicit_paddings)
    return _from_nhwc(_max_pool_nhwc(xn, g), data_format)


MaxPool.grad(lambda op, g: [apply_op("MaxPoolGrad", orig_input=op.inputs[0], orig_output=op.outputs[0], grad=g,
                                     ksize=op._attrs["ksize"], strides=op._attrs["strides"],
                                     padding=op._attrs["padding"], explicit_paddings=op._attrs["explicit_paddings"],
                                     data_format=op._attrs["data_format"])])


def _first_max_hits(xp, yn, g):
    """For each tap in window order, the mask of windows whose first maximum sits at that tap (TF's rule)."""
    taken = np.zeros(yn.shape, bool)
    hit = np.empty(yn.shape, bool)
    last = g.kh * g.kw - 1
    for t, (i, j, xv) in enumerate(_taps(xp, g)):
        np.equal(xv, yn, out=hit)
        if t:
            np.greater(hit, taken, out=hit)  # hit and not yet taken
        if t != last:
            np.logical_or(taken, hit, out=taken)
        yield i, j, hit


def _max_pool_route(xn, yn, gn, g):
    """Sends each window's gradient to the first input position holding its maximum."""
    xp = _pad(xn, g, _min_value(xn.dtype))
    covered = g.sh == g.kh and g.sw == g.kw and g.oh * g.kh == xp.shape[1] and g.ow * g.kw == xp.shape[2]
    dxp = np.empty(xp.shape, gn.dtype) if covered and np.isfinite(gn).all() else np.zeros(xp.shape, gn.dtype)
    dx_taps = {(i, j): v for i, j, v in _taps(dxp, g)}
    disjoint = g.sh >= g.kh and g.sw >= g.kw  # each input position belongs to at most one window
    finite = bool(np.isfinite(gn).all())  # then g * mask equals a masked copy (and is several times faster)
    for i, j, hit in _first_max_hits(xp, yn, g):
        dv = dx_taps[i, j]
        if finite and disjoint:
            np.multiply(gn, hit, out=dv)
        elif finite:
            dv += gn * hit
        elif disjoint:
            np.copyto(dv, gn, where=hit)
        else:
            np.add(dv, gn, out=dv, where=hit)
    return dxp[:, g.pt:g.pt + xn.shape[1], g.pl:g.pl + xn.shape[2]]


MaxPoolGrad = define("MaxPoolGrad", "orig_input: T, orig_output: T, grad: T", "output: T",
                     _POOL_ATTRS + ["padding: {'SAME', 'VALID', 'EXPLICIT'}", "explicit_paddings: list(int) = []",
                                    _FMT, f"T: {_REALS} = float"])
MaxPoolGrad.shape(lambda op: [op._inputs[0].shape])


@MaxPoolGrad.kernel
def _max_pool_grad_kernel(x, y, grad, *, ksize, strides, padding, explicit_paddings, data_format):
    xn, yn, gn = (_nhwc(a, data_format) for a in (x, y, grad))
    g = _pool_geom(xn, ksize, strides, padding, data_format, explicit_paddings)
    if _tiles(xn, g) and xn.flags.c_contiguous and yn.shape == gn.shape == (xn.shape[0], g.oh, g.ow, xn.shape[3]):
        return _from_nhwc(_tiled_max_pool_grad(xn, yn, gn, g), data_format)
    return _from_nhwc(np.ascontiguousarray(_max_pool_route(xn, yn, gn, g)), data_format)


MaxPoolGrad.grad(lambda op, g: [
    array_ops.zeros_like(op.inputs[0]), array_ops.zeros_like(op.inputs[1]),
    apply_op("MaxPoolGradGrad", orig_input=op.inputs[0], orig_output=op.inputs[1], grad=g,
             **{k: op._attrs[k] for k in _POOL_KW})])

MaxPoolGradGrad = define("MaxPoolGradGrad", "orig_input: T, orig_output: T, grad: T", "output: T",
                         _POOL_ATTRS + ["padding: {'SAME', 'VALID'}", _FMT, f"T: {_REALS}"])
MaxPoolGradGrad.shape(lambda op: [op._inputs[1].shape])


@MaxPoolGradGrad.kernel
def _max_pool_grad_grad_kernel(x, y, grad, *, ksize, strides, padding, data_format):
    xn, yn, gn = (_nhwc(a, data_format) for a in (x, y, grad))
    g = _pool_geom(xn, ksize, strides, padding, data_format)
    xp = _pad(xn, g, _min_value(xn.dtype))
    g_taps = {(i, j): v for i, j, v in _taps(_pad(gn, g, 0, role="pad2"), g)}
    out = np.zeros(yn.shape, gn.dtype)
    finite = bool(np.isfinite(gn).all())
    for i, j, hit in _first_max_hits(xp, yn, g):
        if finite:  # exactly one tap hits per window
            out += g_taps[i, j] * hit
        else:
            np.copyto(out, g_taps[i, j], where=hit)
    return _from_nhwc(out, data_format)


MaxPoolGradGrad.grad(lambda op, g: [
    array_ops.zeros_like(op.inputs[0]), array_ops.zeros_like(op.inputs[1]),
    apply_op("MaxPoolGrad", orig_input=op.inputs[0], orig_output=op.inputs[1], grad=g,
             **{k: op._attrs[k] for k in _POOL_KW})])


def _avg_counts(h, w, g, dtype):
    """Number of real (unpadded) inputs in each output window, shaped (OH, OW, 1)."""
    def count(size, k, s, pad, out):
        start = np.arange(out) * s - pad
        return np.minimum(start + k, size) - np.maximum(start, 0)
    return (count(h, g.kh, g.sh, g.pt, g.oh)[:, None] * count(w, g.kw, g.sw, g.pl, g.ow)[None, :]).astype(
        dtype)[:, :, None]


AvgPool = define("AvgPool", "value: T", "output: T",
                 _POOL_ATTRS + ["padding: {'SAME', 'VALID'}", _FMT, f"T: {_FLOATS}"])
AvgPool.shape(_pool_shape)


@AvgPool.kernel
def _avg_pool_kernel(x, *, ksize, strides, padding, data_format):
    xn = _nhwc(x, data_format)
    g = _pool_geom(xn, ksize, strides, padding, data_format)
    xp = _pad(xn, g, 0)
    out = None
    for _, _, view in _taps(xp, g):
        out = view.copy() if out is None else out.__iadd__(view)
    out /= _avg_counts(xn.shape[1], xn.shape[2], g, x.dtype)
    return _from_nhwc(out, data_format)


AvgPool.grad(lambda op, g: [apply_op("AvgPoolGrad", orig_input_shape=array_ops.shape(op.inputs[0]), grad=g,
                                     **{k: op._attrs[k] for k in _POOL_KW})])

AvgPoolGrad = define("AvgPoolGrad", "orig_input_shape: int32, grad: T", "output: T",
                     _POOL_ATTRS + ["padding: {'SAME', 'VALID'}", _FMT, f"T: {_FLOATS}"])
AvgPoolGrad.shape(lambda op: [shape_from_tensor(op._inputs[0])])


@AvgPoolGrad.kernel
def _avg_pool_grad_kernel(orig_input_shape, grad, *, ksize, strides, padding, data_format):
    sizes = [int(v) for v in orig_input_shape]
    n, h, w, c = (sizes[0], sizes[2], sizes[3], sizes[1]) if data_format == "NCHW" else sizes
    kh, kw = _spatial(ksize, data_format)
    g = _Geom(h, w, kh, kw, strides, None, padding, None, data_format)
    gn = _nhwc(grad, data_format) / _avg_counts(h, w, g, grad.dtype)
    dxp = np.zeros((n, h + g.pt + g.pb, w + g.pl + g.pr, c), grad.dtype)
    for _, _, view in _taps(dxp, g):
        view += gn
    return _from_nhwc(np.ascontiguousarray(dxp[:, g.pt:g.pt + h, g.pl:g.pl + w]), data_format)


AvgPoolGrad.grad(lambda op, g: [array_ops.stop_gradient(op.inputs[0]),
                                apply_op("AvgPool", value=g, **{k: op._attrs[k] for k in _POOL_KW})])


# ==== 3-D convolution and pooling =============================================================
# N-d versions of the 2-D helpers above: pad, a strided window view, one matmul (conv) or a reduction
# over the window axes (pooling). 3-D nets are rare in the legacy models deferflow runs, so these favour
# brevity over the 2-D kernels' threading and chunking.
_FMT3 = "data_format: {'NDHWC', 'NCDHW'} = 'NDHWC'"
_CONV3_ATTRS = ["strides: list(int) >= 5", "padding: {'SAME', 'VALID'}", _FMT3,
                "dilations: list(int) = [1, 1, 1, 1, 1]"]
_CONV3_KW = ("strides", "padding", "data_format", "dilations")
_POOL3_ATTRS = ["ksize: list(int) >= 5", "strides: list(int) >= 5", "padding: {'SAME', 'VALID'}", _FMT3]


def _ndhwc(x, data_format):
    return x.transpose(0, 2, 3, 4, 1) if data_format == "NCDHW" else x


def _from_ndhwc(x, data_format):
    return np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3)) if data_format == "NCDHW" else x


def _spatial3(vals, data_format):
    return tuple(vals[2:5]) if data_format == "NCDHW" else tuple(vals[1:4])


class _Geom3:
    """Geometry of a 3-D window op in NDHWC terms: kernel, strides, dilations, output sizes, paddings."""

    def __init__(self, sizes, ks, strides, dilations, padding):
        self.ks, self.st, self.dl = tuple(ks), tuple(strides), tuple(dilations)
        geo = [_out_and_pads(s, k, st, d, padding) for s, k, st, d in zip(sizes, ks, strides, dilations)]
        self.out = tuple(g[0] for g in geo)
        self.pads = [(g[1], g[2]) for g in geo]
        if min(self.out) <= 0:
            raise errors.InvalidArgumentError(None, None, f"Computed output size would be negative: "
                                              f"{list(self.out)} [input_size: {list(sizes)}]")

    def pad(self, x, value=0):
        if not any(a or b for a, b in self.pads):
            return x
        return np.pad(x, [(0, 0)] + self.pads + [(0, 0)], constant_values=value)

    def windows(self, xp):
        """(N, OD, OH, OW, KD, KH, KW, C) read-only view of the receptive fields of padded ``xp``."""
        s = xp.strides
        return as_strided(xp, (xp.shape[0],) + self.out + self.ks + (xp.shape[4],),
                          (s[0],) + tuple(s[i + 1] * self.st[i] for i in range(3))
                          + tuple(s[i + 1] * self.dl[i] for i in range(3)) + (s[4],), writeable=False)

    def taps(self, xp):
        """(tap index, (N, OD, OH, OW, C) view) for every kernel tap of padded ``xp``."""
        for t in np.ndindex(*self.ks):
            sl = tuple(slice(t[i] * self.dl[i], t[i] * self.dl[i] + self.st[i] * (self.out[i] - 1) + 1, self.st[i])
                       for i in range(3))
            yield t, xp[(slice(None),) + sl]

    def crop(self, xp, sizes):
        return xp[(slice(None),) + tuple(slice(p[0], p[0] + s) for p, s in zip(self.pads, sizes))]


def _geom3(x5, ks, op_attrs_strides, dilations, padding, data_format):
    return _Geom3(x5.shape[1:4], ks, _spatial3(op_attrs_strides, data_format),
                  _spatial3(dilations, data_format) if dilations else (1, 1, 1), padding)


def _conv3_out_shape(op, x, ks, out_c):
    fmt = op._attrs["data_format"]
    if x.ndims is None:
        return ts.unknown_shape(5)
    d = x.as_list()
    n, sp = d[0], (d[2:5] if fmt == "NCDHW" else d[1:4])
    st = _spatial3(op._attrs["strides"], fmt)
    dl = _spatial3(op._attrs.get("dilations") or [1] * 5, fmt)
    out = [None if s is None or k is None else _out_and_pads(s, k, a, b, op._attrs["padding"])[0]
           for s, k, a, b in zip(sp, ks, st, dl)]
    if any(o is not None and o <= 0 for o in out):
        raise ValueError(f"Negative dimension size caused by subtracting filter size from input size for "
                         f"'{op.name}' (op: '{op.type}') with input shapes: {x}")
    return ts.TensorShape([n, out_c] + out if fmt == "NCDHW" else [n] + out + [out_c])


def _rank5(op, s, what="input"):
    if s.ndims is not None and s.ndims != 5:
        raise ValueError(f"Shape must be rank 5 but is rank {s.ndims} for '{op.name}' (op: '{op.type}')")


Conv3D = define("Conv3D", "input: T, filter: T", "output: T", [f"T: {_FLOATS}"] + _CONV3_ATTRS)


@Conv3D.shape
def _conv3d_shape(op):
    x, f = op._inputs[0].shape, op._inputs[1].shape
    _rank5(op, x)
    _rank5(op, f)
    fd = f.as_list() if f.ndims else [None] * 5
    return [_conv3_out_shape(op, x, fd[:3], fd[4])]


def _conv3_forward(xn, w, g):
    n, c, o = xn.shape[0], xn.shape[4], w.shape[4]
    k = int(np.prod(g.ks)) * c
    cols = g.windows(g.pad(xn)).reshape(-1, k)
    return (cols @ w.reshape(k, o)).reshape((n,) + g.out + (o,))


@Conv3D.kernel
def _conv3d_kernel(x, w, *, strides, padding, data_format, dilations):
    xn = _ndhwc(x, data_format)
    if x.ndim != 5 or w.ndim != 5 or xn.shape[4] != w.shape[3]:
        raise errors.InvalidArgumentError(None, None, f"Input depth must be evenly divisible by filter depth: "
                                          f"{list(x.shape)} vs {list(w.shape)}")
    g = _geom3(xn, w.shape[:3], strides, dilations, padding, data_format)
    return _from_ndhwc(_conv3_forward(xn, w, g).astype(x.dtype, copy=False), data_format)


def _conv3_input_grad(sizes, w, dyn, g):
    n, c = sizes[0], sizes[4]
    dcols = (dyn.reshape(-1, w.shape[4]) @ w.reshape(-1, w.shape[4]).T).reshape((n,) + g.out + g.ks + (c,))
    dxp = np.zeros((n,) + tuple(s + a + b for s, (a, b) in zip(sizes[1:4], g.pads)) + (c,), dcols.dtype)
    for t, view in g.taps(dxp):
        view += dcols[(slice(None),) * 4 + t]
    return np.ascontiguousarray(g.crop(dxp, sizes[1:4]))


def _conv3_filter_grad(xn, dyn, g, kshape):
    k = int(np.prod(kshape[:4]))
    cols = g.windows(g.pad(xn)).reshape(-1, k)
    return (cols.T @ dyn.reshape(-1, kshape[4])).reshape(kshape)


def _sizes5(v, data_format):
    s = [int(a) for a in v]
    return [s[0], s[2], s[3], s[4], s[1]] if data_format == "NCDHW" else s


def _conv3_attrs(op):
    return {k: op._attrs[k] for k in _CONV3_KW}


Conv3D.grad(lambda op, g: [
    apply_op("Conv3DBackpropInputV2", input_sizes=array_ops.shape(op.inputs[0]), filter=op.inputs[1],
             out_backprop=g, **_conv3_attrs(op)),
    apply_op("Conv3DBackpropFilterV2", input=op.inputs[0], filter_sizes=array_ops.shape(op.inputs[1]),
             out_backprop=g, **_conv3_attrs(op))])

Conv3DBackpropInputV2 = define("Conv3DBackpropInputV2", "input_sizes: Tshape, filter: T, out_backprop: T",
                               "output: T", [f"T: {_FLOATS}"] + _CONV3_ATTRS + ["Tshape: {int32, int64} = int32"])
Conv3DBackpropInputV2.shape(lambda op: [shape_from_tensor(op._inputs[0]) if shape_from_tensor(
    op._inputs[0]).ndims is not None else ts.unknown_shape(5)])


@Conv3DBackpropInputV2.kernel
def _conv3d_backprop_input_kernel(input_sizes, w, dy, *, strides, padding, data_format, dilations):
    sizes = _sizes5(input_sizes, data_format)
    g = _Geom3(sizes[1:4], w.shape[:3], _spatial3(strides, data_format), _spatial3(dilations, data_format), padding)
    dyn = _ndhwc(dy, data_format)
    if tuple(dyn.shape[1:4]) != g.out:
        raise errors.InvalidArgumentError(None, None, f"Conv3DBackpropInputOp: Computed backprop input shape "
                                          f"does not match: {list(dyn.shape[1:4])} vs {list(g.out)}")
    return _from_ndhwc(_conv3_input_grad(sizes, w, dyn, g).astype(dy.dtype, copy=False), data_format)


Conv3DBackpropInputV2.grad(lambda op, g: [
    None,
    apply_op("Conv3DBackpropFilterV2", input=g, filter_sizes=array_ops.shape(op.inputs[1]),
             out_backprop=op.inputs[2], **_conv3_attrs(op)),
    apply_op("Conv3D", input=g, filter=op.inputs[1], **_conv3_attrs(op))])

Conv3DBackpropFilterV2 = define("Conv3DBackpropFilterV2", "input: T, filter_sizes: int32, out_backprop: T",
                                "output: T", [f"T: {_FLOATS}"] + _CONV3_ATTRS)
Conv3DBackpropFilterV2.shape(lambda op: [shape_from_tensor(op._inputs[1]) if shape_from_tensor(
    op._inputs[1]).ndims is not None else ts.unknown_shape(5)])


@Conv3DBackpropFilterV2.kernel
def _conv3d_backprop_filter_kernel(x, filter_sizes, dy, *, strides, padding, data_format, dilations):
    kshape = tuple(int(v) for v in filter_sizes)
    xn = _ndhwc(x, data_format)
    g = _geom3(xn, kshape[:3], strides, dilations, padding, data_format)
    dyn = _ndhwc(dy, data_format)
    if tuple(dyn.shape[1:4]) != g.out:
        raise errors.InvalidArgumentError(None, None, f"Conv3DBackpropFilterOp: Computed backprop output shape "
                                          f"does not match: {list(dyn.shape[1:4])} vs {list(g.out)}")
    return _conv3_filter_grad(xn, dyn, g, kshape).astype(x.dtype, copy=False)


Conv3DBackpropFilterV2.grad(lambda op, g: [
    apply_op("Conv3DBackpropInputV2", input_sizes=array_ops.shape(op.inputs[0]), filter=g,
             out_backprop=op.inputs[2], **_conv3_attrs(op)),
    None,
    apply_op("Conv3D", input=op.inputs[0], filter=g, **_conv3_attrs(op))])


def _pool3_shape(op):
    x = op._inputs[0].shape
    _rank5(op, x)
    fmt = op._attrs["data_format"]
    ksize = op._attrs["ksize"]
    if ksize[0] != 1 or ksize[1 if fmt == "NCDHW" else 4] != 1:
        raise ValueError("Pooling is not yet supported on the batch dimension.")
    if x.ndims is None:
        return [ts.unknown_shape(5)]
    return [_conv3_out_shape(op, x, _spatial3(ksize, fmt), x[1 if fmt == "NCDHW" else 4].value)]


def _pool3_geom(xn, ksize, strides, padding, data_format):
    return _Geom3(xn.shape[1:4], _spatial3(ksize, data_format), _spatial3(strides, data_format), (1, 1, 1),
                  padding)


_POOL3_KW = ("ksize", "strides", "padding", "data_format")

MaxPool3D = define("MaxPool3D", "input: T", "output: T", _POOL3_ATTRS + ["T: {half, bfloat16, float}"])
MaxPool3D.shape(_pool3_shape)


@MaxPool3D.kernel
def _max_pool3d_kernel(x, *, ksize, strides, padding, data_format):
    xn = _ndhwc(x, data_format)
    g = _pool3_geom(xn, ksize, strides, padding, data_format)
    return _from_ndhwc(g.windows(g.pad(xn, _min_value(x.dtype))).max(axis=(4, 5, 6)), data_format)


MaxPool3D.grad(lambda op, g: [apply_op("MaxPool3DGrad", orig_input=op.inputs[0], orig_output=op.outputs[0], grad=g,
                                       **{k: op._attrs[k] for k in _POOL3_KW})])


def _max_pool3_hits(xn, yn, g):
    """(tap, mask) per kernel tap: the windows whose first maximum (in window order) sits at that tap."""
    xp = g.pad(xn, _min_value(xn.dtype))
    taken = np.zeros(yn.shape, bool)
    for t, view in g.taps(xp):
        hit = (view == yn) & ~taken
        taken |= hit
        yield t, hit


MaxPool3DGrad = define("MaxPool3DGrad", "orig_input: TInput, orig_output: TInput, grad: T", "output: T",
                       _POOL3_ATTRS + ["T: {half, bfloat16, float} = float", "TInput: {half, bfloat16, float} = float"])
MaxPool3DGrad.shape(lambda op: [op._inputs[0].shape])


@MaxPool3DGrad.kernel
def _max_pool3d_grad_kernel(x, y, grad, *, ksize, strides, padding, data_format):
    xn, yn, gn = (_ndhwc(a, data_format) for a in (x, y, grad))
    g = _pool3_geom(xn, ksize, strides, padding, data_format)
    dxp = np.zeros((xn.shape[0],) + tuple(s + a + b for s, (a, b) in zip(xn.shape[1:4], g.pads))
                   + (xn.shape[4],), grad.dtype)
    taps = dict(g.taps(dxp))
    for t, hit in _max_pool3_hits(xn, yn, g):
        np.add(taps[t], gn, out=taps[t], where=hit)
    return _from_ndhwc(np.ascontiguousarray(g.crop(dxp, xn.shape[1:4])), data_format)


MaxPool3DGrad.grad(lambda op, g: [
    array_ops.zeros_like(op.inputs[0]), array_ops.zeros_like(op.inputs[1]),
    apply_op("MaxPool3DGradGrad", orig_input=op.inputs[0], orig_output=op.inputs[1], grad=g,
             **{k: op._attrs[k] for k in _POOL3_KW})])

MaxPool3DGradGrad = define("MaxPool3DGradGrad", "orig_input: T, orig_output: T, grad: T", "output: T",
                           _POOL3_ATTRS + [f"T: {_REALS}"])
MaxPool3DGradGrad.shape(lambda op: [op._inputs[1].shape])


@MaxPool3DGradGrad.kernel
def _max_pool3d_grad_grad_kernel(x, y, grad, *, ksize, strides, padding, data_format):
    xn, yn, gn = (_ndhwc(a, data_format) for a in (x, y, grad))
    g = _pool3_geom(xn, ksize, strides, padding, data_format)
    g_taps = dict(g.taps(g.pad(gn)))
    out = np.zeros(yn.shape, grad.dtype)
    for t, hit in _max_pool3_hits(xn, yn, g):
        np.copyto(out, g_taps[t], where=hit)
    return _from_ndhwc(out, data_format)


MaxPool3DGradGrad.grad(lambda op, g: [
    array_ops.zeros_like(op.inputs[0]), array_ops.zeros_like(op.inputs[1]),
    apply_op("MaxPool3DGrad", orig_input=op.inputs[0], orig_output=op.inputs[1], grad=g,
             **{k: op._attrs[k] for k in _POOL3_KW})])


def _avg3_counts(sizes, g, dtype):
    """Number of real (unpadded) inputs in each output window, shaped (OD, OH, OW, 1)."""
    out = np.ones((), np.int64)
    for i in range(3):
        start = np.arange(g.out[i]) * g.st[i] - g.pads[i][0]
        c = np.minimum(start + g.ks[i], sizes[i]) - np.maximum(start, 0)
        out = np.multiply.outer(out, c)
    return out.astype(dtype)[..., None]


AvgPool3D = define("AvgPool3D", "input: T", "output: T", _POOL3_ATTRS + [f"T: {_FLOATS}"])
AvgPool3D.shape(_pool3_shape)


@AvgPool3D.kernel
def _avg_pool3d_kernel(x, *, ksize, strides, padding, data_format):
    xn = _ndhwc(x, data_format)
    g = _pool3_geom(xn, ksize, strides, padding, data_format)
    s = g.windows(g.pad(xn)).sum(axis=(4, 5, 6), dtype=x.dtype)
    return _from_ndhwc((s / _avg3_counts(xn.shape[1:4], g, x.dtype)).astype(x.dtype, copy=False), data_format)


AvgPool3D.grad(lambda op, g: [apply_op("AvgPool3DGrad", orig_input_shape=array_ops.shape(op.inputs[0]), grad=g,
                                       **{k: op._attrs[k] for k in _POOL3_KW})])

AvgPool3DGrad = define("AvgPool3DGrad", "orig_input_shape: int32, grad: T", "output: T",
                       _POOL3_ATTRS + [f"T: {_FLOATS}"])
AvgPool3DGrad.shape(lambda op: [shape_from_tensor(op._inputs[0])])


@AvgPool3DGrad.kernel
def _avg_pool3d_grad_kernel(orig_input_shape, grad, *, ksize, strides, padding, data_format):
    sizes = _sizes5(orig_input_shape, data_format)
    g = _Geom3(sizes[1:4], _spatial3(ksize, data_format), _spatial3(strides, data_format), (1, 1, 1), padding)
    gn = _ndhwc(grad, data_format) / _avg3_counts(sizes[1:4], g, grad.dtype)
    dxp = np.zeros((sizes[0],) + tuple(s + a + b for s, (a, b) in zip(sizes[1:4], g.pads)) + (sizes[4],),
                   grad.dtype)
    for _, view in g.taps(dxp):
        view += gn
    return _from_ndhwc(np.ascontiguousarray(g.crop(dxp, sizes[1:4])), data_format)


AvgPool3DGrad.grad(lambda op, g: [array_ops.stop_gradient(op.inputs[0]),
                                  apply_op("AvgPool3D", input=g, **{k: op._attrs[k] for k in _POOL3_KW})])


# ==== losses and normalisation ================================================================
L2Loss = define("L2Loss", "t: T", "output: T", [f"T: {_FLOATS}"])
L2Loss.shape(lambda op: [ts.TensorShape([])])
L2Loss.kernel(lambda t: np.asarray(np.vdot(t, t) / 2 if t.dtype.kind == "f" else np.sum(t * t) / 2, dtype=t.dtype))
L2Loss.grad(lambda op, g: [op.inputs[0] * g])

_BN_FMT = "data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'"
FusedBatchNormV3 = define(
    "FusedBatchNormV3", "x: T, scale: U, offset: U, mean: U, variance: U",
    "y: T, batch_mean: U, batch_variance: U, reserve_space_1: U, reserve_space_2: U, reserve_space_3: U",
    ["T: {half, bfloat16, float}", "U: {bfloat16, float}", "epsilon: float = 0.0001",
     "exponential_avg_factor: float = 1.0", _BN_FMT, "is_training: bool = true"])


@FusedBatchNormV3.shape
def _fused_bn_shape(op):
    x = op._inputs[0].shape
    if x.ndims is not None and x.ndims not in (4, 5):
        raise ValueError(f"Shape must be rank 4 but is rank {x.ndims} for '{op.name}' (op: 'FusedBatchNormV3')")
    c = None
    if x.ndims is not None:
        c = x[1 if op._attrs["data_format"].startswith("NC") else -1]
    for t in op._inputs[1:3]:
        if t.shape.ndims == 1:
            c = ts.as_dimension(c).merge_with(t.shape[0]) if c is not None else t.shape[0]
    v = ts.TensorShape([c])
    return [x, v, v, v, v, ts.unknown_shape(1)]


def _bn_axes(x, data_format):
    """Reduction axes and the shape that broadcasts a per-channel vector against ``x``."""
    if data_format.startswith("NC"):
        return (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)
    return tuple(range(x.ndim - 1)), (-1,)


@FusedBatchNormV3.kernel
def _fused_bn_kernel(x, scale, offset, mean, variance, *, epsilon, exponential_avg_factor, data_format,
                     is_training):
    axes, bshape = _bn_axes(x, data_format)
    xf = x.astype(np.float32, copy=False)
    if is_training:
        n = max(int(np.prod([x.shape[a] for a in axes])), 1)
        bm = xf.mean(axis=axes, dtype=np.float32)
        centered = xf - bm.reshape(bshape)
        bv = (centered * centered).mean(axis=axes)
        inv = (1.0 / np.sqrt(bv + np.float32(epsilon))).astype(np.float32)
        y = centered * (scale * inv).reshape(bshape) + offset.reshape(bshape)
        unbiased = bv * (n / max(n - 1, 1))
        f = np.float32(exponential_avg_factor)
        if f != 1 and mean.size:
            out_m, out_v = (1 - f) * mean + f * bm, (1 - f) * variance + f * unbiased
        else:
            out_m, out_v = bm, unbiased
        return (y.astype(x.dtype, copy=False), out_m.astype(np.float32), out_v.astype(np.float32),
                bm.astype(np.float32), bv.astype(np.float32), np.zeros(0, np.float32))
    inv = (1.0 / np.sqrt(variance + np.float32(epsilon))).astype(np.float32)
    y = (xf - mean.reshape(bshape)) * (scale * inv).reshape(bshape) + offset.reshape(bshape)
    return (y.astype(x.dtype, copy=False), mean, variance, mean, variance, np.zeros(0, np.float32))


@FusedBatchNormV3.grad
def _fused_bn_grad(op, *grads):
    x, scale = op.inputs[0], op.inputs[1]
    training = op._attrs["is_training"]
    dx, dscale, doffset, _, _ = apply_op(
        "FusedBatchNormGradV3", y_backprop=grads[0], x=x, scale=scale,
        reserve_space_1=op.outputs[3] if training else op.inputs[3],
        reserve_space_2=op.outputs[4] if training else op.inputs[4], reserve_space_3=op.outputs[5],
        epsilon=op._attrs["epsilon"], data_format=op._attrs["data_format"], is_training=training)
    return [dx, dscale, doffset, None, None]


FusedBatchNormGradV3 = define(
    "FusedBatchNormGradV3", "y_backprop: T, x: T, scale: float, reserve_space_1: U, reserve_space_2: U, "
    "reserve_space_3: U", "x_backprop: T, scale_backprop: U, offset_backprop: U, reserve_space_4: U, "
    "reserve_space_5: U", ["T: {half, bfloat16, float}", "U: {float}", "epsilon: float = 0.0001", _BN_FMT,
                           "is_training: bool = true"])


@FusedBatchNormGradV3.shape
def _fused_bn_grad_shape(op):
    v = op._inputs[2].shape
    return [op._inputs[1].shape, v, v, ts.unknown_shape(1), ts.unknown_shape(1)]


@FusedBatchNormGradV3.kernel
def _fused_bn_grad_kernel(dy, x, scale, mean, var, _reserve3, *, epsilon, data_format, is_training):
    axes, bshape = _bn_axes(x, data_format)
    dyf, xf = dy.astype(np.float32, copy=False), x.astype(np.float32, copy=False)
    inv = (1.0 / np.sqrt(var + np.float32(epsilon))).astype(np.float32)
    xhat = (xf - mean.reshape(bshape)) * inv.reshape(bshape)
    doffset = dyf.sum(axis=axes)
    dscale = (dyf * xhat).sum(axis=axes)
    if is_training:
        n = max(int(np.prod([x.shape[a] for a in axes])), 1)
        dx = (scale * inv).reshape(bshape) * (dyf - (doffset / n).reshape(bshape) - xhat * (dscale / n).reshape(bshape))
    else:
        dx = dyf * (scale * inv).reshape(bshape)
    empty = np.zeros(0, np.float32)
    return dx.astype(dy.dtype, copy=False), dscale.astype(np.float32), doffset.astype(np.float32), empty, empty


def _batch_norm_grad_composed(dy, x, scale, mean, var, epsilon, data_format, is_training):
    """FusedBatchNormGradV3's outputs rebuilt from differentiable ops (as TF does for second derivatives)."""
    from deferflow.ops import math_ops
    nc = data_format.startswith("NC")
    axes = [0] + list(range(2, x.shape.ndims)) if nc else list(range(x.shape.ndims - 1))
    bshape = [1, -1] + [1] * (x.shape.ndims - 2) if nc else [-1]
    rsq = lambda v: apply_op("Rsqrt", x=v)  # noqa: E731
    if is_training:
        s = array_ops.reshape(scale, bshape)
        mean_dy = math_ops.reduce_mean(dy, axes, keepdims=True)
        mean_x = math_ops.reduce_mean(x, axes, keepdims=True)
        var_x = math_ops.reduce_mean(math_ops.squared_difference(x, array_ops.stop_gradient(mean_x)), axes,
                                     keepdims=True)
        x_off = x - mean_x
        m = math_ops.reduce_mean(dy * x_off, axes, keepdims=True)
        gx = s * rsq(var_x + epsilon) * ((dy - mean_dy) - apply_op("Reciprocal", x=var_x + epsilon) * m * x_off)
        gs = array_ops.reshape(rsq(var_x + epsilon) * math_ops.reduce_sum(dy * x_off, axes, keepdims=True), [-1])
    else:
        s, mu, v = (array_ops.reshape(t, bshape) for t in (scale, mean, var))
        r = rsq(v + epsilon)
        gs = math_ops.reduce_sum(dy * (x - mu) * r, axes)
        gx = dy * s * r
    return gx, gs, math_ops.reduce_sum(dy, axes)


@FusedBatchNormGradV3.grad
def _fused_bn_grad_grad(op, *grads):
    from deferflow.gradients import gradients
    dy, x, scale, mean, var = op.inputs[:5]
    outs = _batch_norm_grad_composed(dy, x, scale, mean, var, op._attrs["epsilon"], op._attrs["data_format"],
                                     op._attrs["is_training"])
    gdy, gx, gscale = gradients(list(outs), [dy, x, scale], grad_ys=list(grads[:3]))
    return [gdy, gx, gscale, None, None, None]




def _window_sum_last(a, r):
    """Sum over a window of +-r along the last axis (clipped at the edges), via cumulative sums."""
    c = np.cumsum(a, axis=-1, dtype=a.dtype)
    c = np.concatenate([np.zeros(a.shape[:-1] + (1,), a.dtype), c], axis=-1)
    d = a.shape[-1]
    idx = np.arange(d)
    return c[..., np.minimum(idx + r + 1, d)] - c[..., np.maximum(idx - r, 0)]


_LRN_ATTRS = ["depth_radius: int = 5", "bias: float = 1.0", "alpha: float = 1.0", "beta: float = 0.5",
              "T: {half, bfloat16, float} = float"]
LRN = define("LRN", "input: T", "output: T", _LRN_ATTRS)


@LRN.shape
def _lrn_shape(op):
    s = op._inputs[0].shape
    if s.ndims is not None and s.ndims != 4:
        raise ValueError(f"Shape must be rank 4 but is rank {s.ndims} for '{op.name}' (op: 'LRN')")
    return [s]


def _lrn_norm(x, depth_radius, bias, alpha):
    bias, alpha = float(np.float32(bias)), float(np.float32(alpha))  # TF's float attrs are 32-bit
    x64 = x.astype(np.float64)
    return bias + alpha * _window_sum_last(x64 * x64, depth_radius)


@LRN.kernel
def _lrn_kernel(x, *, depth_radius, bias, alpha, beta):
    return (x / _lrn_norm(x, depth_radius, bias, alpha) ** float(np.float32(beta))).astype(x.dtype)


LRN.grad(lambda op, g: [apply_op("LRNGrad", input_grads=g, input_image=op.inputs[0], output_image=op.outputs[0],
                                 **{k: op._attrs[k] for k in ("depth_radius", "bias", "alpha", "beta")})])

LRNGrad = define("LRNGrad", "input_grads: T, input_image: T, output_image: T", "output: T", _LRN_ATTRS)
LRNGrad.shape(lambda op: [op._inputs[1].shape])


@LRNGrad.kernel
def _lrn_grad_kernel(dy, x, y, *, depth_radius, bias, alpha, beta):
    norm = _lrn_norm(x, depth_radius, bias, alpha)
    alpha, beta = float(np.float32(alpha)), float(np.float32(beta))
    dy64, x64 = dy.astype(np.float64), x.astype(np.float64)
    y64 = x64 * norm ** -beta  # recomputed in float64 rather than trusting the float32 output
    inner = _window_sum_last(dy64 * y64 / norm, depth_radius)
    return (dy64 * norm ** -beta - 2.0 * alpha * beta * x64 * inner).astype(dy.dtype)


lookup_error_gradient(LRNGrad)  # TF registers no gradient for LRNGrad

InTopKV2 = define("InTopKV2", "predictions: float, targets: T, k: T", "precision: bool", ["T: {int32, int64} = int32"])
InTopKV2.shape(lambda op: [ts.TensorShape([op._inputs[0].shape[0] if op._inputs[0].shape.ndims else None])])
InTopKV2.no_gradient()


@InTopKV2.kernel
def _in_top_k_kernel(predictions, targets, k):
    if predictions.ndim != 2 or targets.ndim != 1 or predictions.shape[0] != targets.shape[0]:
        raise errors.InvalidArgumentError(None, None, f"First dimension of predictions {predictions.shape[0]} "
                                          f"must match length of targets {targets.shape[0]}")
    n = predictions.shape[1]
    ok = (targets >= 0) & (targets < n)
    t = np.where(ok, targets, 0)
    target_pred = predictions[np.arange(len(t)), t]
    ok &= np.isfinite(target_pred)
    more = (predictions > target_pred[:, None]).sum(axis=1)
    return ok & (more < int(k))


# ==== helpers used by gradients ===============================================================
def _reduce_sum(x, axis, keepdims=False):
    from deferflow.ops import math_ops
    return math_ops.reduce_sum(x, axis, keepdims=keepdims)


# ==== Python wrappers (tf.nn.*) ===============================================================
def relu(features, name=None):
    return apply_op("Relu", name=name, features=features)


def relu6(features, name=None):
    with ops.name_scope(name, "Relu6", [features]) as name:
        return apply_op("Relu6", name=name, features=convert_to_tensor(features, name="features"))


def elu(features, name=None):
    return apply_op("Elu", name=name, features=features)


def selu(features, name=None):
    return apply_op("Selu", name=name, features=features)


def leaky_relu(features, alpha=0.2, name=None):
    with ops.name_scope(name, "LeakyRelu", [features, alpha]) as name:
        features = convert_to_tensor(features, name="features")
        if features.dtype.is_integer:
            features = array_ops.cast(features, dtypes.float32)
        if isinstance(alpha, np.ndarray):
            alpha = alpha.item()
        return apply_op("LeakyRelu", name=name, features=features, alpha=alpha)


def softplus(features, name=None):
    return apply_op("Softplus", name=name, features=features)


def _softmax_along(op_type, logits, axis, name):
    logits = convert_to_tensor(logits)
    nd = logits.shape.ndims
    if axis is None or axis == -1 or (nd is not None and axis == nd - 1):
        return apply_op(op_type, name=name, logits=logits)
    if nd is None:
        raise ValueError("softmax along a non-last axis needs a known rank")
    if not -nd <= axis < nd:
        raise errors.InvalidArgumentError(None, None, f"`axis` must be in the range [{-nd}, {nd}) where {nd} is "
                                          f"the number of dimensions in the input. Received: axis={axis}")
    axis %= nd
    perm = list(range(nd))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    out = apply_op(op_type, logits=array_ops.transpose(logits, perm))
    out = array_ops.transpose(out, perm, name=name)
    out.set_shape(logits.shape)
    return out


def softmax(logits, axis=None, name=None, dim=None):
    return _softmax_along("Softmax", logits, dim if axis is None else axis, name)


def log_softmax(logits, axis=None, name=None, dim=None):
    return _softmax_along("LogSoftmax", logits, dim if axis is None else axis, name)


def _flatten_outer_dims(t):
    """``t`` reshaped to [-1, last dim] (static shape kept where known), as TF flattens xent inputs."""
    from deferflow.ops import math_ops
    rank = array_ops.rank(t)
    last = array_ops.slice_(array_ops.shape(t), [math_ops.subtract(rank, 1)], [1])
    out = array_ops.reshape(t, array_ops.concat([[-1], last], 0))
    dims = t.shape.as_list() if t.shape.ndims is not None else None
    if dims is not None and None not in dims[:-1]:
        out.set_shape([int(np.prod(dims[:-1], dtype=np.int64)), dims[-1]])
    return out


def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name=None, dim=None):
    """Per-example softmax cross entropy along ``axis``; gradients flow into ``labels`` as well."""
    from deferflow.ops import math_ops
    axis = dim if axis is None else axis
    axis = -1 if axis is None else axis
    with ops.name_scope(name, "softmax_cross_entropy_with_logits", [logits, labels]) as name:
        logits = convert_to_tensor(logits, name="logits")
        labels = convert_to_tensor(labels, name="labels")
        to_f32 = logits.dtype.base_dtype in (dtypes.float16, dtypes.bfloat16)
        precise = math_ops.cast(logits, dtypes.float32) if to_f32 else logits
        labels = math_ops.cast(labels, precise.dtype.base_dtype)
        rank = array_ops.rank(precise)
        shape = logits.shape
        if axis != -1:
            def to_end(t):
                return array_ops.transpose(t, array_ops.concat(
                    [math_ops.range_(axis), math_ops.range_(axis + 1, rank), [axis]], 0))
            precise, labels = to_end(precise), to_end(labels)
        input_shape = array_ops.shape(precise)
        precise, labels = _flatten_outer_dims(precise), _flatten_outer_dims(labels)
        cost, _ = apply_op("SoftmaxCrossEntropyWithLogits", name=name, features=precise, labels=labels)
        cost = array_ops.reshape(cost, array_ops.slice_(input_shape, [0], [math_ops.subtract(rank, 1)]))
        if shape.ndims is not None:
            dims = shape.as_list()
            del dims[axis]
            cost.set_shape(dims)
        return math_ops.cast(cost, logits.dtype.base_dtype) if to_f32 else cost


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    """TF1's version: no gradient flows into ``labels``."""
    if _sentinel is not None or labels is None or logits is None:
        raise ValueError("Only call `softmax_cross_entropy_with_logits` with named arguments (labels=..., "
                         "logits=..., ...)")
    axis = dim if axis is None else axis
    with ops.name_scope(name, "softmax_cross_entropy_with_logits_sg", [logits, labels]) as name:
        labels = array_ops.stop_gradient(labels, name="labels_stop_gradient")
    return softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits, axis=axis, name=name)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Per-example cross entropy against integer class ids."""
    if _sentinel is not None or labels is None or logits is None:
        raise ValueError("Only call `sparse_softmax_cross_entropy_with_logits` with named arguments (labels=..., "
                         "logits=..., ...)")
    from deferflow.ops import math_ops
    with ops.name_scope(name, "SparseSoftmaxCrossEntropyWithLogits", [labels, logits]):
        labels = convert_to_tensor(labels)
        logits = convert_to_tensor(logits)
        precise = math_ops.cast(logits, dtypes.float32) if logits.dtype.base_dtype == dtypes.float16 else logits
        ls, ll = labels.shape, logits.shape
        labels_shape = array_ops.shape(labels)
        if ll.ndims == 0:
            raise ValueError(f"`logits` cannot be a scalar. Received logits={logits}`")
        if ll.ndims is not None and ls.ndims is not None and ls.ndims != ll.ndims - 1:
            raise ValueError(f"`labels.shape.rank` must equal `logits.shape.rank - 1`. Received: labels.shape={ls} "
                             f"of rank {ls.ndims} and logits.shape={ll} of rank {ll.ndims}")
        if ls.is_fully_defined() and ll.ndims is not None and ll[:-1].is_fully_defined() and \
                ls.as_list() != ll.as_list()[:-1]:
            raise ValueError(f"`labels.shape` must equal `logits.shape` except for the last dimension. Received: "
                             f"labels.shape={ls} and logits.shape={ll}")
        if ll.ndims == 2:
            cost, _ = apply_op("SparseSoftmaxCrossEntropyWithLogits", name=name, features=precise, labels=labels)
        else:
            n_cls = array_ops.shape(logits)[array_ops.rank(logits) - 1]
            precise = array_ops.reshape(precise, [-1, n_cls])
            flat = array_ops.reshape(labels, [-1])
            cost, _ = apply_op("SparseSoftmaxCrossEntropyWithLogits", name=name, features=precise, labels=flat)
            cost = array_ops.reshape(cost, labels_shape)
            cost.set_shape(ls)
        return math_ops.cast(cost, dtypes.float16) if logits.dtype.base_dtype == dtypes.float16 else cost


def bias_add(value, bias, data_format=None, name=None):
    with ops.name_scope(name, "BiasAdd", [value, bias]) as name:
        value = convert_to_tensor(value, name="input")
        bias = convert_to_tensor(bias, dtype=value.dtype.base_dtype, name="bias")
        fmt = data_format.decode() if isinstance(data_format, bytes) else data_format
        if fmt is not None and fmt.startswith("NC") and fmt != "NCHW":
            fmt = "NCHW"
        elif fmt is not None and fmt != "NCHW":
            fmt = "NHWC"
        return apply_op("BiasAdd", name=name, value=value, bias=bias, data_format=fmt or "NHWC")


def _hw_list(v, n, data_format, name):
    """TF's ``_get_sequence``: an int or list of 1, 2 or 4 ints as the 4-element attr."""
    if v is None:
        return [1, 1, 1, 1]
    if isinstance(v, numbers.Integral):
        v = [int(v)]
    v = [int(x) for x in v]
    if len(v) == 1:
        v = v * n
    if len(v) == n:
        return [1, 1] + v if data_format.startswith("NC") else [1] + v + [1]
    if len(v) == n + 2:
        return v
    raise ValueError(f"{name} should be of length 1, {n} or {n + 2} but was {len(v)}")


def _padding_attrs(padding, data_format):
    """``padding`` as TF's (padding, explicit_paddings) attrs; lists of pairs mean EXPLICIT."""
    if isinstance(padding, (list, tuple)):
        pairs = [list(p) for p in padding]
        if len(pairs) != 4:
            raise ValueError(f"When padding is a list, it must have 4 elements, got {padding}")
        n_ax, c_ax = (0, 1) if data_format == "NCHW" else (0, 3)
        if pairs[n_ax] != [0, 0] or pairs[c_ax] != [0, 0]:
            raise ValueError(f"Nonzero explicit padding in the batch or depth dimensions is not supported: "
                             f"{padding}")
        return "EXPLICIT", [int(x) for p in pairs for x in p]
    if isinstance(padding, bytes):
        padding = padding.decode()
    padding = padding.upper() if isinstance(padding, str) else padding
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'SAME', 'VALID' or a list of explicit paddings, got {padding!r}")
    return padding, []


def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True, data_format="NHWC",  # noqa: A002
           dilations=(1, 1, 1, 1), name=None, filters=None):
    """2-D convolution (cross-correlation) of NHWC or NCHW ``input`` with an HWIO ``filter``."""
    filter = filters if filter is None else filter  # noqa: A001
    if filter is None:
        raise ValueError("conv2d: `filter` (or `filters`) is required")
    data_format = data_format or "NHWC"
    pad, explicit = _padding_attrs(padding, data_format)
    return apply_op("Conv2D", name=name, input=input, filter=filter,
                    strides=_hw_list(strides, 2, data_format, "strides"), use_cudnn_on_gpu=use_cudnn_on_gpu,
                    padding=pad, explicit_paddings=explicit, data_format=data_format,
                    dilations=_hw_list(dilations, 2, data_format, "dilations"))


def conv2d_backprop_input(input_sizes, filter=None, out_backprop=None, strides=None, padding=None,  # noqa: A002
                          use_cudnn_on_gpu=True, data_format="NHWC", dilations=(1, 1, 1, 1), name=None,
                          filters=None):
    filter = filters if filter is None else filter  # noqa: A001
    pad, explicit = _padding_attrs(padding, data_format)
    return apply_op("Conv2DBackpropInput", name=name, input_sizes=input_sizes, filter=filter,
                    out_backprop=out_backprop, strides=_hw_list(strides, 2, data_format, "strides"),
                    use_cudnn_on_gpu=use_cudnn_on_gpu, padding=pad, explicit_paddings=explicit,
                    data_format=data_format, dilations=_hw_list(dilations, 2, data_format, "dilations"))


def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding, use_cudnn_on_gpu=True,  # noqa: A002
                           data_format="NHWC", dilations=(1, 1, 1, 1), name=None):
    pad, explicit = _padding_attrs(padding, data_format)
    return apply_op("Conv2DBackpropFilter", name=name, input=input, filter_sizes=filter_sizes,
                    out_backprop=out_backprop, strides=_hw_list(strides, 2, data_format, "strides"),
                    use_cudnn_on_gpu=use_cudnn_on_gpu, padding=pad, explicit_paddings=explicit,
                    data_format=data_format, dilations=_hw_list(dilations, 2, data_format, "dilations"))


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",  # noqa: A002
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):  # noqa: A002
    """The transpose (gradient) of conv2d: ``filter`` is [h, w, out_channels, in_channels]."""
    value = input if value is None else value
    filter = filters if filter is None else filter  # noqa: A001
    with ops.name_scope(name, "conv2d_transpose", [value, filter, output_shape]) as name:
        value = convert_to_tensor(value, name="value")
        filter = convert_to_tensor(filter, name="filter")  # noqa: A001
        output_shape = convert_to_tensor(output_shape, dtype=dtypes.int32, name="output_shape") \
            if not isinstance(output_shape, ops.Tensor) else output_shape
        axis = 1 if data_format == "NCHW" else 3
        if value.shape.ndims and filter.shape.ndims and value.shape[axis].value is not None and \
                filter.shape[3].value is not None and value.shape[axis].value != filter.shape[3].value:
            raise ValueError(f"input channels does not match filter's input channels, {value.shape[axis]} != "
                             f"{filter.shape[3]}")
        return conv2d_backprop_input(output_shape, filter, value, strides=strides, padding=padding,
                                     data_format=data_format, dilations=dilations or (1, 1, 1, 1), name=name)


def depthwise_conv2d_native(input, filter, strides, padding, data_format="NHWC", dilations=(1, 1, 1, 1),  # noqa: A002
                            name=None):
    pad, explicit = _padding_attrs(padding, data_format)
    return apply_op("DepthwiseConv2dNative", name=name, input=input, filter=filter,
                    strides=_hw_list(strides, 2, data_format, "strides"), padding=pad, explicit_paddings=explicit,
                    data_format=data_format, dilations=_hw_list(dilations, 2, data_format, "dilations"))


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None, data_format=None,  # noqa: A002
                     dilations=None):
    """Depthwise 2-D convolution; ``rate`` (or ``dilations``) gives the atrous rate."""
    rate = dilations if rate is None else rate
    data_format = data_format or "NHWC"
    with ops.name_scope(name, "depthwise", [input, filter]) as name:
        return depthwise_conv2d_native(input, filter, strides, padding, data_format=data_format,
                                       dilations=_hw_list(rate or 1, 2, data_format, "dilations"), name=name)


def _pool(op_type, value, ksize, strides, padding, data_format, name):
    data_format = data_format or "NHWC"
    attrs = {}
    if op_type == "MaxPool":
        pad, explicit = _padding_attrs(padding, data_format)
        attrs["explicit_paddings"] = explicit
    else:
        pad, _ = _padding_attrs(padding, data_format)
    return apply_op(op_type, name=name, **{"input" if op_type == "MaxPool" else "value": value},
                    ksize=_hw_list(ksize, 2, data_format, "ksize"), strides=_hw_list(strides, 2, data_format,
                                                                                     "strides"),
                    padding=pad, data_format=data_format, **attrs)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):  # noqa: A002
    value = input if value is None else value
    with ops.name_scope(name, "MaxPool", [value]) as name:
        return _pool("MaxPool", convert_to_tensor(value, name="input"), ksize, strides, padding, data_format, name)


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    return max_pool(input, ksize, strides, padding, data_format, name)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):  # noqa: A002
    value = input if value is None else value
    with ops.name_scope(name, "AvgPool", [value]) as name:
        return _pool("AvgPool", convert_to_tensor(value, name="input"), ksize, strides, padding, data_format, name)


avg_pool2d = avg_pool


def l2_loss(t, name=None):
    return apply_op("L2Loss", name=name, t=t)


def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001, data_format="NHWC", is_training=True,
                     name=None, exponential_avg_factor=1.0):
    """Batch normalisation as one ``FusedBatchNormV3`` op; returns (y, mean, variance)."""
    if (not is_training or exponential_avg_factor != 1.0) and (mean is None or variance is None):
        raise ValueError(f"Both `mean` and `variance` must be a 1D tensor when is_training is False or "
                         f"exponential_avg_factor != 1.0. Received: mean {mean!r} and variance {variance!r}")
    x = convert_to_tensor(x, name="input")
    scale = convert_to_tensor(scale, name="scale")
    offset = convert_to_tensor(offset, name="offset")
    if mean is None:
        mean = array_ops.constant(np.zeros(0, np.float32))
    if variance is None:
        variance = array_ops.constant(np.zeros(0, np.float32))
    y, m, v, _, _, _ = apply_op("FusedBatchNormV3", name=name, x=x, scale=scale, offset=offset, mean=mean,
                                variance=variance, epsilon=epsilon, exponential_avg_factor=exponential_avg_factor,
                                data_format=data_format, is_training=is_training)
    return y, m, v


def local_response_normalization(input, depth_radius=5, bias=1, alpha=1, beta=0.5, name=None):  # noqa: A002
    return apply_op("LRN", name=name, input=input, depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta)


lrn = local_response_normalization


def in_top_k(predictions, targets, k, name=None):
    with ops.name_scope(name, "in_top_k"):
        targets = convert_to_tensor(targets)
        return apply_op("InTopKV2", name=name, predictions=predictions, targets=targets,
                        k=convert_to_tensor(k, dtype=targets.dtype.base_dtype))


# ---- 1-D, atrous, separable and 3-D convolutions; 3-D pooling ----------------------------------
def _int_list(v, n, name):
    if isinstance(v, numbers.Integral):
        return [int(v)] * n
    v = [int(x) for x in v]
    if len(v) == 1:
        v = v * n
    if len(v) != n:
        raise ValueError(f"{name} should be of length 1 or {n} but was {len(v)}")
    return v


def conv1d(value=None, filters=None, stride=None, padding=None, use_cudnn_on_gpu=None, data_format=None,
           name=None, input=None, dilations=None):  # noqa: A002
    """1-D convolution as TF builds it: ExpandDims to a 2-D conv with height 1, Conv2D, Squeeze."""
    value = input if value is None else value
    with ops.name_scope(name, "conv1d", [value, filters]) as name:
        if data_format is None or data_format in ("NHWC", "NWC"):
            fmt, spatial_start = "NHWC", -3
        elif data_format in ("NCHW", "NCW"):
            fmt, spatial_start = "NCHW", -2
        else:
            raise ValueError(f"`data_format` must be 'NWC' or 'NCW'. Received: data_format={data_format}")
        s = _int_list(stride, 1, "stride")[0]
        d = _int_list(dilations if dilations is not None else 1, 1, "dilations")[0]
        strides = [1, 1, 1, s] if fmt == "NCHW" else [1, 1, s, 1]
        dil = [1, 1, 1, d] if fmt == "NCHW" else [1, 1, d, 1]
        value = array_ops.expand_dims(value, spatial_start)
        filters = array_ops.expand_dims(filters, 0)
        if isinstance(padding, (list, tuple)):  # explicit (before, after) pairs for N, W and C
            pairs = [list(p) for p in padding]
            at = 1 if fmt == "NHWC" else 2
            padding = pairs[:at] + [[0, 0]] + pairs[at:]
        pad, explicit = _padding_attrs(padding, fmt)
        result = apply_op("Conv2D", name=name, input=value, filter=filters, strides=strides,
                          use_cudnn_on_gpu=True if use_cudnn_on_gpu is None else use_cudnn_on_gpu, padding=pad,
                          explicit_paddings=explicit, data_format=fmt, dilations=dil)
        return array_ops.squeeze(result, [spatial_start])


def conv1d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NWC",  # noqa: A002
                     dilations=None, name=None):
    with ops.name_scope(name, "conv1d_transpose", [input, filters, output_shape]) as name:
        if data_format in ("NWC", None):
            fmt, axis = "NHWC", 1
        else:
            fmt, axis = "NCHW", 2
        s = _int_list(strides, 1, "strides")[0]
        d = _int_list(dilations if dilations is not None else 1, 1, "dilations")[0]
        strides = [1, 1, 1, s] if fmt == "NCHW" else [1, 1, s, 1]
        dil = [1, 1, 1, d] if fmt == "NCHW" else [1, 1, d, 1]
        input = array_ops.expand_dims(input, axis)  # noqa: A001
        filters = array_ops.expand_dims(filters, 0)
        output_shape = convert_to_tensor(output_shape, dtype=dtypes.int32) \
            if not isinstance(output_shape, ops.Tensor) else output_shape
        output_shape = array_ops.concat([output_shape[:axis], [1], output_shape[axis:]], 0)
        result = conv2d_backprop_input(output_shape, filters, input, strides, padding, data_format=fmt,
                                       dilations=dil, name=name)
        return array_ops.squeeze(result, [axis])


def _static_spatial(x, n, channels_first):
    d = x.shape.as_list() if x.shape.ndims is not None else None
    if d is None:
        return None
    sp = d[2:2 + n] if channels_first else d[1:1 + n]
    return None if None in sp else sp


def _with_space_to_batch(x, rate, filter_spatial, padding, op_fn, channels_first=False):
    """TF's ``with_space_to_batch``: an atrous ``op_fn`` (a VALID, undilated op of its input) run on
    SpaceToBatchND's output, then BatchToSpaceND with the crops that undo the extra padding."""
    from deferflow.ops import math_ops
    n = len(rate)
    if all(r == 1 for r in rate):
        return op_fn(x, padding)
    if channels_first:
        raise ValueError("atrous convolution via space_to_batch needs channels-last data")
    if padding == "SAME":
        extra = [(k - 1) * r for k, r in zip(filter_spatial, rate)]
        base = [[e // 2, e - e // 2] for e in extra]
    elif padding == "VALID":
        base = [[0, 0] for _ in rate]
    else:
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    sp = _static_spatial(x, n, channels_first)
    if sp is not None:
        full = [s + b[0] + b[1] for s, b in zip(sp, base)]
        extra_end = [(r - f % r) % r for f, r in zip(full, rate)]
        paddings = [[b[0], b[1] + e] for b, e in zip(base, extra_end)]
        crops = [[0, e] for e in extra_end]
    else:
        with ops.name_scope("required_space_to_batch_paddings"):
            in_shape = array_ops.slice_(array_ops.shape(x), [1], [n])
            base_t = array_ops.constant(np.asarray(base, np.int32))
            full = in_shape + base_t[:, 0] + base_t[:, 1]
            r_t = array_ops.constant(np.asarray(rate, np.int32))
            extra_end = math_ops.floormod(r_t - math_ops.floormod(full, r_t), r_t)
            paddings = array_ops.stack([base_t[:, 0], base_t[:, 1] + extra_end], axis=1, name="paddings")
            crops = array_ops.stack([array_ops.zeros_like(extra_end), extra_end], axis=1, name="crops")
    y = array_ops.space_to_batch_nd(x, list(rate), paddings)
    y = op_fn(y, "VALID")
    return array_ops.batch_to_space_nd(y, list(rate), crops)


def atrous_conv2d(value, filters, rate, padding, name=None):
    """Atrous (dilated) 2-D convolution, built by TF's SpaceToBatchND / Conv2D / BatchToSpaceND scheme."""
    return convolution(value, filters, padding, dilation_rate=[rate, rate], name=name)


def convolution(input, filter=None, padding=None, strides=None, dilation_rate=None, name=None,  # noqa: A002
                data_format=None, filters=None, dilations=None):
    """N-d convolution (N = 1, 2, 3) dispatching on the input's rank, as ``tf.nn.convolution``."""
    filter = filters if filter is None else filter  # noqa: A001
    dilation_rate = dilations if dilation_rate is None else dilation_rate
    with ops.name_scope(name, "convolution", [input, filter]) as name:
        input = convert_to_tensor(input, name="input")  # noqa: A001
        filter = convert_to_tensor(filter, name="filter")  # noqa: A001
        nd = filter.shape.ndims if filter.shape.ndims is not None else input.shape.ndims
        if nd is None:
            raise ValueError("convolution needs the rank of the filter or the input")
        n = nd - 2
        if n not in (1, 2, 3):
            raise ValueError(f"`input.shape.rank - 2` must be 1, 2 or 3; got {n}")
        strides = _int_list(strides if strides is not None else 1, n, "strides")
        rate = _int_list(dilation_rate if dilation_rate is not None else 1, n, "dilation_rate")
        padding = padding.upper() if isinstance(padding, str) else padding
        channels_first = data_format is not None and data_format.startswith("NC")
        if any(r > 1 for r in rate) and any(s > 1 for s in strides):
            raise ValueError(f"`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
                             f"strides={strides} and dilation_rate={rate}")
        if n == 1:
            if channels_first or all(r == 1 for r in rate):
                return conv1d(input, filter, strides, padding, data_format=data_format or "NWC", dilations=rate,
                              name=name)
            return _with_space_to_batch(input, rate, filter.shape.as_list()[:1], padding,
                                        lambda x, pad: conv1d(x, filter, strides, pad, data_format="NWC", name=name))
        if n == 3:
            fmt = data_format or "NDHWC"
            full = [1, 1] + strides if channels_first else [1] + strides + [1]
            dil = [1, 1] + rate if channels_first else [1] + rate + [1]
            return apply_op("Conv3D", name=name, input=input, filter=filter, strides=full, padding=padding,
                            data_format=fmt, dilations=dil)
        fmt = data_format or "NHWC"
        fs = filter.shape.as_list() if filter.shape.ndims else None
        if fs is None or None in fs[:2]:
            if any(r > 1 for r in rate):
                raise ValueError("atrous convolution needs the filter's spatial shape")

        def op_fn(x, pad, op_name=None):
            return conv2d(x, filter, strides=strides, padding=pad, data_format=fmt, name=op_name or name)
        if channels_first or all(r == 1 for r in rate):
            return conv2d(input, filter, strides=strides, padding=padding, data_format=fmt, dilations=rate,
                          name=name)
        return _with_space_to_batch(input, rate, fs[:2], padding, op_fn)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    """Depthwise convolution (``<scope>/depthwise``) followed by a 1x1 Conv2D (``<scope>``)."""
    rate = dilations if rate is None else rate
    with ops.name_scope(name, "separable_conv2d", [input, depthwise_filter, pointwise_filter]) as name:
        input = convert_to_tensor(input, name="tensor_in")  # noqa: A001
        depthwise_filter = convert_to_tensor(depthwise_filter, name="depthwise_filter")
        pointwise_filter = convert_to_tensor(pointwise_filter, name="pointwise_filter")
        if pointwise_filter.shape.ndims is not None and pointwise_filter.shape.ndims == 4:
            ps = pointwise_filter.shape.as_list()
            if ps[0] not in (1, None) or ps[1] not in (1, None):
                raise ValueError(f"Pointwise filter must be 1x1, got {ps[:2]}")
        fmt = data_format or "NHWC"
        rate = _int_list(rate if rate is not None else 1, 2, "rate")
        st = _hw_list(strides, 2, fmt, "strides")
        if any(r > 1 for r in rate) and any(s > 1 for s in _spatial(st, fmt)):
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`.")
        padding = padding.upper() if isinstance(padding, str) else padding

        def op_fn(x, pad):
            return depthwise_conv2d_native(x, depthwise_filter, st, pad, data_format=fmt, name="depthwise")
        if fmt.startswith("NC") and any(r > 1 for r in rate):
            depthwise = depthwise_conv2d_native(input, depthwise_filter, st, padding, data_format=fmt,
                                                dilations=_hw_list(rate, 2, fmt, "rate"), name="depthwise")
        else:
            depthwise = _with_space_to_batch(input, rate, depthwise_filter.shape.as_list()[:2], padding, op_fn)
        return conv2d(depthwise, pointwise_filter, [1, 1, 1, 1], padding="VALID", data_format=fmt, name=name)


def _five(v, data_format, name):
    if v is None:
        return [1] * 5
    if isinstance(v, numbers.Integral):
        v = [int(v)]
    v = [int(x) for x in v]
    if len(v) == 1:
        v = v * 3
    if len(v) == 3:
        return [1, 1] + v if data_format == "NCDHW" else [1] + v + [1]
    if len(v) == 5:
        return v
    raise ValueError(f"{name} should be of length 1, 3 or 5 but was {len(v)}")


def conv3d(input, filter=None, strides=None, padding=None, data_format="NDHWC",  # noqa: A002
           dilations=(1, 1, 1, 1, 1), name=None, filters=None):
    filter = filters if filter is None else filter  # noqa: A001
    data_format = data_format or "NDHWC"
    return apply_op("Conv3D", name=name, input=input, filter=filter, strides=_five(strides, data_format, "strides"),
                    padding=padding.upper() if isinstance(padding, str) else padding, data_format=data_format,
                    dilations=_five(dilations, data_format, "dilations"))


def conv3d_backprop_input_v2(input_sizes, filter, out_backprop, strides, padding, data_format="NDHWC",  # noqa: A002
                             dilations=(1, 1, 1, 1, 1), name=None):
    return apply_op("Conv3DBackpropInputV2", name=name, input_sizes=input_sizes, filter=filter,
                    out_backprop=out_backprop, strides=_five(strides, data_format, "strides"), padding=padding,
                    data_format=data_format, dilations=_five(dilations, data_format, "dilations"))


def conv3d_backprop_filter_v2(input, filter_sizes, out_backprop, strides, padding, data_format="NDHWC",  # noqa: A002
                              dilations=(1, 1, 1, 1, 1), name=None):
    return apply_op("Conv3DBackpropFilterV2", name=name, input=input, filter_sizes=filter_sizes,
                    out_backprop=out_backprop, strides=_five(strides, data_format, "strides"), padding=padding,
                    data_format=data_format, dilations=_five(dilations, data_format, "dilations"))


def conv3d_transpose(value, filter=None, output_shape=None, strides=None, padding="SAME",  # noqa: A002
                     data_format="NDHWC", name=None, input=None, filters=None, dilations=None):  # noqa: A002
    value = input if value is None else value
    filter = filters if filter is None else filter  # noqa: A001
    with ops.name_scope(name, "conv3d_transpose", [value, filter, output_shape]) as name:
        if not isinstance(output_shape, ops.Tensor):
            output_shape = convert_to_tensor(output_shape, dtype=dtypes.int32, name="output_shape")
        return conv3d_backprop_input_v2(output_shape, filter, value, strides, padding, data_format=data_format,
                                        dilations=dilations or (1, 1, 1, 1, 1), name=name)


def max_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):  # noqa: A002
    with ops.name_scope(name, "MaxPool3D", [input]) as name:
        return apply_op("MaxPool3D", name=name, input=input, ksize=_five(ksize, data_format, "ksize"),
                        strides=_five(strides, data_format, "strides"), padding=padding, data_format=data_format)


def avg_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):  # noqa: A002
    with ops.name_scope(name, "AvgPool3D", [input]) as name:
        return apply_op("AvgPool3D", name=name, input=input, ksize=_five(ksize, data_format, "ksize"),
                        strides=_five(strides, data_format, "strides"), padding=padding, data_format=data_format)


def max_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):  # noqa: A002
    with ops.name_scope(name, "MaxPool1d", [input]) as name:
        fmt, axis = ("NCHW", 2) if data_format == "NCW" else ("NHWC", 1)
        k, s = _int_list(ksize, 1, "ksize")[0], _int_list(strides, 1, "strides")[0]
        x = array_ops.expand_dims(input, axis)
        y = _pool("MaxPool", x, [1, 1, 1, k] if fmt == "NCHW" else [1, 1, k, 1],
                  [1, 1, 1, s] if fmt == "NCHW" else [1, 1, s, 1], padding, fmt, None)
        return array_ops.squeeze(y, [axis], name=name)


def avg_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):  # noqa: A002
    with ops.name_scope(name, "AvgPool1D", [input]) as name:
        fmt, axis = ("NCHW", 2) if data_format == "NCW" else ("NHWC", 1)
        k, s = _int_list(ksize, 1, "ksize")[0], _int_list(strides, 1, "strides")[0]
        x = array_ops.expand_dims(input, axis)
        y = _pool("AvgPool", x, [1, 1, 1, k] if fmt == "NCHW" else [1, 1, k, 1],
                  [1, 1, 1, s] if fmt == "NCHW" else [1, 1, s, 1], padding, fmt, None)
        return array_ops.squeeze(y, [axis], name=name)


def pool(input, window_shape, pooling_type, padding, dilation_rate=None, strides=None, name=None,  # noqa: A002
         data_format=None, dilations=None):
    """``tf.nn.pool`` for undilated 1-, 2- and 3-D MAX/AVG pooling."""
    dilation_rate = dilations if dilation_rate is None else dilation_rate
    window_shape = [int(v) for v in window_shape]
    n = len(window_shape)
    if dilation_rate is not None and any(int(r) != 1 for r in _int_list(dilation_rate, n, "dilation_rate")):
        raise NotImplementedError("tf.nn.pool with dilation_rate > 1 is not supported by deferflow")
    if pooling_type not in ("MAX", "AVG"):
        raise ValueError(f"`pooling_type` must be 'MAX' or 'AVG', got {pooling_type!r}")
    strides = _int_list(strides if strides is not None else 1, n, "strides")
    default = "max_pool" if pooling_type == "MAX" else "avg_pool"
    with ops.name_scope(name, default + ("3d" if n == 3 else "1d" if n == 1 else ""), [input]) as scope:
        if n == 1:
            fn = max_pool1d if pooling_type == "MAX" else avg_pool1d
            return fn(input, window_shape, strides, padding, data_format or "NWC", name=scope)
        if n == 3:
            fn = max_pool3d if pooling_type == "MAX" else avg_pool3d
            return fn(input, window_shape, strides, padding, data_format or "NDHWC", name=scope)
        fmt = data_format or "NHWC"
        return _pool("MaxPool" if pooling_type == "MAX" else "AvgPool", convert_to_tensor(input), window_shape,
                     strides, padding, fmt, scope)


# ---- activations and losses composed from other ops -------------------------------------------
def crelu(features, name=None, axis=-1):
    """Concatenated ReLU: relu(concat([x, -x], axis))."""
    with ops.name_scope(name, "CRelu", [features]) as name:
        features = convert_to_tensor(features, name="features")
        c = array_ops.concat([features, -features], axis, name=name)
        return relu(c)


def swish(features, beta=1.0, name=None):
    """``features * sigmoid(beta * features)`` (TF's silu)."""
    from deferflow.ops import math_ops
    features = convert_to_tensor(features, name="features")
    beta = convert_to_tensor(beta, dtype=features.dtype.base_dtype, name="beta")
    return features * math_ops.sigmoid(beta * features)


silu = swish
