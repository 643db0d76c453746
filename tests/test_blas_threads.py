"""numpy's BLAS runs on the calling thread once liveavatar is imported (liveavatar/__init__.py).

OpenBLAS starts a thread per core that spins after every call; the live path's small per-frame products
(retargeting, the driver's-mouth colour map) kept those threads spinning and took a core from ONNX Runtime
(docs/PERFORMANCE.md). Counted here as the process's threads after a product, in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COUNT = "import os, numpy as np; a = np.ones((300, 300)); a @ a; print(len(os.listdir('/proc/self/task')))"


def threads_after_a_product(prelude: str, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", prelude + COUNT], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_importing_liveavatar_keeps_numpys_blas_on_one_thread():
    if not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2:
        pytest.skip("counts threads through /proc (Linux), where OpenBLAS would start more than one (2+ cores)")
    bare = threads_after_a_product("")
    assert threads_after_a_product("import liveavatar; ") < bare  # no BLAS pool
    assert threads_after_a_product("import liveavatar; ", OPENBLAS_NUM_THREADS="2") == bare  # the user's own value
