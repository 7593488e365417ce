"""Arrow tables of a sweep task and their reduction: the edge between kernels and storage.

- ``sweep_rows``: one row per (combination, symbol) of a chunk: identity, one column per
  parameter, the nightly metric columns and, for PBO, the per-block return moments.
- ``summarise_chunk``: per combination across the symbols of a chunk's rows (median and
  mean Sharpe, share with a positive return, trades) plus block moments pooled over symbols.
- ``space_statistics``: the deflated Sharpe ratio of the best combination and the PBO of a
  space, from the pooled moments of all its combinations.
- ``walkforward_tables``: per fold and symbol the chosen combination with in- and
  out-of-sample metrics, and the stitched out-of-sample equity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from compute import stats
from compute.errors import BarpipeError
from compute.sweep.evaluate import METRIC_NAMES, evaluate_chunk
from compute.sweep.space import Combos, Space
from compute.sweep.walkforward import (
    Fold,
    fold_windows,
    in_sample_scores,
    stitch_equity,
    universe_median,
    walk_forward,
)

__all__ = [
    "RESULT_METRICS",
    "space_statistics",
    "summarise_chunk",
    "summary_schema",
    "sweep_rows",
    "universe_chunk",
    "walkforward_scores",
    "walkforward_tables",
]

# Metric columns of sweep_results: the nightly metrics without the drawdown's bar indices.
RESULT_METRICS = tuple(m for m in METRIC_NAMES if not m.startswith("max_drawdown_"))
_IDENTITY = ("sweep_id", "symbol", "strategy", "combo_id", "n_bars", "block_moments")
_FOLD_METRICS = ("sharpe_ratio", "total_return", "n_trades")
_UTC = pa.timestamp("us", tz="UTC")


def sweep_rows(
    sweep_id: str,
    space: Space,
    names: list[str],
    offsets: np.ndarray,
    arrays: Mapping[str, np.ndarray],
    combos: Combos,
    *,
    n_blocks: int = 0,
    backtest_params: Mapping[str, Any] = (),
    annualization: float = 252,
    risk_free: float = 0.0,
) -> pa.Table:
    """Evaluate ``combos`` on the batch and return its rows (see the module docstring)."""
    n_seg = len(names)
    if not len(combos) or not n_seg:
        return pa.table({"sweep_id": pa.array([], pa.string())})
    out = evaluate_chunk(
        arrays,
        offsets,
        combos,
        strategy=space.strategy,
        backtest_params=backtest_params,
        annualization=annualization,
        risk_free=risk_free,
        n_blocks=n_blocks,
    )
    rows, moments = out if n_blocks else (out, None)
    n = len(combos) * n_seg
    cols: dict[str, Any] = {
        "sweep_id": pa.repeat(pa.scalar(sweep_id), n),
        "symbol": pa.array(np.tile(np.array(names, dtype=object), len(combos)), pa.string()),
        "strategy": pa.repeat(pa.scalar(space.key), n),
        "combo_id": np.repeat(combos.ids, n_seg),
    }
    for name, col in {**combos.params, **combos.backtest}.items():
        values = np.repeat(col, n_seg)
        cols[name] = pa.array(values.tolist(), pa.string()) if col.dtype == object else values
    for j, name in enumerate(METRIC_NAMES):
        if name in RESULT_METRICS:
            values = rows[:, 0, :, j].reshape(n)
            cols[name] = values.astype(np.int64) if name == "n_trades" else values
    cols["n_bars"] = np.tile(np.diff(offsets), len(combos))
    if moments is not None:
        flat = moments[:, 0].reshape(n, -1)
        cols["block_moments"] = pa.FixedSizeListArray.from_arrays(
            pa.array(flat.ravel()), flat.shape[1]
        )
    return pa.table(cols)


def summarise_chunk(t: pa.Table, n_blocks: int) -> tuple[pa.Table, np.ndarray, np.ndarray | None]:
    """``sweep_summary`` rows of the combinations in ``t`` (all their symbols), their ids,
    and their block moments pooled over symbols ``(n, n_blocks, 5)`` (None without)."""
    combo = t.column("combo_id").to_numpy()
    order = np.argsort(combo, kind="stable")
    combo = combo[order]
    ids, starts = np.unique(combo, return_index=True)
    bounds = np.append(starts, combo.shape[0])
    sharpe = t.column("sharpe_ratio").to_numpy()[order]
    total = t.column("total_return").to_numpy()[order]
    trades = t.column("n_trades").to_numpy()[order]
    n = ids.shape[0]
    med, mean, pos, ntr, nsym = (np.empty(n) for _ in range(5))
    for i in range(n):
        sl = slice(bounds[i], bounds[i + 1])
        s = sharpe[sl]
        s = s[np.isfinite(s)]
        med[i] = np.median(s) if s.size else math.nan
        mean[i] = s.mean() if s.size else math.nan
        pos[i] = float(np.mean(total[sl] > 0))
        ntr[i] = trades[sl].sum()
        nsym[i] = bounds[i + 1] - bounds[i]
    first = pa.array(order[starts])
    cols: dict[str, Any] = {
        "sweep_id": t.column("sweep_id").take(first),
        "strategy": t.column("strategy").take(first),
        "combo_id": ids,
    }
    for p in t.column_names:
        if p not in _IDENTITY and p not in RESULT_METRICS:
            cols[p] = t.column(p).take(first)  # the parameters
    cols.update(
        median_sharpe=med,
        mean_sharpe=mean,
        share_positive_return=pos,
        total_trades=ntr.astype(np.int64),
        n_symbols=nsym.astype(np.int64),
    )
    moments = None
    if n_blocks and "block_moments" in t.column_names:
        flat = t.column("block_moments").combine_chunks().flatten().to_numpy()
        flat = flat.reshape(t.num_rows, n_blocks, -1)[order]
        moments = np.add.reduceat(flat, starts, axis=0)
    return pa.table(cols), ids, moments


def summary_schema(results: pa.Schema) -> pa.Schema:
    """The schema of ``summarise_chunk``'s rows given the (union) schema of ``sweep_rows``."""
    params = [f for f in results if f.name not in _IDENTITY and f.name not in RESULT_METRICS]
    keys = [
        pa.field("sweep_id", pa.string()),
        pa.field("strategy", pa.string()),
        pa.field("combo_id", pa.int64()),
    ]
    return pa.schema(
        [
            *keys,
            *params,
            *(pa.field(n, pa.float64()) for n in _SUMMARY_FLOATS),
            pa.field("total_trades", pa.int64()),
            pa.field("n_symbols", pa.int64()),
        ]
    )


_SUMMARY_FLOATS = ("median_sharpe", "mean_sharpe", "share_positive_return")


def space_statistics(ids: np.ndarray, moments: np.ndarray | None) -> dict[str, Any]:
    """Deflated Sharpe ratio of the best combination and PBO, trials being combinations and
    each one's returns pooled over the universe (``moments``: ``(n, blocks, 5)``)."""
    out: dict[str, Any] = {"n_combinations": int(ids.shape[0])}
    if moments is None or ids.shape[0] < 2:
        return out
    pooled = moments.sum(axis=1)
    sharpes = np.array([stats.pooled_moments(*row)[0] for row in pooled])
    finite = np.isfinite(sharpes)
    if finite.sum() < 2:
        return out
    best = int(np.argmax(np.where(finite, sharpes, -np.inf)))
    sr, skew, kurt, n_obs = stats.pooled_moments(*pooled[best])
    var = float(np.var(sharpes[finite], ddof=1))
    out.update(best_combo_id=int(ids[best]), best_sharpe_per_bar=float(sr), variance_of_sharpes=var)
    try:
        out["deflated_sharpe_ratio"] = stats.deflated_sharpe_ratio(
            sr, int(n_obs), int(ids.shape[0]), var, skew, kurt
        )
    except BarpipeError as err:
        out["deflated_sharpe_ratio_error"] = str(err)
    res = stats.pbo_from_moments(moments[:, :, 0].T, moments[:, :, 1].T, moments[:, :, 2].T)
    out.update(pbo=res.pbo, pbo_splits=res.n_splits)
    return out


def walkforward_tables(
    sweep_id: str,
    space: Space,
    names: list[str],
    offsets: np.ndarray,
    arrays: Mapping[str, np.ndarray],
    timestamps: pa.ChunkedArray,
    fold_bounds: Any,
    *,
    metric: str = "sharpe_ratio",
    selection: str = "per_symbol",
    chunk_size: int = 512,
    backtest_params: Mapping[str, Any] = (),
    annualization: float = 252,
    risk_free: float = 0.0,
    chosen: Any = None,
) -> tuple[pa.Table, pa.Table]:
    """``walkforward_folds`` and ``walkforward_equity`` rows of one batch.

    ``fold_bounds``: per fold (train start, train end, test start, test end) as UTC
    microseconds; a window holds the bars with start <= t < end. ``chosen``: per fold the
    combination chosen across the universe already (``choose_universe``), for a universe
    spread over several batches.
    """
    ts_us, bounds, folds, windows = _fold_windows(timestamps, offsets, fold_bounds)
    common = dict(backtest_params=backtest_params, annualization=annualization, risk_free=risk_free)
    res = walk_forward(
        arrays, offsets, windows, space, metric=metric, selection=selection,
        chunk_size=chunk_size, chosen=None if chosen is None else np.asarray(chosen), **common,
    )  # fmt: skip
    curves = stitch_equity(arrays, offsets, windows, res, space.strategy, backtest_params)
    cols: dict[str, list[Any]] = {k: [] for k in ("symbol", "fold", "combo_id", "params")}
    for prefix in ("is_", "oos_"):
        cols.update({prefix + m: [] for m in _FOLD_METRICS})
    for s, name in enumerate(names):
        for f in range(len(folds)):
            cid = int(res.chosen[f, s])
            cols["symbol"].append(name)
            cols["fold"].append(f)
            cols["combo_id"].append(cid)
            chosen = res.params.get(cid) if cid >= 0 else None
            cols["params"].append(None if chosen is None else json.dumps(chosen, sort_keys=True))
            for prefix, block in (("is_", res.in_sample), ("oos_", res.out_of_sample)):
                for m in _FOLD_METRICS:
                    value = float(block[f, s, METRIC_NAMES.index(m)])
                    if m == "n_trades":
                        value = None if math.isnan(value) else int(value)
                    cols[prefix + m].append(value)
    n = len(cols["symbol"])
    per_row = np.tile(bounds, (len(names), 1))
    times = {
        key: pa.array(per_row[:, i], pa.int64()).cast(_UTC)
        for i, key in enumerate(("train_start", "train_end", "test_start", "test_end"))
    }
    folds_table = pa.table(
        {
            "sweep_id": pa.repeat(pa.scalar(sweep_id), n),
            "strategy": pa.repeat(pa.scalar(space.key), n),
            "symbol": pa.array(cols.pop("symbol"), pa.string()),
            "fold": pa.array(cols.pop("fold"), pa.int64()),
            **times,
            **cols,
        }
    )
    sym, ts, eq = [], [], []
    for s, name in enumerate(names):
        idx, values = curves[s]
        sym.extend([name] * idx.shape[0])
        ts.append(ts_us[offsets[s] : offsets[s + 1]][idx])
        eq.append(values)
    equity = pa.table(
        {
            "sweep_id": pa.repeat(pa.scalar(sweep_id), len(sym)),
            "strategy": pa.repeat(pa.scalar(space.key), len(sym)),
            "symbol": pa.array(sym, pa.string()),
            "timestamp": pa.array(np.concatenate(ts) if ts else [], pa.int64()).cast(_UTC),
            "equity": np.concatenate(eq) if eq else np.zeros(0),
        }
    )
    return folds_table, equity


def _fold_windows(
    timestamps: pa.ChunkedArray, offsets: np.ndarray, fold_bounds: Any
) -> tuple[np.ndarray, np.ndarray, list[Fold], tuple[np.ndarray, np.ndarray]]:
    ts_us = timestamps.cast(_UTC).cast(pa.int64()).to_numpy()
    bounds = np.array(fold_bounds, dtype=np.int64).reshape(-1, 4)
    timeline = np.unique(bounds.ravel())
    index = {int(v): i for i, v in enumerate(timeline)}
    folds = [Fold(k, *(index[int(v)] for v in row)) for k, row in enumerate(bounds)]
    windows = fold_windows(ts_us, offsets, np.append(timeline, np.iinfo(np.int64).max), folds)
    return ts_us, bounds, folds, windows


def walkforward_scores(
    space: Space,
    names: list[str],
    offsets: np.ndarray,
    arrays: Mapping[str, np.ndarray],
    timestamps: pa.ChunkedArray,
    fold_bounds: Any,
    *,
    metric: str = "sharpe_ratio",
    chunk_size: int = 512,
    backtest_params: Mapping[str, Any] = (),
    annualization: float = 252,
    risk_free: float = 0.0,
) -> Iterator[pa.Table]:
    """Per combination chunk of ``space``, the batch's in-sample ``metric`` of every
    (combination, fold, symbol), rows in that order (``in_sample_scores``): the first pass
    of a universe-wide selection over several batches (``universe_chunk`` reduces it)."""
    _, bounds, folds, windows = _fold_windows(timestamps, offsets, fold_bounds)
    n_folds, n_seg = len(folds), len(names)
    j = METRIC_NAMES.index(metric)
    for combos in space.chunks(chunk_size):
        if not len(combos):
            continue
        rows = evaluate_chunk(
            arrays, offsets, combos, strategy=space.strategy, backtest_params=backtest_params,
            annualization=annualization, risk_free=risk_free, windows=windows,
        )  # fmt: skip
        scores = in_sample_scores(rows, n_folds, j)
        n = len(combos) * n_folds * n_seg
        yield pa.table(
            {
                "combo_id": np.repeat(combos.ids, n_folds * n_seg),
                "fold": np.tile(np.repeat(np.arange(n_folds, dtype=np.int64), n_seg), len(combos)),
                "symbol": pa.array(
                    np.tile(np.array(names, dtype=object), len(combos) * n_folds), pa.string()
                ),
                "score": scores.reshape(n),
            }
        )  # fmt: skip


def universe_chunk(parts: Iterable[pa.Table], n_folds: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, median)`` of one combination chunk from its ``walkforward_scores`` tables of
    every batch: the scores side by side along the symbol axis, then ``universe_median``."""
    ids: np.ndarray | None = None
    blocks = []
    for t in parts:
        if not t.num_rows:  # a batch without a valid symbol
            continue
        combo = t.column("combo_id").to_numpy()
        chunk_ids = np.unique(combo)
        if ids is None:
            ids = chunk_ids
        n_seg = combo.shape[0] // (chunk_ids.shape[0] * n_folds)
        blocks.append(t.column("score").to_numpy().reshape(chunk_ids.shape[0], n_folds, n_seg))
    if ids is None:
        return np.zeros(0, dtype=np.int64), np.zeros((0, n_folds))
    scores = np.concatenate(blocks, axis=2) if blocks else np.zeros((ids.shape[0], n_folds, 0))
    return ids, universe_median(scores)
