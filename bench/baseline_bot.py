"""The bot's approach, end to end, as the baseline barpipe replaces.

What the reference guide's bot does, applied to a batch universe:

1. load the bars with pandas into ``{symbol: DataFrame}``;
2. a ``ThreadPoolExecutor(max_workers=min(8, cpu_count))`` over symbols (the guide's
   ``calculate_indicators_parallel``) runs, per symbol: the guide's pandas indicators
   (``bot_pandas.guide_indicators``: SMA 20/50, EMA 12/26, MACD, RSI, Bollinger Bands), its
   momentum composite (``bot_pandas.guide_momentum_signal``), a per-bar Python backtest and
   the metrics;
3. trades and metrics go to SQLite with batched inserts in WAL mode (the guide's database
   manager), equity curves to Parquet.

The backtest has barpipe's semantics for this comparison: the target decided at bar t's
close fills at bar t+1's open, fees and slippage in basis points per side, long/short, all
equity in each position. It walks the bars with ``DataFrame.itertuples`` (pandas' fastest
row iterator); ``--loop lists`` walks plain Python lists instead, the fastest a per-bar
Python loop gets, and ``--loop iterrows`` walks ``DataFrame.iterrows``, the slowest common
idiom, to show how much the iteration style matters.

Usage: ``python -m bench.baseline_bot --input DIR --output DIR [--symbols N]``; prints one
JSON line with the seconds per stage.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from bench.bot_pandas import guide_indicators, guide_momentum_signal


def load(path: str, symbols: int | None) -> dict[str, pd.DataFrame]:
    """The bars as ``{symbol: DataFrame indexed by timestamp}``, the first ``symbols`` only."""
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    names = sorted(dataset.to_table(columns=["symbol"]).column("symbol").unique().to_pylist())
    if symbols:
        names = names[:symbols]
    frame = dataset.to_table(filter=ds.field("symbol").isin(names)).to_pandas()
    return {
        str(sym): part.drop(columns="symbol").set_index("timestamp").sort_index()
        for sym, part in frame.groupby("symbol", observed=True, sort=True)
    }


def backtest(
    df: pd.DataFrame,
    signal: pd.Series,
    *,
    fees_bps: float,
    slippage_bps: float,
    cash: float,
    loop: str,
) -> tuple[list[dict[str, Any]], list[float]]:
    """Per-bar loop: the signal at bar t's close trades at bar t+1's open."""
    fee = fees_bps / 1e4
    slip = slippage_bps / 1e4
    side = 0
    qty = 0.0
    entry_price = entry_cost = entry_fee = 0.0
    entry_time = None
    trades: list[dict[str, Any]] = []
    equity: list[float] = []
    pending = 0.0
    frame = df[["open", "close"]].assign(signal=signal.to_numpy())
    if loop == "lists":
        rows = zip(
            df.index.tolist(),
            df["open"].tolist(),
            df["close"].tolist(),
            signal.tolist(),
            strict=True,
        )
    elif loop == "iterrows":
        rows = ((ts, r["open"], r["close"], r["signal"]) for ts, r in frame.iterrows())
    else:
        rows = frame.itertuples(index=True, name=None)
    for ts, open_, close, sig in rows:
        want = 0 if math.isnan(pending) else int(pending)
        if want != side:
            if side != 0:  # close the open position at this open
                fill = open_ * (1 - slip) if side > 0 else open_ * (1 + slip)
                exit_fee = qty * fill * fee
                gross = (fill - entry_price) * qty * side
                net = gross - entry_fee - exit_fee
                cash += entry_cost + net  # the margin back, plus the trade's net P&L
                trades.append(
                    {
                        "side": "long" if side > 0 else "short",
                        "entry_time": entry_time,
                        "entry_price": entry_price,
                        "exit_time": ts,
                        "exit_price": fill,
                        "quantity": qty,
                        "gross_pnl": gross,
                        "fees": entry_fee + exit_fee,
                        "net_pnl": net,
                        "return_pct": net / entry_cost,
                        "exit_reason": "signal",
                    }
                )
                side, qty = 0, 0.0
            if want != 0:  # open the new side with all equity
                fill = open_ * (1 + slip) if want > 0 else open_ * (1 - slip)
                qty = cash / (fill * (1 + fee))
                entry_price, entry_fee = fill, qty * fill * fee
                entry_cost = qty * fill + entry_fee
                entry_time = ts
                cash -= entry_cost
                side = want
        if side != 0:
            equity.append(cash + entry_cost - entry_fee + (close - entry_price) * qty * side)
        else:
            equity.append(cash)
        pending = sig
    if side != 0:
        gross = (close - entry_price) * qty * side
        trades.append(
            {
                "side": "long" if side > 0 else "short",
                "entry_time": entry_time,
                "entry_price": entry_price,
                "exit_time": ts,
                "exit_price": close,
                "quantity": qty,
                "gross_pnl": gross,
                "fees": entry_fee,
                "net_pnl": gross - entry_fee,
                "return_pct": (gross - entry_fee) / entry_cost,
                "exit_reason": "open",
            }
        )
    return trades, equity


def metrics(equity: list[float], trades: list[dict[str, Any]], periods: float) -> dict[str, float]:
    """The guide's vectorized portfolio metrics plus trade statistics."""
    values = np.asarray(equity)
    returns = values[1:] / values[:-1] - 1
    total = values[-1] / values[0] - 1
    annual = (1 + total) ** (periods / max(len(returns), 1)) - 1
    vol = float(np.std(returns, ddof=1) * np.sqrt(periods)) if len(returns) > 1 else 0.0
    downside = returns[returns < 0]
    peak = np.maximum.accumulate(values)
    max_dd = float(np.min(values / peak - 1))
    wins = [t["net_pnl"] for t in trades if t["net_pnl"] > 0]
    losses = [t["net_pnl"] for t in trades if t["net_pnl"] < 0]
    return {
        "total_return": float(total),
        "annual_return": float(annual),
        "annual_volatility": vol,
        "sharpe_ratio": float(np.mean(returns) / np.std(returns, ddof=1) * np.sqrt(periods))
        if vol
        else 0.0,
        "sortino_ratio": float(
            np.mean(returns) / np.sqrt(np.mean(np.minimum(returns, 0) ** 2)) * np.sqrt(periods)
        )
        if len(downside)
        else 0.0,
        "max_drawdown": max_dd,
        "calmar_ratio": float(annual / -max_dd) if max_dd < 0 else 0.0,
        "n_trades": len(trades),
        "win_rate": len(wins) / len(trades) if trades else 0.0,
        "profit_factor": sum(wins) / -sum(losses) if losses else 0.0,
    }


def process_symbol(symbol: str, df: pd.DataFrame, args: argparse.Namespace) -> dict[str, Any]:
    clock = time.perf_counter()
    with_ind = guide_indicators(df)
    t_ind = time.perf_counter() - clock
    clock = time.perf_counter()
    signal = guide_momentum_signal(with_ind)
    t_sig = time.perf_counter() - clock
    clock = time.perf_counter()
    trades, equity = backtest(
        df,
        signal,
        fees_bps=args.fees_bps,
        slippage_bps=args.slippage_bps,
        cash=args.init_cash,
        loop=args.loop,
    )
    t_bt = time.perf_counter() - clock
    clock = time.perf_counter()
    met = metrics(equity, trades, args.periods)
    t_met = time.perf_counter() - clock
    return {
        "symbol": symbol,
        "trades": trades,
        "equity": pd.DataFrame({"timestamp": df.index, "equity": equity}),
        "metrics": met,
        "seconds": {"indicators": t_ind, "signals": t_sig, "backtest": t_bt, "metrics": t_met},
    }


def write(results: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(out / "bot.db") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS trades (symbol, side, entry_time, entry_price, exit_time,"
            " exit_price, quantity, gross_pnl, fees, net_pnl, return_pct, exit_reason)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS metrics (symbol, total_return, annual_return,"
            " annual_volatility, sharpe_ratio, sortino_ratio, max_drawdown, calmar_ratio,"
            " n_trades, win_rate, profit_factor)"
        )
        for r in results:
            conn.executemany(
                "INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r["symbol"],
                        t["side"],
                        str(t["entry_time"]),
                        t["entry_price"],
                        str(t["exit_time"]),
                        t["exit_price"],
                        t["quantity"],
                        t["gross_pnl"],
                        t["fees"],
                        t["net_pnl"],
                        t["return_pct"],
                        t["exit_reason"],
                    )
                    for t in r["trades"]
                ],
            )
            conn.execute(
                "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r["symbol"], *r["metrics"].values()),
            )
    equity = pd.concat(
        [r["equity"].assign(symbol=r["symbol"], strategy="momentum") for r in results],
        ignore_index=True,
    )
    equity.to_parquet(out / "equity.parquet", index=False)


def run(args: argparse.Namespace) -> dict[str, Any]:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    data = load(args.input, args.symbols)
    timings["load"] = time.perf_counter() - clock
    clock = time.perf_counter()
    workers = min(8, multiprocessing.cpu_count())
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(process_symbol, s, df, args): s for s, df in data.items()}
        results = [f.result() for f in concurrent.futures.as_completed(futures)]
    timings["compute"] = time.perf_counter() - clock
    per_stage: dict[str, float] = {}
    for r in results:
        for k, v in r["seconds"].items():
            per_stage[k] = per_stage.get(k, 0.0) + v
    clock = time.perf_counter()
    write(results, Path(args.output))
    timings["write"] = time.perf_counter() - clock
    return {
        "n_symbols": len(data),
        "n_bars": int(sum(len(df) for df in data.values())),
        "n_trades": int(sum(len(r["trades"]) for r in results)),
        "threads": workers,
        "seconds": timings,
        "thread_seconds": per_stage,
        "total_seconds": sum(timings.values()),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--symbols", type=int, default=None, help="only the first N symbols")
    p.add_argument("--loop", choices=("itertuples", "lists", "iterrows"), default="itertuples")
    p.add_argument("--fees-bps", type=float, default=1.0)
    p.add_argument("--slippage-bps", type=float, default=1.0)
    p.add_argument("--init-cash", type=float, default=10_000.0)
    p.add_argument("--periods", type=float, default=525_600.0, help="bars per year")
    args = p.parse_args(argv)
    result = run(args)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
