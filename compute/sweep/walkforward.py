"""Walk-forward: fold plans, in-sample selection, out-of-sample evaluation, stitched equity.

1. ``plan_folds`` cuts a timeline of ``n`` bars into folds (rolling or anchored training
   windows, test windows every ``step`` bars, ``purge``/``embargo`` bars between them).
2. ``fold_windows`` maps the folds onto each symbol of a batch by timestamp, so symbols
   with different calendars share the same folds in time.
3. ``walk_forward`` evaluates every combination of a space on every training and test
   window in one kernel call per chunk (``evaluate_chunk``), keeps per fold the best
   combination in sample (per symbol or universe-wide, by a metric) and that combination's
   out-of-sample row, and needs no more memory than one chunk's rows.
4. ``stitch_equity`` backtests each fold's chosen combination over its test window with
   the nightly API and chains the windows into one out-of-sample equity curve per symbol.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from compute import backtest, strategies
from compute.errors import ParameterError
from compute.sweep.evaluate import METRIC_NAMES, evaluate_chunk
from compute.sweep.space import Space

__all__ = [
    "Fold",
    "WalkForward",
    "choose_universe",
    "fold_windows",
    "in_sample_scores",
    "plan_folds",
    "stitch_equity",
    "universe_median",
    "walk_forward",
]

SELECTIONS = ("per_symbol", "universe")


@dataclass(frozen=True)
class Fold:
    """Bar ranges ``[start, end)`` on the timeline: training, then test."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def plan_folds(
    n_bars: int,
    train: int,
    test: int,
    step: int | None = None,
    *,
    anchored: bool = False,
    purge: int = 0,
    embargo: int = 0,
) -> list[Fold]:
    """Folds over a timeline of ``n_bars`` bars.

    Fold k's nominal training window ends at ``train + k * step`` and starts at
    ``k * step`` (rolling) or 0 (anchored). ``purge`` bars are removed from the end of the
    training window (so no training trade runs into the test period); the test window of
    ``test`` bars starts ``embargo`` bars after the nominal training end. Test windows
    never overlap (``step >= test``), so their equity can be stitched; only whole test
    windows are planned.
    """
    for name, value, low in (
        ("n_bars", n_bars, 0),
        ("train", train, 2),
        ("test", test, 2),
        ("purge", purge, 0),
        ("embargo", embargo, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ParameterError(f"walk-forward: {name} must be an integer >= {low}, got {value!r}")
    step = test if step is None else step
    if isinstance(step, bool) or not isinstance(step, int) or step < test:
        raise ParameterError(
            f"walk-forward: step must be an integer >= test ({test}) so test windows do not "
            f"overlap, got {step!r}"
        )
    if train - purge < 2:
        raise ParameterError(
            f"walk-forward: purge ({purge}) leaves fewer than 2 training bars of {train}"
        )
    folds = []
    k = 0
    while True:
        nominal_end = train + k * step
        test_start = nominal_end + embargo
        if test_start + test > n_bars:
            break
        start = 0 if anchored else k * step
        folds.append(Fold(k, start, nominal_end - purge, test_start, test_start + test))
        k += 1
    if not folds:
        raise ParameterError(
            f"walk-forward: {n_bars} bars hold no fold of train {train} + embargo {embargo} + "
            f"test {test}"
        )
    return folds


def fold_windows(
    timestamps: np.ndarray, offsets: np.ndarray, timeline: np.ndarray, folds: list[Fold]
) -> tuple[np.ndarray, np.ndarray]:
    """Each fold's training and test windows on each segment, as local bar ranges.

    ``timeline`` is the sorted distinct timestamps the folds index (int64); a segment's
    window holds its bars whose timestamps fall in the fold's range. Returns ``(start,
    end)``, each ``(2 * n_folds, n_segments)``: rows ``0..F-1`` training, ``F..2F-1`` test.
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    tl = np.asarray(timeline, dtype=np.int64)
    offs = np.asarray(offsets, dtype=np.int64)
    n_seg = offs.shape[0] - 1
    bounds = []
    for attr in (("train_start", "train_end"), ("test_start", "test_end")):
        for f in folds:
            lo, hi = getattr(f, attr[0]), getattr(f, attr[1])
            bounds.append((tl[lo], tl[hi] if hi < tl.shape[0] else np.iinfo(np.int64).max))
    start = np.empty((len(bounds), n_seg), dtype=np.int64)
    end = np.empty((len(bounds), n_seg), dtype=np.int64)
    for s in range(n_seg):
        seg = ts[offs[s] : offs[s + 1]]
        for w, (lo, hi) in enumerate(bounds):
            start[w, s] = np.searchsorted(seg, lo, side="left")
            end[w, s] = np.searchsorted(seg, hi, side="left")
    return start, end


@dataclass(frozen=True)
class WalkForward:
    """Per fold and segment: the chosen combination and its in-/out-of-sample metrics.

    ``chosen``: ``(F, n_segments)`` combination ids (-1 where nothing could be chosen);
    ``params``: the chosen combination's (strategy parameters, backtest settings) by id;
    ``in_sample`` / ``out_of_sample``: ``(F, n_segments, len(METRIC_NAMES))`` rows.
    """

    chosen: np.ndarray
    params: dict[int, tuple[dict[str, Any], dict[str, Any]]]
    in_sample: np.ndarray
    out_of_sample: np.ndarray
    n_combinations: int


def walk_forward(
    arrays: Mapping[str, np.ndarray],
    offsets: np.ndarray,
    windows: tuple[np.ndarray, np.ndarray],
    space: Space,
    *,
    metric: str = "sharpe_ratio",
    selection: str = "per_symbol",
    chunk_size: int = 512,
    backtest_params: Mapping[str, Any] = (),
    annualization: float = 252,
    risk_free: float = 0.0,
    chosen: np.ndarray | None = None,
) -> WalkForward:
    """Select in sample and evaluate out of sample, fold by fold, chunk by chunk.

    ``windows`` comes from ``fold_windows``. The best combination maximises ``metric`` over
    the training window: per segment (``selection="per_symbol"``) or by its median across
    segments (``"universe"``, see ``universe_median``); NaN counts as worst, ties go to the
    lowest combination id. ``chosen``: per fold the combination already chosen (universe-wide
    over several batches, ``choose_universe``; -1: none): only the chunks holding them are
    evaluated, and every segment takes them.
    """
    if metric not in METRIC_NAMES:
        raise ParameterError(
            f"walk-forward: metric {metric!r} is not valid; choices: {', '.join(METRIC_NAMES)}"
        )
    if selection not in SELECTIONS:
        raise ParameterError(
            f"walk-forward: selection {selection!r} is not valid; choices: {', '.join(SELECTIONS)}"
        )
    start, end = windows
    n_folds = start.shape[0] // 2
    n_seg = start.shape[1]
    j = METRIC_NAMES.index(metric)
    best = np.full((n_folds, n_seg), -np.inf)
    picked = np.full((n_folds, n_seg), -1, dtype=np.int64)
    ins = np.full((n_folds, n_seg, len(METRIC_NAMES)), np.nan)
    oos = np.full((n_folds, n_seg, len(METRIC_NAMES)), np.nan)
    params: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    n_combos = 0
    common = dict(
        strategy=space.strategy, backtest_params=backtest_params, annualization=annualization,
        risk_free=risk_free, windows=(start, end),
    )  # fmt: skip
    if chosen is not None:
        chosen = np.asarray(chosen, dtype=np.int64)
        for k in sorted({int(c) // chunk_size for c in chosen if c >= 0}):
            combos = space.chunk(k, chunk_size)
            rows = evaluate_chunk(arrays, offsets, combos, **common)
            for f in np.flatnonzero(np.isin(chosen, combos.ids)).tolist():
                c = int(np.flatnonzero(combos.ids == chosen[f])[0])
                picked[f] = chosen[f]
                ins[f] = rows[c, f]
                oos[f] = rows[c, n_folds + f]
                params.setdefault(int(chosen[f]), combos.row(c))
        return WalkForward(picked, params, ins, oos, space.count())
    for combos in space.chunks(chunk_size):
        if not len(combos):
            continue
        n_combos += len(combos)
        rows = evaluate_chunk(arrays, offsets, combos, **common)
        score = np.nan_to_num(rows[:, :n_folds, :, j], nan=-np.inf)  # (C, F, S)
        if selection == "universe":
            med = universe_median(in_sample_scores(rows, n_folds, j))
            score = np.broadcast_to(np.nan_to_num(med, nan=-np.inf)[:, :, None], score.shape)
        top = np.argmax(score, axis=0)  # first maximum: lowest id within the chunk
        top_score = np.take_along_axis(score, top[None], axis=0)[0]
        better = top_score > best  # strictly: a tie keeps the earlier chunk's lower id
        f_idx, s_idx = np.nonzero(better)
        for f, s in zip(f_idx.tolist(), s_idx.tolist(), strict=True):
            c = int(top[f, s])
            best[f, s] = top_score[f, s]
            picked[f, s] = int(combos.ids[c])
            ins[f, s] = rows[c, f, s]
            oos[f, s] = rows[c, n_folds + f, s]
            params.setdefault(int(combos.ids[c]), combos.row(c))
    return WalkForward(picked, params, ins, oos, n_combos)


def in_sample_scores(rows: np.ndarray, n_folds: int, j: int) -> np.ndarray:
    """``(C, F, S)`` in-sample values of metric ``j`` from ``evaluate_chunk`` rows over
    ``fold_windows``; NaN where not finite (left out of a median)."""
    values = rows[:, :n_folds, :, j]
    return np.where(np.isfinite(values), values, np.nan)


def universe_median(scores: np.ndarray) -> np.ndarray:
    """``(C, F)`` median across segments of ``in_sample_scores`` (all segments of the
    universe, in any order: the median does not depend on it); NaN where none is finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN (combination, fold)
        return (
            np.nanmedian(scores, axis=2) if scores.shape[2] else np.full(scores.shape[:2], np.nan)
        )


def choose_universe(chunks: Iterable[tuple[np.ndarray, np.ndarray]], n_folds: int) -> np.ndarray:
    """Per fold the combination with the highest universe median, over chunks in id order.

    ``chunks`` yields ``(ids, median)`` per combination chunk (``universe_median`` of the
    chunk's scores over every symbol). Ties go to the lowest id, as in ``walk_forward``;
    -1 where no combination has a finite median. Returns ``(F,)`` int64.
    """
    best = np.full(n_folds, -np.inf)
    chosen = np.full(n_folds, -1, dtype=np.int64)
    for ids, med in chunks:
        if not len(ids):
            continue
        score = np.nan_to_num(med, nan=-np.inf)
        top = np.argmax(score, axis=0)
        top_score = score[top, np.arange(n_folds)]
        better = top_score > best
        best[better] = top_score[better]
        chosen[better] = np.asarray(ids, dtype=np.int64)[top[better]]
    return chosen


def stitch_equity(
    arrays: Mapping[str, np.ndarray],
    offsets: np.ndarray,
    windows: tuple[np.ndarray, np.ndarray],
    result: WalkForward,
    strategy: str,
    backtest_params: Mapping[str, Any] = (),
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per segment: (local bar index, equity) of the chained out-of-sample test windows.

    Each test window is backtested with its fold's chosen combination (target computed
    over the whole segment, as in the sweep) starting flat; its curve is scaled to start
    where the previous window's ended, so the stitched curve starts at ``init_cash``.
    """
    start, end = windows
    n_folds = start.shape[0] // 2
    offs = np.asarray(offsets, dtype=np.int64)
    out = []
    fields = ("open", "high", "low", "close")
    for s in range(offs.shape[0] - 1):
        seg = {
            f: np.asarray(arrays[f][offs[s] : offs[s + 1]], dtype=np.float64)
            for f in (*fields, "volume")
            if f in arrays
        }
        idx_parts, eq_parts = [], []
        level = None
        for f in range(n_folds):
            cid = int(result.chosen[f, s])
            a, b = int(start[n_folds + f, s]), int(end[n_folds + f, s])
            if cid < 0 or b <= a:
                continue
            params, bt = result.params[cid]
            target = strategies.compute(strategy, seg, **params)
            settings = {**dict(backtest_params), **bt}
            sim = backtest.simulate(*(seg[x][a:b] for x in fields), target[a:b], **settings)
            init = settings.get("init_cash", backtest.simulate.__kwdefaults__["init_cash"])
            scale = 1.0 if level is None else level / init
            eq = sim.equity * scale
            level = eq[-1]
            idx_parts.append(np.arange(a, b, dtype=np.int64))
            eq_parts.append(eq)
        if idx_parts:
            out.append((np.concatenate(idx_parts), np.concatenate(eq_parts)))
        else:
            out.append((np.zeros(0, dtype=np.int64), np.zeros(0)))
    return out
