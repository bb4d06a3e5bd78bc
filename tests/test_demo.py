"""`deferflow demo` end to end (a real subprocess, small --steps), and its files read by real TensorFlow."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

STEPS = 200


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    proc = subprocess.run([sys.executable, "-m", "deferflow", "demo", "--out", str(out), "--steps", str(STEPS),
                           "--seed", "0"], capture_output=True, text=True, timeout=300)
    return out, proc


def _number(pattern, text):
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in:\n{text}"
    return float(m.group(1))


def test_demo_trains_saves_restores_and_fine_tunes(demo_run):
    out, proc = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    accuracy = _number(r"held-out accuracy: ([\d.]+)", text)
    assert accuracy >= 0.95
    assert _number(r"model-50\.meta \+ model-200: held-out accuracy ([\d.]+)", text) == accuracy
    assert "predictions identical" in text
    assert _number(r"trained only finetune/biases, finetune/weights; held-out accuracy ([\d.]+)", text) >= 0.90
    assert "restored variables bit-identical to model-200 after fine-tuning: yes" in text
    # progress bars (stderr): one final line per phase when not on a terminal
    assert re.search(rf"train +\[#+\] {STEPS}/{STEPS}", proc.stderr)
    assert re.search(rf"fine-tune +\[#+\] {STEPS // 2}/{STEPS // 2}", proc.stderr)
    assert f"tensorboard --logdir {out / 'logs'}" in text


def test_demo_files(demo_run):
    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr
    names = sorted(os.listdir(out))
    steps = [50, 100, 150, 200]
    expected = ["checkpoint", "logs"] + sorted(
        [f"model-{s}.index" for s in steps] + [f"model-{s}.data-00000-of-00001" for s in steps] + ["model-50.meta"])
    assert names == sorted(expected)  # max_to_keep=4 kept all four; the .meta written once
    for name in expected:
        if name not in ("logs",):
            assert f"    {name} " in proc.stdout  # listed in the report
    state = (out / "checkpoint").read_text()
    assert 'model_checkpoint_path: "model-200"' in state and state.count("all_model_checkpoint_paths") == 4
    for run in ("train", "heldout", "finetune"):
        events = os.listdir(out / "logs" / run)
        assert len(events) == 1 and events[0].startswith("events.out.tfevents.")


def test_demo_summaries(demo_run):
    out, _ = demo_run
    import deferflow as tf
    [train_events] = os.listdir(out / "logs" / "train")
    tags, has_graph = set(), False
    for event in tf.train.summary_iterator(str(out / "logs" / "train" / train_events)):
        has_graph |= bool(event.graph_def)
        for value in event.summary.value:
            tags.add((value.tag, value.WhichOneof("value")))
    assert has_graph
    assert {("metrics/loss", "simple_value"), ("metrics/accuracy", "simple_value"), ("weights/fc7", "histo"),
            ("weights/conv1/conv1_1", "histo")} <= tags
    assert ("inputs/image/0", "image") in tags and ("inputs/image/3", "image") in tags


def test_cli_reads_the_demo_output(demo_run):
    out, _ = demo_run

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "deferflow", *map(str, args)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    listing = cli("inspect", out)
    assert listing.startswith(f"checkpoint {out / 'model-200'}")
    assert re.search(r"^fc7/weights +float32 +\[1,1,128,128\] +65,536$", listing, re.M)
    assert re.search(r"^global_step +int64 +\[\] ", listing, re.M)
    graph = cli("graph", out)
    assert "x:0       float32  [?,8,8,1]" in graph and "labels:0  int64    [?]" in graph
    assert re.search(r"prob:0 +Softmax", graph) and re.search(r"accuracy:0 +Mean", graph)
    assert "max_to_keep 4, keep_checkpoint_every_n_hours 2" in graph
    assert "OK: everything it needs" in cli("diff", out, out / "model-50.meta")


def test_tensorflow_restores_the_demo_model(demo_run, tf_real):
    """Real TensorFlow imports deferflow's .meta, restores its latest checkpoint and gets the same accuracy."""
    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr
    from deferflow.datasets import load_digits, train_test_split
    images, labels = load_digits()
    _, (x_test, y_test) = train_test_split(images[..., None], labels.astype(np.int64), 0.25, 0)
    tf = tf_real
    with tf.Graph().as_default() as g, tf.Session() as sess:
        saver = tf.train.import_meta_graph(str(out / "model-50.meta"))
        saver.restore(sess, tf.train.latest_checkpoint(str(out)))
        acc = sess.run(g.get_tensor_by_name("accuracy:0"),
                       {g.get_tensor_by_name("x:0"): x_test, g.get_tensor_by_name("labels:0"): y_test})
    ours = _number(r"held-out accuracy: ([\d.]+)", proc.stdout)
    assert abs(float(acc) - ours) <= 1.0 / len(y_test) + 1e-4  # at most one borderline digit may differ


def test_demo_code_is_plain_tf1(tmp_path, tf_real):
    """The demo's model code runs unchanged on real TensorFlow and passes the same checks."""
    from deferflow.tools.demo import run_demo
    results = run_demo(str(tmp_path), steps=STEPS, seed=0, progress=False, tf=tf_real, say=lambda *a: None)
    assert results["accuracy"] >= 0.95 and results["restored_unchanged"]


def test_bad_demo_arguments(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "deferflow", "demo", "--out", str(tmp_path / "busy")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr and "Traceback" not in proc.stderr
