"""The sweep and walk-forward flows: plan → (symbol batch) × (combination chunk) on Dask →
publish → statistics.

1. ``load_sweep`` reads a run config whose ``sweep:`` section lists the parameter spaces
   (``compute.sweep.parse_space``) and whose ``walkforward:`` section plans folds; every
   other section is the nightly settings (input, universe, backtest, metrics, cluster...).
2. ``plan_sweep`` scans the input, packs symbols into batches sized from worker memory
   (``compute.planner``, one series row per distinct indicator series a chunk computes)
   and crosses them with each space's combination chunks. Each task's key hashes its
   content (input fingerprint, space, chunk, symbols, backtest, code version); the sweep
   id hashes the whole configuration, so running the same sweep again finds its staged
   chunks (``storage.sweeps``) and computes only the missing ones.
   An attempt records its batches; a later one takes them again while they fit
   (``_batches``), so a sweep resumed on another cluster still finds its chunks.
3. ``sweep_task`` (a Dask task, key ``<kind>_<strategy>-<content key>``: the dashboard's
   progress bars are per strategy): load and validate the batch, ``evaluate_chunk``, stage
   metric rows and per-block return moments. Errors come back as values.
4. ``publish``: under the output root's run lock, ``storage.runs.recover`` and then
   ``storage.sweeps.publish_sweep`` (the run protocol of ``storage``: keyed Delta tables,
   one SQLite commit). ``sweep_results`` streams the staged chunks; ``sweep_summary`` is
   reduced one combination chunk at a time (all symbols of those combinations), so the flow
   process holds one chunk's rows, never the grid; the registry row (``sweeps``) carries
   the deflated Sharpe ratio of the best combination and the PBO of each space.

``walkforward`` is the same with one task per symbol batch (``compute.sweep.walkforward``):
per fold the best combination in sample, its out-of-sample row, and the stitched
out-of-sample equity, published as ``walkforward_folds`` and ``walkforward_equity``. A
universe-wide selection over several batches runs a first pass that stages in-sample scores
(``score_jobs``), ``choose_universe`` picks each fold's combination by the median over every
symbol, then the batches run with it. ``run_in_flow`` is the body of the ``sweep`` and
``walkforward`` Prefect flows (``flows.flow``), which ``barpipe serve --sweep`` deploys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import compute
from compute import planner
from compute.errors import BarpipeError, ConfigError, DataError
from compute.sweep import Space, parse_space, tables
from compute.sweep.evaluate import series_count
from compute.sweep.walkforward import SELECTIONS, plan_folds
from compute.sweep.walkforward import choose_universe as choose
from flows.settings import Settings, _deep_merge, _read_yaml, load_settings
from flows.tasks import pause_for_test
from storage import db, runs, sweeps
from storage.tables import spec

Echo = Callable[[str], None]
RESULT_METRICS = tables.RESULT_METRICS
_SECTIONS = ("sweep", "walkforward")


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SweepConfig:
    """The ``sweep:`` (and ``walkforward:``) sections, validated."""

    entries: tuple[dict[str, Any], ...]
    spaces: tuple[Space, ...]
    chunk_size: int = 256
    metric: str = "sharpe_ratio"
    pbo_blocks: int = 8
    walkforward: dict[str, Any] = field(default_factory=dict)


def load_sweep(
    path: str | Path | None, overrides: Mapping[str, Any] | None = None
) -> tuple[Settings, SweepConfig]:
    """Settings and sweep configuration from one YAML file (plus CLI overrides).

    The ``sweep:`` and ``walkforward:`` sections are split off; the rest is the nightly
    settings (``flows.settings``), with the file's values below the CLI's.
    """
    data = _read_yaml(Path(path)) if path is not None else {}
    raw = {k: data.pop(k) for k in _SECTIONS if k in data}
    rest = dict(overrides or {})
    for dotted in [k for k in rest if k.split(".", 1)[0] in _SECTIONS and "." in k]:
        section, key = dotted.split(".", 1)  # --set walkforward.selection=universe
        if "." in key or not isinstance(raw.get(section, {}), Mapping):
            raise ConfigError(f"--set {dotted}: only top-level keys of {section}: can be set")
        raw[section] = {**(raw.get(section) or {}), key: rest.pop(dotted)}
    merged = _deep_merge(data, rest)
    settings = load_settings(None, merged)
    where = f"in {path}" if path else "in the settings"
    sweep = raw.get("sweep")
    if not isinstance(sweep, Mapping) or not sweep.get("strategies"):
        raise ConfigError(f"{where}: sweep.strategies: list at least one strategy to sweep")
    allowed = {"strategies", "chunk_size", "metric", "pbo_blocks"}
    extra = sorted(set(sweep) - allowed)
    if extra:
        raise ConfigError(
            f"{where}: sweep.{extra[0]}: unknown key; valid keys: {', '.join(sorted(allowed))}"
        )
    base = settings.backtest.model_dump()  # the base settings of every combination
    entries = sweep["strategies"]
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: sweep.strategies: expected a list, got {entries!r}")
    try:
        spaces = tuple(
            parse_space(e, f"sweep.strategies[{i}]", base) for i, e in enumerate(entries)
        )
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    labels = [s.key for s in spaces]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"{where}: sweep.strategies: {dup[0]!r} appears twice; give each a label")
    chunk = sweep.get("chunk_size", 256)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ConfigError(f"{where}: sweep.chunk_size: expected an integer >= 1, got {chunk!r}")
    metric = sweep.get("metric", "sharpe_ratio")
    if metric not in RESULT_METRICS:
        raise ConfigError(
            f"{where}: sweep.metric: {metric!r} is not valid; choices: {', '.join(RESULT_METRICS)}"
        )
    blocks = sweep.get("pbo_blocks", 8)
    if (
        isinstance(blocks, bool)
        or not isinstance(blocks, int)
        or blocks < 0
        or blocks % 2
        or blocks > 24
    ):
        raise ConfigError(
            f"{where}: sweep.pbo_blocks: expected 0 or an even integer up to 24, got {blocks!r}"
        )
    wf = raw.get("walkforward") or {}
    if not isinstance(wf, Mapping):
        raise ConfigError(f"{where}: walkforward: expected a mapping, got {wf!r}")
    wf_allowed = {"train", "test", "step", "anchored", "purge", "embargo", "selection"}
    extra = sorted(set(wf) - wf_allowed)
    if extra:
        raise ConfigError(
            f"{where}: walkforward.{extra[0]}: unknown key; valid keys: {', '.join(sorted(wf_allowed))}"
        )
    if wf.get("selection", "per_symbol") not in SELECTIONS:
        raise ConfigError(
            f"{where}: walkforward.selection: {wf.get('selection')!r} is not valid; choices: {', '.join(SELECTIONS)}"
        )
    return settings, SweepConfig(tuple(entries), spaces, chunk, metric, blocks, dict(wf))


def _results_config(settings: Settings) -> str:
    """Hash of the settings results depend on: not the cluster, Prefect or run identity, so
    a sweep resumed on another cluster finds its staging area."""
    data = settings.model_dump(
        mode="json", exclude={"cluster", "batches", "prefect", "run", "schedule"}
    )
    return _hash(data)


def code_version() -> str:
    """Hash of the compute package's sources: staged chunks of other code are not reused."""
    digest = hashlib.sha256()
    for p in sorted(Path(compute.__file__).parent.rglob("*.py")):
        digest.update(p.read_bytes())
    return digest.hexdigest()[:16]


def _hash(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class SweepJob:
    """One task: a space's combination chunk on a batch of symbols (``chunk`` -1: all of the
    space, for walk-forward)."""

    sweep_id: str
    key: str
    kind: str
    input_path: str
    input_options: dict[str, Any]
    output_path: str
    symbols: tuple[str, ...]
    start: str | None
    end: str | None
    min_bars: int
    entry: dict[str, Any]
    backtest: dict[str, Any]
    chunk: int
    chunk_size: int
    annualization: float
    risk_free: float
    n_blocks: int = 0
    folds: tuple[tuple[int, int, int, int], ...] = ()
    selection: str = "per_symbol"
    metric: str = "sharpe_ratio"
    scores_only: bool = False  # walk-forward, universe over batches: first pass
    chosen: tuple[int, ...] | None = None  # walk-forward, universe over batches: second pass


def sweep_task(job: SweepJob) -> dict[str, Any]:
    """Compute and stage one task unless its key is staged already; errors as values."""
    try:
        if job.key in sweeps.staged_keys(job.output_path, job.sweep_id):
            return {"key": job.key, "reused": True, "rows": 0, "seconds": 0.0}
        clock = time.perf_counter()
        table, equity, quarantined = _compute(job)
        if equity is not None:  # staged first: the main key's presence means both are there
            sweeps.stage_chunk(job.output_path, job.sweep_id, f"{job.key}-equity", equity)
        rows = sweeps.stage_chunk(
            job.output_path, job.sweep_id, job.key, table, quarantined=quarantined
        )
    except BarpipeError as err:
        return {"key": job.key, "error": str(err), "error_type": type(err).__name__}
    pause_for_test("sweep-task", f"{job.sweep_id} {job.key}")
    return {"key": job.key, "reused": False, "rows": rows, "seconds": time.perf_counter() - clock}


def _compute(
    job: SweepJob,
) -> tuple[pa.Table | Iterator[pa.Table], pa.Table | None, dict[str, str]]:
    """The task's tables: metric rows, or walk-forward folds and stitched equity, or (first
    pass of a universe-wide walk-forward) the in-sample scores, one chunk at a time; and the
    symbols of the batch that validation quarantined."""
    names, offsets, arrays, ts, quarantined = _load(job)
    space = parse_space(job.entry, base=job.backtest)
    params = dict(
        backtest_params=job.backtest, annualization=job.annualization, risk_free=job.risk_free
    )
    if job.scores_only:
        return tables.walkforward_scores(
            space, names, offsets, arrays, ts, job.folds, metric=job.metric,
            chunk_size=job.chunk_size, **params,
        ), None, quarantined  # fmt: skip
    if job.kind == "walkforward":
        return *tables.walkforward_tables(
            job.sweep_id, space, names, offsets, arrays, ts, job.folds,
            metric=job.metric, selection=job.selection, chunk_size=job.chunk_size,
            chosen=job.chosen, **params,
        ), quarantined  # fmt: skip
    combos = space.chunk(job.chunk, job.chunk_size)
    return (
        tables.sweep_rows(
            job.sweep_id, space, names, offsets, arrays, combos, n_blocks=job.n_blocks, **params
        ),
        None,
        quarantined,
    )


def _load(
    job: SweepJob,
) -> tuple[list[str], np.ndarray, dict[str, np.ndarray], pa.ChunkedArray, dict[str, str]]:
    """The batch's valid bars as segments, and the symbols validation quarantined (why)."""
    from compute.pipeline import FIELDS, segments
    from storage import bars, validate

    table = bars.load_bars(
        job.input_path, symbols=job.symbols, start=job.start, end=job.end, allow_empty=True
    )
    clean, records, _ = validate.validate_bars(table, job.min_bars)
    names, offsets = segments(clean)
    arrays = {f: np.ascontiguousarray(clean.column(f).to_numpy(), dtype=np.float64) for f in FIELDS}
    quarantined = {str(r.symbol): f"{r.reason}: {r.detail}" for r in records}
    return names, offsets, arrays, clean.column("timestamp"), quarantined


# --------------------------------------------------------------------------- plan


@dataclass
class SweepPlan:
    sweep_id: str
    kind: str
    jobs: list[SweepJob]
    n_symbols: int
    n_batches: int
    n_combinations: int
    est_batch_bytes: int
    worker_memory: int
    config_hash: str
    fingerprint: str
    chunk_groups: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    score_jobs: list[SweepJob] = field(default_factory=list)  # see ``plan_sweep``
    batches: list[tuple[str, ...]] = field(default_factory=list)
    resumed_batches: bool = False  # the batches of an earlier attempt (``_batches``)

    def describe(self) -> str:
        mib = 2**20
        return (
            f"{self.kind} {self.sweep_id}: {self.n_combinations:,} combination(s) x "
            f"{self.n_symbols} symbol(s) = {len(self.jobs) + len(self.score_jobs)} task(s) "
            f"({self.n_batches} symbol batch(es)); largest batch estimate "
            f"{self.est_batch_bytes / mib:.1f} MiB of {self.worker_memory / mib:.0f} MiB per worker"
            + ("; the batches of the earlier attempt" if self.resumed_batches else "")
        )


def plan_sweep(
    settings: Settings, cfg: SweepConfig, worker_memory: int, n_threads: int, kind: str = "sweep"
) -> SweepPlan:
    """Batches from worker memory, crossed with combination chunks; see the module docstring."""
    from storage import bars

    inp = settings.input
    scan = bars.scan_symbols(inp.path)
    rows = {
        s: n
        for s, n in zip(scan["symbol"].to_pylist(), scan["n_rows"].to_pylist(), strict=True)
        if s is not None
    }
    wanted = set(settings.universe.symbols)
    if wanted:
        missing = sorted(wanted - set(rows))
        if missing:
            raise DataError(f"symbols not found in {inp.path}: {', '.join(missing[:10])}")
        rows = {s: n for s, n in rows.items() if s in wanted}
    for s in settings.universe.exclude:
        rows.pop(s, None)
    if not rows:
        raise DataError(f"no symbols to sweep in {inp.path}")
    n_series = max(series_count(s.strategy, s.chunk(0, cfg.chunk_size)) for s in cfg.spaces)
    plan = planner.plan_batches(
        rows,
        bytes_per_bar=planner.estimate_bytes_per_bar(n_series + 2, 1, with_equity=False),
        worker_memory=worker_memory,
        n_threads=max(n_threads, 1),
        memory_fraction=settings.batches.memory_fraction,
        min_batches_per_thread=1,
        max_symbols_per_batch=settings.batches.max_symbols_per_batch,
    )
    if plan.no_room or plan.refused:
        raise ConfigError(
            f"{len(plan.refused) or 'every'} symbol(s) do not fit a worker's memory for this "
            "sweep; raise the worker memory limit or lower sweep.chunk_size"
        )
    fingerprint = bars.fingerprint_dataset(inp.path)
    annualization = settings.metrics.annualization or planner.infer_annualization(
        scan["n_rows"].to_numpy(),
        scan["min_timestamp"].cast("int64").to_numpy(),
        scan["max_timestamp"].cast("int64").to_numpy(),
    )
    backtest = settings.backtest.model_dump()
    version = code_version()
    dates = (
        settings.dates.start.isoformat() if settings.dates.start else None,
        settings.dates.end.isoformat() if settings.dates.end else None,
    )
    common = dict(
        input_path=inp.path,
        input_options=inp.storage_options,
        output_path=settings.output.path,
        start=dates[0],
        end=dates[1],
        min_bars=max(settings.universe.min_bars, 2),
        backtest=backtest,
        annualization=float(annualization),
        risk_free=settings.metrics.risk_free,
    )
    folds: tuple[tuple[int, int, int, int], ...] = ()
    if kind == "walkforward":
        folds = _plan_folds(settings, cfg, list(rows))
    sweep_id = _hash(
        kind,
        _results_config(settings),
        cfg.entries,
        cfg.chunk_size,
        cfg.metric,
        cfg.pbo_blocks,
        cfg.walkforward,
        fingerprint,
        version,
        sorted(rows),
    )[:16]
    batches, resumed = _batches(settings.output.path, sweep_id, plan, rows)
    jobs: list[SweepJob] = []
    groups: dict[tuple[int, int], list[str]] = {}
    for si, (entry, space) in enumerate(zip(cfg.entries, cfg.spaces, strict=True)):
        chunks = [-1] if kind == "walkforward" else list(range(space.n_chunks(cfg.chunk_size)))
        for k in chunks:
            for batch in batches:
                key = _hash(
                    kind,
                    fingerprint,
                    version,
                    entry,
                    k,
                    cfg.chunk_size,
                    batch.symbols,
                    backtest,
                    annualization,
                    settings.metrics.risk_free,
                    dates,
                    common["min_bars"],
                    cfg.pbo_blocks,
                    folds,
                    cfg.walkforward,
                    cfg.metric,
                )
                groups.setdefault((si, k), []).append(key)
                jobs.append(
                    SweepJob(
                        sweep_id=sweep_id,
                        key=key,
                        kind=kind,
                        symbols=tuple(batch.symbols),
                        entry=dict(entry),
                        chunk=k,
                        chunk_size=cfg.chunk_size,
                        n_blocks=cfg.pbo_blocks,
                        folds=folds,
                        selection=cfg.walkforward.get("selection", "per_symbol"),
                        metric=cfg.metric,
                        **common,
                    )
                )
    score_jobs: list[SweepJob] = []
    if (
        kind == "walkforward"
        and cfg.walkforward.get("selection") == "universe"
        and len(batches) > 1
    ):
        # the median across the universe needs every symbol's scores: a first pass stages
        # them per batch, the flow picks each fold's combination, then the jobs above run
        # with it (``execute``)
        score_jobs = [
            dataclasses.replace(j, key=_hash(j.key, "scores"), scores_only=True) for j in jobs
        ]
    return SweepPlan(
        sweep_id,
        kind,
        jobs,
        len(rows),
        len(batches),
        sum(s.count() for s in cfg.spaces),
        max((bt.est_bytes for bt in batches), default=0),
        worker_memory,
        settings.config_hash(),
        fingerprint,
        groups,
        score_jobs,
        [b.symbols for b in batches],
        resumed,
    )


def _batches(
    root: str, sweep_id: str, plan: planner.Plan, rows: Mapping[str, int]
) -> tuple[list[planner.Batch], bool]:
    """The symbol batches of the sweep, and whether they are an earlier attempt's.

    A task's key covers its symbols, so a sweep resumed with other batches (other worker
    memory or thread count) would find none of its staged chunks. So the batches an attempt
    starts with are recorded (``storage.sweeps.record_batches``) and a later attempt takes
    them again whenever each still fits under this plan's batch cap: every staged chunk is
    reused. Otherwise (a smaller worker) the new batches are used and every task is
    computed again; the chunks staged under the old batches are left out of the publish
    and deleted with the staging area. Results do not depend on the batching.
    """
    recorded = sweeps.read_batches(root, sweep_id)
    if recorded and sorted(s for b in recorded for s in b) == sorted(rows):
        sized = [
            planner.Batch(i, tuple(b), n, planner.BATCH_FIXED_BYTES + n * plan.bytes_per_bar)
            for i, b in enumerate(recorded)
            for n in [sum(rows[s] for s in b)]
        ]
        if max(b.est_bytes for b in sized) <= plan.cap_bytes:
            return sized, True
    return list(plan.batches), False


def _plan_folds(
    settings: Settings, cfg: SweepConfig, symbols: list[str]
) -> tuple[tuple[int, int, int, int], ...]:
    """Fold bounds as UTC microseconds on the union of the symbols' timestamps, read one
    symbol batch at a time (memory: the distinct timestamps)."""
    from storage import bars

    wf = cfg.walkforward
    if "train" not in wf or "test" not in wf:
        raise ConfigError("walkforward: needs 'train' and 'test' (bars)")
    timeline = np.zeros(0, dtype=np.int64)
    for i in range(0, len(symbols), 200):
        t = bars.load_bars(
            settings.input.path, symbols=symbols[i : i + 200], columns=["close"], allow_empty=True
        )
        ts = t.column("timestamp").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
        timeline = np.union1d(timeline, ts)
    try:
        folds = plan_folds(
            int(timeline.shape[0]),
            wf["train"],
            wf["test"],
            wf.get("step"),
            anchored=bool(wf.get("anchored", False)),
            purge=wf.get("purge", 0),
            embargo=wf.get("embargo", 0),
        )
    except BarpipeError as err:
        raise ConfigError(str(err)) from None
    end = int(timeline[-1]) + 1

    def at(i: int) -> int:
        return int(timeline[i]) if i < timeline.shape[0] else end

    return tuple(
        (at(f.train_start), at(f.train_end), at(f.test_start), at(f.test_end)) for f in folds
    )


# --------------------------------------------------------------------------- run


@dataclass
class SweepSummary:
    sweep_id: str
    kind: str
    status: str
    n_tasks: int = 0
    n_reused: int = 0
    n_combinations: int = 0
    n_symbols: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    message: str = ""
    quarantined: dict[str, str] = field(default_factory=dict)  # symbol: why


def run_sweep(
    settings: Settings,
    cfg: SweepConfig,
    *,
    kind: str = "sweep",
    dry_run: bool = False,
    echo: Echo = print,
    progress: bool | None = None,
) -> SweepSummary:
    """CLI entry: start (or join) the Dask cluster, then the Prefect flow."""
    from flows.nightly import open_run_cluster
    from flows.runtime import PrefectBackend, configure_prefect

    if dry_run:
        memory, threads = _local_capacity(settings)
        plan = plan_sweep(settings, cfg, memory, threads, kind)
        echo(plan.describe())
        for space in cfg.spaces:
            echo(
                f"  {space.key}: {space.count():,} combination(s) in {space.n_chunks(cfg.chunk_size)} chunk(s) of <= {cfg.chunk_size}"
            )
        return SweepSummary(
            plan.sweep_id,
            kind,
            "planned",
            len(plan.jobs) + len(plan.score_jobs),
            0,
            plan.n_combinations,
            plan.n_symbols,
        )
    configure_prefect(settings.prefect.log_level, settings.prefect.api_url)
    backend = PrefectBackend(settings.prefect.api_url)
    with open_run_cluster(settings) as (_client, info):
        if info.dashboard:
            echo(f"Dask dashboard: {info.dashboard} (task groups {kind}_<strategy>)")
        backend.wait()
        from flows import flow

        flow.ECHO[0] = echo
        flow.quiet_console_failures()
        prefect_flow = flow.sweep if kind == "sweep" else flow.walkforward
        return prefect_flow(
            settings.model_dump(mode="json"),
            flow_parameters(cfg),
            scheduler=info.address,
            progress=sys.stdout.isatty() if progress is None else progress,
        )


def flow_parameters(cfg: SweepConfig) -> dict[str, Any]:
    """The sweep configuration as the plain values a Prefect flow run (or deployment) takes."""
    return dataclasses.asdict(cfg) | {"spaces": None}


def run_in_flow(
    kind: str,
    config: Mapping[str, Any],
    sweep: Mapping[str, Any],
    scheduler: str | None,
    *,
    progress: bool,
    echo: Echo,
    task: Callable[[Any], Any],
) -> SweepSummary:
    """The body of the ``sweep`` and ``walkforward`` Prefect flows (``flows.flow``): the
    run's cluster (``scheduler``, else ``cluster.*``: a served run starts its own), then
    ``execute``."""
    from flows.nightly import open_run_cluster

    settings = Settings.model_validate(dict(config))
    cfg = _rebuild(settings, sweep)
    with open_run_cluster(settings, scheduler) as (client, info):
        return execute(
            settings, cfg, client, info.worker_memory, info.n_threads, kind=kind, echo=echo,
            progress=progress, task=task,
        )  # fmt: skip


def _local_capacity(settings: Settings) -> tuple[int, int]:
    """Worker memory and total threads a local cluster of these settings would have (the
    dry run plans without starting one)."""
    import psutil

    c = settings.cluster
    workers = c.n_workers or max((os.cpu_count() or 1) // max(c.threads_per_worker or 1, 1), 1)
    memory = c.memory_limit_bytes() or psutil.virtual_memory().total // workers
    return int(memory), int(workers * (c.threads_per_worker or 1))


def _rebuild(settings: Settings, sweep: Mapping[str, Any]) -> SweepConfig:
    base = settings.backtest.model_dump()  # the base settings of every combination
    spaces = tuple(
        parse_space(e, f"sweep.strategies[{i}]", base) for i, e in enumerate(sweep["entries"])
    )
    return SweepConfig(
        tuple(sweep["entries"]),
        spaces,
        sweep["chunk_size"],
        sweep["metric"],
        sweep["pbo_blocks"],
        dict(sweep["walkforward"]),
    )


def execute(
    settings: Settings,
    cfg: SweepConfig,
    client: Any,
    worker_memory: int,
    n_threads: int,
    *,
    kind: str = "sweep",
    echo: Echo = print,
    progress: bool = False,
    task: Callable[[Any], Any] = lambda f: f,
) -> SweepSummary:
    """Plan, compute the missing tasks on the cluster, publish; the flow's body."""
    started = time.perf_counter()
    plan = task(plan_sweep)(settings, cfg, worker_memory, n_threads, kind)
    echo(plan.describe())
    out = settings.output
    if "://" in out.path:
        raise ConfigError(
            f"output.path: sweeps publish to a local directory for now, got {out.path!r}"
        )
    os.makedirs(out.path, exist_ok=True)
    db_path = out.resolved_db_path()
    conn = db.connect(db_path)
    n_tasks = len(plan.jobs) + len(plan.score_jobs)
    summary = SweepSummary(
        plan.sweep_id, kind, "running", n_tasks, 0, plan.n_combinations, plan.n_symbols
    )
    try:
        if sweeps.sweep_published(conn, plan.sweep_id):
            sweeps.remove_staging(out.path, plan.sweep_id)  # a publish killed after its commit
            summary.status = "succeeded"
            summary.message = "already published; nothing to do"
            echo(f"{kind} {plan.sweep_id} is already published")
            return summary
        dead = sweeps.mark_abandoned(conn)
        if dead:
            echo(f"marked {len(dead)} sweep(s) of dead processes abandoned: {', '.join(dead)}")
        now = db.utc_now()
        sweeps.record_sweep(
            conn,
            plan.sweep_id,
            kind=kind,
            status="running",
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=now,
            config_hash=plan.config_hash,
            input_fingerprint=plan.fingerprint,
            n_combinations=plan.n_combinations,
            n_symbols=plan.n_symbols,
            n_tasks=summary.n_tasks,
        )
        if not plan.resumed_batches:  # a later attempt plans the same batches if they fit
            sweeps.record_batches(out.path, plan.sweep_id, plan.batches)
        jobs = plan.jobs
        if plan.score_jobs:  # universe-wide walk-forward over several batches
            results = task(compute_tasks)(client, plan.score_jobs, progress=progress)
            jobs = task(choose_universe)(out.path, plan, cfg)
            summary.n_reused += sum(1 for r in results if r.get("reused"))
        results = task(compute_tasks)(client, jobs, progress=progress)
        summary.n_reused += sum(1 for r in results if r.get("reused"))
        echo(
            f"{summary.n_tasks - summary.n_reused} task(s) computed, {summary.n_reused} reused from an earlier attempt"
        )
        summary.quarantined = _quarantined(out.path, plan, echo)
        pieces = (
            _sweep_tables(out.path, plan, cfg, summary.stats)
            if kind == "sweep"
            else _walkforward_tables(out.path, plan, summary.stats)
        )

        def registry() -> dict[str, Any]:
            return dict(
                kind=kind,
                started_at=now,
                finished_at=db.utc_now(),
                config_hash=plan.config_hash,
                input_fingerprint=plan.fingerprint,
                n_combinations=plan.n_combinations,
                n_symbols=plan.n_symbols,
                n_tasks=summary.n_tasks,
                n_tasks_reused=summary.n_reused,
                stats={
                    **summary.stats,
                    **({"quarantined": summary.quarantined} if summary.quarantined else {}),
                },
            )

        run = settings.run
        with db.run_lock(db_path, mode=run.lock, timeout=run.lock_timeout_s, echo=echo):
            summary.outputs = task(publish)(out.path, conn, plan, pieces, registry, echo)
        summary.status = "succeeded"
        if kind == "sweep" and settings.run.report:
            from flows.sweep_report import write_sweep_report

            summary.outputs["report"] = write_sweep_report(
                out.path, plan.sweep_id, cfg.spaces, summary.stats
            )
    except BaseException as err:
        if summary.status != "succeeded":  # a report that fails leaves the sweep published
            summary.status = "failed"
            sweeps.record_sweep(
                conn,
                plan.sweep_id,
                status="failed",
                error=str(err).splitlines()[0] if str(err) else type(err).__name__,
            )
        raise
    finally:
        conn.close()
        summary.wall_seconds = time.perf_counter() - started
    return summary


def _quarantined(root: str, plan: SweepPlan, echo: Echo) -> dict[str, str]:
    """The symbols validation left out of the sweep (said, and kept in the registry); a
    DataError when that is every symbol."""
    keys = [k for group in plan.chunk_groups.values() for k in group]
    left_out = sweeps.staged_quarantine(root, plan.sweep_id, keys)
    if not left_out:
        return left_out
    first, why = next(iter(left_out.items()))
    if len(left_out) >= plan.n_symbols:
        raise DataError(
            f"no symbol left to sweep: all {len(left_out)} were quarantined (first: {first}: {why})"
        )
    echo(f"{len(left_out)} symbol(s) quarantined, left out of the sweep (first: {first}: {why})")
    return left_out


def choose_universe(root: str, plan: SweepPlan, cfg: SweepConfig) -> list[SweepJob]:
    """The walk-forward jobs with each fold's combination chosen across the universe, from
    the first pass's staged scores, one combination chunk at a time (all batches of it)."""
    n_folds = len(plan.score_jobs[0].folds)
    chosen = []
    for entry, space in zip(cfg.entries, cfg.spaces, strict=True):
        keys = [j.key for j in plan.score_jobs if j.entry == entry]
        medians = _universe_chunks(root, plan.sweep_id, keys, space, cfg.chunk_size, n_folds)
        chosen.append((entry, tuple(choose(medians, n_folds).tolist())))
    return [
        dataclasses.replace(j, chosen=next(c for e, c in chosen if e == j.entry)) for j in plan.jobs
    ]


def _universe_chunks(
    root: str, sweep_id: str, keys: list[str], space: Space, size: int, n_folds: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for k in range(space.n_chunks(size)):
        ids = (k * size, (k + 1) * size)  # a chunk's combination ids (compute.sweep.space)
        parts = [sweeps.read_staged(root, sweep_id, key, combo_range=ids) for key in keys]
        yield tables.universe_chunk(parts, n_folds)


def task_key(job: SweepJob) -> str:
    """A task's Dask key: ``<kind>_<strategy label>-<content key>``. The dashboard groups
    tasks by the part before the first dash, so its progress bars read ``sweep_ma_crossover``."""
    label = re.sub(r"[^A-Za-z_]", "_", str(job.entry.get("label") or job.entry.get("name")))
    return f"{job.kind}_{label}-{job.key}"


def compute_tasks(client: Any, jobs: list[SweepJob], *, progress: bool) -> list[dict[str, Any]]:
    """Every task on the cluster (keys: ``task_key``); a task's error fails the sweep.
    ``progress``: a console bar of tasks done (on a terminal)."""
    from distributed import as_completed

    from flows.nightly import _ERRORS

    futures = client.map(sweep_task, jobs, key=[task_key(j) for j in jobs], retries=1, pure=False)
    bar = _progress(len(jobs), jobs[0].kind if jobs else "sweep") if progress else None
    results = []
    try:
        for fut in as_completed(futures):
            result = fut.result()
            fut.release()
            if result.get("error"):
                raise _ERRORS.get(result["error_type"], BarpipeError)(result["error"])
            results.append(result)
            if bar is not None:
                bar[0].advance(bar[1])
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        if bar is not None:
            bar[0].stop()
    return results


def _progress(total: int, kind: str) -> tuple[Any, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    label = f"{kind} tasks"
    bar = Progress(label, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
    task_id = bar.add_task(label, total=total)
    bar.start()
    return bar, task_id


def publish(
    root: str,
    conn: Any,
    plan: SweepPlan,
    pieces: Mapping[str, tuple[pa.Schema, Callable[[], Iterator[pa.Table]]]],
    registry: Callable[[], dict[str, Any]],
    echo: Echo,
) -> dict[str, str]:
    """Recover the output root (a run or sweep that died mid-publish), then publish the
    sweep (``storage.sweeps.publish_sweep``); the caller holds the run lock."""
    out = runs.OutputRoot(root)
    runs.recover(out, conn, plan.sweep_id, echo=echo)
    return sweeps.publish_sweep(
        out, conn, plan.sweep_id, pieces, registry, signature=plan.config_hash
    )


Pieces = dict[str, tuple[pa.Schema, Callable[[], Iterator[pa.Table]]]]


def _sweep_tables(root: str, plan: SweepPlan, cfg: SweepConfig, sink: dict[str, Any]) -> Pieces:
    """``sweep_results`` and ``sweep_summary`` as (schema, stream of pieces); the summary is
    reduced one combination chunk at a time; the statistics land in ``sink`` when the
    summary ends (before the registry row is written)."""
    keys = [k for group in plan.chunk_groups.values() for k in group]
    results_schema = sweeps.staged_schema(root, plan.sweep_id, keys)

    def results() -> Iterator[pa.Table]:
        for key in keys:
            yield sweeps.read_staged(root, plan.sweep_id, key)

    def summary() -> Iterator[pa.Table]:
        per_space: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for (si, _k), group in plan.chunk_groups.items():
            parts = [sweeps.read_staged(root, plan.sweep_id, key) for key in group]
            parts = [p for p in parts if p.num_rows]
            if not parts:
                continue
            t = pa.concat_tables(parts, promote_options="permissive")
            piece, ids, moments = tables.summarise_chunk(t, cfg.pbo_blocks)
            per_space.setdefault(si, []).append((ids, moments))
            yield piece
        for si, items in per_space.items():
            space = cfg.spaces[si]
            ids = np.concatenate([i for i, _ in items])
            mom = np.concatenate([m for _, m in items]) if cfg.pbo_blocks else None
            sink[space.key] = tables.space_statistics(ids, mom)

    return {
        "sweep_results": (results_schema, results),
        "sweep_summary": (tables.summary_schema(results_schema), summary),
    }


def _walkforward_tables(root: str, plan: SweepPlan, sink: dict[str, Any]) -> Pieces:
    """``walkforward_folds`` and ``walkforward_equity`` as (schema, stream of pieces);
    ``sink`` gets, per strategy and fold, the median in-sample and out-of-sample Sharpe
    across symbols."""
    keys = [k for group in plan.chunk_groups.values() for k in group]

    def folds() -> Iterator[pa.Table]:
        sharpes: dict[tuple[str, int], tuple[list[float], list[float]]] = {}
        names = ("strategy", "fold", "is_sharpe_ratio", "oos_sharpe_ratio")
        for key in keys:
            t = sweeps.read_staged(root, plan.sweep_id, key)
            if t.num_rows:
                for strategy, fold, ins, oos in zip(
                    *(t[c].to_pylist() for c in names), strict=True
                ):
                    pair = sharpes.setdefault((strategy, fold), ([], []))
                    pair[0].append(ins)
                    pair[1].append(oos)
                yield t
        stats: dict[str, Any] = {}
        for (strategy, fold), (ins, oos) in sorted(sharpes.items()):
            with np.errstate(all="ignore"):
                row = {
                    "fold": fold,
                    "median_in_sample_sharpe": float(np.nanmedian(np.array(ins, dtype=float))),
                    "median_out_of_sample_sharpe": float(np.nanmedian(np.array(oos, dtype=float))),
                }
            stats.setdefault(strategy, {}).setdefault("folds", []).append(row)
        sink.update(stats)  # whole: the stream runs again for SQLite

    def equity() -> Iterator[pa.Table]:
        for key in keys:
            t = sweeps.read_staged(root, plan.sweep_id, f"{key}-equity")
            if t.num_rows:
                yield t

    return {
        "walkforward_folds": (spec("walkforward_folds").schema, folds),
        "walkforward_equity": (spec("walkforward_equity").schema, equity),
    }


def echo_summary(summary: SweepSummary, echo: Echo) -> None:
    echo(f"{summary.kind} {summary.sweep_id}: {summary.status} in {summary.wall_seconds:.1f} s")
    for name, s in summary.stats.items():
        parts = [
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in s.items()
            if k != "folds"
        ]
        if parts:
            echo(f"  {name}: " + ", ".join(parts))
        for f in s.get("folds", []):
            echo(
                f"  {name} fold {f['fold']}: median Sharpe in sample {f['median_in_sample_sharpe']:.3f}, "
                f"out of sample {f['median_out_of_sample_sharpe']:.3f}"
            )
    for name, path in summary.outputs.items():
        echo(f"  {name}: {path}")


__all__ = [
    "SweepConfig",
    "SweepJob",
    "execute",
    "load_sweep",
    "plan_sweep",
    "run_sweep",
    "sweep_task",
]
