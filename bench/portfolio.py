"""Shared-cash rotation portfolio: barpipe's two-phase walk against vectorbt, side by side.

Rules on both sides: each month's first bar, rank the universe by 90-bar rate of change and
hold the top 20 at equal weight, decided at that bar's close and filled at the next bar's
open, 5 bps fees and 2 bps slippage, fractional units, 1,000,000 of cash.

- barpipe: phase 1 reads the input in batches of symbols, computes the score (``roc``) and
  the rows of ``compute.allocation.batch_rows`` and writes them to Parquet; phase 2 reads one
  chunk of the calendar at a time (a pyarrow filter on the timestamp) and walks it with
  ``walk_rows``, carrying the portfolio's state. Memory: a batch × its history, then a chunk
  × the universe.
- vectorbt: the usual way, the whole universe as wide frames: ROC, month-start ranking,
  a ``targetpercent`` size frame, ``Portfolio.from_orders`` with ``group_by=True``,
  ``cash_sharing=True``, ``call_seq='auto'``, ``price`` = open.

Each side runs in its own process (after a warm-up that fills the numba caches); the
script prints wall seconds and peak RSS (``VmHWM``) of each, their ratios, and the final
equity of both (they must agree). ``--symbols 5000 --barpipe-only`` measures the large
universe alone in one process; ``--symbols 5000 --cluster 2 600MB`` runs it through
``flows.portfolio.run_portfolios`` on two workers of 600 MB and prints each worker's peak. Run it under the shared lock: ``flock /tmp/barpipe-heavy.lock
.venv/bin/python -m bench.portfolio``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

TOP = 20
ROC = 90
FEES_BPS = 5.0
SLIPPAGE_BPS = 2.0
INIT_CASH = 1_000_000.0
WRITE_SYMBOLS = 250  # symbols per row group of the input the script writes
BATCH_SYMBOLS = 250  # symbols per batch of phase 1: one row group of the input
# --cluster: 252,000 bars per stage_rows task (250 symbols, 630,000 bars, got 600 MB workers
# killed: measured)
CLUSTER_BATCH_SYMBOLS = 100
CHUNK_BARS = 126


def _status_bytes(key: bytes) -> int:
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def _peak_rss() -> int:
    """Peak resident memory of this process (``VmHWM``)."""
    return _status_bytes(b"VmHWM:")


def _rss() -> int:
    """Resident memory now (``VmRSS``): after the imports, the baseline of the peak."""
    return _status_bytes(b"VmRSS:")


def write_universe(path: Path, n_symbols: int, n_bars: int, seed: int = 15) -> None:
    """Synthetic daily bars (``compute.synthetic``), written 250 symbols at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from compute import synthetic

    names = synthetic.symbol_names(n_symbols)
    ts = synthetic.timestamps(n_bars, "1d").astype("datetime64[us]")
    writer = None
    for lo in range(0, n_symbols, WRITE_SYMBOLS):
        cols: dict[str, list[Any]] = {k: [] for k in ("open", "close", "volume")}
        syms = []
        for i in range(lo, min(lo + WRITE_SYMBOLS, n_symbols)):
            bars = synthetic.generate_symbol(n_bars, seed, index=i)
            for k in cols:
                cols[k].append(bars[k])
            syms.append(np.full(n_bars, names[i], dtype=object))
        table = pa.table(
            {
                "symbol": pa.array(np.concatenate(syms), pa.string()),
                "timestamp": pa.array(np.tile(ts, len(syms)), pa.timestamp("us", tz="UTC")),
                **{k: pa.array(np.concatenate(v)) for k, v in cols.items()},
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def write_bars_dataset(root: Path, n_symbols: int, n_bars: int, seed: int = 15) -> None:
    """The same bars written the way barpipe's loader reads them best
    (``storage.bars.write_bars``, one row group per symbol), with high and low: the flow
    validates every bar."""
    import pyarrow as pa

    from compute import synthetic
    from storage.bars import write_bars

    names = synthetic.symbol_names(n_symbols)
    ts = synthetic.timestamps(n_bars, "1d").astype("datetime64[us]")

    def tables() -> Any:
        for i in range(n_symbols):
            bars = synthetic.generate_symbol(n_bars, seed, index=i)
            yield pa.table(
                {
                    "symbol": pa.array([names[i]] * n_bars, pa.string()),
                    "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
                    **{f: bars[f] for f in ("open", "high", "low", "close", "volume")},
                }
            )

    write_bars(tables(), root, partition_by_symbol=False, row_group_rows=n_bars)


def run_barpipe(input_path: str, work: str) -> dict[str, Any]:
    """The two phases, bounded: batches of symbols, then chunks of time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from compute import allocation, indicators, pipeline

    base = _rss()
    clock = time.perf_counter()
    rules = allocation.PortfolioRules(
        top=TOP,
        rebalance="monthly",
        fees_bps=FEES_BPS,
        slippage_bps=SLIPPAGE_BPS,
        init_cash=INIT_CASH,
    )
    source = ds.dataset(input_path, format="parquet")
    symbols = sorted(pc.unique(source.to_table(columns=["symbol"])["symbol"]).to_pylist())
    ids = {s: i for i, s in enumerate(symbols)}
    rows_dir = Path(work) / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    stamps = []  # each batch's distinct timestamps: the calendar without re-reading the rows
    for b, lo in enumerate(range(0, len(symbols), BATCH_SYMBOLS)):
        batch = symbols[lo : lo + BATCH_SYMBOLS]
        table = source.to_table(
            columns=["symbol", "timestamp", "open", "close", "volume"],
            # a contiguous slice of the sorted symbols: a range, pruned by row-group statistics
            filter=(pc.field("symbol") >= batch[0]) & (pc.field("symbol") <= batch[-1]),
            use_threads=False,  # one row group at a time
        ).sort_by([("symbol", "ascending"), ("timestamp", "ascending")])
        names, offsets = pipeline.segments(table)  # run-end encoded: no Python strings
        close = table["close"].to_numpy()
        score = indicators.compute_batch("roc", {"close": close}, offsets, timeperiod=ROC)["real"]
        rows = allocation.batch_rows(
            table["timestamp"].cast(pa.int64()).to_numpy(),
            table["open"].to_numpy(),
            close,
            table["volume"].to_numpy(),
            score,
            offsets,
            [ids[s] for s in names],
            rules,
        )
        del table, close, score
        stamps.append(np.unique(rows["timestamp"]))
        # by time, in row groups of about a chunk: a chunk's read skips the other groups
        order = np.argsort(rows["timestamp"], kind="stable")
        pq.write_table(
            pa.table({k: v[order] for k, v in rows.items()}),
            rows_dir / f"batch-{b:05d}.parquet",
            row_group_size=CHUNK_BARS * BATCH_SYMBOLS,
            compression="none",  # temporary rows: dictionary and snappy cost 3x the write
            use_dictionary=False,
        )
        del rows, order
        pa.default_memory_pool().release_unused()  # Arrow's pool keeps what it freed otherwise
    phase1 = time.perf_counter() - clock

    clock = time.perf_counter()
    rows_ds = ds.dataset(rows_dir, format="parquet")
    cal = allocation.calendar(np.concatenate(stamps))
    sched = allocation.rebalance_schedule(cal, rules.rebalance)
    state = allocation.PortfolioState.initial(len(symbols), rules.init_cash)
    equity = []
    n_orders = 0
    for start in range(0, cal.shape[0], CHUNK_BARS):
        stop = min(start + CHUNK_BARS, cal.shape[0])
        part = rows_ds.to_table(
            filter=(pc.field("timestamp") >= cal[start]) & (pc.field("timestamp") <= cal[stop - 1]),
            use_threads=False,
        )
        rows = {name: part[name].to_numpy() for name in allocation.ROW_FIELDS}
        result, state = allocation.walk_rows(
            rows, cal[start:stop], sched[start:stop], len(symbols), state, rules, start
        )
        equity.append(result.bars["equity"])
        n_orders += result.orders["bar"].shape[0]
    phase2 = time.perf_counter() - clock
    eq = np.concatenate(equity)
    return {
        "seconds": phase1 + phase2,
        "phase1_s": phase1,
        "phase2_s": phase2,
        "final_equity": float(eq[-1]),
        "n_orders": n_orders,
        "peak_rss": _peak_rss(),
        "import_rss": base,
    }


def run_vectorbt(input_path: str) -> dict[str, Any]:
    """The same rules the usual vectorbt way: the whole universe in wide frames."""
    import numpy as np
    import pyarrow.parquet as pq
    import vectorbt as vbt

    from compute import allocation

    base = _rss()
    clock = time.perf_counter()
    frame = pq.read_table(input_path, columns=["symbol", "timestamp", "open", "close"]).to_pandas()
    wide = frame.pivot(index="timestamp", columns="symbol")
    del frame
    open_, close = wide["open"], wide["close"]
    del wide
    score = close / close.shift(ROC) - 1  # no missing bars in this universe
    cal = open_.index.as_unit("us").asi8
    decide = allocation.rebalance_schedule(cal, "monthly")
    sc = score.to_numpy()
    size = np.full(sc.shape, np.nan)
    for t in np.flatnonzero(decide):
        if t + 1 >= sc.shape[0]:
            continue
        row = np.where(np.isnan(sc[t]), np.inf, -sc[t])
        n_ok = int(np.isfinite(row).sum())
        best = np.argsort(row, kind="stable")[: min(TOP, n_ok)]
        size[t + 1] = 0.0
        if best.size:
            size[t + 1, best] = 1.0 / best.size
    pf = vbt.Portfolio.from_orders(
        close=close,
        size=size,
        size_type="targetpercent",
        price=open_,
        fees=FEES_BPS / 1e4,
        slippage=SLIPPAGE_BPS / 1e4,
        init_cash=INIT_CASH,
        direction="longonly",
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        freq="1D",
    )
    value = pf.value().to_numpy()
    n_orders = int(pf.orders.count())
    return {
        "seconds": time.perf_counter() - clock,
        "final_equity": float(value[-1]),
        "n_orders": n_orders,
        "peak_rss": _peak_rss(),
        "import_rss": base,
    }


def run_cluster(input_path: str, work: str, workers: int, memory_limit: str) -> dict[str, Any]:
    """The same rules through ``flows.portfolio.run_portfolios`` on a LocalCluster of
    ``workers`` single-threaded workers of ``memory_limit`` each: phase 1 as one task per batch
    of 250 symbols, phase 2 as chained walk tasks sized from the workers' limit."""
    import logging

    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from distributed import Client, LocalCluster

    from compute.allocation import PortfolioRules
    from flows import portfolio as fp

    symbols = sorted(
        pc.unique(ds.dataset(input_path).to_table(columns=["symbol"])["symbol"]).to_pylist()
    )
    step = CLUSTER_BATCH_SYMBOLS
    batches = [tuple(symbols[i : i + step]) for i in range(0, len(symbols), step)]
    spec = fp.PortfolioSpec(
        rules=PortfolioRules(
            label="rotation",
            top=TOP,
            rebalance="monthly",
            fees_bps=FEES_BPS,
            slippage_bps=SLIPPAGE_BPS,
            init_cash=INIT_CASH,
        ),
        score={"indicator": "roc", "params": {"timeperiod": ROC}},
    )
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            memory_limit=memory_limit,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        clock = time.perf_counter()
        fp.run_portfolios(
            client, [spec], batches, run_id="bench", input_path=input_path, output_path=work
        )
        seconds = time.perf_counter() - clock
        peaks = fp.worker_peaks(client)
        limit = fp.worker_memory(client)
        restarts = len(peaks) != workers
    equity = fp.read_staged(work, "bench", "portfolio_equity", "rotation").sort_by("timestamp")
    step = fp.chunk_bars(len(symbols), equity.num_rows, limit)
    orders = fp.read_staged(work, "bench", "portfolio_orders", "rotation")
    return {
        "seconds": seconds,
        "final_equity": float(np.asarray(equity["equity"])[-1]),
        "n_orders": orders.num_rows,
        "worker_peaks": peaks,
        "memory_limit": limit,
        "restarted": restarts,
        "chunk_bars": step,
    }


def _child(side: str, input_path: str, work: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.portfolio", "--child", side, input_path, work],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{side} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--barpipe-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=5, help="runs per side; the fastest is kept")
    parser.add_argument(
        "--cluster",
        nargs=2,
        metavar=("WORKERS", "MEMORY_LIMIT"),
        help="run barpipe's portfolio on a LocalCluster instead (e.g. --cluster 2 600MB)",
    )
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "INPUT", "WORK"))
    args = parser.parse_args(argv)
    if args.child:
        side, input_path, work = args.child
        result = run_barpipe(input_path, work) if side == "barpipe" else run_vectorbt(input_path)
        print(json.dumps(result))
        return result

    if args.cluster:
        with tempfile.TemporaryDirectory(prefix="barpipe-bench-portfolio-") as tmp:
            data = Path(tmp) / "bars"
            write_bars_dataset(data, args.symbols, args.bars)
            r = run_cluster(
                str(data), str(Path(tmp) / "out"), int(args.cluster[0]), args.cluster[1]
            )
        print(
            f"{args.symbols} symbols x {args.bars} daily bars on {args.cluster[0]} workers of "
            f"{args.cluster[1]}: {r['seconds']:.2f} s, walk chunks of {r['chunk_bars']} bars, "
            f"orders {r['n_orders']}, final equity {r['final_equity']:.6f}, worker peak RSS "
            + ", ".join(f"{v / 2**20:.0f} MiB" for v in r["worker_peaks"].values())
            + f" (limit {r['memory_limit'] / 2**20:.0f} MiB; restarted: {r['restarted']})"
        )
        return r
    with tempfile.TemporaryDirectory(prefix="barpipe-bench-portfolio-") as tmp:
        warm = Path(tmp) / "warm.parquet"
        write_universe(warm, 30, 300)
        data = Path(tmp) / "bars.parquet"
        write_universe(data, args.symbols, args.bars)
        sides = ["barpipe"] if args.barpipe_only else ["barpipe", "vectorbt"]
        for side in sides:  # warm-up: numba caches filled, files in the page cache
            _child(side, str(warm), str(Path(tmp) / f"warm-{side}"))
        # alternating runs, the fastest of each side kept: the machine is shared, and a
        # neighbour's burst should not decide the ratio
        results: dict[str, dict[str, Any]] = {}
        for i in range(args.repeat):
            for side in sides:
                r = _child(side, str(data), str(Path(tmp) / f"{side}-{i}"))
                if side not in results or r["seconds"] < results[side]["seconds"]:
                    results[side] = r
    print(
        f"{args.symbols} symbols x {args.bars} daily bars, top {TOP} by {ROC}-bar ROC, monthly "
        f"(fastest of {args.repeat} alternating runs per side)"
    )
    for side, r in results.items():
        extra = ""
        if side == "barpipe":
            extra = f" (phase 1 {r['phase1_s']:.2f} s, phase 2 {r['phase2_s']:.2f} s)"
        print(
            f"  {side:9s} {r['seconds']:7.2f} s{extra}  peak RSS {r['peak_rss'] / 2**20:7.1f} MiB"
            f" ({(r['peak_rss'] - r['import_rss']) / 2**20:.1f} MiB above its imports)"
            f"  orders {r['n_orders']}  final equity {r['final_equity']:.6f}"
        )
    if "vectorbt" in results:
        b, v = results["barpipe"], results["vectorbt"]
        print(
            f"  vectorbt / barpipe: time {v['seconds'] / b['seconds']:.2f}x, "
            f"peak RSS {v['peak_rss'] / b['peak_rss']:.2f}x (above imports "
            f"{(v['peak_rss'] - v['import_rss']) / (b['peak_rss'] - b['import_rss']):.2f}x); "
            "final equity relative difference "
            f"{abs(b['final_equity'] / v['final_equity'] - 1):.2e}"
        )
    return results


if __name__ == "__main__":
    main()
