"""Memory: the planner's bytes-per-bar estimate against measured batches, and a capped run.

1. Calibration (``--calibrate``): in a fresh process per configuration, run the worker's
   batch task (``flows.tasks.process_batch``: load, validate, compute, stage) on batches of
   1, 4 and 16 symbols x 50,000 bars and measure the peak over the pre-batch baseline:
   resident memory and Arrow's allocated bytes (both sampled every 5 ms) and numpy's
   allocations (tracemalloc). The slope over batch sizes is the measured bytes per
   bar, compared with ``compute.planner.estimate_bytes_per_bar``.
2. The capped run: ``barpipe run --memory-limit 600MB`` on the 10M-bar dataset, with the
   peak RSS of each worker process (sampled from outside) and as the run reports it, the
   limit, and whether any worker restarted (a new worker process appearing).

Usage: ``python -m bench.memory [--calibrate-only | --run-only] [--limit 600MB]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from bench import common

CONFIGS: dict[str, dict[str, Any]] = {
    "momentum, equity": {"strategies": ["momentum"], "equity": True, "indicators": False},
    "4 strategies, equity": {
        "strategies": ["momentum", "zscore", "ma_crossover", "bollinger"],
        "equity": True,
        "indicators": False,
    },
    "4 strategies, no equity": {
        "strategies": ["momentum", "zscore", "ma_crossover", "bollinger"],
        "equity": False,
        "indicators": False,
    },
    "12 strategies, no equity": {"strategies": "twelve", "equity": False, "indicators": False},
    "momentum, equity, 7 indicators (11 outputs) computed": {
        "strategies": ["momentum"],
        "equity": True,
        "indicators": True,
    },
}
# The bot's four strategies over several windows: (name, params, label).
TWELVE: list[tuple[str, dict[str, Any], str]] = [
    ("momentum", {}, "momentum"),
    *(("zscore", {"window": w}, f"zscore_{w}") for w in (10, 20, 40, 80)),
    *(
        ("ma_crossover", {"short_window": s, "long_window": lw}, f"ma_{s}_{lw}")
        for s, lw in ((5, 20), (12, 26), (20, 50), (50, 200))
    ),
    *(("bollinger", {"timeperiod": t}, f"bollinger_{t}") for t in (10, 20, 40)),
]
SIZES = (1, 4, 16)


def _child(config_name: str, dataset: str, bars: int) -> None:
    """Runs in a fresh process: measure process_batch on growing batches; print JSON."""
    import tracemalloc

    import psutil
    import pyarrow as pa

    from compute import indicators, pipeline, planner
    from flows.settings import OutputConfig
    from flows.tasks import BatchJob, process_batch
    from storage import bars as bars_io

    cfg = CONFIGS[config_name]
    inds = tuple(pipeline.IndicatorRequest(i["name"], i["params"]) for i in common.BOT_INDICATORS)
    if cfg["strategies"] == "twelve":
        strats = tuple(pipeline.StrategyRequest(*s) for s in TWELVE)
    else:
        strats = tuple(pipeline.StrategyRequest(s) for s in cfg["strategies"])
    scan = bars_io.scan_symbols(dataset)
    symbols = sorted(scan["symbol"].to_pylist())
    out = str(common.CACHE / "out-calibrate")

    def job(index: int, chosen: list[str]) -> BatchJob:
        return BatchJob(
            run_id="calibrate",
            batch=index,
            symbols=tuple(chosen),
            input_path=dataset,
            input_options={},
            output=OutputConfig(path=out, write_equity=cfg["equity"]),
            start=None,
            end=None,
            min_bars=40,
            indicators=inds,
            strategies=strats,
            backtest={"direction": "long_short", "fees_bps": 1.0, "slippage_bps": 1.0},
            annualization=525_600.0,
            risk_free=0.0,
            write_indicators=cfg["indicators"],
        )

    process_batch(job(0, symbols[:1]))  # imports, kernels, first-call costs
    me = psutil.Process()
    results = []
    start = 1
    for size in SIZES:
        chosen = symbols[start : start + size]
        start += size
        gc.collect()
        base = me.memory_info().rss
        arrow_base = pa.total_allocated_bytes()
        peak = [base, arrow_base]
        stop = threading.Event()

        def sample(peak: list[int] = peak, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], me.memory_info().rss)
                peak[1] = max(peak[1], pa.total_allocated_bytes())
                time.sleep(0.005)

        tracemalloc.start()
        thread = threading.Thread(target=sample)
        thread.start()
        summary = process_batch(job(size, chosen))
        stop.set()
        thread.join()
        _, np_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results.append(
            {
                "symbols": size,
                "bars": summary["n_rows_in"],
                "rss_peak_delta": peak[0] - base,
                "numpy_peak": np_peak,
                "arrow_peak": peak[1] - arrow_base,
            }
        )
    n_outputs = sum(len(indicators.spec(i.name).outputs) for i in inds) if cfg["indicators"] else 0
    print(
        json.dumps(
            {
                "config": config_name,
                "estimate": planner.estimate_bytes_per_bar(
                    n_outputs, len(strats), with_equity=cfg["equity"]
                ),
                "n_outputs": n_outputs,
                "n_strategies": len(strats),
                "sizes": results,
            }
        )
    )


def _fit(sizes: list[dict[str, Any]], key: str | tuple[str, ...]) -> tuple[float, float]:
    """Least-squares (bytes per bar, fixed bytes per batch) of ``key`` over batch sizes."""
    import numpy as np

    keys = (key,) if isinstance(key, str) else key
    x = np.array([s["bars"] for s in sizes], dtype=float)
    y = np.array([sum(s[k] for k in keys) for s in sizes], dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def calibrate(dataset: str) -> tuple[list[dict[str, Any]], list[str]]:
    rows = []
    for name in CONFIGS:
        out = subprocess.run(
            [common.PYTHON, "-m", "bench.memory", "--child", name, "--dataset", dataset],
            capture_output=True,
            text=True,
            cwd=common.ROOT,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  {name}: done", flush=True)
    table_rows = []
    for r in rows:
        for key in ("rss_peak_delta", "numpy_peak", "arrow_peak"):
            r[f"{key}_per_bar"], r[f"{key}_fixed"] = _fit(r["sizes"], key)
        r["live_per_bar"], r["live_fixed"] = _fit(r["sizes"], ("numpy_peak", "arrow_peak"))
        largest = r["sizes"][-1]
        table_rows.append(
            [
                r["config"],
                r["estimate"],
                f"{r['rss_peak_delta_per_bar']:.0f}",
                f"{r['numpy_peak_per_bar']:.0f} + {r['arrow_peak_per_bar']:.0f}",
                f"{r['live_per_bar']:.0f} + {common.mib(r['live_fixed'])}",
                f"{common.mib(largest['numpy_peak'] + largest['arrow_peak'])} / "
                f"{common.mib(r['estimate'] * largest['bars'] + planner_fixed())}",
                f"{r['estimate'] / max(r['live_per_bar'], 1):.2f}",
            ]
        )
    lines = [
        common.table(
            [
                "configuration",
                "estimate B/bar",
                "RSS peak B/bar",
                "numpy + Arrow peak B/bar",
                "numpy+Arrow fit: B/bar + fixed",
                "at 800k bars: measured / planned",
                "estimate / measured B/bar",
            ],
            table_rows,
        ),
        "",
        "Fits over batches of 50k, 200k and 800k bars (one fresh process per configuration, "
        "after a warm-up batch). RSS deltas understate: the allocators reuse pages the "
        "warm-up batch left resident.",
    ]
    return rows, lines


def planner_fixed() -> int:
    from compute.planner import BATCH_FIXED_BYTES

    return BATCH_FIXED_BYTES


def capped_run(limit: str, workers: int, dataset: str) -> tuple[dict[str, Any], list[str]]:
    config = common.write_config(common.CACHE / "memory.yaml")
    out = common.CACHE / "out-memory"
    env = {"PREFECT_HOME": str(common.CACHE / "prefect")}
    m = common.barpipe_run(
        config,
        common.dataset(*_dataset_shape(dataset)),
        out,
        "--memory-limit",
        limit,
        "--workers",
        str(workers),
        env=env,
    )
    stages = common.stage_rows(out)
    reported = {w: rss for _, _, rss, w in stages if w}
    from dask.utils import parse_bytes

    limit_b = parse_bytes(limit)
    peaks = m.worker_peaks
    plan_line = next((ln for ln in m.stdout.splitlines() if "peak memory" in ln), "")
    result = {
        "seconds": m.seconds,
        "limit": limit_b,
        "worker_peaks_sampled": peaks,
        "worker_peaks_reported": reported,
        "n_worker_processes": len(peaks),
        "tree_peak": m.memory.peak_total,
        "by_kind": m.memory.peak_by_kind,
    }
    lines = [
        f"- `barpipe run --memory-limit {limit} --workers {workers}` on {dataset.split('/')[-1]}: "
        f"{m.seconds:.0f} s; {len(peaks)} worker process(es) seen for {workers} workers "
        f"({'no restart' if len(peaks) <= workers else 'a worker restarted'}).",
        "- peak RSS per worker, sampled from outside: "
        + ", ".join(f"{common.mib(p)} ({p / limit_b:.0%} of the limit)" for p in peaks)
        + "; as the run reports it (VmHWM after each batch): "
        + ", ".join(f"{common.mib(v)}" for v in sorted(set(reported.values()), reverse=True))
        + ".",
        "- whole process tree peak "
        + common.mib(m.memory.peak_total)
        + " ("
        + ", ".join(f"{k} {common.mib(v)}" for k, v in m.memory.peak_by_kind.items())
        + "). "
        + plan_line.strip(),
    ]
    return result, lines


def _dataset_shape(path: str) -> tuple[int, int]:
    shape = path.rstrip("/").split("/")[-1].split("-")[1]
    n_symbols, n_bars = shape.split("x")
    return int(n_symbols), int(n_bars)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    quick = common.quick()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--limit", default="600MB")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--symbols", type=int, default=40 if quick else 200)
    p.add_argument("--bars", type=int, default=25_000 if quick else 50_000)
    p.add_argument("--calibrate-only", action="store_true")
    p.add_argument("--run-only", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--dataset", help=argparse.SUPPRESS)
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.child:
        _child(args.child, args.dataset, 50_000)
        sys.exit(0)
    print(f"machine: {common.machine_line()}", flush=True)
    dataset = str(common.dataset(args.symbols, args.bars))
    calibration_ds = str(common.dataset(200, 50_000)) if not quick else dataset
    result: dict[str, Any] = {}
    lines: list[str] = []
    if not args.run_only:
        print("calibrating bytes per bar...", flush=True)
        rows, cal_lines = calibrate(calibration_ds)
        result["calibration"] = rows
        lines += cal_lines + [""]
    if not args.calibrate_only:
        print(f"capped run, --memory-limit {args.limit}...", flush=True)
        run, run_lines = capped_run(args.limit, args.workers, dataset)
        result["capped_run"] = run
        lines += run_lines
    print("\n".join(lines))
    print(f"load after: {common.load()}")
    result["markdown"] = "\n".join(lines)
    common.save("memory", result, args.json)
    return result


if __name__ == "__main__":
    main()
