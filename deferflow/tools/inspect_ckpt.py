"""``deferflow inspect``: what is in a TensorFlow checkpoint (TF's inspect_checkpoint, without TF)."""
import sys

import numpy as np

from deferflow.tools.cli import dtype_name, human_bytes, open_checkpoint, read_tensor, shape_str, table

HELP = "list the tensors of a checkpoint (names, dtypes, shapes, sizes, values, statistics)"
EXAMPLES = """examples:
  deferflow inspect demo_out                      latest checkpoint named by demo_out/checkpoint
  deferflow inspect model.ckpt-1000               a checkpoint prefix (or its .index file)
  deferflow inspect model.ckpt --stats            add min/max/mean/std of every tensor
  deferflow inspect model.ckpt --tensor fc7/weights
  deferflow inspect model.ckpt --all-tensors --full"""


def add_parser(sub, formatter):
    p = sub.add_parser("inspect", help=HELP, description=HELP + ".", epilog=EXAMPLES, formatter_class=formatter)
    p.add_argument("path", metavar="PATH", help="checkpoint prefix, its .index file, or a directory with a "
                                                "'checkpoint' file")
    p.add_argument("--tensor", action="append", metavar="NAME", help="print this tensor's values (repeatable)")
    p.add_argument("--all-tensors", action="store_true", help="print every tensor's values")
    p.add_argument("--stats", action="store_true", help="min, max, mean and std of each tensor")
    p.add_argument("--full", action="store_true", help="print values in full, without '...' summarising")
    p.set_defaults(run=run)


def stats(array):
    """(min, max, mean, std) as strings, or dashes where they do not apply (strings, empty, complex)."""
    if array.dtype == object or array.dtype.kind in "SUc" or array.size == 0:
        return ["-"] * 4
    a = array.astype(np.float64)
    with np.errstate(all="ignore"):
        return [f"{v:.6g}" for v in (a.min(), a.max(), a.mean(), a.std())]


def _nbytes(entry, reader):
    if entry.slices:  # a partitioned tensor: its bytes are in the slice entries
        from deferflow.formats import tensor_slice
        return sum(reader.entry(tensor_slice.encode_tensor_name_slice(entry.key.encode(), list(e))).size
                   for e in entry.slices)
    return entry.size


def _print_values(name, array, reader, full):
    entry = reader.entry(name)
    print(f"tensor_name: {name}  ({dtype_name(entry.dtype)} {shape_str(entry.shape)})")
    options = {"threshold": sys.maxsize} if full else {}
    with np.printoptions(**options):
        print(array)


def run(args):
    prefix, reader = open_checkpoint(args.path)
    with reader:
        names = reader.keys()
        if args.tensor:
            for name in args.tensor:
                array = read_tensor(reader, name)
                _print_values(name, array, reader, args.full)
                if args.stats:
                    print("min {} max {} mean {} std {}".format(*stats(array)))
            return 0
        rows, total_values, total_bytes, arrays = [], 0, 0, {}
        for name in names:
            entry = reader.entry(name)
            nbytes = _nbytes(entry, reader)
            total_values += entry.num_elements
            total_bytes += nbytes
            row = [name, dtype_name(entry.dtype), shape_str(entry.shape), f"{nbytes:,}"]
            if args.stats or args.all_tensors:
                arrays[name] = read_tensor(reader, name)  # reading verifies every checksum
                if args.stats:
                    row += stats(arrays[name])
            rows.append(row)
        header = ["name", "dtype", "shape", "bytes"] + (["min", "max", "mean", "std"] if args.stats else [])
        shards = reader.num_shards
        print(f"checkpoint {prefix}  ({shards} data shard{'s' * (shards != 1)})")
        print(table(rows, header, right={3, 4, 5, 6, 7}))
        print(f"{len(names)} tensors, {total_values:,} values, {total_bytes:,} bytes ({human_bytes(total_bytes)})")
        if args.all_tensors:
            for name in names:
                print()
                _print_values(name, arrays[name], reader, args.full)
    return 0
