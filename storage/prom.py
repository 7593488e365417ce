"""A run's figures as a Prometheus text file, for node-exporter's textfile collector.

``build_run_metrics`` turns a run's record, stage timings and counts into metric tuples
``(name, help, type, labels, value)``; ``format_textfile`` renders them in the Prometheus text
exposition format (one ``# HELP`` and ``# TYPE`` line per metric name, escaped label values,
finite numbers only, every name prefixed ``barpipe_``); ``write_textfile`` writes the result
so the collector never reads half a file: a temporary sibling renamed into place on local
disks (its name does not end in ``.prom``, so the collector ignores it), a single PUT on object
stores.

Point node-exporter at the output root: ``--collector.textfile.directory=<output>``; the file
is ``<output>/barpipe.prom``. The ``*_total`` counters count within the last run, so they drop
back at the next run, which Prometheus treats as a counter reset.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

from compute.errors import StorageError
from storage.fs import FilesystemLike, resolve, write_bytes_atomic
from storage.schemas import RUN_STATUSES

__all__ = [
    "PREFIX",
    "Metric",
    "build_run_metrics",
    "format_textfile",
    "write_textfile",
]

PREFIX = "barpipe_"
TYPES = ("counter", "gauge", "untyped")

Metric = tuple[str, str, str, Mapping[str, str], float]
"""(name, help text, type, labels, value); the name gets ``barpipe_`` in front if it lacks it."""

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise StorageError(f"metric {name}: value {value!r} is not a number")
    if isinstance(value, Integral):  # numpy integers too: exact, with no ".0"
        return str(int(value))
    number = float(value)
    if not math.isfinite(number):
        raise StorageError(f"metric {name}: value {number} is not finite")
    return repr(number)


def format_textfile(metrics: Sequence[Metric]) -> str:
    """Render metrics in the Prometheus text format (version 0.0.4), families in order of first appearance.

    Samples of one name are grouped under one HELP/TYPE header; two samples of one name must
    share help and type and differ in labels. Raises StorageError naming the bad metric.
    """
    families: dict[str, tuple[str, str, list[str]]] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for item in metrics:
        try:
            raw_name, help_text, kind, labels, value = item
        except (TypeError, ValueError):
            raise StorageError(
                f"a metric is (name, help, type, labels, value), got {item!r}"
            ) from None
        name = raw_name if raw_name.startswith(PREFIX) else PREFIX + raw_name
        if not _NAME.fullmatch(name):
            raise StorageError(
                f"metric name {raw_name!r} is not valid; use [a-zA-Z_:][a-zA-Z0-9_:]*"
            )
        if kind not in TYPES:
            raise StorageError(f"metric {name}: type {kind!r} is not one of {list(TYPES)}")
        pairs = []
        for key, text in sorted(labels.items()):
            if not _LABEL.fullmatch(key) or key.startswith("__"):
                raise StorageError(
                    f"metric {name}: label name {key!r} is not valid; use [a-zA-Z_][a-zA-Z0-9_]* not starting with __"
                )
            pairs.append((key, str(text)))
        identity = (name, tuple(pairs))
        if identity in seen:
            raise StorageError(f"metric {name} with labels {dict(pairs)} appears twice")
        seen.add(identity)
        family = families.setdefault(name, (help_text, kind, []))
        if family[:2] != (help_text, kind):
            raise StorageError(
                f"metric {name}: help/type {help_text!r}/{kind} differ from the first sample's {family[0]!r}/{family[1]}"
            )
        rendered = ",".join(f'{key}="{_escape_label(text)}"' for key, text in pairs)
        family[2].append(
            f"{name}{{{rendered}}} {_number(name, value)}"
            if pairs
            else f"{name} {_number(name, value)}"
        )
    lines: list[str] = []
    for name, (help_text, kind, samples) in families.items():
        lines.append(f"# HELP {name} {_escape_help(help_text)}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(samples)
    return "\n".join(lines) + "\n" if lines else ""


def write_textfile(
    path_or_url: str | os.PathLike[str],
    metrics: Sequence[Metric],
    filesystem: FilesystemLike = None,
) -> str:
    """Write ``metrics`` to a ``.prom`` file atomically; returns the path written.

    Parameters
    ----------
    path_or_url
        The file, e.g. ``<output>/barpipe.prom`` (local path or fsspec URL). Node-exporter's
        textfile collector reads only names ending in ``.prom``.
    metrics
        ``(name, help, type, labels, value)`` tuples, see ``format_textfile``.
    filesystem
        A pyarrow or fsspec filesystem; default: inferred from ``path_or_url``.
    """
    body = format_textfile(metrics).encode()
    fs, path = resolve(path_or_url, filesystem)
    try:
        write_bytes_atomic(fs, path, body)
    except OSError as err:
        raise StorageError(f"cannot write {os.fspath(path_or_url)}: {err}") from err
    return path


def _epoch_seconds(value: Any) -> float | None:
    """Seconds since the epoch from a datetime, an ISO-8601 string (UTC if naive) or a number."""
    if value is None:
        return None
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise StorageError(f"cannot read the time {value!r}; expected ISO-8601") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    raise StorageError(f"cannot read the time {value!r} ({type(value).__name__})")


def _run_seconds(run: Mapping[str, Any]) -> float | None:
    for key in ("duration_seconds", "wall_seconds"):
        if run.get(key) is not None:
            return float(run[key])
    start, end = _epoch_seconds(run.get("started_at")), _epoch_seconds(run.get("finished_at"))
    return None if start is None or end is None else end - start


def build_run_metrics(
    run: Mapping[str, Any],
    stages: Mapping[str, float],
    trades_by_side: Mapping[str, int],
    n_quarantined: int,
    last_success_ts: float | None,
) -> list[Metric]:
    """The metrics of one run, ready for ``write_textfile``.

    Parameters
    ----------
    run
        The run's record (a ``runs`` row or the flow's summary as a dict): ``status``,
        ``n_bars``, ``n_symbols``, and its duration as ``duration_seconds``/``wall_seconds`` or
        ``started_at``/``finished_at`` (datetimes, ISO-8601 text or epoch seconds). The
        duration is left out while it is unknown.
    stages
        Seconds per stage (load, validate, kernels, backtest, metrics, write, publish, ...).
    trades_by_side
        Trade counts by side; ``long`` and ``short`` are always present (0 if missing).
    n_quarantined
        Symbols quarantined by the run.
    last_success_ts
        Epoch seconds when a run last succeeded (this one, if it did); None leaves the metric
        out (alert on ``absent(...)``), as 0 would read as 1970.
    """
    status = str(run.get("status", ""))
    if status not in RUN_STATUSES:
        raise StorageError(f"run status {status!r} is not one of {list(RUN_STATUSES)}")
    metrics: list[Metric] = []
    seconds = _run_seconds(run)
    if seconds is not None:
        metrics.append(
            (
                "barpipe_run_duration_seconds",
                "Wall-clock duration of the last run.",
                "gauge",
                {},
                seconds,
            )
        )
    metrics += [
        (
            "barpipe_bars_processed_total",
            "Bars processed by the last run.",
            "counter",
            {},
            int(run.get("n_bars") or 0),
        ),
        (
            "barpipe_symbols_processed_total",
            "Symbols processed by the last run.",
            "counter",
            {},
            int(run.get("n_symbols") or 0),
        ),
    ]
    sides = {"long": 0, "short": 0, **{str(k): int(v) for k, v in trades_by_side.items()}}
    for side in sorted(sides):
        metrics.append(
            (
                "barpipe_trades_total",
                "Trades of the last run, by side.",
                "counter",
                {"side": side},
                sides[side],
            )
        )
    metrics.append(
        (
            "barpipe_quarantined_symbols",
            "Symbols the last run quarantined.",
            "gauge",
            {},
            int(n_quarantined),
        )
    )
    for stage, value in stages.items():
        metrics.append(
            (
                "barpipe_stage_seconds",
                "Seconds spent per stage in the last run.",
                "gauge",
                {"stage": str(stage)},
                float(value),
            )
        )
    if last_success_ts is not None:
        metrics.append(
            (
                "barpipe_last_success_timestamp_seconds",
                "Unix time at which a run last succeeded.",
                "gauge",
                {},
                float(last_success_ts),
            )
        )
    for name in RUN_STATUSES:
        metrics.append(
            (
                "barpipe_run_status",
                "Status of the last run: 1 for its status, 0 for the others.",
                "gauge",
                {"status": name},
                int(name == status),
            )
        )
    return metrics
