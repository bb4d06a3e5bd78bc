"""Helpers for the command-line tests: run the real console script in a subprocess."""
import os
import subprocess
import sys


HERE = os.path.dirname(os.path.abspath(__file__))
CLI_GOLDEN = os.path.join(HERE, "golden")              # written by TensorFlow (tests/cli/golden/make_golden.py)
GOLDEN = os.path.join(os.path.dirname(HERE), "golden")  # the formats layer's TF-written checkpoints


class Result:
    def __init__(self, proc):
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr

    def __repr__(self):
        return f"<exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}>"


def run_cli(*args, cwd=None, entry=None):
    """``python -m deferflow ARGS`` (or ``entry``, e.g. the installed ``deferflow`` script) -> Result."""
    cmd = [entry] if entry else [sys.executable, "-m", "deferflow"]
    env = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="120")
    proc = subprocess.run(cmd + [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    return Result(proc)


def assert_bad_input(result, *needles):
    """Exit status 2, one line on stderr containing every needle, no traceback."""
    assert result.code == 2, result
    assert "Traceback" not in result.err, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result
    for needle in needles:
        assert needle in lines[0], result
