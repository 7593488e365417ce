"""The portfolio walk against vectorbt's shared-cash ``Portfolio.from_orders``.

The test builds the rules' target weights itself with pandas (rank, equal or inverse
volatility weights, the next bar's open; an order for a symbol without a bar moves to its
next bar), hands them to vectorbt as ``targetpercent`` orders with ``group_by=True``,
``cash_sharing=True`` and ``call_seq='auto'``, and requires the same fills and equity
within 1e-9 relative. vectorbt values a symbol without a bar at its last close
(``val_price``), as the walk does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import vectorbt as vbt

from compute import allocation

RTOL = 1e-9


def _bokeh_universe() -> pd.DataFrame:
    from bokeh_sampledata import stocks

    frames = []
    for sym in ("AAPL", "FB", "GOOG", "IBM", "MSFT"):
        raw = getattr(stocks, sym)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": sym,
                    "timestamp": pd.to_datetime(raw["date"]).astype("datetime64[us]"),
                    "open": np.asarray(raw["open"], dtype=float),
                    "close": np.asarray(raw["close"], dtype=float),
                    "volume": np.asarray(raw["volume"], dtype=float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _synthetic_universe(n_sym: int = 24, n_bars: int = 420, seed: int = 5) -> pd.DataFrame:
    """Random walks with 8% of bars missing, late listings and early delistings."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-01-04", periods=n_bars).astype("datetime64[us]")
    frames = []
    for s in range(n_sym):
        keep = rng.random(n_bars) > 0.08
        if s % 5 == 1:
            keep[: rng.integers(30, 150)] = False  # listed late
        if s % 7 == 2:
            keep[rng.integers(250, 380) :] = False  # delisted
        n = int(keep.sum())
        close = rng.uniform(5, 200) * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
        open_ = close * np.exp(rng.normal(0, 0.006, n))
        frames.append(
            pd.DataFrame(
                {
                    "symbol": f"S{s:02d}",
                    "timestamp": days[keep],
                    "open": open_,
                    "close": close,
                    "volume": rng.uniform(1e4, 1e6, n),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _score(bars: pd.DataFrame, window: int) -> pd.Series:
    """Rate of change over ``window`` of each symbol's own bars."""
    return bars.groupby("symbol")["close"].transform(lambda c: c / c.shift(window) - 1)


def _vol(bars: pd.DataFrame, window: int) -> pd.Series:
    ret = bars.groupby("symbol")["close"].transform(lambda c: c / c.shift(1) - 1)
    return ret.groupby(bars["symbol"]).transform(lambda r: r.rolling(window).std(ddof=1))


def _reference_weights(score, vol, rules, decide) -> pd.DataFrame:
    """Target weights at each decision bar, from the rules' definitions (rank, ties, weights)."""
    weights = pd.DataFrame(np.nan, index=score.index, columns=score.columns)
    for t in np.flatnonzero(decide):
        row = score.iloc[t]
        ok = row.notna()
        if rules.weighting == "inverse_vol":
            ok &= vol.iloc[t].notna() & (vol.iloc[t] > 0)
        cand = row[ok]
        # highest first, ties to the symbol that sorts first (columns are sorted)
        ranked = sorted(cand.index, key=lambda s: (-cand[s], list(score.columns).index(s)))
        longs = ranked[: rules.top]
        shorts = []
        if rules.bottom:
            rest = [s for s in reversed(ranked) if s not in longs]
            lowest = sorted(rest, key=lambda s: (cand[s], list(score.columns).index(s)))
            shorts = lowest[: rules.bottom]
        w = pd.Series(0.0, index=score.columns)
        chosen = longs + shorts
        if chosen:
            raw = pd.Series(1.0, index=chosen)
            if rules.weighting == "inverse_vol":
                raw = 1.0 / vol.iloc[t][chosen]
            raw = raw / raw.sum() * rules.gross_exposure
            w[longs] = raw[longs]
            w[shorts] = -raw[shorts]
        weights.iloc[t] = w
    return weights


def _orders_frame(weights: pd.DataFrame, open_: pd.DataFrame) -> pd.DataFrame:
    """Decision at t → order at t+1; a symbol without a bar then is filled at its next bar,
    unless the next decision's order comes first."""
    size = pd.DataFrame(np.nan, index=open_.index, columns=open_.columns)
    decisions = np.flatnonzero(weights.notna().any(axis=1).to_numpy())
    fills = [t + 1 for t in decisions]
    has_bar = open_.notna().to_numpy()
    for d, f in enumerate(fills):
        if f >= len(open_):
            continue
        next_fill = fills[d + 1] if d + 1 < len(fills) else len(open_)
        for j in range(open_.shape[1]):
            rows = np.flatnonzero(has_bar[f:, j])
            if rows.size and f + rows[0] < next_fill:
                size.iat[f + rows[0], j] = weights.iat[decisions[d], j]
    return size


def _run_both(bars: pd.DataFrame, rules: allocation.PortfolioRules, window: int):
    bars = bars.sort_values(["symbol", "timestamp"]).reset_index(drop=True)
    bars["score"] = _score(bars, window)
    bars["vol"] = _vol(bars, rules.vol_window)
    offsets = np.concatenate([[0], np.cumsum(bars.groupby("symbol", sort=True).size())])
    ts_us = bars["timestamp"].to_numpy().astype("datetime64[us]").astype(np.int64)
    ours = allocation.simulate_portfolio(
        ts_us,
        bars["open"],
        bars["close"],
        bars["volume"],
        bars["score"],
        offsets,
        rules,
        chunk=37,
    )

    def wide(col: str) -> pd.DataFrame:
        return bars.pivot(index="timestamp", columns="symbol", values=col).sort_index()

    open_, close, score, vol = wide("open"), wide("close"), wide("score"), wide("vol")
    assert (
        open_.index.to_numpy().astype("datetime64[us]").astype(np.int64) == ours.calendar_us
    ).all()
    decide = allocation.rebalance_schedule(ours.calendar_us, rules.rebalance)
    weights = _reference_weights(score, vol, rules, decide)
    size = _orders_frame(weights, open_)
    val_price = open_.where(open_.notna(), close.ffill())
    pf = vbt.Portfolio.from_orders(
        close=close,
        size=size,
        size_type="targetpercent",
        price=open_,
        val_price=val_price,
        fees=rules.fees_bps / 1e4,
        slippage=rules.slippage_bps / 1e4,
        init_cash=rules.init_cash,
        direction="longonly" if rules.direction == "long_only" else "both",
        size_granularity=np.nan if rules.lot_size is None else rules.lot_size,
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        freq="1D",
    )
    return ours, pf


def _assert_same_fills_and_equity(ours, pf) -> int:
    rec = pf.orders.values
    theirs = pd.DataFrame(
        {
            "bar": rec["idx"],
            "symbol": rec["col"],
            "side": np.where(rec["side"] == 0, 1, -1),
            "quantity": rec["size"],
            "price": rec["price"],
            "fees": rec["fees"],
        }
    ).sort_values(["bar", "symbol"], ignore_index=True)
    o = ours.result.orders
    mine = pd.DataFrame({c: o[c] for c in theirs.columns}).sort_values(
        ["bar", "symbol"], ignore_index=True
    )
    assert len(mine) == len(theirs), f"{len(mine)} fills, vectorbt {len(theirs)}"
    assert len(mine) > 20, "the case must trade"
    for col in ("bar", "symbol", "side"):
        bad = np.flatnonzero(mine[col].to_numpy() != theirs[col].to_numpy())
        assert bad.size == 0, (
            f"{col} differs first at fill {bad[:1]}: {mine.iloc[bad[0]].to_dict()} vs {theirs.iloc[bad[0]].to_dict()}"
        )
    for col in ("quantity", "price", "fees"):
        np.testing.assert_allclose(mine[col], theirs[col], rtol=RTOL, atol=0, err_msg=col)
    np.testing.assert_allclose(
        ours.result.bars["equity"], pf.value().to_numpy(), rtol=RTOL, atol=0, err_msg="equity"
    )
    np.testing.assert_allclose(
        ours.result.bars["cash"], pf.cash().to_numpy(), rtol=RTOL, atol=1e-6, err_msg="cash"
    )
    return len(mine)


def test_top_n_monthly_on_real_daily_stocks_matches_vectorbt():
    rules = allocation.PortfolioRules(
        top=2, rebalance="monthly", fees_bps=10, slippage_bps=5, init_cash=100_000
    )
    ours, pf = _run_both(_bokeh_universe(), rules, window=60)
    _assert_same_fills_and_equity(ours, pf)


def test_weekly_inverse_vol_with_missing_bars_matches_vectorbt():
    rules = allocation.PortfolioRules(
        top=5,
        rebalance="weekly",
        weighting="inverse_vol",
        vol_window=15,
        fees_bps=7,
        slippage_bps=3,
        init_cash=250_000,
    )
    ours, pf = _run_both(_synthetic_universe(), rules, window=10)
    n = _assert_same_fills_and_equity(ours, pf)
    assert (ours.result.orders["reason"] == allocation.ORDER_REASONS.index("delayed")).any(), n


def test_long_short_whole_shares_with_missing_bars_matches_vectorbt():
    rules = allocation.PortfolioRules(
        top=3,
        bottom=3,
        direction="long_short",
        gross_exposure=1.5,
        rebalance="every_bar",
        fees_bps=5,
        slippage_bps=5,
        lot_size=1.0,
        init_cash=50_000,
    )
    ours, pf = _run_both(_synthetic_universe(n_sym=12, n_bars=160, seed=9), rules, window=5)
    _assert_same_fills_and_equity(ours, pf)
    assert np.all(ours.result.orders["quantity"] == np.round(ours.result.orders["quantity"]))
