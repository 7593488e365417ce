"""The cluster the flow gets: local processes or threads, always on 127.0.0.1."""

import time

import pytest

from flows.cluster import open_cluster


@pytest.mark.parametrize("processes", [True, False])
def test_local_cluster_binds_loopback(processes):
    with open_cluster(
        address=None,
        n_workers=1,
        threads_per_worker=1,
        memory_limit="1GB",
        dashboard_address="127.0.0.1:0",
        processes=processes,
    ) as (client, info):
        assert info.address.startswith("tcp://127.0.0.1:")
        assert info.n_workers == 1
        assert info.dashboard.startswith("http://127.0.0.1:")
        assert client.submit(sum, [1, 2]).result() == 3


# --- a local cluster kept alive between runs (flows.kept_cluster) ------------------------------


@pytest.fixture
def kept_home(tmp_path, monkeypatch):
    """A private state folder for kept-alive clusters; whatever a test leaves running is stopped."""
    from flows.kept_cluster import stop_kept_cluster

    home = tmp_path / "home"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    yield home
    stop_kept_cluster(str(home))


def _open(n_workers=1, keep_alive_s=60.0):
    return open_cluster(
        address=None,
        n_workers=n_workers,
        threads_per_worker=1,
        memory_limit="1GB",
        dashboard_address="127.0.0.1:0",
        keep_alive_s=keep_alive_s,
    )


def _listening(pid):
    import psutil

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {
        (c.laddr.ip, proc.pid)
        for proc in procs
        for c in proc.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }


def test_a_kept_cluster_is_reused_by_the_next_run_and_binds_loopback(kept_home):
    from flows.kept_cluster import kept_cluster

    with _open() as (client, info):
        assert info.mode == "kept, started"
        assert client.submit(sum, [1, 2]).result() == 3
        first = info.address
        worker_pids = set(client.run(lambda: __import__("os").getpid()).values())
    state = kept_cluster(str(kept_home))
    assert state is not None  # still up after the run
    assert state["address"] == first
    listeners = _listening(int(state["pid"]))
    assert listeners
    assert {ip for ip, _ in listeners} == {"127.0.0.1"}, listeners
    with _open() as (client, info):
        assert info.mode == "kept, reused"
        assert info.address == first
        assert set(client.run(lambda: __import__("os").getpid()).values()) == worker_pids


def test_other_settings_replace_the_kept_cluster(kept_home):
    import psutil

    from flows.kept_cluster import kept_cluster

    with _open(n_workers=1) as (_, info):
        assert info.n_workers == 1
    old = int(kept_cluster(str(kept_home))["pid"])
    with _open(n_workers=2) as (_, info):
        assert info.mode == "kept, started"
        assert info.n_workers == 2
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE


def test_a_kept_cluster_stops_after_its_idle_time_and_on_request(kept_home):
    import time

    import psutil

    from flows.kept_cluster import STATE_FILE, kept_cluster, stop_kept_cluster

    with _open(keep_alive_s=1.0) as (client, _):
        time.sleep(2)  # a connected client keeps it up past its idle time
        assert client.submit(sum, [1, 2]).result() == 3
        pid = int(kept_cluster(str(kept_home))["pid"])
        assert psutil.pid_exists(pid)
    proc = psutil.Process(pid)
    proc.wait(60)  # idle for 1 s once the client left
    assert not (kept_home / STATE_FILE).exists()

    with _open(keep_alive_s=600.0):
        pass
    pid = int(kept_cluster(str(kept_home))["pid"])
    assert stop_kept_cluster(str(kept_home)) is True
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert kept_cluster(str(kept_home)) is None
    assert stop_kept_cluster(str(kept_home)) is False


# --- what the flow does around the batches -------------------------------------------------------


def _job(**changes):
    from compute import pipeline
    from flows.settings import OutputConfig
    from flows.tasks import BatchJob

    fields = dict(
        batch=0, symbols=("A",), run_id="r", input_path="/nonexistent", input_options={},
        output=OutputConfig(path="/nonexistent-out"), start=None, end=None, min_bars=30,
        indicators=(pipeline.IndicatorRequest("rsi", {"timeperiod": 14}),),
        strategies=(pipeline.StrategyRequest("momentum"),),
        backtest={"direction": "long_short", "fees_bps": 1.0}, annualization=252.0,
        risk_free=0.0, write_indicators=True,
    )  # fmt: skip
    return BatchJob(**{**fields, **changes})


def _all_paused(client):
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return bool(workers) and all(w["status"] == "paused" for w in workers)


def test_a_run_whose_workers_stay_paused_fails_instead_of_waiting_forever():
    import dask

    from compute.errors import ConfigError
    from flows.nightly import compute_batches

    # a worker pauses above this fraction of its limit; a fresh worker is far above 1%
    with (
        dask.config.set(
            {
                "distributed.worker.memory.pause": 0.01,
                "distributed.worker.memory.target": False,
                "distributed.worker.memory.spill": False,
            }
        ),
        open_cluster(
            address=None,
            n_workers=1,
            threads_per_worker=1,
            memory_limit="1GB",
            dashboard_address="127.0.0.1:0",
        ) as (client, _),
    ):
        deadline = time.monotonic() + 30
        while not _all_paused(client):
            assert time.monotonic() < deadline, "the worker did not pause"
            time.sleep(0.1)
        with pytest.raises(ConfigError, match=r"paused at its memory limit for 2 s with 1 batch"):
            compute_batches(client, [_job()], progress=False, echo=print, paused_timeout_s=2)


def test_kernels_are_compiled_once_per_configuration_before_the_batches(tmp_path, monkeypatch):
    from flows.nightly import warm_kernels

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    said: list[str] = []
    warm_kernels(_job(), echo=said.append)
    assert len(said) == 1
    assert "compiling" in said[0]
    assert len(list(tmp_path.glob("barpipe-warm-*"))) == 1
    warm_kernels(_job(batch=5, symbols=("B", "C")), echo=said.append)  # same configuration
    assert len(said) == 1
    warm_kernels(_job(strategies=()), echo=said.append)  # another one
    assert len(said) == 2
    assert len(list(tmp_path.glob("barpipe-warm-*"))) == 2
