"""Bytes-level file formats shared with TensorFlow; imports nothing from the framework.

- ``protos``: TensorFlow's protobuf messages (our compiled subset, same field numbers).
- ``table``: LevelDB SSTable (a checkpoint's ``.index``).
- ``bundle``: V2 checkpoints (tensor bundles): ``BundleWriter``, ``BundleReader``, ``merge_bundles``.
- ``checkpoint_v1``: V1 checkpoints (TensorSliceWriter tables): ``V1Reader``, ``open_checkpoint`` (V2 or V1).
- ``dtypes``: DataType enum <-> NumPy dtype table.
- ``tensor_slice``: slice extents, slice strings and slice keys of partitioned tensors.
- ``checkpoint_state``: the text ``checkpoint`` file. ``tfrecord``: record framing (plain, ZLIB, GZIP).
- ``fileio``: atomic (temp + rename) writes, fsynced on request (``DEFERFLOW_CHECKPOINT_FSYNC=1``).
- ``errors``: CorruptFileError, MissingFileError.
"""
