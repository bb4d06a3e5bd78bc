"""Resource variables: the ops TF graphs use (VarHandleOp, ReadVariableOp, AssignVariableOp...) and
ResourceVariable, against TensorFlow's graphs, values, gradients and errors."""
import numpy as np
import pytest

import deferflow as tf
from deferflow.framework import errors
from deferflow.ops.resource_variable_ops import ResourceVariable


def _build(lib, make_var):
    v = make_var([1.0, 2.0, 3.0], "v")
    x = v * 2.0
    a = v.assign([3.0, 4.0, 5.0])
    b = v.assign_add([1.0, 1.0, 1.0])
    s = v.assign_sub([0.5, 0.5, 0.5])
    idx = lib.constant([2, 0, 2])
    g_dense = lib.gradients(lib.reduce_sum(x * x), v)[0]
    g_sparse = lib.gradients(lib.reduce_sum(v.sparse_read(idx) * [1.0, 2.0, 3.0]), v)[0]
    return v, x, a, b, s, g_dense, g_sparse


def test_graph_values_and_gradients_match_tensorflow(tf_real):
    ours = _build(tf, lambda value, name: ResourceVariable(value, name=name))
    with tf_real.Graph().as_default() as tg:
        theirs = _build(tf_real, lambda value, name: tf_real.Variable(value, name=name, use_resource=True))
        their_types = [(op.name, op.type) for op in tg.get_operations()[:6]]
        ts = tf_real.Session()
        ts.run(theirs[0].initializer)
        tv = [ts.run(theirs[1]), ts.run(theirs[2]), ts.run(theirs[3]), ts.run(theirs[4]), ts.run(theirs[5]),
              ts.run(tf_real.convert_to_tensor(theirs[6]))]
    assert [(op.name, op.type) for op in tf.get_default_graph().get_operations()[:6]] == their_types
    v = ours[0]
    assert (v.name, v.dtype, v.shape.as_list(), v.handle.dtype) == ("v:0", tf.float32, [3], tf.resource)
    assert v.initializer.name == "v/Assign" and v._graph_element.name == "v/Read/ReadVariableOp:0"
    sess = tf.Session()
    sess.run(v.initializer)
    assert type(ours[6]).__name__ == type(theirs[6]).__name__ == "IndexedSlices"  # a sparse_read's gradient
    ov = [sess.run(ours[1]), sess.run(ours[2]), sess.run(ours[3]), sess.run(ours[4]), sess.run(ours[5]),
          sess.run(tf.convert_to_tensor(ours[6]))]
    for a, b in zip(ov, tv):
        np.testing.assert_allclose(a, b)


def test_uninitialized_reads_and_bad_assignments_raise_as_in_tensorflow():
    v = ResourceVariable(np.zeros(2, np.float32), name="v")
    sess = tf.Session()
    with pytest.raises(errors.FailedPreconditionError, match="Could not find variable v"):
        sess.run(v.value())
    assert not sess.run(v.is_initialized())
    sess.run(v.initializer)
    assert sess.run(v.is_initialized())
    with pytest.raises(errors.InvalidArgumentError, match="Cannot update variable with shape \\[2\\]"):
        sess.run(tf.raw_ops.AssignAddVariableOp(resource=v.handle, value=[1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="Shape mismatch"):
        v.assign([1.0, 2.0, 3.0])
    with pytest.raises(errors.InvalidArgumentError, match="indices = 5 is not in \\[0, 2\\)"):
        sess.run(v.sparse_read([5]))


def test_handles_share_state_by_shared_name():
    v = ResourceVariable([1.0], name="shared")
    sess = tf.Session()
    sess.run(v.initializer)
    other = tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[1], shared_name="shared")
    assert sess.run(tf.raw_ops.ReadVariableOp(resource=other, dtype=tf.float32)).tolist() == [1.0]
    sess.run(tf.raw_ops.AssignVariableOp(resource=other, value=[7.0]))
    assert sess.run(v).tolist() == [7.0]
    sess.run(tf.raw_ops.DestroyResourceOp(resource=other))
    with pytest.raises(errors.FailedPreconditionError):
        sess.run(v.read_value())
    with pytest.raises(errors.NotFoundError):
        sess.run(tf.raw_ops.DestroyResourceOp(resource=other, ignore_lookup_error=False))


def test_resource_variables_save_and_restore_with_the_saver(tmp_path):
    v = ResourceVariable(np.arange(4, dtype=np.float32), name="v")
    w = tf.Variable(2.0, name="w")
    saver = tf.train.Saver()
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    sess.run(v.assign([9.0, 8.0, 7.0, 6.0]))
    prefix = saver.save(sess, str(tmp_path / "m"))
    sess.run(v.assign(tf.zeros([4])))
    saver.restore(sess, prefix)
    assert sess.run(v).tolist() == [9.0, 8.0, 7.0, 6.0] and sess.run(w) == 2.0
    reader = tf.train.NewCheckpointReader(prefix)
    assert reader.get_tensor("v").tolist() == [9.0, 8.0, 7.0, 6.0]
