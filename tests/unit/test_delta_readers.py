"""The README's ways to read the output tables without barpipe: Polars and DuckDB."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from storage import db, outputs, runs, schemas


def _published(root: Path) -> None:
    rows = [
        {c: None for c in schemas.METRICS.names}
        | {"run_id": "r1", "symbol": s, "strategy": "z", "sharpe_ratio": v}
        for s, v in (("A", 1.5), ("B", -0.5))
    ]
    outputs.write_metrics(pa.Table.from_pylist(rows, schema=schemas.METRICS), root, "r1", 0)
    equity = pa.table(
        {
            "run_id": ["r1"] * 4,
            "symbol": ["A", "A", "B", "B"],
            "strategy": ["z"] * 4,
            "timestamp": pa.array([0, 1, 0, 1], pa.int64()).cast(schemas.TIMESTAMP),
            "equity": [100.0, 101.0, 100.0, 99.0],
        }
    )
    outputs.write_equity(equity, root, "r1", 0)
    conn = db.connect(root / "barpipe.db")
    try:
        night = runs.Night(full=True, signature="s")
        runs.publish(
            runs.OutputRoot(str(root)), conn, "r1", "2026-11-20", ["metrics", "equity"], night
        )
    finally:
        conn.close()


def test_polars_reads_the_tables(tmp_path):
    import polars as pl

    _published(tmp_path)
    equity = pl.read_delta(str(tmp_path / "equity"))
    assert equity.height == 4
    latest = (
        pl.scan_delta(str(tmp_path / "metrics"))
        .filter(pl.col("run_key") == "2026-11-20")
        .collect()
        .sort("symbol")
    )
    assert latest["sharpe_ratio"].to_list() == [1.5, -0.5]


def test_duckdb_queries_the_committed_files(tmp_path):
    import duckdb
    from deltalake import DeltaTable

    _published(tmp_path)
    equity = DeltaTable(str(tmp_path / "equity")).to_pyarrow_dataset()  # noqa: F841 (SQL)
    got = duckdb.sql(
        "SELECT symbol, strategy, max(equity) FROM equity GROUP BY ALL ORDER BY symbol"
    ).fetchall()
    assert got == [("A", "z", 101.0), ("B", "z", 100.0)]
