"""Worker memory limits (issue 12): ``auto`` divides the machine's memory between the workers,
and a limit too small for any worker fails at once with the smallest value that works,
instead of starting workers that die or pause for good while the run waits."""

from __future__ import annotations

import time

import pytest
from distributed.system import MEMORY_LIMIT

from compute.errors import ConfigError
from compute.planner import min_worker_memory
from flows.cluster import open_cluster, worker_memory_limit
from flows.settings import load_settings

MIB = 2**20


def test_auto_is_machine_memory_divided_by_workers() -> None:
    with open_cluster(
        address=None,
        n_workers=3,
        threads_per_worker=1,
        memory_limit="auto",
        dashboard_address="127.0.0.1:0",
        processes=False,
    ) as (_client, info):
        assert info.n_workers == 3
        assert info.worker_memory == MEMORY_LIMIT // 3


@pytest.mark.parametrize("limit", ["50MB", "1KB", "200MB"])
def test_a_limit_too_small_for_any_worker_fails_at_once_naming_the_smallest_that_works(
    limit,
) -> None:
    began = time.monotonic()
    with pytest.raises(ConfigError) as info:  # noqa: SIM117 - the cluster must never start
        with open_cluster(
            address=None,
            n_workers=1,
            threads_per_worker=1,
            memory_limit=limit,
            dashboard_address="127.0.0.1:0",
        ):
            pass
    assert time.monotonic() - began < 30  # a hang is the defect; the check itself is instant
    message = str(info.value)
    least = f"{-(-min_worker_memory(1) // MIB)}MiB"
    assert message.startswith(f"cluster.memory_limit (--memory-limit) = '{limit}' is too small")
    assert f"at least --memory-limit {least}" in message


def test_the_smallest_limit_named_is_accepted() -> None:
    least = min_worker_memory(2)
    assert worker_memory_limit(least, 1, 2) == least
    with pytest.raises(ConfigError):
        worker_memory_limit(least - 1, 1, 2)


def test_auto_with_too_many_workers_for_the_machine_says_to_use_fewer() -> None:
    n = MEMORY_LIMIT // min_worker_memory(1) + 1
    with pytest.raises(ConfigError, match=rf"use at most {n - 1} worker\(s\)"):
        worker_memory_limit("auto", n, 1)


@pytest.mark.parametrize("value", ["1e400", "-1", "0", "inf", "nan", "1e400GB"])
def test_bad_sizes_are_one_line_config_errors(value) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"cluster.memory_limit": value}, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"config key 'cluster.memory_limit' = '{value}' is not allowed")


@pytest.mark.parametrize(("workers", "threads"), [(100_000, 1), (1, 100_000)])
def test_more_local_workers_or_threads_than_the_machine_can_hold_are_refused(workers, threads):
    began = time.monotonic()
    with pytest.raises(ConfigError) as info:
        worker_memory_limit("1GB", workers, threads)
    assert time.monotonic() - began < 5
    message = str(info.value)
    assert message.startswith(
        "cluster.n_workers (--workers) = 100000" if workers > 1 else "cluster.threads_per_worker"
    )
    assert "more than this machine's" in message


@pytest.mark.parametrize(
    ("host", "dashboard", "names"),
    [
        ("no_such_host", "127.0.0.1:0", "cluster.host = 'no_such_host'"),
        ("127.0.0.1", "no_such_host:0", "cluster.dashboard_address = 'no_such_host:0'"),
    ],
)
def test_an_address_the_cluster_cannot_bind_is_a_config_error_naming_the_setting(
    host, dashboard, names
) -> None:
    with pytest.raises(ConfigError) as info:  # noqa: SIM117 - the cluster never starts
        with open_cluster(
            address=None,
            n_workers=1,
            threads_per_worker=1,
            memory_limit="1GB",
            dashboard_address=dashboard,
            host=host,
            processes=False,
        ):
            pass
    message = str(info.value)
    assert message.startswith("cannot start the local Dask cluster on cluster.host")
    assert names in message


def test_an_unreachable_scheduler_is_named_once() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError) as info:  # noqa: SIM117
        with open_cluster(
            address=f"tcp://127.0.0.1:{port}",
            n_workers=None,
            threads_per_worker=1,
            memory_limit="auto",
            dashboard_address=None,
        ):
            pass
    assert str(info.value).startswith(
        f"cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}'"
    )
