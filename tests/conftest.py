"""Shared test set-up: a writable numba cache, and no Prefect server or kept cluster left behind."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))


@pytest.fixture(scope="session", autouse=True)
def _stop_kept_alive_prefect_servers():
    """`barpipe run` keeps a local Prefect server (and, with cluster.keep_alive_s, a Dask
    cluster) alive between runs; tests stop theirs."""
    from flows.kept_cluster import stop_kept_cluster
    from flows.runtime import prefect_home, stop_local_server

    homes = {prefect_home()}
    yield
    homes.add(prefect_home())
    for home in homes:
        stop_local_server(home)
        stop_kept_cluster(home)
