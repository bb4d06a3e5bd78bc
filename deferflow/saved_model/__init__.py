"""``tf.saved_model`` (TF1): SavedModel loading and building, interchangeable with TensorFlow."""

from deferflow.saved_model import (builder, constants, loader, main_op, signature_constants,  # noqa: F401
                                   signature_def_utils, tag_constants, utils)
from deferflow.saved_model.builder import Builder, SavedModelBuilder  # noqa: F401
from deferflow.saved_model.loader import contains_saved_model, maybe_saved_model_directory  # noqa: F401
from deferflow.saved_model.signature_constants import *  # noqa: F401,F403
from deferflow.saved_model.signature_def_utils import (build_signature_def, classification_signature_def,  # noqa
                                                       is_valid_signature, predict_signature_def,
                                                       regression_signature_def)
from deferflow.saved_model.tag_constants import EVAL, GPU, SERVING, TPU, TRAINING  # noqa: F401
from deferflow.saved_model.constants import (ASSETS_DIRECTORY, ASSETS_KEY, LEGACY_INIT_OP_KEY,  # noqa: F401
                                             MAIN_OP_KEY, SAVED_MODEL_FILENAME_PB, SAVED_MODEL_FILENAME_PBTXT,
                                             SAVED_MODEL_SCHEMA_VERSION, VARIABLES_DIRECTORY, VARIABLES_FILENAME)
from deferflow.saved_model.utils import build_tensor_info, get_tensor_from_tensor_info  # noqa: F401

load = loader.load  # tf.compat.v1.saved_model.load
load_v1 = loader.load


def simple_save(session, export_dir, inputs, outputs, legacy_init_op=None):
    """Writes a serving SavedModel: ``serve`` tag, a ``serving_default`` predict signature from
    ``inputs``/``outputs`` ({key: Tensor}), all variables, devices cleared."""
    from deferflow.framework import ops
    signature_def_map = {signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY:
                         signature_def_utils.predict_signature_def(inputs, outputs)}
    b = SavedModelBuilder(export_dir)
    with session.graph.as_default():
        assets = ops.get_collection(ops.GraphKeys.ASSET_FILEPATHS)
    b.add_meta_graph_and_variables(session, tags=[tag_constants.SERVING], signature_def_map=signature_def_map,
                                   assets_collection=assets, main_op=legacy_init_op, clear_devices=True)
    b.save()


