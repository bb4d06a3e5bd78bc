"""``tf.nn`` functions TF composes from other ops (no op types of their own): moments, batch
normalisation, l2 normalisation, dropout, logistic losses and embedding lookup."""
import numbers

import numpy as np

from deferflow.framework import dtypes, ops
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops import array_ops, math_ops, random_ops


def _where(cond, x, y):
    return apply_op("Select", condition=cond, t=x, e=y)


def _rsqrt(x):
    return apply_op("Rsqrt", x=x)


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Per-element logistic loss, computed stably as ``max(x, 0) - x * z + log(1 + exp(-|x|))``."""
    if _sentinel is not None or labels is None or logits is None:
        raise ValueError("Only call `sigmoid_cross_entropy_with_logits` with named arguments (labels=..., "
                         "logits=..., ...)")
    with ops.name_scope(name, "logistic_loss", [logits, labels]) as name:
        logits = convert_to_tensor(logits, name="logits")
        labels = convert_to_tensor(labels, name="labels", dtype=logits.dtype.base_dtype)
        if not labels.shape.is_compatible_with(logits.shape):
            raise ValueError(f"`logits` and `labels` must have the same shape, received ({logits.shape} vs "
                             f"{labels.shape}).")
        zeros = array_ops.zeros_like(logits, dtype=logits.dtype)
        cond = logits >= zeros
        relu_logits = _where(cond, logits, zeros)
        neg_abs_logits = _where(cond, -logits, logits)
        return math_ops.add(relu_logits - logits * labels, apply_op("Log1p", x=math_ops.exp(neg_abs_logits)),
                            name=name)


def weighted_cross_entropy_with_logits(labels=None, logits=None, pos_weight=None, name=None, targets=None):
    """Logistic loss with positive examples weighted by ``pos_weight``."""
    labels = targets if labels is None else labels
    with ops.name_scope(name, "logistic_loss", [logits, labels]) as name:
        logits = convert_to_tensor(logits, name="logits")
        labels = convert_to_tensor(labels, name="labels", dtype=logits.dtype.base_dtype)
        if not labels.shape.is_compatible_with(logits.shape):
            raise ValueError(f"`logits` and `labels` must have the same shape, received ({logits.shape} vs "
                             f"{labels.shape}).")
        log_weight = 1 + (pos_weight - 1) * labels
        return math_ops.add((1 - labels) * logits,
                            log_weight * (apply_op("Log1p", x=math_ops.exp(-math_ops.abs(logits))) +
                                          apply_op("Relu", features=-logits)), name=name)


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """Mean and (biased) variance of ``x`` over ``axes``."""
    keep = bool(keepdims if keepdims is not None else keep_dims)
    with ops.name_scope(name, "moments", [x, axes]):
        x = convert_to_tensor(x)
        y = array_ops.cast(x, dtypes.float32) if x.dtype.base_dtype == dtypes.float16 else x
        mean = math_ops.reduce_mean(y, axes, keepdims=True, name="mean")
        variance = math_ops.reduce_mean(math_ops.squared_difference(y, array_ops.stop_gradient(mean)), axes,
                                        keepdims=True, name="variance")
        if not keep:
            mean = array_ops.squeeze(mean, axes)
            variance = array_ops.squeeze(variance, axes)
        if x.dtype.base_dtype == dtypes.float16:
            return array_ops.cast(mean, dtypes.float16), array_ops.cast(variance, dtypes.float16)
        return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """``scale * (x - mean) / sqrt(variance + eps) + offset`` as TF composes it."""
    with ops.name_scope(name, "batchnorm", [x, mean, variance, scale, offset]):
        x = convert_to_tensor(x)
        inv = _rsqrt(variance + variance_epsilon)
        if scale is not None:
            inv *= scale
        dt = x.dtype.base_dtype
        rest = offset - mean * inv if offset is not None else -mean * inv
        return x * _cast_if_needed(inv, dt) + _cast_if_needed(rest, dt)


def _cast_if_needed(t, dtype):
    t = convert_to_tensor(t)
    return t if t.dtype.base_dtype == dtype else array_ops.cast(t, dtype)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """``x / sqrt(max(sum(x**2, axis), epsilon))``."""
    axis = dim if axis is None else axis
    with ops.name_scope(name, "l2_normalize", [x]) as name:
        x = convert_to_tensor(x, name="x")
        square_sum = math_ops.reduce_sum(math_ops.square(x), axis, keepdims=True)
        x_inv_norm = _rsqrt(math_ops.maximum(square_sum, epsilon))
        return math_ops.multiply(x, x_inv_norm, name=name)


def _noise_shape(x, noise_shape):
    if noise_shape is None:
        return array_ops.shape(x)
    return noise_shape


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """Zeroes elements with probability ``rate`` (= 1 - ``keep_prob``) and scales the rest by 1/keep_prob."""
    if rate is not None and keep_prob is not None:
        raise ValueError("Cannot specify both 'rate' and 'keep_prob'.")
    if rate is None:
        if keep_prob is None:
            raise ValueError("You must provide a rate to dropout.")
        if isinstance(keep_prob, numbers.Real) and not 0 < keep_prob <= 1:
            raise ValueError(f"`keep_prob` must be a scalar tensor or a float in the range (0, 1], got {keep_prob}")
        rate = 1 - keep_prob if isinstance(keep_prob, numbers.Real) else None
    with ops.name_scope(name, "dropout", [x]) as name:
        x = convert_to_tensor(x, name="x")
        if not x.dtype.is_floating:
            raise ValueError(f"x has to be a floating point tensor since it's going to be scaled. Got a "
                             f"{x.dtype.name} tensor instead.")
        if rate is None:  # keep_prob given as a tensor
            keep = convert_to_tensor(keep_prob, dtype=x.dtype.base_dtype, name="keep_prob")
        else:
            if isinstance(rate, numbers.Real):
                if not 0 <= rate < 1:
                    raise ValueError(f"rate must be a scalar tensor or a float in the range [0, 1), got {rate}")
                if rate == 0:
                    return x
                keep = convert_to_tensor(1 - rate, dtype=x.dtype.base_dtype, name="keep_prob")
            else:
                rate_t = convert_to_tensor(rate, dtype=x.dtype.base_dtype, name="rate")
                keep = math_ops.subtract(convert_to_tensor(1, dtype=x.dtype.base_dtype), rate_t)
        # uniform in [keep, 1 + keep): flooring gives 1 with probability keep, else 0
        random_tensor = keep + random_ops.random_uniform(_noise_shape(x, noise_shape), seed=seed,
                                                         dtype=x.dtype.base_dtype)
        binary_tensor = apply_op("Floor", x=random_tensor)
        ret = math_ops.divide(x, keep) * binary_tensor
        ret.set_shape(x.shape)
        return ret


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True, max_norm=None):
    """Rows of ``params`` (one tensor or a list of shards split by ``partition_strategy``) for ``ids``."""
    if isinstance(params, (list, tuple)):
        params = list(params)
    elif hasattr(params, "_get_variable_list"):  # a PartitionedVariable
        params = list(params._get_variable_list())
    else:
        params = [params]
    if not params:
        raise ValueError("Need at least one param")
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}")
    with ops.name_scope(name, "embedding_lookup", params + [ids]) as name:
        ids = convert_to_tensor(ids, name="ids")
        if len(params) == 1:
            result = array_ops.gather(params[0], ids, name=name)
            return array_ops.identity(_clip(result, ids, max_norm))
        shards = [convert_to_tensor(p) for p in params]
        n = len(shards)
        ids64 = array_ops.cast(ids, dtypes.int64) if ids.dtype.base_dtype != dtypes.int64 else ids
        if partition_strategy == "mod":
            shard_of = math_ops.floormod(ids64, n)
            local = math_ops.floordiv(ids64, n)
        else:
            sizes = [s.shape[0].value for s in shards]
            if None in sizes:
                raise ValueError("The 'div' partition strategy needs shards of known first dimension")
            total = sum(sizes)
            per, extras = total // n, total % n
            bounds = np.cumsum([0] + sizes)
            shard_of = math_ops.maximum(math_ops.floordiv(ids64, per + 1),
                                        math_ops.floordiv(ids64 - extras, max(per, 1)))
            local = ids64 - apply_op("GatherV2", params=array_ops.constant(bounds[:-1].astype(np.int64)),
                                     indices=shard_of, axis=0)
        result = None
        for p, shard in enumerate(shards):
            size = shard.shape[0].value
            safe = math_ops.minimum(local, (size - 1) if size else 0)
            rows = array_ops.gather(shard, safe)
            hit = math_ops.equal(shard_of, p)
            mask = array_ops.cast(hit, rows.dtype.base_dtype)
            while mask.shape.ndims is not None and rows.shape.ndims is not None and mask.shape.ndims < rows.shape.ndims:
                mask = array_ops.expand_dims(mask, -1)
            part = rows * mask
            result = part if result is None else result + part
        return array_ops.identity(_clip(result, ids, max_norm), name=name)


def _clip(x, ids, max_norm):
    if max_norm is None:
        return x
    ids_rank = ids.shape.ndims
    x_rank = x.shape.ndims
    axes = list(range(ids_rank, x_rank))
    return math_ops.clip_by_norm(x, max_norm, axes=axes)


def xw_plus_b(x, weights, biases, name=None):
    with ops.name_scope(name, "xw_plus_b", [x, weights, biases]) as name:
        mm = math_ops.matmul(x, weights)
        return apply_op("BiasAdd", name=name, value=mm, bias=biases)


def relu_layer(x, weights, biases, name=None):
    with ops.name_scope(name, "relu_layer", [x, weights, biases]) as name:
        xw_plus = apply_op("BiasAdd", value=math_ops.matmul(x, weights), bias=biases)
        return apply_op("Relu", name=name, features=xw_plus)


def zero_fraction(value, name=None):
    with ops.name_scope(name, "zero_fraction", [value]):
        value = convert_to_tensor(value, name="value")
        zero = array_ops.constant(0, dtype=value.dtype.base_dtype, name="zero")
        return math_ops.reduce_mean(array_ops.cast(math_ops.equal(value, zero), dtypes.float32))


def log_poisson_loss(targets, log_input, compute_full_loss=False, name=None):
    """``exp(log_input) - targets * log_input``, plus Stirling's term for targets > 1 when ``compute_full_loss``."""
    with ops.name_scope(name, "log_poisson_loss", [targets, log_input]) as name:
        log_input = convert_to_tensor(log_input, name="log_input")
        targets = convert_to_tensor(targets, name="targets")
        if not log_input.shape.is_compatible_with(targets.shape):
            raise ValueError(f"`log_input` and `targets` must have the same shape, received ({log_input.shape} vs "
                             f"{targets.shape}).")
        result = math_ops.exp(log_input) - log_input * targets
        if compute_full_loss:
            dt = targets.dtype.base_dtype
            point_five = array_ops.constant(0.5, dtype=dt)
            two_pi = array_ops.constant(2 * np.pi, dtype=dt)
            stirling = targets * math_ops.log(targets) - targets + point_five * math_ops.log(two_pi * targets)
            zeros = array_ops.zeros_like(targets, dtype=dt)
            ones = array_ops.ones_like(targets, dtype=dt)
            cond = math_ops.logical_and(targets >= zeros, targets <= ones)
            result += apply_op("Select", condition=cond, t=zeros, e=stirling)
        return result


def weighted_moments(x, axes, frequency_weights, name=None, keep_dims=None, keepdims=None):
    """Frequency-weighted mean and variance of ``x`` over ``axes``."""
    keep = bool(keepdims if keepdims is not None else keep_dims)
    with ops.name_scope(name, "weighted_moments", [x, frequency_weights, axes]):
        x = convert_to_tensor(x, name="x")
        frequency_weights = convert_to_tensor(frequency_weights, name="frequency_weights")
        needs_cast = x.dtype.base_dtype == dtypes.float16
        if needs_cast:
            x = array_ops.cast(x, dtypes.float32)
        if frequency_weights.dtype.base_dtype != x.dtype.base_dtype:
            frequency_weights = array_ops.cast(frequency_weights, x.dtype.base_dtype)
        weighted_input_sum = math_ops.reduce_sum(frequency_weights * x, axes, name="weighted_input_sum",
                                                 keepdims=True)
        broadcasted_weights = frequency_weights + array_ops.zeros_like(x)
        sum_of_weights = math_ops.reduce_sum(broadcasted_weights, axes, name="sum_of_weights", keepdims=True)
        weighted_mean = math_ops.div_no_nan(weighted_input_sum, sum_of_weights)
        weighted_distsq = math_ops.reduce_sum(frequency_weights * math_ops.squared_difference(x, weighted_mean),
                                              axes, name="weighted_distsq", keepdims=True)
        weighted_variance = math_ops.div_no_nan(weighted_distsq, sum_of_weights)
        if not keep:
            weighted_mean = array_ops.squeeze(weighted_mean, axis=axes)
            weighted_variance = array_ops.squeeze(weighted_variance, axis=axes)
        if needs_cast:
            weighted_mean = array_ops.cast(weighted_mean, dtypes.float16)
            weighted_variance = array_ops.cast(weighted_variance, dtypes.float16)
        return weighted_mean, weighted_variance


def normalize_moments(counts, mean_ss, variance_ss, shift, name=None):
    """Mean and variance from sufficient statistics (count, sum, sum of squares, optional shift)."""
    with ops.name_scope(name, "normalize", [counts, mean_ss, variance_ss, shift]):
        divisor = math_ops.reciprocal(counts, name="divisor")
        if shift is not None:
            shifted_mean = math_ops.multiply(mean_ss, divisor, name="shifted_mean")
            mean = math_ops.add(shifted_mean, shift, name="mean")
        else:
            shifted_mean = math_ops.multiply(mean_ss, divisor, name="mean")
            mean = shifted_mean
        variance = math_ops.subtract(math_ops.multiply(variance_ss, divisor), math_ops.square(shifted_mean),
                                     name="variance")
        return mean, variance


# ---- sampled losses (word2vec era): logits for the true classes plus a shared sample of classes -------
def _sum_rows(x):
    """Row sums as ``x @ ones([cols, 1])``, as TF computes them (a matmul rather than a reduction)."""
    cols = array_ops.shape(x)[1]
    ones = array_ops.ones(array_ops.stack([cols, 1]), x.dtype.base_dtype)
    return array_ops.reshape(math_ops.matmul(x, ones), [-1])


def _compute_sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                            sampled_values=None, subtract_log_q=True, remove_accidental_hits=False,
                            partition_strategy="mod", name=None, seed=None):
    """``[batch, num_true + num_sampled]`` logits and target probabilities, composed as TF composes them."""
    from deferflow.ops import candidate_sampling_ops, sparse_ops
    if hasattr(weights, "_get_variable_list"):  # a PartitionedVariable
        weights = list(weights._get_variable_list())
    if not isinstance(weights, list):
        weights = list(weights) if isinstance(weights, tuple) else [weights]
    with ops.name_scope(name, "compute_sampled_logits", weights + [biases, inputs, labels]):
        labels = convert_to_tensor(labels)
        if labels.dtype.base_dtype != dtypes.int64:
            labels = array_ops.cast(labels, dtypes.int64)
        labels_flat = array_ops.reshape(labels, [-1])
        if sampled_values is None:
            sampled_values = candidate_sampling_ops.log_uniform_candidate_sampler(
                true_classes=labels, num_true=num_true, num_sampled=num_sampled, unique=True,
                range_max=num_classes, seed=seed)
        sampled, true_expected_count, sampled_expected_count = (array_ops.stop_gradient(s) for s in sampled_values)
        sampled = array_ops.cast(sampled, dtypes.int64)
        all_ids = array_ops.concat([labels_flat, sampled], 0)
        inputs = convert_to_tensor(inputs)
        all_w = embedding_lookup(weights, all_ids, partition_strategy=partition_strategy)
        if all_w.dtype.base_dtype != inputs.dtype.base_dtype:
            all_w = array_ops.cast(all_w, inputs.dtype.base_dtype)
        n_true = array_ops.shape(labels_flat)[0]
        true_w = array_ops.slice_(all_w, [0, 0], array_ops.stack([n_true, -1]))
        sampled_w = array_ops.slice_(all_w, array_ops.stack([n_true, 0]), [-1, -1])
        sampled_logits = math_ops.matmul(inputs, sampled_w, transpose_b=True)
        all_b = embedding_lookup(biases, all_ids, partition_strategy=partition_strategy)
        if all_b.dtype.base_dtype != inputs.dtype.base_dtype:
            all_b = array_ops.cast(all_b, inputs.dtype.base_dtype)
        true_b = array_ops.slice_(all_b, [0], array_ops.shape(labels_flat))
        sampled_b = array_ops.slice_(all_b, array_ops.shape(labels_flat), [-1])
        # true logits: each input row dotted with its num_true label rows
        dim = array_ops.shape(true_w)[1:2]
        new_true_w_shape = array_ops.concat([[-1, num_true], dim], 0)
        row_wise_dots = math_ops.multiply(array_ops.expand_dims(inputs, 1),
                                          array_ops.reshape(true_w, new_true_w_shape))
        dots_as_matrix = array_ops.reshape(row_wise_dots, array_ops.concat([[-1], dim], 0))
        true_logits = array_ops.reshape(_sum_rows(dots_as_matrix), [-1, num_true])
        true_b = array_ops.reshape(true_b, [-1, num_true])
        true_logits += true_b
        sampled_logits += sampled_b
        if remove_accidental_hits:
            acc_indices, acc_ids, acc_weights = candidate_sampling_ops.compute_accidental_hits(
                labels, sampled, num_true=num_true)
            acc_indices_2d = array_ops.reshape(acc_indices, [-1, 1])
            acc_ids_2d_int32 = array_ops.reshape(array_ops.cast(acc_ids, dtypes.int32), [-1, 1])
            sparse_indices = array_ops.concat([acc_indices_2d, acc_ids_2d_int32], 1, "sparse_indices")
            sampled_logits_shape = array_ops.concat(
                [array_ops.shape(labels)[:1], array_ops.expand_dims(num_sampled, 0)], 0)
            if sampled_logits.dtype.base_dtype != acc_weights.dtype.base_dtype:
                acc_weights = array_ops.cast(acc_weights, sampled_logits.dtype.base_dtype)
            sampled_logits += sparse_ops.sparse_to_dense(sparse_indices, sampled_logits_shape, acc_weights,
                                                         default_value=0.0, validate_indices=False)
        if subtract_log_q:  # logits of the sampled distribution's correction, log Q(y|x)
            true_logits -= math_ops.log(true_expected_count)
            sampled_logits -= math_ops.log(sampled_expected_count)
        out_logits = array_ops.concat([true_logits, sampled_logits], 1)
        out_labels = array_ops.concat([array_ops.ones_like(true_logits) / num_true,
                                       array_ops.zeros_like(sampled_logits)], 1)
        return out_logits, out_labels


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1, sampled_values=None,
             remove_accidental_hits=False, partition_strategy="mod", name="nce_loss"):
    """Noise-contrastive estimation loss per example: logistic losses of the true and sampled logits, summed."""
    logits, labels = _compute_sampled_logits(
        weights=weights, biases=biases, labels=labels, inputs=inputs, num_sampled=num_sampled,
        num_classes=num_classes, num_true=num_true, sampled_values=sampled_values, subtract_log_q=True,
        remove_accidental_hits=remove_accidental_hits, partition_strategy=partition_strategy, name=name)
    sampled_losses = sigmoid_cross_entropy_with_logits(labels=labels, logits=logits, name="sampled_losses")
    return _sum_rows(sampled_losses)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                         sampled_values=None, remove_accidental_hits=True, partition_strategy="mod",
                         name="sampled_softmax_loss", seed=None):
    """Softmax cross-entropy over the true classes and a sample of the others, per example."""
    from deferflow.ops import nn_ops
    logits, labels = _compute_sampled_logits(
        weights=weights, biases=biases, labels=labels, inputs=inputs, num_sampled=num_sampled,
        num_classes=num_classes, num_true=num_true, sampled_values=sampled_values, subtract_log_q=True,
        remove_accidental_hits=remove_accidental_hits, partition_strategy=partition_strategy, name=name,
        seed=seed)
    labels = array_ops.stop_gradient(labels, name="labels_stop_gradient")
    return nn_ops.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
