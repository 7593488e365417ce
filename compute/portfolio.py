"""Portfolio arithmetic for the report: sleeves summed into a portfolio, drawdowns, summaries.

Data flow. On the workers, ``summarize_sleeves`` turns a batch's equity and trades into one
small row per sleeve (symbol, strategy): its first equity, its equity at the last bar of each
period of a calendar grid, and its trades opened per grid period and side. Those rows are
stored with the run (storage.db ``report_sleeves``); the report never reads the equity or
trades tables. ``portfolio_from_summaries`` sums the sleeves into one equal-allocation
portfolio per strategy and its drawdown, and ``trades_from_summaries`` counts trades per
chart period; Sharpe histograms and best/worst tables come from the metrics rows.

The grid (``choose_grid``): the finest of hour, day, month, quarter, year that cuts the
batch's time span into at most ``MAX_GRID_POINTS`` periods (hours for 35 days of minute bars,
days for a year of them, months for 20 years of daily bars). Each period nests in the next,
so sleeves summarized on different grids (batches or nights with different spans) are merged
exactly on the coarsest one: a sleeve's value at the end of a coarse period is its value at
the end of the last finer period inside it. At each grid point the portfolio equals
``portfolio_curves`` over the full equity rows at that time; between grid points it is not
drawn, so a drawdown that recovers within one period is not seen.

Why per sleeve: a night that recomputes only some symbols replaces only their rows; the
report of a run takes each sleeve of its metrics from the latest run at or before it that
summarized that sleeve (storage.db ``read_report_sleeves``). Per-sleeve rows cost
``MAX_GRID_POINTS`` x 16 bytes at most, whatever the history's length.

``portfolio_curves`` and ``combine_sleeves`` do the same sum over full equity rows (the
reference the summaries are tested against). The other helpers turn rows into what a chart
shows: ``downsample_indices``, ``histogram``, ``rank_symbols``, ``choose_period`` and
``count_per_period``, ``sum_by_key``. Everything here is numpy and pyarrow over arrays already
in memory; nothing reads files.

Times are int64 microseconds since the epoch (UTC), the storage type ``timestamp[us, UTC]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from compute.errors import DataError, ParameterError

__all__ = [
    "GRID_PERIODS",
    "MAX_GRID_POINTS",
    "PERIODS",
    "SUMMARY_SCHEMA",
    "PortfolioCurve",
    "choose_grid",
    "choose_period",
    "combine_sleeves",
    "count_per_period",
    "downsample_indices",
    "drawdown",
    "histogram",
    "max_by_key",
    "micros",
    "portfolio_curves",
    "portfolio_from_summaries",
    "rank_symbols",
    "sum_by_key",
    "summarize_sleeves",
    "trades_from_summaries",
]

_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class PortfolioCurve:
    """One strategy's portfolio: equity and drawdown on the union of its sleeves' timestamps."""

    strategy: str
    timestamp_us: np.ndarray  # int64, strictly increasing
    equity: np.ndarray  # float64
    drawdown: np.ndarray  # float64, <= 0
    n_sleeves: int
    initial_capital: float


def drawdown(equity: np.ndarray) -> np.ndarray:
    """``equity / running max - 1``: 0 at each new high, negative below it (the first value is the first peak)."""
    values = np.asarray(equity, dtype=np.float64)
    if values.size == 0:
        return values.copy()
    return values / np.maximum.accumulate(values) - 1.0


def combine_sleeves(
    sleeve: np.ndarray,
    timestamp_us: np.ndarray,
    equity: np.ndarray,
    initial_capital: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Equal-allocation sum of equity curves ("sleeves") given as rows.

    Rows must be sorted by (sleeve, timestamp); ``sleeve`` is an integer id per row. Each of
    the N sleeves is scaled to ``initial_capital / N`` at its first bar, i.e. its curve is
    multiplied by ``initial_capital / (N * first value)``, so the portfolio is what
    ``initial_capital`` split evenly at the start would have become.

    The portfolio is evaluated at every timestamp of any sleeve. Where a sleeve has no bar at
    that time, it contributes its most recent value: its starting value (``initial_capital /
    N``, held as cash) before its first bar, the last value of its curve after its last bar
    (the sleeve is closed out and held as cash), and its previous bar's value in gaps.

    Parameters
    ----------
    sleeve, timestamp_us, equity
        One element per row: sleeve id, int64 microseconds, equity (finite, first value > 0).
    initial_capital
        The portfolio's starting value; default the mean of the sleeves' first values (the
        backtest's ``init_cash`` when every sleeve started with it).

    Returns
    -------
    (timestamp_us, equity, initial_capital)
        The sorted unique timestamps, the portfolio value at each, and the capital used.
    """
    sleeve = np.asarray(sleeve)
    ts = np.asarray(timestamp_us, dtype=np.int64)
    values = np.asarray(equity, dtype=np.float64)
    if not (sleeve.shape == ts.shape == values.shape) or values.ndim != 1:
        raise ParameterError(
            f"sleeve, timestamp_us and equity must be 1-D of one length, got shapes "
            f"{sleeve.shape}, {ts.shape}, {values.shape}"
        )
    if values.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.float64), float(initial_capital or 0.0)
    new_sleeve = np.empty(values.size, dtype=bool)
    new_sleeve[0] = True
    new_sleeve[1:] = sleeve[1:] != sleeve[:-1]
    unsorted = (~new_sleeve[1:]) & (ts[1:] < ts[:-1])
    if unsorted.any() or (np.diff(sleeve[new_sleeve]) < 0).any():
        row = int(np.flatnonzero(unsorted)[0]) + 1 if unsorted.any() else -1
        raise ParameterError(
            f"rows must be sorted by (sleeve, timestamp); first row out of order: {row}"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"equity must be finite; row {int(np.flatnonzero(bad)[0])} is {values[bad][0]}"
        )
    first_rows = np.flatnonzero(new_sleeve)
    firsts = values[first_rows]
    if (firsts <= 0).any():
        row = int(first_rows[np.flatnonzero(firsts <= 0)[0]])
        raise DataError(f"a sleeve's first equity value must be > 0; row {row} is {values[row]}")
    n = first_rows.size
    capital = float(firsts.mean()) if initial_capital is None else float(initial_capital)
    if not (np.isfinite(capital) and capital > 0):
        raise ParameterError(f"initial_capital must be finite and > 0, got {initial_capital}")
    allocation = capital / n
    sleeve_index = np.cumsum(new_sleeve) - 1
    scaled = values * (allocation / firsts)[sleeve_index]
    # Each sleeve's value only changes at its own bars, so the portfolio is the starting
    # capital plus the running sum of every sleeve's changes, bucketed by timestamp.
    change = np.empty_like(scaled)
    change[1:] = scaled[1:] - scaled[:-1]
    change[first_rows] = scaled[first_rows] - allocation
    times = np.unique(ts)
    steps = np.bincount(np.searchsorted(times, ts), weights=change, minlength=times.size)
    return times, capital + np.cumsum(steps), capital


def portfolio_curves(
    equity: pa.Table, initial_capital: float | None = None
) -> dict[str, PortfolioCurve]:
    """One ``PortfolioCurve`` per strategy from equity rows (columns symbol, strategy, timestamp, equity).

    Rows may come in any order; the sleeves of a strategy are its symbols. See
    ``combine_sleeves`` for the allocation and for symbols whose date ranges differ.
    """
    needed = ("symbol", "strategy", "timestamp", "equity")
    missing = [c for c in needed if c not in equity.column_names]
    if missing:
        raise DataError(f"equity rows lack column(s) {missing}; have {equity.column_names}")
    table = equity.select(list(needed))
    if table.num_rows == 0:
        return {}
    keys = [("strategy", "ascending"), ("symbol", "ascending"), ("timestamp", "ascending")]
    table = table.take(pc.sort_indices(table, sort_keys=keys))
    strategy = table["strategy"].to_numpy(zero_copy_only=False).astype(str)
    symbol = table["symbol"].to_numpy(zero_copy_only=False).astype(str)
    ts = micros(table["timestamp"])
    values = table["equity"].to_numpy(zero_copy_only=False).astype(np.float64)
    new_sleeve = np.r_[True, (strategy[1:] != strategy[:-1]) | (symbol[1:] != symbol[:-1])]
    bad = ~np.isfinite(values) | (new_sleeve & (values <= 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        when = np.datetime64(int(ts[row]), "us")
        raise DataError(
            f"equity of symbol {str(symbol[row])!r}, strategy {str(strategy[row])!r} at {when}Z is "
            f"{values[row]}; equity must be finite and start > 0"
        )
    boundaries = np.flatnonzero(np.r_[True, strategy[1:] != strategy[:-1], True])
    curves: dict[str, PortfolioCurve] = {}
    for lo, hi in zip(boundaries[:-1], boundaries[1:], strict=True):
        sleeve = np.cumsum(new_sleeve[lo:hi])
        times, port, capital = combine_sleeves(sleeve, ts[lo:hi], values[lo:hi], initial_capital)
        curves[str(strategy[lo])] = PortfolioCurve(
            strategy=str(strategy[lo]),
            timestamp_us=times,
            equity=port,
            drawdown=drawdown(port),
            n_sleeves=int(sleeve[-1]),
            initial_capital=capital,
        )
    return curves


def micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """int64 microseconds from a timestamp column of any unit (or an integer column)."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("us", tz=column.type.tz))
        column = column.cast(pa.int64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)


def downsample_indices(series: np.ndarray | Sequence[np.ndarray], max_points: int) -> np.ndarray:
    """At most ``max_points`` sorted row indices that keep each series' shape for a chart.

    The rows are cut into equal buckets; each bucket keeps the rows of its minimum and
    maximum of every series (so peaks and the deepest drawdown survive), and the first and
    last rows are always kept. All indices are returned when there are no more than
    ``max_points`` rows.
    """
    arrays = (
        [np.asarray(series, np.float64)]
        if isinstance(series, np.ndarray)
        else [np.asarray(s, np.float64) for s in series]
    )
    if not arrays or any(a.ndim != 1 or a.size != arrays[0].size for a in arrays):
        raise ParameterError("downsample_indices needs 1-D series of one length")
    n = arrays[0].size
    per_bucket = 2 * len(arrays)
    if max_points < 2 + per_bucket:
        raise ParameterError(
            f"max_points={max_points} must be >= {2 + per_bucket} for {len(arrays)} series"
        )
    if n <= max_points:
        return np.arange(n)
    n_buckets = (max_points - 2) // per_bucket
    edges = np.linspace(0, n, n_buckets + 1).astype(np.int64)
    keep = [np.array([0, n - 1])]
    starts = edges[:-1]
    for values in arrays:
        # NaNs (none expected) would make argmin/argmax pick them; treat them as the row itself
        filled = np.where(np.isnan(values), 0.0, values)
        for reducer in (np.minimum, np.maximum):
            extreme = reducer.reduceat(filled, starts)
            hits = np.flatnonzero(filled == np.repeat(extreme, np.diff(edges)))
            bucket = np.searchsorted(edges, hits, side="right") - 1
            first_hit = np.r_[True, bucket[1:] != bucket[:-1]]
            keep.append(hits[first_hit])
    return np.unique(np.concatenate(keep))


def histogram(values: np.ndarray, bins: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``numpy.histogram`` of the finite values: (edges, counts, number of non-finite values left out).

    ``bins=None`` picks ``ceil(sqrt(n))`` bins, clipped to [10, 50], for n finite values.
    """
    data = np.asarray(values, dtype=np.float64)
    finite = data[np.isfinite(data)]
    if bins is None:
        bins = int(np.clip(np.ceil(np.sqrt(finite.size)), 10, 50))
    if bins < 1:
        raise ParameterError(f"bins={bins} must be >= 1")
    if finite.size == 0:
        return np.array([0.0, 1.0]), np.zeros(1, np.int64), int(data.size)
    counts, edges = np.histogram(finite, bins=bins)
    return edges, counts.astype(np.int64), int(data.size - finite.size)


def rank_symbols(
    metrics: pa.Table, column: str = "sharpe_ratio", n: int = 10
) -> dict[str, tuple[pa.Table, pa.Table]]:
    """Per strategy, the ``n`` best and ``n`` worst rows of ``metrics`` by ``column``.

    Rows where ``column`` is NaN or null are left out of both lists. Best is ordered from the
    highest value down, worst from the lowest up; ties keep symbol order.
    """
    if column not in metrics.column_names or "strategy" not in metrics.column_names:
        raise DataError(f"metrics rows need 'strategy' and {column!r}; have {metrics.column_names}")
    if n < 1:
        raise ParameterError(f"n={n} must be >= 1")
    ranked: dict[str, tuple[pa.Table, pa.Table]] = {}
    valid = metrics.filter(pc.is_finite(metrics[column]))
    for name in sorted(set(metrics["strategy"].to_pylist())):
        rows = valid.filter(pc.equal(valid["strategy"], name))
        if "symbol" in rows.column_names:
            rows = rows.take(pc.sort_indices(rows, sort_keys=[("symbol", "ascending")]))
        best = rows.take(pc.sort_indices(rows, sort_keys=[(column, "descending")]))[:n]
        worst = rows.take(pc.sort_indices(rows, sort_keys=[(column, "ascending")]))[:n]
        ranked[str(name)] = (best, worst)
    return ranked


PERIODS = ("h", "D", "W", "M", "Q", "Y")
"""Calendar periods ``count_per_period`` knows: hour, day, week (starting Monday), month, quarter, year."""


def _period_start(ts_us: np.ndarray, period: str) -> np.ndarray:
    """Start (int64 us, UTC) of the period holding each time."""
    ts = np.asarray(ts_us, dtype=np.int64)
    if period == "h":
        return ts - np.mod(ts, 3_600_000_000)
    if period == "D":
        return ts - np.mod(ts, _US_PER_DAY)
    if period == "W":  # 1970-01-01 was a Thursday: Monday-based weeks start 3 days earlier
        days = np.floor_divide(ts, _US_PER_DAY)
        return (days - np.mod(days + 3, 7)) * _US_PER_DAY
    months = ts.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    if period == "M":
        pass
    elif period == "Q":
        months = months - np.mod(months, 3)
    elif period == "Y":
        months = months - np.mod(months, 12)
    else:
        raise ParameterError(f"period={period!r} is not one of {list(PERIODS)}")
    return months.astype("datetime64[M]").astype("datetime64[us]").astype(np.int64)


def choose_period(
    first_us: int, last_us: int, max_bins: int = 120, periods: Sequence[str] = PERIODS
) -> str:
    """The finest of ``periods`` that splits [first, last] into at most ``max_bins`` periods."""
    if max_bins < 1:
        raise ParameterError(f"max_bins={max_bins} must be >= 1")
    for period in periods:
        starts = _period_start(np.array([first_us, last_us], np.int64), period)
        if _n_periods(int(starts[0]), int(starts[1]), period) <= max_bins:
            return period
    return periods[-1]


def _n_periods(first_start: int, last_start: int, period: str) -> int:
    if period in ("M", "Q", "Y"):
        months = (
            np.array([first_start, last_start])
            .astype("datetime64[us]")
            .astype("datetime64[M]")
            .astype(np.int64)
        )
        return int(months[1] - months[0]) // {"M": 1, "Q": 3, "Y": 12}[period] + 1
    width = {"h": 3_600_000_000, "D": _US_PER_DAY, "W": 7 * _US_PER_DAY}[period]
    return (last_start - first_start) // width + 1


def count_per_period(
    timestamp_us: np.ndarray, group: np.ndarray, period: str, groups: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Count events per calendar period and group (e.g. trades per month and side).

    Returns (period starts as int64 us, sorted ascending, only periods with at least one
    event; group names; counts of shape (len(groups), len(starts))). ``groups`` fixes the
    names and their order (events of other groups are left out); default: the sorted
    distinct values of ``group``.
    """
    ts = np.asarray(timestamp_us, dtype=np.int64)
    labels = np.asarray(group).astype(str)
    if ts.shape != labels.shape:
        raise ParameterError(
            f"timestamp_us and group differ in shape: {ts.shape} vs {labels.shape}"
        )
    names = sorted(set(labels.tolist())) if groups is None else [str(g) for g in groups]
    starts = _period_start(ts, period)
    periods = np.unique(starts)
    counts = np.zeros((len(names), periods.size), dtype=np.int64)
    column = np.searchsorted(periods, starts)
    for row, name in enumerate(names):
        counts[row] = np.bincount(column[labels == name], minlength=periods.size)
    return periods, names, counts


def sum_by_key(keys: Sequence[str], values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Totals of ``values`` per key, keys in order of first appearance (e.g. seconds per stage)."""
    data = np.asarray(values, dtype=np.float64)
    if len(keys) != data.size:
        raise ParameterError(f"keys and values differ in length: {len(keys)} vs {data.size}")
    order: dict[str, int] = {}
    index = np.array([order.setdefault(str(k), len(order)) for k in keys], dtype=np.int64)
    totals = np.bincount(index, weights=data, minlength=len(order)) if data.size else np.zeros(0)
    return list(order), totals


def max_by_key(keys: Sequence[str], values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Maximum of ``values`` per key, keys in order of first appearance (e.g. peak memory per worker)."""
    data = np.asarray(values, dtype=np.float64)
    if len(keys) != data.size:
        raise ParameterError(f"keys and values differ in length: {len(keys)} vs {data.size}")
    order: dict[str, int] = {}
    index = np.array([order.setdefault(str(k), len(order)) for k in keys], dtype=np.int64)
    peaks = np.full(len(order), -np.inf)
    np.maximum.at(peaks, index, data)
    return list(order), peaks


# --- per-sleeve summaries: what the workers return for the report ----------------------------

GRID_PERIODS = ("h", "D", "M", "Q", "Y")
"""Grid periods, finest first; each nests in the next (weeks do not nest in months)."""
MAX_GRID_POINTS = 2_000
"""At most this many grid periods per sleeve (the report draws at most 5,000 points)."""

SUMMARY_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("strategy", pa.string()),
        ("grid", pa.string()),  # one of GRID_PERIODS
        ("first_equity", pa.float64()),
        ("time_us", pa.list_(pa.int64())),  # the sleeve's last bar in each grid period
        ("equity", pa.list_(pa.float64())),  # its equity at that bar
        ("trade_period_us", pa.list_(pa.int64())),  # grid periods in which trades opened
        ("trades_long", pa.list_(pa.int64())),
        ("trades_short", pa.list_(pa.int64())),
    ]
)


def choose_grid(first_us: int, last_us: int, max_points: int = MAX_GRID_POINTS) -> str:
    """The finest of ``GRID_PERIODS`` that cuts [first, last] into at most ``max_points``."""
    return choose_period(first_us, last_us, max_points, GRID_PERIODS)


def _coarsest(grids: Sequence[str]) -> str:
    unknown = sorted(set(grids) - set(GRID_PERIODS))
    if unknown:
        raise DataError(f"unknown grid period(s) {unknown}; valid: {list(GRID_PERIODS)}")
    return GRID_PERIODS[max((GRID_PERIODS.index(g) for g in grids), default=0)]


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the distinct values of a string column (dictionary or plain)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    values = column.dictionary.cast(pa.string()).to_pylist()
    return np.asarray(column.indices.to_numpy(zero_copy_only=False), np.int64), values


def _lists(offsets: np.ndarray, values: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, type_))


def summarize_sleeves(equity: pa.Table, trades: pa.Table, grid: str | None = None) -> pa.Table:
    """One ``SUMMARY_SCHEMA`` row per (symbol, strategy) of ``equity``; see the module docstring.

    ``equity`` has columns symbol, strategy, timestamp, equity; ``trades`` symbol, strategy,
    side, entry_time (trades of sleeves without equity rows are left out). ``grid`` defaults
    to ``choose_grid`` over the equity's time span.
    """
    if equity.num_rows == 0:
        return SUMMARY_SCHEMA.empty_table()
    sym, symbols = _codes(equity["symbol"])
    strat, strategies = _codes(equity["strategy"])
    key = strat * len(symbols) + sym
    ts = micros(equity["timestamp"])
    values = np.asarray(equity["equity"].to_numpy(zero_copy_only=False), np.float64)
    if (np.diff(key) < 0).any() or ((np.diff(key) == 0) & (np.diff(ts) < 0)).any():
        order = np.lexsort((ts, key))
        key, ts, values = key[order], ts[order], values[order]
    grid = grid or choose_grid(int(ts.min()), int(ts.max()))
    period = _period_start(ts, grid)
    new_sleeve = np.r_[True, key[1:] != key[:-1]]
    last = np.flatnonzero(np.r_[(key[1:] != key[:-1]) | (period[1:] != period[:-1]), True])
    sleeves = key[new_sleeve]
    # rows of each sleeve among the period ends: sleeves are contiguous in ``last`` too
    point_offsets = np.searchsorted(key[last], sleeves, side="left")
    point_offsets = np.r_[point_offsets, last.size]

    trade_cols = _trade_points(trades, symbols, strategies, sleeves, grid)
    n = sleeves.size
    return pa.table(
        {
            "symbol": pa.array([symbols[k % len(symbols)] for k in sleeves], pa.string()),
            "strategy": pa.array([strategies[k // len(symbols)] for k in sleeves], pa.string()),
            "grid": pa.array([grid] * n, pa.string()),
            "first_equity": values[new_sleeve],
            "time_us": _lists(point_offsets, ts[last], pa.int64()),
            "equity": _lists(point_offsets, values[last], pa.float64()),
            **trade_cols,
        },
        schema=SUMMARY_SCHEMA,
    )


def _positions(column: pa.ChunkedArray | pa.Array, names: Sequence[str]) -> np.ndarray:
    """Each value's position in ``names``, -1 where it is not there (or null)."""
    found = pc.index_in(column.cast(pa.string()), value_set=pa.array(list(names), pa.string()))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)


def _trade_points(
    trades: pa.Table,
    symbols: Sequence[str],
    strategies: Sequence[str],
    sleeves: np.ndarray,
    grid: str,
) -> dict[str, pa.Array]:
    """Per sleeve: the grid periods with trades opened, and the long and short counts in each."""
    if trades.num_rows:
        # positions in ``symbols`` / ``strategies`` (-1: not there), computed by Arrow: a
        # Python lookup per trade was a third of an extended batch's summary time
        t_sym = _positions(trades["symbol"], symbols)
        t_strat = _positions(trades["strategy"], strategies)
        known = (t_sym >= 0) & (t_strat >= 0)
        t_key = (t_strat * len(symbols) + t_sym)[known]
        t_period = _period_start(micros(trades["entry_time"]), grid)[known]
        is_long = pc.equal(trades["side"].cast(pa.string()), "long").fill_null(False)
        long_ = np.asarray(is_long.to_numpy(zero_copy_only=False), bool)[known]
    else:
        t_key = t_period = np.empty(0, np.int64)
        long_ = np.empty(0, bool)
    order = np.lexsort((t_period, t_key))
    t_key, t_period, long_ = t_key[order], t_period[order], long_[order]
    first = np.r_[True, (t_key[1:] != t_key[:-1]) | (t_period[1:] != t_period[:-1])]
    first = first[: t_key.size]
    group = np.cumsum(first) - 1
    n_groups = int(first.sum())
    longs = np.bincount(group, weights=long_, minlength=n_groups).astype(np.int64)
    shorts = np.bincount(group, weights=~long_, minlength=n_groups).astype(np.int64)
    g_key = t_key[first]
    offsets = np.r_[np.searchsorted(g_key, sleeves, side="left"), g_key.size]
    # trades of sleeves not in ``sleeves`` would sit between offsets: keep only known sleeves
    keep = np.isin(g_key, sleeves)
    if not keep.all():
        g_key, longs, shorts = g_key[keep], longs[keep], shorts[keep]
        t_first = t_period[first][keep]
        offsets = np.r_[np.searchsorted(g_key, sleeves, side="left"), g_key.size]
    else:
        t_first = t_period[first]
    return {
        "trade_period_us": _lists(offsets, t_first, pa.int64()),
        "trades_long": _lists(offsets, longs, pa.int64()),
        "trades_short": _lists(offsets, shorts, pa.int64()),
    }


def _flat(column: pa.ChunkedArray, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Values of a list column and the row each value belongs to."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = np.asarray(pc.list_flatten(array).to_numpy(zero_copy_only=False), dtype)
    rows = np.asarray(pc.list_parent_indices(array).to_numpy(zero_copy_only=False), np.int64)
    return values, rows


def portfolio_from_summaries(
    summaries: pa.Table, initial_capital: float | None = None
) -> dict[str, PortfolioCurve]:
    """One ``PortfolioCurve`` per strategy from ``SUMMARY_SCHEMA`` rows, on the coarsest grid.

    The same equal allocation as ``combine_sleeves`` (capital split evenly at the start; a
    sleeve holds its start value before its first bar and its last value after its last
    bar), evaluated at the end of each grid period, plotted at the latest bar inside it.
    """
    curves: dict[str, PortfolioCurve] = {}
    if summaries.num_rows == 0:
        return curves
    strategy = np.asarray(summaries["strategy"].to_pylist(), dtype=object)
    symbol = summaries["symbol"].to_pylist()
    firsts = np.asarray(summaries["first_equity"].to_numpy(zero_copy_only=False), np.float64)
    times, row_of_time = _flat(summaries["time_us"], np.int64)
    values, _ = _flat(summaries["equity"], np.float64)
    bad_first = ~np.isfinite(firsts) | (firsts <= 0)
    bad_value = ~np.isfinite(values)
    if bad_first.any() or bad_value.any():
        row = int(np.flatnonzero(bad_first)[0]) if bad_first.any() else -1
        what = f"first equity {firsts[row]}"
        if row < 0:
            at = int(np.flatnonzero(bad_value)[0])
            row = int(row_of_time[at])
            what = f"equity {values[at]} at {np.datetime64(int(times[at]), 'us')}Z"
        raise DataError(
            f"summary of symbol {symbol[row]!r}, strategy {strategy[row]!r} has {what}; equity "
            "must be finite and start > 0"
        )
    grids = summaries["grid"].to_pylist()
    for name in sorted(set(strategy.tolist())):
        rows = np.flatnonzero(strategy == name)
        grid = _coarsest([grids[r] for r in rows])
        pick = np.isin(row_of_time, rows)
        t, v, r = times[pick], values[pick], row_of_time[pick]
        period = _period_start(t, grid)
        # the last point of each (sleeve, period): finer grids are re-cut on the coarsest one
        last = np.r_[(r[1:] != r[:-1]) | (period[1:] != period[:-1]), True]
        t, v, r, period = t[last], v[last], r[last], period[last]
        ratio = v / firsts[r]
        change = np.empty_like(ratio)
        change[1:] = ratio[1:] - ratio[:-1]
        starts = np.r_[True, r[1:] != r[:-1]]
        change[starts] = ratio[starts] - 1.0
        keys = np.unique(period)
        slot = np.searchsorted(keys, period)
        steps = np.bincount(slot, weights=change, minlength=keys.size)
        shown = np.full(keys.size, np.iinfo(np.int64).min)
        np.maximum.at(shown, slot, t)
        capital = float(firsts[rows].mean()) if initial_capital is None else float(initial_capital)
        equity = capital * (1.0 + np.cumsum(steps) / rows.size)
        curves[str(name)] = PortfolioCurve(
            strategy=str(name),
            timestamp_us=shown,
            equity=equity,
            drawdown=drawdown(equity),
            n_sleeves=int(rows.size),
            initial_capital=capital,
        )
    return curves


def trades_from_summaries(
    summaries: pa.Table, max_bins: int = 120
) -> tuple[np.ndarray, list[str], np.ndarray, str]:
    """Trades opened per chart period and side (all strategies) from ``SUMMARY_SCHEMA`` rows.

    Returns (period starts in int64 us, ["long", "short"], counts of shape (2, periods),
    the period): the finest of ``GRID_PERIODS`` no finer than the summaries' grids that
    gives at most ``max_bins`` periods.
    """
    periods, rows = _flat(summaries["trade_period_us"], np.int64)
    longs, _ = _flat(summaries["trades_long"], np.int64)
    shorts, _ = _flat(summaries["trades_short"], np.int64)
    if periods.size == 0:
        return np.empty(0, np.int64), ["long", "short"], np.zeros((2, 0), np.int64), "D"
    floor = GRID_PERIODS.index(_coarsest(summaries["grid"].to_pylist()))
    period = choose_period(int(periods.min()), int(periods.max()), max_bins, GRID_PERIODS[floor:])
    starts = _period_start(periods, period)
    keys = np.unique(starts)
    slot = np.searchsorted(keys, starts)
    counts = np.vstack(
        [
            np.bincount(slot, weights=longs, minlength=keys.size),
            np.bincount(slot, weights=shorts, minlength=keys.size),
        ]
    ).astype(np.int64)
    return keys, ["long", "short"], counts, period
