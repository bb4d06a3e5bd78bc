"""Process-wide glibc malloc tuning for NumPy kernels.

Kernels allocate many multi-megabyte arrays per run. glibc serves those with fresh ``mmap`` regions and
returns them on free, so every run pays page faults to zero the same memory again (measured: about a third
of a conv-net training step). Raising the mmap and trim thresholds keeps such blocks in the heap for reuse.
Freed heap is kept up to 1 GiB, so a restore or a training step reuses warm memory instead of faulting in fresh
pages (a restore of 512 MiB: 1.9 -> 3.9 GB/s median on the project machine).
Set ``DEFERFLOW_MALLOC_TUNING=0`` (or glibc's own ``MALLOC_*_`` variables) to leave malloc alone.
"""
import ctypes
import os
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20  # blocks below this come from the heap
TRIM_THRESHOLD = 1 << 30  # free heap above this is returned to the system (keeps a restore's buffers warm)


def tune():
    """Applies the thresholds once; returns True when malloc was tuned."""
    if os.environ.get("DEFERFLOW_MALLOC_TUNING", "1") == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False  # the user tuned glibc already
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


TUNED = tune()
