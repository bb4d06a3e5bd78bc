"""The ``tf.strings`` namespace (TF 1.x's compat names)."""
from deferflow.ops.string_ops import (  # noqa: F401, A004
    as_string, lower, reduce_join, regex_full_match, regex_replace, split, string_format as format,
    string_join as join, string_length as length, string_to_number as to_number, strip, substr, upper)
