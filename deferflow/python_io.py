"""The ``tf.python_io`` namespace: TFRecord files."""
from deferflow.training.tf_record import (TFRecordCompressionType, TFRecordOptions, TFRecordWriter,
                                          tf_record_iterator)
