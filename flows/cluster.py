"""The Dask side of a run: a LocalCluster on 127.0.0.1 by default, or any scheduler address.

Workers get a writable numba cache directory (set before numba is imported in a spawned
worker, and re-read on workers of an existing cluster) so compiled kernels are reused
across runs; the flow compiles a configuration's kernels into it before the first batch
(``flows.nightly.warm_kernels``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from distributed import Client, LocalCluster

from compute.errors import ConfigError

log = logging.getLogger("barpipe.cluster")


@dataclass(frozen=True)
class ClusterInfo:
    """What a run needs to know about the cluster it got."""

    address: str
    dashboard: str | None
    n_workers: int
    n_threads: int
    worker_memory: int
    local: bool
    # how the cluster was obtained: "connected" (an address), "started" (for this run),
    # "kept, started" / "kept, reused" (flows.kept_cluster)
    mode: str = "started"


def numba_cache_dir() -> str:
    """The numba cache folder: ``$NUMBA_CACHE_DIR`` or ``~/.cache/barpipe/numba``."""
    path = os.environ.get("NUMBA_CACHE_DIR") or str(Path.home() / ".cache" / "barpipe" / "numba")
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def _set_numba_cache(path: str) -> str:
    """Runs on a worker: point numba's cache at ``path`` even if numba is already imported,
    unless the worker was started with a cache folder of its own (a worker on another
    machine cannot use the flow's path)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        import numba

        return str(numba.config.CACHE_DIR)
    os.environ["NUMBA_CACHE_DIR"] = path
    import numba

    numba.config.reload_config()
    return numba.config.CACHE_DIR


def start_local_cluster(
    *,
    n_workers: int,
    threads_per_worker: int,
    memory_limit: str | int,
    processes: bool,
    host: str,
    dashboard_address: str,
) -> LocalCluster:
    """A LocalCluster whose scheduler, workers and dashboard listen on ``host``."""
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        memory_limit=memory_limit,
        processes=processes,
        # threads-only clusters default to inproc://, which cannot bind a host
        protocol="tcp://",
        host=host,
        scheduler_port=0,
        dashboard_address=dashboard_address,
        silence_logs=logging.ERROR,
    )


@contextlib.contextmanager
def open_cluster(
    *,
    address: str | None,
    n_workers: int | None,
    threads_per_worker: int,
    memory_limit: str | int,
    dashboard_address: str | None,
    host: str = "127.0.0.1",
    processes: bool = True,
    keep_alive_s: float = 0.0,
) -> Iterator[tuple[Client, ClusterInfo]]:
    """Connect to ``address``, or to a kept-alive local cluster (``keep_alive_s`` > 0, see
    flows.kept_cluster), or start a LocalCluster; close what was started for this run on exit."""
    cache = numba_cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = cache  # inherited by spawned local workers
    cluster: LocalCluster | None = None
    n = n_workers or os.cpu_count() or 1
    mode = "connected" if address else "started"
    try:
        if not address and keep_alive_s > 0 and processes:
            from flows import kept_cluster

            params = {
                "n_workers": n,
                "threads_per_worker": threads_per_worker,
                "memory_limit": memory_limit,
                "processes": processes,
                "host": host,
                "dashboard_address": dashboard_address or f"{host}:0",
                "numba_cache_dir": cache,
            }
            address, how = kept_cluster.address_for(params, keep_alive_s)
            mode = f"kept, {how}"
        if address:
            try:
                client = Client(address, timeout="20s")
            except OSError as err:
                raise ConfigError(
                    f"cannot reach the Dask scheduler at {address!r} ({err}); "
                    "check cluster.address / --scheduler"
                ) from err
            if mode.startswith("kept"):
                try:
                    client.wait_for_workers(n, timeout=120)
                except TimeoutError as err:
                    client.close()
                    raise ConfigError(
                        f"the kept-alive Dask cluster at {address} has fewer than {n} workers "
                        "after 120 s; stop it with flows.kept_cluster.stop_kept_cluster() "
                        "and look at barpipe-cluster.log in PREFECT_HOME"
                    ) from err
        else:
            cluster = start_local_cluster(
                n_workers=n,
                threads_per_worker=threads_per_worker,
                memory_limit=memory_limit,
                processes=processes,
                host=host,
                dashboard_address=dashboard_address or f"{host}:0",
            )
            client = Client(cluster)
    except ValueError as err:  # dask's parse errors for memory_limit and addresses
        raise ConfigError(f"cannot start the Dask cluster: {err}") from err
    try:
        if mode == "connected":
            client.run(_set_numba_cache, cache)
        yield client, describe(client, local=cluster is not None or mode != "connected", mode=mode)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def describe(client: Client, *, local: bool, mode: str = "started") -> ClusterInfo:
    """Workers, threads and the smallest worker memory limit of ``client``'s cluster."""
    info = client.scheduler_info(n_workers=-1)
    workers = info.get("workers", {}).values()
    limits = [w.get("memory_limit") or 0 for w in workers]
    return ClusterInfo(
        address=client.scheduler.address,
        dashboard=client.dashboard_link if info.get("services", {}).get("dashboard") else None,
        n_workers=len(limits),
        n_threads=sum(w.get("nthreads", 1) for w in workers),
        worker_memory=min((x for x in limits if x), default=4 * 2**30),
        local=local,
        mode=mode,
    )
