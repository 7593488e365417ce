"""Issue 12 through the console script: a run without a config does the work, and no input
shape, signal or setting loses rows, hangs, or opens a port beyond ``cluster.host``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from compute.planner import min_worker_memory

from .conftest import run_cli

pytestmark = pytest.mark.slow


def test_readme_first_example_produces_trades_for_the_four_strategies(
    tmp_path: Path, cli_env, shared_cluster
) -> None:
    bars, out = tmp_path / "bars", tmp_path / "out"
    generated = run_cli(
        ["generate", "--output", str(bars), "--symbols", "3", "--bars", "400", "--freq", "1h"],
        cli_env,
    )
    assert generated.returncode == 0, generated.stderr
    # the README's command, with no --config, attached to the session's cluster to stay fast
    ran = run_cli(
        ["run", "--input", str(bars), "--output", str(out), "--run-date", "2026-11-23",
         "--scheduler", shared_cluster],
        cli_env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    trades = ds.dataset(out / "trades", partitioning="hive").to_table()
    assert trades.num_rows > 0
    assert set(trades["strategy"].to_pylist()) == {
        "momentum",
        "zscore",
        "ma_crossover",
        "bollinger",
    }
    with sqlite3.connect(out / "barpipe.db") as conn:
        assert conn.execute("SELECT status, n_trades FROM runs").fetchone() == (
            "succeeded",
            trades.num_rows,
        )


def test_a_config_that_computes_nothing_exits_2_saying_what_to_add(tmp_path: Path, cli_env) -> None:
    config = tmp_path / "nothing.yaml"
    config.write_text("strategies: []\nindicators: []\n")
    result = run_cli(["run", "--config", str(config), "--input", str(tmp_path)], cli_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "compute nothing" in lines[0]
    assert "add strategies" in lines[0]


@pytest.mark.parametrize(
    ("limit", "says"),
    [
        ("50MB", "cluster.memory_limit (--memory-limit) = '50MB' is too small"),
        ("1KB", f"at least --memory-limit {-(-min_worker_memory(1) // 2**20)}MiB"),
        ("1e400", "config key 'cluster.memory_limit' = '1e400' is not allowed"),
    ],
)
def test_a_memory_limit_that_cannot_work_exits_2_without_hanging(
    tmp_path: Path, cli_env, small_dataset, limit, says
) -> None:
    result = run_cli(
        ["run", "--input", str(small_dataset), "--output", str(tmp_path / "out"),
         "--memory-limit", limit, "--workers", "1"],
        cli_env,
        timeout=120,  # the defect was a hang with no output
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]
