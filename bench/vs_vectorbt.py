"""barpipe against vectorbt on the same universe, strategy and costs: time and peak memory.

vectorbt (``pip install -e '.[bench]'``) runs as one process that does what a run does:
load the bars (pyarrow, pivoted to wide frames, one column per symbol), compute the
momentum composite from its own indicators (``vbt.RSI``, ``vbt.MACD``, 5-bar momentum;
weights 0.4/0.3/0.3, then the sign), simulate with ``Portfolio.from_signals`` at the next
bar's open (targets shifted one bar, ``price=open``) with the same fees and slippage,
long/short, all cash in each position, and write trades, per-symbol metrics and the equity
curves to Parquet. Both sides compute only the indicators the strategy needs. vectorbt runs
on its fastest engine: with ``vectorbt-rust`` installed (in the ``bench`` extra) its
``engine="auto"`` resolves to Rust; the output says which engine ran.

Then the run a user makes (bench/user_run.py: four strategies, equity written, report on)
is measured next to it, with the flow process's peak apart from the workers'.

Measured in one run, after a warm-up of each on a tiny dataset (numba caches filled): the
wall time of each process and the peak resident memory of its whole process tree (psutil,
sampled every 50 ms; for barpipe that is the CLI, the Dask workers and, when the run starts
one, the Prefect server). barpipe runs twice: with its default memory limit and with
``--memory-limit 600MB``. Target: barpipe faster, with at most a third of vectorbt's peak.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from bench import common


def _vectorbt_child(input_path: str, output: str) -> None:
    """The vectorbt side, in its own process; prints one JSON line of stage seconds."""
    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    import numpy as np
    import pandas as pd
    import pyarrow.dataset as ds
    import vectorbt as vbt
    from vectorbt import _engine

    engine = _engine.resolve_engine()  # "rust" when vectorbt-rust is installed (the bench extra)
    seconds["import"] = time.perf_counter() - clock
    clock = time.perf_counter()
    table = ds.dataset(input_path, format="parquet", partitioning="hive").to_table(
        columns=["symbol", "timestamp", "open", "close"]
    )
    frame = table.to_pandas()
    del table
    wide = frame.pivot(index="timestamp", columns="symbol")
    del frame
    open_, close = wide["open"], wide["close"]
    del wide
    seconds["load"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rsi = vbt.RSI.run(close, window=14).rsi.to_numpy()
    macd_ind = vbt.MACD.run(close, fast_window=12, slow_window=26, signal_window=9)
    macd, signal = macd_ind.macd.to_numpy(), macd_ind.signal.to_numpy()
    c = close.to_numpy()
    momentum = np.full_like(c, np.nan)
    momentum[5:] = (c[5:] / c[:-5] - 1) * 100
    rsi_band = np.where(rsi < 30, 1.0, np.where(rsi > 70, -1.0, 0.0))
    macd_side = np.where(macd > signal, 1.0, -1.0)
    target = np.sign(0.4 * momentum + 0.3 * rsi_band + 0.3 * macd_side)
    target[np.isnan(rsi) | np.isnan(signal) | np.isnan(momentum)] = 0.0
    # Decided at bar t's close, executed at bar t+1's open.
    held = np.vstack([np.zeros((1, target.shape[1])), target[:-1]])
    long_, short = held > 0, held < 0
    seconds["indicators and signals"] = time.perf_counter() - clock

    clock = time.perf_counter()
    pf = vbt.Portfolio.from_signals(
        close,
        entries=long_,
        exits=~long_,
        short_entries=short,
        short_exits=~short,
        price=open_,
        fees=common.FEES_BPS / 1e4,
        slippage=common.SLIPPAGE_BPS / 1e4,
        init_cash=common.INIT_CASH,
        size=np.inf,
        freq="1min",
    )
    seconds["portfolio"] = time.perf_counter() - clock

    clock = time.perf_counter()
    trades = pf.trades.records_readable
    metrics = pd.DataFrame(
        {
            "total_return": pf.total_return(),
            "sharpe_ratio": pf.sharpe_ratio(),
            "sortino_ratio": pf.sortino_ratio(),
            "max_drawdown": pf.max_drawdown(),
            "annual_return": pf.annualized_return(),
            "calmar_ratio": pf.calmar_ratio(),
            "n_trades": pf.trades.count(),
            "win_rate": pf.trades.win_rate(),
        }
    )
    seconds["metrics and trades"] = time.perf_counter() - clock

    clock = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    equity = pf.value().melt(ignore_index=False, var_name="symbol", value_name="equity")
    equity.reset_index().to_parquet(out / "equity.parquet", index=False, compression="zstd")
    trades.to_parquet(out / "trades.parquet", index=False, compression="zstd")
    metrics.reset_index().to_parquet(out / "metrics.parquet", index=False, compression="zstd")
    seconds["write"] = time.perf_counter() - clock
    print(
        json.dumps(
            {
                "seconds": seconds,
                "n_trades": len(trades),
                "n_bars": int(close.notna().sum().sum()),
                "engine": engine,
            }
        )
    )


def _vectorbt(input_path: Path) -> tuple[common.Measured, dict[str, Any]]:
    out = common.CACHE / "out-vectorbt"
    shutil.rmtree(out, ignore_errors=True)
    m = common.run_measured(
        [common.PYTHON, "-m", "bench.vs_vectorbt", "--child", str(input_path), str(out)]
    )
    return m, json.loads(m.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    quick = common.quick()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--symbols", type=int, default=40 if quick else 200)
    p.add_argument("--bars", type=int, default=25_000 if quick else 50_000)
    p.add_argument("--limit", default="600MB", help="the capped barpipe run's --memory-limit")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.child:
        _vectorbt_child(*args.child)
        return {}
    try:
        import vectorbt
    except ImportError:
        print("vectorbt is not installed: pip install -e '.[bench]'")
        return {}
    print(f"machine: {common.machine_line()}; vectorbt {vectorbt.__version__}", flush=True)
    from bench import user_run

    big = common.dataset(args.symbols, args.bars)
    tiny = common.dataset(2, 200)
    config = common.write_config(common.CACHE / "vs-vectorbt.yaml")
    out = common.CACHE / "out-vs-vectorbt"
    env = {"PREFECT_HOME": str(common.CACHE / "prefect")}

    print("warm-up: vectorbt and barpipe on the tiny dataset...", flush=True)
    _vectorbt(tiny)
    common.barpipe_run(config, tiny, out, env=env)
    print("vectorbt...", flush=True)
    vbt_m, vbt_info = _vectorbt(big)
    print(
        f"  {vbt_m.seconds:.1f} s, peak {common.mib(vbt_m.memory.peak_total)}, "
        f"engine {vbt_info['engine']}",
        flush=True,
    )
    print("barpipe (default memory limit)...", flush=True)
    bp = common.barpipe_run(config, big, out, env=env)
    print(f"  {bp.seconds:.1f} s, peak {common.mib(bp.memory.peak_total)}", flush=True)
    print(f"barpipe (--memory-limit {args.limit})...", flush=True)
    capped = common.barpipe_run(config, big, out, "--memory-limit", args.limit, env=env)
    print(f"  {capped.seconds:.1f} s, peak {common.mib(capped.memory.peak_total)}", flush=True)

    print("barpipe, the run a user makes (4 strategies, equity, report)...", flush=True)
    user = user_run.measure(big, common.CACHE / "out-vs-vectorbt-user", env=env)
    print(f"  {user['run_s']:.1f} s, flow process peak {common.mib(user['flow_peak'])}", flush=True)

    def kinds(m: common.Measured) -> str:
        return ", ".join(f"{k} {common.mib(v)}" for k, v in sorted(m.memory.peak_by_kind.items()))

    n = args.symbols * args.bars
    rows = [
        [
            "vectorbt",
            f"{vbt_m.seconds:.1f}",
            common.mib(vbt_m.memory.peak_total),
            "1.00",
            kinds(vbt_m),
        ],
        [
            "barpipe run",
            f"{bp.seconds:.1f}",
            common.mib(bp.memory.peak_total),
            f"{bp.memory.peak_total / vbt_m.memory.peak_total:.2f}",
            kinds(bp) + f"; flow process {common.mib(bp.flow_peak)}",
        ],
        [
            f"barpipe run --memory-limit {args.limit}",
            f"{capped.seconds:.1f}",
            common.mib(capped.memory.peak_total),
            f"{capped.memory.peak_total / vbt_m.memory.peak_total:.2f}",
            kinds(capped) + f"; flow process {common.mib(capped.flow_peak)}",
        ],
    ]
    lines = [
        common.table(
            ["process", "wall s", "peak RSS (tree)", "peak / vectorbt's", "peak by process kind"],
            rows,
        ),
        "",
        f"- {args.symbols} symbols x {args.bars:,} one-minute bars ({n:,}); vectorbt made "
        f"{vbt_info['n_trades']:,} trades. vectorbt's seconds by stage: "
        + ", ".join(f"{k} {v:.1f}" for k, v in vbt_info["seconds"].items())
        + ".",
        f"- time: vectorbt / barpipe = {vbt_m.seconds / bp.seconds:.2f} "
        f"({vbt_m.seconds / capped.seconds:.2f} capped); target > 1.",
        f"- memory: barpipe's peak is {bp.memory.peak_total / vbt_m.memory.peak_total:.2f} of "
        f"vectorbt's ({capped.memory.peak_total / vbt_m.memory.peak_total:.2f} capped); "
        "target <= 0.33.",
        f"- vectorbt engine: {vbt_info['engine']}.",
        "",
        common.table(["the run a user makes", "wall s", "notes"], user_run.describe(user)),
    ]
    print("\n".join(lines))
    print(f"load after: {common.load()}")
    result = {
        "vectorbt": {"seconds": vbt_m.seconds, "peak": vbt_m.memory.peak_total, **vbt_info},
        "barpipe": {
            "seconds": bp.seconds,
            "peak": bp.memory.peak_total,
            "by_kind": bp.memory.peak_by_kind,
        },
        "barpipe_capped": {
            "seconds": capped.seconds,
            "peak": capped.memory.peak_total,
            "by_kind": capped.memory.peak_by_kind,
        },
        "user_run": user,
        "markdown": "\n".join(lines),
    }
    common.save("vs_vectorbt", result, args.json)
    return result


if __name__ == "__main__":
    main()
