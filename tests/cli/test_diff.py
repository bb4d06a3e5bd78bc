"""`deferflow diff`: checkpoints vs graphs/checkpoints, and the suggested assignment_map really works."""
import ast
import os
import re
import shutil

import numpy as np

from cli_helpers import CLI_GOLDEN, GOLDEN, assert_bad_input, run_cli


def _assignment_map(out):
    text = out.split("assignment_map = ", 1)[1]
    end = text.index("}") + 1
    return ast.literal_eval(text[:end])


def test_checkpoint_matches_its_own_graph():
    for case in ("adam", "partitioned", "resource", "sharded"):
        r = run_cli("diff", os.path.join(GOLDEN, case), os.path.join(GOLDEN, case, "model.ckpt.meta"))
        assert r.code == 0, r
        assert "OK: everything it needs is in the checkpoint" in r.out
        assert "missing" not in r.out and "mismatched dtype" not in r.out


def test_inference_graph_leaves_optimizer_slots_extra():
    r = run_cli("diff", os.path.join(CLI_GOLDEN, "convnet"), os.path.join(CLI_GOLDEN, "saved_model"))
    assert r.code == 0, r
    assert "matched (same name, dtype and shape): 6" in r.out
    extra = re.search(r"extra in the checkpoint \(the graph does not restore\): (\d+)", r.out)
    assert extra and int(extra.group(1)) == 15
    assert "conv1/weights/Adam_1  float32 [3,3,1,4]" in r.out


def test_renamed_scope_is_missing_with_suggested_mappings():
    r = run_cli("diff", os.path.join(CLI_GOLDEN, "convnet"), os.path.join(CLI_GOLDEN, "scoped.meta"))
    assert r.code == 1, r
    assert "missing from the checkpoint (graph needs, checkpoint lacks): 21" in r.out
    assert "NOT OK: 21 missing, 0 mismatched." in r.out
    mapping = _assignment_map(r.out)
    assert mapping["conv1/weights"] == "net/conv1/weights"
    assert mapping["fc7/biases/Adam_1"] == "net/net/fc7/biases/Adam_1"  # TF's doubled slot scope
    assert mapping["global_step"] == "net/global_step" and len(mapping) == 21


def test_shape_and_dtype_mismatches(tmp_path):
    from deferflow.formats import bundle

    arrays = bundle.load(os.path.join(GOLDEN, "adam", "model.ckpt"))
    arrays["w"] = np.zeros((4, 4), np.float32)
    arrays["global_step"] = np.int32(5)
    bundle.save(str(tmp_path / "m"), arrays)
    r = run_cli("diff", tmp_path / "m", os.path.join(GOLDEN, "adam", "model.ckpt.meta"))
    assert r.code == 1, r
    rows = [line.split() for line in r.out.split("mismatched dtype or shape: 2", 1)[1].splitlines()[2:4]]
    assert rows == [["global_step", "int32", "[]", "int64", "[]"], ["w", "float32", "[4,4]", "float32", "[3,4]"]]


def test_suggested_scope_map_initialises_a_deferflow_graph(tmp_path):
    """The printed assignment_map, given to init_from_checkpoint, loads the checkpoint's values."""
    import deferflow as tf

    with tf.Graph().as_default():
        with tf.variable_scope("model"):
            w = tf.get_variable("dense/kernel", [3, 2])
            b = tf.get_variable("dense/bias", [2])
        tf.train.export_meta_graph(str(tmp_path / "new.meta"))
        from deferflow.formats import bundle
        old = {"dense/kernel": np.arange(6, dtype=np.float32).reshape(3, 2), "dense/bias": np.ones(2, np.float32)}
        bundle.save(str(tmp_path / "old"), old)  # the checkpoint has the names without the scope
        r = run_cli("diff", tmp_path / "old", tmp_path / "new.meta")
        assert r.code == 1, r
        mapping = _assignment_map(r.out)
        assert mapping == {"/": "model/"}
        tf.train.init_from_checkpoint(str(tmp_path / "old"), mapping)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(w), old["dense/kernel"])
            np.testing.assert_array_equal(sess.run(b), old["dense/bias"])


def test_two_checkpoints_with_values(tmp_path, df_checkpoint):
    prefix, values = df_checkpoint
    shutil.copytree(os.path.dirname(prefix), tmp_path / "copy")
    copy = str(tmp_path / "copy" / os.path.basename(prefix))
    r = run_cli("diff", prefix, copy, "--values")
    assert r.code == 0, r
    assert f"values: {len(values)} equal, 0 different" in r.out
    from deferflow.formats import bundle
    changed = dict(values)
    changed["dense/kernel"] = values["dense/kernel"] + np.float32(0.5)
    del changed["words"]
    bundle.save(copy, changed)
    r = run_cli("diff", prefix, copy, "--values")
    assert r.code == 0, r  # the second checkpoint lacks 'words': extra, not missing
    assert "extra in the checkpoint (the second checkpoint lacks): 1" in r.out
    assert re.search(r"dense/kernel\s+different\s+0\.5\n", r.out), r.out
    assert f"values: {len(values) - 2} equal, 1 different" in r.out


def test_bad_input():
    ckpt = os.path.join(GOLDEN, "adam")
    assert_bad_input(run_cli("diff", ckpt, "missing.meta"), "no such file or directory")
    assert_bad_input(run_cli("diff", "missing_ckpt", ckpt), "no such file or directory")
    assert_bad_input(run_cli("diff", ckpt, os.path.join(CLI_GOLDEN, "frozen.pb"), "--values"), "two checkpoints")
    assert_bad_input(run_cli("diff", ckpt, __file__), "not a TensorFlow graph file")
