"""``tf.saved_model.builder.SavedModelBuilder``: writes TF1 SavedModels TensorFlow can load."""
import os
import shutil

from deferflow.formats import fileio, protos
from deferflow.framework import ops
from deferflow.saved_model import constants


def _s(p):
    return p.decode() if isinstance(p, bytes) else os.fspath(p)


class SavedModelBuilder:
    """Adds meta graphs (tagged, with signatures) and one set of variables, then ``save()`` writes them."""

    def __init__(self, export_dir):
        self._export_dir = _s(export_dir)
        self._saved_model = protos.SavedModel(saved_model_schema_version=constants.SAVED_MODEL_SCHEMA_VERSION)
        if os.path.exists(self._export_dir):
            if os.listdir(self._export_dir):
                raise AssertionError(f"Export directory already exists, and isn't empty. Please choose a different "
                                     f"export directory, or delete all the contents of the specified directory: "
                                     f"{self._export_dir}")
        else:
            os.makedirs(self._export_dir)
        self._has_saved_variables = False
        self._saver = None

    # --- helpers ---
    @staticmethod
    def _validate_tensor_info(info):
        if info is None:
            raise AssertionError("All TensorInfo protos used in the SignatureDefs must have the name and dtype "
                                 "fields set.")
        if info.WhichOneof("encoding") is None:
            raise AssertionError(f"Invalid `tensor_info`: {info}. All TensorInfo protos used in the SignatureDefs "
                                 "must have one of the 'encoding' fields (e.g., name or coo_sparse) set.")
        if not info.dtype:
            raise AssertionError(f"Invalid `tensor_info`: {info}. All TensorInfo protos used in the SignatureDefs "
                                 "must have the dtype field set.")

    def _validate_signature_def_map(self, signature_def_map):
        for key, sd in signature_def_map.items():
            if not isinstance(sd, protos.SignatureDef):
                raise TypeError(f"signature_def_map[{key!r}] must be a SignatureDef, got {type(sd).__name__}")
            for info in list(sd.inputs.values()) + list(sd.outputs.values()):
                self._validate_tensor_info(info)
        for reserved in (constants.INIT_OP_SIGNATURE_KEY, constants.TRAIN_OP_SIGNATURE_KEY):
            if reserved in signature_def_map:
                raise KeyError(f"SignatureDef map key \"{reserved}\" is reserved for initialization. Please use a "
                               "different key.")

    @staticmethod
    def _maybe_add_main_op(main_op):
        if main_op is None:
            return
        if not isinstance(main_op, ops.Operation):
            raise TypeError(f"Expected {main_op} to be an Operation but got type {type(main_op)} instead.")
        if ops.get_collection(constants.MAIN_OP_KEY):
            raise ValueError(f"Graph already contains one or more main ops under the collection "
                             f"{constants.MAIN_OP_KEY}.")
        ops.add_to_collection(constants.MAIN_OP_KEY, main_op)

    def _maybe_create_saver(self, saver=None):
        if not self._saver:
            from deferflow.training.saver import Saver, _all_saveable_objects
            self._saver = saver or Saver(_all_saveable_objects(), sharded=True, allow_empty=True)
        return self._saver

    def _save_and_write_assets(self, meta_graph_def, assets_collection):
        """Copies asset files into ``assets/`` and records them as ``asset_file_def`` entries."""
        if not assets_collection:
            return
        from deferflow.ops.common import constant_value
        assets_dir = os.path.join(self._export_dir, constants.ASSETS_DIRECTORY)
        for t in assets_collection:
            value = constant_value(t)
            if value is None:
                raise ValueError(f"Asset tensor {t.name} must be a constant string tensor")
            source = _s(value.reshape(-1)[0])
            name = os.path.basename(source)
            info = meta_graph_def.asset_file_def.add(filename=name)
            info.tensor_info.name = t.name
            os.makedirs(assets_dir, exist_ok=True)
            dest = os.path.join(assets_dir, name)
            if not os.path.exists(dest):
                shutil.copyfile(source, dest)

    def _tag_and_add_meta_graph(self, meta_graph_def, tags, signature_def_map):
        meta_graph_def.meta_info_def.tags.extend(tags)
        for key, sd in (signature_def_map or {}).items():
            meta_graph_def.signature_def[key].CopyFrom(sd)
        self._saved_model.meta_graphs.add().CopyFrom(meta_graph_def)

    @staticmethod
    def _add_op_signature(signature_def_map, op, key):
        if op is not None:
            from deferflow.saved_model.signature_def_utils import build_signature_def
            info = protos.TensorInfo(name=op.name)
            signature_def_map[key] = build_signature_def(outputs={key: info})

    # --- public API ---
    def add_meta_graph_and_variables(self, sess, tags, signature_def_map=None, assets_collection=None,
                                     legacy_init_op=None, clear_devices=False, main_op=None,
                                     strip_default_attrs=False, saver=None, init_op=None, train_op=None):
        """Saves ``sess``'s variables under ``variables/`` and adds the current graph tagged ``tags``."""
        if self._has_saved_variables:
            raise AssertionError("Graph state including variables and assets has already been saved. Please invoke "
                                 "`add_meta_graph()` instead.")
        signature_def_map = dict(signature_def_map or {})
        self._validate_signature_def_map(signature_def_map)
        with sess.graph.as_default():
            self._maybe_add_main_op(main_op if main_op is not None else legacy_init_op)
            self._add_op_signature(signature_def_map, init_op, constants.INIT_OP_SIGNATURE_KEY)
            self._add_op_signature(signature_def_map, train_op, constants.TRAIN_OP_SIGNATURE_KEY)
            variables_dir = os.path.join(self._export_dir, constants.VARIABLES_DIRECTORY)
            os.makedirs(variables_dir, exist_ok=True)
            saver = self._maybe_create_saver(saver)
            saver.save(sess, os.path.join(variables_dir, constants.VARIABLES_FILENAME), write_meta_graph=False,
                       write_state=False)
            mgd = saver.export_meta_graph(clear_devices=clear_devices, strip_default_attrs=strip_default_attrs)
        self._save_and_write_assets(mgd, assets_collection)
        self._tag_and_add_meta_graph(mgd, tags, signature_def_map)
        self._has_saved_variables = True

    def add_meta_graph(self, tags, signature_def_map=None, assets_collection=None, legacy_init_op=None,
                       clear_devices=False, main_op=None, strip_default_attrs=False, saver=None, init_op=None,
                       train_op=None):
        """Adds the current default graph tagged ``tags`` (variables must have been saved already)."""
        if not self._has_saved_variables:
            raise AssertionError("Graph state including variables and assets has not been saved yet. Please invoke "
                                 "`add_meta_graph_and_variables()` first.")
        signature_def_map = dict(signature_def_map or {})
        self._validate_signature_def_map(signature_def_map)
        self._maybe_add_main_op(main_op if main_op is not None else legacy_init_op)
        self._add_op_signature(signature_def_map, init_op, constants.INIT_OP_SIGNATURE_KEY)
        self._add_op_signature(signature_def_map, train_op, constants.TRAIN_OP_SIGNATURE_KEY)
        saver = self._maybe_create_saver(saver)
        mgd = saver.export_meta_graph(clear_devices=clear_devices, strip_default_attrs=strip_default_attrs)
        self._save_and_write_assets(mgd, assets_collection)
        self._tag_and_add_meta_graph(mgd, tags, signature_def_map)

    def save(self, as_text=False):
        """Writes ``saved_model.pb`` (or ``.pbtxt``) atomically; returns its path."""
        from google.protobuf import text_format
        if as_text:
            path = os.path.join(self._export_dir, constants.SAVED_MODEL_FILENAME_PBTXT)
            fileio.atomic_write(path, text_format.MessageToString(self._saved_model).encode("utf-8"))
        else:
            path = os.path.join(self._export_dir, constants.SAVED_MODEL_FILENAME_PB)
            fileio.atomic_write(path, self._saved_model.SerializeToString(deterministic=True))
        return path


Builder = SavedModelBuilder
