"""``tf.data`` for TF1 graphs: datasets, iterators and their TF-named graph ops.

Op types in the graph are TensorFlow's (``TensorSliceDataset``, ``BatchDatasetV2``, ``MapDataset``, ``IteratorV2``,
``MakeIterator``, ``IteratorGetNext``, ``OneShotIterator``...). Functions given to ``map``/``filter``/``flat_map``
are traced into deferflow graphs; an exported graph carries them (and one-shot iterators' dataset factories) as
TF FunctionDefs in its library, so TensorFlow runs the pipeline, and the FunctionDefs of TF-written graphs are
built into deferflow graphs when their dataset ops first run. ``from_generator`` runs a Python generator of this
process: such a pipeline cannot be exported.
"""
from deferflow.data import experimental
from deferflow.data.dataset_ops import Dataset, DatasetV1, TextLineDataset, TFRecordDataset
from deferflow.data.iterator_ops import (Iterator, get_output_classes, get_output_shapes, get_output_types,
                                         make_initializable_iterator, make_one_shot_iterator)

AUTOTUNE = experimental.AUTOTUNE
DatasetV2 = Dataset
