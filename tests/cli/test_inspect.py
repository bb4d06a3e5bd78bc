"""`deferflow inspect` on checkpoints written by TensorFlow (golden files) and by deferflow."""
import base64
import json
import os
import re
import shutil

import numpy as np
import pytest

from cli_helpers import GOLDEN, assert_bad_input, run_cli

with open(os.path.join(GOLDEN, "expected.json")) as f:
    EXPECTED = json.load(f)


def _rows(out):
    """{name: [dtype, shape, bytes, ...]} from the table (lines after the header, before the totals)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("name "))
    rows = {}
    for line in lines[start + 1:]:
        if re.match(r"\d+ tensors,", line):
            break
        parts = line.split()
        rows[parts[0]] = parts[1:]
    return rows


@pytest.mark.parametrize("case", ["dtypes", "adam", "partitioned", "sharded", "resource"])
def test_table_matches_tensorflow_checkpoint(case):
    r = run_cli("inspect", os.path.join(GOLDEN, case))  # a directory with a 'checkpoint' file
    assert r.code == 0, r
    expected = {k: v for k, v in EXPECTED[case].items()}
    rows = _rows(r.out)
    assert sorted(rows) == sorted(expected)
    for name, spec in expected.items():
        dtype, shape, nbytes = rows[name][:3]
        assert dtype == spec["dtype"], name
        assert shape == "[" + ",".join(map(str, spec["shape"])) + "]", name
        if spec["dtype"] != "string":
            itemsize = np.dtype("float16" if spec["dtype"] == "bfloat16" else spec["dtype"]).itemsize
            assert int(nbytes.replace(",", "")) == itemsize * int(np.prod(spec["shape"])), name
    total_values = sum(int(np.prod(s["shape"])) for s in expected.values())
    assert re.search(rf"^{len(expected)} tensors, {total_values:,} values, [\d,]+ bytes", r.out, re.M), r.out
    assert "2 data shards" in r.out if case == "sharded" else "1 data shard)" in r.out


def test_path_forms_name_the_same_checkpoint():
    prefix = os.path.join(GOLDEN, "adam", "model.ckpt")
    outs = [run_cli("inspect", p) for p in (prefix, prefix + ".index", prefix + ".data-00000-of-00001",
                                            os.path.join(GOLDEN, "adam"))]
    assert all(o.code == 0 for o in outs), outs
    assert len({o.out for o in outs}) == 1


def test_moved_folder_with_absolute_paths_in_its_checkpoint_file(tmp_path):
    shutil.copytree(os.path.join(GOLDEN, "adam"), tmp_path / "moved")
    (tmp_path / "moved" / "checkpoint").write_text('model_checkpoint_path: "/elsewhere/run/model.ckpt"\n')
    r = run_cli("inspect", tmp_path / "moved")
    assert r.code == 0, r
    assert r.out.startswith(f"checkpoint {tmp_path / 'moved' / 'model.ckpt'} ")


def test_tensor_values_and_stats():
    path = os.path.join(GOLDEN, "adam")
    r = run_cli("inspect", path, "--tensor", "w", "--tensor", "global_step", "--stats")
    assert r.code == 0, r
    w = np.array(EXPECTED["adam"]["w"]["values"], np.float32)
    assert "tensor_name: w  (float32 [3,4])" in r.out
    printed = re.search(r"tensor_name: w .*?\n(.*?)\nmin", r.out, re.S).group(1)
    np.testing.assert_allclose(np.array(printed.replace("[", " ").replace("]", " ").split(), np.float32), w,
                               rtol=1e-6)
    assert f"min {w.min():.6g} max {w.max():.6g} mean {w.astype(np.float64).mean():.6g}" in r.out
    assert "tensor_name: global_step  (int64 [])\n5\n" in r.out


def test_stats_table_and_all_tensors():
    r = run_cli("inspect", os.path.join(GOLDEN, "dtypes"), "--stats", "--all-tensors", "--full")
    assert r.code == 0, r
    rows = _rows(r.out)
    assert rows["i8"][3:] == ["-128", "127", "-0.333333", f"{np.std([-128, 127, 0]):.6g}"]
    assert rows["str_vec"][3:] == ["-"] * 4 and rows["empty_f32"][3:] == ["-"] * 4
    for name in EXPECTED["dtypes"]:
        assert f"tensor_name: {name} " in r.out
    long_string = base64.b64decode(EXPECTED["dtypes"]["str_vec"]["values"][3])
    assert repr(long_string)[2:40] in r.out  # --full: not summarised


def test_deferflow_written_checkpoint(df_checkpoint):
    prefix, values = df_checkpoint
    r = run_cli("inspect", os.path.dirname(prefix), "--stats")
    assert r.code == 0, r
    rows = _rows(r.out)
    assert sorted(rows) == sorted(values)
    assert rows["dense/kernel"][:3] == ["float32", "[3,2]", "24"]
    assert rows["words"][:2] == ["string", "[2]"]
    assert rows["global_step"][3] == "7"
    k = values["dense/kernel"].astype(np.float64)
    assert rows["dense/kernel"][3:7] == [f"{k.min():.6g}", f"{k.max():.6g}", f"{k.mean():.6g}", f"{k.std():.6g}"]


def test_unknown_tensor_names_closest():
    r = run_cli("inspect", os.path.join(GOLDEN, "adam"), "--tensor", "w_ou")
    assert_bad_input(r, "no tensor 'w_ou'", "did you mean", "'w_out'")


def test_bad_paths(tmp_path):
    assert_bad_input(run_cli("inspect", tmp_path / "nope"), "no such file or directory")
    assert_bad_input(run_cli("inspect", os.path.join(GOLDEN, "adam", "model.ckp")),
                     "model.ckp.index not found", "did you mean", "model.ckpt")
    assert_bad_input(run_cli("inspect", tmp_path), "holds no checkpoint")
    (tmp_path / "notes.txt").write_text("hello")
    assert_bad_input(run_cli("inspect", tmp_path / "notes.txt"), "not a TensorFlow V2 checkpoint")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "gone"\n')
    assert_bad_input(run_cli("inspect", tmp_path), "names checkpoint", "does not exist")


def test_corrupted_checkpoints(tmp_path):
    shutil.copytree(os.path.join(GOLDEN, "adam"), tmp_path / "c")
    data = tmp_path / "c" / "model.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[3] ^= 0x40
    data.write_bytes(bytes(raw))
    assert_bad_input(run_cli("inspect", tmp_path / "c", "--stats"), "checksum mismatch")
    assert_bad_input(run_cli("inspect", tmp_path / "c", "--tensor", "b"), "checksum mismatch")
    index = tmp_path / "c" / "model.ckpt.index"
    index.write_bytes(index.read_bytes()[:60])
    assert_bad_input(run_cli("inspect", tmp_path / "c"), "not a readable TensorFlow checkpoint")
    os.remove(tmp_path / "c" / "model.ckpt.data-00000-of-00001")
    shutil.copy(os.path.join(GOLDEN, "adam", "model.ckpt.index"), index)
    assert_bad_input(run_cli("inspect", tmp_path / "c"), "not found")


def test_saved_model_directory_means_its_variables():
    from cli_helpers import CLI_GOLDEN
    r = run_cli("inspect", os.path.join(CLI_GOLDEN, "saved_model"))
    assert r.code == 0, r
    assert r.out.startswith(f"checkpoint {os.path.join(CLI_GOLDEN, 'saved_model', 'variables', 'variables')}")
    assert sorted(_rows(r.out)) == ["conv1/biases", "conv1/weights", "fc7/biases", "fc7/weights", "fc8/biases",
                                    "fc8/weights"]


# --- V1 checkpoints (single TensorSliceWriter files; sharded: PREFIX-NNNNN-of-NNNNN) ---

V1 = os.path.join(GOLDEN, "v1")
with open(os.path.join(V1, "expected.json")) as f:
    EXPECTED_V1 = json.load(f)


@pytest.mark.parametrize("case", ["dtypes", "partitioned", "sharded"])
def test_v1_checkpoints(case):
    expected = EXPECTED_V1[case]["tensors"]
    saved = os.path.join(V1, EXPECTED_V1[case]["saved_path"])
    for path in (os.path.join(V1, case), saved, os.path.join(V1, case, "model.ckpt")):
        r = run_cli("inspect", path, "--stats")
        assert r.code == 0, r
        assert f"({2 if case == 'sharded' else 1} data shard" in r.out
        rows = _rows(r.out)
        assert sorted(rows) == sorted(expected)
        for name, spec in expected.items():
            assert rows[name][:2] == [spec["dtype"], "[" + ",".join(map(str, spec["shape"])) + "]"], name
            assert int(rows[name][2].replace(",", "")) > 0
            if spec["dtype"] in ("float32", "float64", "int32", "int64") and spec["values"]:
                assert rows[name][3:5] == [f"{min(spec['values']):.6g}", f"{max(spec['values']):.6g}"], name
    name = sorted(expected)[-1]
    r = run_cli("inspect", saved, "--tensor", name)
    assert r.code == 0 and f"tensor_name: {name}  ({expected[name]['dtype']}" in r.out, r


def test_v1_bad_files(tmp_path):
    shutil.copy(os.path.join(V1, "dtypes", "model.ckpt"), tmp_path / "model.ckpt")
    raw = bytearray((tmp_path / "model.ckpt").read_bytes())
    raw[100] ^= 0x01
    (tmp_path / "model.ckpt").write_bytes(bytes(raw))
    assert_bad_input(run_cli("inspect", tmp_path / "model.ckpt"), "model.ckpt", "checksum mismatch")
    assert_bad_input(run_cli("inspect", tmp_path), "model.ckpt", "checksum mismatch")  # found as the folder's only V1 file
    (tmp_path / "model.ckpt").write_bytes(bytes(raw[:-1]))  # no table footer: not a checkpoint at all
    assert_bad_input(run_cli("inspect", tmp_path / "model.ckpt"), "not a TensorFlow V2 checkpoint", "nor a V1")
    shutil.copy(os.path.join(V1, "sharded", "model.ckpt-00000-of-00002"), tmp_path / "s-00000-of-00002")
    assert_bad_input(run_cli("inspect", tmp_path / "s"), "s-00001-of-00002")
