"""map_fn / scan / foldl / foldr and TensorArray, values and gradients against TensorFlow."""
import numpy as np
import pytest

import deferflow as tf
from cfutil import differential

X = np.arange(12, dtype=np.float32).reshape(4, 3) / 7.0


def test_map_fn_with_structures(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [4, 3], name="x")
        y = t.placeholder(t.int32, [4], name="y")
        out = t.map_fn(lambda e: (t.reduce_sum(e[0] * e[0]), e[1] * 2), (x, y), dtype=(t.float32, t.int32))
        return [out, t.gradients(out[0], x)], {x: X, y: [1, 2, 3, 4]}
    differential(tf_real, build)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan(tf_real, reverse):
    def build(t):
        x = t.placeholder(t.float32, [4, 3], name="x")
        s = t.scan(lambda a, e: a * 0.5 + t.sin(e), x, reverse=reverse)
        s2 = t.scan(lambda a, e: (a[0] + e, a[1] * e), x, initializer=(t.zeros([3]), t.ones([3])))
        loss = t.reduce_sum(s) + t.reduce_sum(s2[1])
        return [s, s2, t.gradients(loss, x)], {x: X}
    differential(tf_real, build)


def test_folds(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [4, 3], name="x")
        l1 = t.foldl(lambda a, e: a * e + 1.0, x)
        l2 = t.foldr(lambda a, e: a * e + 1.0, x)
        l3 = t.foldl(lambda a, e: a + t.reduce_sum(e), x, initializer=t.constant(0.5))
        return [l1, l2, l3, t.gradients(t.reduce_sum(l1) + t.reduce_sum(l2) + l3, x)], {x: X}
    differential(tf_real, build)


def test_tensor_array_ops(tf_real):
    def build(t):
        x = t.placeholder(t.float32, [4, 3], name="x")
        ta = t.TensorArray(t.float32, size=4).unstack(x)
        picked = ta.gather([3, 1])
        dyn = t.TensorArray(t.float32, size=0, dynamic_size=True)
        dyn = dyn.write(0, x[0]).write(2, x[1] * 2.0)
        sp = t.TensorArray(t.float32, size=2, infer_shape=False).split(t.reshape(x, [12]), [5, 7])
        cat = sp.concat()
        st = dyn.stack()
        loss = t.reduce_sum(picked) + t.reduce_sum(cat * cat) + t.reduce_sum(st * st)
        return [picked, st, dyn.size(), cat, t.gradients(loss, x)], {x: X}
    differential(tf_real, build)


def test_tensor_array_errors():
    ta = tf.TensorArray(tf.float32, size=2)
    w = ta.write(0, [1.0, 2.0])
    with tf.Session() as s:
        with pytest.raises(tf.errors.InvalidArgumentError, match="Tried to write to index 5 but array is not "
                                                                 "resizeable and size is: 2"):
            s.run(ta.write(5, [1.0, 2.0]).flow)
        with pytest.raises(tf.errors.InvalidArgumentError, match="it has already been written to"):
            s.run(w.write(0, [3.0, 4.0]).flow)
        with pytest.raises(tf.errors.InvalidArgumentError, match="Tried to read from index 7 but array size is: 2"):
            s.run(w.read(7))
        r = w.read(0)
        with pytest.raises(tf.errors.InvalidArgumentError, match="Could not read index 0 twice because it was cleared"):
            s.run([r, w.read(0, name="again")])
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        w.write(1, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="`size` must be provided"):
        tf.TensorArray(tf.float32)
