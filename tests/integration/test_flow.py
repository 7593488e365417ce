"""The nightly flow end to end on a real LocalCluster, checked against the compute core."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from compute import pipeline
from flows.launch import run_nightly
from flows.settings import load_settings
from storage import bars, outputs

pytestmark = pytest.mark.slow

STRATEGIES = ["momentum", "zscore", "ma_crossover", "bollinger"]


def _settings(input_path, output_path, **extra):
    overrides = {
        "input.path": str(input_path),
        "output.path": str(output_path),
        "run.run_date": "2026-11-20",
        "cluster.n_workers": 1,
        "cluster.threads_per_worker": 2,
        "cluster.memory_limit": "2GB",
        "cluster.dashboard_address": "127.0.0.1:0",
        "indicators": [{"name": "rsi"}, {"name": "bbands", "params": {"timeperiod": 20}}],
        "strategies": [{"name": s} for s in STRATEGIES],
        "backtest.fees_bps": 2.0,
        "backtest.slippage_bps": 1.0,
        "metrics.annualization": 252,
    }
    overrides.update(extra)
    return load_settings(None, overrides=overrides)


@pytest.fixture(scope="module")
def finished_run(prefect_harness, small_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    settings = _settings(small_dataset, out)
    messages: list[str] = []
    summary = run_nightly(settings, echo=messages.append, progress=False)
    return settings, summary, out, messages


def _sorted(table, keys):
    return table.sort_by([(k, "ascending") for k in keys])


def test_run_succeeds_and_reports_counts(finished_run):
    settings, summary, out, messages = finished_run
    assert summary.status == "succeeded"
    assert summary.n_symbols == 6
    assert summary.n_bars == 6 * 400
    assert summary.n_trades > 0
    assert any(m.startswith("Dask dashboard: http://127.0.0.1:") for m in messages)


def test_outputs_equal_the_compute_core_run_directly(finished_run):
    settings, summary, out, _ = finished_run
    table = bars.load_bars(settings.input.path, sort_timestamps=True)
    direct = pipeline.run_batch(
        table,
        run_id=summary.run_id,
        indicator_requests=[],
        strategy_requests=[pipeline.StrategyRequest(s) for s in STRATEGIES],
        backtest_params=dict(
            fees_bps=2.0,
            slippage_bps=1.0,
            direction="long_short",
            init_cash=10_000.0,
            fraction=1.0,
            sizing="fixed",
            stop_loss=None,
            take_profit=None,
        ),
        annualization=252.0,
    )
    for name, keys, got_table in [
        ("trades", ["symbol", "strategy", "entry_time"], direct.trades),
        ("metrics", ["symbol", "strategy"], direct.metrics),
    ]:
        published = outputs.read_output(str(out), name, run_keys=[summary.run_key])
        a = _sorted(published.select(got_table.column_names), keys)
        b = _sorted(got_table.cast(a.schema), keys)
        assert a.num_rows == b.num_rows, name
        for col in a.column_names:
            x, y = a[col].to_numpy(zero_copy_only=False), b[col].to_numpy(zero_copy_only=False)
            if x.dtype.kind == "f":
                np.testing.assert_array_equal(x, y, err_msg=f"{name}.{col}")
            else:
                assert list(x) == list(y), f"{name}.{col}"


def test_sqlite_agrees_with_parquet_row_for_row(finished_run):
    _, summary, out, _ = finished_run
    with sqlite3.connect(out / "barpipe.db") as conn:
        run = conn.execute(
            "SELECT status, n_symbols, n_trades FROM runs WHERE run_id = ?", (summary.run_id,)
        ).fetchone()
        n_trades = conn.execute(
            "SELECT count(*) FROM trades WHERE run_id = ?", (summary.run_id,)
        ).fetchone()[0]
        net = conn.execute(
            "SELECT sum(net_pnl) FROM trades WHERE run_id = ?", (summary.run_id,)
        ).fetchone()[0]
        n_metrics = conn.execute(
            "SELECT count(*) FROM metrics WHERE run_id = ?", (summary.run_id,)
        ).fetchone()[0]
    trades = outputs.read_output(str(out), "trades", run_keys=[summary.run_key])
    assert run == ("succeeded", 6, trades.num_rows)
    assert n_trades == trades.num_rows
    assert net == pytest.approx(pc.sum(trades["net_pnl"]).as_py(), rel=1e-12)
    assert n_metrics == 6 * len(STRATEGIES)


def test_the_plan_is_stored_with_the_run_and_echoed_in_one_line(finished_run):
    _, summary, out, messages = finished_run
    lines = [m for m in messages if m.startswith("plan: ")]
    assert len(lines) == 1
    assert "for 1 worker(s) x 2 thread(s) (1907 MiB limit)" in lines[0]
    assert "refused" not in lines[0]
    with sqlite3.connect(out / "barpipe.db") as conn:
        head = conn.execute(
            "SELECT worker_memory, n_workers, threads_per_worker, n_batches, n_refused, "
            "cap_bytes, reason FROM run_plans WHERE run_id = ?",
            (summary.run_id,),
        ).fetchall()
        batches = conn.execute(
            "SELECT batch, n_symbols, n_bars, est_bytes, first_symbol, last_symbol "
            "FROM run_batches WHERE run_id = ? ORDER BY batch",
            (summary.run_id,),
        ).fetchall()
    n = len(summary.plan["batches"])
    assert head == [(2 * 10**9, 1, 2, n, 0, summary.plan["cap_bytes"], summary.plan["reason"])]
    assert [b[0] for b in batches] == list(range(n))
    assert sum(b[1] for b in batches) == 6
    assert sum(b[2] for b in batches) == 6 * 400
    assert all(b[3] <= summary.plan["cap_bytes"] for b in batches)
    assert batches[0][4] == "SYN0000"
    assert batches[-1][5] == "SYN0005"


def test_equity_has_one_row_per_bar_and_strategy(finished_run):
    _, summary, out, _ = finished_run
    equity = outputs.read_output(str(out), "equity", run_keys=[summary.run_key])
    assert equity.num_rows == 6 * 400 * len(STRATEGIES)
    assert pc.min(equity["equity"]).as_py() > 0


def test_rerun_of_the_same_night_leaves_everything_as_after_one_run(
    prefect_harness, small_dataset, finished_run
):
    from storage import delta

    settings, first, out, _ = finished_run
    tables = ("trades", "equity", "indicators", "signals", "metrics")
    before = {t: outputs.read_output(str(out), t) for t in tables}
    versions = {t: delta.version(str(out), t) for t in ("trades", "equity", "indicators")}
    second = run_nightly(settings, echo=lambda _m: None, progress=False)
    assert second.run_key == first.run_key
    assert second.run_id != first.run_id
    assert second.night.whole == second.night.extended == []
    assert len(second.night.unchanged) == 6
    for table in tables:  # (pandas' equals: NaN where NaN was)
        assert outputs.read_output(str(out), table).to_pandas().equals(before[table].to_pandas())
    assert {t: delta.version(str(out), t) for t in versions} == versions  # no commit at all
    with sqlite3.connect(out / "barpipe.db") as conn:
        ids = {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM trades")}
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert ids == {first.run_id}
    assert runs == 2


def test_run_writes_prometheus_file_and_report(finished_run):
    from prometheus_client.parser import text_string_to_metric_families

    _, summary, out, _ = finished_run
    families = {
        f.name: f for f in text_string_to_metric_families((out / "barpipe.prom").read_text())
    }
    bars = families["barpipe_bars_processed"].samples[0].value
    assert bars == 6 * 400
    assert "barpipe_last_success_timestamp_seconds" in families
    report = summary.outputs["report"]
    assert report.endswith(f"{summary.run_id}.html")
    assert "<html" in Path(report).read_text()[:200].lower()


def test_configured_indicators_are_published_with_stable_column_names(finished_run):
    from compute import indicators

    settings, summary, out, _ = finished_run
    table = outputs.read_output(str(out), "indicators", run_keys=[summary.run_key])
    assert table.column_names == [
        "run_id",
        "symbol",
        "timestamp",
        "rsi_14",
        "bbands_20_2_2_0_upperband",
        "bbands_20_2_2_0_middleband",
        "bbands_20_2_2_0_lowerband",
        "run_key",
    ]
    assert table.num_rows == 6 * 400
    one = table.filter(pc.equal(table["symbol"], "SYN0002")).sort_by("timestamp")
    close = bars.load_bars(settings.input.path, symbols=["SYN0002"], sort_timestamps=True)["close"]
    expected = indicators.compute("rsi", {"close": close.to_numpy()})["real"]
    np.testing.assert_array_equal(one["rsi_14"].to_numpy(zero_copy_only=False), expected)


def test_the_report_summaries_the_workers_returned_are_stored_with_the_run(finished_run):
    from compute import portfolio
    from storage import db

    settings, summary, out, _ = finished_run
    conn = db.connect(out / "barpipe.db", readonly=True)
    try:  # the latest run of the key (a test above reruns it)
        latest = conn.execute(
            "SELECT run_id FROM runs WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()[0]
        sleeves = db.read_report_sleeves(conn, latest)
    finally:
        conn.close()
    assert sleeves.num_rows == 6 * len(STRATEGIES)
    equity = outputs.read_output(str(out), "equity")
    trades = outputs.read_output(str(out), "trades")
    full = portfolio.portfolio_curves(equity)
    for name, curve in portfolio.portfolio_from_summaries(sleeves).items():
        at = np.searchsorted(full[name].timestamp_us, curve.timestamp_us)
        np.testing.assert_array_equal(full[name].timestamp_us[at], curve.timestamp_us)
        np.testing.assert_allclose(curve.equity, full[name].equity[at], rtol=1e-12)
    _, _, counts, _ = portfolio.trades_from_summaries(sleeves)
    assert counts.sum() == trades.num_rows == summary.n_trades


def test_signals_hold_the_next_open_target_and_the_open_position(finished_run):
    settings, summary, out, _ = finished_run
    signals = outputs.read_output(str(out), "signals")
    trades = outputs.read_output(str(out), "trades")
    assert signals.num_rows == 6 * len(STRATEGIES)
    open_trades = {
        (t["symbol"], t["strategy"]): t
        for t in trades.filter(pc.equal(trades["exit_reason"], "open")).to_pylist()
    }
    last_bar = outputs.read_output(str(out), "equity")
    last = pc.max(last_bar["timestamp"]).as_py()
    for row in signals.to_pylist():
        held = open_trades.get((row["symbol"], row["strategy"]))
        assert row["last_timestamp"] == last
        assert row["target"] in (-1.0, 0.0, 1.0)
        if held is None:
            assert (row["side"], row["quantity"], row["entry_time"]) == ("flat", 0.0, None)
        else:
            assert row["side"] == held["side"]
            assert row["quantity"] == held["quantity"]
            assert row["entry_time"] == held["entry_time"]
            assert row["entry_price"] == held["entry_price"]
    with sqlite3.connect(out / "barpipe.db") as conn:
        assert conn.execute("SELECT count(*) FROM signals").fetchone()[0] == signals.num_rows
