"""Shared-cash rotation portfolio: barpipe's two-phase walk against vectorbt, side by side.

Rules on both sides: each month's first bar, rank the universe by 90-bar rate of change and
hold the top 20 at equal weight, decided at that bar's close and filled at the next bar's
open, 5 bps fees and 2 bps slippage, fractional units, 1,000,000 of cash.

Both sides read the same input, written by ``storage.bars.write_bars`` (one Parquet row group
per symbol, as ``barpipe generate`` writes; ``--group-symbols N`` puts N symbols in a row
group instead).

- barpipe: the functions the flow's tasks call (``flows.portfolio.stage_rows`` and
  ``walk_task``), in one process. Phase 1 lists the symbols from the Parquet footers
  (``storage.bars.scan_symbols``), loads batches of ``--batch-symbols`` symbols
  (``storage.bars.load_bars``), computes the score (``compute.allocation.compute_score``:
  ``roc``) and ``batch_rows``, and writes the rows in time order a row group at a time
  (``rows_by_time``); phase 2 reads one chunk of the calendar at a time (a pyarrow filter on
  the timestamp, a record batch at a time into ``new_grids``/``scatter_rows``) and walks it
  with ``walk_grids``, carrying the portfolio's state. Memory: a batch × its history, then a
  chunk × the universe.
- vectorbt: the usual way, the whole universe as wide frames: ROC, month-start ranking,
  a ``targetpercent`` size frame, ``Portfolio.from_orders`` with ``group_by=True``,
  ``cash_sharing=True``, ``call_seq='auto'``, ``price`` = open.

Each side runs in its own process (after a warm-up that fills the numba caches); the
script prints wall seconds and peak RSS (``VmHWM``, the whole process) of each, the peak
above the RSS after the imports and above the side's fixed costs, their ratios, and the
final equity of both (they must agree). The fixed costs are measured in a separate fresh
process per side: RSS after the interpreter, after each step of the imports, and after one
run over a tiny universe (30 symbols × 300 bars: numba's target initialised and the compiled
kernels loaded from the cache); the breakdown is printed. ``--symbols 5000 --barpipe-only``
measures the large universe alone in one process; ``--symbols 5000 --cluster 2 600MB`` runs
it through ``flows.portfolio.run_portfolios`` on two workers of 600 MB and prints each
worker's peak. Run it under the shared lock: ``flock /tmp/barpipe-heavy.lock
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
BATCH_SYMBOLS = 100  # symbols per batch of phase 1
# --cluster: 252,000 bars per stage_rows task (250 symbols, 630,000 bars, got 600 MB workers
# killed: measured)
CLUSTER_BATCH_SYMBOLS = 100
CHUNK_BARS = 126
SCAN_ROWS = 32_768  # staged rows read at a time in phase 2, as flows.portfolio.SCAN_ROWS


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


def write_bars_dataset(
    root: Path, n_symbols: int, n_bars: int, seed: int = 15, group_symbols: int = 1
) -> None:
    """Synthetic daily bars (``compute.synthetic``) written by ``storage.bars.write_bars``
    (as ``barpipe generate`` writes them, without the symbol directories), ``group_symbols``
    symbols per Parquet row group: 1 (default) lets the loader read a batch's symbols only."""
    import numpy as np
    import pyarrow as pa

    from compute import synthetic
    from storage.bars import write_bars

    names = synthetic.symbol_names(n_symbols)
    ts = pa.array(
        synthetic.timestamps(n_bars, "1d").astype("datetime64[us]"), pa.timestamp("us", tz="UTC")
    )

    def tables() -> Any:
        for lo in range(0, n_symbols, group_symbols):
            group = range(lo, min(lo + group_symbols, n_symbols))
            parts = [synthetic.generate_symbol(n_bars, seed, index=i) for i in group]
            yield pa.table(
                {
                    "symbol": pa.array([names[i] for i in group for _ in range(n_bars)]),
                    "timestamp": pa.concat_arrays([ts] * len(group)),
                    **{
                        f: np.concatenate([p[f] for p in parts])
                        for f in ("open", "high", "low", "close", "volume")
                    },
                }
            )

    write_bars(tables(), root, partition_by_symbol=False, row_group_rows=n_bars * group_symbols)


def run_barpipe(input_path: str, work: str, batch_symbols: int = BATCH_SYMBOLS) -> dict[str, Any]:
    """The two phases, bounded, through the functions the flow's tasks call
    (``flows.portfolio.stage_rows`` and ``walk_task``): batches of symbols, then chunks of
    time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from compute import allocation, pipeline
    from storage import bars

    base = _rss()
    clock = time.perf_counter()
    rules = allocation.PortfolioRules(
        top=TOP,
        rebalance="monthly",
        fees_bps=FEES_BPS,
        slippage_bps=SLIPPAGE_BPS,
        init_cash=INIT_CASH,
    )
    score_spec = {"indicator": "roc", "params": {"timeperiod": ROC}}
    symbols = bars.scan_symbols(input_path)["symbol"].to_pylist()  # from the footers
    ids = {s: i for i, s in enumerate(symbols)}
    rows_dir = Path(work) / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    stamps = []  # each batch's distinct timestamps: the calendar without re-reading the rows
    for b, lo in enumerate(range(0, len(symbols), batch_symbols)):
        batch = symbols[lo : lo + batch_symbols]
        table = bars.load_bars(
            input_path, symbols=batch, columns=["open", "close", "volume"], sort_timestamps=True
        )
        names, offsets = pipeline.segments(table)  # run-end encoded: no Python strings
        inputs = {f: table[f].to_numpy() for f in ("open", "close", "volume")}
        score = allocation.compute_score(score_spec, inputs, offsets)
        rows = allocation.batch_rows(
            table["timestamp"].cast(pa.int64()).to_numpy(),
            inputs["open"],
            inputs["close"],
            inputs["volume"],
            score,
            offsets,
            [ids[s] for s in names],
            rules,
        )
        del table, inputs, score
        stamps.append(np.unique(rows["timestamp"]))
        schema = pa.schema([(k, pa.from_numpy_dtype(rows[k].dtype)) for k in allocation.ROW_FIELDS])
        with pq.ParquetWriter(
            rows_dir / f"batch-{b:05d}.parquet",
            schema,
            compression="none",  # temporary rows: dictionary and snappy cost 3x the write
            use_dictionary=False,
        ) as writer:
            # by time, a row group of about a chunk at a time: a chunk's read skips the others
            for group in allocation.rows_by_time(rows, CHUNK_BARS * len(batch)):
                writer.write_table(pa.table(group, schema=schema))
        del rows
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
        # as walk_task: one record batch at a time into the grids
        grids = allocation.new_grids(stop - start, len(symbols))
        scanner = rows_ds.scanner(
            columns=list(allocation.ROW_FIELDS),
            filter=(pc.field("timestamp") >= cal[start]) & (pc.field("timestamp") <= cal[stop - 1]),
            use_threads=False,
            batch_size=SCAN_ROWS,
            batch_readahead=0,
            fragment_readahead=1,
        )
        for part in scanner.to_batches():
            allocation.scatter_rows(
                grids,
                cal[start:stop],
                {f: part.column(f).to_numpy(zero_copy_only=False) for f in allocation.ROW_FIELDS},
            )
        pa.default_memory_pool().release_unused()  # as walk_task: the scan's buffers
        result, state = allocation.walk_grids(grids, sched[start:stop], state, rules, start)
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
        start_rss = list(client.run(_rss).values())  # each worker before any task
        clock = time.perf_counter()
        fp.run_portfolios(
            client, [spec], batches, run_id="bench", input_path=input_path, output_path=work
        )
        seconds = time.perf_counter() - clock
        peaks = fp.worker_peaks(client)
        end_rss = list(client.run(_rss).values())
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
        "worker_start_rss": start_rss,
        "worker_end_rss": end_rss,
        "memory_limit": limit,
        "restarted": restarts,
        "chunk_bars": step,
    }


# What each side holds before any data: a fresh process, RSS after each step of its imports,
# then after one run over a tiny universe (its compiled code loaded from numba's cache and
# initialised; the tiny run's data freed). Peak RSS minus this is what the data costs.
FIXED_STEPS = {
    "barpipe": (
        ("numpy", ("numpy",)),
        ("pyarrow (compute, parquet)", ("pyarrow", "pyarrow.compute", "pyarrow.parquet")),
        ("pyarrow.dataset (imports pandas)", ("pyarrow.dataset",)),
        ("numba (imports scipy)", ("numba",)),
        ("barpipe's modules", ("compute.allocation", "compute.indicators", "storage.bars")),
    ),
    "vectorbt": (
        ("numpy", ("numpy",)),
        ("pyarrow (parquet)", ("pyarrow", "pyarrow.parquet")),
        ("pandas", ("pandas",)),
        ("vectorbt (numba, scipy, ...)", ("vectorbt",)),
    ),
}


def measure_fixed(side: str, warm_input: str, work: str, batch_symbols: int) -> dict[str, Any]:
    """RSS after the interpreter, each import step and a warm run of ``side``."""
    import importlib

    steps = [("interpreter and this script", _rss())]
    for label, modules in FIXED_STEPS[side]:
        for name in modules:
            importlib.import_module(name)
        steps.append((label, _rss()))
    if side == "barpipe":
        run_barpipe(warm_input, work, batch_symbols)
    else:
        run_vectorbt(warm_input)
    steps.append(("compiled code: numba's target, the kernels (a tiny run)", _rss()))
    return {"steps": steps, "fixed_rss": steps[-1][1]}


def _child(side: str, input_path: str, work: str, batch_symbols: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.portfolio", "--child", side, input_path, work]
        + ["--batch-symbols", str(batch_symbols)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{side} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--barpipe-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=5, help="runs per side; the fastest is kept")
    parser.add_argument(
        "--batch-symbols", type=int, default=BATCH_SYMBOLS, help="symbols per phase-1 batch"
    )
    parser.add_argument(
        "--group-symbols",
        type=int,
        default=1,
        help="symbols per Parquet row group of the input (1: as storage.bars.write_bars)",
    )
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
        if side.startswith("fixed-"):
            result = measure_fixed(
                side.removeprefix("fixed-"), input_path, work, args.batch_symbols
            )
        elif side == "barpipe":
            result = run_barpipe(input_path, work, args.batch_symbols)
        else:
            result = run_vectorbt(input_path)
        print(json.dumps(result))
        return result

    if args.cluster:
        with tempfile.TemporaryDirectory(prefix="barpipe-bench-portfolio-") as tmp:
            data = Path(tmp) / "bars"
            write_bars_dataset(data, args.symbols, args.bars, group_symbols=args.group_symbols)
            r = run_cluster(
                str(data), str(Path(tmp) / "out"), int(args.cluster[0]), args.cluster[1]
            )
        print(
            f"{args.symbols} symbols x {args.bars} daily bars on {args.cluster[0]} workers of "
            f"{args.cluster[1]}: {r['seconds']:.2f} s, walk chunks of {r['chunk_bars']} bars, "
            f"orders {r['n_orders']}, final equity {r['final_equity']:.6f}, worker peak RSS "
            + ", ".join(f"{v / 2**20:.0f} MiB" for v in r["worker_peaks"].values())
            + f" (limit {r['memory_limit'] / 2**20:.0f} MiB; restarted: {r['restarted']}); "
            "worker RSS before the first task "
            + ", ".join(f"{v / 2**20:.0f}" for v in r["worker_start_rss"])
            + " MiB, after the run "
            + ", ".join(f"{v / 2**20:.0f}" for v in r["worker_end_rss"])
            + " MiB"
        )
        return r
    sides = ["barpipe"] if args.barpipe_only else ["barpipe", "vectorbt"]
    with tempfile.TemporaryDirectory(prefix="barpipe-bench-portfolio-") as tmp:
        warm = Path(tmp) / "warm"
        write_bars_dataset(warm, 30, 300, group_symbols=args.group_symbols)
        data = Path(tmp) / "bars"
        write_bars_dataset(data, args.symbols, args.bars, group_symbols=args.group_symbols)
        for side in sides:  # warm-up: numba caches filled, files in the page cache
            _child(side, str(warm), str(Path(tmp) / f"warm-{side}"), args.batch_symbols)
        fixed = {
            side: _child(
                f"fixed-{side}", str(warm), str(Path(tmp) / f"fixed-{side}"), args.batch_symbols
            )
            for side in sides
        }
        # alternating runs, the fastest of each side kept: the machine is shared, and a
        # neighbour's burst should not decide the ratio
        results: dict[str, dict[str, Any]] = {}
        peaks: dict[str, list[int]] = {side: [] for side in sides}  # every run's, for the range
        for i in range(args.repeat):
            for side in sides:
                r = _child(side, str(data), str(Path(tmp) / f"{side}-{i}"), args.batch_symbols)
                peaks[side].append(r["peak_rss"])
                if side not in results or r["seconds"] < results[side]["seconds"]:
                    results[side] = r
    for side in sides:
        results[side]["fixed"] = fixed[side]
        results[side]["peak_range"] = (min(peaks[side]), max(peaks[side]))
    print(
        f"{args.symbols} symbols x {args.bars} daily bars, top {TOP} by {ROC}-bar ROC, monthly "
        f"(fastest of {args.repeat} alternating runs per side; input: "
        f"{args.group_symbols} symbol(s) per row group; barpipe batches of {args.batch_symbols} "
        f"symbols, walk chunks of {CHUNK_BARS} bars)"
    )
    for side, r in results.items():
        extra = ""
        if side == "barpipe":
            extra = f" (phase 1 {r['phase1_s']:.2f} s, phase 2 {r['phase2_s']:.2f} s)"
        print(
            f"  {side:9s} {r['seconds']:7.2f} s{extra}  peak RSS {_mib(r['peak_rss']):>6s} MiB"
            f" ({_mib(r['peak_rss'] - r['import_rss'])} MiB above its imports, "
            f"{_mib(r['peak_rss'] - r['fixed']['fixed_rss'])} above its fixed costs; "
            f"{_mib(r['peak_range'][0])}-{_mib(r['peak_range'][1])} over the runs)"
            f"  orders {r['n_orders']}  final equity {r['final_equity']:.6f}"
        )
    print("  fixed costs, RSS in a fresh process (MiB, each step's increase):")
    for side in sides:
        steps = results[side]["fixed"]["steps"]
        parts = [f"{steps[0][0]} {_mib(steps[0][1])}"] + [
            f"{label} +{_mib(v - prev)}"
            for (label, v), (_, prev) in zip(steps[1:], steps[:-1], strict=True)
        ]
        print(f"    {side}: " + ", ".join(parts) + f" = {_mib(steps[-1][1])}")
    if "vectorbt" in results:
        b, v = results["barpipe"], results["vectorbt"]
        print(
            f"  vectorbt / barpipe: time {v['seconds'] / b['seconds']:.2f}x, "
            f"peak RSS {v['peak_rss'] / b['peak_rss']:.2f}x (above imports "
            f"{(v['peak_rss'] - v['import_rss']) / (b['peak_rss'] - b['import_rss']):.2f}x, "
            "above fixed costs "
            f"{(v['peak_rss'] - v['fixed']['fixed_rss']) / (b['peak_rss'] - b['fixed']['fixed_rss']):.2f}x); "
            "final equity relative difference "
            f"{abs(b['final_equity'] / v['final_equity'] - 1):.2e}"
        )
        print(
            f"  target peak RSS <= vectorbt's / 3 = {_mib(v['peak_rss'] / 3)} MiB; barpipe's "
            f"fixed costs alone: {_mib(b['fixed']['fixed_rss'])} MiB, its peak "
            f"{_mib(b['peak_rss'])} MiB"
        )
    return results


if __name__ == "__main__":
    main()
