"""Compressed TFRecord files through ``tf.python_io``/``tf.io`` (GZIP, ZLIB), both ways with TensorFlow."""
import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import errors

RECORDS = [b"", b"first", bytes(range(256)) * 40, b"last record"]


def _options(lib, kind):
    return lib.python_io.TFRecordOptions(getattr(lib.python_io.TFRecordCompressionType, kind))


@pytest.mark.parametrize("kind", ["GZIP", "ZLIB", "NONE"])
def test_round_trip_here(kind, tmp_path):
    path = str(tmp_path / "data.tfrecord")
    with tf.python_io.TFRecordWriter(path, _options(tf, kind)) as writer:
        for r in RECORDS:
            writer.write(r)
    assert list(tf.python_io.tf_record_iterator(path, _options(tf, kind))) == RECORDS
    raw = open(path, "rb").read()
    assert raw[:2] == b"\x1f\x8b" if kind == "GZIP" else raw[:1] == b"\x78" if kind == "ZLIB" else True


@pytest.mark.parametrize("kind", ["GZIP", "ZLIB"])
def test_compressed_records_interchange_with_tensorflow(kind, tf_real, tmp_path):
    ours, theirs = str(tmp_path / "ours.tfrecord"), str(tmp_path / "theirs.tfrecord")
    with tf.python_io.TFRecordWriter(ours, _options(tf, kind)) as writer:
        for r in RECORDS:
            writer.write(r)
    with tf_real.python_io.TFRecordWriter(theirs, _options(tf_real, kind)) as writer:
        for r in RECORDS:
            writer.write(r)
    assert list(tf_real.python_io.tf_record_iterator(ours, _options(tf_real, kind))) == RECORDS
    assert list(tf.python_io.tf_record_iterator(theirs, _options(tf, kind))) == RECORDS


def test_reading_with_the_wrong_compression_is_data_loss(tmp_path):
    path = str(tmp_path / "data.tfrecord")
    with tf.python_io.TFRecordWriter(path, _options(tf, "GZIP")) as writer:
        writer.write(b"payload" * 100)
    with pytest.raises(errors.DataLossError, match="data.tfrecord"):
        list(tf.python_io.tf_record_iterator(path))
    with pytest.raises(errors.InvalidArgumentError, match="BZIP2"):
        tf.python_io.TFRecordWriter(path, "BZIP2")
    assert np.frombuffer(open(path, "rb").read()[:2], np.uint8).tolist() == [0x1F, 0x8B]
