"""Headless Chromium for tests: find it (or install Debian's package) and run it offline.

``find_chromium()`` returns the browser's path, installing ``chromium`` with apt-get when it is
missing and we are root; it returns None (with the reason in ``CHROMIUM_MISSING``) only when
that is impossible, so a test can skip with that reason. ``run_chromium`` loads one URL with
every network path closed: all host names resolve to nothing, background services are off, and
a net-log records each request the page makes, so a test can assert that none left the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_MISSING: list[str] = []  # why find_chromium() returned None, for pytest.skip

_NO_NETWORK = "MAP * ~NOTFOUND"  # every host name fails to resolve: nothing can be fetched
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter",
    "--disable-domain-reliability",
    "--no-pings",
    "--hide-scrollbars",
    f"--host-resolver-rules={_NO_NETWORK}",
)


def _installed() -> str | None:
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


def _install() -> str:
    """apt-get install chromium; returns "" on success, else the reason it failed."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "chromium is not installed and apt-get is not usable here (not root or no apt)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"`{' '.join(step)}` failed (exit {done.returncode}): {' | '.join(tail)}"
    return ""


def find_chromium(install: bool = True) -> str | None:
    """Path of a Chromium binary, installing Debian's package if needed; None if impossible."""
    path = _installed()
    if path is None and install:
        reason = _install()
        path = _installed()
        if path is None:
            CHROMIUM_MISSING.append(reason or "apt-get installed chromium but no binary was found")
    return path


@dataclass(frozen=True)
class NetLog:
    """What a Chromium net-log says about network use."""

    page_requests: list[str]  # URLs requested on behalf of a page (they carry an initiator)
    browser_requests: list[str]  # Chromium's own background requests (no initiator)
    tcp_connects: list[str]  # remote addresses of TCP connection attempts


@dataclass(frozen=True)
class BrowserRun:
    dom: str  # the DOM after scripts ran (``--dump-dom``)
    screenshot: Path
    net: NetLog  # both loads merged
    seconds: float


def read_netlog(path: Path) -> NetLog:
    """Classify the requests and connections in a Chromium net-log (JSON, possibly cut short)."""
    text = path.read_text(errors="replace")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # Chromium killed before closing the array: repair the tail
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    page: set[str] = set()
    browser: set[str] = set()
    tcp: set[str] = set()
    for event in log.get("events", []):
        kind = names.get(event.get("type"), "")
        params = event.get("params") or {}
        if kind == "URL_REQUEST_START_JOB" and "url" in params:
            # a renderer's request names the page's origin ("null" for file://); the
            # browser's own (component updater, account checks) says "not an origin"
            own = params.get("initiator", "not an origin") == "not an origin"
            (browser if own else page).add(params["url"])
        elif kind in ("TCP_CONNECT", "TCP_CONNECT_ATTEMPT"):
            addresses = params.get("address_list") or [params.get("address", "?")]
            tcp.update(str(a) for a in addresses)
    return NetLog(sorted(page), sorted(browser), sorted(tcp))


def run_chromium(
    chromium: str,
    url: str,
    workdir: Path,
    *,
    size: tuple[int, int] = (1400, 2600),
    budget_ms: int = 5000,
    timeout: float = 120,
) -> BrowserRun:
    """Load ``url`` twice in headless Chromium: once to dump the DOM, once for a screenshot.

    Both runs use a fresh profile under ``workdir``, no network (see module docstring) and a
    virtual time budget so scripts finish before the dump; the net-logs of both are merged.
    """
    start = time.perf_counter()
    shot = workdir / "screenshot.png"
    runs = {
        "dom": ["--dump-dom"],
        "shot": [f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}"],
    }
    outputs: dict[str, str] = {}
    logs: list[NetLog] = []
    for name, extra in runs.items():
        netlog = workdir / f"netlog-{name}.json"
        command = [
            chromium,
            *_FLAGS,
            f"--user-data-dir={workdir / f'profile-{name}'}",
            f"--log-net-log={netlog}",
            f"--virtual-time-budget={budget_ms}",
            *extra,
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
        outputs[name] = done.stdout
        logs.append(read_netlog(netlog))
    merged = NetLog(
        *(
            sorted({item for log in logs for item in getattr(log, field)})
            for field in ("page_requests", "browser_requests", "tcp_connects")
        )
    )
    return BrowserRun(
        dom=outputs["dom"],
        screenshot=shot,
        net=merged,
        seconds=time.perf_counter() - start,
    )
