"""The console during a run shows barpipe's lines; the libraries' logs go to the run's log file.

`barpipe run` runs as a user runs it (a pipe for its output) against the session's Prefect
test server. While a worker is held in its batch (``flows.tasks.pause_for_test``), the test
opens the Dask dashboard's plot websocket, ``/status/ws``, and drops it at once, as a closed
browser tab does; bokeh's server then fails inside tornado, which logs an error with a
traceback. That must land in the run's log file, not on the console.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import BIN, make_dataset, write_run_config

pytestmark = pytest.mark.slow

KEY = "2026-11-20"


def _drop_dashboard_websocket(dashboard: str) -> None:
    """Open the dashboard's plot websocket and close it before bokeh finishes its handshake."""
    from tornado.websocket import websocket_connect

    url = dashboard.replace("http://", "ws://").removesuffix("/status") + "/status/ws"

    async def drop() -> None:
        conn = await websocket_connect(url, connect_timeout=20)
        conn.close()
        await asyncio.sleep(1.0)  # let the server notice and log

    asyncio.run(drop())


@pytest.fixture(scope="module")
def dropped(cli_env, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("run-log")
    bars = make_dataset(base / "bars", n_symbols=2, n_bars=300)
    config = write_run_config(base / "run.yaml")
    out = base / "out"
    signal, release = base / "paused", base / "release"
    env = {
        **cli_env,
        "BARPIPETEST_PAUSE_AT": "batch",
        "BARPIPETEST_PAUSE_SIGNAL": str(signal),
        "BARPIPETEST_PAUSE_RELEASE": str(release),
        "BARPIPETEST_PAUSE_S": "120",
    }
    args = ["run", "--config", str(config), "--input", str(bars), "--output", str(out)]
    stdout, stderr = base / "stdout", base / "stderr"
    with open(stdout, "w") as o, open(stderr, "w") as e:
        proc = subprocess.Popen(
            [str(BIN / "barpipe"), *args, "--run-date", KEY], stdout=o, stderr=e, env=env
        )
    try:
        deadline = time.monotonic() + 240
        while not signal.exists():
            assert proc.poll() is None, stdout.read_text() + stderr.read_text()
            assert time.monotonic() < deadline, "no batch started in 240 s"
            time.sleep(0.2)
        link = re.search(r"Dask dashboard: (http://\S+/status)", stdout.read_text())
        assert link, stdout.read_text()
        _drop_dashboard_websocket(link.group(1))
        release.touch()
        code = proc.wait(timeout=240)
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
    return {"code": code, "stdout": stdout.read_text(), "stderr": stderr.read_text(), "out": out}


def test_dropped_dashboard_websocket_leaves_the_console_clean(dropped) -> None:
    console = dropped["stdout"] + dropped["stderr"]
    assert dropped["code"] == 0, console[-3000:]
    assert "Traceback" not in console, console[-3000:]
    assert "Uncaught exception" not in console, console[-3000:]
    assert f"(key {KEY}) succeeded" in dropped["stdout"]  # the run's own summary stays


def _run_row(out: Path) -> dict:
    with sqlite3.connect(out / "barpipe.db") as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM runs").fetchone())


def test_the_traceback_is_in_the_runs_log_file_named_in_the_summary(dropped) -> None:
    run = _run_row(dropped["out"])
    log = dropped["out"] / "logs" / f"{run['run_id']}.log"
    assert run["log_file"] == str(log)
    assert f"  log: {log}" in dropped["stdout"]
    text = log.read_text()
    assert "tornado.application ERROR: Uncaught exception GET /status/ws" in text, text[-3000:]
    assert "Traceback (most recent call last)" in text
    assert not [p.name for p in log.parent.iterdir() if p.name.startswith("pending-")]


def _worker_emits() -> int:
    import logging
    import os
    import warnings

    logging.getLogger("distributed.worker").warning("from a worker process")
    warnings.warn("a worker's Python warning", UserWarning, stacklevel=1)
    return os.getpid()


def test_workers_of_a_local_cluster_log_to_the_run_log(shared_cluster, tmp_path) -> None:
    # the session's LocalCluster runs its scheduler in this process, as a run's own does
    from distributed import Client

    from flows import logs
    from flows.settings import load_settings

    settings = load_settings(None, overrides={"output.path": str(tmp_path / "out")})
    with Client(shared_cluster) as client:
        with logs.run_log(settings):
            path = logs.attach_run("20261120T000000Z-0000beef", client)
            pids = set(client.run(_worker_emits).values())
        client.run(_worker_emits)  # the run is over: its log gets no more
    text = Path(path).read_text()
    lines = [line for line in text.splitlines() if "from a worker process" in line]
    assert len(lines) == len(pids) == 1, text
    assert f" {pids.pop()} distributed.worker WARNING: from a worker process" in lines[0]
    assert "py.warnings WARNING" in text
    assert "a worker's Python warning" in text
