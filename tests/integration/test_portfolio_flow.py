"""Portfolios on a real Dask cluster: rows from batches, a chain of time-chunk tasks.

The distributed walk (batches of symbols, chunks of a few bars, state handed from task to
task through the scheduler) must equal ``simulate_portfolio`` in one process, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from compute import allocation
from compute.allocation import PortfolioRules
from flows import portfolio as fp
from storage.bars import load_bars
from tests.integration.conftest import make_dataset

pytestmark = pytest.mark.slow

SPECS = [
    fp.PortfolioSpec(
        rules=PortfolioRules(
            label="rotation", top=3, rebalance="weekly", fees_bps=5, init_cash=1e5
        ),
        score={"indicator": "roc", "params": {"timeperiod": 20}},
        benchmark="equal_weight",
    ),
    fp.PortfolioSpec(
        rules=PortfolioRules(
            label="signals",
            select="signal",
            direction="long_short",
            rebalance="signal",
            slippage_bps=3,
            init_cash=1e5,
        ),
        score={"strategy": "zscore"},
        benchmark="SYN0002",
    ),
]


def _in_process(input_path, spec):
    table = load_bars(str(input_path)).sort_by(
        [("symbol", "ascending"), ("timestamp", "ascending")]
    )
    sym = table["symbol"].to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, sym[1:] != sym[:-1]])
    offsets = np.r_[starts, sym.size]
    inputs = {f: table[f].to_numpy() for f in ("open", "high", "low", "close", "volume")}
    score = allocation.compute_score(spec.score, inputs, offsets)
    ts = table["timestamp"].cast(pa.int64()).to_numpy()
    return allocation.simulate_portfolio(
        ts, inputs["open"], inputs["close"], inputs["volume"], score, offsets, spec.rules
    )


def test_distributed_walk_equals_one_process(tmp_path, shared_cluster, monkeypatch):
    from distributed import Client

    data = make_dataset(tmp_path / "bars", n_symbols=8, n_bars=300)
    out = tmp_path / "out"
    monkeypatch.setattr(fp, "CELLS_PER_CHUNK", 8 * 45)  # 45-bar chunks: 7 chained tasks
    names = [f"SYN{i:04d}" for i in range(8)]
    batches = [tuple(names[:3]), tuple(names[3:6]), tuple(names[6:])]
    with Client(shared_cluster) as client:
        rows = fp.run_portfolios(
            client, SPECS, batches, run_id="r1", input_path=str(data), output_path=str(out)
        )
    assert [r["portfolio"] for r in rows] == ["rotation", "signals"]
    for spec, row in zip(SPECS, rows, strict=True):
        label = spec.rules.label
        ref = _in_process(data, spec)
        equity = fp.read_staged(str(out), "r1", "portfolio_equity", label).sort_by("timestamp")
        assert equity.num_rows == ref.calendar_us.shape[0]
        np.testing.assert_array_equal(equity["equity"].to_numpy(), ref.result.bars["equity"])
        np.testing.assert_array_equal(equity["cash"].to_numpy(), ref.result.bars["cash"])
        orders = fp.read_staged(str(out), "r1", "portfolio_orders", label)
        assert orders.num_rows == ref.result.orders["bar"].shape[0] > 10
        np.testing.assert_array_equal(
            np.sort(orders["quantity"].to_numpy()), np.sort(ref.result.orders["quantity"])
        )
        holdings = fp.read_staged(str(out), "r1", "portfolio_holdings", label)
        assert holdings.num_rows == ref.result.holdings["bar"].shape[0]
        expected = allocation.portfolio_metrics(
            ref.result.bars["equity"], equity["benchmark_return"].to_numpy()
        )
        for name, value in expected.items():
            if name.startswith("max_drawdown_"):  # bar index -> that bar's time
                value = equity["timestamp"][int(value)].as_py().isoformat()
                assert row[name] == value, name
            else:
                assert row[name] == pytest.approx(value, rel=1e-12, nan_ok=True), name
        staged = fp.read_staged(str(out), "r1", "portfolio_metrics", label)
        assert staged["sharpe_ratio"].to_pylist() == [row["sharpe_ratio"]]
        assert set(allocation.BAR_FIELDS) <= set(equity.column_names)
        assert np.isfinite(row["beta"])
        # the benchmark: SYN0002's close-to-close returns, or the mean over the universe
        table = load_bars(str(data)).sort_by([("symbol", "ascending"), ("timestamp", "ascending")])
        close = table["close"].to_numpy().reshape(8, -1)  # every symbol has every bar here
        rets = close[:, 1:] / close[:, :-1] - 1
        want = rets[2] if spec.benchmark == "SYN0002" else rets.mean(axis=0)
        got = equity["benchmark_return"].to_numpy()
        assert got[0] == 0.0
        np.testing.assert_allclose(got[1:], want, rtol=1e-12)


def test_nightly_run_with_a_portfolio_section_writes_the_four_tables(
    prefect_harness, small_dataset, shared_cluster, tmp_path
):
    from flows.launch import run_nightly
    from flows.settings import load_settings

    out = tmp_path / "out"
    settings = load_settings(
        None,
        overrides={
            "input.path": str(small_dataset),
            "output.path": str(out),
            "run.run_date": "2026-11-20",
            "run.report": True,
            "cluster.address": shared_cluster,
            "strategies": [{"name": "zscore"}],
            "metrics.annualization": 252,
            "metrics.benchmark": "equal_weight",
            "portfolio": [
                {
                    "label": "rotation",
                    "score": {"indicator": "roc", "params": {"timeperiod": 30}},
                    "top": 2,
                    "rebalance": "monthly",
                    "benchmark": "equal_weight",
                }
            ],
        },
        environ={},
    )
    summary = run_nightly(settings, echo=lambda _m: None, progress=False)
    assert summary.status == "succeeded"
    assert [p["portfolio"] for p in summary.portfolios] == ["rotation"]
    assert "portfolios" in summary.stages
    key = summary.run_key
    equity = fp.read_portfolio_table(str(out), "portfolio_equity", "rotation", key)
    assert equity.num_rows == 400  # the small dataset's calendar
    orders = fp.read_portfolio_table(str(out), "portfolio_orders", "rotation", key)
    assert set(orders["reason"].to_pylist()) == {"rebalance"}
    assert orders.num_rows > 0
    for table in fp.PORTFOLIO_TABLES:
        assert fp.read_portfolio_table(str(out), table, "rotation", key).num_rows > 0, table
    _assert_sqlite_mirrors_delta(out, key)
    _assert_sleeves_relative_metrics_equal_empyrical(out, key, small_dataset)
    metrics_row = fp.read_portfolio_table(str(out), "portfolio_metrics", "rotation", key)
    assert metrics_row["alpha"].to_pylist() == [summary.portfolios[0]["alpha"]]
    assert np.isfinite(summary.portfolios[0]["alpha"])
    report = Path(summary.outputs["report"]).read_text()
    assert "Portfolio rotation" in report
    assert "Largest positions after the last rebalance" in report


def _assert_sleeves_relative_metrics_equal_empyrical(out: Path, key: str, data: Path) -> None:
    """metrics.benchmark reaches every sleeve's row, in Parquet and SQLite alike."""
    import sqlite3

    import pandas as pd

    from storage import db, outputs
    from tests.unit.test_sleeve_benchmark import _expected, _reference_equal_weight

    bench = _reference_equal_weight(load_bars(str(data)))
    bench_us = bench.index.as_unit("us").asi8
    got = outputs.read_output(str(out), "metrics", run_keys=[key]).to_pandas()
    eq = outputs.read_output(str(out), "equity")
    equity = pd.DataFrame(
        {
            "symbol": eq["symbol"].cast(pa.string()).to_numpy(zero_copy_only=False),
            "strategy": eq["strategy"].to_numpy(zero_copy_only=False),
            "us": eq["timestamp"].cast(pa.int64()).to_numpy(),
            "equity": eq["equity"].to_numpy(),
        }
    ).sort_values(["symbol", "strategy", "us"])
    assert len(got) > 1
    assert set(got["benchmark"]) == {"equal_weight"}
    for row in got.itertuples():
        sleeve = equity[(equity["symbol"] == row.symbol) & (equity["strategy"] == row.strategy)]
        e = sleeve["equity"].to_numpy()
        b = bench.to_numpy()[np.searchsorted(bench_us, sleeve["us"].to_numpy())]
        want = _expected(e[1:] / e[:-1] - 1, b[1:] / b[:-1] - 1)  # rf-free metrics below
        assert np.isfinite(row.alpha), row.symbol
        assert row.beta == pytest.approx(want["beta"], rel=1e-10), row.symbol
        assert row.tracking_error == pytest.approx(want["tracking_error"], rel=1e-10)
        assert row.excess_sharpe == pytest.approx(want["excess_sharpe"], rel=1e-10)
        assert row.up_capture == pytest.approx(want["up_capture"], rel=1e-10, nan_ok=True)
    with sqlite3.connect(out / "barpipe.db") as conn:
        lite = db.read_table(conn, "metrics", run_key=key).to_pandas()
    merged = lite.merge(got, on=["symbol", "strategy"], suffixes=("", "_pq"))
    assert len(merged) == len(got)
    for name in ("alpha", "beta", "tracking_error", "excess_sharpe"):
        np.testing.assert_array_equal(merged[name], merged[f"{name}_pq"], err_msg=name)


def _assert_sqlite_mirrors_delta(out: Path, key: str) -> None:
    """Every portfolio table holds the same rows in barpipe.db as in its Delta table."""
    import sqlite3

    from storage import db, outputs
    from storage.tables import TABLES

    with sqlite3.connect(out / "barpipe.db") as conn:
        for table in fp.PORTFOLIO_TABLES:
            spec = TABLES[table]
            order = [(c, "ascending") for c in spec.sort_keys]
            lite = db.read_table(conn, table, run_key=key).sort_by(order)
            lake = outputs.read_output(str(out), table, run_keys=[key]).sort_by(order)
            assert lite.num_rows == lake.num_rows > 0, table
            for name in spec.schema.names:
                a = lite[name].combine_chunks()
                b = lake[name].combine_chunks().cast(a.type)
                assert a.equals(b), f"{table}.{name}: SQLite and Delta differ"


def test_a_benchmark_outside_the_universe_is_a_config_error(tmp_path):
    from compute.errors import ConfigError

    spec = fp.PortfolioSpec(
        rules=PortfolioRules(top=1), score={"indicator": "roc"}, benchmark="SPY"
    )
    with pytest.raises(ConfigError, match=r"'portfolio\[0\].benchmark' = 'SPY' is not a symbol"):
        fp.run_portfolios(
            None, [spec], [("A", "B")], run_id="r", input_path="x", output_path=str(tmp_path)
        )


def test_workers_paused_at_their_memory_limit_fail_the_portfolio_phase(tmp_path):
    import logging
    import time

    from distributed import Client, LocalCluster
    from distributed.core import Status

    from compute.errors import ConfigError

    data = make_dataset(tmp_path / "bars", n_symbols=2, n_bars=50)
    with (
        LocalCluster(
            n_workers=1,
            processes=False,
            protocol="tcp://",
            # a thread worker in this process: the test process's memory keeps it paused
            memory_limit="100MB",
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):

        def status(dask_worker):
            return dask_worker.status

        deadline = time.monotonic() + 10  # the memory monitor checks every 100 ms
        while set(client.run(status).values()) != {Status.paused}:
            assert time.monotonic() < deadline, "the worker never paused"
            time.sleep(0.1)
        with pytest.raises(ConfigError, match=r"paused at its memory limit for 1 s"):
            fp.run_portfolios(
                client,
                SPECS[:1],
                [("SYN0000", "SYN0001")],
                run_id="r",
                input_path=str(data),
                output_path=str(tmp_path / "out"),
                paused_timeout_s=1,
            )


def _staged_rows(out, run_ids, table, label):
    """One portfolio's staged rows of ``table`` over runs, in time order, without ``run_id``."""
    parts = [fp.read_staged(str(out), r, table, label) for r in run_ids]
    rows = pa.concat_tables([p.drop_columns(["run_id"]) for p in parts])
    keys = [(k, "ascending") for k in ("timestamp", "symbol") if k in rows.column_names]
    return rows.sort_by(keys) if keys else rows


def test_a_night_continued_from_the_saved_state_equals_one_run(
    tmp_path, shared_cluster, monkeypatch
):
    from distributed import Client

    data = make_dataset(tmp_path / "bars", n_symbols=8, n_bars=300)
    out = tmp_path / "out"
    monkeypatch.setattr(fp, "CELLS_PER_CHUNK", 8 * 45)
    names = [f"SYN{i:04d}" for i in range(8)]
    batches = [tuple(names[:3]), tuple(names[3:6]), tuple(names[6:])]
    cut = load_bars(str(data))["timestamp"].to_pylist()[200].isoformat()
    run = {"input_path": str(data), "output_path": str(out)}
    with Client(shared_cluster) as client:
        saved: dict[str, fp.SavedState] = {}
        resume = {s.rules.label: fp.Resume(None, "sig") for s in SPECS}
        fp.run_portfolios(
            client, SPECS, batches, run_id="n1", end=cut, resume=resume, states=saved, **run
        )
        resume = {
            s.rules.label: fp.Resume(
                saved[s.rules.label],
                "sig",
                equity=fp.read_staged(str(out), "n1", "portfolio_equity", s.rules.label),
            )
            for s in SPECS
        }
        night2 = fp.run_portfolios(client, SPECS, batches, run_id="n2", resume=resume, **run)
        whole = fp.run_portfolios(client, SPECS, batches, run_id="full", **run)
    for spec in SPECS:
        label = spec.rules.label
        tonight = fp.read_staged(str(out), "n2", "portfolio_equity", label)
        assert 0 < tonight.num_rows < 300 - 150  # only the bars after the cut were walked
        for table in ("portfolio_equity", "portfolio_orders", "portfolio_holdings"):
            got = _staged_rows(out, ["n1", "n2"], table, label)
            want = _staged_rows(out, ["full"], table, label)
            assert got.num_rows == want.num_rows > 0, table
            assert got.equals(want), table
        got_m = _staged_rows(out, ["n2"], "portfolio_metrics", label)
        want_m = _staged_rows(out, ["full"], "portfolio_metrics", label)
        assert got_m.equals(want_m)
    assert [r["sharpe_ratio"] for r in night2] == [r["sharpe_ratio"] for r in whole]
