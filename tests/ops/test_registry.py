"""Registry-wide checks: every op deferflow defines is complete and matches TensorFlow's signature.

These walk ``op_registry.registered_ops()`` (all families, whoever wrote them), skipping op types that
were only learned from an imported graph (``from_graph``).
"""
import numpy as np
import pytest

import deferflow  # noqa: F401 - imports every op family
from deferflow.framework import dtypes, op_registry

# Control-flow op types that may stay incomplete until TF1 control flow lands. Empty: nothing needs it yet.
CONTROL_FLOW_ALLOWLIST = set()

# TF registers a gradient *function* for these that returns only None; deferflow marks them no_gradient().
TF_GRADIENT_IS_NONE = {"ArgMax", "ArgMin", "Ceil", "Floor", "FloorDiv", "Rint", "Round", "TruncateDiv"}


def _ops():
    return sorted((name, od) for name, od in op_registry.registered_ops().items() if not od.from_graph)


def _our_gradient_status(od):
    if od.grad_fn is op_registry.NO_GRADIENT:
        return "none"
    if getattr(od.grad_fn, "lookup_error", False):
        return "lookup"
    return "fn" if od.grad_fn is not None else "missing"


@pytest.mark.parametrize("name", [n for n, _ in _ops()])
def test_op_is_complete(name):
    """Shape function, NumPy kernel, and a gradient or an explicit "no gradient"."""
    if name in CONTROL_FLOW_ALLOWLIST:
        pytest.skip("control-flow op allowed to be incomplete")
    od = op_registry.get(name)
    missing = [what for what, v in (("shape function", od.shape_fn), ("kernel", od.kernel_fn),
                                    ("gradient or no_gradient()", od.grad_fn)) if v is None]
    assert not missing, f"op {name} lacks: {', '.join(missing)}"


def test_registry_is_not_trivially_small():
    names = {n for n, _ in _ops()}
    assert {"MatMul", "Sum", "StridedSlice", "GatherV2", "Einsum", "TopKV2", "Conv2D", "VariableV2"} <= names


# ---- differential: signatures and gradient registrations against TensorFlow's own registries --------
def _tf_registries(tf_real):
    from tensorflow.python.framework import op_def_registry
    from tensorflow.python.framework import ops as tf_ops
    return op_def_registry, tf_ops._gradient_registry


def _tf_type_name(enum):
    from tensorflow.core.framework import types_pb2
    return types_pb2.DataType.Name(enum)[3:].lower()


_TF_NAMES = {"float": "float32", "double": "float64", "half": "float16"}


def _as_dtype_name(tf_name):
    return _TF_NAMES.get(tf_name, tf_name)


def _tf_default(attr):
    d = attr.default_value
    which = d.WhichOneof("value")
    if which is None:
        return "<none>"
    v = getattr(d, which)
    if which == "type":
        return _as_dtype_name(_tf_type_name(v))
    if which == "s":
        return v.decode()
    if which == "list":
        return list(v.i) or [x.decode() for x in v.s] or [_as_dtype_name(_tf_type_name(t)) for t in v.type] or []
    if which == "tensor":
        return "<tensor>"
    if which == "shape":
        return None if v.unknown_rank else [d.size for d in v.dim]
    return v


def _our_default(spec):
    v = spec.default
    if isinstance(v, np.ndarray):
        return "<tensor>"
    if isinstance(v, dtypes.DType):
        return v.name
    if hasattr(v, "as_proto_dims"):
        unknown, dims = v.as_proto_dims()
        return None if unknown else dims
    if isinstance(v, list):
        return [x.name if isinstance(x, dtypes.DType) else x for x in v]
    return v


def _arg_sig(arg, tf=False):
    if tf:
        t = arg.type_attr or arg.type_list_attr or _as_dtype_name(_tf_type_name(arg.type))
        return (arg.name, t, arg.number_attr, arg.is_ref)
    t = arg.type_attr if arg.type_attr and not arg.type_list_attr else (arg.type_list_attr or arg.dtype.name)
    return (arg.name, t, arg.number_attr or "", arg.is_ref)


@pytest.mark.parametrize("name", [n for n, _ in _ops()])
def test_signature_matches_tensorflow(tf_real, name):
    """Input/output names and kinds, attr names, kinds and defaults as TF's OpDef; allowed types a subset."""
    op_defs, _ = _tf_registries(tf_real)
    tf_def = op_defs.get(name)
    if tf_def is None:
        pytest.skip(f"{name} is not a TensorFlow op")
    od = op_registry.get(name)
    assert [_arg_sig(a) for a in od.inputs] == [_arg_sig(a, tf=True) for a in tf_def.input_arg]
    assert [_arg_sig(a) for a in od.outputs] == [_arg_sig(a, tf=True) for a in tf_def.output_arg]
    tf_attrs = {a.name: a for a in tf_def.attr}
    assert set(od.attrs) == set(tf_attrs), f"attrs differ: ours {sorted(od.attrs)}, TF {sorted(tf_attrs)}"
    for attr_name, spec in od.attrs.items():
        ta = tf_attrs[attr_name]
        assert spec.type == ta.type, f"attr {attr_name}: kind {spec.type} vs TF {ta.type}"
        if ta.HasField("default_value"):
            assert spec.has_default, f"attr {attr_name} lacks TF's default"
            ours, theirs = _our_default(spec), _tf_default(ta)
            if isinstance(theirs, float):
                assert np.isclose(ours, theirs), f"attr {attr_name} default {ours!r} vs TF {theirs!r}"
            else:
                assert ours == theirs, f"attr {attr_name} default {ours!r} vs TF {theirs!r}"
        else:
            assert not spec.has_default, f"attr {attr_name} has a default TF's OpDef lacks"
        if spec.allowed and ta.allowed_values.list.type:
            allowed = {_as_dtype_name(_tf_type_name(t)) for t in ta.allowed_values.list.type}
            extra = {t.name for t in spec.allowed} - allowed
            assert not extra, f"attr {attr_name} allows types TF does not: {sorted(extra)}"
        if spec.allowed and ta.allowed_values.list.s:
            assert set(spec.allowed) == {s.decode() for s in ta.allowed_values.list.s}
        if ta.has_minimum:
            assert spec.minimum == ta.minimum, f"attr {attr_name} minimum {spec.minimum} vs TF {ta.minimum}"


def _may_be_float(od, arg):
    if arg.dtype is not None:
        return arg.dtype.base_dtype.is_floating or arg.dtype.base_dtype.is_complex
    spec = od.attrs.get(arg.type_attr or arg.type_list_attr)
    return spec is None or not spec.allowed or any(t.is_floating or t.is_complex for t in spec.allowed)


def _can_carry_gradient(od):
    """Whether an op has an input and an output that may be float (only then is its gradient ever asked for)."""
    return any(_may_be_float(od, a) for a in od.inputs) and any(_may_be_float(od, a) for a in od.outputs)


@pytest.mark.parametrize("name", [n for n, od in _ops() if _can_carry_gradient(od)])
def test_gradient_registration_matches_tensorflow(tf_real, name):
    """TF raises LookupError / differentiates / says "no gradient": so does deferflow."""
    _, grads = _tf_registries(tf_real)
    try:
        fn = grads.lookup(name)
        theirs = "none" if fn is None or name in TF_GRADIENT_IS_NONE else "fn"
    except LookupError:
        theirs = "lookup"
    ours = _our_gradient_status(op_registry.get(name))
    assert ours == theirs, f"{name}: deferflow's gradient is {ours!r}, TensorFlow's is {theirs!r}"
