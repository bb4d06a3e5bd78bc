"""Gradients through TF1 control flow, built as TensorFlow 1.x builds them.

For each forward while loop on the gradient path a backprop loop is added that runs as many
iterations as the forward one did (``f_count`` counts them, ``b_count`` counts down); forward values
the backprop body needs are pushed onto a stack (``StackV2``/``StackPushV2``) in the forward loop and
popped in reverse order (``StackPopV2``) in the backprop loop. Conds are differentiated by switching
the incoming gradient on the (accumulated) predicate. Graphs built this way export to TensorFlow.

``gradients`` here is the reverse walk ``tf.gradients`` delegates to when the ops between ys and xs
include control flow: a pending-count walk (an op runs once all its consumers' gradients are in),
entering the right backprop loop context around each gradient function.
"""
import collections
import sys

import numpy as np

from deferflow.framework import dtypes, errors, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import Tensor
from deferflow.ops import control_flow_ops as cf
from deferflow.ops.common import lookup_error_gradient
from deferflow.ops.control_flow_ops import CondContext, WhileContext, _get_ctx, _graph_ctx, _set_ctx

define = op_registry.define


# ---- stacks: the forward-value accumulators of loop gradients --------------------------------------
class _StackValue:
    __slots__ = ("name", "items", "max_size")

    def __init__(self, name, max_size):
        self.name, self.items, self.max_size = name, [], max_size


StackV2 = define("StackV2", "max_size: int32", "handle: resource", ["elem_type: type", "stack_name: string = ''"],
                 stateful=True)
StackV2.shape(lambda op: [ts.TensorShape([2])])
StackV2.kernel(ctx=True)(lambda ctx, max_size, *, stack_name: _StackValue(stack_name or ctx.op._name, int(max_size)))
StackPushV2 = define("StackPushV2", "handle: resource, elem: T", "output: T", ["T: type", "swap_memory: bool = false"],
                     stateful=True)
StackPushV2.shape(lambda op: [op._inputs[1].shape])


@StackPushV2.kernel
def _push_kernel(handle, elem):
    if 0 <= handle.max_size <= len(handle.items):
        raise errors.InvalidArgumentError(None, None, f"Stack[{handle.name}] overflowed its max_size "
                                                      f"({handle.max_size})")
    handle.items.append(elem)
    return elem


StackPopV2 = define("StackPopV2", "handle: resource", "elem: elem_type", ["elem_type: type"], stateful=True)
StackPopV2.shape(lambda op: [ts.unknown_shape()])


@StackPopV2.kernel
def _pop_kernel(handle):
    if not handle.items:
        raise errors.InvalidArgumentError(None, None, f"Stack[{handle.name}] is empty.")
    return handle.items.pop()


StackCloseV2 = define("StackCloseV2", "handle: resource", "", stateful=True)
StackCloseV2.shape(lambda op: [])
StackCloseV2.kernel(lambda handle: None)
for _od in (StackV2, StackPushV2, StackPopV2, StackCloseV2):
    lookup_error_gradient(_od)  # TF registers none: differentiating through a stack is a LookupError


def _shape_internal(x):
    """A Shape op even where the shape is static (TF's shape_internal(optimize=False))."""
    return ops.apply_op("Shape", name="Shape", input=x, out_type=dtypes.int32)


# ---- per-loop backprop state ------------------------------------------------------------------------
class GradLoopState:
    """The backprop loop of one forward while loop, and the stacks feeding it forward values."""

    def __init__(self, forward_ctxt, outer_grad_state):
        self.outer_grad_state = outer_grad_state
        self.forward_context = forward_ctxt
        self._forward_sync = None
        self._grad_sync = None
        self.history_map = {}  # forward tensor name -> its value in the backprop loop
        self.switch_map = {}  # forward loop Switch -> backprop Merge
        self.unused_exits = []
        self.deferred_exits = []
        self.forward_loop_exits = list(forward_ctxt.loop_exits)
        self.pending_exits_count = len(forward_ctxt.loop_exits)
        outer_forward_ctxt = outer_grad_state.forward_context if outer_grad_state else forward_ctxt.outer_context

        if outer_forward_ctxt is not None:
            outer_forward_ctxt.Enter()
        cnt, self.forward_index = forward_ctxt.AddForwardLoopCounter(outer_grad_state)
        if outer_forward_ctxt is not None:
            outer_forward_ctxt.Exit()

        kw = dict(maximum_iterations=forward_ctxt.maximum_iterations,
                  parallel_iterations=forward_ctxt.parallel_iterations, back_prop=forward_ctxt.back_prop,
                  swap_memory=forward_ctxt.swap_memory, name=forward_ctxt.name, grad_state=self)
        if outer_grad_state is not None:
            # a nested loop: remember its iteration count for every run of it
            outer_forward_ctxt.AddName(cnt.name)
            history_cnt = outer_grad_state.AddForwardAccumulator(cnt)
            outer_grad_ctxt = outer_grad_state.grad_context
            outer_grad_ctxt.Enter()
            self.grad_context = WhileContext(**kw)
            real_cnt = outer_grad_state.AddBackpropAccumulatedValue(history_cnt, cnt)
            self.grad_index = self.grad_context.AddBackpropLoopCounter(real_cnt, outer_grad_state)
            outer_grad_ctxt.Exit()
        else:
            if outer_forward_ctxt is not None:
                outer_forward_ctxt.Enter()
            self.grad_context = WhileContext(**kw)
            self.grad_index = self.grad_context.AddBackpropLoopCounter(cnt, outer_grad_state)
            if outer_forward_ctxt is not None:
                outer_forward_ctxt.Exit()

    @property
    def forward_sync(self):
        """A ControlTrigger keeping the forward loop's stack pushes in iteration order."""
        if self._forward_sync is None:
            with ops.control_dependencies(None):
                self._forward_sync = cf.control_trigger(name="f_sync")
            _set_ctx(self._forward_sync, self.forward_context)
            self.forward_index.op._add_control_input(self._forward_sync)
        return self._forward_sync

    @property
    def grad_sync(self):
        """A ControlTrigger keeping the backprop loop's stack pops in iteration order."""
        if self._grad_sync is None:
            with ops.control_dependencies(None):
                self._grad_sync = cf.control_trigger(name="b_sync")
            _set_ctx(self._grad_sync, self.grad_context)
            self.grad_index.op._add_control_input(self._grad_sync)
            if self.grad_context.outer_context is not None:
                self.grad_context.outer_context.AddInnerOp(self._grad_sync)
        return self._grad_sync

    def AddForwardAccumulator(self, value, dead_branch=False):  # noqa: N802 - TF's method names
        """A stack, created outside the loops, onto which the forward loop pushes ``value`` every iteration."""
        from deferflow.ops import array_ops
        curr_ctxt = _graph_ctx()
        with ops.control_dependencies(None):
            if curr_ctxt is not None:
                curr_ctxt.Enter()
            max_size = array_ops.constant(-1, dtypes.int32)
            acc = ops.apply_op("StackV2", name="f_acc", max_size=max_size, elem_type=value.dtype.base_dtype)
            if curr_ctxt is not None:
                curr_ctxt.Exit()
            enter_acc = self.forward_context.AddValue(acc)
            swap = self.forward_context.swap_memory
            value_ctxt = cf.get_output_context(value.op)
            if value_ctxt is self.forward_context:
                self.forward_context.Enter()
                push = ops.apply_op("StackPushV2", handle=enter_acc, elem=value, swap_memory=swap)
                self.forward_context.Exit()
                self.forward_index.op._add_control_input(push.op)  # push before the next iteration starts
            else:
                if not isinstance(value_ctxt, CondContext):
                    raise TypeError(f"value_ctxt is not a CondContext: {value_ctxt}")
                if dead_branch:
                    value_ctxt.outer_context.Enter()
                    push = ops.apply_op("StackPushV2", handle=enter_acc, elem=value, swap_memory=swap)
                    value_ctxt.outer_context.Exit()
                    _set_ctx(push.op, value_ctxt)
                else:
                    value_ctxt.Enter()
                    push = ops.apply_op("StackPushV2", handle=enter_acc, elem=value, swap_memory=swap)
                    value_ctxt.Exit()
                self.forward_sync._add_control_input(push.op)
            add_op = self.forward_index.op._inputs[0].op
            push.op._add_control_input(add_op)  # push after this iteration's counter update
            return acc

    def AddBackpropAccumulatedValue(self, history_value, value, dead_branch=False):  # noqa: N802
        """The value popped from ``history_value`` in the backprop loop (guarded by its cond's predicate)."""
        history_ctxt = _get_ctx(history_value.op)
        cond_ctxt = None
        value_ctxt = _get_ctx(value.op)
        while value_ctxt is not None and value_ctxt is not history_ctxt:
            if isinstance(value_ctxt, CondContext):
                cond_ctxt = value_ctxt
                break
            value_ctxt = value_ctxt.outer_context
        with ops.control_dependencies(None):
            self.grad_context.Enter()
            if cond_ctxt is not None:
                grad_state, pred = self, None
                while pred is None and grad_state is not None:
                    pred = grad_state.history_map.get(cond_ctxt.pred.name)
                    grad_state = grad_state.outer_grad_state
                if pred is None:
                    pred = cond_ctxt.pred
                branch = (1 - cond_ctxt.branch) if dead_branch else cond_ctxt.branch
                history_value = cf._SwitchRefOrTensor(history_value, pred)[branch]
            pop = ops.apply_op("StackPopV2", handle=history_value, elem_type=value.dtype.base_dtype)
            pop._shape = value.shape
            self.grad_context.Exit()
        if self.grad_context.parallel_iterations > 1:
            self.grad_sync._add_control_input(pop.op)
        return pop

    def GetRealValue(self, value):  # noqa: N802
        """The backprop loop's stand-in for forward tensor ``value`` (popped from a stack, or a copy of a
        constant, or the loop invariant itself)."""
        from deferflow.ops import array_ops
        from deferflow.ops.common import constant_value
        real_value = self.history_map.get(value.name)
        if real_value is None:
            cur_value, cur_grad_state = value, self
            history_value = None
            while True:
                enter_op = cf.get_loop_constant_enter(cur_value)
                if enter_op is not None:
                    cur_value = enter_op._inputs[0]
                    cur_grad_state = cur_grad_state.outer_grad_state
                    if cur_grad_state is None:
                        real_value = self.grad_context.AddValue(cur_value)
                        break
                elif cur_value.op.type == "Const":
                    real_value = array_ops.constant(constant_value(cur_value), dtype=cur_value.dtype.base_dtype)
                    break
                else:
                    self.grad_context.Exit()
                    history_value = cur_grad_state.AddForwardAccumulator(cur_value)
                    self.grad_context.Enter()
                    break
            if real_value is None:
                real_value = cur_grad_state.AddBackpropAccumulatedValue(history_value, cur_value)
                if cur_grad_state is not self:
                    real_value = self.grad_context.AddValue(real_value)
            self.history_map[value.name] = real_value
        return real_value


class ControlFlowState:
    """The GradLoopStates of all forward loops in one ``tf.gradients`` call."""

    def __init__(self):
        self._map = {}  # forward WhileContext -> GradLoopState

    def GetGradState(self, op, before):  # noqa: N802
        if before and cf.is_loop_exit(op):
            forward_ctxt = _get_ctx(op).outer_context
            if forward_ctxt is not None:
                forward_ctxt = forward_ctxt.GetWhileContext()
        else:
            forward_ctxt = cf.get_while_context(op)
        return self._map.get(forward_ctxt) if forward_ctxt is not None else None

    def ProcessUnusedLoopExits(self, pending_count, to_ops_set):  # noqa: N802
        """Exits with no gradient coming in; they enter the backprop loop with zeros once any exit of
        their loop has a real gradient."""
        loop_exits = []
        for grad_state in self._map.values():
            for y in grad_state.forward_loop_exits:
                if pending_count[y.op] == 0:
                    grad_state.pending_exits_count -= 1
                    if y.op not in to_ops_set:
                        grad_state.unused_exits.append(y)
                    if grad_state.pending_exits_count == 0:
                        loop_exits.extend(grad_state.unused_exits)
            for y in grad_state.forward_context.loop_enters:
                if pending_count[y.op] == 0:
                    pending_count[y.op] = 1
        return loop_exits

    def EnterGradWhileContext(self, op, before):  # noqa: N802
        gs = self.GetGradState(op, before)
        if gs is not None:
            gs.grad_context.Enter()

    def ExitGradWhileContext(self, op, before):  # noqa: N802
        gs = self.GetGradState(op, before)
        if gs is not None:
            gs.grad_context.Exit()

    def AddWhileContext(self, op, between_op_list, between_ops):  # noqa: N802
        forward_ctxt = cf.get_while_context(op)
        if forward_ctxt is None:
            raise errors.UnimplementedError(
                None, op, f"Cannot differentiate through while loop exit '{op.name}': the graph carries no "
                          "WhileContext for it (loops imported from a GraphDef are not differentiable).")
        grad_state = self._map.get(forward_ctxt)
        if grad_state is None:
            outer_forward_ctxt = forward_ctxt.outer_context
            if outer_forward_ctxt is not None:
                outer_forward_ctxt = outer_forward_ctxt.GetWhileContext()
            outer_grad_state = self._map.get(outer_forward_ctxt) if outer_forward_ctxt is not None else None
            grad_state = GradLoopState(forward_ctxt, outer_grad_state)
            self._map[forward_ctxt] = grad_state
            for loop_exit in grad_state.forward_loop_exits:
                if loop_exit.op not in between_ops:
                    between_ops.add(loop_exit.op)
                    between_op_list.append(loop_exit.op)

    def ZerosLikeForExit(self, val):  # noqa: N802
        from deferflow.ops import array_ops
        forward_ctxt = _get_ctx(val.op)
        outer_forward_ctxt = forward_ctxt.outer_context
        if outer_forward_ctxt is not None:
            outer_forward_ctxt = outer_forward_ctxt.GetWhileContext()
        outer_grad_state = self._map.get(outer_forward_ctxt) if outer_forward_ctxt is not None else None
        if outer_grad_state is not None:
            if val.shape.is_fully_defined():
                outer_grad_state.grad_context.Enter()
                result = array_ops.zeros(val.shape.as_list(), val.dtype.base_dtype)
                outer_grad_state.grad_context.Exit()
            else:
                forward_ctxt.outer_context.Enter()
                shape = _shape_internal(val)
                forward_ctxt.outer_context.Exit()
                history_shape = outer_grad_state.AddForwardAccumulator(shape)
                outer_grad_ctxt = outer_grad_state.grad_context
                outer_grad_ctxt.Enter()
                real_shape = outer_grad_state.AddBackpropAccumulatedValue(history_shape, shape)
                result = array_ops.zeros(real_shape, val.dtype.base_dtype)
                outer_grad_ctxt.Exit()
        elif val.shape.is_fully_defined():
            result = array_ops.zeros(val.shape.as_list(), val.dtype.base_dtype)
        else:
            result = array_ops.zeros_like(val, optimize=False)
        return result

    def ZerosLike(self, op, index):  # noqa: N802
        """Zeros for output ``index`` of ``op``, built in its backprop loop (None for a loop Switch)."""
        from deferflow.ops import array_ops
        if cf.is_loop_switch(op):
            return None
        dead_branch = cf.is_switch(op)
        forward_ctxt = cf.get_while_context(op)
        grad_state = self._map.get(forward_ctxt) if forward_ctxt is not None else None
        if grad_state is None:
            return zeros_like_outside_loop(op, index)
        op_ctxt = _get_ctx(op)
        val = op._outputs[index]
        shape = val.shape
        if shape.is_fully_defined():
            result = array_ops.constant(np.zeros(shape.as_list(), val.dtype.base_dtype.as_numpy_dtype))
            if dead_branch:
                pred = grad_state.history_map.get(op_ctxt.pred.name)
                result = cf._SwitchRefOrTensor(result, pred)[1 - op_ctxt.branch]
            return result
        if dead_branch:
            pred, branch = op_ctxt.pred, op_ctxt.branch
            op_ctxt.outer_context.Enter()
            val = cf._SwitchRefOrTensor(op._inputs[0], pred)[1 - branch]
            zeros_shape = _shape_internal(val)
            op_ctxt.outer_context.Exit()
            _set_ctx(val.op, op_ctxt)
            _set_ctx(zeros_shape.op, op_ctxt)
        else:
            op_ctxt.Enter()
            zeros_shape = _shape_internal(val)
            op_ctxt.Exit()
        grad_state.grad_context.Exit()
        history = grad_state.AddForwardAccumulator(zeros_shape, dead_branch=dead_branch)
        grad_state.grad_context.Enter()
        shape = grad_state.AddBackpropAccumulatedValue(history, zeros_shape, dead_branch)
        return array_ops.zeros(shape, val.dtype.base_dtype)

    def PostProcessing(self):  # noqa: N802
        """A loop variable whose next value does not depend on its current one gets zero gradient
        for all iterations after the first (its backprop Merge would otherwise feed itself)."""
        from deferflow.ops import array_ops
        for grad_state in self._map.values():
            for b_merge in grad_state.switch_map.values():
                if b_merge.op._inputs[0] is b_merge.op._inputs[1]:
                    dtype = b_merge.op._inputs[0].dtype.base_dtype
                    shape = b_merge.op._inputs[0].shape
                    if shape.is_fully_defined():
                        grad_state.grad_context.Enter()
                        grad_val = array_ops.constant(np.zeros(shape.as_list(), dtype.as_numpy_dtype))
                        next_grad_val = cf._NextIteration(grad_val)
                        grad_state.grad_context.Exit()
                    else:
                        outer = grad_state.grad_context.outer_context
                        if outer is not None:
                            outer.Enter()
                        enter_grad = b_merge.op._inputs[0].op._inputs[0]
                        grad_val = array_ops.zeros(_shape_internal(enter_grad), dtype)
                        if outer is not None:
                            outer.Exit()
                        grad_state.grad_context.Enter()
                        next_grad_val = cf._NextIteration(grad_val)
                        grad_state.grad_context.Exit()
                    b_merge.op._update_input(1, next_grad_val)


def maybe_create_control_flow_state(between_op_list, between_ops):
    """A ControlFlowState when some loop exit is on the gradient path (else None)."""
    loop_state = None
    for op in list(between_op_list):
        if cf.is_loop_exit(op):
            if loop_state is None:
                loop_state = ControlFlowState()
            loop_state.AddWhileContext(op, between_op_list, between_ops)
    return loop_state


def zeros_like_outside_loop(op, index):
    """Zeros for ``op.outputs[index]``; for a cond Switch, guarded so they exist only when that branch runs."""
    from deferflow.ops import array_ops
    val = op._outputs[index]
    if not cf.is_switch(op):
        if val.dtype.base_dtype == dtypes.resource:
            return None
        return array_ops.zeros_like(val, optimize=False)
    op_ctxt = _get_ctx(op)
    if op_ctxt is not None:
        pred, branch = op_ctxt.pred, op_ctxt.branch
        switch_val = cf.switch(op._inputs[0], pred)[1 - branch]
        pivot = cf._Identity(switch_val)
        zeros_shape = _shape_internal(switch_val)
        with ops.control_dependencies([pivot]):
            return array_ops.zeros(zeros_shape, val.dtype.base_dtype)
    return array_ops.zeros_like(val, optimize=False)


# ---- the walk -----------------------------------------------------------------------------------------
def needs_control_flow(between):
    """Whether ``tf.gradients`` must use this walk: control-flow ops lie between ys and xs."""
    types = cf.CONTROL_FLOW_TYPES
    return any(op._type in types for op in between)


def _gradients_module():
    return sys.modules["deferflow.gradients"]  # the package re-exports a function under the module's name


def _get_grads(grads, op):
    return grads[op] if op in grads else [[] for _ in op._outputs]


def _set_grad(grads, t, grad):
    op = t.op
    op_grads = grads.get(op)
    if not op_grads:
        op_grads = grads[op] = [[] for _ in op._outputs]
    t_grads = op_grads[t.value_index]
    if isinstance(t_grads, list):
        t_grads.append(grad)
    else:
        op_grads[t.value_index] = grad  # a loop Switch visited again


def _has_any_not_none_grads(grads, op):
    for g in _get_grads(grads, op):
        if isinstance(g, Tensor):
            return True
        if g and isinstance(g, list) and any(x is not None for x in g):
            return True
    return False


def _aggregated_grads(grads, op, loop_state):
    gradients_lib = _gradients_module()
    out_grads = _get_grads(grads, op)
    for i, g in enumerate(out_grads):
        if loop_state is not None and isinstance(g, Tensor):
            continue  # a loop Switch's merged gradient
        out_grads[i] = gradients_lib._aggregate(g) if g else None
    return out_grads


def gradients(ys, xs, grad_ys, stop_gradient_ops, mode):
    """The reverse walk over a graph with control flow; called inside tf.gradients' name scope."""
    gradients_lib = _gradients_module()
    is_trainable = gradients_lib._is_trainable
    to_ops = [y.op for y in ys]
    from_ops = [x.op for x in xs]
    reached = set()
    queue = collections.deque(from_ops)
    while queue:
        op = queue.popleft()
        if op not in reached:
            reached.add(op)
            for t in op._outputs:
                if is_trainable(t):
                    queue.extend(t._consumers)
    reachable_to_ops = {op for op in to_ops if op in reached}
    between_ops, between_op_list = set(), []
    queue = collections.deque(to_ops)
    while queue:
        op = queue.popleft()
        if op in reached:
            between_ops.add(op)
            between_op_list.append(op)
            reached.discard(op)
            queue.extend(t.op for t in op._inputs)
    loop_state = maybe_create_control_flow_state(between_op_list, between_ops)
    pending_count = collections.defaultdict(int)
    for op in between_op_list:
        for t in op._inputs:
            if t.op in between_ops:
                pending_count[t.op] += 1

    grads = {}
    for y, gy in zip(ys, grad_ys):
        _set_grad(grads, y, gy)
    queue = collections.deque()
    to_ops_set = set()
    for op in to_ops:
        if pending_count[op] == 0 and op not in to_ops_set and op in reachable_to_ops:
            to_ops_set.add(op)
            queue.append(op)
    if loop_state is not None:
        for y in loop_state.ProcessUnusedLoopExits(pending_count, to_ops_set):
            if is_trainable(y):
                _set_grad(grads, y, loop_state.ZerosLikeForExit(y))
            queue.append(y.op)
    stop_ops = {op for op in from_ops if all(pending_count[t.op] <= 0 for t in op._inputs)}
    stop_ops |= set(stop_gradient_ops)

    while queue:
        op = queue.popleft()
        if loop_state is not None:
            loop_state.EnterGradWhileContext(op, before=True)
        out_grads = _aggregated_grads(grads, op, loop_state)
        if loop_state is not None:
            loop_state.ExitGradWhileContext(op, before=True)
        has_out_grads = any(isinstance(g, Tensor) for g in out_grads)
        grad_fn = None
        if has_out_grads and op not in stop_ops:
            grad_fn = ops.get_gradient_function(op)
        if loop_state is not None:
            loop_state.EnterGradWhileContext(op, before=False)
        if grad_fn is not None and has_out_grads:
            for i, g in enumerate(out_grads):
                if g is None and is_trainable(op._outputs[i]):
                    out_grads[i] = (loop_state.ZerosLike(op, i) if loop_state is not None
                                    else zeros_like_outside_loop(op, i))
            with ops.name_scope(op.name + "_grad"):
                in_grads = grad_fn(op, *out_grads)
                in_grads = list(in_grads) if isinstance(in_grads, (list, tuple)) else [in_grads]
                if len(in_grads) != len(op._inputs):
                    raise ValueError(f"Num gradients {len(in_grads)} generated for op {op.type} '{op.name}' do "
                                     f"not match num inputs {len(op._inputs)}")
                od = op_registry.get(op.type)
                if od is not None and od.broadcasting == "binary":
                    in_grads = gradients_lib._reduce_binary(op, out_grads[0], *in_grads)
                elif od is not None and od.broadcasting:
                    in_grads = [None if gr is None or not isinstance(gr, Tensor) else
                                gradients_lib.reduce_to_shape(gr, x) for gr, x in zip(in_grads, op._inputs)]
        else:
            in_grads = [None] * len(op._inputs)
        for i, (t_in, in_grad) in enumerate(zip(op._inputs, in_grads)):
            if in_grad is None:
                continue
            if isinstance(in_grad, Tensor) and t_in.dtype.base_dtype != dtypes.resource:
                try:
                    in_grad.set_shape(t_in.shape)
                except ValueError:
                    raise ValueError("Incompatible shapes between op input and calculated input gradient. Forward "
                                     f"operation: {op.name}. Input index: {i}. Original input shape: {t_in.shape}. "
                                     f"Calculated input gradient shape: {in_grad.shape}") from None
            _set_grad(grads, t_in, in_grad)
        if loop_state is not None:
            loop_state.ExitGradWhileContext(op, before=False)
        _update_pending_and_enqueue_ready(grads, op, queue, pending_count, loop_state)

    if loop_state is not None:
        loop_state.PostProcessing()
    result = []
    for x in xs:
        g = _get_grads(grads, x.op)[x.value_index] if x.op in grads else None
        if isinstance(g, list):
            g = gradients_lib._aggregate(g) if g else None
        if g is None and mode is gradients_lib.UnconnectedGradients.ZERO:
            from deferflow.ops import array_ops
            g = array_ops.zeros_like(x)
        result.append(g)
    return result


def _update_pending_and_enqueue_ready(grads, op, queue, pending_count, loop_state):
    for x in op._inputs:
        pending_count[x.op] -= 1
        ready = pending_count[x.op] == 0
        if loop_state is not None and not ready:
            ready = pending_count[x.op] > 0 and cf.is_loop_switch(x.op)
        if not ready:
            continue
        if cf.is_loop_exit(x.op):
            # an exit without a real gradient: wait until all exits of its loop are known
            grad_state = loop_state.GetGradState(x.op, before=False)
            grad_state.deferred_exits.append(x)
            grad_state.pending_exits_count -= 1
            if grad_state.pending_exits_count == 0:
                has_not_none_grad = False
                for y in grad_state.deferred_exits:
                    if _has_any_not_none_grads(grads, y.op):
                        has_not_none_grad = True
                        queue.append(y.op)
                    else:
                        grad_state.unused_exits.append(y)
                if has_not_none_grad:
                    gradients_lib = _gradients_module()
                    for y in grad_state.unused_exits:
                        if gradients_lib._is_trainable(y):
                            _set_grad(grads, y, loop_state.ZerosLikeForExit(y))
                        queue.append(y.op)
                else:
                    for y in grad_state.unused_exits:
                        queue.append(y.op)
        else:
            queue.append(x.op)
