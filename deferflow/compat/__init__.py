"""``deferflow.compat``: ``compat.v1`` is the whole deferflow namespace (TF1 graph mode)."""
import sys as _sys


def __getattr__(name):
    if name in ("v1", "v2"):
        import deferflow
        return deferflow
    raise AttributeError(name)


def as_bytes(bytes_or_text, encoding="utf-8"):
    return bytes_or_text.encode(encoding) if isinstance(bytes_or_text, str) else bytes(bytes_or_text)


def as_text(bytes_or_text, encoding="utf-8"):
    return bytes_or_text.decode(encoding) if isinstance(bytes_or_text, bytes) else bytes_or_text


as_str = as_text
as_str_any = str
_ = _sys
