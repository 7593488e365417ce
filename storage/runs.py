"""The run protocol: how a run's staged outputs become visible in Parquet and SQLite together.

Driven by the table declaration (``storage.tables``); nothing here reads configuration: the
caller passes an ``OutputRoot`` (path, filesystem, file size) and an open ``barpipe.db``
connection, and must hold the output root's run lock (``storage.db.run_lock``).

Steps of a run, and where each lives:

1. ``recover`` (before the run is registered): runs left ``running`` by dead processes are
   marked ``abandoned``; half-done output swaps are undone (``outputs.recover_outputs``); a
   dead run that died inside ``publish`` after committing some Parquet (its marker still in
   staging, so its staged files are whole) is published again from them; every staging area
   left behind is deleted (no other run can be live while the lock is held).
2. tasks stage their rows (``outputs.write_staged``); rows decided at planning (quarantine of
   unnamed or oversized symbols) are staged by ``stage_quarantine``.
3. ``publish``: writes the marker ``_publishing.json`` into the run's staging area, commits the
   staged Parquet by run key (``outputs.publish_parquet``), then the mirrored tables' rows in
   one SQLite transaction, then deletes the marker (first) and the staging area.
4. on failure, ``discard`` deletes the run's staging area.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from storage import db, outputs, validate
from storage import fs as fsutil
from storage.faults import pause_for_test
from storage.tables import TABLES, mirrored

__all__ = [
    "MARKER",
    "OutputRoot",
    "discard",
    "publish",
    "recover",
    "stage_quarantine",
]

MARKER = "_publishing.json"
"""Written to a run's staging area when it starts publishing and deleted, first, when the
publish is complete: while it exists the staged files are whole and can be published again."""

Echo = Callable[[str], None]


@dataclass(frozen=True)
class OutputRoot:
    """Where a run's outputs go: the root (path or URL), its filesystem, the file size."""

    path: str
    filesystem: Any = None
    target_file_mib: float = outputs.DEFAULT_TARGET_MIB

    def resolved(self) -> tuple[Any, str]:
        return fsutil.resolve(self.path, self.filesystem)


def stage_quarantine(
    out: OutputRoot, run_id: str, records: Sequence[validate.QuarantineRecord], name: str
) -> None:
    """Stage quarantine records decided at planning under ``part-<name>``."""
    outputs.write_staged(
        validate.quarantine_table(list(records), run_id),
        out.path,
        run_id,
        "quarantine",
        name,
        out.filesystem,
    )


def discard(out: OutputRoot, run_id: str) -> None:
    """Delete a run's staging area (a failed run: nothing of it is published)."""
    outputs.remove_staging(out.path, run_id, out.filesystem)


def _marker_path(out: OutputRoot, run_id: str) -> tuple[Any, str]:
    filesystem, _ = out.resolved()
    return filesystem, fsutil.join(outputs.staging_dir(out.path, run_id, out.filesystem), MARKER)


def _write_marker(
    out: OutputRoot, run_id: str, run_key: str, tables: list[str], counts: Mapping[str, int]
) -> None:
    filesystem, path = _marker_path(out, run_id)
    body = {"run_key": run_key, "tables": tables, "counts": dict(counts)}
    fsutil.write_bytes_atomic(filesystem, path, json.dumps(body).encode())


def _read_marker(out: OutputRoot, run_id: str) -> dict[str, Any] | None:
    filesystem, path = _marker_path(out, run_id)
    if not fsutil.exists(filesystem, path):
        return None
    body: dict[str, Any] = json.loads(fsutil.read_bytes(filesystem, path))
    return body


def _committed_by(out: OutputRoot, run_id: str, run_key: str) -> bool:
    """True if some published Parquet table of ``run_key`` is ``run_id``'s."""
    filesystem, root = out.resolved()
    partition = f"run_key={fsutil.encode_component(run_key)}"
    for table in TABLES:
        manifest = fsutil.join(root, table, partition, outputs.MANIFEST)
        if fsutil.exists(filesystem, manifest):
            if json.loads(fsutil.read_bytes(filesystem, manifest)).get("run_id") == run_id:
                return True
    return False


def publish(
    out: OutputRoot,
    conn: Any,
    run_id: str,
    run_key: str,
    tables: Sequence[str],
    counts: Mapping[str, int],
    *,
    sleeves: Iterable[pa.RecordBatch] | None = None,
) -> dict[str, str]:
    """Publish a run's staged ``tables``: Parquet by run key, then SQLite; partition paths.

    The marker written first makes a publish killed at any later step complete in the next
    run's ``recover``. ``sleeves``: the report summaries the batches returned
    (``compute.portfolio.SUMMARY_SCHEMA`` batches), stored in the same SQLite transaction.
    """
    names = list(tables)
    _write_marker(out, run_id, run_key, names, counts)
    return _publish(out, conn, run_id, run_key, names, sleeves)


def _publish(
    out: OutputRoot,
    conn: Any,
    run_id: str,
    run_key: str,
    tables: list[str],
    sleeves: Iterable[pa.RecordBatch] | None = None,
) -> dict[str, str]:
    """Publish a run's staged tables; safe to repeat while its publishing marker exists.

    The mirrored tables reach SQLite as record batches streamed from the published files
    (``outputs.iter_output``, inserted in chunks by ``storage.sqlite_bulk``): no table is
    ever whole in memory. ``sleeves`` is None when ``recover`` completes a dead run's
    publish: that run's report then draws each sleeve from the latest earlier run.
    """
    published = outputs.publish_parquet(
        out.path, run_id, run_key, tables, out.filesystem, target_file_mib=out.target_file_mib
    )
    pause_for_test("publish", f"{run_id} committed Parquet, SQLite next")
    rows = {
        name: outputs.iter_output(out.path, name, out.filesystem, run_keys=[run_key])
        for name in mirrored()
    }
    db.publish_run_rows(conn, run_id, run_key, **rows, sleeves=sleeves)
    filesystem, marker = _marker_path(out, run_id)
    filesystem.delete_file(marker)  # first: a half-deleted staging area is never republished
    outputs.remove_staging(out.path, run_id, out.filesystem)
    return {name: p.partition for name, p in published.items()}


def recover(out: OutputRoot, conn: Any, run_id: str, *, echo: Echo) -> None:
    """Clean up after runs that died (see the module docstring); hold the run lock.

    ``run_id`` is the run doing the recovery (named in the dead run's error).
    """
    dead = db.mark_abandoned(conn)
    if dead:
        echo(f"marked {len(dead)} dead run(s) abandoned: {', '.join(dead)}")
    for action in outputs.recover_outputs(out.path, out.filesystem):
        echo(f"recovered outputs: {action}")
    for dead_id in dead:
        marker = _read_marker(out, dead_id)
        run = db.get_run(conn, dead_id)
        if marker is None or run is None or not _committed_by(out, dead_id, run["run_key"]):
            continue  # it never published, or it published completely: nothing to finish
        _publish(out, conn, dead_id, str(run["run_key"]), list(marker["tables"]))
        db.finish_run(
            conn,
            dead_id,
            status="abandoned",
            error=(
                f"{run['error'] or 'the process died'}; it died while publishing, and run "
                f"{run_id} completed that publish from its staged files"
            ),
            **marker["counts"],
        )
        echo(f"completed the interrupted publish of dead run {dead_id} (key {run['run_key']})")
    for stale in outputs.list_staged_runs(out.path, out.filesystem):
        outputs.remove_staging(out.path, stale, out.filesystem)


def ensure_root(out: OutputRoot) -> None:
    """Create a local output root."""
    if "://" not in out.path:
        os.makedirs(out.path, exist_ok=True)
