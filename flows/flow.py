"""The Prefect flow object; importing this module imports Prefect (configure it first)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.cluster import open_cluster
from flows.nightly import RunSummary, execute
from flows.settings import Settings

# Where the flow's messages go: the CLI points this at its console; deployments log nothing.
ECHO: list[Any] = [lambda _msg: None]


def _as_task(fn: Any) -> Any:
    return task(fn, name=fn.__name__, cache_policy=NO_CACHE, log_prints=False)


@flow(name="nightly", log_prints=False, validate_parameters=False)
def nightly(
    config: dict[str, Any], scheduler: str | None = None, progress: bool = False
) -> RunSummary:
    """Plan batches, compute them on Dask, publish trades/equity/metrics; see flows.nightly."""
    settings = Settings.model_validate(config)
    echo = ECHO[0]
    c = settings.cluster
    with open_cluster(
        address=scheduler or c.address,
        n_workers=c.n_workers,
        threads_per_worker=c.threads_per_worker,
        memory_limit=c.memory_limit,
        dashboard_address=c.dashboard_address,
        host=c.host,
        processes=c.processes,
    ) as (client, info):
        return execute(settings, client, info, echo=echo, progress=progress, task=_as_task)
