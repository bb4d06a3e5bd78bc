"""The executor: prunes the graph to what a run needs, orders it once into a plan, runs kernels.

A plan is plain data — ordered steps of (kernel, input slots, output slots) — so it is cached per
(graph version, fetches, feeds, targets) and a repeated ``Session.run`` pays only for kernels.
"""
import functools
import sys

import numpy as np

from deferflow.framework import errors


class Ref:
    """A TF1 reference tensor's value: a handle on a variable's slot in the session state."""

    __slots__ = ("store", "key", "name", "dtype")

    def __init__(self, store, key, name, dtype):
        self.store, self.key, self.name, self.dtype = store, key, name, dtype

    def get(self):
        try:
            return self.store[self.key]
        except KeyError:
            raise errors.FailedPreconditionError(
                None, None, f"Attempting to use uninitialized value {self.name}") from None

    def set(self, value):
        value = np.asarray(value, dtype=self.dtype)
        if value.flags.writeable:
            value = value.view()
            value.flags.writeable = False  # state is never mutated in place; fetches copy it
        self.store[self.key] = value

    def is_initialized(self):
        return self.key in self.store

    def exclusive(self):
        """The writable array behind the variable's value, or None unless the session state is the only
        holder of it. Optimizer kernels then update it in place, as TensorFlow's ``Apply*`` kernels update
        the variable's buffer, instead of copying it every step. Anything else referring to the value (a
        value still held by a running step, a view of it, the caller's array handed to ``load``/``assign``,
        a memory-mapped restore) shows in the reference counts, and the update then goes to a copy."""
        counts = self._counts()
        if counts is None or counts[:2] != _EXCLUSIVE_COUNTS:
            return None
        return counts[2]

    def _counts(self):
        value = self.store.get(self.key)
        base = getattr(value, "base", None)
        if (type(base) is not np.ndarray or not base.flags.writeable or not base.flags.c_contiguous
                or not value.flags.c_contiguous or base.dtype != value.dtype or base.size != value.size
                or base.ctypes.data != value.ctypes.data):
            return None
        return sys.getrefcount(value), sys.getrefcount(base), base


def _exclusive_counts():
    """Reference counts ``Ref._counts`` sees for a value nothing else holds (measured, not assumed, so
    interpreter versions that count differently agree with themselves)."""
    ref = Ref({}, 0, "", np.float32)
    ref.set(np.zeros(1, np.float32))
    return ref._counts()[:2]


_EXCLUSIVE_COUNTS = _exclusive_counts()


class SessionState:
    """Everything a session keeps between runs: variable values, resources, random generators."""

    def __init__(self):
        self.variables = {}
        self.resources = {}
        self.rngs = {}
        self.refs = {}

    def ref(self, key, name, dtype):
        r = self.refs.get(key)
        if r is None:
            r = self.refs[key] = Ref(self.variables, key, name, dtype)
        return r

    def resource_ref(self, key, name, dtype):
        """A ``Ref`` on a resource variable's value (``resources[key]``), for kernels written against refs."""
        return Ref(self.resources, key, name, dtype)

    def rng(self, op):
        g = self.rngs.get(op._name)
        if g is None:
            seed, seed2 = op._attrs.get("seed", 0), op._attrs.get("seed2", 0)
            if seed == 0 and seed2 == 0:
                g = np.random.default_rng()
            else:
                g = np.random.Generator(np.random.Philox(key=[seed & 0xFFFFFFFFFFFFFFFF,
                                                               seed2 & 0xFFFFFFFFFFFFFFFF]))
            self.rngs[op._name] = g
        return g


class OpContext:
    """What a stateful kernel may touch: its op and the session state."""

    __slots__ = ("op", "state", "session")

    def __init__(self, op, state, session):
        self.op, self.state, self.session = op, state, session

    def rng(self):
        return self.state.rng(self.op)


def _kernel_value(v):
    return v


def _input_ref_flags(op):
    od = op._op_def
    flags = []
    if od is None or od.from_graph and od.kernel_fn is None:
        return [False] * len(op._inputs)
    for arg in od.inputs:
        if arg.number_attr:
            n = op._attrs[arg.number_attr]
        elif arg.type_list_attr:
            n = len(op._attrs[arg.type_list_attr])
        else:
            n = 1
        flags.extend([arg.is_ref] * n)
    return flags


def _deref_wrapper(fn, positions):
    def run(*args):
        args = list(args)
        for p in positions:
            a = args[p]
            if type(a) is Ref:
                args[p] = a.get()
        return fn(*args)
    return run


def bind_kernel(op, state, session, ref_inputs=()):
    """The callable that runs ``op``: kernel with attrs bound, context and ref reads added.

    ``ref_inputs`` are input positions that hold a variable's Ref at run time and must be read.
    """
    od = op._op_def
    if od is None or od.kernel_fn is None:
        raise errors.UnimplementedError(
            None, op, f"Op type not registered '{op._type}' in binary: deferflow has no kernel for op type "
                      f"{op._type} (node {op._name}). Supply one with "
                      f"deferflow.register_kernel({op._type!r}, fn).\n\t [[{{{{node {op._name}}}}}]]")
    fn = od.kernel_fn
    kw = {}
    for a in od.kernel_attrs:
        if a in op._attrs:
            kw[a] = op._attrs[a]
    if od.kernel_needs_ctx:
        fn = functools.partial(fn, OpContext(op, state, session))
    if kw:
        fn = functools.partial(fn, **kw)
    if ref_inputs:
        fn = _deref_wrapper(fn, list(ref_inputs))
    if len(op._outputs) == 1 and od.outputs and od.outputs[0].is_list:
        fn = _only_element(fn)  # a list output of length 1 (Unpack num=1, Split num_split=1...) fills one slot
    return fn


def _only_element(fn):
    def run(*args):
        r = fn(*args)
        return r[0] if isinstance(r, (list, tuple)) else r
    return run


def _is_ref_alias(op, ref_slots, ins):
    """Identity of a ref forwards the variable itself, as TF forwards the buffer: readers that run
    after an in-graph update (e.g. under control_dependencies) see the updated value."""
    return op._type == "Identity" and ins and ins[0] in ref_slots


class Plan:
    __slots__ = ("steps", "n_slots", "feed_slots", "fetch_slots", "version", "ops")


def needed_ops(fetch_tensors, target_ops, feed_set):
    """Ops that must run, walking data and control inputs back from fetches, stopping at feeds (a gradient
    gate's control inputs are not followed: see ``gradients._gated``)."""
    seen = set()
    stack = [t._op for t in fetch_tensors if t not in feed_set] + list(target_ops)
    out = []
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        out.append(op)
        for t in op._inputs:
            if t not in feed_set and t._op not in seen:
                stack.append(t._op)
        if op._extra and op._extra.get("soft_control_inputs"):
            continue  # a gradient gate: its inputs run when needed anyway, and creation order keeps it ordered
        for c in op._control_inputs:
            if c not in seen:
                stack.append(c)
    return out


def build_plan(graph, fetch_tensors, target_ops, feed_tensors, state, session):
    feed_set = set(feed_tensors)
    ops = needed_ops(fetch_tensors, target_ops, feed_set)
    from deferflow.ops.control_flow_ops import CONTROL_FLOW_TYPES
    if any(o._type in CONTROL_FLOW_TYPES for o in ops):  # TF1 cond/while: a frame-aware plan
        from deferflow.client import control_flow
        return control_flow.compile_plan(graph, ops, fetch_tensors, target_ops, feed_tensors, state, session)
    ops.sort(key=lambda o: o._id)
    slot = {}

    def slot_of(t):
        s = slot.get(t)
        if s is None:
            s = slot[t] = len(slot)
        return s

    feed_slots = [slot_of(t) for t in feed_tensors]
    raw = []
    for op in ops:
        ins = tuple(slot_of(t) for t in op._inputs)
        outs = [slot_of(t) for t in op._outputs]
        raw.append((op, ins, outs))
    fetch_slots = [slot_of(t) for t in fetch_tensors]
    # last reader of each slot frees it (fetched and fed slots are kept)
    keep = set(fetch_slots)
    last = {}
    for i, (_, ins, _) in enumerate(raw):
        for s in ins:
            last[s] = i
    frees = [[] for _ in raw]
    for s, i in last.items():
        if s not in keep:
            frees[i].append(s)
    steps = []
    ref_slots = {slot[t] for op, _, _ in raw for t in op._outputs if t._dtype.is_ref_dtype}
    for (op, ins, outs), free in zip(raw, frees):
        if _is_ref_alias(op, ref_slots, ins):
            ref_slots.update(outs)
            deref = ()
        else:
            flags = _input_ref_flags(op)
            deref = [i for i, s in enumerate(ins) if s in ref_slots and not flags[i]]
        fn = bind_kernel(op, state, session, deref)
        out = outs[0] if len(outs) == 1 else (tuple(outs) if outs else None)
        steps.append((fn, ins, out, tuple(free), op))
    plan = Plan()
    plan.steps = steps
    plan.n_slots = len(slot)
    plan.feed_slots = feed_slots
    plan.fetch_slots = fetch_slots
    plan.version = graph._version
    plan.ops = ops
    return plan


def _node_suffix(op):
    return f"\n\t [[{{{{node {op._name}}}}}]]"


def kernel_error(op, e):
    """The exception to raise for ``e`` from ``op``'s kernel: TF's class, naming the node."""
    if op is None:
        return e if isinstance(e, errors.OpError) else errors.InternalError(None, None, f"{type(e).__name__}: {e}")
    if isinstance(e, errors.OpError):
        if e.op is not None:
            return e
        msg = e.message if "[[{{node" in e.message else e.message + _node_suffix(op)
        return type(e)(None, op, msg)
    return errors.InvalidArgumentError(
        None, op, f"{op._type} op '{op._name}' failed: {type(e).__name__}: {e}{_node_suffix(op)}")


def run_plan(plan, feed_values):
    vals = [None] * plan.n_slots
    for s, v in zip(plan.feed_slots, feed_values):
        vals[s] = v
    step = None
    try:
        for step in plan.steps:
            fn, ins, out, free, _ = step
            if type(out) is int:
                vals[out] = fn(*[vals[i] for i in ins])
            elif out is None:
                fn(*[vals[i] for i in ins])
            else:
                r = fn(*[vals[i] for i in ins])
                for s, v in zip(out, r):
                    vals[s] = v
            if free:
                for s in free:
                    vals[s] = None
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as e:
        raise kernel_error(step[4] if step is not None else None, e) from e
    return [vals[s] for s in plan.fetch_slots]
