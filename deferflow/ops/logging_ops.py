"""Run-time checks and printing: ``tf.Assert``, ``tf.Print``, ``tf.print`` and the ``tf.assert_*`` family.

``Assert`` fails the run with InvalidArgumentError("assertion failed: [data]...") naming the node; the
``assert_*`` functions also fail at graph-construction time when both sides are constants, as TF does.
"""
import sys

import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.ops.common import constant_value, lookup_error_gradient

define = op_registry.define


# ---- formatting values as TF's SummarizeValue -------------------------------------------------------
def _element(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (np.floating, float)):
        v32 = isinstance(v, np.float32) or isinstance(v, np.float16)
        s = "%.6g" % v if v32 else "%.15g" % v
        if float(s) != float(v):
            s = "%.9g" % v if v32 else "%.17g" % v
        return s
    return str(v)


def summarize_v1(value, n):
    """TF1's flat-with-brackets summary of the first ``n`` elements (``n < 0``: all)."""
    a = np.asarray(value)
    flat = a.reshape(-1)
    limit = flat.size if n < 0 else min(n, flat.size)
    out = []
    idx = [0]

    def one_dim(d):
        if idx[0] >= limit:
            return
        if d == a.ndim - 1:
            for i in range(a.shape[d]):
                if idx[0] >= limit:
                    if d != 0:
                        out.append("...")
                    return
                if i > 0:
                    out.append(" ")
                out.append(_element(flat[idx[0]]))
                idx[0] += 1
            return
        for _ in range(a.shape[d]):
            opened = idx[0] < limit
            if opened:
                out.append("[")
            one_dim(d + 1)
            if idx[0] < limit or opened:
                out.append("]")

    if a.ndim == 0:
        out.append(" ".join(_element(x) for x in flat[:limit]))
    else:
        one_dim(0)
    if flat.size > limit:
        out.append("...")
    return "".join(out)


def summarize_v2(value, n):
    """tf.print's numpy-like layout, eliding the middle of dimensions longer than 2 * ``n``."""
    a = np.asarray(value)
    if a.ndim == 0:
        return _element(a[()])

    def fmt(x, depth):
        if x.ndim == 1:
            items = [_element(v) for v in x]
            if n >= 0 and len(items) > 2 * n:
                items = items[:n] + ["..."] + items[-n:]
            return "[" + " ".join(items) + "]"
        rows = [fmt(r, depth + 1) for r in x]
        if n >= 0 and len(rows) > 2 * n:
            rows = rows[:n] + ["..."] + rows[-n:]
        return "[" + ("\n" + " " * (depth + 1)).join(rows) + "]"
    return fmt(a, 0)


# ---- ops --------------------------------------------------------------------------------------------
Assert = define("Assert", "condition: bool, data: T", "", ["T: list(type) >= 1", "summarize: int = 3"],
                stateful=True)
Assert.shape(lambda op: [])
Assert.no_gradient()


@Assert.kernel
def _assert_kernel(condition, *data, summarize):
    if np.ndim(condition) != 0:
        raise errors.InvalidArgumentError(None, None, f"In[0] expects a scalar, got shape "
                                                      f"[{','.join(str(d) for d in np.shape(condition))}]")
    if not condition:
        msg = " ".join(f"[{summarize_v1(x, summarize)}]" for x in data)
        raise errors.InvalidArgumentError(None, None, f"assertion failed: {msg}")


Print = define("Print", "input: T, data: U", "output: T",
               ["T: type", "U: list(type) >= 0", "message: string = ''", "first_n: int = -1",
                "summarize: int = 3"], stateful=True)
Print.shape(lambda op: [op._inputs[0].shape])
Print.grad(lambda op, g: [g] + [None] * (len(op._inputs) - 1))


@Print.kernel(ctx=True)
def _print_kernel(ctx, x, *data, message, first_n, summarize):
    counts = ctx.state.resources.setdefault("print_counts", {})
    n = counts.get(ctx.op._name, 0)
    if first_n < 0 or n < first_n:
        counts[ctx.op._name] = n + 1
        sys.stderr.write(message + "".join(f"[{summarize_v1(v, summarize)}]" for v in data) + "\n")
    return x


StringFormat = define("StringFormat", "inputs: T", "output: string",
                      ["T: list(type) >= 0", "template: string = '%s'", "placeholder: string = '%s'",
                       "summarize: int = 3"])
StringFormat.shape(lambda op: [ts.TensorShape([])])
lookup_error_gradient(StringFormat)


@StringFormat.kernel
def _string_format_kernel(*inputs, template, placeholder, summarize):
    parts = template.split(placeholder)
    if len(parts) != len(inputs) + 1:
        raise errors.InvalidArgumentError(None, None, f"num placeholders in template and num inputs must "
                                                      f"match: {len(parts) - 1} vs. {len(inputs)}")
    out = parts[0]
    for x, p in zip(inputs, parts[1:]):
        out += summarize_v2(x, summarize) + p
    return np.array(out.encode("utf-8"), dtype=object)


PrintV2 = define("PrintV2", "input: string", "", ["output_stream: string = 'stderr'", "end: string = '\n'"],
                 stateful=True)
PrintV2.shape(lambda op: [])
lookup_error_gradient(PrintV2)


@PrintV2.kernel
def _print_v2_kernel(x, *, output_stream, end):
    text = x[()] if isinstance(x, np.ndarray) else x
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    stream = sys.stdout if output_stream in ("stdout", "log(info)") else sys.stderr
    stream.write(text + end)
    stream.flush()


# ---- Python API -------------------------------------------------------------------------------------
def _assert_op(condition, data, summarize, name):
    return ops.apply_op("Assert", name=name, condition=condition, data=list(data),
                        summarize=3 if summarize is None else summarize)


def Assert_(condition, data, summarize=None, name=None):  # noqa: N802
    """``tf.Assert``: an op failing the run with the ``data`` values when ``condition`` is false.

    Unless all data are strings or int32, the check sits in a cond so the data are only read when
    it fails (TF's ``AssertGuard``).
    """
    from deferflow.ops import control_flow_ops
    with ops.name_scope(name, "Assert", [condition, data]):
        xs = [ops.convert_to_tensor(x) for x in data]
        if all(x.dtype.base_dtype in (dtypes.string, dtypes.int32) for x in xs):
            return _assert_op(condition, xs, summarize, "Assert")
        condition = ops.convert_to_tensor(condition, name="Condition")

        def true_assert():
            return _assert_op(condition, xs, summarize, "Assert")
        guarded = control_flow_ops.cond(condition, control_flow_ops.no_op, true_assert, name="AssertGuard")
        return guarded.op


def Print_(input_, data, message=None, first_n=None, summarize=None, name=None):  # noqa: N802
    """``tf.Print``: the identity of ``input_`` that prints ``message`` and ``data`` to stderr when run."""
    return ops.apply_op("Print", name=name, input=input_, data=list(data), message=message or "",
                        first_n=-1 if first_n is None else first_n, summarize=3 if summarize is None else summarize)


def print_(*inputs, output_stream=None, sep=" ", end="\n", name=None, summarize=3):
    """``tf.print``: a ``PrintV2`` op printing Python values and tensors when run (returns the op)."""
    if output_stream is sys.stdout or output_stream == "stdout":
        stream = "stdout"
    elif output_stream is None or output_stream is sys.stderr or output_stream == "stderr":
        stream = "stderr"
    elif isinstance(output_stream, str):
        stream = output_stream
    else:
        raise ValueError(f"Unsupported output stream, logging level, or file: {output_stream}")
    with ops.name_scope(name):
        pieces, tensors = [], []
        for x in inputs:
            if isinstance(x, (ops.Tensor,)) or hasattr(x, "_as_graph_element"):
                pieces.append("{}")
                tensors.append(ops.convert_to_tensor(x))
            else:
                pieces.append(str(x).replace("{}", "{ }"))
        formatted = ops.apply_op("StringFormat", inputs=tensors, template=sep.join(pieces), placeholder="{}",
                                 summarize=summarize)
        return ops.apply_op("PrintV2", input=formatted, output_stream=stream, end=end)


def _static_fail(data):
    def text(x):
        if isinstance(x, ops.Tensor):
            v = constant_value(x)
            if v is None:
                return str(x)
            return v.decode() if isinstance(v, bytes) else (
                v[()].decode() if isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 0 else str(v))
        return str(x)
    raise errors.InvalidArgumentError(None, None, "\n".join(text(x) for x in data))


def _binary_assert(sym, opname, op_func, static_func, x, y, data, summarize, message, name):
    from deferflow.ops import math_ops
    with ops.name_scope(name, opname, [x, y, data]):
        x = ops.convert_to_tensor(x, name="x")
        y = ops.convert_to_tensor(y, name="y")
        if data is None:
            data = [f"Condition x {sym} y did not hold element-wise:", f"x ({x.name}) = ", x, f"y ({y.name}) = ", y]
        if message is not None:
            data = [message] + list(data)
        condition = math_ops.reduce_all(op_func(x, y))
        xs, ys = constant_value(x), constant_value(y)
        if xs is not None and ys is not None and not np.all(static_func(xs, ys)):
            _static_fail(data)
        return Assert_(condition, data, summarize=summarize)


def _bin(sym, opname, op_name, static_func):
    def assert_fn(x, y, data=None, summarize=None, message=None, name=None):
        from deferflow.ops import math_ops
        return _binary_assert(sym, opname, getattr(math_ops, op_name), static_func, x, y, data, summarize,
                              message, name)
    assert_fn.__name__ = opname
    assert_fn.__doc__ = f"``tf.{opname}``: fails the run unless ``x {sym} y`` holds element-wise."
    return assert_fn


assert_equal = _bin("==", "assert_equal", "equal", np.equal)
assert_none_equal = _bin("!=", "assert_none_equal", "not_equal", np.not_equal)
assert_less = _bin("<", "assert_less", "less", np.less)
assert_less_equal = _bin("<=", "assert_less_equal", "less_equal", np.less_equal)
assert_greater = _bin(">", "assert_greater", "greater", np.greater)
assert_greater_equal = _bin(">=", "assert_greater_equal", "greater_equal", np.greater_equal)


def _sign_assert(opname, sym, zero_on_left, check):
    def assert_fn(x, data=None, summarize=None, message=None, name=None):
        with ops.name_scope(name, opname, [x, data]):
            x = ops.convert_to_tensor(x, name="x")
            if data is None:
                data = [message or "", f"Condition x {sym} 0 did not hold element-wise:", f"x ({x.name}) = ", x]
            zero = ops.convert_to_tensor(0, dtype=x.dtype.base_dtype)
            a, b = (zero, x) if zero_on_left else (x, zero)
            return check(a, b, data=data, summarize=summarize)
    assert_fn.__name__ = opname
    assert_fn.__doc__ = f"``tf.{opname}``: fails the run unless ``x {sym} 0`` holds element-wise."
    return assert_fn


assert_positive = _sign_assert("assert_positive", ">", True, assert_less)
assert_negative = _sign_assert("assert_negative", "<", False, assert_less)
assert_non_negative = _sign_assert("assert_non_negative", ">=", True, assert_less_equal)
assert_non_positive = _sign_assert("assert_non_positive", "<=", False, assert_less_equal)


def _rank_assert(opname, relation, text):
    def assert_fn(x, rank, data=None, summarize=None, message=None, name=None):
        from deferflow.ops import array_ops, control_flow_ops, math_ops
        with ops.name_scope(name, opname, [x, rank] + list(data or [])):
            x = ops.convert_to_tensor(x, name="x")
            rank = ops.convert_to_tensor(rank, name="rank")
            want = constant_value(rank)
            have = x.shape.ndims
            if want is not None and have is not None:
                if not relation(have, int(want)):
                    prefix = f"{message}.  " if message else ""
                    raise ValueError(f"{prefix}Tensor {x.name} must have rank {text}{int(want)}.  Received rank "
                                     f"{have}, shape {x.shape}")
                return control_flow_ops.no_op(name="static_checks_determined_all_ok")
            if data is None:
                data = [message or "", f"Tensor {x.name} must have rank {text}", rank, "Received shape: ",
                        array_ops.shape(x)]
            fn = math_ops.equal if relation(1, 1) and not relation(2, 1) else math_ops.greater_equal
            return Assert_(fn(array_ops.rank(x), rank), data, summarize=summarize)
    assert_fn.__name__ = opname
    return assert_fn


assert_rank = _rank_assert("assert_rank", lambda a, b: a == b, "")
assert_rank_at_least = _rank_assert("assert_rank_at_least", lambda a, b: a >= b, "at least ")


def assert_type(tensor, tf_type, message=None, name=None):
    """``tf.assert_type``: a static dtype check (TypeError), returning a no-op."""
    from deferflow.ops import control_flow_ops
    tf_type = dtypes.as_dtype(tf_type)
    with ops.name_scope(name, "assert_type", [tensor]):
        tensor = ops.convert_to_tensor(tensor, name="tensor")
        if tensor.dtype.base_dtype != tf_type:
            prefix = f"{message} " if message else ""
            raise TypeError(f"{prefix}{tensor.name} must be of type {tf_type!r}; got {tensor.dtype.base_dtype!r}")
        return control_flow_ops.no_op("statically_determined_correct_type")


def assert_scalar(tensor, name=None, message=None):
    with ops.name_scope(name, "assert_scalar", [tensor]):
        tensor = ops.convert_to_tensor(tensor, name="tensor")
        if tensor.shape.ndims is not None and tensor.shape.ndims != 0:
            prefix = f"{message}  " if message else ""
            raise ValueError(f"{prefix}Expected scalar shape for {tensor.name}, saw shape: {tensor.shape}.")
        return tensor
