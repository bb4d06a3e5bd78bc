"""The ``tf.layers`` namespace (TF1): layers whose variables get TF's names (``dense/kernel``,
``conv2d_1/bias``, ``batch_normalization/moving_mean``) through variable scopes and ``get_variable``,
so checkpoints of ``tf.layers`` models written by TensorFlow restore here by name."""
import numpy as np

from deferflow.framework import dtypes, ops
from deferflow.framework.ops import GraphKeys, Tensor, apply_op, convert_to_tensor
from deferflow.ops import array_ops, init_ops, math_ops, nn_impl, nn_ops, variable_scope


def _tuple(v, n, name):
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(x) for x in v)
    if len(v) != n:
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received: {v}")
    return v


def _padding(p):
    p = p.upper() if isinstance(p, str) else p
    if p not in ("SAME", "VALID"):
        raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: {p}")
    return p


def _fmt(data_format):
    if data_format in (None, "channels_last"):
        return "NHWC"
    if data_format == "channels_first":
        return "NCHW"
    raise ValueError(f"The `data_format` argument must be one of 'channels_first', 'channels_last'. Received: "
                     f"{data_format}")


class Layer:
    """Base of the ``tf.layers`` classes: a variable scope named after the layer holds its weights."""

    _base_name = "layer"

    def __init__(self, trainable=True, name=None, dtype=None, activity_regularizer=None, _reuse=None, **kwargs):
        self.trainable = trainable
        self._name_arg = name
        self._reuse = _reuse
        self._scope = None
        self._dtype = dtypes.as_dtype(dtype) if dtype is not None else None
        self.activity_regularizer = activity_regularizer
        self.built = False
        self._weights, self._updates, self._losses = [], [], []

    name = property(lambda self: self._scope.name.rsplit("/", 1)[-1] if self._scope else self._name_arg)
    scope_name = property(lambda self: self._scope.name if self._scope else None)
    weights = variables = property(lambda self: list(self._weights))
    trainable_weights = trainable_variables = property(lambda self: [w for w in self._weights if w.trainable])
    non_trainable_weights = non_trainable_variables = property(
        lambda self: [w for w in self._weights if not w.trainable])
    updates = property(lambda self: list(self._updates))
    losses = property(lambda self: list(self._losses))
    dtype = property(lambda self: self._dtype)

    def add_weight(self, name, shape, dtype=None, initializer=None, regularizer=None, trainable=True,
                   constraint=None):
        v = variable_scope.get_variable(name, shape=shape, dtype=dtype or self._dtype or dtypes.float32,
                                        initializer=initializer, regularizer=regularizer,
                                        trainable=trainable and self.trainable, constraint=constraint)
        if v not in self._weights:
            self._weights.append(v)
        return v

    def add_update(self, update):
        self._updates.append(update)
        ops.add_to_collection(GraphKeys.UPDATE_OPS, update)

    def build(self, input_shape):
        pass

    def call(self, inputs, **kwargs):
        return inputs

    def __call__(self, inputs, *args, **kwargs):
        inputs = convert_to_tensor(inputs)
        if self._dtype is None:
            self._dtype = inputs.dtype.base_dtype if inputs.dtype.is_floating else dtypes.float32
        if self._scope is None:
            ctx = variable_scope.variable_scope(self._name_arg, default_name=self._base_name, reuse=self._reuse)
        else:
            ctx = variable_scope.variable_scope(self._scope, reuse=True)
        with ctx as scope:
            self._scope = self._scope or scope
            if not self.built:
                self.build(inputs.shape)
                self.built = True
            outputs = self.call(inputs, *args, **kwargs)
            if self.activity_regularizer is not None:
                with ops.name_scope("ActivityRegularizer"):
                    loss = self.activity_regularizer(outputs)
                    batch = math_ops.cast(array_ops.shape(outputs)[0], loss.dtype.base_dtype)
                    loss = math_ops.divide(loss, batch)
                self._losses.append(loss)
                ops.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
        return outputs

    apply = __call__


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``."""

    _base_name = "dense"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(trainable=trainable, name=name, activity_regularizer=activity_regularizer, **kwargs)
        self.units, self.activation, self.use_bias = int(units), activation, use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint

    def build(self, input_shape):
        last = input_shape[-1].value if input_shape.ndims else None
        if last is None:
            raise ValueError("The last dimension of the inputs to a Dense layer should be defined. Found None. "
                             f"Full input shape received: {input_shape}")
        self.kernel = self.add_weight("kernel", [last, self.units], initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", [self.units], initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None

    def call(self, inputs):
        if inputs.dtype.base_dtype != self._dtype:
            inputs = math_ops.cast(inputs, self._dtype)
        rank = inputs.shape.ndims
        if rank is not None and rank > 2:
            outputs = math_ops.tensordot(inputs, self.kernel, [[rank - 1], [0]])
            outputs.set_shape(inputs.shape[:-1].concatenate([self.units]))
        else:
            outputs = math_ops.matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = nn_ops.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs


class Conv2D(Layer):
    """2-D convolution layer with an HWIO ``kernel`` and a ``bias``."""

    _base_name = "conv2d"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(trainable=trainable, name=name, activity_regularizer=activity_regularizer, **kwargs)
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, 2, "kernel_size")
        self.strides = _tuple(strides, 2, "strides")
        self.padding = _padding(padding)
        self.data_format = _fmt(data_format)
        self.dilation_rate = _tuple(dilation_rate, 2, "dilation_rate")
        self.activation, self.use_bias = activation, use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint

    def build(self, input_shape):
        c = input_shape[1 if self.data_format == "NCHW" else -1].value if input_shape.ndims else None
        if c is None:
            raise ValueError("The channel dimension of the inputs should be defined. Found `None`.")
        self.kernel = self.add_weight("kernel", list(self.kernel_size) + [c, self.filters],
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", [self.filters], initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None

    def call(self, inputs):
        outputs = nn_ops.conv2d(inputs, self.kernel, strides=list(self.strides), padding=self.padding,
                                data_format=self.data_format, dilations=list(self.dilation_rate), name="Conv2D")
        if self.use_bias:
            outputs = nn_ops.bias_add(outputs, self.bias, data_format=self.data_format)
        return self.activation(outputs) if self.activation is not None else outputs


class _Pooling2D(Layer):
    _op = None

    def __init__(self, pool_size, strides, padding="valid", data_format="channels_last", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = _tuple(pool_size, 2, "pool_size")
        self.strides = _tuple(strides if strides is not None else pool_size, 2, "strides")
        self.padding = _padding(padding)
        self.data_format = _fmt(data_format)

    def call(self, inputs):
        fmt = self.data_format
        ksize = [1, 1] + list(self.pool_size) if fmt == "NCHW" else [1] + list(self.pool_size) + [1]
        strides = [1, 1] + list(self.strides) if fmt == "NCHW" else [1] + list(self.strides) + [1]
        kw = {"explicit_paddings": []} if self._op == "MaxPool" else {}
        return apply_op(self._op, name=self._op, **{"input" if self._op == "MaxPool" else "value": inputs},
                        ksize=ksize, strides=strides, padding=self.padding, data_format=fmt, **kw)


class MaxPooling2D(_Pooling2D):
    _base_name = "max_pooling2d"
    _op = "MaxPool"


class AveragePooling2D(_Pooling2D):
    _base_name = "average_pooling2d"
    _op = "AvgPool"


class Flatten(Layer):
    _base_name = "flatten"

    def __init__(self, data_format="channels_last", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.data_format = _fmt(data_format)

    def call(self, inputs):
        if self.data_format == "NCHW" and inputs.shape.ndims and inputs.shape.ndims > 2:
            perm = [0] + list(range(2, inputs.shape.ndims)) + [1]
            inputs = array_ops.transpose(inputs, perm)
        dims = inputs.shape.as_list() if inputs.shape.ndims is not None else None
        if dims is not None and len(dims) == 1:
            return array_ops.expand_dims(inputs, 1)
        if dims is not None and None not in dims[1:]:
            flat = int(np.prod(dims[1:], dtype=np.int64))
            return array_ops.reshape(inputs, array_ops.constant([-1, flat]))
        batch = dims[0] if dims is not None and dims[0] is not None else array_ops.shape(inputs)[0]
        return array_ops.reshape(inputs, [batch, -1])


def _bool_or_tensor(training):
    if isinstance(training, (Tensor,)) or hasattr(training, "_as_graph_element"):
        return convert_to_tensor(training)
    return bool(training)


class Dropout(Layer):
    _base_name = "dropout"

    def __init__(self, rate=0.5, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.rate, self.noise_shape, self.seed = rate, noise_shape, seed

    def call(self, inputs, training=False):
        training = _bool_or_tensor(training)
        if training is False:
            return array_ops.identity(inputs)
        dropped = nn_impl.dropout(inputs, rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        if training is True:
            return dropped
        return apply_op("SelectV2", condition=training, t=dropped, e=array_ops.identity(inputs))


class BatchNormalization(Layer):
    """Batch normalisation; in training its moving-average updates go to ``UPDATE_OPS``."""

    _base_name = "batch_normalization"

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer=init_ops.zeros_initializer(), gamma_initializer=init_ops.ones_initializer(),
                 moving_mean_initializer=init_ops.zeros_initializer(),
                 moving_variance_initializer=init_ops.ones_initializer(), beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, renorm=False, fused=None,
                 trainable=True, virtual_batch_size=None, adjustment=None, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        if renorm or virtual_batch_size is not None or adjustment is not None:
            raise NotImplementedError("batch renormalization, virtual batches and adjustment are not supported")
        self.axis = axis if isinstance(axis, int) else list(axis)
        self.momentum, self.epsilon, self.center, self.scale = momentum, epsilon, center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        self.fused = fused

    def build(self, input_shape):
        nd = input_shape.ndims
        if nd is None:
            raise ValueError("Input has undefined rank.")
        axis = self.axis if isinstance(self.axis, int) else self.axis[0]
        self._axis = axis % nd
        fused_ok = nd == 4 and self._axis in (1, 3)
        if self.fused is None:
            self.fused = fused_ok
        elif self.fused and not fused_ok:
            raise ValueError(f"Fused batch norm needs 4-D inputs normalised over axis 1 or 3, got axis {axis} for "
                             f"rank {nd}")
        c = input_shape[self._axis].value
        if c is None:
            raise ValueError(f"Axis {axis} of input tensor should have a defined dimension but the layer received "
                             f"an input with shape {input_shape}.")
        param_dtype = dtypes.float32 if self._dtype in (dtypes.float16, dtypes.bfloat16) else self._dtype
        self.gamma = self.add_weight("gamma", [c], param_dtype, self.gamma_initializer, self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", [c], param_dtype, self.beta_initializer, self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", [c], param_dtype, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", [c], param_dtype,
                                               self.moving_variance_initializer, trainable=False)

    def _assign_moving_average(self, variable, value, momentum):
        with ops.name_scope("AssignMovingAvg") as scope:
            if isinstance(momentum, float):
                decay = convert_to_tensor(1.0 - momentum, name="decay")
            else:
                decay = 1.0 - momentum
            update_delta = (variable - math_ops.cast(value, variable.dtype.base_dtype)) * decay
            return apply_op("AssignSub", name=scope, ref=variable._ref(), value=update_delta).op

    def call(self, inputs, training=False):
        training = _bool_or_tensor(training)
        c = inputs.shape[self._axis].value
        gamma = self.gamma if self.gamma is not None else array_ops.constant(np.ones(c, np.float32))
        beta = self.beta if self.beta is not None else array_ops.constant(np.zeros(c, np.float32))
        if self.fused:
            fmt = "NCHW" if self._axis == 1 else "NHWC"

            def run(is_training):
                return nn_ops.fused_batch_norm(inputs, gamma, beta, mean=self.moving_mean,
                                               variance=self.moving_variance, epsilon=self.epsilon,
                                               data_format=fmt, is_training=is_training)
            if training is True or training is False:
                outputs, mean, variance = run(training)
            else:
                y_t, m_t, v_t = run(True)
                y_i, m_i, v_i = run(False)
                outputs = apply_op("SelectV2", condition=training, t=y_t, e=y_i)
                mean, variance = m_t, v_t
            if training is False:
                return outputs
            momentum = array_ops.constant(self.momentum)
            if training is not True:  # a boolean tensor: no update (momentum 1) when not training
                momentum = apply_op("SelectV2", condition=training, t=momentum, e=array_ops.constant(1.0))
            self.add_update(self._assign_moving_average(self.moving_mean, mean, momentum))
            self.add_update(self._assign_moving_average(self.moving_variance, variance, momentum))
            return outputs
        axes = [i for i in range(inputs.shape.ndims) if i != self._axis]
        bshape = [1] * inputs.shape.ndims
        bshape[self._axis] = c

        def shaped(v):
            return v if self._axis == inputs.shape.ndims - 1 else array_ops.reshape(v, bshape)
        if training is False:
            return nn_impl.batch_normalization(inputs, shaped(self.moving_mean), shaped(self.moving_variance),
                                               shaped(beta) if self.center else None,
                                               shaped(gamma) if self.scale else None, self.epsilon)
        mean, variance = nn_impl.moments(math_ops.cast(inputs, self.moving_mean.dtype.base_dtype), axes)
        if training is not True:
            mean = apply_op("SelectV2", condition=training, t=mean, e=self.moving_mean.value())
            variance = apply_op("SelectV2", condition=training, t=variance, e=self.moving_variance.value())
            momentum = apply_op("SelectV2", condition=training, t=array_ops.constant(self.momentum),
                                e=array_ops.constant(1.0))
        else:
            momentum = self.momentum
        self.add_update(self._assign_moving_average(self.moving_mean, mean, momentum))
        self.add_update(self._assign_moving_average(self.moving_variance, variance, momentum))
        return nn_impl.batch_normalization(inputs, shaped(mean), shaped(variance),
                                           shaped(beta) if self.center else None,
                                           shaped(gamma) if self.scale else None, self.epsilon)


class _ConvBase(Layer):
    """Shared constructor of the N-d convolution layers (kernel + bias in the layer's scope)."""

    _rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format="channels_last",
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(trainable=trainable, name=name, activity_regularizer=activity_regularizer, **kwargs)
        n = self._rank
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.strides = _tuple(strides, n, "strides")
        self.padding = _padding(padding)
        _fmt(data_format)
        self.channels_first = data_format == "channels_first"
        self.dilation_rate = _tuple(dilation_rate, n, "dilation_rate")
        self.activation, self.use_bias = activation, use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint

    def _channels(self, input_shape):
        c = input_shape[1 if self.channels_first else -1].value if input_shape.ndims else None
        if c is None:
            raise ValueError("The channel dimension of the inputs should be defined. Found `None`.")
        return c

    def _add_bias(self):
        self.bias = self.add_weight("bias", [self.filters], initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", list(self.kernel_size) + [c, self.filters],
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias()

    def _finish(self, outputs):
        if self.use_bias:
            outputs = nn_ops.bias_add(outputs, self.bias, data_format="NCHW" if self.channels_first else "NHWC")
        return self.activation(outputs) if self.activation is not None else outputs


class Conv1D(_ConvBase):
    """1-D convolution layer: ``<scope>/kernel`` [width, in, out] and ``<scope>/bias``."""

    _base_name = "conv1d"
    _rank = 1

    def call(self, inputs):
        outputs = nn_ops.convolution(inputs, self.kernel, self.padding, strides=list(self.strides),
                                     dilation_rate=list(self.dilation_rate),
                                     data_format="NCW" if self.channels_first else "NWC", name="Conv1D")
        return self._finish(outputs)


class Conv3D(_ConvBase):
    """3-D convolution layer: ``<scope>/kernel`` [d, h, w, in, out] and ``<scope>/bias``."""

    _base_name = "conv3d"
    _rank = 3

    def call(self, inputs):
        fmt = "NCDHW" if self.channels_first else "NDHWC"
        st = [1, 1] + list(self.strides) if self.channels_first else [1] + list(self.strides) + [1]
        dl = [1, 1] + list(self.dilation_rate) if self.channels_first else [1] + list(self.dilation_rate) + [1]
        outputs = apply_op("Conv3D", name="Conv3D", input=inputs, filter=self.kernel, strides=st,
                           padding=self.padding, data_format=fmt, dilations=dl)
        return self._finish(outputs)


def _deconv_length(size, k, padding, stride):
    if size is None:
        return None
    return size * stride if padding == "SAME" else size * stride + max(k - stride, 0)


class Conv2DTranspose(_ConvBase):
    """Transposed 2-D convolution layer: ``<scope>/kernel`` [h, w, out, in] and ``<scope>/bias``."""

    _base_name = "conv2d_transpose"

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", list(self.kernel_size) + [self.filters, c],
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias()

    def call(self, inputs):
        shape = array_ops.shape(inputs)
        batch = shape[0]
        d = inputs.shape.as_list()
        h_ax, w_ax = (2, 3) if self.channels_first else (1, 2)
        dims = []
        for ax, k, s in ((h_ax, self.kernel_size[0], self.strides[0]), (w_ax, self.kernel_size[1], self.strides[1])):
            n = _deconv_length(d[ax], k, self.padding, s)
            if n is None:
                n = shape[ax] * s if self.padding == "SAME" else shape[ax] * s + max(k - s, 0)
            dims.append(n)
        out_shape = [batch, self.filters] + dims if self.channels_first else [batch] + dims + [self.filters]
        output_shape = array_ops.stack(out_shape)
        output_shape[0]  # noqa: B018 - tf-keras' backend slices the batch entry (unused); TF's graph has it
        fmt = "NCHW" if self.channels_first else "NHWC"
        outputs = nn_ops.conv2d_transpose(inputs, self.kernel, output_shape,
                                          strides=[1, 1] + list(self.strides) if self.channels_first
                                          else [1] + list(self.strides) + [1],
                                          padding=self.padding, data_format=fmt)
        static = [d[0]] + [_deconv_length(d[a], k, self.padding, s) for a, k, s in
                           ((h_ax, self.kernel_size[0], self.strides[0]), (w_ax, self.kernel_size[1], self.strides[1]))]
        outputs.set_shape([static[0], self.filters] + static[1:] if self.channels_first
                          else static + [self.filters])
        return self._finish(outputs)


class SeparableConv2D(_ConvBase):
    """Depthwise-separable 2-D convolution: ``depthwise_kernel``, ``pointwise_kernel`` and ``bias``."""

    _base_name = "separable_conv2d"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer=None, pointwise_initializer=None,
                 bias_initializer=init_ops.zeros_initializer(), depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, trainable=True,
                 name=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         None, bias_initializer, None, bias_regularizer, activity_regularizer, None,
                         bias_constraint, trainable, name, **kwargs)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer, self.pointwise_initializer = depthwise_initializer, pointwise_initializer
        self.depthwise_regularizer, self.pointwise_regularizer = depthwise_regularizer, pointwise_regularizer
        self.depthwise_constraint, self.pointwise_constraint = depthwise_constraint, pointwise_constraint

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", list(self.kernel_size) + [c, self.depth_multiplier],
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", [1, 1, c * self.depth_multiplier, self.filters],
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self._add_bias()

    def call(self, inputs):
        fmt = "NCHW" if self.channels_first else "NHWC"
        st = [1, 1] + list(self.strides) if self.channels_first else [1] + list(self.strides) + [1]
        outputs = nn_ops.separable_conv2d(inputs, self.depthwise_kernel, self.pointwise_kernel, strides=st,
                                          padding=self.padding, rate=list(self.dilation_rate), data_format=fmt)
        return self._finish(outputs)


class _Pooling1D(Layer):
    _op = None

    def __init__(self, pool_size, strides, padding="valid", data_format="channels_last", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = _tuple(pool_size, 1, "pool_size")
        self.strides = _tuple(strides if strides is not None else pool_size, 1, "strides")
        self.padding = _padding(padding)
        self.data_format = _fmt(data_format)

    def call(self, inputs):
        axis = 3 if self.data_format == "NCHW" else 2
        x = array_ops.expand_dims(inputs, axis)
        fmt = self.data_format
        k, s = self.pool_size[0], self.strides[0]
        ksize = [1, 1, k, 1] if fmt == "NCHW" else [1, k, 1, 1]
        strides = [1, 1, s, 1] if fmt == "NCHW" else [1, s, 1, 1]
        kw = {"explicit_paddings": []} if self._op == "MaxPool" else {}
        y = apply_op(self._op, name=self._op, **{"input" if self._op == "MaxPool" else "value": x},
                     ksize=ksize, strides=strides, padding=self.padding, data_format=fmt, **kw)
        return array_ops.squeeze(y, [axis])


class MaxPooling1D(_Pooling1D):
    _base_name = "max_pooling1d"
    _op = "MaxPool"


class AveragePooling1D(_Pooling1D):
    _base_name = "average_pooling1d"
    _op = "AvgPool"


class _Pooling3D(Layer):
    _op = None

    def __init__(self, pool_size, strides, padding="valid", data_format="channels_last", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = _tuple(pool_size, 3, "pool_size")
        self.strides = _tuple(strides if strides is not None else pool_size, 3, "strides")
        self.padding = _padding(padding)
        _fmt(data_format)
        self.channels_first = data_format == "channels_first"

    def call(self, inputs):
        if self.channels_first:  # TF pools 3-D data channels-last
            inputs = array_ops.transpose(inputs, [0, 2, 3, 4, 1])
        y = apply_op(self._op, name=self._op, input=inputs, ksize=[1] + list(self.pool_size) + [1],
                     strides=[1] + list(self.strides) + [1], padding=self.padding, data_format="NDHWC")
        return array_ops.transpose(y, [0, 4, 1, 2, 3]) if self.channels_first else y


class MaxPooling3D(_Pooling3D):
    _base_name = "max_pooling3d"
    _op = "MaxPool3D"


class AveragePooling3D(_Pooling3D):
    _base_name = "average_pooling3d"
    _op = "AvgPool3D"


# ---- functional forms ------------------------------------------------------------------------
def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None, bias_regularizer=None,
          activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
          reuse=None):
    """Densely-connected layer: variables ``<scope>/kernel`` and ``<scope>/bias``."""
    return Dense(units, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                 bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, trainable, name,
                 _reuse=reuse)(inputs)


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
           dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer=None,
           bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None, bias_regularizer=None,
           activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
           reuse=None):
    """2-D convolution layer: variables ``<scope>/kernel`` (HWIO) and ``<scope>/bias``."""
    return Conv2D(filters, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                  kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer,
                  kernel_constraint, bias_constraint, trainable, name, _reuse=reuse)(inputs)


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    return MaxPooling2D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    return AveragePooling2D(pool_size, strides, padding, data_format, name)(inputs)


def flatten(inputs, name=None, data_format="channels_last"):
    return Flatten(data_format, name)(inputs)


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """Dropout applied only when ``training`` (a bool or boolean tensor) is true."""
    return Dropout(rate, noise_shape, seed, name)(inputs, training=training)


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                        beta_initializer=init_ops.zeros_initializer(), gamma_initializer=init_ops.ones_initializer(),
                        moving_mean_initializer=init_ops.zeros_initializer(),
                        moving_variance_initializer=init_ops.ones_initializer(), beta_regularizer=None,
                        gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, training=False,
                        trainable=True, name=None, reuse=None, renorm=False, renorm_clipping=None,
                        renorm_momentum=0.99, fused=None, virtual_batch_size=None, adjustment=None):
    """Batch normalisation layer; in training mode add ``UPDATE_OPS`` as a dependency of the train op."""
    layer = BatchNormalization(axis, momentum, epsilon, center, scale, beta_initializer, gamma_initializer,
                               moving_mean_initializer, moving_variance_initializer, beta_regularizer,
                               gamma_regularizer, beta_constraint, gamma_constraint, renorm, fused, trainable,
                               virtual_batch_size, adjustment, name, _reuse=reuse)
    return layer(inputs, training=training)


def _conv_fn(cls):
    def fn(inputs, filters, kernel_size, strides=1, padding="valid", data_format="channels_last", dilation_rate=1,
           activation=None, use_bias=True, kernel_initializer=None, bias_initializer=init_ops.zeros_initializer(),
           kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
        return cls(filters, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                   kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer,
                   kernel_constraint, bias_constraint, trainable, name, _reuse=reuse)(inputs)
    fn.__name__ = fn.__qualname__ = cls._base_name
    fn.__doc__ = f"Functional form of ``{cls.__name__}``: variables ``<scope>/kernel`` and ``<scope>/bias``."
    return fn


conv1d = _conv_fn(Conv1D)
conv3d = _conv_fn(Conv3D)


def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                     activation=None, use_bias=True, kernel_initializer=None,
                     bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None, bias_regularizer=None,
                     activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                     name=None, reuse=None):
    """Transposed convolution layer: variables ``<scope>/kernel`` [h, w, filters, in] and ``<scope>/bias``."""
    return Conv2DTranspose(filters, kernel_size, strides, padding, data_format, 1, activation, use_bias,
                           kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                           activity_regularizer, kernel_constraint, bias_constraint, trainable, name,
                           _reuse=reuse)(inputs)


def separable_conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                     dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                     depthwise_initializer=None, pointwise_initializer=None,
                     bias_initializer=init_ops.zeros_initializer(), depthwise_regularizer=None,
                     pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                     depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, trainable=True,
                     name=None, reuse=None):
    """Separable convolution layer: ``depthwise_kernel``, ``pointwise_kernel`` and ``bias``."""
    return SeparableConv2D(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                           activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                           depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
                           depthwise_constraint, pointwise_constraint, bias_constraint, trainable, name,
                           _reuse=reuse)(inputs)


def max_pooling1d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    return MaxPooling1D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling1d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    return AveragePooling1D(pool_size, strides, padding, data_format, name)(inputs)


def max_pooling3d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    return MaxPooling3D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling3d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    return AveragePooling3D(pool_size, strides, padding, data_format, name)(inputs)
