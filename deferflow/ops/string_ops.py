"""String ops (TF's ``string_ops``): AsString, StringToNumber, Substr, RegexReplace,
StaticRegexReplace, ReduceJoin, StringLength, StringLower/Upper and StringSplit.

String tensors are NumPy object arrays of ``bytes``. None of these ops is differentiable; TF registers
some as not differentiable (``none``) and leaves others without any entry (``lookup``), mirrored here.

Regular expressions: TF uses RE2, deferflow Python's ``re`` on the UTF-8-decoded text. Common patterns
agree; RE2 rejects backreferences and lookaround (``re`` accepts them), and character classes such as
``\\pL`` or ``[[:alpha:]]`` differ. Replacement strings use RE2's syntax (``\\0``-``\\9``, ``\\\\``), and
global replacement skips an empty match right after a previous match, as RE2 does.
"""
import re

import numpy as np

from deferflow.framework import dtypes, errors, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.op_registry import define
from deferflow.ops.common import constant_value, lookup_error_gradient, unchanged_shape
from deferflow.ops.io_ops import string_join  # noqa: F401 - StringJoin lives with the saver's ops


def _invalid(msg):
    return errors.InvalidArgumentError(None, None, msg)


def _strings(x):
    return np.asarray(x, dtype=object)


def _as_bytes(v):
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def _str_array(values, shape):
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape)


# ---- AsString ---------------------------------------------------------------------------------------
AsString = define("AsString", "input: T", "output: string",
                  ["T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, uint64, "
                   "complex64, complex128, bool, string}",
                   "precision: int = -1", "scientific: bool = false", "shortest: bool = false", "width: int = -1",
                   "fill: string = ''"])
AsString.shape(unchanged_shape)
AsString.no_gradient()


def _as_string_format(dt, precision, scientific, shortest, width, fill):
    floating = dt.is_floating or dt.is_complex
    if not floating and dt != dtypes.bool and precision > -1:
        raise _invalid(f"precision not supported for datatype {dt.name}")
    if not floating and (scientific or shortest):
        raise _invalid(f"scientific and shortest format not supported for datatype {dt.name}")
    if scientific and shortest:
        raise _invalid("Cannot select both scientific and shortest notation")
    if len(fill) > 1:
        raise _invalid("Fill string must be one or fewer characters")
    fmt = "%"
    if fill:
        if fill not in " +-0#":
            raise _invalid(f'Fill argument not supported: "{fill}"')
        fmt += fill
    if width > -1:
        fmt += str(width)
    if precision > -1:
        fmt += f".{precision}"
    if floating:
        fmt += "g" if shortest else ("e" if scientific else "f")
    elif dt == dtypes.string or dt == dtypes.bool:
        fmt += "s"
    else:
        fmt += "d"
    return fmt


@AsString.kernel
def _as_string_kernel(x, *, T, precision, scientific, shortest, width, fill):
    dt = dtypes.as_dtype(T)
    fmt = _as_string_format(dt, precision, scientific, shortest, width, fill)
    x = np.asarray(x)
    nonfinite_fmt = fmt.replace("%0", "%", 1)  # C's printf pads inf/nan with spaces, not zeros

    def ffmt(v):
        return (fmt if np.isfinite(v) else nonfinite_fmt) % v

    if dt.is_complex:
        fn = lambda v: f"({ffmt(float(v.real))},{ffmt(float(v.imag))})".encode()  # noqa: E731
    elif dt == dtypes.bool:  # TF ignores width and fill for bools
        fn = lambda v: b"true" if v else b"false"  # noqa: E731
    elif dt == dtypes.string:
        fn = lambda v: (fmt % v.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")  # noqa: E731
    elif dt.is_floating:
        vals = x.astype(np.float64).reshape(-1).tolist()
        if nonfinite_fmt != fmt and not np.isfinite(x).all():
            return _str_array([ffmt(v).encode() for v in vals], x.shape)
        return _str_array([(fmt % v).encode() for v in vals], x.shape)
    else:
        return _str_array([(fmt % v).encode() for v in x.reshape(-1).tolist()], x.shape)
    return _str_array([fn(v) for v in x.reshape(-1)], x.shape)


# ---- StringToNumber ---------------------------------------------------------------------------------
StringToNumber = define("StringToNumber", "string_tensor: string", "output: out_type",
                        ["out_type: {float, double, int32, int64, uint32, uint64} = float"])
StringToNumber.shape(unchanged_shape)
StringToNumber.no_gradient()

_INT_RE = re.compile(rb"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*\Z")
_FLOAT_RE = re.compile(rb"[ \t\n\v\f\r]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                       rb"|inf|infinity|nan(?:\([0-9a-z_]*\))?)[ \t\n\v\f\r]*\Z", re.IGNORECASE)
_HEX_RE = re.compile(rb"[ \t\n\v\f\r]*([+-]?0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?)"
                     rb"[ \t\n\v\f\r]*\Z", re.IGNORECASE)
_INT_RANGE = {"int32": (-2 ** 31, 2 ** 31 - 1), "int64": (-2 ** 63, 2 ** 63 - 1),
              "uint32": (0, 2 ** 32 - 1), "uint64": (0, 2 ** 64 - 1)}


def _parse_float(v):
    if _FLOAT_RE.match(v) is not None:
        return float("nan") if b"nan" in v.lower() else float(v)
    hexm = _HEX_RE.match(v)
    return None if hexm is None else float.fromhex(hexm.group(1).decode())


def _parse_int(v, lo, hi):
    if _INT_RE.match(v) is None or (lo == 0 and b"-" in v):  # unsigned types take no minus sign, even "-0"
        return None
    n = int(v)
    return n if lo <= n <= hi else None


@StringToNumber.kernel
def _string_to_number_kernel(s, *, out_type):
    dt = dtypes.as_dtype(out_type)
    s = _strings(s)
    vals = [_as_bytes(v) for v in s.reshape(-1).tolist()]
    if dt.is_floating:
        parsed = [_parse_float(v) for v in vals]
    else:
        lo, hi = _INT_RANGE[dt.name]
        parsed = [_parse_int(v, lo, hi) for v in vals]
    if None in parsed:
        v = vals[parsed.index(None)]
        raise _invalid(f"StringToNumberOp could not correctly convert string: {v.decode('utf-8', 'backslashreplace')}")
    with np.errstate(over="ignore"):  # out-of-range floats become +-inf, as in TF
        out = np.array(parsed, dtype=np.float64 if dt.is_floating else dt.as_numpy_dtype)
        return out.astype(dt.as_numpy_dtype, copy=False).reshape(s.shape)


# ---- Substr -----------------------------------------------------------------------------------------
Substr = define("Substr", "input: string, pos: T, len: T", "output: string",
                ["T: {int32, int64}", "unit: {'BYTE', 'UTF8_CHAR'} = 'BYTE'"])
lookup_error_gradient(Substr)


@Substr.shape
def _substr_shape(op):
    x, pos, ln = (t.shape for t in op._inputs)
    if pos.ndims is not None and ln.ndims is not None and pos.ndims != ln.ndims:
        raise ValueError(f"Shape must be rank {ln.ndims} but is rank {pos.ndims}")  # pos takes len's rank
    pos.merge_with(ln)  # same dims (or fails)
    return [ts.broadcast_shape(x, pos)]  # TF broadcasts the input with pos alone


def _utf8_units(b):
    return b.decode("utf-8", "surrogateescape")


@Substr.kernel
def _substr_kernel(x, pos, ln, *, T, unit):
    x, pos, ln = _strings(x), np.asarray(pos), np.asarray(ln)
    shape = np.broadcast_shapes(x.shape, pos.shape, ln.shape)
    xs = np.broadcast_to(x, shape).reshape(-1)
    ps = np.broadcast_to(pos, shape).reshape(-1)
    ls = np.broadcast_to(ln, shape).reshape(-1)
    out = []
    for i, (s, p, n) in enumerate(zip(xs, ps, ls)):
        s = _as_bytes(s)
        text = _utf8_units(s) if unit == "UTF8_CHAR" else s
        size = len(text)
        p, n = int(p), int(n)
        if p > size or p < -size:
            shown = "" if unit == "UTF8_CHAR" else f" {s!r}"  # TF names the string only for BYTE
            raise _invalid(f"pos {p} out of range for string{shown} at index {i}")
        if p < 0:
            p += size
        piece = text[p:] if n < 0 else text[p:p + n]  # a negative length runs to the end
        out.append(piece.encode("utf-8", "surrogateescape") if unit == "UTF8_CHAR" else piece)
    return _str_array(out, shape)


# ---- RegexReplace / StaticRegexReplace --------------------------------------------------------------
def _compile(pattern):
    pattern = pattern.decode("utf-8", "surrogateescape") if isinstance(pattern, bytes) else pattern
    try:
        return re.compile(pattern)
    except re.error as e:
        raise _invalid(f"Invalid pattern: {pattern}, error: {e}") from None


def _parse_rewrite(rewrite, groups):
    """RE2's rewrite string -> list of literal strings and group numbers; None if it names a missing group
    (RE2 then leaves the input unchanged)."""
    rewrite = rewrite.decode("utf-8", "surrogateescape") if isinstance(rewrite, bytes) else rewrite
    parts, i, lit = [], 0, ""
    while i < len(rewrite):
        c = rewrite[i]
        if c == "\\" and i + 1 < len(rewrite):
            d = rewrite[i + 1]
            if d.isdigit():
                if int(d) > groups:
                    return None
                parts.extend([lit, int(d)])
                lit = ""
            elif d == "\\":
                lit += "\\"
            else:  # RE2 stops rewriting at a bad escape: the match becomes what was written so far
                break
            i += 2
        else:
            lit += c
            i += 1
    parts.append(lit)
    return parts


def _regex_replacer(rx, parts, replace_global):
    """A function bytes -> bytes doing RE2's Replace (first match) or GlobalReplace with a parsed rewrite."""
    if parts is None:  # RE2 refuses the rewrite: the input stays unchanged
        return lambda s: s

    literal = "".join(parts) if all(isinstance(p, str) for p in parts) else None

    def rewrite(m):
        if literal is not None:
            return literal
        return "".join(p if isinstance(p, str) else (m.group(p) or "") for p in parts)

    empty = [False]

    def sub_repl(m):
        if m.start() == m.end():
            empty[0] = True
        return rewrite(m)

    def apply(s):
        text = s.decode("utf-8", "surrogateescape")
        if not replace_global:
            m = rx.search(text)
            if m is None:
                return s
            return (text[:m.start()] + rewrite(m) + text[m.end():]).encode("utf-8", "surrogateescape")
        empty[0] = False
        fast = rx.sub(sub_repl, text)
        if not empty[0]:  # without empty matches re.sub and RE2 agree
            return fast.encode("utf-8", "surrogateescape")
        out, p, lastend, n = [], 0, -1, len(text)
        while p <= n:  # RE2's GlobalReplace loop
            m = rx.search(text, p)
            if m is None:
                break
            start, end = m.span()
            out.append(text[p:start])
            if start == end == lastend:  # no empty match where the last match ended: copy one character on
                out.append(text[p:p + 1])
                p += 1
                continue
            out.append(rewrite(m))
            p = lastend = end
        if lastend < 0:
            return s
        out.append(text[p:])
        return "".join(out).encode("utf-8", "surrogateescape")
    return apply


def _regex_replace(x, pattern, rewrite, replace_global):
    rx = _compile(pattern)
    parts = _parse_rewrite(rewrite, rx.groups)
    x = _strings(x)
    fn = _regex_replacer(rx, parts, replace_global)
    return _str_array([fn(_as_bytes(v)) for v in x.reshape(-1).tolist()], x.shape)


RegexReplace = define("RegexReplace", "input: string, pattern: string, rewrite: string", "output: string",
                      ["replace_global: bool = true"])
RegexReplace.no_gradient()


@RegexReplace.shape
def _regex_replace_shape(op):
    for t in op._inputs[1:]:  # pattern and rewrite are scalars
        if t.shape.ndims not in (0, None):
            raise ValueError(f"Shape must be rank 0 but is rank {t.shape.ndims}")
    return [op._inputs[0].shape]


@RegexReplace.kernel
def _regex_replace_kernel(x, pattern, rewrite, *, replace_global):
    return _regex_replace(x, _as_bytes(np.asarray(pattern).item()), _as_bytes(np.asarray(rewrite).item()),
                          replace_global)


StaticRegexReplace = define("StaticRegexReplace", "input: string", "output: string",
                            ["pattern: string", "rewrite: string", "replace_global: bool = true"])
StaticRegexReplace.shape(unchanged_shape)
lookup_error_gradient(StaticRegexReplace)


@StaticRegexReplace.kernel
def _static_regex_replace_kernel(x, *, pattern, rewrite, replace_global):
    return _regex_replace(x, pattern, rewrite, replace_global)


# ---- ReduceJoin -------------------------------------------------------------------------------------
ReduceJoin = define("ReduceJoin", "inputs: string, reduction_indices: int32", "output: string",
                    ["keep_dims: bool = false", "separator: string = ''"])
ReduceJoin.no_gradient()


def _reduction_axes(axes, rank, static):
    out = []
    for a in np.asarray(axes).reshape(-1):
        a = int(a)
        if not -rank <= a < rank:
            msg = f"Invalid reduction dimension {a} for input with {rank} dimension{'s' if static else '(s)'}"
            raise ValueError(msg + ".") if static else _invalid(msg)
        if a % rank in out:
            raise _invalid(f"Duplicate reduction dimension {a}")
        out.append(a % rank)
    return out


@ReduceJoin.shape
def _reduce_join_shape(op):
    x = op._inputs[0].shape
    axes = constant_value(op._inputs[1])
    if x.ndims is None or axes is None:
        return [ts.unknown_shape()]
    try:
        red = _reduction_axes(axes, x.ndims, True)
    except errors.InvalidArgumentError:
        return [ts.unknown_shape()]  # duplicates fail when the op runs, as in TF
    dims = x.as_list()
    if op._attrs["keep_dims"]:
        return [ts.TensorShape([1 if i in red else d for i, d in enumerate(dims)])]
    return [ts.TensorShape([d for i, d in enumerate(dims) if i not in red])]


@ReduceJoin.kernel
def _reduce_join_kernel(x, axes, *, keep_dims, separator):
    x = _strings(x)
    red = _reduction_axes(axes, x.ndim, False)
    kept = [i for i in range(x.ndim) if i not in red]
    # the first listed axis varies fastest in the joined order
    t = np.transpose(x, kept + red[::-1]) if x.ndim else x
    kept_shape = [x.shape[i] for i in kept]
    n = int(np.prod([x.shape[i] for i in red])) if red else 1
    flat = t.reshape(int(np.prod(kept_shape)), n)
    sep = _as_bytes(separator)
    out = _str_array([sep.join(_as_bytes(v) for v in row) for row in flat], kept_shape)
    if keep_dims:
        out = out.reshape([1 if i in red else d for i, d in enumerate(x.shape)])
    return out


# ---- StringLength, StringLower, StringUpper ---------------------------------------------------------
StringLength = define("StringLength", "input: string", "output: int32", ["unit: {'BYTE', 'UTF8_CHAR'} = 'BYTE'"])
StringLength.shape(unchanged_shape)
lookup_error_gradient(StringLength)


@StringLength.kernel
def _string_length_kernel(x, *, unit):
    x = _strings(x)
    if unit == "UTF8_CHAR":  # counts bytes that do not continue a character, as TF does
        fn = lambda b: sum(1 for c in b if c & 0xC0 != 0x80)  # noqa: E731
    else:
        fn = len
    return np.array([fn(_as_bytes(v)) for v in x.reshape(-1)], dtype=np.int32).reshape(x.shape)


def _case_op(name, ascii_fn, unicode_fn):
    od = define(name, "input: string", "output: string", ["encoding: string = ''"])
    od.shape(unchanged_shape)
    lookup_error_gradient(od)

    @od.kernel
    def _kernel(x, *, encoding):
        x = _strings(x)
        if encoding:
            if encoding != "utf-8":
                raise _invalid(f"only utf-8 or '' (no encoding) is supported, received {encoding}")

            def fn(b):  # invalid UTF-8 becomes U+FFFD, as in TF
                return unicode_fn(b.decode("utf-8", "replace")).encode("utf-8")
        else:
            fn = ascii_fn
        return _str_array([fn(_as_bytes(v)) for v in x.reshape(-1)], x.shape)
    return od


StringLower = _case_op("StringLower", bytes.lower, str.lower)
StringUpper = _case_op("StringUpper", bytes.upper, str.upper)


# ---- StringSplit ------------------------------------------------------------------------------------
StringSplit = define("StringSplit", "input: string, delimiter: string", "indices: int64, values: string, shape: int64",
                     ["skip_empty: bool = true"])
StringSplit.no_gradient()


@StringSplit.shape
def _string_split_shape(op):
    x, d = op._inputs[0].shape, op._inputs[1].shape
    if x.ndims not in (1, None):
        raise ValueError(f"Shape must be rank 1 but is rank {x.ndims}")
    if d.ndims not in (0, None):
        raise ValueError(f"Shape must be rank 0 but is rank {d.ndims}")
    return [ts.TensorShape([None, 2]), ts.TensorShape([None]), ts.TensorShape([2])]


def _split_one(s, delim, skip_empty):
    if not delim:
        return [s[i:i + 1] for i in range(len(s))]
    if len(delim) == 1:
        pieces = s.split(delim)
    else:  # every byte of delim separates
        pieces = re.split(b"[" + b"".join(re.escape(bytes([c])) for c in delim) + b"]", s)
    return [p for p in pieces if p] if skip_empty else pieces


def _sparse_tokens(tokens):
    """Per-row token lists -> (indices [n, 2], values, dense_shape) of a SparseTensor."""
    counts = np.array([len(t) for t in tokens], dtype=np.int64)
    total = int(counts.sum())
    rows = np.repeat(np.arange(len(tokens), dtype=np.int64), counts)
    cols = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    values = _str_array([t for row in tokens for t in row], [total])
    width = int(counts.max()) if len(tokens) else 0
    return np.stack([rows, cols], axis=1).reshape(-1, 2), values, np.array([len(tokens), width], dtype=np.int64)


@StringSplit.kernel
def _string_split_kernel(x, delimiter, *, skip_empty):
    x = _strings(x)
    if x.ndim != 1:
        raise _invalid(f"input must be a vector, got shape: {list(x.shape)}")
    delim = _as_bytes(np.asarray(delimiter).item())
    return _sparse_tokens([_split_one(_as_bytes(s), delim, skip_empty) for s in x.tolist()])


# ---- StringSplitV2, StringStrip, RegexFullMatch ----------------------------------------------------
StringSplitV2 = define("StringSplitV2", "input: string, sep: string", "indices: int64, values: string, shape: int64",
                       ["maxsplit: int = -1"])
StringSplitV2.shape(_string_split_shape)
lookup_error_gradient(StringSplitV2)


@StringSplitV2.kernel
def _string_split_v2_kernel(x, sep, *, maxsplit):
    x = _strings(x)
    if x.ndim != 1:
        raise _invalid(f"input must be a vector, got shape: {list(x.shape)}")
    sep = _as_bytes(np.asarray(sep).item()) or None  # none: runs of whitespace, empty pieces dropped
    return _sparse_tokens([_as_bytes(s).split(sep, maxsplit) for s in x.tolist()])


StringStrip = define("StringStrip", "input: string", "output: string")
StringStrip.shape(unchanged_shape)
lookup_error_gradient(StringStrip)


@StringStrip.kernel
def _string_strip_kernel(x):
    x = _strings(x)
    return _str_array([_as_bytes(v).strip(b" \t\n\v\f\r") for v in x.reshape(-1)], x.shape)


RegexFullMatch = define("RegexFullMatch", "input: string, pattern: string", "output: bool")
lookup_error_gradient(RegexFullMatch)


@RegexFullMatch.shape
def _regex_full_match_shape(op):
    if op._inputs[1].shape.ndims not in (0, None):
        raise ValueError(f"Shape must be rank 0 but is rank {op._inputs[1].shape.ndims}")
    return [op._inputs[0].shape]


@RegexFullMatch.kernel
def _regex_full_match_kernel(x, pattern):
    rx = _compile(_as_bytes(np.asarray(pattern).item()))
    x = _strings(x)
    return np.array([rx.fullmatch(_as_bytes(v).decode("utf-8", "surrogateescape")) is not None
                     for v in x.reshape(-1)], dtype=bool).reshape(x.shape)


# ---- Python API -------------------------------------------------------------------------------------
def as_string(input, precision=-1, scientific=False, shortest=False, width=-1, fill="", name=None):  # noqa: A002
    """``tf.as_string``: each element formatted as a string (AsString)."""
    return ops.apply_op("AsString", name=name, input=input, precision=precision, scientific=scientific,
                        shortest=shortest, width=width, fill=fill)


def string_to_number(string_tensor, out_type=dtypes.float32, name=None):
    """``tf.string_to_number``: parses each string as a number of ``out_type`` (StringToNumber)."""
    return ops.apply_op("StringToNumber", name=name, string_tensor=string_tensor, out_type=out_type)


def substr(input, pos, len, name=None, unit="BYTE"):  # noqa: A002
    """``tf.substr``: substrings from ``pos`` of length ``len`` (Substr)."""
    return ops.apply_op("Substr", name=name, input=input, pos=pos, len=len, unit=unit)


def regex_replace(input, pattern, rewrite, replace_global=True, name=None):  # noqa: A002
    """``tf.regex_replace``: StaticRegexReplace when pattern and rewrite are Python strings, else RegexReplace."""
    if isinstance(pattern, (str, bytes)) and isinstance(rewrite, (str, bytes)):
        as_str = lambda v: v.decode("utf-8") if isinstance(v, bytes) else v  # noqa: E731
        return ops.apply_op("StaticRegexReplace", name=name, input=input, pattern=as_str(pattern),
                            rewrite=as_str(rewrite), replace_global=replace_global)
    return ops.apply_op("RegexReplace", name=name, input=input, pattern=pattern, rewrite=rewrite,
                        replace_global=replace_global)


def reduce_join(inputs, axis=None, keep_dims=None, separator="", name=None, reduction_indices=None,
                keepdims=None):
    """``tf.reduce_join``: joins strings across ``axis`` (all axes when None) (ReduceJoin)."""
    if axis is not None and reduction_indices is not None:
        raise ValueError("Cannot specify both 'axis' and 'reduction_indices'.")
    axis = axis if axis is not None else reduction_indices
    if keepdims is not None and keep_dims is not None:
        raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'.")
    keepdims = bool(keepdims if keepdims is not None else keep_dims)
    with ops.name_scope(None, "ReduceJoin", [inputs]):  # TF's scope ignores ``name``; the op takes it
        x = ops.convert_to_tensor(inputs, dtype=dtypes.string)
        if axis is None:
            if x.shape.ndims is None:
                raise ValueError("Unable to reduce over all dimensions of a tensor of unknown rank.")
            axis = ops.convert_to_tensor(list(range(x.shape.ndims - 1, -1, -1)), dtype=dtypes.int32)
        return ops.apply_op("ReduceJoin", name=name or "ReduceJoin", inputs=x,
                            reduction_indices=axis,
                            keep_dims=keepdims, separator=separator)


def string_length(input, name=None, unit="BYTE"):  # noqa: A002
    """``tf.strings.length``: bytes (or UTF-8 characters) per string (StringLength)."""
    return ops.apply_op("StringLength", name=name, input=input, unit=unit)


def lower(input, encoding="", name=None):  # noqa: A002
    """``tf.strings.lower`` (StringLower)."""
    return ops.apply_op("StringLower", name=name, input=input, encoding=encoding)


def upper(input, encoding="", name=None):  # noqa: A002
    """``tf.strings.upper`` (StringUpper)."""
    return ops.apply_op("StringUpper", name=name, input=input, encoding=encoding)


def string_split(source, sep=None, skip_empty=True, delimiter=None):
    """``tf.string_split``: splits each string of a vector on any byte of ``delimiter`` -> SparseTensor."""
    from deferflow.framework.sparse_tensor import SparseTensor
    if sep is not None and delimiter is not None:
        raise ValueError("Cannot specify both 'sep' and 'delimiter'.")
    delim = sep if sep is not None else (delimiter if delimiter is not None else " ")
    with ops.name_scope(None, "StringSplit", [source]):
        indices, values, shape = ops.apply_op("StringSplit", input=ops.convert_to_tensor(source, dtypes.string),
                                              delimiter=ops.convert_to_tensor(delim, dtypes.string),
                                              skip_empty=skip_empty)
        return SparseTensor(indices, values, shape)


def split(input=None, sep=None, maxsplit=-1, result_type="SparseTensor", source=None, name=None):  # noqa: A002
    """``tf.strings.split`` (TF 1.x): splits each string of a vector on ``sep`` (whitespace runs when None)
    -> SparseTensor (StringSplitV2). Ragged results are not supported."""
    from deferflow.framework.sparse_tensor import SparseTensor
    if input is not None and source is not None:
        raise ValueError("Cannot specify both 'input' and 'source'.")
    input = source if input is None else input  # noqa: A001
    if result_type != "SparseTensor":
        raise NotImplementedError("deferflow has no RaggedTensor: tf.strings.split supports result_type="
                                  "'SparseTensor' only")
    with ops.name_scope(name, "StringSplit", [input]):
        x = ops.convert_to_tensor(input, dtypes.string, name="input")
        if x.shape.ndims is not None and x.shape.ndims != 1:
            raise NotImplementedError("deferflow's tf.strings.split takes a vector (TF returns a ragged result "
                                      "for higher ranks)")
        indices, values, shape = ops.apply_op("StringSplitV2", input=x,
                                              sep=ops.convert_to_tensor("" if sep is None else sep, dtypes.string),
                                              maxsplit=maxsplit)
        return SparseTensor(indices, values, shape)


def strip(input, name=None):  # noqa: A002
    """``tf.strings.strip``: drops leading and trailing whitespace (StringStrip)."""
    return ops.apply_op("StringStrip", name=name, input=input)


def regex_full_match(input, pattern, name=None):  # noqa: A002
    """``tf.strings.regex_full_match``: StaticRegexFullMatch for a Python-string pattern, else RegexFullMatch."""
    if isinstance(pattern, (str, bytes)):
        pattern = pattern.decode("utf-8") if isinstance(pattern, bytes) else pattern
        return ops.apply_op("StaticRegexFullMatch", name=name, input=input, pattern=pattern)
    return ops.apply_op("RegexFullMatch", name=name, input=input, pattern=pattern)


def string_format(template, inputs, placeholder="{}", summarize=3, name=None):
    """``tf.strings.format``: ``template`` with each ``placeholder`` replaced by a tensor's summary (StringFormat)."""
    if isinstance(inputs, ops.Tensor) or not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    n = template.count(placeholder)
    if n != len(inputs):
        raise ValueError(f"The template expects {n} tensors, but the inputs only has {len(inputs)}. Please ensure "
                         "the number of placeholders in template matches inputs length.")
    return ops.apply_op("StringFormat", name=name, inputs=[ops.convert_to_tensor(x) for x in inputs],
                        template=template, placeholder=placeholder, summarize=summarize)
