"""Shared test set-up: a writable numba cache, and no Prefect server or kept cluster left behind."""

import functools
import os
import random
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))


def _own_random_per_background_thread() -> None:
    """Draws of the `random` module's functions from any thread but the main one use a
    `random.Random` of that thread, not the global state.

    Background threads of Dask (sizeof sampling, gather) and of Prefect's event client (the
    websocket keep-alive ping) draw from the global state, and they outlive the test that
    started them. Hypothesis seeds that state around each example and compares it after every
    draw, so a ping landing inside a draw failed property tests as
    `FlakyStrategyDefinition` ("Do not use the random module inside strategies"), seen in a
    clean-clone CI run. The main thread keeps the global state, and with it Hypothesis's
    determinism; `seed`, `getstate` and `setstate` stay global."""
    main = threading.main_thread()
    local = threading.local()

    def own() -> random.Random:
        rng = getattr(local, "rng", None)
        if rng is None:
            rng = local.rng = random.Random()
        return rng

    for name in random.__all__:
        glob = getattr(random, name)
        if getattr(glob, "__self__", None) is not random._inst or name in {
            "seed",
            "getstate",
            "setstate",
        }:
            continue

        @functools.wraps(glob)
        def draw(*args, _glob=glob, _name=name, **kwargs):
            if threading.current_thread() is main:
                return _glob(*args, **kwargs)
            return getattr(own(), _name)(*args, **kwargs)

        setattr(random, name, draw)


_own_random_per_background_thread()


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
