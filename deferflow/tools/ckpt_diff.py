"""``deferflow diff``: will this checkpoint restore into that graph? Missing, extra, mismatched, renamed."""
import difflib
import os

import numpy as np

from deferflow.tools.cli import CLIError, dtype_name, open_checkpoint, read_tensor, table

HELP = "compare a checkpoint with a graph (or another checkpoint): missing, extra, mismatched, renamed"
EXAMPLES = """what it answers: TensorFlow's "Key ... not found in checkpoint". It lists the variables the graph
restores that the checkpoint lacks, the checkpoint's extra tensors, dtype/shape mismatches, and name
mappings (same dtype and shape, similar names) to pass as assignment_map to
tf.train.init_from_checkpoint, or as the keys of a Saver's var_list dict.

exit status: 0 when everything the second argument needs is in the checkpoint with the same dtype
and shape, 1 when something is missing or mismatched, 2 on bad input.

examples:
  deferflow diff pretrained/model.ckpt new_model.meta
  deferflow diff pretrained/ saved_model_dir/
  deferflow diff demo_out/model-200 demo_out/model-400 --values"""


def add_parser(sub, formatter):
    p = sub.add_parser("diff", help=HELP, description=HELP + ".", epilog=EXAMPLES, formatter_class=formatter)
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint prefix, .index file or directory")
    p.add_argument("other", metavar="GRAPH_OR_CHECKPOINT",
                   help=".meta / .pb / .pbtxt / SavedModel directory, or a second checkpoint")
    p.add_argument("--values", action="store_true",
                   help="with two checkpoints, also compare the values of tensors present in both")
    p.set_defaults(run=run)


def _is_graph_path(path):
    if os.path.isdir(path):
        return any(os.path.isfile(os.path.join(path, f)) for f in ("saved_model.pb", "saved_model.pbtxt"))
    return path.endswith((".meta", ".pb", ".pbtxt", ".pbtext", ".prototxt")) or \
        (os.path.isfile(path) and not os.path.isfile(path + ".index") and not path.endswith(".index")
         and ".data-" not in path)


def checkpoint_specs(reader):
    """{key: (dtype name, shape tuple)} of a checkpoint."""
    return {k: (dtype_name(e.dtype), tuple(e.shape)) for k in reader.keys() for e in [reader.entry(k)]}


def graph_specs(path):
    """(file, {checkpoint key: (dtype name, shape tuple or None)}) the graph restores or defines."""
    from deferflow.tools import graph_info

    file, graphs = graph_info.load_graph(path)
    specs = {}
    for _, _, meta in graphs:
        by_key = {key: (dtype, None if shape is None else tuple(shape))
                  for key, dtype, shape, _, _ in graph_info.variables(meta)}
        restored = graph_info.restore_keys(meta)
        if restored:  # exactly what the graph's Saver asks the checkpoint for
            for key, dtype in restored.items():
                specs[key] = (dtype, by_key.get(key, (dtype, None))[1])
        else:
            specs.update(by_key)
    return file, specs


def _suffix_len(a, b):
    """How many trailing '/'-components two names share."""
    pa, pb, n = a.split("/"), b.split("/"), 0
    while n < min(len(pa), len(pb)) and pa[-1 - n] == pb[-1 - n]:
        n += 1
    return n


def suggest_mappings(missing, extra):
    """{checkpoint key: graph key}: pairs with equal dtype and shape, matched by name similarity.

    ``missing`` / ``extra``: {key: (dtype, shape)} the graph lacks / the checkpoint has unused.
    """
    scored = []
    for m, spec in missing.items():
        same = [c for c, cspec in extra.items() if cspec == spec and spec[1] is not None]
        for c in same:
            suffix = _suffix_len(m, c)
            ratio = difflib.SequenceMatcher(None, m, c).ratio()
            if suffix or ratio >= 0.5 or len(same) == 1:
                scored.append((suffix, ratio, c, m))
    mapping, used_m = {}, set()
    for _, _, c, m in sorted(scored, reverse=True):
        if c not in mapping and m not in used_m:
            mapping[c] = m
            used_m.add(m)
    return dict(sorted(mapping.items()))


def scope_mapping(mapping):
    """The mapping as one scope rename ({'old/': 'new/'}, '/' for the checkpoint's root) when every pair
    differs by the same prefix; None otherwise."""
    scopes = set()
    for c, m in mapping.items():
        n = _suffix_len(c, m)
        if n == 0:
            return None
        tail = "/".join(c.split("/")[-n:])
        scopes.add((c[:len(c) - len(tail)] or "/", m[:len(m) - len(tail)]))
    if len(scopes) != 1 or not next(iter(scopes))[1]:
        return None
    return dict(scopes)


def format_map(mapping):
    """A dict literal, one entry per line when long."""
    if len(mapping) <= 2:
        return repr(mapping)
    return "{\n" + "".join(f"        {k!r}: {v!r},\n" for k, v in mapping.items()) + "    }"


def _fmt(spec):
    dtype, shape = spec
    return f"{dtype} " + ("<unknown>" if shape is None else "[" + ",".join(str(d) for d in shape) + "]")


def run(args):
    prefix, reader = open_checkpoint(args.checkpoint)
    with reader:
        have = checkpoint_specs(reader)
        other_reader = None
        if _is_graph_path(args.other):
            if args.values:
                raise CLIError("--values compares two checkpoints; the second argument is a graph")
            other_name, need = graph_specs(args.other)
            other_kind = "graph"
        else:
            other_name, other_reader = open_checkpoint(args.other)
            need = checkpoint_specs(other_reader)
            other_kind = "checkpoint"
        try:
            return _report(prefix, reader, have, other_kind, other_name, other_reader, need, args.values)
        finally:
            if other_reader is not None:
                other_reader.close()


def _report(prefix, reader, have, other_kind, other_name, other_reader, need, compare_values):
    print(f"checkpoint {prefix}: {len(have)} tensors")
    print(f"{other_kind} {other_name}: {len(need)} {'variables to restore' if other_kind == 'graph' else 'tensors'}")
    missing = {k: v for k, v in need.items() if k not in have}
    extra = {k: v for k, v in have.items() if k not in need}
    mismatched = [(k, have[k], v) for k, v in need.items() if k in have and (
        have[k][0] != v[0] and v[0] != "?" or v[1] is not None and have[k][1] != v[1])]
    matched = len(need) - len(missing) - len(mismatched)
    print(f"\nmatched (same name, dtype and shape): {matched}")
    lacks = "graph needs" if other_kind == "graph" else "second checkpoint has"
    if missing:
        print(f"\nmissing from the checkpoint ({lacks}, checkpoint lacks): {len(missing)}")
        print(_indent(table([(k, _fmt(v)) for k, v in sorted(missing.items())], ["name", "dtype shape"])))
    if extra:
        what = "the graph does not restore" if other_kind == "graph" else "the second checkpoint lacks"
        print(f"\nextra in the checkpoint ({what}): {len(extra)}")
        print(_indent(table([(k, _fmt(v)) for k, v in sorted(extra.items())], ["name", "dtype shape"])))
    if mismatched:
        print(f"\nmismatched dtype or shape: {len(mismatched)}")
        print(_indent(table([(k, _fmt(a), _fmt(b)) for k, a, b in sorted(mismatched)],
                            ["name", "checkpoint", other_kind if other_kind == "graph" else "second"])))
    mapping = suggest_mappings(missing, extra)
    if mapping:
        print(f"\nsuggested name mappings (checkpoint name -> {other_kind} name; same dtype and shape): "
              f"{len(mapping)}")
        print(_indent(table([(c, "->", m) for c, m in mapping.items()], ["checkpoint", "", other_kind])))
        scopes = scope_mapping(mapping)
        shown = scopes if scopes and len(scopes) < len(mapping) else mapping
        print("  as an assignment_map: tf.train.init_from_checkpoint(ckpt_dir, assignment_map)")
        print(f"    assignment_map = {format_map(shown)}")
        if other_kind == "graph":
            print("  or as a Saver: tf.train.Saver({checkpoint_name: variable, ...}) with these checkpoint names")
    if compare_values and other_reader is not None:
        rows = []
        for key in sorted(k for k in need if k in have and have[k] == need[k]):
            a, b = read_tensor(reader, key), read_tensor(other_reader, key)
            if a.dtype == object or a.dtype.kind in "SU":
                same = a.tolist() == b.tolist()
                rows.append((key, "equal" if same else "different", "-"))
            else:
                same = np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
                delta = "-" if same or a.dtype.kind == "b" else \
                    f"{float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))):.6g}"
                rows.append((key, "bit-identical" if same else "different", delta))
        changed = sum(1 for r in rows if r[1] == "different")
        print(f"\nvalues: {len(rows) - changed} equal, {changed} different")
        print(_indent(table(rows, ["name", "values", "max |a-b|"])))
    ok = not missing and not mismatched
    print("\n" + ("OK: everything it needs is in the checkpoint with the same dtype and shape." if ok else
                  f"NOT OK: {len(missing)} missing, {len(mismatched)} mismatched."))
    return 0 if ok else 1


def _indent(text):
    return "\n".join("  " + line for line in text.splitlines())
