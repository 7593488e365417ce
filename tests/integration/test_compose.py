"""docker/compose.yaml for real: each service's own command line, started as a local process.

There is no Docker daemon here, so the test reads the compose file (and the Dockerfile's
ENTRYPOINT, WORKDIR and ENV) and runs what each container would run, on this machine:

- command: ``entrypoint`` (else the image's ENTRYPOINT) + ``command``, with the executable
  taken from this virtualenv (``barpipe``, ``dask``, ``prefect``);
- environment: the Dockerfile's ENV, then the service's ``environment``;
- hosts: service names and 0.0.0.0 become 127.0.0.1; each container port (and the host port
  published for it) becomes one free loopback port;
- paths: a named volume's mount point becomes ``<tmp>/<volume>`` (the same folder for every
  service that mounts it; ``numba-cache`` is the session's numba cache), ``/opt/barpipe``
  (where the Dockerfile copies the project) is this checkout, other image paths are
  per-service folders;
- the one substitution that is not a mapping: Postgres is not started, the Prefect server
  gets a SQLite database instead of PREFECT_API_DATABASE_CONNECTION_URL.

Then ``barpipe trigger`` runs in the runner's environment (as ``docker compose exec runner
barpipe trigger`` does) and the run's outputs are checked, along with every listening socket
of the started processes. A flag or path that drifts between compose.yaml and the code
fails here. One Prefect server start, three symbols.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from storage import outputs

from .conftest import make_dataset

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
BIN = Path(sys.executable).parent
N_SYMBOLS = 3
RUN_DATE = "2026-11-20"
STARTED = ("prefect-server", "dask-scheduler", "dask-worker", "runner")  # not postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dockerfile() -> dict[str, Any]:
    """ENTRYPOINT, the last WORKDIR and ENV of docker/Dockerfile."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    image: dict[str, Any] = {"env": {}, "workdirs": []}
    for line in text.splitlines():
        word, _, args = line.strip().partition(" ")
        if word == "ENTRYPOINT":
            image["entrypoint"] = json.loads(args)
        elif word == "WORKDIR":
            image["workdirs"].append(args.strip())
        elif word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                image["env"][key] = value
    return image


def _interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}``."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if name in environ and environ[name] != "":
            return environ[name]
        if op == ":-":
            return rest or ""
        raise AssertionError(f"compose needs ${{{name}}}: {rest}")

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def _argv(value: Any) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


@dataclass
class Local:
    """How one service's container world maps onto this machine."""

    ports: dict[int, int]  # container or published host port -> local port
    hosts: set[str]  # names that mean "another container" or "all interfaces"
    paths: dict[str, str]  # container path -> local path, longest first

    def translate(self, value: str) -> str:
        for container, local in self.paths.items():
            value = re.sub(rf"(?<![\w/]){re.escape(container)}(?=/|$|:|\s)", local, value)
        names = "|".join(re.escape(h) for h in sorted(self.hosts, key=len, reverse=True))

        def address(match: re.Match[str]) -> str:
            port = int(match.group(2))
            if port in self.ports:
                return f"127.0.0.1:{self.ports[port]}"
            return f"127.0.0.1:{port}" if match.group(1) in self.hosts else match.group(0)

        value = re.sub(rf"(?<![\w.-])({names}|127\.0\.0\.1)?:(\d+)\b", address, value)
        if value in self.hosts:
            return "127.0.0.1"
        if value.isdigit() and int(value) in self.ports:
            return str(self.ports[int(value)])
        return value


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path


def _services(compose: dict[str, Any], base: Path, numba_cache: Path) -> dict[str, Service]:
    """Each started service's local command line, environment and working directory."""
    image = _dockerfile()
    services = compose["services"]
    ports: dict[int, int] = {}
    for service in services.values():
        for spec in service.get("ports") or []:
            *_, host, container = str(spec).split(":")
            ports[int(container)] = ports[int(host)] = ports.get(int(container)) or _free_port()
    hosts = {*services, "0.0.0.0"}
    volumes = {name: base / "volumes" / name for name in compose.get("volumes") or {}}
    volumes["numba-cache"] = numba_cache  # compiled kernels: the session's warm cache
    outside = {k: v for k, v in os.environ.items() if not k.startswith(("BARPIPE_", "PREFECT_"))}
    outside.update(POSTGRES_PASSWORD="not-used", COLUMNS="200", NO_COLOR="1")
    result = {}
    for name in STARTED:
        service = services[name]
        paths = {image["workdirs"][0]: str(ROOT)}  # where COPY puts the project
        for mount in service.get("volumes") or []:
            volume, target = mount.split(":")[:2]
            paths[target] = str(volumes[volume])
        for value in image["env"].values():  # image paths that are no volume: per service
            if value.startswith("/") and not any(value.startswith(p) for p in paths):
                paths[value] = str(base / name / value.strip("/"))
        local = Local(ports, hosts, dict(sorted(paths.items(), key=lambda kv: -len(kv[0]))))
        argv = (_argv(service.get("entrypoint")) or image["entrypoint"]) + _argv(
            service.get("command")
        )
        argv = [local.translate(_interpolate(a, outside)) for a in argv]
        for i, arg in enumerate(argv):  # a config file of the image: its paths mapped too
            if arg.endswith((".yaml", ".yml")) and Path(arg).is_relative_to(ROOT):
                copy = base / name / "configs" / Path(arg).name
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_text(local.translate(Path(arg).read_text()))
                argv[i] = str(copy)
        assert argv[0] in ("barpipe", "dask", "prefect"), argv
        argv[0] = str(BIN / argv[0])
        env = dict(outside)
        for key, value in {**image["env"], **_environment(service)}.items():
            env[key] = local.translate(_interpolate(value, outside))
        if "PREFECT_API_DATABASE_CONNECTION_URL" in env:  # Postgres is not started here
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
                f"sqlite+aiosqlite:///{base / name / 'prefect.db'}"
            )
        for local_path in paths.values():  # what the image's RUN creates, and the volumes
            if Path(local_path).is_relative_to(base):
                Path(local_path).mkdir(parents=True, exist_ok=True)
        cwd = base / name / image["workdirs"][-1].strip("/")
        cwd.mkdir(parents=True, exist_ok=True)
        result[name] = Service(name, argv, env, cwd)
    return result


def _get(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bytes(resp.read())
    except OSError:
        return None


def _wait(what: str, ready: Any, procs: list[subprocess.Popen], logs: Path, timeout=120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for proc in procs:
            assert proc.poll() is None, f"{proc.args[:3]} exited while waiting for {what}: " + (
                "\n".join(p.read_text()[-1500:] for p in logs.glob("*.log"))
            )
        assert time.monotonic() < deadline, f"no {what} in {timeout}s"
        time.sleep(0.3)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class Stack:
    services: dict[str, Service]
    procs: dict[str, subprocess.Popen]
    listening: dict[str, set[str]]  # process -> its listening addresses, while all ran
    trigger: subprocess.CompletedProcess
    output: Path
    scheduler_workers: set[str]
    worker_pids: set[int]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("compose")
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    numba_cache = Path(os.environ.get("NUMBA_CACHE_DIR") or ROOT / ".cache" / "numba")
    services = _services(compose, base, numba_cache)
    runner = services["runner"]
    config = Path(runner.argv[runner.argv.index("--config") + 1])
    from flows.settings import load_settings

    barpipe_env = {k: v for k, v in runner.env.items() if k.startswith("BARPIPE_")}
    settings = load_settings(config, environ=barpipe_env)
    assert Path(settings.input.path).is_relative_to(base), settings.input.path
    make_dataset(Path(settings.input.path), n_symbols=N_SYMBOLS, n_bars=300)
    logs = base / "logs"
    logs.mkdir()
    replicas = int(compose["services"]["dask-worker"].get("deploy", {}).get("replicas", 1))
    order = [("prefect-server", 1), ("dask-scheduler", 1), ("dask-worker", replicas)]
    procs: dict[str, subprocess.Popen] = {}

    def start(service: Service, label: str) -> None:
        with open(logs / f"{label}.log", "w") as out:
            procs[label] = subprocess.Popen(
                service.argv,
                env=service.env,
                cwd=service.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    try:
        for name, count in order:
            for i in range(count):
                start(services[name], name if count == 1 else f"{name}-{i + 1}")
        api = runner.env["PREFECT_API_URL"]
        _wait("Prefect API", lambda: _get(f"{api}/health") is not None, [*procs.values()], logs)
        start(runner, "runner")
        deployment = f"{api}/deployments/name/nightly/{settings.schedule.deployment_name}"
        _wait("deployment", lambda: _get(deployment) is not None, [*procs.values()], logs)
        from distributed import Client

        with Client(settings.cluster.address, timeout="30s") as client:
            client.wait_for_workers(replicas, timeout=60)
            workers = set(client.scheduler_info(n_workers=-1)["workers"])
            worker_pids = set(client.run(os.getpid).values())
        listening = {}
        for label, proc in procs.items():
            for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)]:
                addresses = {
                    f"{c.laddr.ip}:{c.laddr.port}"
                    for c in p.net_connections("tcp")
                    if c.status == psutil.CONN_LISTEN
                }
                listening[f"{label} ({p.pid} {p.name()})"] = addresses
        trigger = subprocess.run(
            [str(BIN / "barpipe"), "trigger", "--run-date", RUN_DATE],
            env=runner.env,
            cwd=runner.cwd,
            capture_output=True,
            text=True,
            timeout=180,
        )
        output = Path(settings.output.path)
        yield Stack(services, procs, listening, trigger, output, workers, worker_pids)
    finally:
        for label in ["runner", *[k for k in procs if k != "runner"]]:
            if label in procs:
                _stop(procs[label])


def test_the_triggered_run_publishes_from_the_compose_cluster(stack: Stack) -> None:
    result = stack.trigger
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed in" in result.stdout
    with sqlite3.connect(stack.output / "barpipe.db") as conn:
        runs = conn.execute(
            "SELECT run_id, status, n_symbols, n_trades, log_file FROM runs WHERE run_key = ?",
            (RUN_DATE,),
        ).fetchall()
        assert len(runs) == 1, runs
        run_id, status, n_symbols, n_trades, log_file = runs[0]
        workers = {
            w
            for (w,) in conn.execute(
                "SELECT DISTINCT worker FROM run_stages WHERE run_id = ? AND worker IS NOT NULL",
                (run_id,),
            )
        }
    assert (status, n_symbols) == ("succeeded", N_SYMBOLS)
    trades = outputs.read_output(str(stack.output), "trades", run_keys=[RUN_DATE])
    assert trades.num_rows == n_trades > 0
    pids = {int(w.rsplit(":", 1)[1]) for w in workers if w}  # run_stages.worker: host:pid
    assert pids, "no stage recorded a worker"
    assert pids <= stack.worker_pids  # the compose file's workers computed it
    assert list((stack.output / "reports").glob("*.html"))  # configs/nightly.yaml: report on
    assert log_file == str(stack.output / "logs" / f"{run_id}.log")
    assert Path(log_file).exists()


def test_nothing_listens_beyond_loopback(stack: Stack) -> None:
    assert len(stack.scheduler_workers) == 2  # the compose file's replicas
    addresses = {a for found in stack.listening.values() for a in found}
    assert addresses, stack.listening
    wide = {k: v for k, v in stack.listening.items() if any(not a.startswith("127.") for a in v)}
    assert wide == {}, f"listeners on other interfaces: {wide}"


def test_the_served_ui_talks_to_the_published_api(stack: Stack) -> None:
    server = stack.services["prefect-server"]
    api = server.env["PREFECT_UI_API_URL"]  # compose: what a browser on the host calls
    settings = json.loads(_get(api.removesuffix("/api") + "/ui-settings", timeout=10) or b"{}")
    assert settings.get("api_url") == api
