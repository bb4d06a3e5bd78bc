"""Byte-level helpers shared by the formats: varints, fixed ints, masked CRC32C."""
import struct

import google_crc32c
import numpy as np

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


class DecodeError(ValueError):
    """Bytes end early or hold an invalid encoding; callers re-raise it naming the file."""


def crc32c(data, crc=0):
    """CRC32C of a bytes-like object or contiguous ndarray, without copying it."""
    if isinstance(data, (bytes, np.ndarray)):
        return google_crc32c.extend(crc, data)
    view = np.frombuffer(data, np.uint8)  # memoryview/bytearray: the C helper only takes read-only buffers
    view.flags.writeable = False
    return google_crc32c.extend(crc, view)


def array_crc32c(array, crc=0, chunk=64 << 20):
    """CRC32C of a C-contiguous ndarray's bytes (zero-copy, in chunks)."""
    flat = array.reshape(-1).view(np.uint8)
    flat.flags.writeable = False  # the C helper accepts only read-only buffers
    for start in range(0, flat.size, chunk):
        crc = google_crc32c.extend(crc, flat[start:start + chunk])
    return crc


def mask(crc):
    """LevelDB/TensorFlow masked CRC: rotate right by 15 and add a constant."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def unmask(masked):
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32


def put_varint(value):
    """Unsigned LEB128 varint as used by LevelDB tables and protobuf."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def get_varint(buf, pos, end, max_bytes=10, what="varint"):
    """Decode a varint from buf[pos:end]; returns (value, new_pos). Raises DecodeError."""
    result = shift = 0
    limit = min(end, pos + max_bytes)
    while pos < limit:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >> (32 if max_bytes == 5 else 64):
                raise DecodeError(f"{what} out of range")
            return result, pos
        shift += 7
    raise DecodeError(f"truncated or overlong {what}")


def get_fixed32(buf, pos):
    return struct.unpack_from("<I", buf, pos)[0]


def put_fixed32(value):
    return struct.pack("<I", value)
