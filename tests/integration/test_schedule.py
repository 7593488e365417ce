"""`barpipe server`, `serve` and `trigger` against a real Prefect server started here.

The server is `barpipe server` (which wraps `prefect server start`) on a free 127.0.0.1 port
with its own PREFECT_HOME and SQLite database. `barpipe serve` registers the nightly
deployment with a cron a few hours ahead in a half-hour time zone, so the server's scheduler
creates runs whose times show both the cron and the zone were applied, and none of them
starts during the test. A triggered run then goes through the served runner end to end.
Tests run in file order: the last ones stop serve and the server with SIGTERM.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.runtime import configure_prefect
from storage import outputs
from tests.integration.conftest import make_dataset

pytestmark = pytest.mark.slow

BARPIPE = Path(sys.executable).with_name("barpipe")
ROOT = Path(__file__).resolve().parents[2]
ZONE = "Asia/Kolkata"  # UTC+05:30: a zone ignored or applied twice shows in the minutes
DEPLOYMENT = "nightly-test"
RUN_DATE = "2026-11-20"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _env(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BARPIPE_", "PREFECT_"))}
    environ.update({"COLUMNS": "200", "NO_COLOR": "1", **extra})
    return environ


def barpipe(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BARPIPE), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout
    )


def _stop(proc: subprocess.Popen, timeout: float = 60) -> int:
    """SIGTERM, then wait; a process that ignores it is killed and the test fails on its code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return -9


def _one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


@dataclass
class Server:
    api: str
    env: dict[str, str]
    proc: subprocess.Popen
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = _env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    log = home / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(BARPIPE), "server", "--port", str(port)], stdout=out, stderr=out, env=env, cwd=ROOT
        )
    try:
        deadline = time.monotonic() + 180
        while not _healthy(api):
            assert proc.poll() is None, f"barpipe server exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no /api/health in 180s: {log.read_text()[-2000:]}"
            time.sleep(0.5)
        client_env = {k: v for k, v in env.items() if k != "PREFECT_API_DATABASE_CONNECTION_URL"}
        yield Server(api, {**client_env, "PREFECT_API_URL": api}, proc, log)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def prefect_client(server: Server) -> Iterator[Any]:
    """A sync Prefect client for the test's server (Prefect configured quietly first)."""
    configure_prefect("WARNING")
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api}):
        with get_client(sync_client=True) as client:
            yield client


def _cron_hours_ahead(hours: float) -> tuple[str, int, int]:
    local = dt.datetime.now(zoneinfo.ZoneInfo(ZONE)) + dt.timedelta(hours=hours)
    minute = 5 * (local.minute // 5)
    return f"{minute} {local.hour} * * *", local.hour, minute


@dataclass
class Served:
    proc: subprocess.Popen
    config: Path
    cron: str
    hour: int
    minute: int
    output: Path
    stdout: Path
    stderr: Path


@pytest.fixture(scope="module")
def served(server: Server, prefect_client, tmp_path_factory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("served")
    bars = make_dataset(base / "bars", n_symbols=3, n_bars=300)
    cron, hour, minute = _cron_hours_ahead(6)
    config = base / "nightly.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "input": {"path": str(bars)},
                "output": {"path": str(base / "out")},
                "run": {"report": False},
                "strategies": [{"name": "momentum"}, {"name": "zscore"}],
                "indicators": [],
                "metrics": {"annualization": 252},
                "cluster": {
                    "n_workers": 1,
                    "threads_per_worker": 1,
                    "memory_limit": "1GB",
                    "dashboard_address": "127.0.0.1:0",
                },
                "schedule": {"cron": cron, "timezone": ZONE, "deployment_name": DEPLOYMENT},
            }
        )
    )
    stdout, stderr = base / "serve.out", base / "serve.err"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen(
            [str(BARPIPE), "serve", "--config", str(config)],
            stdout=out,
            stderr=err,
            env=server.env,
            cwd=ROOT,
        )
    from prefect.exceptions import ObjectNotFound

    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"serve exited: {stderr.read_text()[-2000:]}"
            try:
                prefect_client.read_deployment_by_name(f"nightly/{DEPLOYMENT}")
                break
            except ObjectNotFound:
                assert time.monotonic() < deadline, "serve registered no deployment in 120s"
                time.sleep(1)
        yield Served(proc, config, cron, hour, minute, base / "out", stdout, stderr)
    finally:
        _stop(proc)


# --------------------------------------------------------------------------- no server


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("server", ["--host", "--port"]),
        ("serve", ["--config", "--set"]),
        ("serve", ["--sweep"]),
        (
            "trigger",
            ["--config", "--run-date", "--wait", "--no-wait", "--start-timeout", "--sweep"],
        ),
        ("report", ["--output", "--run", "--to", "--db"]),
    ],
)
def test_help(command: str, options: list[str]) -> None:
    result = barpipe(command, "--help", env=_env())
    assert result.returncode == 0, result.stderr
    assert [o for o in options if o not in result.stdout] == []


def test_serve_without_a_server_says_to_start_one(tmp_path) -> None:
    port = _free_port()  # nothing listens there
    env = _env(PREFECT_HOME=str(tmp_path), PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    result = barpipe("serve", env=env)
    line = _one_line_error(result, 2)
    assert f"no Prefect server answers at http://127.0.0.1:{port}/api" in line
    assert "barpipe server" in line


def test_trigger_without_a_server_says_to_start_one(tmp_path) -> None:
    port = _free_port()
    env = _env(PREFECT_HOME=str(tmp_path), PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    result = barpipe("trigger", env=env)
    assert "barpipe server" in _one_line_error(result, 2)


def test_serve_with_no_server_configured_names_the_variable(tmp_path) -> None:
    if _healthy("http://127.0.0.1:4200/api"):
        pytest.skip("a Prefect server answers on 127.0.0.1:4200, which serve would use")
    line = _one_line_error(barpipe("serve", env=_env(PREFECT_HOME=str(tmp_path))), 2)
    assert "run `barpipe server`" in line
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api" in line


# --------------------------------------------------------------------------- served


def test_ui_settings_point_the_ui_at_the_servers_own_port(server: Server) -> None:
    # what Prefect's UI fetches to find its API; a UI told 127.0.0.1:4200 shows "Can't connect"
    base = server.api.removesuffix("/api")
    with urllib.request.urlopen(f"{base}/ui-settings", timeout=10) as resp:
        settings = json.loads(resp.read())
    assert settings["api_url"] == server.api
    request = urllib.request.Request(f"{base}/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=10) as resp:  # the UI page itself is served
        assert "<html" in resp.read(4096).decode("utf-8", "replace").lower()


def test_deployment_has_the_configured_schedule_and_settings(served: Served, prefect_client):
    deployment = prefect_client.read_deployment_by_name(f"nightly/{DEPLOYMENT}")
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules] == [
        (served.cron, ZONE, True)
    ]
    config = deployment.parameters["config"]
    assert config["schedule"]["cron"] == served.cron
    assert config["output"]["path"] == str(served.output)
    assert config["run"]["run_date"] is None  # each scheduled run takes its own date
    assert deployment.entrypoint == "flows.flow.nightly"


def test_server_scheduler_creates_runs_at_the_cron_times(served: Served, prefect_client):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    only_ours = DeploymentFilter(name=DeploymentFilterName(any_=[DEPLOYMENT]))
    deadline = time.monotonic() + 90
    while True:
        runs = [
            r
            for r in prefect_client.read_flow_runs(deployment_filter=only_ours)
            if r.state is not None and r.state.type.value == "SCHEDULED"
        ]
        if len(runs) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(runs) >= 3, f"the scheduler created {len(runs)} run(s) in 90s"
    starts = sorted(r.expected_start_time.astimezone(zoneinfo.ZoneInfo(ZONE)) for r in runs)
    assert {(s.hour, s.minute) for s in starts} == {(served.hour, served.minute)}
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [dt.timedelta(days=1)] * (
        len(starts) - 1
    )
    assert starts[0] > dt.datetime.now(dt.UTC)


def test_trigger_runs_the_served_deployment_and_publishes(served: Served, server: Server):
    # no --config: the run takes the settings the deployment was served with
    env = {**server.env, "BARPIPE_SCHEDULE__DEPLOYMENT_NAME": DEPLOYMENT}
    result = barpipe("trigger", "--run-date", RUN_DATE, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"triggered nightly/{DEPLOYMENT}: flow run " in result.stdout
    assert "completed in" in result.stdout
    with sqlite3.connect(served.output / "barpipe.db") as conn:
        rows = conn.execute(
            "SELECT run_id, status, n_symbols, n_trades FROM runs WHERE run_key = ?", (RUN_DATE,)
        ).fetchall()
    assert len(rows) == 1, rows
    run_id, status, n_symbols, n_trades = rows[0]
    assert (status, n_symbols) == ("succeeded", 3)
    assert f"run {run_id} (key {RUN_DATE}) succeeded" in result.stdout
    trades = outputs.read_output(str(served.output), "trades", run_keys=[RUN_DATE])
    assert trades.num_rows == n_trades > 0
    assert set(trades["run_id"].to_pylist()) == {run_id}


def test_trigger_of_an_unknown_deployment_says_to_serve_it(served: Served, server: Server):
    env = {**server.env, "BARPIPE_SCHEDULE__DEPLOYMENT_NAME": "nope"}
    line = _one_line_error(barpipe("trigger", env=env), 2)
    assert "no deployment 'nightly/nope'" in line
    assert f"nightly/{DEPLOYMENT}" in line  # what the server does have
    assert "barpipe serve" in line


def test_sigterm_stops_serve_cleanly_and_pauses_the_schedule(served: Served, prefect_client):
    code = _stop(served.proc)
    stderr = served.stderr.read_text()
    assert code == 0, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert f"stopped serving nightly/{DEPLOYMENT}" in served.stdout.read_text()
    deployment = prefect_client.read_deployment_by_name(f"nightly/{DEPLOYMENT}")
    assert deployment.paused  # no scheduled run piles up for a runner that is gone


def test_trigger_with_nobody_serving_cancels_the_run(served: Served, server: Server):
    assert served.proc.poll() is not None  # stopped by the test above
    env = {**server.env, "BARPIPE_SCHEDULE__DEPLOYMENT_NAME": DEPLOYMENT}
    line = _one_line_error(barpipe("trigger", "--start-timeout", "3", env=env), 1)
    assert "was not picked up within 3s and was cancelled" in line
    assert "barpipe serve" in line


SWEEP_DEPLOYMENT = "sweep-test"


@pytest.fixture(scope="module")
def served_sweep(server: Server, prefect_client, tmp_path_factory) -> Iterator[Served]:
    """`barpipe serve --sweep FILE`: the sweep flow as a deployment on the file's schedule."""
    base = tmp_path_factory.mktemp("served-sweep")
    bars = make_dataset(base / "bars", n_symbols=2, n_bars=250)
    cron, hour, minute = _cron_hours_ahead(7)
    config = base / "sweep.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "input": {"path": str(bars)},
                "output": {"path": str(base / "out")},
                "run": {"report": False},
                "metrics": {"annualization": 252},
                "cluster": {
                    "n_workers": 1,
                    "threads_per_worker": 1,
                    "memory_limit": "1GB",
                    "dashboard_address": "127.0.0.1:0",
                },
                "schedule": {"cron": cron, "timezone": ZONE, "deployment_name": SWEEP_DEPLOYMENT},
                "sweep": {
                    "strategies": [
                        {
                            "name": "ma_crossover",
                            "params": {"short_window": [3, 5], "long_window": [20, 30]},
                        }
                    ]
                },
            }
        )
    )
    stdout, stderr = base / "serve.out", base / "serve.err"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen(
            [str(BARPIPE), "serve", "--sweep", str(config)],
            stdout=out,
            stderr=err,
            env=server.env,
            cwd=ROOT,
        )
    from prefect.exceptions import ObjectNotFound

    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"serve exited: {stderr.read_text()[-2000:]}"
            try:
                prefect_client.read_deployment_by_name(f"sweep/{SWEEP_DEPLOYMENT}")
                break
            except ObjectNotFound:
                assert time.monotonic() < deadline, "serve registered no deployment in 120s"
                time.sleep(1)
        yield Served(proc, config, cron, hour, minute, base / "out", stdout, stderr)
    finally:
        _stop(proc)


def test_sweep_deployment_has_its_schedule_and_sweep(served_sweep: Served, prefect_client):
    deployment = prefect_client.read_deployment_by_name(f"sweep/{SWEEP_DEPLOYMENT}")
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules] == [
        (served_sweep.cron, ZONE, True)
    ]
    assert deployment.entrypoint == "flows.flow.sweep"
    entries = deployment.parameters["sweep"]["entries"]
    assert [e["name"] for e in entries] == ["ma_crossover"]
    assert deployment.parameters["config"]["output"]["path"] == str(served_sweep.output)
    assert "sweep/sweep-test on http://127.0.0.1:" in served_sweep.stdout.read_text()


def test_trigger_sweep_runs_the_served_sweep_and_publishes(served_sweep: Served, server: Server):
    env = {**server.env, "BARPIPE_SCHEDULE__DEPLOYMENT_NAME": SWEEP_DEPLOYMENT}
    result = barpipe("trigger", "--sweep", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"triggered sweep/{SWEEP_DEPLOYMENT}: flow run " in result.stdout
    assert "completed in" in result.stdout
    with sqlite3.connect(served_sweep.output / "barpipe.db") as conn:
        rows = conn.execute("SELECT kind, status, n_combinations, n_symbols FROM sweeps").fetchall()
        n = conn.execute("SELECT count(*) FROM sweep_results").fetchone()[0]
    assert rows == [("sweep", "succeeded", 4, 2)]
    assert n == 4 * 2


def test_sigterm_stops_serving_the_sweep(served_sweep: Served, prefect_client):
    code = _stop(served_sweep.proc)
    assert code == 0, served_sweep.stderr.read_text()[-2000:]
    assert f"stopped serving sweep/{SWEEP_DEPLOYMENT}" in served_sweep.stdout.read_text()
    assert prefect_client.read_deployment_by_name(f"sweep/{SWEEP_DEPLOYMENT}").paused


def test_sigterm_stops_the_server_cleanly(server: Server):
    code = _stop(server.proc)
    log = server.log.read_text()
    assert code == 0, log[-2000:]
    assert "Traceback" not in log, log[-2000:]
    assert "Prefect server stopped" in log
    assert not _healthy(server.api)
