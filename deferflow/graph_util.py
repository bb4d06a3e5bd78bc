"""``tf.graph_util``: freezing (variables -> constants), sub-graph extraction, training-node removal.

All functions work on ``GraphDef`` messages (ours, or TensorFlow's, which are converted) and return ours.
"""
import logging

import numpy as np

from deferflow.formats import protos
from deferflow.framework import graph_io
from deferflow.framework.graph_io import import_graph_def  # noqa: F401 - part of tf.graph_util

_log = logging.getLogger("deferflow")

_REF_VARIABLE_OPS = ("VariableV2", "Variable", "AutoReloadVariable")


def _node_name(n):
    n = n[1:] if n.startswith("^") else n
    name, sep, idx = n.rpartition(":")
    return name if sep and idx.isdigit() else n


def _as_graph_def(graph_def):
    return graph_io._coerce(graph_def, protos.GraphDef)


def extract_sub_graph(graph_def, dest_nodes):
    """The nodes ``dest_nodes`` need (data and control inputs), in their original order."""
    if isinstance(dest_nodes, str):
        raise TypeError("dest_nodes must be an iterable of strings.")
    graph_def = _as_graph_def(graph_def)
    by_name = {n.name: n for n in graph_def.node}
    for d in dest_nodes:
        if _node_name(d) not in by_name:
            raise AssertionError(f"{d} is not in graph")
    keep = set()
    stack = [_node_name(d) for d in dest_nodes]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        node = by_name.get(name)
        if node is None:
            raise AssertionError(f"{name} is not in graph")
        stack.extend(_node_name(i) for i in node.input)
    out = protos.GraphDef()
    out.node.extend(n for n in graph_def.node if n.name in keep)
    out.library.CopyFrom(graph_def.library)
    out.versions.CopyFrom(graph_def.versions)
    return out


def _resource_value(sess, node):
    """The current value of the resource variable a ``VarHandleOp`` node names, read from the session."""
    container = node.attr["container"].s.decode() or "localhost"
    name = node.attr["shared_name"].s.decode() or node.name
    value = sess._state.resources.get((container, name))
    if value is None:
        from deferflow.framework import errors
        raise errors.FailedPreconditionError(None, None, f"Attempting to use uninitialized value {node.name}")
    return value


def convert_variables_to_constants(sess, input_graph_def, output_node_names, variable_names_whitelist=None,
                                   variable_names_blacklist=None):
    """A frozen copy of the sub-graph computing ``output_node_names``: every variable it reads becomes a
    ``Const`` holding the variable's value in ``sess`` (``ReadVariableOp`` -> ``Identity``,
    ``ResourceGather`` -> ``GatherV2``), as TensorFlow freezes graphs."""
    graph_def = extract_sub_graph(input_graph_def, output_node_names)

    def wanted(name):
        return ((variable_names_whitelist is None or name in variable_names_whitelist)
                and (variable_names_blacklist is None or name not in variable_names_blacklist))
    ref_vars = [n.name for n in graph_def.node if n.op in _REF_VARIABLE_OPS and wanted(n.name)]
    values = dict(zip(ref_vars, sess.run([v + ":0" for v in ref_vars]))) if ref_vars else {}
    resource_nodes = {n.name for n in graph_def.node if n.op == "VarHandleOp" and wanted(n.name)}
    for n in graph_def.node:
        if n.name in resource_nodes:
            values[n.name] = _resource_value(sess, n)
    out = protos.GraphDef()
    converted = 0
    for node in graph_def.node:
        new = out.node.add()
        if node.name in values:
            value = np.asarray(values[node.name])
            dtype = node.attr["dtype"].type
            new.op = "Const"
            new.name = node.name
            new.attr["dtype"].type = dtype
            graph_io.tensor_to_proto(value, graph_io._BY_ENUM[dtype], new.attr["value"].tensor)
            if node.device:
                new.device = node.device
            converted += 1
        elif node.op == "ReadVariableOp" and _node_name(node.input[0]) in values:
            new.op = "Identity"
            new.name = node.name
            new.input.extend(node.input)
            new.attr["T"].type = node.attr["dtype"].type
            if node.device:
                new.device = node.device
            if "_class" in node.attr:
                new.attr["_class"].CopyFrom(node.attr["_class"])
        elif node.op == "ResourceGather" and _node_name(node.input[0]) in values:
            axis = out.node.add()
            axis.op = "Const"
            axis.name = node.name + "/axis"
            axis.attr["dtype"].type = protos.DataType.Value("DT_INT32")
            graph_io.tensor_to_proto(np.int32(0), None, axis.attr["value"].tensor)
            new.op = "GatherV2"
            new.name = node.name
            new.input.extend(list(node.input[:2]) + [axis.name] + list(node.input[2:]))
            new.attr["Tparams"].type = node.attr["dtype"].type
            new.attr["Tindices"].type = node.attr["Tindices"].type
            new.attr["Taxis"].type = protos.DataType.Value("DT_INT32")
            new.attr["batch_dims"].i = node.attr["batch_dims"].i if "batch_dims" in node.attr else 0
            if node.device:
                new.device = node.device
        else:
            new.CopyFrom(node)
    out.library.CopyFrom(graph_def.library)
    out.versions.CopyFrom(graph_def.versions)
    _log.info("Froze %d variables.", converted)
    _log.info("Converted %d variables to const ops.", converted)
    return out


def remove_training_nodes(input_graph, protected_nodes=None):
    """Splices out ``CheckNumerics`` and ``Identity`` nodes (not protected, not colocation targets, no
    control edges), rewiring their consumers, as TF's ``remove_training_nodes``."""
    input_graph = _as_graph_def(input_graph)
    protected = set(protected_nodes or ())
    # CheckNumerics passes its input through: consumers are rewired to it (TF drops the edge instead)
    remove = {n.name: n.input[0] for n in input_graph.node
              if n.op == "CheckNumerics" and n.name not in protected and n.input}
    after_removal = []
    for node in input_graph.node:
        if node.name in remove:
            continue
        new = protos.NodeDef()
        new.CopyFrom(node)
        del new.input[:]
        for full in node.input:
            while full.lstrip("^") in remove:
                full = ("^" if full.startswith("^") else "") + remove[full.lstrip("^")].lstrip("^")
            new.input.append(full)
        after_removal.append(new)
    control_inputs, with_control_input, colocated = set(), set(), set()
    for node in after_removal:
        for i in node.input:
            if i.startswith("^"):
                control_inputs.add(i[1:])
                with_control_input.add(node.name)
        if "_class" in node.attr:
            for s in node.attr["_class"].list.s:
                s = s.decode("utf-8", "surrogateescape")
                colocated.add(s[5:] if s.startswith("loc:@") else s)
    splice = {}
    for node in after_removal:
        if (node.op == "Identity" and node.name not in protected and node.name not in colocated
                and node.name not in with_control_input and node.name not in control_inputs):
            splice[node.name] = node.input[0]
    out = protos.GraphDef()
    for node in after_removal:
        if node.name in splice:
            continue
        new = out.node.add()
        new.CopyFrom(node)
        del new.input[:]
        for full in node.input:
            name = full.lstrip("^")
            while name in splice:
                full = splice[name]
                name = full.lstrip("^")
            new.input.append(full)
    return out


def tensor_shape_from_node_def_name(graph, input_name):
    """The static shape of ``input_name`` (``op`` or ``op:i``) in ``graph``."""
    if ":" not in input_name:
        input_name += ":0"
    return graph.get_tensor_by_name(input_name).shape


def must_run_on_cpu(node, pin_variables_on_cpu=False):
    """Whether a node must be placed on the CPU (deferflow runs everything on the CPU)."""
    return True
