"""Plans for graphs with TF1 control flow (Switch/Merge dead tensors, Enter/Exit/NextIteration frames).

Graphs without these ops never come here: they keep the executor's straight-line plan. Here the needed
ops are split into *frames* as TensorFlow's executor does (an Enter's output lives in the child frame
named by its ``frame_name``, an Exit's output in the parent), and each frame is compiled into a block:
a straight-line list of steps in topological order (loop back edges NextIteration -> Merge left out),
where a nested loop is one step. Running a loop block runs its steps once per iteration until no
NextIteration carries a live value; a Merge reads the Enter value on the first iteration and the
previous iteration's NextIteration value afterwards.

A value is either live or ``DEAD``: an op with a dead data or control input is dead and outputs dead
values without running, except Merge (its first live input) and ControlTrigger. The whole program is
one step of an ordinary ``Plan``, so ``Session.run`` and ``make_callable`` run it unchanged.
"""
import functools
import heapq
import operator

import numpy as np

from deferflow.client import executor
from deferflow.client.executor import Ref
from deferflow.framework import errors
from deferflow.ops.control_flow_ops import DEAD

_ENTER = frozenset(["Enter", "RefEnter"])
_EXIT = frozenset(["Exit", "RefExit"])
_NEXT = frozenset(["NextIteration", "RefNextIteration"])
_MERGE = frozenset(["Merge", "RefMerge"])
_SWITCH = frozenset(["Switch", "RefSwitch"])
_LIVE = True  # the value of a control-only output (an op's "it ran" token)
_FORWARDING = frozenset(["Identity", "LoopCond", "Exit", "RefExit"])  # compiled away into slot aliases


class _Frame:
    __slots__ = ("name", "parent", "depth", "children", "members", "enters", "exits", "order_key")

    def __init__(self, name, parent):
        self.name, self.parent = name, parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.children = {}  # frame_name -> _Frame
        self.members, self.enters, self.exits = [], [], []
        self.order_key = None

    def child(self, name):
        f = self.children.get(name)
        if f is None:
            f = self.children[name] = _Frame(name, self)
        return f

    def is_ancestor_of(self, other):
        while other is not None:
            if other is self:
                return True
            other = other.parent
        return False


def _node(op):
    return f"\n\t [[{{{{node {op._name}}}}}]]"


def _is_back_edge(consumer, producer):
    return consumer._type in _MERGE and producer._type in _NEXT


def _topo_order(ops, feed_set):
    """Kahn's algorithm over data and control edges (creation order among ready ops), back edges skipped."""
    op_set = set(ops)
    deps = {}
    users = {op: [] for op in ops}
    for op in ops:
        d = set()
        for t in op._inputs:
            p = t._op
            if t in feed_set or p not in op_set or _is_back_edge(op, p):
                continue
            d.add(p)
        for c in op._control_inputs:
            if c in op_set:
                d.add(c)
        deps[op] = len(d)
        for p in d:
            users[p].append(op)
    ready = [(op._id, i, op) for i, op in enumerate(ops) if deps[op] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, op = heapq.heappop(ready)
        order.append(op)
        for u in users[op]:
            deps[u] -= 1
            if deps[u] == 0:
                heapq.heappush(ready, (u._id, id(u), u))
    if len(order) != len(ops):
        stuck = sorted((op._name for op in ops if deps[op] > 0))
        raise errors.InvalidArgumentError(None, None, "Graph contains a cycle that is not a while loop (no "
                                                      f"NextIteration -> Merge back edge): {', '.join(stuck[:8])}")
    return order


def _value_frame(frame_of, op):
    """The frame op's outputs (and its "it ran" token) live in: an Exit's are in its loop's parent."""
    f = frame_of[op]
    return f.parent if op._type in _EXIT else f


def _assign_frames(order, feed_set):
    root = _Frame(None, None)
    frame_of = {}
    out_frame = functools.partial(_value_frame, frame_of)
    for op in order:
        if op._type in _ENTER:
            t = op._inputs[0]
            parent = root if t in feed_set else out_frame(t._op)
            f = parent.child(op._attrs["frame_name"])
            f.enters.append(op)
            frame_of[op] = f
            continue
        cands = [root if t in feed_set else out_frame(t._op) for t in op._inputs
                 if t in feed_set or t._op in frame_of]
        cands += [out_frame(c) for c in op._control_inputs if c in frame_of]
        f = root
        for c in cands:
            if c.depth > f.depth:
                f = c
        for c in cands:
            if not c.is_ancestor_of(f):
                raise errors.InvalidArgumentError(
                    None, op, f"{op._type} op '{op._name}' has inputs from different frames: one is in frame "
                              f"'{c.name}' and another in frame '{f.name}'.{_node(op)}")
        frame_of[op] = f
        (f.exits if op._type in _EXIT else f.members).append(op)
    return root, frame_of


class _Block:
    """One frame compiled: steps in order over a local slot array."""

    def __init__(self, frame):
        self.frame = frame
        self.slots = {}
        self.ext = []  # keys read from enclosing frames, in slot order of first use
        self.produced = set()
        self.steps = []


def compile_plan(graph, ops, fetch_tensors, target_ops, feed_tensors, state, session):
    """A ``Plan`` whose single step runs the control-flow program for these fetches and feeds."""
    feed_set = set(feed_tensors)
    order = _topo_order(ops, feed_set)
    position = {op: i for i, op in enumerate(order)}
    root, frame_of = _assign_frames(order, feed_set)
    for t in fetch_tensors:
        if t not in feed_set and _value_frame(frame_of, t._op) is not root:  # a value inside a loop
            raise ValueError(f"Operation '{t._op._name}' has been marked as not fetchable.")
    ctl_users = set()
    for op in ops:
        ctl_users.update(op._control_inputs)
    ref_keys = set()  # tensors whose run-time value is a Ref (ref dtype, or an Identity of one)
    for op in order:
        if op._type == "Identity" and op._inputs and op._inputs[0] in ref_keys:
            ref_keys.update(op._outputs)
        ref_keys.update(t for t in op._outputs if t._dtype.is_ref_dtype)
    ref_keys -= feed_set

    def ctl_key(op):
        return op._outputs[0] if op._outputs and op._type not in _SWITCH else ("ctl", op)

    def producer_unit(frame, p):
        """The unit of ``frame`` that produces p's outputs, None if they come from outside it."""
        if p._type in _ENTER:
            return None
        f, unit = (frame_of[p].parent, frame_of[p]) if p._type in _EXIT else (frame_of[p], p)
        return unit if f is frame else None

    def all_ops(frame):
        out = list(frame.enters) + frame.members + frame.exits
        for c in frame.children.values():
            out.extend(all_ops(c))
        return out

    def ordered_units(frame):
        units = list(frame.members) + list(frame.exits) + list(frame.children.values())
        key = {}
        for u in units:
            key[u] = position[u] if not isinstance(u, _Frame) else min(position[o] for o in all_ops(u))
        deps = {u: set() for u in units}
        for u in units:
            consumers = [u] if not isinstance(u, _Frame) else all_ops(u)
            for x in consumers:
                prods = [t._op for t in x._inputs if t not in feed_set and not _is_back_edge(x, t._op)]
                prods += list(x._control_inputs)
                for p in prods:
                    if p not in frame_of:
                        continue
                    pu = producer_unit(frame, p)
                    if pu is not None and pu is not u:
                        deps[u].add(pu)
        users = {u: [] for u in units}
        for u, d in deps.items():
            for p in d:
                users[p].append(u)
        count = {u: len(d) for u, d in deps.items()}
        ready = [(key[u], id(u), u) for u in units if count[u] == 0]
        heapq.heapify(ready)
        out = []
        while ready:
            _, _, u = heapq.heappop(ready)
            out.append(u)
            for v in users[u]:
                count[v] -= 1
                if count[v] == 0:
                    heapq.heappush(ready, (key[v], id(v), v))
        if len(out) != len(units):
            raise errors.InvalidArgumentError(None, None, f"while loop frame '{frame.name}' depends on its own "
                                                          "results outside its NextIteration edges")
        return out

    def compile_block(frame, is_root):
        b = _Block(frame)
        slots = b.slots
        alias = {}  # output of an identity-like op -> the key it forwards (no step needed)

        def need(key):
            key = alias.get(key, key)
            s = slots.get(key)
            if s is None:
                s = slots[key] = len(slots)
                if key not in b.produced:
                    if is_root:
                        raise errors.InvalidArgumentError(None, None, f"no value for {key!r} in the plan")
                    b.ext.append(key)
            return s

        if is_root:
            for t in feed_tensors:
                slots[t] = len(slots)
                b.ext.append(t)
        units = ordered_units(frame)
        for u in units:
            if isinstance(u, _Frame):
                for e in u.exits:
                    b.produced.add(e._outputs[0])
            else:
                b.produced.update(u._outputs)
                b.produced.add(ctl_key(u))
        for e in frame.enters:
            b.produced.add(e._outputs[0])
        maybe_dead = set()
        # enters first: their inputs are externals, their outputs local
        enters = []
        for e in frame.enters:
            src = need(e._inputs[0])
            dst = need(e._outputs[0])
            deref = e._inputs[0] in ref_keys and not e._outputs[0]._dtype.is_ref_dtype
            enters.append((src, dst, deref, e._attrs.get("is_constant", False)))
            if not e._attrs.get("is_constant", False):
                maybe_dead.add(e._outputs[0])
        carry = []
        for op in frame.members:
            if op._type in _NEXT:
                maybe_dead.add(op._outputs[0])
        protected = set(slots.values())  # enter values stay for every iteration
        steps = []
        accumulators = []
        for u in units:
            if isinstance(u, _Frame):
                sub = compile_block(u, False)
                ins = tuple(need(k) for k in sub.ext)
                outs = [need(e._outputs[0]) for e in u.exits]
                if any(alias.get(k, k) in maybe_dead or alias.get(k, k) not in b.produced for k in sub.ext):
                    maybe_dead.update(e._outputs[0] for e in u.exits)
                out = outs[0] if len(outs) == 1 else (tuple(outs) if outs else None)
                steps.append([sub.run, ins, out, False, (), u.enters[0] if u.enters else u.exits[0]])
                continue
            op = u
            if op._type in _FORWARDING and not any(c in frame_of for c in op._control_inputs) and \
                    op._inputs[0] not in feed_set:
                src = op._inputs[0]
                alias[op._outputs[0]] = alias.get(src, src)  # same value, same deadness
                continue
            ins = [need(t) for t in op._inputs]
            ctl = [need(ctl_key(c)) for c in op._control_inputs if c in frame_of]
            keys = [alias.get(k, k) for k in list(op._inputs) + [ctl_key(c) for c in op._control_inputs
                                                                  if c in frame_of]]
            in_dead = any((k in maybe_dead) or (not is_root and k not in b.produced) for k in keys)
            outs = [need(t) for t in op._outputs]
            extra_ctl = op in ctl_users and ctl_key(op) not in op._outputs
            if extra_ctl:
                outs.append(need(ctl_key(op)))
            if op._type == "Identity" and op._inputs[0] in ref_keys:
                deref = ()  # forwards the variable itself, as the plain executor does
            else:
                flags = executor._input_ref_flags(op)
                deref = [i for i, t in enumerate(op._inputs) if t in ref_keys and not flags[i]]
            if op._type == "Const":
                fn = (lambda v: lambda *ctl_tokens: v)(op._attrs["value"])
            else:
                fn = executor.bind_kernel(op, state, session, deref)
                if not is_root and not deref and _is_accumulator(op):
                    fn = _Accumulate(fn)
                    accumulators.append(fn)
                if ctl:
                    fn = _trim(fn, len(ins))
            if extra_ctl:
                fn = _with_token(fn, len(op._outputs))
            merge_like = op._type in _MERGE or op._type == "ControlTrigger"
            check = in_dead and not merge_like
            if op._type in _SWITCH:
                maybe_dead.update(op._outputs)
            elif op._type in _MERGE:
                if all((k in maybe_dead) or (not is_root and k not in b.produced) for k in keys[:len(ins)]):
                    maybe_dead.update(op._outputs)
            elif check:
                maybe_dead.update(op._outputs)
                if extra_ctl:
                    maybe_dead.add(ctl_key(op))
            if op._type in _NEXT:
                carry.append(outs[0])
            out = outs[0] if len(outs) == 1 else (tuple(outs) if outs else None)
            steps.append([fn, tuple(ins) + tuple(ctl), out, check, (), op])
        # free each slot after its last reader, except values that must outlive one pass over the steps
        exit_slots = [need(e._outputs[0]) for e in frame.exits]
        protected |= set(carry) | set(exit_slots) | {slots[k] for k in b.ext}
        if is_root:
            fetch_slots = [need(t) for t in fetch_tensors]
            protected |= set(fetch_slots)
        last = {}
        for i, st in enumerate(steps):
            for s in st[1]:
                last[s] = i
        frees = [[] for _ in steps]
        for s, i in last.items():
            if s not in protected:
                frees[i].append(s)
        b.steps = [_step(fn, ins, out, check, free, op) for (fn, ins, out, check, _, op), free in zip(steps, frees)]
        n = len(slots)
        ext_slots = [slots[k] for k in b.ext]
        run_steps = _run_steps
        body = b.steps
        if is_root:
            n_fetch = len(fetch_slots)

            def run_root(*feeds):
                vals = [None] * n
                for s, v in zip(ext_slots, feeds):
                    vals[s] = v
                run_steps(body, vals)
                res = [vals[s] for s in fetch_slots]
                for i, v in enumerate(res):
                    if v is DEAD:
                        raise errors.InvalidArgumentError(None, fetch_tensors[i]._op,
                                                          f"Retval[{i}] does not have value")
                return res[0] if n_fetch == 1 else tuple(res)
            b.run = run_root
            b.fetch_slots = fetch_slots
            return b
        varying = [dst for _, dst, _, const in enters if not const]
        n_exit = len(exit_slots)
        dead_result = DEAD if n_exit == 1 else tuple([DEAD] * n_exit)

        def run_frame(*ext_vals):
            for a in accumulators:
                a.owned = None
            vals = [None] * n
            for s, v in zip(ext_slots, ext_vals):
                vals[s] = v
            for src, dst, deref, _ in enters:
                v = vals[src]
                if v is DEAD:
                    return dead_result
                if deref and type(v) is Ref:
                    v = v.get()
                vals[dst] = v
            for s in carry:
                vals[s] = DEAD
            run_steps(body, vals)
            if carry:
                for s in varying:
                    vals[s] = DEAD
                while True:
                    for s in carry:
                        if vals[s] is not DEAD:
                            break
                    else:
                        break
                    run_steps(body, vals)
            if n_exit == 1:
                return vals[exit_slots[0]]
            return tuple([vals[s] for s in exit_slots])
        b.run = run_frame
        return b

    blk = compile_block(root, True)
    nf, nk = len(feed_tensors), len(fetch_tensors)
    first = order[0] if order else None
    plan = executor.Plan()
    out = nf if nk == 1 else (tuple(range(nf, nf + nk)) if nk else None)
    plan.steps = [(blk.run, tuple(range(nf)), out, (), first)]
    plan.n_slots = nf + nk
    plan.feed_slots = list(range(nf))
    plan.fetch_slots = list(range(nf, nf + nk))
    plan.version = graph._version
    plan.ops = ops
    return plan


def _is_accumulator(op):
    """``x = Add(Switch(Merge(Enter, NextIteration(x))):1, g)``: a loop's running sum (the backprop
    accumulators of loop invariants, ``acc += g`` in user loops), whose carried array nothing else reads."""
    if op._type not in ("Add", "AddV2") or op._control_inputs:
        return False
    s = op._inputs[0]
    sw = s._op
    if sw._type != "Switch" or s._value_index != 1 or sw._outputs[1]._consumers != [op]:
        return False
    m = sw._inputs[0]
    mo = m._op
    if mo._type != "Merge" or m._value_index != 0 or len(mo._inputs) != 2 or m._consumers != [sw]:
        return False
    nxt = mo._inputs[1]._op
    if nxt._type != "NextIteration" or nxt._inputs[0] is not op._outputs[0]:
        return False
    return (op._outputs[0]._consumers == [nxt] and nxt._outputs[0]._consumers == [mo] and
            not mo._outputs[1]._consumers and all(c._type == "Exit" for c in sw._outputs[0]._consumers))


class _Accumulate:
    """A loop accumulator's Add, summing in place into the array it made in an earlier iteration of
    this frame run (never into the value that entered the loop, which others may hold)."""

    __slots__ = ("fn", "owned")

    def __init__(self, fn):
        self.fn, self.owned = fn, None

    def __call__(self, acc, g):
        if acc is self.owned and type(g) is np.ndarray and g is not acc and g.dtype == acc.dtype:
            try:
                with np.errstate(all="ignore"):
                    return np.add(acc, g, out=acc)
            except ValueError:  # g broadcasts acc to a bigger shape: no room in place
                pass
        r = self.fn(acc, g)
        self.owned = r if type(r) is np.ndarray and r is not acc and r is not g and r.base is None and \
            r.flags.writeable else None
        return r


def _trim(fn, n):
    """The kernel sees only its data inputs; control inputs were only checked for deadness."""
    return lambda *args: fn(*args[:n])


def _with_token(fn, n_outputs):
    if n_outputs == 0:
        def run(*args):
            fn(*args)
            return _LIVE
    else:
        def run(*args):
            r = fn(*args)
            return (*r, _LIVE) if n_outputs > 1 else (r, _LIVE)
    return run


def _step(fn, ins, out, check, free, op):
    """A step as the loop below runs it: inputs fetched by index (one), itemgetter (several) or not at all."""
    n = len(ins)
    get = ins[0] if n == 1 else (operator.itemgetter(*ins) if n > 1 else None)
    dead = DEAD if type(out) is int else (tuple([DEAD] * len(out)) if out is not None else None)
    return fn, get, n, out, check, dead, tuple(free), op


def _run_steps(steps, vals):
    op = None
    try:
        for fn, get, n, out, check, dead, free, op in steps:
            if n == 1:
                a = vals[get]
                r = dead if check and a is DEAD else fn(a)
            elif n:
                args = get(vals)
                r = dead if check and DEAD in args else fn(*args)
            else:
                r = fn()
            if type(out) is int:
                vals[out] = r
            elif out is not None:
                for s, v in zip(out, r):
                    vals[s] = v
            if free:
                for s in free:
                    vals[s] = None
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as e:
        raise executor.kernel_error(op, e) from e
