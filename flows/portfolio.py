"""Portfolios in a run: rows from the batches, then a chain of time-chunk tasks per portfolio.

Wiring only (the arithmetic is ``compute.allocation``, the bytes ``write_portfolio_table``):

1. ``stage_rows`` runs once per batch of symbols on a worker: load and validate the batch's
   bars, compute each portfolio's score and ``batch_rows``, stage the rows as Parquet in the
   run's staging area (``portfolio_rows/<label>/``, removed with it after publishing), and
   return the batch's distinct timestamps (a few thousand int64s, never rows).
2. The flow merges the timestamps into the calendar and cuts it into chunks of
   ``chunk_bars(n_symbols)`` bars. For each portfolio, ``walk_task`` runs per chunk as a
   Dask task that depends on the previous chunk's task: it reads only the staged rows of its
   time range, walks them from the state it is handed, writes the chunk's equity, orders and
   holdings, and returns the new state (a few values per symbol). Portfolios walk in
   parallel; the chunks of one portfolio in sequence.
3. ``metrics_task`` reads one portfolio's equity (one row per bar) and writes
   ``portfolio_metrics``: the return metrics of ``compute.metrics`` and, with a benchmark,
   the relative ones.

The four portfolio tables (``PORTFOLIO_TABLES``) are declared in ``storage.tables`` like the
other outputs (switch ``write_portfolios``): ``write_portfolio_table`` stages a part of one
(``storage.outputs.write_staged``), and the run publishes them with everything else. Equity,
orders and holdings are ``series`` tables: a night continuing a portfolio stages only the
rows after its saved bar and ``run_configured`` tells the publish which portfolios are
appended to, replaced whole or gone (``storage.runs.Series``); what was published is read
through storage (``storage.runs.read_last_snapshot``, ``read_series``).
``read_portfolio_table`` reads one portfolio's published rows, ``read_staged`` a run's staged
ones (before publishing). Local output roots only, for now.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from compute import allocation, pipeline
from compute.allocation import PortfolioRules, PortfolioState
from compute.errors import ConfigError
from storage import bars, outputs, runs, tables, validate
from storage.schemas import PORTFOLIO_METRICS

PORTFOLIO_TABLES = (
    "portfolio_equity",
    "portfolio_orders",
    "portfolio_holdings",
    "portfolio_metrics",
)
CELLS_PER_CHUNK = 1_000_000  # at most, time × symbol cells of a walk task's grids
SCAN_ROWS = 32_768  # staged rows a walk task reads at a time
# A walk task's memory above its worker's baseline, per grid cell: 41 B of grids, the
# kernel's scratch and outputs, the benchmark's returns (measured: 90 MB for 1 M cells,
# 160 symbols x 6,250 bars, peak VmHWM above the RSS before the task).
WALK_BYTES_PER_CELL = 96
# Share of a worker's memory limit a walk task may take: after the batches a 600 MB worker
# already holds ~400 MB (tests/integration/test_larger_than_memory.py), 80 MB under its
# pause threshold.
WALK_MEMORY_FRACTION = 0.05


@dataclass(frozen=True)
class PortfolioSpec:
    """One configured portfolio as plain picklable values."""

    rules: PortfolioRules
    score: dict[str, Any]
    benchmark: str | None = None


@dataclass(frozen=True)
class RowsJob:
    """Phase 1 of one batch: its symbols (with their universe index) and every portfolio."""

    run_id: str
    batch: int
    symbols: tuple[str, ...]
    symbol_ids: tuple[int, ...]
    input_path: str
    input_options: dict[str, Any]
    output_path: str
    start: str | None
    end: str | None
    min_bars: int
    portfolios: tuple[PortfolioSpec, ...] = field(default_factory=tuple)
    row_group_rows: int = 65_536  # staged rows per Parquet row group
    last_bar_at: tuple[int, ...] = ()  # saved bars (µs): report each symbol's last bar up to each


def chunk_bars(n_symbols: int, n_times: int, worker_memory: int | None = None) -> int:
    """Chunk length: ``CELLS_PER_CHUNK`` cells of the (time × symbol) grid, fewer when a
    worker's memory limit allows less (``WALK_MEMORY_FRACTION`` of it), at least one bar."""
    cells = CELLS_PER_CHUNK
    if worker_memory:
        cells = min(cells, int(worker_memory * WALK_MEMORY_FRACTION) // WALK_BYTES_PER_CELL)
    return max(1, min(max(n_times, 1), cells // max(n_symbols, 1)))


def worker_memory(client: Any) -> int | None:
    """The smallest memory limit of the cluster's workers (None: no limit)."""
    limits = [
        w.get("memory_limit") or 0 for w in client.scheduler_info(n_workers=-1)["workers"].values()
    ]
    return min(limits) if limits and min(limits) > 0 else None


def _rows_dir(output_path: str, run_id: str, label: str) -> str:
    return os.path.join(outputs.staging_dir(output_path, run_id), "portfolio_rows", label)


def stage_rows(job: RowsJob) -> dict[str, Any]:
    """Load, validate, score and stage one batch's portfolio rows; return its timestamps."""
    fs = None
    if job.input_options and "://" in job.input_path:
        import fsspec

        fs = fsspec.filesystem(job.input_path.split("://", 1)[0], **job.input_options)
    table = bars.load_bars(
        job.input_path,
        symbols=job.symbols,
        start=job.start,
        end=job.end,
        filesystem=fs,
        allow_empty=True,
    )
    clean, _, _ = validate.validate_bars(table, job.min_bars)
    clean = bars.sort_bars(clean)  # no copy when the file is already in that order
    # the symbols from a run-end encoding, not one Python string per bar
    names, offsets = pipeline.segments(clean)
    starts = offsets[:-1]
    index = dict(zip(job.symbols, job.symbol_ids, strict=True))
    ids = [index[s] for s in names]
    inputs = {f: clean[f].to_numpy() for f in ("open", "high", "low", "close", "volume")}
    ts = clean["timestamp"].cast(pa.int64()).to_numpy()
    for spec in job.portfolios:
        score = allocation.compute_score(spec.score, inputs, offsets)
        rows = allocation.batch_rows(
            ts, inputs["open"], inputs["close"], inputs["volume"], score, offsets, ids, spec.rules
        )
        where = _rows_dir(job.output_path, job.run_id, spec.rules.label)
        os.makedirs(where, exist_ok=True)
        # by time, one row group of about a chunk's rows at a time: a chunk's read skips the
        # others, and only one group is copied at once
        schema = pa.table({k: rows[k][:0] for k in allocation.ROW_FIELDS}).schema
        with pq.ParquetWriter(
            os.path.join(where, f"batch-{job.batch:05d}.parquet"),
            schema,
            compression="none",  # temporary rows: dictionary and snappy cost 3x the write
            use_dictionary=False,
        ) as writer:
            for group in allocation.rows_by_time(rows, max(1, job.row_group_rows)):
                writer.write_table(pa.table(group, schema=schema))
        del rows, score
    pa.default_memory_pool().release_unused()
    first = {str(s): int(ts[i]) for s, i in zip(names, starts, strict=True)}
    # per saved bar, each symbol's last bar at or before it: (time, close)
    last_at: dict[int, dict[str, tuple[int, float]]] = {}
    for cut in job.last_bar_at:
        last_at[cut] = {}
        for name, lo, hi in zip(names, offsets[:-1], offsets[1:], strict=True):
            i = int(lo) + int(np.searchsorted(ts[lo:hi], cut, side="right")) - 1
            if i >= lo:
                last_at[cut][str(name)] = (int(ts[i]), float(inputs["close"][i]))
    return {
        "batch": job.batch,
        "timestamps": np.unique(ts),
        "n_rows": int(clean.num_rows),
        "first_us": first,
        "last_at": last_at,
    }


def walk_task(
    state: PortfolioState,
    spec: PortfolioSpec,
    output_path: str,
    run_id: str,
    symbols: tuple[str, ...],
    calendar_us: np.ndarray,
    rebalance: np.ndarray,
    bar_offset: int,
    part: int,
) -> PortfolioState:
    """Walk one chunk of one portfolio from ``state``; write its records; return the state."""
    label = spec.rules.label
    rows_ds = ds.dataset(_rows_dir(output_path, run_id, label))
    lo, hi = int(calendar_us[0]), int(calendar_us[-1])
    n = len(symbols)
    # one record batch at a time into the grids: the grids are all the task holds
    grids = allocation.new_grids(calendar_us.shape[0], n)
    scanner = rows_ds.scanner(
        columns=list(allocation.ROW_FIELDS),
        filter=(pc.field("timestamp") >= lo) & (pc.field("timestamp") <= hi),
        use_threads=False,
        batch_size=SCAN_ROWS,
        batch_readahead=0,
        fragment_readahead=1,  # 0 never finishes (pyarrow 26, measured)
    )
    for batch in scanner.to_batches():
        allocation.scatter_rows(
            grids,
            calendar_us,
            {f: batch.column(f).to_numpy(zero_copy_only=False) for f in allocation.ROW_FIELDS},
        )
        del batch
    pa.default_memory_pool().release_unused()
    bench: int | str | None = spec.benchmark
    if bench is not None and bench != "equal_weight":
        bench = symbols.index(bench)
    bench_ret = allocation.benchmark_returns(grids["close"], state.last_close, bench)
    result, new_state = allocation.walk_grids(grids, rebalance, state, spec.rules, bar_offset)
    del grids
    ts = pa.array(calendar_us, pa.timestamp("us", tz="UTC"))
    names = np.asarray(symbols, dtype=object)
    equity = pa.table(
        {
            "timestamp": ts,
            **{k: pa.array(v) for k, v in result.bars.items()},
            "benchmark_return": pa.array(bench_ret),
        }
    )
    o = result.orders
    orders = pa.table(
        {
            "timestamp": pa.array(calendar_us[o["bar"] - bar_offset], pa.timestamp("us", tz="UTC")),
            "symbol": pa.array(names[o["symbol"]], pa.string()),
            "side": pa.array(np.where(o["side"] > 0, "buy", "sell"), pa.string()),
            "quantity": o["quantity"],
            "price": o["price"],
            "fees": o["fees"],
            "requested_quantity": o["requested_quantity"],
            "reason": pa.array(
                np.asarray(allocation.ORDER_REASONS, dtype=object)[o["reason"]], pa.string()
            ),
        }
    )
    h = result.holdings
    holdings = pa.table(
        {
            "timestamp": pa.array(calendar_us[h["bar"] - bar_offset], pa.timestamp("us", tz="UTC")),
            "symbol": pa.array(names[h["symbol"]], pa.string()),
            "quantity": h["quantity"],
            "weight": h["weight"],
            "target_weight": h["target_weight"],
        }
    )
    for table_name, data in (
        ("portfolio_equity", equity),
        ("portfolio_orders", orders),
        ("portfolio_holdings", holdings),
    ):
        write_portfolio_table(output_path, run_id, table_name, label, data, part)
    pa.default_memory_pool().release_unused()  # Arrow's pool keeps what it freed otherwise
    return new_state


def metrics_task(
    spec: PortfolioSpec,
    output_path: str,
    run_id: str,
    annualization: float,
    risk_free: float,
    earlier: pa.Table | None = None,
) -> dict[str, Any]:
    """Stage ``portfolio_metrics`` of one portfolio from its equity (a row per bar): the staged
    rows, after ``earlier`` (its published rows before a continued walk's first bar)."""
    label = spec.rules.label
    equity = read_staged(output_path, run_id, "portfolio_equity", label)
    if earlier is not None:  # a continued portfolio: its published bars, then tonight's
        equity = pa.concat_tables([earlier.select(equity.column_names).cast(equity.schema), equity])
    equity = equity.sort_by("timestamp")
    bench = equity["benchmark_return"].to_numpy() if spec.benchmark is not None else None
    row: dict[str, Any] = {"portfolio": label, "benchmark": spec.benchmark}
    row["n_bars"] = equity.num_rows
    row.update(
        allocation.portfolio_metrics(
            equity["equity"].to_numpy(), bench, annualization=annualization, risk_free=risk_free
        )
    )
    for name in ("max_drawdown_peak", "max_drawdown_trough"):  # bar index -> its time
        i = int(row[name])
        row[name] = equity["timestamp"][i].as_py() if i >= 0 else None
    names = [n for n in PORTFOLIO_METRICS.names if n not in ("run_id", "portfolio")]
    data = pa.table({n: pa.array([row.get(n)], PORTFOLIO_METRICS.field(n).type) for n in names})
    write_portfolio_table(output_path, run_id, "portfolio_metrics", label, data, 0)
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def run_portfolios(
    client: Any,
    specs: list[PortfolioSpec],
    batches: list[tuple[str, ...]],
    *,
    run_id: str,
    input_path: str,
    output_path: str,
    input_options: dict[str, Any] | None = None,
    start: str | None = None,
    end: str | None = None,
    min_bars: int = 1,
    annualization: float = 252.0,
    risk_free: float = 0.0,
    paused_timeout_s: float = 300.0,
    resume: Mapping[str, Resume] | None = None,
    states: dict[str, SavedState] | None = None,
    continued: set[str] | None = None,
    reasons: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Both phases on the Dask cluster behind ``client``; returns each portfolio's metrics.

    When every worker stays paused at its memory limit for ``paused_timeout_s`` seconds while
    tasks wait, the run fails with a ConfigError (Dask would wait for ever).

    ``resume``: per portfolio label, what a night may continue from (``Resume``); a portfolio
    ``continue_from`` accepts walks only the bars after the saved one and stages only their
    rows (its metrics cover its earlier equity too). ``states``: filled with each
    portfolio's state after the run's last bar, to save for the next night; ``continued``:
    with the labels of the portfolios continued; ``reasons``: with why each portfolio with a
    ``resume`` entry was walked whole, or how many new bars a continued one walked.
    """
    if not specs:
        return []
    warm_kernels(specs)
    symbols = tuple(s for batch in batches for s in batch)
    saved_bars = {h.saved.last_us for h in (resume or {}).values() if h.saved is not None}
    ids = {s: i for i, s in enumerate(symbols)}
    for i, spec in enumerate(specs):
        if spec.benchmark not in (None, "equal_weight") and spec.benchmark not in ids:
            raise ConfigError(
                f"config key 'portfolio[{i}].benchmark' = {spec.benchmark!r} is not a symbol of "
                f"the run's universe ({len(symbols)} symbols); give one, or 'equal_weight'"
            )
    jobs = [
        RowsJob(
            run_id=run_id,
            batch=b,
            symbols=batch,
            symbol_ids=tuple(ids[s] for s in batch),
            input_path=input_path,
            input_options=dict(input_options or {}),
            output_path=output_path,
            start=start,
            end=end,
            min_bars=min_bars,
            portfolios=tuple(specs),
            last_bar_at=tuple(sorted(saved_bars)),
        )
        for b, batch in enumerate(batches)
    ]
    staged = _gather(
        client,
        client.map(stage_rows, jobs, key=[f"portfolio-rows-{run_id}-{j.batch}" for j in jobs]),
        paused_timeout_s,
    )
    cal = allocation.calendar(np.concatenate([s["timestamps"] for s in staged] or [[]]))
    step = chunk_bars(len(symbols), cal.shape[0], worker_memory(client))
    first_us: dict[str, int] = {}
    last_at: dict[int, dict[str, tuple[int, float]]] = {cut: {} for cut in saved_bars}
    for s in staged:
        first_us.update(s["first_us"])
        for cut, bars_at in s["last_at"].items():
            last_at[cut].update(bars_at)
    finals = []
    earlier: dict[str, pa.Table | None] = {}
    for spec in specs:
        label = spec.rules.label
        sched = allocation.rebalance_schedule(cal, spec.rules.rebalance)
        state: Any = PortfolioState.initial(len(symbols), spec.rules.init_cash)
        begin = 0
        how = (resume or {}).get(label)
        earlier[label] = None
        if how is not None:
            start, reason = continue_from(
                how.saved,
                symbols,
                first_us,
                how.signature,
                full=False,
                restated=how.restated,
                extended_after=how.extended_after,
                decisions_us=None if spec.rules.rebalance == "signal" else cal[sched],
                benchmark=spec.benchmark,
                last_at=last_at.get(how.saved.last_us) if how.saved else None,
            )
            after = int(np.searchsorted(cal, how.saved.last_us, side="right")) if how.saved else 0
            # whole when the published equity is not one row per bar up to the saved one (a
            # night without portfolios emptied it, say); no new bar: nothing to walk
            kept = how.equity.num_rows if how.equity is not None else -1
            if start is not None and 0 < after <= cal.shape[0] and kept == after:
                state = start
                begin = after
                earlier[label] = how.equity
                if continued is not None:
                    continued.add(label)
                new = cal.shape[0] - after
                reason = f"continued: {new} new bar(s) walked" if new else "continued, no new bar"
            elif start is not None:
                reason = "its published equity is not one row per bar up to the saved one"
            if reasons is not None:
                reasons[label] = reason
        for part, lo in enumerate(range(begin, cal.shape[0], step)):
            hi = min(lo + step, cal.shape[0])
            state = client.submit(
                walk_task,
                state,
                spec,
                output_path,
                run_id,
                symbols,
                cal[lo:hi],
                sched[lo:hi],
                lo,
                part,
                key=f"portfolio-walk-{run_id}-{spec.rules.label}-{part}",
            )
        finals.append(state)
    walked = iter(
        _gather(client, [f for f in finals if not isinstance(f, PortfolioState)], paused_timeout_s)
    )
    ends = [f if isinstance(f, PortfolioState) else next(walked) for f in finals]
    if states is not None and cal.shape[0]:
        for spec, end_state in zip(specs, ends, strict=True):
            sig = (resume or {}).get(spec.rules.label)
            states[spec.rules.label] = SavedState(
                symbols, end_state, int(cal[-1]), sig.signature if sig else ""
            )
    return _gather(
        client,
        [
            client.submit(
                metrics_task,
                spec,
                output_path,
                run_id,
                annualization,
                risk_free,
                earlier[spec.rules.label],
                key=f"portfolio-metrics-{run_id}-{spec.rules.label}",
            )
            for spec in specs
        ],
        paused_timeout_s,
    )


def _gather(client: Any, futures: list[Any], paused_timeout_s: float) -> list[Any]:
    """``client.gather``, failing when every worker stays paused while futures wait."""

    from distributed import TimeoutError as DaskTimeout
    from distributed import wait

    from flows.nightly import PauseWatch

    pending = set(futures)
    watch = PauseWatch(client, paused_timeout_s)
    while pending:
        try:
            done, pending = wait(pending, timeout=1, return_when="FIRST_COMPLETED")
        except DaskTimeout:
            done = set()
        if (paused := watch.stalled(bool(done))) is not None:
            client.cancel(futures)
            raise ConfigError(
                f"every Dask worker has been paused at its memory limit for "
                f"{paused_timeout_s:g} s with {len(pending)} portfolio task(s) waiting "
                f"({paused}): raise the worker memory limit (--memory-limit)"
            )
    return list(client.gather(futures))


def warm_kernels(specs: list[PortfolioSpec]) -> None:
    """Compile (or load from the numba cache) every kernel the portfolios use, in this process,
    so that workers under a small memory limit load them instead of compiling them (the
    compiler's few hundred MiB would park a 600 MB worker at Dask's pause threshold; see
    ``flows.nightly.warm_kernels``)."""
    from compute import synthetic

    n = 400
    bars = [synthetic.generate_symbol(n, 1, index=i) for i in range(2)]
    cols = {f: np.concatenate([b[f] for b in bars]) for f in ("open", "high", "low", "close")}
    cols["volume"] = np.concatenate([b["volume"] for b in bars]).astype(np.float64)
    ts = np.concatenate([b["timestamp"] for b in bars]).astype(np.int64)
    offsets = np.array([0, n, 2 * n], dtype=np.int64)
    for spec in specs:
        score = allocation.compute_score(spec.score, cols, offsets)
        allocation.simulate_portfolio(
            ts, cols["open"], cols["close"], cols["volume"], score, offsets, spec.rules, chunk=n
        )


def worker_peaks(client: Any) -> dict[str, int]:
    """Each worker's peak resident memory so far (``VmHWM``), keyed ``host:pid`` like the
    batches' summaries: the portfolio phase runs after them, so they cannot report it."""
    return dict(client.run(_peak).values())


def _peak() -> tuple[str, int]:
    from flows.tasks import peak_rss_bytes

    return f"{socket.gethostname()}:{os.getpid()}", peak_rss_bytes()


def run_configured(
    client: Any,
    settings: Any,
    jobs: list[Any],
    night: Any = None,
    conn: Any = None,
    echo: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, runs.Series]]:
    """``run_portfolios`` for the run's ``portfolio:`` entries over the batches it planned
    (``flows.tasks.BatchJob``s: their symbols, input, dates, minimum bars, annualization).

    With the night (``storage.runs.Night``) and ``barpipe.db``: a portfolio continues from
    the state the last night published (``portfolio_state``) when ``continue_from`` allows,
    and stages only the rows after the saved bar; every portfolio's state is staged. Returns
    each portfolio's metrics and what the night changes in the portfolio tables
    (``storage.runs.Series`` by label column, for ``Night.series``): the continued portfolios
    with their saved bar, the others whole, and the published ones no longer configured.
    ``echo`` (a callable) gets one line per portfolio: continued, or why it was walked whole.
    """
    import hashlib
    import json

    from flows.nightly import output_root
    from flows.settings import portfolio_rules

    if not settings.portfolio or not jobs:
        return [], {}
    specs = [
        PortfolioSpec(
            rules=portfolio_rules(p, settings.backtest),
            score=p.score.model_dump(),
            benchmark=p.benchmark,
        )
        for p in settings.portfolio
    ]
    first = jobs[0]
    out = first.output.path
    root = output_root(settings)
    saved = equity = None
    if night is not None and conn is not None and not night.full:
        saved = runs.read_last_snapshot(root, conn, "portfolio_state")
        equity = runs.read_series(root, "portfolio_equity")
    resume = {}
    for spec in specs:
        label = spec.rules.label
        # The computation's part of the night's signature: with metrics.benchmark set, the
        # rest digests the sleeves' benchmark up to the last bar, which moves every night
        # and is not an input of the walk (a portfolio's own benchmark is in its spec).
        computation = getattr(night, "signature", "").split("/")[0]
        digest = json.dumps(
            [computation, repr(spec), first.start, first.end, first.min_bars],
            sort_keys=True,
            default=str,
        )
        state = read_state(saved, label) if saved is not None else None
        resume[label] = Resume(
            state,
            hashlib.sha256(digest.encode()).hexdigest()[:20],
            restated=tuple(getattr(night, "whole", ())),
            equity=_of(equity, label),
            extended_after={
                s: night.cutoff_us[s]
                for s in getattr(night, "extended", ())
                if s in night.cutoff_us
            },
        )
    states: dict[str, SavedState] = {}
    continued: set[str] = set()
    reasons: dict[str, str] = {}
    rows = run_portfolios(
        client,
        specs,
        [j.symbols for j in jobs],
        run_id=first.run_id,
        input_path=first.input_path,
        input_options=first.input_options,
        output_path=first.output.path,
        start=first.start,
        end=first.end,
        min_bars=first.min_bars,
        annualization=first.annualization,
        risk_free=first.risk_free,
        paused_timeout_s=settings.batches.paused_timeout_s,
        resume=resume,
        states=states,
        continued=continued,
        reasons=reasons,
    )
    if echo is not None and night is not None and not night.full:
        for label, why in reasons.items():
            echo(f"portfolio {label}: " + (why if label in continued else f"walked whole, {why}"))
    for label, end in states.items():
        data = state_table(label, end.symbols, end.state, end.last_us, end.signature)
        data = data.append_column("run_id", pa.array([first.run_id] * data.num_rows))
        outputs.write_staged(data, out, first.run_id, "portfolio_state", label)
    labels = [spec.rules.label for spec in specs]
    published = set(equity["portfolio"].to_pylist()) if equity is not None else set()
    change = runs.Series(
        whole=[label for label in labels if label not in continued],
        extended={
            label: resume[label].saved.last_us  # type: ignore[union-attr]
            for label in labels
            if label in continued
        },
        removed=sorted(published - set(labels)),
    )
    return rows, {"portfolio": change}


def _of(table: pa.Table | None, label: str) -> pa.Table | None:
    return None if table is None else table.filter(pc.equal(table["portfolio"], label))


def write_portfolio_table(
    output_path: str, run_id: str, table: str, label: str, data: pa.Table, part: int
) -> list[str]:
    """Stage one part of one portfolio's rows of a portfolio table (the tables' one writer)."""
    data = data.append_column("portfolio", pa.array([label] * data.num_rows, pa.string()))
    data = data.append_column("run_id", pa.array([run_id] * data.num_rows, pa.string()))
    return outputs.write_staged(data, output_path, run_id, table, f"{label}-{part:05d}")


def read_staged(output_path: str, run_id: str, table: str, label: str) -> pa.Table:
    """One portfolio's staged rows of ``table`` in run ``run_id`` (before publishing)."""
    return outputs.read_staged(output_path, run_id, table, label)


def read_portfolio_table(
    output_path: str, table: str, label: str, run_key: str | None = None
) -> pa.Table:
    """One portfolio's published rows of ``table``: every bar of the series tables (equity,
    orders, holdings; ``run_key`` is then the night that published each row), the snapshot
    of ``run_key`` of ``portfolio_metrics`` and ``portfolio_state`` (every snapshot if None)."""
    keys = None if run_key is None or tables.spec(table).kind == "series" else [run_key]
    return outputs.read_output(output_path, table, run_keys=keys, labels=[label])


# --- Nights that extend the portfolio tables (issue 15 item 3; wired in ``run_configured``) ---
#
# A night may continue a portfolio instead of walking its whole history again: phase 1 runs
# over the whole input as above (scores, filters and the rebalance schedule need the history
# before the cut), and phase 2 walks only the calendar's bars after the last published bar,
# starting from the state saved at that bar (``state_table``). A walk cut in two there equals
# one walk (tests/unit/test_portfolio_nights.py).

STATE_FIELDS = ("position", "last_close", "target", "pending", "selection")
_DTYPES = {"position": np.float64, "last_close": np.float64, "target": np.float64}
_DTYPES.update(pending=np.int8, selection=np.int8)
_STORED = {f: np.int64 if d is np.int8 else d for f, d in _DTYPES.items()}


def state_table(
    label: str, symbols: tuple[str, ...], state: PortfolioState, last_us: int, signature: str
) -> pa.Table:
    """One portfolio's walk state after its last published bar, a row per symbol in the walk's
    order (``symbol_index``); cash, the bar and the computation's signature on every row."""
    n = len(symbols)
    return pa.table(
        {
            "portfolio": pa.array([label] * n, pa.string()),
            "symbol_index": pa.array(np.arange(n), pa.int64()),
            "symbol": pa.array(list(symbols), pa.string()),
            **{f: pa.array(np.asarray(getattr(state, f), dtype=_STORED[f])) for f in STATE_FIELDS},
            "cash": pa.array(np.full(n, state.cash), pa.float64()),
            "last_timestamp_us": pa.array(np.full(n, last_us), pa.int64()),
            "signature": pa.array([signature] * n, pa.string()),
        }
    )


@dataclass(frozen=True)
class SavedState:
    """A portfolio's state as ``state_table`` saved it."""

    symbols: tuple[str, ...]
    state: PortfolioState
    last_us: int
    signature: str


@dataclass(frozen=True)
class Resume:
    """What ``run_portfolios`` may continue one portfolio from: its saved state (None: none),
    tonight's signature of its computation and config, the restated symbols, and its
    published equity rows up to the saved bar (for the metrics over the whole history)."""

    saved: SavedState | None
    signature: str
    restated: tuple[str, ...] = ()
    equity: pa.Table | None = None
    extended_after: Mapping[str, int] | None = None


def read_state(table: pa.Table, label: str) -> SavedState | None:
    """``label``'s saved state from a ``state_table`` (of any portfolios); None if absent."""
    rows = table.filter(pc.equal(table["portfolio"], label)).sort_by("symbol_index")
    if rows.num_rows == 0:
        return None
    arrays = {f: rows[f].to_numpy().astype(_DTYPES[f]) for f in STATE_FIELDS}
    return SavedState(
        symbols=tuple(rows["symbol"].to_pylist()),
        state=PortfolioState(cash=float(rows["cash"][0].as_py()), **arrays),
        last_us=int(rows["last_timestamp_us"][0].as_py()),
        signature=str(rows["signature"][0].as_py()),
    )


def continue_from(
    saved: SavedState | None,
    symbols: tuple[str, ...],
    first_us: dict[str, int],
    signature: str,
    *,
    full: bool,
    restated: tuple[str, ...] = (),
    extended_after: Mapping[str, int] | None = None,
    decisions_us: np.ndarray | None = None,
    benchmark: str | None = None,
    last_at: Mapping[str, tuple[int, float]] | None = None,
) -> tuple[PortfolioState | None, str]:
    """The state a night continues a portfolio from, laid out in the night's symbol order, or
    None and why the portfolio is recomputed whole.

    ``symbols``: the night's universe in walk order; ``first_us``: each symbol's first valid
    bar (a saved symbol without one, quarantined tonight say, counts as vanished);
    ``restated``: the symbols whose published bars changed; ``extended_after``: the symbols
    with new bars, each with its last published bar. Whole on ``--full``, nothing saved, a
    changed computation or portfolio config (``signature``), a restated symbol, a vanished
    symbol, a new symbol with a bar at or before the last published bar, or the old symbols
    in another order (ties go to the lower symbol index, so the order is part of the result).
    A new symbol whose bars all come later joins with the initial state a whole walk would
    have given it at that bar.

    A symbol that lagged (extended from before the saved bar: its new bars may fall inside
    the walked history) is continued when those bars cannot have changed the walk: the walk
    saw the symbol without a bar there, so it kept its position and filled nothing of it
    (the rule for a symbol without a bar). That is exact when, at the saved bar, it holds no
    position and has no order pending (so none was held or pending since its last bar: only
    its own bars fill it), no decision bar (``decisions_us``, the timestamps of the
    rebalance schedule; None: any bar may decide, ``rebalance: signal``) falls after its
    last published bar up to the saved one (so the ranking never saw its late bars), and the
    portfolio's ``benchmark`` is neither ``equal_weight`` nor that symbol (the published
    benchmark returns would miss them). ``last_at`` (each symbol's last bar at or before the
    saved one, ``(time µs, close)``) then gives its last close, as a whole walk has it; a
    symbol whose late bars all come after the saved bar (a gap) continues unconditionally.
    """
    if full:
        return None, "--full"
    if saved is None:
        return None, "nothing published yet"
    if saved.signature != signature:
        return None, "the computation or the portfolio config changed"
    old = set(saved.symbols)
    if any(s in old for s in restated):
        return None, f"symbol {next(s for s in restated if s in old)!r} was restated"
    lagging = {s: last for s, last in (extended_after or {}).items() if last < saved.last_us}
    late: dict[str, float] = {}  # a lagging symbol's close at its last bar up to the saved one
    for s, last in sorted(lagging.items()):
        why = _late_bars_matter(saved, s, last, decisions_us, benchmark, last_at)
        if why:
            return None, f"symbol {s!r} got bars before the last published bar{why}"
        if s in old and last_at is not None and s in last_at:
            late[s] = last_at[s][1]
    gone = [s for s in saved.symbols if s not in set(symbols) or s not in first_us]
    if gone:
        return None, f"symbol {gone[0]!r} vanished"
    early = [s for s in symbols if s not in old and first_us.get(s, saved.last_us) <= saved.last_us]
    if early:
        return None, f"new symbol {early[0]!r} has bars before the last published bar"
    if tuple(s for s in symbols if s in old) != saved.symbols:
        return None, "the symbols' order changed"
    fresh = PortfolioState.initial(len(symbols), saved.state.cash)
    where = np.array([symbols.index(s) for s in saved.symbols], dtype=np.int64)
    for f in STATE_FIELDS:
        getattr(fresh, f)[where] = getattr(saved.state, f)
    for s, close in late.items():
        fresh.last_close[symbols.index(s)] = close
    return fresh, ""


def _late_bars_matter(
    saved: SavedState,
    symbol: str,
    last_us: int,
    decisions_us: np.ndarray | None,
    benchmark: str | None,
    last_at: Mapping[str, tuple[int, float]] | None,
) -> str:
    """Why ``symbol``'s bars after ``last_us`` up to the saved bar may change the walked
    history ('' when they cannot; see ``continue_from``)."""
    if symbol not in saved.symbols:
        return ""  # not in the walk: the new-symbol rules decide
    if last_at is None or symbol not in last_at:
        return " (its last bar up to the saved one is unknown)"
    if last_at[symbol][0] <= last_us:
        return ""  # no bar inside the walked history: the walk saw the input as it is
    i = saved.symbols.index(symbol)
    if saved.state.position[i] != 0.0 or saved.state.pending[i] != 0:
        return " while held or with an order pending"
    if decisions_us is None:
        return " and any bar may rebalance (signal)"
    if np.any((decisions_us > last_us) & (decisions_us <= saved.last_us)):
        return " over a rebalance decision"
    if benchmark in ("equal_weight", symbol):
        return f" and the benchmark ({benchmark}) has them"
    return ""
