"""Portfolio nights: the bytes each night adds to the portfolio tables, Delta and SQLite.

A full run on an empty output root (``--symbols`` daily symbols x ``--bars`` bars, one
strategy, a rotation portfolio: top 20 by 90-bar rate of change, monthly), then ``--nights``
nights that each add one bar per symbol. Printed per night: the bytes each portfolio table's
Delta directory gained, the SQLite pages of the portfolio tables and their indexes
(``dbstat``) gained, and the SQLite row counts of equity / orders / holdings; then the bytes
of the nights after the first over the first night's. In process, one threads-only worker.

Usage: ``python -m bench.portfolio_nights [--symbols 100 --bars 2520] [--nights 5]``
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import tempfile
from pathlib import Path

TABLES = (
    "portfolio_equity",
    "portfolio_orders",
    "portfolio_holdings",
    "portfolio_metrics",
    "portfolio_state",
)
PORTFOLIO = {
    "label": "rotation",
    "score": {"indicator": "roc", "params": {"timeperiod": 90}},
    "top": 20,
    "rebalance": "monthly",
    "benchmark": "equal_weight",
}


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _sqlite(db: Path) -> tuple[int, list[int]]:
    with sqlite3.connect(db) as conn:
        pages = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'portfolio%' "
            "OR name LIKE 'ix_portfolio%'"
        ).fetchone()[0]
        rows = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES[:3]]
    return int(pages), rows


def main() -> None:
    import pyarrow as pa
    from distributed import Client, LocalCluster

    from compute import synthetic
    from flows.cluster import ClusterInfo
    from flows.nightly import execute
    from flows.settings import load_settings
    from storage.bars import write_bars

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--nights", type=int, default=5)
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temp one)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-portfolio-nights-"))
    out = work / "out"
    base = []
    for i in range(args.symbols):
        b = synthetic.generate_symbol(args.bars + args.nights, 3, index=i)
        base.append(
            pa.table(
                {
                    "symbol": pa.array([f"S{i:04d}"] * b["close"].shape[0], pa.string()),
                    "timestamp": pa.array(b["timestamp"], pa.timestamp("us", tz="UTC")),
                    **{f: b[f] for f in ("open", "high", "low", "close", "volume")},
                }
            )
        )
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
            host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        info = ClusterInfo(
            address=cluster.scheduler_address, dashboard=None, n_workers=1, n_threads=1,
            worker_memory=2**31, local=True,
        )  # fmt: skip
        print(f"{args.symbols} symbols x {args.bars} daily bars, rotation top 20 monthly")
        print("night | " + " | ".join(TABLES) + " | SQLite pages | SQLite rows e/o/h")
        sizes = dict.fromkeys(TABLES, 0)
        pages = 0
        added: list[int] = []
        for night in range(args.nights + 1):
            inp = work / f"in-{night}"
            write_bars([b.slice(0, args.bars + night) for b in base], inp)
            settings = load_settings(
                None,
                overrides={
                    "input.path": str(inp),
                    "output.path": str(out),
                    "run.key": f"2026-01-{night + 1:02d}",
                    "run.report": False,
                    "strategies": [{"name": "zscore"}],
                    "metrics.annualization": 252,
                    "portfolio": [PORTFOLIO],
                },
                environ={},
            )
            summary = execute(settings, client, info, echo=lambda _m: None, progress=False)
            if summary.status != "succeeded":
                raise SystemExit(f"night {night} failed")
            now = {t: _du(out / t) for t in TABLES}
            now_pages, rows = _sqlite(out / "barpipe.db")
            delta_added = {t: now[t] - sizes[t] for t in TABLES}
            added.append(sum(delta_added.values()) + now_pages - pages)
            print(
                f"{'full' if night == 0 else f'+{night}'} | "
                + " | ".join(f"{delta_added[t]:,}" for t in TABLES)
                + f" | {now_pages - pages:,} | {rows}"
            )
            sizes, pages = now, now_pages
        later = sum(added[1:])
        print(
            f"{args.nights} nights added {later:,} bytes (Delta + SQLite pages), "
            f"{later / added[0]:.2f} of the first night's {added[0]:,}"
        )


if __name__ == "__main__":
    main()
