"""``tf.contrib.framework`` variable helpers: model variables, scoped look-ups, restoring from checkpoints."""
import re

from deferflow.framework import dtypes, ops
from deferflow.framework.ops import GraphKeys
from deferflow.contrib.framework.arg_scope import add_arg_scope
from deferflow.ops import array_ops, control_flow_ops, variable_scope
from deferflow.ops.variables import Variable
from deferflow.training import global_step as _gs

__all__ = ["add_model_variable", "assert_global_step", "assert_or_get_global_step", "assign_from_checkpoint",
           "assign_from_checkpoint_fn", "assign_from_values", "assign_from_values_fn", "create_global_step",
           "filter_variables", "get_global_step", "get_or_create_global_step", "get_local_variables",
           "get_model_variables", "get_trainable_variables", "get_unique_variable", "get_variables_by_name",
           "get_variables_by_suffix", "get_variable_full_name", "get_variables_to_restore", "get_variables",
           "global_variable", "local_variable", "model_variable", "variable"]

get_global_step = _gs.get_global_step
create_global_step = _gs.create_global_step
get_or_create_global_step = _gs.get_or_create_global_step
assert_global_step = _gs.assert_global_step


def assert_or_get_global_step(graph=None, global_step_tensor=None):
    if global_step_tensor is None:
        return get_global_step(graph)
    assert_global_step(global_step_tensor)
    return global_step_tensor


def local_variable(initial_value, validate_shape=True, name=None, use_resource=None):
    """A non-trainable variable in ``LOCAL_VARIABLES`` only."""
    return Variable(initial_value, trainable=False, collections=[GraphKeys.LOCAL_VARIABLES],
                    validate_shape=validate_shape, name=name, use_resource=use_resource)


def global_variable(initial_value, validate_shape=True, name=None, use_resource=None):
    """A non-trainable variable in ``GLOBAL_VARIABLES``."""
    return Variable(initial_value, trainable=False, collections=[GraphKeys.GLOBAL_VARIABLES],
                    validate_shape=validate_shape, name=name, use_resource=use_resource)


@add_arg_scope
def variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=True, collections=None,
             caching_device=None, device=None, partitioner=None, custom_getter=None, use_resource=None,
             synchronization=None, aggregation=None):
    """``get_variable`` with slim's defaults: collections default to ``GLOBAL_VARIABLES``."""
    collections = list(dict.fromkeys(collections if collections is not None else [GraphKeys.GLOBAL_VARIABLES]))
    kwargs = dict(shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer, trainable=trainable,
                  collections=collections, caching_device=caching_device, partitioner=partitioner,
                  use_resource=use_resource)
    with ops.device(device or ""):
        if custom_getter is not None:
            return custom_getter(variable_scope.get_variable, name,
                                 reuse=variable_scope.get_variable_scope().reuse, **kwargs)
        return variable_scope.get_variable(name, **kwargs)


@add_arg_scope
def model_variable(name, shape=None, dtype=dtypes.float32, initializer=None, regularizer=None, trainable=True,
                   collections=None, caching_device=None, device=None, partitioner=None, custom_getter=None,
                   use_resource=None, synchronization=None, aggregation=None):
    """A variable that is also in ``MODEL_VARIABLES`` (what ``get_model_variables`` returns)."""
    collections = list(collections or []) + [GraphKeys.GLOBAL_VARIABLES, GraphKeys.MODEL_VARIABLES]
    return variable(name, shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                    trainable=trainable, collections=collections, caching_device=caching_device, device=device,
                    partitioner=partitioner, custom_getter=custom_getter, use_resource=use_resource)


def add_model_variable(var):
    if var not in ops.get_collection(GraphKeys.MODEL_VARIABLES):
        ops.add_to_collection(GraphKeys.MODEL_VARIABLES, var)


def get_variables(scope=None, suffix=None, collection=GraphKeys.GLOBAL_VARIABLES):
    """Variables of ``collection`` whose names match the regex ``scope`` (and end in ``suffix``)."""
    if isinstance(scope, variable_scope.VariableScope):
        scope = scope.name
    if suffix is not None:
        if ":" not in suffix:
            suffix += ":"
        scope = (scope or "") + ".*" + suffix
    return ops.get_collection(collection, scope)


def get_model_variables(scope=None, suffix=None):
    return get_variables(scope, suffix, GraphKeys.MODEL_VARIABLES)


def get_local_variables(scope=None, suffix=None):
    return get_variables(scope, suffix, GraphKeys.LOCAL_VARIABLES)


def get_trainable_variables(scope=None, suffix=None):
    return get_variables(scope, suffix, GraphKeys.TRAINABLE_VARIABLES)


def get_variables_to_restore(include=None, exclude=None):
    """Global variables under the ``include`` scopes (all if None) minus those under the ``exclude`` scopes."""
    if include is None:
        included = get_variables()
    else:
        if not isinstance(include, (list, tuple)):
            raise TypeError("include is provided but is not a list or a tuple.")
        included = [v for s in include for v in get_variables(s)]
    excluded = set()
    if exclude is not None:
        if not isinstance(exclude, (list, tuple)):
            raise TypeError("exclude is provided but is not a list or a tuple.")
        for s in exclude:
            excluded.update(id(v) for v in get_variables(s))
    return [v for v in included if id(v) not in excluded]


def get_variables_by_suffix(suffix, scope=None):
    return get_variables(scope=scope, suffix=suffix)


def get_variables_by_name(given_name, scope=None):
    return get_variables(scope=scope, suffix=f"/{given_name}:|^{given_name}:")


def get_unique_variable(var_op_name):
    candidates = get_variables(scope=var_op_name)
    if not candidates:
        raise ValueError(f"Couldn't find variable {var_op_name}")
    for c in candidates:
        if c.op.name == var_op_name:
            return c
    raise ValueError(f"Variable {var_op_name} does not uniquely identify a variable")


def get_variable_full_name(var):
    info = getattr(var, "_save_slice_info", None)
    return info.full_name if info else var.op.name


def filter_variables(var_list, include_patterns=None, exclude_patterns=None, reg_search=True):
    match = re.search if reg_search else re.match
    kept = list(var_list) if include_patterns is None else \
        [v for v in var_list if any(match(p, v.name) for p in include_patterns)]
    if exclude_patterns is None:
        return kept
    return [v for v in kept if not any(match(p, v.name) for p in exclude_patterns)]


def _assign_placeholder(var):
    ph = array_ops.placeholder(var.dtype.base_dtype, shape=var.shape, name="placeholder/" + var.op.name)
    return ph, var.assign(ph)


def assign_from_values(var_names_to_values):
    """(assign op, feed dict) that set each named global variable to the given NumPy value."""
    feed, assigns = {}, []
    for name, value in var_names_to_values.items():
        found = ops.get_collection(GraphKeys.GLOBAL_VARIABLES, name)
        if not found:
            raise ValueError(f"Variable {name} wasn't found")
        if len(found) > 1:
            exact = [v for v in found if v.op.name == name]
            if not exact:
                raise ValueError(f"Variable {name} doesn't uniquely identify a variable")
            found = exact
        var = found[0]
        ph, op = _assign_placeholder(var)
        assigns.append(op)
        feed[ph] = value.reshape(var.shape.as_list())
    return control_flow_ops.group(*assigns), feed


def assign_from_values_fn(var_names_to_values):
    assign_op, feed = assign_from_values(var_names_to_values)
    return lambda session: session.run(assign_op, feed)


def _grouped(var_list):
    grouped = {}
    if isinstance(var_list, (list, tuple)):
        for v in var_list:
            grouped.setdefault(get_variable_full_name(v), []).append(v)
    else:
        for name, v in var_list.items():
            grouped[name] = list(v) if isinstance(v, (list, tuple)) else [v]
    return grouped


def assign_from_checkpoint(model_path, var_list, ignore_missing_vars=False):
    """(assign op, feed dict) that load ``var_list`` (list, or dict checkpoint name -> variable) from
    ``model_path``."""
    from deferflow.training.checkpoint_utils import NewCheckpointReader
    reader = NewCheckpointReader(model_path)
    feed, assigns = {}, []
    for ckpt_name, variables in _grouped(var_list).items():
        if not reader.has_tensor(ckpt_name):
            if ignore_missing_vars:
                continue
            raise ValueError(f"Checkpoint is missing variable [{ckpt_name}]")
        value = reader.get_tensor(ckpt_name)
        for var in variables:
            ph, op = _assign_placeholder(var)
            assigns.append(op)
            if tuple(var.shape.as_list()) != tuple(value.shape):
                raise ValueError(f"Total size of new array must be unchanged for {ckpt_name} lh_shape: "
                                 f"[{value.shape}], rh_shape: [{var.shape}]")
            feed[ph] = value
    return control_flow_ops.group(*assigns), feed


def assign_from_checkpoint_fn(model_path, var_list, ignore_missing_vars=False, reshape_variables=False):
    """A function ``fn(session)`` that restores ``var_list`` from ``model_path`` with a ``Saver``."""
    from deferflow.training.checkpoint_utils import NewCheckpointReader
    from deferflow.training.saver import Saver
    if not var_list:
        raise ValueError("var_list cannot be empty")
    if ignore_missing_vars:
        reader = NewCheckpointReader(model_path)
        var_dict = var_list if isinstance(var_list, dict) else {v.op.name: v for v in var_list}
        var_list = {k: v for k, v in var_dict.items() if reader.has_tensor(k)}
    if not var_list:
        return None
    saver = Saver(var_list, reshape=reshape_variables)
    return lambda session: saver.restore(session, model_path)
