"""The sweep and walk-forward flows on a real Dask cluster: rows equal the nightly metrics,
a killed sweep resumes from its staged chunks and publishes what an uninterrupted one does,
chunking does not change results, and the CLI validates and runs end to end."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from compute import pipeline
from compute.errors import ConfigError, DataError
from flows import sweep as sweep_flow
from storage import bars, sweeps
from tests.integration.conftest import make_dataset, run_cli

pytestmark = pytest.mark.slow

CONFIG = """
metrics:
  annualization: 252
backtest:
  fees_bps: 2.0
  direction: long_short
sweep:
  chunk_size: {chunk}
  pbo_blocks: 4
  strategies:
    - name: ma_crossover
      params:
        short_window: [3, 8, 15]
        long_window: [10, 30]
      constraints: ["short_window < long_window"]
      backtest:
        stop_loss: [null, 0.05]
    - name: zscore
      params:
        window: [10, 25]
        threshold: {{distribution: uniform, low: 0.5, high: 2.5}}
      samples: 5
      seed: 3
walkforward:
  train: 150
  test: 60
  purge: 2
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("sweep-bars") / "bars", n_symbols=5, n_bars=400)


def _config(tmp_path: Path, chunk: int = 4) -> Path:
    path = tmp_path / f"sweep-{chunk}.yaml"
    path.write_text(CONFIG.format(chunk=chunk))
    return path


def _load(tmp_path, data, out, chunk=4):
    return sweep_flow.load_sweep(
        _config(tmp_path, chunk), {"input.path": str(data), "output.path": str(out)}
    )


def _run(settings, cfg, client, kind="sweep"):
    return sweep_flow.execute(settings, cfg, client, 2 * 2**30, 2, kind=kind, echo=lambda _m: None)


def _results(out: Path, table: str = "sweep_results") -> pa.Table:
    """A published table (strategies differ in parameter columns), sorted, no sweep id."""
    t = sweeps.read_sweep_table(str(out), table).drop_columns(["sweep_id"])
    keys = [k for k in ("strategy", "combo_id", "symbol") if k in t.column_names]
    return t.sort_by([(k, "ascending") for k in keys])


def _same(a: pa.Table, b: pa.Table) -> bool:
    """Equal schemas and values, NaN equal to NaN."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    return all(
        a[c].equals(b[c]) or np.array_equal(a[c].to_numpy(), b[c].to_numpy(), equal_nan=True)
        for c in a.column_names
    )


@pytest.fixture(scope="module")
def client(shared_cluster):
    from distributed import Client

    with Client(shared_cluster) as c:
        yield c


def test_sweep_rows_equal_nightly_metrics(tmp_path, data, client):
    out = tmp_path / "out"
    settings, cfg = _load(tmp_path, data, out)
    summary = _run(settings, cfg, client)
    assert summary.status == "succeeded"
    res = _results(out)
    n_combos = sum(s.count() for s in cfg.spaces)
    assert n_combos == 5 * 2 + 5  # (3x2 minus 1) x 2 stop-losses, plus 5 samples
    assert res.num_rows == n_combos * 5
    table = bars.load_bars(str(data))
    rng = np.random.default_rng(0)
    for i in rng.choice(res.num_rows, 6, replace=False).tolist():
        row = res.slice(i, 1).to_pylist()[0]
        space = next(s for s in cfg.spaces if s.key == row["strategy"])
        combos = space.chunk(row["combo_id"] // cfg.chunk_size, cfg.chunk_size)
        params, bt = combos.row(int(np.flatnonzero(combos.ids == row["combo_id"])[0]))
        met = pipeline.run_batch(
            table,
            run_id="r",
            indicator_requests=[],
            strategy_requests=[pipeline.StrategyRequest(space.strategy, params)],
            backtest_params={**settings.backtest.model_dump(), **bt},
            annualization=252,
            with_equity=False,
            with_indicators=False,
        ).metrics
        mine = met.filter(pa.compute.equal(met["symbol"], row["symbol"])).to_pylist()[0]
        for col in sweep_flow.RESULT_METRICS:
            a, b = mine[col], row[col]
            assert a == b or (a != a and b != b), (col, a, b)
        # the SQLite mirror holds the same values (NaN is stored as NULL)
        with sqlite3.connect(settings.output.resolved_db_path()) as conn:
            mirrored = conn.execute(
                f"SELECT {', '.join(sweep_flow.RESULT_METRICS)} FROM sweep_results "
                "WHERE strategy = ? AND combo_id = ? AND symbol = ?",
                [row["strategy"], row["combo_id"], row["symbol"]],
            ).fetchall()
        assert len(mirrored) == 1
        for col, value in zip(sweep_flow.RESULT_METRICS, mirrored[0], strict=True):
            a = row[col]
            assert value == a or (value is None and a != a), (col, value, a)
    # SQLite mirrors the Delta rows; the registry carries the statistics
    conn = sqlite3.connect(settings.output.resolved_db_path())
    assert conn.execute("select count(*) from sweep_results").fetchone()[0] == res.num_rows
    assert conn.execute("select count(*) from sweep_summary").fetchone()[0] == n_combos
    status, stats = conn.execute("select status, stats from sweeps").fetchone()
    assert status == "succeeded"
    assert '"pbo"' in stats
    assert '"deflated_sharpe_ratio"' in stats
    page = Path(summary.outputs["report"]).read_text()
    assert "median Sharpe across symbols: long_window by short_window" in page
    assert "top combinations" in page
    assert "https://cdn" not in page  # bokeh inlined: works offline
    # a rerun finds the sweep published and does nothing
    again = _run(settings, cfg, client)
    assert again.message == "already published; nothing to do"


def test_a_report_that_fails_leaves_the_sweep_published(tmp_path, data, client, monkeypatch):
    from flows import sweep_report

    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(sweep_report, "write_sweep_report", broken)
    settings, cfg = _load(tmp_path, data, tmp_path / "out")
    with pytest.raises(OSError, match="disk full"):
        _run(settings, cfg, client)
    with sqlite3.connect(settings.output.resolved_db_path()) as conn:
        assert conn.execute("SELECT status FROM sweeps").fetchone()[0] == "succeeded"
    assert _run(settings, cfg, client).message == "already published; nothing to do"


def test_killed_sweep_resumes_and_publishes_the_same(tmp_path, data, client):
    full = tmp_path / "full"
    settings, cfg = _load(tmp_path, data, full)
    _run(settings, cfg, client)

    out = tmp_path / "resumed"
    settings, cfg = _load(tmp_path, data, out)
    plan = sweep_flow.plan_sweep(settings, cfg, 2 * 2**30, 2)
    # a sweep killed after some tasks: their chunks are staged, nothing is published
    done = plan.jobs[::2]
    for job in done:
        assert not sweep_flow.sweep_task(job).get("error")
    assert not (out / "sweep_results").exists()
    summary = _run(settings, cfg, client)
    assert summary.n_reused == len(done)
    assert summary.n_tasks == len(plan.jobs)
    assert _same(_results(out), _results(full))
    assert not (out / "_sweeps").exists()  # staging removed after publishing


def test_resume_with_other_batches_reuses_or_recomputes_and_publishes_the_same(
    tmp_path, data, client
):
    """A task's key covers its symbols. A sweep resumed where a fresh plan would batch the
    symbols differently takes the first attempt's batches again (they still fit) and reuses
    its staged chunks; where they no longer fit a worker it plans new batches, computes
    every task again and still publishes what an uninterrupted run does."""
    from compute import planner
    from storage import sweeps

    clean = tmp_path / "clean"
    _run(*_load(tmp_path, data, clean), client)

    out = tmp_path / "resumed"
    first = sweep_flow.load_sweep(
        _config(tmp_path),
        {"input.path": str(data), "output.path": str(out), "batches.max_symbols_per_batch": 2},
    )
    plan = sweep_flow.plan_sweep(*first, 2 * 2**30, 2)
    assert plan.n_batches == 3
    sweeps.record_batches(str(out), plan.sweep_id, plan.batches)  # what execute does first
    done = plan.jobs[::2]
    for job in done:
        assert not sweep_flow.sweep_task(job).get("error")
    # resumed with one thread and no symbol limit: a fresh plan would make one batch
    settings, cfg = _load(tmp_path, data, out)
    assert sweep_flow.plan_sweep(settings, cfg, 2 * 2**30, 1).sweep_id == plan.sweep_id
    fresh = sweep_flow.plan_sweep(settings, cfg, 2 * 2**30, 1)
    assert fresh.resumed_batches
    assert fresh.batches == plan.batches
    summary = sweep_flow.execute(settings, cfg, client, 2 * 2**30, 1, echo=lambda _m: None)
    assert summary.n_reused == len(done)
    assert _same(_results(out), _results(clean))
    assert _same(_results(out, "sweep_summary"), _results(clean, "sweep_summary"))

    # an attempt with one batch of all five symbols, resumed on workers too small for it
    out = tmp_path / "smaller"
    settings, cfg = _load(tmp_path, data, out)
    whole = sweep_flow.plan_sweep(settings, cfg, 2 * 2**30, 1)
    assert whole.n_batches == 1
    sweeps.record_batches(str(out), whole.sweep_id, whole.batches)
    for job in whole.jobs[::2]:
        assert not sweep_flow.sweep_task(job).get("error")
    two = plan.est_batch_bytes  # a batch of two symbols
    # a worker whose batch cap lies between a batch of two symbols and one of five
    memory = int((two + whole.est_batch_bytes + planner.WORKER_BASELINE_BYTES) / 0.8)
    assert two < planner.batch_cap(memory) < whole.est_batch_bytes
    smaller = sweep_flow.plan_sweep(settings, cfg, memory, 1)
    assert not smaller.resumed_batches
    assert smaller.n_batches > 1
    summary = sweep_flow.execute(settings, cfg, client, memory, 1, echo=lambda _m: None)
    assert summary.n_reused == 0  # the chunks of the old batches are not reused...
    assert _same(_results(out), _results(clean))  # ...nor published twice
    assert _same(_results(out, "sweep_summary"), _results(clean, "sweep_summary"))


def test_chunking_does_not_change_results(tmp_path, data, client):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(*_load(tmp_path, data, a, chunk=1), client)
    _run(*_load(tmp_path, data, b, chunk=100), client)
    assert _same(_results(a), _results(b))
    sa, sb = (_results(x, "sweep_summary") for x in (a, b))
    assert _same(sa, sb)


def test_walkforward_publishes_folds_and_stitched_equity(tmp_path, data, client):
    out = tmp_path / "wf"
    settings, cfg = _load(tmp_path, data, out)
    summary = _run(settings, cfg, client, kind="walkforward")
    assert summary.status == "succeeded"
    folds = sweeps.read_sweep_table(str(out), "walkforward_folds", summary.sweep_id)
    # 400 bars: folds at 150 + 60k, whole test windows only -> 4 folds; 5 symbols x 2 spaces
    assert folds.num_rows == 4 * 5 * 2
    assert pa.compute.all(pa.compute.greater_equal(folds["test_start"], folds["train_end"])).as_py()
    eq = sweeps.read_sweep_table(str(out), "walkforward_equity", summary.sweep_id)
    assert eq.num_rows == 4 * 60 * 5 * 2
    per_fold = summary.stats["ma_crossover"]["folds"]
    assert [f["fold"] for f in per_fold] == [0, 1, 2, 3]
    ma = folds.filter(pa.compute.equal(folds["strategy"], "ma_crossover"))
    fold0 = ma.filter(pa.compute.equal(ma["fold"], 0))["oos_sharpe_ratio"].to_numpy()
    assert per_fold[0]["median_out_of_sample_sharpe"] == pytest.approx(float(np.nanmedian(fold0)))
    first = eq.filter(pa.compute.equal(eq["symbol"], folds["symbol"][0])).slice(0, 1)
    assert first["equity"][0].as_py() == 10_000.0


def test_universe_walkforward_over_several_batches_equals_one_batch(tmp_path, data, client):
    """Universe-wide selection needs every symbol's in-sample scores: over 3 batches it
    takes two passes (stage scores, choose per fold, evaluate) and publishes what one
    batch holding the whole universe does."""
    config = _config(tmp_path)
    config.write_text(config.read_text() + "  selection: universe\n")
    results = {}
    for name, sets in (("one", {}), ("three", {"batches.max_symbols_per_batch": 2})):
        out = tmp_path / name
        settings, cfg = sweep_flow.load_sweep(
            config, {"input.path": str(data), "output.path": str(out), **sets}
        )
        plan = sweep_flow.plan_sweep(settings, cfg, 2 * 2**30, 1, "walkforward")
        assert plan.n_batches == (1 if name == "one" else 3)
        assert bool(plan.score_jobs) == (name == "three")
        summary = sweep_flow.execute(
            settings, cfg, client, 2 * 2**30, 1, kind="walkforward", echo=lambda _m: None
        )
        assert summary.status == "succeeded"
        results[name] = (
            _results(out, "walkforward_folds"),
            _results(out, "walkforward_equity").sort_by(
                [("strategy", "ascending"), ("symbol", "ascending"), ("timestamp", "ascending")]
            ),
        )
    folds = results["one"][0]
    assert folds.num_rows == 4 * 5 * 2
    # universe-wide: per strategy and fold, one combination for every symbol
    for strategy in ("ma_crossover", "zscore"):
        mine = folds.filter(pa.compute.equal(folds["strategy"], strategy))
        for f in range(4):
            ids = mine.filter(pa.compute.equal(mine["fold"], f))["combo_id"].to_pylist()
            assert len(set(ids)) == 1, (strategy, f, ids)
            assert ids[0] >= 0
    assert _same(results["one"][0], results["three"][0])
    assert _same(results["one"][1], results["three"][1])


def test_the_example_config_runs_on_any_bars_dataset(tmp_path, data, client):
    example = Path(__file__).resolve().parents[2] / "configs" / "sweep.yaml"
    out = tmp_path / "example"
    settings, cfg = sweep_flow.load_sweep(
        example, {"input.path": str(data), "output.path": str(out)}
    )
    summary = _run(settings, cfg, client)
    assert summary.status == "succeeded"
    assert summary.n_combinations == 180 + 60
    assert _results(out).num_rows == summary.n_combinations * 5
    assert Path(summary.outputs["report"]).is_file()


def test_symbols_validation_leaves_out_are_said_and_recorded(tmp_path, client):
    from storage.bars import write_bars
    from tests.integration.conftest import symbol_bars

    bars_dir = tmp_path / "bars"
    write_bars(iter([symbol_bars("AAA", 300), symbol_bars("BBB", 40, index=1)]), bars_dir)
    said: list[str] = []
    out = tmp_path / "out"
    settings, cfg = sweep_flow.load_sweep(
        _config(tmp_path),
        {"input.path": str(bars_dir), "output.path": str(out), "universe.min_bars": 100},
    )
    summary = sweep_flow.execute(settings, cfg, client, 2 * 2**30, 1, echo=said.append)
    assert list(summary.quarantined) == ["BBB"]
    assert any("1 symbol(s) quarantined, left out of the sweep (first: BBB: " in m for m in said)
    assert set(_results(out)["symbol"].to_pylist()) == {"AAA"}
    with sqlite3.connect(settings.output.resolved_db_path()) as conn:
        stats = conn.execute("SELECT stats FROM sweeps").fetchone()[0]
    assert '"quarantined": {"BBB": ' in stats
    # every symbol left out: an error that says so, nothing published
    none = tmp_path / "none"
    settings, cfg = sweep_flow.load_sweep(
        _config(tmp_path),
        {"input.path": str(bars_dir), "output.path": str(none), "universe.min_bars": 1000},
    )
    with pytest.raises(DataError, match="no symbol left to sweep: all 2 were quarantined"):
        sweep_flow.execute(settings, cfg, client, 2 * 2**30, 1, echo=lambda _m: None)
    assert sweeps.read_sweep_table(str(none), "sweep_results").num_rows == 0


def test_set_reaches_the_sweep_sections(tmp_path, data):
    config = _config(tmp_path)
    sets = {"input.path": str(data), "walkforward.selection": "universe", "sweep.chunk_size": 7}
    settings, cfg = sweep_flow.load_sweep(config, sets)
    assert cfg.walkforward["selection"] == "universe"
    assert cfg.walkforward["train"] == 150  # the file's other keys stay
    assert cfg.chunk_size == 7
    assert settings.input.path == str(data)
    with pytest.raises(ConfigError, match="walkforward.nope: unknown key"):
        sweep_flow.load_sweep(config, {"walkforward.nope": 1})


def test_cli_dry_run_and_errors(tmp_path, data, capfd):
    """In process through the console entry point (one subprocess run is tested below)."""
    from flows.cli import main

    cfg = _config(tmp_path)
    args = ["sweep", "--config", str(cfg), "--input", str(data), "--output", str(tmp_path / "o")]
    assert main([*args, "--dry-run"]) == 0
    out = capfd.readouterr().out
    assert "15 combination(s) x 5 symbol(s)" in out
    assert "ma_crossover: 10 combination(s)" in out
    assert not (tmp_path / "o").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.format(chunk=4).replace("short_window: [3, 8, 15]", "fast: [3, 8, 15]"))
    assert main(["sweep", "--config", str(bad), "--input", str(data), "--dry-run"]) == 2
    err = capfd.readouterr().err
    assert "sweep.strategies[0].params.fast: unknown parameter 'fast'" in err
    assert "Traceback" not in err
    empty = tmp_path / "empty.yaml"
    empty.write_text(CONFIG.format(chunk=4).replace("long_window: [10, 30]", "long_window: [2]"))
    assert main(["sweep", "--config", str(empty), "--input", str(data), "--dry-run"]) == 2
    assert "empty space" in capfd.readouterr().err


def _on_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``barpipe`` with stdout and stderr on a pseudo-terminal; its code and output."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("barpipe")), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "160"},
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 1.0)[0]:
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
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw).replace("\r", "\n")


def test_cli_sweep_runs_as_a_prefect_flow(tmp_path, data, cli_env, shared_cluster):
    """On a terminal: the dashboard link, a console bar of tasks, and task groups named
    after the strategies on the Dask dashboard."""
    from distributed import Client

    cfg = _config(tmp_path)
    out = tmp_path / "cli"
    args = [
        "--config",
        str(cfg),
        "--input",
        str(data),
        "--output",
        str(out),
        "--scheduler",
        shared_cluster,
    ]
    code, text = _on_pty(["sweep", *args], {**cli_env, "NO_COLOR": ""})
    assert code == 0, text[-3000:]
    assert "succeeded" in text
    assert "Dask dashboard: http://127.0.0.1:" in text
    computed, reused = map(int, re.findall(r"(\d+) task\(s\) computed, (\d+) reused", text)[0])
    counts = re.findall(r"sweep tasks\s.*?(\d+)/(\d+)", text)
    assert counts, text[-3000:]
    assert {total for _, total in counts} == {str(computed + reused)}
    assert (out / "sweep_summary").is_dir()
    with Client(shared_cluster) as client:
        groups = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert {"sweep_ma_crossover", "sweep_zscore"} <= set(groups)
    res = run_cli(["sweeps", "--output", str(out)], {**cli_env, "COLUMNS": "400"})
    assert res.returncode == 0, res.stderr
    assert "sweep" in res.stdout
    assert "succeeded" in res.stdout


def test_two_workers_publish_what_one_does(tmp_path, data, client):
    from distributed import Client, LocalCluster

    one, two = tmp_path / "one", tmp_path / "two"
    _run(*_load(tmp_path, data, one, chunk=6), client)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit="1GB",
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address="127.0.0.1:0",
            processes=True,
        ) as cluster,
        Client(cluster) as two_workers,
    ):
        assert len(two_workers.scheduler_info()["workers"]) == 2
        _run(*_load(tmp_path, data, two, chunk=6), two_workers)
    assert _same(_results(one), _results(two))
    assert _same(_results(one, "sweep_summary"), _results(two, "sweep_summary"))


@pytest.fixture
def external_scheduler(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1; its address."""
    import json
    import os
    import subprocess
    import sys
    import time

    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    info = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    logs = (tmp_path / "cluster.log").open("w")
    spawn = dict(env=env, stdout=logs, stderr=subprocess.STDOUT)
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(info)],
            **spawn,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not info.exists():
            assert processes[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)  # written whole, but let the writer close it
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [dask, "worker", "--scheduler-file", str(info), "--nthreads", "1",
                     "--no-nanny", "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
                     "--memory-limit", "1GB"],
                    **spawn,
                )
            )  # fmt: skip
        address = json.loads(info.read_text())["address"]
        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in processes:
            process.kill()  # nothing of theirs outlives the test: the outputs are in tmp_path
            process.wait()
        logs.close()


def test_an_external_scheduler_publishes_what_one_worker_does(
    tmp_path, data, cli_env, external_scheduler, client
):
    """`barpipe sweep --scheduler` on a `dask scheduler` with two `dask worker` processes."""
    address = external_scheduler
    out, one = tmp_path / "external", tmp_path / "one"
    args = ["--config", str(_config(tmp_path)), "--input", str(data), "--output", str(out)]
    res = run_cli(["sweep", *args, "--scheduler", address], cli_env)
    assert res.returncode == 0, res.stderr
    _run(*_load(tmp_path, data, one), client)
    assert _same(_results(out), _results(one))
    assert _same(_results(out, "sweep_summary"), _results(one, "sweep_summary"))


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            "sweep",
            [
                "--config",
                "--input",
                "--output",
                "--dry-run",
                "--scheduler",
                "--workers",
                "--memory-limit",
            ],
        ),
        ("walkforward", ["--config", "--input", "--output", "--dry-run", "--scheduler"]),
        ("sweeps", ["--output", "--limit"]),
    ],
)
def test_help_on_sweep_commands(command, options):
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert [o for o in options if o not in result.output] == []


def test_sweep_killed_mid_compute_resumes_from_staged_chunks(tmp_path, data, cli_env, client):
    from tests.integration.test_faults import Pause, _kill_tree, _spawn

    config = _config(tmp_path, chunk=2)
    text = config.read_text() + "cluster:\n  n_workers: 1\n  threads_per_worker: 1\n"
    config.write_text(text + "  dashboard_address: 127.0.0.1:0\n")
    out = tmp_path / "killed"
    pause = Pause(tmp_path / "pause", "sweep-task")
    args = ["sweep", "--config", str(config), "--input", str(data), "--output", str(out)]
    process = _spawn(args, {**cli_env, **pause.env}, tmp_path / "log")
    try:
        _, _, detail = pause.wait(process)  # one task staged, its worker paused
    finally:
        _kill_tree(process)
    sweep_id, key = detail.split()
    staged = sorted(p.stem for p in (out / "_sweeps" / sweep_id / "staged").glob("*.parquet"))
    assert key in staged
    assert not (out / "sweep_results").exists()  # nothing published

    # the same command again: same plan, so the staged chunk is reused, not recomputed
    res = run_cli(args, cli_env)
    assert res.returncode == 0, res.stderr
    assert f"sweep {sweep_id}: succeeded" in res.stdout
    assert f"{len(staged)} reused from an earlier attempt" in res.stdout
    clean = tmp_path / "clean"
    _run(
        *sweep_flow.load_sweep(config, {"input.path": str(data), "output.path": str(clean)}), client
    )
    assert _same(_results(out), _results(clean))
