"""``arg_scope``: default keyword arguments for functions marked with ``add_arg_scope``.

One stack of ``{function key: {kwarg: value}}`` dicts per process, as TF-slim keeps it; a call's own
keyword arguments win over the scope's.
"""
import contextlib
import functools

__all__ = ["arg_scope", "add_arg_scope", "current_arg_scope", "has_arg_scope", "arg_scoped_arguments",
           "arg_scope_func_key"]

_STACK = [{}]
_DECORATED = {}  # key -> names of the keyword arguments the function takes


def current_arg_scope():
    if not _STACK:
        _STACK.append({})
    return _STACK[-1]


def arg_scope_func_key(op):
    return getattr(op, "_key_op", str(op))


def _keyword_names(func):
    code = func.__code__
    n_defaults = len(func.__defaults__ or ())
    names = code.co_varnames[code.co_argcount - n_defaults:code.co_argcount]
    return tuple(names) + tuple(code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount])


def add_arg_scope(func):
    """Decorates ``func`` so that an enclosing ``arg_scope([func], ...)`` supplies its keyword defaults."""
    key = arg_scope_func_key(func)

    @functools.wraps(func)
    def func_with_args(*args, **kwargs):
        scoped = current_arg_scope().get(key)
        if scoped:
            merged = dict(scoped)
            merged.update(kwargs)
            kwargs = merged
        return func(*args, **kwargs)

    _DECORATED[key] = _keyword_names(func)
    func_with_args._key_op = key
    return func_with_args


def has_arg_scope(func):
    return arg_scope_func_key(func) in _DECORATED


def arg_scoped_arguments(func):
    if not has_arg_scope(func):
        raise ValueError(f"{getattr(func, '__name__', func)} is not decorated with @add_arg_scope")
    return _DECORATED[arg_scope_func_key(func)]


@contextlib.contextmanager
def arg_scope(list_ops_or_scope, **kwargs):
    """Sets ``kwargs`` as defaults for every function in ``list_ops_or_scope`` (or re-enters a yielded scope
    dict). Yields the scope dict, which can be passed to a later ``arg_scope`` to reuse it."""
    if isinstance(list_ops_or_scope, dict):
        if kwargs:
            raise ValueError("When attempting to re-use a scope by suppling a dictionary, kwargs must be empty.")
        scope = list_ops_or_scope.copy()
    else:
        if not isinstance(list_ops_or_scope, (list, tuple)):
            raise TypeError("list_ops_or_scope must either be a list/tuple or reused scope (i.e. dict)")
        scope = current_arg_scope().copy()
        for op in list_ops_or_scope:
            if not has_arg_scope(op):
                raise ValueError(f"{(getattr(op, '__module__', None), getattr(op, '__name__', op))} is not "
                                 "decorated with @add_arg_scope")
            key = arg_scope_func_key(op)
            merged = dict(scope.get(key, {}))
            merged.update(kwargs)
            scope[key] = merged
    _STACK.append(scope)
    try:
        yield scope
    finally:
        _STACK.pop()
