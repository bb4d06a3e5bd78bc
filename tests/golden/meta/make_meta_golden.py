"""Write the meta-graph golden files in this directory with REAL TensorFlow (run: python tests/golden/meta/make_meta_golden.py).

Cases (each a directory): ``mlp`` (ref variables, Adam, global step), ``resource`` (resource variables
trained with GradientDescent), ``vgg`` (a small conv net whose ``fc7`` layer feeds ``prob``; also
``frozen.pb``, ``graph.pbtxt`` and a TF1 SavedModel in ``vgg/saved_model``), ``consts.pb`` (Const nodes of
every dtype in TF's own encodings), ``control_flow.pb`` (a TF1 while loop and cond: loop back edges), ``loop`` (a while loop over a
variable and a cond, with their contexts in the meta graph's collections).
``expected.npz`` holds inputs and the outputs TensorFlow computed.
"""
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    return tf


def _save(tf, sess, saver, case):
    path = os.path.join(HERE, case)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    cwd = os.getcwd()
    os.chdir(HERE)
    try:
        saver.save(sess, os.path.join(case, "model.ckpt"))
    finally:
        os.chdir(cwd)


def make_mlp(tf, out):
    rng = np.random.RandomState(1)
    x_data = rng.randn(8, 4).astype(np.float32)
    y_data = rng.randn(8, 2).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        y = tf.placeholder(tf.float32, [None, 2], name="y")
        with tf.variable_scope("fc1"):
            w = tf.get_variable("w", initializer=rng.randn(4, 8).astype(np.float32) * 0.5, use_resource=False)
            b = tf.get_variable("b", initializer=np.zeros(8, np.float32), use_resource=False)
            h = tf.nn.relu(tf.matmul(x, w) + b)
        with tf.variable_scope("fc2"):
            w2 = tf.get_variable("w", initializer=rng.randn(8, 2).astype(np.float32) * 0.5, use_resource=False)
            b2 = tf.get_variable("b", initializer=np.zeros(2, np.float32), use_resource=False)
            logits = tf.add(tf.matmul(h, w2), b2, name="logits")
        loss = tf.reduce_mean(tf.square(logits - y), name="loss")
        global_step = tf.train.get_or_create_global_step()
        train = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=global_step, name="train")
        tf.add_to_collection("train_op", train)
        tf.add_to_collection("inputs", x)
        tf.add_to_collection("names", "mlp")
        tf.add_to_collection("numbers", 7)
        tf.add_to_collection("rates", 0.5)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                sess.run(train, {x: x_data, y: y_data})
            _save(tf, sess, saver, "mlp")
            out["mlp_x"], out["mlp_y"] = x_data, y_data
            out["mlp_logits"], out["mlp_loss"] = sess.run([logits, loss], {x: x_data, y: y_data})
            sess.run(train, {x: x_data, y: y_data})
            out["mlp_logits_after_step"] = sess.run(logits, {x: x_data})
            out["mlp_step_after_step"] = sess.run(global_step)


def make_resource(tf, out):
    rng = np.random.RandomState(2)
    x_data = rng.randn(5, 3).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w = tf.get_variable("dense/kernel", initializer=rng.randn(3, 2).astype(np.float32), use_resource=True)
        b = tf.get_variable("dense/bias", initializer=np.array([0.5, -0.5], np.float32), use_resource=True)
        counter = tf.get_variable("counter", initializer=np.int64(3), use_resource=True, trainable=False)
        out_t = tf.nn.bias_add(tf.matmul(x, w), b, name="out")
        loss = tf.reduce_sum(tf.square(out_t), name="loss")
        train = tf.train.GradientDescentOptimizer(0.01).minimize(loss, name="train")
        with tf.control_dependencies([train]):
            bump = counter.assign_add(1, read_value=False)
        tf.add_to_collection("train_op", bump)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            _save(tf, sess, saver, "resource")
            out["resource_x"] = x_data
            out["resource_out"] = sess.run(out_t, {x: x_data})
            sess.run(bump, {x: x_data})
            out["resource_out_after_step"] = sess.run(out_t, {x: x_data})


def make_vgg(tf, out):
    rng = np.random.RandomState(3)
    images = rng.rand(2, 16, 16, 3).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 16, 16, 3], name="images")

        def conv(name, inp, cin, cout):
            with tf.variable_scope(name):
                k = tf.get_variable("weights", initializer=rng.randn(3, 3, cin, cout).astype(np.float32) * 0.3,
                                    use_resource=False)
                b = tf.get_variable("biases", initializer=rng.randn(cout).astype(np.float32) * 0.1,
                                    use_resource=False)
                return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(inp, k, [1, 1, 1, 1], "SAME"), b))

        def fc(name, inp, cin, cout, relu=True):
            with tf.variable_scope(name + "_vars"):
                w = tf.get_variable("weights", initializer=rng.randn(cin, cout).astype(np.float32) * 0.2,
                                    use_resource=False)
                b = tf.get_variable("biases", initializer=rng.randn(cout).astype(np.float32) * 0.1,
                                    use_resource=False)
            y = tf.nn.bias_add(tf.matmul(inp, w), b)
            return tf.nn.relu(y, name=name) if relu else tf.identity(y, name=name)

        net = conv("conv1", x, 3, 8)
        net = tf.nn.max_pool(net, [1, 2, 2, 1], [1, 2, 2, 1], "VALID", name="pool1")
        net = conv("conv2", net, 8, 16)
        net = tf.nn.max_pool(net, [1, 2, 2, 1], [1, 2, 2, 1], "VALID", name="pool2")
        net = tf.reshape(net, [-1, 4 * 4 * 16], name="flatten")
        net = fc("fc6", net, 256, 32)
        fc7 = fc("fc7", net, 32, 16)
        logits = fc("fc8", fc7, 16, 10, relu=False)
        prob = tf.nn.softmax(logits, name="prob")
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            _save(tf, sess, saver, "vgg")
            out["vgg_images"] = images
            out["vgg_fc7"], out["vgg_prob"] = sess.run([fc7, prob], {x: images})
            gd = sess.graph.as_graph_def()
            frozen = tf.graph_util.convert_variables_to_constants(sess, gd, ["prob"])
            with open(os.path.join(HERE, "vgg", "frozen.pb"), "wb") as f:
                f.write(frozen.SerializeToString(deterministic=True))
            tf.io.write_graph(gd, os.path.join(HERE, "vgg"), "graph.pbtxt", as_text=True)
            tf.saved_model.simple_save(sess, os.path.join(HERE, "vgg", "saved_model"), inputs={"images": x},
                                       outputs={"prob": prob})
    fp = os.path.join(HERE, "vgg", "saved_model", "fingerprint.pb")
    if os.path.exists(fp):  # TF2 extra, not part of the TF1 layout
        os.remove(fp)


def make_consts(tf, out):
    import ml_dtypes
    values = {
        "f32": np.array([[1.5, -2.25], [np.pi, 1e30]], np.float32), "f64": np.array([np.e, -1e-300], np.float64),
        "f16": np.array([0.5, -65504.0, 6.1e-5], np.float16), "bf16": np.array([1.0, -3.140625], ml_dtypes.bfloat16),
        "i8": np.array([-128, 127], np.int8), "i16": np.array([-32768, 7], np.int16),
        "i32": np.array([2**31 - 1, -2**31], np.int32), "i64": np.array([2**63 - 1, -2**63], np.int64),
        "u8": np.array([0, 255], np.uint8), "u16": np.array([65535, 1], np.uint16),
        "u32": np.array([2**32 - 1, 5], np.uint32), "u64": np.array([2**64 - 1, 9], np.uint64),
        "c64": np.array([1 + 2j, -3.5j], np.complex64), "c128": np.array([1e-200 + 1j], np.complex128),
        "flags": np.array([True, False, True]), "strs": np.array([b"a", b"", b"\xff\x00z"], object),
        "s_f32": np.float32(0.125), "s_f16": np.float16(-2.5), "s_bf16": ml_dtypes.bfloat16(3.0),
        "s_i64": np.int64(-42), "s_u64": np.uint64(2**64 - 2), "s_bool": np.bool_(True), "s_str": np.array(b"hi", object),
        "s_c64": np.complex64(2 - 1j), "empty": np.zeros((0, 3), np.float32),
    }
    with tf.Graph().as_default() as g:
        for name, v in values.items():
            tf.constant(v, name=name)
            v = np.asarray(v)
            out["const_" + name] = v.view(np.uint16) if v.dtype == ml_dtypes.bfloat16 else v  # npz lacks bfloat16
        tf.constant(0.0, shape=[3, 4], name="splat_f32")
        out["const_splat_f32"] = np.zeros((3, 4), np.float32)
        tf.constant(7, shape=[5], dtype=tf.int64, name="splat_i64")
        out["const_splat_i64"] = np.full(5, 7, np.int64)
        tf.constant(True, shape=[2, 2], name="splat_bool")
        out["const_splat_bool"] = np.ones((2, 2), bool)
        tf.constant(b"x", shape=[3], name="splat_str")
        out["const_splat_str"] = np.array([b"x"] * 3, object)
        with open(os.path.join(HERE, "consts.pb"), "wb") as f:
            f.write(g.as_graph_def().SerializeToString(deterministic=True))


def make_control_flow(tf, out):
    with tf.Graph().as_default() as g:
        x = tf.placeholder(tf.float32, [], name="x")
        r = tf.while_loop(lambda i, a: i < 5, lambda i, a: (i + 1, a * 2.0), [tf.constant(0), x], name="loop")
        tf.identity(r[1], name="out")
        tf.identity(tf.cond(x > 1.0, lambda: x * 10.0, lambda: x - 1.0, name="cnd"), name="out2")
        with tf.Session() as sess:
            out["cf_out"] = np.array(sess.run(["out:0", "out2:0"], {x: 3.0}))
        with open(os.path.join(HERE, "control_flow.pb"), "wb") as f:
            f.write(g.as_graph_def().SerializeToString(deterministic=True))


def make_loop(tf, out):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        w = tf.Variable(1.5, name="w")
        r = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * w), [tf.constant(0), x], name="loop")
        y = tf.identity(tf.cond(x > 1.0, lambda: r[1] * 10.0, lambda: r[1] - 1.0, name="cnd"), name="out")
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            _save(tf, sess, saver, "loop")
            out["loop_out_grad"] = np.array(sess.run([y, tf.gradients(y, w)[0]], {x: 2.0}))


def main():
    tf = _tf()
    out = {}
    for case in ("mlp", "resource", "vgg", "consts", "control_flow", "loop"):
        globals()["make_" + case](tf, out)
    np.savez(os.path.join(HERE, "expected.npz"), allow_pickle=True, **out)
    with open(os.path.join(HERE, "VERSION"), "w") as f:
        f.write(tf.__version__ + "\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(HERE) for f in fs)
    print(f"meta golden files: {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
