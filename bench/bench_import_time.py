"""``python -c "import deferflow"`` against ``import tensorflow``: wall time and peak memory, in one run.

Run: ``python bench/bench_import_time.py [--repeat N]``. Each import runs in a fresh interpreter
(median wall time of N runs after one warm-up, peak resident memory of the child from wait4), with
a bytecode cache as any normal install has (in a temporary PYTHONPYCACHEPREFIX, even where
PYTHONDONTWRITEBYTECODE is set) and, for deferflow, also without one. Also prints the slowest
modules of deferflow's import (``-X importtime``, self time) and the installed size of deferflow with
its runtime dependencies. Targets: under 0.3 s and under 60 MB.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_SECONDS, TARGET_MB = 0.3, 60
DEPENDENCIES = ["deferflow", "numpy", "protobuf", "google-crc32c", "ml_dtypes"]


def measure(code, repeat, cache_dir=None):
    """(median seconds, max peak RSS in MB) of ``python -c code`` run ``repeat`` times after a warm-up.

    ``cache_dir``: the bytecode cache (PYTHONPYCACHEPREFIX); None compiles every module on every run.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cache_dir:
        env["PYTHONPYCACHEPREFIX"] = cache_dir
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp()  # empty: nothing cached to read
    times, peaks = [], []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - t0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode:
            return None, err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
        if i:  # the first run fills the cache and the OS file cache
            peaks.append(usage.ru_maxrss / 1024)  # Linux reports kilobytes
        else:
            times.pop()
    return statistics.median(times), max(peaks)


def import_profile(cache_dir):
    """[(self ms, cumulative ms, module)] of every module ``import deferflow`` loads (-X importtime)."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=cache_dir)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import deferflow"], capture_output=True,
                          text=True, env=env)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (p.strip() for p in line[len("import time:"):].split("|"))
        rows.append((int(self_us) / 1000, int(cum_us) / 1000, name.strip()))
    return sorted(rows, reverse=True)


def by_package(rows):
    """{top-level package: self ms} ('google' is protobuf)."""
    out = {}
    for self_ms, _, name in rows:
        top = name.split(".")[0]
        out[top] = out.get(top, 0.0) + self_ms
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def installed_sizes(names):
    """{distribution: bytes on disk} from the files each distribution installed (editable: its package dir)."""
    from importlib import metadata

    sizes = {}
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total = 0
        for f in dist.files or []:
            path = f.locate()
            if os.path.isfile(path):
                total += os.path.getsize(path)
        if name == "deferflow":  # an editable install lists no package files: measure the package itself
            import deferflow
            root = os.path.dirname(deferflow.__file__)
            total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root)
                        if "__pycache__" not in d for f in fs)
        sizes[name] = total
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="pycache-")
    try:
        report(args.repeat, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def report(repeat, cache):
    ours = measure("import deferflow", repeat, cache)
    theirs = measure("import tensorflow", max(1, repeat // 2), cache)
    cold = measure("import deferflow", max(1, repeat // 2))
    print(f"import deferflow:  {ours[0]:.3f} s, peak {ours[1]:.0f} MB "
          f"(target < {TARGET_SECONDS} s, < {TARGET_MB} MB: "
          f"{'met' if ours[0] < TARGET_SECONDS and ours[1] < TARGET_MB else 'NOT met'})")
    if theirs[0] is None:
        print(f"import tensorflow: not available ({theirs[1]})")
    else:
        print(f"import tensorflow: {theirs[0]:.3f} s, peak {theirs[1]:.0f} MB "
              f"(deferflow {theirs[0] / ours[0]:.1f}x faster, {theirs[1] / ours[1]:.1f}x less memory)")
    base = measure("import numpy", repeat, cache)
    print(f"  for scale, import numpy alone: {base[0]:.3f} s, peak {base[1]:.0f} MB")
    print(f"  deferflow without a bytecode cache (PYTHONDONTWRITEBYTECODE, every module compiled): "
          f"{cold[0]:.3f} s, peak {cold[1]:.0f} MB")
    rows = import_profile(cache)
    print(f"\n`import deferflow` by package (-X importtime self time, {sum(r[0] for r in rows):.0f} ms in all):")
    print("  " + ", ".join(f"{k} {v:.0f} ms" for k, v in list(by_package(rows).items())[:8]))
    print("slowest modules (self ms, cumulative ms):")
    for self_ms, cum_ms, name in rows[:12]:
        print(f"  {self_ms:7.1f} {cum_ms:8.1f}  {name}")
    sizes = installed_sizes(DEPENDENCIES)
    print("\ninstalled size (files each distribution installed):")
    for name, size in sizes.items():
        print(f"  {name:<15} {size / 1e6:7.1f} MB")
    print(f"  {'total':<15} {sum(sizes.values()) / 1e6:7.1f} MB")
    tf_sizes = installed_sizes(["tensorflow", "tensorflow-cpu"])
    if tf_sizes:
        print(f"  for scale, TensorFlow alone: {max(tf_sizes.values()) / 1e6:.0f} MB (without its dependencies)")


if __name__ == "__main__":
    main()
