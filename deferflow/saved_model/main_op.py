"""``tf.saved_model.main_op``."""
from deferflow.ops import control_flow_ops, variables


def main_op():
    """The default SavedModel init op: initialize local variables."""
    return control_flow_ops.group(variables.local_variables_initializer(), name="main_op")


def main_op_with_restore(restore_op_name):
    from deferflow.framework import ops
    with ops.control_dependencies([main_op()]):
        return control_flow_ops.group(restore_op_name, name="main_op_with_restore")
