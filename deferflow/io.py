"""The ``tf.io`` namespace."""
from deferflow.training.tf_record import (TFRecordCompressionType, TFRecordOptions, TFRecordWriter,
                                          tf_record_iterator)
from deferflow.framework.graph_io import write_graph  # noqa: E402
from deferflow import gfile  # noqa: E402
from deferflow.ops.parsing_ops import (FixedLenFeature, FixedLenSequenceFeature, VarLenFeature,  # noqa: E402
                                       decode_raw, parse_example, parse_single_example)
