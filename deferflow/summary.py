"""The ``tf.summary`` namespace (TF1): summary ops, ``FileWriter`` and the summary protos."""
from deferflow.formats.protos import Event, SessionLog, Summary, SummaryDescription, TaggedRunMetadata
from deferflow.ops.summary_ops import (audio, get_summary_description, histogram, image, merge, merge_all, scalar,
                                       tensor_summary, text)
from deferflow.training.summary_io import FileWriter, FileWriterCache, summary_iterator


def all_v2_summary_ops():
    """TF2 summary ops do not exist in deferflow's graphs."""
    return []
