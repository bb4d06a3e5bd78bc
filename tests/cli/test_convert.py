"""`deferflow convert`: checkpoint -> .npz/.safetensors and back, on TF-written and deferflow-written files."""
import base64
import json
import os

import numpy as np
import pytest

from cli_helpers import GOLDEN, assert_bad_input, run_cli

with open(os.path.join(GOLDEN, "expected.json")) as f:
    EXPECTED = json.load(f)


def _expected(spec):
    if spec["dtype"] == "string":
        return np.array([base64.b64decode(v) for v in spec["values"]], dtype=object).reshape(spec["shape"])
    import ml_dtypes
    dtype = getattr(ml_dtypes, spec["dtype"], None) or spec["dtype"]
    return np.array(spec["values"], dtype=np.float64 if spec["dtype"] == "bfloat16" else dtype).astype(
        dtype).reshape(spec["shape"])


def _same(a, b):
    if a.dtype == object:
        return a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("case", ["dtypes", "partitioned", "sharded"])
def test_npz_round_trip_of_tensorflow_checkpoints(case, tmp_path):
    r = run_cli("convert", os.path.join(GOLDEN, case), tmp_path / "w.npz")
    assert r.code == 0, r
    assert r.out.startswith(f"wrote {tmp_path / 'w.npz'} ({len(EXPECTED[case])} tensors")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as z:  # no pickles needed
        stored = {k: z[k] for k in z.files}
    if case == "dtypes":
        assert json.loads(stored.pop("__deferflow_dtypes__").item()) == {"bf16": "bfloat16"}
        assert stored["bf16"].dtype == np.uint16 and stored["str_vec"].dtype.kind == "S"
    assert sorted(stored) == sorted(EXPECTED[case])
    r = run_cli("convert", "--from", tmp_path / "w.npz", tmp_path / "back" / "model.ckpt")
    assert r.code == 0, r
    from deferflow.formats import bundle
    back = bundle.load(str(tmp_path / "back" / "model.ckpt"))
    for name, spec in EXPECTED[case].items():
        assert _same(back[name], _expected(spec)), name
    assert (tmp_path / "back" / "checkpoint").read_text().startswith('model_checkpoint_path: "model.ckpt"')


def test_safetensors_round_trip(tmp_path):
    pytest.importorskip("safetensors")
    r = run_cli("convert", os.path.join(GOLDEN, "dtypes"), tmp_path / "w.safetensors")
    assert r.code == 0, r
    assert sorted(line.split()[1] for line in r.err.splitlines()) == ["str_scalar", "str_vec"]  # skipped
    import safetensors
    with open(tmp_path / "w.safetensors", "rb") as f:
        items = dict(safetensors.deserialize(f.read()))
    assert items["bf16"]["dtype"] == "BF16" and items["scalar_f32"]["shape"] == []
    (tmp_path / "back").mkdir()
    r = run_cli("convert", "--from", tmp_path / "w.safetensors", tmp_path / "back")  # a directory: back/model.ckpt
    assert r.code == 0, r
    from deferflow.formats import bundle
    back = bundle.load(str(tmp_path / "back" / "model.ckpt"))
    assert sorted(back) == sorted(k for k in EXPECTED["dtypes"] if not k.startswith("str"))
    for name, array in back.items():
        assert _same(array, _expected(EXPECTED["dtypes"][name])), name


def test_tensorflow_reads_a_converted_checkpoint(tmp_path, df_checkpoint, tf_real):
    prefix, values = df_checkpoint
    assert run_cli("convert", prefix, tmp_path / "w.npz").code == 0
    r = run_cli("convert", "--from", tmp_path / "w.npz", tmp_path / "tf" / "model")
    assert r.code == 0, r
    latest = tf_real.train.latest_checkpoint(str(tmp_path / "tf"))
    assert latest == str(tmp_path / "tf" / "model")
    reader = tf_real.train.load_checkpoint(latest)
    assert sorted(reader.get_variable_to_shape_map()) == sorted(values)
    for name, value in values.items():
        got = reader.get_tensor(name)
        assert (got.tolist() == value.tolist()) if value.dtype == object else np.array_equal(got, value), name


def test_bad_input(tmp_path):
    ckpt = os.path.join(GOLDEN, "adam")
    assert_bad_input(run_cli("convert", ckpt, tmp_path / "w.txt"), "unsupported format .txt")
    assert_bad_input(run_cli("convert", ckpt, tmp_path / "nodir" / "w.npz"), "does not exist")
    assert_bad_input(run_cli("convert", tmp_path / "nope", tmp_path / "w.npz"), "no such file or directory")
    assert_bad_input(run_cli("convert", "--from", tmp_path / "nope.npz", tmp_path / "m"), "no such file")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert_bad_input(run_cli("convert", "--from", tmp_path / "bad.npz", tmp_path / "m"), "not a readable .npz")
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    assert_bad_input(run_cli("convert", "--from", tmp_path / "obj.npz", tmp_path / "m"), "without pickles")
    if __import__("importlib").util.find_spec("safetensors"):
        (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 20)
        assert_bad_input(run_cli("convert", "--from", tmp_path / "bad.safetensors", tmp_path / "m"),
                         "not a readable .safetensors")
