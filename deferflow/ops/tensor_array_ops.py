"""``tf.TensorArray`` on TensorFlow's ``TensorArrayV3`` op family, with their gradients.

At run time a TensorArray handle is a ``_TensorArrayValue`` made fresh by each run's ``TensorArrayV3``
kernel; the scalar ``flow`` tensors thread the order of writes and reads through the dataflow (and
through while-loop variables), as in TensorFlow. A gradient TensorArray (``TensorArrayGradV3``) is
made once per forward array and gradient source and sums multiple writes to one index.
"""
import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import Tensor
from deferflow.ops.common import constant_value

define = op_registry.define
_INT32 = np.int32
_FLOW = np.float32(0.0)


class _TensorArrayValue:
    """The run-time state of one TensorArray: its elements and its gradient arrays."""

    __slots__ = ("name", "dtype", "size", "dynamic", "clear_after_read", "element_shape", "identical", "items",
                 "cleared", "aggregate", "grads", "forward")

    def __init__(self, name, dtype, size, dynamic, clear_after_read, element_shape, identical, aggregate=False):
        self.name, self.dtype, self.dynamic = name, dtype, dynamic
        self.clear_after_read, self.identical, self.aggregate = clear_after_read, identical, aggregate
        self.element_shape = element_shape  # TensorShape, refined by writes
        self.size = int(size)
        self.items = [None] * self.size
        self.cleared = [False] * self.size
        self.grads = {}
        self.forward = None

    def _err(self, msg):
        return errors.InvalidArgumentError(None, None, f"TensorArray {self.name}: {msg}")

    def _index(self, i, what):
        i = int(i)
        if what == "write":
            if i >= self.size and self.dynamic:
                grow = i + 1 - self.size
                self.items += [None] * grow
                self.cleared += [False] * grow
                self.size = i + 1
            elif not 0 <= i < self.size:
                raise self._err(f"Tried to write to index {i} but array is not resizeable and size is: {self.size}")
        elif not 0 <= i < self.size:
            raise self._err(f"Tried to read from index {i} but array size is: {self.size}")
        return i

    def write(self, i, value):
        i = self._index(i, "write")
        value = np.asarray(value)
        if value.dtype != self.dtype:
            raise self._err(f"Could not write to TensorArray index {i} because the value dtype is "
                            f"{dtypes.from_numpy(value.dtype).name} but TensorArray dtype is "
                            f"{dtypes.from_numpy(self.dtype).name}.")
        if not self.element_shape.is_compatible_with(value.shape):
            raise self._err(f"Could not write to TensorArray index {i} because the value shape is "
                            f"{_shape_str(value.shape)} which is incompatible with the TensorArray's inferred "
                            f"element shape: {_shape_str(self.element_shape)} (consider setting "
                            "infer_shape=False).")
        if self.identical:
            self.element_shape = self.element_shape.merge_with(value.shape)
        old = self.items[i]
        if old is not None:
            if not self.aggregate:
                raise self._err(f"Could not write to TensorArray index {i} because it has already been written to.")
            if old.shape != value.shape:
                raise self._err(f"Could not aggregate to TensorArray index {i} because the existing shape is "
                                f"{_shape_str(old.shape)} but the new input shape is {_shape_str(value.shape)}.")
            value = old + value
        self.items[i] = value

    def _zero_shape(self):
        if self.element_shape.is_fully_defined():
            return self.element_shape.as_list()
        for src in (self, self.forward):
            if src is not None:
                for x in src.items:
                    if x is not None:
                        return list(x.shape)
        return None

    def read(self, i):
        i = self._index(i, "read")
        v = self.items[i]
        if v is None:
            if self.cleared[i]:
                raise self._err(f"Could not read index {i} twice because it was cleared after a previous read "
                                "(perhaps try setting clear_after_read = false?).")
            shape = self._zero_shape()
            if shape is None:
                raise self._err(f"Could not read from TensorArray index {i}.  Furthermore, the element shape is "
                                f"not fully defined: {_shape_str(self.element_shape)}.  It is possible you are "
                                "working with a resizeable TensorArray and stop_gradients is not allowing the "
                                "gradients to be written.  If you set the full element_shape property on the "
                                "forward TensorArray, the proper all-zeros tensor will be returned instead of "
                                "incurring this error.")
            return np.zeros(shape, self.dtype)
        if self.clear_after_read and not self.aggregate:
            self.items[i] = None
            self.cleared[i] = True
        return v

    def grad(self, source):
        g = self.grads.get(source)
        if g is None:
            g = _TensorArrayValue(f"{self.name}@{source}", self.dtype, self.size, False, True,
                                  self.element_shape, self.identical, aggregate=True)
            g.forward = self
            self.grads[source] = g
        return g


def _shape_str(shape):
    if isinstance(shape, ts.TensorShape):
        if shape.ndims is None:
            return "<unknown>"
        return "[" + ",".join("?" if d is None else str(d) for d in shape.as_list()) + "]"
    return "[" + ",".join(str(d) for d in shape) + "]"


def _stack(values, element_shape, dtype):
    if values:
        return np.stack(values)
    es = element_shape if element_shape.is_fully_defined() else ts.TensorShape([0])
    return np.zeros([0] + es.as_list(), dtype)


# ---- ops ------------------------------------------------------------------------------------------
TensorArrayV3 = define("TensorArrayV3", "size: int32", "handle: resource, flow: float",
                       ["dtype: type", "element_shape: shape = None", "dynamic_size: bool = false",
                        "clear_after_read: bool = true", "identical_element_shapes: bool = false",
                        "tensor_array_name: string = ''"], stateful=True)
TensorArrayV3.shape(lambda op: [ts.TensorShape([2]), ts.TensorShape([])])


@TensorArrayV3.kernel(ctx=True)
def _ta_kernel(ctx, size, *, dtype, element_shape, dynamic_size, clear_after_read, identical_element_shapes,
               tensor_array_name):
    if size < 0:
        raise errors.InvalidArgumentError(None, None, f"Size should be >= 0, got: {int(size)}")
    ta = _TensorArrayValue(tensor_array_name or ctx.op._name, dtype.as_numpy_dtype, size, dynamic_size,
                           clear_after_read, element_shape, identical_element_shapes)
    return ta, _FLOW


TensorArrayGradV3 = define("TensorArrayGradV3", "handle: resource, flow_in: float",
                           "grad_handle: resource, flow_out: float", ["source: string"], stateful=True)
TensorArrayGradV3.shape(lambda op: [ts.TensorShape([2]), ts.TensorShape([])])
TensorArrayGradV3.kernel(lambda handle, flow_in, *, source: (handle.grad(source), _FLOW))

TensorArrayWriteV3 = define("TensorArrayWriteV3", "handle: resource, index: int32, value: T, flow_in: float",
                            "flow_out: float", ["T: type"], stateful=True)
TensorArrayWriteV3.shape(lambda op: [ts.TensorShape([])])


@TensorArrayWriteV3.kernel
def _write_kernel(handle, index, value, flow_in):
    handle.write(index, value)
    return _FLOW


TensorArrayReadV3 = define("TensorArrayReadV3", "handle: resource, index: int32, flow_in: float", "value: dtype",
                           ["dtype: type"], stateful=True)
TensorArrayReadV3.shape(lambda op: [ts.unknown_shape()])
TensorArrayReadV3.kernel(lambda handle, index, flow_in: handle.read(index))

TensorArrayGatherV3 = define("TensorArrayGatherV3", "handle: resource, indices: int32, flow_in: float",
                             "value: dtype", ["dtype: type", "element_shape: shape = None"], stateful=True)
TensorArrayGatherV3.shape(lambda op: [ts.TensorShape([op._inputs[1].shape[0].value if op._inputs[1].shape.ndims
                                                      else None]).concatenate(op._attrs["element_shape"])])
TensorArrayGatherV3.kernel(lambda handle, indices, flow_in, *, element_shape: _stack(
    [handle.read(i) for i in np.reshape(indices, [-1])], element_shape, handle.dtype))

TensorArrayScatterV3 = define("TensorArrayScatterV3", "handle: resource, indices: int32, value: T, flow_in: float",
                              "flow_out: float", ["T: type"], stateful=True)
TensorArrayScatterV3.shape(lambda op: [ts.TensorShape([])])


@TensorArrayScatterV3.kernel
def _scatter_kernel(handle, indices, value, flow_in):
    indices = np.reshape(indices, [-1])
    if np.ndim(value) == 0 or value.shape[0] != len(indices):
        raise errors.InvalidArgumentError(None, None, f"Expected len(indices) == values.shape[0], but saw: "
                                                      f"{len(indices)} vs. {np.shape(value)[0] if np.ndim(value) else 0}")
    for i, v in zip(indices, value):
        handle.write(i, v)
    return _FLOW


TensorArrayConcatV3 = define("TensorArrayConcatV3", "handle: resource, flow_in: float",
                             "value: dtype, lengths: int64", ["dtype: type", "element_shape_except0: shape = None"],
                             stateful=True)
TensorArrayConcatV3.shape(lambda op: [ts.TensorShape([None]).concatenate(op._attrs["element_shape_except0"])
                                      if op._attrs["element_shape_except0"].ndims is not None
                                      else ts.unknown_shape(), ts.TensorShape([None])])


@TensorArrayConcatV3.kernel
def _concat_kernel(handle, flow_in, *, element_shape_except0):
    items = [handle.read(i) for i in range(handle.size)]
    for x in items:
        if np.ndim(x) == 0:
            raise errors.InvalidArgumentError(None, None, f"TensorArray {handle.name}: Concat saw a scalar shape "
                                                          "at index 0 but requires at least vectors.")
    lengths = np.array([x.shape[0] for x in items], np.int64)
    if not items:
        return np.zeros([0] + (element_shape_except0.as_list() if element_shape_except0.is_fully_defined() else []),
                        handle.dtype), lengths
    return np.concatenate(items), lengths


TensorArraySplitV3 = define("TensorArraySplitV3", "handle: resource, value: T, lengths: int64, flow_in: float",
                            "flow_out: float", ["T: type"], stateful=True)
TensorArraySplitV3.shape(lambda op: [ts.TensorShape([])])


@TensorArraySplitV3.kernel
def _split_kernel(handle, value, lengths, flow_in):
    lengths = np.reshape(lengths, [-1]).astype(np.int64)
    if np.ndim(value) == 0 or lengths.sum() != value.shape[0]:
        raise errors.InvalidArgumentError(None, None, f"Expected sum of lengths to be equal to values.shape[0], "
                                                      f"but sum of lengths is {int(lengths.sum())} and value's "
                                                      f"shape is: {_shape_str(np.shape(value))}")
    start = 0
    for i, n in enumerate(lengths):
        handle.write(i, value[start:start + n])
        start += n
    return _FLOW


TensorArraySizeV3 = define("TensorArraySizeV3", "handle: resource, flow_in: float", "size: int32", stateful=True)
TensorArraySizeV3.shape(lambda op: [ts.TensorShape([])])
TensorArraySizeV3.kernel(lambda handle, flow_in: np.array(handle.size, np.int32))

TensorArrayCloseV3 = define("TensorArrayCloseV3", "handle: resource", "", stateful=True)
TensorArrayCloseV3.shape(lambda op: [])
TensorArrayCloseV3.kernel(lambda handle: None)

for _od in (TensorArrayV3, TensorArrayGradV3, TensorArraySizeV3, TensorArrayCloseV3):
    _od.no_gradient()


# ---- gradients ------------------------------------------------------------------------------------
def _grad_source(t):
    """Which tf.gradients call made ``t`` ('gradients', 'gradients_1', 'outer/gradients'...)."""
    tokens = t.name.split("/")
    pos = [i for i, x in enumerate(tokens) if x.startswith("gradients")]
    if not pos:
        raise ValueError(f"Expected op/tensor name to start with gradients (excluding scope), got: {t.name}. "
                         "This means that a tf.gradients op with this op in its dependency path has a custom name "
                         "that does not start with 'gradients'. Please make sure all calls to tf.gradients that "
                         "have non-empty `name` arguments use names that start with 'gradients'.")
    return "/".join(tokens[:pos[-1] + 1])


def _grad_ta(op, dtype_attr, grad_like, flow):
    return TensorArray(dtype=op.get_attr(dtype_attr), handle=op._inputs[0], flow=flow).grad(
        source=_grad_source(grad_like), flow=flow)


def _barrier(op, flow):
    """The incoming gradient flow, ordered after this op's own (forward) write."""
    from deferflow.ops import array_ops
    flow_out = array_ops.identity(op._outputs[0], "flow_out")
    with ops.control_dependencies([flow_out]):
        return array_ops.identity(flow, "write_barrier")


@TensorArrayReadV3.grad
def _read_grad(op, grad):
    flow = op._inputs[2]
    g = _grad_ta(op, "dtype", grad, flow)
    return [None, None, g.write(op._inputs[1], grad).flow]


@TensorArrayWriteV3.grad
def _write_grad(op, flow):
    flow = _barrier(op, flow)
    g = _grad_ta(op, "T", flow, flow)
    return [None, None, g.read(op._inputs[1]), flow]


@TensorArrayGatherV3.grad
def _gather_grad(op, grad):
    flow = op._inputs[2]
    g = _grad_ta(op, "dtype", grad, flow)
    return [None, None, g.scatter(op._inputs[1], grad).flow]


@TensorArrayScatterV3.grad
def _scatter_grad(op, flow):
    flow = _barrier(op, flow)
    g = _grad_ta(op, "T", flow, flow)
    return [None, None, g.gather(op._inputs[1]), flow]


@TensorArrayConcatV3.grad
def _concat_grad(op, grad, unused_lengths_grad):
    flow = op._inputs[1]
    g = _grad_ta(op, "dtype", grad, flow)
    return [None, g.split(grad, lengths=op._outputs[1]).flow]


@TensorArraySplitV3.grad
def _split_grad(op, flow):
    flow = _barrier(op, flow)
    g = _grad_ta(op, "T", flow, flow)
    return [None, g.concat(), None, flow]


# ---- the Python class -----------------------------------------------------------------------------
class TensorArray:
    """``tf.TensorArray``: a list of same-dtype tensors that while loops can write and read by index.

    Each write/scatter/split returns a new TensorArray object sharing the handle (use the returned
    one); ``stack``/``gather``/``concat``/``read`` read the elements back.
    """

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None, tensor_array_name=None,
                 handle=None, flow=None, infer_shape=True, element_shape=None,
                 colocate_with_first_write_call=True, name=None):
        if handle is not None and tensor_array_name:
            raise ValueError("Cannot provide both `handle` and `tensor_array_name` arguments at the same time.")
        if handle is not None and not isinstance(handle, Tensor):
            raise TypeError(f"Expected `handle` to be a Tensor, but got `{handle}` of type `{type(handle)}` "
                            "instead.")
        if handle is None and size is None:
            raise ValueError("Argument `size` must be provided if handle is not provided.")
        if handle is not None and size is not None:
            raise ValueError("Cannot provide both a `handle` and `size` at the same time.")
        if handle is not None and element_shape is not None:
            raise ValueError("Cannot provide both `handle` and `element_shape` arguments at the same time.")
        if handle is not None and dynamic_size is not None:
            raise ValueError("Cannot provide both `handle` and `dynamic_size` arguments at the same time.")
        if handle is not None and clear_after_read is not None:
            raise ValueError("Cannot provide both `handle` and `clear_after_read` arguments at the same time.")
        if clear_after_read is None:
            clear_after_read = True
        self._dynamic_size = bool(dynamic_size)
        self._dtype = dtypes.as_dtype(dtype).base_dtype
        self._element_shape = [ts.as_shape(element_shape) if element_shape is not None else ts.unknown_shape()]
        self._infer_shape = infer_shape
        self._size = size
        with ops.name_scope(name, "TensorArray", [handle, size, flow]) as scope:
            if handle is not None:
                if flow is None:
                    raise ValueError("flow must not be None if handle is not None.")
                self._handle, self._flow = handle, flow
            else:
                self._handle, self._flow = ops.apply_op(
                    "TensorArrayV3", name=scope, size=size, dtype=self._dtype,
                    element_shape=self._element_shape[0], identical_element_shapes=infer_shape,
                    dynamic_size=self._dynamic_size, clear_after_read=clear_after_read,
                    tensor_array_name=tensor_array_name or "")

    flow = property(lambda self: self._flow)
    dtype = property(lambda self: self._dtype)
    handle = property(lambda self: self._handle)
    dynamic_size = property(lambda self: self._dynamic_size)

    @property
    def element_shape(self):
        return self._element_shape[0]

    def _check_element_shape(self, shape):
        if not shape.is_compatible_with(self.element_shape):
            raise ValueError(f"Inconsistent shapes: saw {shape} but expected {self.element_shape} ")
        if self._infer_shape:
            self._element_shape[0] = self.element_shape.merge_with(shape)

    def _with_flow(self, flow):
        return build_ta_with_new_flow(self, flow)

    def identity(self):
        from deferflow.ops import array_ops
        return self._with_flow(array_ops.identity(self._flow))

    def grad(self, source, flow=None, name=None):
        from deferflow.ops import array_ops
        flow = self._flow if flow is None else flow
        with ops.name_scope(name, "TensorArrayGrad", [self._handle]):
            g_handle, _ = ops.apply_op("TensorArrayGradV3", handle=self._handle, source=source, flow_in=flow)
            with ops.control_dependencies([g_handle]):
                flow = array_ops.identity(flow, name="gradient_flow")
            g = TensorArray(dtype=self._dtype, handle=g_handle, flow=flow, infer_shape=self._infer_shape)
            g._element_shape = self._element_shape
            return g

    def read(self, index, name=None):
        value = ops.apply_op("TensorArrayReadV3", name=name, handle=self._handle, index=index, flow_in=self._flow,
                             dtype=self._dtype)
        value._shape = self.element_shape
        return value

    def write(self, index, value, name=None):
        with ops.name_scope(name, "TensorArrayWrite", [self._handle, index, value]):
            value = ops.convert_to_tensor(value, preferred_dtype=self._dtype, name="value")
            _check_dtypes(value, self._dtype)
            self._check_element_shape(value.shape)
            flow = ops.apply_op("TensorArrayWriteV3", handle=self._handle, index=index, value=value,
                                flow_in=self._flow)
            return self._with_flow(flow)

    def stack(self, name=None):
        from deferflow.ops import math_ops
        with ops.name_scope(name, "TensorArrayStack", [self._handle]):
            value = self.gather(math_ops.range_(0, self.size()), name=name)
            if self.element_shape and not self._dynamic_size and self._size is not None:
                n = constant_value(self._size) if isinstance(self._size, Tensor) else self._size
                value._shape = ts.TensorShape([None if n is None else int(n)]).concatenate(self.element_shape)
            return value

    def gather(self, indices, name=None):
        value = ops.apply_op("TensorArrayGatherV3", name=name, handle=self._handle, indices=indices,
                             flow_in=self._flow, dtype=self._dtype, element_shape=self.element_shape)
        if self.element_shape:
            value._shape = value.shape.merge_with(ts.TensorShape([None]).concatenate(self.element_shape))
        return value

    def concat(self, name=None):
        es = self.element_shape
        value, _ = ops.apply_op("TensorArrayConcatV3", name=name, handle=self._handle, flow_in=self._flow,
                                dtype=self._dtype,
                                element_shape_except0=ts.TensorShape(es.as_list()[1:]) if es.ndims else
                                ts.unknown_shape())
        return value

    def unstack(self, value, name=None):
        from deferflow.ops import array_ops, math_ops
        with ops.name_scope(name, "TensorArrayUnstack", [self._handle, value]):
            value = ops.convert_to_tensor(value, preferred_dtype=self._dtype, name="value")
            num_elements = array_ops.shape(value)[0]
            return self.scatter(indices=math_ops.range_(0, num_elements), value=value, name=name)

    def scatter(self, indices, value, name=None):
        with ops.name_scope(name, "TensorArrayScatter", [self._handle, value, indices]):
            value = ops.convert_to_tensor(value, preferred_dtype=self._dtype, name="value")
            _check_dtypes(value, self._dtype)
            if value.shape.ndims is not None and value.shape.ndims > 0:
                self._check_element_shape(ts.TensorShape(value.shape.as_list()[1:]))
            flow = ops.apply_op("TensorArrayScatterV3", handle=self._handle, indices=indices, value=value,
                                flow_in=self._flow)
            return self._with_flow(flow)

    def split(self, value, lengths, name=None):
        from deferflow.ops import array_ops
        with ops.name_scope(name, "TensorArraySplit", [self._handle, value, lengths]):
            value = ops.convert_to_tensor(value, dtype=self._dtype, name="value")
            lengths_64 = array_ops.cast(lengths, dtypes.int64)
            c = constant_value(lengths_64)
            if value.shape.ndims is not None and c is not None and c.size and c.max() == c.min():
                self._check_element_shape(ts.TensorShape([int(c[0])]).concatenate(
                    ts.TensorShape(value.shape.as_list()[1:])))
            flow = ops.apply_op("TensorArraySplitV3", handle=self._handle, value=value, lengths=lengths_64,
                                flow_in=self._flow)
            return self._with_flow(flow)

    def size(self, name=None):
        if not self._dynamic_size and self._size is not None:
            return ops.convert_to_tensor(self._size, dtype=dtypes.int32)
        return ops.apply_op("TensorArraySizeV3", name=name, handle=self._handle, flow_in=self._flow)

    def close(self, name=None):
        return ops.apply_op("TensorArrayCloseV3", name=name, handle=self._handle)


def _check_dtypes(value, dtype):
    if value.dtype.base_dtype != dtype:
        raise errors.InvalidArgumentError(None, None, f"TensorArray dtype is {dtype.name} but Op is trying to write "
                                                      f"dtype {value.dtype.base_dtype.name} ")


def build_ta_with_new_flow(old_ta, flow):
    """A TensorArray object sharing ``old_ta``'s handle and element shape, at a new flow."""
    new = TensorArray(dtype=old_ta._dtype, handle=old_ta._handle, flow=flow, infer_shape=old_ta._infer_shape)
    new._dynamic_size = old_ta._dynamic_size
    new._size = old_ta._size
    new._element_shape = old_ta._element_shape
    return new
