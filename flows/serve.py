"""The nightly flow (and sweeps) as Prefect deployments: a local server, serving it on a cron, triggering it.

1. ``start_server``: ``prefect server start`` bound to 127.0.0.1 with barpipe's PREFECT_HOME,
   in the foreground; SIGTERM or Ctrl-C stops it. Its UI is told that its API is at the
   ``--host``/``--port`` it serves (``server_env``; PREFECT_UI_API_URL overrides).
2. ``require_server``: the Prefect API that ``serve`` and ``trigger`` talk to —
   ``prefect.api_url``, else ``PREFECT_API_URL``, else a ``barpipe server`` answering on
   127.0.0.1:4200. An ephemeral server cannot schedule runs, so none answering is an error
   that says what to start.
3. ``serve_nightly``: registers the ``nightly`` flow as deployment
   ``nightly/<schedule.deployment_name>`` with ``schedule.cron`` in ``schedule.timezone`` and
   the resolved settings as its ``config`` parameter, then runs each scheduled or triggered
   run in a subprocess until SIGTERM or Ctrl-C (the schedule is paused on the way out).
4. ``trigger_nightly``: one run of that deployment now (``run_deployment``), with the
   deployment's own settings or a given config, and optionally another run date; waits for
   it unless told not to.
5. ``serve_sweep`` / ``trigger_sweep``: the same for a parameter sweep (``barpipe serve
   --sweep FILE``, ``barpipe trigger --sweep``): deployment ``sweep/<schedule.deployment_name>``
   of the ``sweep`` flow, its parameters the sweep file's settings and ``sweep:`` section.

Prefect reads its settings from the environment when it is imported, so every function here
configures it first and imports it afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from compute.errors import BarpipeError, ConfigError
from flows.runtime import DEFAULT_LOCAL_API, api_is_healthy, configure_prefect, prefect_home
from flows.settings import Settings

Echo = Callable[[str], None]

FLOW_NAME = "nightly"
SWEEP_FLOW = "sweep"
START_TIMEOUT_S = 120.0  # a triggered run nobody picks up by then is cancelled, not left queued
_FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def deployment_path(settings: Settings, flow_name: str = FLOW_NAME) -> str:
    """``nightly/<deployment name>`` (or ``sweep/...``), the name ``run_deployment`` and the
    Prefect UI use."""
    return f"{flow_name}/{settings.schedule.deployment_name}"


def server_api_url(host: str, port: int) -> str:
    """The API URL a browser on this machine uses for a server bound to ``host``:``port``.

    A wildcard bind (0.0.0.0, ::) is reached through the loopback address; an IPv6 literal
    gets brackets.
    """
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/api"


def server_env(host: str, port: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for ``prefect server start --host host --port port``.

    Prefect's UI asks ``/ui-settings`` where its API is, and the server answers with
    ``server.ui.api_url`` (PREFECT_UI_API_URL or PREFECT_SERVER_UI_API_URL), which defaults
    to PREFECT_API_URL or PREFECT_SERVER_API_HOST/PORT, never to the ``--host``/``--port``
    flags: without this the UI on any port calls 127.0.0.1:4200. A UI API URL the user set
    (for a browser on another machine) is kept.
    """
    env = dict(os.environ if environ is None else environ)
    env["PREFECT_SERVER_API_HOST"] = host
    env["PREFECT_SERVER_API_PORT"] = str(port)
    if not (env.get("PREFECT_UI_API_URL") or env.get("PREFECT_SERVER_UI_API_URL")):
        env["PREFECT_SERVER_UI_API_URL"] = server_api_url(host, port)
    return env


def ui_url(api_url: str) -> str:
    """The Prefect UI that goes with an API URL (``http://host:4200/api`` → ``http://host:4200``)."""
    return api_url.rstrip("/").removesuffix("/api")


# --------------------------------------------------------------------------- server


def start_server(host: str = "127.0.0.1", port: int = 4200, *, echo: Echo = print) -> int:
    """Run ``prefect server start`` in the foreground until it exits or is told to stop.

    Returns 0 when it was stopped by SIGTERM or Ctrl-C, else the server's own exit code.
    """
    configure_prefect()
    env = server_env(host, port)
    api = server_api_url(host, port)
    if api_is_healthy(api):
        raise ConfigError(
            f"a Prefect server already answers at {api}; use it or pick another --port"
        )
    echo(
        f"Prefect server on {ui_url(api)} (PREFECT_HOME {prefect_home()}); point barpipe at it "
        f"with PREFECT_API_URL={api}. Ctrl-C or SIGTERM stops it."
    )
    command = [sys.executable, "-m", "prefect", "server", "start"]
    command += ["--host", host, "--port", str(port)]
    stopping = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        if proc.poll() is None:
            proc.send_signal(signum)

    proc = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:
                # from a terminal the server got SIGINT too; a SIGINT sent to barpipe alone
                # did not reach it, so it gets SIGTERM if it is still up a moment later
                stopping = True
                try:
                    code = proc.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    proc.terminate()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if stopping:
        echo("Prefect server stopped")
        return 0
    if code != 0:
        raise BarpipeError(f"`prefect server start` exited with code {code}; see its output above")
    return 0


# --------------------------------------------------------------------------- client side


def require_server(settings: Settings, command: str) -> str:
    """Configure Prefect for a running server and return its API URL, or raise ConfigError."""
    configure_prefect(settings.prefect.log_level, settings.prefect.api_url)
    url = settings.prefect.api_url or os.environ.get("PREFECT_API_URL")
    if not url:
        if not api_is_healthy(DEFAULT_LOCAL_API):
            raise ConfigError(
                f"`barpipe {command}` needs a Prefect server and none is configured: run "
                f"`barpipe server` in another terminal, then set PREFECT_API_URL={DEFAULT_LOCAL_API}"
            )
        url = DEFAULT_LOCAL_API
    elif not api_is_healthy(url, timeout=5.0):
        raise ConfigError(
            f"no Prefect server answers at {url} (prefect.api_url / PREFECT_API_URL): start one "
            f"with `barpipe server` or fix the URL"
        )
    os.environ["PREFECT_API_URL"] = url
    return url


def build_deployment(settings: Settings, sweep: Mapping[str, Any] | None = None) -> Any:
    """The ``nightly`` flow as a ``RunnerDeployment`` with the configured cron and settings;
    with ``sweep`` (``flows.sweep.flow_parameters``), the ``sweep`` flow of that sweep."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from flows import flow

    s = settings.schedule
    parameters: dict[str, Any] = {"config": settings.model_dump(mode="json")}
    what, target = "nightly run", flow.nightly
    if sweep is not None:
        parameters["sweep"] = dict(sweep)
        what, target = "parameter sweep", flow.sweep
    return target.to_deployment(
        name=s.deployment_name,
        schedules=[Cron(s.cron, timezone=s.timezone)],
        parameters=parameters,
        description=f"barpipe {what} at '{s.cron}' ({s.timezone}), served by `barpipe serve`",
        tags=["barpipe"] if sweep is None else ["barpipe", "sweep"],
        # imported by name in the run's subprocess, whatever directory serve started in
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def next_fire(cron: str, timezone: str, after: dt.datetime | None = None) -> dt.datetime:
    """When ``cron`` next fires in ``timezone`` (an aware datetime in that zone)."""
    import zoneinfo

    from cronsim import CronSim

    zone = zoneinfo.ZoneInfo(timezone)
    start = (after or dt.datetime.now(dt.UTC)).astimezone(zone)
    return next(CronSim(cron, start))


def _serve(deployment: Any) -> None:
    """Run a Prefect runner for ``deployment`` until SIGTERM or Ctrl-C; both stop it cleanly."""
    import asyncio

    from prefect.runner import Runner

    runner = Runner(pause_on_shutdown=True)
    runner.add_deployment(deployment)
    # Prefect's own SIGTERM handler stops the runner from inside the signal handler and exits
    # through asyncio tracebacks; send SIGTERM down Ctrl-C's path instead, where asyncio
    # cancels the runner's task and the runner shuts down (pausing the schedule) in order.
    runner.handle_sigterm = lambda *_: signal.raise_signal(signal.SIGINT)  # type: ignore[method-assign]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even if inherited ignored
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, previous)


def serve_nightly(settings: Settings, *, echo: Echo = print) -> None:
    """Register the nightly deployment and serve it until SIGTERM or Ctrl-C."""
    if settings.run.run_date is not None:
        raise ConfigError(
            f"config key 'run.run_date' = '{settings.run.run_date}' would give every scheduled "
            f"run the same date; leave it null to serve (use `barpipe trigger --run-date`)"
        )
    _serve_deployment(settings, None, echo)


def serve_sweep(settings: Settings, sweep: Mapping[str, Any], *, echo: Echo = print) -> None:
    """Register the sweep deployment (``sweep/<schedule.deployment_name>``, the sweep file's
    own ``schedule``) and serve it until SIGTERM or Ctrl-C. A scheduled run whose input and
    configuration did not change finds its sweep published and does nothing."""
    _serve_deployment(settings, sweep, echo)


def _serve_deployment(settings: Settings, sweep: Mapping[str, Any] | None, echo: Echo) -> None:
    api = require_server(settings, "serve")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # runs' subprocesses inherit it
    deployment = build_deployment(settings, sweep)
    name = deployment_path(settings, FLOW_NAME if sweep is None else SWEEP_FLOW)
    how = "`barpipe trigger`" if sweep is None else "`barpipe trigger --sweep`"
    s = settings.schedule
    echo(
        f"serving {name} on {ui_url(api)}: cron '{s.cron}' ({s.timezone}), "
        f"next run {next_fire(s.cron, s.timezone):%Y-%m-%d %H:%M %Z}. "
        f"{how} runs it now; Ctrl-C or SIGTERM stops serving."
    )
    _serve(deployment)
    echo(f"stopped serving {name} (its schedule is paused until served again)")


def _wait_for(client: Any, flow_run: Any, start_timeout: float) -> Any:
    """Poll a flow run until it ends; cancel it if nobody picks it up within ``start_timeout``."""
    from prefect.states import Cancelled

    began = time.monotonic()
    while True:
        flow_run = client.read_flow_run(flow_run.id)
        state = flow_run.state
        kind = state.type.value if state is not None else "SCHEDULED"
        if kind in _FINAL:
            return flow_run
        if kind == "SCHEDULED" and time.monotonic() - began > start_timeout:
            client.set_flow_run_state(flow_run.id, Cancelled(message="not picked up"), force=True)
            raise BarpipeError(
                f"flow run {flow_run.name} was not picked up within {start_timeout:.0f}s and was "
                f"cancelled: is `barpipe serve` running against this Prefect server?"
            )
        time.sleep(1.0)


def trigger_nightly(
    settings: Settings,
    *,
    run_date: dt.date | None = None,
    use_settings: bool = False,
    wait: bool = True,
    start_timeout: float = START_TIMEOUT_S,
    echo: Echo = print,
) -> Any:
    """Run the served deployment now and (by default) wait for it; return the flow run.

    ``use_settings`` sends ``settings`` as the run's config; otherwise the deployment's own
    config is used. ``run_date`` replaces ``run.run_date`` in either. A run that ends in any
    state but Completed raises BarpipeError with Prefect's message.
    """

    def parameters(deployment: Any) -> dict[str, Any]:
        config = (
            settings.model_dump(mode="json")
            if use_settings
            else dict(deployment.parameters.get("config") or {})
        )
        if run_date is not None:
            config["run"] = {**config.get("run", {}), "run_date": run_date.isoformat()}
        return {"config": Settings.model_validate(config).model_dump(mode="json")}

    return _trigger(settings, FLOW_NAME, parameters, wait, start_timeout, echo)


def trigger_sweep(
    settings: Settings,
    sweep: Mapping[str, Any] | None = None,
    *,
    wait: bool = True,
    start_timeout: float = START_TIMEOUT_S,
    echo: Echo = print,
) -> Any:
    """Run the served sweep deployment now, with its own settings and sweep or with
    ``settings`` and ``sweep`` (``flows.sweep.flow_parameters``) when ``sweep`` is given."""

    def parameters(deployment: Any) -> dict[str, Any]:
        if sweep is not None:
            return {"config": settings.model_dump(mode="json"), "sweep": dict(sweep)}
        return {k: deployment.parameters.get(k) for k in ("config", "sweep")}

    return _trigger(settings, SWEEP_FLOW, parameters, wait, start_timeout, echo)


def _trigger(
    settings: Settings,
    flow_name: str,
    parameters: Callable[[Any], dict[str, Any]],
    wait: bool,
    start_timeout: float,
    echo: Echo,
) -> Any:
    api = require_server(settings, "trigger")
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    name = deployment_path(settings, flow_name)
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            flows = {f.id: f.name for f in client.read_flows()}
            known = sorted(
                f"{flows.get(d.flow_id, '?')}/{d.name}" for d in client.read_deployments()
            )
            there = f" (it has: {', '.join(known)})" if known else ""
            raise ConfigError(
                f"no deployment {name!r} on the Prefect server at {api}{there}: start "
                f"`barpipe serve` with the same schedule.deployment_name against it first"
            ) from None
        flow_run = run_deployment(
            name=name,
            parameters=parameters(deployment),
            timeout=0,
            tags=["barpipe", "trigger"],
            as_subflow=False,
        )
        link = f"{ui_url(api)}/runs/flow-run/{flow_run.id}"
        echo(f"triggered {name}: flow run {flow_run.name} ({link})")
        if not wait:
            return flow_run
        began = time.perf_counter()
        flow_run = _wait_for(client, flow_run, start_timeout)
    state = flow_run.state
    if state is None or state.type.value != "COMPLETED":
        kind = state.name if state is not None else "unknown"
        message = (state.message or "").strip() if state is not None else ""
        raise BarpipeError(f"flow run {flow_run.name} {kind}" + (f": {message}" if message else ""))
    echo(f"flow run {flow_run.name} completed in {time.perf_counter() - began:.1f}s")
    return flow_run
