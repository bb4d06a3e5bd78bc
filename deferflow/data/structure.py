"""Element structures as tf.data sees them: tuples, namedtuples and dicts nest; lists are single tensors."""


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def is_nested(x):
    return isinstance(x, (tuple, dict))


def _children(x):
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x)


def flatten(s):
    if not is_nested(s):
        return [s]
    return [leaf for c in _children(s) for leaf in flatten(c)]


def pack(template, flat):
    flat = list(flat)
    pos = [0]

    def build(s):
        if not is_nested(s):
            pos[0] += 1
            return flat[pos[0] - 1]
        items = [build(c) for c in _children(s)]
        if isinstance(s, dict):
            return type(s)(zip(sorted(s), items))
        return type(s)(*items) if _is_namedtuple(s) else tuple(items)
    out = build(template)
    if pos[0] != len(flat):
        raise ValueError(f"Structure {template} has {pos[0]} components, got {len(flat)}")
    return out


def map_structure(fn, s):
    return pack(s, [fn(x) for x in flatten(s)])


def same_structure(a, b):
    if is_nested(a) != is_nested(b):
        return False
    if not is_nested(a):
        return True
    if isinstance(a, dict) != isinstance(b, dict) or isinstance(a, dict) and sorted(a) != sorted(b):
        return False
    ca, cb = _children(a), _children(b)
    return len(ca) == len(cb) and all(same_structure(x, y) for x, y in zip(ca, cb))


def describe(s):
    """``s`` printed the way TF prints element structures (dtypes as ``tf.int64``)."""
    if isinstance(s, dict):
        return "{" + ", ".join(f"{k!r}: {describe(s[k])}" for k in sorted(s)) + "}"
    if is_nested(s):
        inner = ", ".join(describe(c) for c in s)
        return f"({inner},)" if len(s) == 1 else f"({inner})"
    name = getattr(s, "name", None)
    if name is not None and type(s).__name__ == "DType":
        return f"tf.{name}"
    return repr(s)
