"""``tf.data`` for TF1 graphs: datasets, iterators and their TF-named graph ops.

Op types in the graph are TensorFlow's (``TensorSliceDataset``, ``BatchDatasetV2``, ``MapDataset``, ``IteratorV2``,
``MakeIterator``, ``IteratorGetNext``, ``OneShotIterator``...). Functions given to ``map``/``filter`` are traced
into deferflow graphs held in memory: a graph using them exports (the ``func`` attrs name the functions), but the
functions themselves are not written to the file's function library yet, so such a pipeline runs only in the
process that built it.
"""
from deferflow.data import experimental
from deferflow.data.dataset_ops import Dataset, DatasetV1, TextLineDataset, TFRecordDataset
from deferflow.data.iterator_ops import (Iterator, get_output_classes, get_output_shapes, get_output_types,
                                         make_initializable_iterator, make_one_shot_iterator)

AUTOTUNE = experimental.AUTOTUNE
DatasetV2 = Dataset
