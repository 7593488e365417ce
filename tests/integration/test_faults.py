"""Faults: killed runs, killed workers, concurrent runs, any scheduler, listeners on 127.0.0.1.

Every outcome is compared with one clean run (``reference``): all published tables, sorted,
every column but ``run_id``. Timing is made deterministic with the test-only hook
``flows.tasks.pause_for_test`` (``BARPIPETEST_PAUSE_*``): a run announces in a signal file
that it reached a point (a batch staged; Parquet committed, SQLite not yet) and waits there
until it is killed or released.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pytest

from flows.cluster import open_cluster
from flows.launch import run_nightly
from flows.settings import ClusterConfig, load_settings
from storage import outputs

from .conftest import BIN, make_dataset

pytestmark = pytest.mark.slow

KEY = "2026-11-20"
TABLES = ("trades", "metrics", "equity", "quarantine")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("faults") / "bars", n_symbols=8, n_bars=300)


@pytest.fixture(scope="module")
def config(run_config) -> Path:
    """One YAML file for every run here, in-process or through the CLI: same results."""
    return run_config


def _settings(config, dataset, out, **extra):
    overrides = {"input.path": str(dataset), "output.path": str(out), "run.run_date": KEY}
    return load_settings(config, overrides={**overrides, **extra})


def _run(config, dataset, out, **extra):
    messages: list[str] = []
    summary = run_nightly(
        _settings(config, dataset, out, **extra), echo=messages.append, progress=False
    )
    return summary, messages


def _results(out: Path, key: str = KEY) -> dict[str, pa.Table]:
    tables = {}
    for name in TABLES:
        table = outputs.read_output(str(out), name, run_keys=[key])
        table = table.drop_columns(["run_id", "run_key"])
        tables[name] = table.sort_by([(c, "ascending") for c in table.column_names])
    return tables


def _assert_same_results(out: Path, reference: Path, key: str = KEY) -> None:
    got, want = _results(out, key), _results(reference)
    for name in TABLES:
        assert got[name].num_rows == want[name].num_rows, name
        assert got[name].equals(want[name]), f"{name} differs from the clean run"


def _sqlite_agrees_with_parquet(out: Path, key: str = KEY) -> str:
    """The run id that both copies hold for ``key`` (asserts they are the same run)."""
    with sqlite3.connect(out / "barpipe.db") as conn:
        ids = {
            r[0]
            for r in conn.execute("SELECT DISTINCT run_id FROM metrics WHERE run_key = ?", (key,))
        }
        n = conn.execute("SELECT count(*) FROM trades WHERE run_key = ?", (key,)).fetchone()[0]
    parquet = outputs.read_output(str(out), "metrics", run_keys=[key])
    assert ids == set(parquet["run_id"].to_pylist())
    assert n == outputs.read_output(str(out), "trades", run_keys=[key]).num_rows
    (run_id,) = ids
    return run_id


def _runs(out: Path) -> list[dict]:
    with sqlite3.connect(out / "barpipe.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY started_at")]


def _staging(out: Path) -> list[str]:
    root = out / "_staging"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture(scope="module")
def reference(prefect_harness, config, dataset, tmp_path_factory) -> Path:
    """A clean run on its own LocalCluster with 1 worker."""
    out = tmp_path_factory.mktemp("reference") / "out"
    summary, _ = _run(config, dataset, out)
    assert summary.status == "succeeded"
    assert summary.n_symbols == 8
    return out


# --- subprocesses ----------------------------------------------------------------------------


class Pause:
    """The test hook's files for one paused process: where it signals, what releases it."""

    def __init__(self, directory: Path, point: str, seconds: float = 120) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.signal = directory / f"signal-{point}"
        self.release = directory / f"release-{point}"
        self.env = {
            "BARPIPETEST_PAUSE_AT": point,
            "BARPIPETEST_PAUSE_S": str(seconds),
            "BARPIPETEST_PAUSE_SIGNAL": str(self.signal),
            "BARPIPETEST_PAUSE_RELEASE": str(self.release),
        }

    def lines(self) -> list[list[str]]:
        text = self.signal.read_text() if self.signal.exists() else ""
        return [line.split(" ", 2) for line in text.splitlines()]

    def wait(self, process: subprocess.Popen | None, timeout: float = 240) -> list[str]:
        """The first signal line (point, pid, detail...), failing early if ``process`` ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if lines := self.lines():
                return lines[0]
            if process is not None and process.poll() is not None:
                pytest.fail(f"process ended (exit {process.returncode}) before the pause point")
            time.sleep(0.05)
        pytest.fail(f"no signal in {self.signal} after {timeout}s")


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    try:
        return subprocess.Popen(
            [str(BIN / "barpipe"), *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        handle.close()  # the child has its own copy


def _kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process, then what it started (LocalCluster workers), and reap them."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=30)


def _run_args(config, dataset, out, *extra: str) -> list[str]:
    return ["run", "--config", str(config), "--input", str(dataset), "--output", str(out),
            "--run-date", KEY, *extra]  # fmt: skip


# --- killed runs ------------------------------------------------------------------------------


def test_run_killed_during_compute_is_abandoned_and_a_rerun_equals_a_clean_run(
    config, dataset, reference, cli_env, shared_cluster, tmp_path
):
    out = tmp_path / "out"
    pause = Pause(tmp_path / "pause", "batch")
    process = _spawn(_run_args(config, dataset, out), {**cli_env, **pause.env}, tmp_path / "log")
    try:
        _, _, detail = pause.wait(process)
    finally:
        _kill_tree(process)
    dead_id = detail.split()[0]
    assert [r["status"] for r in _runs(out)] == ["running"]
    assert _staging(out) == [dead_id]
    assert not (out / "trades").exists()  # nothing published

    summary, messages = _run(config, dataset, out, **{"cluster.address": shared_cluster})

    runs = {r["run_id"]: r for r in _runs(out)}
    assert runs[dead_id]["status"] == "abandoned"
    assert f"process {process.pid}" in runs[dead_id]["error"]
    assert runs[summary.run_id]["status"] == "succeeded"
    assert f"marked 1 dead run(s) abandoned: {dead_id}" in messages
    assert _staging(out) == []
    assert _sqlite_agrees_with_parquet(out) == summary.run_id
    _assert_same_results(out, reference)


@pytest.mark.parametrize("point", ["publish-table", "publish"])
def test_run_killed_during_publish_is_rolled_back_by_the_next_run(
    config, dataset, reference, cli_env, shared_cluster, tmp_path, point
):
    """Killed after its first Delta commit (``publish-table``) or after every Delta commit
    but before the SQLite one (``publish``): the next run rolls the tables back to what
    barpipe.db committed (nothing), then publishes its own night, equal to a clean run."""
    out = tmp_path / "out"
    pause = Pause(tmp_path / "pause", point)
    process = _spawn(_run_args(config, dataset, out), {**cli_env, **pause.env}, tmp_path / "log")
    try:
        _, _, detail = pause.wait(process)
    finally:
        _kill_tree(process)
    dead_id = detail.split()[0]
    assert outputs.read_output(str(out), "trades").num_rows > 0  # committed in Delta...
    with sqlite3.connect(out / "barpipe.db") as conn:  # ...but not in SQLite
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM table_versions").fetchone()[0] == 0

    summary, messages = _run(
        config, dataset, out, **{"cluster.address": shared_cluster, "run.run_date": "2026-11-21"}
    )

    runs = {r["run_id"]: r for r in _runs(out)}
    assert runs[dead_id]["status"] == "abandoned"
    assert any(m.startswith("recovered outputs: rolled trades back") for m in messages)
    assert _staging(out) == []
    assert _sqlite_agrees_with_parquet(out, "2026-11-21") == summary.run_id
    _assert_same_results(out, reference, "2026-11-21")


def test_repair_killed_during_recovery_finishes_on_the_next_repair(
    config, dataset, reference, cli_env, tmp_path
):
    """``barpipe repair`` is killed after restoring a table and before recording that; the
    next ``barpipe repair`` finishes the job, and a third finds nothing to do."""
    out = tmp_path / "out"
    pause = Pause(tmp_path / "pause", "publish")
    process = _spawn(_run_args(config, dataset, out), {**cli_env, **pause.env}, tmp_path / "log")
    try:
        pause.wait(process)
    finally:
        _kill_tree(process)
    assert outputs.read_output(str(out), "trades").num_rows > 0  # committed in Delta only
    repair = ["repair", "--config", str(config), "--output", str(out)]
    paused = Pause(tmp_path / "pause-repair", "recover-table")
    process = _spawn(repair, {**cli_env, **paused.env}, tmp_path / "repair.log")
    try:
        paused.wait(process)
    finally:
        _kill_tree(process)
    done = subprocess.run(
        [str(BIN / "barpipe"), *repair], env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "recovered outputs: rolled" in done.stdout  # the tables the killed repair left
    for table in TABLES:
        assert outputs.read_output(str(out), table).num_rows == 0, table
    assert _staging(out) == []
    again = subprocess.run(
        [str(BIN / "barpipe"), *repair], env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert "rolled" not in again.stdout
    assert [r["status"] for r in _runs(out)] == ["abandoned"]


# --- concurrent runs on one output root --------------------------------------------------------


@pytest.fixture(scope="module")
def concurrent(config, dataset, cli_env, shared_cluster, tmp_path_factory):
    """Run A holds the lock (paused in publish); B (refuse) and C (wait) start meanwhile."""
    base = tmp_path_factory.mktemp("concurrent")
    out = base / "out"
    args = _run_args(config, dataset, out, "--scheduler", shared_cluster)
    pause = Pause(base / "pause", "publish")
    a = _spawn(args, {**cli_env, **pause.env}, base / "a.log")
    b = c = None
    try:
        pause.wait(a)
        b = _spawn([*args, "--set", "run.lock=refuse"], cli_env, base / "b.log")
        c = _spawn(args, cli_env, base / "c.log")
        deadline = time.monotonic() + 240
        while "waiting up to" not in (base / "c.log").read_text():
            assert c.poll() is None, (base / "c.log").read_text()
            assert time.monotonic() < deadline, "C never waited for the lock"
            time.sleep(0.05)
        b.wait(240)
        pause.release.touch()
        a.wait(120)
        c.wait(240)
    finally:
        for process in (a, b, c):
            if process is not None and process.poll() is None:
                _kill_tree(process)
    logs = {name: (base / f"{name}.log").read_text() for name in "abc"}
    return out, a, b, c, logs


def test_second_run_with_lock_refuse_stops_with_one_line(concurrent):
    _, a, b, _, logs = concurrent
    assert b.returncode == 1, logs["b"]
    lines = logs["b"].strip().splitlines()
    assert lines[-1].startswith(f"error: another run is using this output root (pid {a.pid} on ")
    assert "run.lock is 'refuse'" in lines[-1]
    assert "database is locked" not in logs["b"]
    assert "Traceback" not in logs["b"]


def test_second_run_with_lock_wait_runs_after_the_first(concurrent, reference):
    out, a, _, c, logs = concurrent
    assert a.returncode == 0, logs["a"]
    assert c.returncode == 0, logs["c"]
    assert "database is locked" not in logs["a"] + logs["c"]
    runs = _runs(out)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    first, second = runs
    assert first["pid"] == a.pid
    assert second["pid"] == c.pid
    assert second["started_at"] > first["finished_at"]  # not interleaved
    # the second run found nothing new: the first run's rows stay, as after one run
    assert _sqlite_agrees_with_parquet(out) == first["run_id"]
    _assert_same_results(out, reference)


# --- external scheduler: determinism and a killed worker ----------------------------------------


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    """``dask scheduler`` + two ``dask worker`` processes (1 thread, no nanny) on 127.0.0.1.

    Workers pause 1 s after staging each batch and say so in the signal file, so the test
    can kill one while it holds a finished-but-unreported batch.
    """
    base = tmp_path_factory.mktemp("external")
    pause = Pause(base, "batch", seconds=1)
    env = {**os.environ, **pause.env, "PYTHONUNBUFFERED": "1"}
    env.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[2] / ".cache/numba"))
    scheduler_file = base / "scheduler.json"
    logs = (base / "cluster.log").open("w")
    processes = [
        subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)],
            env=env, stdout=logs, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not scheduler_file.exists():
            assert processes[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written whole, but let the writer close it
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [str(BIN / "dask"), "worker", "--scheduler-file", str(scheduler_file),
                     "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                     # without it the worker's HTTP server binds 0.0.0.0, --no-dashboard or not
                     "--dashboard-address", "127.0.0.1:0", "--memory-limit", "1GB"],
                    env=env, stdout=logs, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        address = json.loads(scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, processes, pause
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        logs.close()


def test_results_identical_with_two_local_workers(config, dataset, reference, tmp_path):
    summary, _ = _run(config, dataset, tmp_path / "out", **{"cluster.n_workers": 2})
    assert summary.status == "succeeded"
    assert len(summary.plan["batches"]) > 1
    _assert_same_results(tmp_path / "out", reference)


def test_results_identical_on_an_external_scheduler(
    config, dataset, reference, cli_env, external_cluster, tmp_path
):
    address, _, _ = external_cluster
    assert address.startswith("tcp://127.0.0.1:")
    result = subprocess.run(
        [
            str(BIN / "barpipe"),
            *_run_args(config, dataset, tmp_path / "out", "--scheduler", address),
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    _assert_same_results(tmp_path / "out", reference)


def test_killed_worker_batches_are_rescheduled_and_results_identical(
    prefect_harness, config, dataset, reference, external_cluster, tmp_path
):
    address, processes, pause = external_cluster
    workers = {p.pid for p in processes[1:]}
    start = len(pause.lines())
    killed: list[list[str]] = []

    def kill_first_worker_with_a_batch_in_hand():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            new = pause.lines()[start:]
            if new:
                os.kill(int(new[0][1]), signal.SIGKILL)  # it sleeps holding a staged batch
                killed.append(new[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_worker_with_a_batch_in_hand)
    killer.start()
    try:
        summary, _ = _run(config, dataset, tmp_path / "out", **{"cluster.address": address})
    finally:
        killer.join()
    assert summary.status == "succeeded"
    _, pid, detail = killed[0]
    assert int(pid) in workers
    batch = detail.split()[1]
    staged_by = [line[1] for line in pause.lines()[start:] if line[2].split()[1] == batch]
    assert staged_by[0] == pid
    assert len(staged_by) >= 2, "the killed worker's batch was not run again"
    assert len(summary.plan["batches"]) > 2
    _assert_same_results(tmp_path / "out", reference)


# --- security: listeners ------------------------------------------------------------------------


def _listening() -> set[tuple[int, str, str, int]]:
    """(pid, command, ip, port) of every listening socket of this process and its children."""
    me = psutil.Process()
    found = set()
    for process in [me, *me.children(recursive=True)]:
        try:
            command = " ".join(process.cmdline()[:3])
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        found |= {
            (process.pid, command, c.laddr.ip, c.laddr.port)
            for c in connections
            if c.status == psutil.CONN_LISTEN
        }
    return found


def test_local_cluster_listens_only_on_localhost():
    c = ClusterConfig(n_workers=1)  # the defaults a run gets
    before = _listening()
    with open_cluster(
        address=None,
        n_workers=c.n_workers,
        threads_per_worker=c.threads_per_worker,
        memory_limit="1GB",
        dashboard_address=c.dashboard_address,
        host=c.host,
        processes=c.processes,
    ) as (client, info):
        assert info.address.startswith("tcp://127.0.0.1:")
        assert info.dashboard.startswith("http://127.0.0.1:")
        worker_addresses = list(client.scheduler_info()["workers"])
        opened = _listening() - before
    assert worker_addresses
    assert all(a.startswith("tcp://127.0.0.1:") for a in worker_addresses)
    assert len(opened) >= 3, f"expected scheduler, dashboard and worker sockets: {opened}"
    exposed = [x for x in opened if x[2] not in ("127.0.0.1", "::1")]
    assert exposed == []
