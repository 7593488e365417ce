"""The Dask side of a run: a LocalCluster on 127.0.0.1 by default, or any scheduler address.

Workers get a writable numba cache directory (set before numba is imported in a spawned
worker, and re-read on workers of an existing cluster) so compiled kernels are reused
across runs; the flow compiles a configuration's kernels into it before the first batch
(``flows.nightly.warm_kernels``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
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


def worker_memory_limit(memory_limit: str | int, n_workers: int, threads_per_worker: int) -> int:
    """Bytes per local worker: ``auto`` is the machine's memory divided by the workers.

    Raises
    ------
    ConfigError
        The limit is below the smallest worker that can run a batch
        (``compute.planner.min_worker_memory``): such workers die or pause at start and the
        run would wait for them forever.
    """
    from dask.utils import format_bytes, parse_bytes
    from distributed.system import MEMORY_LIMIT

    from compute.planner import min_worker_memory

    if memory_limit == "auto":
        limit = MEMORY_LIMIT // max(n_workers, 1)
        given = f"auto ({format_bytes(MEMORY_LIMIT)} of memory / {n_workers} worker(s))"
    else:
        limit = int(parse_bytes(memory_limit) if isinstance(memory_limit, str) else memory_limit)
        given = repr(memory_limit)
    least = min_worker_memory(threads_per_worker)
    machine = format_bytes(MEMORY_LIMIT)
    if least > MEMORY_LIMIT:
        raise ConfigError(
            f"cluster.threads_per_worker = {threads_per_worker}: one worker with that many "
            f"threads needs at least {math.ceil(least / 2**20)} MiB, more than this machine's "
            f"{machine}; use fewer threads per worker"
        )
    if n_workers * least > MEMORY_LIMIT:  # each local worker's own process needs that much
        raise ConfigError(
            f"cluster.n_workers (--workers) = {n_workers} local workers with "
            f"{threads_per_worker} thread(s) each need at least {n_workers} x "
            f"{math.ceil(least / 2**20)} MiB, more than this machine's {machine}; use at "
            f"most {MEMORY_LIMIT // least} worker(s)"
        )
    if limit < least:
        need = f"{math.ceil(least / 2**20)}MiB"
        raise ConfigError(
            f"cluster.memory_limit (--memory-limit) = {given} is too small: a worker with "
            f"{threads_per_worker} thread(s) needs at least {need} (its own process and room "
            f"for one batch per thread below Dask's pause threshold); use at least "
            f"--memory-limit {need}"
        )
    return limit


def bind_address(address: str, host: str) -> str:
    """``address`` with ``host`` filled in where it names only a port (``":0"``, ``"8787"``):
    Dask would bind those on every interface."""
    text = address.strip()
    if re.fullmatch(r":?\d+", text):
        return f"{host}:{text.lstrip(':')}"
    return text


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes are spawned, so that they inherit it ignored.

    Ctrl-C reaches the whole process group: the run (the CLI) reports the interruption and
    stops the workers; workers that took it too would each print a traceback. A Ctrl-C in
    this window (the cluster's start) is lost; the next one interrupts the run.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be changed from the main thread
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_local_cluster(
    *,
    n_workers: int,
    threads_per_worker: int,
    memory_limit: str | int,
    processes: bool,
    host: str,
    dashboard_address: str,
) -> LocalCluster:
    """A LocalCluster whose scheduler, workers and dashboard listen on ``host`` (the dashboard
    elsewhere only if ``dashboard_address`` names another host)."""
    with _sigint_ignored():
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            memory_limit=memory_limit,
            processes=processes,
            # threads-only clusters default to inproc://, which cannot bind a host
            protocol="tcp://",
            host=host,
            scheduler_port=0,
            dashboard_address=bind_address(dashboard_address, host),
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
    if not address:
        memory_limit = worker_memory_limit(memory_limit, n, threads_per_worker)
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
            try:
                cluster = start_local_cluster(
                    n_workers=n,
                    threads_per_worker=threads_per_worker,
                    memory_limit=memory_limit,
                    processes=processes,
                    host=host,
                    dashboard_address=dashboard_address or f"{host}:0",
                )
            except (RuntimeError, OSError) as err:  # an address it cannot bind or resolve
                raise ConfigError(
                    f"cannot start the local Dask cluster on cluster.host = {host!r} with "
                    f"cluster.dashboard_address = {dashboard_address!r}: {err}; use an "
                    "address of this machine (127.0.0.1 by default) and host:port for the "
                    "dashboard"
                ) from err
            client = Client(cluster)
    except ConfigError:
        raise  # already says what to change (a ConfigError is also a ValueError)
    except ValueError as err:  # dask's parse errors for memory_limit and addresses
        raise ConfigError(f"cannot start the Dask cluster: {err}") from err
    try:
        _wait_for_workers(client, n if cluster is not None else 1, address)
        if mode == "connected":
            client.run(_set_numba_cache, cache)
        yield client, describe(client, local=cluster is not None or mode != "connected", mode=mode)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


WORKERS_TIMEOUT_S = 60.0


def _wait_for_workers(client: Client, n: int, address: str | None) -> None:
    """Fail instead of waiting forever for workers that never come (or keep dying)."""
    try:
        client.wait_for_workers(n, timeout=WORKERS_TIMEOUT_S)
    except TimeoutError as err:
        have = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        where = f"the Dask scheduler at {address}" if address else "the local Dask cluster"
        raise ConfigError(
            f"{where} has {have} of the {n} worker(s) it needs after {WORKERS_TIMEOUT_S:g} s; "
            "workers that die at start usually have too little memory (--memory-limit)"
        ) from err


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
