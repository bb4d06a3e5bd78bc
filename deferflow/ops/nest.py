"""Nested structures of tensors (lists, tuples, namedtuples, dicts), as TF's ``nest`` treats them.

Control flow (cond branches, while-loop variables, RNN states) flattens structures to lists of tensors
and packs results back into the caller's structure.
"""


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def is_nested(x):
    return isinstance(x, (list, tuple, dict))


def _children(x):
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x)


def flatten(structure):
    """The leaves of ``structure`` in TF's order (dicts by sorted key)."""
    if not is_nested(structure):
        return [structure]
    out = []
    for c in _children(structure):
        out.extend(flatten(c))
    return out


def _rebuild(template, items):
    if isinstance(template, dict):
        keys = sorted(template)
        return type(template)((k, v) for k, v in zip(keys, items)) if type(template) is not dict \
            else dict(zip(keys, items))
    if _is_namedtuple(template):
        return type(template)(*items)
    if isinstance(template, tuple):
        return tuple(items)
    return list(items)


def pack_sequence_as(structure, flat_sequence):
    """``flat_sequence`` packed into the shape of ``structure``."""
    flat_sequence = list(flat_sequence)
    if not is_nested(structure):
        if len(flat_sequence) != 1:
            raise ValueError(f"Structure is a scalar but len(flat_sequence) == {len(flat_sequence)} > 1")
        return flat_sequence[0]
    n = len(flatten(structure))
    if n != len(flat_sequence):
        raise ValueError(f"Could not pack sequence. Structure had {n} atoms, but flat_sequence had "
                         f"{len(flat_sequence)} items. Structure: {structure}, flat_sequence: {flat_sequence}.")
    pos = [0]

    def build(s):
        if not is_nested(s):
            v = flat_sequence[pos[0]]
            pos[0] += 1
            return v
        return _rebuild(s, [build(c) for c in _children(s)])
    return build(structure)


def assert_same_structure(a, b, check_types=True):
    """Raises ValueError (different nesting or lengths) or TypeError (different sequence types)."""
    def walk(x, y):
        if is_nested(x) != is_nested(y):
            raise ValueError(f"The two structures don't have the same nested structure.\n\nFirst structure: {a}"
                             f"\n\nSecond structure: {b}")
        if not is_nested(x):
            return
        if check_types and type(x) is not type(y) and not (isinstance(x, (list, tuple)) and
                                                           isinstance(y, (list, tuple)) and
                                                           not _is_namedtuple(x) and not _is_namedtuple(y)):
            raise TypeError(f"The two structures don't have the same sequence type. Input structure has type "
                            f"{type(x)}, while shallow structure has type {type(y)}.")
        if isinstance(x, dict) and sorted(x) != sorted(y):
            raise ValueError(f"The two dictionaries don't have the same set of keys. First structure has keys "
                             f"{sorted(x)}, while second structure has keys {sorted(y)}.")
        cx, cy = _children(x), _children(y)
        if len(cx) != len(cy):
            raise ValueError(f"The two structures don't have the same nested structure.\n\nFirst structure: {a}"
                             f"\n\nSecond structure: {b}\n\nMore specifically: The two structures don't have the "
                             f"same number of elements. First structure: {x}. Second structure: {y}")
        for p, q in zip(cx, cy):
            walk(p, q)
    walk(a, b)


def map_structure(fn, *structures):
    """``fn`` applied leafwise to structures of the same shape; the result has the first one's shape."""
    for s in structures[1:]:
        assert_same_structure(structures[0], s, check_types=False)
    flats = [flatten(s) for s in structures]
    return pack_sequence_as(structures[0], [fn(*xs) for xs in zip(*flats)])
