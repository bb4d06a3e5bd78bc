"""Bytes-level file formats shared with TensorFlow; imports nothing from the framework.

- ``protos``: TensorFlow's protobuf messages (our compiled subset, same field numbers).
- ``table``: LevelDB SSTable (a checkpoint's ``.index``).
- ``bundle``: V2 checkpoints (tensor bundles): ``BundleWriter``, ``BundleReader``, ``merge_bundles``.
- ``dtypes``: DataType enum <-> NumPy dtype table.
- ``tensor_slice``: slice extents, slice strings and slice keys of partitioned tensors.
- ``checkpoint_state``: the text ``checkpoint`` file. ``tfrecord``: record framing of event files.
- ``fileio``: atomic (temp + rename) writes, fsynced on request (``DEFERFLOW_CHECKPOINT_FSYNC=1``).
- ``errors``: CorruptFileError, MissingFileError.
"""
