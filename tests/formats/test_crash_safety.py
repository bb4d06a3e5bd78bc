"""A save killed at any moment leaves either the previous bundle or the complete new one."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
from conftest import ROOT

from deferflow.formats import bundle

CHILD = r"""
import os, sys, types
root, prefix = sys.argv[1], sys.argv[2]
pkg = types.ModuleType("deferflow")  # load deferflow.formats alone: it must not need the framework
pkg.__path__ = [os.path.join(root, "deferflow")]
sys.modules["deferflow"] = pkg
import numpy as np
from deferflow.formats import bundle
sets = [{f"t{k}": np.full(1 << 20, version * 1000 + k, np.float32) for k in range(8)} for version in (0, 1)]
for version in (0, 1):
    sets[version]["names"] = np.array([b"v%d" % version] * 3, dtype=object)
print("ready", flush=True)
i = 1
while True:  # alternate between the two versions, as fast as possible
    bundle.save(prefix, sets[i % 2])
    i += 1
"""


def _version_of(values):
    """0 or 1 if ``values`` is exactly one full version, else None."""
    version = int(values["t0"][0]) // 1000
    expected = {f"t{k}": np.full(1 << 20, version * 1000 + k, np.float32) for k in range(8)}
    ok = sorted(values) == sorted(list(expected) + ["names"]) and \
        values["names"].tolist() == [b"v%d" % version] * 3 and \
        all(np.array_equal(values[k], v) for k, v in expected.items())
    return version if ok else None


def test_killed_saves_never_damage_the_checkpoint(tmp_path):
    prefix = str(tmp_path / "model.ckpt")
    bundle.save(prefix, {f"t{k}": np.full(1 << 20, k, np.float32) for k in range(8)} |
                {"names": np.array([b"v0"] * 3, dtype=object)})
    rng = random.Random(1234)
    seen = set()
    for attempt in range(24):  # at least 6 kills; more (with longer waits) until both versions were seen
        if attempt >= 6 and seen == {0, 1}:
            break
        child = subprocess.Popen([sys.executable, "-c", CHILD, ROOT, prefix], stdout=subprocess.PIPE)
        try:
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.0, 0.4 * (1 + attempt // 6)))  # a loaded machine saves slower
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        version = _version_of(bundle.load(prefix))
        assert version is not None, f"kill {attempt} left a mixed checkpoint"
        seen.add(version)
        for name in os.listdir(tmp_path):  # final names are complete files; partial ones are temps
            assert name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001", "model.ckpt.data-00000-of-00002",
                            "model.ckpt.data-00001-of-00002") or ".tempstate" in name, name
    assert seen == {0, 1}  # kills landed both before and after commits
