"""``tf.contrib.slim``: TF-slim's model-building API (layers, arg scopes, model variables, losses)."""
from deferflow.contrib import losses
from deferflow.contrib._missing import missing as _missing
from deferflow.contrib.framework.arg_scope import (add_arg_scope, arg_scope, arg_scope_func_key,
                                                   arg_scoped_arguments, current_arg_scope, has_arg_scope)
from deferflow.contrib.framework.variables import (add_model_variable, assert_global_step,
                                                   assert_or_get_global_step, assign_from_checkpoint,
                                                   assign_from_checkpoint_fn, assign_from_values,
                                                   assign_from_values_fn, create_global_step, filter_variables,
                                                   get_global_step, get_local_variables, get_model_variables,
                                                   get_or_create_global_step, get_trainable_variables,
                                                   get_unique_variable, get_variable_full_name,
                                                   get_variables, get_variables_by_name, get_variables_by_suffix,
                                                   get_variables_to_restore, global_variable, local_variable,
                                                   model_variable, variable)
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
    raise _missing("tf.contrib.slim", name)
