"""The global step variable (``tf.train.get_or_create_global_step``)."""
from deferflow.framework import dtypes, ops
from deferflow.framework.ops import GraphKeys


def get_global_step(graph=None):
    graph = graph or ops.get_default_graph()
    found = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        return None
    try:
        t = graph.get_tensor_by_name("global_step:0")
    except (KeyError, ValueError):
        return None
    if not t.dtype.base_dtype.is_integer:
        raise TypeError(f"Existing \"global_step\" does not have integer type: {t.dtype}")
    return t


def create_global_step(graph=None):
    from deferflow.ops import init_ops, variable_scope
    graph = graph or ops.get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError("\"global_step\" already exists.")
    with graph.as_default(), ops.name_scope(None):
        return variable_scope.get_variable(
            GraphKeys.GLOBAL_STEP, shape=[], dtype=dtypes.int64, initializer=init_ops.zeros_initializer(),
            trainable=False, collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph=None):
    graph = graph or ops.get_default_graph()
    step = get_global_step(graph)
    return step if step is not None else create_global_step(graph)


def global_step(sess, global_step_tensor):
    return int(sess.run(global_step_tensor))


def assert_global_step(global_step_tensor):
    if not (hasattr(global_step_tensor, "dtype") and global_step_tensor.dtype.base_dtype.is_integer):
        raise TypeError(f"Existing \"global_step\" does not have integer type: {global_step_tensor}")
