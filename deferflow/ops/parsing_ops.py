"""``tf.train.Example`` parsing (``tf.io.parse_example``/``parse_single_example``) and ``tf.io.decode_raw``.

The graph ops are TensorFlow's: ``ParseExampleV2`` (what TF 2.x builds for both calls; a scalar ``serialized``
parses one example) and ``ParseSingleExample`` (older graphs), ``DecodeRaw``/``DecodePaddedRaw``. Kernels
decode the protos with deferflow's own ``example_pb2`` (wire-compatible with TF's) and raise TF's
``InvalidArgumentError`` messages for missing required features, mismatched types and wrong value counts.
"""
import collections

import numpy as np

from deferflow.framework import dtypes, errors, op_registry
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor, name_scope
from deferflow.ops.common import lookup_error_gradient

define = op_registry.define

_PARSE_TYPES = "{float, int64, string}"


class FixedLenFeature(collections.namedtuple("FixedLenFeature", ["shape", "dtype", "default_value"])):
    """A dense feature of fixed ``shape``; missing in an example: ``default_value`` (None: required)."""

    def __new__(cls, shape, dtype, default_value=None):
        return super().__new__(cls, shape, dtype, default_value)


class FixedLenSequenceFeature(collections.namedtuple(
        "FixedLenSequenceFeature", ["shape", "dtype", "allow_missing", "default_value"])):
    """A dense feature of any number of ``shape``-elements, padded to the batch's longest with ``default_value``."""

    def __new__(cls, shape, dtype, allow_missing=False, default_value=None):
        return super().__new__(cls, shape, dtype, allow_missing, default_value)


class VarLenFeature(collections.namedtuple("VarLenFeature", ["dtype"])):
    """A feature of any number of values, parsed into a ``SparseTensor``."""


# ---- kernels -------------------------------------------------------------------------------------
_KINDS = {"bytes_list": dtypes.string, "float_list": dtypes.float32, "int64_list": dtypes.int64}


def _invalid(msg):
    return errors.InvalidArgumentError(None, None, msg)


def _examples(serialized):
    from deferflow.formats.proto.example_pb2 import Example
    from google.protobuf.message import DecodeError
    out = []
    for s in np.asarray(serialized, dtype=object).reshape(-1).tolist():
        b = s if isinstance(s, bytes) else str(s).encode()
        try:
            out.append(Example.FromString(b).features.feature)
        except DecodeError:
            raise _invalid(f"Could not parse example input, value: '{b.decode('utf-8', 'replace')}'") from None
    return out


def _values(feature):
    """(dtype, values) of one ``Feature``; (None, None) when it holds no list."""
    kind = feature.WhichOneof("kind")
    if kind is None:
        return None, None
    return _KINDS[kind], getattr(feature, kind).value


def _array(values, dtype):
    if dtype == dtypes.string:
        a = np.empty(len(values), dtype=object)
        a[:] = list(values)
        return a
    return np.asarray(values, dtype=dtype.as_numpy_dtype)


def _shape_text(shape):
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"


def _where(names, i, single):
    if single:
        return ""
    name = names[i] if names is not None and len(names) else None
    name = "<unknown>" if name is None else (name.decode() if isinstance(name, bytes) else str(name))
    return f"Name: {name}, "


def _parse(serialized, names, sparse_keys, sparse_types, dense_keys, dense_types, dense_shapes, dense_defaults):
    """Flat outputs: sparse indices..., sparse values..., sparse shapes..., dense values..."""
    single = np.ndim(serialized) == 0
    feats = _examples(serialized)
    names = None if names is None else np.asarray(names, dtype=object).reshape(-1).tolist()
    n = len(feats)
    dense = []
    for key, dt, shape, default in zip(dense_keys, dense_types, dense_shapes, dense_defaults):
        shape = [-1 if d is None else int(d) for d in shape]
        variable = bool(shape) and shape[0] < 0
        stride = int(np.prod(shape[1:] if variable else shape, dtype=np.int64))
        default = np.asarray(default)
        rows = []
        for i, f in enumerate(feats):
            got_type, vals = _values(f[key]) if key in f else (None, None)
            if vals is None:
                if variable:
                    rows.append(_array([], dt))
                    continue
                if default.size == 0:
                    raise _invalid(f"{_where(names, i, single)}Feature: {key} (data type: {dt.name}) is required "
                                   f"but could not be found.")
                rows.append(default.reshape(-1))
                continue
            if got_type != dt:
                raise _invalid(f"{_where(names, i, single)}Key: {key}, Index: {i}.  Data types don't match. "
                               f"Data type: {got_type.name.replace('float32', 'float')} but expected type: "
                               f"{dt.name.replace('float32', 'float')}")
            if variable:
                if stride and len(vals) % stride:
                    raise _invalid(f"{_where(names, i, single)}Key: {key}, Index: {i}.  Number of "
                                   f"{dt.name.replace('float32', 'float')} values is not a multiple of stride "
                                   f"length. Saw {len(vals)} values but output shape is: {_shape_text(shape)}")
            elif len(vals) != stride:
                raise _invalid(f"{_where(names, i, single)}Key: {key}, Index: {i}.  Number of "
                               f"{dt.name.replace('float32', 'float')} values != expected.  Values size: "
                               f"{len(vals)} but output shape: {_shape_text(shape)}")
            rows.append(_array(vals, dt))
        if variable:
            longest = max([len(r) // stride if stride else 0 for r in rows], default=0)
            out = np.empty([n, longest] + shape[1:], dtype=object if dt == dtypes.string else dt.as_numpy_dtype)
            out[...] = default.reshape(()) if default.size else (b"" if dt == dtypes.string else 0)
            for i, r in enumerate(rows):
                out[i, :len(r) // stride if stride else 0] = r.reshape([-1] + shape[1:])
        else:
            out = np.stack([r.reshape(shape) for r in rows]) if rows else \
                np.zeros([0] + shape, dtype=object if dt == dtypes.string else dt.as_numpy_dtype)
        dense.append(out[0] if single else out)
    indices, values, shapes = [], [], []
    for key, dt in zip(sparse_keys, sparse_types):
        idx, vals, longest = [], [], 0
        for i, f in enumerate(feats):
            got_type, v = _values(f[key]) if key in f else (None, None)
            if v is None:
                continue
            if got_type != dt:
                raise _invalid(f"{_where(names, i, single)}Key: {key}, Index: {i}.  Data types don't match. "
                               f"Expected type: {dt.name.replace('float32', 'float')}, Actual type: "
                               f"{got_type.name.replace('float32', 'float')}")
            idx.extend((i, j) for j in range(len(v)))
            vals.extend(v)
            longest = max(longest, len(v))
        ind = np.asarray(idx, dtype=np.int64).reshape(-1, 2)
        if single:
            indices.append(np.ascontiguousarray(ind[:, 1:]))
            shapes.append(np.array([longest], np.int64))
        else:
            indices.append(ind)
            shapes.append(np.array([n, longest], np.int64))
        values.append(_array(vals, dt))
    return tuple(indices + values + shapes + dense)


def _strings(a):
    return [x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else str(x)
            for x in np.asarray(a, dtype=object).reshape(-1).tolist()]


ParseExampleV2 = define(
    "ParseExampleV2", "serialized: string, names: string, sparse_keys: string, dense_keys: string, "
                      "ragged_keys: string, dense_defaults: Tdense",
    "sparse_indices: num_sparse * int64, sparse_values: sparse_types, sparse_shapes: num_sparse * int64, "
    "dense_values: Tdense, ragged_values: ragged_value_types, ragged_row_splits: ragged_split_types",
    [f"Tdense: list({_PARSE_TYPES}) >= 0", "num_sparse: int >= 0", f"sparse_types: list({_PARSE_TYPES}) >= 0",
     f"ragged_value_types: list({_PARSE_TYPES}) >= 0", "ragged_split_types: list({int32, int64}) >= 0",
     "dense_shapes: list(shape) >= 0"])
lookup_error_gradient(ParseExampleV2)  # TF registers no gradient


def _batch_prefix(serialized_shape):
    if serialized_shape.ndims is None:
        return None
    if serialized_shape.ndims > 1:
        raise ValueError(f"Shape must be at most rank 1 but is rank {serialized_shape.ndims}")
    return serialized_shape.as_list()


@ParseExampleV2.shape
def _parse_v2_shape(op):
    a = op._attrs
    prefix = _batch_prefix(op._inputs[0].shape)
    rank = None if prefix is None else len(prefix)
    k = a["num_sparse"]
    out = [ts.TensorShape([None, None if rank is None else rank + 1])] * k + [ts.TensorShape([None])] * k
    out += [ts.TensorShape([None if rank is None else rank + 1])] * k
    for s in a["dense_shapes"]:
        s = ts.as_shape(s)
        out.append(ts.unknown_shape() if prefix is None else ts.TensorShape(prefix).concatenate(s))
    out += [ts.TensorShape([None])] * (len(a["ragged_value_types"]) + len(a["ragged_split_types"]))
    return out


def _dense_shapes(shapes):
    return [[None if d is None else d for d in ts.as_shape(s).as_list()] for s in shapes]


@ParseExampleV2.kernel
def _parse_v2_kernel(serialized, names, sparse_keys, dense_keys, ragged_keys, *dense_defaults, Tdense, num_sparse,
                     sparse_types, ragged_value_types, ragged_split_types, dense_shapes):
    if np.ndim(serialized) > 1:
        raise _invalid(f"Expected serialized to be a scalar or vector, got shape: {list(np.shape(serialized))}")
    if len(ragged_value_types):
        raise errors.UnimplementedError(None, None, "deferflow does not parse ragged features")
    names = np.asarray(names, dtype=object)
    return _parse(serialized, names if names.size else None, _strings(sparse_keys), list(sparse_types),
                  _strings(dense_keys), list(Tdense), _dense_shapes(dense_shapes), list(dense_defaults))


ParseSingleExample = define(
    "ParseSingleExample", "serialized: string, dense_defaults: Tdense",
    "sparse_indices: num_sparse * int64, sparse_values: sparse_types, sparse_shapes: num_sparse * int64, "
    "dense_values: Tdense",
    ["num_sparse: int >= 0", "sparse_keys: list(string) >= 0", "dense_keys: list(string) >= 0",
     f"sparse_types: list({_PARSE_TYPES}) >= 0", f"Tdense: list({_PARSE_TYPES}) >= 0",
     "dense_shapes: list(shape) >= 0"])
lookup_error_gradient(ParseSingleExample)  # TF registers no gradient


@ParseSingleExample.shape
def _parse_single_shape(op):
    a = op._attrs
    k = a["num_sparse"]
    return ([ts.TensorShape([None, 1])] * k + [ts.TensorShape([None])] * k + [ts.TensorShape([1])] * k
            + [ts.as_shape(s) for s in a["dense_shapes"]])


@ParseSingleExample.kernel
def _parse_single_kernel(serialized, *dense_defaults, num_sparse, sparse_keys, dense_keys, sparse_types, Tdense,
                         dense_shapes):
    if np.ndim(serialized) != 0:
        raise _invalid(f"Expected `serialized` to be a scalar, got shape: {list(np.shape(serialized))}")
    return _parse(serialized, None, _strings(sparse_keys), list(sparse_types), _strings(dense_keys), list(Tdense),
                  _dense_shapes(dense_shapes), list(dense_defaults))


# ---- graph builders ------------------------------------------------------------------------------
def _features(features):
    if not features:
        raise ValueError(f"Argument `features` cannot be None or falsy. Got {features}")
    sparse, dense = [], []
    for key in sorted(features):
        f = features[key]
        if isinstance(f, VarLenFeature):
            sparse.append((key, dtypes.as_dtype(f.dtype)))
        elif isinstance(f, (FixedLenFeature, FixedLenSequenceFeature)):
            dense.append((key, f))
        else:
            raise ValueError(f"Unsupported feature type: {type(f).__name__}")
    return sparse, dense


def _dense_default(key, f):
    from deferflow.ops.array_ops import constant, reshape
    dt = dtypes.as_dtype(f.dtype)
    shape = ts.as_shape(f.shape)
    if isinstance(f, FixedLenSequenceFeature):
        if not f.allow_missing:
            raise ValueError(f"Unsupported: FixedLenSequenceFeature requires allow_missing to be True. Feature "
                             f"{key}.")
        if shape.ndims is None or not shape.is_fully_defined():
            raise ValueError(f"All dimensions of shape for feature {key} need to be known but received {f.shape}.")
        pad = f.default_value if f.default_value is not None else (b"" if dt == dtypes.string else 0)
        value = convert_to_tensor(pad, dtype=dt, name=f"padding_{key}")
        return reshape(value, [], name="Reshape"), ts.TensorShape([None]).concatenate(shape)
    if shape.ndims is None:
        raise ValueError(f"Missing shape for feature {key}.")
    if shape.ndims and shape[0].value is None:
        raise ValueError(f"First dimension of shape for feature {key} unknown. Consider using "
                         f"FixedLenSequenceFeature. Received feature={f}.")
    if not shape.is_fully_defined():
        raise ValueError(f"All dimensions of shape for feature {key} need to be known but received {f.shape}.")
    if f.default_value is None:
        return constant([], dtype=dt, name="Const"), shape
    value = convert_to_tensor(f.default_value, dtype=dt, name=f"key_{key}")
    return reshape(value, shape.as_list(), name="Reshape"), shape


def _check_type(dt):
    if dt not in (dtypes.float32, dtypes.int64, dtypes.string):
        raise TypeError(f"Value passed to parameter 'dense_defaults' has DataType {dt.name} not in list of allowed "
                        f"values: float32, int64, string")


def parse_example(serialized, features, name=None, example_names=None):
    """``tf.io.parse_example``: a dict of dense tensors (``FixedLenFeature``/``FixedLenSequenceFeature``) and
    ``SparseTensor``s (``VarLenFeature``) parsed from a batch of serialized ``Example`` protos."""
    from deferflow.framework.sparse_tensor import SparseTensor
    sparse, dense = _features(features)
    for _, f in dense:
        _check_type(dtypes.as_dtype(f.dtype))
    for _, dt in sparse:
        if dt not in (dtypes.float32, dtypes.int64, dtypes.string):
            raise TypeError(f"Value passed to parameter 'sparse_types' has DataType {dt.name} not in list of "
                            f"allowed values: float32, int64, string")
    with name_scope(name, "ParseExample", [serialized, example_names]):
        serialized = convert_to_tensor(serialized, dtype=dtypes.string, name="serialized")
        defaults, shapes = [], []
        for key, f in dense:
            d, s = _dense_default(key, f)
            defaults.append(d)
            shapes.append(s)
        names = example_names if example_names is not None else np.zeros([0], dtype=object)
        out = apply_op("ParseExampleV2", name="ParseExampleV2", serialized=serialized,
                       names=convert_to_tensor(names, dtype=dtypes.string, name="ParseExampleV2/names"),
                       sparse_keys=_key_const([k for k, _ in sparse], "sparse_keys"),
                       dense_keys=_key_const([k for k, _ in dense], "dense_keys"),
                       ragged_keys=_key_const([], "ragged_keys"),
                       dense_defaults=defaults, Tdense=[dtypes.as_dtype(f.dtype) for _, f in dense],
                       num_sparse=len(sparse), sparse_types=[dt for _, dt in sparse], ragged_value_types=[],
                       ragged_split_types=[], dense_shapes=shapes)
    ind, vals, shp, dvals = out[0], out[1], out[2], out[3]
    result = {}
    for i, (key, _) in enumerate(sparse):
        result[key] = SparseTensor(ind[i], vals[i], shp[i])
    for i, (key, _) in enumerate(dense):
        result[key] = dvals[i]
    return result


def _key_const(keys, name):
    from deferflow.ops.array_ops import constant
    return constant(np.array([k.encode() for k in keys], dtype=object).reshape([len(keys)]), dtype=dtypes.string,
                    name=f"ParseExampleV2/{name}")


def parse_single_example(serialized, features, name=None, example_names=None):
    """``tf.io.parse_single_example``: ``parse_example`` of one scalar serialized ``Example``."""
    with name_scope(name, "ParseSingleExample", [serialized, example_names]):
        serialized = convert_to_tensor(serialized, dtype=dtypes.string, name="serialized")
        if serialized.shape.ndims not in (None, 0):
            raise ValueError(f"Input serialized must be a scalar, got shape {serialized.shape}")
        return parse_example(serialized, features, example_names=example_names)


# ---- decode_raw ----------------------------------------------------------------------------------
_RAW_TYPES = "{half, float, double, int32, uint16, uint8, int16, int8, int64, complex64, complex128, bool, bfloat16}"
DecodeRaw = define("DecodeRaw", "bytes: string", "output: out_type",
                   [f"out_type: {_RAW_TYPES}", "little_endian: bool = true"])
DecodeRaw.no_gradient()


@DecodeRaw.shape
def _decode_raw_shape(op):
    s = op._inputs[0].shape
    return [ts.unknown_shape() if s.ndims is None else s.concatenate(ts.TensorShape([None]))]


def _np_type(out_type, little_endian):
    nd = np.dtype(out_type.as_numpy_dtype)
    return nd.newbyteorder("<" if little_endian else ">") if nd.itemsize > 1 and nd.kind != "b" else nd


@DecodeRaw.kernel
def _decode_raw_kernel(data, *, out_type, little_endian):
    arr = np.asarray(data, dtype=object)
    flat = [x if isinstance(x, bytes) else str(x).encode() for x in arr.reshape(-1).tolist()]
    nd = _np_type(out_type, little_endian)
    size = nd.itemsize
    if not flat:
        return np.zeros(arr.shape + (0,), dtype=out_type.as_numpy_dtype)
    first = len(flat[0])
    if first % size:
        raise _invalid(f"Input to DecodeRaw has length {first} that is not a multiple of {size}, the size of "
                       f"{out_type.name.replace('float32', 'float').replace('float64', 'double')}")
    for i, x in enumerate(flat[1:], 1):
        if len(x) != first:
            raise _invalid(f"DecodeRaw requires input strings to all be the same size, but element {i} has size "
                           f"{len(x)} != {first}")
    out = np.frombuffer(b"".join(flat), dtype=nd).astype(out_type.as_numpy_dtype)
    return out.reshape(arr.shape + (first // size,))


DecodePaddedRaw = define("DecodePaddedRaw", "input_bytes: string, fixed_length: int32", "output: out_type",
                         ["out_type: {half, float, double, int32, uint16, uint8, int16, int8, int64, bfloat16}",
                          "little_endian: bool = true"])
DecodePaddedRaw.no_gradient()
DecodePaddedRaw.shape(lambda op: [ts.unknown_shape() if op._inputs[0].shape.ndims is None
                                  else op._inputs[0].shape.concatenate(ts.TensorShape([None]))])


@DecodePaddedRaw.kernel
def _decode_padded_raw_kernel(data, fixed_length, *, out_type, little_endian):
    arr = np.asarray(data, dtype=object)
    n = int(fixed_length)
    nd = _np_type(out_type, little_endian)
    if n % nd.itemsize:
        raise _invalid("fixed_length (" + str(n) + ") must be a multiple of the size of out_type ("
                       + str(nd.itemsize) + ")")
    flat = [(x if isinstance(x, bytes) else str(x).encode())[:n].ljust(n, b"\0") for x in arr.reshape(-1).tolist()]
    out = np.frombuffer(b"".join(flat), dtype=nd).astype(out_type.as_numpy_dtype)
    return out.reshape(arr.shape + (n // nd.itemsize,))


def decode_raw(input_bytes=None, out_type=None, little_endian=True, fixed_length=None, name=None, bytes=None):  # noqa: A002
    """``tf.io.decode_raw``: each string's bytes reinterpreted as a vector of ``out_type``."""
    if input_bytes is None:
        input_bytes = bytes
    if input_bytes is None or out_type is None:
        raise TypeError("decode_raw() needs input_bytes and out_type")
    out_type = dtypes.as_dtype(out_type)
    if fixed_length is not None:
        return apply_op("DecodePaddedRaw", name=name, input_bytes=input_bytes,
                        fixed_length=convert_to_tensor(fixed_length, dtype=dtypes.int32),
                        out_type=out_type, little_endian=little_endian)
    return apply_op("DecodeRaw", name=name, bytes=input_bytes, out_type=out_type, little_endian=little_endian)
