"""``tf.saved_model.loader``: loads a TF1 SavedModel (``saved_model.pb`` + ``variables/``) into a session."""
import logging
import os

from google.protobuf import text_format

from deferflow.formats import protos
from deferflow.framework import errors, ops
from deferflow.saved_model import constants

_log = logging.getLogger("deferflow")


def _path(*parts):
    return os.path.join(*[os.fspath(p).decode() if isinstance(p, bytes) else os.fspath(p) for p in parts])


def parse_saved_model(export_dir):
    """The ``SavedModel`` message of ``export_dir`` (binary ``saved_model.pb`` or text ``saved_model.pbtxt``)."""
    pb = _path(export_dir, constants.SAVED_MODEL_FILENAME_PB)
    pbtxt = _path(export_dir, constants.SAVED_MODEL_FILENAME_PBTXT)
    sm = protos.SavedModel()
    if os.path.exists(pb):
        with open(pb, "rb") as f:
            data = f.read()
        try:
            sm.ParseFromString(data)
        except Exception as e:  # noqa: BLE001 - any decode failure is a corrupt file
            raise errors.DataLossError(None, None, f"Cannot parse file {pb}: not a SavedModel protocol buffer: "
                                                   f"{e}") from None
        return sm
    if os.path.exists(pbtxt):
        with open(pbtxt, "rb") as f:
            data = f.read()
        try:
            text_format.Merge(data.decode("utf-8"), sm)
        except (UnicodeDecodeError, text_format.ParseError) as e:
            raise errors.DataLossError(None, None, f"Cannot parse file {pbtxt}: {e}") from None
        return sm
    raise IOError(f"SavedModel file does not exist at: {export_dir}{os.sep}{{{constants.SAVED_MODEL_FILENAME_PBTXT}"
                  f"|{constants.SAVED_MODEL_FILENAME_PB}}}")


def maybe_saved_model_directory(export_dir):
    return any(os.path.exists(_path(export_dir, f))
               for f in (constants.SAVED_MODEL_FILENAME_PB, constants.SAVED_MODEL_FILENAME_PBTXT))


contains_saved_model = maybe_saved_model_directory


def _get_asset_tensors(export_dir, meta_graph_def, import_scope=None):
    """{asset tensor name: absolute file path} from ``asset_file_def`` and the legacy assets collection."""
    assets_dir = _path(export_dir, constants.ASSETS_DIRECTORY)
    out = {}
    infos = list(meta_graph_def.asset_file_def)
    col = meta_graph_def.collection_def.get(constants.ASSETS_KEY)
    if col is not None:
        for any_value in col.any_list.value:
            infos.append(protos.unpack_any(any_value, protos.AssetFileDef))
    for info in infos:
        name = ops.prepend_name_scope(info.tensor_info.name, import_scope)
        out[name] = os.path.join(assets_dir, info.filename)
    return out


def _get_init_op(meta_graph_def, import_scope):
    sig = meta_graph_def.signature_def.get(constants.INIT_OP_SIGNATURE_KEY)
    if sig is not None:
        name = sig.outputs[constants.INIT_OP_SIGNATURE_KEY].name
        return ops.get_default_graph().as_graph_element(ops.prepend_name_scope(name, import_scope))
    for key in (constants.MAIN_OP_KEY, constants.LEGACY_INIT_OP_KEY):
        items = ops.get_collection(key)
        if items:
            if len(items) != 1:
                raise RuntimeError(f"Expected exactly one SavedModel init op. Found {len(items)}: {items}")
            return items[0]
    return None


class SavedModelLoader:
    """Loads the MetaGraphDef of a tag set from a SavedModel and restores its variables (TF's loader)."""

    def __init__(self, export_dir):
        self._export_dir = export_dir
        self._variables_path = _path(export_dir, constants.VARIABLES_DIRECTORY, constants.VARIABLES_FILENAME)
        self._saved_model = parse_saved_model(export_dir)

    export_dir = property(lambda self: self._export_dir)
    variables_path = property(lambda self: self._variables_path)
    saved_model = property(lambda self: self._saved_model)

    def get_meta_graph_def_from_tags(self, tags):
        want = set(tags)
        available = []
        for mgd in self._saved_model.meta_graphs:
            have = set(mgd.meta_info_def.tags)
            if have == want:
                return mgd
            available.append(sorted(have))
        raise RuntimeError(f"MetaGraphDef associated with tags {sorted(want)!r} could not be found in SavedModel, "
                           f"with available tags '{available}'. To inspect available tag-sets in the SavedModel, "
                           "please use the SavedModel CLI: `saved_model_cli`.")

    def load_graph(self, graph, tags, import_scope=None, **saver_kwargs):
        from deferflow.training import meta_graph
        mgd = self.get_meta_graph_def_from_tags(tags)
        with graph.as_default():
            return meta_graph.import_meta_graph(mgd, import_scope=import_scope, **saver_kwargs), mgd

    def restore_variables(self, sess, saver, import_scope=None):
        with sess.graph.as_default():
            if saver is None and not ops.get_collection(ops.GraphKeys.GLOBAL_VARIABLES, import_scope):
                _log.info("The specified SavedModel has no variables; no checkpoints were restored.")
                return
            if not os.path.exists(self._variables_path + ".index"):
                _log.info("The specified SavedModel has no variables; no checkpoints were restored. File does not "
                          "exist: %s", self._variables_path + ".index")
                return
            if saver is None:
                raise ValueError("No saver to restore the variables of this SavedModel")
            saver.restore(sess, self._variables_path)

    def run_init_ops(self, sess, tags, import_scope=None):
        mgd = self.get_meta_graph_def_from_tags(tags)
        with sess.graph.as_default():
            feed = _get_asset_tensors(self._export_dir, mgd, import_scope)
            init_op = _get_init_op(mgd, import_scope)
            if init_op is not None:
                sess.run(init_op, feed_dict={k: v.encode() for k, v in feed.items()})

    def load(self, sess, tags, import_scope=None, **saver_kwargs):
        with sess.graph.as_default():
            saver, mgd = self.load_graph(sess.graph, tags, import_scope, **saver_kwargs)
            self.restore_variables(sess, saver, import_scope)
            self.run_init_ops(sess, tags, import_scope)
        return mgd


def load(sess, tags, export_dir, import_scope=None, **saver_kwargs):
    """``tf.saved_model.loader.load``: imports the MetaGraphDef tagged ``tags`` into ``sess.graph``, restores
    its variables and runs its init op; returns the MetaGraphDef."""
    return SavedModelLoader(export_dir).load(sess, tags, import_scope, **saver_kwargs)
