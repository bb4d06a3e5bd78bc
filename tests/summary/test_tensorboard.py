"""TensorBoard's own loader (the ``tensorboard`` package, a test dependency) reads our event files:
scalars, histograms, images, audio, text, the graph (ours and one imported from a TF-written .meta)."""
import glob
import os

import numpy as np
import pytest

import deferflow as tf
from deferflow.formats import protos
from deferflow.framework import graph_io

from tensorboard.backend.event_processing import event_accumulator, event_multiplexer  # a test dependency

GOLDEN_META = os.path.join(os.path.dirname(__file__), "..", "golden", "adam", "model.ckpt.meta")
SIZES = {"scalars": 0, "histograms": 0, "images": 0, "audio": 0, "tensors": 0, "compressedHistograms": 0}


def _load(logdir):
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance=SIZES)
    acc.Reload()
    return acc


def _model(steps=5):
    """A small graph with name scopes, logging every kind of summary for ``steps`` steps."""
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    with tf.name_scope("layer1"):
        w = tf.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), name="weights")
        h = tf.matmul(x, w, name="matmul")
    with tf.name_scope("objective"):
        loss = tf.reduce_mean(tf.square(h), name="mse")
    tf.summary.scalar("loss", loss)
    tf.summary.histogram("w1", w)
    tf.summary.image("inputs", tf.reshape(x, [-1, 2, 2, 1]), max_outputs=2)
    tf.summary.audio("sound", x / 10.0, sample_rate=4000, max_outputs=1)
    tf.summary.text("notes", tf.constant("**step** done"))
    merged = tf.summary.merge_all()
    values = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(steps):
            feed = {x: np.arange(12, dtype=np.float32).reshape(3, 4) * (step + 1) / 12}
            values.append(sess.run([merged, loss], feed))
    return sess.graph, values


def test_tensorboard_reads_every_summary_kind(tmp_path):
    graph, values = _model()
    with tf.summary.FileWriter(str(tmp_path), graph) as w:
        for step, (summary, _) in enumerate(values):
            w.add_summary(summary, step * 10)
    acc = _load(tmp_path)
    tags = acc.Tags()
    assert tags["scalars"] == ["loss"]
    assert tags["histograms"] == ["w1"]
    assert tags["images"] == ["inputs/image/0", "inputs/image/1"]
    assert tags["audio"] == ["sound/audio"]
    assert tags["tensors"] == ["notes"]
    assert tags["graph"] and tags["meta_graph"]

    scalars = acc.Scalars("loss")
    assert [s.step for s in scalars] == [0, 10, 20, 30, 40]
    np.testing.assert_allclose([s.value for s in scalars], [float(v[1]) for v in values], rtol=1e-6)

    hist = acc.Histograms("w1")[-1].histogram_value
    assert (hist.min, hist.max, hist.num) == pytest.approx((-1.0, 1.0, 12))
    assert sum(hist.bucket) == 12

    img = acc.Images("inputs/image/1")[0]
    assert (img.step, img.width, img.height) == (0, 2, 2)
    pil = pytest.importorskip("PIL.Image")
    import io
    pixels = np.asarray(pil.open(io.BytesIO(img.encoded_image_string)))
    assert pixels.shape == (2, 2) and pixels.max() == 255  # normalized by the batch max

    audio = acc.Audio("sound/audio")[0]
    assert audio.content_type == "audio/wav" and audio.sample_rate == 4000 and audio.length_frames == 4
    assert audio.encoded_audio_string[:4] == b"RIFF"

    text = acc.Tensors("notes")[0]
    assert text.tensor_proto.string_val == [b"**step** done"]
    assert acc.SummaryMetadata("notes").plugin_data.plugin_name == "text"
    assert "notes" in acc.PluginTagToContent("text")


def test_tensorboard_graph_has_scoped_nodes(tmp_path):
    graph, _ = _model(steps=1)
    with tf.summary.FileWriter(str(tmp_path), graph):
        pass
    gd = _load(tmp_path).Graph()
    names = {n.name for n in gd.node}
    assert {"x", "layer1/weights", "layer1/matmul", "objective/mse", "loss/tags"} <= names
    ops = {n.name: n.op for n in gd.node}
    assert ops["layer1/matmul"] == "MatMul" and ops["layer1/weights"] == "VariableV2"
    assert ops["loss"] == "ScalarSummary"
    matmul = next(n for n in gd.node if n.name == "layer1/matmul")
    assert list(matmul.input) == ["x", "layer1/weights/read"]
    assert "_output_shapes" in matmul.attr


def test_tensorboard_graph_of_a_tensorflow_written_meta(tmp_path):
    mgd = protos.MetaGraphDef.FromString(open(GOLDEN_META, "rb").read())
    g = tf.Graph()
    with g.as_default():
        if hasattr(tf.train, "import_meta_graph"):
            tf.train.import_meta_graph(GOLDEN_META)
        else:
            graph_io.import_graph_def(mgd.graph_def, name="")
    with tf.summary.FileWriter(str(tmp_path), g):
        pass
    gd = _load(tmp_path).Graph()
    assert {n.name for n in gd.node} == {n.name for n in mgd.graph_def.node}
    assert any("/" in n.name for n in gd.node)  # scoped names: the dashboard groups them


def test_tensorboard_reads_across_reopened_files_and_runs(tmp_path):
    with tf.summary.FileWriter(str(tmp_path / "train")) as w:
        for step in range(3):
            w.add_summary(tf.Summary(value=[tf.Summary.Value(tag="acc", simple_value=step / 10)]), step)
        w.close()
        w.reopen()
        w.add_summary(tf.Summary(value=[tf.Summary.Value(tag="acc", simple_value=0.9)]), 3)
    assert len(glob.glob(str(tmp_path / "train" / "events.out.tfevents.*"))) == 2
    mux = event_multiplexer.EventMultiplexer(size_guidance=SIZES)
    mux.AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    assert list(mux.Runs()) == ["train"]
    assert [(s.step, round(s.value, 6)) for s in mux.Scalars("train", "acc")] == [
        (0, 0.0), (1, 0.1), (2, 0.2), (3, 0.9)]
