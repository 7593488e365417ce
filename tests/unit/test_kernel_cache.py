"""numba's cache keeps the kernels of each version of compute/kernels' sources apart
(compute/kernels/__init__.py): kernels inline other modules' kernels, and numba checks only
the cached function's own file."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from compute import kernels

ROOT = Path(__file__).resolve().parents[2]


def test_the_digest_changes_with_any_kernel_source(tmp_path):
    copy = tmp_path / "kernels"
    shutil.copytree(
        Path(kernels.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    assert kernels.source_digest(copy) == kernels.SOURCE_DIGEST
    with open(copy / "ma.py", "a") as f:
        f.write("\n# an edit\n")
    assert kernels.source_digest(copy) != kernels.SOURCE_DIGEST


def test_kernels_compile_into_the_folder_of_their_sources_digest(tmp_path):
    code = (
        "import json, numpy as np, numba\n"
        "from compute import indicators, kernels\n"
        "out = indicators.compute('sma', {'close': np.arange(50.0)}, timeperiod=5)\n"
        "print(json.dumps([numba.config.CACHE_DIR, kernels.SOURCE_DIGEST]))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    cache_dir, digest = json.loads(done.stdout.strip().splitlines()[-1])
    assert cache_dir == str(tmp_path / f"kernels-{digest}")
    assert [p.name for p in tmp_path.iterdir()] == [f"kernels-{digest}"]
    assert list((tmp_path / f"kernels-{digest}").rglob("*.nbi")), "no kernel was cached"
