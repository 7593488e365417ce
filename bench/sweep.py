"""A parameter sweep, barpipe against vectorbt: combinations x bars per second, peak memory.

The grid (issue 14): MA crossover with fast 5-50 and slow 20-200 (fast < slow), and the
z-score strategy over window x threshold, on daily bars of every symbol; long/short, all
equity in each position, fees and slippage as the other benchmarks, the target decided at a
bar's close filled at the next bar's open, and per combination and symbol the Sharpe
ratio, total return, maximum drawdown, trade count and win rate.

- barpipe: ``compute.sweep`` (shared series, one kernel call per chunk of combinations,
  metric rows only), tasks of (symbol batch) x (combination chunk) spread over 1 or 2
  worker processes, each task loading its batch from Parquet.
- vectorbt: the same averages (over the bars before each bar, as barpipe's strategy) from
  ``vbt.MA.run`` on the shifted close, z-scores from pandas rolling windows, and
  ``Portfolio.from_signals`` at the next open over one column per (combination, symbol),
  chunked by hand over combinations so that one chunk's wide arrays fit in memory.

Each side runs in its own process (after a warm-up that fills numba's caches); its wall
time and the peak RSS of its process tree are measured by ``bench.common.run_measured``.
``--big`` adds barpipe alone on a grid 10x larger (fast and slow steps of 1 and 2), whose
wide arrays vectorbt could not hold here. Run under ``flock /tmp/barpipe-heavy.lock``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench import common

FIELDS = ("open", "high", "low", "close", "volume")


def grid(big: bool = False) -> list[dict[str, Any]]:
    """The sweep's spaces: config entries for ``compute.sweep.parse_space``."""
    fast_step, slow_step = (1, 2) if big else (5, 10)
    return [
        {
            "name": "ma_crossover",
            "params": {
                "short_window": {"start": 5, "stop": 50, "step": fast_step},
                "long_window": {"start": 20, "stop": 200, "step": slow_step},
            },
            "constraints": ["short_window < long_window"],
        },
        {
            "name": "zscore",
            "params": {
                "window": {"start": 10, "stop": 60, "step": 5 if big else 10},
                "threshold": {"start": 1.0, "stop": 3.0, "step": 0.25 if big else 0.5},
            },
        },
    ]


def _backtest() -> dict[str, Any]:
    return {
        "init_cash": common.INIT_CASH,
        "fees_bps": common.FEES_BPS,
        "slippage_bps": common.SLIPPAGE_BPS,
        "direction": "long_short",
    }


def _load(path: str, symbols: list[str] | None = None):
    """Bars of ``symbols`` (all by default) as concatenated arrays, offsets and names."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from compute.pipeline import segments

    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    flt = None if symbols is None else pc.field("symbol").isin(symbols)
    table = dataset.to_table(columns=["symbol", "timestamp", *FIELDS], filter=flt)
    table = table.sort_by([("symbol", "ascending"), ("timestamp", "ascending")])
    names, offsets = segments(table)
    arrays = {f: np.ascontiguousarray(table.column(f).to_numpy(), dtype=np.float64) for f in FIELDS}
    return arrays, offsets, names


def _task(args: tuple[str, list[str], int, int, int, bool]) -> tuple[int, float]:
    """One (symbol batch) x (combination chunk) task: rows computed, then dropped."""
    path, symbols, space_index, chunk, chunk_size, big = args
    import numpy as np

    from compute.sweep import evaluate_chunk, parse_space

    arrays, offsets, _ = _load(path, symbols)
    space = parse_space(grid(big)[space_index])
    combos = space.chunk(chunk, chunk_size)
    if not len(combos):
        return 0, 0.0
    rows = evaluate_chunk(arrays, offsets, combos, backtest_params=_backtest())
    sharpe = rows[:, 0, :, 3]
    return int(sharpe.size), float(sharpe[np.isfinite(sharpe)].sum())


def _barpipe_child(path: str, workers: int, batch: int, chunk_size: int, big: bool) -> None:
    clock = time.perf_counter()
    from concurrent.futures import ProcessPoolExecutor

    import pyarrow.dataset as ds

    from compute.sweep import parse_space

    names = sorted(
        set(
            ds.dataset(path, format="parquet", partitioning="hive")
            .to_table(columns=["symbol"])
            .column("symbol")
            .to_pylist()
        )
    )
    batches = [names[i : i + batch] for i in range(0, len(names), batch)]
    tasks = []
    n_combos = 0
    for si, entry in enumerate(grid(big)):
        space = parse_space(entry)
        n_combos += space.count()
        for k in range(space.n_chunks(chunk_size)):
            tasks.extend((path, b, si, k, chunk_size, big) for b in batches)
    if workers == 1:
        results = [_task(t) for t in tasks]
    else:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_task, tasks))
    rows = sum(r[0] for r in results)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - clock,
                "rows": rows,
                "n_combos": n_combos,
                "tasks": len(tasks),
                "sharpe_sum": sum(r[1] for r in results),
            }
        )
    )


def _vectorbt_child(path: str, chunk_size: int) -> None:
    clock = time.perf_counter()
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    from compute.sweep import parse_space

    arrays, offsets, names = _load(path)
    n = int(offsets[1])
    if not np.all(np.diff(offsets) == n):
        raise SystemExit("vectorbt side needs symbols of equal length")
    wide = {
        f: pd.DataFrame(arrays[f].reshape(len(names), n).T, columns=names)
        for f in ("open", "close")
    }
    close, open_ = wide["close"], wide["open"]
    prev = close.shift(1)
    ma_space, z_space = (parse_space(e) for e in grid())
    ma = ma_space.chunk(0, ma_space.n_candidates)
    zs = z_space.chunk(0, z_space.n_candidates)
    windows = sorted(
        set(ma.params["short_window"].tolist()) | set(ma.params["long_window"].tolist())
    )
    means = vbt.MA.run(prev, window=windows).ma  # columns (window, symbol)
    zwin = sorted(set(zs.params["window"].tolist()))
    zscore = {}
    for w in zwin:
        roll = prev.rolling(w)
        zscore[w] = ((close - roll.mean()) / roll.std(ddof=0)).to_numpy()
    targets: list[np.ndarray] = []
    for i in range(len(ma)):
        f, s = int(ma.params["short_window"][i]), int(ma.params["long_window"][i])
        targets.append(np.sign(means[f].to_numpy() - means[s].to_numpy()))
    for i in range(len(zs)):
        w, th = int(zs.params["window"][i]), float(zs.params["threshold"][i])
        z = zscore[w]
        targets.append(np.where(z > th, -1.0, np.where(z < -th, 1.0, 0.0)))
    n_combos = len(targets)
    sharpe_sum = 0.0
    n_rows = 0
    for lo in range(0, n_combos, chunk_size):
        part = np.concatenate(targets[lo : lo + chunk_size], axis=1)
        part = np.nan_to_num(part)
        held = np.vstack([np.zeros((1, part.shape[1])), part[:-1]])
        reps = part.shape[1] // len(names)
        pf = vbt.Portfolio.from_signals(
            np.tile(close.to_numpy(), reps),
            entries=held > 0,
            exits=held <= 0,
            short_entries=held < 0,
            short_exits=held >= 0,
            price=np.tile(open_.to_numpy(), reps),
            fees=common.FEES_BPS / 1e4,
            slippage=common.SLIPPAGE_BPS / 1e4,
            init_cash=common.INIT_CASH,
            size=np.inf,
            freq="1D",
        )
        sharpe = pf.sharpe_ratio().to_numpy()
        pf.total_return()
        pf.max_drawdown()
        pf.trades.count()
        pf.trades.win_rate()
        sharpe_sum += float(np.nansum(sharpe[np.isfinite(sharpe)]))
        n_rows += part.shape[1]
        del pf, part, held
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - clock,
                "rows": n_rows,
                "n_combos": n_combos,
                "sharpe_sum": sharpe_sum,
            }
        )
    )


def _measure(cmd: list[str]) -> tuple[common.Measured, dict[str, Any]]:
    m = common.run_measured(cmd)
    return m, json.loads(m.stdout.strip().splitlines()[-1])


def _flow(path: Path, chunk: int) -> tuple[common.Measured, dict[str, Any]]:
    """``barpipe sweep`` itself (Prefect flow, LocalCluster of 2 workers, publish to the Delta
    tables and SQLite), for the peak memory of the flow process and the whole tree."""
    import shutil

    import yaml

    from compute.sweep import parse_space

    config = common.CACHE / "sweep-bench.yaml"
    out = common.CACHE / "out-sweep-flow"
    shutil.rmtree(out, ignore_errors=True)
    config.write_text(
        yaml.safe_dump(
            {
                "backtest": _backtest(),
                "metrics": {"annualization": 252},
                "cluster": {
                    "n_workers": 2,
                    "threads_per_worker": 1,
                    "dashboard_address": "127.0.0.1:0",
                },
                "sweep": {"chunk_size": chunk, "pbo_blocks": 8, "strategies": grid()},
            }
        )
    )
    env = {"PREFECT_HOME": str(common.CACHE / "prefect")}
    cmd = [
        common.BARPIPE,
        "sweep",
        "--config",
        str(config),
        "--input",
        str(path),
        "--output",
        str(out),
    ]
    m = common.run_measured(cmd, env=env)
    n = sum(parse_space(e).count() for e in grid())
    return m, {"seconds": m.seconds, "n_combos": n}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    quick = common.quick()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--symbols", type=int, default=40 if quick else 200)
    p.add_argument("--bars", type=int, default=2520)
    p.add_argument("--batch", type=int, default=50, help="symbols per barpipe task")
    p.add_argument("--chunk", type=int, default=256, help="combinations per barpipe task")
    p.add_argument("--vbt-chunk", type=int, default=50, help="combinations per vectorbt call")
    p.add_argument("--big", action="store_true", help="also the 10x grid, barpipe only")
    p.add_argument("--child-barpipe", nargs=5, help=argparse.SUPPRESS)
    p.add_argument("--child-vectorbt", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_barpipe:
        path, workers, batch, chunk, big = args.child_barpipe
        _barpipe_child(path, int(workers), int(batch), int(chunk), big == "1")
        return {}
    if args.child_vectorbt:
        _vectorbt_child(args.child_vectorbt[0], int(args.child_vectorbt[1]))
        return {}
    try:
        import vectorbt
    except ImportError:
        print("vectorbt is not installed: pip install -e '.[bench]'")
        return {}
    print(f"machine: {common.machine_line()}; vectorbt {vectorbt.__version__}", flush=True)
    data = common.dataset(args.symbols, args.bars, freq="1d")
    tiny = common.dataset(4, 300, freq="1d")
    me = [common.PYTHON, "-m", "bench.sweep"]

    def barpipe(path: Path, workers: int, big: bool = False):
        cmd = [*me, "--child-barpipe", str(path), str(workers), str(args.batch), str(args.chunk)]
        return _measure([*cmd, "1" if big else "0"])

    def vbt(path: Path):
        return _measure([*me, "--child-vectorbt", str(path), str(args.vbt_chunk)])

    print("warm-up on 4 symbols...", flush=True)
    barpipe(tiny, 1)
    vbt(tiny)
    results = {}
    for name, fn in (
        ("vectorbt", lambda: vbt(data)),
        ("barpipe, 1 worker", lambda: barpipe(data, 1)),
        ("barpipe, 2 workers", lambda: barpipe(data, 2)),
        (
            "barpipe sweep (flow: Prefect, Dask, publish), 2 workers",
            lambda: _flow(data, args.chunk),
        ),
        *((("barpipe 10x grid, 2 workers", lambda: barpipe(data, 2, True)),) if args.big else ()),
    ):
        print(f"{name}...", flush=True)
        m, info = fn()
        results[name] = (m, info)
        kinds = ", ".join(f"{k} {common.mib(v)}" for k, v in sorted(m.memory.peak_by_kind.items()))
        print(
            f"  {m.seconds:.1f} s, peak {common.mib(m.memory.peak_total)} ({kinds}), {info}",
            flush=True,
        )
    vm = results["vectorbt"][0]
    rows = []
    for name, (m, info) in results.items():
        rate = info["n_combos"] * args.symbols * args.bars / info["seconds"]
        rows.append(
            [
                name,
                f"{info['n_combos']:,}",
                f"{info['seconds']:.1f}",
                f"{m.seconds:.1f}",
                f"{rate / 1e6:.1f} M",
                common.mib(m.memory.peak_total),
                f"{vm.seconds / m.seconds:.2f}",
                f"{m.memory.peak_total / vm.memory.peak_total:.3f}",
            ]
        )
    print()
    print(
        common.table(
            [
                "side",
                "combinations",
                "compute s",
                "wall s",
                "combination-bars / s",
                "peak RSS (tree)",
                "speed vs vectorbt",
                "peak / vectorbt's",
            ],
            rows,
        )
    )
    print(f"\n{args.symbols} symbols x {args.bars} daily bars; {common.machine_line()}")
    return {}


if __name__ == "__main__":
    main()
