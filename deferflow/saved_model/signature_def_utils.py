"""``tf.saved_model.signature_def_utils``: building and checking ``SignatureDef``s."""
from deferflow.formats import protos
from deferflow.framework import dtypes
from deferflow.saved_model import signature_constants as sc
from deferflow.saved_model.utils import build_tensor_info


def build_signature_def(inputs=None, outputs=None, method_name=None, defaults=None):
    """A ``SignatureDef`` from {key: TensorInfo} maps and a method name."""
    sd = protos.SignatureDef()
    for key, info in (inputs or {}).items():
        sd.inputs[key].CopyFrom(info)
    for key, info in (outputs or {}).items():
        sd.outputs[key].CopyFrom(info)
    if method_name is not None:
        sd.method_name = method_name
    for key, value in (defaults or {}).items():
        from deferflow.framework import graph_io
        graph_io.tensor_to_proto(value, None, sd.defaults[key])
    return sd


def predict_signature_def(inputs, outputs):
    """A predict ``SignatureDef`` from {key: Tensor} maps."""
    if inputs is None or not inputs:
        raise ValueError("Prediction inputs cannot be None or empty.")
    if outputs is None or not outputs:
        raise ValueError("Prediction outputs cannot be None or empty.")
    return build_signature_def({k: build_tensor_info(t) for k, t in inputs.items()},
                               {k: build_tensor_info(t) for k, t in outputs.items()}, sc.PREDICT_METHOD_NAME)


def regression_signature_def(examples, predictions):
    if examples is None:
        raise ValueError("Regression examples cannot be None.")
    if predictions is None:
        raise ValueError("Regression predictions cannot be None.")
    return build_signature_def({sc.REGRESS_INPUTS: build_tensor_info(examples)},
                               {sc.REGRESS_OUTPUTS: build_tensor_info(predictions)}, sc.REGRESS_METHOD_NAME)


def classification_signature_def(examples, classes, scores):
    if examples is None:
        raise ValueError("Classification examples cannot be None.")
    if classes is None and scores is None:
        raise ValueError("Classification classes and scores cannot both be None.")
    outputs = {}
    if classes is not None:
        outputs[sc.CLASSIFY_OUTPUT_CLASSES] = build_tensor_info(classes)
    if scores is not None:
        outputs[sc.CLASSIFY_OUTPUT_SCORES] = build_tensor_info(scores)
    return build_signature_def({sc.CLASSIFY_INPUTS: build_tensor_info(examples)}, outputs, sc.CLASSIFY_METHOD_NAME)


def is_valid_signature(signature_def):
    """Whether a SignatureDef is a well-formed predict/classify/regress signature."""
    if signature_def is None or not signature_def.method_name:
        return False
    m = signature_def.method_name
    if m == sc.PREDICT_METHOD_NAME:
        return bool(signature_def.inputs) and bool(signature_def.outputs)
    if m == sc.REGRESS_METHOD_NAME:
        return (set(signature_def.inputs) == {sc.REGRESS_INPUTS} and set(signature_def.outputs) == {sc.REGRESS_OUTPUTS}
                and signature_def.inputs[sc.REGRESS_INPUTS].dtype == dtypes.string.as_datatype_enum
                and signature_def.outputs[sc.REGRESS_OUTPUTS].dtype == dtypes.float32.as_datatype_enum)
    if m == sc.CLASSIFY_METHOD_NAME:
        outs = set(signature_def.outputs)
        if set(signature_def.inputs) != {sc.CLASSIFY_INPUTS} or not outs or \
                not outs <= {sc.CLASSIFY_OUTPUT_CLASSES, sc.CLASSIFY_OUTPUT_SCORES}:
            return False
        if signature_def.inputs[sc.CLASSIFY_INPUTS].dtype != dtypes.string.as_datatype_enum:
            return False
        if sc.CLASSIFY_OUTPUT_CLASSES in outs and \
                signature_def.outputs[sc.CLASSIFY_OUTPUT_CLASSES].dtype != dtypes.string.as_datatype_enum:
            return False
        if sc.CLASSIFY_OUTPUT_SCORES in outs and \
                signature_def.outputs[sc.CLASSIFY_OUTPUT_SCORES].dtype != dtypes.float32.as_datatype_enum:
            return False
        return True
    return False
