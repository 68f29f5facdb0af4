"""The gateway runs numpy's BLAS on one thread unless the operator sets OPENBLAS_NUM_THREADS
(see gateway/__init__.py for the measurement behind it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# What OpenBLAS itself says after the gateway's entry point and numpy are loaded (numpy's
# wheels bundle scipy-openblas; another BLAS build gives -1 and the test skips).
PROBE = """
import ctypes, glob, os
import gateway.cli
import numpy
for lib in glob.glob(os.path.join(os.path.dirname(numpy.__file__), '..', 'numpy.libs', '*openblas*')):
    for name in ('scipy_openblas_get_num_threads64_', 'openblas_get_num_threads64_',
                 'openblas_get_num_threads'):
        fn = getattr(ctypes.CDLL(lib), name, None)
        if fn is not None:
            print(fn()); raise SystemExit
print(-1)
"""


def _blas_threads(env: dict[str, str]) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True)
    threads = int(out.stdout.strip())
    if threads < 0:
        pytest.skip("numpy is not linked with a bundled OpenBLAS here")
    return threads


def test_the_entry_point_gives_blas_one_thread() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _blas_threads(env) == 1


def test_an_operators_setting_is_kept() -> None:
    assert _blas_threads({**os.environ, "OPENBLAS_NUM_THREADS": "2"}) == 2
