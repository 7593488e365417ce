"""A run's log file: the libraries' log records go there, the console keeps barpipe's lines.

During a run, tornado, bokeh, distributed and Prefect log from the flow process (the Dask
scheduler and its dashboard live there for a local cluster) and from the worker processes.
A browser tab on the dashboard that closes early makes tornado log an error with a
traceback; none of that is barpipe's to show. So, for the length of a run:

1. ``run_log`` opens ``<output root>/logs/pending-<UTC time>-<pid>.log`` (next to
   ``barpipe.db`` when the output root is a URL) and routes records of WARNING and above
   from every logger into it, while console handlers (stdout/stderr) drop every record
   that is not from barpipe's own modules. Logger levels above WARNING on the libraries
   (distributed's defaults: bokeh ERROR, tornado CRITICAL) are lowered to WARNING, so their
   warnings are kept in the file. Nested calls reuse the open log and re-apply the routing
   (Prefect replaces the root handlers when it is first imported).
2. ``attach_run`` renames the file to ``logs/<run id>.log`` once the run has its id and, when
   the Dask scheduler runs in this process (a cluster started for the run, whose workers
   write to this console), routes the workers' loggers and Python warnings to the same
   file with a worker plugin.
3. Leaving ``run_log`` undoes all of it (the worker plugin too, if the client that
   registered it is still open); a pending log nothing was written to is deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from compute.errors import StorageError
from flows.settings import OutputConfig, Settings, _local_part, is_local_path

OWN = ("barpipe", "flows", "storage", "compute")  # loggers whose records stay on the console
LIBRARIES = ("tornado", "tornado.application", "bokeh", "distributed", "prefect")
LEVEL = logging.WARNING
LOG_DIR = "logs"
PLUGIN_NAME = "barpipe-run-log"
_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s: %(message)s"


def log_dir(output: OutputConfig) -> Path:
    """Where run logs go: ``<output root>/logs``, or beside the database for a URL root."""
    if is_local_path(output.path):
        return Path(_local_part(output.path)) / LOG_DIR
    return Path(output.resolved_db_path()).parent / LOG_DIR


class _LibrariesOffConsole(logging.Filter):
    """Passes only records from barpipe's own loggers (set on console handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".", 1)[0] in OWN


def _is_console(handler: logging.Handler) -> bool:
    if type(handler).__name__ in ("PrefectConsoleHandler", "RichHandler"):
        return True
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    return any(handler.stream is s for s in streams if s is not None)


@dataclass
class _Routing:
    """What ``apply`` changed in this process's logging, so that ``undo`` restores it."""

    handler: logging.Handler
    console_filter: logging.Filter = field(default_factory=_LibrariesOffConsole)
    filtered: list[logging.Handler] = field(default_factory=list)
    attached: list[logging.Logger] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)

    def apply(self) -> None:
        """Idempotent: the file on root and on each non-propagating logger, consoles filtered."""
        root = logging.getLogger()
        loggers = [root] + [
            logger
            for logger in list(logging.Logger.manager.loggerDict.values())
            if isinstance(logger, logging.Logger)
        ]
        for logger in loggers:
            for handler in logger.handlers:
                if _is_console(handler) and self.console_filter not in handler.filters:
                    handler.addFilter(self.console_filter)
                    self.filtered.append(handler)
            # a record stops at the first logger that does not propagate (or at root):
            # the file on each of those receives every record exactly once
            if (logger is root or not logger.propagate) and self.handler not in logger.handlers:
                logger.addHandler(self.handler)
                self.attached.append(logger)
        for name in LIBRARIES:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() > LEVEL:
                self.levels.setdefault(name, logger.level)
                logger.setLevel(LEVEL)

    def undo(self) -> None:
        for handler in self.filtered:
            handler.removeFilter(self.console_filter)
        for logger in self.attached:
            logger.removeHandler(self.handler)
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
        self.filtered, self.attached, self.levels = [], [], {}
        self.handler.close()


def _file_handler(path: Path) -> logging.FileHandler:
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(LEVEL)
    handler.setFormatter(logging.Formatter(_FORMAT))
    return handler


@dataclass
class RunLog:
    """The open log of the run in this process."""

    path: Path
    routing: _Routing
    attached_run: str | None = None
    clients: list[Any] = field(default_factory=list)  # that registered the worker plugin


_ACTIVE: list[RunLog] = []


def active() -> RunLog | None:
    """The run log open in this process, if any."""
    return _ACTIVE[0] if _ACTIVE else None


@contextlib.contextmanager
def run_log(settings: Settings) -> Iterator[RunLog]:
    """Route the libraries' logs to a new run log file for the length of the block."""
    if (current := active()) is not None:
        current.routing.apply()
        yield current
        return
    directory = log_dir(settings.output)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"pending-{stamp}-{os.getpid()}.log"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handler = _file_handler(path)
    except OSError as err:
        raise StorageError(f"cannot write the run log {path}: {err}") from err
    log = RunLog(path, _Routing(handler))
    _ACTIVE.append(log)
    log.routing.apply()
    try:
        yield log
    finally:
        _ACTIVE.clear()
        for client in log.clients:  # a cluster that outlives the run logs as before
            if client.status == "running":
                with contextlib.suppress(Exception):  # noqa: BLE001 - best effort, never hides
                    client.unregister_worker_plugin(PLUGIN_NAME)
        log.routing.undo()
        if log.attached_run is None:
            with contextlib.suppress(OSError):
                if log.path.stat().st_size == 0:
                    log.path.unlink()


def attach_run(run_id: str, client: Any = None) -> str | None:
    """Name the open run log after ``run_id`` and route a local cluster's workers to it.

    Returns the log's path, or None when no run log is open (a flow called directly).
    """
    log = active()
    if log is None:
        return None
    target = log.path.with_name(f"{run_id}.log")
    handler = log.routing.handler
    if log.path != target and isinstance(handler, logging.FileHandler):
        try:
            os.replace(log.path, target)  # the open handle keeps writing to the renamed file
        except OSError:
            target = log.path  # e.g. a file system that cannot rename open files
        handler.baseFilename = str(target)
        log.path = target
    log.attached_run = run_id
    log.routing.apply()
    if client is not None and _scheduler_is_here(client):
        client.register_plugin(WorkerRunLog(str(log.path)), name=PLUGIN_NAME)
        log.clients.append(client)
    return str(log.path)


def _scheduler_is_here(client: Any) -> bool:
    """True when the Dask scheduler runs in this process (a LocalCluster started here)."""
    try:
        return bool(client.run_on_scheduler(os.getpid) == os.getpid())
    except Exception:  # noqa: BLE001 - an unreachable scheduler is not ours to route
        return False


class WorkerRunLog(WorkerPlugin):
    """Worker plugin: the worker process's loggers and Python warnings go to the run log."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._routing: _Routing | None = None

    def setup(self, worker: Any) -> None:
        self._routing = _Routing(_file_handler(Path(self.path)))
        self._routing.apply()
        logging.captureWarnings(True)

    def teardown(self, worker: Any) -> None:
        if self._routing is not None:
            logging.captureWarnings(False)
            self._routing.undo()
            self._routing = None
