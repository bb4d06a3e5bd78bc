"""``deferflow convert``: checkpoint <-> .npz / .safetensors, so weights move between frameworks."""
import json
import os
import sys
import zipfile

import numpy as np

from deferflow.tools.cli import CLIError, human_bytes, missing_path_error, open_checkpoint

HELP = "convert a checkpoint to .npz or .safetensors, or (--from) those back to a TensorFlow checkpoint"
EXAMPLES = """notes:
  .npz is written without pickles: string tensors become bytes ('S') arrays, and dtypes NumPy lacks
  (bfloat16, float8) are stored as their raw unsigned-integer bits, their names listed in the JSON
  entry '__deferflow_dtypes__'. .safetensors needs the optional package (pip install 'deferflow[safetensors]')
  and holds numbers only, so string tensors are skipped (and listed).
  With --from, OUT is a checkpoint prefix (a directory means DIR/model.ckpt); the 'checkpoint' state
  file beside it is updated to name it, so tf.train.latest_checkpoint(DIR) finds it.

examples:
  deferflow convert demo_out weights.npz                 latest checkpoint of demo_out -> .npz
  deferflow convert model.ckpt-1000 model.safetensors
  deferflow convert --from weights.npz restored/model.ckpt"""

DTYPES_KEY = "__deferflow_dtypes__"
# safetensors dtype codes -> NumPy/ml_dtypes type names
_SAFETENSORS = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                "U64": "uint64", "I32": "int32", "U32": "uint32", "I16": "int16", "U16": "uint16", "I8": "int8",
                "U8": "uint8", "BOOL": "bool", "C64": "complex64", "F8_E4M3": "float8_e4m3fn",
                "F8_E5M2": "float8_e5m2"}


def add_parser(sub, formatter):
    p = sub.add_parser("convert", help=HELP, description=HELP + ".", epilog=EXAMPLES, formatter_class=formatter)
    p.add_argument("source", metavar="CHECKPOINT", help="checkpoint prefix, .index or directory (with --from: "
                                                        "a .npz or .safetensors file)")
    p.add_argument("out", metavar="OUT", help="a .npz or .safetensors file (with --from: a checkpoint prefix)")
    p.add_argument("--from", dest="reverse", action="store_true",
                   help="read SOURCE as .npz/.safetensors and write a TensorFlow checkpoint at OUT")
    p.set_defaults(run=run)


def _is_extension_dtype(dtype):
    """True for dtypes NumPy itself lacks (ml_dtypes' bfloat16, float8...): .npy stores them as void."""
    return dtype.kind == "V"


def _format(path):
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npz", ".safetensors"):
        raise CLIError(f"{path}: unsupported format {ext or '(no extension)'}; use .npz or .safetensors")
    return ext


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise CLIError("the safetensors package is not installed: pip install 'deferflow[safetensors]'") from None
    return safetensors


def read_checkpoint(path):
    """(prefix, {name: array}, [skipped names with why])."""
    from deferflow.formats import errors

    prefix, reader = open_checkpoint(path)
    tensors, skipped = {}, []
    with reader:
        for name in reader.keys():
            try:
                tensors[name] = reader.read(name)
            except errors.UnsupportedFormatError as e:  # resource/variant entries have no array form
                skipped.append(f"{name} ({e.detail.split(': ', 1)[-1]})")
            except errors.FormatError as e:
                raise CLIError(f"{e.filename}: {e.detail}") from None
    return prefix, tensors, skipped


def to_npz(tensors, out):
    arrays, extension_dtypes = {}, {}
    for name, array in tensors.items():
        if array.dtype == object:
            if any(bytes(v).endswith(b"\0") for v in array.reshape(-1)):
                raise CLIError(f"string tensor {name!r} has elements ending in NUL bytes, which .npz bytes "
                               "arrays cannot hold; use .safetensors for its numeric tensors")
            array = np.array([bytes(v) for v in array.reshape(-1)], dtype="S").reshape(array.shape)
        elif _is_extension_dtype(array.dtype):
            extension_dtypes[name] = array.dtype.name
            array = array.view(f"u{array.dtype.itemsize}")
        arrays[name] = array
    if extension_dtypes:
        arrays[DTYPES_KEY] = np.array(json.dumps(extension_dtypes, sort_keys=True).encode())
    _ensure_parent(out)
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return []


def to_safetensors(tensors, out, source):
    st = _safetensors()
    keep, skipped = {}, []
    for name, array in tensors.items():
        if array.dtype == object or array.dtype.kind in "SU":
            skipped.append(f"{name} (string tensor: safetensors holds numbers only)")
        elif array.dtype == np.complex128:
            skipped.append(f"{name} (complex128 has no safetensors dtype)")
        else:
            keep[name] = np.require(array, requirements="C")  # ascontiguousarray would make scalars 1-d
    _ensure_parent(out)
    try:
        st.numpy.save_file(keep, out, metadata={"converted_by": "deferflow", "source": os.path.basename(source)})
    except Exception as e:  # an unsupported dtype is the only expected cause
        raise CLIError(f"{out}: safetensors could not write these tensors: {e}") from None
    return skipped


def from_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise CLIError(f"{path}: not a readable .npz file without pickles ({e})") from None
    dtypes = {}
    if DTYPES_KEY in arrays:
        try:
            dtypes = json.loads(arrays.pop(DTYPES_KEY).item())
        except (ValueError, AttributeError):
            raise CLIError(f"{path}: entry {DTYPES_KEY!r} is not the JSON deferflow writes") from None
    for name, type_name in dtypes.items():
        if name in arrays:
            arrays[name] = arrays[name].view(_extension_dtype(type_name, path))
    for name, array in arrays.items():
        if array.dtype.kind in "SU":
            arrays[name] = np.array(array.reshape(-1).tolist(), dtype=object).reshape(array.shape)
    return arrays


def _extension_dtype(type_name, path):
    import ml_dtypes
    if not hasattr(ml_dtypes, type_name):
        raise CLIError(f"{path}: dtype {type_name!r} is unknown to this ml_dtypes version")
    return np.dtype(getattr(ml_dtypes, type_name))


def from_safetensors(path):
    st = _safetensors()
    try:
        with open(path, "rb") as f:
            items = st.deserialize(f.read())
    except Exception as e:  # safetensors raises its own error type for bad headers
        raise CLIError(f"{path}: not a readable .safetensors file ({e})") from None
    arrays = {}
    for name, spec in items:
        type_name = _SAFETENSORS.get(spec["dtype"])
        if type_name is None:
            raise CLIError(f"{path}: tensor {name!r} has dtype {spec['dtype']}, which TensorFlow checkpoints "
                           "do not hold")
        dtype = np.dtype(type_name) if hasattr(np, type_name) else _extension_dtype(type_name, path)
        arrays[name] = np.frombuffer(bytes(spec["data"]), dtype=dtype).reshape(spec["shape"])
    return arrays


def write_checkpoint(arrays, out):
    from deferflow.formats import bundle, checkpoint_state

    if os.path.isdir(out) or out.endswith(os.sep):
        out = os.path.join(out, "model.ckpt")
    try:
        bundle.save(out, dict(sorted(arrays.items())))
    except (KeyError, TypeError, ValueError) as e:
        raise CLIError(f"cannot write checkpoint {out}: {e}") from None
    directory = os.path.dirname(os.path.abspath(out))
    state = checkpoint_state.make_checkpoint_state(os.path.basename(out))
    checkpoint_state.write_checkpoint_state(os.path.join(directory, checkpoint_state.CHECKPOINT_FILENAME), state)
    return out


def _ensure_parent(path):
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"{path}: directory {parent} does not exist")


def run(args):
    if args.reverse:
        ext = _format(args.source)
        if not os.path.isfile(args.source):
            raise missing_path_error(args.source)
        arrays = from_npz(args.source) if ext == ".npz" else from_safetensors(args.source)
        if not arrays:
            raise CLIError(f"{args.source}: holds no tensors")
        prefix = write_checkpoint(arrays, args.out)
        size = sum(os.path.getsize(os.path.join(os.path.dirname(os.path.abspath(prefix)), f))
                   for f in os.listdir(os.path.dirname(os.path.abspath(prefix)))
                   if f.startswith(os.path.basename(prefix) + "."))
        print(f"wrote checkpoint {prefix} ({len(arrays)} tensors, {human_bytes(size)}) and the 'checkpoint' "
              f"file beside it")
        return 0
    ext = _format(args.out)
    prefix, tensors, skipped = read_checkpoint(args.source)
    if ext == ".npz":
        skipped += to_npz(tensors, args.out)
    else:
        skipped += to_safetensors(tensors, args.out, prefix)
    written = len(tensors) - sum(1 for s in skipped if s.split(" (")[0] in tensors)
    print(f"wrote {args.out} ({written} tensors, {human_bytes(os.path.getsize(args.out))}) from checkpoint {prefix}")
    for s in skipped:
        print(f"  skipped {s}", file=sys.stderr)
    return 0
