"""``tf.contrib.layers``: TF1's layer functions, initializers and regularizers."""
from deferflow.contrib._missing import missing as _missing
from deferflow.contrib.framework.arg_scope import add_arg_scope, arg_scope
from deferflow.contrib.layers import utils
from deferflow.contrib.layers.initializers import (variance_scaling_initializer, xavier_initializer,
                                                   xavier_initializer_conv2d)
from deferflow.contrib.layers.layers import (avg_pool2d, batch_norm, bias_add, conv2d, conv2d_transpose, convolution,
                                             convolution2d, convolution2d_transpose, dropout, flatten,
                                             fully_connected, linear, max_pool2d, one_hot_encoding, relu, relu6,
                                             repeat, softmax, stack)
from deferflow.contrib.layers.optimizers import OPTIMIZER_CLS_NAMES, OPTIMIZER_SUMMARIES, optimize_loss
from deferflow.contrib.layers.regularizers import (apply_regularization, l1_l2_regularizer, l1_regularizer,
                                                   l2_regularizer, sum_regularizer)


def __getattr__(name):
    raise _missing("tf.contrib.layers", name)
