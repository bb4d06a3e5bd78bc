"""contrib/slim layers with TF1's scopes and variable names.

``fully_connected`` makes ``<scope>/weights`` and ``<scope>/biases`` under scope ``fully_connected`` (then
``fully_connected_1`` ...), ``conv2d`` the same under ``Conv``, ``batch_norm`` makes ``BatchNorm/beta``,
``gamma`` (scale=True), ``moving_mean`` and ``moving_variance``; all are model variables, so checkpoints
of TF-slim models restore here by name.
"""
import numpy as np

from deferflow.contrib.framework.arg_scope import add_arg_scope
from deferflow.contrib.framework.variables import model_variable
from deferflow.contrib.layers import initializers, utils
from deferflow.framework import dtypes, ops
from deferflow.framework.ops import GraphKeys, convert_to_tensor
from deferflow.ops import array_ops, init_ops, math_ops, nn_impl, nn_ops, variable_scope
from deferflow import layers as core_layers

__all__ = ["avg_pool2d", "batch_norm", "bias_add", "conv2d", "conv2d_transpose", "convolution",
           "convolution2d", "convolution2d_transpose", "dropout", "flatten", "fully_connected", "linear",
           "max_pool2d", "one_hot_encoding", "relu", "relu6", "repeat", "softmax", "stack"]

DATA_FORMAT_NCHW = "NCHW"
DATA_FORMAT_NHWC = "NHWC"


# ---- shared pieces ------------------------------------------------------------------------------
def _collections_for(variables_collections, name):
    if isinstance(variables_collections, dict):
        return variables_collections.get(name)
    return variables_collections


def _add_to_collections(var, variables_collections, name):
    for c in _collections_for(variables_collections, name) or []:
        if var not in ops.get_collection(c):
            ops.add_to_collection(c, var)


def _layer_variable(name, reg_name, shape, dtype, initializer, regularizer, variables_collections, trainable):
    """A model variable ``<scope>/name``; a new one's regularization loss is named
    ``<scope>/<reg_name>/Regularizer/...`` as the TF1 layers name it (``kernel``/``bias``)."""
    scope_name = variable_scope.get_variable_scope().name
    full = f"{scope_name}/{name}" if scope_name else name
    existed = any(v.op.name == full for v in ops.get_collection(GraphKeys.GLOBAL_VARIABLES))
    var = model_variable(name, shape=shape, dtype=dtype, initializer=initializer,
                         collections=_collections_for(variables_collections, name), trainable=trainable)
    _add_to_collections(var, variables_collections, name)
    if regularizer is not None and not existed:
        with ops.name_scope(f"{reg_name}/Regularizer"):
            loss = regularizer(var)
        if loss is not None:
            ops.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return var


def _pair(v, what):
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    v = [int(x) for x in v]
    if len(v) != 2:
        raise ValueError(f"The `{what}` argument must be a tuple of 2 integers. Received: {v}")
    return tuple(v)


def _padding(padding):
    p = padding.upper() if isinstance(padding, str) else padding
    if p not in ("SAME", "VALID"):
        raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: {padding}")
    return p


def _check_format(data_format):
    if data_format not in (DATA_FORMAT_NCHW, DATA_FORMAT_NHWC):
        raise ValueError("data_format has to be either NCHW or NHWC.")


def _spatial(values, data_format):
    return [1, 1] + list(values) if data_format == DATA_FORMAT_NCHW else [1] + list(values) + [1]


def _finish(outputs, normalizer_fn, normalizer_params, activation_fn, outputs_collections, alias):
    if normalizer_fn is not None:
        outputs = normalizer_fn(outputs, **(normalizer_params or {}))
    if activation_fn is not None:
        outputs = activation_fn(outputs)
    return utils.collect_named_outputs(outputs_collections, alias, outputs)


# ---- dense and convolution ------------------------------------------------------------------------
@add_arg_scope
def fully_connected(inputs, num_outputs, activation_fn=nn_ops.relu, normalizer_fn=None, normalizer_params=None,
                    weights_initializer=initializers.xavier_initializer(), weights_regularizer=None,
                    biases_initializer=init_ops.zeros_initializer(), biases_regularizer=None, reuse=None,
                    variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """``activation_fn(normalizer_fn(inputs @ weights + biases))``; biases are skipped when a
    ``normalizer_fn`` is given or ``biases_initializer`` is None."""
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, (int, np.integer)):
        raise ValueError(f"num_outputs type should be one of [<class 'int'>], got {type(num_outputs)}.")
    with variable_scope.variable_scope(scope, "fully_connected", [inputs], reuse=reuse) as sc:
        inputs = convert_to_tensor(inputs)
        dtype = inputs.dtype.base_dtype
        rank = inputs.shape.ndims
        last = inputs.shape[-1].value if rank else None
        if last is None:
            raise ValueError("The last dimension of the inputs to `Dense` should be defined. Found `None`.")
        weights = _layer_variable("weights", "kernel", [last, int(num_outputs)], dtype, weights_initializer,
                                  weights_regularizer, variables_collections, trainable)
        if rank > 2:
            outputs = math_ops.tensordot(inputs, weights, [[rank - 1], [0]])
            outputs.set_shape(inputs.shape[:-1].concatenate([int(num_outputs)]))
        else:
            outputs = math_ops.matmul(inputs, weights)
        if not normalizer_fn and biases_initializer is not None:
            biases = _layer_variable("biases", "bias", [int(num_outputs)], dtype, biases_initializer,
                                     biases_regularizer, variables_collections, trainable)
            outputs = nn_ops.bias_add(outputs, biases)
        return _finish(outputs, normalizer_fn, normalizer_params, activation_fn, outputs_collections, sc.name)


def _conv(inputs, num_outputs, kernel_size, stride, padding, data_format, rate, activation_fn, normalizer_fn,
          normalizer_params, weights_initializer, weights_regularizer, biases_initializer, biases_regularizer, reuse,
          variables_collections, outputs_collections, trainable, scope):
    if data_format not in (None, "NWC", "NCW", "NHWC", "NCHW", "NDHWC", "NCDHW"):
        raise ValueError(f"Invalid data_format: {data_format!r}")
    fmt = DATA_FORMAT_NCHW if data_format and data_format.startswith("NC") else DATA_FORMAT_NHWC
    with variable_scope.variable_scope(scope, "Conv", [inputs], reuse=reuse) as sc:
        inputs = convert_to_tensor(inputs)
        if inputs.shape.ndims != 4:
            raise NotImplementedError(f"deferflow's contrib convolution supports 4-D (2-D image) inputs only, got "
                                      f"rank {inputs.shape.ndims}")
        dtype = inputs.dtype.base_dtype
        kh, kw = _pair(kernel_size, "kernel_size")
        strides, rates = _pair(stride, "strides"), _pair(rate, "dilation_rate")
        channels = inputs.shape[1 if fmt == DATA_FORMAT_NCHW else -1].value
        if channels is None:
            raise ValueError("The channel dimension of the inputs should be defined. Found `None`.")
        weights = _layer_variable("weights", "kernel", [kh, kw, channels, int(num_outputs)], dtype,
                                  weights_initializer, weights_regularizer, variables_collections, trainable)
        outputs = nn_ops.conv2d(inputs, weights, strides=_spatial(strides, fmt), padding=_padding(padding),
                                data_format=fmt, dilations=_spatial(rates, fmt), name="Conv2D")
        if not normalizer_fn and biases_initializer is not None:
            biases = _layer_variable("biases", "bias", [int(num_outputs)], dtype, biases_initializer,
                                     biases_regularizer, variables_collections, trainable)
            outputs = nn_ops.bias_add(outputs, biases, data_format=fmt)
        return _finish(outputs, normalizer_fn, normalizer_params, activation_fn, outputs_collections, sc.name)


@add_arg_scope
def convolution(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None, rate=1,
                activation_fn=nn_ops.relu, normalizer_fn=None, normalizer_params=None,
                weights_initializer=initializers.xavier_initializer(), weights_regularizer=None,
                biases_initializer=init_ops.zeros_initializer(), biases_regularizer=None, reuse=None,
                variables_collections=None, outputs_collections=None, trainable=True, scope=None, conv_dims=None):
    """N-D convolution (deferflow: 2-D) with ``weights`` [kh, kw, in, out] and ``biases`` under scope ``Conv``."""
    if conv_dims is not None and inputs is not None and hasattr(inputs, "shape") and \
            getattr(inputs.shape, "ndims", None) not in (None, conv_dims + 2):
        raise ValueError(f"Convolution expects input with rank {conv_dims + 2}, got {inputs.shape.ndims}")
    return _conv(inputs, num_outputs, kernel_size, stride, padding, data_format, rate, activation_fn, normalizer_fn,
                 normalizer_params, weights_initializer, weights_regularizer, biases_initializer, biases_regularizer,
                 reuse, variables_collections, outputs_collections, trainable, scope)


@add_arg_scope
def convolution2d(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None, rate=1,
                  activation_fn=nn_ops.relu, normalizer_fn=None, normalizer_params=None,
                  weights_initializer=initializers.xavier_initializer(), weights_regularizer=None,
                  biases_initializer=init_ops.zeros_initializer(), biases_regularizer=None, reuse=None,
                  variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """2-D convolution: ``activation_fn(normalizer_fn(conv2d(inputs, weights) + biases))`` under scope ``Conv``."""
    inputs = convert_to_tensor(inputs)
    if inputs.shape.ndims is not None and inputs.shape.ndims != 4:
        raise ValueError(f"Convolution expects input with rank 4, got {inputs.shape.ndims}")
    return _conv(inputs, num_outputs, kernel_size, stride, padding, data_format, rate, activation_fn, normalizer_fn,
                 normalizer_params, weights_initializer, weights_regularizer, biases_initializer, biases_regularizer,
                 reuse, variables_collections, outputs_collections, trainable, scope)


conv2d = convolution2d


def _deconv_length(size, kernel, stride, padding):
    if size is None:
        return None
    return size * stride if padding == "SAME" else size * stride + max(kernel - stride, 0)


@add_arg_scope
def convolution2d_transpose(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=DATA_FORMAT_NHWC,
                            activation_fn=nn_ops.relu, normalizer_fn=None, normalizer_params=None,
                            weights_initializer=initializers.xavier_initializer(), weights_regularizer=None,
                            biases_initializer=init_ops.zeros_initializer(), biases_regularizer=None, reuse=None,
                            variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """Transposed 2-D convolution: ``weights`` [kh, kw, out, in] and ``biases`` under ``Conv2d_transpose``."""
    _check_format(data_format)
    with variable_scope.variable_scope(scope, "Conv2d_transpose", [inputs], reuse=reuse) as sc:
        inputs = convert_to_tensor(inputs)
        dtype = inputs.dtype.base_dtype
        kh, kw = _pair(kernel_size, "kernel_size")
        sh, sw = _pair(stride, "strides")
        pad = _padding(padding)
        nchw = data_format == DATA_FORMAT_NCHW
        channels = inputs.shape[1 if nchw else -1].value
        if channels is None:
            raise ValueError("The channel dimension of the inputs should be defined. Found `None`.")
        weights = _layer_variable("weights", "kernel", [kh, kw, int(num_outputs), channels], dtype,
                                  weights_initializer, weights_regularizer, variables_collections, trainable)
        in_shape = array_ops.shape(inputs)
        h_axis, w_axis = (2, 3) if nchw else (1, 2)
        out_h = _deconv_length(inputs.shape[h_axis].value, kh, sh, pad)
        out_w = _deconv_length(inputs.shape[w_axis].value, kw, sw, pad)
        if out_h is None or out_w is None:
            raise NotImplementedError("conv2d_transpose needs static spatial input dimensions in deferflow")
        batch = in_shape[0]
        dims = [batch, int(num_outputs), out_h, out_w] if nchw else [batch, out_h, out_w, int(num_outputs)]
        output_shape = array_ops.stack(dims)
        outputs = nn_ops.conv2d_transpose(inputs, weights, output_shape, strides=_spatial((sh, sw), data_format),
                                          padding=pad, data_format=data_format, name="conv2d_transpose")
        static = [inputs.shape[0].value] + ([int(num_outputs), out_h, out_w] if nchw else
                                            [out_h, out_w, int(num_outputs)])
        outputs.set_shape(static)
        if not normalizer_fn and biases_initializer is not None:
            biases = _layer_variable("biases", "bias", [int(num_outputs)], dtype, biases_initializer,
                                     biases_regularizer, variables_collections, trainable)
            outputs = nn_ops.bias_add(outputs, biases, data_format=data_format)
        return _finish(outputs, normalizer_fn, normalizer_params, activation_fn, outputs_collections, sc.name)


conv2d_transpose = convolution2d_transpose


@add_arg_scope
def bias_add(inputs, activation_fn=None, initializer=init_ops.zeros_initializer(), regularizer=None, reuse=None,
             variables_collections=None, outputs_collections=None, trainable=True, data_format=DATA_FORMAT_NHWC,
             scope=None):
    """Adds a ``biases`` variable (scope ``BiasAdd``) over the channel axis."""
    _check_format(data_format)
    with variable_scope.variable_scope(scope, "BiasAdd", [inputs], reuse=reuse) as sc:
        inputs = convert_to_tensor(inputs)
        rank = inputs.shape.ndims
        if rank is None:
            raise ValueError("Dims of shape must be known but is None")
        if rank != 4 and data_format == DATA_FORMAT_NCHW:
            raise ValueError("Data format NCHW only supports 4D Tensor")
        n = inputs.shape[1 if data_format == DATA_FORMAT_NCHW else -1].value
        if n is None:
            raise ValueError("`C` dimension must be known but is None")
        biases = model_variable("biases", shape=[n], dtype=inputs.dtype.base_dtype, initializer=initializer,
                                regularizer=regularizer, collections=_collections_for(variables_collections, "biases"),
                                trainable=trainable)
        outputs = nn_ops.bias_add(inputs, biases, data_format=data_format)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


def _partial_fc(activation, name):
    def layer(*args, **kwargs):
        kwargs["activation_fn"] = activation
        return fully_connected(*args, **kwargs)
    layer.__name__ = name
    layer.__doc__ = f"``fully_connected`` with ``activation_fn={activation.__name__ if activation else None}``."
    return layer


linear = _partial_fc(None, "linear")
relu = _partial_fc(nn_ops.relu, "relu")
relu6 = _partial_fc(nn_ops.relu6, "relu6")


# ---- pooling, reshaping, dropout -----------------------------------------------------------------
def _pool(op, default_name, inputs, kernel_size, stride, padding, data_format, outputs_collections, scope):
    _check_format(data_format)
    with ops.name_scope(scope, default_name, [inputs]) as sc:
        inputs = convert_to_tensor(inputs)
        ksize = _spatial(_pair(kernel_size, "pool_size"), data_format)
        strides = _spatial(_pair(stride, "strides"), data_format)
        outputs = op(inputs, ksize, strides, _padding(padding), data_format=data_format,
                     name="MaxPool" if op is nn_ops.max_pool else "AvgPool")
        return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def max_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format=DATA_FORMAT_NHWC, outputs_collections=None,
               scope=None):
    """2-D max pooling (name scope ``MaxPool2D``); no variables."""
    return _pool(nn_ops.max_pool, "MaxPool2D", inputs, kernel_size, stride, padding, data_format,
                 outputs_collections, scope)


@add_arg_scope
def avg_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format=DATA_FORMAT_NHWC, outputs_collections=None,
               scope=None):
    """2-D average pooling (name scope ``AvgPool2D``); no variables."""
    return _pool(nn_ops.avg_pool, "AvgPool2D", inputs, kernel_size, stride, padding, data_format,
                 outputs_collections, scope)


@add_arg_scope
def flatten(inputs, outputs_collections=None, scope=None):
    """Reshapes ``[batch, ...]`` to ``[batch, k]`` (name scope ``Flatten``)."""
    with ops.name_scope(scope, "Flatten", [inputs]) as sc:
        inputs = convert_to_tensor(inputs)
        if inputs.shape.ndims is None:
            raise ValueError("Inputs must have a least 2 dimensions.")
        outputs = core_layers.flatten(inputs)
        return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def dropout(inputs, keep_prob=0.5, noise_shape=None, is_training=True, outputs_collections=None, scope=None,
            seed=None):
    """Keeps each element with probability ``keep_prob`` (scaled by ``1/keep_prob``) when ``is_training``;
    the identity otherwise. ``is_training`` may be a boolean tensor."""
    with variable_scope.variable_scope(scope, "Dropout", [inputs]) as sc:
        inputs = convert_to_tensor(inputs)
        rate = 1 - keep_prob if not isinstance(keep_prob, ops.Tensor) else \
            math_ops.subtract(array_ops.constant(1.0, dtype=keep_prob.dtype.base_dtype), keep_prob)
        outputs = core_layers.dropout(inputs, rate=rate, noise_shape=noise_shape, seed=seed, training=is_training)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


@add_arg_scope
def one_hot_encoding(labels, num_classes, on_value=1.0, off_value=0.0, outputs_collections=None, scope=None):
    """One-hot rows of length ``num_classes`` for integer ``labels``."""
    with ops.name_scope(scope, "OneHotEncoding", [labels, num_classes]) as sc:
        labels = convert_to_tensor(labels)
        if labels.dtype.base_dtype == dtypes.int32:
            labels = math_ops.cast(labels, dtypes.int64, name="ToInt64")
        outputs = array_ops.one_hot(labels, num_classes, on_value=on_value, off_value=off_value)
        return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def softmax(logits, scope=None):
    """Softmax over the last dimension of an N-D ``logits`` (flattened to 2-D as TF does)."""
    with variable_scope.variable_scope(scope, "softmax", [logits]):
        logits = convert_to_tensor(logits)
        n = utils.last_dimension(logits.shape, min_rank=2)
        predictions = nn_ops.softmax(array_ops.reshape(logits, [-1, n]))
        predictions = array_ops.reshape(predictions, array_ops.shape(logits))
        predictions.set_shape(logits.shape)
        return predictions


# ---- batch normalisation --------------------------------------------------------------------------
def _moving_average_update(variable, value, decay):
    """``variable -= (variable - value) * (1 - decay)`` under ``AssignMovingAvg`` (TF's update)."""
    with ops.name_scope(None, "AssignMovingAvg", [variable, value, decay]) as scope:
        if isinstance(decay, ops.Tensor):
            one_minus = math_ops.subtract(array_ops.constant(1.0, dtype=decay.dtype.base_dtype), decay)
        else:
            one_minus = convert_to_tensor(1.0 - decay, dtype=variable.dtype.base_dtype, name="decay")
        delta = math_ops.multiply(variable - math_ops.cast(value, variable.dtype.base_dtype), one_minus)
        return variable.assign_sub(delta, name=scope)


@add_arg_scope
def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001, activation_fn=None,
               param_initializers=None, param_regularizers=None, updates_collections=GraphKeys.UPDATE_OPS,
               is_training=True, reuse=None, variables_collections=None, outputs_collections=None, trainable=True,
               batch_weights=None, fused=None, data_format=DATA_FORMAT_NHWC, zero_debias_moving_mean=False,
               scope=None, renorm=False, renorm_clipping=None, renorm_decay=0.99, adjustment=None):
    """Batch normalisation in scope ``BatchNorm``: variables ``beta`` (center), ``gamma`` (scale),
    ``moving_mean``, ``moving_variance``. When training, the moving averages' updates go to
    ``updates_collections`` (default ``UPDATE_OPS``; None runs them before the output)."""
    if batch_weights is not None or renorm or adjustment is not None or zero_debias_moving_mean:
        raise NotImplementedError("deferflow's batch_norm does not implement batch_weights, renorm, adjustment or "
                                  "zero_debias_moving_mean")
    _check_format(data_format)
    inputs = convert_to_tensor(inputs)
    rank = inputs.shape.ndims
    if rank is None:
        raise ValueError(f"Inputs {inputs.name} has undefined rank.")
    if fused is None:
        fused = True
    # TF-slim's three routes, which differ in variable creation order and in the variance the moving
    # average sees (the fused kernel's Bessel-corrected one, or the biased batch moment)
    slim_fused = fused and rank in (2, 4) and (rank == 2 or updates_collections is not GraphKeys.UPDATE_OPS)
    layer_route = not slim_fused and updates_collections is GraphKeys.UPDATE_OPS
    use_fused = slim_fused or (layer_route and fused and rank == 4)
    if use_fused and rank not in (2, 4):
        raise ValueError(f"Inputs {inputs.name} has unsupported rank. Expected 2 or 4 but got {rank}")
    param_initializers = param_initializers or {}
    param_regularizers = param_regularizers or {}
    with variable_scope.variable_scope(scope, "BatchNorm", [inputs], reuse=reuse) as sc:
        original_shape = inputs.shape
        nchw = data_format == DATA_FORMAT_NCHW
        channels = inputs.shape[1 if nchw and rank > 1 else -1].value
        if channels is None:
            raise ValueError(f"Inputs {inputs.name} has undefined `C` dimension {inputs.shape}.")
        in_dtype = inputs.dtype.base_dtype
        param_dtype = dtypes.float32 if use_fused or in_dtype in (dtypes.float16, dtypes.bfloat16) else in_dtype
        x = inputs
        if rank == 2 and use_fused:
            x = array_ops.reshape(inputs, [-1, channels, 1, 1] if nchw else [-1, 1, 1, channels])

        def make(name, default_init, train):
            return _layer_variable(name, name, [channels], param_dtype, param_initializers.get(name, default_init),
                                   param_regularizers.get(name) if train else None, variables_collections,
                                   trainable and train)
        order = ("gamma", "beta") if layer_route else ("beta", "gamma")
        made = {}
        for name in order:
            if name == "beta" and center:
                made[name] = make("beta", init_ops.zeros_initializer(), True)
            if name == "gamma" and scale:
                made[name] = make("gamma", init_ops.ones_initializer(), True)
        moving_mean = make("moving_mean", init_ops.zeros_initializer(), False)
        moving_variance = make("moving_variance", init_ops.ones_initializer(), False)
        beta, gamma = made.get("beta"), made.get("gamma")

        training_value = utils.constant_value(is_training)
        if use_fused:
            fmt = DATA_FORMAT_NCHW if nchw else DATA_FORMAT_NHWC
            g = gamma if gamma is not None else array_ops.constant(np.ones(channels, np.float32))
            b = beta if beta is not None else array_ops.constant(np.zeros(channels, np.float32))

            def train_fn():
                return nn_ops.fused_batch_norm(x, g, b, epsilon=epsilon, data_format=fmt)

            def infer_fn():
                return nn_ops.fused_batch_norm(x, g, b, mean=moving_mean, variance=moving_variance,
                                               epsilon=epsilon, data_format=fmt, is_training=False)
            outputs, mean, variance = utils.smart_cond(is_training, train_fn, infer_fn)
        else:
            axes = [0] + list(range(2, rank)) if nchw else list(range(rank - 1))
            bshape = [1, channels] + [1] * (rank - 2) if nchw else None

            def shaped(t):
                return t if t is None or bshape is None else array_ops.reshape(t, bshape)

            def batch_moments():
                return nn_impl.moments(math_ops.cast(x, param_dtype), axes)
            mean, variance = utils.smart_cond(is_training, batch_moments,
                                              lambda: (moving_mean.value(), moving_variance.value()))
            outputs = nn_impl.batch_normalization(x, shaped(mean), shaped(variance), shaped(beta), shaped(gamma),
                                                  epsilon)
        if training_value is None or training_value:
            decay_t = decay
            if training_value is None:  # decay 1 leaves the averages unchanged when not training
                decay_t = utils.smart_cond(is_training, lambda: array_ops.constant(float(decay)),
                                           lambda: array_ops.constant(1.0))
            update_mean = _moving_average_update(moving_mean, mean, decay_t)
            update_variance = _moving_average_update(moving_variance, variance, decay_t)
            if updates_collections is None:
                with ops.control_dependencies([update_mean, update_variance]):
                    outputs = array_ops.identity(outputs)
            else:
                if layer_route:  # TF's layer adds the assign ops; slim's own routes add their tensors
                    update_mean, update_variance = update_mean.op, update_variance.op
                ops.add_to_collections(updates_collections, update_mean)
                ops.add_to_collections(updates_collections, update_variance)
        if rank == 2 and use_fused:
            dims = original_shape.as_list()
            if dims.count(None) <= 1:
                outputs = array_ops.reshape(outputs, [-1 if d is None else d for d in dims])
            else:
                outputs = array_ops.reshape(outputs, array_ops.shape(inputs))
        outputs.set_shape(original_shape)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


# ---- repeating a layer ----------------------------------------------------------------------------
def _layer_name(layer, fallback):
    if hasattr(layer, "__name__"):
        return layer.__name__
    if hasattr(layer, "func") and hasattr(layer.func, "__name__"):  # functools.partial
        return layer.func.__name__
    return fallback


def repeat(inputs, repetitions, layer, *args, **kwargs):
    """Applies ``layer`` ``repetitions`` times under scope ``scope`` (default ``Repeat``), naming the calls
    ``<scope>_1``, ``<scope>_2`` ... (VGG's ``conv1/conv1_1``)."""
    scope = kwargs.pop("scope", None)
    with variable_scope.variable_scope(scope, "Repeat", [inputs]):
        inputs = convert_to_tensor(inputs)
        if scope is None:
            scope = _layer_name(layer, "repeat")
        outputs = inputs
        for i in range(repetitions):
            kwargs["scope"] = f"{scope}_{i + 1}"
            outputs = layer(outputs, *args, **kwargs)
        return outputs


def stack(inputs, layer, stack_args, **kwargs):
    """Applies ``layer`` once per entry of ``stack_args`` (its positional arguments), scoped
    ``<scope>_1``, ``<scope>_2`` ... under ``scope`` (default ``Stack``)."""
    scope = kwargs.pop("scope", None)
    if not isinstance(stack_args, (list, tuple)):
        raise ValueError("stack_args need to be a list or tuple")
    with variable_scope.variable_scope(scope, "Stack", [inputs]):
        inputs = convert_to_tensor(inputs)
        if scope is None:
            scope = _layer_name(layer, "stack")
        outputs = inputs
        for i, layer_args in enumerate(stack_args):
            kwargs["scope"] = f"{scope}_{i + 1}"
            if not isinstance(layer_args, (list, tuple)):
                layer_args = [layer_args]
            outputs = layer(outputs, *layer_args, **kwargs)
        return outputs
