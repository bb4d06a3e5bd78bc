"""Dataset functions: a Python function of element tensors traced once into its own graph, run per element.

Tensors of the outer graph that the function uses are captured, as TF captures them: the function graph
reads a placeholder, and the dataset op takes the outer tensor as an ``other_arguments`` input, so its value is
taken when the iterator is initialized. The traced graph is kept on the outer graph under the name that the
op's ``func`` attr carries; each session runs it with a cached plan and its own state (random ops in a
function draw from their own generators).
"""
import itertools

import numpy as np

from deferflow.data import structure as nest
from deferflow.framework import ops
from deferflow.ops.dataset_ops import FUNCTIONS_KEY, DatasetValue

_counter = itertools.count(1)


class _FuncGraph(ops.Graph):
    """A graph that turns any tensor of ``outer`` given to one of its ops into a captured placeholder."""

    def __init__(self, outer):
        super().__init__()
        self.outer, self.seed = outer, outer.seed
        self.captures = {}

    def capture(self, t):
        ph = self.captures.get(t)
        if ph is None:
            from deferflow.ops.array_ops import placeholder
            with self.as_default(), self.control_dependencies(None):
                ph = placeholder(t.dtype.base_dtype, t.shape, name="captured")
            self.captures[t] = ph
        return ph

    def _create_op_raw(self, op_type, inputs, attrs, name, out_dtypes, control_inputs=(), device=None,
                       op_def=None, compute_shapes=True, use_scope_deps=True):
        inputs = [t if t.graph is self else self.capture(t) for t in inputs]
        control_inputs = [c for c in control_inputs if c.graph is self]  # outer ops run before the iterator
        return super()._create_op_raw(op_type, inputs, attrs, name, out_dtypes, control_inputs, device, op_def,
                                      compute_shapes, use_scope_deps)


def _name_attr(name):
    from deferflow.formats.protos import NameAttrList
    return NameAttrList(name=name)


def _register(graph, fn):
    graph._extra.setdefault(FUNCTIONS_KEY, {})[fn.name] = fn


class TracedFunction:
    """A traced dataset function: its graph, inputs, captured outer tensors and outputs."""

    def __init__(self, name, graph, inputs, captured, outputs, output_types, output_shapes):
        self.name, self.graph, self.inputs, self.outputs = name, graph, inputs, outputs
        self.captured = captured  # outer tensors, the dataset op's other_arguments
        self.output_types, self.output_shapes = output_types, output_shapes
        self.attr = _name_attr(name)

    def _feeds(self):
        return self.inputs + [self.graph.captures[t] for t in self.captured]

    def function_body(self):
        """What ``graph_io.add_function_library`` writes as this function's FunctionDef."""
        feeds = self._feeds()
        skip = {t._op for t in feeds}
        body = [op for op in self.graph._ops if op not in skip]
        names = [f"args_{i}" for i in range(len(self.inputs))]
        names += [_arg_name(ph._op._name, names) for ph in feeds[len(self.inputs):]]
        rets = ["identity" if i == 0 else f"identity_{i}" for i in range(len(self.outputs))]
        return self.graph, body, feeds, names, self.outputs, rets

    def runner(self, ctx):
        from deferflow.client import executor
        key = ("DatasetFunction", self.name)
        plan = ctx.state.resources.get(key)
        if plan is None:  # one plan and state per session
            feeds = self._feeds()
            plan = executor.build_plan(self.graph, self.outputs, [], feeds, executor.SessionState(), ctx.session)
            ctx.state.resources[key] = plan
        run_plan, Ref = executor.run_plan, executor.Ref

        def run(values):
            return [v if isinstance(v, DatasetValue) else np.asarray(v.get() if type(v) is Ref else v)
                    for v in run_plan(plan, values)]
        return run


def _arg_name(op_name, taken):
    """A FunctionDef argument name (``[a-z][a-z0-9_]*``) for a captured placeholder, unique among ``taken``."""
    base = "".join(c if c.isalnum() else "_" for c in op_name.lower()).lstrip("_0123456789") or "arg"
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.append(name)
    return name


class ImportedFunction(TracedFunction):
    """A function read from a graph's FunctionDef library (written by TensorFlow or by deferflow), built into its
    own deferflow graph; nested functions resolve through the same library."""

    def __init__(self, name, graph, inputs, outputs):
        super().__init__(name, graph, inputs, [], outputs, None, None)

    def _feeds(self):
        return self.inputs

    function_body = None  # its FunctionDef is already in the library it came from


def imported_function(outer, fdef):
    """Builds ``fdef`` (a FunctionDef of ``outer``'s library) and registers it on ``outer`` under its name."""
    from deferflow.framework import graph_io
    g = ops.Graph()
    g._extra[FUNCTIONS_KEY] = outer._extra.setdefault(FUNCTIONS_KEY, {})
    g._extra["function_library"] = outer._extra["function_library"]
    g.seed = outer.seed
    g, inputs, outputs = graph_io.graph_from_function_def(fdef, g)
    fn = ImportedFunction(fdef.signature.name, g, inputs, outputs)
    _register(outer, fn)
    return fn


def trace_function(fn, types, shapes, kind):
    """Traces ``fn`` on placeholders shaped like one element of structure ``types``/``shapes``."""
    outer = ops.get_default_graph()
    graph = _FuncGraph(outer)
    from deferflow.ops.array_ops import placeholder
    with graph.as_default():
        inputs = [placeholder(t, s, name=f"args_{i}")
                  for i, (t, s) in enumerate(zip(nest.flatten(types), nest.flatten(shapes)))]
    element = nest.pack(types, inputs)
    with graph.as_default():  # ops on outer tensors go here too (ops._graph_from_values): they are captured
        ret = fn(*element) if type(element) is tuple else fn(element)
        if type(ret) is list:
            ret = tuple(ret)  # a returned list is a tuple of components; lists inside are tensors
        if ret is None or nest.is_nested(ret) and not nest.flatten(ret):
            raise ValueError(f"The function given to Dataset.{kind}() returned {ret!r}: it must return "
                             f"at least one tensor")
        flat = [ops.convert_to_tensor(x) for x in nest.flatten(ret)]
        flat = [t if t.graph is graph else graph.capture(t) for t in flat]
    captured = list(graph.captures)
    label = "".join(c for c in getattr(fn, "__name__", "fn") if c.isalnum() or c == "_") or "fn"
    name = f"__inference_Dataset_{kind}_{label}_{next(_counter)}"
    traced = TracedFunction(name, graph, inputs, captured, flat, nest.pack(ret, [t.dtype.base_dtype for t in flat]),
                            nest.pack(ret, [t.shape for t in flat]))
    _register(outer, traced)
    return traced


class DatasetFactory:
    """``OneShotIterator.dataset_factory``: the graph's own dataset tensor, evaluated once per session."""

    def __init__(self, dataset_tensor):
        self.tensor = dataset_tensor
        self.name = f"_make_dataset_{next(_counter)}"
        self.attr = _name_attr(self.name)
        _register(dataset_tensor.graph, self)
        bad = _placeholder_above(dataset_tensor)
        if bad is not None:
            raise ValueError(f"Cannot capture a placeholder (name:{bad.name}, type:{bad.type}) by value.")

    def function_body(self):
        from deferflow.client.executor import needed_ops
        body = sorted(needed_ops([self.tensor], [], set()), key=lambda op: op._id)
        return self.tensor.graph, body, [], [], [self.tensor], ["dataset"]

    def runner(self, ctx):
        from deferflow.client import executor

        def run(_):
            plan = executor.build_plan(self.tensor.graph, [self.tensor], [], [], ctx.state, ctx.session)
            return executor.run_plan(plan, [])
        return run


def _placeholder_above(t):
    from deferflow.client.executor import needed_ops
    for op in needed_ops([t], [], set()):
        if op.type in ("Placeholder", "PlaceholderV2"):
            return op
    return None
