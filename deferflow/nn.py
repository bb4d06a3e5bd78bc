"""The ``tf.nn`` namespace."""
from deferflow.ops.nn_impl import (batch_normalization, dropout, embedding_lookup, l2_normalize, moments,
                                   relu_layer, sigmoid_cross_entropy_with_logits, weighted_cross_entropy_with_logits,
                                   xw_plus_b, zero_fraction)
from deferflow.ops.nn_ops import (avg_pool, avg_pool2d, bias_add, conv2d, conv2d_backprop_filter,
                                  conv2d_backprop_input, conv2d_transpose, depthwise_conv2d, depthwise_conv2d_native,
                                  elu, fused_batch_norm, in_top_k, l2_loss, leaky_relu, local_response_normalization,
                                  log_softmax, lrn, max_pool, max_pool2d, relu, relu6, selu, softmax,
                                  softmax_cross_entropy_with_logits, softmax_cross_entropy_with_logits_v2, softplus,
                                  sparse_softmax_cross_entropy_with_logits)
from deferflow.ops.math_ops import sigmoid, tanh, top_k  # TF exposes these under tf.nn as well
from deferflow.ops import rnn_cell  # tf.nn.rnn_cell.BasicLSTMCell, ...
from deferflow.ops.rnn import (bidirectional_dynamic_rnn, dynamic_rnn, static_bidirectional_rnn,  # noqa: E402
                               static_rnn)
from deferflow.ops.sparse_ops import embedding_lookup_sparse  # noqa: E402
from deferflow.ops.nn_ops import (atrous_conv2d, avg_pool1d, avg_pool3d, conv1d, conv1d_transpose,  # noqa: E402
                                  conv3d, conv3d_backprop_filter_v2, conv3d_backprop_input_v2, conv3d_transpose,
                                  convolution, crelu, max_pool1d, max_pool3d, pool, separable_conv2d, silu, swish)
from deferflow.ops.nn_ops import conv3d_backprop_filter_v2 as conv3d_backprop_filter  # noqa: E402
from deferflow.ops.array_ops import depth_to_space, space_to_batch_nd, space_to_depth  # noqa: E402
from deferflow.ops.nn_impl import log_poisson_loss, normalize_moments, weighted_moments  # noqa: E402
from deferflow.ops.nn_impl import nce_loss, sampled_softmax_loss  # noqa: E402
from deferflow.ops.candidate_sampling_ops import (all_candidate_sampler, compute_accidental_hits,  # noqa: E402
                                                  fixed_unigram_candidate_sampler,
                                                  learned_unigram_candidate_sampler, log_uniform_candidate_sampler,
                                                  uniform_candidate_sampler)
