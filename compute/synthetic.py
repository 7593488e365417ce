"""Synthetic OHLCV bars: random walks with volatility regimes, gaps and realistic volume.

Pure numpy, no I/O. One symbol at a time, deterministic for ``(seed, index)`` so a universe
can be generated in any order or in chunks and still come out the same.

The model, per bar t:

- a two-state Markov regime (calm / volatile) sets the bar's volatility; regimes last a
  geometric number of bars (about 60 calm, 15 volatile on average), volatile bars have
  about 2.5x the calm volatility;
- the close-to-close log return is a small drift plus an opening gap plus an intrabar move
  (Student-t, 5 degrees of freedom, scaled to unit variance for fat tails); the gap is a
  small overnight move plus, with probability 1%, a jump of several sigmas;
- high and low extend beyond the open and close by half-normal amounts of the bar's
  volatility, so ``high >= max(open, close)``, ``low <= min(open, close)`` and all prices
  are positive;
- volume is lognormal around a per-symbol level and rises with ``|return| / sigma``.

Calendars: ``1d`` bars fall on business days (Monday to Friday, no holidays) at 00:00 UTC;
intraday ``1h`` and ``1min`` bars run around the clock, every day (a 24/7 market).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from compute.errors import ParameterError

__all__ = ["FREQUENCIES", "bars_per_year", "generate_symbol", "symbol_names", "timestamps"]

# Bar length in microseconds, and bars per year for scaling volatility and drift.
FREQUENCIES: dict[str, int] = {"1d": 86_400_000_000, "1h": 3_600_000_000, "1min": 60_000_000}
_BARS_PER_YEAR: dict[str, float] = {"1d": 252.0, "1h": 24 * 365.0, "1min": 24 * 60 * 365.0}

_CALM_ANNUAL_VOL = 0.16
_VOLATILE_MULTIPLIER = 2.5
_MEAN_CALM_BARS = 60.0
_MEAN_VOLATILE_BARS = 15.0
_JUMP_PROBABILITY = 0.01
_T_DF = 5.0


def bars_per_year(freq: str) -> float:
    """Bars in a year at ``freq`` (252 for daily business-day bars)."""
    _check_freq(freq)
    return _BARS_PER_YEAR[freq]


def symbol_names(n: int, prefix: str = "SYN") -> list[str]:
    """``n`` distinct synthetic tickers, ``SYN0000``, ``SYN0001``, ... (zero-padded, >= 4 digits)."""
    if n < 0:
        raise ParameterError(f"symbol count must be >= 0, got {n}")
    width = max(4, len(str(max(n - 1, 0))))
    return [f"{prefix}{i:0{width}d}" for i in range(n)]


def timestamps(n_bars: int, freq: str = "1d", start: str | dt.date = "2015-01-02") -> np.ndarray:
    """``n_bars`` bar times as int64 microseconds since the epoch, UTC.

    Daily bars take the business days from ``start`` on (``start`` itself if a weekday);
    intraday bars are evenly spaced from ``start`` at 00:00 UTC.
    """
    _check_freq(freq)
    day = np.datetime64(start if isinstance(start, str) else start.isoformat(), "D")
    if freq == "1d":
        days = np.busday_offset(day, np.arange(n_bars), roll="forward")
        return days.astype("datetime64[us]").astype(np.int64)
    origin = day.astype("datetime64[us]").astype(np.int64)
    return origin + np.arange(n_bars, dtype=np.int64) * FREQUENCIES[freq]


def generate_symbol(
    n_bars: int,
    seed: int,
    start_price: float | None = None,
    freq: str = "1d",
    *,
    index: int = 0,
    start: str | dt.date = "2015-01-02",
) -> dict[str, np.ndarray]:
    """One symbol's synthetic bars.

    Parameters
    ----------
    n_bars : int
        Number of bars (>= 0).
    seed : int
        Universe seed; with ``index`` it fixes every draw.
    start_price : float, optional
        Close before the first bar; None draws one between about 5 and 500.
    freq : {"1d", "1h", "1min"}
        Bar length; volatility, drift and volume scale with it.
    index : int
        The symbol's position in its universe, so symbols of one seed differ.
    start : str or date
        First bar's date (see ``timestamps`` for the calendar).

    Returns
    -------
    dict of str to ndarray
        ``timestamp`` (int64 microseconds, UTC), ``open``, ``high``, ``low``, ``close``,
        ``volume`` (float64, whole numbers), and ``regime`` (int8, 1 on volatile bars).
    """
    _check_freq(freq)
    if n_bars < 0:
        raise ParameterError(f"n_bars must be >= 0, got {n_bars}")
    if start_price is not None and not (np.isfinite(start_price) and start_price > 0):
        raise ParameterError(f"start_price must be a positive number, got {start_price!r}")
    rng = np.random.default_rng([seed, index])
    per_year = _BARS_PER_YEAR[freq]

    first = float(np.exp(rng.uniform(np.log(5.0), np.log(500.0))))
    price0 = first if start_price is None else float(start_price)
    calm = _CALM_ANNUAL_VOL * rng.uniform(0.6, 1.6) / np.sqrt(per_year)
    drift = rng.normal(0.06, 0.10) / per_year
    volume_level = rng.lognormal(np.log(1e6), 1.0) * (252.0 / per_year)

    regime = _regimes(n_bars, rng)
    sigma = np.where(regime == 1, calm * _VOLATILE_MULTIPLIER, calm)

    t_scale = np.sqrt((_T_DF - 2.0) / _T_DF)
    intrabar = sigma * rng.standard_t(_T_DF, n_bars) * t_scale
    jumps = rng.random(n_bars) < _JUMP_PROBABILITY
    gap = sigma * (0.25 * rng.standard_normal(n_bars) + jumps * rng.normal(0.0, 4.0, n_bars))
    log_return = drift - 0.5 * sigma**2 + gap + intrabar

    log_close = np.log(price0) + np.cumsum(log_return)
    log_prev = np.concatenate([[np.log(price0)], log_close[:-1]])
    log_open = log_prev + gap
    up = np.abs(rng.standard_normal(n_bars)) * 0.5 * sigma
    down = np.abs(rng.standard_normal(n_bars)) * 0.5 * sigma

    open_ = np.exp(log_open)
    close = np.exp(log_close)
    high = np.maximum(np.exp(np.maximum(log_open, log_close) + up), np.maximum(open_, close))
    low = np.minimum(np.exp(np.minimum(log_open, log_close) - down), np.minimum(open_, close))

    surprise = np.abs(log_return) / sigma
    log_volume = np.log(volume_level) + 0.45 * surprise + rng.normal(0.0, 0.35, n_bars)
    volume = np.maximum(np.round(np.exp(log_volume)), 1.0)

    return {
        "timestamp": timestamps(n_bars, freq, start),
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "regime": regime,
    }


def _regimes(n_bars: int, rng: np.random.Generator) -> np.ndarray:
    """0/1 per bar from alternating geometric run lengths (a two-state Markov chain)."""
    out = np.empty(n_bars, dtype=np.int8)
    state = int(rng.random() < _MEAN_VOLATILE_BARS / (_MEAN_CALM_BARS + _MEAN_VOLATILE_BARS))
    pos = 0
    while pos < n_bars:
        # Draw runs in blocks: one Python iteration covers hundreds of regime switches.
        calm = rng.geometric(1.0 / _MEAN_CALM_BARS, 256)
        volatile = rng.geometric(1.0 / _MEAN_VOLATILE_BARS, 256)
        lengths = np.empty(512, dtype=np.int64)
        states = np.empty(512, dtype=np.int8)
        first, second = (calm, volatile) if state == 0 else (volatile, calm)
        lengths[0::2], lengths[1::2] = first, second
        states[0::2], states[1::2] = state, 1 - state
        block = np.repeat(states, lengths)[: n_bars - pos]
        out[pos : pos + block.shape[0]] = block
        pos += block.shape[0]
    return out


def _check_freq(freq: str) -> None:
    if freq not in FREQUENCIES:
        raise ParameterError(f"unknown bar frequency {freq!r}; choose one of: 1d, 1h, 1min")
