"""docker/: containers cannot run here, so check that the compose file and Dockerfile hang together."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (DOCKER / "Dockerfile").read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


INSTRUCTIONS = _instructions(DOCKERFILE)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in INSTRUCTIONS:
        if word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def _argv(service: dict[str, Any], key: str) -> list[str]:
    value = service.get(key) or []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def test_the_expected_services_exist():
    assert set(SERVICES) >= {
        "postgres",
        "prefect-server",
        "dask-scheduler",
        "dask-worker",
        "runner",
    }


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_depends_on_names_existing_services(name):
    depends = SERVICES[name].get("depends_on") or []
    targets = list(depends) if isinstance(depends, dict) else depends
    assert targets == [t for t in targets if t in SERVICES and t != name], (
        f"{name} depends on {targets}"
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_named_volumes_are_declared(name):
    declared = set(COMPOSE.get("volumes") or {})
    for mount in SERVICES[name].get("volumes") or []:
        if isinstance(mount, dict):
            source = mount.get("source") if mount.get("type", "volume") == "volume" else None
        else:
            source = mount.split(":", 1)[0] if ":" in mount else None
        if source and not source.startswith((".", "/", "~", "$")):
            assert source in declared, f"{name} mounts undeclared volume {source!r}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_an_image_it_can_get(name):
    service = SERVICES[name]
    assert "image" in service or "build" in service, f"{name} has neither image nor build"
    build = service.get("build")
    if build is not None:
        context = DOCKER / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (context / dockerfile).resolve().is_file(), f"{name}: no {dockerfile} in {context}"
    image = str(service.get("image", ""))
    if image.startswith("barpipe"):  # our own image exists only where some service builds it
        builders = [s for s in SERVICES.values() if s.get("image") == image and s.get("build")]
        assert builders, f"{name} uses {image}, which no service builds"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_published_ports_bind_to_localhost(name):
    for port in SERVICES[name].get("ports") or []:
        if isinstance(port, dict):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port}"
        else:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_volumes_declared_are_used():
    used = set()
    for service in SERVICES.values():
        for mount in service.get("volumes") or []:
            used.add(mount.get("source") if isinstance(mount, dict) else mount.split(":", 1)[0])
    assert set(COMPOSE.get("volumes") or {}) <= used


def test_dockerfile_runs_as_a_non_root_user_with_writable_caches():
    assert INSTRUCTIONS[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in INSTRUCTIONS if word == "USER"]
    assert users, "no USER instruction: the container runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    env = _dockerfile_env()
    assert env.get("NUMBA_CACHE_DIR", "").startswith("/")
    assert env.get("PREFECT_HOME", "").startswith("/")
    # both directories are created and handed to the runtime user before USER switches
    setup = " ".join(args for word, args in INSTRUCTIONS if word == "RUN")
    assert "$NUMBA_CACHE_DIR" in setup
    assert "$PREFECT_HOME" in setup
    assert f"chown -R {users[-1]}" in setup
    assert ("ENTRYPOINT", '["barpipe"]') in INSTRUCTIONS


def test_dockerfile_copies_what_exists_and_installs_the_project():
    for word, args in INSTRUCTIONS:
        if word == "COPY":
            *sources, _ = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert any(word == "RUN" and "pip install" in args for word, args in INSTRUCTIONS)


def test_runner_serves_the_nightly_config_against_the_cluster():
    runner = SERVICES["runner"]
    argv = _argv(runner, "command")
    assert argv[:1] == ["serve"]
    config = argv[argv.index("--config") + 1]
    assert config.startswith("/opt/barpipe/configs/")  # where the Dockerfile copies configs/
    env = _env(runner)
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert env["BARPIPE_CLUSTER__ADDRESS"] == "tcp://dask-scheduler:8786"
    # the config plus the runner's BARPIPE_ variables make valid settings
    barpipe_env = {k: v for k, v in env.items() if k.startswith("BARPIPE_")}
    settings = load_settings(ROOT / "configs" / Path(config).name, environ=barpipe_env)
    assert settings.cluster.address == "tcp://dask-scheduler:8786"
    # the paths the config reads and writes are volumes of the runner and the workers
    for service in ("runner", "dask-worker"):
        targets = {m.split(":")[1] for m in SERVICES[service]["volumes"]}
        assert settings.input.path in targets, service
        assert settings.output.path in targets, service


def test_workers_join_the_scheduler_and_scale():
    worker = SERVICES["dask-worker"]
    argv = _argv(worker, "entrypoint") + _argv(worker, "command")
    assert argv[:2] == ["dask", "worker"]
    assert "tcp://dask-scheduler:8786" in argv
    assert isinstance(worker["deploy"]["replicas"], int)
    assert worker["deploy"]["replicas"] >= 1
    assert not worker.get("ports"), "fixed host ports would clash when the workers are scaled"
    assert "container_name" not in worker
    scheduler = _argv(SERVICES["dask-scheduler"], "entrypoint")
    assert scheduler == ["dask", "scheduler"]


def test_prefect_server_uses_postgres():
    server = SERVICES["prefect-server"]
    argv = (_argv(server, "entrypoint") or ["barpipe"]) + _argv(server, "command")
    assert argv[:2] == ["barpipe", "server"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    url = _env(server)["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in url
    assert "postgres" in (server.get("depends_on") or {})


def test_no_secret_is_committed():
    for name, service in SERVICES.items():
        for key, value in _env(service).items():
            if "PASSWORD" in key or "://" in value and "@" in value:
                assert "${" in value, (
                    f"{name}: {key} holds a literal secret; take it from the environment"
                )


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("prefect-server", ["--host", "--port"]),
        ("dask-scheduler", ["--host", "--port", "--dashboard-address"]),
        ("dask-worker", ["--host", "--dashboard-address"]),
    ],
)
def test_every_listener_is_given_explicitly(name, flags):
    # a dask worker without --host and --dashboard-address binds every interface (measured:
    # tests/integration/test_compose.py::test_nothing_listens_beyond_loopback)
    argv = _argv(SERVICES[name], "entrypoint") + _argv(SERVICES[name], "command")
    assert [f for f in flags if f not in argv] == [], argv
