"""The command line as a whole: help texts, the installed console script, argument errors."""
import os
import shutil

import pytest

from cli_helpers import GOLDEN, run_cli

COMMANDS = ["demo", "inspect", "graph", "diff", "convert"]


def test_top_level_help_lists_every_command_with_examples():
    r = run_cli("--help")
    assert r.code == 0, r
    for command in COMMANDS:
        assert f"  deferflow {command} " in r.out  # an example line
        assert f"    {command} " in r.out          # the command list
    assert run_cli().code == 2  # no command: help, exit 2


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_has_an_example(command):
    r = run_cli(command, "--help")
    assert r.code == 0, r
    assert f"usage: deferflow {command}" in r.out
    assert "examples:" in r.out and f"  deferflow {command} " in r.out.split("examples:", 1)[1]


def test_argument_errors_exit_2_without_traceback():
    for args in (["inspect"], ["frobnicate"], ["inspect", os.path.join(GOLDEN, "adam"), "--bogus"],
                 ["demo", "--steps", "x"], ["demo", "--steps", "2"]):
        r = run_cli(*args)
        assert r.code == 2, (args, r)
        assert "Traceback" not in r.err and "error:" in r.err, (args, r)


def test_installed_console_script_matches_python_m():
    script = shutil.which("deferflow")
    if script is None:
        pytest.skip("the deferflow console script is not installed (pip install -e .)")
    args = ("inspect", os.path.join(GOLDEN, "adam"), "--stats")
    via_script, via_module = run_cli(*args, entry=script), run_cli(*args)
    assert via_script.code == via_module.code == 0, via_script
    assert via_script.out == via_module.out
    bad = run_cli("inspect", "no/such/ckpt", entry=script)
    assert bad.code == 2 and bad.err.startswith("deferflow inspect: error:") and "Traceback" not in bad.err
