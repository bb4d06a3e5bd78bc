"""String tensors are byte strings: trailing NUL bytes survive constants, slicing and gathers (NumPy's
fixed-width ``S`` arrays would drop them; a serialized tf.train.Example can end in ``\\x00``)."""
import numpy as np

import deferflow as tf

VALUES = [b"a\x00\x00", b"", b"\x00", b"bc\x00"]


def test_trailing_nuls_survive_every_path():
    c = tf.constant(VALUES)
    sess = tf.Session()
    assert sess.run(tf.constant(b"a\x00\x00")) == b"a\x00\x00"
    assert sess.run(c).tolist() == VALUES
    assert [sess.run(c[i]) for i in range(4)] == VALUES
    assert sess.run(tf.unstack(c)) == VALUES
    assert sess.run(tf.gather(c, 3)) == b"bc\x00"
    assert sess.run(tf.gather_nd(c, [0])) == b"a\x00\x00"
    assert sess.run(tf.reshape(c, [2, 2])).tolist() == [VALUES[:2], VALUES[2:]]
    p = tf.placeholder(tf.string)
    assert sess.run(tf.identity(p), {p: b"x\x00"}) == b"x\x00"


def test_serialized_example_ending_in_nul_parses_after_slicing():
    example = tf.train.Example(features=tf.train.Features(feature={
        "n": tf.train.Feature(int64_list=tf.train.Int64List(value=[3, 0]))}))
    record = example.SerializeToString()
    assert record.endswith(b"\x00")
    parsed = tf.parse_single_example(tf.constant([record, record])[1],
                                     {"n": tf.FixedLenFeature([2], tf.int64)})
    np.testing.assert_array_equal(tf.Session().run(parsed["n"]), [3, 0])


def test_matches_tensorflow(tf_real):
    with tf.Graph().as_default():
        c = tf.constant(VALUES)
        ours = tf.Session().run([c, c[0], c[3], tf.unstack(c)])
    with tf_real.Graph().as_default():
        c = tf_real.constant(VALUES)
        theirs = tf_real.Session().run([c, c[0], c[3], tf_real.unstack(c)])
    assert ours[0].tolist() == theirs[0].tolist() and ours[1:3] == theirs[1:3] and ours[3] == theirs[3]


def test_empty_and_zero_string_tensors(tf_real):
    out = []
    for lib in (tf, tf_real):
        with lib.Graph().as_default():
            out.append(lib.Session().run([lib.convert_to_tensor([], lib.string), lib.zeros([2], lib.string),
                                          lib.constant([], dtype=lib.string)]))
    for a, b in zip(*out):
        assert a.dtype == b.dtype == object and a.tolist() == b.tolist()
    assert out[0][1].tolist() == [b"", b""]
