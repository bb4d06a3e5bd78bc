"""Capping NumPy's BLAS threads at run time (its OpenBLAS reads OPENBLAS_NUM_THREADS only when loaded).

The demo's matrices are small: two BLAS threads spinning against each other and against other work
on a 2-core machine made it 5-10x slower than one thread, so the demo runs with one unless the user
chose a thread count through the environment.
"""
import ctypes
import glob
import os

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads_64_",
            "scipy_openblas_set_num_threads", "openblas_set_num_threads64_", "openblas_set_num_threads")
_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def set_blas_threads(n):
    """Sets NumPy's OpenBLAS thread count; returns False where NumPy uses another BLAS."""
    import numpy
    libs = glob.glob(os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                return True
    return False


def default_to_one_thread():
    """One BLAS thread unless the environment already says how many."""
    if not any(os.environ.get(v) for v in _ENV):
        return set_blas_threads(1)
    return False
