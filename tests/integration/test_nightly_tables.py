"""Continuous tables over many nights, in process (no Prefect; one threads-only Dask cluster).

The property (issue 11, item 2): after any sequence of nights — new bars, restated symbols,
new symbols, symbols gone from the input (and back), reruns, a run killed between its Delta
commits and its SQLite commit — the
trades, equity, indicators and signals tables equal, bit for bit, one full run over the
final input on an empty root, and the last night's metrics equal that run's metrics.
A kill is simulated faithfully: the publish stops after some table commits and its own
rollback does not run (as when the process dies); the next night's recovery must undo it.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.cluster import ClusterInfo
from flows.nightly import execute, maintain
from flows.settings import load_settings
from storage import delta, outputs, runs
from storage.bars import write_bars

from .conftest import symbol_bars, write_run_config

SYMBOLS = ("AAA", "BBB", "CCC")
N_BARS = 160
CONTINUOUS = ("trades", "equity", "indicators", "signals")


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as c,
        Client(c) as client,
    ):
        info = ClusterInfo(
            address=c.scheduler_address,
            dashboard=None,
            n_workers=1,
            n_threads=1,
            worker_memory=2**31,
            local=True,
        )
        yield client, info


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    return write_run_config(tmp_path_factory.mktemp("cfg") / "run.yaml")


BASE = {s: symbol_bars(s, N_BARS, index=i) for i, s in enumerate(SYMBOLS)}


def _input(path: Path, cuts: dict[str, int], restated: dict[str, float]) -> Path:
    """Bars of each symbol up to ``cuts``; a restated symbol's prices scaled (a split)."""
    parts = []
    for symbol, n in cuts.items():
        if n == 0:
            continue
        bars = BASE[symbol].slice(0, n)
        if symbol in restated:
            factor = restated[symbol]
            for col in ("open", "high", "low", "close"):
                i = bars.column_names.index(col)
                bars = bars.set_column(i, col, pa.array(bars[col].to_numpy() * factor))
        parts.append(bars)
    write_bars(parts, path)
    return path


def _night(cluster, config, inp: Path, out: Path, key: str, **extra):
    client, info = cluster
    s = load_settings(
        config,
        overrides={"input.path": str(inp), "output.path": str(out), "run.key": key, **extra},
    )
    messages: list[str] = []
    return execute(s, client, info, echo=messages.append, progress=False), messages


def _canonical(table: pa.Table) -> pa.Table:
    table = table.drop_columns([c for c in ("run_id", "run_key") if c in table.column_names])
    keys = ("portfolio", "symbol", "strategy", "entry_time", "timestamp")
    keys = [c for c in keys if c in table.column_names]
    return table.sort_by([(k, "ascending") for k in keys])


def _assert_bit_identical(got: pa.Table, want: pa.Table, what: str) -> None:
    got, want = _canonical(got), _canonical(want)
    assert got.column_names == want.column_names, what
    assert got.num_rows == want.num_rows, f"{what}: {got.num_rows} rows, want {want.num_rows}"
    for name in got.column_names:
        a, b = got[name], want[name]
        if pa.types.is_floating(a.type):  # bit for bit, NaN included
            x = np.asarray(a.to_numpy(), dtype=np.float64).view(np.int64)
            y = np.asarray(b.to_numpy(), dtype=np.float64).view(np.int64)
            assert np.array_equal(x, y), f"{what}.{name} differs"
        else:
            assert a.equals(b), f"{what}.{name} differs"


def _assert_equals_full_run(cluster, config, out: Path, inp: Path, key: str, tmp: Path) -> None:
    ref = tmp / f"ref-{key}"
    summary, _ = _night(cluster, config, inp, ref, key)
    assert summary.status == "succeeded"
    for table in CONTINUOUS:
        _assert_bit_identical(
            outputs.read_output(str(out), table), outputs.read_output(str(ref), table), table
        )
    _assert_bit_identical(
        outputs.read_output(str(out), "metrics", run_keys=[key]),
        outputs.read_output(str(ref), "metrics", run_keys=[key]),
        "metrics",
    )


def _kill_during_publish(monkeypatch, after_table: str) -> None:
    """The next publish stops after committing ``after_table``, as if the process died."""

    def stop(point: str, detail: str) -> None:
        if point == "publish-table" and detail.endswith(f" {after_table}"):
            raise SystemExit("killed")

    monkeypatch.setattr(runs, "pause_for_test", stop)
    monkeypatch.setattr(runs, "_roll_back", lambda *a, **k: [])


NIGHT = st.fixed_dictionaries(
    {
        "grow": st.lists(st.integers(0, 25), min_size=3, max_size=3),
        "restate": st.sampled_from([None, *SYMBOLS]),
        "rerun": st.booleans(),
        "kill": st.sampled_from([None, "trades", "metrics", "equity"]),
        "vanish": st.sampled_from([None, *SYMBOLS]),  # gone from the night's input
    }
)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(nights=st.lists(NIGHT, min_size=2, max_size=3), start=st.integers(60, 100))
def test_nights_equal_one_full_run(cluster, config, tmp_path_factory, nights, start):
    tmp = tmp_path_factory.mktemp("nights")
    out = tmp / "out"
    cuts = {"AAA": start, "BBB": start + 10, "CCC": 0}  # CCC appears later: a new symbol
    restated: dict[str, float] = {}
    key = "2026-01-01"
    inp = _input(tmp / "in-0", cuts, restated)
    assert _night(cluster, config, inp, out, key)[0].status == "succeeded"
    for i, night in enumerate(nights, start=1):
        for symbol, extra in zip(SYMBOLS, night["grow"], strict=True):
            if cuts[symbol] == 0 and extra:
                extra += 60  # a new (or returning) symbol: enough bars for the lookbacks
            cuts[symbol] = min(N_BARS, cuts[symbol] + extra)
        gone = night["vanish"]
        if gone and any(n for s, n in cuts.items() if s != gone):
            cuts[gone] = 0  # it comes back later, if at all, as a new symbol
        if night["restate"] and cuts[night["restate"]]:
            restated[night["restate"]] = restated.get(night["restate"], 1.0) * 0.5
        key = f"2026-01-{i + 1:02d}"
        inp = _input(tmp / f"in-{i}", cuts, restated)
        if night["kill"]:
            with pytest.MonkeyPatch.context() as mp:
                _kill_during_publish(mp, night["kill"])
                with pytest.raises(SystemExit):
                    _night(cluster, config, inp, out, key)
        summary, messages = _night(cluster, config, inp, out, key)
        assert summary.status == "succeeded"
        if night["rerun"]:
            again, _ = _night(cluster, config, inp, out, key)
            assert again.night.whole == again.night.extended == []  # nothing new
    _assert_equals_full_run(cluster, config, out, inp, key, tmp)


def test_cli_night_adds_only_new_bars(cluster, config, tmp_path):
    """A night with one new bar per symbol appends one equity row per symbol and strategy,
    skips an unchanged symbol, and a rerun of the night changes nothing."""
    out = tmp_path / "out"
    first = {"AAA": 120, "BBB": 120, "CCC": 120}
    _night(cluster, config, _input(tmp_path / "in1", first, {}), out, "2026-02-01")
    before = outputs.read_output(str(out), "equity").num_rows
    second = {"AAA": 121, "BBB": 121, "CCC": 120}
    inp = _input(tmp_path / "in2", second, {})
    summary, _ = _night(cluster, config, inp, out, "2026-02-02")
    assert sorted(summary.night.extended) == ["AAA", "BBB"]
    assert summary.night.unchanged == ["CCC"]
    n_strategies = len(set(outputs.read_output(str(out), "metrics")["strategy"].to_pylist()))
    after = outputs.read_output(str(out), "equity").num_rows
    assert after - before == 2 * n_strategies
    versions = {t: delta.version(str(out), t) for t in CONTINUOUS}
    _night(cluster, config, inp, out, "2026-02-02")
    assert outputs.read_output(str(out), "equity").num_rows == after
    # a rerun of the night commits only the metrics snapshot (identical rows)
    assert {t: delta.version(str(out), t) for t in ("equity", "indicators")} == {
        t: versions[t] for t in ("equity", "indicators")
    }
    _assert_equals_full_run(cluster, config, out, inp, "2026-02-02", tmp_path)


# --- item 4: one commit seen from both stores --------------------------------------------------


def _db_rows(out: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(out / "barpipe.db") as conn:
        return [tuple(r) for r in conn.execute(sql)]


def _both_stores_agree(out: Path) -> None:
    """SQLite's mirrored tables hold exactly the Delta tables' rows, at the recorded versions."""
    recorded = dict(_db_rows(out, "SELECT table_name, version FROM table_versions"))
    for table, version in recorded.items():
        assert delta.version(str(out), table) == version, table
    for table in ("trades", "metrics", "signals"):
        parquet = outputs.read_output(str(out), table)
        assert _db_rows(out, f"SELECT count(*) FROM {table}")[0][0] == parquet.num_rows, table


def _report_sleeves(out: Path, run_id: str) -> pa.Table:
    from storage import db

    with db.connect(out / "barpipe.db", readonly=True) as conn:
        return db.read_report_sleeves(conn, run_id)


def test_sqlite_failure_after_delta_commit_rolls_the_tables_back(
    cluster, config, tmp_path, monkeypatch
):
    """Measured defect: a SQLite failure after the Parquet commit left new Parquet and old
    SQLite rows, for good. Now the run fails and both stores keep the last commit."""
    from storage import db

    out = tmp_path / "out"
    _night(cluster, config, _input(tmp_path / "in1", {"AAA": 100, "BBB": 100}, {}), out, "k1")
    before = {t: outputs.read_output(str(out), t) for t in CONTINUOUS}
    inp = _input(tmp_path / "in2", {"AAA": 130, "BBB": 100, "CCC": 90}, {})

    def disk_full(*args, **kwargs):
        raise db.StorageError("cannot commit: database or disk is full")

    monkeypatch.setattr(db, "commit_night", disk_full)
    with pytest.raises(db.StorageError, match="disk is full"):
        _night(cluster, config, inp, out, "k2")
    monkeypatch.undo()
    for table in CONTINUOUS:
        _assert_bit_identical(outputs.read_output(str(out), table), before[table], table)
    _both_stores_agree(out)
    assert _night(cluster, config, inp, out, "k2")[0].status == "succeeded"
    _both_stores_agree(out)
    _assert_equals_full_run(cluster, config, out, inp, "k2", tmp_path)


@pytest.mark.parametrize("killed_at", ["trades", "signals", "equity"])
def test_killed_publish_is_rolled_back_by_repair_and_recovery_survives_its_own_kill(
    cluster, config, tmp_path, monkeypatch, killed_at
):
    out = tmp_path / "out"
    _night(cluster, config, _input(tmp_path / "in1", {"AAA": 100, "BBB": 100}, {}), out, "k1")
    before = {t: outputs.read_output(str(out), t) for t in CONTINUOUS}
    inp = _input(tmp_path / "in2", {"AAA": 130, "BBB": 100, "CCC": 90}, {"BBB": 0.5})
    with pytest.MonkeyPatch.context() as mp:
        _kill_during_publish(mp, killed_at)
        with pytest.raises(SystemExit):
            _night(cluster, config, inp, out, "k2")
    assert (
        delta.version(str(out), "trades")
        != _db_rows(out, "SELECT version FROM table_versions WHERE table_name = 'trades'")[0][0]
    )
    # recovery killed after its first restore, before recording it; then run again

    def killed_after_one(point: str, detail: str) -> None:
        if point == "recover-table":
            raise SystemExit("killed during recovery")

    settings_ = load_settings(config, overrides={"output.path": str(out)})
    monkeypatch.setattr(runs, "pause_for_test", killed_after_one)
    with pytest.raises(SystemExit):
        maintain(settings_, "repair", echo=lambda _m: None)
    monkeypatch.undo()
    messages: list[str] = []
    maintain(settings_, "repair", echo=messages.append)
    for table in CONTINUOUS:
        _assert_bit_identical(outputs.read_output(str(out), table), before[table], table)
    _both_stores_agree(out)
    again: list[str] = []
    maintain(settings_, "repair", echo=again.append)
    assert not [m for m in again if "rolled" in m]  # nothing left to do
    assert _night(cluster, config, inp, out, "k2")[0].status == "succeeded"
    _assert_equals_full_run(cluster, config, out, inp, "k2", tmp_path)


def test_rerun_without_equity_leaves_no_stale_equity_and_turning_it_on_recomputes(
    cluster, config, tmp_path
):
    """Measured defect: rerunning a key with write_equity: false left the earlier run's
    equity visible. Now a run that does not write a table empties it, and a later run that
    writes it again recomputes every symbol (no holes)."""
    out = tmp_path / "out"
    inp = _input(tmp_path / "in1", {"AAA": 100, "BBB": 100}, {})
    _night(cluster, config, inp, out, "k1")
    assert outputs.read_output(str(out), "equity").num_rows > 0
    _night(cluster, config, inp, out, "k1", **{"output.write_equity": False})
    assert outputs.read_output(str(out), "equity").num_rows == 0
    # without equity written the workers still compute it: the report's summaries are stored
    bare = tmp_path / "no-equity"
    summary, _ = _night(cluster, config, inp, bare, "k1", **{"output.write_equity": False})
    n_strategies = len(set(outputs.read_output(str(bare), "metrics")["strategy"].to_pylist()))
    assert _report_sleeves(bare, summary.run_id).num_rows == 2 * n_strategies
    inp2 = _input(tmp_path / "in2", {"AAA": 110, "BBB": 100}, {})
    summary, messages = _night(cluster, config, inp2, out, "k2")
    assert "full run: table equity is new" in messages
    _assert_equals_full_run(cluster, config, out, inp2, "k2", tmp_path)


def test_staging_left_by_late_batches_is_removed_by_the_next_run_and_by_repair(
    cluster, config, tmp_path
):
    """Measured defect: staging written by batches still running after a failed run's
    cleanup stayed on disk. The next run (or repair) deletes every staging area."""
    out = tmp_path / "out"
    inp = _input(tmp_path / "in1", {"AAA": 100}, {})
    _night(cluster, config, inp, out, "k1")
    outputs.write_staged(outputs.read_output(str(out), "trades").drop_columns(["run_key"]),
                         str(out), "dead-run", "trades", 0)  # fmt: skip
    assert outputs.list_staged_runs(str(out)) == ["dead-run"]
    maintain(load_settings(config, overrides={"output.path": str(out)}), "repair")
    assert outputs.list_staged_runs(str(out)) == []
    outputs.write_staged(outputs.read_output(str(out), "trades").drop_columns(["run_key"]),
                         str(out), "dead-run", "trades", 0)  # fmt: skip
    _night(cluster, config, inp, out, "k2")
    assert outputs.list_staged_runs(str(out)) == []


def test_prune_keeps_the_last_nights_and_reclaims_files(cluster, config, tmp_path):
    out = tmp_path / "out"
    for i, n in enumerate((100, 105, 110, 115), start=1):
        _night(cluster, config, _input(tmp_path / f"in{i}", {"AAA": n, "BBB": n}, {}), out, f"k{i}")
    files_before = sum(1 for _ in (out / "metrics").glob("*.parquet"))
    k3_version = dict(_db_rows(out, "SELECT run_key, run_id FROM runs WHERE run_key = 'k3'"))
    current = {t: outputs.read_output(str(out), t) for t in CONTINUOUS}
    maintain(
        load_settings(config, overrides={"output.path": str(out), "output.keep_nights": 2}),
        "prune",
        echo=lambda _m: None,
    )
    assert sorted(set(outputs.read_output(str(out), "metrics")["run_key"].to_pylist())) == [
        "k3",
        "k4",
    ]
    assert sorted({r[0] for r in _db_rows(out, "SELECT run_key FROM metrics")}) == ["k3", "k4"]
    for table in CONTINUOUS:
        _assert_bit_identical(outputs.read_output(str(out), table), current[table], table)
    assert sum(1 for _ in (out / "metrics").glob("*.parquet")) < files_before
    _both_stores_agree(out)
    # time travel to the version a kept night committed still works for continuous tables
    k3 = [
        h for h in delta.history(str(out), "equity") if h.get("barpipe_run_id") == k3_version["k3"]
    ]
    assert k3
    old = delta.read(str(out), "equity", at_version=int(k3[0]["version"]))
    assert old is not None
    assert 0 < old.num_rows < current["equity"].num_rows


def test_a_changed_computation_recomputes_everything(cluster, config, tmp_path):
    out = tmp_path / "out"
    inp = _input(tmp_path / "in1", {"AAA": 100, "BBB": 100}, {})
    _night(cluster, config, inp, out, "k1")
    summary, messages = _night(
        cluster, config, inp, out, "k2", indicators=[{"name": "ema", "params": {"timeperiod": 5}}]
    )
    assert any(m.startswith("full run: the computation changed") for m in messages)
    assert sorted(summary.night.whole) == ["AAA", "BBB"]
    columns = outputs.read_output(str(out), "indicators").column_names
    assert columns == ["run_id", "symbol", "timestamp", "ema_5", "run_key"]
    forced, messages = _night(cluster, config, inp, out, "k3", **{"run.full": True})
    assert "full run: --full" in messages
    assert sorted(forced.night.whole) == ["AAA", "BBB"]


def test_the_report_of_a_night_covers_every_sleeves_whole_history(cluster, config, tmp_path):
    """After a night that extends some symbols and skips one, and a rerun of it, the report's
    summaries (extended sleeves recomputed over their whole history, the skipped one kept
    from the night that computed it) give the portfolio of the whole equity table."""
    out = tmp_path / "out"
    _night(cluster, config, _input(tmp_path / "in1", dict.fromkeys(SYMBOLS, 120), {}), out, "n1")
    inp = _input(tmp_path / "in2", {"AAA": 124, "BBB": 121, "CCC": 120}, {})
    _night(cluster, config, inp, out, "n2")
    summary, _ = _night(cluster, config, inp, out, "n2")  # a rerun: every symbol skipped
    assert sorted(summary.night.unchanged) == list(SYMBOLS)
    _assert_report_covers_the_equity_table(out, summary.run_id)


def _assert_report_covers_the_equity_table(out: Path, run_id: str) -> None:
    from compute import portfolio

    sleeves = _report_sleeves(out, run_id)
    equity = outputs.read_output(str(out), "equity")
    n_strategies = len(set(equity["strategy"].to_pylist()))
    assert sleeves.num_rows == len(SYMBOLS) * n_strategies
    full = portfolio.portfolio_curves(equity)
    for name, curve in portfolio.portfolio_from_summaries(sleeves).items():
        at = np.searchsorted(full[name].timestamp_us, curve.timestamp_us)
        np.testing.assert_array_equal(full[name].timestamp_us[at], curve.timestamp_us)
        np.testing.assert_allclose(curve.equity, full[name].equity[at], rtol=1e-12)
        assert curve.timestamp_us[-1] == full[name].timestamp_us[-1]  # the new bars are in


def test_a_run_killed_after_its_commit_is_recorded_succeeded_and_its_summaries_count(
    cluster, config, tmp_path
):
    """Killed after its SQLite commit (the commit point) and before it recorded its outcome:
    its results are the published state, so recovery records it succeeded, and a later
    night that skips its symbols reports their summaries from it (not from an older night)."""
    import subprocess
    import sys

    from flows import nightly

    out = tmp_path / "out"
    _night(cluster, config, _input(tmp_path / "in1", dict.fromkeys(SYMBOLS, 120), {}), out, "n1")
    inp = _input(tmp_path / "in2", {"AAA": 124, "BBB": 121, "CCC": 120}, {})

    def stop(point: str, detail: str) -> None:
        if point == "published":
            raise SystemExit("killed")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "pause_for_test", stop)
        mp.setattr(
            nightly, "_record_failure", lambda *a, **k: None
        )  # a dead process records nothing
        with pytest.raises(SystemExit):
            _night(cluster, config, inp, out, "n2")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with sqlite3.connect(out / "barpipe.db") as conn:  # the process that ran it is gone
        conn.execute("UPDATE runs SET pid = ? WHERE status = 'running'", (child.pid,))
    (dead,) = _db_rows(out, "SELECT run_id FROM runs WHERE run_key = 'n2'")
    summary, messages = _night(cluster, config, inp, out, "n3")
    assert summary.night.whole == summary.night.extended == []
    assert any(m.startswith("recorded 1 dead run(s) succeeded") for m in messages), messages
    status, error = _db_rows(out, f"SELECT status, error FROM runs WHERE run_id = '{dead[0]}'")[0]
    assert status == "succeeded"
    assert "after its publish committed" in error
    _assert_report_covers_the_equity_table(out, summary.run_id)


def test_a_symbol_gone_from_the_input_is_removed_but_a_universe_filter_removes_nothing(
    cluster, config, tmp_path
):
    """A night whose input no longer holds a symbol deletes its rows (signals included: no
    bot acts on a symbol that is no longer fed), and says so; a night restricted by
    ``universe.symbols`` leaves the other symbols' rows alone. Earlier versions keep them."""
    out = tmp_path / "out"
    _night(cluster, config, _input(tmp_path / "in1", dict.fromkeys(SYMBOLS, 120), {}), out, "g1")
    everything = {t: outputs.read_output(str(out), t) for t in CONTINUOUS}
    inp = _input(tmp_path / "in2", {"AAA": 125, "BBB": 120, "CCC": 120}, {})
    narrow, messages = _night(cluster, config, inp, out, "g2", **{"universe.symbols": ["AAA"]})
    assert narrow.night.removed == []
    assert not [m for m in messages if m.startswith("removing")]
    for table in CONTINUOUS:
        symbols = set(outputs.read_output(str(out), table)["symbol"].to_pylist())
        assert symbols == set(SYMBOLS), table
    before = {t: delta.version(str(out), t) for t in CONTINUOUS}
    final = _input(tmp_path / "in3", {"AAA": 125, "BBB": 121}, {})  # CCC is gone
    summary, messages = _night(cluster, config, final, out, "g3")
    assert summary.night.removed == ["CCC"]
    assert "removing 1 symbol(s) no longer in the input from the tables: CCC" in messages
    for table in CONTINUOUS:
        assert "CCC" not in outputs.read_output(str(out), table)["symbol"].to_pylist(), table
        old = delta.read(str(out), table, at_version=before[table])
        assert "CCC" in old["symbol"].to_pylist(), table  # time travel still has it
    assert _db_rows(out, "SELECT count(*) FROM signals WHERE symbol = 'CCC'") == [(0,)]
    assert _db_rows(out, "SELECT count(*) FROM trades WHERE symbol = 'CCC'") == [(0,)]
    assert _db_rows(out, "SELECT symbol FROM publish_state ORDER BY symbol") == [("AAA",), ("BBB",)]
    _both_stores_agree(out)
    assert everything["signals"].num_rows > 0
    _assert_equals_full_run(cluster, config, out, final, "g3", tmp_path)
    again, _ = _night(cluster, config, final, out, "g3")  # a rerun removes nothing more
    assert again.night.removed == []


def test_workers_load_the_compiled_kernels_once_before_the_batches(cluster, config, tmp_path):
    """``warm_workers`` (called by the CLI while Prefect starts) has each local worker run
    the configuration once, so its first batch does not pay for loading the kernels; a
    worker that did it already, or a cluster that is not local, does nothing."""
    import dataclasses

    from flows import nightly, tasks

    client, info = cluster
    inp = _input(tmp_path / "in", {"AAA": 100}, {})
    _night(cluster, config, inp, tmp_path / "out", "w1")  # the flow compiled this configuration
    s = load_settings(config, overrides={"input.path": str(inp)})
    tasks._WARMED.clear()
    assert [f.result() for f in nightly.warm_workers(s, client, info)] == [True]
    assert [f.result() for f in nightly.warm_workers(s, client, info)] == [False]
    assert nightly.warm_workers(s, client, dataclasses.replace(info, local=False)) == []


def test_a_night_is_one_commit_per_table_but_trades_replacing_open_trades(
    cluster, config, tmp_path
):
    """A night with a restated, a new and an extended symbol: equity, indicators and signals
    change in one Delta commit each (a predicate overwrite); trades, whose open trades of
    the extended symbol are replaced, in a delete and an append (see _publish_continuous)."""
    out = tmp_path / "out"
    _night(cluster, config, _input(tmp_path / "in1", {"AAA": 120, "BBB": 120}, {}), out, "c1")
    before = {t: delta.version(str(out), t) for t in CONTINUOUS}
    inp = _input(tmp_path / "in2", {"AAA": 124, "BBB": 120, "CCC": 90}, {"BBB": 0.5})
    summary, _ = _night(cluster, config, inp, out, "c2")
    assert (sorted(summary.night.whole), summary.night.extended) == (["BBB", "CCC"], ["AAA"])
    after = {t: delta.version(str(out), t) for t in CONTINUOUS}
    assert {t: after[t] - before[t] for t in CONTINUOUS} == {
        "trades": 2,
        "equity": 1,
        "indicators": 1,
        "signals": 1,
    }
    _assert_equals_full_run(cluster, config, out, inp, "c2", tmp_path)


def test_a_benchmark_whose_past_changed_recomputes_the_skipped_sleeves(cluster, config, tmp_path):
    """With an equal-weight benchmark, a new symbol with history changes the benchmark's past:
    the sleeves that had nothing new must not keep last night's relative metrics. New bars
    after the last night's last bar change nothing before it, so that night stays incremental."""
    bench = {"metrics.benchmark": "equal_weight"}
    out = tmp_path / "out"
    first = _input(tmp_path / "in1", {"AAA": 120, "BBB": 120}, {})
    assert _night(cluster, config, first, out, "k1", **bench)[0].status == "succeeded"
    nights = [
        ({"AAA": 120, "BBB": 120, "CCC": 120}, "k2", True),  # CCC arrives with its history
        ({"AAA": 121, "BBB": 121, "CCC": 121}, "k3", False),  # one new bar each
    ]
    for cuts, key, full in nights:
        inp = _input(tmp_path / f"in-{key}", cuts, {})
        summary, messages = _night(cluster, config, inp, out, key, **bench)
        assert summary.status == "succeeded"
        assert summary.night.full is full, messages
        if full:
            assert any(m.startswith("full run: the benchmark 'equal_weight'") for m in messages), (
                messages
            )
        ref = tmp_path / f"ref-{key}"
        assert _night(cluster, config, inp, ref, key, **bench)[0].status == "succeeded"
        got = outputs.read_output(str(out), "metrics", run_keys=[key])
        want = outputs.read_output(str(ref), "metrics", run_keys=[key])
        assert got["alpha"].null_count == 0
        _assert_bit_identical(got, want, f"metrics {key}")
        for table in CONTINUOUS:
            _assert_bit_identical(
                outputs.read_output(str(out), table), outputs.read_output(str(ref), table), table
            )


PORTFOLIO = {
    "portfolio": [
        {
            "label": "rotation",
            "score": {"indicator": "roc", "params": {"timeperiod": 10}},
            "top": 2,
            "rebalance": "weekly",
            "benchmark": "equal_weight",
        },
        {  # continues over CCC's lag on night 4: it holds none of CCC, no decision falls there
            "label": "monthly",
            "score": {"indicator": "roc", "params": {"timeperiod": 10}},
            "top": 1,
            "ascending": True,  # the weakest: not CCC at bar 140
            "rebalance": "monthly",
            "benchmark": "AAA",
        },
    ]
}
PORTFOLIO_TABLES = ("portfolio_equity", "portfolio_orders", "portfolio_holdings")


def _versions(out: Path, tables) -> dict[str, int]:
    return {t: delta.version(str(out), t) if (out / t).exists() else -1 for t in tables}


def _rows_added(out: Path, table: str, since: int | None) -> int:
    """Rows the commits after version ``since`` added to ``table`` (every row if None), from
    the Delta log's add actions: an append adds the new rows only, a rewrite adds them all."""
    import json

    log = out / table / "_delta_log"
    rows = 0
    for entry in sorted(log.glob("*.json")):
        if since is not None and int(entry.stem) <= since:
            continue
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                rows += json.loads(action["add"]["stats"])["numRecords"]
    return rows


def _assert_portfolio_sqlite_equals_delta(out: Path) -> None:
    """barpipe.db mirrors the portfolio tables row for row (every snapshot of the metrics)."""
    from storage import db
    from storage.tables import TABLES

    with sqlite3.connect(out / "barpipe.db") as conn:
        for table in (*PORTFOLIO_TABLES, "portfolio_metrics"):
            order = [(k, "ascending") for k in (*TABLES[table].sort_keys, "run_key")]
            lite = db.read_table(conn, table).sort_by(order)
            lake = outputs.read_output(str(out), table).sort_by(order)
            assert lite.num_rows == lake.num_rows, table
            for name in (*TABLES[table].schema.names, "run_key"):
                a, b = (
                    lite[name].combine_chunks(),
                    lake[name].combine_chunks().cast(lite[name].type),
                )
                if pa.types.is_floating(a.type):  # SQLite stores NaN as NULL
                    a, b = a.fill_null(float("nan")), b.fill_null(float("nan"))
                    np.testing.assert_array_equal(a, b, err_msg=f"{table}.{name}")
                else:
                    assert a.equals(b), f"{table}.{name}: SQLite and Delta differ"


@pytest.mark.parametrize("benchmark", [None, "equal_weight"])
def test_portfolio_nights_equal_one_full_run(cluster, config, tmp_path, monkeypatch, benchmark):
    """Nights with new bars continue the portfolio from its saved state (only the new bars
    are walked and appended); a restated symbol, or one extended from before the last
    published bar whose late bars matter (see ``continue_from``), recomputes it whole. After every night the portfolio tables equal one full run's over
    that night's input on an empty root, bit for bit. A sleeves' benchmark
    (``metrics.benchmark``) changes the night's signature every night but not the walk."""
    from flows import portfolio as fp

    decided: list[str] = []

    def spy(*args, **kwargs):
        state, reason = continue_from(*args, **kwargs)
        decided.append("continued" if state is not None else reason)
        return state, reason

    continue_from = fp.continue_from
    monkeypatch.setattr(fp, "continue_from", spy)
    out = tmp_path / "out"
    settings = {**PORTFOLIO, **({"metrics.benchmark": benchmark} if benchmark else {})}
    nights = [
        ({"AAA": 100, "BBB": 100, "CCC": 100}, {}),
        ({"AAA": 115, "BBB": 115, "CCC": 115}, {}),
        ({"AAA": 130, "BBB": 130, "CCC": 130}, {"BBB": 0.5}),
        ({"AAA": 140, "BBB": 140, "CCC": 130}, {"BBB": 0.5}),  # CCC unchanged
        ({"AAA": 150, "BBB": 150, "CCC": 150}, {"BBB": 0.5}),  # CCC's new bars from 131
        ({"AAA": 160, "BBB": 160, "CCC": 160}, {"BBB": 0.5}),
    ]
    added: list[int] = []  # the portfolio_equity rows each night's one commit added
    written: list[dict[str, int]] = []  # per portfolio, the rows with the night's run key
    said: list[list[str]] = []
    for i, (cuts, restated) in enumerate(nights):
        inp = _input(tmp_path / f"in-{i}", cuts, restated)
        key = f"2026-03-{i + 1:02d}"
        before = _versions(out, PORTFOLIO_TABLES)
        summary, messages = _night(cluster, config, inp, out, key, **settings)
        assert summary.status == "succeeded"
        said.append([m for m in messages if m.startswith("portfolio ")])
        equity = outputs.read_output(str(out), "portfolio_equity")
        assert equity.num_rows == 2 * max(cuts.values())  # each portfolio: every bar, once
        after = _versions(out, PORTFOLIO_TABLES)
        for table in PORTFOLIO_TABLES:  # at most one Delta commit per table per night
            assert after[table] - (before[table] if i else -1) <= 1, (i, table)
        added.append(
            _rows_added(out, "portfolio_equity", before["portfolio_equity"] if i else None)
        )
        mine = equity.filter(pa.compute.equal(equity["run_key"], key))["portfolio"].to_pylist()
        written.append({label: mine.count(label) for label in ("rotation", "monthly")})
        ref = tmp_path / f"ref-{i}"
        with monkeypatch.context() as mp:
            mp.setattr(fp, "continue_from", continue_from)
            assert _night(cluster, config, inp, ref, key, **settings)[0].status == "succeeded"
        for table in PORTFOLIO_TABLES:  # series tables: every row once, whoever wrote it
            _assert_bit_identical(
                outputs.read_output(str(out), table),
                outputs.read_output(str(ref), table),
                f"night {i}: {table}",
            )
        for table in ("portfolio_metrics", "portfolio_state"):  # a snapshot per night
            _assert_bit_identical(
                outputs.read_output(str(out), table, run_keys=[key]),
                outputs.read_output(str(ref), table, run_keys=[key]),
                f"night {i}: {table}",
            )
        _assert_portfolio_sqlite_equals_delta(out)
    # the report of the last (continued) night draws the portfolio's whole history
    from flows.portfolio_report import portfolio_panels

    curve = portfolio_panels(str(out), key)[1].renderers[0].data_source.data["equity"]
    assert len(curve) == 160
    # a continued night's commit adds only its new bars (night 3: 10, its CCC unchanged);
    # a whole one rewrites that portfolio's history; no other row is rewritten
    rotation, monthly = decided[0::2], decided[1::2]
    for i, (cuts, _) in enumerate(nights):
        bars, new = max(cuts.values()), max(cuts.values()) - max(nights[i - 1][0].values())
        want = {
            label: new if decided_ == "continued" else bars
            for label, decided_ in (("rotation", rotation[i]), ("monthly", monthly[i]))
        }
        assert written[i] == want, (i, decided)
        assert added[i] == sum(want.values()), i
    if benchmark:  # the sleeves' benchmark past changed on night 4: a full night, all whole
        assert (
            rotation
            == monthly
            == [
                "nothing published yet",
                "continued",
                "symbol 'BBB' was restated",
                "continued",
                "nothing published yet",
                "continued",
            ]
        ), decided
        return
    assert rotation == [
        "nothing published yet",
        "continued",
        "symbol 'BBB' was restated",
        "continued",
        "symbol 'CCC' got bars before the last published bar while held or with an order pending",
        "continued",
    ]
    # CCC's late bars (131 to 140) are inside monthly's walked history, but it held none of
    # CCC and July's decision came before them: it continues (issue 15: a symbol without a
    # bar keeps its position and is filled at its next bar)
    assert monthly == [*rotation[:4], "continued", "continued"], decided
    assert said[4] == [  # the run says what it did with each portfolio
        "portfolio rotation: walked whole, symbol 'CCC' got bars before the last published bar "
        "while held or with an order pending",
        "portfolio monthly: continued: 10 new bar(s) walked",
    ]


@pytest.mark.parametrize("killed_after", ["portfolio_equity", "portfolio_state"])
def test_a_portfolio_night_killed_during_publish_is_recovered(
    cluster, config, tmp_path, monkeypatch, killed_after
):
    """A night killed after committing some portfolio tables to Delta (before its SQLite
    commit) is rolled back by the next night's recovery: that night continues from the last
    committed state, and the tables equal one full run's, in Delta and SQLite alike."""
    out = tmp_path / "out"
    first = _input(tmp_path / "in-0", {"AAA": 100, "BBB": 100, "CCC": 100}, {})
    assert _night(cluster, config, first, out, "2026-04-01", **PORTFOLIO)[0].status == "succeeded"
    killed = _input(tmp_path / "in-1", {"AAA": 110, "BBB": 110, "CCC": 110}, {})
    with monkeypatch.context() as mp:
        _kill_during_publish(mp, killed_after)
        with pytest.raises(SystemExit):
            _night(cluster, config, killed, out, "2026-04-02", **PORTFOLIO)
    assert outputs.read_output(str(out), "portfolio_equity").num_rows == 2 * 110  # dead commit
    inp = _input(tmp_path / "in-2", {"AAA": 120, "BBB": 120, "CCC": 120}, {})
    summary, messages = _night(cluster, config, inp, out, "2026-04-02", **PORTFOLIO)
    assert summary.status == "succeeded"
    assert any("rolled portfolio_equity back" in m for m in messages), messages
    assert summary.night.series["portfolio"].extended == {  # from night 1's saved bar
        label: int(BASE["AAA"]["timestamp"][99].value) for label in ("rotation", "monthly")
    }
    ref = tmp_path / "ref"
    assert _night(cluster, config, inp, ref, "2026-04-02", **PORTFOLIO)[0].status == "succeeded"
    for table in PORTFOLIO_TABLES:
        _assert_bit_identical(
            outputs.read_output(str(out), table), outputs.read_output(str(ref), table), table
        )
    for table in ("portfolio_metrics", "portfolio_state"):
        _assert_bit_identical(
            outputs.read_output(str(out), table, run_keys=["2026-04-02"]),
            outputs.read_output(str(ref), table, run_keys=["2026-04-02"]),
            table,
        )
    _assert_portfolio_sqlite_equals_delta(out)
    _both_stores_agree(out)
    # a rerun of the night walks nothing and commits nothing to the series tables
    versions = _versions(out, PORTFOLIO_TABLES)
    again, messages = _night(cluster, config, inp, out, "2026-04-02", **PORTFOLIO)
    assert again.status == "succeeded"
    assert "portfolio rotation: continued, no new bar" in messages
    assert _versions(out, PORTFOLIO_TABLES) == versions
    _assert_bit_identical(  # its metrics still cover the whole history
        outputs.read_output(str(out), "portfolio_metrics", run_keys=["2026-04-02"]),
        outputs.read_output(str(ref), "portfolio_metrics", run_keys=["2026-04-02"]),
        "portfolio_metrics after the rerun",
    )
    _assert_portfolio_sqlite_equals_delta(out)


PORTFOLIO_NIGHT = st.fixed_dictionaries(
    {
        "grow": st.lists(st.integers(0, 25), min_size=3, max_size=3),  # unequal: lagging
        "restate": st.sampled_from([None, None, *SYMBOLS]),
        "rerun": st.booleans(),
        "kill": st.sampled_from(
            [None, "portfolio_equity", "portfolio_holdings", "portfolio_state"]
        ),
        "vanish": st.sampled_from([None, None, "BBB", "CCC"]),  # AAA: monthly's benchmark
    }
)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(nights=st.lists(PORTFOLIO_NIGHT, min_size=2, max_size=3), start=st.integers(60, 100))
def test_portfolio_nights_at_random_equal_one_full_run(
    cluster, config, tmp_path_factory, nights, start
):
    """Random nights (symbols growing unequally, so some lag behind the saved bar; restated,
    vanished and returning symbols; reruns; a publish killed after a portfolio table's
    commit): the portfolio series tables, the last night's metrics and state equal one full
    run's over the final input, and barpipe.db mirrors Delta."""
    tmp = tmp_path_factory.mktemp("portfolio-nights")
    out = tmp / "out"
    quiet = {**PORTFOLIO["portfolio"][1], "label": "quiet", "benchmark": None}
    portfolios = {"portfolio": [*PORTFOLIO["portfolio"], quiet]}  # quiet: often continued
    cuts = {"AAA": start, "BBB": start + 10, "CCC": 0}  # CCC appears later: a new symbol
    restated: dict[str, float] = {}
    key = "2026-05-01"
    inp = _input(tmp / "in-0", cuts, restated)
    assert _night(cluster, config, inp, out, key, **portfolios)[0].status == "succeeded"
    for i, night in enumerate(nights, start=1):
        for symbol, extra in zip(SYMBOLS, night["grow"], strict=True):
            if cuts[symbol] == 0 and extra:
                extra += 60  # a new (or returning) symbol: enough bars for the lookbacks
            cuts[symbol] = min(N_BARS, cuts[symbol] + extra)
        gone = night["vanish"]
        if gone and any(n for s, n in cuts.items() if s != gone):
            cuts[gone] = 0
        if night["restate"] and cuts[night["restate"]]:
            restated[night["restate"]] = restated.get(night["restate"], 1.0) * 0.5
        key = f"2026-05-{i + 1:02d}"
        inp = _input(tmp / f"in-{i}", cuts, restated)
        if night["kill"]:
            with pytest.MonkeyPatch.context() as mp:
                _kill_during_publish(mp, night["kill"])
                with pytest.raises(SystemExit):
                    _night(cluster, config, inp, out, key, **portfolios)
        assert _night(cluster, config, inp, out, key, **portfolios)[0].status == "succeeded"
        if night["rerun"]:
            assert _night(cluster, config, inp, out, key, **portfolios)[0].status == "succeeded"
    ref = tmp / "ref"
    assert _night(cluster, config, inp, ref, key, **portfolios)[0].status == "succeeded"
    for table in PORTFOLIO_TABLES:
        _assert_bit_identical(
            outputs.read_output(str(out), table), outputs.read_output(str(ref), table), table
        )
    for table in ("portfolio_metrics", "portfolio_state"):
        _assert_bit_identical(
            outputs.read_output(str(out), table, run_keys=[key]),
            outputs.read_output(str(ref), table, run_keys=[key]),
            table,
        )
    _assert_portfolio_sqlite_equals_delta(out)


def test_a_night_without_portfolios_empties_the_series_in_both_stores(cluster, config, tmp_path):
    """Portfolios no longer configured: their series rows go from Delta and barpipe.db alike
    (like a portfolio label no longer configured); a later night with them walks them whole."""
    out = tmp_path / "out"
    inp = _input(tmp_path / "in-0", {"AAA": 100, "BBB": 100, "CCC": 100}, {})
    assert _night(cluster, config, inp, out, "2026-06-01", **PORTFOLIO)[0].status == "succeeded"
    inp = _input(tmp_path / "in-1", {"AAA": 105, "BBB": 105, "CCC": 105}, {})
    assert _night(cluster, config, inp, out, "2026-06-02")[0].status == "succeeded"
    for table in PORTFOLIO_TABLES:
        assert outputs.read_output(str(out), table).num_rows == 0, table
        assert _db_rows(out, f"SELECT count(*) FROM {table}") == [(0,)], table
    inp = _input(tmp_path / "in-2", {"AAA": 110, "BBB": 110, "CCC": 110}, {})
    summary, messages = _night(cluster, config, inp, out, "2026-06-03", **PORTFOLIO)
    assert summary.status == "succeeded"
    assert summary.night.series["portfolio"].whole == ["rotation", "monthly"], messages
    assert outputs.read_output(str(out), "portfolio_equity").num_rows == 2 * 110
    _assert_portfolio_sqlite_equals_delta(out)
