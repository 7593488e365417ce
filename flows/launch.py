"""``run_nightly``: the CLI's way into the nightly flow; Prefect and the cluster start side by side.

Import order matters: Prefect is configured (quiet, offline, the project's PREFECT_HOME)
before ``flows.flow`` imports it. Modules import in one direction: launch → flow → nightly.
"""

from __future__ import annotations

import sys

from flows.nightly import Echo, RunSummary, open_run_cluster, warm_workers
from flows.runtime import PrefectBackend, configure_prefect
from flows.settings import Settings

__all__ = ["run_nightly"]


def run_nightly(
    settings: Settings, *, echo: Echo = print, progress: bool | None = None
) -> RunSummary:
    """Run the nightly flow from the CLI: Prefect and the cluster start side by side."""
    configure_prefect(settings.prefect.log_level, settings.prefect.api_url)
    backend = PrefectBackend(settings.prefect.api_url)
    keep = settings.cluster.keep_alive_s
    with open_run_cluster(settings) as (client, info):
        warming = warm_workers(settings, client, info)  # overlaps Prefect's start
        if info.mode.startswith("kept"):
            echo(f"Dask cluster: {info.mode} (kept alive {keep:g} s after its last use)")
        if info.dashboard:
            echo(f"Dask dashboard: {info.dashboard}")
        backend.wait()
        from flows import flow

        flow.ECHO[0] = echo
        flow.quiet_console_failures()
        try:
            return flow.nightly(
                settings.model_dump(mode="json"),
                scheduler=info.address,
                progress=sys.stdout.isatty() if progress is None else progress,
            )
        finally:
            del warming
