"""``tf.py_func``, ``tf.numpy_function`` and ``tf.py_function``: Python callables as graph ops.

The ops are TF's ``PyFunc`` / ``PyFuncStateless`` / ``EagerPyFunc``; their ``token`` attr names an entry in a
process-local registry, so a graph exported and imported elsewhere holds the op but not the function (running
it raises InvalidArgumentError naming the op and the token, as TF does). Exceptions from the function surface
as TF's error classes: ValueError/TypeError -> InvalidArgumentError, StopIteration -> OutOfRangeError,
NotImplementedError -> UnimplementedError, anything else -> UnknownError.
"""
import itertools
import threading
import traceback

import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor

define = op_registry.define

_funcs = {}  # token -> callable: this process's functions
_lock = threading.Lock()
_next = itertools.count()


def _insert(func):
    with _lock:
        token = f"pyfunc_{next(_next)}"
        _funcs[token] = func
    return token


_ERROR_CLASSES = ((ValueError, errors.InvalidArgumentError), (TypeError, errors.InvalidArgumentError),
                  (StopIteration, errors.OutOfRangeError), (MemoryError, errors.ResourceExhaustedError),
                  (NotImplementedError, errors.UnimplementedError))


def _raise_as_tf(e):
    if isinstance(e, errors.OpError):
        raise e
    cls = next((c for t, c in _ERROR_CLASSES if isinstance(e, t)), errors.UnknownError)
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    raise cls(None, None, f"{type(e).__name__}: {e}\n{tb}") from e


class _EagerValue(np.ndarray):
    """What a ``tf.py_function`` body receives: an array that also answers ``.numpy()`` like an EagerTensor."""

    def numpy(self):
        return np.asarray(self)


def _call(token, args, tout, eager):
    func = _funcs.get(token.decode() if isinstance(token, bytes) else token)
    if func is None:
        raise errors.InvalidArgumentError(None, None, f"ValueError: Could not find callback with key={token} in the "
                                                      "registry (py_func functions live in the process that built "
                                                      "the graph).")
    if eager:
        args = [np.asarray(a).view(_EagerValue) for a in args]
    try:
        result = func(*args)
    except Exception as e:  # noqa: BLE001 - every exception becomes TF's error class
        _raise_as_tf(e)
    if not tout:
        return ()
    values = list(result) if isinstance(result, (list, tuple)) else [result]
    if len(values) != len(tout):
        raise errors.InvalidArgumentError(None, None, f"{token} returns {len(values)} values, but expects to see "
                                                      f"{len(tout)} values.")
    out = []
    for i, (v, t) in enumerate(zip(values, tout)):
        want = dtypes.as_dtype(t)
        if eager and v is None:  # a gradient body with nothing to say: zero
            v = 0
        if want.base_dtype == dtypes.string:  # deferflow holds strings as object arrays of bytes
            arr = np.asarray(v, dtype=object)
            out.append(np.vectorize(lambda e: e.encode() if isinstance(e, str) else bytes(e), otypes=[object])(arr)
                       if arr.size else arr)
        elif isinstance(v, (np.ndarray, np.generic)) and not eager:
            if dtypes.as_dtype(v.dtype).base_dtype != want.base_dtype:
                raise errors.InvalidArgumentError(None, None, f"{i}-th value returned by {token} is "
                                                              f"{dtypes.as_dtype(v.dtype).name}, but expects "
                                                              f"{_tf_type_name(want)}")
            out.append(np.asarray(v))
        else:
            out.append(np.asarray(v, dtype=want.as_numpy_dtype))
    return tuple(out)


def _tf_type_name(dt):
    return {"float32": "float", "float64": "double", "float16": "half"}.get(dt.name, dt.name)


_SIG = ["token: string", "Tin: list(type) >= 0", "Tout: list(type) >= 0"]


def _define(name, eager, stateful):
    od = define(name, "input: Tin", "output: Tout", _SIG + (["is_async: bool = false"] if eager else []),
                stateful=stateful)
    od.shape(lambda op: [ts.unknown_shape() for _ in op._outputs])  # TF can't know what the function returns

    @od.kernel
    def kernel(*args, token, Tout):
        return _call(token, args, Tout, eager)
    return od


PyFunc = _define("PyFunc", eager=False, stateful=True)
PyFuncStateless = _define("PyFuncStateless", eager=False, stateful=False)
EagerPyFunc = _define("EagerPyFunc", eager=True, stateful=True)
PyFunc.no_gradient()  # TF marks both numpy-function ops not differentiable: their gradients are None
PyFuncStateless.no_gradient()


@EagerPyFunc.grad
def _eager_py_func_grad(op, *grads):
    """TF differentiates the body on a tape; here the body sees plain arrays, so nothing is recorded and the
    gradient is zero, as TF's is for a body that computes with ``.numpy()`` values. A real gradient comes
    from ``RegisterGradient`` + ``gradient_override_map({"EagerPyFunc": ...})``."""
    from deferflow.ops import array_ops
    with ops.control_dependencies(op.outputs):
        return [array_ops.zeros_like(t) if t.dtype.base_dtype.is_floating or t.dtype.base_dtype.is_complex else None
                for t in op._inputs]


def _internal_py_func(func, inp, Tout, stateful=True, eager=False, name=None):
    if not callable(func):
        raise ValueError(f"Expected func to be callable. Received func={func} of type {type(func)}.")
    single = not isinstance(Tout, (list, tuple))
    tout = [dtypes.as_dtype(t).base_dtype for t in ([Tout] if single else Tout)]
    inp = [convert_to_tensor(x) for x in (inp or [])]
    token = _insert(func)
    g = ops.get_default_graph()
    if not hasattr(g, "_py_funcs_used_in_graph"):
        g._py_funcs_used_in_graph = []
    g._py_funcs_used_in_graph.append(func)
    op_type = "EagerPyFunc" if eager else ("PyFunc" if stateful else "PyFuncStateless")
    attrs = dict(token=token, Tin=[t.dtype.base_dtype for t in inp], Tout=tout)
    if eager:
        attrs["is_async"] = False
    result = apply_op(op_type, name=name, input=inp, **attrs)
    if isinstance(result, ops.Operation):
        result = []
    elif not isinstance(result, list):
        result = [result]
    return result[0] if single else result


def py_func(func, inp, Tout, stateful=True, name=None):
    """Runs ``func`` on NumPy arrays inside the graph; ``Tout`` gives the output dtypes (a list, or one dtype)."""
    return _internal_py_func(func, inp, Tout, stateful=stateful, name=name)


def numpy_function(func, inp, Tout, stateful=True, name=None):
    """``tf.numpy_function``: ``tf.py_func`` under its TF2 name."""
    return _internal_py_func(func, inp, Tout, stateful=stateful, name=name)


def py_function(func, inp, Tout, name=None):
    """``tf.py_function`` (``EagerPyFunc``): ``func`` gets arrays that also answer ``.numpy()``."""
    return _internal_py_func(func, inp, Tout, eager=True, name=name)


eager_py_func = py_function
