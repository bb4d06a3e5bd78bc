"""TF1's optimizers: each creates TF-named slots and emits its ``Apply*`` op (see ``training_ops``)."""
from deferflow.framework import ops
from deferflow.framework.indexed_slices import IndexedSlices
from deferflow.framework.ops import apply_op, convert_to_tensor
from deferflow.ops import array_ops, control_flow_ops, init_ops, math_ops, state_ops
from deferflow.training import training_ops  # noqa: F401 - registers the Apply* ops
from deferflow.training.optimizer import Optimizer


def _cast(t, var):
    """``t`` in ``var``'s dtype; a variable of that dtype stays the variable (read where it is used), as TF's
    ``math_ops.cast`` leaves it."""
    dt = var.dtype.base_dtype
    return t if t.dtype.base_dtype == dt else array_ops.cast(t, dt)


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad``."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._learning_rate_tensor = None

    def _prepare(self):
        self._learning_rate_tensor = convert_to_tensor(self._call_if_callable(self._learning_rate),
                                                       name="learning_rate")

    def _apply_dense(self, grad, var):
        return self._apply_update("GradientDescent", var, {}, alpha=_cast(self._learning_rate_tensor, var),
                                  delta=grad)

    def _apply_sparse_duplicate_indices(self, grad, var):  # ScatterSub adds up repeated rows itself
        delta = IndexedSlices(grad.values * _cast(self._learning_rate_tensor, var), grad.indices, grad.dense_shape)
        return var.scatter_sub(delta, use_locking=self._use_locking)

    def _resource_apply_sparse_duplicate_indices(self, grad, var, indices):
        return apply_op("ResourceScatterAdd", resource=var.handle, indices=indices,
                        updates=-grad * _cast(self._learning_rate_tensor, var))


class MomentumOptimizer(Optimizer):
    """``accum = momentum * accum + grad; var -= lr * accum`` (or the Nesterov form)."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum", use_nesterov=False):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._use_nesterov = use_nesterov

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        self._learning_rate_tensor = convert_to_tensor(self._call_if_callable(self._learning_rate),
                                                       name="learning_rate")
        self._momentum_tensor = convert_to_tensor(self._call_if_callable(self._momentum), name="momentum")

    def _apply_dense(self, grad, var):
        return self._apply(grad, var)

    def _apply(self, grad, var, indices=None):
        return self._apply_update("Momentum", var, {"accum": self.get_slot(var, "momentum")}, indices,
                                  lr=_cast(self._learning_rate_tensor, var), grad=grad,
                                  momentum=_cast(self._momentum_tensor, var), use_nesterov=self._use_nesterov)


class AdamOptimizer(Optimizer):
    """Adam (Kingma & Ba) with TF's ``beta1_power``/``beta2_power`` accumulators and ``Adam``/``Adam_1`` slots."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, use_locking=False, name="Adam",
                 use_own_namescope_for_non_slot_vars=False):
        super().__init__(use_locking, name, use_own_namescope_for_non_slot_vars)
        self._lr, self._beta1, self._beta2, self._epsilon = learning_rate, beta1, beta2, epsilon
        self._lr_t = self._beta1_t = self._beta2_t = self._epsilon_t = None

    def _get_beta_accumulators(self):
        g = ops.get_default_graph()
        return self._get_non_slot_variable("beta1_power", g), self._get_non_slot_variable("beta2_power", g)

    def _create_slots(self, var_list):
        first_var = min(var_list, key=lambda x: x.name)
        self._create_non_slot_variable(initial_value=self._beta1, name="beta1_power", colocate_with=first_var)
        self._create_non_slot_variable(initial_value=self._beta2, name="beta2_power", colocate_with=first_var)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _prepare(self):
        self._lr_t = convert_to_tensor(self._call_if_callable(self._lr), name="learning_rate")
        self._beta1_t = convert_to_tensor(self._call_if_callable(self._beta1), name="beta1")
        self._beta2_t = convert_to_tensor(self._call_if_callable(self._beta2), name="beta2")
        self._epsilon_t = convert_to_tensor(self._call_if_callable(self._epsilon), name="epsilon")

    def _apply_dense(self, grad, var):
        b1p, b2p = self._get_beta_accumulators()
        return self._apply_update("Adam", var, {"m": self.get_slot(var, "m"), "v": self.get_slot(var, "v")},
                                  beta1_power=_cast(b1p, var), beta2_power=_cast(b2p, var),
                                  lr=_cast(self._lr_t, var), beta1=_cast(self._beta1_t, var),
                                  beta2=_cast(self._beta2_t, var), epsilon=_cast(self._epsilon_t, var), grad=grad)

    def _apply_sparse_shared(self, grad, var, indices, scatter_add):
        """TF's sparse Adam: decay all of m and v, add the rows' contributions with ``scatter_add``."""
        b1p, b2p = self._get_beta_accumulators()
        b1p, b2p = _cast(b1p, var), _cast(b2p, var)
        lr_t, beta1_t, beta2_t = _cast(self._lr_t, var), _cast(self._beta1_t, var), _cast(self._beta2_t, var)
        epsilon_t = _cast(self._epsilon_t, var)
        lr = lr_t * math_ops.sqrt(1 - b2p) / (1 - b1p)
        m = self.get_slot(var, "m")
        m_scaled_g_values = grad * (1 - beta1_t)
        m_t = state_ops.assign(m, m * beta1_t, use_locking=self._use_locking)
        with ops.control_dependencies([m_t]):
            m_t = scatter_add(m, indices, m_scaled_g_values)
        v = self.get_slot(var, "v")
        v_scaled_g_values = (grad * grad) * (1 - beta2_t)
        v_t = state_ops.assign(v, v * beta2_t, use_locking=self._use_locking)
        with ops.control_dependencies([v_t]):
            v_t = scatter_add(v, indices, v_scaled_g_values)
        v_sqrt = math_ops.sqrt(v_t)
        var_update = state_ops.assign_sub(var, lr * m_t / (v_sqrt + epsilon_t), use_locking=self._use_locking)
        return control_flow_ops.group(*[var_update, m_t, v_t])

    def _apply_sparse(self, grad, var):
        return self._apply_sparse_shared(grad.values, var, grad.indices,
                                         lambda x, i, v: state_ops.scatter_add(x, i, v, use_locking=self._use_locking))

    def _resource_apply_sparse(self, grad, var, indices):
        def scatter_add(x, i, v):
            with ops.control_dependencies([apply_op("ResourceScatterAdd", resource=x.handle, indices=i, updates=v)]):
                return x.value()
        return self._apply_sparse_shared(grad, var, indices, scatter_add)

    def _finish(self, update_ops, name_scope):
        with ops.control_dependencies(update_ops):
            b1p, b2p = self._get_beta_accumulators()
            with ops.colocate_with(b1p):
                update_beta1 = b1p.assign(b1p * self._beta1_t, use_locking=self._use_locking)
                update_beta2 = b2p.assign(b2p * self._beta2_t, use_locking=self._use_locking)
        return control_flow_ops.group(*update_ops + [update_beta1, update_beta2], name=name_scope)


class AdagradOptimizer(Optimizer):
    """``accum += grad^2; var -= lr * grad / sqrt(accum)``."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False, name="Adagrad"):
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: {initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._initial_accumulator_value = initial_accumulator_value
        self._learning_rate_tensor = None

    def _create_slots(self, var_list):
        for v in var_list:
            dtype = v.dtype.base_dtype
            if v.get_shape().is_fully_defined():
                init = init_ops.constant_initializer(self._initial_accumulator_value, dtype=dtype)
            else:
                init = array_ops.cast(array_ops.fill(array_ops.shape(v), self._initial_accumulator_value), dtype)
            self._get_or_make_slot_with_initializer(v, init, v.get_shape(), dtype, "accumulator", self._name)

    def _prepare(self):
        self._learning_rate_tensor = convert_to_tensor(self._call_if_callable(self._learning_rate),
                                                       name="learning_rate")

    def _apply_dense(self, grad, var):
        return self._apply(grad, var)

    def _apply(self, grad, var, indices=None):
        return self._apply_update("Adagrad", var, {"accum": self.get_slot(var, "accumulator")}, indices,
                                  lr=_cast(self._learning_rate_tensor, var), grad=grad)


class RMSPropOptimizer(Optimizer):
    """RMSProp with momentum; ``centered=True`` also tracks the mean gradient (``ApplyCenteredRMSProp``)."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False, centered=False,
                 name="RMSProp"):
        super().__init__(use_locking, name)
        self._learning_rate, self._decay, self._momentum = learning_rate, decay, momentum
        self._epsilon, self._centered = epsilon, centered

    def _create_slots(self, var_list):
        for v in var_list:
            if v.get_shape().is_fully_defined():
                init_rms = init_ops.ones_initializer(dtype=v.dtype.base_dtype)
            else:
                init_rms = array_ops.ones_like(v)
            self._get_or_make_slot_with_initializer(v, init_rms, v.get_shape(), v.dtype.base_dtype, "rms",
                                                    self._name)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        self._learning_rate_tensor = convert_to_tensor(self._call_if_callable(self._learning_rate),
                                                       name="learning_rate")
        self._decay_tensor = convert_to_tensor(self._call_if_callable(self._decay), name="decay")
        self._momentum_tensor = convert_to_tensor(self._call_if_callable(self._momentum), name="momentum")
        self._epsilon_tensor = convert_to_tensor(self._call_if_callable(self._epsilon), name="epsilon")

    def _apply_dense(self, grad, var):
        return self._apply(grad, var)

    def _apply(self, grad, var, indices=None):
        slots = {"ms": self.get_slot(var, "rms"), "mom": self.get_slot(var, "momentum")}
        args = dict(lr=_cast(self._learning_rate_tensor, var), rho=_cast(self._decay_tensor, var),
                    momentum=_cast(self._momentum_tensor, var), epsilon=_cast(self._epsilon_tensor, var), grad=grad)
        if self._centered:
            return self._apply_update("CenteredRMSProp", var, {"mg": self.get_slot(var, "mg"), **slots}, indices,
                                      **args)
        return self._apply_update("RMSProp", var, slots, indices, **args)


class AdadeltaOptimizer(Optimizer):
    """Adadelta (Zeiler) with ``accum`` and ``accum_update`` slots."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking=False, name="Adadelta"):
        super().__init__(use_locking, name)
        self._lr, self._rho, self._epsilon = learning_rate, rho, epsilon

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "accum", self._name)
            self._zeros_slot(v, "accum_update", self._name)

    def _prepare(self):
        self._lr_t = convert_to_tensor(self._call_if_callable(self._lr), name="lr")
        self._rho_t = convert_to_tensor(self._call_if_callable(self._rho), name="rho")
        self._epsilon_t = convert_to_tensor(self._call_if_callable(self._epsilon), name="epsilon")

    def _apply_dense(self, grad, var):
        return self._apply(grad, var)

    def _apply(self, grad, var, indices=None):
        return self._apply_update("Adadelta", var, {"accum": self.get_slot(var, "accum"),
                                                    "accum_update": self.get_slot(var, "accum_update")}, indices,
                                  lr=_cast(self._lr_t, var), rho=_cast(self._rho_t, var),
                                  epsilon=_cast(self._epsilon_t, var), grad=grad)


class FtrlOptimizer(Optimizer):
    """FTRL-Proximal (McMahan et al.) with ``accum`` and ``linear`` slots."""

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0, use_locking=False, name="Ftrl",
                 accum_name=None, linear_name=None, l2_shrinkage_regularization_strength=0.0, beta=None):
        super().__init__(use_locking, name)
        for v, what in ((initial_accumulator_value, "initial_accumulator_value"),
                        (l1_regularization_strength, "l1_regularization_strength"),
                        (l2_regularization_strength, "l2_regularization_strength"),
                        (l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength")):
            if v < 0.0:
                raise ValueError(f"{what} {v:f} needs to be positive or zero")
        if learning_rate_power > 0.0:
            raise ValueError(f"learning_rate_power {learning_rate_power:f} needs to be negative or zero")
        self._learning_rate = learning_rate
        self._learning_rate_power = learning_rate_power
        self._initial_accumulator_value = initial_accumulator_value
        self._l1 = l1_regularization_strength
        self._l2 = l2_regularization_strength
        self._beta = 0.0 if beta is None else beta
        self._l2_shrinkage = l2_shrinkage_regularization_strength
        self._accum_name, self._linear_name = accum_name, linear_name

    def _create_slots(self, var_list):
        def accum_init(shape, dtype=None, partition_info=None):
            return array_ops.ones(shape=shape, dtype=dtype) * self._initial_accumulator_value
        for v in var_list:
            self._get_or_make_slot_with_initializer(v, accum_init, v.shape, v.dtype.base_dtype, "accum",
                                                    self._accum_name or self._name)
            self._zeros_slot(v, "linear", self._linear_name or self._name)

    def _prepare(self):
        self._learning_rate_tensor = convert_to_tensor(self._learning_rate, name="learning_rate")
        self._l1_tensor = convert_to_tensor(self._l1, name="l1_regularization_strength")
        lr = self._learning_rate
        adjusted = self._l2 + (self._beta / (2. * max(lr, 1e-36)) if isinstance(lr, (int, float)) else 0.0)
        self._l2_tensor = convert_to_tensor(adjusted, name="adjusted_l2_regularization_strength")
        self._beta_tensor = convert_to_tensor(self._beta, name="beta")
        self._l2_shrinkage_tensor = convert_to_tensor(self._l2_shrinkage, name="l2_shrinkage_regularization_strength")
        self._lr_power_tensor = convert_to_tensor(self._learning_rate_power, name="learning_rate_power")

    def _apply_dense(self, grad, var):
        return self._apply(grad, var)

    def _apply(self, grad, var, indices=None):
        slots = {"accum": self.get_slot(var, "accum"), "linear": self.get_slot(var, "linear")}
        args = dict(grad=grad, lr=_cast(self._learning_rate_tensor, var), l1=_cast(self._l1_tensor, var),
                    l2=_cast(self._l2_tensor, var), lr_power=_cast(self._lr_power_tensor, var))
        if self._l2_shrinkage <= 0.0:
            return self._apply_update("Ftrl", var, slots, indices, **args)
        return self._apply_update("FtrlV2", var, slots, indices, l2_shrinkage=_cast(self._l2_shrinkage_tensor, var),
                                  **args)
