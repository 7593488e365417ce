"""Issue 12 through the console script: a run without a config does the work, and no input
shape, signal or setting loses rows, hangs, or opens a port beyond ``cluster.host``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from compute.planner import min_worker_memory

from .conftest import BIN, run_cli, symbol_bars

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, cli_env, shared_cluster) -> Path:
    """The README's first example, small: generate bars, then `barpipe run` with no --config
    (attached to the session's cluster to stay fast). Returns the output root."""
    base = tmp_path_factory.mktemp("readme")
    bars, out = base / "bars", base / "out"
    generated = run_cli(
        ["generate", "--output", str(bars), "--symbols", "3", "--bars", "400", "--freq", "1h"],
        cli_env,
    )
    assert generated.returncode == 0, generated.stderr
    ran = run_cli(
        ["run", "--input", str(bars), "--output", str(out), "--run-date", "2026-11-23",
         "--scheduler", shared_cluster],
        cli_env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return out


def test_readme_first_example_produces_trades_for_the_four_strategies(default_run: Path) -> None:
    trades = ds.dataset(default_run / "trades", partitioning="hive").to_table()
    assert trades.num_rows > 0
    assert set(trades["strategy"].to_pylist()) == {
        "momentum",
        "zscore",
        "ma_crossover",
        "bollinger",
    }
    with contextlib.closing(sqlite3.connect(default_run / "barpipe.db")) as conn:
        assert conn.execute("SELECT status, n_trades FROM runs").fetchone() == (
            "succeeded",
            trades.num_rows,
        )


def _read_only(root: Path, *command: str) -> subprocess.CompletedProcess:
    """``command`` with ``root`` mounted read-only in a private mount namespace (even root
    cannot write there; the rest of the machine does not see the mount)."""
    script = (
        f'mount --bind "{root}" "{root}" && mount -o remount,ro,bind "{root}" && '
        f'! touch "{root}/probe" 2>/dev/null && exec "$@"'
    )
    return subprocess.run(
        ["unshare", "--map-root-user", "--mount", "sh", "-c", script, "sh", *command],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )  # fmt: skip


def _can_mount_read_only(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    return _read_only(tmp_path, "true").returncode == 0


def test_runs_and_report_work_on_a_read_only_output_root(default_run: Path, tmp_path: Path) -> None:
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs `unshare --map-root-user --mount` to mount a read-only output root")
    barpipe = str(BIN / "barpipe")
    listed = _read_only(default_run, barpipe, "runs", "--output", str(default_run))
    assert listed.returncode == 0, listed.stderr
    assert "succeeded" in listed.stdout
    report = tmp_path / "elsewhere" / "report.html"
    written = _read_only(
        default_run, barpipe, "report", "--output", str(default_run), "--to", str(report)
    )
    assert written.returncode == 0, written.stderr
    assert report.read_text().startswith("<!DOCTYPE html>")
    refused = _read_only(default_run, barpipe, "report", "--output", str(default_run))
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith(f"error: cannot write the report to {default_run}")


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


# --------------------------------------------------------------------------- a run held mid-way


class HeldRun:
    """``barpipe run`` in its own process group, held after its first batch (pause_for_test)."""

    def __init__(self, tmp_path: Path, env: dict[str, str], data: Path, *extra: str) -> None:
        self.out = tmp_path / "out"
        self.signal_file = tmp_path / "paused"
        env = {
            **env,
            "BARPIPETEST_PAUSE_AT": "batch",
            "BARPIPETEST_PAUSE_SIGNAL": str(self.signal_file),
            "BARPIPETEST_PAUSE_RELEASE": str(tmp_path / "release"),
            "BARPIPETEST_PAUSE_S": "120",
        }
        self.process = subprocess.Popen(
            [str(BIN / "barpipe"), "run", "--input", str(data), "--output", str(self.out),
             "--run-date", "2026-11-23", "--workers", "1", "--memory-limit", "1GB", *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # its own process group, as a shell gives a foreground job
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while not (self.signal_file.exists() and self.signal_file.read_text().strip()):
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the run never reached its first batch"
            time.sleep(0.2)

    def release(self) -> None:
        (self.signal_file.parent / "release").touch()

    def finish(self) -> tuple[int, str, str]:
        stdout, stderr = self.process.communicate(timeout=120)
        return self.process.returncode, stdout, stderr

    def processes(self) -> list[psutil.Process]:
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]


def test_every_listener_of_a_run_binds_cluster_host_with_dashboard_port_only(
    tmp_path: Path, cli_env, small_dataset
) -> None:
    run = HeldRun(tmp_path, cli_env, small_dataset, "--set", "cluster.dashboard_address=:0")
    try:
        listening = [
            (p.pid, " ".join(p.cmdline()[:3]), c.laddr)
            for p in run.processes()
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
    finally:
        run.release()
    code, stdout, stderr = run.finish()
    assert code == 0, stderr
    assert len({pid for pid, _, _ in listening}) >= 2  # the CLI (scheduler, dashboard) and a worker
    assert [entry for entry in listening if entry[2].ip != "127.0.0.1"] == []
    dashboard = next(line for line in stdout.splitlines() if line.startswith("Dask dashboard:"))
    port = int(dashboard.rsplit(":", 1)[1].split("/")[0])
    assert port in {addr.port for _, _, addr in listening}


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_an_interrupted_run_says_so_in_one_line_and_leaves_nothing_to_clean(
    tmp_path: Path, cli_env, small_dataset, signum, code
) -> None:
    run = HeldRun(tmp_path, cli_env, small_dataset, "--set", "cluster.dashboard_address=:0")
    os.killpg(run.process.pid, signum)  # what Ctrl-C in a terminal does: the whole group
    returncode, _stdout, stderr = run.finish()
    assert returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr  # no worker tracebacks, no Prefect crash report
    name = signal.Signals(signum).name
    assert lines[0].startswith(f"error: interrupted by {name}")
    assert "is recorded as failed and nothing of it was published" in lines[0]
    staging = run.out / "_staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    assert not (run.out / "trades").exists()
    with sqlite3.connect(run.out / "barpipe.db") as conn:
        rows = conn.execute("SELECT run_id, status, error FROM runs").fetchall()
    assert len(rows) == 1
    assert rows[0][0] in lines[0]
    assert rows[0][1:] == (
        "failed",
        f"interrupted by {name}" + (" (Ctrl-C)" if name == "SIGINT" else ""),
    )


def test_a_null_timestamp_is_quarantined_with_a_dates_filter_and_every_row_counted(
    tmp_path: Path, cli_env, shared_cluster
) -> None:
    bad = symbol_bars("NULLTS", 200, index=0)
    times = bad["timestamp"].to_pylist()
    times[77] = None
    bad = bad.set_column(1, "timestamp", pa.array(times, bad.schema.field("timestamp").type))
    data = tmp_path / "bars"
    data.mkdir()
    pq.write_table(pa.concat_tables([bad, symbol_bars("GOOD", 200, index=1)]), data / "x.parquet")
    out = tmp_path / "out"
    ran = run_cli(
        ["run", "--input", str(data), "--output", str(out), "--run-date", "2026-11-23",
         "--scheduler", shared_cluster, "--set", "dates.start=1990-01-01", "--set", "run.report=false"],
        cli_env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    with contextlib.closing(sqlite3.connect(out / "barpipe.db")) as conn:
        counts = conn.execute(
            "SELECT n_rows_in, n_rows_processed, n_rows_quarantined FROM runs"
        ).fetchone()
        quarantined = conn.execute("SELECT symbol, reason, n_rows FROM quarantine").fetchall()
    assert counts == (400, 200, 200)
    assert quarantined == [("NULLTS", "null_value", 200)]
