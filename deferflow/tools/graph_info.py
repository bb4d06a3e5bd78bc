"""``deferflow graph``: what is in a TensorFlow graph file (.meta, .pb, .pbtxt, SavedModel directory)."""
import collections
import os

from deferflow.tools.cli import CLIError, dtype_name, human_bytes, missing_path_error, table

HELP = "summarise a graph: inputs, likely outputs, variables, op types, collections, signatures, saver"
EXAMPLES = """examples:
  deferflow graph demo_out/model-100.meta         a MetaGraphDef written by Saver.save / export_meta_graph
  deferflow graph frozen.pb                       a binary GraphDef (or MetaGraphDef / SavedModel proto)
  deferflow graph graph.pbtxt                     a text-format GraphDef (tf.train.write_graph as_text)
  deferflow graph saved_model_dir                 a SavedModel directory (saved_model.pb)
  deferflow graph demo_out --nodes                the latest checkpoint's .meta, listing every node"""

VARIABLE_OPS = {"VariableV2", "Variable", "VarHandleOp", "AutoReloadVariable"}
PLACEHOLDER_OPS = {"Placeholder", "PlaceholderV2", "PlaceholderWithDefault"}
# Op types that are bookkeeping rather than a model's result, even when nothing consumes them.
_NOT_OUTPUTS = VARIABLE_OPS | PLACEHOLDER_OPS | {
    "Const", "NoOp", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
    "AssignSubVariableOp", "SaveV2", "RestoreV2", "Save", "SaveSlices", "Restore", "RestoreSlice",
    "MergeV2Checkpoints", "ShardedFilename", "StringJoin", "IsVariableInitialized", "VarIsInitializedOp",
    "ReadVariableOp", "ScalarSummary", "HistogramSummary", "ImageSummary", "AudioSummary", "TensorSummary",
    "TensorSummaryV2", "MergeSummary", "Shape", "ShapeN", "Size", "Rank"}
_SUMMARY_OPS = {"ScalarSummary", "HistogramSummary", "ImageSummary", "AudioSummary", "TensorSummary",
                "TensorSummaryV2", "MergeSummary"}


def add_parser(sub, formatter):
    p = sub.add_parser("graph", help=HELP, description=HELP + ".", epilog=EXAMPLES, formatter_class=formatter)
    p.add_argument("path", metavar="FILE", help=".meta, .pb, .pbtxt, a SavedModel directory, or a checkpoint "
                                                "(prefix or directory) whose .meta is beside it")
    p.add_argument("--nodes", action="store_true", help="also list every node: name, op type, inputs")
    p.set_defaults(run=run)


# --- loading ---

def _parse_binary(data, path):
    from google.protobuf.message import DecodeError

    from deferflow.formats import protos

    base = os.path.basename(path)
    order = [protos.GraphDef, protos.MetaGraphDef, protos.SavedModel]
    if base.endswith(".meta"):
        order = [protos.MetaGraphDef, protos.SavedModel, protos.GraphDef]
    elif base.startswith("saved_model"):
        order = [protos.SavedModel, protos.MetaGraphDef, protos.GraphDef]
    for cls in order:
        try:
            message = cls.FromString(data)
        except (DecodeError, RuntimeError, ValueError):
            continue
        found = _as_meta_graphs(message)
        if found:
            return found
    return None


def _parse_text(data, path):
    from google.protobuf import text_format

    from deferflow.formats import protos

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for cls in (protos.GraphDef, protos.MetaGraphDef, protos.SavedModel):
        message = cls()
        try:
            text_format.Parse(text, message)
        except text_format.ParseError:
            continue
        found = _as_meta_graphs(message)
        if found:
            return found
    return None


def _valid_graph(graph_def):
    return len(graph_def.node) > 0 and all(n.name and n.op for n in graph_def.node)


def _as_meta_graphs(message):
    """[(kind, tags, MetaGraphDef)] for a parsed message, or [] if it does not look like a real graph."""
    from deferflow.formats import protos

    if isinstance(message, protos.SavedModel):
        return [("SavedModel", list(m.meta_info_def.tags), m) for m in message.meta_graphs
                if _valid_graph(m.graph_def)]
    if isinstance(message, protos.MetaGraphDef):
        return [("MetaGraphDef", list(message.meta_info_def.tags), message)] if _valid_graph(message.graph_def) else []
    if _valid_graph(message):
        meta = protos.MetaGraphDef()
        meta.graph_def.CopyFrom(message)
        return [("GraphDef", [], meta)]
    return []


def _graph_file_for(path):
    """The file to read for ``path``: itself, a SavedModel's saved_model.pb, or a checkpoint's .meta."""
    if os.path.isdir(path):
        for name in ("saved_model.pb", "saved_model.pbtxt"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        from deferflow.tools.cli import resolve_checkpoint
        metas = sorted(f for f in os.listdir(path) if f.endswith(".meta"))
        try:
            prefix = resolve_checkpoint(path)
        except CLIError:
            prefix = None
        if prefix and os.path.isfile(prefix + ".meta"):
            return prefix + ".meta"
        if len(metas) == 1:
            return os.path.join(path, metas[0])
        if metas:  # a Saver with write_meta_graph=False after the first save leaves one older .meta
            return os.path.join(path, max(metas, key=lambda f: os.path.getmtime(os.path.join(path, f))))
        raise CLIError(f"{path}: directory holds no graph (no saved_model.pb, no .meta file)")
    if os.path.isfile(path):
        return path
    if os.path.isfile(path + ".meta"):
        return path + ".meta"
    raise missing_path_error(path)


def load_graph(path):
    """(file, [(kind, tags, MetaGraphDef)]) for any graph path; CLIError if it is not a TensorFlow graph."""
    path = os.fspath(path)
    file = _graph_file_for(path)
    try:
        with open(file, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise CLIError(f"{file}: is a directory") from None
    text_first = file.endswith((".pbtxt", ".pbtext", ".txt", ".prototxt"))
    found = (_parse_text(data, file) or _parse_binary(data, file)) if text_first else \
        (_parse_binary(data, file) or _parse_text(data, file))
    if not found and (file.endswith(".index") or ".data-" in file):
        raise CLIError(f"{file}: a checkpoint file, not a graph; its graph is the .meta beside it "
                       "(try 'deferflow inspect' for the tensors)")
    if not found:
        what = "empty file" if not data else f"{human_bytes(len(data))} that parse as no GraphDef, " \
                                              "MetaGraphDef or SavedModel with nodes"
        raise CLIError(f"{file}: not a TensorFlow graph file ({what})")
    return file, found


# --- analysis ---

def _attr_shape(node, name="shape"):
    """A shape attr as a list (None = unknown dim), or None for unknown rank / absent."""
    if name not in node.attr:
        return None
    shape = node.attr[name].shape
    if shape.unknown_rank:
        return None
    return [d.size if d.size >= 0 else None for d in shape.dim]


def fmt_shape(shape):
    return "<unknown>" if shape is None else "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _attr_dtype(node, name="dtype"):
    return dtype_name(node.attr[name].type) if name in node.attr else "?"


def _source(inp):
    return inp.lstrip("^").split(":")[0]


def consumers(graph_def):
    """{node name: [consumer node names]} over data and control edges."""
    out = collections.defaultdict(list)
    for node in graph_def.node:
        for inp in node.input:
            out[_source(inp)].append(node.name)
    return out


def _saver_scope(meta):
    return meta.saver_def.restore_op_name.rpartition("/")[0] if meta.saver_def.restore_op_name else "save"


def placeholders(meta):
    """[(tensor, dtype, shape)] of the placeholders a caller feeds (not the Saver's filename input)."""
    scope = _saver_scope(meta) + "/"
    return [(n.name + ":0", _attr_dtype(n), fmt_shape(_attr_shape(n))) for n in meta.graph_def.node
            if n.op in PLACEHOLDER_OPS and not n.name.startswith(scope)]


def likely_outputs(meta):
    """Nodes whose results nothing but training, saving or summaries uses: what a model computes."""
    graph_def = meta.graph_def
    users = consumers(graph_def)
    saver_scope = _saver_scope(meta)

    def bookkeeping(name, op):  # consumers that do not make a value part of the model
        return name.startswith(("gradients/", saver_scope + "/")) or op in _SUMMARY_OPS
    ops = {n.name: n.op for n in graph_def.node}
    out = []
    for node in graph_def.node:
        if node.op in _NOT_OUTPUTS or node.name.startswith(("gradients/", saver_scope + "/")):
            continue
        if node.op.startswith(("Apply", "ResourceApply")):
            continue  # optimizer updates
        if node.op in ("Identity", "ReadVariableOp") and ops.get(_source(node.input[0]) if node.input else "") \
                in VARIABLE_OPS:
            continue  # a variable's read snapshot ('w/read'), not a computed value
        real_users = [u for u in users.get(node.name, ()) if not bookkeeping(u, ops.get(u))]
        if not real_users:
            out.append((node.name + ":0", node.op))
    return out


def variables(meta):
    """[(checkpoint key, dtype, shape, trainable, op name)] of the graph's variables.

    Keys come from the variables collections (a partitioned variable's parts share one key, its
    full name); bare GraphDefs fall back to the variable nodes themselves.
    """
    from deferflow.formats import protos

    nodes = {n.name: n for n in meta.graph_def.node}

    def var_defs(key):
        c = meta.collection_def.get(key)
        if c is None or c.WhichOneof("kind") != "bytes_list":
            return []
        out = []
        for raw in c.bytes_list.value:
            try:
                out.append(protos.VariableDef.FromString(raw))
            except Exception:
                pass
        return out
    trainable = {v.variable_name for v in var_defs("trainable_variables")}
    defs = var_defs("variables") + [v for key in ("local_variables", "model_variables")
                                    for v in var_defs(key)]
    rows, seen = {}, set()
    for v in defs:
        if v.variable_name in seen:
            continue
        seen.add(v.variable_name)
        op = v.variable_name.split(":")[0]
        node = nodes.get(op)
        dtype = _attr_dtype(node) if node is not None else "?"
        shape = _attr_shape(node) if node is not None else None
        info = v.save_slice_info_def
        if info.full_name:
            key = info.full_name
            shape = list(info.full_shape)
        else:
            key = op
        if key not in rows:
            rows[key] = (key, dtype, shape, v.variable_name in trainable, op)
    if not rows:
        for node in meta.graph_def.node:
            if node.op in VARIABLE_OPS:
                rows[node.name] = (node.name, _attr_dtype(node), _attr_shape(node), None, node.name)
    return list(rows.values())


def restore_keys(meta):
    """{checkpoint key: dtype name} that the graph's RestoreV2 ops read, from their tensor_names consts."""
    nodes = {n.name: n for n in meta.graph_def.node}
    keys = {}
    for node in meta.graph_def.node:
        if node.op != "RestoreV2" or len(node.input) < 2:
            continue
        names = nodes.get(_source(node.input[1]))
        if names is None or names.op != "Const" or "value" not in names.attr:
            continue
        values = [s.decode("utf-8", "replace") for s in names.attr["value"].tensor.string_val]
        types = list(node.attr["dtypes"].list.type) if "dtypes" in node.attr else []
        for i, key in enumerate(values):
            keys[key] = dtype_name(types[i]) if i < len(types) else "?"
    return keys


def unsupported_ops(graph_def):
    """{op type: node count} for op types deferflow has no kernel for."""
    import deferflow  # noqa: F401 - fills the op registry
    from deferflow.framework import op_registry

    counts = collections.Counter(n.op for n in graph_def.node)
    missing = {}
    for op, n in sorted(counts.items()):
        spec = op_registry.get(op)
        if spec is None or spec.kernel_fn is None:
            missing[op] = n
    return missing


def _collection_summary(name, c):
    kind = c.WhichOneof("kind")
    if kind is None:
        return name, "empty", ""
    values = list(getattr(c, kind).value)
    noun = {"node_list": "node" if len(values) == 1 else "nodes", "bytes_list": "serialized",
            "int64_list": "ints", "float_list": "floats", "any_list": "Any protos"}[kind]
    if kind == "bytes_list" and values:
        from deferflow.formats import protos
        try:
            if protos.VariableDef.FromString(values[0]).variable_name:
                noun = "VariableDef"
        except Exception:
            pass
    if kind == "node_list":
        preview = ", ".join(values[:4]) + (" ..." if len(values) > 4 else "")
    elif kind in ("int64_list", "float_list"):
        preview = ", ".join(str(v) for v in values[:6]) + (" ..." if len(values) > 6 else "")
    elif kind == "any_list":
        preview = ", ".join(sorted({v.type_url.rsplit("/", 1)[-1] for v in values}))
    else:
        preview = ""
    return name, f"{len(values)} {noun}", preview


def _tensor_info(info):
    shape = None if info.tensor_shape.unknown_rank else [d.size if d.size >= 0 else None
                                                         for d in info.tensor_shape.dim]
    return f"{info.name or '<composite>'}  {dtype_name(info.dtype)} {fmt_shape(shape)}"


def describe(kind, tags, meta, show_nodes=False):
    """The report for one meta graph, as a list of lines."""
    g = meta.graph_def
    lines = []
    info = meta.meta_info_def
    producer = f", TensorFlow {info.tensorflow_version}" if info.tensorflow_version else ""
    tag_text = f", tags {','.join(tags)}" if tags else ""
    lines.append(f"{kind}{tag_text}: {len(g.node)} nodes, GraphDef producer {g.versions.producer}{producer}"
                 + (f", {len(g.library.function)} library functions" if len(g.library.function) else ""))

    lines.append("")
    inputs = placeholders(meta)
    lines.append(f"inputs ({len(inputs)} placeholders):")
    lines += ["  " + r for r in table(inputs, ["tensor", "dtype", "shape"]).splitlines()[1:]] if inputs \
        else ["  none"]

    lines.append("")
    outputs = likely_outputs(meta)
    train_ops = list(dict.fromkeys(meta.collection_def["train_op"].node_list.value)) \
        if "train_op" in meta.collection_def else []
    lines.append(f"likely outputs ({len(outputs)}: computed values that nothing else in the model uses):")
    lines += ["  " + r for r in table(outputs, ["tensor", "op"]).splitlines()[1:]] if outputs else ["  none"]
    if train_ops:
        lines.append("  train ops: " + ", ".join(train_ops))

    lines.append("")
    var_rows = variables(meta)
    n_train = sum(1 for r in var_rows if r[3])
    n_values = sum(_numel(r[2]) for r in var_rows)
    known = any(r[3] is not None for r in var_rows)
    lines.append(f"variables ({len(var_rows)}, {n_train if known else 'unknown how many'} trainable, "
                 f"{n_values:,} values):")
    if var_rows:
        rows = [(key, dtype, fmt_shape(shape), {True: "yes", False: "no", None: "?"}[tr])
                for key, dtype, shape, tr, _ in var_rows]
        lines += ["  " + r for r in table(rows, ["name", "dtype", "shape", "trainable"]).splitlines()]
    else:
        lines.append("  none")

    lines.append("")
    counts = collections.Counter(n.op for n in g.node)
    lines.append(f"op types ({len(counts)} distinct):")
    items = [f"{op} {n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += _wrap(items)

    lines.append("")
    lines.append(f"collections ({len(meta.collection_def)}):")
    rows = [_collection_summary(k, meta.collection_def[k]) for k in sorted(meta.collection_def)]
    lines += ["  " + r for r in table(rows, ["name", "holds", "values"]).splitlines()[1:]] if rows else ["  none"]

    lines.append("")
    lines.append(f"signatures ({len(meta.signature_def)}):")
    for key in sorted(meta.signature_def):
        sig = meta.signature_def[key]
        lines.append(f"  {key}  ({sig.method_name})")
        lines += [f"    input  {k}: {_tensor_info(sig.inputs[k])}" for k in sorted(sig.inputs)]
        lines += [f"    output {k}: {_tensor_info(sig.outputs[k])}" for k in sorted(sig.outputs)]
    if not meta.signature_def:
        lines.append("  none")

    lines.append("")
    s = meta.saver_def
    if s.restore_op_name:
        version = {0: "LEGACY", 1: "V1", 2: "V2"}.get(s.version, str(s.version))
        lines.append(f"saver: {version} checkpoints, filename tensor {s.filename_tensor_name}, save "
                     f"{s.save_tensor_name}, restore {s.restore_op_name}, max_to_keep {s.max_to_keep}, "
                     f"keep_checkpoint_every_n_hours {s.keep_checkpoint_every_n_hours:g}"
                     + (", sharded" if s.sharded else ""))
    else:
        lines.append("saver: none")

    lines.append("")
    missing = unsupported_ops(g)
    if missing:
        lines.append(f"op types deferflow cannot run yet ({len(missing)}; register_kernel() can supply them):")
        lines += _wrap([f"{op} ({n} node{'s' * (n != 1)})" for op, n in missing.items()])
    else:
        lines.append("deferflow has a kernel for every op type in this graph.")

    if show_nodes:
        lines.append("")
        lines.append("nodes:")
        rows = [(n.name, n.op, ", ".join(n.input)) for n in g.node]
        lines += ["  " + r for r in table(rows, ["name", "op", "inputs"]).splitlines()]
    return lines


def _numel(shape):
    if shape is None or any(d is None for d in shape):
        return 0
    n = 1
    for d in shape:
        n *= d
    return n


def _wrap(items, width=100):
    lines, cur = [], "  "
    for i, item in enumerate(items):
        piece = item + (", " if i < len(items) - 1 else "")
        if len(cur) + len(piece) > width and cur.strip():
            lines.append(cur.rstrip())
            cur = "  "
        cur += piece
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def run(args):
    file, graphs = load_graph(args.path)
    print(f"graph {file}")
    for i, (kind, tags, meta) in enumerate(graphs):
        if i:
            print("\n" + "=" * 60)
        print("\n".join(describe(kind, tags, meta, args.nodes)))
    return 0
