"""The ``deferflow`` command line: ``demo``, ``inspect``, ``graph``, ``diff``, ``convert``.

Each command lives in its own module with ``add_parser(subparsers)`` and ``run(args)``. Bad input
(missing path, corrupted or non-TensorFlow file, unknown name) raises ``CLIError``: one line on
stderr and exit status 2, never a traceback.
"""
import argparse
import difflib
import os
import re
import sys

EXIT_BAD_INPUT = 2


class CLIError(Exception):
    """Bad input: printed as one line, exit status 2 (or ``code``)."""

    def __init__(self, message, code=EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


# --- helpers shared by the commands ---

def closest(name, candidates, n=3):
    """Up to ``n`` candidates resembling ``name`` (difflib ratio, then shared last path component)."""
    candidates = list(candidates)
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    base = name.rsplit("/", 1)[-1].split(":")[0]
    found += [c for c in candidates if c not in found and base and c.rsplit("/", 1)[-1].split(":")[0] == base]
    return found[:n]


def did_you_mean(name, candidates, what="names"):
    """'; did you mean 'a', 'b'?' or, with nothing close, a short sample of what exists."""
    near = closest(name, candidates)
    if near:
        return "; did you mean " + ", ".join(repr(c) for c in near) + "?"
    candidates = sorted(candidates)
    if not candidates:
        return f" (no {what} at all)"
    sample = ", ".join(repr(c) for c in candidates[:5])
    return f"; {what} include {sample}" + (f" and {len(candidates) - 5} more" if len(candidates) > 5 else "")


def missing_path_error(path):
    """CLIError for a path that does not exist, naming similar files in its directory."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return CLIError(f"{path}: no such file or directory")
    near = closest(os.path.basename(path), os.listdir(parent))
    if not near:
        return CLIError(f"{path}: no such file or directory")
    names = ", ".join(repr(os.path.join(os.path.dirname(path), c)) for c in near)
    return CLIError(f"{path}: no such file or directory; did you mean {names}?")


_CKPT_SUFFIXES = (".index", ".meta")


def resolve_checkpoint(path):
    """The checkpoint prefix for a prefix, ``.index``/``.data-*``/``.meta`` file, or a directory; or the
    file (glob pattern, prefix of ``-NNNNN-of-NNNNN`` shards) of a V1 checkpoint.

    A directory uses its ``checkpoint`` state file (the latest checkpoint), a SavedModel's
    ``variables/variables``, its only ``.index``, or its only V1 checkpoint.
    """
    from deferflow.formats import checkpoint_state, checkpoint_v1, errors

    path = os.fspath(path)
    if os.path.isdir(path):
        state_file = os.path.join(path, checkpoint_state.CHECKPOINT_FILENAME)
        if os.path.isfile(state_file):
            try:
                state = checkpoint_state.read_checkpoint_state(state_file)
            except errors.FormatError as e:
                raise CLIError(str(e)) from None
            prefix = state.model_checkpoint_path
            if not os.path.isabs(prefix):
                prefix = os.path.join(path, prefix)
            moved = os.path.join(path, os.path.basename(prefix))
            if not _exists(prefix) and _exists(moved):
                prefix = moved  # an absolute path written before the folder was moved or copied
            if not _exists(prefix):
                raise CLIError(f"{state_file} names checkpoint {prefix!r}, but {prefix}.index does not exist "
                               "(nor a V1 checkpoint file of that name)")
            return prefix
        if os.path.isfile(os.path.join(path, "variables", "variables.index")):  # a SavedModel directory
            return os.path.join(path, "variables", "variables")
        indexes = sorted(f[:-6] for f in os.listdir(path) if f.endswith(".index"))
        if not indexes:  # V1 checkpoints: single files, or shard sets named PREFIX-NNNNN-of-NNNNN
            indexes = sorted({_SHARD_SUFFIX.sub("", f) for f in os.listdir(path)
                              if not f.endswith(".meta") and checkpoint_v1.is_v1_checkpoint(os.path.join(path, f))})
        if len(indexes) == 1:
            return os.path.join(path, indexes[0])
        if not indexes:
            raise CLIError(f"{path}: directory holds no checkpoint (no 'checkpoint' file and no *.index file)")
        raise CLIError(f"{path}: directory holds {len(indexes)} checkpoints and no 'checkpoint' file; "
                       f"name one: " + ", ".join(os.path.join(path, i) for i in indexes[:5]))
    if os.path.isfile(path + ".index"):
        return path
    for suffix in _CKPT_SUFFIXES:
        if path.endswith(suffix) and os.path.isfile(path[:-len(suffix)] + ".index"):
            return path[:-len(suffix)]
    head, sep, _ = path.rpartition(".data-")
    if sep and os.path.isfile(head + ".index"):
        return head
    if checkpoint_v1.is_v1_checkpoint(path):
        return path
    if os.path.isfile(path):
        raise CLIError(f"{path}: not a TensorFlow V2 checkpoint (expected a prefix with {path}.index "
                       f"and {path}.data-* files beside it), nor a V1 checkpoint file")
    parent = os.path.dirname(path)
    if os.path.isdir(parent or "."):
        prefixes = [os.path.join(parent, f[:-6]) for f in os.listdir(parent or ".") if f.endswith(".index")]
        if prefixes and not path.endswith(".index"):
            raise CLIError(f"no checkpoint {path} ({path}.index not found)"
                           + did_you_mean(path, prefixes, "checkpoints"))
    raise missing_path_error(path)


def _exists(prefix):
    """Whether a V2 checkpoint (``prefix.index``) or a V1 one (file, pattern or shards) is at ``prefix``."""
    from deferflow.formats import checkpoint_v1

    return os.path.isfile(prefix + ".index") or bool(checkpoint_v1.matching_files(prefix))


_SHARD_SUFFIX = re.compile(r"-\d{5}-of-\d{5}$")


def open_checkpoint(path):
    """(prefix, reader) for a checkpoint path: a BundleReader (V2) or a V1Reader with its interface;
    CLIError on anything unreadable."""
    from deferflow.formats import checkpoint_v1, errors

    prefix = resolve_checkpoint(path)
    try:
        return prefix, checkpoint_v1.open_checkpoint(prefix)
    except errors.FormatError as e:
        raise CLIError(f"{e.filename}: not a readable TensorFlow checkpoint: {e.detail}") from None


def read_tensor(reader, name):
    """reader.read(name) with CLI-grade errors."""
    from deferflow.formats import errors

    if name not in reader:
        raise CLIError(f"no tensor {name!r} in checkpoint {reader.prefix}"
                       + did_you_mean(name, reader.keys(), "tensor names"))
    try:
        return reader.read(name)
    except errors.FormatError as e:
        raise CLIError(f"{e.filename}: {e.detail}") from None


def dtype_name(enum):
    from deferflow.formats import dtypes

    try:
        return dtypes.info_for_enum(enum).name
    except KeyError:
        return f"dtype#{enum}"


def shape_str(shape):
    return "[" + ",".join("?" if d is None or d < 0 else str(d) for d in shape) + "]"


def human_bytes(n):
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def table(rows, header, right=()):
    """Rows of strings as aligned text columns (columns in ``right`` right-aligned)."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(header)] + [line(r) for r in rows])


# --- the parser ---

_COMMANDS = ("demo", "inspect", "graph", "diff", "convert")
_MODULES = {"demo": "demo", "inspect": "inspect_ckpt", "graph": "graph_info", "diff": "ckpt_diff",
            "convert": "convert"}


_Formatter = argparse.RawDescriptionHelpFormatter  # keeps the examples' line breaks


def build_parser():
    import importlib

    parser = argparse.ArgumentParser(
        prog="deferflow", formatter_class=_Formatter,
        description="deferflow: TensorFlow 1.x graphs, sessions and checkpoints on NumPy.\n"
                    "Look inside TensorFlow checkpoints and graphs without TensorFlow, or run the demo.",
        epilog="examples:\n"
               "  deferflow demo                       train, save, restore and fine-tune a conv net on digits\n"
               "  deferflow inspect demo_out           list the tensors of the latest checkpoint in a folder\n"
               "  deferflow graph demo_out/model-100.meta\n"
               "  deferflow diff model.ckpt new_model.meta\n"
               "  deferflow convert model.ckpt weights.npz\n\n"
               "run 'deferflow COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"deferflow {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        module = importlib.import_module(f"deferflow.tools.{_MODULES[name]}")
        module.add_parser(sub, _Formatter)
    return parser


def _version():
    try:
        from importlib.metadata import version
        return version("deferflow")
    except Exception:  # not installed (running from a source tree)
        return "0.1.0"


def main(argv=None):
    """Entry point of the ``deferflow`` console script and ``python -m deferflow``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_BAD_INPUT
    prog = f"deferflow {args.command}"
    try:
        return args.run(args) or 0
    except CLIError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 0
    except OSError as e:
        print(f"{prog}: error: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
