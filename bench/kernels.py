"""Kernel benchmark: barpipe's indicators against TA-Lib and pandas, and batch vs loop.

Measured in one run, each comparison interleaved and the best of ``--repeat`` kept:

1. Per indicator, on one series of ``--bars`` bars (1,000,000 by default; fast functions
   get more rounds, up to 40): ns/bar of
   ``compute.indicators.compute`` (compiled, default parameters) and of TA-Lib's same
   function on the same arrays, and for the default set also of the pandas code a bot
   would write (``bot_pandas.PANDAS``).
2. The default set over ``--symbols`` x ``--symbol-bars`` bars (5,000 x 2,000): one
   ``compute_batch`` call per indicator (segmented) against a Python loop of ``compute``
   per symbol and against one series of the same total length.

Usage: ``python -m bench.kernels [--names sma,rsi] [--bars N] [--repeat N] [--no-batch]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import talib
from talib import abstract

from bench import common
from bench.bot_pandas import APPLY_BASED, PANDAS
from compute import indicators, synthetic

FIELDS = ("open", "high", "low", "close", "volume")
DEFAULT_SET = tuple(PANDAS)  # the compute core's set: the names the pandas code covers
GUIDE_SET = ("sma", "ema", "macd", "rsi", "bbands")  # what the guide's bot computes


def _periods(n: int) -> np.ndarray:
    return (2 + (np.arange(n) * 7) % 40).astype(np.float64)


def _inputs(n: int, seed: int = 11) -> dict[str, np.ndarray]:
    bars = synthetic.generate_symbol(n, seed, freq="1min")
    out = {f: np.ascontiguousarray(bars[f], dtype=np.float64) for f in FIELDS}
    out["periods"] = _periods(n)
    return out


def _talib_call(name: str, inputs: dict[str, np.ndarray]):
    """TA-Lib's function for ``name`` called directly (no abstract-API dispatch per call)."""
    fn = getattr(talib, name.upper())
    wanted: list[str] = []
    for value in abstract.Function(name.upper()).input_names.values():
        wanted.extend(value if isinstance(value, list | tuple) else [value])
    args = [inputs[w] for w in wanted]
    return lambda: fn(*args)


def bench_indicators(
    names: list[str], n_bars: int, repeat: int
) -> tuple[list[dict[str, object]], dict[str, object]]:
    inputs = _inputs(n_bars)
    frame = pd.DataFrame({f: inputs[f] for f in FIELDS})
    rows = []
    for name in names:
        fns = {
            "barpipe": lambda name=name: indicators.compute(name, inputs),
            "talib": _talib_call(name, inputs),
        }
        if name in PANDAS:
            fns["pandas"] = lambda name=name: PANDAS[name](frame)
        for fn in fns.values():
            fn()  # compile / load the numba cache, touch the inputs
        first = common.timed(fns["barpipe"]) + common.timed(fns["talib"])
        # Fast functions get more rounds (about 0.5 s each side, at most 40): best-of-N
        # needs enough draws to find the quiet moments on a shared machine.
        rounds = min(40, max(repeat, int(1.0 / max(first, 1e-6))))
        t = common.best_of(fns, rounds if name not in APPLY_BASED else max(1, repeat // 3))
        row: dict[str, object] = {
            "name": name,
            "group": indicators.spec(name).group,
            "barpipe_ns": t["barpipe"] / n_bars * 1e9,
            "talib_ns": t["talib"] / n_bars * 1e9,
            "ratio": t["barpipe"] / t["talib"],
        }
        if "pandas" in t:
            row["pandas_ns"] = t["pandas"] / n_bars * 1e9
            row["pandas_ratio"] = t["pandas"] / t["barpipe"]
        rows.append(row)
        print(
            f"  {name:22s} barpipe {row['barpipe_ns']:8.2f} ns/bar  talib {row['talib_ns']:8.2f}"
            f"  ratio {row['ratio']:5.2f}"
            + (f"  pandas {row['pandas_ns']:9.1f}" if "pandas_ns" in row else ""),
            flush=True,
        )
    return rows, _summary(rows)


def _summary(rows: list[dict[str, object]]) -> dict[str, object]:
    ratios = sorted(((float(r["ratio"]), str(r["name"])) for r in rows), reverse=True)
    out: dict[str, object] = {
        "n_functions": len(rows),
        "at_or_under_talib": sum(1 for r, _ in ratios if r <= 1.0),
        "within_1_2x": sum(1 for r, _ in ratios if r <= 1.2),
        "worst": ratios[:8],
        "median_ratio": float(np.median([r for r, _ in ratios])) if ratios else float("nan"),
    }
    for label, subset in (
        ("default_set", DEFAULT_SET),
        ("default_set_without_apply", tuple(n for n in DEFAULT_SET if n not in APPLY_BASED)),
        ("guide_set", GUIDE_SET),
    ):
        chosen = [r for r in rows if r["name"] in subset and "pandas_ns" in r]
        if len(chosen) == len(subset):
            ours = sum(float(r["barpipe_ns"]) for r in chosen)
            theirs = sum(float(r["pandas_ns"]) for r in chosen)
            out[f"{label}_pandas_ratio"] = theirs / ours
            out[f"{label}_barpipe_ns"] = ours
            out[f"{label}_pandas_ns"] = theirs
    return out


def bench_batch(n_symbols: int, n_bars: int, repeat: int, names: list[str]) -> dict[str, object]:
    """The set ``names`` over a batch: segmented vs a loop per symbol vs one long series."""
    parts = [synthetic.generate_symbol(n_bars, 5, freq="1min", index=i) for i in range(n_symbols)]
    big = {f: np.concatenate([p[f] for p in parts]) for f in FIELDS}
    big["periods"] = _periods(big["close"].shape[0])
    del parts
    offsets = np.arange(n_symbols + 1, dtype=np.int64) * n_bars
    total = int(offsets[-1])
    slices = [{f: a[offsets[i] : offsets[i + 1]] for f, a in big.items()} for i in range(n_symbols)]

    def segmented():
        for name in names:
            indicators.compute_batch(name, big, offsets)

    def single():
        for name in names:
            indicators.compute(name, big)

    def loop():
        for name in names:
            for s in slices:
                indicators.compute(name, s)

    segmented()  # warm
    t = common.best_of({"segmented": segmented, "single": single}, repeat)
    t["loop"] = common.best_of({"loop": loop}, max(1, repeat // 2))["loop"]
    return {
        "n_symbols": n_symbols,
        "bars_per_symbol": n_bars,
        "total_bars": total,
        "names": names,
        "segmented_s": t["segmented"],
        "single_s": t["single"],
        "loop_s": t["loop"],
        "segmented_over_single": t["segmented"] / t["single"],
        "loop_over_segmented": t["loop"] / t["segmented"],
        "segmented_ns_per_bar_per_indicator": t["segmented"] / total / len(names) * 1e9,
    }


def report(rows, summary, batch) -> list[str]:
    lines = []
    table_rows = []
    for r in sorted(rows, key=lambda r: (str(r["group"]), str(r["name"]))):
        table_rows.append(
            [
                r["name"],
                r["group"],
                f"{r['barpipe_ns']:.2f}",
                f"{r['talib_ns']:.2f}",
                f"{r['ratio']:.2f}",
                f"{r['pandas_ns']:.1f}" if "pandas_ns" in r else "",
                f"{r['pandas_ratio']:.0f}x" if "pandas_ratio" in r else "",
            ]
        )
    lines.append(
        common.table(
            [
                "indicator",
                "group",
                "barpipe ns/bar",
                "TA-Lib ns/bar",
                "barpipe/TA-Lib",
                "pandas ns/bar",
                "pandas/barpipe",
            ],
            table_rows,
        )
    )
    s = summary
    lines.append("")
    lines.append(
        f"- {s['at_or_under_talib']} of {s['n_functions']} functions at or under TA-Lib's time "
        f"(ratio <= 1.0); {s['within_1_2x']} within the 1.2x target; median ratio "
        f"{s['median_ratio']:.2f}."
    )
    lines.append(
        "- worst ratios: " + ", ".join(f"{name} {ratio:.2f}" for ratio, name in s["worst"])
    )
    for label, text in (
        ("default_set", "default set (25 functions)"),
        ("default_set_without_apply", "default set without the rolling.apply ones (wma, cci)"),
        ("guide_set", "the guide's own set (sma, ema, macd, rsi, bbands)"),
    ):
        if f"{label}_pandas_ratio" in s:
            lines.append(
                f"- {text}: barpipe {s[f'{label}_barpipe_ns']:.1f} ns/bar vs pandas "
                f"{s[f'{label}_pandas_ns']:.1f} ns/bar: pandas takes "
                f"{s[f'{label}_pandas_ratio']:.1f}x as long."
            )
    if batch:
        b = batch
        lines.append(
            f"- batch of {b['n_symbols']:,} symbols x {b['bars_per_symbol']:,} bars, "
            f"{len(b['names'])} indicators: segmented {b['segmented_s']:.2f} s, one series of "
            f"the same length {b['single_s']:.2f} s (segmented/single = "
            f"{b['segmented_over_single']:.2f}), Python loop per symbol {b['loop_s']:.2f} s "
            f"(loop/segmented = {b['loop_over_segmented']:.1f}x)."
        )
    return lines


def main(argv: list[str] | None = None) -> dict[str, object]:
    quick = common.quick()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--names", help="comma-separated indicator names (default: all)")
    p.add_argument("--bars", type=int, default=200_000 if quick else 1_000_000)
    p.add_argument("--repeat", type=int, default=3 if quick else 7)
    p.add_argument("--symbols", type=int, default=1_000 if quick else 5_000)
    p.add_argument("--symbol-bars", type=int, default=2_000)
    p.add_argument("--no-batch", action="store_true", help="skip the segmented-batch part")
    p.add_argument("--json", help="also write the results as JSON to this path")
    args = p.parse_args(argv)
    names = args.names.split(",") if args.names else indicators.names()
    print(f"machine: {common.machine_line()}", flush=True)
    print(f"{len(names)} indicators on {args.bars:,} bars, best of {args.repeat}", flush=True)
    rows, summary = bench_indicators(names, args.bars, args.repeat)
    batch = None
    if not args.no_batch:
        print(
            f"default set over {args.symbols:,} x {args.symbol_bars:,} bars "
            "(segmented / single / loop)...",
            flush=True,
        )
        batch = bench_batch(
            args.symbols, args.symbol_bars, max(2, args.repeat // 2), list(DEFAULT_SET)
        )
    lines = report(rows, summary, batch)
    print("\n".join(lines))
    print(f"load after: {common.load()}")
    result = {"rows": rows, "summary": summary, "batch": batch, "markdown": "\n".join(lines)}
    common.save("kernels", result, args.json)
    return result


if __name__ == "__main__":
    main()
