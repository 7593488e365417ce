"""Per-symbol validation of loaded bars: clean rows go on, bad symbols are quarantined with a reason.

Steps of ``validate_bars`` (all vectorised over rows; Python loops only over bad symbols):

1. group rows by symbol (stable sort); where a symbol's timestamps are out of order, sort them
   and leave a note;
2. compute one boolean mask per rule over all rows, and reduce each mask per symbol segment
   (``np.add.reduceat`` / ``np.minimum.reduceat``) into a count and a first offending row;
3. a symbol with any hit is quarantined whole, under the first reason in ``REASONS`` order,
   with its row count, first offending timestamp and a sentence naming column and value.

Rows in == rows clean + sum of ``n_rows`` over the quarantine records, always.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from compute.errors import DataError
from storage.schemas import BAR_PRICE_COLUMNS, BARS, QUARANTINE

__all__ = [
    "PLANNING_REASONS",
    "REASONS",
    "QuarantineRecord",
    "ValidationNote",
    "quarantine_table",
    "symbol_name_problem",
    "validate_bars",
]

REASONS = (
    "bad_symbol_name",
    "null_value",
    "nonfinite_price",
    "nonpositive_price",
    "high_below_low",
    "ohlc_not_bracketed",
    "bad_volume",
    "duplicate_timestamp",
    "too_few_bars",
)
"""Quarantine reason codes, in the order that picks a symbol's reported reason."""

PLANNING_REASONS = ("too_large_for_worker",)
"""Quarantine reason codes given when the run is planned, before any bar is loaded:
``too_large_for_worker``, a symbol whose estimated memory alone exceeds a worker's batch cap
(compute.planner)."""

_MAX_NAME_BYTES = 200  # file names are capped at 255 bytes; leave room for "symbol=" and escapes


@dataclass(frozen=True)
class ValidationNote:
    """A fix applied to a symbol that was kept (e.g. its timestamps sorted)."""

    symbol: str | None
    kind: str
    n_rows: int
    first_bad_timestamp: dt.datetime | None
    detail: str


@dataclass(frozen=True)
class QuarantineRecord:
    """One quarantined symbol (all of its rows)."""

    symbol: str | None
    reason: str
    n_rows: int
    first_bad_timestamp: dt.datetime | None
    detail: str


def symbol_name_problem(symbol: str | None) -> str | None:
    """Why ``symbol`` cannot be used as a path component, or None if it can."""
    if symbol is None:
        return "is null"
    if symbol == "":
        return "is empty"
    if symbol in (".", ".."):
        return f"is {symbol!r}"
    if ".." in symbol:
        return "contains '..'"
    for bad in ("/", "\\"):
        if bad in symbol:
            return f"contains {bad!r}"
    if any(ord(c) < 32 or ord(c) == 127 for c in symbol):
        return "contains a NUL or control character"
    if len(symbol.encode()) > _MAX_NAME_BYTES:
        return f"is longer than {_MAX_NAME_BYTES} bytes"
    return None


def _bad_names(dictionary: pa.Array) -> np.ndarray:
    """Vectorised ``symbol_name_problem(s) is not None`` over distinct symbols."""
    if len(dictionary) == 0:
        return np.zeros(0, dtype=bool)
    values = dictionary.cast(pa.string())
    bad = pc.or_kleene(pc.is_null(values), pc.equal(values, ""))
    bad = pc.or_kleene(bad, pc.is_in(values, value_set=pa.array([".", ".."])))
    for needle in ("..", "/", "\\"):
        bad = pc.or_kleene(bad, pc.match_substring(values, needle))
    bad = pc.or_kleene(bad, pc.match_substring_regex(values, "[\\x00-\\x1f\\x7f]"))
    bad = pc.or_kleene(bad, pc.greater(pc.binary_length(values), _MAX_NAME_BYTES))
    return np.asarray(pc.fill_null(bad, True).to_numpy(zero_copy_only=False), dtype=bool)


def _floats(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table[column].to_numpy(), dtype=np.float64)  # nulls become NaN


def _iso(value: dt.datetime | None) -> str:
    return (
        "null"
        if value is None
        else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")
    )


class _Segments:
    """Symbol runs of a table grouped by symbol: start row, length, symbol of each run."""

    def __init__(self, table: pa.Table) -> None:
        encoded = table["symbol"].combine_chunks().dictionary_encode(null_encoding="encode")
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        self.starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        self.lengths = np.diff(np.r_[self.starts, len(codes)])
        self.codes = codes[self.starts]
        self.dictionary = encoded.dictionary
        self.bad_name = _bad_names(self.dictionary)[self.codes]

    def symbol(self, segment: int) -> str | None:
        value = self.dictionary[int(self.codes[segment])].as_py()
        return None if value is None else str(value)

    def any(self, mask: np.ndarray) -> np.ndarray:
        return np.add.reduceat(mask.astype(np.int64), self.starts) > 0

    def count(self, mask: np.ndarray) -> np.ndarray:
        return np.add.reduceat(mask.astype(np.int64), self.starts)

    def first(self, mask: np.ndarray) -> np.ndarray:
        index = np.where(mask, np.arange(mask.shape[0]), mask.shape[0])
        return np.minimum.reduceat(index, self.starts)

    def within(self, n: int) -> np.ndarray:
        """True for rows that have a predecessor in the same symbol."""
        inner = np.ones(n, dtype=bool)
        inner[self.starts] = False
        return inner


def _group(table: pa.Table) -> tuple[pa.Table, list[tuple[str | None, int, dt.datetime | None]]]:
    """Group by symbol (stable) and sort timestamps where needed.

    Returns the table and, per sorted symbol, (symbol, rows, first timestamp out of order).
    """
    symbols = table["symbol"]
    grouped = (
        bool(pc.all(pc.fill_null(pc.less_equal(symbols[:-1], symbols[1:]), False)).as_py())
        and not symbols.null_count
    )
    if not grouped:
        table = table.take(pc.sort_indices(symbols))
    segments = _Segments(table)
    ts = pc.fill_null(table["timestamp"].cast(pa.int64()), 0).to_numpy()
    backwards = np.zeros(ts.shape[0], dtype=bool)
    backwards[1:] = ts[1:] < ts[:-1]
    backwards &= segments.within(ts.shape[0])
    if not backwards.any():
        return table, []
    unsorted = segments.any(backwards)
    first = segments.first(backwards)
    notes = [
        (segments.symbol(s), int(segments.lengths[s]), table["timestamp"][int(first[s])].as_py())
        for s in np.flatnonzero(unsorted)
    ]
    order = pc.sort_indices(
        table, sort_keys=[("symbol", "ascending", "at_end"), ("timestamp", "ascending", "at_end")]
    )
    return table.take(order), notes


def validate_bars(
    table: pa.Table, min_bars: int
) -> tuple[pa.Table, list[QuarantineRecord], list[ValidationNote]]:
    """Split loaded bars into clean rows and quarantined symbols.

    Parameters
    ----------
    table
        Bars with the ``BARS`` columns (as from ``load_bars``), in any order.
    min_bars
        Fewest bars a symbol needs (the strategies' longest lookback plus room to trade).

    Returns
    -------
    clean : pyarrow.Table
        Rows of the symbols that passed, sorted by (symbol, timestamp), one chunk.
    quarantine : list[QuarantineRecord]
        One record per rejected symbol (see ``REASONS``).
    notes : list[ValidationNote]
        Fixes applied to kept symbols (kind ``sorted``: timestamps were out of order and were
        sorted), for the run's record.
    """
    missing = [c for c in BARS.names if c not in table.column_names]
    if missing:
        raise DataError(f"bars to validate lack column(s) {missing}; have {table.column_names}")
    if table.num_rows == 0:
        return table, [], []
    table, sorted_symbols = _group(table)
    n = table.num_rows
    seg = _Segments(table)

    is_null = np.zeros(n, dtype=bool)
    for column in BARS.names[1:]:
        if table[column].null_count:
            is_null |= np.asarray(
                pc.is_null(table[column]).to_numpy(zero_copy_only=False), dtype=bool
            )
    prices = {c: _floats(table, c) for c in BAR_PRICE_COLUMNS}
    o, h, low, c = (prices[k] for k in BAR_PRICE_COLUMNS)
    volume = _floats(table, "volume")
    ts = pc.fill_null(table["timestamp"].cast(pa.int64()), 0).to_numpy()
    present = ~is_null

    finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(low) & np.isfinite(c)
    masks = {
        "null_value": is_null,
        "nonfinite_price": present & ~finite,
        "nonpositive_price": present & finite & ((o <= 0) | (h <= 0) | (low <= 0) | (c <= 0)),
        "high_below_low": present & finite & (h < low),
        "ohlc_not_bracketed": present
        & finite
        & ((h < np.maximum(o, c)) | (low > np.minimum(o, c))),
        "bad_volume": present & (~np.isfinite(volume) | (volume < 0)),
        "duplicate_timestamp": present & seg.within(n) & np.r_[False, ts[1:] == ts[:-1]],
    }
    hits = {reason: seg.any(mask) for reason, mask in masks.items()}
    hits["bad_symbol_name"] = seg.bad_name
    hits["too_few_bars"] = seg.lengths < min_bars
    bad = np.zeros(seg.starts.shape[0], dtype=bool)
    for hit in hits.values():
        bad |= hit

    records = [
        _record(table, seg, int(s), [r for r in REASONS if hits[r][s]], masks, min_bars)
        for s in np.flatnonzero(bad)
    ]
    keep = np.repeat(~bad, seg.lengths)
    clean = table.filter(pa.array(keep)).combine_chunks() if bad.any() else table.combine_chunks()
    kept = {seg.symbol(int(s)) for s in np.flatnonzero(~bad)}
    notes = [
        ValidationNote(
            symbol=symbol,
            kind="sorted",
            n_rows=rows,
            first_bad_timestamp=at,
            detail=f"symbol {symbol!r}: timestamps were not in order (first at {_iso(at)}); sorted its {rows} rows",
        )
        for symbol, rows, at in sorted_symbols
        if symbol in kept
    ]
    assert clean.num_rows + sum(r.n_rows for r in records) == n  # every row accounted for
    return clean, records, notes


def _record(
    table: pa.Table,
    seg: _Segments,
    segment: int,
    reasons: list[str],
    masks: dict[str, np.ndarray],
    min_bars: int,
) -> QuarantineRecord:
    """Describe one bad symbol (called once per quarantined symbol)."""
    reason = reasons[0]
    start, length = int(seg.starts[segment]), int(seg.lengths[segment])
    symbol = seg.symbol(segment)
    row = start
    if reason in masks:
        row = int(seg.first(masks[reason])[segment])
    at: dt.datetime | None = table["timestamp"][row].as_py()
    values = {c: table[c][row].as_py() for c in BARS.names[2:]}
    if reason == "bad_symbol_name":
        detail = f"symbol {symbol!r} {symbol_name_problem(symbol)}, so it cannot name a file"
    elif reason == "too_few_bars":
        detail = f"{length} bars, fewer than the {min_bars} required"
    else:
        count = int(seg.count(masks[reason])[segment])
        detail = _describe(reason, values, at) + f" ({count} of {length} rows)"
    if len(reasons) > 1:
        detail += f"; also: {', '.join(reasons[1:])}"
    return QuarantineRecord(
        symbol=symbol, reason=reason, n_rows=length, first_bad_timestamp=at, detail=detail
    )


def _describe(reason: str, v: dict[str, float | None], ts: dt.datetime | None) -> str:
    at = _iso(ts)
    if reason == "null_value":
        if ts is None:
            return "column 'timestamp' is null"
        column = next(c for c, x in v.items() if x is None)
        return f"column {column!r} is null at {at}"
    if reason == "nonfinite_price":
        column = next(c for c in BAR_PRICE_COLUMNS if not np.isfinite(v[c]))  # type: ignore[arg-type]
        return f"column {column!r} = {v[column]} at {at}"
    if reason == "nonpositive_price":
        column = next(c for c in BAR_PRICE_COLUMNS if v[c] <= 0)  # type: ignore[operator]
        return f"column {column!r} = {v[column]} at {at}, prices must be > 0"
    if reason == "high_below_low":
        return f"high = {v['high']} is below low = {v['low']} at {at}"
    if reason == "ohlc_not_bracketed":
        return (
            f"high = {v['high']} and low = {v['low']} do not bracket open = {v['open']} "
            f"and close = {v['close']} at {at}"
        )
    if reason == "bad_volume":
        return f"column 'volume' = {v['volume']} at {at}, volume must be finite and >= 0"
    if reason == "duplicate_timestamp":
        return f"timestamp {at} appears more than once"
    raise AssertionError(reason)


def quarantine_table(records: Iterable[QuarantineRecord], run_id: str) -> pa.Table:
    """Quarantine records as a ``QUARANTINE`` table for the Parquet and SQLite outputs."""
    records = list(records)
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(records), pa.string()),
            "symbol": pa.array([r.symbol for r in records], pa.string()),
            "reason": pa.array([r.reason for r in records], pa.string()),
            "n_rows": pa.array([r.n_rows for r in records], pa.int64()),
            "first_bad_timestamp": pa.array(
                [r.first_bad_timestamp for r in records], QUARANTINE.field(4).type
            ),
            "detail": pa.array([r.detail for r in records], pa.string()),
        },
        schema=QUARANTINE,
    )
