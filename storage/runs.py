"""The run protocol: how a night's staged outputs become one commit seen from both stores.

Driven by the table declaration (``storage.tables``); nothing here reads configuration: the
caller passes an ``OutputRoot`` (path, filesystem, file size) and an open ``barpipe.db``
connection, and must hold the output root's run lock (``storage.db.run_lock``).

Output tables are Delta tables (``storage.delta``). ``barpipe.db`` records, per table, the
Delta version of the last committed run (``table_versions``), in the same transaction as the
mirrored rows and the symbols' publish state: that SQLite commit is the commit point of a run.

1. ``recover`` (before a run, and ``barpipe repair``): runs left ``running`` by dead processes
   are recorded ``succeeded`` if their SQLite commit went through (the process died after the
   commit point), else marked ``abandoned``; every table whose latest version is not the recorded one (a run
   died, or failed, between its Delta commits and its SQLite commit) is restored to the
   recorded content and that restore recorded; staging areas left behind are deleted.
   Interrupted at any step, running it again finishes the job: each step compares before it
   acts.
2. ``prepare``: whether the night must recompute everything (``--full``, a first run, a new
   table, a changed computation signature) and the publish state the workers compare against.
3. tasks stage their rows (``outputs.write_staged``); planning stages quarantine records
   (``stage_quarantine``).
4. ``publish``: per table, in declaration order, the Delta commits its kind calls for
   (``storage.tables``), then ``db.commit_night``. On any error the tables are rolled back to
   their recorded versions (what ``recover`` would do) and the error is raised.
5. ``prune``: drops metric/quarantine snapshots of run keys older than the last N nights,
   then compacts each table and deletes the files no kept version needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from storage import db, delta, outputs, validate
from storage import fs as fsutil
from storage.faults import pause_for_test
from storage.tables import TABLES, spec

__all__ = [
    "Night",
    "OutputRoot",
    "Series",
    "discard",
    "prepare",
    "prune",
    "publish",
    "read_table",
    "read_last_snapshot",
    "read_series",
    "recover",
    "stage_quarantine",
    "vanished",
]

Echo = Callable[[str], None]


@dataclass(frozen=True)
class OutputRoot:
    """Where a run's outputs go: the root (path or URL), its filesystem, the file size."""

    path: str
    filesystem: Any = None
    target_file_mib: float = outputs.DEFAULT_TARGET_MIB

    def resolved(self) -> tuple[Any, str]:
        return fsutil.resolve(self.path, self.filesystem)


@dataclass
class Series:
    """What a night changes in the ``series`` tables of one label column (``TableSpec.group``):
    labels recomputed whole (their rows replaced), labels continued (each with its last
    published bar, µs since the epoch, UTC: their new rows are after it; a label with no new
    row is left as it is), and labels no longer produced (their rows are deleted)."""

    whole: list[str] = field(default_factory=list)
    extended: dict[str, int] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


@dataclass
class Night:
    """What one run changes: symbols published whole (new or restated), symbols extended
    by new bars, symbols skipped (unchanged), published symbols the input no longer holds
    (``removed``: their rows are deleted), and the computed symbols' new publish state."""

    full: bool
    signature: str
    whole: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    states: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    cutoff_us: dict[str, int] = field(default_factory=dict)
    """Per published symbol: its last published bar (µs since the epoch, UTC); an extended
    symbol's new rows are after it. Without it the night's commit is a delete + an append."""
    series: dict[str, Series] = field(default_factory=dict)
    """Per label column of the ``series`` tables (``portfolio``): what the night changes. A
    column not given on a night that is not full: its tables take only appended rows of no
    label (staged rows then fail the commit's check) and keep every published row."""


def vanished(published: Iterable[str], input_symbols: Iterable[Any]) -> list[str]:
    """The published symbols that the input no longer holds at all, sorted.

    ``input_symbols`` must be every symbol of the input, before any universe filter: a
    symbol a filter leaves out of a night is not removed (its rows stay as they are).
    """
    present = {s for s in input_symbols if s is not None}
    return sorted(s for s in published if s not in present)


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


def prepare(
    conn: Any, tables: Sequence[str], signature: str, *, full: bool
) -> tuple[bool, str, dict[str, tuple[int, int, str]]]:
    """Whether the night recomputes everything, why, and the publish state to compare with."""
    if full:
        return True, "--full", {}
    state = db.read_publish_state(conn)
    if not state:
        return True, "nothing published yet", {}
    recorded = db.read_table_versions(conn)
    for name in tables:
        rec = recorded.get(name)
        # a snapshot has no history to fill; a series table's labels are recomputed whole
        # by their producer when nothing of them is published (portfolios: no saved state)
        if rec is None and spec(name).kind not in ("snapshot", "series"):
            return True, f"table {name} is new", {}
        if rec is None:
            continue
        if rec["signature"] != signature:
            return True, f"the computation changed since run {rec['run_id']}", {}
    return False, "", state


def _with_key(
    schema: pa.Schema, batches: Iterator[pa.RecordBatch], run_key: str
) -> pa.RecordBatchReader:
    keyed = schema.append(pa.field("run_key", pa.string()))

    def gen() -> Iterator[pa.RecordBatch]:
        for batch in batches:
            key = pa.array([run_key] * batch.num_rows, pa.string())
            yield pa.RecordBatch.from_arrays([*batch.columns, key], schema=keyed)

    return pa.RecordBatchReader.from_batches(keyed, gen())


def _staged(out: OutputRoot, run_id: str, table: str) -> pads.Dataset | None:
    fs, root = out.resolved()
    files = outputs.staged_files(fs, fsutil.join(root, outputs.STAGING, run_id, table))
    if not files:
        return None
    return pads.dataset(files, filesystem=fs, format="parquet")


SCAN_BATCH_ROWS = 16_384
"""Rows per record batch read from the staged files for a Delta append or the SQLite mirror.
delta-rs holds a dozen or more input batches in flight: on 10 M staged indicator rows the
write took 639 MiB above the baseline with 65,536-row batches, 420 MiB with 16,384."""


@dataclass
class ScanStats:
    """What ``_scan`` read: files opened, batches handed on, the largest batch (its own count)."""

    files: int = 0
    batches: int = 0
    max_rows: int = 0


def _scan(
    staged: pads.Dataset, stats: ScanStats | None = None, batch_size: int | None = None
) -> Iterator[pa.RecordBatch]:
    """The staged rows in file order, one batch at a time, no read-ahead.

    ``Dataset.to_batches()`` reads ahead several files and many batches on its own threads;
    over a night's staged equity and indicators that buffered hundreds of MiB in the flow
    process. Here one file is open at a time and a batch is decoded when the consumer (the
    Delta writer, the SQLite ingest) asks for it. A file whose schema is not the dataset's
    is projected onto it exactly as the dataset scan would.
    """
    size = batch_size or SCAN_BATCH_ROWS
    stats = stats if stats is not None else ScanStats()
    for fragment in staged.get_fragments():
        stats.files += 1
        with staged.filesystem.open_input_file(fragment.path) as source:
            parquet = pq.ParquetFile(source)
            if parquet.schema_arrow.equals(staged.schema):
                batches = parquet.iter_batches(batch_size=size, use_threads=False)
            else:
                batches = fragment.to_batches(
                    schema=staged.schema,
                    batch_size=size,
                    batch_readahead=0,
                    fragment_readahead=0,
                    use_threads=False,
                )
            for batch in batches:
                stats.batches += 1
                stats.max_rows = max(stats.max_rows, batch.num_rows)
                yield batch


def _key_schema(table: str, staged: pads.Dataset | None) -> pa.Schema:
    return staged.schema if staged is not None else spec(table).schema


def publish(
    out: OutputRoot,
    conn: Any,
    run_id: str,
    run_key: str,
    tables: Sequence[str],
    night: Night,
    *,
    sleeves: Iterable[pa.RecordBatch] | None = None,
) -> dict[str, str]:
    """Commit a run's staged ``tables`` to Delta, then to SQLite in one transaction.

    Returns each table's location. On any error the Delta tables are rolled back to the
    versions ``barpipe.db`` records and the error is raised.

    ``sleeves``: the report summaries the batches returned (``compute.portfolio``), stored in
    the same SQLite transaction (None: none).
    """
    recorded = db.read_table_versions(conn)
    versions: dict[str, int] = {}
    sqlite_rows: dict[str, Any] = {}  # tables, or batches streamed from the staged files
    changed = [*night.whole, *night.extended]
    gone = [*changed, *night.removed]  # symbols whose state rows are replaced or deleted
    try:
        for name in tables:
            t = spec(name)
            staged = _staged(out, run_id, name)
            schema = _key_schema(name, staged)
            batches = _scan(staged) if staged is not None else iter(())
            if t.kind in ("continuous", "series"):
                has_rows = staged is not None and staged.count_rows() > 0
                version = _publish_continuous(
                    out, run_id, run_key, name, night, schema, batches, has_rows
                )
                if t.sqlite:  # read again at the SQLite commit, one batch at a time
                    sqlite_rows[name] = (
                        _scan(staged) if staged is not None else schema.empty_table()
                    )
            elif t.kind == "snapshot":
                data = staged.to_table() if staged is not None else schema.empty_table()
                rec = recorded.get(name)
                if t.carry and night.unchanged and rec is not None and not night.full:
                    data = pa.concat_tables(
                        [data, _carried(out, name, rec["run_key"], night, schema)]
                    )
                version = delta.overwrite(
                    out.path, name, _with_key(schema, iter(data.to_batches()), run_key),
                    out.filesystem, run_id, predicate=f"run_key = '{_quote(run_key)}'",
                )  # fmt: skip
                if t.sqlite:  # a snapshot table need not be mirrored (portfolio tables)
                    sqlite_rows[name] = data
            else:  # state
                data = staged.to_table() if staged is not None else schema.empty_table()
                keyed = pa.Table.from_batches(
                    list(_with_key(schema, iter(data.to_batches()), run_key)),
                    schema=schema.append(pa.field("run_key", pa.string())),
                )
                latest = delta.version(out.path, name, out.filesystem)
                if latest is not None and not gone and not night.full:
                    versions[name] = latest  # nothing changed: no commit
                    sqlite_rows[name] = data
                    continue
                current = None if night.full else delta.read(out.path, name, out.filesystem)
                if current is not None and current.num_rows:
                    kept = pc.invert(pc.is_in(current["symbol"], pa.array(gone, pa.string())))
                    keyed = pa.concat_tables(
                        [current.filter(kept).select(keyed.column_names).cast(keyed.schema), keyed]
                    )
                version = delta.overwrite(out.path, name, keyed, out.filesystem, run_id)
                sqlite_rows[name] = data
            versions[name] = version
            pause_for_test("publish-table", f"{run_id} {name}")
        pause_for_test("publish", f"{run_id} committed Delta, SQLite next")
        dropped = _drop_unwritten(out, run_id, tables, recorded)
        db.commit_night(
            conn, run_id, run_key, full=night.full, whole=night.whole, extended=night.extended,
            rows=sqlite_rows, states=night.states, versions=versions,
            signature=night.signature, dropped=dropped, sleeves=sleeves, removed=night.removed,
            labels={c: [*g.whole, *g.removed] for c, g in night.series.items()},
        )  # fmt: skip
    except BaseException:
        try:
            _roll_back(out, conn, run_id)
        except Exception:  # noqa: BLE001 - the next run's recover finishes it; raise the cause
            pass
        raise
    pause_for_test("published", f"{run_id} committed SQLite, staging next")
    outputs.remove_staging(out.path, run_id, out.filesystem)
    return {name: delta.table_uri(out.path, name) for name in tables}


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _publish_continuous(
    out: OutputRoot,
    run_id: str,
    run_key: str,
    name: str,
    night: Night,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    has_rows: bool,
) -> int:
    """A continuous table's commit: the rows the night replaces out, its new rows in.

    Usually one Delta commit: an append when the night replaces nothing, else a predicate
    overwrite whose predicate matches every row the night replaces (whole and removed
    symbols' rows) and every new row (an extended symbol's rows are after its last published
    bar; delta-rs checks this). A night that only removes rows is one delete.

    A series table (portfolio equity, orders, holdings) is partitioned by its label column,
    so that recomputing one label whole rewrites none of the others' files; its night is
    always one commit (a predicate overwrite, which also checks every new row's label).

    Two commits, a delete and then an append, where the night replaces rows of extended
    symbols (``t.replaced``: the trades still open at their last bar). A predicate overwrite
    writes the kept rows of each file it rewrites together with the night's new rows, so the
    new open trades land in the big rewritten file and the next night rewrites it again:
    measured on bench/nightly (10 M bars), every night rewrote the ~100 MiB trades file and
    added 128 MiB instead of 28. With the append, the open trades stay in the night's small
    file, which is all the next night rewrites. ``table_versions`` is the commit point that
    covers both commits.
    """
    t = spec(name)
    reader = _with_key(schema, batches, run_key)
    # a series table's files hold one label each: replacing a label rewrites no other's
    parts = (t.group,) if t.kind == "series" and t.group else None
    if night.full:
        return delta.overwrite(out.path, name, reader, out.filesystem, run_id, partition_by=parts)
    current = delta.version(out.path, name, out.filesystem)
    if current is None:
        return delta.append(out.path, name, reader, out.filesystem, run_id, partition_by=parts)
    c = _change(t, night)
    replaced = []  # rows the night takes out
    if c.whole or c.removed:
        replaced.append(delta.sql_in(c.column, [*c.whole, *c.removed]))
    if c.extended and t.replaced:
        replaced.append(f"({delta.sql_in(c.column, c.extended)} AND {t.replaced})")
    if not has_rows:
        if not replaced:
            return current  # nothing changed: no commit
        return delta.delete(out.path, name, " OR ".join(replaced), out.filesystem, run_id) or 0
    if not replaced and t.kind == "continuous":
        return delta.append(out.path, name, reader, out.filesystem, run_id, merge_schema=t.dynamic)
    one_commit = not (c.extended and t.replaced) and all(s in c.cutoff_us for s in c.extended)
    if not one_commit:
        delta.delete(out.path, name, " OR ".join(replaced), out.filesystem, run_id)
        return delta.append(out.path, name, reader, out.filesystem, run_id, merge_schema=t.dynamic)
    # a series table's append is a predicate overwrite too: delta-rs checks that every new
    # row is of a label the night continues (after its last published bar) or recomputes
    predicate = _night_predicate(t, c) or "false"
    return delta.overwrite(
        out.path, name, reader, out.filesystem, run_id, predicate=predicate,
        merge_schema=t.dynamic,
    )  # fmt: skip


@dataclass(frozen=True)
class _Change:
    """A night's change to one table, by its label column (``symbol`` for continuous tables)."""

    column: str
    whole: list[str]
    extended: list[str]
    cutoff_us: Mapping[str, int]
    removed: list[str]


def _change(t: Any, night: Night) -> _Change:
    if t.kind == "series":
        g = night.series.get(t.group) or Series()
        return _Change(t.group, list(g.whole), sorted(g.extended), g.extended, list(g.removed))
    return _Change("symbol", night.whole, night.extended, night.cutoff_us, night.removed)


def _night_predicate(t: Any, c: _Change) -> str:
    """What a night's commit of continuous or series table ``t`` replaces: whole and removed
    labels' rows, and per group of extended labels with the same last published bar, the rows
    after it (the new ones; none is published yet) and the rows ``t.replaced`` names, if any."""
    parts = []
    if c.whole or c.removed:
        parts.append(delta.sql_in(c.column, [*c.whole, *c.removed]))
    by_cutoff: dict[int, list[str]] = {}
    for label in c.extended:
        by_cutoff.setdefault(c.cutoff_us[label], []).append(label)
    for cutoff, labels in sorted(by_cutoff.items()):
        after = delta.sql_after(t.time_column, cutoff)
        rows = f"({after} OR {t.replaced})" if t.replaced else after
        parts.append(f"({delta.sql_in(c.column, labels)} AND {rows})")
    return " OR ".join(parts)


def _carried(
    out: OutputRoot, name: str, last_key: str, night: Night, schema: pa.Schema
) -> pa.Table:
    """The last snapshot's rows of the symbols this night skipped (their values still hold)."""
    where = (pads.field("run_key") == last_key) & pads.field("symbol").isin(night.unchanged)
    rows = delta.read(out.path, name, out.filesystem, where=where)
    if rows is None:
        return schema.empty_table()
    return rows.select(schema.names).cast(schema)


def _drop_unwritten(
    out: OutputRoot, run_id: str, tables: Sequence[str], recorded: Mapping[str, Any]
) -> list[str]:
    """Empty the switchable continuous tables this run does not write (their rows would go
    stale); snapshots of earlier run keys stay."""
    dropped = []
    for name, t in TABLES.items():
        if name in tables or t.switch is None or name not in recorded:
            continue
        if t.kind not in ("continuous", "series"):
            continue
        if delta.version(out.path, name, out.filesystem) is not None:
            delta.restore(out.path, name, None, out.filesystem, run_id)
        dropped.append(name)
    return dropped


def _roll_back(out: OutputRoot, conn: Any, run_id: str) -> list[str]:
    """Restore every table whose latest version is not the recorded one; one line per table."""
    recorded = db.read_table_versions(conn)
    actions = []
    for name in TABLES:
        latest = delta.version(out.path, name, out.filesystem)
        if latest is None:
            continue
        rec = recorded.get(name)
        if rec is not None and latest == rec["version"]:
            continue
        if rec is None and delta.count_rows(out.path, name, out.filesystem) == 0:
            continue
        target = None if rec is None else int(rec["version"])
        new = delta.restore(out.path, name, target, out.filesystem, run_id)
        pause_for_test("recover-table", f"{run_id} {name}")  # restored, not yet recorded
        if rec is not None:
            db.record_table_version(
                conn, name, new, rec["run_id"], rec["run_key"], rec["signature"]
            )
        actions.append(
            f"rolled {name} back from version {latest} to "
            + ("no rows" if target is None else f"version {target}")
            + " (its run did not commit to the database)"
        )
    return actions


def recover(out: OutputRoot, conn: Any, run_id: str, *, echo: Echo) -> None:
    """Bring both stores to the last committed state (see the module docstring); hold the
    run lock. ``run_id`` is the run (or repair) doing it, named in the tables' commits."""
    completed = db.complete_committed(conn)
    if completed:
        echo(
            f"recorded {len(completed)} dead run(s) succeeded, their publish had committed "
            f"(no counts, stage timings or report): {', '.join(completed)}"
        )
    dead = db.mark_abandoned(conn)
    if dead:
        echo(f"marked {len(dead)} dead run(s) abandoned: {', '.join(dead)}")
    for action in _roll_back(out, conn, run_id):
        echo(f"recovered outputs: {action}")
    for stale in outputs.list_staged_runs(out.path, out.filesystem):
        outputs.remove_staging(out.path, stale, out.filesystem)


def read_table(out: OutputRoot, table: str) -> pa.Table | None:
    """A table's current rows (None when it does not exist)."""
    return delta.read(out.path, table, out.filesystem)


def read_last_snapshot(out: OutputRoot, conn: Any, table: str) -> pa.Table | None:
    """The rows of snapshot ``table`` that the last committed run published: the run key
    ``barpipe.db`` records for the table (``portfolio_state``: the walk state a night
    continues from). None when no run has committed the table, or it holds no rows of that
    key (pruned)."""
    if spec(table).kind != "snapshot":
        raise ValueError(f"table {table} is {spec(table).kind}, not a snapshot")  # a caller's bug
    rec = db.read_table_versions(conn).get(table)
    if rec is None:
        return None
    rows = delta.read(
        out.path, table, out.filesystem, where=pads.field("run_key") == str(rec["run_key"])
    )
    return rows if rows is not None and rows.num_rows else None


def read_series(out: OutputRoot, table: str, labels: Iterable[str] | None = None) -> pa.Table:
    """The current rows of ``series`` table ``table`` (of ``labels`` only, if given), without
    ``run_key``; no rows when it does not exist (``portfolio_equity``: the published bars a
    continued portfolio's metrics start from)."""
    t = spec(table)
    if t.kind != "series":
        raise ValueError(f"table {table} is {t.kind}, not series")  # a caller's bug
    return outputs.read_output(out.path, table, out.filesystem, labels=labels).drop_columns(
        ["run_key"]
    )


def prune(out: OutputRoot, conn: Any, run_id: str, keep_nights: int, *, echo: Echo) -> None:
    """Keep the snapshots of the last ``keep_nights`` run keys and the table versions their
    runs committed (time travel to them still works); delete the rest and reclaim their
    files (compaction first). Hold the run lock."""
    if keep_nights < 1:
        raise ValueError(f"keep_nights={keep_nights} must be >= 1")
    rows = conn.execute(
        "SELECT run_key FROM runs WHERE status = 'succeeded' "
        "GROUP BY run_key ORDER BY max(finished_at) DESC"
    ).fetchall()
    if not rows:
        echo("nothing to prune: no run has succeeded yet")
        return
    kept = rows[:keep_nights]
    keys = [str(r["run_key"]) for r in kept]
    placeholders = ", ".join("?" for _ in keys)
    kept_runs = {
        str(r[0])
        for r in conn.execute(
            f"SELECT run_id FROM runs WHERE status = 'succeeded' AND run_key IN ({placeholders})",
            keys,
        )
    }
    recorded = db.read_table_versions(conn)
    for name, t in TABLES.items():
        rec = recorded.get(name)
        if rec is None:
            continue
        if t.kind == "snapshot":
            old = f"NOT ({delta.sql_in('run_key', keys)})"
            version = delta.delete(out.path, name, old, out.filesystem, run_id)
            if version is not None:
                pause_for_test("prune-table", f"{run_id} {name}")
                db.prune_snapshots(conn, name, keys, version, rec)
        # snapshot tables: every older version still shows the dropped snapshots, so only
        # the latest is kept; other tables keep the versions the kept nights committed
        keep = [
            int(h["version"])
            for h in delta.history(out.path, name, out.filesystem)
            if t.kind != "snapshot" and h.get("barpipe_run_id") in kept_runs
        ]
        removed = delta.vacuum(out.path, name, keep, out.filesystem)
        rec = db.read_table_versions(conn)[name]
        latest = delta.version(out.path, name, out.filesystem)
        if latest is not None:  # compaction made a version with the same rows
            db.record_table_version(
                conn, name, latest, rec["run_id"], rec["run_key"], rec["signature"]
            )
        echo(f"{name}: kept run keys {', '.join(keys)}; removed {len(removed)} file(s)")


def ensure_root(out: OutputRoot) -> None:
    """Create a local output root."""
    if "://" not in out.path:
        os.makedirs(out.path, exist_ok=True)


def publish_keyed(
    out: OutputRoot,
    conn: Any,
    run_id: str,
    key: str,
    tables: Mapping[str, Callable[[], pa.RecordBatchReader]],
    *,
    signature: str,
    registry: Callable[[Any], None] | None = None,
) -> dict[str, str]:
    """Replace run key ``key``'s rows of ``keyed`` tables (sweeps, walk-forwards) with new ones.

    ``tables[name]()`` streams a table's rows (called twice for a mirrored table: once for
    its Delta commit, once for SQLite, so no table is ever held whole). Per table one Delta
    commit replaces the key's rows (new columns of a dynamic table are merged into its
    schema); then one SQLite transaction (``db.commit_keyed``) replaces the key's mirrored
    rows, records the tables' versions and runs ``registry(conn)``: that commit is the
    commit point, as for a night. On any error the tables are rolled back to the versions
    ``barpipe.db`` records and the error is raised; hold the run lock.
    """
    versions: dict[str, int] = {}
    try:
        for name, rows in tables.items():
            t = spec(name)
            if t.kind != "keyed":
                raise ValueError(f"table {name} is {t.kind}, not keyed")  # a caller's bug
            reader = rows()
            versions[name] = delta.overwrite(
                out.path, name, _with_key(reader.schema, iter(reader), key), out.filesystem,
                run_id, predicate=f"run_key = '{_quote(key)}'", merge_schema=t.dynamic,
            )  # fmt: skip
            pause_for_test("publish-table", f"{run_id} {name}")
        pause_for_test("publish", f"{run_id} committed Delta, SQLite next")
        mirrored = {name: rows() for name, rows in tables.items() if spec(name).sqlite}
        db.commit_keyed(
            conn, run_id, key, rows=mirrored, versions=versions, signature=signature,
            also=registry,
        )  # fmt: skip
    except BaseException:
        try:
            _roll_back(out, conn, run_id)
        except Exception:  # noqa: BLE001 - the next run's recover finishes it; raise the cause
            pass
        raise
    pause_for_test("published", f"{run_id} committed SQLite")
    return {name: delta.table_uri(out.path, name) for name in tables}
