"""The nightly flow: plan → compute batches on Dask → publish → summary.

Steps and where each lives:

1. ``run_nightly`` (CLI entry): configures Prefect, starts its API server (or finds one) in
   the background while the Dask cluster starts, then calls the ``nightly`` flow.
2. ``nightly`` (Prefect flow): takes the output root's run lock, marks runs left ``running``
   by dead processes as ``abandoned`` and cleans their staging, records the run, and runs the
   three tasks below; on any error the run is recorded ``failed`` and nothing is published.
3. ``plan`` task: scans the input's symbols (storage.bars.scan_symbols), applies the
   universe filter and sizes batches from worker memory (compute.planner).
4. ``compute`` task: fans the batches out with the Dask client (``flows.tasks.process_batch``,
   one Dask task per batch), showing progress; tasks stage their outputs and return summaries.
5. ``publish`` task: commits the staged Parquet by key (storage.outputs.publish_parquet) and
   the SQLite rows in one transaction (storage.db), then removes the staging area.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from compute import indicators as indicator_registry
from compute import pipeline, planner
from compute import strategies as strategy_registry
from compute.errors import BarpipeError, DataError
from flows.cluster import ClusterInfo, open_cluster
from flows.runtime import PrefectBackend, configure_prefect
from flows.settings import Settings
from flows.tasks import BatchJob, process_batch

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
    stages: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    best: list[dict[str, Any]] = field(default_factory=list)
    worst: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    trades_by_side: dict[str, int] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    dashboard: str | None = None


def new_run_id(run_key: str) -> str:
    """A unique, path-safe run id: UTC time, then random hex."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


def run_nightly(
    settings: Settings, *, echo: Echo = print, progress: bool | None = None
) -> RunSummary:
    """Run the nightly flow from the CLI: Prefect and the cluster start side by side."""
    configure_prefect(settings.prefect.log_level, settings.prefect.api_url)
    backend = PrefectBackend(settings.prefect.api_url)
    c = settings.cluster
    with open_cluster(
        address=c.address,
        n_workers=c.n_workers,
        threads_per_worker=c.threads_per_worker,
        memory_limit=c.memory_limit,
        dashboard_address=c.dashboard_address,
        host=c.host,
        processes=c.processes,
    ) as (client, info):
        if info.dashboard:
            echo(f"Dask dashboard: {info.dashboard}")
        backend.wait()
        from flows import flow

        flow.ECHO[0] = echo
        return flow.nightly(
            settings.model_dump(mode="json"),
            scheduler=info.address,
            progress=sys.stdout.isatty() if progress is None else progress,
        )


def execute(
    settings: Settings,
    client: Any,
    info: ClusterInfo,
    *,
    echo: Echo,
    progress: bool,
    task: Callable[..., Any] = lambda f: f,
) -> RunSummary:
    """The flow body; ``task`` wraps each step (a Prefect task decorator in the flow)."""
    from storage import db, outputs

    started = time.perf_counter()
    run_date = settings.run.run_date or dt.datetime.now(dt.UTC).date()
    run_key = settings.run.key or run_date.isoformat()
    run_id = new_run_id(run_key)
    out = settings.output
    db_path = out.resolved_db_path()
    if "://" not in out.path:
        os.makedirs(out.path, exist_ok=True)
    summary = RunSummary(run_id=run_id, run_key=run_key, status="running", dashboard=info.dashboard)
    with db.run_lock(
        db_path, mode=settings.run.lock, timeout=settings.run.lock_timeout_s, echo=echo
    ):
        conn = db.connect(db_path)
        try:
            for dead in db.mark_abandoned(conn):
                outputs.remove_staging(out.path, dead, _fs(out.storage_options, out.path))
            outputs.recover_outputs(out.path, _fs(out.storage_options, out.path))
            db.start_run(
                conn,
                run_id=run_id,
                run_key=run_key,
                config_hash=settings.config_hash(),
                input_fingerprint=_fingerprint(settings),
                pid=os.getpid(),
                host=socket.gethostname(),
            )
            try:
                plan, jobs = task(plan_run)(settings, info, run_id)
                summary.plan = plan.to_dict()
                results = task(compute_batches)(client, jobs, progress=progress, echo=echo)
                _collect(summary, plan, results)
                if settings.run.strict and summary.quarantine:
                    raise DataError(
                        f"--strict: {len(summary.quarantine)} symbol(s) quarantined, first "
                        f"{summary.quarantine[0]['symbol']!r}: {summary.quarantine[0]['detail']}"
                    )
                if summary.n_rows_in == 0 and not summary.quarantine:
                    raise DataError(f"no rows to process in {settings.input.path}")
                clock = time.perf_counter()
                summary.outputs = task(publish_run)(settings, conn, summary)
                summary.stages["publish"] = time.perf_counter() - clock
                summary.status = "succeeded"
            except BaseException as err:
                summary.status = "failed"
                summary.wall_seconds = time.perf_counter() - started
                db.finish_run(conn, run_id, status="failed", error=_one_line(err))
                outputs.remove_staging(out.path, run_id, _fs(out.storage_options, out.path))
                write_prom(settings, conn, summary)
                raise
            summary.wall_seconds = time.perf_counter() - started
            db.finish_run(conn, run_id, status="succeeded", **_counts(summary))
            db.record_stages(conn, run_id, summary.stages, summary.peak_rss)
            summary.best, summary.worst = db.best_and_worst(conn, run_id, n=5)
            summary.outputs["metrics file"] = write_prom(settings, conn, summary)
            if settings.run.report:
                from flows.report import write_report

                summary.outputs["report"] = write_report(out.path, run_id, db_path=db_path)
        finally:
            conn.close()
    return summary


def plan_run(
    settings: Settings, info: ClusterInfo, run_id: str
) -> tuple[planner.Plan, list[BatchJob]]:
    """Scan the input, filter the universe and pack symbols into memory-sized batches."""
    from storage import bars

    inp = settings.input
    scan = bars.scan_symbols(inp.path, _fs(inp.storage_options, inp.path))
    rows = dict(zip(scan["symbol"].to_pylist(), scan["n_rows"].to_pylist(), strict=True))
    wanted = set(settings.universe.symbols)
    if wanted:
        missing = sorted(wanted - set(rows))
        if missing:
            raise DataError(f"symbols not found in {inp.path}: {', '.join(missing[:10])}")
        rows = {s: n for s, n in rows.items() if s in wanted}
    for s in settings.universe.exclude:
        rows.pop(s, None)
    inds = tuple(pipeline.IndicatorRequest(i.name, i.params, i.prefix) for i in settings.indicators)
    strats = tuple(pipeline.StrategyRequest(s.name, s.params, s.label) for s in settings.strategies)
    n_outputs = sum(len(indicator_registry.spec(i.name).outputs) for i in inds)
    plan = planner.plan_batches(
        rows,
        bytes_per_bar=planner.estimate_bytes_per_bar(n_outputs, len(strats)),
        worker_memory=info.worker_memory,
        n_threads=max(info.n_threads, 1),
        memory_fraction=settings.batches.memory_fraction,
        min_batches_per_thread=settings.batches.min_batches_per_thread,
        max_symbols_per_batch=settings.batches.max_symbols_per_batch,
    )
    if plan.refused:
        first = next(iter(plan.refused.items()))
        raise DataError(f"symbol {first[0]!r} cannot be processed: {first[1]}")
    min_bars = max(
        settings.universe.min_bars,
        max((strategy_registry.lookback(s.name, **s.params) + 2 for s in strats), default=1),
    )
    annualization = settings.metrics.annualization or planner.infer_annualization(
        scan["n_rows"].to_numpy(),
        scan["min_timestamp"].cast("int64").to_numpy(),
        scan["max_timestamp"].cast("int64").to_numpy(),
    )
    b = settings.backtest
    common = dict(
        run_id=run_id,
        input_path=inp.path,
        input_options=inp.storage_options,
        output_path=settings.output.path,
        output_options=settings.output.storage_options,
        start=settings.dates.start.isoformat() if settings.dates.start else None,
        end=settings.dates.end.isoformat() if settings.dates.end else None,
        min_bars=min_bars,
        indicators=inds,
        strategies=strats,
        backtest=dict(
            init_cash=b.init_cash,
            fees_bps=b.fees_bps,
            slippage_bps=b.slippage_bps,
            fraction=b.fraction,
            direction=b.direction,
            sizing=b.sizing,
            stop_loss=b.stop_loss,
            take_profit=b.take_profit,
        ),
        annualization=annualization,
        risk_free=settings.metrics.risk_free,
        write_equity=settings.output.write_equity,
    )
    jobs = [BatchJob(batch=batch.index, symbols=batch.symbols, **common) for batch in plan.batches]
    return plan, jobs


def compute_batches(
    client: Any, jobs: list[BatchJob], *, progress: bool, echo: Echo
) -> list[dict[str, Any]]:
    """Run every batch on the cluster; a failed batch fails the run with its error."""
    from distributed import as_completed

    futures = client.map(
        process_batch,
        jobs,
        key=[f"batch-{j.run_id}-{j.batch}" for j in jobs],
        retries=1,
        pure=False,
    )
    results: list[dict[str, Any]] = []
    bar = _progress(len(jobs)) if progress else None
    try:
        for fut in as_completed(futures):
            results.append(fut.result())
            if bar is not None:
                bar[0].advance(bar[1])
    finally:
        if bar is not None:
            bar[0].stop()
    return sorted(results, key=lambda r: r["batch"])


def publish_run(settings: Settings, conn: Any, summary: RunSummary) -> dict[str, str]:
    """Commit staged Parquet by run key, then the SQLite rows in one transaction."""
    from storage import db, outputs

    out = settings.output
    fs = _fs(out.storage_options, out.path)
    tables = ["trades", "metrics", "quarantine"] + (["equity"] if out.write_equity else [])
    published = outputs.publish_parquet(
        out.path, summary.run_id, summary.run_key, tables, fs, target_file_mib=out.target_file_mib
    )
    db.publish_run_rows(
        conn,
        summary.run_id,
        summary.run_key,
        trades=outputs.read_output(out.path, "trades", fs, run_keys=[summary.run_key]),
        metrics=outputs.read_output(out.path, "metrics", fs, run_keys=[summary.run_key]),
        quarantine=outputs.read_output(out.path, "quarantine", fs, run_keys=[summary.run_key]),
    )
    outputs.remove_staging(out.path, summary.run_id, fs)
    return {name: p.partition for name, p in published.items()}


def _collect(summary: RunSummary, plan: planner.Plan, results: Iterable[dict[str, Any]]) -> None:
    for r in results:
        summary.n_symbols += r["n_symbols"]
        summary.n_bars += r["n_rows_processed"]
        summary.n_rows_in += r["n_rows_in"]
        summary.n_rows_quarantined += r["n_rows_quarantined"]
        summary.n_trades += r["n_trades"]
        summary.quarantine.extend(r["quarantine"])
        summary.notes.extend(r["notes"])
        for stage, sec in r["seconds"].items():
            summary.stages[stage] = summary.stages.get(stage, 0.0) + sec
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


def _fingerprint(settings: Settings) -> str:
    from storage import bars

    inp = settings.input
    return bars.fingerprint_dataset(inp.path, _fs(inp.storage_options, inp.path))


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
