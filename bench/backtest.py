"""Backtest kernel benchmark: the loop built from steps against the loop it replaced.

``compute.kernels.backtest.simulate_seg_nb`` (small inlined steps) and
``bench._backtest_before.simulate_seg_nb`` (the nested loop before issue 13, kept for this
bench only) run on the same batch, interleaved per round, for a few parameter sets. Each
pair is first checked bit for bit (equity and both trade tables); the figures are the
median and the best of ``--repeat`` rounds in ns per bar. The default batch (200 x 2,000
bars) stays in cache, so the figures are the loop's: at 1,000 symbols both loops spend most
of their time faulting in the fresh pages of the equity array (15-24 ns/bar, and noisy).

Usage: ``python -m bench.backtest [--symbols N] [--bars N] [--repeat N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from bench import _backtest_before as before
from bench import common
from compute import synthetic
from compute.kernels import backtest as after

# (label, init_cash, fee_rate, slip_rate, fraction, long_short, kelly, stop_loss, take_profit)
CASES = (
    ("long_only", 10_000.0, 0.0, 0.0, 1.0, False, False, math.nan, math.nan),
    ("long_short fees slip", 10_000.0, 5e-4, 2e-4, 1.0, True, False, math.nan, math.nan),
    ("long_short stops", 10_000.0, 5e-4, 2e-4, 0.5, True, False, 0.02, 0.04),
    ("kelly stops", 10_000.0, 5e-4, 0.0, 1.0, False, True, 0.03, 0.06),
)


def _batch(n_symbols: int, n_bars: int) -> tuple[list[np.ndarray], np.ndarray]:
    """OHLC of synthetic symbols and a target that flips about every 20 bars (NaN warm-up)."""
    parts = [synthetic.generate_symbol(n_bars, 3, freq="1min", index=i) for i in range(n_symbols)]
    fields = [
        np.concatenate([np.asarray(p[f], dtype=np.float64) for p in parts])
        for f in ("open", "high", "low", "close")
    ]
    rng = np.random.default_rng(7)
    flips = rng.random(fields[0].shape[0]) < 0.05
    target = np.where(
        np.cumsum(flips) % 3 == 0, -1.0, np.where(np.cumsum(flips) % 3 == 1, 0.0, 1.0)
    )
    offsets = np.arange(n_symbols + 1, dtype=np.int64) * n_bars
    for s in range(n_symbols):
        target[offsets[s] : offsets[s] + 20] = np.nan
    return [*fields, target], offsets


def _same(x: tuple[np.ndarray, ...], y: tuple[np.ndarray, ...]) -> bool:
    return all(
        a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
        for a, b in zip(x, y, strict=True)
    )


def main(argv: list[str] | None = None) -> dict[str, object]:
    quick = common.quick()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--symbols", type=int, default=100 if quick else 200)
    p.add_argument("--bars", type=int, default=2_000)
    p.add_argument("--repeat", type=int, default=11 if quick else 61)
    p.add_argument("--json", help="also write the results as JSON to this path")
    args = p.parse_args(argv)
    print(f"machine: {common.machine_line()}", flush=True)
    arrays, offsets = _batch(args.symbols, args.bars)
    n = int(offsets[-1])
    print(f"{args.symbols:,} symbols x {args.bars:,} bars, {args.repeat} rounds", flush=True)
    rows = []
    for label, *params in CASES:
        fns = {
            "before": lambda params=params: before.simulate_seg_nb(*arrays, offsets, *params),
            "after": lambda params=params: after.simulate_seg_nb(*arrays, offsets, *params),
        }
        if not _same(fns["before"](), fns["after"]()):
            raise SystemExit(f"{label}: the two loops differ")
        times: dict[str, list[float]] = {"before": [], "after": []}
        for r in range(args.repeat):
            # alternate who goes first so neither always gets the warmer cache
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                start = time.perf_counter()
                fns[name]()
                times[name].append(time.perf_counter() - start)
        med = {k: float(np.median(v)) for k, v in times.items()}
        best = {k: min(v) for k, v in times.items()}
        n_trades = fns["after"]()[1].shape[0]
        row = {
            "case": label,
            "trades": n_trades,
            "before_ns_median": med["before"] / n * 1e9,
            "after_ns_median": med["after"] / n * 1e9,
            "before_ns_best": best["before"] / n * 1e9,
            "after_ns_best": best["after"] / n * 1e9,
            "ratio_median": med["after"] / med["before"],
            "ratio_best": best["after"] / best["before"],
        }
        rows.append(row)
        print(
            f"  {label:22s} before {row['before_ns_median']:6.2f} ns/bar  after "
            f"{row['after_ns_median']:6.2f}  after/before median {row['ratio_median']:.3f}"
            f"  best {row['ratio_best']:.3f}  ({n_trades:,} trades, bit-identical)",
            flush=True,
        )
    lines = [
        common.table(
            ["case", "trades", "before ns/bar", "after ns/bar", "after/before (median)", "(best)"],
            [
                [
                    r["case"],
                    f"{r['trades']:,}",
                    f"{r['before_ns_median']:.2f}",
                    f"{r['after_ns_median']:.2f}",
                    f"{r['ratio_median']:.3f}",
                    f"{r['ratio_best']:.3f}",
                ]
                for r in rows
            ],
        )
    ]
    print("\n".join(lines))
    print(f"load after: {common.load()}")
    result = {"rows": rows, "markdown": "\n".join(lines)}
    common.save("backtest", result, args.json)
    return result


if __name__ == "__main__":
    main()
