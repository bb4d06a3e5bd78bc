"""TensorFlow DataType enum numbers <-> NumPy dtypes and element sizes (bytes-level only).

The framework keeps its own DType class; this table is what the file formats need.
DT_STRING maps to NumPy ``object`` (elements are ``bytes``); DT_RESOURCE and DT_VARIANT have no
NumPy form. ``_REF`` enums are the base enum + 100.
"""
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from deferflow.formats.proto import types_pb2

REF_OFFSET = 100


@dataclass(frozen=True)
class DTypeInfo:
    enum: int
    name: str                 # TensorFlow's python name, e.g. "float32"
    numpy: object             # np.dtype, or None when the type has no NumPy form
    itemsize: int             # bytes per element in a bundle; 0 for variable-size (string) or none

    @property
    def enum_name(self):
        return types_pb2.DataType.Name(self.enum)


def _row(enum_name, name, np_type):
    dtype = None if np_type is None else np.dtype(np_type)
    size = 0 if dtype is None or dtype.kind == "O" else dtype.itemsize
    return DTypeInfo(types_pb2.DataType.Value(enum_name), name, dtype, size)


_ROWS = [
    ("DT_FLOAT", "float32", np.float32), ("DT_DOUBLE", "float64", np.float64),
    ("DT_INT32", "int32", np.int32), ("DT_UINT8", "uint8", np.uint8),
    ("DT_INT16", "int16", np.int16), ("DT_INT8", "int8", np.int8),
    ("DT_STRING", "string", object), ("DT_COMPLEX64", "complex64", np.complex64),
    ("DT_INT64", "int64", np.int64), ("DT_BOOL", "bool", np.bool_),
    ("DT_QINT8", "qint8", np.int8), ("DT_QUINT8", "quint8", np.uint8),
    ("DT_QINT32", "qint32", np.int32), ("DT_BFLOAT16", "bfloat16", ml_dtypes.bfloat16),
    ("DT_QINT16", "qint16", np.int16), ("DT_QUINT16", "quint16", np.uint16),
    ("DT_UINT16", "uint16", np.uint16), ("DT_COMPLEX128", "complex128", np.complex128),
    ("DT_HALF", "float16", np.float16), ("DT_RESOURCE", "resource", None),
    ("DT_VARIANT", "variant", None), ("DT_UINT32", "uint32", np.uint32),
    ("DT_UINT64", "uint64", np.uint64),
]
# Narrow float/int types exist only in newer ml_dtypes releases.
for _enum, _name in [("DT_FLOAT8_E5M2", "float8_e5m2"), ("DT_FLOAT8_E4M3FN", "float8_e4m3fn"),
                     ("DT_FLOAT8_E4M3FNUZ", "float8_e4m3fnuz"), ("DT_FLOAT8_E4M3B11FNUZ", "float8_e4m3b11fnuz"),
                     ("DT_FLOAT8_E5M2FNUZ", "float8_e5m2fnuz"), ("DT_INT4", "int4"), ("DT_UINT4", "uint4"),
                     ("DT_INT2", "int2"), ("DT_UINT2", "uint2"), ("DT_FLOAT4_E2M1FN", "float4_e2m1fn")]:
    if hasattr(ml_dtypes, _name):
        _ROWS.append((_enum, _name, getattr(ml_dtypes, _name)))

BY_ENUM = {info.enum: info for info in (_row(*r) for r in _ROWS)}
BY_NAME = {info.name: info for info in BY_ENUM.values()}
# NumPy -> enum picks the plain type (int8 -> DT_INT8, never the quantized DT_QINT8).
_BY_NUMPY = {info.numpy: info for info in BY_ENUM.values()
             if info.numpy is not None and not info.name.startswith("q")}


def base_enum(enum):
    """The non-reference enum (DT_FLOAT_REF -> DT_FLOAT)."""
    return enum - REF_OFFSET if enum > REF_OFFSET else enum


def info_for_enum(enum):
    """DTypeInfo for a DataType number (ref types map to their base). KeyError if unknown."""
    return BY_ENUM[base_enum(int(enum))]


def info_for_numpy(dtype):
    """DTypeInfo for a NumPy dtype; str/bytes/object dtypes give DT_STRING. KeyError if unsupported."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return BY_ENUM[types_pb2.DT_STRING]
    if dtype.byteorder == ">":
        dtype = dtype.newbyteorder("<")
    return _BY_NUMPY[dtype]


def numpy_for_enum(enum):
    """NumPy dtype for a DataType number (object for DT_STRING). KeyError if it has none."""
    info = info_for_enum(enum)
    if info.numpy is None:
        raise KeyError(f"{info.enum_name} has no NumPy representation")
    return info.numpy
