"""Backtest: target positions per bar in, trades and an equity curve out.

``simulate`` runs one series, ``simulate_batch`` a batch concatenated with ``offsets``; both
validate once and call ``compute.kernels.backtest.simulate_seg_nb``, whose module docstring
lists the order of events within a bar. Trades come back as a dict of equal-length numpy
arrays (the columns of the trades table); ``EXIT_REASONS[code]`` names ``exit_reason``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from compute.errors import ParameterError
from compute.kernels import backtest as k
from compute.segments import check_offsets

EXIT_REASONS = ("signal", "stop_loss", "take_profit", "open")
DIRECTIONS = ("long_only", "long_short")
SIZINGS = ("fixed", "kelly")

TRADE_FIELDS = (
    "side",
    "entry_index",
    "entry_price",
    "exit_index",
    "exit_price",
    "quantity",
    "gross_pnl",
    "fees",
    "net_pnl",
    "return_pct",
    "bars_held",
    "exit_reason",
)
_INT_DTYPES = {"side": np.int8, "exit_reason": np.int8, "segment": np.int64}

__all__ = ["DIRECTIONS", "EXIT_REASONS", "SIZINGS", "TRADE_FIELDS", "BacktestResult"]
__all__ += ["simulate", "simulate_batch"]


@dataclass(frozen=True)
class BacktestResult:
    """Trades and equity of a backtest.

    ``trades`` maps each name of ``TRADE_FIELDS`` (plus ``segment`` for a batch) to an array,
    one element per trade, ordered by segment then entry. ``equity`` has one float64 per bar,
    marked at the close; a batch's segments each start at ``init_cash``.
    """

    trades: dict[str, np.ndarray]
    equity: np.ndarray


def simulate(
    open: Any,  # the bar field's name, as in the indicators
    high: Any,
    low: Any,
    close: Any,
    target: Any,
    *,
    init_cash: float = 10_000.0,
    fees_bps: float = 0.0,
    slippage_bps: float = 0.0,
    fraction: float = 1.0,
    direction: str = "long_only",
    sizing: str = "fixed",
    stop_loss: float | None = None,
    take_profit: float | None = None,
) -> BacktestResult:
    """Simulate trading one series' target positions.

    Parameters
    ----------
    open, high, low, close : array_like
        1-D float prices of one symbol, all of one length.
    target : array_like
        Target position decided at each bar's close: -1, 0, +1, or NaN (warm-up: flat).
        It is executed at the next bar's open, so bar t's target never sees bar t+1.
    init_cash : float
        Starting equity, > 0.
    fees_bps : float
        Fee per side in basis points of traded value, >= 0.
    slippage_bps : float
        Adverse price move per fill in basis points, in [0, 10000): buys fill at
        ``price * (1 + slippage)``, sells at ``price * (1 - slippage)``. It applies to every
        fill (signal, stop-loss and take-profit exits alike) but not to the mark of a
        position still open at the last bar.
    fraction : float
        In (0, 1]. ``sizing="fixed"``: fraction of equity put into each entry,
        ``quantity = fraction * equity / (fill_price * (1 + fee_rate))`` (fractional units).
        ``sizing="kelly"``: multiplies the Kelly fraction (0.5 gives half Kelly).
    direction : {"long_only", "long_short"}
        In long-only a -1 target means flat.
    sizing : {"fixed", "kelly"}
        ``kelly`` uses the bot's capped Kelly fraction of this series' closed trades so far
        (win rate ``p`` and average win / average loss of their ``return_pct``,
        ``p - (1 - p) / (avg_win / avg_loss)`` clipped to [0, 0.25], 0 until there is both a
        win and a loss). A Kelly fraction of 0 still follows the signal with quantity 0, so
        those "paper" trades appear in ``trades`` (zero P&L, a per-unit ``return_pct``) and
        the estimate keeps learning; otherwise Kelly sizing could never start.
    stop_loss, take_profit : float or None
        Fractions of the entry price (0.05 = 5%); stop-loss in (0, 1), take-profit > 0 (and
        < 1 for long_short, where a short's level is ``entry * (1 - take_profit)``). Checked
        from the bar after the entry bar, first against that bar's open (a gap through a
        level fills at the open), then its low/high (fills at the level). When both levels
        lie within one bar's range the stop-loss is assumed to come first. After a stop or
        take-profit exit the position stays flat until the target changes.

    Returns
    -------
    BacktestResult
        ``trades``: ``side`` (int8 +1/-1), ``entry_index``/``exit_index`` (bar of the entry
        and exit fills), ``entry_price``/``exit_price`` (fills, slippage included),
        ``quantity``, ``gross_pnl``, ``fees`` (entry + exit), ``net_pnl``, ``return_pct``
        (``net_pnl`` over the entry cost ``quantity * entry_price * (1 + fee_rate)``, a
        fraction), ``bars_held`` (``exit_index - entry_index``), ``exit_reason`` (int8 code
        into ``EXIT_REASONS``). A position open at the last bar is a trade with reason
        ``"open"``, marked at the last close without exit fee. ``equity``: float64 per bar.
    """
    arrays, offsets, args = _prepare(
        (open, high, low, close, target),
        None,
        init_cash,
        fees_bps,
        slippage_bps,
        fraction,
        direction,
        sizing,
        stop_loss,
        take_profit,
    )
    result = _run(arrays, offsets, args)
    del result.trades["segment"]
    return result


def simulate_batch(
    open: Any,  # the bar field's name, as in the indicators
    high: Any,
    low: Any,
    close: Any,
    target: Any,
    offsets: Any,
    **params: Any,
) -> BacktestResult:
    """``simulate`` over a batch: segment i is bars ``[offsets[i], offsets[i+1])``.

    Takes ``simulate``'s keyword parameters. Every segment starts flat with ``init_cash``
    and its own Kelly history; results equal ``simulate`` on each segment. ``trades`` gains
    a ``segment`` column (int64); ``entry_index``/``exit_index`` stay local to the segment
    (add ``offsets[segment]`` for positions in the batch). ``equity`` is concatenated.
    """
    known = set(simulate.__kwdefaults__)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(
            f"simulate_batch: unknown parameter {unknown[0]!r}; valid: {', '.join(sorted(known))}"
        )
    p = {**simulate.__kwdefaults__, **params}
    arrays, offs, args = _prepare(
        (open, high, low, close, target),
        offsets,
        p["init_cash"],
        p["fees_bps"],
        p["slippage_bps"],
        p["fraction"],
        p["direction"],
        p["sizing"],
        p["stop_loss"],
        p["take_profit"],
    )
    return _run(arrays, offs, args)


def _run(arrays: list[np.ndarray], offsets: np.ndarray, args: tuple[Any, ...]) -> BacktestResult:
    equity, fl, it = k.simulate_seg_nb(*arrays, offsets, *args)
    trades: dict[str, np.ndarray] = {}
    for j, name in enumerate(k.INT_FIELDS):
        trades[name] = it[:, j].astype(_INT_DTYPES.get(name, np.int64))
    for j, name in enumerate(k.FLOAT_FIELDS):
        trades[name] = np.ascontiguousarray(fl[:, j])
    ordered = {name: trades[name] for name in ("segment", *TRADE_FIELDS)}
    return BacktestResult(trades=ordered, equity=equity)


def _number(name: str, value: Any, low: float, high: float, *, low_open: bool, high_open: bool):
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    valid = f"valid range is {lo}{low}, {high}{hi}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"backtest: {name} must be a number, got {value!r}; {valid}")
    v = float(value)
    ok = math.isfinite(v) and (v > low if low_open else v >= low)
    ok = ok and (v < high if high_open else v <= high)
    if not ok:
        raise ParameterError(f"backtest: {name} = {value!r} is out of range; {valid}")
    return v


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ParameterError(
            f"backtest: {name} = {value!r} is not valid; choices: {', '.join(choices)}"
        )
    return value


def _prepare(
    inputs: tuple[Any, ...],
    offsets: Any,
    init_cash: Any,
    fees_bps: Any,
    slippage_bps: Any,
    fraction: Any,
    direction: Any,
    sizing: Any,
    stop_loss: Any,
    take_profit: Any,
) -> tuple[list[np.ndarray], np.ndarray, tuple[Any, ...]]:
    inf = math.inf
    cash = _number("init_cash", init_cash, 0.0, inf, low_open=True, high_open=True)
    fees = _number("fees_bps", fees_bps, 0.0, inf, low_open=False, high_open=True)
    slip = _number("slippage_bps", slippage_bps, 0.0, 1e4, low_open=False, high_open=True)
    frac = _number("fraction", fraction, 0.0, 1.0, low_open=True, high_open=False)
    long_short = _choice("direction", direction, DIRECTIONS) == "long_short"
    kelly = _choice("sizing", sizing, SIZINGS) == "kelly"
    sl = math.nan
    if stop_loss is not None:
        sl = _number("stop_loss", stop_loss, 0.0, 1.0, low_open=True, high_open=True)
    tp = math.nan
    if take_profit is not None:
        tp_high = 1.0 if long_short else inf
        tp = _number("take_profit", take_profit, 0.0, tp_high, low_open=True, high_open=True)

    names = ("open", "high", "low", "close", "target")
    arrays = []
    for name, value in zip(names, inputs, strict=True):
        arr = np.ascontiguousarray(value, dtype=np.float64)
        if arr.ndim != 1:
            raise ParameterError(f"backtest: {name} must be 1-D, got shape {arr.shape}")
        arrays.append(arr)
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) > 1:
        raise ParameterError(
            "backtest: inputs differ in length: "
            + ", ".join(f"{n}={a.shape[0]}" for n, a in zip(names, arrays, strict=True))
        )
    n = arrays[0].shape[0]
    target = arrays[-1]
    bad = ~(np.isnan(target) | (target == -1.0) | (target == 0.0) | (target == 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ParameterError(
            f"backtest: target[{i}] = {float(target[i])!r}; targets must be -1, 0, +1 or NaN"
        )
    if offsets is None:
        offs = np.array([0, n], dtype=np.int64)
    else:
        offs = check_offsets("backtest", offsets, n)
    args = (cash, fees / 1e4, slip / 1e4, frac, long_short, kelly, sl, tp)
    return arrays, offs, args
