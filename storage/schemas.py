"""The column contracts of every table barpipe reads or writes, and the SQLite DDL derived from them.

Each table is declared once, as a pyarrow schema. The Parquet writers cast to these schemas and
the SQLite tables are generated from the same column lists (``sqlite_ddl``), so the Parquet and
SQLite copies of trades, metrics and quarantine records cannot drift apart.

Times are ``timestamp[us, tz=UTC]`` in Arrow/Parquet and ISO-8601 UTC text in SQLite
(``2024-01-02T14:30:00.000000Z``: fixed width, so text order is time order).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "BARS",
    "BAR_PRICE_COLUMNS",
    "EQUITY",
    "ISO_FORMAT",
    "METRICS",
    "OUTPUT_TABLES",
    "QUARANTINE",
    "RUN_BATCHES",
    "RUN_PLANS",
    "RUN_STAGES",
    "RUN_STATUSES",
    "RUNS",
    "SQLITE_TABLES",
    "TIMESTAMP",
    "TRADES",
    "sqlite_columns",
    "sqlite_ddl",
]

TIMESTAMP = pa.timestamp("us", tz="UTC")
"""The one timestamp type of barpipe."""

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""strftime format of SQLite timestamps; Arrow's ``%S`` prints the microseconds too."""


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, type_) for name, type_ in fields])


_F = pa.float64()
_I = pa.int64()
_S = pa.string()

BAR_PRICE_COLUMNS = ("open", "high", "low", "close")

BARS = _schema(
    ("symbol", _S),
    ("timestamp", TIMESTAMP),
    ("open", _F),
    ("high", _F),
    ("low", _F),
    ("close", _F),
    ("volume", _F),
)
"""Input bars after loading: one row per symbol and bar, sorted by (symbol, timestamp)."""

TRADES = _schema(
    ("run_id", _S),
    ("symbol", _S),
    ("strategy", _S),
    ("side", _S),  # "long" or "short"
    ("entry_time", TIMESTAMP),
    ("entry_price", _F),
    ("exit_time", TIMESTAMP),
    ("exit_price", _F),
    ("quantity", _F),
    ("gross_pnl", _F),
    ("fees", _F),
    ("net_pnl", _F),
    ("return_pct", _F),
    ("bars_held", _I),
    ("exit_reason", _S),
)
"""One row per closed trade."""

METRICS = _schema(
    ("run_id", _S),
    ("symbol", _S),
    ("strategy", _S),
    ("n_bars", _I),
    ("total_return", _F),
    ("annual_return", _F),
    ("annual_volatility", _F),
    ("sharpe_ratio", _F),
    ("sortino_ratio", _F),
    ("max_drawdown", _F),
    ("max_drawdown_peak", TIMESTAMP),
    ("max_drawdown_trough", TIMESTAMP),
    ("calmar_ratio", _F),
    ("n_trades", _I),
    ("win_rate", _F),
    ("profit_factor", _F),
    ("expectancy", _F),
    ("avg_trade_return", _F),
    ("best_trade_return", _F),
    ("worst_trade_return", _F),
    ("exposure", _F),
    ("kelly_fraction", _F),
)
"""One row per (symbol, strategy)."""

EQUITY = _schema(
    ("run_id", _S),
    ("symbol", _S),
    ("strategy", _S),
    ("timestamp", TIMESTAMP),
    ("equity", _F),
)
"""One row per (symbol, strategy, bar): the sleeve's equity curve."""

QUARANTINE = _schema(
    ("run_id", _S),
    ("symbol", _S),
    ("reason", _S),
    ("n_rows", _I),
    ("first_bad_timestamp", TIMESTAMP),
    ("detail", _S),
)
"""One row per quarantined symbol: why, how many rows, where the first problem is."""

RUN_STATUSES = ("running", "succeeded", "failed", "abandoned")

RUNS = _schema(
    ("run_id", _S),
    ("run_key", _S),
    ("status", _S),
    ("started_at", TIMESTAMP),
    ("finished_at", TIMESTAMP),
    ("n_symbols", _I),
    ("n_bars", _I),
    ("n_trades", _I),
    ("n_quarantined", _I),
    ("n_rows_in", _I),
    ("n_rows_processed", _I),
    ("n_rows_quarantined", _I),
    ("config_hash", _S),
    ("input_fingerprint", _S),
    ("error", _S),
    ("pid", _I),
    ("host", _S),
    ("log_file", _S),  # added after release: storage.db adds it to older databases
)
"""The run registry (SQLite only)."""

RUN_STAGES = _schema(
    ("run_id", _S),
    ("stage", _S),
    ("seconds", _F),
    ("peak_rss_bytes", _I),
    ("worker", _S),
)
"""Per-stage timings and peak memory of a run (SQLite only)."""

RUN_PLANS = _schema(
    ("run_id", _S),
    ("bytes_per_bar", _I),
    ("cap_bytes", _I),
    ("worker_memory", _I),
    ("n_workers", _I),
    ("threads_per_worker", _I),
    ("n_batches", _I),
    ("n_refused", _I),
    ("reason", _S),
)
"""How a run was cut into batches (SQLite only): one row per run, written right after
planning so a failed run has it too. ``cap_bytes`` is the largest estimate a batch may have
on a worker with limit ``worker_memory``; ``n_refused`` counts the symbols too large for it
(quarantined as ``too_large_for_worker``); ``reason`` says how the numbers were derived."""

RUN_BATCHES = _schema(
    ("run_id", _S),
    ("batch", _I),
    ("n_symbols", _I),
    ("n_bars", _I),
    ("est_bytes", _I),
    ("first_symbol", _S),
    ("last_symbol", _S),
)
"""One row per planned batch of a run (SQLite only): its size and estimated peak bytes; its
symbols are the input's symbols from ``first_symbol`` to ``last_symbol`` in sorted order."""

INDICATOR_KEYS = _schema(
    ("run_id", _S),
    ("symbol", _S),
    ("timestamp", TIMESTAMP),
)
"""The key columns of the ``indicators`` table; one more column per configured indicator
output, named by ``compute.pipeline.IndicatorRequest.columns`` (so its schema depends on
the run's configuration and is read from the data)."""

OUTPUT_TABLES: dict[str, pa.Schema] = {
    "trades": TRADES,
    "equity": EQUITY,
    "metrics": METRICS,
    "quarantine": QUARANTINE,
    "indicators": INDICATOR_KEYS,
}
"""Tables that can be staged and published as Parquet, by name (``indicators``: key columns
only, see ``INDICATOR_KEYS``)."""

SQLITE_TABLES: dict[str, pa.Schema] = {
    "runs": RUNS,
    "trades": TRADES,
    "metrics": METRICS,
    "quarantine": QUARANTINE,
    "run_stages": RUN_STAGES,
    "run_plans": RUN_PLANS,
    "run_batches": RUN_BATCHES,
}
"""Tables of ``barpipe.db``. trades, metrics and quarantine also get a ``run_key`` column
(second, after ``run_id``) so a rerun can replace a key's rows with one indexed DELETE."""

_KEYED = ("trades", "metrics", "quarantine")

_INDEXES: dict[str, tuple[str, ...]] = {
    "runs": ("run_key", "status"),
    "trades": ("run_id", "run_key", "symbol"),
    "metrics": ("run_id", "run_key", "symbol"),
    "quarantine": ("run_id", "run_key", "symbol"),
    "run_stages": ("run_id",),
    "run_plans": ("run_id",),
    "run_batches": ("run_id",),
}


def _sqlite_type(type_: pa.DataType) -> str:
    if pa.types.is_integer(type_):
        return "INTEGER"
    if pa.types.is_floating(type_):
        return "REAL"
    if pa.types.is_string(type_) or pa.types.is_timestamp(type_):
        return "TEXT"
    raise TypeError(f"no SQLite type for Arrow type {type_}")  # a schema above is wrong


def sqlite_columns(table: str) -> list[str]:
    """Column names of a SQLite table, in order (``run_key`` included where it exists)."""
    names = list(SQLITE_TABLES[table].names)
    if table in _KEYED:
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
        if table in _KEYED:
            columns.insert(1, "run_key TEXT NOT NULL")
        if table == "runs":
            columns[0] += " PRIMARY KEY"
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
