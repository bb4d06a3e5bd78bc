"""The op registry: one ``OpDef`` per TensorFlow op type, holding its TF signature, attrs,
shape function, NumPy kernel and gradient side by side.

It sits in framework/ (not ops/) because graph construction needs signatures to type outputs;
the op families in ``deferflow/ops`` fill it in.
"""
import inspect
import re

from deferflow.framework import dtypes

_NO_DEFAULT = object()
NO_GRADIENT = object()  # marks an op as explicitly not differentiable

_REGISTRY = {}


class ArgSpec:
    __slots__ = ("name", "dtype", "type_attr", "number_attr", "type_list_attr", "is_ref")

    def __init__(self, name, dtype=None, type_attr=None, number_attr=None, type_list_attr=None, is_ref=False):
        self.name, self.dtype, self.type_attr = name, dtype, type_attr
        self.number_attr, self.type_list_attr, self.is_ref = number_attr, type_list_attr, is_ref

    @property
    def is_list(self):
        return bool(self.number_attr or self.type_list_attr)


class AttrSpec:
    __slots__ = ("name", "type", "default", "allowed", "minimum")

    def __init__(self, name, type_, default=_NO_DEFAULT, allowed=None, minimum=None):
        self.name, self.type, self.default, self.allowed, self.minimum = name, type_, default, allowed, minimum

    @property
    def has_default(self):
        return self.default is not _NO_DEFAULT


class OpDef:
    """Everything deferflow knows about one TF op type."""

    def __init__(self, name, inputs, outputs, attrs, is_stateful=False):
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.attrs = attrs  # dict name -> AttrSpec, in declaration order
        self.is_stateful = is_stateful
        self.shape_fn = None
        self.kernel_fn = None
        self.kernel_attrs = ()  # attr names the kernel takes as keywords
        self.kernel_needs_ctx = False
        self.grad_fn = None
        self.broadcasting = False  # gradients of inputs get reduced to input shapes centrally
        self.from_graph = False  # signature learned from an imported file, no implementation

    # decorators: @Op.shape, @Op.kernel, @Op.grad
    def shape(self, fn):
        self.shape_fn = fn
        return fn

    def kernel(self, fn=None, *, ctx=False):
        def deco(f):
            params = list(inspect.signature(f).parameters.values())
            self.kernel_needs_ctx = ctx
            self.kernel_attrs = tuple(p.name for p in params if p.kind == p.KEYWORD_ONLY)
            self.kernel_fn = f
            return f
        return deco(fn) if fn is not None else deco

    def grad(self, fn):
        self.grad_fn = fn
        return fn

    def no_gradient(self):
        self.grad_fn = NO_GRADIENT
        return self

    def __repr__(self):
        return f"<OpDef {self.name}>"


_TYPE_NAMES = {"half": "float16", "float": "float32", "double": "float64"}


def _parse_dtype(tok):
    tok = tok.strip()
    if tok.startswith("DT_"):
        tok = tok[3:].lower()
    return dtypes.as_dtype(_TYPE_NAMES.get(tok, tok))


def _split_top(s, sep=","):
    out, depth, cur, quote = [], 0, "", None
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _parse_arg(spec, attrs):
    name, _, t = (x.strip() for x in spec.partition(":"))
    is_ref = False
    m = re.fullmatch(r"Ref\((.*)\)", t)
    if m:
        is_ref, t = True, m.group(1).strip()
    m = re.fullmatch(r"(\w+)\s*\*\s*(\w+)", t)
    if m:
        number, elem = m.groups()
        if elem in attrs:
            return ArgSpec(name, number_attr=number, type_attr=elem, is_ref=is_ref)
        return ArgSpec(name, dtype=_parse_dtype(elem), number_attr=number, is_ref=is_ref)
    if t in attrs:
        if attrs[t].type.startswith("list"):
            return ArgSpec(name, type_list_attr=t, is_ref=is_ref)
        return ArgSpec(name, type_attr=t, is_ref=is_ref)
    return ArgSpec(name, dtype=_parse_dtype(t), is_ref=is_ref)


def _parse_value(text, type_):
    text = text.strip()
    if type_.startswith("list"):
        inner = text.strip()[1:-1]
        return [_parse_value(x, type_[5:-1]) for x in _split_top(inner)]
    if type_ == "type" or type_.startswith("{") and not type_.startswith("{'"):
        return _parse_dtype(text)
    if type_ == "bool":
        return text == "true"
    if type_ == "int":
        return int(text)
    if type_ == "float":
        return float(text)
    if type_ == "shape":
        return None if text == "None" else [int(x) for x in _split_top(text[1:-1])]
    if text[:1] in "'\"":
        return text[1:-1]
    return text


def _parse_attr(spec):
    head, _, default = re.sub(r"(?<![<>])=", "\0", spec, count=1).partition("\0")  # not the "=" of ">="
    name, _, t = (x.strip() for x in head.partition(":"))
    minimum = None
    m = re.fullmatch(r"(.*?)\s*>=\s*(-?\d+)", t)
    if m:
        t, minimum = m.group(1).strip(), int(m.group(2))
    allowed = None
    kind = t
    m = re.fullmatch(r"(list\()?\{(.*)\}(\))?", t)
    if m:
        vals = _split_top(m.group(2))
        if vals and vals[0][:1] in "'\"":
            allowed = [v[1:-1] for v in vals]
            kind = "list(string)" if m.group(1) else "string"
        else:
            allowed = [_parse_dtype(v) for v in vals]
            kind = "list(type)" if m.group(1) else "type"
    d = _NO_DEFAULT
    if default.strip():
        d = _parse_value(default, kind)
        if kind == "shape" and d is not None:
            from deferflow.framework.tensor_shape import TensorShape
            d = TensorShape(d)
        elif kind == "shape":
            from deferflow.framework.tensor_shape import unknown_shape
            d = unknown_shape()
    return AttrSpec(name, kind, d, allowed, minimum)


def define(name, inputs="", outputs="", attrs=(), stateful=False):
    """Declares a TF op type from TF-style signature strings and returns its ``OpDef``.

    ``inputs``/``outputs``: ``"x: T, y: T"``, ``"values: N * T"``, ``"ref: Ref(T)"``, ``"shape: int32"``.
    ``attrs``: ``["T: {float, double}", "transpose_a: bool = false", "N: int >= 1"]``.
    """
    attr_specs = {}
    for a in attrs:
        spec = _parse_attr(a)
        attr_specs[spec.name] = spec
    ins = [_parse_arg(s, attr_specs) for s in _split_top(inputs)]
    outs = [_parse_arg(s, attr_specs) for s in _split_top(outputs)]
    op = OpDef(name, ins, outs, attr_specs, stateful)
    if name in _REGISTRY and not _REGISTRY[name].from_graph:
        raise KeyError(f"Op type {name!r} is defined twice")
    _REGISTRY[name] = op
    return op


# Op families that ``import deferflow`` leaves for first use (tf.data, tf.image); an op type not registered
# yet is looked for there before it counts as unknown, so graphs holding those ops import with kernels.
_LAZY_MODULES = ["deferflow.ops.dataset_ops", "deferflow.ops.image_ops"]


def get(op_type):
    od = _REGISTRY.get(op_type)
    if od is None and _LAZY_MODULES:
        import importlib
        while _LAZY_MODULES:
            importlib.import_module(_LAZY_MODULES.pop())
        od = _REGISTRY.get(op_type)
    return od


def registered_ops():
    return dict(_REGISTRY)


def register_kernel(op_type, fn):
    """Supplies a NumPy kernel for an op type deferflow lacks (e.g. a custom op in a legacy graph).

    ``fn(*inputs, **attrs)`` returns one array or a tuple of arrays, one per output.
    """
    op = _REGISTRY.get(op_type)
    if op is None:
        raise KeyError(f"Op type {op_type!r} is unknown: import a graph using it first, or define() it")
    op.kernel(fn)
    if not op.kernel_attrs:  # a plain fn(*inputs, **attrs) gets every attr
        op.kernel_attrs = tuple(op.attrs)
        op._kernel_takes_all = True
    return fn


def output_dtypes(op_def, attrs):
    """The output DTypes of an op with these (complete) attrs."""
    out = []
    for arg in op_def.outputs:
        if arg.type_list_attr:
            ts = [dtypes.as_dtype(t) for t in attrs[arg.type_list_attr]]
        else:
            t = arg.dtype if arg.dtype is not None else dtypes.as_dtype(attrs[arg.type_attr])
            ts = [t] * (attrs[arg.number_attr] if arg.number_attr else 1)
        out.extend(t._as_ref if arg.is_ref else t for t in ts)
    return out
