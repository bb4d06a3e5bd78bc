"""Tensor slices as checkpoints store them: extents, TF's slice strings, and slice keys.

An extent is ``(start, length)``; ``length == -1`` means the whole dimension. A partitioned
variable is saved as one entry for the full tensor (listing its slices) plus one entry per slice
under an OrderedCode key: ``num(0) string(name) num(rank) {signed(start) signed(length)}*``.
"""
from deferflow.formats.coding import DecodeError
from deferflow.formats.proto.tensor_slice_pb2 import TensorSliceProto

FULL = -1


# --- OrderedCode (tensorflow/core/lib/strings/ordered_code): order-preserving key encoding ---

def _write_num_increasing(value):
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(body)]) + body


def _escape(s):
    out = bytearray()
    for byte in s:
        if byte == 0:
            out += b"\x00\xff"
        elif byte == 0xFF:
            out += b"\xff\x00"
        else:
            out.append(byte)
    return bytes(out)


def _write_signed_num_increasing(value):
    # Length n covers values with up to 7n-1 significant bits; the top n bits flag sign and length.
    n = (~value if value < 0 else value).bit_length() // 7 + 1
    header = ((1 << n) - 1) << (8 * n - n)
    return ((value & ((1 << (8 * n)) - 1)) ^ header).to_bytes(n, "big")


def _read_num_increasing(buf, pos):
    if pos >= len(buf) or buf[pos] > 8 or pos + 1 + buf[pos] > len(buf):
        raise DecodeError("bad unsigned number in slice key")
    n = buf[pos]
    return int.from_bytes(buf[pos + 1:pos + 1 + n], "big"), pos + 1 + n


def _read_string(buf, pos):
    out = bytearray()
    while pos + 1 < len(buf):
        byte = buf[pos]
        if byte == 0x00 or byte == 0xFF:
            pair = buf[pos:pos + 2]
            if pair == b"\x00\x01":
                return bytes(out), pos + 2
            if pair == b"\x00\xff":
                out.append(0)
            elif pair == b"\xff\x00":
                out.append(0xFF)
            else:
                raise DecodeError("bad escape in slice key")
            pos += 2
        else:
            out.append(byte)
            pos += 1
    raise DecodeError("unterminated string in slice key")


def _read_signed_num_increasing(buf, pos):
    if pos >= len(buf):
        raise DecodeError("truncated signed number in slice key")
    invert = 0 if buf[pos] & 0x80 else 0xFF  # negative numbers have their header bits inverted
    head = int.from_bytes(bytes(b ^ invert for b in buf[pos:pos + 2]).ljust(2, b"\0"), "big")
    n = 0
    while n < 11 and head & (0x8000 >> n):
        n += 1
    if not 1 <= n <= 10 or pos + n > len(buf):
        raise DecodeError("bad signed number in slice key")
    header = ((1 << n) - 1) << (8 * n - n)
    value = int.from_bytes(buf[pos:pos + n], "big") ^ header
    if value >> (8 * n - 1):
        value -= 1 << (8 * n)
    if not -(1 << 63) <= value < (1 << 63):
        raise DecodeError("signed number in slice key out of range")
    return value, pos + n


def encode_tensor_name_slice(name, extents):
    """The bundle key under which slice ``extents`` of tensor ``name`` is stored."""
    name = name.encode() if isinstance(name, str) else bytes(name)
    key = _write_num_increasing(0) + _escape(name) + b"\x00\x01" + _write_num_increasing(len(extents))
    for start, length in extents:
        key += _write_signed_num_increasing(start) + _write_signed_num_increasing(length)
    return key


def decode_tensor_name_slice(key):
    """(name bytes, extents) from a slice key. Raises DecodeError on malformed keys."""
    key = bytes(key)
    zero, pos = _read_num_increasing(key, 0)
    if zero != 0:
        raise DecodeError("slice key does not start with 0")
    name, pos = _read_string(key, pos)
    rank, pos = _read_num_increasing(key, pos)
    if rank == 0 or rank > 64:
        raise DecodeError(f"bad rank {rank} in slice key")
    extents = []
    for _ in range(rank):
        start, pos = _read_signed_num_increasing(key, pos)
        length, pos = _read_signed_num_increasing(key, pos)
        extents.append((start, length) if length >= 0 else (0, FULL))
    if pos != len(key):
        raise DecodeError("trailing bytes in slice key")
    return name, extents


def is_slice_key(key):
    """Slice keys start with a NUL byte (OrderedCode's 0); variable names never do."""
    return bytes(key[:1]) == b"\x00"


# --- TensorSliceProto and TensorFlow's slice strings ("0,4:-") ---

def extents_from_proto(proto):
    return [(e.start, e.length) if e.HasField("length") else (e.start, FULL) for e in proto.extent]


def extents_to_proto(extents, proto=None):
    proto = TensorSliceProto() if proto is None else proto
    for start, length in extents:
        extent = proto.extent.add()
        if length != FULL:
            extent.start = start
            extent.length = length
    return proto


def parse_slice_string(spec, rank=None):
    """Parse TensorFlow's slice string ("-:0,4" etc.; "" means all of a rank-``rank`` tensor)."""
    if spec == "" and rank is not None:
        return [(0, FULL)] * rank
    extents = []
    for part in spec.split(":"):
        if part == "-":
            extents.append((0, FULL))
            continue
        fields = part.split(",")
        if len(fields) != 2:
            raise ValueError(f"bad slice string {spec!r}")
        start, length = int(fields[0]), int(fields[1])
        if start < 0 or length < 0:
            raise ValueError(f"bad slice string {spec!r}: negative start or length")
        extents.append((start, length))
    if rank is not None and len(extents) != rank:
        raise ValueError(f"slice string {spec!r} has {len(extents)} dims, expected {rank}")
    return extents


def slice_string(extents):
    """TensorFlow's string for ``extents`` (inverse of parse_slice_string)."""
    return ":".join("-" if length == FULL else f"{start},{length}" for start, length in extents)


def parse_shape_and_slice(spec):
    """Parse a SaveSlices/RestoreV2 ``shape_and_slices`` string "d0 d1 ... slice" -> (shape, extents)."""
    parts = spec.split(" ")
    if len(parts) < 2:
        raise ValueError(f"shape_and_slice {spec!r} needs a shape and a slice")
    shape = [int(d) for d in parts[:-1]]
    extents = parse_slice_string(parts[-1], len(shape))
    return shape, extents


def resolve(extents, shape):
    """Concrete (start, stop) per dimension, validated against ``shape``. ValueError if out of range."""
    if len(extents) != len(shape):
        raise ValueError(f"slice of rank {len(extents)} for a tensor of rank {len(shape)}")
    bounds = []
    for (start, length), dim in zip(extents, shape):
        stop = dim if length == FULL else start + length
        if length == FULL:
            start = 0
        if not 0 <= start <= stop <= dim:
            raise ValueError(f"slice {slice_string(extents)} out of range for shape {list(shape)}")
        bounds.append((start, stop))
    return bounds
