"""``tf.train.Optimizer``: gradients, slot variables named as TF names them, and ``Apply*`` update ops."""
import contextlib

from deferflow.framework import dtypes, ops
from deferflow.framework.ops import GraphKeys, Tensor
from deferflow.framework.indexed_slices import IndexedSlices, convert_to_tensor_or_indexed_slices, is_indexed_slices
from deferflow.ops import array_ops, control_flow_ops, init_ops, math_ops, state_ops, variable_scope, variables


@contextlib.contextmanager
def _init_scope():
    """TF's ``init_scope`` in graph mode: no control dependencies, the current name scope kept (so
    ``beta1_power`` made under ``name_scope("x")`` is ``x/beta1_power``, as in TensorFlow)."""
    g = ops.get_default_graph()
    scope = g.get_name_scope()
    with g.control_dependencies(None), g.name_scope(scope + "/" if scope else ""):
        yield


def _var_key(var):
    return (var.op.graph, var.op.name)


def _shared_name(var):
    return var.op.name


def _is_resource(var):
    return getattr(var, "_is_resource", False)


def _slot_var(primary, initializer, shape, dtype, op_name):
    """A slot for ``primary`` named ``<primary>/<op_name>`` (uniquified: ``w/Adam``, ``w/Adam_1``), a resource
    variable when ``primary`` is one, as TensorFlow makes them."""
    with _init_scope():
        scope = variable_scope.get_variable_scope()
        saved = scope.partitioner
        scope.set_partitioner(None)
        try:
            with variable_scope.variable_scope(None, _shared_name(primary) + "/" + op_name):
                if callable(initializer):
                    slot = variable_scope.get_variable("", shape=shape, dtype=dtype, initializer=initializer,
                                                       trainable=False, validate_shape=shape.is_fully_defined(),
                                                       use_resource=_is_resource(primary))
                else:
                    slot = variable_scope.get_variable("", initializer=initializer, trainable=False,
                                                       validate_shape=initializer.shape.is_fully_defined(),
                                                       use_resource=_is_resource(primary))
        finally:
            scope.set_partitioner(saved)
    info = primary._get_save_slice_info() if hasattr(primary, "_get_save_slice_info") else None
    if info is not None:
        from deferflow.ops.partitioned import SaveSliceInfo
        real_slot_name = slot.name[len(primary.op.name + "/"):-2]
        n = slot.shape.ndims
        if n is None or n > 0:
            slot._set_save_slice_info(SaveSliceInfo(info.full_name + "/" + real_slot_name, info.full_shape[:n],
                                                    info.var_offset[:n], info.var_shape[:n]))
    return slot


class Optimizer:
    """Base class of TF1 optimizers: ``minimize`` = ``compute_gradients`` + ``apply_gradients``."""

    GATE_NONE = 0
    GATE_OP = 1
    GATE_GRAPH = 2

    def __init__(self, use_locking, name, use_own_namescope_for_non_slot_vars=False):
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._use_locking = use_locking
        self._name = name
        self._use_own_namescope = use_own_namescope_for_non_slot_vars
        self._slots = {}  # slot name -> {var key: slot variable}
        self._non_slot_dict = {}  # (name, graph) -> variable

    def get_name(self):
        return self._name

    # --- the public API ---------------------------------------------------------------------
    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=GATE_OP, aggregation_method=None,
                 colocate_gradients_with_ops=False, name=None, grad_loss=None):
        """Adds ops that update ``var_list`` (default: trainable variables) to reduce ``loss``."""
        grads_and_vars = self.compute_gradients(loss, var_list=var_list, gate_gradients=gate_gradients,
                                                aggregation_method=aggregation_method,
                                                colocate_gradients_with_ops=colocate_gradients_with_ops,
                                                grad_loss=grad_loss)
        vars_with_grad = [v for g, v in grads_and_vars if g is not None]
        if not vars_with_grad:
            raise ValueError("No gradients provided for any variable, check your graph for ops that do not "
                             f"support gradients, between variables {[str(v) for _, v in grads_and_vars]} and "
                             f"loss {loss}.")
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP, aggregation_method=None,
                          colocate_gradients_with_ops=False, grad_loss=None):
        """A list of (gradient, variable) pairs; the gradient is None where ``loss`` does not depend on it."""
        from deferflow.gradients import gradients
        if callable(loss):
            raise RuntimeError("`loss` passed to Optimizer.compute_gradients should be a Tensor in graph mode")
        if gate_gradients not in (self.GATE_NONE, self.GATE_OP, self.GATE_GRAPH):
            raise ValueError("gate_gradients must be one of: Optimizer.GATE_NONE, Optimizer.GATE_OP, "
                             f"Optimizer.GATE_GRAPH.  Not {gate_gradients}")
        self._assert_valid_dtypes([loss])
        if grad_loss is not None:
            self._assert_valid_dtypes([grad_loss])
        if var_list is None:
            var_list = variables.trainable_variables() + ops.get_collection(GraphKeys.TRAINABLE_RESOURCE_VARIABLES)
        else:
            var_list = _flatten(var_list)
        if not var_list:
            raise ValueError("No variables to optimize.")
        var_refs = [v._ref() if hasattr(v, "_ref") else v for v in var_list]
        grads = gradients(loss, var_refs, grad_ys=grad_loss, gate_gradients=(gate_gradients == self.GATE_OP),
                          aggregation_method=aggregation_method,
                          colocate_gradients_with_ops=colocate_gradients_with_ops)
        if gate_gradients == self.GATE_GRAPH:
            grads = control_flow_ops.tuple(grads)
        grads_and_vars = list(zip(grads, var_list))
        self._assert_valid_dtypes([v for g, v in grads_and_vars if g is not None and v.dtype != dtypes.resource])
        return grads_and_vars

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """An op applying the gradients (then incrementing ``global_step``, when given)."""
        grads_and_vars = tuple(grads_and_vars)
        if not grads_and_vars:
            raise ValueError("No variables provided.")
        converted = []
        for g, v in grads_and_vars:
            if g is not None:
                try:
                    g = convert_to_tensor_or_indexed_slices(g)
                except (TypeError, ValueError):
                    raise TypeError(f"Gradient must be convertible to a Tensor or IndexedSlices, or None: {g}") \
                        from None
                if not isinstance(g, Tensor) and not is_indexed_slices(g):
                    raise TypeError(f"Gradient must be a Tensor, IndexedSlices, or None: {g}")
            if not hasattr(v, "_ref") and not isinstance(v, Tensor):
                raise NotImplementedError(f"Trying to update a Tensor {v}")
            converted.append((g, v))
        var_list = [v for g, v in converted if g is not None]
        if not var_list:
            raise ValueError(f"No gradients provided for any variable: {[str(v) for _, v in converted]}.")
        with _init_scope():
            self._create_slots(var_list)
        update_ops = []
        with ops.name_scope(name, self._name) as name:
            self._prepare()
            for grad, var in converted:
                if grad is None:
                    continue
                with ops.name_scope("update_" + var.op.name), ops.colocate_with(var):
                    if is_indexed_slices(grad):
                        if getattr(var, "constraint", None) is not None:
                            raise RuntimeError("Cannot use a constraint function on a sparse variable.")
                        if _is_resource(var):
                            update_ops.append(self._resource_apply_sparse_duplicate_indices(grad.values, var,
                                                                                            grad.indices))
                        else:
                            update_ops.append(self._apply_sparse_duplicate_indices(grad, var))
                        continue
                    op = self._apply_dense(grad, var)
                    if getattr(var, "constraint", None) is not None:
                        with ops.control_dependencies([op]):
                            op = var.assign(var.constraint(var))
                    update_ops.append(op)
            if global_step is None:
                apply_updates = self._finish(update_ops, name)
            else:
                with ops.control_dependencies([self._finish(update_ops, "update")]):
                    with ops.colocate_with(global_step):
                        apply_updates = state_ops.assign_add(global_step, 1, name=name)
            if isinstance(apply_updates, Tensor):
                apply_updates = apply_updates.op
            train_op = ops.get_collection_ref(GraphKeys.TRAIN_OP)
            if apply_updates not in train_op:
                train_op.append(apply_updates)
            return apply_updates

    def get_slot(self, var, name):
        named = self._slots.get(name)
        if not named:
            return None
        return named.get(_var_key(var))

    def get_slot_names(self):
        return sorted(self._slots.keys())

    def variables(self):
        """The optimizer's own variables (slots and accumulators) in the current graph, sorted by name."""
        g = ops.get_default_graph()
        out = [v for (_, vg), v in self._non_slot_dict.items() if vg is g]
        for slots in self._slots.values():
            out.extend(v for v in slots.values() if v.op.graph is g)
        return sorted(out, key=lambda v: v.name)

    # --- for subclasses -----------------------------------------------------------------------
    def _valid_dtypes(self):
        return {dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64}

    def _assert_valid_dtypes(self, tensors):
        valid = self._valid_dtypes()
        for t in tensors:
            dt = t.dtype.base_dtype
            if dt not in valid:
                raise ValueError(f"Invalid type {dt!r} for {t.name}, expected: {sorted(valid, key=str)}.")

    def _create_slots(self, var_list):
        pass

    def _prepare(self):
        pass

    def _apply_dense(self, grad, var):
        raise NotImplementedError()

    def _apply_sparse_duplicate_indices(self, grad, var):
        """Repeated indices summed first, then ``_apply_sparse`` (TF's default)."""
        values, indices = _deduplicate_indexed_slices(grad.values, grad.indices)
        return self._apply_sparse(IndexedSlices(values, indices, grad.dense_shape), var)

    def _resource_apply_sparse_duplicate_indices(self, grad, var, indices):
        values, indices = _deduplicate_indexed_slices(grad, indices)
        return self._resource_apply_sparse(values, var, indices)

    # Optimizers whose update op has a SparseApply form define ``_apply(grad, var, indices=None)``: rows of
    # ``grad`` for ``indices``, or the whole gradient.
    def _apply_sparse(self, grad, var):
        if not hasattr(self, "_apply"):
            raise NotImplementedError()
        return self._apply(grad.values, var, grad.indices)

    def _resource_apply_sparse(self, grad, var, indices):
        if not hasattr(self, "_apply"):
            raise NotImplementedError()
        return self._apply(grad, var, indices)

    def _apply_update(self, op_type, var, slots, indices=None, **inputs):
        """TF's ``Apply<op_type>`` on a ref variable and its ``slots`` ({input name: slot variable}), or
        ``ResourceApply<op_type>`` on their handles when ``var`` is a resource variable, as TF's
        ``_apply_dense``/``_resource_apply_dense`` emit them; with ``indices``, the ``SparseApply`` forms
        (``grad`` then holds the rows). Returns the update op."""
        sparse = {} if indices is None else {"indices": indices}
        prefix = "Apply" if indices is None else "SparseApply"
        if _is_resource(var):
            handles = {name: slot.handle for name, slot in slots.items()}
            return ops.apply_op("Resource" + prefix + op_type, var=var.handle, **handles, **inputs, **sparse,
                                use_locking=self._use_locking)
        refs = {name: slot._ref() for name, slot in slots.items()}
        return ops.apply_op(prefix + op_type, var=var._ref(), **refs, **inputs, **sparse,
                            use_locking=self._use_locking).op

    def _finish(self, update_ops, name_scope):
        return control_flow_ops.group(*update_ops, name=name_scope)

    @staticmethod
    def _call_if_callable(param):
        return param() if callable(param) else param

    def _slot_dict(self, slot_name):
        return self._slots.setdefault(slot_name, {})

    def _get_or_make_slot_with_initializer(self, var, initializer, shape, dtype, slot_name, op_name):
        named = self._slot_dict(slot_name)
        key = _var_key(var)
        if key not in named:
            if not callable(initializer):  # a tensor initial value
                named[key] = _slot_var(var, initializer, None, None, op_name)
            else:
                named[key] = _slot_var(var, initializer, ops.convert_to_tensor(var).shape if shape is None
                                       else shape, dtype, op_name)
        return named[key]

    def _zeros_slot(self, var, slot_name, op_name):
        named = self._slot_dict(slot_name)
        key = _var_key(var)
        if key not in named:
            shape = var.get_shape()
            if shape.is_fully_defined():
                named[key] = _slot_var(var, init_ops.zeros_initializer(), shape, var.dtype.base_dtype, op_name)
            else:
                val = array_ops.zeros(array_ops.shape(var), dtype=var.dtype.base_dtype)
                named[key] = _slot_var(var, val, None, None, op_name)
        return named[key]

    def _create_non_slot_variable(self, initial_value, name, colocate_with):
        g = colocate_with.op.graph
        key = (name, g)
        v = self._non_slot_dict.get(key)
        if v is None:
            with g.as_default(), ops.colocate_with(colocate_with):
                resource = _is_resource(colocate_with)
                if self._use_own_namescope:
                    with ops.name_scope(self._name):
                        v = variables.Variable(initial_value, name=name, trainable=False, use_resource=resource)
                else:
                    v = variables.Variable(initial_value, name=name, trainable=False, use_resource=resource)
            self._non_slot_dict[key] = v
        return v

    def _get_non_slot_variable(self, name, graph=None):
        return self._non_slot_dict.get((name, graph or ops.get_default_graph()))

    def _non_slot_variables(self):
        return self._non_slot_dict.values()


def _deduplicate_indexed_slices(values, indices):
    """(summed values, unique indices): rows of repeated indices added up (TF's helper of the same name)."""
    unique_indices, positions = array_ops.unique(indices)
    summed = math_ops.unsorted_segment_sum(values, positions, array_ops.shape(unique_indices)[0])
    return summed, unique_indices


def _flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for item in x:
            out.extend(_flatten(item))
        return out
    if isinstance(x, dict):
        return _flatten([x[k] for k in sorted(x)])
    if hasattr(x, "_get_variable_list"):  # PartitionedVariable
        return list(x._get_variable_list())
    return [x]
