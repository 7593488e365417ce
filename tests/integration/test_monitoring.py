"""What an operator sees of a run: console output, `run_stages`, `barpipe.prom`, the progress bar.

`barpipe run` runs twice as a user runs it, once with stdout on a pseudo-terminal and once on a
pipe, against the session's Prefect test server (so neither pays for an ephemeral server).
The dataset has one symbol too short to use, so the quarantine figures are not all zero.
"""

from __future__ import annotations

import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from compute import synthetic
from storage.bars import write_bars

pytestmark = pytest.mark.slow

BARPIPE = Path(sys.executable).with_name("barpipe")
ROOT = Path(__file__).resolve().parents[2]
STAGES = ("load", "validate", "kernels", "backtest", "metrics", "write", "publish")
N_GOOD, N_BARS, SHORT_BARS = 4, 300, 40
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


def _write_dataset(root: Path) -> Path:
    """N_GOOD symbols of N_BARS daily bars and one of SHORT_BARS (quarantined: too few bars)."""

    def chunks():
        names = synthetic.symbol_names(N_GOOD + 1)
        for i, name in enumerate(names):
            n = N_BARS if i < N_GOOD else SHORT_BARS
            bars = synthetic.generate_symbol(n, 11, index=i)
            yield pa.table(
                {
                    "symbol": pa.array([name] * n, pa.string()),
                    "timestamp": pa.array(bars["timestamp"], pa.timestamp("us", tz="UTC")),
                    **{f: bars[f] for f in ("open", "high", "low", "close", "volume")},
                }
            )

    write_bars(chunks(), root)
    return root


@dataclass
class Run:
    output: Path
    text: str  # what the user saw, ANSI escapes removed
    raw: str
    returncode: int


def _env(api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARPIPE_")}
    env.update({"PREFECT_API_URL": api_url, "COLUMNS": "160", "TERM": "xterm-256color"})
    env.pop("NO_COLOR", None)
    return env


def _args(config: Path, output: Path) -> list[str]:
    return [str(BARPIPE), "run", "--config", str(config), "--output", str(output)]


def _run_on_pipe(config: Path, output: Path, api_url: str) -> Run:
    result = subprocess.run(
        _args(config, output),
        capture_output=True,
        text=True,
        env=_env(api_url),
        cwd=ROOT,
        timeout=300,
    )
    raw = result.stdout + result.stderr
    return Run(output, ANSI.sub("", raw), raw, result.returncode)


def _run_on_pty(config: Path, output: Path, api_url: str) -> Run:
    """Run with stdout and stderr on a pseudo-terminal; return everything it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        _args(config, output),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=_env(api_url),
        cwd=ROOT,
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    raw = b"".join(chunks).decode("utf-8", "replace")
    return Run(output, ANSI.sub("", raw).replace("\r", "\n"), raw, code)


@pytest.fixture(scope="module")
def runs(prefect_harness, tmp_path_factory) -> dict[str, Run]:
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    base = tmp_path_factory.mktemp("monitoring")
    bars = _write_dataset(base / "bars")
    config = base / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "input": {"path": str(bars)},
                "run": {"run_date": "2026-11-20", "report": False},
                "universe": {"min_bars": 100},
                "strategies": [{"name": "momentum"}, {"name": "ma_crossover"}],
                "indicators": [],
                "metrics": {"annualization": 252},
                # one symbol per batch: several batches, so the bar has steps to show
                "batches": {"max_symbols_per_batch": 1},
                "cluster": {
                    "n_workers": 2,
                    "threads_per_worker": 1,
                    "memory_limit": "1GB",
                    "dashboard_address": "127.0.0.1:0",
                },
            }
        )
    )
    return {
        "pipe": _run_on_pipe(config, base / "out-pipe", api_url),
        "tty": _run_on_pty(config, base / "out-tty", api_url),
    }


@pytest.fixture(scope="module")
def pipe_run(runs) -> Run:
    run = runs["pipe"]
    assert run.returncode == 0, run.text[-3000:]
    return run


def _stages_line(text: str) -> str:
    lines = [line for line in text.splitlines() if "stages (summed over tasks):" in line]
    assert len(lines) == 1, text[-3000:]
    return lines[0]


def _db_rows(output: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(output / "barpipe.db") as conn:
        return conn.execute(sql).fetchall()


def test_run_prints_the_dashboard_link_first(pipe_run: Run) -> None:
    links = re.findall(r"Dask dashboard: (http://127\.0\.0\.1:(\d+)/status)", pipe_run.text)
    assert len(links) == 1, pipe_run.text[-3000:]
    assert int(links[0][1]) > 0
    assert pipe_run.text.index("Dask dashboard:") < pipe_run.text.index("stages (summed")


def test_run_prints_stage_timings_and_peak_memory(pipe_run: Run) -> None:
    line = _stages_line(pipe_run.text)
    timings = dict(re.findall(r"(\w+) ([0-9.]+(?:s|min))", line))
    assert set(STAGES) <= set(timings), line
    peak = re.search(
        r"peak memory: ([0-9,]+) MiB on the busiest of (\d+) worker\(s\)", pipe_run.text
    )
    assert peak is not None, pipe_run.text[-3000:]
    assert 20 < int(peak.group(1).replace(",", "")) < 4096  # a worker process, not bytes or GiB
    assert peak.group(2) == "2"


def test_run_stages_has_every_stage_and_each_workers_peak_rss(pipe_run: Run) -> None:
    (run_id,) = _db_rows(pipe_run.output, "SELECT run_id FROM runs WHERE status = 'succeeded'")[0]
    rows = _db_rows(
        pipe_run.output,
        f"SELECT stage, seconds, peak_rss_bytes, worker FROM run_stages WHERE run_id = '{run_id}'",
    )
    seconds = {stage: sec for stage, sec, _, _ in rows if sec is not None}
    assert set(STAGES) <= set(seconds), rows
    assert all(seconds[s] >= 0 for s in STAGES)
    peaks = {worker: rss for _, _, rss, worker in rows if worker is not None and rss is not None}
    assert len(peaks) == 2, rows  # one peak per worker of the LocalCluster
    assert all(20 * 2**20 < rss < 4 * 2**30 for rss in peaks.values()), peaks


def test_prometheus_file_parses_and_has_the_run_figures(pipe_run: Run) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = (pipe_run.output / "barpipe.prom").read_text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    run = _db_rows(
        pipe_run.output,
        "SELECT n_bars, n_symbols, n_trades, n_quarantined FROM runs WHERE status = 'succeeded'",
    )
    n_bars, n_symbols, n_trades, n_quarantined = run[0]
    assert (n_bars, n_symbols, n_quarantined) == (N_GOOD * N_BARS, N_GOOD, 1)
    assert samples[("barpipe_bars_processed_total", ())] == n_bars
    assert samples[("barpipe_symbols_processed_total", ())] == n_symbols
    long, short = (samples[("barpipe_trades_total", (("side", s),))] for s in ("long", "short"))
    assert long + short == n_trades > 0
    assert samples[("barpipe_quarantined_symbols", ())] == 1
    assert samples[("barpipe_run_duration_seconds", ())] > 0
    for stage in STAGES:
        assert samples[("barpipe_stage_seconds", (("stage", stage),))] >= 0
    assert abs(samples[("barpipe_last_success_timestamp_seconds", ())] - time.time()) < 3600
    assert samples[("barpipe_run_status", (("status", "succeeded"),))] == 1
    leftovers = [p.name for p in pipe_run.output.iterdir() if p.name.startswith(".barpipe.prom")]
    assert leftovers == []  # written through a temporary file and a rename


def test_no_progress_bar_when_stdout_is_not_a_terminal(pipe_run: Run) -> None:
    assert "\x1b[" not in pipe_run.raw  # no cursor movement or colour at all
    assert "━" not in pipe_run.raw
    assert not re.search(r"batches\s.*\d+/\d+", pipe_run.text)


def test_progress_bar_on_a_terminal(runs) -> None:
    run = runs["tty"]
    assert run.returncode == 0, run.text[-3000:]
    assert "━" in run.raw  # rich's bar
    counts = re.findall(r"batches\s.*?(\d+)/(\d+)", run.text)
    assert counts, run.text[-3000:]
    assert {total for _, total in counts} == {str(N_GOOD + 1)}  # one batch per symbol
    assert "Dask dashboard: http://127.0.0.1:" in run.text
    _stages_line(run.text)


def test_report_command_writes_the_html_and_prints_its_path(pipe_run: Run, tmp_path) -> None:
    target = tmp_path / "report.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARPIPE_")}
    result = subprocess.run(
        [str(BARPIPE), "report", "--output", str(pipe_run.output), "--to", str(target)],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report: {target}"
    assert "<html" in target.read_text()[:500].lower()
    missing = subprocess.run(
        [str(BARPIPE), "report", "--output", str(pipe_run.output), "--run", "no-such-run"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        cwd=ROOT,
        timeout=120,
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: run 'no-such-run' is not in")
    assert len(missing.stderr.strip().splitlines()) == 1
