"""``tf.Variable`` with TF1 reference semantics: ``VariableV2`` + ``Assign`` initializer + ``read`` Identity."""
import numpy as np

from deferflow.framework import dtypes, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import GraphKeys, Tensor, convert_to_tensor
from deferflow.ops import array_ops, state_ops, control_flow_ops


_RESOURCE_DEFAULT = [False]  # TF1's default; tf.enable_resource_variables() flips it


def enable_resource_variables():
    """New variables (``tf.Variable``, ``tf.get_variable``) are resource variables unless told otherwise."""
    _RESOURCE_DEFAULT[0] = True


def disable_resource_variables():
    _RESOURCE_DEFAULT[0] = False


def resource_variables_enabled():
    return _RESOURCE_DEFAULT[0]


class Variable:
    """``tf.Variable(initial_value, trainable=True, collections=None, validate_shape=True, ..., name=None)``.

    ``use_resource=True`` (or ``tf.enable_resource_variables()``) makes a ``ResourceVariable`` instead, as
    TF1's ``tf.Variable`` does."""

    def __new__(cls, *args, **kwargs):
        use_resource = kwargs.get("use_resource")
        if use_resource is None:
            use_resource = _RESOURCE_DEFAULT[0]
        if cls is Variable and use_resource and kwargs.get("variable_def") is None and len(args) <= 6:
            from deferflow.ops.resource_variable_ops import ResourceVariable
            return object.__new__(ResourceVariable)  # Python then runs ResourceVariable.__init__
        return object.__new__(cls)

    def __init__(self, initial_value=None, trainable=None, collections=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None, expected_shape=None,
                 import_scope=None, constraint=None, use_resource=None, synchronization=None,
                 aggregation=None, shape=None, import_graph=None):
        if variable_def is not None:
            self._init_from_proto(variable_def, import_scope, import_graph)
            return
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        if trainable is None:
            trainable = True
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        self._trainable = trainable
        self._constraint = constraint
        self._save_slice_info = None
        init_from_fn = callable(initial_value)
        with ops.name_scope(name, "Variable", [] if init_from_fn else [initial_value]) as scope:
            if init_from_fn:
                with ops.name_scope("Initializer"):
                    initial_value = initial_value()
            self._initial_value = convert_to_tensor(initial_value, name="initial_value", dtype=dtype)
            g = self._initial_value.graph
            with g.as_default():
                shape = self._initial_value.shape if validate_shape else ts.unknown_shape()
                if shape is not None and validate_shape and not shape.is_fully_defined():
                    raise ValueError(f"initial_value must have a shape specified: {self._initial_value}")
                self._variable = state_ops.variable_op_v2(shape, self._initial_value.dtype.base_dtype,
                                                          name=scope)
                self._initializer_op = state_ops.apply_op(
                    "Assign", name="Assign", ref=self._variable, value=self._initial_value,
                    validate_shape=validate_shape, use_locking=True).op
                self._snapshot = array_ops.identity(self._variable, name="read")
        self._graph = self._variable.graph
        self._caching_device = caching_device
        self._graph.add_to_collections(collections, self)

    def _init_from_proto(self, variable_def, import_scope, graph=None):
        """Rebinds to the ops a ``VariableDef`` names (import_meta_graph)."""
        g = graph or ops.get_default_graph()

        def name(n):
            return ops.prepend_name_scope(n, import_scope) if import_scope else n
        self._variable = g.as_graph_element(name(variable_def.variable_name))
        self._initializer_op = g.as_graph_element(name(variable_def.initializer_name))
        self._snapshot = g.as_graph_element(name(variable_def.snapshot_name))
        if variable_def.initial_value_name:
            self._initial_value = g.as_graph_element(name(variable_def.initial_value_name))
        else:
            self._initial_value = None
        self._trainable = getattr(variable_def, "trainable", True)
        self._save_slice_info = None
        if variable_def.HasField("save_slice_info_def"):
            from deferflow.ops.partitioned import SaveSliceInfo
            self._save_slice_info = SaveSliceInfo.from_proto(variable_def.save_slice_info_def, import_scope)
        self._constraint = None
        self._caching_device = None
        self._graph = g

    # --- identity -------------------------------------------------------------------
    name = property(lambda self: self._variable.name)
    op = property(lambda self: self._variable.op)
    graph = property(lambda self: self._graph)
    dtype = property(lambda self: self._variable.dtype)
    device = property(lambda self: self._variable.device)
    initializer = property(lambda self: self._initializer_op)
    initial_value = property(lambda self: self._initial_value)
    trainable = property(lambda self: self._trainable)
    constraint = property(lambda self: self._constraint)

    @property
    def shape(self):
        return self._variable.shape

    def get_shape(self):
        return self._variable.shape

    def _as_graph_element(self):
        return self._variable

    @property
    def _graph_element_for_scope(self):
        return self._variable

    def _ref(self):
        return self._variable

    def value(self):
        return self._snapshot

    def read_value(self):
        return array_ops.identity(self._variable, name="read")

    def eval(self, session=None):
        return self._variable.eval(session=session)

    def initialized_value(self):
        from deferflow.ops import control_flow_ops as cf
        return cf.cond_initialized_value(self) if hasattr(cf, "cond_initialized_value") else self._snapshot

    def load(self, value, session=None):
        """Writes ``value`` into the variable in ``session`` without adding ops to the graph."""
        from deferflow.client import session as session_lib
        session = session or session_lib.get_default_session()
        if session is None:
            raise ValueError("Either session argument should be provided or default session should be "
                             "established")
        session.run(self._initializer_op, {self._initializer_op.inputs[1]: value})

    # --- updates --------------------------------------------------------------------
    def assign(self, value, use_locking=None, name=None, read_value=True):
        r = state_ops.apply_op("Assign", name=name or "Assign", ref=self._variable, value=value,
                               use_locking=True if use_locking is None else use_locking,
                               validate_shape=True)
        return r if read_value else r.op

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        r = state_ops.apply_op("AssignAdd", name=name or "AssignAdd", ref=self._variable, value=delta,
                               use_locking=bool(use_locking))
        return r if read_value else r.op

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        r = state_ops.apply_op("AssignSub", name=name or "AssignSub", ref=self._variable, value=delta,
                               use_locking=bool(use_locking))
        return r if read_value else r.op

    def count_up_to(self, limit):
        return state_ops.apply_op("CountUpTo", ref=self._variable, limit=limit)

    # --- row updates: ``sparse_delta`` is an IndexedSlices ---
    def _scatter(self, kind, indices, updates, use_locking, name):
        locking = state_ops.SCATTER_KINDS[kind][2] == "true" if use_locking is None else bool(use_locking)
        return state_ops.apply_op("Scatter" + kind, name=name or "Scatter" + kind, ref=self._variable,
                                  indices=indices, updates=updates, use_locking=locking)

    def set_shape(self, shape):
        self._variable.set_shape(shape)
        self._snapshot.set_shape(shape)

    def _set_save_slice_info(self, info):
        self._save_slice_info = info

    def _get_save_slice_info(self):
        return self._save_slice_info

    def to_proto(self, export_scope=None):
        from deferflow.framework import graph_io
        return graph_io.variable_to_proto(self, export_scope)

    @staticmethod
    def from_proto(variable_def, import_scope=None):
        return Variable(variable_def=variable_def, import_scope=import_scope)

    def __repr__(self):
        return f"<tf.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __iter__(self):
        raise TypeError("'Variable' object is not iterable.")

    # tensor-like behaviour: a Variable in an expression reads its value
    def __getitem__(self, item):
        return self._snapshot[item]

    def __array__(self, dtype=None, copy=None):
        raise NotImplementedError(f"Cannot convert a symbolic Variable ({self.name}) to a numpy array.")


def _scatter_method(kind):
    def method(self, sparse_delta, use_locking=False, name=None):
        return self._scatter(kind, sparse_delta.indices, sparse_delta.values, use_locking, name)
    method.__name__ = method.__qualname__ = "scatter_" + kind.lower()
    method.__doc__ = f"Scatter{kind} of the IndexedSlices ``sparse_delta`` into this variable's rows."
    return method


for _kind in ("Update", "Add", "Sub", "Mul", "Div", "Min", "Max"):
    setattr(Variable, "scatter_" + _kind.lower(), _scatter_method(_kind))


def _variable_conversion(v, dtype=None, name=None, as_ref=False):
    t = v._variable if as_ref else v._snapshot
    if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(t.dtype):
        raise ValueError(f"Incompatible type conversion requested to type '{dtypes.as_dtype(dtype).name}' for "
                         f"variable of type '{t.dtype.name}'")
    return t


ops.register_tensor_conversion_function(Variable, _variable_conversion)


def _overload(name):
    def method(self, *args):
        return getattr(self._snapshot, name)(*args)
    return method


for _m in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
           "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__",
           "__rmatmul__", "__neg__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__", "__and__", "__or__",
           "__invert__", "__div__", "__rdiv__"):
    setattr(Variable, _m, _overload(_m))

RefVariable = Variable
VariableV1 = Variable


# --- collections and initializers ----------------------------------------------------------
def global_variables(scope=None):
    return ops.get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


all_variables = global_variables


def trainable_variables(scope=None):
    return ops.get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope=None):
    return ops.get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope=None):
    return ops.get_collection(GraphKeys.MODEL_VARIABLES, scope)


def moving_average_variables(scope=None):
    return ops.get_collection(GraphKeys.MOVING_AVERAGE_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    if var_list:
        return control_flow_ops.group(*[v.initializer for v in var_list], name=name)
    return control_flow_ops.no_op(name=name)


def global_variables_initializer():
    return variables_initializer(global_variables())


initialize_all_variables = global_variables_initializer


def local_variables_initializer():
    return variables_initializer(local_variables(), name="init")


initialize_local_variables = local_variables_initializer


def is_variable_initialized(variable):
    return state_ops.is_variable_initialized(variable)


def assert_variables_initialized(var_list=None):
    return report_uninitialized_variables(var_list)


def report_uninitialized_variables(var_list=None, name="report_uninitialized_variables"):
    """A string tensor with the names of the variables in ``var_list`` that are not yet initialized."""
    if var_list is None:
        var_list = global_variables() + local_variables()
    with ops.name_scope(name):
        if not var_list:
            return array_ops.constant(np.array([], dtype=object), dtype=dtypes.string)
        mask = ops.apply_op("LogicalNot", x=array_ops.stack(
            [state_ops.is_variable_initialized(v) for v in var_list]))
        names = array_ops.constant([v.op.name for v in var_list])
        return array_ops.boolean_mask(names, mask)
