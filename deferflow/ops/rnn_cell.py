"""``tf.nn.rnn_cell``: RNN cells with TensorFlow's variable names, so TF checkpoints restore by name.

A cell's variables live in a variable scope named after the cell class (``basic_lstm_cell``,
``lstm_cell``, ``gru_cell``, ``basic_rnn_cell``, ``multi_rnn_cell/cell_0/...``) under the scope the
cell is first called in (``rnn/`` for ``dynamic_rnn``). They are created outside any while loop, as
TF's layers do, so they can be initialized and saved normally.
"""
import collections
import hashlib
import re

from deferflow.framework import dtypes, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import Tensor
from deferflow.ops import array_ops, init_ops, math_ops, nest, variable_scope
from deferflow.ops.common import constant_value

_WEIGHTS_VARIABLE_NAME = "kernel"
_BIAS_VARIABLE_NAME = "bias"


def _snake(name):
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _concat(prefix, suffix, static=False):
    """``prefix + suffix`` as a shape: a TensorShape (static) or an int32 vector tensor."""
    def as_parts(x):
        if isinstance(x, Tensor):
            v = constant_value(x)
            t = array_ops.expand_dims(x, 0) if x.shape.ndims == 0 else x
            return t, ([None] * (x.shape.num_elements() or 1) if v is None else [int(d) for d in v.reshape(-1)])
        s = ts.TensorShape([x]) if x is None or isinstance(x, int) else ts.as_shape(x)
        st = s.as_list() if s.ndims is not None else None
        return (array_ops.constant(st, dtype=dtypes.int32) if s.is_fully_defined() else None), st
    p, p_static = as_parts(prefix)
    s, s_static = as_parts(suffix)
    if static:
        return ts.unknown_shape() if p_static is None or s_static is None else ts.TensorShape(p_static + s_static)
    if p is None or s is None:
        raise ValueError(f"Provided a prefix or suffix of None: {prefix} and {suffix}")
    return array_ops.concat([p, s], 0)


def _zero_state_tensors(state_size, batch_size, dtype):
    def zeros(s):
        z = array_ops.zeros(_concat(batch_size, s), dtype=dtype)
        z.set_shape(_concat(batch_size, s, static=True))
        return z
    return nest.map_structure(zeros, state_size)


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """The (c, h) state of an LSTM cell."""

    __slots__ = ()

    @property
    def dtype(self):
        c, h = self
        if c.dtype != h.dtype:
            raise TypeError(f"Inconsistent internal state: {c.dtype} vs {h.dtype}")
        return c.dtype


class RNNCell:
    """Base of the cells: ``output, new_state = cell(inputs, state)`` for one time step."""

    def __init__(self, trainable=True, name=None, dtype=None, _reuse=None, **kwargs):
        self.trainable = trainable
        self._name_arg = name
        self._reuse = _reuse
        self._dtype = dtypes.as_dtype(dtype) if dtype is not None else None
        self._scope = None
        self.built = False
        self._weights = []

    _base_name = property(lambda self: _snake(type(self).__name__))
    name = property(lambda self: self._scope.name.rsplit("/", 1)[-1] if self._scope else
                    (self._name_arg or self._base_name))
    dtype = property(lambda self: self._dtype)
    weights = variables = property(lambda self: list(self._weights))
    trainable_weights = trainable_variables = property(lambda self: [w for w in self._weights if w.trainable])

    @property
    def state_size(self):
        raise NotImplementedError("Abstract method")

    @property
    def output_size(self):
        raise NotImplementedError("Abstract method")

    def build(self, inputs_shape):
        pass

    def call(self, inputs, state):
        raise NotImplementedError("Abstract method")

    def add_variable(self, name, shape, dtype=None, initializer=None, trainable=True, partitioner=None):
        """A variable in the cell's scope, created outside any cond/while context (TF's init_scope)."""
        with ops.control_dependencies(None):
            v = variable_scope.get_variable(name, shape=shape, dtype=dtype or self._dtype or dtypes.float32,
                                            initializer=initializer, trainable=trainable and self.trainable,
                                            partitioner=partitioner)
        if v not in self._weights:
            self._weights.append(v)
        return v

    add_weight = add_variable

    def __call__(self, inputs, state, scope=None):
        if self._scope is None:
            name = scope if scope is not None else self._name_arg
            ctx = variable_scope.variable_scope(name, default_name=self._base_name, reuse=self._reuse)
        else:
            ctx = variable_scope.variable_scope(self._scope, reuse=True)
        with ctx as vs:
            self._scope = self._scope or vs
            inputs = nest.map_structure(ops.convert_to_tensor, inputs)
            if self._dtype is None:
                first = nest.flatten(inputs)[0]
                self._dtype = first.dtype.base_dtype if first.dtype.is_floating else dtypes.float32
            if not self.built:
                self.build(nest.flatten(inputs)[0].shape)
                self.built = True
            return self.call(inputs, state)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        if inputs is not None:
            inputs = ops.convert_to_tensor(inputs)
            batch_size = inputs.shape[0].value if inputs.shape.ndims else None
            if batch_size is None:
                batch_size = array_ops.shape(inputs)[0]
            dtype = inputs.dtype
        return self.zero_state(batch_size, dtype)

    def zero_state(self, batch_size, dtype):
        """Zeros shaped ``[batch_size, s]`` for every ``s`` in ``state_size``."""
        with ops.name_scope(type(self).__name__ + "ZeroState", values=[batch_size]):
            return _zero_state_tensors(self.state_size, batch_size, dtype)


def _input_depth(inputs_shape):
    d = inputs_shape[-1].value if inputs_shape.ndims else None
    if d is None:
        raise ValueError(f"Expected inputs.shape[-1] to be known, saw shape: {inputs_shape}")
    return d


class BasicRNNCell(RNNCell):
    """``output = new_state = activation(W [inputs, state] + b)``."""

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        self._num_units = num_units
        self._activation = activation or math_ops.tanh

    state_size = property(lambda self: self._num_units)
    output_size = property(lambda self: self._num_units)

    def build(self, inputs_shape):
        depth = _input_depth(inputs_shape)
        self._kernel = self.add_variable(_WEIGHTS_VARIABLE_NAME, [depth + self._num_units, self._num_units])
        self._bias = self.add_variable(_BIAS_VARIABLE_NAME, [self._num_units],
                                       initializer=init_ops.zeros_initializer(dtype=self.dtype))

    def call(self, inputs, state):
        from deferflow.ops import nn_ops
        gate_inputs = math_ops.matmul(array_ops.concat([inputs, state], 1), self._kernel)
        output = self._activation(nn_ops.bias_add(gate_inputs, self._bias))
        return output, output


class GRUCell(RNNCell):
    """Gated recurrent unit (Cho et al. 2014) with TF's ``gates/`` and ``candidate/`` variables."""

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None, bias_initializer=None,
                 name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        self._num_units = num_units
        self._activation = activation or math_ops.tanh
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    state_size = property(lambda self: self._num_units)
    output_size = property(lambda self: self._num_units)

    def build(self, inputs_shape):
        depth = _input_depth(inputs_shape)
        n = self._num_units
        self._gate_kernel = self.add_variable("gates/kernel", [depth + n, 2 * n], initializer=self._kernel_initializer)
        self._gate_bias = self.add_variable(
            "gates/bias", [2 * n], initializer=self._bias_initializer or init_ops.constant_initializer(1.0,
                                                                                                       dtype=self.dtype))
        self._candidate_kernel = self.add_variable("candidate/kernel", [depth + n, n],
                                                   initializer=self._kernel_initializer)
        self._candidate_bias = self.add_variable(
            "candidate/bias", [n], initializer=self._bias_initializer or init_ops.zeros_initializer(dtype=self.dtype))

    def call(self, inputs, state):
        from deferflow.ops import nn_ops
        gate_inputs = nn_ops.bias_add(math_ops.matmul(array_ops.concat([inputs, state], 1), self._gate_kernel),
                                      self._gate_bias)
        value = math_ops.sigmoid(gate_inputs)
        r, u = array_ops.split(value=value, num_or_size_splits=2, axis=1)
        r_state = r * state
        candidate = nn_ops.bias_add(math_ops.matmul(array_ops.concat([inputs, r_state], 1), self._candidate_kernel),
                                    self._candidate_bias)
        c = self._activation(candidate)
        new_h = u * state + (1 - u) * c
        return new_h, new_h


class BasicLSTMCell(RNNCell):
    """LSTM without peepholes or projection; gates i, j, f, o from one ``kernel`` and ``bias``."""

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None,
                 dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        self._num_units = num_units
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = activation or math_ops.tanh

    @property
    def state_size(self):
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    output_size = property(lambda self: self._num_units)

    def build(self, inputs_shape):
        depth = _input_depth(inputs_shape)
        n = self._num_units
        self._kernel = self.add_variable(_WEIGHTS_VARIABLE_NAME, [depth + n, 4 * n])
        self._bias = self.add_variable(_BIAS_VARIABLE_NAME, [4 * n],
                                       initializer=init_ops.zeros_initializer(dtype=self.dtype))

    def call(self, inputs, state):
        from deferflow.ops import nn_ops
        sigmoid = math_ops.sigmoid
        one = array_ops.constant(1, dtype=dtypes.int32)
        if self._state_is_tuple:
            c, h = state
        else:
            c, h = array_ops.split(value=state, num_or_size_splits=2, axis=one)
        gate_inputs = math_ops.matmul(array_ops.concat([inputs, h], 1), self._kernel)
        gate_inputs = nn_ops.bias_add(gate_inputs, self._bias)
        i, j, f, o = array_ops.split(value=gate_inputs, num_or_size_splits=4, axis=one)
        forget_bias = array_ops.constant(self._forget_bias, dtype=f.dtype.base_dtype)
        add, multiply = math_ops.add, math_ops.multiply
        new_c = add(multiply(c, sigmoid(add(f, forget_bias))), multiply(sigmoid(i), self._activation(j)))
        new_h = multiply(self._activation(new_c), sigmoid(o))
        new_state = LSTMStateTuple(new_c, new_h) if self._state_is_tuple else array_ops.concat([new_c, new_h], 1)
        return new_h, new_state


class LSTMCell(RNNCell):
    """LSTM with optional peepholes (``w_f_diag``, ``w_i_diag``, ``w_o_diag``), cell clipping and an output
    projection (``projection/kernel``)."""

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None, num_proj=None,
                 proj_clip=None, num_unit_shards=None, num_proj_shards=None, forget_bias=1.0, state_is_tuple=True,
                 activation=None, reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        self._num_units = num_units
        self._use_peepholes = use_peepholes
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = num_proj
        self._proj_clip = proj_clip
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = activation or math_ops.tanh

    @property
    def state_size(self):
        m = self._num_proj or self._num_units
        return LSTMStateTuple(self._num_units, m) if self._state_is_tuple else self._num_units + m

    output_size = property(lambda self: self._num_proj or self._num_units)

    def build(self, inputs_shape):
        depth = _input_depth(inputs_shape)
        n = self._num_units
        h_depth = self._num_proj or n
        self._kernel = self.add_variable(_WEIGHTS_VARIABLE_NAME, [depth + h_depth, 4 * n], initializer=self._initializer)
        self._bias = self.add_variable(_BIAS_VARIABLE_NAME, [4 * n],
                                       initializer=init_ops.zeros_initializer(dtype=self.dtype))
        if self._use_peepholes:
            self._w_f_diag = self.add_variable("w_f_diag", [n], initializer=self._initializer)
            self._w_i_diag = self.add_variable("w_i_diag", [n], initializer=self._initializer)
            self._w_o_diag = self.add_variable("w_o_diag", [n], initializer=self._initializer)
        if self._num_proj is not None:
            self._proj_kernel = self.add_variable(f"projection/{_WEIGHTS_VARIABLE_NAME}", [n, self._num_proj],
                                                  initializer=self._initializer)

    def call(self, inputs, state):
        from deferflow.ops import nn_ops
        num_proj = self._num_proj or self._num_units
        sigmoid = math_ops.sigmoid
        if self._state_is_tuple:
            c_prev, m_prev = state
        else:
            c_prev = array_ops.slice_(state, [0, 0], [-1, self._num_units])
            m_prev = array_ops.slice_(state, [0, self._num_units], [-1, num_proj])
        if inputs.shape.with_rank(2)[1].value is None:
            raise ValueError("Could not infer input size from inputs.get_shape()[-1]")
        lstm_matrix = nn_ops.bias_add(math_ops.matmul(array_ops.concat([inputs, m_prev], 1), self._kernel),
                                      self._bias)
        i, j, f, o = array_ops.split(value=lstm_matrix, num_or_size_splits=4, axis=1)
        if self._use_peepholes:
            c = (sigmoid(f + self._forget_bias + self._w_f_diag * c_prev) * c_prev +
                 sigmoid(i + self._w_i_diag * c_prev) * self._activation(j))
        else:
            c = sigmoid(f + self._forget_bias) * c_prev + sigmoid(i) * self._activation(j)
        if self._cell_clip is not None:
            c = math_ops.clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            m = sigmoid(o + self._w_o_diag * c) * self._activation(c)
        else:
            m = sigmoid(o) * self._activation(c)
        if self._num_proj is not None:
            m = math_ops.matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = math_ops.clip_by_value(m, -self._proj_clip, self._proj_clip)
        new_state = LSTMStateTuple(c, m) if self._state_is_tuple else array_ops.concat([c, m], 1)
        return m, new_state


class MultiRNNCell(RNNCell):
    """Cells stacked in layers; layer i's variables under ``multi_rnn_cell/cell_i/``."""

    def __init__(self, cells, state_is_tuple=True):
        super().__init__()
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not nest.is_nested(cells):
            raise TypeError(f"cells must be a list or tuple, but saw: {cells}.")
        self._cells = list(cells)
        self._state_is_tuple = state_is_tuple
        if not state_is_tuple and any(nest.is_nested(c.state_size) for c in self._cells):
            raise ValueError("Some cells return tuples of states, but the flag state_is_tuple is not set. State "
                             f"sizes are: {[c.state_size for c in self._cells]}")

    @property
    def state_size(self):
        if self._state_is_tuple:
            return tuple(c.state_size for c in self._cells)
        return sum(c.state_size for c in self._cells)

    output_size = property(lambda self: self._cells[-1].output_size)

    def zero_state(self, batch_size, dtype):
        with ops.name_scope(type(self).__name__ + "ZeroState", values=[batch_size]):
            if self._state_is_tuple:
                return tuple(c.zero_state(batch_size, dtype) for c in self._cells)
            return super().zero_state(batch_size, dtype)

    @property
    def weights(self):
        return [w for c in self._cells for w in c.weights]

    variables = trainable_variables = trainable_weights = weights

    def call(self, inputs, state):
        cur_pos, cur_inp, new_states = 0, inputs, []
        for i, cell in enumerate(self._cells):
            with variable_scope.variable_scope(f"cell_{i}"):
                if self._state_is_tuple:
                    cur_state = state[i]
                else:
                    cur_state = array_ops.slice_(state, [0, cur_pos], [-1, cell.state_size])
                    cur_pos += cell.state_size
                cur_inp, new_state = cell(cur_inp, cur_state)
                new_states.append(new_state)
        return cur_inp, (tuple(new_states) if self._state_is_tuple else array_ops.concat(new_states, 1))


class DropoutWrapper(RNNCell):
    """Dropout on a cell's inputs, outputs and (new) states; the cell's variables keep their names."""

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0,
                 variational_recurrent=False, input_size=None, dtype=None, seed=None,
                 dropout_state_filter_visitor=None):
        super().__init__(dtype=dtype)
        if variational_recurrent:
            raise NotImplementedError("DropoutWrapper(variational_recurrent=True) is not supported by deferflow")
        for p, what in ((input_keep_prob, "input"), (output_keep_prob, "output"), (state_keep_prob, "state")):
            v = constant_value(p) if isinstance(p, Tensor) else p
            if v is not None and not 0 < float(v) <= 1:
                raise ValueError(f"Parameter {what}_keep_prob must be between 0 and 1: {float(v)}")
        self._cell = cell
        self._input_keep_prob, self._output_keep_prob = input_keep_prob, output_keep_prob
        self._state_keep_prob = state_keep_prob
        self._seed = seed
        self._state_filter = dropout_state_filter_visitor or (
            lambda s: not isinstance(s, LSTMStateTuple) or LSTMStateTuple(c=False, h=True))

    wrapped_cell = property(lambda self: self._cell)
    state_size = property(lambda self: self._cell.state_size)
    output_size = property(lambda self: self._cell.output_size)
    weights = variables = property(lambda self: self._cell.weights)

    def zero_state(self, batch_size, dtype):
        with ops.name_scope(type(self).__name__ + "ZeroState", values=[batch_size]):
            return self._cell.zero_state(batch_size, dtype)

    def _gen_seed(self, salt_prefix, index):
        if self._seed is None:
            return None
        digest = hashlib.md5((str(self._seed) + f"{salt_prefix}_{index}").encode("utf-8")).hexdigest()
        return int(digest[:8], 16) & 0x7FFFFFFF

    @staticmethod
    def _should_dropout(p):
        return not isinstance(p, float) or p < 1

    def _dropout(self, values, salt_prefix, keep_prob, keep_mask=None):
        from deferflow.ops import nn_impl
        flat = nest.flatten(values)
        mask = nest.flatten(keep_mask) if keep_mask is not None else [True] * len(flat)
        out = [nn_impl.dropout(v, rate=1 - keep_prob, seed=self._gen_seed(salt_prefix, i)) if m else v
               for i, (v, m) in enumerate(zip(flat, mask))]
        return nest.pack_sequence_as(values, out)

    def __call__(self, inputs, state, scope=None):
        if self._should_dropout(self._input_keep_prob):
            inputs = self._dropout(inputs, "input", self._input_keep_prob)
        output, new_state = self._cell(inputs, state, scope=scope)
        if self._should_dropout(self._state_keep_prob):
            mask = nest.map_structure(lambda s: self._state_filter(s), new_state) \
                if not isinstance(new_state, LSTMStateTuple) else self._state_filter(new_state)
            new_state = self._dropout(new_state, "state", self._state_keep_prob, mask)
        if self._should_dropout(self._output_keep_prob):
            output = self._dropout(output, "output", self._output_keep_prob)
        return output, new_state


def assert_like_rnncell(cell_name, cell):
    ok = all(hasattr(cell, a) for a in ("output_size", "state_size", "zero_state")) and callable(cell)
    if not ok:
        raise TypeError(f"The argument {cell_name!r} ({cell}) is not an RNNCell: 'output_size' property is "
                        "missing, 'state_size' property is missing, either 'zero_state' or 'get_initial_state' "
                        "method is required, is not callable.")

