"""TensorFlow's data types, numbered as in TensorFlow's ``DataType`` enum."""
import builtins

import numpy as np
import ml_dtypes


class DType:
    """A TensorFlow element type (``tf.float32`` ...); ``_ref`` types mark TF1 reference tensors."""

    __slots__ = ("_enum", "_name", "_np", "_hash")

    def __init__(self, enum, name, np_type):
        self._enum = enum
        self._name = name
        self._np = np_type
        self._hash = hash(enum)

    @property
    def as_datatype_enum(self):
        return self._enum

    @property
    def name(self):
        return self._name

    @property
    def as_numpy_dtype(self):
        return self._np

    @property
    def is_ref_dtype(self):
        return self._enum > 100

    @property
    def base_dtype(self):
        return _BY_ENUM[self._enum - 100] if self._enum > 100 else self

    @property
    def real_dtype(self):
        return {complex64: float32, complex128: float64}.get(self.base_dtype, self.base_dtype)

    @property
    def _as_ref(self):
        return self if self._enum > 100 else _BY_ENUM[self._enum + 100]

    @property
    def is_floating(self):
        return self.base_dtype in (float16, float32, float64, bfloat16)

    @property
    def is_complex(self):
        return self.base_dtype in (complex64, complex128)

    @property
    def is_integer(self):
        return self.base_dtype in _INTS

    @property
    def is_unsigned(self):
        return self.base_dtype in (uint8, uint16, uint32, uint64)

    @property
    def is_bool(self):
        return self.base_dtype == bool

    @property
    def is_numpy_compatible(self):
        return self.base_dtype not in (resource, variant)

    @property
    def is_quantized(self):
        return False

    @property
    def size(self):
        return np.dtype(self._np).itemsize if self.is_numpy_compatible and self.base_dtype != string else 1

    @property
    def min(self):
        b = self.base_dtype
        if b.is_floating:
            return builtins.float(ml_dtypes.finfo(b._np).min if b == bfloat16 else np.finfo(b._np).min)
        if b.is_integer:
            return int(np.iinfo(b._np).min)
        if b == bool:
            return False
        raise TypeError(f"Cannot find minimum value of {self}.")

    @property
    def max(self):
        b = self.base_dtype
        if b.is_floating:
            return builtins.float(ml_dtypes.finfo(b._np).max if b == bfloat16 else np.finfo(b._np).max)
        if b.is_integer:
            return int(np.iinfo(b._np).max)
        if b == bool:
            return True
        raise TypeError(f"Cannot find maximum value of {self}.")

    @property
    def limits(self):
        return self.min, self.max

    def is_compatible_with(self, other):
        other = as_dtype(other)
        return self._enum in (other._enum, other.base_dtype._enum)

    def __eq__(self, other):
        if other is self:
            return True
        if other is None:
            return False
        try:
            return self._enum == as_dtype(other)._enum
        except TypeError:
            return False

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"<dtype: '{self._name}'>"

    def __reduce__(self):
        return as_dtype, (self._name,)


_BY_ENUM = {}
_BY_NAME = {}


def _d(enum, name, np_type):
    dt = DType(enum, name, np_type)
    ref = DType(enum + 100, name + "_ref", np_type)
    _BY_ENUM[enum] = dt
    _BY_ENUM[enum + 100] = ref
    _BY_NAME[name] = dt
    _BY_NAME[name + "_ref"] = ref
    return dt


float32 = _d(1, "float32", np.float32)
float64 = _d(2, "float64", np.float64)
int32 = _d(3, "int32", np.int32)
uint8 = _d(4, "uint8", np.uint8)
int16 = _d(5, "int16", np.int16)
int8 = _d(6, "int8", np.int8)
string = _d(7, "string", np.object_)
complex64 = _d(8, "complex64", np.complex64)
int64 = _d(9, "int64", np.int64)
bool = _d(10, "bool", np.bool_)  # noqa: A001 - TensorFlow's public name
qint8 = _d(11, "qint8", np.int8)
quint8 = _d(12, "quint8", np.uint8)
qint32 = _d(13, "qint32", np.int32)
bfloat16 = _d(14, "bfloat16", ml_dtypes.bfloat16)
qint16 = _d(15, "qint16", np.int16)
quint16 = _d(16, "quint16", np.uint16)
uint16 = _d(17, "uint16", np.uint16)
complex128 = _d(18, "complex128", np.complex128)
float16 = _d(19, "float16", np.float16)
resource = _d(20, "resource", np.object_)
variant = _d(21, "variant", np.object_)
uint32 = _d(22, "uint32", np.uint32)
uint64 = _d(23, "uint64", np.uint64)
half = float16
float32_ref, float64_ref, float16_ref, bfloat16_ref = (d._as_ref for d in (float32, float64, float16, bfloat16))
int8_ref, int16_ref, int32_ref, int64_ref = (d._as_ref for d in (int8, int16, int32, int64))
uint8_ref, uint16_ref, bool_ref, string_ref = (d._as_ref for d in (uint8, uint16, bool, string))
complex64_ref, complex128_ref = complex64._as_ref, complex128._as_ref
float = float32  # noqa: A001
double = float64
_INTS = (int8, int16, int32, int64, uint8, uint16, uint32, uint64)

# Names TensorFlow accepts besides the canonical ones (tf.placeholder("float") is float32).
_ALIASES = {"float": float32, "double": float64, "half": float16, "int": int32, "long": int64,
            "bool": bool, "str": string, "bytes": string, "complex": complex128}

_NP_TO_DTYPE = {np.dtype(np.float32): float32, np.dtype(np.float64): float64, np.dtype(np.int32): int32,
                np.dtype(np.uint8): uint8, np.dtype(np.int16): int16, np.dtype(np.int8): int8,
                np.dtype(np.complex64): complex64, np.dtype(np.int64): int64, np.dtype(np.bool_): bool,
                np.dtype(ml_dtypes.bfloat16): bfloat16, np.dtype(np.uint16): uint16,
                np.dtype(np.complex128): complex128, np.dtype(np.float16): float16,
                np.dtype(np.uint32): uint32, np.dtype(np.uint64): uint64, np.dtype(np.object_): string}

QUANTIZED_DTYPES = frozenset([qint8, quint8, qint16, quint16, qint32])


def as_dtype(type_value):
    """Converts a DType, enum number, name, NumPy type or Python type to a ``DType``."""
    if isinstance(type_value, DType):
        return type_value
    if type(type_value) is builtins.int and type_value in _BY_ENUM:
        return _BY_ENUM[type_value]
    if isinstance(type_value, str):
        if type_value in _BY_NAME:
            return _BY_NAME[type_value]
        if type_value in _ALIASES:
            return _ALIASES[type_value]
    py = {builtins.float: float32, builtins.int: int32, builtins.bool: bool, str: string, bytes: string}
    if isinstance(type_value, type) and type_value in py:
        return py[type_value]
    try:
        npd = np.dtype(type_value)
    except Exception:
        npd = None
    if npd is not None:
        if npd.kind in "SU":
            return string
        if npd in _NP_TO_DTYPE:
            return _NP_TO_DTYPE[npd]
    raise TypeError(f"Cannot convert value {type_value!r} to a TensorFlow DType.")


def from_numpy(np_dtype):
    """The DType of a NumPy array's dtype (bytes/str/object arrays are ``string``)."""
    d = _NP_TO_DTYPE.get(np_dtype)
    if d is None:
        return as_dtype(np_dtype)
    return d
