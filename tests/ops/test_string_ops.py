"""String ops (AsString, StringJoin, StringToNumber, Substr, RegexReplace/StaticRegexReplace, ReduceJoin,
StringLength, StringLower/Upper, StringSplit) against real TensorFlow: outputs, static shapes and errors."""
import numpy as np
import pytest

import deferflow
from tests.ops.oprun import assert_same

FLOATS = np.array([0.0, 1.5, -2.25, 1234.5678, 1e-7, 3e20, np.nan, np.inf, -np.inf], np.float32)

CASES = {
    "as_string_float": lambda tf: [tf.as_string(FLOATS)],
    "as_string_double_precision": lambda tf: [tf.as_string(FLOATS.astype(np.float64), precision=3)],
    "as_string_scientific": lambda tf: [tf.as_string(FLOATS, scientific=True, precision=2)],
    "as_string_shortest": lambda tf: [tf.as_string(FLOATS, shortest=True)],
    "as_string_width_fill0": lambda tf: [tf.as_string(FLOATS, width=12, fill="0", precision=1)],
    "as_string_fill_minus": lambda tf: [tf.as_string(np.array([[1, -22], [333, 0]], np.int32), width=5, fill="-")],
    "as_string_fill_plus": lambda tf: [tf.as_string(np.array([1, -22], np.int64), fill="+")],
    "as_string_uint8": lambda tf: [tf.as_string(tf.constant([0, 200, 255], tf.uint8), width=4)],
    "as_string_bool": lambda tf: [tf.as_string([True, False])],
    "as_string_complex": lambda tf: [tf.as_string(tf.constant([1 + 2j, -0.5j], tf.complex64), precision=2)],
    "as_string_string": lambda tf: [tf.as_string(["ab", ""], width=4)],
    "string_join": lambda tf: [tf.string_join([["a", "b"], "-", ["c", "d"]], separator="|")],
    "string_join_scalars": lambda tf: [tf.string_join(["x", "y"]), tf.string_join([[["p"], ["q"]], "!"])],
    "string_to_number_float": lambda tf: [tf.string_to_number(["1.5", " 2", "-3e2", "inf", "-Infinity", ".5",
                                                               "0x10", "+7.", "1e-50"])],
    "string_to_number_ints": lambda tf: [tf.string_to_number(["1", " -20 ", "+7"], tf.int32),
                                         tf.string_to_number(["9999999999", "-3"], tf.int64),
                                         tf.string_to_number(["1.25"], tf.float64)],
    "substr": lambda tf: [tf.substr(["hello", "ab"], 1, 3), tf.substr(["hello", "ab"], -2, 3),
                          tf.substr(["hello", "ab"], 0, -1), tf.substr(["hello", "ab"], [0, 1], [2, 1])],
    "substr_int64_broadcast": lambda tf: [tf.substr([["hello", "abcd"], ["xyz", "q"]],
                                                    tf.constant([1, 0], tf.int64), tf.constant([2, 1], tf.int64))],
    "static_regex_replace": lambda tf: [tf.regex_replace(["abxd", "aaa", ""], "x*", "-"),
                                        tf.regex_replace(["abxd", "aaa"], "(a)", r"<\1\0\\>"),
                                        tf.regex_replace(["aaa"], "a", "b", replace_global=False),
                                        tf.regex_replace(["abxd"], "(a)", r"\2"),
                                        tf.regex_replace(["Hello  World"], r"\s+", " ")],
    "regex_replace_tensors": lambda tf: [tf.regex_replace(["a1b22c"], tf.constant("[0-9]+"), tf.constant("#")),
                                         tf.regex_replace(["a1b22c"], tf.constant("([a-z])"), "\\1\\1",
                                                          replace_global=False)],
    "reduce_join": lambda tf: [tf.reduce_join([["a", "b"], ["c", "d"]], [0, 1]),
                               tf.reduce_join([["a", "b"], ["c", "d"]], [1, 0]),
                               tf.reduce_join([["a", "b"], ["c", "d"]], 0, separator=","),
                               tf.reduce_join([["a", "b"], ["c", "d"]], -1, keep_dims=True, separator=","),
                               tf.reduce_join([["a", "b"], ["c", "d"]]),
                               tf.reduce_join([["a", "b"], ["c", "d"]], [], separator="-"),
                               tf.reduce_join([["a", "b"]], 1, name="joined")],
    "reduce_join_3d": lambda tf: [tf.reduce_join(np.arange(24).astype(bytes).reshape(2, 3, 4), [2, 0], separator=".")],
    "string_to_number_edges": lambda tf: [
        tf.string_to_number(["1e50", "-1e50", "0x1p3", "  nan ", "+inf", "1e400", "1.", "nan(123)", "INF"]),
        tf.string_to_number(["1e400", "-0", "0012"], tf.float64),
        tf.string_to_number(["0012", " 7", "18446744073709551615"], tf.uint64)],
    "as_string_more_types": lambda tf: [tf.as_string(tf.constant([1.5, -0.0], tf.float16)),
                                        tf.as_string(tf.constant([-5, 100], tf.int8)),
                                        tf.as_string(tf.constant([2 ** 64 - 1], tf.uint64)),
                                        tf.as_string(tf.constant([1e-5, 123456789.0], tf.float64), shortest=True),
                                        tf.as_string([True], width=6),
                                        tf.as_string([1.5], fill=" ", width=6), tf.as_string([1.5], fill="#"),
                                        tf.as_string([3], fill=" ", width=6)],
    "substr_utf8": lambda tf: [tf.substr(["h\u00e9llo", "\u20acx"], 1, 2, unit="UTF8_CHAR")],
    "regex_replace_more": lambda tf: [tf.regex_replace(["h\u00e9llo w\u00f6rld"], "\u00f6|\u00e9", "_"),
                                      tf.regex_replace(["h\u00e9llo"], ".", "x"),
                                      tf.regex_replace(["abc"], "", "-"), tf.regex_replace(["abc"], "b?", "-"),
                                      tf.regex_replace(["abc"], "(?i)B", "-"),
                                      tf.regex_replace(["a.b"], r"\.", r"\\"), tf.regex_replace(["a.b"], r"\.", "\\x")],
    "reduce_join_empty": lambda tf: [tf.reduce_join(np.array([], object)), tf.reduce_join(np.zeros([2, 0], object), 1),
                                     tf.reduce_join("abc", [])],
    "strings_length": lambda tf: [tf.strings.length(["héllo", "", "abc"]),
                                  tf.strings.length([["héllo", "\u20ac"]], unit="UTF8_CHAR")],
    "strings_lower_upper": lambda tf: [tf.strings.lower(["HÉllo World"]), tf.strings.upper(["héllo"]),
                                       tf.strings.lower(["HÉllo"], encoding="utf-8"),
                                       tf.strings.upper(["héllo"], encoding="utf-8")],
    "strings_namespace": lambda tf: [tf.strings.join(["a", "b"], separator=" "), tf.strings.to_number(["3"]),
                                     tf.strings.as_string([7]), tf.strings.substr(["hello"], 1, 2),
                                     tf.strings.reduce_join([["a", "b"]], 1),
                                     tf.strings.regex_replace(["aXb"], "X", "y")],
    "strings_strip": lambda tf: [tf.strings.strip([" a b \n", "\t\v x\r", "", "   "])],
    "regex_full_match": lambda tf: [tf.strings.regex_full_match(["ab", "x", "abc"], "a.|h."),
                                    tf.strings.regex_full_match([["ab", "x", "h\u00e9"]], tf.constant("[a-z]b|h."))],
    "placeholders": lambda tf: _with_feed(tf),
    "regex_replace_empty_matches": lambda tf: [tf.regex_replace(["ab", "bab", ""], p, "-", replace_global=g)
                                               for p in ["|b", "a|", "x*|b", "(a)|", r"\b", "$", "^", "a*?"]
                                               for g in (True, False)],
    "utf8_edges": lambda tf: [tf.substr(["h\u00e9llo"], -5, 2, unit="UTF8_CHAR"),
                              tf.strings.length([b"\xc3", b"a\xff"], unit="UTF8_CHAR"),
                              tf.strings.lower([b"A\xff"], encoding="utf-8"),
                              tf.strings.upper([b"\xe9a"], encoding="utf-8")],
    "as_string_zero_width": lambda tf: [tf.as_string(tf.constant([1.0]), precision=0, width=0)],
    "strings_format": lambda tf: [tf.strings.format("x={} y={}", [tf.constant([1, 2]), tf.constant(True)]),
                                  tf.strings.format("v: {}", tf.constant([[1.5, 2.0]]), name="fmt"),
                                  tf.strings.format("<>", [tf.range(10)], placeholder="<>", summarize=2)],
}


def _with_feed(tf):
    x = tf.placeholder(tf.string, [None, 3], name="x")
    ax = tf.placeholder(tf.int32, [None], name="ax")
    pos = tf.placeholder(tf.int32, None, name="pos")
    outs = [tf.reduce_join(x, 1), tf.reduce_join(x, 0, keep_dims=True), tf.reduce_join(x, ax),
            tf.substr(x, pos, 2), tf.substr(x, [0, 1, 1], [1, 1, 1]), tf.as_string(tf.strings.length(x)),
            tf.string_join([x, "!"]), tf.regex_replace(x, "[aeiou]", ""), tf.strings.upper(x),
            tf.string_to_number(tf.strings.substr(x, 0, 1), tf.int64)]
    feed = {"x:0": np.array([[b"1ab", b"2cde", b"3"], [b"4u", b"5", b"6xyz"]], dtype=object),
            "ax:0": np.array([1, 0], np.int32), "pos:0": np.array(0, np.int32)}
    return outs, feed


def _sparse_parts(sp):
    return [sp.indices, sp.values, sp.dense_shape]


SPLIT_CASES = {
    "string_split": lambda tf: _sparse_parts(tf.string_split(["a b  c", "", "d"])),
    "string_split_keep_empty": lambda tf: _sparse_parts(tf.string_split(["a,b,,c", ",x;y"], ",;", skip_empty=False)),
    "string_split_empty": lambda tf: _sparse_parts(tf.string_split(np.array([], object))),
    "string_split_bytes_of_delimiter": lambda tf: _sparse_parts(tf.string_split(["a b", "xbyaz"], "ab")),
    "string_split_chars": lambda tf: _sparse_parts(tf.string_split(["abc", "de"], "")),
    "string_split_placeholder": lambda tf: (_sparse_parts(tf.string_split(tf.placeholder(tf.string, [None], "s"),
                                                                          delimiter="-")),
                                            {"s:0": np.array([b"1-2", b"3"], dtype=object)}),
    "strings_split_whitespace": lambda tf: _sparse_parts(tf.strings.split(["a b  c", " x ", ""])),
    "strings_split_sep": lambda tf: _sparse_parts(tf.strings.split(["a,,b,", "c", ","], ",")),
    "strings_split_multibyte_sep": lambda tf: _sparse_parts(tf.strings.split(["a<>b<>", "c"], "<>")),
    "strings_split_maxsplit": lambda tf: _sparse_parts(tf.strings.split(["a,,b,", "x y z"], ",", maxsplit=1)) +
    _sparse_parts(tf.strings.split(["x  y z "], maxsplit=1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_tensorflow(tf_real, case):
    assert_same(tf_real, CASES[case])


@pytest.mark.parametrize("case", sorted(SPLIT_CASES))
def test_string_split_matches_tensorflow(tf_real, case):
    assert_same(tf_real, SPLIT_CASES[case])


def _graph_types(tf, build):
    with tf.Graph().as_default() as g:
        build(tf)
        return [(op.name, op.type) for op in g.get_operations()]


@pytest.mark.parametrize("case", ["reduce_join", "static_regex_replace", "regex_replace_tensors", "string_split",
                                  "string_join_scalars", "substr",
                                  "strings_split_sep", "strings_strip", "regex_full_match",
                                  "strings_format"])
def test_graph_ops_match_tensorflow(tf_real, case):
    build = {**CASES, **SPLIT_CASES}[case]
    assert _graph_types(deferflow, build) == _graph_types(tf_real, build)


def _run_error(tf, build):
    """(exception class name, message) of building and running ``build(tf)``."""
    with tf.Graph().as_default():
        try:
            out = build(tf)
            with tf.Session() as s:
                s.run(out)
        except (tf.errors.OpError, ValueError) as e:
            msg = e.message if isinstance(e, tf.errors.OpError) else str(e)
            return type(e).__name__, msg
    return None, None


RUN_ERRORS = {
    "as_string_precision_int": (lambda tf: tf.as_string([1], precision=2),
                                "precision not supported for datatype int32"),
    "as_string_scientific_int": (lambda tf: tf.as_string([1], scientific=True),
                                 "scientific and shortest format not supported for datatype int32"),
    "as_string_both": (lambda tf: tf.as_string([1.0], scientific=True, shortest=True),
                       "Cannot select both scientific and shortest notation"),
    "as_string_long_fill": (lambda tf: tf.as_string([1.0], fill="ab"), "Fill string must be one or fewer characters"),
    "as_string_bad_fill": (lambda tf: tf.as_string([1.0], fill="x"), 'Fill argument not supported: "x"'),
    "to_number_bad": (lambda tf: tf.string_to_number(["1.5", "abc"]),
                      "StringToNumberOp could not correctly convert string: abc"),
    "to_number_underscore": (lambda tf: tf.string_to_number(["1_0"], tf.int32),
                             "StringToNumberOp could not correctly convert string: 1_0"),
    "to_number_hex_int": (lambda tf: tf.string_to_number(["0x10"], tf.int32),
                          "StringToNumberOp could not correctly convert string: 0x10"),
    "to_number_overflow": (lambda tf: tf.string_to_number(["99999999999"], tf.int32),
                           "StringToNumberOp could not correctly convert string: 99999999999"),
    "to_number_unsigned_minus": (lambda tf: tf.string_to_number(["-0"], tf.uint32),
                                 "StringToNumberOp could not correctly convert string: -0"),
    "to_number_infinit": (lambda tf: tf.string_to_number(["infinit"]),
                          "StringToNumberOp could not correctly convert string: infinit"),
    "to_number_empty": (lambda tf: tf.string_to_number([""], tf.int64),
                        "StringToNumberOp could not correctly convert string: "),
    "substr_pos_utf8": (lambda tf: tf.substr(["h\u00e9llo"], 7, 1, unit="UTF8_CHAR"),
                        "pos 7 out of range for string at index 0"),
    "lower_encoding": (lambda tf: tf.strings.lower(["A"], encoding="latin1"),
                       "only utf-8 or '' (no encoding) is supported, received latin1"),
    "reduce_join_duplicate_negative": (lambda tf: tf.reduce_join([["a"]], [-1, -2, 1]),
                                       "Duplicate reduction dimension 1"),
    "reduce_join_duplicate_given": (lambda tf: tf.reduce_join([["a"]], [1, -1]), "Duplicate reduction dimension -1"),
    "substr_pos": (lambda tf: tf.substr(["hello", "ab"], 3, 3), "pos 3 out of range for string b'ab' at index 1"),
    "substr_neg_pos": (lambda tf: tf.substr(["hello", "ab"], -6, 3),
                       "pos -6 out of range for string b'hello' at index 0"),
    "reduce_join_duplicate": (lambda tf: tf.reduce_join([["a", "b"]], [1, 1]), "Duplicate reduction dimension 1"),
    "regex_bad_pattern": (lambda tf: tf.regex_replace(["x"], "(a", "y"), "Invalid pattern: (a, error: missing )"),
    "regex_bad_pattern_tensor": (lambda tf: tf.regex_replace(["x"], tf.constant("(a"), "y"),
                                 "Invalid pattern: (a, error: missing )"),
}


@pytest.mark.parametrize("case", sorted(RUN_ERRORS))
def test_errors_match_tensorflow(tf_real, case):
    build, expected = RUN_ERRORS[case]
    ours, theirs = _run_error(deferflow, build), _run_error(tf_real, build)
    assert ours[0] == theirs[0] == "InvalidArgumentError"
    assert expected in theirs[1]
    assert ours[1].startswith(expected)


BUILD_ERRORS = {
    "reduce_join_axis": (lambda tf: tf.reduce_join([["a", "b"]], [2]),
                         "Invalid reduction dimension 2 for input with 2 dimensions."),
    "string_split_rank": (lambda tf: tf.string_split([["abc"]], ""), "Shape must be rank 1 but is rank 2"),
    "format_count": (lambda tf: tf.strings.format("{} {}", [1]), "The template expects 2 tensors, but the inputs "
                                                                 "only has 1."),
    "substr_rank": (lambda tf: tf.substr([["hello", "ab"]], [[0], [1]], 1), "Shape must be rank 0 but is rank 2"),
}


@pytest.mark.parametrize("case", sorted(BUILD_ERRORS))
def test_build_errors_match_tensorflow(tf_real, case):
    build, expected = BUILD_ERRORS[case]
    ours, theirs = _run_error(deferflow, build), _run_error(tf_real, build)
    assert ours[0] == theirs[0] == "ValueError"
    assert theirs[1].startswith(expected) and ours[1].startswith(expected)


@pytest.mark.parametrize("inputs", [[["a", "b"], ["c", "d", "e"]], [["a", "b"], [["c"], ["d"]]]])
def test_string_join_shape_mismatch_fails_at_build(tf_real, inputs):
    ours, theirs = (_run_error(lib, lambda tf: tf.string_join(inputs)) for lib in (deferflow, tf_real))
    assert ours[0] == theirs[0] == "ValueError"


def test_nan_parse():
    with deferflow.Graph().as_default(), deferflow.Session() as s:
        v = s.run(deferflow.string_to_number(["nan", "-nan", "1e3"]))
    assert np.isnan(v[0]) and np.isnan(v[1]) and v[2] == 1000.0 and v.dtype == np.float32


def test_no_gradients():
    with deferflow.Graph().as_default():
        x = deferflow.constant([1.5, 2.0])
        y = deferflow.string_to_number(deferflow.as_string(x))
        assert deferflow.gradients(y, x) == [None]


def test_exported_graph_runs_in_tensorflow(tf_real, tmp_path):
    """A .meta holding the string ops (string attrs, list outputs) imports and runs the same in TensorFlow."""
    feed = np.array([b"1aa b", b"2ba"], dtype=object)
    path = str(tmp_path / "strings.meta")
    with deferflow.Graph().as_default():
        x = deferflow.placeholder(deferflow.string, [None], name="x")
        outs = [deferflow.regex_replace(x, "a+", "<\\0>"),
                deferflow.reduce_join(deferflow.as_string(deferflow.string_to_number(deferflow.substr(x, 0, 1),
                                                                                     deferflow.int32),
                                                          width=3, fill="0"), separator=","),
                deferflow.strings.split(x).values, deferflow.string_split(x, "a").indices]
        names = [t.name for t in outs]
        deferflow.train.export_meta_graph(path)
        with deferflow.Session() as s:
            ours = s.run(outs, {x: feed})
    with tf_real.Graph().as_default():
        tf_real.train.import_meta_graph(path)
        with tf_real.Session() as s:
            theirs = s.run(names, {"x:0": feed})
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    assert ours[1] == b"001,002"
