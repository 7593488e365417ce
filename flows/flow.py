"""The Prefect flow object; importing this module imports Prefect (configure it first).

A failed run is reported once, by barpipe: the CLI prints one ``error:`` line (and the
traceback with ``--debug``). Prefect would also print each failed task and flow run with its
traceback on the console, so ``quiet_console_failures`` drops those ERROR records from the
console handler only; Prefect's API (the UI's run logs) still receives them.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.logs import run_log
from flows.nightly import RunSummary, execute, open_run_cluster
from flows.settings import Settings

# Where the flow's messages go: the CLI points this at its console; deployments log nothing.
ECHO: list[Any] = [lambda _msg: None]

_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class _DropRunFailures(logging.Filter):
    """Drops Prefect's ERROR records about failed task and flow runs (barpipe reports them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and record.name.startswith(_RUN_LOGGERS))


def quiet_console_failures() -> None:
    """Add the filter to Prefect's console handlers (idempotent; call after Prefect's set-up)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, _DropRunFailures) for f in handler.filters
        ):
            handler.addFilter(_DropRunFailures())


quiet_console_failures()


def _as_task(fn: Any) -> Any:
    return task(fn, name=fn.__name__, cache_policy=NO_CACHE, log_prints=False)


@flow(name="nightly", log_prints=False, validate_parameters=False)
def nightly(
    config: dict[str, Any], scheduler: str | None = None, progress: bool = False
) -> RunSummary:
    """Plan batches, compute them on Dask, publish trades/equity/metrics; see flows.nightly."""
    settings = Settings.model_validate(config)
    with run_log(settings), open_run_cluster(settings, scheduler) as (client, info):
        return execute(settings, client, info, echo=ECHO[0], progress=progress, task=_as_task)


@flow(name="sweep", log_prints=False, validate_parameters=False)
def sweep(
    config: dict[str, Any],
    sweep: dict[str, Any],
    scheduler: str | None = None,
    progress: bool = False,
) -> Any:
    """A parameter sweep: plan, compute on Dask, publish sweep_results; see flows.sweep."""
    from flows import sweep as jobs

    return jobs.run_in_flow(
        "sweep", config, sweep, scheduler, progress=progress, echo=ECHO[0], task=_as_task
    )


@flow(name="walkforward", log_prints=False, validate_parameters=False)
def walkforward(
    config: dict[str, Any],
    sweep: dict[str, Any],
    scheduler: str | None = None,
    progress: bool = False,
) -> Any:
    """A walk-forward: per fold, select in sample and test out of sample; see flows.sweep."""
    from flows import sweep as jobs

    return jobs.run_in_flow(
        "walkforward", config, sweep, scheduler, progress=progress, echo=ECHO[0], task=_as_task
    )
