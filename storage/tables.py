"""The ONE declaration of barpipe's output tables, and the SQLite DDL derived from it.

Each output table is one ``TableSpec``: its name, Arrow schema, kind, natural key, sort order,
whether ``barpipe.db`` mirrors it, and which run setting (if any) switches it on.

Kinds (how a night changes a table; every stored row also has the ``run_key`` of the run
that published it):

- ``continuous`` (trades, equity, indicators): each row once. A night appends, per changed
  symbol, the rows whose ``time_column`` is after the symbol's last published bar; the rows
  matching ``replaced`` (the trade still open at that bar) are replaced by their new state;
  a restated or new symbol's rows are replaced whole.
- ``snapshot`` (metrics, quarantine): one snapshot per run key, replaced by a rerun of the
  key. ``carry``: symbols a night skips (unchanged) keep their rows of the last snapshot.
- ``state`` (signals): one row per natural key, the changed symbols' rows replaced.
- ``series`` (portfolio equity, orders, holdings): each row once, a time series per label
  (the ``group`` column, e.g. the portfolio's label) rather than per symbol. A night appends,
  per label it continues, the rows whose ``time_column`` is after the label's last published
  bar; a label it recomputes whole has its rows replaced (a predicate on the label), and a
  label no longer configured loses its rows (``storage.runs.Series``).
- ``keyed`` (sweep and walk-forward outputs): one set of rows per run key (a sweep id),
  replaced whole when that key is published again (``storage.runs.publish_keyed``); nights
  neither write nor prune them (switch ``sweep`` / ``walkforward``). Writing
(``storage.outputs``), publishing and recovery (``storage.runs``), reading and the SQLite
tables (``storage.db``) all follow from ``TABLES``: adding an output table means adding one
entry here (and producing its rows in ``compute.pipeline``).

SQLite: the registry tables of ``storage.schemas`` (runs, run_stages, run_plans, run_batches)
plus every mirrored output table, which also gets a ``run_key`` column (second, after
``run_id``) so a rerun can replace a key's rows with one indexed DELETE.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from compute.errors import StorageError
from compute.portfolio import SUMMARY_SCHEMA
from storage.schemas import (
    EQUITY,
    INDICATOR_KEYS,
    METRICS,
    PORTFOLIO_EQUITY,
    PORTFOLIO_HOLDINGS,
    PORTFOLIO_METRICS,
    PORTFOLIO_ORDERS,
    PORTFOLIO_STATE,
    PUBLISH_STATE,
    QUARANTINE,
    RUN_BATCHES,
    RUN_PLANS,
    RUN_STAGES,
    RUN_STATUSES,
    RUNS,
    SIGNALS,
    SWEEP_RESULTS,
    SWEEP_SUMMARY,
    SWEEPS,
    TABLE_VERSIONS,
    TRADES,
    WALKFORWARD_EQUITY,
    WALKFORWARD_FOLDS,
)

__all__ = [
    "OUTPUT_TABLES",
    "REPORT_SLEEVES",
    "SQLITE_TABLES",
    "TABLES",
    "KINDS",
    "TableSpec",
    "mirrored",
    "published_tables",
    "spec",
    "sqlite_columns",
    "sqlite_ddl",
    "sqlite_type",
]


KINDS = ("continuous", "snapshot", "state", "keyed", "series")


@dataclass(frozen=True)
class TableSpec:
    """One output table (see the module docstring for ``kind``).

    ``natural_key``: the columns that identify a row (within a run key); ``sort_keys``: the
    order rows are staged and published in; ``sqlite``: mirrored to ``barpipe.db`` in the
    same commit as the Parquet rows; ``switch``: the run option that turns it on
    (``write_equity``, ``write_indicators``), None if always written; ``dynamic``: the
    schema is the key columns of ``schema`` plus the numeric columns of the data.
    """

    name: str
    schema: pa.Schema
    kind: str
    natural_key: tuple[str, ...]
    sort_keys: tuple[str, ...]
    sqlite: bool = False
    switch: str | None = None
    dynamic: bool = False
    time_column: str | None = None  # continuous: rows after a symbol's cutoff are new
    replaced: str | None = None  # continuous: SQL condition of rows a night replaces
    carry: bool = False  # snapshot: skipped symbols keep their last snapshot's rows
    group: str | None = None  # series: the label column a night extends or replaces


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "trades",
            TRADES,
            "continuous",
            natural_key=("symbol", "strategy", "entry_time"),
            sort_keys=("symbol", "strategy", "entry_time"),
            sqlite=True,
            time_column="exit_time",
            replaced="exit_reason = 'open'",
        ),
        TableSpec(
            "metrics",
            METRICS,
            "snapshot",
            natural_key=("symbol", "strategy"),
            sort_keys=("symbol", "strategy"),
            sqlite=True,
            carry=True,
        ),
        TableSpec(
            "quarantine",
            QUARANTINE,
            "snapshot",
            natural_key=("symbol", "reason"),
            sort_keys=("symbol",),
            sqlite=True,
        ),
        TableSpec(
            "signals",
            SIGNALS,
            "state",
            natural_key=("symbol", "strategy"),
            sort_keys=("symbol", "strategy"),
            sqlite=True,
        ),
        TableSpec(
            "equity",
            EQUITY,
            "continuous",
            natural_key=("symbol", "strategy", "timestamp"),
            sort_keys=("symbol", "strategy", "timestamp"),
            switch="write_equity",
            time_column="timestamp",
        ),
        TableSpec(
            "indicators",
            INDICATOR_KEYS,
            "continuous",
            natural_key=("symbol", "timestamp"),
            sort_keys=("symbol", "timestamp"),
            switch="write_indicators",
            dynamic=True,
            time_column="timestamp",
        ),
        TableSpec(
            "portfolio_equity",
            PORTFOLIO_EQUITY,
            "series",
            natural_key=("portfolio", "timestamp"),
            sort_keys=("portfolio", "timestamp"),
            sqlite=True,
            switch="write_portfolios",
            group="portfolio",
            time_column="timestamp",
        ),
        TableSpec(
            "portfolio_orders",
            PORTFOLIO_ORDERS,
            "series",
            natural_key=("portfolio", "timestamp", "symbol"),
            sort_keys=("portfolio", "timestamp", "symbol"),
            sqlite=True,
            switch="write_portfolios",
            group="portfolio",
            time_column="timestamp",
        ),
        TableSpec(
            "portfolio_holdings",
            PORTFOLIO_HOLDINGS,
            "series",
            natural_key=("portfolio", "timestamp", "symbol"),
            sort_keys=("portfolio", "timestamp", "symbol"),
            sqlite=True,
            switch="write_portfolios",
            group="portfolio",
            time_column="timestamp",
        ),
        TableSpec(
            "portfolio_metrics",
            PORTFOLIO_METRICS,
            "snapshot",
            natural_key=("portfolio",),
            sort_keys=("portfolio",),
            sqlite=True,
            switch="write_portfolios",
        ),
        TableSpec(
            "portfolio_state",
            PORTFOLIO_STATE,
            "snapshot",
            natural_key=("portfolio", "symbol"),
            sort_keys=("portfolio", "symbol_index"),
            switch="write_portfolios",
        ),
        TableSpec(
            "sweep_results",
            SWEEP_RESULTS,
            "keyed",
            natural_key=("sweep_id", "strategy", "combo_id", "symbol"),
            sort_keys=("sweep_id", "strategy", "combo_id", "symbol"),
            sqlite=True,
            switch="sweep",
            dynamic=True,
        ),
        TableSpec(
            "sweep_summary",
            SWEEP_SUMMARY,
            "keyed",
            natural_key=("sweep_id", "strategy", "combo_id"),
            sort_keys=("sweep_id", "strategy", "combo_id"),
            sqlite=True,
            switch="sweep",
            dynamic=True,
        ),
        TableSpec(
            "walkforward_folds",
            WALKFORWARD_FOLDS,
            "keyed",
            natural_key=("sweep_id", "strategy", "symbol", "fold"),
            sort_keys=("sweep_id", "strategy", "symbol", "fold"),
            sqlite=True,
            switch="walkforward",
        ),
        TableSpec(
            "walkforward_equity",
            WALKFORWARD_EQUITY,
            "keyed",
            natural_key=("sweep_id", "strategy", "symbol", "timestamp"),
            sort_keys=("sweep_id", "strategy", "symbol", "timestamp"),
            switch="walkforward",
        ),
    )
}
"""Every output table, in publish order."""

OUTPUT_TABLES: dict[str, pa.Schema] = {name: t.schema for name, t in TABLES.items()}
"""Output tables by name (``indicators``: key columns only, see ``INDICATOR_KEYS``)."""


def spec(table: str) -> TableSpec:
    """The declaration of ``table``; a StorageError lists the valid names."""
    try:
        return TABLES[table]
    except KeyError:
        raise StorageError(f"unknown output table {table!r}; valid: {sorted(TABLES)}") from None


def published_tables(switches: Iterable[str]) -> list[str]:
    """The tables a run publishes, in order, given the names of the switches that are on."""
    on = set(switches)
    return [t.name for t in TABLES.values() if t.switch is None or t.switch in on]


def mirrored() -> list[str]:
    """Output tables that ``barpipe.db`` mirrors."""
    return [t.name for t in TABLES.values() if t.sqlite]


REPORT_SLEEVES = pa.schema(
    [pa.field("run_id", pa.string()), pa.field("run_key", pa.string()), *SUMMARY_SCHEMA]
)
"""``report_sleeves`` (SQLite only): the per-sleeve summaries a run's report is drawn from
(``compute.portfolio.SUMMARY_SCHEMA``; list columns stored as little-endian BLOBs), written
by ``storage.db.commit_night`` with the night's other rows."""

SQLITE_TABLES: dict[str, pa.Schema] = {
    "runs": RUNS,
    "sweeps": SWEEPS,  # the sweep registry (storage.sweeps)
    **{name: TABLES[name].schema for name in mirrored()},
    "run_stages": RUN_STAGES,
    "run_plans": RUN_PLANS,
    "run_batches": RUN_BATCHES,
    "publish_state": PUBLISH_STATE,
    "table_versions": TABLE_VERSIONS,
    "report_sleeves": REPORT_SLEEVES,
}
"""Tables of ``barpipe.db``: the run registry, the mirrored output tables, the publish state,
the report's summaries."""


_INDEXES: dict[str, tuple[str, ...]] = {
    "runs": ("run_key", "status"),
    **{
        name: (
            "run_id",
            "run_key",
            *(c for c in ("symbol", "portfolio") if c in TABLES[name].schema.names),
        )
        for name in mirrored()
    },
    "run_stages": ("run_id",),
    "run_plans": ("run_id",),
    "run_batches": ("run_id",),
    "publish_state": (),
    "table_versions": (),
    "report_sleeves": ("run_id", "run_key", "symbol"),
}
# keyed tables (sweeps) have no run_id, and are indexed on sweep_id, not run_key: an earlier
# release's sweep tables lack run_key (storage.db adds it after this DDL runs)
_INDEXES.update(
    {
        name: tuple(c for c in ("sweep_id", "symbol") if c in TABLES[name].schema.names)
        for name in mirrored()
        if TABLES[name].kind == "keyed"
    }
)
_INDEXES["sweeps"] = ("started_at",)


def _sqlite_type(type_: pa.DataType) -> str:
    if pa.types.is_integer(type_):
        return "INTEGER"
    if pa.types.is_floating(type_):
        return "REAL"
    if pa.types.is_string(type_) or pa.types.is_timestamp(type_):
        return "TEXT"
    if pa.types.is_list(type_):
        return "BLOB"  # numbers, little-endian (storage.sqlite_bulk)
    raise TypeError(f"no SQLite type for Arrow type {type_}")  # a schema above is wrong


def sqlite_columns(table: str) -> list[str]:
    """Column names of a SQLite table, in order (``run_key`` included where it exists)."""
    names = list(SQLITE_TABLES[table].names)
    if table in TABLES:
        names.insert(1, "run_key")
    return names


def sqlite_column_types(table: str) -> dict[str, str]:
    """SQLite type of each column of ``table`` (``run_key`` included where it exists)."""
    types = {f.name: _sqlite_type(f.type) for f in SQLITE_TABLES[table]}
    return {name: types.get(name, "TEXT") for name in sqlite_columns(table)}


def sqlite_ddl() -> list[str]:
    """CREATE TABLE / CREATE INDEX statements (idempotent) for every table of barpipe.db."""
    statements: list[str] = []
    for table, schema in SQLITE_TABLES.items():
        columns = [f"{f.name} {_sqlite_type(f.type)}" for f in schema]
        if table in TABLES:
            columns.insert(1, "run_key TEXT NOT NULL")
        if table in ("runs", "publish_state", "table_versions", "sweeps"):
            columns[0] += " PRIMARY KEY"
        if table == "runs":
            statuses = ", ".join(f"'{s}'" for s in RUN_STATUSES)
            columns[2] += f" NOT NULL CHECK (status IN ({statuses}))"
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table} (\n    " + ",\n    ".join(columns) + "\n)"
        )
        for column in _INDEXES[table]:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS ix_{table}_{column} ON {table} ({column})"
            )
    return statements


def sqlite_type(type_: pa.DataType) -> str:
    """The SQLite type of a column of Arrow type ``type_`` (a dynamic table's new column)."""
    return _sqlite_type(type_)
