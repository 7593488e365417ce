"""Integration fixtures: small datasets, one Prefect test harness per session, shared clusters.

Tests that run the flow in this process call ``run_nightly`` inside the Prefect harness.
Tests that run ``barpipe`` as a subprocess point it at the same harness server through
``PREFECT_API_URL`` (``cli_env``), which saves Prefect's ~15 s ephemeral start-up per
process, and may attach it to the session's ``shared_cluster`` with ``--scheduler``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from compute import synthetic
from flows.runtime import configure_prefect
from flows.settings import load_settings
from storage.bars import write_bars

BIN = Path(sys.executable).parent
STRATEGIES = ["momentum", "zscore", "ma_crossover", "bollinger"]


def make_dataset(root: Path, n_symbols: int = 6, n_bars: int = 400, seed: int = 3) -> Path:
    """Write ``n_symbols`` synthetic daily symbols to ``root`` (hive by symbol)."""

    def chunks():
        for i, name in enumerate(synthetic.symbol_names(n_symbols)):
            yield symbol_bars(name, n_bars, seed, index=i)

    write_bars(chunks(), root)
    return root


def symbol_bars(name: str | None, n_bars: int, seed: int = 3, index: int = 0) -> pa.Table:
    """One symbol's valid synthetic daily bars as a BARS table."""
    bars = synthetic.generate_symbol(n_bars, seed, index=index)
    return pa.table(
        {
            "symbol": pa.array([name] * n_bars, pa.string()),
            "timestamp": pa.array(bars["timestamp"], pa.timestamp("us", tz="UTC")),
            **{f: bars[f] for f in ("open", "high", "low", "close", "volume")},
        }
    )


def write_run_config(path: Path) -> Path:
    """A small, fast run config (1 local worker, rsi + the four strategies, no report)."""
    strategies = "".join(f"  - name: {s}\n" for s in STRATEGIES)
    path.write_text(
        "run:\n  report: false\n"
        "indicators:\n  - name: rsi\n"
        f"strategies:\n{strategies}"
        "metrics:\n  annualization: 252\n"
        "cluster:\n  n_workers: 1\n  threads_per_worker: 2\n  memory_limit: 2GB\n"
        "  dashboard_address: 127.0.0.1:0\n"
    )
    return path


def flow_settings(config: Path, input_path, output_path, **extra):
    """``config`` with the input, the output and a fixed run date, plus ``extra`` overrides."""
    overrides = {
        "input.path": str(input_path),
        "output.path": str(output_path),
        "run.run_date": "2026-11-20",
        **extra,
    }
    return load_settings(config, overrides=overrides)


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the ``barpipe`` console script; output captured as text."""
    return subprocess.run(
        [str(BIN / "barpipe"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """Prefect's own test harness (a temporary API server and database), once per session."""
    configure_prefect("WARNING")
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def cli_env(prefect_harness) -> dict[str, str]:
    """Environment for ``barpipe`` subprocesses: the harness's API, quiet Prefect, numba cache."""
    from prefect.settings import PREFECT_API_URL

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BARPIPE_", "PYTEST_")) and k != "PREFECT_API_URL"
    }
    env.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        PREFECT_LOGGING_LEVEL="WARNING",
        NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR")
        or str(Path(__file__).resolve().parents[2] / ".cache" / "numba"),
        COLUMNS="200",  # rich wraps narrower terminals; keep each message on one line
    )
    return env


@pytest.fixture(scope="session")
def shared_cluster():
    """One LocalCluster (1 worker, 2 threads, 127.0.0.1) that many short runs attach to."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        memory_limit="2GB",
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address="127.0.0.1:0",
        processes=True,
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="session")
def run_config(tmp_path_factory) -> Path:
    """The YAML config of every run in test_bad_input and test_faults, in-process or CLI."""
    return write_run_config(tmp_path_factory.mktemp("config") / "run.yaml")


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("bars") / "bars")
