"""The nightly flow's orchestration: plan → compute batches on Dask → publish → summary.

Only wiring lives here; the run protocol (recover, publish, markers, staging of planned
quarantine) is ``storage.runs``, driven by the table declaration ``storage.tables``.
Modules import in one direction: ``flows.launch`` (CLI entry) → ``flows.flow`` (the Prefect
flow) → this module. Steps and where each lives:

1. ``flows.launch.run_nightly`` (CLI entry): configures Prefect, starts its API server (or
   finds one) in the background while the Dask cluster starts (``open_run_cluster``, the one
   place a run opens its cluster), then calls the ``nightly`` flow.
2. ``flows.flow.nightly`` (Prefect flow, body in ``execute``): takes the output root's run
   lock (storage.db.run_lock: wait or refuse), then ``storage.runs.recover`` cleans up after
   dead runs. Then it records the run and runs the three tasks below; on any error the run is
   recorded ``failed``, its staging is deleted and nothing is published.
3. ``plan`` task: scans the input's symbols (storage.bars.scan_symbols: dataset-level
   problems stop the run here), applies the universe filter and sizes batches from worker
   memory (compute.planner). Rows with a null symbol, and symbols too large for any batch
   (``too_large_for_worker``), are quarantined here. The plan is stored with the run
   (``run_plans``, ``run_batches``) and echoed in one line; a worker limit that leaves no
   room for any batch fails the run (``check_plan``).
4. ``compute`` task: fans the batches out with the Dask client (``flows.tasks.process_batch``,
   one Dask task per batch), showing progress; tasks validate (quarantining bad symbols),
   stage their outputs and return summaries.
5. ``check_publishable``: ``--strict`` with any quarantine, no rows at all, or rows not
   accounted for fail the run here, before anything is published.
6. ``publish`` task: ``storage.runs.publish`` commits the staged tables to Parquet and SQLite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compute import indicators as indicator_registry
from compute import pipeline, planner
from compute import strategies as strategy_registry
from compute.errors import BarpipeError, ConfigError, DataError, ParameterError, StorageError
from flows import logs
from flows.cluster import ClusterInfo, open_cluster
from flows.settings import Settings
from flows.tasks import BatchJob, process_batch, warm_up, warm_worker

Echo = Callable[[str], None]


@dataclass
class RunSummary:
    """What a finished run reports to the CLI."""

    run_id: str
    run_key: str
    status: str
    n_symbols: int = 0
    n_bars: int = 0
    n_trades: int = 0
    n_rows_in: int = 0
    n_rows_quarantined: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    note_records: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    best: list[dict[str, Any]] = field(default_factory=list)
    worst: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    trades_by_side: dict[str, int] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    dashboard: str | None = None
    report_sleeves: list[bytes] = field(default_factory=list, repr=False)
    """The batches' report summaries (Arrow IPC), stored by ``publish_run``, then dropped."""
    night: Any = None  # storage.runs.Night: what this run changes in the tables
    log_file: str | None = None  # the run's library log (flows.logs), if one is open
    portfolios: list[dict[str, Any]] = field(default_factory=list)


def new_run_id(run_key: str) -> str:
    """A unique, path-safe run id: UTC time, then random hex."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def open_run_cluster(settings: Settings, address: str | None = None) -> Iterator[Any]:
    """The run's Dask cluster (``cluster.*`` settings; ``address`` overrides the setting):
    the one place a run opens it. Yields ``(client, ClusterInfo)``."""
    c = settings.cluster
    with open_cluster(
        address=address or c.address,
        n_workers=c.n_workers,
        threads_per_worker=c.threads_per_worker,
        memory_limit=c.memory_limit,
        dashboard_address=c.dashboard_address,
        host=c.host,
        processes=c.processes,
        keep_alive_s=c.keep_alive_s,
    ) as opened:
        yield opened


def execute(
    settings: Settings,
    client: Any,
    info: ClusterInfo,
    *,
    echo: Echo,
    progress: bool,
    task: Callable[..., Any] = lambda f: f,
) -> RunSummary:
    """The flow body; ``task`` wraps each step (a Prefect task decorator in the flow).

    Order matters for safety: the run lock comes first, then recovery of dead runs, then the
    run's record; every check that can fail the whole run (input readable, every batch
    computed, ``--strict``, at least one row) passes before ``publish_run`` touches outputs.
    """
    from storage import db, runs

    started = time.perf_counter()
    run_date = settings.run.run_date or dt.datetime.now(dt.UTC).date()
    run_key = settings.run.key or run_date.isoformat()
    run_id = new_run_id(run_key)
    out = settings.output
    db_path = out.resolved_db_path()
    runs.ensure_root(output_root(settings))
    summary = RunSummary(run_id=run_id, run_key=run_key, status="running", dashboard=info.dashboard)
    with db.run_lock(
        db_path, mode=settings.run.lock, timeout=settings.run.lock_timeout_s, echo=echo
    ):
        conn = db.connect(db_path)
        try:
            runs.recover(output_root(settings), conn, run_id, echo=echo)
            db.start_run(
                conn,
                run_id=run_id,
                run_key=run_key,
                config_hash=settings.config_hash(),
                input_fingerprint=_fingerprint(settings),
                pid=os.getpid(),
                host=socket.gethostname(),
            )
            if summary_log := logs.attach_run(run_id, client):
                summary.log_file = summary_log
                db.set_log_file(conn, run_id, summary_log)
            try:
                scan = scan_input(settings)  # dataset-level problems stop the run here
                plan, jobs, early = task(plan_run)(settings, info, run_id, scan)
                if settings.metrics.benchmark and jobs:
                    from flows.benchmark import attach_benchmark

                    clock = time.perf_counter()
                    jobs = task(attach_benchmark)(client, settings.metrics.benchmark, jobs)
                    summary.stages["benchmark"] = time.perf_counter() - clock
                jobs = prepare_night(
                    settings,
                    conn,
                    summary,
                    jobs,
                    echo=echo,
                    input_symbols=scan["symbol"].to_pylist(),
                )
                summary.plan = plan.to_dict()
                threads = max(info.n_threads // max(info.n_workers, 1), 1)
                db.record_plan(
                    conn,
                    run_id,
                    summary.plan,
                    n_workers=info.n_workers,
                    threads_per_worker=threads,
                )
                echo(
                    planner.describe_plan(
                        plan, n_workers=info.n_workers, threads_per_worker=threads
                    )
                )
                check_plan(plan)
                if jobs:
                    warm_kernels(jobs[0], echo=echo)
                results = task(compute_batches)(
                    client,
                    jobs,
                    progress=progress,
                    echo=echo,
                    paused_timeout_s=settings.batches.paused_timeout_s,
                )
                _collect(summary, plan, [*early, *results])
                if settings.portfolio:
                    from flows.portfolio import run_configured, worker_peaks

                    clock = time.perf_counter()
                    summary.portfolios, series = task(run_configured)(
                        client, settings, jobs, summary.night, conn, echo=echo
                    )
                    summary.night.series.update(series)
                    for worker, peak in worker_peaks(client).items():
                        summary.peak_rss[worker] = max(summary.peak_rss.get(worker, 0), peak)
                    summary.stages["portfolios"] = time.perf_counter() - clock
                db.record_notes(conn, run_id, run_key, summary.note_records)
                check_publishable(settings, summary)
                clock = time.perf_counter()
                summary.outputs = task(publish_run)(settings, conn, summary)
                summary.stages["publish"] = time.perf_counter() - clock
                summary.status = "succeeded"
            except BaseException as err:
                summary.status = "failed"
                summary.wall_seconds = time.perf_counter() - started
                _record_failure(settings, conn, summary, err, echo)
                raise
            summary.wall_seconds = time.perf_counter() - started
            db.finish_run(conn, run_id, status="succeeded", **_counts(summary))
            db.record_stages(conn, run_id, summary.stages, summary.peak_rss)
            summary.best, summary.worst = db.best_and_worst(conn, run_id, n=5)
            summary.outputs["metrics file"] = write_prom(settings, conn, summary)
            if settings.run.report:
                from flows.report import write_report

                summary.outputs["report"] = write_report(
                    out.path, run_id, db_path=db_path, filesystem=_fs(out.storage_options, out.path)
                )
        finally:
            conn.close()
    return summary


def published_tables(settings: Settings) -> list[str]:
    """The output tables this run writes, in publish order."""
    from storage import tables

    switches = [
        name
        for name, on in (
            ("write_equity", settings.output.write_equity),
            ("write_indicators", _writes_indicators(settings)),
            ("write_portfolios", bool(settings.portfolio)),
        )
        if on
    ]
    return tables.published_tables(switches)


def prepare_night(
    settings: Settings,
    conn: Any,
    summary: RunSummary,
    jobs: list[BatchJob],
    *,
    echo: Echo,
    input_symbols: Any = None,
) -> list[BatchJob]:
    """Give each batch the publish state of its symbols, or mark the night full (and say why).

    ``input_symbols`` (every symbol of the input, before the universe filter): published
    symbols the input no longer holds are removed from the tables this night.
    """
    import hashlib
    import json

    from storage import db, runs

    first = jobs[0] if jobs else None
    computation = (
        {}
        if first is None
        else {
            "indicators": [dataclasses.asdict(i) for i in first.indicators],
            "strategies": [dataclasses.asdict(s) for s in first.strategies],
            "backtest": first.backtest,
            "annualization": first.annualization,
            "risk_free": first.risk_free,
            **({"benchmark": b} if (b := settings.metrics.benchmark) else {}),
        }
    )
    signature = hashlib.sha256(json.dumps(computation, sort_keys=True, default=str).encode())
    expected = stored = signature.hexdigest()[:20]
    series = first.benchmark if first is not None else None
    if series is not None:
        # A skipped symbol keeps last night's metrics, which stay right only if the
        # benchmark's values up to last night's last bar are the same (a restated or new
        # symbol with history, or one gone from the input, changes an equal-weight past).
        stored, expected = _benchmark_signatures(conn, stored, series, published_tables(settings))
    full, reason, state = runs.prepare(
        conn, published_tables(settings), expected, full=settings.run.full
    )
    if full and series is not None and reason.startswith("the computation changed"):
        recorded = {r["signature"] for r in db.read_table_versions(conn).values()}
        if any(r.split("/")[0] == stored.split("/")[0] for r in recorded):
            reason = (
                f"the benchmark {series.name!r} changed before the last published bar "
                "(a restated, new or removed symbol with history)"
            )
    summary.night = runs.Night(
        full=full,
        signature=stored,
        cutoff_us={symbol: last for symbol, (last, _n, _fp) in state.items()},
    )
    if full and reason != "nothing published yet":
        echo(f"full run: {reason}")
    if not full and input_symbols is not None:
        summary.night.removed = runs.vanished(state, input_symbols)
        if summary.night.removed:
            names = ", ".join(summary.night.removed[:10])
            more = len(summary.night.removed) - 10
            echo(
                f"removing {len(summary.night.removed)} symbol(s) no longer in the input "
                f"from the tables: {names}" + (f" and {more} more" if more > 0 else "")
            )
    return [
        dataclasses.replace(
            job, full=full, published={s: state[s] for s in job.symbols if s in state}
        )
        for job in jobs
    ]


def _benchmark_past(series: Any, upto_us: int) -> str:
    """A digest of the benchmark's timestamps and values up to ``upto_us`` (inclusive)."""
    import hashlib

    import numpy as np

    n = int(np.searchsorted(series.timestamp_us, upto_us, side="right"))
    digest = hashlib.sha256(np.ascontiguousarray(series.timestamp_us[:n]).tobytes())
    digest.update(np.ascontiguousarray(series.value[:n], dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def _benchmark_signatures(
    conn: Any, computation: str, series: Any, tables: Iterable[str]
) -> tuple[str, str]:
    """The signature this night records, and the one last night's must equal.

    Both are ``<computation>/<last µs>/<digest of the benchmark up to it>``: the recorded
    one ends at this night's last benchmark timestamp; the expected one ends at the last
    night's, so new bars after it never force a full night but any change before it does.
    """
    from storage import db

    last = int(series.timestamp_us[-1]) if len(series.timestamp_us) else 0
    stored = f"{computation}/{last}/{_benchmark_past(series, last)}"
    expected = stored
    recorded = db.read_table_versions(conn)
    for rec in (recorded[t] for t in tables if t in recorded):  # the tables this night writes
        parts = str(rec["signature"]).split("/")
        if len(parts) == 3 and parts[0] == computation and parts[1].lstrip("-").isdigit():
            before = int(parts[1])
            expected = f"{computation}/{before}/{_benchmark_past(series, before)}"
            break
    return stored, expected


def check_plan(plan: planner.Plan) -> None:
    """Fail the run when the worker memory limit leaves no room for any batch."""
    if plan.no_room and plan.refused:
        raise ConfigError(f"no batch can run on these workers: {plan.reason}")


def check_publishable(settings: Settings, summary: RunSummary) -> None:
    """The whole-run conditions checked after compute and before anything is published."""
    if settings.run.strict and summary.quarantine:
        first = summary.quarantine[0]
        raise DataError(
            f"--strict: {len(summary.quarantine)} symbol(s) quarantined, first "
            f"{first['symbol']!r} ({first['reason']}): {first['detail']}"
        )
    if summary.n_rows_in == 0:
        dates = settings.dates
        window = (
            f" between {dates.start or 'the start'} and {dates.end or 'the end'}"
            if dates.start or dates.end
            else ""
        )
        raise DataError(f"no rows to process in {settings.input.path}{window}")
    accounted = summary.n_bars + summary.n_rows_quarantined
    if accounted != summary.n_rows_in:  # a bug, never bad data: refuse to publish
        raise DataError(
            f"{summary.n_rows_in} rows read but {summary.n_bars} processed + "
            f"{summary.n_rows_quarantined} quarantined = {accounted}; nothing published"
        )


def _record_failure(
    settings: Settings, conn: Any, summary: RunSummary, err: BaseException, echo: Echo
) -> None:
    """Record a failed run and remove its staging; a cleanup error never hides ``err``."""
    from storage import db, runs

    steps: list[tuple[str, Callable[[], Any]]] = [
        (
            "record the failure",
            lambda: db.finish_run(
                conn, summary.run_id, status="failed", error=_one_line(err), **_counts(summary)
            ),
        ),
        (
            "remove the staging area",
            lambda: runs.discard(output_root(settings), summary.run_id),
        ),
        ("write barpipe.prom", lambda: write_prom(settings, conn, summary)),
    ]
    for what, step in steps:
        try:
            step()
        except Exception as cleanup:  # reported, then the run's own error is raised
            echo(f"warning: could not {what} after the run failed: {_one_line(cleanup)}")


def scan_input(settings: Settings) -> Any:
    """Each input symbol's row count and time span (``storage.bars.scan_symbols``)."""
    from storage import bars

    inp = settings.input
    return bars.scan_symbols(inp.path, _fs(inp.storage_options, inp.path))


def plan_run(
    settings: Settings, info: ClusterInfo, run_id: str, scan: Any = None
) -> tuple[planner.Plan, list[BatchJob], list[dict[str, Any]]]:
    """Scan the input (unless ``scan`` is given), filter the universe and pack symbols into
    memory-sized batches.

    Also returns results decided at planning: quarantine records of rows with a null
    symbol and of symbols too large for any batch. When the worker limit leaves no room for
    any batch (``plan.no_room``) nothing is quarantined: ``check_plan`` fails the run.
    """
    inp = settings.input
    if scan is None:
        scan = scan_input(settings)
    rows = dict(zip(scan["symbol"].to_pylist(), scan["n_rows"].to_pylist(), strict=True))
    wanted = set(settings.universe.symbols)
    unnamed = rows.pop(None, 0)  # rows whose symbol is null: no batch can select them
    if wanted:
        missing = sorted(wanted - set(rows))
        if missing:
            raise DataError(f"symbols not found in {inp.path}: {', '.join(missing[:10])}")
        rows = {s: n for s, n in rows.items() if s in wanted}
    for s in settings.universe.exclude:
        rows.pop(s, None)
    inds, strats = _requests(settings)
    n_outputs = sum(len(indicator_registry.spec(i.name).outputs) for i in inds)
    plan = planner.plan_batches(
        rows,
        bytes_per_bar=planner.estimate_bytes_per_bar(n_outputs, len(strats)),
        worker_memory=info.worker_memory,
        n_threads=max(info.n_threads, 1),
        # the threads each worker really runs (cluster.threads_per_worker for a local one)
        threads_per_worker=max(info.n_threads // max(info.n_workers, 1), 1),
        memory_fraction=settings.batches.memory_fraction,
        min_batches_per_thread=settings.batches.min_batches_per_thread,
        max_symbols_per_batch=settings.batches.max_symbols_per_batch,
    )
    min_bars = _min_bars(settings, inds, strats)
    annualization = settings.metrics.annualization or planner.infer_annualization(
        scan["n_rows"].to_numpy(),
        scan["min_timestamp"].cast("int64").to_numpy(),
        scan["max_timestamp"].cast("int64").to_numpy(),
    )
    common = dict(
        run_id=run_id,
        input_path=inp.path,
        input_options=inp.storage_options,
        output=settings.output,
        start=settings.dates.start.isoformat() if settings.dates.start else None,
        end=settings.dates.end.isoformat() if settings.dates.end else None,
        min_bars=min_bars,
        indicators=inds,
        strategies=strats,
        backtest=settings.backtest.model_dump(),  # every field, none copied by hand
        annualization=annualization,
        risk_free=settings.metrics.risk_free,
        write_indicators=_writes_indicators(settings),
    )
    jobs = [BatchJob(batch=batch.index, symbols=batch.symbols, **common) for batch in plan.batches]
    early = [] if wanted or not unnamed else [_quarantine_unnamed(settings, run_id, scan, unnamed)]
    if plan.refused and not plan.no_room:
        early.append(_quarantine_refused(settings, run_id, scan, plan.refused, rows))
    return plan, jobs, early


def _requests(
    settings: Settings,
) -> tuple[tuple[pipeline.IndicatorRequest, ...], tuple[pipeline.StrategyRequest, ...]]:
    inds = tuple(pipeline.IndicatorRequest(i.name, i.params, i.prefix) for i in settings.indicators)
    strats = tuple(pipeline.StrategyRequest(s.name, s.params, s.label) for s in settings.strategies)
    return inds, strats


def _min_bars(settings: Settings, inds: Any, strats: Any) -> int:
    """Enough bars for every configured lookback: one indicator value, or a strategy's first
    target plus the next bar to fill it."""
    return max(
        settings.universe.min_bars,
        max((indicator_registry.lookback(i.name, **i.params) + 1 for i in inds), default=1),
        max((strategy_registry.lookback(s.name, **s.params) + 2 for s in strats), default=1),
    )


def _quarantine_unnamed(settings: Settings, run_id: str, scan: Any, n_rows: int) -> dict[str, Any]:
    """Stage the quarantine record of rows with a null symbol; return it as a batch result."""
    import pyarrow.compute as pc

    from storage import validate

    first = scan.filter(pc.is_null(scan["symbol"]))["min_timestamp"][0].as_py()
    record = validate.QuarantineRecord(
        symbol=None,
        reason="bad_symbol_name",
        n_rows=n_rows,
        first_bad_timestamp=first,
        detail=f"symbol is null in {n_rows} rows, so they belong to no symbol",
    )
    # "unnamed" sorts after the numbered batches: the published order stays fixed
    return _stage_planned_quarantine(settings, run_id, [record], "unnamed", batch=-1)


def _quarantine_refused(
    settings: Settings,
    run_id: str,
    scan: Any,
    refused: Mapping[str, str],
    rows: dict[str, int],
) -> dict[str, Any]:
    """Stage the quarantine records of symbols too large for any batch (the planner's
    refusals, each with its reason); return them as one batch result."""
    from storage import validate

    firsts = dict(zip(scan["symbol"].to_pylist(), scan["min_timestamp"].to_pylist(), strict=True))
    records = [
        validate.QuarantineRecord(
            symbol=symbol,
            reason="too_large_for_worker",
            n_rows=rows[symbol],
            first_bad_timestamp=firsts[symbol],
            detail=why,
        )
        for symbol, why in sorted(refused.items())
    ]
    # "refused" sorts after the numbered batches and before "unnamed"
    return _stage_planned_quarantine(settings, run_id, records, "refused", batch=-2)


def _stage_planned_quarantine(
    settings: Settings, run_id: str, records: list[Any], name: str, *, batch: int
) -> dict[str, Any]:
    """Stage quarantine records decided at planning under ``part-<name>``; a batch result."""
    from storage import runs

    runs.stage_quarantine(output_root(settings), run_id, records, name)
    n_rows = sum(r.n_rows for r in records)
    return {
        "batch": batch,
        "n_rows_in": n_rows,
        "n_rows_processed": 0,
        "n_rows_quarantined": n_rows,
        "n_symbols": 0,
        "n_trades": 0,
        "trades_by_side": {},
        "quarantine": [dataclasses.asdict(r) for r in records],
        "notes": [],
        "seconds": {},
        "peak_rss_bytes": 0,
        "worker": "",
    }


def _warm_marker(job: BatchJob) -> Path:
    """The numba-cache file that says this configuration's kernels were compiled."""
    from compute.kernels import SOURCE_DIGEST
    from flows.cluster import numba_cache_dir
    from flows.kept_cluster import signature

    key = signature(
        {
            "kernels": SOURCE_DIGEST,  # compiled from these sources (a new digest: a new folder)
            "indicators": sorted({i.name for i in job.indicators}),
            "strategies": sorted({s.name for s in job.strategies}),
            "backtest": job.backtest,
            "equity": job.write_equity,
            "indicator_outputs": job.write_indicators,
            "benchmark": job.benchmark is not None,
        }
    )
    return Path(numba_cache_dir()) / f"barpipe-warm-{key}"


def warm_kernels(job: BatchJob, *, echo: Echo) -> None:
    """Compile the run's kernels into the numba cache here, before any worker needs them.

    A worker that compiles keeps the compiler's memory (a few hundred MiB): under a small
    ``--memory-limit`` it then sits above Dask's pause threshold for good and the run stalls.
    Compiled here, workers on this machine load the kernels from the shared cache instead.
    A marker in the cache records that this configuration's kernels were compiled by this
    barpipe's sources, so later runs skip this step.
    """
    marker = _warm_marker(job)
    if marker.exists():
        return
    echo("compiling this configuration's kernels (once; later runs load them from the cache)")
    warm_up(job)
    with contextlib.suppress(OSError):
        marker.touch()


def warm_job(settings: Settings) -> BatchJob:
    """A job with the run's computation and no symbols: what ``warm_up`` runs."""
    inds, strats = _requests(settings)
    return BatchJob(
        run_id="warm-up",
        batch=-1,
        symbols=(),
        input_path="",
        input_options={},
        output=settings.output,
        start=None,
        end=None,
        min_bars=_min_bars(settings, inds, strats),
        indicators=inds,
        strategies=strats,
        backtest=settings.backtest.model_dump(),
        annualization=252.0,
        risk_free=settings.metrics.risk_free,
        write_indicators=_writes_indicators(settings),
    )


def warm_workers(settings: Settings, client: Any, info: ClusterInfo) -> list[Any]:
    """Start every worker of a local cluster loading the run's kernels, without waiting.

    A fresh worker process spends 1.4-2.3 s of its first batch loading the compiled kernels
    from the numba cache (measured on 2 x 200 bars: that was the whole "kernels" stage).
    ``flows.launch`` calls this as soon as the cluster is up, so the loading overlaps
    Prefect's start instead of delaying the run. Only when this configuration was compiled
    before (``warm_kernels``' marker): a worker never compiles here. Returns the futures
    (keep them until the run's batches are submitted).
    """
    job = warm_job(settings)
    if not info.local or not _warm_marker(job).exists():
        return []
    workers = list(client.scheduler_info(n_workers=-1).get("workers", {}))
    tag = uuid.uuid4().hex[:8]
    return [
        client.submit(warm_worker, job, workers=[w], pure=False, key=f"warm-up-{tag}-{i}")
        for i, w in enumerate(workers)
    ]


def compute_batches(
    client: Any,
    jobs: list[BatchJob],
    *,
    progress: bool,
    echo: Echo,
    paused_timeout_s: float = 300.0,
) -> list[dict[str, Any]]:
    """Run every batch on the cluster; a failed batch fails the run with its error.

    Dask reruns a batch whose worker died (tasks are idempotent) and retries one that raised
    an unexpected error once; a batch that reports a barpipe error (bad data, storage) is not
    retried. A run whose every worker stays paused at its memory limit for
    ``paused_timeout_s`` seconds while batches wait fails (Dask would wait forever). On
    failure the remaining batches are cancelled.
    """
    from distributed import TimeoutError as DaskTimeout
    from distributed import wait

    futures = client.map(
        process_batch,
        jobs,
        key=[f"batch-{j.run_id}-{j.batch}" for j in jobs],
        retries=1,
        pure=False,
    )
    results: list[dict[str, Any]] = []
    bar = _progress(len(jobs)) if progress else None
    pending = set(futures)
    watch = PauseWatch(client, paused_timeout_s)
    try:
        while pending:
            try:
                done, pending = wait(pending, timeout=2, return_when="FIRST_COMPLETED")
            except DaskTimeout:
                done = set()
            for fut in sorted(done, key=lambda f: f.key):
                result = fut.result()
                if result.get("error"):
                    raise _ERRORS.get(result["error_type"], BarpipeError)(result["error"])
                results.append(result)
                if bar is not None:
                    bar[0].advance(bar[1])
            if (paused := watch.stalled(bool(done))) is not None:
                raise ConfigError(
                    f"every Dask worker has been paused at its memory limit for "
                    f"{paused_timeout_s:g} s with {len(pending)} batch(es) waiting ({paused}); "
                    "workers hold more memory than the plan allows them: raise the worker "
                    "memory limit (--memory-limit) or lower batches.memory_fraction"
                )
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        if bar is not None:
            bar[0].stop()
    return sorted(results, key=lambda r: r["batch"])


class PauseWatch:
    """Notices every Dask worker staying paused at its memory limit while tasks wait."""

    def __init__(self, client: Any, timeout_s: float) -> None:
        self.client, self.timeout_s = client, timeout_s
        self.since: float | None = None

    def stalled(self, progressed: bool) -> str | None:
        """After a wait: the paused workers' memory once all have stayed paused longer than
        the timeout with no task finishing, else None."""
        paused = None if progressed else _paused_workers(self.client)
        if paused is None:
            self.since = None
            return None
        if self.since is None:
            self.since = time.monotonic()
        return paused if time.monotonic() - self.since > self.timeout_s else None


def _paused_workers(client: Any) -> str | None:
    """When every worker is paused: their memory against their limits, else None."""
    try:
        workers = list(client.scheduler_info(n_workers=-1).get("workers", {}).values())
    except Exception:  # noqa: BLE001 - a scheduler that does not answer is not a pause
        return None
    if not workers or any(w.get("status") != "paused" for w in workers):
        return None
    mib = 2**20
    return ", ".join(
        f"{w.get('metrics', {}).get('memory', 0) / mib:.0f} of "
        f"{(w.get('memory_limit') or 0) / mib:.0f} MiB"
        for w in workers
    )


_ERRORS: dict[str, type[BarpipeError]] = {
    cls.__name__: cls for cls in (DataError, StorageError, ConfigError, ParameterError)
}


def _writes_indicators(settings: Settings) -> bool:
    return settings.output.write_indicators and bool(settings.indicators)


def publish_run(settings: Settings, conn: Any, summary: RunSummary) -> dict[str, str]:
    """Publish the run's staged tables to Delta and SQLite (storage.runs.publish)."""
    from storage import runs

    sleeves, summary.report_sleeves = summary.report_sleeves, []
    return runs.publish(
        output_root(settings),
        conn,
        summary.run_id,
        summary.run_key,
        published_tables(settings),
        summary.night,
        sleeves=_ipc_batches(sleeves),
    )


def _ipc_batches(streams: list[bytes]) -> Iterable[Any]:
    """Record batches of the batches' report summaries, one stream at a time."""
    import pyarrow as pa

    for stream in streams:
        yield from pa.ipc.open_stream(stream)


def output_root(settings: Settings) -> Any:
    """The run's ``storage.runs.OutputRoot``."""
    from storage import runs

    out = settings.output
    return runs.OutputRoot(
        out.path, _fs(out.storage_options, out.path), target_file_mib=out.target_file_mib
    )


def _collect(summary: RunSummary, plan: planner.Plan, results: Iterable[dict[str, Any]]) -> None:
    for r in results:
        summary.n_symbols += r["n_symbols"]
        summary.n_bars += r["n_rows_processed"]
        summary.n_rows_in += r["n_rows_in"]
        summary.n_rows_quarantined += r["n_rows_quarantined"]
        summary.n_trades += r["n_trades"]
        summary.quarantine.extend(r["quarantine"])
        summary.note_records.extend(r["notes"])
        summary.notes.extend(note["detail"] for note in r["notes"])
        for side, n in r["trades_by_side"].items():
            summary.trades_by_side[side] = summary.trades_by_side.get(side, 0) + n
        for stage, sec in r["seconds"].items():
            summary.stages[stage] = summary.stages.get(stage, 0.0) + sec
        if r.get("report_sleeves"):
            summary.report_sleeves.append(r["report_sleeves"])
        if summary.night is not None:
            summary.night.whole.extend(r.get("whole", ()))
            summary.night.extended.extend(r.get("extended", ()))
            summary.night.unchanged.extend(r.get("unchanged", ()))
            summary.night.states.update(r.get("states", {}))
        if r["worker"]:
            summary.peak_rss[r["worker"]] = max(
                summary.peak_rss.get(r["worker"], 0), r["peak_rss_bytes"]
            )


def write_prom(settings: Settings, conn: Any, summary: RunSummary) -> str:
    """Write ``barpipe.prom`` (node-exporter textfile format) in the output root."""
    from storage import db, prom

    metrics = prom.build_run_metrics(
        {
            "status": summary.status,
            "n_bars": summary.n_bars,
            "n_symbols": summary.n_symbols,
            "wall_seconds": summary.wall_seconds,
        },
        summary.stages,
        summary.trades_by_side,
        len(summary.quarantine),
        db.last_success(conn),
    )
    out = settings.output
    target = out.path.rstrip("/") + "/barpipe.prom"
    return prom.write_textfile(target, metrics, _fs(out.storage_options, out.path))


def _counts(s: RunSummary) -> dict[str, int]:
    return dict(
        n_symbols=s.n_symbols,
        n_bars=s.n_bars,
        n_trades=s.n_trades,
        n_quarantined=len(s.quarantine),
        n_rows_in=s.n_rows_in,
        n_rows_processed=s.n_bars,
        n_rows_quarantined=s.n_rows_quarantined,
    )


def _fingerprint(settings: Settings) -> str | None:
    """The input's fingerprint, or None when it cannot be read (planning then says why)."""
    from storage import bars

    inp = settings.input
    try:
        return bars.fingerprint_dataset(inp.path, _fs(inp.storage_options, inp.path))
    except BarpipeError:
        return None


def _fs(options: dict[str, Any], path: str) -> Any:
    from flows.tasks import _filesystem

    return _filesystem(options, path)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (
        f"{type(err).__name__}: {text[0] if text else ''}"
        if not isinstance(err, BarpipeError)
        else text[0]
    )


def _progress(total: int) -> tuple[Any, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress(
        "batches", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
    )
    task_id = bar.add_task("batches", total=total)
    bar.start()
    return bar, task_id


def maintain(settings: Settings, action: str, *, echo: Echo = print) -> None:
    """``barpipe repair`` (action ``repair``) or ``barpipe prune`` (``prune``), under the lock.

    repair: ``storage.runs.recover`` — dead runs marked abandoned, tables rolled back to the
    versions barpipe.db committed, staging removed. prune: repair first, then
    ``storage.runs.prune`` keeping ``output.keep_nights`` nights.
    """
    from storage import db, runs

    out = settings.output
    if action == "prune" and out.keep_nights is None:
        raise ConfigError(
            "barpipe prune needs output.keep_nights (how many nights to keep), e.g. "
            "--set output.keep_nights=30"
        )
    db_path = out.resolved_db_path()
    run_id = new_run_id(action)
    with db.run_lock(
        db_path, mode=settings.run.lock, timeout=settings.run.lock_timeout_s, echo=echo
    ):
        conn = db.connect(db_path)
        try:
            runs.recover(output_root(settings), conn, f"{action}-{run_id}", echo=echo)
            if action == "prune":
                assert out.keep_nights is not None
                runs.prune(
                    output_root(settings), conn, f"{action}-{run_id}", out.keep_nights, echo=echo
                )
        finally:
            conn.close()
    echo(f"{action}: done")
