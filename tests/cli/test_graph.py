"""`deferflow graph` on .meta/.pb/.pbtxt/SavedModel files written by TensorFlow and by deferflow."""
import os
import re

import pytest

from cli_helpers import CLI_GOLDEN, GOLDEN, assert_bad_input, run_cli


def _section(out, title):
    """The indented lines under a section header starting with ``title``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        body.append(line.strip())
    return lines[start], body


@pytest.mark.parametrize("path", ["convnet", "convnet/model-3.meta", "frozen.pb", "graph.pbtxt", "saved_model"])
def test_inputs_outputs_variables(path):
    r = run_cli("graph", os.path.join(CLI_GOLDEN, path))
    assert r.code == 0, r
    head, inputs = _section(r.out, "inputs")
    assert head == "inputs (2 placeholders):"
    assert [i.split() for i in inputs] == [["x:0", "float32", "[?,8,8,1]"], ["labels:0", "int64", "[?]"]]
    _, outputs = _section(r.out, "likely outputs")
    assert [o.split()[0] for o in outputs if not o.startswith("train ops")] == ["prob:0", "loss:0"]
    head, variables = _section(r.out, "variables")
    names = [v.split()[0] for v in variables[1:]]
    assert {"conv1/weights", "conv1/biases", "fc7/weights", "fc7/biases", "fc8/weights", "fc8/biases"} <= set(names)
    assert ["conv1/weights", "float32", "[3,3,1,4]"] in [v.split()[:3] for v in variables]
    _, op_types = _section(r.out, "op types")
    assert re.search(r"\bConv2D 1\b", " ".join(op_types)) and re.search(r"\bMaxPool 1\b", " ".join(op_types))
    kind = {"frozen.pb": "GraphDef", "graph.pbtxt": "GraphDef", "saved_model": "SavedModel, tags serve"}.get(
        path, "MetaGraphDef")
    assert re.search(rf"^{kind}: \d+ nodes, GraphDef producer \d+", r.out, re.M), r.out


def test_meta_graph_details():
    r = run_cli("graph", os.path.join(CLI_GOLDEN, "convnet"))
    head, _ = _section(r.out, "variables")
    assert head == "variables (21, 6 trainable, 1,953 values):"
    assert "  train ops: train" in r.out
    _, collections = _section(r.out, "collections")
    assert ["variables", "21", "VariableDef"] in [c.split() for c in collections]
    assert ["train_op", "1", "node", "train"] in [c.split() for c in collections]
    assert ("saver: V2 checkpoints, filename tensor save/Const:0, save save/control_dependency:0, restore "
            "save/restore_all, max_to_keep 5, keep_checkpoint_every_n_hours 10000") in r.out
    assert "signatures (0):\n  none" in r.out


def test_saved_model_signature():
    r = run_cli("graph", os.path.join(CLI_GOLDEN, "saved_model"))
    assert r.code == 0, r
    assert "serving_default  (tensorflow/serving/predict)" in r.out
    assert "input  images: x:0  float32 [?,8,8,1]" in r.out
    assert "output scores: prob:0  float32 [?,10]" in r.out
    assert ", sharded" in r.out


def test_unsupported_op_types_are_listed(tmp_path):
    from deferflow.formats import protos
    from deferflow.framework import op_registry

    g = protos.GraphDef()
    g.node.add(name="x", op="Placeholder").attr["dtype"].type = 1
    g.node.add(name="y", op="MyCustomOp", input=["x"])
    g.node.add(name="z", op="MyCustomOp", input=["y"])
    g.node.add(name="out", op="Relu", input=["z"])
    (tmp_path / "custom.pb").write_bytes(g.SerializeToString())
    r = run_cli("graph", tmp_path / "custom.pb")
    assert r.code == 0, r
    head, missing = _section(r.out, "op types deferflow cannot run yet")
    assert head.startswith("op types deferflow cannot run yet (1;")
    assert missing == ["MyCustomOp (2 nodes)"]
    assert op_registry.get("MyCustomOp") is None  # the CLI ran in its own process
    assert [o.split() for o in _section(r.out, "likely outputs")[1]] == [["out:0", "Relu"]]


def test_every_op_type_of_a_golden_graph_is_checked_against_the_registry():
    import deferflow  # noqa: F401
    from deferflow.formats import protos
    from deferflow.framework import op_registry

    meta = protos.MetaGraphDef.FromString(open(os.path.join(GOLDEN, "adam", "model.ckpt.meta"), "rb").read())
    missing = sorted({n.op for n in meta.graph_def.node if op_registry.get(n.op) is None
                      or op_registry.get(n.op).kernel_fn is None})
    r = run_cli("graph", os.path.join(GOLDEN, "adam"))
    if missing:
        listed = [m.split(" (")[0] for m in ", ".join(_section(r.out, "op types deferflow cannot")[1]).split(", ")]
        assert listed == missing
    else:
        assert "deferflow has a kernel for every op type in this graph." in r.out


def test_deferflow_written_meta_and_nodes(df_checkpoint):
    prefix, _ = df_checkpoint
    r = run_cli("graph", prefix + ".meta", "--nodes")
    assert r.code == 0, r
    assert [i.split() for i in _section(r.out, "inputs")[1]] == [["x:0", "float32", "[?,3]"]]
    assert [o.split() for o in _section(r.out, "likely outputs")[1]] == [["probs:0", "Softmax"], ["loss:0", "Mean"],
                                                                          ["train", "ops:", "GradientDescent"]]
    variables = [v.split() for v in _section(r.out, "variables")[1]]
    assert ["dense/kernel", "float32", "[3,2]", "yes"] in variables and ["words", "string", "[2]", "no"] in variables
    _, nodes = _section(r.out, "nodes:")
    assert any(re.match(r"probs\s+Softmax\s+add$", n) for n in nodes), nodes
    assert run_cli("graph", os.path.dirname(prefix)).out.splitlines()[0] == f"graph {prefix}.meta"


def test_bad_graph_files(tmp_path):
    assert_bad_input(run_cli("graph", tmp_path / "missing.meta"), "no such file or directory")
    (tmp_path / "random.pb").write_bytes(bytes(range(256)) * 4)
    assert_bad_input(run_cli("graph", tmp_path / "random.pb"), "not a TensorFlow graph file")
    (tmp_path / "empty.pbtxt").write_bytes(b"")
    assert_bad_input(run_cli("graph", tmp_path / "empty.pbtxt"), "not a TensorFlow graph file (empty file)")
    (tmp_path / "notes.pbtxt").write_text("node { name: 'a' op: \n")
    assert_bad_input(run_cli("graph", tmp_path / "notes.pbtxt"), "not a TensorFlow graph file")
    assert_bad_input(run_cli("graph", os.path.join(GOLDEN, "adam", "model.ckpt.index")), "a checkpoint file")
    assert_bad_input(run_cli("graph", tmp_path), "holds no graph")
    truncated = open(os.path.join(CLI_GOLDEN, "convnet", "model-3.meta"), "rb").read()[:5000]
    (tmp_path / "cut.meta").write_bytes(truncated)
    assert_bad_input(run_cli("graph", tmp_path / "cut.meta"), "not a TensorFlow graph file")
