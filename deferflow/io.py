"""The ``tf.io`` namespace."""
from deferflow.training.tf_record import (TFRecordCompressionType, TFRecordOptions, TFRecordWriter,
                                          tf_record_iterator)
from deferflow.framework.graph_io import write_graph  # noqa: E402
from deferflow import gfile  # noqa: E402
