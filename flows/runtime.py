"""Process set-up for a run: quiet offline Prefect, and where its API server comes from.

Prefect must be configured through the environment before it is imported, so
``configure_prefect`` runs first. ``PrefectBackend`` then picks the API: a configured
``prefect.api_url`` (or ``PREFECT_API_URL``), else a local ``barpipe server`` answering on
127.0.0.1:4200, else Prefect's ephemeral server, started in a background thread so that it
boots while the Dask cluster starts instead of after it.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from pathlib import Path

DEFAULT_LOCAL_API = "http://127.0.0.1:4200/api"


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


class PrefectBackend:
    """Chooses and, when ephemeral, starts Prefect's API server in the background."""

    def __init__(self, api_url: str | None) -> None:
        self.mode = "configured"
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        url = api_url or os.environ.get("PREFECT_API_URL")
        if url:
            os.environ["PREFECT_API_URL"] = url
            self.api_url: str | None = url
        elif api_is_healthy(DEFAULT_LOCAL_API):
            os.environ["PREFECT_API_URL"] = DEFAULT_LOCAL_API
            self.api_url, self.mode = DEFAULT_LOCAL_API, "local server"
        else:
            self.api_url, self.mode = None, "ephemeral"
            self._thread = threading.Thread(target=self._start_ephemeral, daemon=True)
            self._thread.start()

    def _start_ephemeral(self) -> None:
        try:
            from prefect.server.api.server import SubprocessASGIServer

            SubprocessASGIServer().start()
        except BaseException as err:  # re-raised in wait(), on the caller's thread
            self._error = err

    def wait(self) -> None:
        """Block until the ephemeral server (if any) is up; raise its start-up error."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if self._error is not None:
                raise RuntimeError(f"Prefect's ephemeral server did not start: {self._error}")
