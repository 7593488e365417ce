"""OHLCV test series: real daily stocks from bokeh_sampledata and synthetic edge shapes."""

from __future__ import annotations

import numpy as np

FIELDS = ("open", "high", "low", "close", "volume")


def real_daily(symbol: str = "AAPL") -> dict[str, np.ndarray]:
    """Real unadjusted daily OHLCV (2000-2013) shipped by ``bokeh_sampledata``."""
    from bokeh_sampledata import stocks

    raw = getattr(stocks, symbol)
    return {f: np.asarray(raw[f], dtype=np.float64) for f in FIELDS}


def from_close(close: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Valid OHLCV around a close path: open near the previous close, high/low bracket both."""
    rng = np.random.default_rng(seed)
    close = np.asarray(close, dtype=np.float64)
    prev = np.concatenate([close[:1], close[:-1]])
    open_ = prev * (1 + rng.normal(0, 0.002, close.shape[0]))
    spread = np.abs(rng.normal(0, 0.01, close.shape[0])) * close
    high = np.maximum(open_, close) + spread * rng.uniform(0, 1, close.shape[0])
    low = np.minimum(open_, close) - spread * rng.uniform(0, 1, close.shape[0])
    volume = np.round(rng.lognormal(12, 0.6, close.shape[0]))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def synthetic_rough(n: int = 1500, seed: int = 1) -> dict[str, np.ndarray]:
    """A random walk with gaps, flat stretches (all four prices equal) and extreme moves."""
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, 0.015, n)
    ret[rng.choice(n, 12, replace=False)] = rng.choice([-0.35, 0.4, -0.2, 0.6], 12)  # gaps
    close = 50 * np.exp(np.cumsum(ret))
    bars = from_close(close, seed)
    for a in (200, 700, 1200):  # flat stretches: no range, no change, no volume change
        bars["close"][a : a + 40] = bars["close"][a]
        for f in ("open", "high", "low"):
            bars[f][a : a + 40] = bars["close"][a]
        bars["volume"][a : a + 40] = 1000.0
    return bars


def constant(n: int = 300, price: float = 10.0) -> dict[str, np.ndarray]:
    """Every price equal and volume constant: ranges and changes are all zero."""
    bars = {f: np.full(n, price) for f in ("open", "high", "low", "close")}
    bars["volume"] = np.full(n, 500.0)
    return bars


def shape_cases() -> dict[str, dict[str, np.ndarray]]:
    """Named inputs every indicator is compared on."""
    real = real_daily("AAPL")
    return {
        "real_aapl": real,
        "real_ibm_tail": {f: v[-700:] for f, v in real_daily("IBM").items()},
        "synthetic_rough": synthetic_rough(),
        "constant": constant(),
        "short_12": {f: v[:12] for f, v in real.items()},
        "one_bar": {f: v[:1] for f, v in real.items()},
    }
