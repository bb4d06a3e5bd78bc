"""TF1 control flow: grouping ops, the dataflow primitives (``Switch``/``Merge``/``Enter``/``Exit``/
``NextIteration``/``LoopCond``), and ``tf.cond``/``tf.case``/``tf.while_loop`` built from them.

Graph building follows TensorFlow 1.x: a ``CondContext`` or ``WhileContext`` is installed on the graph
while a branch or loop body is built, and every new op is passed to it (``_add_op``) so that tensors
from outside get guarded by a ``Switch`` (cond) or brought in by a constant ``Enter`` (loop). The op
types, names and attrs are TensorFlow's, so these graphs export to and import from TensorFlow.
At run time an untaken ``Switch`` output is *dead*: deadness propagates through ops until a ``Merge``
takes its live input (see deferflow/client/control_flow.py).
"""
import builtins

import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import Operation, Tensor
from deferflow.ops import nest
from deferflow.ops.common import lookup_error_gradient

_basetuple = builtins.tuple
define = op_registry.define

NoOp = op_registry.define("NoOp")
NoOp.shape(lambda op: [])
NoOp.kernel(lambda: None)
NoOp.no_gradient()


def no_op(name=None):
    return ops.apply_op("NoOp", name=name or "NoOp")


def _as_op(x):
    if getattr(x, "_is_indexed_slices", False):
        return x.op
    x = getattr(x, "_as_graph_element", lambda: x)() if not isinstance(x, (Tensor, Operation)) else x
    return x.op if isinstance(x, Tensor) else x


def group(*inputs, name=None):
    """An op that runs all ``inputs`` (a ``NoOp`` with them as control inputs)."""
    flat = []
    for x in inputs:
        if isinstance(x, (list, builtins.tuple)):
            flat.extend(x)
        elif isinstance(x, dict):
            flat.extend(x.values())
        else:
            flat.append(x)
    if not flat:
        return no_op(name=name or "NoOp")
    with ops.name_scope(name, "group_deps", flat) as scope:
        deps = [_as_op(x) for x in flat]
        deps = sorted(set(deps), key=lambda o: o.name)
        with ops.control_dependencies(deps):
            return no_op(name=scope)


def with_dependencies(dependencies, output_tensor, name=None):
    """``output_tensor`` (a Tensor, an IndexedSlices, or an op) available only after ``dependencies`` ran."""
    with ops.name_scope(name, "control_dependency", list(dependencies) + [output_tensor]) as scope:
        with ops.control_dependencies(dependencies):
            if isinstance(output_tensor, Operation):
                return group(output_tensor, name=scope)
            if getattr(output_tensor, "_is_indexed_slices", False):  # the values gated, as TF does
                return type(output_tensor)(ops.apply_op("Identity", name=scope, input=output_tensor.values),
                                           output_tensor.indices, output_tensor.dense_shape)
            return ops.apply_op("Identity", name=scope, input=output_tensor)


def tuple(tensors, name=None, control_inputs=None):  # noqa: A001 - TF's name
    """Tensors with the same values, each available only after all of them are computed."""
    with ops.name_scope(name, "tuple", tensors) as scope:
        real = [t for t in tensors if t is not None]
        gating = group(*real) if not control_inputs else group(*(real + list(control_inputs)))
        return [None if t is None else with_dependencies([gating], t) for t in tensors]


# ---- dataflow primitives ----------------------------------------------------------------------
class _Dead:
    """The value of a tensor on an untaken branch. Never equal to anything but itself (arrays too)."""

    __slots__ = ()
    __array_ufunc__ = None  # numpy defers `array == DEAD` to object identity instead of broadcasting

    def __repr__(self):
        return "<dead>"


DEAD = _Dead()
CONTROL_FLOW_TYPES = frozenset(["Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "RefEnter", "Exit", "RefExit",
                                "NextIteration", "RefNextIteration", "LoopCond"])


def _rank0(t, what="Shape"):
    r = t.shape.ndims
    if r is not None and r != 0:
        raise ValueError(f"{what} must be rank 0 but is rank {r}")


def _shape_str(shape):
    return "[" + ",".join(str(d) for d in np.shape(shape)) + "]"


def _switch_shape(op):
    _rank0(op._inputs[1])
    return [op._inputs[0].shape] * 2


def _switch_kernel(data, pred):
    if np.ndim(pred) != 0:
        raise errors.InvalidArgumentError(None, None, f"The second input must be a scalar, but it has shape "
                                                      f"{_shape_str(pred)}")
    return (DEAD, data) if pred else (data, DEAD)


def _merge_shape(op):
    shapes = [t.shape for t in op._inputs]
    out = shapes[0]
    for s in shapes[1:]:
        if out.ndims is None or s.ndims is None or out.ndims != s.ndims:
            out = ts.unknown_shape()
            break
        out = ts.TensorShape([a if a == b else None for a, b in zip(out.as_list(), s.as_list())])
    return [out, ts.TensorShape([])]


def _merge_kernel(*inputs):
    for i, x in enumerate(inputs):
        if x is not DEAD:
            return x, np.int32(i)
    return DEAD, DEAD


def _enter_shape(op):
    return [op._inputs[0].shape if op._attrs["is_constant"] else ts.unknown_shape()]


def _loop_cond_shape(op):
    _rank0(op._inputs[0])
    return [ts.TensorShape([])]


def _identity(x):
    return x


_ENTER_ATTRS = ["T: type", "frame_name: string", "is_constant: bool = false", "parallel_iterations: int = 10"]
Switch = define("Switch", "data: T, pred: bool", "output_false: T, output_true: T", ["T: type"])
RefSwitch = define("RefSwitch", "data: Ref(T), pred: bool", "output_false: Ref(T), output_true: Ref(T)", ["T: type"])
Merge = define("Merge", "inputs: N * T", "output: T, value_index: int32", ["T: type", "N: int >= 1"])
RefMerge = define("RefMerge", "inputs: Ref(N * T)", "output: Ref(T), value_index: int32", ["T: type", "N: int >= 1"])
Enter = define("Enter", "data: T", "output: T", _ENTER_ATTRS)
RefEnter = define("RefEnter", "data: Ref(T)", "output: Ref(T)", _ENTER_ATTRS)
Exit = define("Exit", "data: T", "output: T", ["T: type"])
RefExit = define("RefExit", "data: Ref(T)", "output: Ref(T)", ["T: type"])
NextIteration = define("NextIteration", "data: T", "output: T", ["T: type"])
RefNextIteration = define("RefNextIteration", "data: Ref(T)", "output: Ref(T)", ["T: type"])
LoopCond = define("LoopCond", "input: bool", "output: bool")
ControlTrigger = define("ControlTrigger")
for _od in (Switch, RefSwitch):
    _od.shape(_switch_shape)
    _od.kernel(_switch_kernel)
for _od in (Merge, RefMerge):
    _od.shape(_merge_shape)
    _od.kernel(_merge_kernel)
for _od in (Enter, RefEnter):
    _od.shape(_enter_shape)
    _od.kernel(_identity)
for _od in (Exit, RefExit, NextIteration, RefNextIteration):
    _od.shape(lambda op: [op._inputs[0].shape])
    _od.kernel(_identity)
LoopCond.shape(_loop_cond_shape)
LoopCond.kernel(_identity)
LoopCond.no_gradient()  # the loop predicate stops backprop
ControlTrigger.shape(lambda op: [])
ControlTrigger.kernel(lambda: None)
lookup_error_gradient(ControlTrigger)


# ---- op-level helpers (TF's control_flow_ops / control_flow_util) -------------------------------
def _get_ctx(op):
    return op._extra.get("cf_context") if op._extra else None


def _set_ctx(op, ctx):
    if op._extra is None:
        op._extra = {}
    op._extra["cf_context"] = ctx


def _graph_ctx(graph=None):
    return (graph or ops.get_default_graph())._control_flow_context


def _remove_all_control_inputs(op):
    for c in op._control_inputs:
        c._control_outputs.remove(op)
    op._control_inputs = []
    op._graph._version += 1


def is_switch(op):
    return op.type in ("Switch", "RefSwitch")


def is_merge(op):
    return op.type in ("Merge", "RefMerge")


def is_loop_enter(op):
    return op.type in ("Enter", "RefEnter")


def is_loop_exit(op):
    return op.type in ("Exit", "RefExit")


def is_loop_constant_enter(op):
    return is_loop_enter(op) and op._attrs.get("is_constant", False)


def is_cond_switch(op):
    """A Switch all of whose consumers are in cond contexts (as opposed to a loop's Switch)."""
    if not is_switch(op) or not op._outputs:
        return False
    result = True
    for t in op._outputs:
        for c in t._consumers:
            ctx = _get_ctx(c)
            if is_loop_enter(c) and ctx is not None:
                ctx = ctx.outer_context
            result = result and ctx is not None and ctx.IsCondContext()
    return result


def is_loop_switch(op):
    if not is_switch(op):
        return False
    ctx = _get_ctx(op)
    return ctx is not None and ctx.IsWhileContext() and not is_cond_switch(op)


def get_loop_constant_enter(value):
    op = value.op
    while op.type in ("Switch", "RefSwitch", "Identity", "RefIdentity"):
        op = op._inputs[0].op
    return op if is_loop_constant_enter(op) else None


def get_output_context(op):
    """The context an op's outputs live in (an Exit's outputs are outside its loop)."""
    ctx = _get_ctx(op)
    if ctx is not None and is_loop_exit(op):
        ctx = ctx.outer_context
    return ctx


def get_while_context(op):
    ctx = _get_ctx(op)
    return ctx.GetWhileContext() if ctx is not None else None


def _as_tensor(data, name=None, as_ref=True):
    if isinstance(data, Tensor):
        return data
    return ops.convert_to_tensor(data, name=name, as_ref=as_ref)


def switch(data, pred, dtype=None, name=None):
    """``(output_false, output_true)``: ``data`` forwarded to the output selected by scalar bool ``pred``."""
    with ops.name_scope(name, "Switch", [data, pred]) as scope:
        data = ops.convert_to_tensor(data, dtype=dtype, name="data", as_ref=True)
        pred = ops.convert_to_tensor(pred, name="pred")
        return ops.apply_op("Switch", name=scope, data=data, pred=pred)


def ref_switch(data, pred, name=None):
    return ops.apply_op("RefSwitch", name=name or "RefSwitch", data=data, pred=pred)


def _SwitchRefOrTensor(data, pred, name="Switch"):  # noqa: N802 - TF's helper name
    data = ops.convert_to_tensor(data, name="data")
    if data.dtype.is_ref_dtype:
        return ref_switch(data, pred, name=name)
    return switch(data, pred, name=name)


def merge(inputs, name=None):
    """``(output, value_index)``: the first available of ``inputs``."""
    if any(x is None for x in inputs):
        raise ValueError(f"At least one of the merge inputs is None: {inputs}")
    with ops.name_scope(name, "Merge", inputs) as scope:
        inputs = [_as_tensor(x) for x in inputs]
        op_type = "RefMerge" if all(x.dtype.is_ref_dtype for x in inputs) else "Merge"
        return ops.apply_op(op_type, name=scope, inputs=inputs)


def _Enter(data, frame_name, is_constant=False, parallel_iterations=10, use_ref=True,  # noqa: N802
           use_input_shape=True, name=None):
    data = _as_tensor(data)
    op_type = "RefEnter" if data.dtype.is_ref_dtype and use_ref else "Enter"
    result = ops.apply_op(op_type, name=name or "Enter", data=data, frame_name=frame_name,
                          is_constant=is_constant, parallel_iterations=parallel_iterations)
    if use_input_shape:
        result._shape = data.shape
    return result


def exit(data, name=None):  # noqa: A001 - TF's name
    data = _as_tensor(data)
    return ops.apply_op("RefExit" if data.dtype.is_ref_dtype else "Exit", name=name or "Exit", data=data)


def _NextIteration(data, name=None):  # noqa: N802
    data = _as_tensor(data, as_ref=False)
    op_type = "RefNextIteration" if data.dtype.is_ref_dtype else "NextIteration"
    return ops.apply_op(op_type, name=name or "NextIteration", data=data)


def loop_cond(input, name=None):  # noqa: A002
    return ops.apply_op("LoopCond", name=name or "LoopCond", input=input)


def control_trigger(name=None):
    return ops.apply_op("ControlTrigger", name=name or "ControlTrigger")


def _Identity(x, name=None):  # noqa: N802
    return ops.apply_op("Identity", name=name or "Identity", input=x)


# ---- gradients of the primitives (grad-loop state lives in control_flow_grad) ---------------------
@Switch.grad
def _switch_grad(op, *grad):
    """A Switch's gradient merges its outputs' gradients. A loop Switch is visited twice: first from the
    Exit branch (creating the backprop Merge), then from the body (closing it with a NextIteration)."""
    op_ctxt = _get_ctx(op)
    grad_ctxt = _graph_ctx()
    if isinstance(op_ctxt, WhileContext):
        merge_grad = grad_ctxt.grad_state.switch_map.get(op)
        if merge_grad is not None:
            if grad[1] is not None:
                _AddNextAndBackEdge(merge_grad, grad[1], enforce_shape_invariant=False)
            return None, None
        if grad[0] is not None:
            merge_grad = merge([grad[0], grad[0]], name="b_switch")[0]
            grad_ctxt.grad_state.switch_map[op] = merge_grad
            return merge_grad, None
        return None, None
    if isinstance(op_ctxt, CondContext):
        if grad[1 - op_ctxt.branch] is None:
            return None, None
        return merge(list(grad), name="cond_grad")[0], None
    false_grad = switch(grad[0], op._inputs[1])[0]
    true_grad = switch(grad[1], op._inputs[1])[1]
    return merge([false_grad, true_grad])[0], None


RefSwitch.grad(_switch_grad)


@Merge.grad
def _merge_grad(op, grad, _):
    """A Merge's gradient is switched back to the input that was taken."""
    op_ctxt = get_output_context(op._inputs[0].op)
    grad_ctxt = _graph_ctx()
    if isinstance(op_ctxt, WhileContext):
        return _SwitchRefOrTensor(grad, grad_ctxt.pivot)
    if isinstance(op_ctxt, CondContext):
        pred = op_ctxt.pred
        if grad_ctxt is not None and grad_ctxt.grad_state is not None:
            # a cond inside a loop: the backprop Switch needs this iteration's predicate, from a stack
            grad_state = grad_ctxt.grad_state
            real_pred = grad_state.history_map.get(pred.name)
            if real_pred is None:
                grad_ctxt = grad_state.grad_context
                grad_ctxt.Exit()
                history_pred = grad_state.AddForwardAccumulator(pred)
                grad_ctxt.Enter()
                real_pred = grad_state.AddBackpropAccumulatedValue(history_pred, pred)
                grad_state.history_map[pred.name] = real_pred
            pred = real_pred
        return _SwitchRefOrTensor(grad, pred, name="cond_grad")
    from deferflow.ops import math_ops
    n = len(op._inputs)
    return [_SwitchRefOrTensor(grad, math_ops.equal(op._outputs[1], i))[1] for i in range(n)]


RefMerge.grad(_merge_grad)


@Exit.grad
def _exit_grad(op, grad):
    """An Exit's gradient enters the backprop loop."""
    op_ctxt = _get_ctx(op)
    grad_ctxt = _graph_ctx()
    if not grad_ctxt.back_prop:
        return None
    if op_ctxt.grad_state:
        raise TypeError("Second-order gradient for while loops not supported.")
    grad_ctxt.AddName(grad.name)
    grad_ctxt.Enter()
    result = _Enter(grad, grad_ctxt.name, is_constant=False, parallel_iterations=grad_ctxt.parallel_iterations,
                    name="b_exit")
    grad_ctxt.loop_enters.append(result)
    grad_ctxt.Exit()
    return result


RefExit.grad(_exit_grad)
NextIteration.grad(lambda op, grad: grad)  # the backprop NextIteration is added by the Switch gradient
RefNextIteration.grad(lambda op, grad: grad)


@Enter.grad
def _enter_grad(op, grad):
    """An Enter's gradient leaves the backprop loop: an Exit for a loop variable, an accumulating loop
    for a loop invariant (summing its gradient over all iterations)."""
    grad_ctxt = _graph_ctx()
    if grad_ctxt is None or not grad_ctxt.back_prop or grad_ctxt.grad_state is None:
        return grad
    if op._attrs["is_constant"]:
        return grad_ctxt.AddBackpropAccumulator(op, grad)
    result = exit(grad)
    grad_ctxt.loop_exits.append(result)
    grad_ctxt.ExitResult([result])
    return result


RefEnter.grad(_enter_grad)


# ---- contexts -----------------------------------------------------------------------------------
def _is_containing_context(ctxt, maybe_containing):
    while ctxt is not maybe_containing:
        if ctxt is None:
            return False
        ctxt = ctxt._outer_context
    return True


def _op_in_context(op, ctxt):
    return _is_containing_context(_get_ctx(op), ctxt)


def _is_tensor_array(x):
    from deferflow.ops import tensor_array_ops
    return isinstance(x, tensor_array_ops.TensorArray)


def _ta_to_flow(x):
    return x.flow if _is_tensor_array(x) else x


def _flow_to_ta(orig, flow):
    if _is_tensor_array(orig):
        from deferflow.ops import tensor_array_ops
        return tensor_array_ops.build_ta_with_new_flow(orig, flow)
    return flow


def _as_value(x):
    """Tensors as they are, Variables as their value, Python values as constants."""
    if isinstance(x, (Tensor, Operation)) or _is_tensor_array(x):
        return x
    return ops.convert_to_tensor(x)


class ControlFlowContext:
    """Base of CondContext and WhileContext: the values it has seen and how outside values map in."""

    def __init__(self):
        self._outer_context = _graph_ctx()
        self._nested_contexts = []
        if self._outer_context is not None:
            self._outer_context._nested_contexts.append(self)
        self._context_stack = []
        self._values = set()  # names of tensors known in this context
        self._external_values = {}  # outside tensor name -> the tensor standing for it in here

    outer_context = property(lambda self: self._outer_context)

    def _add_op(self, op):  # the hook Graph._create_op_raw calls for every new op
        _set_ctx(op, self)
        self.AddOp(op)

    def AddName(self, name):  # noqa: N802 - TF's method names
        self._values.add(name)

    def Enter(self):  # noqa: N802
        g = ops.get_default_graph()
        self._context_stack.append(g._control_flow_context)
        g._control_flow_context = self

    def Exit(self):  # noqa: N802
        ops.get_default_graph()._control_flow_context = self._context_stack.pop()

    def ExitResult(self, result):  # noqa: N802
        if self._outer_context is not None:
            for x in nest.flatten(result):
                self._outer_context.AddName(x.name)

    def GetWhileContext(self):  # noqa: N802
        return self._outer_context.GetWhileContext() if self._outer_context is not None else None

    def _RemoveExternalControlEdges(self, op):  # noqa: N802
        """Drops control inputs from outside the enclosing loop; returns (internal, external)."""
        while_ctxt = self.GetWhileContext()
        if while_ctxt is None:
            return list(op._control_inputs), []
        internal, external = [], []
        for x in op._control_inputs:
            ctxt = get_output_context(x)
            (internal if ctxt is not None and ctxt.GetWhileContext() is while_ctxt else external).append(x)
        if len(internal) != len(op._control_inputs):
            _remove_all_control_inputs(op)
            op._add_control_inputs(internal)
        return internal, external

    def AddInnerOp(self, op):  # noqa: N802
        if self._outer_context is not None:
            self._outer_context.AddInnerOp(op)

    def GetControlPivot(self):  # noqa: N802
        return None

    def IsWhileContext(self):  # noqa: N802
        return False

    def IsCondContext(self):  # noqa: N802
        return False

    def __str__(self):
        return self.name


class CondContext(ControlFlowContext):
    """The context of one branch of a ``tf.cond``: outside values enter through a Switch on ``pred``."""

    def __init__(self, pred=None, pivot=None, branch=None, name="cond_text"):
        super().__init__()
        self._name = ops.get_default_graph().unique_name(name)
        self._pred, self._pivot, self._branch = pred, pivot, branch
        self._values.add(pred.name)
        self._external_values[pred.name] = pred
        self._values.add(pivot.name)
        _set_ctx(pivot.op, self)

    name = property(lambda self: self._name)
    pred = property(lambda self: self._pred)
    pivot = property(lambda self: self._pivot)
    branch = property(lambda self: self._branch)

    @property
    def grad_state(self):
        w = self.GetWhileContext()
        return w.grad_state if w is not None else None

    @property
    def back_prop(self):
        w = self.GetWhileContext()
        return w.back_prop if w is not None else False

    def GetControlPivot(self):  # noqa: N802
        return self._pivot

    def IsCondContext(self):  # noqa: N802
        return True

    def AddValue(self, val):  # noqa: N802
        """The tensor standing for ``val`` in this branch (a Switch output for outside values)."""
        if val.name in self._values:
            result = self._external_values.get(val.name)
            return val if result is None else result
        result = val
        self._values.add(val.name)
        if self._outer_context is not None:
            result = self._outer_context.AddValue(val)
            self._values.add(result.name)
            self._external_values[result.name] = result
        with ops.control_dependencies(None):
            result = _SwitchRefOrTensor(result, self._pred)[self._branch]
            if self._outer_context is not None:
                self._outer_context.AddInnerOp(result.op)
        _set_ctx(result.op, self)
        ctxt = self
        while ctxt is not None:
            ctxt._values.add(result.name)
            ctxt = ctxt._outer_context
        self._external_values[val.name] = result
        return result

    def AddOp(self, op):  # noqa: N802
        self._AddOpInternal(op)

    def _AddOpInternal(self, op):  # noqa: N802
        if not op._inputs:
            self._RemoveExternalControlEdges(op)
            if not any(_op_in_context(c, self) for c in op._control_inputs):
                op._add_control_input(self._pivot.op)
        else:
            for i, x in enumerate(list(op._inputs)):
                if op.type in ("Merge", "RefMerge") and x.op.type in ("NextIteration", "RefNextIteration"):
                    real_x = x  # an imported loop's back edge joins the context on its own
                else:
                    real_x = self.AddValue(x)
                if real_x is not x:
                    op._update_input(i, real_x)
            self._RemoveExternalControlEdges(op)
        names = [x.name for x in op._outputs]
        ctxt = self
        while ctxt is not None:
            ctxt._values.update(names)
            ctxt = ctxt._outer_context
        if self._outer_context is not None:
            self._outer_context.AddInnerOp(op)

    def _ProcessOutputTensor(self, val):  # noqa: N802
        real_val = val
        if val.name not in self._values:
            self._values.add(val.name)  # a branch returning an outside tensor unchanged (lambda: x)
            if self._outer_context is not None:
                real_val = self._outer_context.AddValue(val)
                self._values.add(real_val.name)
                self._external_values[real_val.name] = real_val
            real_val = _SwitchRefOrTensor(real_val, self._pred)[self._branch]
            self._external_values[val.name] = real_val
        else:
            external = self._external_values.get(val.name)
            if external is not None:
                real_val = external
        return real_val

    def _BuildCondTensor(self, v):  # noqa: N802
        if isinstance(v, Operation):
            return with_dependencies([v], self._pivot)
        return self._ProcessOutputTensor(ops.convert_to_tensor(_ta_to_flow(v)))

    def BuildCondBranch(self, fn):  # noqa: N802
        """Calls ``fn`` in this branch; returns (its result, the flat tensors standing for it)."""
        original = fn()
        if original is None:
            return None, None
        original = nest.map_structure(_as_value, original)
        result = [self._BuildCondTensor(v) for v in nest.flatten(original)]
        return original, result


def _unpack_if_singleton(res):
    if isinstance(res, (list, _basetuple)) and len(res) == 1:
        return res[0]
    return res


def _build_branch(pred, pivot, branch, fn, fn_name):
    """Builds one branch of a cond in its own CondContext; returns (context, fn's result, exit tensors)."""
    context = CondContext(pred, pivot, branch=branch)
    try:
        context.Enter()
        orig, res = context.BuildCondBranch(fn)
        if orig is None:
            raise ValueError(f"'{fn_name}' must have a return value.")
        context.ExitResult(res)
    finally:
        context.Exit()
    return context, orig, res


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """``tf.cond``: ``true_fn()`` if ``pred`` else ``false_fn()``, as Switch/Merge dataflow.

    Both branches are built; at run time only the taken one executes. Returns the branch result's
    structure (singletons unpacked unless ``strict``).
    """
    if fn1 is not None:
        if true_fn is not None:
            raise TypeError("cond(): true_fn and fn1 may not be set simultaneously.")
        true_fn = fn1
    if fn2 is not None:
        if false_fn is not None:
            raise TypeError("cond(): false_fn and fn2 may not be set simultaneously.")
        false_fn = fn2
    if not callable(true_fn):
        raise TypeError("'true_fn' must be callable.")
    if not callable(false_fn):
        raise TypeError("'false_fn' must be callable.")
    with ops.name_scope(name, "cond", [pred]):
        if isinstance(pred, (bool, np.bool_)):
            raise TypeError("'pred' must not be a Python bool.")
        p_2, p_1 = switch(pred, pred)
        pivot_1 = _Identity(p_1, name="switch_t")
        pivot_2 = _Identity(p_2, name="switch_f")
        pred = _Identity(pred, name="pred_id")

        context_t, orig_res_t, res_t = _build_branch(pred, pivot_1, 1, true_fn, "true_fn")
        context_f, orig_res_f, res_f = _build_branch(pred, pivot_2, 0, false_fn, "false_fn")

        if not strict:
            orig_res_t = _unpack_if_singleton(orig_res_t)
            orig_res_f = _unpack_if_singleton(orig_res_f)
        try:
            nest.assert_same_structure(orig_res_t, orig_res_f)
        except TypeError as e:
            raise TypeError(f"Incompatible return types of `true_fn` and `false_fn`: {e}") from None
        except ValueError as e:
            raise ValueError(f"Incompatible return values of `true_fn` and `false_fn`: {e}") from None
        if not res_t:
            raise ValueError("`true_fn` and `false_fn` must return at least one result.")
        for x, y in zip(res_t, res_f):
            if x.dtype.base_dtype != y.dtype.base_dtype:
                raise TypeError("Outputs of `true_fn` and `false_fn` must have the same type(s). Received "
                                f"{x.dtype.base_dtype.name} from `true_fn` and {y.dtype.base_dtype.name} from "
                                "`false_fn`.")
        merges = [merge([f, t])[0] for f, t in zip(res_f, res_t)]
        merges = [_flow_to_ta(o, m) for o, m in zip(nest.flatten(orig_res_t), merges)]
        if context_t.outer_context is None:
            ops.add_to_collection(ops.GraphKeys.COND_CONTEXT, context_t)
            ops.add_to_collection(ops.GraphKeys.COND_CONTEXT, context_f)
        merges = nest.pack_sequence_as(orig_res_t, merges)
        return _unpack_if_singleton(merges) if not strict else merges


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """``tf.case``: the function of the first true predicate (``default`` if none), as nested conds."""
    if not isinstance(pred_fn_pairs, (list, _basetuple, dict)):
        raise TypeError(f"'pred_fn_pairs' must be a list, tuple, or dict. Received: {type(pred_fn_pairs)}")
    if isinstance(pred_fn_pairs, dict):
        pred_fn_pairs = sorted(pred_fn_pairs.items(), key=lambda item: item[0].name)
    for pair in pred_fn_pairs:
        if not isinstance(pair, _basetuple) or len(pair) != 2:
            raise TypeError(f"Each entry in 'pred_fn_pairs' must be a 2-tuple. Received {pair}.")
        pred, fn = pair
        if isinstance(pred, Tensor):
            if pred.dtype.base_dtype != dtypes.bool:
                raise TypeError(f"pred must be Tensor of type bool: {pred.name}")
        else:
            raise TypeError(f"pred must be a Tensor, got: {pred}")
        if not callable(fn):
            raise TypeError(f"fn for pred {pred.name} must be callable.")
    predicates = [p for p, _ in pred_fn_pairs]
    actions = [f for _, f in pred_fn_pairs]
    with ops.name_scope(name, "case", [predicates]):
        if default is None:
            default, predicates, actions = _case_create_default_action(predicates, actions)
        fn = default
        for predicate, action in reversed(list(zip(predicates, actions))):
            fn = (lambda p, a, f: lambda: cond(p, a, f, strict=strict))(predicate, action, fn)
        if exclusive:
            with ops.control_dependencies([_assert_at_most_n_true(predicates, 1, "Input error: exclusive=True")]):
                return fn()
        return fn()


def _assert_at_most_n_true(predicates, n, msg):
    from deferflow.ops import array_ops, logging_ops, math_ops
    preds_c = array_ops.stack(list(predicates), name="preds_c")
    num_true = math_ops.reduce_sum(math_ops.cast(preds_c, dtypes.int32), name="num_true_conds")
    condition = math_ops.less_equal(num_true, array_ops.constant(n, name="n_true_conds"))
    names = ", ".join(getattr(p, "name", "?") for p in predicates)
    return logging_ops.Assert_(condition, [f"{msg}: more than {n} conditions ({names}) evaluated as True:", preds_c],
                              summarize=len(predicates))


def _case_create_default_action(predicates, actions):
    from deferflow.ops import array_ops, logging_ops
    k = len(predicates) - 1
    predicate, action = predicates[k], actions[k]
    others_p, others_a = predicates[:k], actions[:k]

    def default_action():
        others_msg = (f"Implementation error: selected default action #{k} was called, but some of other "
                      "predicates are True: ")
        default_msg = ("Input error: None of conditions evaluated as True:",
                       array_ops.stack(list(predicates), name="preds_c"))
        deps = [logging_ops.Assert_(predicate, data=list(default_msg))]
        if others_p:
            deps.insert(0, _assert_at_most_n_true(others_p, 0, others_msg))
        with ops.control_dependencies(deps):
            return action()
    return default_action, others_p, others_a


def _shape_less_than_or_equal(s1, s2):
    if s2.ndims is None:
        return True
    if s1.ndims != s2.ndims:
        return False
    return all(b is None or a == b for a, b in zip(s1.as_list(), s2.as_list()))


def _AddNextAndBackEdge(m, v, enforce_shape_invariant=True):  # noqa: N802
    """Closes a loop: ``v`` flows through a NextIteration into the second input of Merge ``m``."""
    v = ops.convert_to_tensor(v)
    if v.dtype.base_dtype != m.dtype.base_dtype:
        enter = m.op._inputs[0]
        raise TypeError(f"Loop variable {enter.op._inputs[0].name if enter.op._inputs else enter.name} enters "
                        f"the loop as {m.dtype.base_dtype.name} but the body returns {v.dtype.base_dtype.name}")
    v = _NextIteration(v)
    if enforce_shape_invariant:
        _enforce_shape_invariant(m, v)
    m.op._update_input(1, v)
    return v


def _enforce_shape_invariant(merge_var, next_var):
    m_shape, n_shape = merge_var.shape, next_var.shape
    if not _shape_less_than_or_equal(n_shape, m_shape):
        input_t = merge_var.op._inputs[0].op._inputs[0]
        raise ValueError(f"Input tensor '{input_t.name}' enters the loop with shape {input_t.shape}, but has "
                         f"shape {n_shape} after one iteration. To allow the shape to vary across iterations, "
                         "use the `shape_invariants` argument of tf.while_loop to specify a less-specific shape.")


class WhileContext(ControlFlowContext):
    """The context of a ``tf.while_loop`` (or its backprop loop): one frame of Enter/Merge/Switch/Exit."""

    def __init__(self, maximum_iterations=None, parallel_iterations=10, back_prop=True, swap_memory=False,
                 name="while_context", grad_state=None):
        super().__init__()
        self._name = ops.get_default_graph().unique_name(name)
        self._maximum_iterations = maximum_iterations
        self._parallel_iterations = parallel_iterations
        self._back_prop = back_prop
        self._swap_memory = swap_memory
        self._pivot_for_pred = None  # controls constants created by cond
        self._pivot_for_body = None  # controls constants created by body
        self._pivot = None  # the LoopCond
        self._loop_exits = []
        self._loop_enters = []
        self._grad_state = grad_state
        self._graph = ops.get_default_graph()

    name = property(lambda self: self._name)
    maximum_iterations = property(lambda self: self._maximum_iterations)
    parallel_iterations = property(lambda self: self._parallel_iterations)
    back_prop = property(lambda self: self._back_prop)
    swap_memory = property(lambda self: self._swap_memory)
    pivot = property(lambda self: self._pivot)
    loop_enters = property(lambda self: self._loop_enters)
    loop_exits = property(lambda self: self._loop_exits)
    grad_state = property(lambda self: self._grad_state)

    def GetWhileContext(self):  # noqa: N802
        return self

    def GetControlPivot(self):  # noqa: N802
        return self._pivot_for_body if self._pivot_for_body is not None else self._pivot_for_pred

    def IsWhileContext(self):  # noqa: N802
        return True

    def AddValue(self, val):  # noqa: N802
        """The tensor standing for ``val`` in this loop: a constant Enter for outside values, or, in a
        backprop loop, the forward value popped from its stack."""
        result = val
        new_value = val.name not in self._values and _get_ctx(val.op) is not self
        if new_value:
            self._values.add(val.name)
            grad_ctxt = _graph_ctx()
            if grad_ctxt is not None:
                grad_ctxt = grad_ctxt.GetWhileContext()
                if grad_ctxt is not None and grad_ctxt.grad_state is not None:
                    forward_ctxt = get_while_context(val.op)
                    if is_loop_exit(val.op):
                        forward_ctxt = forward_ctxt.outer_context
                        if forward_ctxt is not None:
                            forward_ctxt = forward_ctxt.GetWhileContext()
                    if forward_ctxt is grad_ctxt.grad_state.forward_context:
                        real_val = grad_ctxt.grad_state.GetRealValue(val)
                        self._external_values[val.name] = real_val
                        return real_val
            if self._outer_context is not None:
                result = self._outer_context.AddValue(val)
            with ops.control_dependencies(None):
                enter = _Enter(result, self._name, is_constant=True, parallel_iterations=self._parallel_iterations)
                if self._outer_context is not None:
                    self._outer_context.AddInnerOp(enter.op)
            self._FixControlInputsAndContext([enter])
            self._values.add(enter.name)
            self._external_values[val.name] = enter
            result = enter
        else:
            actual = self._external_values.get(val.name)
            if actual is not None:
                result = actual
        return result

    def AddOp(self, op):  # noqa: N802
        if op.type in ("Shape", "Size", "Rank"):
            # a backprop shape query of a forward value runs in the forward loop: its small result is
            # what gets stacked, not the whole tensor
            grad_ctxt = _graph_ctx()
            if grad_ctxt is not None:
                grad_ctxt = grad_ctxt.GetWhileContext()
                if grad_ctxt is not None and grad_ctxt.grad_state is not None:
                    if get_while_context(op._inputs[0].op) is grad_ctxt.grad_state.forward_context:
                        in_ctxt = _get_ctx(op._inputs[0].op)
                        _set_ctx(op, in_ctxt)
                        in_ctxt._AddOpInternal(op)
                        return
        self._AddOpInternal(op)

    def _AddOpInternal(self, op):  # noqa: N802
        if not op._inputs:
            control_inputs, external_inputs = self._RemoveExternalControlEdges(op)
            if not control_inputs:
                op._add_control_input(self.GetControlPivot().op)
        else:
            for i, x in enumerate(list(op._inputs)):
                real_x = self.AddValue(x)
                if real_x is not x:
                    op._update_input(i, real_x)
            _, external_inputs = self._RemoveExternalControlEdges(op)
            self._MaybeAddControlDependency(op)
        for x in op._outputs:
            self._values.add(x.name)
        if external_inputs:
            # outside control inputs are pulled in as data (an Identity in the loop) so they keep working
            with ops.control_dependencies(None):
                self.Enter()
                pulled = [_Identity(x._outputs[0]).op for x in external_inputs if x._outputs]
                self.Exit()
            op._add_control_inputs(pulled)
        if self._outer_context is not None:
            self._outer_context.AddInnerOp(op)

    def _MaybeAddControlDependency(self, op):  # noqa: N802
        """An op fed only by loop invariants gets the pivot as control input, so it runs per iteration."""
        if op._control_inputs:
            return
        if all(is_loop_constant_enter(x.op) for x in op._inputs):
            op._add_control_input(self.GetControlPivot().op)

    def _FixControlInputsAndContext(self, enters):  # noqa: N802
        g = ops.get_default_graph()
        for x in enters:
            inp_op = x.op._inputs[0].op
            keep = []
            for c in g._current_control_deps():
                if c is inp_op:
                    continue
                op_ctxt = get_output_context(c)
                outer = self._outer_context
                outer_while = outer.GetWhileContext() if outer is not None else None
                ok = True
                while outer is not op_ctxt:
                    if outer is None or outer is outer_while:
                        ok = False
                        break
                    outer = outer._outer_context
                if ok:
                    keep.append(c)
            _set_ctx(x.op, self)
            x.op._add_control_inputs(keep)

    def _InitializeValues(self, values):  # noqa: N802
        self._values = {x.name for x in values}

    def AddForwardLoopCounter(self, outer_grad_state):  # noqa: N802
        """Adds ``n = 0; while (pivot) n++`` to this (forward) loop: returns (total count, next index)."""
        from deferflow.ops import array_ops, math_ops
        n = array_ops.constant(0, name="f_count")
        if outer_grad_state is not None:
            # order the pushes of the i-th run of an inner loop before those of the (i+1)-th
            outer_add_op = outer_grad_state.forward_index.op._inputs[0].op
            n.op._add_control_input(outer_add_op)
        self.Enter()
        self.AddName(n.name)
        enter_n = _Enter(n, self._name, is_constant=False, parallel_iterations=self._parallel_iterations,
                         name="f_count")
        self._loop_enters.append(enter_n)
        merge_n = merge([enter_n, enter_n])[0]
        switch_n = switch(merge_n, self._pivot)
        index = math_ops.add(switch_n[1], 1)
        next_n = _NextIteration(index)
        merge_n.op._update_input(1, next_n)
        total = exit(switch_n[0], name="f_count")
        self._loop_exits.append(total)
        self.ExitResult([total])
        self.Exit()
        return total, next_n

    def AddBackpropLoopCounter(self, count, outer_grad_state):  # noqa: N802
        """Adds ``n = count; while (n >= 1) n--`` as this backprop loop's control; returns the next index."""
        from deferflow.ops import array_ops, math_ops
        one = array_ops.constant(1, name="b_count")
        self.Enter()
        self.AddName(count.name)
        enter_count = _Enter(count, self._name, is_constant=False, parallel_iterations=self._parallel_iterations,
                             name="b_count")
        self._loop_enters.append(enter_count)
        merge_count = merge([enter_count, enter_count])[0]
        self._pivot_for_pred = merge_count
        pred = math_ops.greater_equal(merge_count, one)
        self._pivot = loop_cond(pred, name="b_count")
        switch_count = switch(merge_count, self._pivot)
        index = math_ops.subtract(switch_count[1], one)
        self._pivot_for_body = index
        next_count = _NextIteration(index)
        merge_count.op._update_input(1, next_count)
        final_zero = exit(switch_count[0], name="b_count")
        self._loop_exits.append(final_zero)
        if outer_grad_state is not None:
            # order the pops of the i-th run of an inner loop before those of the (i+1)-th
            outer_grad_state.grad_sync._add_control_input(final_zero.op)
        self.ExitResult([final_zero])
        self.Exit()
        return next_count

    def AddBackpropAccumulator(self, op, grad):  # noqa: N802
        """Sums a loop invariant's gradient over the backprop iterations (``acc += grad``)."""
        from deferflow.ops import array_ops, math_ops
        self.Exit()
        shape = grad.shape
        if shape.is_fully_defined():
            if self._outer_context is not None:
                self._outer_context.Enter()
            acc = array_ops.constant(np.zeros(shape.as_list(), grad.dtype.base_dtype.as_numpy_dtype),
                                     name="b_acc")
            if self._outer_context is not None:
                self._outer_context.Exit()
        else:
            value = op._inputs[0]
            if isinstance(self._outer_context, WhileContext) and self._outer_context.grad_state is not None:
                forward_ctxt = self._grad_state.forward_context
                forward_ctxt.outer_context.Enter()
                zeros_shape = array_ops.shape(value)
                forward_ctxt.outer_context.Exit()
                outer_grad_state = self._grad_state.outer_grad_state
                history = outer_grad_state.AddForwardAccumulator(zeros_shape)
                self._outer_context.Enter()
                real_shape = outer_grad_state.AddBackpropAccumulatedValue(history, zeros_shape)
                acc = array_ops.zeros(real_shape, grad.dtype.base_dtype)
                self._outer_context.Exit()
            else:
                if self._outer_context is not None:
                    self._outer_context.Enter()
                acc = array_ops.zeros(array_ops.shape(value), grad.dtype.base_dtype)
                if self._outer_context is not None:
                    self._outer_context.Exit()
        self.Enter()
        self.AddName(acc.name)
        enter_acc = _Enter(acc, self._name, is_constant=False, parallel_iterations=self._parallel_iterations,
                           name="b_acc")
        self._loop_enters.append(enter_acc)
        merge_acc = merge([enter_acc, enter_acc], name="b_acc")[0]
        switch_false, switch_true = switch(merge_acc, self._pivot)
        add_acc = math_ops.add(switch_true, grad)
        next_acc = _NextIteration(add_acc)
        merge_acc.op._update_input(1, next_acc)
        result = exit(switch_false, name="b_acc")
        self._loop_exits.append(result)
        self.ExitResult([result])
        return result

    def _BuildLoop(self, pred, body, flat_orig, flat_vars, flat_invariants, structure):  # noqa: N802
        self._InitializeValues(flat_vars)
        real_vars = [self._outer_context.AddValue(x) for x in flat_vars] if self._outer_context else flat_vars
        enter_vars = []
        with ops.control_dependencies(None):
            for real_var, inv in zip(real_vars, flat_invariants):
                enter_var = _Enter(real_var, self._name, is_constant=False,
                                   parallel_iterations=self._parallel_iterations, use_input_shape=False)
                if _shape_less_than_or_equal(real_var.shape, inv):
                    enter_var._shape = inv
                else:
                    raise ValueError(f"The shape invariant specified for {real_var.name} is not compatible with "
                                     f"the initial shape of the loop variable. It enters the loop with shape "
                                     f"{real_var.shape}, but the specified shape invariant is {inv}.")
                if self._outer_context is not None:
                    self._outer_context.AddInnerOp(enter_var.op)
                enter_vars.append(enter_var)
        outer, control_pivot = self._outer_context, None
        while outer is not None and control_pivot is None:
            control_pivot = outer.GetControlPivot()
            outer = outer._outer_context
        if control_pivot is not None:
            for var in enter_vars:
                if is_loop_constant_enter(var.op._inputs[0].op):
                    var.op._add_control_input(control_pivot.op)
        self._FixControlInputsAndContext(enter_vars)
        self._InitializeValues(enter_vars)
        self._loop_enters = enter_vars

        merge_vars = [merge([x, x])[0] for x in enter_vars]
        self._pivot_for_pred = merge_vars[0]
        packed = nest.pack_sequence_as(structure, [_flow_to_ta(o, m) for o, m in zip(flat_orig, merge_vars)])
        c = ops.convert_to_tensor(pred(*packed))
        self._pivot = loop_cond(c, name="LoopCond")
        switch_vars = [_SwitchRefOrTensor(x, self._pivot) for x in merge_vars]

        vars_for_body = [_Identity(x[1]) for x in switch_vars]
        self._pivot_for_body = vars_for_body[0]
        packed = nest.pack_sequence_as(structure, [_flow_to_ta(o, v) for o, v in zip(flat_orig, vars_for_body)])
        body_result = body(*packed)
        if not nest.is_nested(body_result):
            body_result = [body_result]
        body_result = nest.map_structure(_as_value, body_result)
        nest.assert_same_structure(list(packed), list(body_result))
        result = [ops.convert_to_tensor(_ta_to_flow(x)) for x in nest.flatten(body_result)]
        if len(merge_vars) != len(result):
            raise ValueError("Number of inputs and outputs of 'body' must match 'loop_vars'. Got "
                             f"{len(merge_vars)} for the number of inputs/outputs, and {len(result)} for "
                             "'loop_vars'.")
        for m, v in zip(merge_vars, result):
            _AddNextAndBackEdge(m, v)
        exit_vars = [exit(x[0]) for x in switch_vars]
        self._loop_exits = exit_vars
        self.ExitResult(exit_vars)
        return body_result, exit_vars

    def BuildLoop(self, pred, body, loop_vars, shape_invariants, return_same_structure):  # noqa: N802
        flat_orig = nest.flatten(loop_vars)
        loop_vars = nest.map_structure(_as_value, loop_vars)
        flat_vars = [ops.convert_to_tensor(_ta_to_flow(x)) for x in nest.flatten(loop_vars)]
        if shape_invariants is not None:
            flat_inv = nest.flatten(shape_invariants)
            flat_inv = [ts.TensorShape([]) if _is_tensor_array(o) else ts.as_shape(s)
                        for o, s in zip(flat_orig, flat_inv)]
        else:
            flat_inv = [v.shape for v in flat_vars]
        try:
            self.Enter()
            original_body_result, exit_vars = self._BuildLoop(pred, body, flat_orig, flat_vars, flat_inv,
                                                              loop_vars)
        finally:
            self.Exit()
        flat_result = nest.flatten(original_body_result)
        exits = [_flow_to_ta(o, e) for o, e in zip(flat_result, exit_vars)]
        packed = nest.pack_sequence_as(original_body_result, exits)
        if return_same_structure:
            return packed
        return packed[0] if len(exit_vars) == 1 else packed


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10, back_prop=True,  # noqa: C901
               swap_memory=False, name=None, maximum_iterations=None, return_same_structure=False):
    """``tf.while_loop``: repeats ``body`` while ``cond`` is true, as an Enter/Merge/Switch/Exit frame.

    ``loop_vars`` is any structure of tensors and TensorArrays; each must keep its shape across
    iterations unless ``shape_invariants`` gives a less specific one. ``maximum_iterations`` stops the
    loop after that many iterations.
    """
    if not callable(cond):
        raise TypeError("'cond' must be callable.")
    if not callable(body):
        raise TypeError("'body' must be callable.")
    if parallel_iterations < 1:
        raise TypeError("'parallel_iterations' must be a positive integer.")
    with ops.name_scope(name, "while", [x for x in nest.flatten(loop_vars) if isinstance(x, Tensor)]):
        if not loop_vars:
            raise ValueError("'loop_vars' must be provided.")
        if shape_invariants is not None:
            try:
                nest.assert_same_structure(loop_vars, shape_invariants, check_types=False)
            except ValueError as e:
                raise ValueError(f"`shape_invariants` must have the same structure as `loop_vars`: {e}") from None
        try_to_pack = len(loop_vars) == 1 and not return_same_structure
        if maximum_iterations is not None:
            maximum_iterations = ops.convert_to_tensor(maximum_iterations, name="maximum_iterations")
            if maximum_iterations.shape.ndims != 0:
                raise ValueError(f"'maximum_iterations' must be a scalar. Received shape: "
                                 f"{maximum_iterations.shape}")
            from deferflow.ops import array_ops, math_ops
            counter = array_ops.constant(0, dtype=maximum_iterations.dtype, name="iteration_counter")
            orig_cond, orig_body = cond, body
            if try_to_pack:
                loop_vars = (counter, loop_vars[0])
                cond = lambda i, lv: math_ops.logical_and(i < maximum_iterations, orig_cond(lv))  # noqa: E731
                body = lambda i, lv: (i + 1, orig_body(lv))  # noqa: E731
            else:
                loop_vars = (counter, loop_vars)
                cond = lambda i, lv: math_ops.logical_and(i < maximum_iterations, orig_cond(*lv))  # noqa: E731
                body = lambda i, lv: (i + 1, orig_body(*lv))  # noqa: E731
            try_to_pack = False
            if shape_invariants is not None:
                shape_invariants = (ts.TensorShape([]), shape_invariants)
        loop_context = WhileContext(maximum_iterations=maximum_iterations,
                                    parallel_iterations=parallel_iterations, back_prop=back_prop,
                                    swap_memory=swap_memory)
        if loop_context.outer_context is None:
            ops.add_to_collection(ops.GraphKeys.WHILE_CONTEXT, loop_context)
        result = loop_context.BuildLoop(cond, body, loop_vars, shape_invariants, return_same_structure)
        if maximum_iterations is not None:
            return result[1]
        return result


# ---- contexts in meta graphs (TF's "cond_context" / "while_context" collections) -----------------------
def _values_def(ctx, export_scope):
    from deferflow.formats import protos
    vd = protos.ValuesDef()
    vd.values.extend(ops.strip_name_scope(v, export_scope) for v in sorted(ctx._values))
    for k, v in ctx._external_values.items():
        vd.external_values[ops.strip_name_scope(k, export_scope)] = ops.strip_name_scope(v.name, export_scope)
    return vd


def _init_values_from_proto(ctx, values_def, import_scope):
    g = ops.get_default_graph()
    ctx._values = {ops.prepend_name_scope(v, import_scope) for v in values_def.values}
    ctx._external_values = {ops.prepend_name_scope(k, import_scope):
                            g.as_graph_element(ops.prepend_name_scope(v, import_scope))
                            for k, v in values_def.external_values.items()}
    for name in {v.split(":")[0] for v in ctx._values - set(ctx._external_values)}:
        if name in g._ops_by_name:
            _set_ctx(g._ops_by_name[name], ctx)


def _nested_to_proto(ctx, target, export_scope):
    for nested in ctx._nested_contexts:
        d = target.nested_contexts.add()
        (d.cond_ctxt if isinstance(nested, CondContext) else d.while_ctxt).CopyFrom(nested.to_proto(export_scope))


def _nested_from_proto(ctx, context_def, import_scope):
    ctx.Enter()
    for d in context_def.nested_contexts:
        if d.HasField("cond_ctxt"):
            CondContext.from_proto(d.cond_ctxt, import_scope)
        else:
            WhileContext.from_proto(d.while_ctxt, import_scope)
    ctx.Exit()
    return ctx


def _cond_to_proto(self, export_scope=None):
    from deferflow.formats import protos
    if export_scope is not None and not self.name.startswith(export_scope):
        return None
    d = protos.CondContextDef(context_name=ops.strip_name_scope(self.name, export_scope),
                              pred_name=ops.strip_name_scope(self._pred.name, export_scope),
                              pivot_name=ops.strip_name_scope(self._pivot.name, export_scope), branch=self._branch)
    d.values_def.CopyFrom(_values_def(self, export_scope))
    _nested_to_proto(self, d, export_scope)
    return d


def _cond_from_proto(context_def, import_scope=None):
    g = ops.get_default_graph()
    self = CondContext.__new__(CondContext)
    ControlFlowContext.__init__(self)
    self._name = ops.prepend_name_scope(context_def.context_name, import_scope)
    self._pred = g.as_graph_element(ops.prepend_name_scope(context_def.pred_name, import_scope))
    self._pivot = g.as_graph_element(ops.prepend_name_scope(context_def.pivot_name, import_scope))
    self._branch = context_def.branch
    _init_values_from_proto(self, context_def.values_def, import_scope)
    return _nested_from_proto(self, context_def, import_scope)


def _while_to_proto(self, export_scope=None):
    from deferflow.formats import protos
    if export_scope is not None and not self.name.startswith(export_scope):
        return None
    s = lambda t: ops.strip_name_scope(t.name, export_scope)  # noqa: E731
    d = protos.WhileContextDef(context_name=ops.strip_name_scope(self.name, export_scope),
                               parallel_iterations=self._parallel_iterations, back_prop=self._back_prop,
                               swap_memory=self._swap_memory, pivot_for_pred_name=s(self._pivot_for_pred),
                               pivot_for_body_name=s(self._pivot_for_body), pivot_name=s(self._pivot))
    if self._maximum_iterations is not None:
        d.maximum_iterations_name = s(self._maximum_iterations)
    d.loop_exit_names.extend(s(t) for t in self._loop_exits)
    d.loop_enter_names.extend(s(t) for t in self._loop_enters)
    d.values_def.CopyFrom(_values_def(self, export_scope))
    _nested_to_proto(self, d, export_scope)
    return d


def _while_from_proto(context_def, import_scope=None):
    g = ops.get_default_graph()
    el = lambda n: g.as_graph_element(ops.prepend_name_scope(n, import_scope))  # noqa: E731
    self = WhileContext.__new__(WhileContext)
    ControlFlowContext.__init__(self)
    self._name = ops.prepend_name_scope(context_def.context_name, import_scope)
    self._maximum_iterations = el(context_def.maximum_iterations_name) if context_def.maximum_iterations_name \
        else None
    self._parallel_iterations = context_def.parallel_iterations
    self._back_prop, self._swap_memory = context_def.back_prop, context_def.swap_memory
    self._pivot_for_pred = el(context_def.pivot_for_pred_name)
    self._pivot_for_body = el(context_def.pivot_for_body_name)
    self._pivot = el(context_def.pivot_name)
    self._loop_exits = [el(n) for n in context_def.loop_exit_names]
    self._loop_enters = [el(n) for n in context_def.loop_enter_names]
    self._grad_state = None
    self._graph = g
    _init_values_from_proto(self, context_def.values_def, import_scope)
    if import_scope:  # the frame is named after the context: keep the Enter ops in step with it
        for name in self._values:
            op = g.as_graph_element(name).op
            if is_loop_enter(op):
                op._set_attr("frame_name", self._name)
    return _nested_from_proto(self, context_def, import_scope)


CondContext.to_proto = _cond_to_proto
CondContext.from_proto = staticmethod(_cond_from_proto)
WhileContext.to_proto = _while_to_proto
WhileContext.from_proto = staticmethod(_while_from_proto)


from deferflow.ops import control_flow_grad  # noqa: E402,F401 - defines the Stack ops loop gradients run on
