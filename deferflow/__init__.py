"""deferflow: TensorFlow 1.x graphs, sessions and checkpoints on NumPy.

Use it as ``import deferflow as tf`` or ``import deferflow.compat.v1 as tf``.
"""
from deferflow.framework import dtypes as _dtypes
from deferflow.framework import errors
from deferflow.framework.dtypes import (DType, as_dtype, bfloat16, bool, complex64, complex128, double, float16,
                                        float32, float64, half, int8, int16, int32, int64, qint8, qint16, qint32,
                                        quint8, quint16, resource, string, uint8, uint16, uint32, uint64, variant)
from deferflow.framework.dtypes import (bfloat16_ref, bool_ref, complex64_ref, complex128_ref, float16_ref,
                                        float32_ref, float64_ref, int8_ref, int16_ref, int32_ref, int64_ref,
                                        string_ref, uint8_ref, uint16_ref)
from deferflow.framework.op_registry import register_kernel
from deferflow.framework.ops import (Graph, GraphKeys, Operation, RegisterGradient, Tensor, NoGradient,
                                     NotDifferentiable, add_to_collection, add_to_collections, colocate_with,
                                     control_dependencies, convert_to_tensor, device, get_collection,
                                     get_collection_ref, get_default_graph, name_scope,
                                     register_tensor_conversion_function, reset_default_graph)
from deferflow.framework.tensor_shape import Dimension, TensorShape
from deferflow.client.session import (ConfigProto, GPUOptions, GraphOptions, InteractiveSession, OptimizerOptions,
                                      RunMetadata, RunOptions, Session, get_default_session)
from deferflow.ops.array_ops import (boolean_mask, cast, concat, constant, fill, gather, identity, newaxis, ones,
                                     ones_like, placeholder, placeholder_with_default, reshape, shape, squeeze,
                                     stack, stop_gradient, strided_slice, zeros, zeros_like)
from deferflow.ops.math_ops import (abs, add, div, divide, equal, exp, floordiv, floormod, greater, greater_equal,
                                    less, less_equal, log, logical_and, logical_not, logical_or, logical_xor,
                                    matmul, maximum, minimum, mod, multiply, negative, not_equal, pow, reduce_all,
                                    reduce_any, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum,
                                    sqrt, square, squared_difference, subtract, truediv)
from deferflow.ops.math_ops import range_ as range  # noqa: A001 - TF's name
from deferflow.ops.array_ops import (broadcast_to, check_numerics, dynamic_stitch, ensure_shape, expand_dims,
                                     gather_nd, identity_n, invert_permutation, matrix_transpose, meshgrid, one_hot,
                                     pad, rank, reverse, reverse_v2, scatter_nd, sequence_mask, setdiff1d, shape_n,
                                     size, split, tile, transpose, unique, unstack)
from deferflow.ops.array_ops import slice_ as slice  # noqa: A001 - TF's name
from deferflow.ops.math_ops import (accumulate_n, acos, add_n, argmax, argmin, asin, atan, atan2, ceil,
                                    clip_by_global_norm, clip_by_norm, clip_by_value, cos, cosh, count_nonzero,
                                    cumprod, cumsum, div_no_nan, einsum, erf, expm1, floor, global_norm, is_finite,
                                    is_inf, is_nan, lin_space, linspace, log1p, realdiv, reciprocal, reduce_logsumexp,
                                    rint, round, rsqrt, scalar_mul, sigmoid, sign, sin, sinh, tan, tanh, tensordot,
                                    to_bfloat16, to_double, to_float, to_int32, to_int64, truncatediv, truncatemod,
                                    unsorted_segment_sum, where, where_v2)
from deferflow.gradients import UnconnectedGradients, gradients, hessians
from deferflow import linalg, math, raw_ops  # noqa: A004 - tf.math
from deferflow.ops.random_ops import (get_seed, multinomial, random_normal, random_shuffle, random_uniform,
                                      set_random_seed, truncated_normal)
from deferflow.ops.state_ops import (assign, assign_add, assign_sub, scatter_add, scatter_div, scatter_max,
                                     scatter_min, scatter_mul, scatter_sub, scatter_update)
from deferflow.framework.indexed_slices import (IndexedSlices, IndexedSlicesValue,
                                               convert_to_tensor_or_indexed_slices)
from deferflow.framework.sparse_tensor import SparseTensor, SparseTensorValue, convert_to_tensor_or_sparse_tensor
from deferflow.ops.sparse_ops import (segment_sum, sparse_add, sparse_concat, sparse_fill_empty_rows,
                                     sparse_placeholder, sparse_reduce_sum, sparse_reorder, sparse_reshape,
                                     sparse_retain, sparse_segment_mean, sparse_segment_sqrt_n, sparse_segment_sum,
                                     sparse_slice, sparse_softmax, sparse_tensor_dense_matmul, sparse_tensor_to_dense,
                                     sparse_to_dense)
from deferflow import sparse
from deferflow.ops.string_ops import (as_string, reduce_join, regex_replace, string_join, string_split,
                                     string_to_number, substr)
from deferflow import strings
from deferflow.ops.control_flow_ops import group, no_op, tuple, with_dependencies  # noqa: A004
from deferflow.ops.control_flow_ops import case, cond, while_loop
from deferflow.ops.functional_ops import foldl, foldr, map_fn, scan
from deferflow.ops.tensor_array_ops import TensorArray
from deferflow.ops.rnn import reverse_sequence
from deferflow import debugging
from deferflow.ops.logging_ops import Assert_ as Assert, Print_ as Print, print_ as print  # noqa: A004
from deferflow.ops.logging_ops import (assert_equal, assert_greater, assert_greater_equal, assert_less,
                                       assert_less_equal, assert_negative, assert_non_negative, assert_non_positive,
                                       assert_none_equal, assert_positive, assert_rank, assert_rank_at_least,
                                       assert_scalar, assert_type)
from deferflow.ops.variables import (Variable, all_variables, assert_variables_initialized, global_variables,
                                     enable_resource_variables, disable_resource_variables,
                                     resource_variables_enabled,
                                     global_variables_initializer, initialize_all_variables,
                                     initialize_local_variables, is_variable_initialized, local_variables,
                                     local_variables_initializer, model_variables, moving_average_variables,
                                     report_uninitialized_variables, trainable_variables, variables_initializer)
from deferflow.ops.variable_scope import (AUTO_REUSE, VariableScope, get_variable, get_variable_scope,
                                          variable_op_scope, variable_scope)
from deferflow.ops.init_ops import (constant_initializer, glorot_normal_initializer, glorot_uniform_initializer,
                                    ones_initializer, random_normal_initializer, random_uniform_initializer,
                                    truncated_normal_initializer, variance_scaling_initializer, zeros_initializer)
from deferflow.ops import init_ops as initializers
from deferflow.ops import io_ops as _io_ops  # registers SaveV2/RestoreV2/... for imported graphs too
from deferflow.ops.partitioned import (PartitionedVariable, fixed_size_partitioner, min_max_variable_partitioner,
                                       variable_axis_size_partitioner)
from deferflow.ops import resource_variable_ops as _resource_variable_ops  # registers VarHandleOp & co.
from deferflow.ops.data_flow_ops import FIFOQueue, PaddingFIFOQueue, PriorityQueue, QueueBase, RandomShuffleQueue
from deferflow.ops.io_readers import (FixedLengthRecordReader, ReaderBase, TextLineReader, TFRecordReader,
                                      WholeFileReader)
from deferflow.framework.graph_io import import_graph_def, make_ndarray, make_tensor_proto
from deferflow.formats.protos import (AttrValue, GraphDef, MetaGraphDef, NameAttrList, NodeDef, OpDef,
                                      TensorProto, TensorShapeProto, VariableDef)
from deferflow import nn, train
from deferflow import layers, losses, metrics
from deferflow import io, python_io, random, summary
from deferflow.ops.parsing_ops import (FixedLenFeature, FixedLenSequenceFeature, VarLenFeature, decode_raw,
                                       parse_example, parse_single_example)
from deferflow.formats.protos import Event, SessionLog, Summary, SummaryMetadata
from deferflow import compat
from deferflow import gfile, graph_util, saved_model

from deferflow.ops.array_ops import (batch_to_space_nd, depth_to_space, space_to_batch_nd,
                                     space_to_depth)
from deferflow.ops.array_ops import matrix_band_part, roll
from deferflow.ops.math_ops import digamma, erfc, lgamma, polygamma, zeta
from deferflow.ops.linalg_ops import (cholesky, confusion_matrix, diag, diag_part, eye, matrix_determinant,
                                      matrix_diag, matrix_diag_part, matrix_inverse, matrix_set_diag,
                                      matrix_solve, matrix_triangular_solve, norm, qr, svd, trace)
from deferflow.ops.math_ops import clip_by_average_norm
from deferflow.ops.script_ops import eager_py_func, numpy_function, py_func, py_function
from deferflow.ops.math_ops import (bincount, histogram_fixed_width, segment_max, segment_mean,
                                    segment_min, segment_prod, unsorted_segment_max, unsorted_segment_mean,
                                    unsorted_segment_min, unsorted_segment_prod, unsorted_segment_sqrt_n)
from deferflow.ops.array_ops import (dynamic_partition, searchsorted, tensor_scatter_nd_add,
                                     tensor_scatter_nd_sub, tensor_scatter_nd_update, unique_with_counts)
from deferflow.ops.array_ops import tensor_scatter_nd_add as tensor_scatter_add
from deferflow.ops.array_ops import tensor_scatter_nd_sub as tensor_scatter_sub
from deferflow.ops.array_ops import tensor_scatter_nd_update as tensor_scatter_update

__version__ = "0.1.0"
VERSION = "1.15.5"  # the TensorFlow API level deferflow follows
GRAPH_DEF_VERSION = 27
GRAPH_DEF_VERSION_MIN_CONSUMER = 0
GRAPH_DEF_VERSION_MIN_PRODUCER = 0


def disable_v2_behavior():
    """Accepted for scripts written for ``tensorflow.compat.v1``; deferflow is always TF1 graph mode."""


def disable_eager_execution():
    """Accepted for compatibility: deferflow always builds graphs."""


def enable_v2_behavior():
    raise NotImplementedError("deferflow implements TensorFlow 1.x graph semantics only")


def executing_eagerly():
    return False


def get_default_graph_seed():
    return get_default_graph().seed


def __getattr__(name):
    if name == "contrib":  # imported on first use so that `import deferflow` stays fast
        import importlib
        return importlib.import_module("deferflow.contrib")
    if name == "data":  # tf.data, imported on first use (its op types register then)
        import importlib
        return importlib.import_module("deferflow.data")
    if name == "image":  # tf.image, imported on first use (its op types register then)
        import importlib
        return importlib.import_module("deferflow.image")
    if name == "random_crop":
        from deferflow.ops.image_ops import random_crop
        return random_crop
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
