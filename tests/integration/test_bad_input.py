"""Bad input: per-symbol problems are quarantined and the run goes on; dataset-level problems
stop the run before anything is published, with one line that names the file, column or path.

The per-symbol cases share one dataset and one run through the console script (one bad
symbol per case, plus good ones); each case then checks its own quarantine record. The
dataset-level cases each get their own small dataset. Runs attach to the session's shared
cluster (``--scheduler``) to stay fast.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from compute.errors import ConfigError, DataError
from flows.launch import run_nightly
from flows.settings import load_settings
from storage import outputs

from .conftest import flow_settings, run_cli, symbol_bars

pytestmark = pytest.mark.slow

N_BARS = 120
RUN_KEY = "2026-11-20"
HOSTILE = "x'); DROP TABLE runs; --"
GOOD = ["GOOD1", "GOOD2", HOSTILE]


def _set(table: pa.Table, column: str, changes: dict[int, float]) -> pa.Table:
    values = table[column].to_numpy().copy()
    for row, value in changes.items():
        values[row] = value
    index = table.column_names.index(column)
    return table.set_column(index, column, pa.array(values, table.schema.field(column).type))


def _swap_highs_and_lows(table: pa.Table, row: int) -> pa.Table:
    high, low = table["high"][row].as_py(), table["low"][row].as_py()
    return _set(_set(table, "high", {row: low}), "low", {row: high})


def _squeeze(table: pa.Table, row: int) -> pa.Table:
    """High below max(open, close) while still above low: not bracketed, not inverted."""
    o, c = table["open"][row].as_py(), table["close"][row].as_py()
    table = _set(table, "low", {row: min(o, c) * 0.98})
    return _set(table, "high", {row: max(o, c) * 0.995})


def _duplicate_time(table: pa.Table, row: int) -> pa.Table:
    ts = table["timestamp"].to_numpy().copy()
    ts[row] = ts[row - 1]
    return table.set_column(1, "timestamp", pa.array(ts, table.schema.field("timestamp").type))


def _swap_rows(table: pa.Table, row: int) -> pa.Table:
    order = np.arange(table.num_rows)
    order[[row, row + 1]] = order[[row + 1, row]]
    return table.take(pa.array(order))


def _bars(name: str | None, index: int, n: int = N_BARS) -> pa.Table:
    return symbol_bars(name, n, seed=11, index=index)


# symbol -> (expected reason, row of the first problem or None, how the symbol's bars are made)
CASES = {
    "NANCLOSE": ("nonfinite_price", 50, lambda t: _set(t, "close", {50: np.nan})),
    "INFHIGH": ("nonfinite_price", 51, lambda t: _set(t, "high", {51: np.inf})),
    "ZEROOPEN": ("nonpositive_price", 10, lambda t: _set(t, "open", {10: 0.0})),
    "NEGLOW": ("nonpositive_price", 12, lambda t: _set(t, "low", {12: -1.0})),
    "HIGHLOW": ("high_below_low", 20, lambda t: _swap_highs_and_lows(t, 20)),
    "NOBRACKET": ("ohlc_not_bracketed", 30, lambda t: _squeeze(t, 30)),
    "NEGVOL": ("bad_volume", 40, lambda t: _set(t, "volume", {40: -5.0})),
    "NANVOL": ("bad_volume", 41, lambda t: _set(t, "volume", {41: np.nan})),
    "DUPTS": ("duplicate_timestamp", 59, lambda t: _duplicate_time(t, 60)),  # row 60 := 59
    "SHORT": ("too_few_bars", 0, lambda t: t.slice(0, 10)),
    "": ("bad_symbol_name", 0, lambda t: t),
    "../x": ("bad_symbol_name", 0, lambda t: t),
    "a/b": ("bad_symbol_name", 0, lambda t: t),
    None: ("bad_symbol_name", 0, lambda t: t),
}
UNSORTED = "UNSORTED"


def _write_flat(root: Path, tables: list[pa.Table], name: str = "part-00000.parquet") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(tables), root / name)
    return root


@pytest.fixture(scope="module")
def per_symbol_dataset(tmp_path_factory) -> Path:
    tables = [_bars(s, i) for i, s in enumerate(GOOD)]
    tables.append(_swap_rows(_bars(UNSORTED, 10), 70))
    for i, (symbol, (_, _, make)) in enumerate(CASES.items()):
        tables.append(make(_bars(symbol, 20 + i)))
    return _write_flat(tmp_path_factory.mktemp("bad") / "bars", tables)


@pytest.fixture
def cli(run_config, cli_env, shared_cluster):
    """``barpipe run`` on the shared cluster with the test config; returns CompletedProcess."""

    def run(input_path, out, *extra: str):
        args = ["run", "--config", str(run_config), "--input", str(input_path)]
        args += ["--output", str(out), "--run-date", RUN_KEY, "--scheduler", shared_cluster]
        return run_cli([*args, *extra], cli_env)

    return run


@pytest.fixture(scope="module")
def per_symbol_run(per_symbol_dataset, run_config, cli_env, shared_cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("bad-out") / "out"
    args = ["run", "--config", str(run_config), "--input", str(per_symbol_dataset)]
    args += ["--output", str(out), "--run-date", RUN_KEY, "--scheduler", shared_cluster]
    result = run_cli(args, cli_env)
    with sqlite3.connect(out / "barpipe.db") as conn:
        conn.row_factory = sqlite3.Row
        run = dict(conn.execute("SELECT * FROM runs").fetchone())
        quarantine = {
            r["symbol"]: dict(r)
            for r in conn.execute("SELECT * FROM quarantine WHERE run_id = ?", (run["run_id"],))
        }
        notes = [dict(r) for r in conn.execute("SELECT * FROM run_notes")]
    return result, out, run, quarantine, notes


def _timestamp(row: int, index: int) -> str:
    ts = _bars("T", index)["timestamp"][row].as_py()
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- per-symbol problems: quarantined, the run goes on -----------------------------------------


def test_run_with_bad_symbols_succeeds_and_its_summary_lists_them(per_symbol_run):
    result, _, run, _, _ = per_symbol_run
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert run["status"] == "succeeded"
    assert f"quarantined {len(CASES)} " in result.stdout
    assert "quarantined (first 5)" in result.stdout
    assert "note: symbol 'UNSORTED': timestamps were not in order" in result.stdout


@pytest.mark.parametrize("symbol", list(CASES), ids=[repr(s) for s in CASES])
def test_bad_symbol_is_quarantined_with_its_reason(per_symbol_run, symbol):
    _, out, run, quarantine, _ = per_symbol_run
    reason, row, make = CASES[symbol]
    index = 20 + list(CASES).index(symbol)
    record = quarantine[symbol]
    assert record["reason"] == reason, record["detail"]
    assert record["n_rows"] == make(_bars(symbol, index)).num_rows
    assert record["first_bad_timestamp"] == _timestamp(row, index), record["detail"]
    parquet = outputs.read_output(str(out), "quarantine", run_keys=[RUN_KEY])
    mask = pc.is_null(parquet["symbol"]) if symbol is None else pc.equal(parquet["symbol"], symbol)
    assert parquet.filter(mask)["reason"].to_pylist() == [reason]


def test_every_row_is_accounted_for(per_symbol_run, per_symbol_dataset):
    _, out, run, quarantine, _ = per_symbol_run
    n_input = pq.read_metadata(per_symbol_dataset / "part-00000.parquet").num_rows
    assert run["n_rows_in"] == n_input
    assert run["n_rows_in"] == run["n_rows_processed"] + run["n_rows_quarantined"]
    assert run["n_rows_quarantined"] == sum(q["n_rows"] for q in quarantine.values())
    assert run["n_rows_processed"] == (len(GOOD) + 1) * N_BARS
    assert run["n_quarantined"] == len(CASES)
    metrics = outputs.read_output(str(out), "metrics", run_keys=[RUN_KEY])
    assert set(metrics["symbol"].to_pylist()) == {*GOOD, UNSORTED}


def test_unsorted_symbol_is_sorted_kept_and_noted_in_the_runs_record(per_symbol_run):
    _, out, run, quarantine, notes = per_symbol_run
    assert UNSORTED not in quarantine
    assert notes == [
        {
            "run_id": run["run_id"],
            "run_key": RUN_KEY,
            "symbol": UNSORTED,
            "kind": "sorted",
            "n_rows": N_BARS,
            "first_bad_timestamp": _timestamp(70, 10),
            "detail": notes[0]["detail"],
        }
    ]
    equity = outputs.read_output(str(out), "equity", run_keys=[RUN_KEY])
    mine = pc.and_(pc.equal(equity["symbol"], UNSORTED), pc.equal(equity["strategy"], "momentum"))
    times = equity.filter(mine)["timestamp"]
    assert len(times) == N_BARS
    assert times.to_pylist() == sorted(times.to_pylist())


# --- security: names and SQL ---------------------------------------------------------------


def test_symbol_names_never_become_paths_under_the_output_root(per_symbol_run):
    _, out, _, _, _ = per_symbol_run
    root = out.resolve()
    names = [p.relative_to(root).as_posix() for p in root.rglob("*")]
    assert names, "nothing written"
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root)
    for symbol in [*GOOD, UNSORTED, *(s for s in CASES if s)]:
        assert not any(symbol in part for name in names for part in name.split("/")), symbol
    assert not (out.parent / "x").exists()
    assert {n.split("/")[0] for n in names} <= {
        "trades",
        "equity",
        "metrics",
        "quarantine",
        "indicators",
        "signals",
        "reports",
        "logs",  # the runs' log files (flows.logs)
        "_staging",
        "barpipe.db",
        "barpipe.db.lock",
        "barpipe.db-wal",
        "barpipe.db-shm",
        "barpipe.prom",
    }


def test_hostile_symbol_round_trips_through_sqlite(per_symbol_run):
    _, out, run, _, _ = per_symbol_run
    with sqlite3.connect(out / "barpipe.db") as conn:
        rows = conn.execute(
            "SELECT DISTINCT symbol FROM metrics WHERE symbol = ?", (HOSTILE,)
        ).fetchall()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert rows == [(HOSTILE,)]
    assert {"runs", "trades", "metrics", "quarantine", "run_stages", "run_notes"} <= tables


def test_yaml_config_is_loaded_safely(tmp_path):
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(f'run: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert str(config) in str(info.value)
    assert not marker.exists()


# --- dataset-level problems: nothing published, the run recorded failed ----------------------


def _assert_nothing_published(out: Path, error_part: str) -> None:
    with sqlite3.connect(out / "barpipe.db") as conn:
        runs = conn.execute("SELECT status, error FROM runs").fetchall()
        published = conn.execute(
            "SELECT (SELECT count(*) FROM trades) + (SELECT count(*) FROM metrics) "
            "+ (SELECT count(*) FROM quarantine)"
        ).fetchone()[0]
    assert [r[0] for r in runs] == ["failed"]
    assert error_part in runs[0][1]
    assert published == 0
    for table in ("trades", "metrics", "quarantine", "equity"):
        assert not (out / table).exists() or not any((out / table).iterdir()), table
    assert not (out / "_staging").exists() or not any((out / "_staging").iterdir())


def _one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_input_path(tmp_path, cli):
    missing = tmp_path / "no-such-bars"
    result = cli(missing, tmp_path / "out")
    assert result.returncode == 1
    assert _one_line_error(result) == f"error: input path not found: {missing}"
    _assert_nothing_published(tmp_path / "out", str(missing))


def test_corrupt_parquet_file(tmp_path, cli):
    data = _write_flat(tmp_path / "bars", [_bars("GOOD1", 0)])
    (data / "part-00001.parquet").write_bytes(b"PAR1 this is not a parquet file")
    result = cli(data, tmp_path / "out")
    assert result.returncode == 1
    line = _one_line_error(result)
    assert "part-00001.parquet" in line
    _assert_nothing_published(tmp_path / "out", "part-00001.parquet")


def test_uncastable_column_type(tmp_path, cli):
    table = _bars("GOOD1", 0)
    text = pa.array([f"{x:.2f}" for x in table["close"].to_pylist()[:-1]] + ["n/a"])
    data = _write_flat(tmp_path / "bars", [table.set_column(5, "close", text)])
    result = cli(data, tmp_path / "out")
    assert result.returncode == 1
    line = _one_line_error(result)
    assert "part-00000.parquet" in line
    assert "column 'close' of type string cannot be cast to double" in line
    _assert_nothing_published(tmp_path / "out", "'close'")


def test_strict_with_a_quarantine_fails_and_publishes_nothing(tmp_path, cli):
    data = _write_flat(tmp_path / "bars", [_bars("GOOD1", 0), _bars("SHORT", 1, n=10)])
    result = cli(data, tmp_path / "out", "--strict")
    assert result.returncode == 1
    assert _one_line_error(result) == (
        "error: --strict: 1 symbol(s) quarantined, first 'SHORT' (too_few_bars): "
        "10 bars, fewer than the 35 required"
    )
    _assert_nothing_published(tmp_path / "out", "--strict")


def _run_failing(settings) -> str:
    with pytest.raises(DataError) as info:
        run_nightly(settings, echo=lambda _m: None, progress=False)
    return str(info.value)


@pytest.fixture
def attached(prefect_harness, run_config, shared_cluster):
    def settings(input_path, out, **extra):
        extra = {"cluster.address": shared_cluster, **extra}
        return flow_settings(run_config, input_path, out, **extra)

    return settings


# --- a symbol too large for a worker: quarantined at planning, the run goes on --------------

HUGE_BARS = 20_000
# 0.02 of the shared cluster's 2 GB is a 40 MB batch cap: room for ~8,300 bars at the run
# config's ~770 B/bar next to a batch's fixed buffers, so HUGE alone is refused
SMALL_FRACTION = {"batches.memory_fraction": 0.02}


def _with_a_huge_symbol(root: Path) -> Path:
    return _write_flat(root, [_bars("GOOD1", 0), _bars("GOOD2", 1), _bars("HUGE", 2, n=HUGE_BARS)])


@pytest.fixture(scope="module")
def huge_run(prefect_harness, run_config, shared_cluster, tmp_path_factory):
    base = tmp_path_factory.mktemp("huge")
    data, out = _with_a_huge_symbol(base / "bars"), base / "out"
    settings = flow_settings(
        run_config, data, out, **{"cluster.address": shared_cluster, **SMALL_FRACTION}
    )
    messages: list[str] = []
    summary = run_nightly(settings, echo=messages.append, progress=False)
    return summary, out, messages


def test_symbol_too_large_for_a_worker_is_quarantined_and_the_run_succeeds(huge_run):
    summary, out, messages = huge_run
    assert summary.status == "succeeded"
    assert list(summary.plan["refused"]) == ["HUGE"]
    plan_lines = [m for m in messages if m.startswith("plan: ")]
    assert len(plan_lines) == 1
    assert plan_lines[0].endswith("; 1 symbol(s) refused as too large for a worker")
    first = _bars("HUGE", 2, n=HUGE_BARS)["timestamp"][0].as_py().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(out / "barpipe.db") as conn:
        rows = conn.execute(
            "SELECT symbol, reason, n_rows, first_bad_timestamp, detail FROM quarantine"
        ).fetchall()
    assert [r[:4] for r in rows] == [("HUGE", "too_large_for_worker", HUGE_BARS, first)]
    detail = rows[0][4]
    assert detail == summary.plan["refused"]["HUGE"]
    assert f"{HUGE_BARS} bars need" in detail
    assert "over the batch cap of 38 MiB" in detail
    assert "raise batches.memory_fraction" in detail
    parquet = outputs.read_output(str(out), "quarantine", run_keys=[RUN_KEY])
    assert parquet.select(["symbol", "reason", "n_rows", "detail"]).to_pylist() == [
        {"symbol": "HUGE", "reason": "too_large_for_worker", "n_rows": HUGE_BARS, "detail": detail}
    ]


def test_the_other_symbols_have_metrics_and_every_row_is_accounted_for(huge_run):
    summary, out, _ = huge_run
    metrics = outputs.read_output(str(out), "metrics", run_keys=[RUN_KEY])
    assert set(metrics["symbol"].to_pylist()) == {"GOOD1", "GOOD2"}
    with sqlite3.connect(out / "barpipe.db") as conn:
        conn.row_factory = sqlite3.Row
        run = dict(conn.execute("SELECT * FROM runs").fetchone())
    assert run["n_rows_in"] == 2 * N_BARS + HUGE_BARS
    assert run["n_rows_processed"] == 2 * N_BARS
    assert run["n_rows_quarantined"] == HUGE_BARS
    assert (run["n_symbols"], run["n_quarantined"]) == (2, 1)


def test_the_plan_is_stored_with_the_run(huge_run):
    summary, out, _ = huge_run
    with sqlite3.connect(out / "barpipe.db") as conn:
        head = conn.execute(
            "SELECT run_id, cap_bytes, n_batches, n_refused FROM run_plans"
        ).fetchall()
        batches = conn.execute(
            "SELECT n_symbols, n_bars, first_symbol, last_symbol FROM run_batches "
            "WHERE run_id = ? ORDER BY batch",
            (summary.run_id,),
        ).fetchall()
    assert head == [(summary.run_id, 40_000_000, len(batches), 1)]
    assert sum(b[0] for b in batches) == 2
    assert sum(b[1] for b in batches) == 2 * N_BARS
    assert batches[0][2] == "GOOD1"
    assert batches[-1][3] == "GOOD2"


def test_strict_fails_a_run_with_a_symbol_too_large_for_a_worker(tmp_path, attached):
    data = _with_a_huge_symbol(tmp_path / "bars")
    settings = attached(data, tmp_path / "out", **{"run.strict": True, **SMALL_FRACTION})
    message = _run_failing(settings)
    assert message.startswith(
        "--strict: 1 symbol(s) quarantined, first 'HUGE' (too_large_for_worker)"
    )
    _assert_nothing_published(tmp_path / "out", "--strict")


def test_a_memory_fraction_with_no_room_for_any_batch_fails_the_run(tmp_path, attached):
    data = _with_a_huge_symbol(tmp_path / "bars")
    out = tmp_path / "out"
    settings = attached(data, out, **{"batches.memory_fraction": 0.01})
    with pytest.raises(ConfigError) as info:
        run_nightly(settings, echo=lambda _m: None, progress=False)
    message = str(info.value)
    assert message.startswith("no batch can run on these workers: batches.memory_fraction = 0.01")
    assert "raise batches.memory_fraction to at least 0.04" in message
    assert "--memory-limit" in message
    _assert_nothing_published(out, "no batch can run")
    with sqlite3.connect(out / "barpipe.db") as conn:  # the failed run keeps its plan
        assert conn.execute("SELECT n_batches, n_refused FROM run_plans").fetchall() == [(0, 3)]


def test_missing_required_column(tmp_path, attached):
    data = _write_flat(tmp_path / "bars", [_bars("GOOD1", 0).drop_columns(["close"])])
    message = _run_failing(attached(data, tmp_path / "out"))
    assert message.startswith(str(data / "part-00000.parquet"))
    assert "missing required column 'close'" in message
    _assert_nothing_published(tmp_path / "out", "'close'")


def test_timestamp_of_a_type_that_cannot_be_cast(tmp_path, attached):
    table = _bars("GOOD1", 0)
    table = table.set_column(1, "timestamp", pc.cast(table["timestamp"], pa.int64()))
    data = _write_flat(tmp_path / "bars", [table])
    message = _run_failing(attached(data, tmp_path / "out"))
    assert str(data / "part-00000.parquet") in message
    assert "column 'timestamp' has type int64, which cannot be cast" in message
    _assert_nothing_published(tmp_path / "out", "'timestamp'")


def test_file_with_no_rows(tmp_path, attached):
    data = _write_flat(tmp_path / "bars", [_bars("GOOD1", 0).slice(0, 0)])
    message = _run_failing(attached(data, tmp_path / "out"))
    assert message == f"no rows to process in {data}"
    _assert_nothing_published(tmp_path / "out", "no rows")


def test_empty_directory(tmp_path, attached):
    data = tmp_path / "bars"
    data.mkdir()
    message = _run_failing(attached(data, tmp_path / "out"))
    assert message == f"no Parquet files under {data}"
    _assert_nothing_published(tmp_path / "out", "no Parquet files")


def test_file_that_is_not_parquet(tmp_path, attached):
    data = _write_flat(tmp_path / "bars", [_bars("GOOD1", 0)])
    (data / "README.txt").write_text("not bars")
    message = _run_failing(attached(data, tmp_path / "out"))
    # the error names the file itself, not only the dataset it belongs to
    assert message.startswith(f"cannot read Parquet file {data / 'README.txt'}: ")
    assert "Parquet magic bytes not found" in message
    _assert_nothing_published(tmp_path / "out", "README.txt")


def test_date_range_without_rows(tmp_path, attached):
    data = _write_flat(tmp_path / "bars", [_bars("GOOD1", 0)])
    settings = attached(data, tmp_path / "out", **{"dates.start": dt.date(2099, 1, 1)})
    message = _run_failing(settings)
    assert message == f"no rows to process in {data} between 2099-01-01 and the end"
    _assert_nothing_published(tmp_path / "out", "no rows")


def test_failed_run_leaves_an_earlier_publish_untouched(tmp_path, attached):
    good = _write_flat(tmp_path / "good", [_bars("GOOD1", 0)])
    out = tmp_path / "out"
    first = run_nightly(attached(good, out), echo=lambda _m: None, progress=False)
    before = outputs.read_output(str(out), "trades", run_keys=[RUN_KEY])
    bad = _write_flat(tmp_path / "bad", [_bars("GOOD1", 0).drop_columns(["volume"])])
    _run_failing(attached(bad, out))
    after = outputs.read_output(str(out), "trades", run_keys=[RUN_KEY])
    assert after.equals(before)
    assert set(after["run_id"].to_pylist()) == {first.run_id}
    with sqlite3.connect(out / "barpipe.db") as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY started_at")]
        ids = {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM trades")}
    assert statuses == ["succeeded", "failed"]
    assert ids == {first.run_id}
    assert not any((out / "_staging").iterdir()) if (out / "_staging").exists() else True
    from storage import delta

    with sqlite3.connect(out / "barpipe.db") as conn:
        recorded = conn.execute(
            "SELECT version FROM table_versions WHERE table_name = 'trades'"
        ).fetchone()[0]
    assert delta.version(str(out), "trades") == recorded == 0  # no commit by the failed run
