"""The one translation between in-memory graphs and TensorFlow's messages.

Attr values <-> ``AttrValue``, arrays <-> ``TensorProto``, shapes <-> ``TensorShapeProto``,
``Operation`` -> ``NodeDef``, ``Graph`` <-> ``GraphDef`` (``import_graph_def``), ``Variable`` -> ``VariableDef``.
Import is all-or-nothing: every node is built and checked off-graph, then committed in one step.
"""
import gc
import heapq

import numpy as np

from deferflow.formats import dtypes as fmt_dtypes
from deferflow.formats import protos
from deferflow.framework import dtypes, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.tensor_shape import TensorShape

AttrValue = protos.AttrValue
TensorProto = protos.TensorProto
_BY_ENUM = dtypes._BY_ENUM


# --- shapes -------------------------------------------------------------------------------
def _shape(dims):
    s = TensorShape.__new__(TensorShape)
    s._dims = dims
    return s


_UNKNOWN = _shape(None)


def shape_from_proto(sp):
    if sp.unknown_rank:
        return _UNKNOWN
    return _shape(tuple(None if d.size < 0 else d.size for d in sp.dim))


def shape_to_proto(shape, target=None):
    sp = protos.TensorShapeProto() if target is None else target
    sp.SetInParent()  # a scalar shape has no fields but must still be present (e.g. an attr's shape {})
    shape = ts.as_shape(shape)
    if shape._dims is None:
        sp.unknown_rank = True
    else:
        for d in shape._dims:
            sp.dim.add().size = -1 if d is None else d
    return sp


# --- tensors ------------------------------------------------------------------------------
# TensorProto's typed value field per DataType; half_val holds float16/bfloat16 bit patterns.
_VAL_FIELD = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
              7: "string_val", 8: "scomplex_val", 9: "int64_val", 10: "bool_val", 11: "int_val",
              12: "int_val", 13: "int_val", 14: "half_val", 15: "int_val", 16: "int_val", 17: "int_val",
              18: "dcomplex_val", 19: "half_val", 20: "resource_handle_val", 21: "variant_val",
              22: "uint32_val", 23: "uint64_val"}
_NO_CONTENT = frozenset([7, 8, 10, 17, 18, 20, 21])  # TF writes these as typed values, never tensor_content
_SPLAT_CHECK_MIN = 1024  # from this size, uniform arrays are written in TF's one-value form


def _np_dtype(enum):
    try:
        return fmt_dtypes.numpy_for_enum(enum)
    except KeyError:
        raise ValueError(f"Cannot convert a tensor of type {_enum_name(enum)} to a NumPy array") from None


def _enum_name(enum):
    try:
        return protos.DataType.Name(enum)
    except ValueError:
        return f"DataType({enum})"


def tensor_from_proto(tp):
    """A read-only NumPy array (object array of bytes for strings) from a ``TensorProto``."""
    enum = tp.dtype
    if enum > 100:
        enum -= 100
    shape = tuple(d.size for d in tp.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise ValueError(f"TensorProto has a negative dimension in shape {list(shape)}")
    n = 1
    for d in shape:
        n *= d
    if enum in (20, 21):  # resource handles / variants have no NumPy form: keep the messages
        vals = tp.resource_handle_val if enum == 20 else tp.variant_val
        out = np.empty(len(vals), dtype=object)
        out[:] = list(vals)
        return _readonly(out.reshape(shape) if len(vals) == n else out)
    npd = _np_dtype(enum)
    content = tp.tensor_content
    if content:
        if enum == 7:
            raise ValueError("string tensors cannot use tensor_content")
        if len(content) != n * npd.itemsize:
            raise ValueError(f"TensorProto tensor_content holds {len(content)} bytes, but shape {list(shape)} "
                             f"of {_enum_name(enum)} needs {n * npd.itemsize}")
        return np.frombuffer(content, dtype=npd).reshape(shape)
    field = _VAL_FIELD[enum]
    vals = getattr(tp, field)
    count = len(vals)
    if enum == 7:
        arr = np.empty(count, dtype=object)
        arr[:] = list(vals)
    elif enum in (8, 18):
        flat = np.array(vals, dtype=np.float32 if enum == 8 else np.float64)
        if flat.size % 2:
            raise ValueError("complex TensorProto holds an odd number of values")
        arr = flat.view(npd)
        count = arr.size
    elif field == "half_val":
        arr = np.array(vals, dtype=np.int32).astype(np.uint16).view(npd)
    else:
        arr = np.array(vals, dtype=npd) if count else np.zeros(0, npd)
    if count == n:
        return _readonly(arr.reshape(shape))
    if count > n:
        raise ValueError(f"TensorProto holds {count} values but shape {list(shape)} has {n} elements")
    # Fewer values than elements: the last value repeats (TF's compact splat form); none means zeros.
    fill = arr[-1] if count else (b"" if enum == 7 else np.zeros((), npd))
    if count <= 1:  # a zero-copy view; export recognises it and writes the compact form again
        return np.broadcast_to(np.asarray(fill, dtype=npd), shape)
    out = np.empty(n, dtype=npd)
    out[:count] = arr
    out[count:] = fill
    return _readonly(out.reshape(shape))


def _readonly(arr):
    arr.flags.writeable = False
    return arr


def _is_splat(arr):
    """A broadcast view (as imported from a one-value TensorProto), or a large array whose elements are all
    bitwise equal (-0.0 and NaN payloads kept): both are written in TF's compact one-value form."""
    if arr.size < 2:
        return False
    if not any(arr.strides):
        return True
    if arr.size < _SPLAT_CHECK_MIN or arr.dtype.kind == "O" or arr.dtype.itemsize not in (1, 2, 4, 8):
        return False
    flat = np.ascontiguousarray(arr).reshape(-1).view(f"u{arr.dtype.itemsize}")
    return bool(flat[0] == flat[-1] and (flat == flat[0]).all())


def tensor_to_proto(value, dtype=None, target=None):
    """A ``TensorProto`` for an array: ``tensor_content`` for numeric data, typed values for
    strings, bools and single values (as TF's make_tensor_proto writes them), splats compacted."""
    tp = TensorProto() if target is None else target
    arr = np.asarray(value)
    if dtype is not None:
        dt = dtypes.as_dtype(dtype).base_dtype
    elif arr.dtype.kind in "SUO":
        dt = dtypes.string
    else:
        dt = dtypes.from_numpy(arr.dtype)
    enum = dt.as_datatype_enum
    tp.dtype = enum
    tp.tensor_shape.SetInParent()  # TF always writes the shape, even a scalar's
    for d in arr.shape:
        tp.tensor_shape.dim.add().size = d
    if enum in (20, 21):
        field = getattr(tp, _VAL_FIELD[enum])
        for v in arr.reshape(-1):
            field.add().CopyFrom(v)
        return tp
    if enum == 7:
        flat = arr.reshape(-1)[:1] if _is_splat(arr) else arr.reshape(-1)
        tp.string_val.extend(v if isinstance(v, bytes) else str(v).encode("utf-8", "surrogateescape")
                             for v in flat.tolist())
        return tp
    npd = _np_dtype(enum)
    if arr.dtype != npd:
        arr = arr.astype(npd)
    if arr.size > 1 and _is_splat(arr):
        arr = arr.reshape(-1)[:1]
    elif arr.size > 1 and enum not in _NO_CONTENT:
        if arr.nbytes >= 1 << 31:
            raise ValueError("Cannot create a tensor proto whose content is larger than 2GB.")
        tp.tensor_content = np.ascontiguousarray(arr).tobytes()
        return tp
    field = _VAL_FIELD[enum]
    flat = arr.reshape(-1)
    if field == "half_val":
        tp.half_val.extend(flat.view(np.uint16).tolist())
    elif enum in (8, 18):
        getattr(tp, field).extend(flat.view(np.float32 if enum == 8 else np.float64).tolist())
    else:
        getattr(tp, field).extend(flat.tolist())
    return tp


def make_tensor_proto(values, dtype=None, shape=None, verify_shape=False, allow_broadcast=False):
    """``tf.make_tensor_proto``."""
    from deferflow.ops import array_ops
    arr, dt = array_ops._to_numpy(values, dtype)
    if shape is not None:
        shape = [int(d) for d in shape]
        if verify_shape and list(arr.shape) != shape:
            raise TypeError(f"Expected Tensor's shape: {tuple(shape)}, got {arr.shape}.")
        arr = np.broadcast_to(arr, shape) if arr.size == 1 or allow_broadcast else arr.reshape(shape)
    return tensor_to_proto(arr, dt)


def make_ndarray(tensor):
    """``tf.make_ndarray``: a writable copy of a ``TensorProto``'s value."""
    return np.array(tensor_from_proto(_coerce(tensor, TensorProto)))


# --- attr values ---------------------------------------------------------------------------
_SCALAR_KIND = {"s": "string", "i": "int", "f": "float", "b": "bool", "type": "type", "shape": "shape",
                "tensor": "tensor", "func": "func", "placeholder": "placeholder"}
_LIST_FIELDS = (("s", "string"), ("i", "int"), ("f", "float"), ("b", "bool"), ("type", "type"),
                ("shape", "shape"), ("tensor", "tensor"), ("func", "func"))
_KIND_FIELD = {k: f for f, k in _LIST_FIELDS}


class AttrTypeError(ValueError):
    pass


def _decode(b):
    return b.decode("utf-8", "surrogateescape")


def _scalar_from(kind, v):
    if kind == "string":
        return _decode(v)
    if kind == "type":
        return _BY_ENUM[v]
    if kind == "shape":
        return shape_from_proto(v)
    if kind == "tensor":
        return tensor_from_proto(v)
    if kind == "func":
        out = protos.NameAttrList()
        out.CopyFrom(v)
        return out
    return v


def attr_value_from_proto(av, kind=None):
    """The graph's Python form of an ``AttrValue``; ``kind`` (an OpDef attr type) is checked when given."""
    which = av.WhichOneof("value")
    if which == "list":
        lv = av.list
        if kind is not None and kind.startswith("list("):
            ek = kind[5:-1]
            field = _KIND_FIELD.get(ek)
            vals = getattr(lv, field) if field else ()
            if not vals:
                for f, k in _LIST_FIELDS:
                    if f != field and len(getattr(lv, f)):
                        raise AttrTypeError(f"AttrValue had value with type 'list({k})' when '{kind}' expected")
                return []
        else:
            ek = None
            for f, k in _LIST_FIELDS:
                vals = getattr(lv, f)
                if len(vals):
                    ek = k
                    break
            if kind is not None:
                raise AttrTypeError(f"AttrValue had value with type 'list({ek or ''})' when '{kind}' expected")
            if ek is None:
                return []
        if ek in ("int", "float", "bool"):
            return list(vals)
        if ek == "type":
            return [_BY_ENUM[v] for v in vals]
        return [_scalar_from(ek, v) for v in vals]
    if which is None:
        if kind is not None and kind.startswith("list"):
            return []
        raise AttrTypeError("AttrValue has no value set" + (f" when '{kind}' expected" if kind else ""))
    k = _SCALAR_KIND[which]
    if kind is not None and kind != k:
        if not (k == "string" and kind == "placeholder"):
            raise AttrTypeError(f"AttrValue had value with type '{k}' when '{kind}' expected")
    v = getattr(av, which)
    if k == "type" and v not in _BY_ENUM:
        raise AttrTypeError(f"AttrValue has unknown DataType {v}")
    return _scalar_from(k, v)


def _infer_kind(value):
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, (str, bytes)):
        return "string"
    if isinstance(value, dtypes.DType):
        return "type"
    if isinstance(value, TensorShape):
        return "shape"
    if isinstance(value, np.ndarray):
        return "tensor"
    if isinstance(value, (list, tuple)):
        return f"list({_infer_kind(value[0])})" if len(value) else "list(int)"
    if hasattr(value, "DESCRIPTOR") and value.DESCRIPTOR.name == "NameAttrList":
        return "func"
    if hasattr(value, "DESCRIPTOR") and value.DESCRIPTOR.name == "AttrValue":
        return "attr_value"
    raise TypeError(f"Cannot convert attr value {value!r} of type {type(value).__name__} to an AttrValue")


def _bytes(v):
    return v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape")


def attr_value_to_proto(value, kind=None, target=None, tensor_dtype=None):
    """An ``AttrValue`` for a Python attr value (kind inferred from the value when not given)."""
    av = AttrValue() if target is None else target
    if kind is None or kind == "placeholder":
        kind = _infer_kind(value)
    if kind == "attr_value":
        av.CopyFrom(value)
    elif kind == "string":
        av.s = _bytes(value)
    elif kind == "int":
        av.i = int(value)
    elif kind == "float":
        av.f = float(value)
    elif kind == "bool":
        av.b = bool(value)
    elif kind == "type":
        av.type = dtypes.as_dtype(value).as_datatype_enum
    elif kind == "shape":
        shape_to_proto(value, av.shape)
    elif kind == "tensor":
        tensor_to_proto(value, tensor_dtype, av.tensor)
    elif kind == "func":
        if isinstance(value, str):
            av.func.name = value
        else:
            av.func.CopyFrom(_coerce(value, protos.NameAttrList))
    elif kind.startswith("list("):
        lv = av.list
        ek = kind[5:-1]
        lv.SetInParent()
        if ek == "string":
            lv.s.extend(_bytes(v) for v in value)
        elif ek == "int":
            lv.i.extend(int(v) for v in value)
        elif ek == "float":
            lv.f.extend(float(v) for v in value)
        elif ek == "bool":
            lv.b.extend(bool(v) for v in value)
        elif ek == "type":
            lv.type.extend(dtypes.as_dtype(v).as_datatype_enum for v in value)
        elif ek == "shape":
            for v in value:
                shape_to_proto(v, lv.shape.add())
        elif ek == "tensor":
            for v in value:
                tensor_to_proto(v, None, lv.tensor.add())
        elif ek == "func":
            for v in value:
                lv.func.add().CopyFrom(_coerce(v, protos.NameAttrList))
        else:
            raise TypeError(f"Unknown attr kind {kind!r}")
    else:
        raise TypeError(f"Unknown attr kind {kind!r}")
    return av


def _coerce(msg, cls):
    """Our message class for a message of the same schema (e.g. one built by real TensorFlow)."""
    if isinstance(msg, cls):
        return msg
    if isinstance(msg, (bytes, bytearray)):
        return cls.FromString(bytes(msg))
    if hasattr(msg, "SerializeToString") and msg.DESCRIPTOR.name == cls.DESCRIPTOR.name:
        return cls.FromString(msg.SerializeToString())
    raise TypeError(f"Expected a {cls.DESCRIPTOR.name} proto, got {type(msg).__name__}")


# --- export -------------------------------------------------------------------------------
def _fill_node_def(nd, op, add_shapes=False, strip_default_attrs=False):
    nd.name = op._name
    nd.op = op._type
    if op._device:
        nd.device = op._device
    nd.input.extend([t._as_node_def_input() for t in op._inputs] + ["^" + c._name for c in op._control_inputs])
    od = op._op_def
    specs = od.attrs if od is not None else {}
    attr_map = nd.attr
    for k, v in op._attrs.items():
        if add_shapes and k == "_output_shapes":
            continue  # recomputed below from the tensors' shapes
        spec = specs.get(k)
        if strip_default_attrs and spec is not None and spec.has_default and _attr_equal(v, spec.default):
            continue
        kind = spec.type if spec is not None else None
        tdt = op._attrs.get("dtype") if kind == "tensor" and op._type == "Const" else None
        attr_value_to_proto(v, kind, attr_map[k], tdt)
    if add_shapes and op._outputs:
        lv = attr_map["_output_shapes"].list
        for t in op._outputs:
            shape_to_proto(t._shape, lv.shape.add())
    return nd


def _attr_equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def node_def_from_op(op, add_shapes=False):
    """The ``NodeDef`` of an ``Operation`` (what ``op.node_def`` returns)."""
    return _fill_node_def(protos.NodeDef(), op, add_shapes)


def graph_to_graph_def(graph, add_shapes=False, strip_default_attrs=False, ops_subset=None):
    """The ``GraphDef`` of a graph: nodes in creation order, TF's versions."""
    gd = protos.GraphDef()
    nodes = gd.node
    for op in graph._ops if ops_subset is None else ops_subset:
        _fill_node_def(nodes.add(), op, add_shapes, strip_default_attrs)
    gd.versions.CopyFrom(graph.graph_def_versions)
    lib = graph._extra.get("function_library")
    if lib is not None:
        gd.library.CopyFrom(lib)
    if graph._extra.get(FUNCTIONS_KEY):
        add_function_library(gd, graph, graph._ops if ops_subset is None else ops_subset)
    return gd


def variable_to_proto(var, export_scope=None):
    """The ``VariableDef`` of a ref or resource variable (None if it lies outside ``export_scope``)."""
    if export_scope and not var.name.startswith(export_scope):  # TF's own check is by prefix
        return None
    vd = protos.VariableDef()
    vd.variable_name = ops.strip_name_scope(var._variable.name, export_scope)
    if getattr(var, "_initial_value", None) is not None:
        vd.initial_value_name = ops.strip_name_scope(var._initial_value.name, export_scope)
    vd.trainable = bool(var.trainable)
    vd.initializer_name = ops.strip_name_scope(var.initializer.name, export_scope)
    snapshot = getattr(var, "_snapshot", None)
    if snapshot is not None:
        vd.snapshot_name = ops.strip_name_scope(snapshot.name, export_scope)
    vd.is_resource = bool(getattr(var, "_is_resource", False))
    for field in ("synchronization", "aggregation"):
        v = getattr(var, "_" + field, None)
        if v is not None:
            setattr(vd, field, int(getattr(v, "value", v)))
    info = var._get_save_slice_info() if hasattr(var, "_get_save_slice_info") else None
    if info is not None:
        vd.save_slice_info_def.MergeFrom(info.to_proto(export_scope=export_scope))
    return vd


# --- import -------------------------------------------------------------------------------
def _split_input(s):
    """'^a' -> ('a', -1); 'a:2' -> ('a', 2); 'a' -> ('a', 0)."""
    if s[:1] == "^":
        return s[1:], -1
    name, sep, idx = s.rpartition(":")
    if sep and idx.isdigit():
        return name, int(idx)
    return s, 0


def op_def_from_proto(opp):
    """A signature-only registry ``OpDef`` from an ``OpDef`` proto (a type deferflow lacks)."""
    attrs = {}
    for a in opp.attr:
        default = op_registry._NO_DEFAULT
        if a.HasField("default_value"):
            try:
                default = attr_value_from_proto(a.default_value, a.type)
            except (AttrTypeError, KeyError, ValueError):
                default = op_registry._NO_DEFAULT
        allowed = None
        if a.HasField("allowed_values"):
            try:
                allowed = attr_value_from_proto(a.allowed_values, "list(type)" if a.type.endswith("type)")
                                                or a.type == "type" else "list(string)")
            except (AttrTypeError, KeyError, ValueError):
                allowed = None
        attrs[a.name] = op_registry.AttrSpec(a.name, a.type, default, allowed,
                                             a.minimum if a.has_minimum else None)

    def arg(p):
        return op_registry.ArgSpec(p.name, dtype=_BY_ENUM.get(p.type) if p.type else None,
                                   type_attr=p.type_attr or None, number_attr=p.number_attr or None,
                                   type_list_attr=p.type_list_attr or None, is_ref=p.is_ref)
    od = op_registry.OpDef(opp.name, [arg(p) for p in opp.input_arg], [arg(p) for p in opp.output_arg],
                           attrs, opp.is_stateful)
    od.from_graph = True
    od._proto = opp  # re-exported as-is in stripped_op_list
    return od


def register_op_list(op_list):
    """Registers signature-only OpDefs for the op types of ``op_list`` deferflow does not know."""
    added = []
    for opp in op_list.op:
        if op_registry.get(opp.name) is None:
            od = op_def_from_proto(opp)
            op_registry._REGISTRY[opp.name] = od
            added.append(od)
    return added


def expected_input_dtypes(op_def, attrs):
    """[(DType, is_ref)] for the inputs of a node with these attrs."""
    out = []
    for arg in op_def.inputs:
        if arg.type_list_attr:
            out.extend((t, arg.is_ref) for t in attrs[arg.type_list_attr])
            continue
        t = arg.dtype if arg.dtype is not None else attrs[arg.type_attr]
        n = attrs[arg.number_attr] if arg.number_attr else 1
        out.extend([(t, arg.is_ref)] * n)
    return out


def _tf_type_name(dtype, ref=False):
    """TF's DataTypeString: float, double, half, int32, float_ref ..."""
    name = _enum_name(dtype.as_datatype_enum)[3:].lower()
    return name + "_ref" if ref and not name.endswith("_ref") else name


def _op_signature(op_def):
    return (f"Op<name={op_def.name}; signature=" + ", ".join(_arg_str(a) for a in op_def.inputs) + " -> "
            + ", ".join(_arg_str(a) for a in op_def.outputs) + "; attr="
            + ", ".join(f"{k}:{s.type}" for k, s in op_def.attrs.items()) + ">")


def _arg_str(a):
    t = a.dtype.name if a.dtype is not None else (a.type_attr or a.type_list_attr)
    if a.number_attr:
        t = f"{a.number_attr}*{t}"
    return f"{a.name}:{'Ref(' + t + ')' if a.is_ref else t}"


class _Node:
    __slots__ = ("nd", "name", "type", "inputs", "device", "attrs", "op_def", "index", "new_name", "op",
                 "n_out", "out_dtypes")


def _err(node_name, msg):
    return ValueError(f"Node '{node_name}': {msg}" if node_name else msg)


def _parse_nodes(graph_def, clear_devices=False):
    nodes = []
    by_name = {}
    for i, nd in enumerate(graph_def.node):
        n = _Node()
        n.nd = nd
        n.name = nd.name
        n.type = nd.op
        n.index = i
        n.device = "" if clear_devices else nd.device
        n.inputs = [_split_input(s) for s in nd.input]
        n.op = None
        n.out_dtypes = None
        if not n.name:
            raise ValueError(f"Node {i} of the GraphDef has no name")
        if n.name in by_name:
            raise ValueError(f"Node '{n.name}' is not unique")
        by_name[n.name] = n
        nodes.append(n)
    return nodes, by_name


def _convert_attrs(n, op_def):
    attrs = {}
    specs = op_def.attrs if op_def is not None else None
    for k, av in n.nd.attr.items():
        spec = specs.get(k) if specs is not None else None
        try:
            attrs[k] = attr_value_from_proto(av, spec.type if spec is not None else None)
        except AttrTypeError as e:
            raise ValueError(f"{e}\n\t for attr '{k}'\n\t; NodeDef: {{{{node {n.name}}}}}"
                             + (f"; {_op_signature(op_def)}" if op_def is not None else "")) from None
        except (KeyError, ValueError) as e:
            raise ValueError(f"Node '{n.name}': invalid value for attr '{k}': {e}") from None
    if specs is not None:
        for k, spec in specs.items():
            if k not in attrs:
                if spec.has_default:
                    attrs[k] = spec.default
                elif not getattr(op_def, "inferred", False):
                    raise ValueError(f"NodeDef missing attr '{k}' from {_op_signature(op_def)}; "
                                     f"NodeDef: {{{{node {n.name}}}}}")
    return attrs


def _topo_order(nodes, by_name, mapped_sources):
    """Creation order: the GraphDef's own order when it is topological (TF writes it so), else Kahn's
    algorithm keeping file order among ready nodes. Loop back edges (NextIteration -> Merge) are skipped."""
    deps = []
    in_order = True
    for n in nodes:
        d = []
        for src, idx in n.inputs:
            if (src, idx) in mapped_sources:
                continue
            m = by_name.get(src)
            if m is None:
                raise _err(n.name, f"Unknown input node '{'^' if idx < 0 else ''}{src}"
                                   f"{':' + str(idx) if idx > 0 else ''}'")
            if n.type in ("Merge", "RefMerge") and m.type in ("NextIteration", "RefNextIteration"):
                continue
            d.append(m.index)
            if m.index >= n.index:
                in_order = False
        deps.append(d)
    if in_order:
        return nodes
    indeg = [len(set(d)) for d in deps]
    users = [[] for _ in nodes]
    for i, d in enumerate(deps):
        for j in set(d):
            users[j].append(i)
    ready = [i for i, k in enumerate(indeg) if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        stuck = [nodes[i].name for i, k in enumerate(indeg) if k > 0]
        raise ValueError(f"{len(stuck)} nodes in a cycle: " + ", ".join(stuck[:10]) + (" ..." if len(stuck) > 10 else ""))
    return order


def _infer_unknown_outputs(nodes, by_name):
    """For op types with no OpDef at all (bare GraphDef): outputs counted and typed from their consumers."""
    need = {}
    for n in nodes:
        if n.op_def is None or getattr(n.op_def, "inferred", False):
            need[n.name] = {}
    if not need:
        return
    for n in nodes:
        expected = None
        for pos, (src, idx) in enumerate(n.inputs):
            slots = need.get(src)
            if slots is None or idx < 0:
                continue
            if expected is None:
                expected = []
                if n.op_def is not None and not getattr(n.op_def, "inferred", False):
                    try:
                        expected = expected_input_dtypes(n.op_def, n.attrs)
                    except (KeyError, TypeError):
                        expected = []
            dt = expected[pos][0] if pos < len(expected) else None
            if dt is not None or idx not in slots:
                slots[idx] = dt
    for name, slots in need.items():
        n = by_name[name]
        fallback = None
        for key in ("T", "dtype", "out_type", "DstT"):
            v = n.attrs.get(key)
            if isinstance(v, dtypes.DType):
                fallback = v
                break
        count = max(slots) + 1 if slots else 0
        shapes = n.attrs.get("_output_shapes")
        if isinstance(shapes, list):
            count = max(count, len(shapes))
        n.out_dtypes = [slots.get(i) or fallback or dtypes.float32 for i in range(count)]


def _register_inferred(n):
    """A signature-only OpDef for a bare GraphDef's unknown type, so register_kernel can target it."""
    od = op_registry.get(n.type)
    if od is None:
        ins = [op_registry.ArgSpec(f"input_{i}", dtype=dtypes.float32) for i, (_, k) in enumerate(n.inputs)
               if k >= 0]
        outs = [op_registry.ArgSpec(f"output_{i}", dtype=t) for i, t in enumerate(n.out_dtypes)]
        attrs = {k: op_registry.AttrSpec(k, _infer_kind(v)) for k, v in n.attrs.items() if not k.startswith("_")}
        od = op_registry.OpDef(n.type, ins, outs, attrs, is_stateful=True)
        od.from_graph = True
        od.inferred = True
        op_registry._REGISTRY[n.type] = od
    return od


def _set_shapes(op, n, output_shapes):
    od = op._op_def
    shapes = None
    if od is not None and od.shape_fn is not None:
        try:
            shapes = od.shape_fn(op)
        except ValueError as e:
            raise ValueError(f"{e} for '{{{{node {op._name}}}}} = {op._type}[...]' with input shapes: "
                             + ", ".join(str(t._shape) for t in op._inputs) + ".") from None
        except Exception:  # an incomplete shape function must not block importing a valid graph
            shapes = None
    if shapes is None:
        shapes = output_shapes if isinstance(output_shapes, list) else None
    elif isinstance(output_shapes, list) and len(output_shapes) == len(shapes):
        # the producer's recorded shapes refine ours where we know less (TF's shape refiner does the same)
        merged = []
        for s, r in zip(shapes, output_shapes):
            s = s if isinstance(s, TensorShape) else TensorShape(s)
            try:
                merged.append(s.merge_with(r) if s._dims is None or None in s._dims else s)
            except ValueError:
                merged.append(s)
        shapes = merged
    if shapes:
        for t, s in zip(op._outputs, shapes):
            t._shape = s if isinstance(s, TensorShape) else TensorShape(s)


def import_graph_def(graph_def, input_map=None, return_elements=None, name=None, op_dict=None,
                     producer_op_list=None, graph=None, clear_devices=False):
    """``tf.import_graph_def``: adds the nodes of ``graph_def`` to the default graph under prefix ``name``
    (default ``"import"``; ``""`` for none). All-or-nothing: on error the graph is left untouched."""
    graph_def = _coerce(graph_def, protos.GraphDef)
    g = graph or ops.get_default_graph()
    input_map = dict(input_map or {})
    for k, v in input_map.items():
        if not isinstance(k, str):
            raise TypeError(f"input_map keys must be strings, got {k!r}")
    if return_elements is not None:
        return_elements = list(return_elements)
        for r in return_elements:
            if not isinstance(r, str):
                raise TypeError(f"return_elements must be a list of strings, got {r!r}")
    if producer_op_list is not None:
        register_op_list(_coerce(producer_op_list, protos.OpList))
    names_before = dict(g._names_in_use)  # a failed import must not even take its scope name
    try:
        return _import_in_scope(g, graph_def, input_map, return_elements, name, clear_devices)
    except BaseException:
        g._names_in_use.clear()
        g._names_in_use.update(names_before)
        raise


def _import_in_scope(g, graph_def, input_map, return_elements, name, clear_devices):
    with g.as_default():
        values = [v for v in input_map.values()]
        with ops.name_scope(name, "import", values) as scope:
            prefix = scope[:-1] if scope else ""
            mapped = {}
            for k, v in input_map.items():
                if k[:1] == "^":
                    mapped[(k[1:], -1)] = g.as_graph_element(v, allow_tensor=False, allow_operation=True) \
                        if not isinstance(v, ops.Operation) else v
                else:
                    src, idx = _split_input(k)
                    t = ops.convert_to_tensor(v)
                    if t.graph is not g:
                        raise ValueError(f"input_map value for {k!r} is not in the default graph: {t}")
                    mapped[(src, idx)] = t
            gc_enabled = gc.isenabled()
            gc.disable()  # bulk creation of acyclic-ish objects: collector passes would only cost time
            try:
                return _import(g, graph_def, mapped, return_elements, prefix, clear_devices)
            finally:
                if gc_enabled:
                    gc.enable()


def _import(g, graph_def, mapped, return_elements, prefix, clear_devices):
    nodes, by_name = _parse_nodes(graph_def, clear_devices)
    if mapped:
        used = {i for n in nodes for i in n.inputs}
        missing = [k for k in mapped if k not in used and k[0] not in by_name]
        if missing:
            raise ValueError("Attempted to map inputs that were not found in graph_def: ["
                             + ", ".join('^' + s if i < 0 else f'{s}:{i}' for s, i in missing) + "]")
    for n in nodes:
        n.op_def = op_registry.get(n.type)
        n.attrs = _convert_attrs(n, n.op_def)
    _infer_unknown_outputs(nodes, by_name)
    order = _topo_order(nodes, by_name, mapped)

    # names: prefixed, uniquified against the graph and each other (TF's uniquify_names)
    taken = g._ops_by_name
    wanted = {f"{prefix}/{n.name}" for n in nodes} if prefix else by_name
    used_here = set()
    for n in nodes:
        new = f"{prefix}/{n.name}" if prefix else n.name
        if new in taken or new in used_here:
            base, i = new, 1
            while f"{base}_{i}" in taken or f"{base}_{i}" in used_here or f"{base}_{i}" in wanted:
                i += 1
            new = f"{base}_{i}"
        used_here.add(new)
        n.new_name = new

    back_edges = []
    Operation = ops.Operation
    for n in order:
        inputs, ctrl = [], []
        od = n.op_def
        for pos, (src, idx) in enumerate(n.inputs):
            if idx < 0:
                m = mapped.get((src, -1))
                if m is None:
                    m = by_name[src].op
                    if m is None:  # control edge from a loop back edge
                        raise _err(n.name, f"control input '^{src}' forms a cycle")
                if m not in ctrl:
                    ctrl.append(m)
                continue
            if ctrl:
                raise _err(n.name, "control inputs must come after regular inputs")
            t = mapped.get((src, idx))
            if t is None:
                m = by_name[src]
                if m.op is None:  # back edge into a Merge: patched once its source exists
                    back_edges.append((n, len(inputs), m, idx))
                    inputs.append(None)
                    continue
                outs = m.op._outputs
                if idx >= len(outs):
                    raise _err(n.name, f"Connecting to invalid output {idx} of source node {src} which has "
                                       f"{len(outs)} outputs.")
                t = outs[idx]
            inputs.append(t)
        if od is None:
            od = n.op_def = _register_inferred(n)
            out_dtypes = n.out_dtypes
        elif getattr(od, "inferred", False):
            out_dtypes = n.out_dtypes
            if out_dtypes is None:
                out_dtypes = [a.dtype for a in od.outputs]
        else:
            try:
                out_dtypes = op_registry.output_dtypes(od, n.attrs)
                expected = expected_input_dtypes(od, n.attrs)
            except (KeyError, TypeError) as e:
                raise _err(n.name, f"cannot type outputs of {n.type} from its attrs ({e})") from None
            if len(expected) != len(inputs):
                raise ValueError(f"NodeDef expected inputs '{', '.join(_tf_type_name(t, r) for t, r in expected)}' do not "
                                 f"match {len(inputs)} inputs specified; {_op_signature(od)}; NodeDef: "
                                 f"{{{{node {n.new_name}}}}}")
            for i, (t, (want, is_ref)) in enumerate(zip(inputs, expected)):
                if t is None:
                    continue
                have = t._dtype
                if have.base_dtype is not want.base_dtype or (is_ref and not have.is_ref_dtype):
                    raise ValueError(f"Input {i} of node {n.new_name} was passed {_tf_type_name(have)} from "
                                     f"{t.name} incompatible with expected {_tf_type_name(want, is_ref)}.")
        attrs = n.attrs
        cls = attrs.get("_class")
        if cls and isinstance(cls, list):
            attrs["_class"] = [_remap_loc(s, by_name, prefix) for s in cls]
        op = Operation(g, n.new_name, n.type, inputs, attrs, out_dtypes, ctrl, n.device, od)
        n.op = op
        if None not in inputs:
            _set_shapes(op, n, attrs.get("_output_shapes"))
    for n, pos, m, idx in back_edges:
        outs = m.op._outputs
        if idx >= len(outs):
            raise _err(n.name, f"Connecting to invalid output {idx} of source node {m.name} which has "
                               f"{len(outs)} outputs.")
        n.op._inputs[pos] = outs[idx]
        _set_shapes(n.op, n, n.attrs.get("_output_shapes"))

    results = None
    if return_elements is not None:
        results = []
        for r in return_elements:
            if ":" in r:
                src, idx = _split_input(r)
                m = by_name.get(src)
                if m is None or idx >= len(m.op._outputs):
                    raise ValueError(f"Requested return tensor '{r}' not found in graph def")
                results.append(m.op._outputs[idx])
            else:
                m = by_name.get(r)
                if m is None:
                    raise ValueError(f"Requested return node '{r}' not found in graph def")
                results.append(m.op)

    # the importing scope's control dependencies and device apply to every imported op, as in TF
    scope_ctrl = g._current_control_deps()
    if scope_ctrl or g._device_stack:
        for n in order:
            op = n.op
            for c in scope_ctrl:
                if c not in op._control_inputs:
                    op._control_inputs.append(c)
            if g._device_stack:
                op._device = ops._merge_device(g._current_device(op), op._device)

    # commit: the only step that touches the graph
    g._check_not_finalized()
    with g._lock:
        base = len(g._ops)
        names_in_use = g._names_in_use
        for i, n in enumerate(order):
            op = n.op
            op._id = base + i
            for t in op._inputs:
                t._consumers.append(op)
            for c in op._control_inputs:
                c._control_outputs.append(op)
            g._ops.append(op)
            g._ops_by_name[op._name] = op
            key = op._name.lower()
            if key not in names_in_use:
                names_in_use[key] = 1
        if len(graph_def.library.function) or len(graph_def.library.gradient):
            lib = g._extra.setdefault("function_library", protos.FunctionDefLibrary())
            have = {f.signature.name for f in lib.function}  # kept for export; deferflow does not run functions
            lib.function.extend(f for f in graph_def.library.function if f.signature.name not in have)
            have = {x.function_name for x in lib.gradient}
            lib.gradient.extend(x for x in graph_def.library.gradient if x.function_name not in have)
        g._version += 1
    return results


def _remap_loc(s, by_name, prefix):
    if s.startswith("loc:@"):
        target = s[5:]
        m = by_name.get(target)
        if m is not None:
            return "loc:@" + m.new_name
        if prefix:
            return f"loc:@{prefix}/{target}"
    return s




# --- rollback for multi-step imports (import_meta_graph: graph, then collections, then saver) ----
def snapshot_graph(g):
    return (len(g._ops), dict(g._names_in_use), {k: list(v) for k, v in g._collections.items()}, g._version)


def restore_graph(g, snap):
    """Removes every op added since ``snap`` and restores names and collections."""
    n, names, collections, version = snap
    added = g._ops[n:]
    if added:
        gone = set(added)
        for op in added:
            for t in op._inputs:
                if t is not None and t._op not in gone:
                    t._consumers[:] = [c for c in t._consumers if c not in gone]
            for c in op._control_inputs:
                if c not in gone:
                    c._control_outputs[:] = [x for x in c._control_outputs if x not in gone]
            g._ops_by_name.pop(op._name, None)
        del g._ops[n:]
    g._names_in_use.clear()
    g._names_in_use.update(names)
    g._collections.clear()
    g._collections.update(collections)
    g._version = max(g._version, version) + 1  # plans cached for the partial graph must not be reused


# --- files --------------------------------------------------------------------------------
_PROTO_LIMIT = 1 << 31  # protobuf's hard limit on a serialized message, in TF and here


def check_parse_size(data, filename):
    if len(data) >= _PROTO_LIMIT:
        raise ValueError(f"{filename} is {len(data)} bytes: protocol buffers of 2 GB or more cannot be parsed "
                         "(TensorFlow's limit too)")

def write_graph(graph_or_graph_def, logdir, name, as_text=True):
    """``tf.io.write_graph``: writes a GraphDef (or any message, e.g. a MetaGraphDef) atomically; returns the path."""
    from google.protobuf import text_format
    from deferflow.formats import fileio
    if isinstance(graph_or_graph_def, ops.Graph):
        msg = graph_or_graph_def.as_graph_def()
    elif hasattr(graph_or_graph_def, "SerializeToString"):
        msg = graph_or_graph_def
    else:
        raise TypeError(f"write_graph expects a Graph or a GraphDef, got {type(graph_or_graph_def).__name__}")
    logdir = str(logdir)
    if logdir:
        import os
        os.makedirs(logdir, exist_ok=True)
    path = f"{logdir.rstrip('/')}/{name}" if logdir else str(name)
    if msg.ByteSize() >= _PROTO_LIMIT:
        raise ValueError(f"{type(msg).__name__} cannot be larger than 2GB ({msg.ByteSize()} bytes): protocol "
                         "buffers over 2 GB cannot be read back (by TensorFlow either). Keep large constants in "
                         "variables restored from a checkpoint instead.")
    if as_text:
        data = text_format.MessageToString(msg).encode("utf-8")
    else:
        data = msg.SerializeToString(deterministic=True)
    fileio.atomic_write(path, data)
    return path


def read_graph_def(path):
    """A GraphDef from a binary ``.pb`` or text ``.pbtxt`` file (DataLossError naming the file if neither)."""
    from google.protobuf import text_format
    from deferflow.framework import errors
    with open(path, "rb") as f:
        data = f.read()
    check_parse_size(data, path)
    gd = protos.GraphDef()
    try:
        gd.ParseFromString(data)
        return gd
    except Exception as binary_error:  # noqa: BLE001 - then try text format
        try:
            gd = protos.GraphDef()
            text_format.Merge(data.decode("utf-8"), gd)
            return gd
        except (UnicodeDecodeError, text_format.ParseError) as e:
            detail = binary_error if isinstance(e, UnicodeDecodeError) else e
            raise errors.DataLossError(None, None, f"Cannot parse file {path}: not a GraphDef protocol buffer "
                                                   f"(binary or text): {detail}") from None


# --- function library: dataset functions as TF FunctionDefs ----------------------------------------
# Inside a FunctionDef, a node's input names an output as ``node:out_arg:index`` (the OpDef output arg and
# the position within it), a function argument by its bare name, and a control input as ``^node``.
FUNCTIONS_KEY = "dataset_functions"  # graph._extra key: func name -> traced/imported function (deferflow.data)


def _output_arg_sizes(op_def, attr):
    """[(out_arg_name, count)] of an op; ``attr(name)`` gives an attr value (from the op or a NodeDef)."""
    sizes = []
    for a in op_def.outputs:
        if a.number_attr:
            n = int(attr(a.number_attr))
        elif a.type_list_attr:
            n = len(attr(a.type_list_attr))
        else:
            n = 1
        sizes.append((a.name, n))
    return sizes


def _func_input_name(t, arg_of):
    name = arg_of.get(t)
    if name is not None:
        return name
    op = t._op
    if op._op_def is None:
        raise ValueError(f"cannot name output {t.name} inside a function: op type {op._type} is unknown")
    i, start = t._value_index, 0
    for arg, n in _output_arg_sizes(op._op_def, lambda k: op._attrs[k]):
        if i < start + n:
            return f"{op._name}:{arg}:{i - start}"
        start += n
    raise ValueError(f"output {i} of {op._name} is out of range")


def function_def_from_ops(name, body_ops, inputs, arg_names, outputs, ret_names):
    """A TF ``FunctionDef`` computing ``outputs`` from ``inputs`` (tensors fed as the function's arguments)
    with the ops ``body_ops`` (in an order where inputs come first)."""
    fd = protos.FunctionDef()
    sig = fd.signature
    sig.name = name
    arg_of = {}
    for t, a in zip(inputs, arg_names):
        ia = sig.input_arg.add()
        ia.name = a
        ia.type = t.dtype.base_dtype.as_datatype_enum
        arg_of[t] = a
        shape_to_proto(t.shape, fd.arg_attr[len(sig.input_arg) - 1].attr["_output_shapes"].list.shape.add())
    stateful = False
    for op in body_ops:
        nd = fd.node_def.add()
        _fill_node_def(nd, op)
        del nd.input[:]
        nd.input.extend([_func_input_name(t, arg_of) for t in op._inputs] + ["^" + c._name for c in op._control_inputs])
        nd.ClearField("device")
        stateful = stateful or bool(op._op_def is not None and op._op_def.is_stateful)
    for t, r in zip(outputs, ret_names):
        oa = sig.output_arg.add()
        oa.name = r
        oa.type = t.dtype.base_dtype.as_datatype_enum
        fd.ret[r] = _func_input_name(t, arg_of)
    sig.is_stateful = stateful
    return fd


def _func_attr_names(op):
    for v in op._attrs.values():
        if isinstance(v, protos.NameAttrList):
            yield v.name
        elif isinstance(v, list) and v and isinstance(v[0], protos.NameAttrList):
            yield from (x.name for x in v)


def add_function_library(gd, graph, op_list):
    """Writes into ``gd.library`` the FunctionDefs of the functions (traced or imported dataset functions) that
    ``op_list`` names in func attrs, and those their bodies name in turn."""
    have = {f.signature.name for f in gd.library.function}
    stack = [(graph, op) for op in op_list]
    while stack:
        g, op = stack.pop()
        for name in _func_attr_names(op):
            if name in have:
                continue
            fn = g._extra.get(FUNCTIONS_KEY, {}).get(name)
            if fn is None or not hasattr(fn, "function_body"):
                continue
            have.add(name)
            body_graph, body_ops, inputs, arg_names, outputs, ret_names = fn.function_body()
            gd.library.function.add().CopyFrom(
                function_def_from_ops(name, body_ops, inputs, arg_names, outputs, ret_names))
            stack.extend((body_graph, o) for o in body_ops)
    return gd


def _nodedef_attr(nd, od):
    def get(k):
        if k in nd.attr:
            spec = od.attrs.get(k)
            return attr_value_from_proto(nd.attr[k], spec.type if spec is not None else None)
        spec = od.attrs.get(k)
        if spec is None or not spec.has_default:
            raise ValueError(f"node {nd.name} ({nd.op}) in a function lacks attr '{k}'")
        return spec.default
    return get


def graph_from_function_def(fd, graph=None):
    """Builds the body of a TF ``FunctionDef`` into ``graph`` (a new Graph by default): returns
    ``(graph, input_placeholders, output_tensors)``, inputs and outputs in signature order."""
    g = graph if graph is not None else ops.Graph()
    sig = fd.signature
    inputs = []
    with g.as_default():
        for i, a in enumerate(sig.input_arg):
            if a.type_attr or a.number_attr or a.type_list_attr:
                raise ValueError(f"function {sig.name}: polymorphic argument '{a.name}' is not supported")
            shapes = fd.arg_attr[i].attr["_output_shapes"].list.shape if i in fd.arg_attr else ()
            shape = shape_from_proto(shapes[0]) if len(shapes) == 1 else ts.unknown_shape()
            inputs.append(ops.apply_op("Placeholder", name=a.name, dtype=_BY_ENUM[a.type], shape=shape))
    args = {a.name: t for a, t in zip(sig.input_arg, inputs)}
    by_name = {n.name: n for n in fd.node_def}

    def rename(s):
        if s.startswith("^"):
            return s
        parts = s.split(":")
        if len(parts) == 1:
            if s in args:
                return s + ":0"
            raise ValueError(f"function {sig.name}: input '{s}' names neither an argument nor a node output")
        if len(parts) == 2:  # a plain GraphDef-style reference
            return s
        node, arg, idx = parts[0], parts[1], int(parts[2])
        nd = by_name.get(node)
        od = op_registry.get(nd.op) if nd is not None else None
        if od is None:
            raise ValueError(f"function {sig.name}: cannot resolve input '{s}'"
                             + ("" if nd is None else f" (op type {nd.op} is not registered)"))
        start = 0
        for name, n in _output_arg_sizes(od, _nodedef_attr(nd, od)):
            if name == arg:
                if idx >= n:
                    break
                return f"{node}:{start + idx}"
            start += n
        raise ValueError(f"function {sig.name}: input '{s}' names no output of {node} ({nd.op})")

    gd = protos.GraphDef()
    for n in fd.node_def:
        nd = gd.node.add()
        nd.CopyFrom(n)
        del nd.input[:]
        nd.input.extend(rename(s) for s in n.input)
    used = {s for n in gd.node for s in n.input}
    rets = {r: rename(v) for r, v in fd.ret.items()}
    input_map = {f"{a}:0": t for a, t in args.items() if f"{a}:0" in used}
    node_rets = [rets[oa.name] for oa in sig.output_arg if rets[oa.name].split(":")[0] in by_name]
    with g.as_default():
        found = dict(zip(node_rets, import_graph_def(gd, input_map=input_map, return_elements=node_rets, name="")
                         if gd.node else []))
    outputs = [found[r] if r in found else args[r.split(":")[0]] for r in (rets[oa.name] for oa in sig.output_arg)]
    return g, inputs, outputs
