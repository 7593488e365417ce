"""Process set-up for a run: quiet offline Prefect, and where its API server comes from.

Prefect reads its settings from the environment when it is first imported, so
``configure_prefect`` runs first and ``PrefectBackend`` sets ``PREFECT_API_URL`` before
anything imports Prefect. The API server is, in this order:

1. ``configured``: ``prefect.api_url``, ``PREFECT_API_URL``, or the API this process's
   Prefect settings already name (a server someone runs, or a test harness);
2. ``reused``: the local server an earlier run left in this ``PREFECT_HOME`` (recorded in
   ``barpipe-server.json``), or one answering on 127.0.0.1:4200;
3. ``started``: a new local server, ``python -m flows.runtime serve``, spawned at once so
   it boots while the Dask cluster starts. It runs in its own session and outlives the
   run, so the next run reuses it; it stops by itself after ``keep_alive_s`` seconds
   without a request (runs that use it ping it meanwhile). ``keep_alive_s=0`` gives
   Prefect's ephemeral behaviour instead: the server stops when this process exits.

Why: Prefect's ephemeral mode imports and boots a server in every process (~13 s on an
idle machine, DESIGN.md), while a flow against a running server costs ~1.5 s. The server
keeps its database in ``PREFECT_HOME`` in every mode, so runs stay tracked across runs.
A lock file serialises the choice, so two runs starting together share one server.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_LOCAL_API = "http://127.0.0.1:4200/api"
KEEP_ALIVE_S = 900.0
STATE_FILE = "barpipe-server.json"
LOCK_FILE = "barpipe-server.lock"
LOG_FILE = "barpipe-server.log"
_SERVER_MARK = "flows.runtime"


def prefect_home() -> str:
    """A barpipe-owned PREFECT_HOME unless the user set one."""
    return os.environ.get("PREFECT_HOME") or str(Path.home() / ".cache" / "barpipe" / "prefect")


def configure_prefect(log_level: str = "WARNING", api_url: str | None = None) -> None:
    """Set Prefect's environment: offline, no analytics, quiet logs, generous start-up."""
    env = {
        "PREFECT_HOME": prefect_home(),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_LEVEL": log_level,
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    }
    for key, value in env.items():
        os.environ.setdefault(key, value)
    os.environ["PREFECT_LOGGING_LEVEL"] = log_level
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url


def api_is_healthy(api_url: str, timeout: float = 0.5) -> bool:
    """True when a Prefect API answers its health check at ``api_url``."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on the file ``path`` (no-op without fcntl)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; two concurrent starts may race
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_state(path: Path, required: set[str]) -> dict[str, Any] | None:
    """The JSON object in ``path`` if it has the ``required`` keys, else None."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and required <= set(state) else None


def runs_module(pid: int, mark: str) -> bool:
    """True when process ``pid`` is alive and its command line names ``mark``."""
    import psutil

    try:
        return mark in " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _locked(home: Path) -> contextlib.AbstractContextManager[None]:
    """The lock that serialises choosing or starting ``home``'s server."""
    return locked(home / LOCK_FILE)


def _read_state(home: Path) -> dict[str, Any] | None:
    return read_state(home / STATE_FILE, {"url", "pid"})


def _is_our_server(pid: int) -> bool:
    """True when ``pid`` is alive and is a ``flows.runtime serve`` process."""
    return runs_module(pid, _SERVER_MARK)


def _in_process_api_url() -> str | None:
    """The API URL of Prefect's settings when this process already set Prefect up (e.g.
    inside ``prefect_test_harness``, which sets it in a settings context, not the env)."""
    if "prefect.settings" not in sys.modules:
        return None
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def local_server(home: str | None = None) -> dict[str, Any] | None:
    """The local server recorded in ``home`` (default ``prefect_home()``) if it still runs."""
    state = _read_state(Path(home or prefect_home()))
    return state if state and _is_our_server(int(state["pid"])) else None


def stop_local_server(home: str | None = None, timeout: float = 10.0) -> bool:
    """Stop the local server recorded in ``home``; True if one was running."""
    import psutil

    state = local_server(home)
    if state is None:
        return False
    try:
        proc = psutil.Process(int(state["pid"]))
        proc.terminate()
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        proc.kill()
    with contextlib.suppress(OSError):
        (Path(home or prefect_home()) / STATE_FILE).unlink()
    return True


class PrefectBackend:
    """Chooses Prefect's API server for this process, starting one when there is none.

    ``mode`` is ``configured``, ``reused`` or ``started``; ``wait()`` returns once the
    server answers. Construct it before starting the Dask cluster and call ``wait()``
    after, so a new server boots while the cluster starts.
    """

    def __init__(
        self,
        api_url: str | None,
        *,
        keep_alive_s: float = KEEP_ALIVE_S,
        startup_timeout: float | None = None,
    ) -> None:
        self.keep_alive_s = keep_alive_s
        self.startup_timeout = startup_timeout or float(
            os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._home = Path(prefect_home())
        url = api_url or os.environ.get("PREFECT_API_URL")
        in_process = None if url else _in_process_api_url()
        if url or in_process:
            self.mode, self.api_url = "configured", str(url or in_process)
        else:
            self._home.mkdir(parents=True, exist_ok=True)
            with _locked(self._home):
                self.mode, self.api_url = self._choose()
        if not in_process:  # Prefect's own settings already point there otherwise
            os.environ["PREFECT_API_URL"] = self.api_url
        # Importing Prefect takes seconds of CPU; do it while the caller starts the cluster.
        self._import_error: BaseException | None = None
        self._importer = threading.Thread(target=self._import_prefect, daemon=True)
        self._importer.start()

    def _import_prefect(self) -> None:
        try:
            import prefect.flows
            import prefect.tasks  # noqa: F401
        except BaseException as err:  # re-raised by wait(), on the caller's thread
            self._import_error = err

    def _choose(self) -> tuple[str, str]:
        state = _read_state(self._home)
        if state and _is_our_server(int(state["pid"])):
            return "reused", str(state["url"])  # it may still be starting: wait() waits
        if api_is_healthy(DEFAULT_LOCAL_API):
            return "reused", DEFAULT_LOCAL_API
        port = _free_port()
        url = f"http://127.0.0.1:{port}/api"
        keep = self.keep_alive_s > 0
        cmd = [sys.executable, "-m", _SERVER_MARK, "serve", "--port", str(port)]
        cmd += ["--idle-timeout", str(self.keep_alive_s if keep else 0)]
        if not keep:
            cmd += ["--owner", str(os.getpid())]
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        with open(self._home / LOG_FILE, "ab") as log:
            self._process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=self._home,
                start_new_session=keep,
            )
        if keep:
            state = {"url": url, "pid": self._process.pid, "started": time.time()}
            (self._home / STATE_FILE).write_text(json.dumps(state))
        else:
            atexit.register(self._stop)
        return "started", url

    def wait(self) -> None:
        """Block until the API answers; raise with the server's log if it cannot start."""
        self._importer.join()
        if self._import_error is not None:
            raise RuntimeError(f"cannot import Prefect: {self._import_error}")
        if self.mode == "configured":
            return
        deadline = time.monotonic() + self.startup_timeout
        while not api_is_healthy(self.api_url):
            exited = self._process is not None and self._process.poll() is not None
            if exited or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Prefect's local server at {self.api_url} did not start "
                    + ("(it exited)" if exited else f"within {self.startup_timeout:.0f} s")
                    + f"; its log is {self._home / LOG_FILE}: {self._log_tail()}"
                )
            time.sleep(0.1)
        if self.keep_alive_s > 0:
            # Requests keep the server from stopping while a long run is between API calls.
            every = max(1.0, min(60.0, self.keep_alive_s / 3))
            threading.Thread(target=self._ping, args=(every,), daemon=True).start()

    def describe(self) -> str:
        """One line for the console: which server the run uses."""
        if self.mode == "started" and self.keep_alive_s > 0:
            return (
                f"Prefect: started a local server at {self.api_url} (reused by later runs, "
                f"stops after {self.keep_alive_s / 60:g} min idle)"
            )
        return f"Prefect: {self.mode} server at {self.api_url}"

    def _ping(self, every: float) -> None:
        while True:
            time.sleep(every)
            api_is_healthy(self.api_url, timeout=5.0)

    def _log_tail(self) -> str:
        try:
            return " | ".join((self._home / LOG_FILE).read_text().strip().splitlines()[-3:])
        except OSError:
            return "(no log)"

    def _stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(10)


# --------------------------------------------------------------------------- the server


class _IdleTracker:
    """ASGI wrapper that records when the last HTTP request finished."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.active = 0
        self.last = time.monotonic()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            self.last = time.monotonic()


def serve(port: int, idle_timeout: float, owner: int | None) -> None:
    """Run Prefect's API on 127.0.0.1:``port`` until idle for ``idle_timeout`` s (0: never)
    or until process ``owner`` exits."""
    import asyncio

    import psutil
    import uvicorn

    os.environ.update(
        {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    )
    from prefect.server.api.server import create_app

    app = _IdleTracker(create_app(ephemeral=True, final=True))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )

    async def watchdog() -> None:
        while not server.should_exit:
            await asyncio.sleep(1.0)
            idle = time.monotonic() - app.last
            if idle_timeout > 0 and app.active == 0 and idle > idle_timeout:
                server.should_exit = True
            if owner is not None and not psutil.pid_exists(owner):
                server.should_exit = True

    async def main() -> None:
        guard = asyncio.create_task(watchdog())
        try:
            await server.serve()
        finally:
            guard.cancel()

    try:
        asyncio.run(main())
    finally:
        state = _read_state(Path(prefect_home()))
        if state and int(state["pid"]) == os.getpid():
            with contextlib.suppress(OSError):
                (Path(prefect_home()) / STATE_FILE).unlink()


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("serve", help="run a local Prefect API server for barpipe runs")
    cmd.add_argument("--port", type=int, required=True)
    cmd.add_argument("--idle-timeout", type=float, default=KEEP_ALIVE_S)
    cmd.add_argument("--owner", type=int, default=None, help="stop when this process exits")
    args = parser.parse_args(argv)
    serve(args.port, args.idle_timeout, args.owner)


if __name__ == "__main__":
    _main()
