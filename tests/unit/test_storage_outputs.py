"""storage.outputs and storage.runs: staging overwrites itself; publish commits Delta tables and
SQLite together, idempotently; readers see committed rows only."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from compute.errors import StorageError
from storage import db, delta, runs, schemas
from storage.outputs import (
    list_staged_runs,
    read_output,
    remove_staging,
    write_equity,
    write_metrics,
    write_staged,
    write_trades,
)


def equity(run_id: str, symbols: list[str], n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    k = len(symbols) * n
    ts = np.tile(np.arange(n, dtype=np.int64) * 60_000_000, len(symbols))
    return pa.table(
        {
            "run_id": pa.array([run_id] * k, pa.string()),
            "symbol": pa.array(np.repeat(symbols, n).tolist(), pa.string()),
            "strategy": pa.array(["sma_cross"] * k, pa.string()),
            "timestamp": pa.array(ts).view(schemas.TIMESTAMP),
            "equity": rng.random(k),
        }
    )


def trades(run_id: str, symbols: list[str]) -> pa.Table:
    rows = [
        {name: None for name in schemas.TRADES.names}
        | {
            "run_id": run_id,
            "symbol": s,
            "strategy": "z",
            "side": "long",
            "net_pnl": 1.5,
            "bars_held": 3,
        }
        for s in symbols
    ]
    return pa.Table.from_pylist(rows, schema=schemas.TRADES)


def stage_run(root, run_id: str, symbols_per_batch: list[list[str]], n: int = 100) -> None:
    for batch, symbols in enumerate(symbols_per_batch):
        write_equity(equity(run_id, symbols, n, seed=batch), root, run_id, batch)
        write_trades(trades(run_id, symbols), root, run_id, batch)


def test_staged_file_names_are_deterministic_and_a_rerun_overwrites(tmp_path):
    first = write_equity(equity("r1", ["A"], 10, seed=1), tmp_path, "r1", 3)
    again = write_equity(equity("r1", ["A"], 7, seed=2), tmp_path, "r1", 3)
    assert first == again == [f"{tmp_path}/_staging/r1/equity/part-00003-00000.parquet"]
    assert pq.read_table(first[0]).num_rows == 7
    assert sorted(os.listdir(tmp_path / "_staging" / "r1" / "equity")) == [
        "part-00003-00000.parquet"
    ]
    assert list_staged_runs(tmp_path) == ["r1"]
    remove_staging(tmp_path, "r1")
    assert list_staged_runs(tmp_path) == []


def test_staging_casts_to_the_schema_and_sorts(tmp_path):
    data = equity("r1", ["B", "A"], 3).append_column("extra", pa.array(range(6)))
    path = write_staged(data, tmp_path, "r1", "equity", 0)
    table = pq.read_table(path)
    assert table.schema == schemas.EQUITY
    assert table["symbol"].to_pylist() == ["A"] * 3 + ["B"] * 3


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (
            lambda root: write_staged(equity("r", ["A"], 1), root, "r", "positions", 0),
            "unknown output table",
        ),
        (
            lambda root: write_staged(equity("r", ["A"], 1), root, "../up", "equity", 0),
            "run_id '../up'",
        ),
        (lambda root: write_metrics(equity("r", ["A"], 1), root, "r", 0), "lack column"),
        (lambda root: read_output(root, "positions"), "unknown output table"),
    ],
)
def test_bad_arguments_are_storage_errors(tmp_path, call, pattern):
    with pytest.raises(StorageError, match=pattern):
        call(tmp_path)


def test_a_large_batch_is_staged_in_pieces_of_the_target_size(tmp_path):
    data = equity("r", [f"S{i:02d}" for i in range(20)], 5_000)
    paths = write_staged(data, tmp_path, "r", "equity", 7, target_file_mib=0.25)
    names = [Path(p).name for p in paths]
    assert names == [f"part-00007-{i:05d}.parquet" for i in range(len(names))]
    assert len(names) > 2
    sizes = [os.path.getsize(p) for p in paths]
    assert all(s >= 0.25 * 2**20 for s in sizes[:-1])
    assert pa.concat_tables(pq.read_table(p) for p in paths).equals(data)
    # a smaller rerun of the same batch leaves none of the earlier pieces behind
    again = write_staged(data.slice(0, 10), tmp_path, "r", "equity", 7, target_file_mib=0.25)
    assert sorted(os.listdir(tmp_path / "_staging" / "r" / "equity")) == [Path(again[0]).name]


def publish(root, run_id: str, key: str, tables, night: runs.Night | None = None) -> dict:
    conn = db.connect(Path(root) / "barpipe.db")
    try:
        return runs.publish(
            runs.OutputRoot(str(root)),
            conn,
            run_id,
            key,
            list(tables),
            night or runs.Night(full=True, signature="s"),
        )
    finally:
        conn.close()


def db_rows(root, sql: str) -> list[tuple]:
    conn = db.connect(Path(root) / "barpipe.db")
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def test_publish_commits_delta_tables_and_sqlite_then_removes_staging(tmp_path):
    stage_run(tmp_path, "r1", [["A", "B"], ["C"]])
    published = publish(tmp_path, "r1", "2024-01-02", ["equity", "trades"])
    assert published["equity"] == str(tmp_path / "equity")
    assert (tmp_path / "equity" / "_delta_log").is_dir()
    got = read_output(tmp_path, "equity")
    assert got.num_rows == 300
    assert set(got["run_key"].to_pylist()) == {"2024-01-02"}
    assert db_rows(tmp_path, "SELECT count(*) FROM trades") == [(3,)]
    versions = dict(db_rows(tmp_path, "SELECT table_name, version FROM table_versions"))
    assert versions == {"equity": delta.version(str(tmp_path), "equity"), "trades": 0}
    assert list_staged_runs(tmp_path) == []


def test_a_rerun_of_a_snapshot_key_replaces_it_and_other_keys_stay(tmp_path):
    def stage_metrics(run_id: str, symbols: list[str]) -> None:
        rows = [
            {c: None for c in schemas.METRICS.names}
            | {"run_id": run_id, "symbol": s, "strategy": "z"}
            for s in symbols
        ]
        write_metrics(pa.Table.from_pylist(rows, schema=schemas.METRICS), tmp_path, run_id, 0)

    stage_metrics("r1", ["A", "B"])
    publish(tmp_path, "r1", "k1", ["metrics"])
    stage_metrics("r2", ["A"])
    publish(tmp_path, "r2", "k1", ["metrics"], runs.Night(full=False, signature="s"))
    stage_metrics("r3", ["C"])
    publish(tmp_path, "r3", "k2", ["metrics"], runs.Night(full=False, signature="s"))
    got = read_output(tmp_path, "metrics").sort_by("run_key")
    assert list(zip(got["run_key"].to_pylist(), got["symbol"].to_pylist(), strict=True)) == [
        ("k1", "A"),
        ("k2", "C"),
    ]
    assert sorted(db_rows(tmp_path, "SELECT run_key, symbol FROM metrics")) == [
        ("k1", "A"),
        ("k2", "C"),
    ]


def test_a_night_replaces_restated_symbols_and_open_trades_and_appends_new_rows(tmp_path):
    first = trades("r1", ["A", "B"]).set_column(
        14, "exit_reason", pa.array(["open", "signal"])
    )  # A's trade was still open
    write_trades(first, tmp_path, "r1", 0)
    publish(tmp_path, "r1", "k1", ["trades"])
    night = runs.Night(full=False, signature="s", whole=["B"], extended=["A"])
    second = trades("r2", ["A", "B"]).set_column(14, "exit_reason", pa.array(["signal", "open"]))
    write_trades(second, tmp_path, "r2", 0)
    publish(tmp_path, "r2", "k2", ["trades"], night)
    got = read_output(tmp_path, "trades").sort_by("symbol")
    assert got["run_id"].to_pylist() == ["r2", "r2"]  # A's open trade and B's rows replaced
    assert got["exit_reason"].to_pylist() == ["signal", "open"]
    assert sorted(db_rows(tmp_path, "SELECT run_id, symbol, exit_reason FROM trades")) == [
        ("r2", "A", "signal"),
        ("r2", "B", "open"),
    ]


def test_readers_never_see_staged_rows(tmp_path):
    stage_run(tmp_path, "r1", [["A"]])
    assert read_output(tmp_path, "equity").num_rows == 0
    publish(tmp_path, "r1", "k", ["equity"])
    stage_run(tmp_path, "r2", [["B"]])
    assert read_output(tmp_path, "equity")["symbol"].unique().to_pylist() == ["A"]


def test_a_corrupt_staged_file_fails_the_publish_and_commits_nothing(tmp_path):
    stage_run(tmp_path, "r1", [["A"]])
    publish(tmp_path, "r1", "k", ["equity"])
    stage_run(tmp_path, "r2", [["B"]])
    bad = tmp_path / "_staging" / "r2" / "equity" / "part-00001-00000.parquet"
    bad.write_bytes(b"PAR1 truncated by a dying worker")
    with pytest.raises(Exception, match=r"part-00001-00000\.parquet"):
        publish(
            tmp_path, "r2", "k2", ["equity"], runs.Night(full=False, signature="s", whole=["B"])
        )
    assert read_output(tmp_path, "equity")["symbol"].unique().to_pylist() == ["A"]
    recorded = dict(db_rows(tmp_path, "SELECT table_name, version FROM table_versions"))
    assert delta.version(str(tmp_path), "equity") == recorded["equity"]


def test_an_output_root_delta_cannot_use_is_named():
    with pytest.raises(StorageError, match=r"memory://.*local path, file://, s3://"):
        read_output(f"memory://barpipe-{uuid.uuid4().hex}/out", "equity")


def test_a_new_continuous_table_forces_a_full_night_and_a_new_snapshot_table_does_not(tmp_path):
    write_trades(trades("r1", ["A"]), tmp_path, "r1", 0)
    night = runs.Night(full=True, signature="s", whole=["A"], states={"A": (1, 1, "fp")})
    publish(tmp_path, "r1", "k1", ["trades"], night)
    conn = db.connect(tmp_path / "barpipe.db")
    try:
        assert runs.prepare(conn, ["trades", "metrics"], "s", full=False) == (
            False,
            "",
            {"A": (1, 1, "fp")},
        )
        assert runs.prepare(conn, ["trades", "equity"], "s", full=False)[:2] == (
            True,
            "table equity is new",
        )
        assert runs.prepare(conn, ["trades"], "other", full=False)[0] is True
    finally:
        conn.close()


def test_publish_streams_staged_rows_in_small_batches_and_bounded_row_groups(tmp_path, monkeypatch):
    """The flow process's memory: the staged rows reach delta-rs lazily, one small batch at a
    time from one file at a time, and delta-rs writes small Snappy row groups."""
    stage_run(tmp_path, "r1", [["A", "B"], ["C"], ["D"]], n=100)
    staged_files = len(os.listdir(tmp_path / "_staging" / "r1" / "equity"))
    monkeypatch.setattr(runs, "SCAN_BATCH_ROWS", 32)
    monkeypatch.setattr(delta, "ROW_GROUP_ROWS", 50)
    scans: list[runs.ScanStats] = []
    real_scan, real_write = runs._scan, delta._write

    def scan(staged, stats=None, batch_size=None):
        scans.append(runs.ScanStats())
        return real_scan(staged, scans[-1], batch_size)

    pulled_before_write: dict[str, int] = {}

    def write(root, table, data, *args, **kwargs):
        if table == "equity":
            assert isinstance(data, pa.RecordBatchReader)
            pulled_before_write[table] = scans[0].batches
        return real_write(root, table, data, *args, **kwargs)

    monkeypatch.setattr(runs, "_scan", scan)
    monkeypatch.setattr(delta, "_write", write)
    publish(tmp_path, "r1", "k", ["equity", "trades"])
    equity_scan, trades_to_sqlite = scans[0], scans[-1]
    assert pulled_before_write == {"equity": 0}  # nothing read ahead of the writer
    assert equity_scan.files == staged_files
    assert equity_scan.max_rows == 32
    assert equity_scan.batches >= 400 // 32
    assert trades_to_sqlite.files == 3
    assert trades_to_sqlite.batches == 3
    assert db_rows(tmp_path, "SELECT count(*) FROM trades") == [(4,)]
    written = [
        pq.ParquetFile(tmp_path / "equity" / name).metadata
        for name in os.listdir(tmp_path / "equity")
        if name.endswith(".parquet")
    ]
    groups = [m.row_group(i) for m in written for i in range(m.num_row_groups)]
    assert sum(g.num_rows for g in groups) == 400
    assert max(g.num_rows for g in groups) <= 50
    assert {g.column(0).compression for g in groups} == {"SNAPPY"}
    assert read_output(tmp_path, "equity").num_rows == 400


def test_the_staged_scan_gives_the_dataset_rows_even_when_a_file_schema_differs(tmp_path):
    """``runs._scan`` reads file by file; a file lacking a column of the dataset's schema (the
    first file's) is projected as the dataset scan projects it: nulls, columns in order."""
    first = pa.table({"symbol": ["A", "A", "B"], "x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]})
    second = pa.table({"symbol": ["C"], "y": [7.0]})
    pq.write_table(first, tmp_path / "part-0.parquet")
    pq.write_table(second, tmp_path / "part-1.parquet")
    staged = pads.dataset(
        [str(tmp_path / "part-0.parquet"), str(tmp_path / "part-1.parquet")], format="parquet"
    )
    stats = runs.ScanStats()
    got = pa.Table.from_batches(list(runs._scan(staged, stats, batch_size=2)), staged.schema)
    assert got.equals(staged.to_table())
    assert got["x"].to_pylist() == [1.0, 2.0, 3.0, None]
    assert (stats.files, stats.batches, stats.max_rows) == (2, 3, 2)
