"""A local Dask cluster kept alive between runs (``cluster.keep_alive_s`` > 0).

Starting a LocalCluster costs every run its worker processes' start: Python, distributed,
barpipe's imports and loading the numba kernels, several seconds on a small machine for a
run that may take less. With ``keep_alive_s`` set, the first run starts the cluster in a
process of its own (``python -m flows.kept_cluster serve``, its own session) that outlives
the run; later runs with the same cluster settings connect to it and find warm workers.

- The cluster is recorded in ``barpipe-cluster.json`` next to the local Prefect server's
  state (``flows.runtime.prefect_home()``), with a signature of everything that shapes it:
  the Python executable, workers, threads, memory limit, host, dashboard address, the
  numba cache folder, and the size and modification time of every barpipe source file. A
  run whose signature differs (other settings, or edited code that workers would not see)
  stops the recorded cluster and starts a new one.
- The serving process stops the cluster once no client has been connected and no task has
  been held for ``keep_alive_s`` seconds, and on SIGTERM or SIGINT (``stop_kept_cluster``).
- A lock file serialises the choice, so two runs starting together share one cluster.
- Workers are reused, so their peak resident memory (``VmHWM``) covers every run they
  served, not only the current one.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from compute.errors import ConfigError

STATE_FILE = "barpipe-cluster.json"
LOCK_FILE = "barpipe-cluster.lock"
LOG_FILE = "barpipe-cluster.log"
_MARK = "flows.kept_cluster"
_PACKAGES = ("compute", "flows", "storage")
_START_TIMEOUT_S = 120.0

log = logging.getLogger("barpipe.cluster")

# Serving processes this process started: held so they are waited for, not warned about.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def state_dir(home: str | None = None) -> Path:
    from flows.runtime import prefect_home

    path = Path(home or prefect_home())
    path.mkdir(parents=True, exist_ok=True)
    return path


def signature(params: dict[str, Any]) -> str:
    """A digest of the cluster's settings, the interpreter and barpipe's source files."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    digest.update(sys.executable.encode())
    root = Path(__file__).resolve().parents[1]
    for package in _PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            st = path.stat()
            digest.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def _read_state(home: Path) -> dict[str, Any] | None:
    from flows.runtime import read_state

    return read_state(home / STATE_FILE, {"pid", "address", "signature"})


def _is_ours(pid: int) -> bool:
    from flows.runtime import runs_module

    return runs_module(pid, _MARK)


def _reap() -> None:
    """Forget serving processes this process started that have exited (idled out)."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[pid]


def kept_cluster(home: str | None = None) -> dict[str, Any] | None:
    """The kept-alive cluster recorded in ``home`` if its serving process still runs."""
    _reap()
    state = _read_state(state_dir(home))
    return state if state and _is_ours(int(state["pid"])) else None


def stop_kept_cluster(home: str | None = None, timeout: float = 30.0) -> bool:
    """Stop the kept-alive cluster recorded in ``home``; True if one was running."""
    path = state_dir(home)
    state = kept_cluster(home)
    if state is not None:
        _terminate(int(state["pid"]), timeout)
    with contextlib.suppress(OSError):
        (path / STATE_FILE).unlink()
    return state is not None


def _terminate(pid: int, timeout: float) -> None:
    import psutil

    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.terminate()  # the serving process closes its cluster, workers included
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            child.wait()
        return
    try:
        proc = psutil.Process(pid)
        proc.terminate()  # the serving process closes its cluster, workers included
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # its own session: the workers go too


def address_for(
    params: dict[str, Any], keep_alive_s: float, home: str | None = None
) -> tuple[str, str]:
    """The scheduler address of a kept-alive cluster with ``params``, started if needed.

    Returns ``(address, mode)`` with mode ``reused`` or ``started``.
    """
    path = state_dir(home)
    sig = signature(params)
    from flows.runtime import locked

    with locked(path / LOCK_FILE):
        state = kept_cluster(home)
        if state is not None and state["signature"] == sig:
            return str(state["address"]), "reused"
        if state is not None:
            log.info(
                "stopping the kept-alive cluster at %s: its settings or code changed",
                state["address"],
            )
            _terminate(int(state["pid"]), 30.0)
        with contextlib.suppress(OSError):
            (path / STATE_FILE).unlink()
        return _start(path, params, keep_alive_s, sig), "started"


def _start(path: Path, params: dict[str, Any], keep_alive_s: float, sig: str) -> str:
    state_file = path / STATE_FILE
    log_path = path / LOG_FILE
    cmd = [
        sys.executable, "-m", _MARK, "serve", "--state", str(state_file),
        "--keep-alive", str(keep_alive_s), "--signature", sig, "--params", json.dumps(params),
    ]  # fmt: skip
    with open(log_path, "ab") as logs:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=logs,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this run; its process group holds the workers
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        state = _read_state(path)
        if state is not None and state.get("signature") == sig and int(state["pid"]) == proc.pid:
            return str(state["address"])
        if proc.poll() is not None:
            raise ConfigError(
                f"the kept-alive Dask cluster exited while starting (code {proc.returncode}); "
                f"see {log_path}: {_tail(log_path)}"
            )
        time.sleep(0.05)
    _terminate(proc.pid, 10.0)
    raise ConfigError(
        f"the kept-alive Dask cluster did not start in {_START_TIMEOUT_S:.0f} s; see {log_path}"
    )


def _tail(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


# --- the serving process ----------------------------------------------------------------------


def _busy(scheduler: Any) -> bool:
    try:
        clients = [c for c in list(scheduler.clients) if c != "fire-and-forget"]
        return bool(clients) or bool(scheduler.tasks)
    except RuntimeError:  # changed while we looked: something is happening
        return True


def serve(state_file: Path, keep_alive_s: float, sig: str, params: dict[str, Any]) -> int:
    from flows.cluster import start_local_cluster

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    cluster = start_local_cluster(
        n_workers=params["n_workers"],
        threads_per_worker=params["threads_per_worker"],
        memory_limit=params["memory_limit"],
        processes=params["processes"],
        host=params["host"],
        dashboard_address=params["dashboard_address"],
    )
    try:
        body = {
            "pid": os.getpid(),
            "address": cluster.scheduler_address,
            "dashboard": cluster.dashboard_link,
            "signature": sig,
            "keep_alive_s": keep_alive_s,
            "started_at": time.time(),
        }
        tmp = state_file.with_name(f".{state_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, state_file)
        idle_since = time.monotonic()
        while not stop:
            time.sleep(0.5)
            if cluster.scheduler is None or cluster.status.name in ("closing", "closed", "failed"):
                break
            if _busy(cluster.scheduler):
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > keep_alive_s:
                break
    finally:
        cluster.close()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state_file.read_text()).get("pid") == os.getpid():
                state_file.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.kept_cluster", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run a kept-alive LocalCluster until it idles out")
    s.add_argument("--state", required=True, help="state file to write once the cluster is up")
    s.add_argument("--keep-alive", type=float, required=True, help="idle seconds before stopping")
    s.add_argument("--signature", required=True, help="the settings' signature, recorded")
    s.add_argument("--params", required=True, help="LocalCluster settings as JSON")
    args = p.parse_args(argv)
    return serve(Path(args.state), args.keep_alive, args.signature, json.loads(args.params))


if __name__ == "__main__":
    sys.exit(main())
