"""The ``barpipe`` console script, run as a user runs it: a subprocess of .venv/bin/barpipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

pytestmark = pytest.mark.slow

BARPIPE = Path(sys.executable).with_name("barpipe")
ROOT = Path(__file__).resolve().parents[2]


def barpipe(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    """Run the console script with a clean BARPIPE_ environment plus ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BARPIPE_")}
    environ.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [str(BARPIPE), *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def test_console_script_is_installed() -> None:
    assert BARPIPE.exists(), f"{BARPIPE} missing: run `make install`"


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ((), ["--debug", "generate", "run", "demo", "runs", "indicators", "config"]),
        (("generate",), ["--output", "--symbols", "--bars", "--freq", "--start", "--seed"]),
        (
            ("run",),
            [
                "--config",
                "--input",
                "--output",
                "--run-date",
                "--symbols",
                "--scheduler",
                "--workers",
                "--memory-limit",
                "--strict",
                "--debug",
            ],
        ),
        (("demo",), ["--output"]),
        (("runs",), ["--output", "--limit"]),
        (("indicators",), ["NAME"]),
        (("config",), ["--config", "--validate", "--set"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_help_on_every_command(command: tuple[str, ...], options: list[str]) -> None:
    result = barpipe(*command, "--help")
    assert result.returncode == 0, result.stderr
    missing = [o for o in options if o not in result.stdout]
    assert missing == []


def test_generate_writes_a_readable_dataset(tmp_path: Path) -> None:
    out = tmp_path / "bars"
    result = barpipe(
        "generate",
        "--output",
        str(out),
        "--symbols",
        "7",
        "--bars",
        "300",
        "--freq",
        "1h",
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 7 * 300
    assert len(set(table["symbol"].to_pylist())) == 7
    assert {"timestamp", "open", "high", "low", "close", "volume"} <= set(table.column_names)


def test_generate_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    tables = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ["generate", "-o", str(out), "-n", "3", "-b", "50", "--seed", "9", "--flat"]
        assert barpipe(*args).returncode == 0
        tables.append(ds.dataset(out, format="parquet").to_table().sort_by("symbol"))
    assert tables[0].equals(tables[1])


def test_generate_refuses_a_non_empty_output(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = barpipe("generate", "-o", str(tmp_path), "-n", "1", "-b", "10")
    assert "--overwrite" in assert_one_line_error(result, 2)
    assert (tmp_path / "keep.txt").exists()


def test_config_prints_resolved_yaml_with_overrides() -> None:
    result = barpipe(
        "config",
        "--config",
        "configs/default.yaml",
        "--set",
        "cluster.n_workers=4",
        env={"BARPIPE_CLUSTER__N_WORKERS": "3", "BARPIPE_BACKTEST__FEES_BPS": "2.5"},
    )
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["cluster"]["n_workers"] == 4  # --set beats the environment
    assert data["backtest"]["fees_bps"] == 2.5  # the environment beats the file


def test_config_validate_exit_codes(tmp_path: Path) -> None:
    assert barpipe("config", "--validate", "--config", "configs/default.yaml").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster:\n  n_worker: 2\n")
    line = assert_one_line_error(barpipe("config", "--validate", "--config", str(bad)), 2)
    assert "'cluster.n_worker'" in line
    assert "did you mean 'n_workers'?" in line


def test_config_bad_value_is_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("backtest:\n  direction: both\n")
    line = assert_one_line_error(barpipe("config", "--config", str(bad)), 2)
    assert "config key 'backtest.direction' = 'both' is not allowed" in line
    assert "long_only, long_short" in line


def test_bad_environment_variable_is_a_config_error() -> None:
    result = barpipe("config", env={"BARPIPE_CLUSTER__MEMORY_LIMIT": "lots"})
    line = assert_one_line_error(result, 2)
    assert "BARPIPE_CLUSTER__MEMORY_LIMIT" in line


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    result = barpipe("--debug", "config", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_usage_errors_are_one_line() -> None:
    assert "--workers" in assert_one_line_error(barpipe("run", "--workers", "0"), 2)
    assert_one_line_error(barpipe("no-such-command"), 2)


def test_indicators_lists_sma() -> None:
    result = barpipe("indicators")
    assert result.returncode == 0, result.stderr
    rows = {line.split("\t")[0]: line for line in result.stdout.splitlines()}
    assert "sma" in rows
    assert "timeperiod=30" in rows["sma"]


def test_runs_without_a_database_says_so(tmp_path: Path) -> None:
    line = assert_one_line_error(barpipe("runs", "--output", str(tmp_path)), 1)
    assert "no run database" in line


def test_an_output_root_delta_cannot_use_is_a_one_line_config_error(tmp_path: Path) -> None:
    """Output tables are Delta tables: a memory:// (or gcs://...) output root is refused
    before anything starts, naming the setting and value and listing what works."""
    result = barpipe(
        "run", "--input", str(tmp_path / "bars"), "--output", "memory://bp/out",
        "--set", f"output.db_path={tmp_path / 'b.db'}",
    )  # fmt: skip
    line = assert_one_line_error(result, 2)
    assert "'output.path' = 'memory://bp/out' is not allowed" in line
    assert "a local path, file://, s3:// or s3a://" in line
