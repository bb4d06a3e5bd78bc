"""The example scripts run as documented."""
import os
import subprocess
import sys

from cli_helpers import CLI_GOLDEN

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")


def _run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_seed_walkthrough(tmp_path):
    proc = _run(os.path.join(EXAMPLES, "seed_walkthrough.py"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "(w1 + w2) * bias = 24.0" in lines and "restored with new feeds = 60.0" in lines
    assert "with an added op = 120.0" in lines and lines[-1] == "seed walk-through: all values as in the document"
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".meta")) == ["my_test_model-1000.meta"]


def test_vgg_finetune_on_a_tensorflow_written_model():
    """Fine-tunes a new head on fc7 of a net TensorFlow trained and saved; the restored weights stay put."""
    proc = _run(os.path.join(EXAMPLES, "vgg_finetune.py"), os.path.join(CLI_GOLDEN, "convnet"))
    assert proc.returncode == 0, proc.stderr
    assert "21 restored variables unchanged by fine-tuning: True" in proc.stdout
    assert '"is the digit at least 5?" held-out accuracy after 200 steps: ' in proc.stdout
