"""The ``tf.io`` namespace."""
from deferflow.training.tf_record import (TFRecordCompressionType, TFRecordOptions, TFRecordWriter,
                                          tf_record_iterator)
