"""``tf.nn.dynamic_rnn``, ``static_rnn`` and the bidirectional variants, built as TensorFlow 1.x builds
them: a while loop over time reading inputs from and writing outputs to TensorArrays, with finished
sequences (``sequence_length``) copying their state through and emitting zeros."""
import numpy as np

from deferflow.framework import dtypes, op_registry, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import Tensor
from deferflow.ops import array_ops, math_ops, nest, variable_scope
from deferflow.ops.common import constant_value
from deferflow.ops.control_flow_ops import while_loop
from deferflow.ops.rnn_cell import _concat, assert_like_rnncell
from deferflow.ops.tensor_array_ops import TensorArray

# ---- ReverseSequence (bidirectional RNNs reverse each sequence within its length) -----------------
ReverseSequence = op_registry.define("ReverseSequence", "input: T, seq_lengths: Tlen", "output: T",
                                     ["seq_dim: int", "batch_dim: int = 0", "T: type",
                                      "Tlen: {int32, int64} = int64"])
ReverseSequence.shape(lambda op: [op._inputs[0].shape])


@ReverseSequence.kernel
def _reverse_sequence_kernel(x, seq_lengths, *, seq_dim, batch_dim):
    out = np.array(x, copy=True)
    for b, n in enumerate(np.reshape(seq_lengths, [-1])):
        if not 0 <= n <= x.shape[seq_dim]:
            raise ValueError(f"seq_lens(i) <= input.dims(seq_dim), but seq_lens({b}) = {int(n)} and "
                             f"input.dims({seq_dim}) = {x.shape[seq_dim]}")
        src = [slice(None)] * x.ndim
        src[batch_dim], src[seq_dim] = b, slice(0, int(n))
        dst = list(src)
        dst[seq_dim] = slice(int(n) - 1, None, -1) if n else slice(0, 0)
        out[tuple(src)] = x[tuple(dst)]
    return out


@ReverseSequence.grad
def _reverse_sequence_grad(op, grad):
    return [reverse_sequence(grad, op._inputs[1], seq_axis=op._attrs["seq_dim"], batch_axis=op._attrs["batch_dim"]),
            None]


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None, name=None, seq_dim=None,  # noqa: A002
                     batch_dim=None):
    """``tf.reverse_sequence``: reverses the first ``seq_lengths[b]`` entries along ``seq_axis`` of each batch row."""
    seq_axis = seq_axis if seq_axis is not None else seq_dim
    batch_axis = batch_axis if batch_axis is not None else (batch_dim if batch_dim is not None else 0)
    return ops.apply_op("ReverseSequence", name=name, input=input, seq_lengths=seq_lengths, seq_dim=seq_axis,
                        batch_dim=batch_axis)


# ---- helpers ------------------------------------------------------------------------------------------
def _transpose_batch_time(x):
    """(B, T, ...) <-> (T, B, ...)."""
    shape = x.shape
    if shape.ndims is not None and shape.ndims < 2:
        return x
    x_rank = array_ops.rank(x)
    x_t = array_ops.transpose(x, array_ops.concat(([1, 0], math_ops.range_(2, x_rank)), axis=0))
    if shape.ndims is not None:
        dims = shape.as_list()
        x_t.set_shape([dims[1], dims[0]] + dims[2:])
    return x_t


def _best_effort_input_batch_size(flat_input):
    for x in flat_input:
        s = x.shape
        if s.ndims is None:
            continue
        if s.ndims < 2:
            raise ValueError(f"Input tensor should have rank >= 2. Received input={x} of rank {s.ndims}")
        if s[1].value is not None:
            return s[1].value
    return array_ops.shape(flat_input[0])[1]


def _infer_state_dtype(explicit_dtype, state):
    if explicit_dtype is not None:
        return explicit_dtype
    if nest.is_nested(state):
        found = [e.dtype.base_dtype for e in nest.flatten(state)]
        if not found:
            raise ValueError(f"Unable to infer dtype from argument state={state}.")
        if any(d != found[0] for d in found):
            raise ValueError(f"State has tensors of different inferred dtypes. Unable to infer a single "
                             f"representative dtype. Dtypes received: {found}")
        return found[0]
    return state.dtype.base_dtype


def _as_shape(size):
    if isinstance(size, Tensor):
        return ts.as_shape(constant_value(size))
    return ts.TensorShape([size]) if isinstance(size, int) else ts.as_shape(size)


def _rnn_step(time, sequence_length, min_sequence_length, max_sequence_length, zero_output, state, call_cell,
              state_size, skip_conditionals=False):
    """One step where finished rows keep their state and output zeros (``Select`` on ``time >= length``)."""
    from deferflow.ops import control_flow_ops
    flat_state = nest.flatten(state)
    flat_zero_output = nest.flatten(zero_output)
    copy_cond = time >= sequence_length

    def copy_one_through(output, new_output):
        if isinstance(output, TensorArray) or output.shape.ndims == 0:
            return new_output
        return math_ops.where(copy_cond, output, new_output)

    def copy_some_through(flat_new_output, flat_new_state):
        return ([copy_one_through(z, n) for z, n in zip(flat_zero_output, flat_new_output)] +
                [copy_one_through(s, n) for s, n in zip(flat_state, flat_new_state)])

    def maybe_copy_some_through():
        new_output, new_state = call_cell()
        nest.assert_same_structure(zero_output, new_output)
        nest.assert_same_structure(state, new_state)
        flat_new_state, flat_new_output = nest.flatten(new_state), nest.flatten(new_output)
        return control_flow_ops.cond(time < min_sequence_length, lambda: flat_new_output + flat_new_state,
                                     lambda: copy_some_through(flat_new_output, flat_new_state))

    if skip_conditionals:
        new_output, new_state = call_cell()
        nest.assert_same_structure(zero_output, new_output)
        nest.assert_same_structure(state, new_state)
        final = copy_some_through(nest.flatten(new_output), nest.flatten(new_state))
    else:
        final = control_flow_ops.cond(time >= max_sequence_length, lambda: flat_zero_output + flat_state,
                                      maybe_copy_some_through)
    n_out = len(flat_zero_output)
    final_output, final_state = final[:n_out], final[n_out:]
    for o, z in zip(final_output, flat_zero_output):
        o.set_shape(z.shape)
    for s, z in zip(final_state, flat_state):
        if not isinstance(s, TensorArray):
            s.set_shape(z.shape)
    return nest.pack_sequence_as(zero_output, final_output), nest.pack_sequence_as(state, final_state)


# ---- dynamic_rnn -------------------------------------------------------------------------------------
def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None, parallel_iterations=None,
                swap_memory=False, time_major=False, scope=None):
    """``tf.nn.dynamic_rnn``: runs ``cell`` over time in a while loop; returns ``(outputs, final_state)``.

    ``inputs`` is ``[batch, time, depth]`` (``[time, batch, depth]`` with ``time_major``) or a structure
    of such tensors; past ``sequence_length[b]`` a row's outputs are zeros and its state is carried.
    """
    assert_like_rnncell("cell", cell)
    with variable_scope.variable_scope(scope or "rnn"):
        flat_input = nest.flatten(inputs)
        if not time_major:
            flat_input = [ops.convert_to_tensor(x) for x in flat_input]
            flat_input = tuple(_transpose_batch_time(x) for x in flat_input)
        parallel_iterations = parallel_iterations or 32
        if sequence_length is not None:
            sequence_length = math_ops.cast(sequence_length, dtypes.int32)
            if sequence_length.shape.ndims not in (None, 1):
                raise ValueError(f"sequence_length must be a vector of length batch_size, but saw shape: "
                                 f"{sequence_length.shape}")
            sequence_length = array_ops.identity(sequence_length, name="sequence_length")
        batch_size = _best_effort_input_batch_size(flat_input)
        if initial_state is not None:
            state = initial_state
        else:
            if not dtype:
                raise ValueError("If there is no initial_state, you must give a dtype.")
            state = cell.zero_state(batch_size, dtype)

        if sequence_length is not None:
            from deferflow.ops import logging_ops
            x_shape = array_ops.shape(sequence_length)
            packed = array_ops.stack([batch_size])
            check = logging_ops.Assert_(math_ops.reduce_all(math_ops.equal(x_shape, packed)),
                                        [f"Expected shape for Tensor {sequence_length.name} is ", packed,
                                         " but saw shape: ", x_shape])
            with ops.control_dependencies([check]):
                sequence_length = array_ops.identity(sequence_length, name="CheckSeqLen")

        inputs = nest.pack_sequence_as(inputs, flat_input)
        outputs, final_state = _dynamic_rnn_loop(cell, inputs, state, parallel_iterations=parallel_iterations,
                                                 swap_memory=swap_memory, sequence_length=sequence_length,
                                                 dtype=dtype)
        if not time_major:
            outputs = nest.map_structure(_transpose_batch_time, outputs)
        return outputs, final_state


def _dynamic_rnn_loop(cell, inputs, initial_state, parallel_iterations, swap_memory, sequence_length=None,
                      dtype=None):
    state = initial_state
    state_size = cell.state_size
    flat_input = nest.flatten(inputs)
    flat_output_size = nest.flatten(cell.output_size)
    input_shape = array_ops.shape(flat_input[0])
    time_steps = input_shape[0]
    batch_size = _best_effort_input_batch_size(flat_input)
    inputs_got_shape = tuple(x.shape.with_rank_at_least(3) for x in flat_input)
    const_time_steps, const_batch_size = inputs_got_shape[0].as_list()[:2]
    for shape in inputs_got_shape:
        if not ts.TensorShape(shape.as_list()[2:]).is_fully_defined():
            raise ValueError("Input size (depth of inputs) must be accessible via shape inference, but saw value "
                             "None.")
        if const_time_steps != shape[0].value:
            raise ValueError("Time steps is not the same for all the elements in the input in a batch.")
        if const_batch_size != shape[1].value:
            raise ValueError("Batch_size is not the same for all the elements in the input.")

    def create_zero_arrays(size):
        return array_ops.zeros(_concat(batch_size, size), _infer_state_dtype(dtype, state))

    flat_zero_output = tuple(create_zero_arrays(s) for s in flat_output_size)
    zero_output = nest.pack_sequence_as(cell.output_size, flat_zero_output)
    if sequence_length is not None:
        min_sequence_length = math_ops.reduce_min(sequence_length)
        max_sequence_length = math_ops.reduce_max(sequence_length)
    else:
        max_sequence_length = time_steps
    time = array_ops.constant(0, dtype=dtypes.int32, name="time")
    with ops.name_scope("dynamic_rnn") as scope:
        base_name = scope

    def create_ta(name, element_shape, dtype_):
        return TensorArray(dtype=dtype_, size=time_steps, element_shape=element_shape,
                           tensor_array_name=base_name + name)

    output_ta = tuple(create_ta(f"output_{i}", ts.TensorShape([const_batch_size]).concatenate(_as_shape(s)),
                                _infer_state_dtype(dtype, state)) for i, s in enumerate(flat_output_size))
    input_ta = tuple(create_ta(f"input_{i}", ts.TensorShape(x.shape.as_list()[1:]), x.dtype.base_dtype)
                     for i, x in enumerate(flat_input))
    input_ta = tuple(ta.unstack(x) for ta, x in zip(input_ta, flat_input))

    def time_step(time, output_ta_t, state):
        input_t = tuple(ta.read(time) for ta in input_ta)
        for x, shape in zip(input_t, inputs_got_shape):
            x.set_shape(shape.as_list()[1:])
        input_t = nest.pack_sequence_as(inputs, input_t)

        def call_cell():
            return cell(input_t, state)
        if sequence_length is not None:
            output, new_state = _rnn_step(time=time, sequence_length=sequence_length,
                                          min_sequence_length=min_sequence_length,
                                          max_sequence_length=max_sequence_length, zero_output=zero_output,
                                          state=state, call_cell=call_cell, state_size=state_size,
                                          skip_conditionals=True)
        else:
            output, new_state = call_cell()
        output = nest.flatten(output)
        output_ta_t = tuple(ta.write(time, out) for ta, out in zip(output_ta_t, output))
        return time + 1, output_ta_t, new_state

    loop_bound = math_ops.minimum(time_steps, math_ops.maximum(1, max_sequence_length))
    _, output_final_ta, final_state = while_loop(
        lambda time, *_: time < loop_bound, time_step, loop_vars=(time, output_ta, state),
        parallel_iterations=parallel_iterations, maximum_iterations=time_steps, swap_memory=swap_memory)
    final_outputs = tuple(ta.stack() for ta in output_final_ta)
    for output, size in zip(final_outputs, flat_output_size):
        output.set_shape(ts.TensorShape([const_time_steps, const_batch_size]).concatenate(_as_shape(size)))
    return nest.pack_sequence_as(cell.output_size, final_outputs), final_state


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None, initial_state_fw=None,
                              initial_state_bw=None, dtype=None, parallel_iterations=None, swap_memory=False,
                              time_major=False, scope=None):
    """``tf.nn.bidirectional_dynamic_rnn``: returns ``((output_fw, output_bw), (state_fw, state_bw))``."""
    assert_like_rnncell("cell_fw", cell_fw)
    assert_like_rnncell("cell_bw", cell_bw)
    with variable_scope.variable_scope(scope or "bidirectional_rnn"):
        with variable_scope.variable_scope("fw") as fw_scope:
            output_fw, output_state_fw = dynamic_rnn(cell_fw, inputs, sequence_length=sequence_length,
                                                     initial_state=initial_state_fw, dtype=dtype,
                                                     parallel_iterations=parallel_iterations,
                                                     swap_memory=swap_memory, time_major=time_major, scope=fw_scope)
        time_axis, batch_axis = (0, 1) if time_major else (1, 0)

        def reverse(x):
            if sequence_length is not None:
                return reverse_sequence(x, sequence_length, seq_axis=time_axis, batch_axis=batch_axis)
            return array_ops.reverse(x, axis=[time_axis])

        with variable_scope.variable_scope("bw") as bw_scope:
            inputs_reverse = nest.map_structure(reverse, inputs)
            tmp, output_state_bw = dynamic_rnn(cell_bw, inputs_reverse, sequence_length=sequence_length,
                                               initial_state=initial_state_bw, dtype=dtype,
                                               parallel_iterations=parallel_iterations, swap_memory=swap_memory,
                                               time_major=time_major, scope=bw_scope)
    output_bw = reverse(tmp)
    return (output_fw, output_bw), (output_state_fw, output_state_bw)


# ---- static_rnn --------------------------------------------------------------------------------------
def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None):
    """``tf.nn.static_rnn``: the cell unrolled over a Python list of ``[batch, depth]`` inputs."""
    assert_like_rnncell("cell", cell)
    if not nest.is_nested(inputs):
        raise TypeError("inputs must be a sequence")
    if not inputs:
        raise ValueError("inputs must not be empty")
    outputs = []
    with variable_scope.variable_scope(scope or "rnn"):
        first = inputs
        while nest.is_nested(first):
            first = first[0]
        first = ops.convert_to_tensor(first)
        if first.shape.ndims != 1:
            fixed_batch = first.shape.with_rank_at_least(2)[0]
            for x in nest.flatten(inputs):
                s = ops.convert_to_tensor(x).shape.with_rank_at_least(2)
                for i, d in enumerate(s.as_list()[1:]):
                    if d is None:
                        raise ValueError(f"Input size (dimension {i} of input) must be accessible via shape "
                                         "inference, but saw value None.")
        else:
            fixed_batch = first.shape.with_rank_at_least(1)[0]
        batch_size = fixed_batch.value if fixed_batch.value else array_ops.shape(first)[0]
        if initial_state is not None:
            state = initial_state
        else:
            if not dtype:
                raise ValueError("If no initial_state is provided, dtype must be specified")
            state = cell.zero_state(batch_size, dtype)
        if sequence_length is not None:
            sequence_length = ops.convert_to_tensor(sequence_length, name="sequence_length")
            if sequence_length.shape.ndims not in (None, 1):
                raise ValueError("sequence_length must be a vector of length batch_size")

            def zero_output_for(size):
                out = array_ops.zeros(_concat(batch_size, size), _infer_state_dtype(dtype, state))
                out.set_shape(_concat(fixed_batch.value, size, static=True))
                return out
            flat_zero = tuple(zero_output_for(s) for s in nest.flatten(cell.output_size))
            zero_output = nest.pack_sequence_as(cell.output_size, flat_zero)
            sequence_length = math_ops.cast(sequence_length, dtypes.int32)
            min_len = math_ops.reduce_min(sequence_length)
            max_len = math_ops.reduce_max(sequence_length)
        for time, input_ in enumerate(inputs):
            def call_cell(input_=input_, state=state):
                return cell(input_, state)
            if sequence_length is not None:
                output, state = _rnn_step(time=time, sequence_length=sequence_length, min_sequence_length=min_len,
                                          max_sequence_length=max_len, zero_output=zero_output, state=state,
                                          call_cell=call_cell, state_size=cell.state_size)
            else:
                output, state = call_cell()
            outputs.append(output)
        return outputs, state


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None, initial_state_bw=None, dtype=None,
                             sequence_length=None, scope=None):
    """``tf.nn.static_bidirectional_rnn``: outputs are the forward and backward outputs concatenated."""
    if not nest.is_nested(inputs):
        raise TypeError("inputs must be a sequence")
    if not inputs:
        raise ValueError("inputs must not be empty")
    with variable_scope.variable_scope(scope or "bidirectional_rnn"):
        with variable_scope.variable_scope("fw") as fw_scope:
            output_fw, state_fw = static_rnn(cell_fw, inputs, initial_state_fw, dtype, sequence_length,
                                             scope=fw_scope)
        with variable_scope.variable_scope("bw") as bw_scope:
            if sequence_length is not None:
                rev = [array_ops.unstack(x) for x in [reverse_sequence(array_ops.stack(inputs), sequence_length, 0,
                                                                       1)]][0]
            else:
                rev = list(reversed(inputs))
            tmp, state_bw = static_rnn(cell_bw, rev, initial_state_bw, dtype, sequence_length, scope=bw_scope)
    if sequence_length is not None:
        output_bw = array_ops.unstack(reverse_sequence(array_ops.stack(tmp), sequence_length, 0, 1))
    else:
        output_bw = list(reversed(tmp))
    outputs = [array_ops.concat([fw, bw], 1) for fw, bw in zip(output_fw, output_bw)]
    return outputs, state_fw, state_bw
