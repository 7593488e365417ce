"""Shared-cash portfolios: one account across the universe, rebalanced by rules.

A portfolio is declared by ``PortfolioRules`` (selection, weights, caps, schedule,
execution) and runs in two phases, so that memory is bounded by a chunk of time times the
universe, never by the length of the history:

1. **Per symbol, in the batches** (parallel, sized like every batch): the score (any
   indicator output or strategy target, computed by the pipeline), ``symbol_features``
   (average dollar volume, return volatility, bars of history) and ``eligibility`` (the
   filters). ``batch_rows`` gives a batch's long rows ``(timestamp, symbol, open, close,
   score, eligible, vol)``; nothing in this phase needs another symbol.
2. **Across symbols, in time chunks** (sequential): ``calendar`` merges the symbols'
   timestamps into the data's calendar and ``rebalance_schedule`` marks its decision bars.
   For each chunk of the calendar, ``walk_rows`` pivots the rows of that time range into
   dense ``(time, symbol)`` arrays (``to_grid``; NaN where a symbol has no bar) and
   ``walk_chunk`` walks them from the ``PortfolioState`` the previous chunk returned (cash,
   positions, last closes, pending orders, last selection). A chunk holds chunk length ×
   universe values per field; the state holds a few values per symbol. A walk cut into
   chunks of any length equals one walk over the whole history, bit for bit
   (tests/unit/test_allocation.py::test_chunking_changes_nothing).

The rules within a bar (fills at the open, marking at the close, decisions after the close)
are listed in ``compute.kernels.allocation``; the essentials: a decision at bar t's close is
filled at the next bar's open with the backtest's fees and slippage; sells before buys;
buys that would overdraw are cut to the cash left; a symbol without a bar at the fill keeps
its position and fills at its next bar (``reason = "delayed"``). ``simulate_portfolio`` runs
both phases in one process, for tests and small universes; ``flows/portfolio.py`` runs them
on Dask (phase 1 as one task per batch, phase 2 as a chain of one task per chunk).

Times are int64 microseconds since the epoch (UTC), as in ``compute.portfolio``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from compute.errors import ParameterError
from compute.kernels import allocation as k
from compute.segments import check_offsets

SELECTIONS = ("signal", "rank")
WEIGHTINGS = ("equal", "inverse_vol", "score")
REBALANCES = ("every_bar", "weekly", "monthly", "signal")
DIRECTIONS = ("long_only", "long_short")
ORDER_REASONS = ("rebalance", "delayed")
BAR_FIELDS = k.BAR_FIELDS

__all__ = [
    "BAR_FIELDS",
    "DIRECTIONS",
    "ORDER_REASONS",
    "REBALANCES",
    "SELECTIONS",
    "WEIGHTINGS",
    "GRID_FIELDS",
    "ChunkResult",
    "PortfolioResult",
    "PortfolioRules",
    "PortfolioState",
    "ROW_FIELDS",
    "batch_rows",
    "benchmark_returns",
    "calendar",
    "compute_score",
    "monthly_returns",
    "new_grids",
    "scatter_rows",
    "walk_grids",
    "portfolio_metrics",
    "eligibility",
    "rebalance_schedule",
    "rows_by_time",
    "simulate_portfolio",
    "symbol_features",
    "to_grid",
    "walk_chunk",
    "walk_rows",
]

_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class PortfolioRules:
    """One portfolio's rules; every field is a config key of a ``portfolio:`` entry.

    Selection: ``select="rank"`` holds the ``top`` highest scores long and, with
    ``direction="long_short"``, the ``bottom`` lowest short (``ascending`` swaps them);
    ``select="signal"`` holds every symbol whose score (a strategy target) is nonzero, on
    its sign. Ties go to the symbol that sorts first. Filters: ``min_price`` (close),
    ``min_dollar_volume`` (mean close × volume over ``dollar_volume_window`` bars),
    ``min_history`` (bars seen). A symbol needs a bar at the decision bar to be selected.

    Weights: ``weighting`` equal, ``inverse_vol`` (1 / std of the last ``vol_window``
    returns) or ``score`` (|score|); they sum to ``gross_exposure``, each at most
    ``max_weight`` (the excess goes to the others), at most ``max_positions`` names (0: no
    cap), and the net exposure at most ``max_net_exposure`` in absolute value (None: no cap).

    Schedule: ``rebalance`` every bar, on the first bar of each ISO week or calendar month of
    the data's calendar, or ``signal`` (whenever the selection changes); ``drift``: a
    position already held is not resized when its weight is within ``drift`` of its target.

    Execution: ``init_cash``; ``fees_bps`` and ``slippage_bps`` as in the backtest;
    ``lot_size`` None for fractional units, else quantities in whole lots.
    """

    label: str = "portfolio"
    select: str = "rank"
    top: int = 10
    bottom: int = 0
    ascending: bool = False
    direction: str = "long_only"
    weighting: str = "equal"
    vol_window: int = 20
    max_positions: int = 0
    max_weight: float = 1.0
    gross_exposure: float = 1.0
    max_net_exposure: float | None = None
    rebalance: str = "monthly"
    drift: float = 0.0
    min_price: float = 0.0
    min_dollar_volume: float = 0.0
    dollar_volume_window: int = 20
    min_history: int = 0
    init_cash: float = 1_000_000.0
    fees_bps: float = 0.0
    slippage_bps: float = 0.0
    lot_size: float | None = None

    def __post_init__(self) -> None:
        where = f"portfolio {self.label!r}"
        if not isinstance(self.label, str) or not re.fullmatch(r"[A-Za-z0-9_.]+", self.label):
            raise ParameterError(
                f"{where}: label = {self.label!r} must be letters, digits, '_' or '.' "
                "(it names files and rows)"
            )
        _choice(where, "select", self.select, SELECTIONS)
        _choice(where, "direction", self.direction, DIRECTIONS)
        _choice(where, "weighting", self.weighting, WEIGHTINGS)
        _choice(where, "rebalance", self.rebalance, REBALANCES)
        for name in ("top", "bottom", "max_positions", "min_history"):
            _integer(where, name, getattr(self, name), 0)
        _integer(where, "vol_window", self.vol_window, 2)
        _integer(where, "dollar_volume_window", self.dollar_volume_window, 1)
        if self.select == "rank" and self.top + self.bottom == 0:
            raise ParameterError(f"{where}: select = 'rank' needs top > 0 or bottom > 0")
        if self.bottom > 0 and self.direction != "long_short":
            raise ParameterError(
                f"{where}: bottom = {self.bottom} shorts symbols; it needs direction = 'long_short'"
            )
        inf = math.inf
        gross_high = 1.0 if self.direction == "long_only" else 10.0
        _number(where, "gross_exposure", self.gross_exposure, 0.0, gross_high, low_open=True)
        _number(where, "max_weight", self.max_weight, 0.0, inf, low_open=True)
        if self.max_net_exposure is not None:
            _number(where, "max_net_exposure", self.max_net_exposure, 0.0, inf)
        _number(where, "drift", self.drift, 0.0, 1.0)
        _number(where, "min_price", self.min_price, 0.0, inf)
        _number(where, "min_dollar_volume", self.min_dollar_volume, 0.0, inf)
        _number(where, "init_cash", self.init_cash, 0.0, inf, low_open=True)
        _number(where, "fees_bps", self.fees_bps, 0.0, inf)
        _number(where, "slippage_bps", self.slippage_bps, 0.0, 1e4, high_open=True)
        if self.lot_size is not None:
            _number(where, "lot_size", self.lot_size, 0.0, inf, low_open=True)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PortfolioRules:
        """Rules from a config mapping; unknown keys are refused with the valid ones."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            label = values.get("label", "portfolio")
            raise ParameterError(
                f"portfolio {label!r}: unknown key {unknown[0]!r}; valid keys: {', '.join(known)}"
            )
        return cls(**values)


@dataclass
class PortfolioState:
    """What a walk carries from one chunk to the next (see ``walk_chunk``)."""

    cash: float
    position: np.ndarray  # float64 units per symbol
    last_close: np.ndarray  # float64, NaN before a symbol's first bar
    target: np.ndarray  # float64 target weight of each pending order
    pending: np.ndarray  # int8: 0 none, 1 for the next bar's open, 2 delayed
    selection: np.ndarray  # int8 side per symbol at the last decision

    @classmethod
    def initial(cls, n_symbols: int, init_cash: float) -> PortfolioState:
        """All cash, no position, nothing pending."""
        return cls(
            cash=float(init_cash),
            position=np.zeros(n_symbols),
            last_close=np.full(n_symbols, np.nan),
            target=np.zeros(n_symbols),
            pending=np.zeros(n_symbols, dtype=np.int8),
            selection=np.zeros(n_symbols, dtype=np.int8),
        )


@dataclass(frozen=True)
class ChunkResult:
    """The outputs of a walk: per bar, per fill, per holding after fills.

    ``bars`` maps each of ``BAR_FIELDS`` to one value per bar. ``orders`` has ``bar``,
    ``symbol`` (indices into the walk's calendar and symbols), ``side`` (+1 buy, -1 sell),
    ``reason`` (code into ``ORDER_REASONS``), ``quantity`` (units filled), ``price`` (fill,
    slippage included), ``fees``, ``requested_quantity`` (before lot rounding and cash
    limits). ``holdings`` has ``bar``, ``symbol``, ``quantity``, ``weight`` (at the fill
    prices, after the bar's fills) and ``target_weight``.
    """

    bars: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    holdings: dict[str, np.ndarray]

    @classmethod
    def concat(cls, parts: list[ChunkResult]) -> ChunkResult:
        """Chunks' results joined in time order (their ``bar`` indices already global)."""

        def join(name: str) -> dict[str, np.ndarray]:
            first = getattr(parts[0], name)
            return {c: np.concatenate([getattr(p, name)[c] for p in parts]) for c in first}

        return cls(bars=join("bars"), orders=join("orders"), holdings=join("holdings"))


def symbol_features(
    close: Any, volume: Any, offsets: Any, rules: PortfolioRules
) -> dict[str, np.ndarray]:
    """Phase 1: ``vol`` per bar of each symbol and, where a filter reads them, ``adv`` and
    ``history`` (``features_seg_nb``; a feature no rule reads is not computed, its key
    absent: 16 bytes per bar less in every batch)."""
    c = _array("close", close)
    v = _array("volume", volume)
    offs = check_offsets("symbol_features", offsets, c.shape[0])
    if v.shape != c.shape:
        raise ParameterError(f"volume has {v.shape[0]} bars, close {c.shape[0]}")
    adv_window = rules.dollar_volume_window if rules.min_dollar_volume > 0 else 0
    vol_window = rules.vol_window if rules.weighting == "inverse_vol" else 0
    adv, vol, history = k.features_seg_nb(c, v, offs, adv_window, vol_window, rules.min_history > 0)
    out = {"vol": vol}
    if adv_window:
        out["adv"] = adv
    if rules.min_history > 0:
        out["history"] = history
    return out


def eligibility(
    close: Any, features: Mapping[str, np.ndarray], rules: PortfolioRules
) -> np.ndarray:
    """Phase 1: which bars pass the filters (minimum price, dollar volume and history)."""
    c = _array("close", close)
    ok = c >= rules.min_price
    if rules.min_dollar_volume > 0:
        with np.errstate(invalid="ignore"):
            ok &= features["adv"] >= rules.min_dollar_volume
    if rules.min_history > 0:
        ok &= features["history"] >= rules.min_history
    return ok


def calendar(timestamps: Any) -> np.ndarray:
    """The data's calendar: every distinct timestamp of any symbol, sorted (int64 µs)."""
    return np.unique(np.asarray(timestamps, dtype=np.int64))


def rebalance_schedule(
    calendar_us: Any, rebalance: str, previous_us: int | None = None
) -> np.ndarray:
    """Decision bars of the calendar: bool per timestamp.

    ``every_bar``: all; ``weekly``/``monthly``: the first bar of each ISO week (Monday to
    Sunday, UTC) or calendar month, the calendar's first bar included unless
    ``previous_us`` (the timestamp before this stretch of calendar) is in the same period;
    ``signal``: none (the walk decides on selection changes).
    """
    _choice("portfolio", "rebalance", rebalance, REBALANCES)
    ts = np.asarray(calendar_us, dtype=np.int64)
    if rebalance == "every_bar":
        return np.ones(ts.shape[0], dtype=np.bool_)
    if rebalance == "signal":
        return np.zeros(ts.shape[0], dtype=np.bool_)
    full = ts if previous_us is None else np.concatenate([[previous_us], ts])
    key = _period_key(full, rebalance)
    start = np.empty(full.shape[0], dtype=np.bool_)
    if full.shape[0]:
        start[0] = True
        start[1:] = key[1:] != key[:-1]
    return start if previous_us is None else start[1:]


def to_grid(
    time_index: Any,
    symbol_index: Any,
    values: Any,
    n_times: int,
    n_symbols: int,
    fill: Any = np.nan,
) -> np.ndarray:
    """Long rows into a dense C-ordered ``(time, symbol)`` array; absent cells get ``fill``."""
    vals = np.asarray(values)
    out = np.full((n_times, n_symbols), fill, dtype=vals.dtype)
    out[np.asarray(time_index, dtype=np.int64), np.asarray(symbol_index, dtype=np.int64)] = vals
    return out


def walk_chunk(
    open: Any,  # the bar field's name, as in the backtest
    close: Any,
    score: Any,
    eligible: Any,
    vol: Any,
    rebalance: Any,
    state: PortfolioState,
    rules: PortfolioRules,
    bar_offset: int = 0,
) -> tuple[ChunkResult, PortfolioState]:
    """Phase 2: walk one chunk of ``(time, symbol)`` arrays from ``state``.

    Parameters
    ----------
    open, close, score, vol : array_like
        ``(time, symbol)`` float arrays, NaN where a symbol has no bar (``vol`` is only read
        for inverse-volatility weights).
    eligible : array_like of bool
        ``(time, symbol)``, the filters' result.
    rebalance : array_like of bool
        Decision bars of this chunk (``rebalance_schedule``).
    state : PortfolioState
        Where the previous chunk ended (``PortfolioState.initial`` for the first); not
        modified.
    bar_offset : int
        Calendar index of the chunk's first bar, added to the records' ``bar``.

    Returns
    -------
    (ChunkResult, PortfolioState)
        The chunk's outputs and the state for the next chunk.
    """
    o = _grid("open", open)
    n_t, n = o.shape
    c = _grid("close", close, o.shape)
    s = _grid("score", score, o.shape)
    v = _grid("vol", vol, o.shape)
    e = np.ascontiguousarray(eligible, dtype=np.bool_)
    r = np.ascontiguousarray(rebalance, dtype=np.bool_)
    if e.shape != o.shape or r.shape != (n_t,):
        raise ParameterError(
            f"walk_chunk: eligible must be {o.shape} and rebalance ({n_t},), got {e.shape} "
            f"and {r.shape}"
        )
    if state.position.shape != (n,):
        raise ParameterError(
            f"walk_chunk: the state has {state.position.shape[0]} symbols, the chunk {n}"
        )
    lot = math.nan if rules.lot_size is None else float(rules.lot_size)
    out = k.walk_chunk_nb(
        o,
        c,
        s,
        e,
        v,
        r,
        float(state.cash),
        state.position,
        state.last_close,
        state.target,
        state.pending,
        state.selection,
        k.SELECT_SIGNAL if rules.select == "signal" else k.SELECT_RANK,
        rules.top,
        rules.bottom,
        bool(rules.ascending),
        rules.direction == "long_short",
        rules.max_positions,
        WEIGHTINGS.index(rules.weighting),
        float(rules.gross_exposure),
        float(rules.max_weight),
        math.inf if rules.max_net_exposure is None else float(rules.max_net_exposure),
        rules.rebalance == "signal",
        float(rules.drift),
        rules.fees_bps / 1e4,
        rules.slippage_bps / 1e4,
        lot,
    )
    bars, o_int, o_fl, h_int, h_fl, cash, pos, last_close, target, pending, selection = out
    orders: dict[str, np.ndarray] = {}
    for j, name in enumerate(k.ORDER_INT_FIELDS):
        orders[name] = o_int[:, j].copy()
    orders["bar"] += bar_offset
    orders["side"] = orders["side"].astype(np.int8)
    orders["reason"] = orders["reason"].astype(np.int8)
    for j, name in enumerate(k.ORDER_FLOAT_FIELDS):
        orders[name] = o_fl[:, j].copy()
    holdings: dict[str, np.ndarray] = {}
    for j, name in enumerate(k.HOLDING_INT_FIELDS):
        holdings[name] = h_int[:, j].copy()
    holdings["bar"] += bar_offset
    for j, name in enumerate(k.HOLDING_FLOAT_FIELDS):
        holdings[name] = h_fl[:, j].copy()
    result = ChunkResult(
        bars={name: bars[:, j].copy() for j, name in enumerate(BAR_FIELDS)},
        orders=orders,
        holdings=holdings,
    )
    new_state = PortfolioState(
        cash=float(cash),
        position=pos,
        last_close=last_close,
        target=target,
        pending=pending,
        selection=selection,
    )
    return result, new_state


@dataclass(frozen=True)
class PortfolioResult:
    """``simulate_portfolio``'s output: the calendar and the walk's records."""

    calendar_us: np.ndarray
    result: ChunkResult
    state: PortfolioState


ROW_FIELDS = ("timestamp", "symbol", "open", "close", "score", "eligible", "vol")


def batch_rows(
    timestamp_us: Any,
    open: Any,  # the bar field's name, as in the backtest
    close: Any,
    volume: Any,
    score: Any,
    offsets: Any,
    symbol_ids: Any,
    rules: PortfolioRules,
) -> dict[str, np.ndarray]:
    """Phase 1 for one batch: the long rows (``ROW_FIELDS``) the cross-sectional phase reads.

    Symbol i of the batch is rows ``[offsets[i], offsets[i+1])`` of the 1-D inputs, sorted by
    time, and ``symbol_ids[i]`` its index in the universe (the walk's symbol axis). ``score``
    is the ranking score (``select="rank"``) or the strategy target (``select="signal"``),
    NaN where unknown.
    """
    ts = np.ascontiguousarray(timestamp_us, dtype=np.int64)
    c = _array("close", close)
    o = _array("open", open)
    sc = _array("score", score)
    n_rows = c.shape[0]
    offs = check_offsets("portfolio rows", offsets, n_rows)
    ids = np.ascontiguousarray(symbol_ids, dtype=np.int64)
    if ts.shape[0] != n_rows or o.shape[0] != n_rows or sc.shape[0] != n_rows:
        raise ParameterError(
            f"portfolio rows: inputs differ in length: timestamp={ts.shape[0]}, "
            f"open={o.shape[0]}, close={n_rows}, score={sc.shape[0]}"
        )
    if ids.shape != (offs.shape[0] - 1,):
        raise ParameterError(
            f"portfolio rows: {ids.shape[0]} symbol ids for {offs.shape[0] - 1} symbols"
        )
    feats = symbol_features(c, volume, offs, rules)
    return {
        "timestamp": ts,
        "symbol": np.repeat(ids, np.diff(offs)),
        "open": o,
        "close": c,
        "score": sc,
        "eligible": eligibility(c, feats, rules),
        "vol": feats["vol"],
    }


def rows_by_time(
    rows: Mapping[str, np.ndarray], group_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    """``batch_rows``' rows in time order (stable: symbols keep their order within a time),
    ``group_rows`` at a time: one staged Parquet row group each, so that a walk task's time
    filter skips the others. Only one group is copied at a time (sorting the whole batch at
    once doubled phase 1's rows at its peak; bench/portfolio.py)."""
    if isinstance(group_rows, bool) or not isinstance(group_rows, int) or group_rows < 1:
        raise ParameterError(f"rows_by_time: group_rows = {group_rows!r} must be an integer >= 1")
    order = np.argsort(rows["timestamp"], kind="stable")
    for lo in range(0, order.shape[0], group_rows):
        take = order[lo : lo + group_rows]
        yield {name: np.asarray(rows[name])[take] for name in ROW_FIELDS}


def compute_score(score: Mapping[str, Any], inputs: Mapping[str, Any], offsets: Any) -> np.ndarray:
    """Phase 1: a portfolio's score per bar, from ``{indicator|strategy, params, output}``.

    ``inputs`` are the batch's bar fields (1-D, concatenated by ``offsets``). An indicator
    gives its ``output`` (the first one by default); a strategy its target.
    """
    from compute import indicators, strategies

    params = dict(score.get("params") or {})
    if score.get("strategy"):
        return strategies.compute_batch(str(score["strategy"]), inputs, offsets, **params)
    name = str(score.get("indicator") or "")
    spec = indicators.spec(name)
    out = indicators.compute_batch(
        name, {k: inputs[k] for k in spec.inputs if k in inputs}, offsets, **params
    )
    output = score.get("output") or spec.outputs[0]
    if output not in out:
        raise ParameterError(f"{name}: no output {output!r}; outputs: {', '.join(out)}")
    return np.ascontiguousarray(out[output], dtype=np.float64)


def benchmark_returns(close: Any, prev_close: Any, benchmark: int | str | None) -> np.ndarray:
    """Per-bar benchmark return over a chunk's ``(time, symbol)`` close grid.

    ``prev_close`` is each symbol's last close before the chunk (the walk state's
    ``last_close``). ``benchmark``: a symbol index (its close-to-close return; 0 on a bar
    where it has none), ``"equal_weight"`` (the mean return of the symbols with a bar and a
    previous close, rebalanced every bar; 0 where none), or None (NaN).
    """
    c = np.asarray(close, dtype=np.float64)
    n_t = c.shape[0]
    if benchmark is None:
        return np.full(n_t, np.nan)
    prev = np.vstack([np.asarray(prev_close, dtype=np.float64)[None, :], c[:-1]])
    # carry each symbol's last close over the bars it has none
    for t in range(1, n_t):
        gap = np.isnan(prev[t])
        prev[t, gap] = prev[t - 1, gap]
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = c / prev - 1.0
    if benchmark == "equal_weight":
        have = ~np.isnan(ret)
        count = have.sum(axis=1)
        total = np.where(have, ret, 0.0).sum(axis=1)
        return np.divide(total, count, out=np.zeros(n_t), where=count > 0)
    if isinstance(benchmark, str):
        raise ParameterError(
            f"benchmark = {benchmark!r}: give a symbol of the universe or 'equal_weight'"
        )
    col = ret[:, int(benchmark)]
    return np.where(np.isnan(col), 0.0, col)


def portfolio_metrics(
    equity: Any,
    benchmark_return: Any | None = None,
    *,
    annualization: float = 252.0,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """A portfolio's ``RETURN_METRICS`` and, given the benchmark's per-bar returns (the
    equity table's ``benchmark_return``), its ``RELATIVE_METRICS`` and total return."""
    from compute import metrics

    eq = _array("equity", equity)
    none = {c: np.array([]) for c in ("segment", *metrics._TRADE_INPUTS)}
    offs = [0, eq.shape[0]]
    out = metrics.metrics_batch(eq, offs, none, annualization=annualization, risk_free=risk_free)
    row = {name: float(out[name][0]) for name in metrics.RETURN_METRICS}
    if benchmark_return is not None and eq.shape[0] > 1:
        br = _array("benchmark_return", benchmark_return)
        bench = np.cumprod(np.r_[1.0, 1.0 + br[1:]])
        rel = metrics.relative_metrics_batch(
            eq, bench, offs, annualization=annualization, risk_free=risk_free
        )
        row.update({name: float(v[0]) for name, v in rel.items()})
        row["benchmark_total_return"] = float(bench[-1] - 1.0)
    return row


def monthly_returns(timestamp_us: Any, equity: Any) -> dict[str, np.ndarray]:
    """Each calendar month's return of an equity curve: ``year``, ``month`` (1-12), ``ret``.

    A month's return is its last equity over the previous month's last (the first month's:
    over the first bar's equity) minus 1.
    """
    ts = np.asarray(timestamp_us, dtype=np.int64)
    eq = _array("equity", equity)
    if eq.shape[0] == 0:
        return {"year": np.array([], np.int64), "month": np.array([], np.int64), "ret": eq}
    months = ts.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    last = np.flatnonzero(np.r_[months[1:] != months[:-1], True])
    end = eq[last]
    start = np.r_[eq[0], end[:-1]]
    m = months[last]
    return {"year": 1970 + m // 12, "month": m % 12 + 1, "ret": end / start - 1.0}


GRID_FIELDS = ("open", "close", "score", "eligible", "vol")


def new_grids(n_times: int, n_symbols: int) -> dict[str, np.ndarray]:
    """Empty ``(time, symbol)`` grids of ``GRID_FIELDS``: NaN, and False for ``eligible``."""
    return {
        name: np.full((n_times, n_symbols), False if name == "eligible" else np.nan)
        for name in GRID_FIELDS
    }


def scatter_rows(
    grids: dict[str, np.ndarray], calendar_us: np.ndarray, rows: Mapping[str, Any]
) -> None:
    """Put long rows (``ROW_FIELDS``, any order) into ``new_grids`` of ``calendar_us``.

    Rows whose timestamp is not in ``calendar_us`` are ignored, so the rows of a chunk can
    arrive in pieces (a record batch at a time) and the grids are all a walk task holds.
    """
    ts = np.asarray(rows["timestamp"], dtype=np.int64)
    t_idx = np.searchsorted(calendar_us, ts)
    inside = t_idx < calendar_us.shape[0]
    inside[inside] &= calendar_us[t_idx[inside]] == ts[inside]
    every = bool(inside.all())
    ti = t_idx if every else t_idx[inside]
    si = np.asarray(rows["symbol"], dtype=np.int64)
    si = si if every else si[inside]
    for name in GRID_FIELDS:
        values = np.asarray(rows[name])
        grids[name][ti, si] = values if every else values[inside]


def walk_rows(
    rows: Mapping[str, Any],
    calendar_us: np.ndarray,
    rebalance: np.ndarray,
    n_symbols: int,
    state: PortfolioState,
    rules: PortfolioRules,
    bar_offset: int = 0,
) -> tuple[ChunkResult, PortfolioState]:
    """Phase 2 for one chunk: pivot the rows of the chunk's calendar onto the grid and walk.

    ``rows`` holds ``ROW_FIELDS`` for (at least) every bar whose timestamp is in
    ``calendar_us`` (this chunk's stretch of the calendar), in any order; rows outside it are
    ignored. ``rebalance`` marks the chunk's decision bars; ``bar_offset`` is the index of the
    chunk's first bar in the whole calendar.
    """
    grids = new_grids(calendar_us.shape[0], n_symbols)
    scatter_rows(grids, calendar_us, rows)
    return walk_grids(grids, rebalance, state, rules, bar_offset)


def walk_grids(
    grids: Mapping[str, np.ndarray],
    rebalance: np.ndarray,
    state: PortfolioState,
    rules: PortfolioRules,
    bar_offset: int = 0,
) -> tuple[ChunkResult, PortfolioState]:
    """``walk_chunk`` over ``new_grids`` filled by ``scatter_rows``."""
    return walk_chunk(
        grids["open"],
        grids["close"],
        grids["score"],
        grids["eligible"],
        grids["vol"],
        rebalance,
        state,
        rules,
        bar_offset=bar_offset,
    )


def simulate_portfolio(
    timestamp_us: Any,
    open: Any,  # the bar field's name, as in the backtest
    close: Any,
    volume: Any,
    score: Any,
    offsets: Any,
    rules: PortfolioRules,
    *,
    chunk: int | None = None,
) -> PortfolioResult:
    """Both phases in one process over a batch of symbols concatenated with ``offsets``.

    The inputs are as in ``batch_rows``, the symbols numbered in ``offsets`` order.
    ``chunk`` is the walk's chunk length in calendar bars (None: the whole calendar at once);
    it changes nothing but memory.
    """
    n_sym = np.asarray(offsets).shape[0] - 1
    rows = batch_rows(timestamp_us, open, close, volume, score, offsets, np.arange(n_sym), rules)
    cal = calendar(rows["timestamp"])
    sched = rebalance_schedule(cal, rules.rebalance)
    step = cal.shape[0] if chunk is None else chunk
    if isinstance(step, bool) or not isinstance(step, int) or (step < 1 and cal.shape[0]):
        raise ParameterError(f"simulate_portfolio: chunk = {chunk!r} must be a positive integer")
    # one sort by time makes each chunk's rows a contiguous range
    by_time = np.argsort(rows["timestamp"], kind="stable")
    ts_sorted = rows["timestamp"][by_time]
    state = PortfolioState.initial(n_sym, rules.init_cash)
    parts = []
    for start in range(0, cal.shape[0], max(step, 1)):
        stop = min(start + step, cal.shape[0])
        lo = np.searchsorted(ts_sorted, cal[start], side="left")
        hi = np.searchsorted(ts_sorted, cal[stop - 1], side="right")
        chunk_rows = {name: rows[name][by_time[lo:hi]] for name in ROW_FIELDS}
        part, state = walk_rows(
            chunk_rows, cal[start:stop], sched[start:stop], n_sym, state, rules, bar_offset=start
        )
        parts.append(part)
    if not parts:  # no bars at all: an empty walk still gives every column
        part, state = walk_rows(rows, cal, sched, n_sym, state, rules)
        parts.append(part)
    return PortfolioResult(calendar_us=cal, result=ChunkResult.concat(parts), state=state)


def _period_key(ts: np.ndarray, rebalance: str) -> np.ndarray:
    days = np.floor_divide(ts, _US_PER_DAY)
    if rebalance == "weekly":
        return np.floor_divide(days + 3, 7)  # 1970-01-01 was a Thursday: weeks start Monday
    return ts.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)


def _choice(where: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ParameterError(
            f"{where}: {name} = {value!r} is not valid; choices: {', '.join(choices)}"
        )


def _integer(where: str, name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ParameterError(f"{where}: {name} = {value!r} must be an integer >= {low}")


def _number(
    where: str,
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    valid = f"valid range is {lo}{low}, {high}{hi}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{where}: {name} must be a number, got {value!r}; {valid}")
    v = float(value)
    ok = math.isfinite(v)
    ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise ParameterError(f"{where}: {name} = {value!r} is out of range; {valid}")


def _array(name: str, values: Any) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ParameterError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _grid(name: str, values: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 2 or (shape is not None and arr.shape != shape):
        want = "2-D" if shape is None else str(shape)
        raise ParameterError(f"walk_chunk: {name} must be {want}, got shape {arr.shape}")
    return arr
