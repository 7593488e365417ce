"""The column contracts of every table barpipe reads or writes.

Each table's columns are declared once, as a pyarrow schema. ``storage.tables`` declares the
output tables built on them (keys, sort order, SQLite mirror) and derives the SQLite DDL, so
the Parquet and SQLite copies of trades, metrics and quarantine records cannot drift apart.

Times are ``timestamp[us, tz=UTC]`` in Arrow/Parquet and ISO-8601 UTC text in SQLite
(``2024-01-02T14:30:00.000000Z``: fixed width, so text order is time order).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "BARS",
    "BAR_PRICE_COLUMNS",
    "EQUITY",
    "INDICATOR_KEYS",
    "ISO_FORMAT",
    "METRICS",
    "PORTFOLIO_EQUITY",
    "PORTFOLIO_HOLDINGS",
    "PORTFOLIO_METRICS",
    "PORTFOLIO_ORDERS",
    "QUARANTINE",
    "PUBLISH_STATE",
    "RUN_BATCHES",
    "RUN_PLANS",
    "RUN_STAGES",
    "RUN_STATUSES",
    "RUNS",
    "SIGNALS",
    "SWEEPS",
    "SWEEP_RESULTS",
    "SWEEP_SUMMARY",
    "TABLE_VERSIONS",
    "TIMESTAMP",
    "TRADES",
    "WALKFORWARD_EQUITY",
    "WALKFORWARD_FOLDS",
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
    # against the run's benchmark (metrics.benchmark; null without one), see compute.metrics
    ("benchmark", _S),
    ("alpha", _F),
    ("beta", _F),
    ("tracking_error", _F),
    ("excess_sharpe", _F),
    ("up_capture", _F),
    ("down_capture", _F),
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

SIGNALS = _schema(
    ("run_id", _S),
    ("symbol", _S),
    ("strategy", _S),
    ("last_timestamp", TIMESTAMP),
    ("last_close", _F),
    ("target", _F),
    ("side", _S),  # "long", "short" or "flat"
    ("quantity", _F),
    ("entry_time", TIMESTAMP),
    ("entry_price", _F),
)
"""One row per (symbol, strategy): what a bot must do at the next open. ``target`` is the
position decided at the last bar's close (filled at the next open); ``side``/``quantity``/
``entry_*`` describe the position held after the last bar (flat: quantity 0, no entry)."""

PUBLISH_STATE = _schema(
    ("symbol", _S),
    ("last_timestamp", TIMESTAMP),
    ("n_bars", _I),
    ("fingerprint", _S),
    ("run_id", _S),
)
"""Per symbol, what the outputs hold (SQLite only): its last published bar, how many bars,
and a hash of those bars (``storage.state.fingerprint``), to tell new bars from restatements
without rereading old outputs."""

TABLE_VERSIONS = _schema(
    ("table_name", _S),
    ("version", _I),
    ("run_id", _S),
    ("run_key", _S),
    ("signature", _S),
)
"""Per output table, the Delta version the last committed run left (SQLite only), written in
the same transaction as the SQLite rows: the one commit seen from both stores. ``signature``
identifies the computation that produced its rows (indicators, strategies, backtest,
metrics settings): a night whose signature differs recomputes everything."""

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

PORTFOLIO_EQUITY = _schema(
    ("run_id", _S),
    ("portfolio", _S),
    ("timestamp", TIMESTAMP),
    ("cash", _F),
    ("long_value", _F),
    ("short_value", _F),
    ("equity", _F),
    ("gross_exposure", _F),
    ("net_exposure", _F),
    ("n_holdings", _F),
    ("turnover", _F),
    ("benchmark_return", _F),
)
"""One row per (portfolio, bar of the calendar): the shared-cash account at the close."""

PORTFOLIO_ORDERS = _schema(
    ("run_id", _S),
    ("portfolio", _S),
    ("timestamp", TIMESTAMP),
    ("symbol", _S),
    ("side", _S),
    ("quantity", _F),
    ("price", _F),
    ("fees", _F),
    ("requested_quantity", _F),
    ("reason", _S),
)
"""One row per fill of a portfolio (at the bar's open)."""

PORTFOLIO_HOLDINGS = _schema(
    ("run_id", _S),
    ("portfolio", _S),
    ("timestamp", TIMESTAMP),
    ("symbol", _S),
    ("quantity", _F),
    ("weight", _F),
    ("target_weight", _F),
)
"""One row per (portfolio, bar with fills, symbol held after them)."""

PORTFOLIO_STATE = _schema(
    ("run_id", _S),
    ("portfolio", _S),
    ("symbol_index", _I),
    ("symbol", _S),
    ("position", _F),
    ("last_close", _F),
    ("target", _F),
    ("pending", _I),
    ("selection", _I),
    ("cash", _F),
    ("last_timestamp_us", _I),
    ("signature", _S),
)
"""A portfolio's walk state after its last published bar, a row per symbol in walk order
(``flows.portfolio.state_table``): the next night continues from it."""

PORTFOLIO_METRICS = _schema(
    ("run_id", _S),
    ("portfolio", _S),
    ("benchmark", _S),
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
    ("alpha", _F),
    ("beta", _F),
    ("tracking_error", _F),
    ("excess_sharpe", _F),
    ("up_capture", _F),
    ("down_capture", _F),
    ("benchmark_total_return", _F),
)
"""One row per portfolio: return metrics and, with a benchmark, the relative ones."""


# --- sweeps and walk-forward (``flows.sweep``) -----------------------------------------------

_SWEEP_METRICS = [
    f
    for f in METRICS
    if f.name not in ("run_id", "symbol", "strategy", "n_bars")
    and not f.name.startswith("max_drawdown_")
]

SWEEP_RESULTS = pa.schema(
    [
        pa.field("sweep_id", _S),
        pa.field("symbol", _S),
        pa.field("strategy", _S),
        pa.field("combo_id", _I),
        *_SWEEP_METRICS,
        pa.field("n_bars", _I),
    ]
)
"""One row per (sweep, combination, symbol): the nightly metrics of that parameter set. The
table is dynamic: each swept parameter (and swept backtest setting) adds a column."""

SWEEP_SUMMARY = _schema(
    ("sweep_id", _S),
    ("strategy", _S),
    ("combo_id", _I),
    ("median_sharpe", _F),
    ("mean_sharpe", _F),
    ("share_positive_return", _F),
    ("total_trades", _I),
    ("n_symbols", _I),
)
"""One row per (sweep, combination) across the universe; dynamic like ``SWEEP_RESULTS``."""

WALKFORWARD_FOLDS = _schema(
    ("sweep_id", _S),
    ("strategy", _S),
    ("symbol", _S),
    ("fold", _I),
    ("train_start", TIMESTAMP),
    ("train_end", TIMESTAMP),
    ("test_start", TIMESTAMP),
    ("test_end", TIMESTAMP),
    ("combo_id", _I),
    ("params", _S),  # JSON: the chosen combination's parameters and backtest settings
    ("is_sharpe_ratio", _F),
    ("is_total_return", _F),
    ("is_n_trades", _I),
    ("oos_sharpe_ratio", _F),
    ("oos_total_return", _F),
    ("oos_n_trades", _I),
)
"""One row per (walk-forward, strategy, symbol, fold): the combination chosen in sample and
its in-sample and out-of-sample metrics; windows hold the bars with start <= t < end."""

WALKFORWARD_EQUITY = _schema(
    ("sweep_id", _S),
    ("strategy", _S),
    ("symbol", _S),
    ("timestamp", TIMESTAMP),
    ("equity", _F),
)
"""The stitched out-of-sample equity: one row per (walk-forward, strategy, symbol, test bar)."""

SWEEPS = _schema(
    ("sweep_id", _S),
    ("kind", _S),  # sweep or walkforward
    ("status", _S),  # running, succeeded, failed, abandoned
    ("started_at", _S),
    ("finished_at", _S),
    ("config_hash", _S),
    ("input_fingerprint", _S),
    ("n_combinations", _I),
    ("n_symbols", _I),
    ("n_tasks", _I),
    ("n_tasks_reused", _I),
    ("stats", _S),  # JSON: per space, DSR of the best combination and PBO (or fold Sharpes)
    ("error", _S),
    ("pid", _I),  # the process running it, on host: a dead one's sweep is marked abandoned
    ("host", _S),
)
"""The sweep registry (SQLite only), like ``RUNS``: one row per sweep id."""
