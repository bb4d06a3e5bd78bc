"""MetaGraphDef export and import (``tf.train.export_meta_graph`` / ``tf.train.import_meta_graph``).

A ``.meta`` file is the graph (``graph_io``), the OpDefs it uses (from our registry), its collections
and its saver, laid out as TensorFlow writes them, so either side reads the other's files.
"""
import logging
import os

from google.protobuf import text_format

from deferflow.formats import protos
from deferflow.framework import errors, graph_io, op_registry, ops
from deferflow.framework.ops import GraphKeys

_log = logging.getLogger("deferflow")

_UNBOUND_INPUT_PREFIX = "$unbound_inputs_"
_VARIABLE_PROTO_COLLECTIONS = (GraphKeys.GLOBAL_VARIABLES, GraphKeys.TRAINABLE_VARIABLES,
                               GraphKeys.MOVING_AVERAGE_VARIABLES, GraphKeys.LOCAL_VARIABLES,
                               GraphKeys.MODEL_VARIABLES, GraphKeys.GLOBAL_STEP, GraphKeys.METRIC_VARIABLES)


# --- collection proto functions (TF's ops.register_proto_function) --------------------------
_proto_functions = {}  # key -> (proto_type, to_proto, from_proto)


def register_proto_function(collection_name, proto_type=None, to_proto=None, from_proto=None):
    """How a collection's items serialize: ``to_proto(item, export_scope)`` / ``from_proto(proto, import_scope)``."""
    _proto_functions[collection_name] = (proto_type, to_proto, from_proto)


def _variable_to_proto(v, export_scope=None):
    return v.to_proto(export_scope=export_scope)


def _variable_from_proto(vd, import_scope=None):
    if vd.is_resource:
        from deferflow.ops.resource_variable_ops import ResourceVariable
        return ResourceVariable.from_proto(vd, import_scope=import_scope)
    from deferflow.ops.variables import Variable
    return Variable.from_proto(vd, import_scope=import_scope)


def _saver_to_proto(saver, export_scope=None):
    return saver.to_proto(export_scope=export_scope)


def _saver_from_proto(saver_def, import_scope=None):
    from deferflow.training.saver import Saver
    return Saver.from_proto(saver_def, import_scope=import_scope)


def _context_to_proto(ctx, export_scope=None):
    return ctx.to_proto(export_scope=export_scope)


def _cond_from_proto(d, import_scope=None):
    from deferflow.ops.control_flow_ops import CondContext
    return CondContext.from_proto(d, import_scope=import_scope)


def _while_from_proto(d, import_scope=None):
    from deferflow.ops.control_flow_ops import WhileContext
    return WhileContext.from_proto(d, import_scope=import_scope)


for _key in _VARIABLE_PROTO_COLLECTIONS:
    register_proto_function(_key, protos.VariableDef, _variable_to_proto, _variable_from_proto)
register_proto_function(GraphKeys.SAVERS, protos.SaverDef, _saver_to_proto, _saver_from_proto)
register_proto_function(GraphKeys.COND_CONTEXT, protos.CondContextDef, _context_to_proto, _cond_from_proto)
register_proto_function(GraphKeys.WHILE_CONTEXT, protos.WhileContextDef, _context_to_proto, _while_from_proto)


# --- stripped op list -----------------------------------------------------------------------
def _arg_to_proto(arg, target):
    target.name = arg.name
    if arg.dtype is not None:
        target.type = arg.dtype.base_dtype.as_datatype_enum
    elif arg.type_attr:
        target.type_attr = arg.type_attr
    if arg.number_attr:
        target.number_attr = arg.number_attr
    if arg.type_list_attr:
        target.type_list_attr = arg.type_list_attr
    if arg.is_ref:
        target.is_ref = True


def op_def_to_proto(od):
    """TF's ``OpDef`` message for a registry OpDef (the proto it came from, for imported op types)."""
    proto = getattr(od, "_proto", None)
    if proto is not None:
        return proto
    p = protos.OpDef(name=od.name, is_stateful=bool(od.is_stateful))
    for arg in od.inputs:
        _arg_to_proto(arg, p.input_arg.add())
    for arg in od.outputs:
        _arg_to_proto(arg, p.output_arg.add())
    for name, spec in od.attrs.items():
        a = p.attr.add(name=name, type=spec.type)
        if spec.has_default:
            graph_io.attr_value_to_proto(spec.default, spec.type, a.default_value)
        if spec.allowed is not None:
            kind = "list(type)" if spec.type in ("type", "list(type)") else "list(string)"
            graph_io.attr_value_to_proto(list(spec.allowed), kind, a.allowed_values)
        if spec.minimum is not None:
            a.has_minimum = True
            a.minimum = spec.minimum
    if od.name in _ALLOWS_UNINITIALIZED:
        p.allows_uninitialized_input = True
    return p


_ALLOWS_UNINITIALIZED = frozenset(["Assign", "IsVariableInitialized", "RefSwitch"])  # as flagged in TF


def ops_used_by_graph_def(graph_def):
    """Op types used by the nodes of ``graph_def`` and of its function library (functions excluded)."""
    used = {n.op for n in graph_def.node}
    fnames = {f.signature.name for f in graph_def.library.function}
    for f in graph_def.library.function:
        used.update(n.op for n in f.node_def)
    return used - fnames


def stripped_op_list_for_graph(graph_def):
    """``OpList`` of the registered OpDefs the graph uses, sorted by name, without docs."""
    out = protos.OpList()
    for name in sorted(ops_used_by_graph_def(graph_def)):
        od = op_registry.get(name)
        if od is not None and not getattr(od, "inferred", False):  # guessed signatures are not TF's
            out.op.add().CopyFrom(op_def_to_proto(od))
    return out


def strip_graph_default_valued_attrs(meta_graph_def):
    """Removes attrs equal to their OpDef default (TF's ``strip_default_attrs=True``)."""
    op_defs = {op.name: op for op in meta_graph_def.meta_info_def.stripped_op_list.op}
    for node in meta_graph_def.graph_def.node:
        od = op_defs.get(node.op)
        if od is None:
            continue
        for a in od.attr:
            if a.HasField("default_value") and a.name in node.attr and node.attr[a.name] == a.default_value:
                del node.attr[a.name]
    meta_graph_def.meta_info_def.stripped_default_attrs = True


# --- export ---------------------------------------------------------------------------------
def _should_include_node(node_or_name, export_scope, exclude_nodes):
    if not isinstance(node_or_name, str):
        try:
            name = node_or_name.name
        except AttributeError:  # objects we cannot name are kept
            return True
    else:
        name = node_or_name
    if exclude_nodes and name in exclude_nodes:
        return False
    return name.startswith(_UNBOUND_INPUT_PREFIX) or not export_scope or name.startswith(export_scope)


def _kind_name(item):
    if isinstance(item, (str, bytes)):
        return "bytes_list"
    if isinstance(item, int):
        return "int64_list"
    if isinstance(item, float):
        return "float_list"
    if isinstance(item, protos.Any):
        return "any_list"
    return "node_list"


def add_collection_def(meta_graph_def, key, graph=None, export_scope=None, exclude_nodes=None,
                       override_contents=None):
    """Serializes collection ``key`` into ``meta_graph_def.collection_def`` as TF does; a collection
    that cannot be serialized is skipped with a warning (TF's behaviour)."""
    if not isinstance(key, (str, bytes)):
        _log.warning("Only collections with string type keys will be serialized. This key has %s", type(key))
        return
    graph = graph or ops.get_default_graph()
    items = override_contents if override_contents else graph.get_collection(key)
    items = [x for x in items if _should_include_node(x, export_scope, exclude_nodes)]
    if not items:
        return
    try:
        col = meta_graph_def.collection_def[key]
        fns = _proto_functions.get(key)
        if fns is not None and fns[1] is not None:
            proto_type, to_proto, _ = fns
            for x in items:
                proto = to_proto(x, export_scope=export_scope)
                if proto:
                    if not isinstance(proto, proto_type):
                        raise TypeError(f"{key}: expected {proto_type.DESCRIPTOR.name}, got {type(proto).__name__}")
                    col.bytes_list.value.append(proto.SerializeToString(deterministic=True))
            return
        kind = _kind_name(items[0])
        if kind == "node_list":
            for x in items:
                name = x.name
                if not export_scope or name.startswith(export_scope):
                    col.node_list.value.append(ops.strip_name_scope(name, export_scope))
        elif kind == "bytes_list":
            col.bytes_list.value.extend(x.encode("utf-8") if isinstance(x, str) else x for x in items)
        elif kind == "any_list":
            col.any_list.value.extend(items)
        else:
            getattr(col, kind).value.extend(items)
    except Exception as e:  # noqa: BLE001 - TF warns and drops a collection it cannot serialize
        _log.warning("Issue encountered when serializing %s.\n%s", key, e)
        if key in meta_graph_def.collection_def:
            del meta_graph_def.collection_def[key]


def _node_def(src, export_scope, unbound_inputs, clear_devices):
    nd = protos.NodeDef()
    nd.CopyFrom(src)
    if export_scope:
        for i, v in enumerate(src.input):
            if not v.lstrip("^").startswith(export_scope):
                lead = "^" if v.startswith("^") else ""
                nd.input[i] = lead + _UNBOUND_INPUT_PREFIX + v[len(lead):]
                unbound_inputs.append(nd.input[i])
            else:
                nd.input[i] = ops.strip_name_scope(v, export_scope)
        nd.name = ops.strip_name_scope(src.name, export_scope)
        if "_class" in src.attr:
            keep = [s for s in src.attr["_class"].list.s
                    if s.decode("utf-8", "replace").split("@")[-1].startswith(export_scope)]
            del nd.attr["_class"]
            if keep:
                nd.attr["_class"].list.s.extend(
                    ops.strip_name_scope(s.decode("utf-8", "surrogateescape"), export_scope).encode(
                        "utf-8", "surrogateescape") for s in keep)
        if src.op in ("Enter", "RefEnter") and "frame_name" in src.attr:
            frame = src.attr["frame_name"].s.decode("utf-8", "surrogateescape")
            if frame.startswith(export_scope):
                nd.attr["frame_name"].s = ops.strip_name_scope(frame, export_scope).encode("utf-8", "surrogateescape")
    if clear_devices:
        nd.device = ""
    return nd


_SAVE_AND_RESTORE_OPS = frozenset(["SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice"])


def _scope_of(name):
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _find_extraneous_saver_nodes(graph_def, saver_def):
    """Names of the nodes of savers other than ``saver_def``'s (TF's clear_extraneous_savers)."""
    retain = set()
    if saver_def is not None:
        retain = {_scope_of(saver_def.save_tensor_name.split(":")[0]) + "/",
                  _scope_of(saver_def.restore_op_name.split(":")[0]) + "/"}
    saver_nodes = {n.name for n in graph_def.node if n.op in _SAVE_AND_RESTORE_OPS}
    scopes = {_scope_of(x) for x in saver_nodes} - saver_nodes
    extraneous = {x + "/" for x in scopes} - retain
    return {n.name for n in graph_def.node if any(n.name.startswith(s) for s in extraneous)}


def _tf_version_strings():
    import deferflow
    return deferflow.VERSION, f"deferflow-{deferflow.__version__}"


def create_meta_graph_def(meta_info_def=None, graph_def=None, saver_def=None, collection_list=None, graph=None,
                          export_scope=None, exclude_nodes=None, clear_extraneous_savers=False,
                          strip_default_attrs=False, meta_graph_def=None):
    """Builds a ``MetaGraphDef`` from a graph (TF's ``create_meta_graph_def``)."""
    graph = graph or ops.get_default_graph()
    mgd = meta_graph_def if meta_graph_def is not None else protos.MetaGraphDef()
    info = protos.MetaGraphDef.MetaInfoDef()
    if meta_info_def is not None:
        info.CopyFrom(graph_io._coerce(meta_info_def, protos.MetaGraphDef.MetaInfoDef))
    info.tensorflow_version, info.tensorflow_git_version = _tf_version_strings()
    mgd.meta_info_def.MergeFrom(info)
    if graph_def is None:
        mgd.graph_def.CopyFrom(graph.as_graph_def(add_shapes=True))
    else:
        mgd.graph_def.CopyFrom(graph_io._coerce(graph_def, protos.GraphDef))
    if not len(mgd.meta_info_def.stripped_op_list.op):
        mgd.meta_info_def.stripped_op_list.CopyFrom(stripped_op_list_for_graph(mgd.graph_def))
    if strip_default_attrs:
        strip_graph_default_valued_attrs(mgd)
    if saver_def is not None:
        mgd.saver_def.CopyFrom(graph_io._coerce(saver_def, protos.SaverDef))
    keys = collection_list if collection_list is not None else graph.get_all_collection_keys()
    for key in keys:
        if clear_extraneous_savers and key == GraphKeys.SAVERS:
            contents = [_proto_functions[key][2](saver_def)] if saver_def is not None else None
            if contents:
                add_collection_def(mgd, key, graph, export_scope, exclude_nodes, override_contents=contents)
        else:
            add_collection_def(mgd, key, graph, export_scope, exclude_nodes)
    return mgd


def export_scoped_meta_graph(filename=None, graph_def=None, graph=None, export_scope=None, as_text=False,
                             unbound_inputs_col_name="unbound_inputs", clear_devices=False, saver_def=None,
                             clear_extraneous_savers=False, strip_default_attrs=False, save_debug_info=False,
                             meta_info_def=None, collection_list=None):
    """Returns ``(MetaGraphDef, {name: variable})``, writing ``filename`` if given."""
    graph = graph or ops.get_default_graph()
    exclude_nodes = None
    unbound_inputs = []
    if export_scope or clear_extraneous_savers or clear_devices:
        if graph_def is not None:
            src = graph_io._coerce(graph_def, protos.GraphDef)
        else:
            src = graph.as_graph_def(add_shapes=True)
        new = protos.GraphDef()
        new.versions.CopyFrom(src.versions)
        new.library.CopyFrom(src.library)
        if clear_extraneous_savers:
            exclude_nodes = _find_extraneous_saver_nodes(src, saver_def)
        for nd in src.node:
            if _should_include_node(nd.name, export_scope, exclude_nodes):
                new.node.add().CopyFrom(_node_def(nd, export_scope, unbound_inputs, clear_devices))
        graph_def = new
        if unbound_inputs_col_name:
            graph.clear_collection(unbound_inputs_col_name)
            for k in unbound_inputs:
                graph.add_to_collection(unbound_inputs_col_name, k)
    var_list = {}
    for v in graph.get_collection(GraphKeys.GLOBAL_VARIABLES, scope=export_scope):
        if _should_include_node(v, export_scope, exclude_nodes):
            var_list[ops.strip_name_scope(v.name, export_scope)] = v
    mgd = create_meta_graph_def(meta_info_def=meta_info_def, graph_def=graph_def, saver_def=saver_def,
                                collection_list=collection_list, graph=graph, export_scope=export_scope,
                                exclude_nodes=exclude_nodes, clear_extraneous_savers=clear_extraneous_savers,
                                strip_default_attrs=strip_default_attrs)
    if filename:
        graph_io.write_graph(mgd, os.path.dirname(filename), os.path.basename(filename), as_text=as_text)
    return mgd, var_list


def export_meta_graph(filename=None, meta_info_def=None, graph_def=None, saver_def=None, collection_list=None,
                      as_text=False, graph=None, export_scope=None, clear_devices=False,
                      clear_extraneous_savers=False, strip_default_attrs=False, save_debug_info=False, **kwargs):
    """``tf.train.export_meta_graph``: the ``MetaGraphDef`` of ``graph`` (default graph), written to
    ``filename`` when given (binary, or text with ``as_text``)."""
    mgd, _ = export_scoped_meta_graph(
        filename=filename, meta_info_def=meta_info_def, graph_def=graph_def, saver_def=saver_def,
        collection_list=collection_list, as_text=as_text, graph=graph, export_scope=export_scope,
        clear_devices=clear_devices, clear_extraneous_savers=clear_extraneous_savers,
        strip_default_attrs=strip_default_attrs, save_debug_info=save_debug_info, **kwargs)
    return mgd


# --- import ---------------------------------------------------------------------------------
def read_meta_graph_file(filename):
    """A ``MetaGraphDef`` from a binary or text ``.meta`` file.

    A missing file is an IOError (as in TF); unparsable bytes are a DataLossError naming the file."""
    filename = os.fspath(filename)
    if not os.path.exists(filename):
        raise IOError(f"File does not exist. Received: {filename}.")
    with open(filename, "rb") as f:
        data = f.read()
    return parse_meta_graph(data, filename)


def parse_meta_graph(data, filename="<bytes>"):
    graph_io.check_parse_size(data, filename)
    mgd = protos.MetaGraphDef()
    try:
        mgd.ParseFromString(data)
        return mgd
    except Exception as binary_error:  # noqa: BLE001 - fall back to text format, as TF does
        try:
            text = data.decode("utf-8")
            mgd = protos.MetaGraphDef()
            text_format.Merge(text, mgd)
            return mgd
        except (UnicodeDecodeError, text_format.ParseError) as e:
            detail = binary_error if isinstance(e, UnicodeDecodeError) else e
            raise errors.DataLossError(
                None, None, f"Cannot parse file {filename}: not a MetaGraphDef protocol buffer (binary or text): "
                            f"{detail}") from None


def _as_meta_graph_def(meta_graph_or_file):
    if isinstance(meta_graph_or_file, protos.MetaGraphDef):
        return meta_graph_or_file, "<MetaGraphDef>"
    if hasattr(meta_graph_or_file, "DESCRIPTOR"):
        return graph_io._coerce(meta_graph_or_file, protos.MetaGraphDef), "<MetaGraphDef>"
    return read_meta_graph_file(meta_graph_or_file), os.fspath(meta_graph_or_file)


def _version_at_least(v, minimum):
    try:
        parts = tuple(int(x) for x in v.split("-")[0].split(".")[:2])
    except ValueError:
        return True
    return parts >= minimum


def _restore_collections(graph, mgd, scope):
    tf_version = mgd.meta_info_def.tensorflow_version
    have_trainable = not tf_version or _version_at_least(tf_version, (1, 9))
    items = sorted(mgd.collection_def.items(), key=lambda kv: (kv[0] != GraphKeys.TRAINABLE_VARIABLES, kv[0]))
    variable_objects = {}
    for key, col in items:
        if key == "unbound_inputs":
            continue
        kind = col.WhichOneof("kind")
        if kind is None:
            _log.error("Cannot identify data type for collection %s. Skipping.", key)
            continue
        fns = _proto_functions.get(key)
        if fns is not None and fns[2] is not None and kind == "bytes_list":
            proto_type, _, from_proto = fns
            for value in col.bytes_list.value:
                if key in GraphKeys._VARIABLE_COLLECTIONS or key == GraphKeys.GLOBAL_STEP:
                    obj = variable_objects.get(value)
                    if obj is None:
                        proto = proto_type.FromString(value)
                        if not have_trainable:
                            proto.trainable = key == GraphKeys.TRAINABLE_VARIABLES
                        obj = variable_objects[value] = from_proto(proto, import_scope=scope)
                else:
                    obj = from_proto(proto_type.FromString(value), import_scope=scope)
                graph.add_to_collection(key, obj)
        elif kind == "node_list":
            for value in col.node_list.value:
                name = ops.prepend_name_scope(value, scope)
                try:
                    graph.add_to_collection(key, graph.as_graph_element(name))
                except (KeyError, ValueError) as e:
                    raise ValueError(f"collection '{key}' names '{value}', which is not in the graph: {e}") from None
        elif kind == "int64_list":
            for value in col.int64_list.value:
                graph.add_to_collection(key, int(value))
        elif kind == "bytes_list":
            for value in col.bytes_list.value:
                graph.add_to_collection(key, _prepend_bytes(value, scope))
        else:
            for value in getattr(col, kind).value:
                graph.add_to_collection(key, value)


def _prepend_bytes(value, scope):
    if not scope:
        return value
    try:
        return ops.prepend_name_scope(value.decode("utf-8"), scope)
    except UnicodeDecodeError:
        return value


def _check_saver_def_names(graph, saver_def, scope, filename):
    for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
        name = getattr(saver_def, field)
        if not name:
            continue
        full = ops.prepend_name_scope(name, scope)
        op_name = full.split(":")[0] if ":" in full else full
        if op_name not in graph._ops_by_name:
            raise ValueError(f"{filename}: saver_def.{field} names '{name}', which is not a node of the graph")


def import_scoped_meta_graph_with_return_elements(meta_graph_or_file, clear_devices=False, graph=None,
                                                  import_scope=None, input_map=None,
                                                  unbound_inputs_col_name="unbound_inputs",
                                                  restore_collections_predicate=lambda key: True,
                                                  return_elements=None, _with_saver=False):
    """Imports a meta graph into ``graph``: returns ``(var_list, return_elements)`` (and the saver with
    ``_with_saver``). All-or-nothing: if anything fails, the graph is as before."""
    mgd, filename = _as_meta_graph_def(meta_graph_or_file)
    graph = graph or ops.get_default_graph()
    if unbound_inputs_col_name and unbound_inputs_col_name in mgd.collection_def:
        col = mgd.collection_def[unbound_inputs_col_name]
        kind = col.WhichOneof("kind")
        vals = [v.decode() if isinstance(v, bytes) else v for v in getattr(col, kind).value] if kind else []
        if vals and (not input_map or sorted(vals) != sorted(input_map)):
            raise ValueError("Graph contains unbound inputs: %s. Must provide these inputs through input_map."
                             % ",".join(v for v in vals if not input_map or v not in input_map))
    snapshot = graph_io.snapshot_graph(graph)
    try:
        with graph.as_default():
            producer = mgd.meta_info_def.stripped_op_list if mgd.meta_info_def.HasField("stripped_op_list") else None
            scope = graph.unique_name(import_scope or "", mark_as_used=False)
            try:
                elements = graph_io.import_graph_def(
                    mgd.graph_def, input_map=input_map, return_elements=return_elements,
                    name=import_scope or scope, producer_op_list=producer, clear_devices=clear_devices)
            except ValueError as e:
                raise ValueError(f"{filename}: {e}") from None
            col_defs = mgd.collection_def
            if restore_collections_predicate is not None:
                kept = protos.MetaGraphDef()
                for k, v in col_defs.items():
                    if restore_collections_predicate(k):
                        kept.collection_def[k].CopyFrom(v)
                kept.meta_info_def.tensorflow_version = mgd.meta_info_def.tensorflow_version
                sub = kept
            else:
                sub = mgd
            _restore_collections(graph, sub, scope)
            var_list = {}
            for v in graph.get_collection(GraphKeys.GLOBAL_VARIABLES, scope=scope or None):
                var_list[ops.strip_name_scope(v.name, scope)] = v
            saver = None
            if _with_saver:
                saver = _create_saver(graph, mgd, import_scope, var_list, filename)
    except BaseException:
        graph_io.restore_graph(graph, snapshot)
        raise
    if _with_saver:
        return var_list, elements, saver
    return var_list, elements


def import_scoped_meta_graph(meta_graph_or_file, clear_devices=False, graph=None, import_scope=None,
                             input_map=None, unbound_inputs_col_name="unbound_inputs",
                             restore_collections_predicate=lambda key: True):
    return import_scoped_meta_graph_with_return_elements(
        meta_graph_or_file, clear_devices, graph, import_scope, input_map, unbound_inputs_col_name,
        restore_collections_predicate)[0]


def _create_saver(graph, mgd, import_scope, var_list, filename):
    from deferflow.training.saver import Saver
    if mgd.HasField("saver_def"):
        scope = import_scope
        if var_list:  # the scope actually used (a taken import_scope was uniquified)
            key = next(iter(var_list))
            scope = var_list[key].name[:-len(key)]
        scope = scope.rstrip("/") if scope else scope
        _check_saver_def_names(graph, mgd.saver_def, scope, filename)
        return Saver(saver_def=mgd.saver_def, name=scope or None)
    if graph.get_collection(GraphKeys.GLOBAL_VARIABLES, scope=import_scope) or \
            graph.get_collection(GraphKeys.SAVEABLE_OBJECTS, scope=import_scope):
        return Saver()
    _log.info("Saver not created because there are no variables in the graph to restore")
    return None


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None, input_map=None,
                      return_elements=None, **kwargs):
    """``tf.train.import_meta_graph``: appends the meta graph's graph and collections to the default graph
    and returns a ``Saver`` built from its ``SaverDef`` (None when it has none and there are no variables).

    Device strings are kept on the nodes and never stop execution. On any error the default graph is
    left untouched."""
    _, _, saver = import_scoped_meta_graph_with_return_elements(
        meta_graph_or_file, clear_devices=clear_devices, import_scope=import_scope, input_map=input_map,
        return_elements=return_elements, _with_saver=True, **kwargs)
    return saver
