"""The run report: one self-contained HTML file (bokeh, resources inlined) that works offline.

``write_report`` wires it together:

1. everything from SQLite, opened read-only: the run's record and stage timings (``runs``,
   ``run_stages``), its metrics (one row per sleeve) and the per-sleeve summaries the workers
   returned (``storage.db.read_report_sleeves``: equity on a calendar grid, trades opened per
   grid period and side). The equity and trades tables are never read, so the report's time
   and memory grow with sleeves x grid points (at most ``compute.portfolio.MAX_GRID_POINTS``),
   not with bars or trades;
2. the arithmetic from ``compute.portfolio``: portfolio equity and drawdown per strategy,
   Sharpe histograms, best/worst symbols, trades per period and side, seconds per stage;
3. bokeh figures laid out in one page, rendered with ``bokeh.resources.INLINE`` and written
   atomically with ``storage.fs`` (local path or fsspec URL).

The equity chart has one point per grid period (the chart title names the period); curves
longer than ``MAX_POINTS`` are thinned for display (each bucket keeps its extremes, see
``compute.portfolio.downsample_indices``) and the title says so.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bokeh.embed import file_html
from bokeh.layouts import column, gridplot, row
from bokeh.models import ColumnDataSource, Div, HoverTool, NumeralTickFormatter
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from bokeh.resources import INLINE

from compute import portfolio
from compute.errors import StorageError
from storage.db import read_report_sleeves
from storage.fs import join, resolve, write_bytes_atomic

__all__ = ["MAX_POINTS", "build_report_html", "default_destination", "write_report"]

MAX_POINTS = 5_000  # per equity curve on screen; beyond that the browser gets slow and the file big
N_RANKED = 10
WIDTH = 1200
_SIDES = ("long", "short")
_SIDE_COLORS = ("#2ca02c", "#d62728")
_PERIOD_NAMES = {"h": "hour", "D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
# bokeh's bundle carries loaders that fetch from the internet when a model needs them (MathJax
# for TeX text, Google Maps, Tabler icons). The report uses none of them; emptying the URLs
# keeps the file free of remote addresses, and such a loader would fail at once, offline or not.
_REMOTE_LOADERS = (
    "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js",
    "https://maps.googleapis.com/maps/api/js",
    "https://cdn.jsdelivr.net/npm/@tabler/icons-webfont@latest",
)


def default_destination(output_root: str, run_id: str) -> str:
    """``<output>/reports/<run_id>.html``."""
    return join(output_root, "reports", f"{run_id}.html")


def write_report(
    output_root: str,
    run_id: str | None = None,
    destination: str | None = None,
    db_path: str | None = None,
    filesystem: Any = None,
) -> str:
    """Write the HTML report of one run and return where it was written.

    Parameters
    ----------
    output_root
        The run's output root (local path or fsspec URL) holding the published Parquet.
    run_id
        The run to report; default: the latest succeeded run in SQLite.
    destination
        Where to write (local path or fsspec URL); default ``<output>/reports/<run_id>.html``.
    db_path
        The SQLite file; default ``<output>/barpipe.db`` (required when the output is a URL).
    filesystem
        The filesystem of ``output_root`` (e.g. an s3fs one carrying ``storage_options``);
        also used for ``destination`` when that is under the output root.

    Returns
    -------
    str
        The destination path or URL.
    """
    db = _db_file(output_root, db_path)
    with _read_only(db) as conn:
        run = _read_run(conn, db, run_id)
        stages = _read_stages(conn, run["run_id"])
        metrics, notes = _read_metrics(conn, run)
        sleeves = read_report_sleeves(conn, run["run_id"])
    from flows.portfolio_report import portfolio_panels

    panels = portfolio_panels(output_root, run["run_key"], filesystem)
    document = build_report_html(run, stages, metrics, sleeves, notes, panels)
    target = destination or default_destination(output_root, run["run_id"])
    fs, path = resolve(target, filesystem if destination is None else None)
    try:
        write_bytes_atomic(fs, path, document.encode())
    except OSError as err:
        raise StorageError(f"cannot write the report to {target}: {err}") from err
    return target if "://" in target else path


# --- SQLite (read-only) ---------------------------------------------------------------------


def _db_file(output_root: str, db_path: str | None) -> str:
    if db_path is not None:
        return db_path[len("file://") :] if db_path.startswith("file://") else db_path
    if "://" in output_root and not output_root.startswith("file://"):
        raise StorageError(
            f"the output root {output_root!r} is a URL: pass db_path, the local SQLite file of its runs"
        )
    return str(Path(output_root.removeprefix("file://")) / "barpipe.db")


@contextmanager
def _read_only(path: str) -> Iterator[sqlite3.Connection]:
    """A ``sqlite3`` connection opened with ``mode=ro``: the report never writes the run registry."""
    if not os.path.isfile(path):
        raise StorageError(f"no run database at {path}; run `barpipe run` first or pass db_path")
    from storage import db

    try:  # mode=ro, and immutable on a read-only directory (storage.db)
        conn = db.connect(path, readonly=True, busy_timeout_s=30)
    except StorageError as err:
        raise StorageError(f"cannot open {path} read-only: {err.__cause__ or err}") from err
    try:
        yield conn
    finally:
        conn.close()


def _read_run(conn: sqlite3.Connection, db: str, run_id: str | None) -> dict[str, Any]:
    try:
        if run_id is None:
            found = conn.execute(
                "SELECT * FROM runs WHERE status = 'succeeded' "
                "ORDER BY finished_at DESC, started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if found is None:
                raise StorageError(
                    f"no succeeded run in {db}; pass a run id (`barpipe runs` lists them)"
                )
        else:
            found = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if found is None:
                recent = [
                    r[0]
                    for r in conn.execute(
                        "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 5"
                    )
                ]
                raise StorageError(f"run {run_id!r} is not in {db}; recent runs: {recent}")
    except sqlite3.Error as err:
        raise StorageError(f"cannot read runs from {db}: {err}") from err
    return dict(found)


def _read_stages(conn: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    try:
        rows = conn.execute(
            "SELECT stage, seconds, peak_rss_bytes, worker FROM run_stages WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        ).fetchall()
    except sqlite3.Error as err:
        raise StorageError(f"cannot read run_stages: {err}") from err
    return [dict(r) for r in rows]


_METRIC_COLUMNS = ("symbol", "strategy", "sharpe_ratio", "total_return", "max_drawdown", "n_trades")


def _read_metrics(conn: sqlite3.Connection, run: Mapping[str, Any]) -> tuple[pa.Table, list[str]]:
    """The run's metrics rows, and a note when its key's rows now belong to a later run."""
    try:
        rows = conn.execute(
            f"SELECT {', '.join(_METRIC_COLUMNS)} FROM metrics WHERE run_id = ? "
            "ORDER BY strategy, symbol",
            (run["run_id"],),
        ).fetchall()
        others = (
            []
            if rows
            else [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT run_id FROM metrics WHERE run_key = ? ORDER BY run_id",
                    (run["run_key"],),
                )
            ]
        )
    except sqlite3.Error as err:
        raise StorageError(f"cannot read the metrics of run {run['run_id']!r}: {err}") from err
    types = (pa.string(), pa.string(), pa.float64(), pa.float64(), pa.float64(), pa.int64())
    table = pa.table(
        {
            name: pa.array([r[i] for r in rows], type_)
            for i, (name, type_) in enumerate(zip(_METRIC_COLUMNS, types, strict=True))
        }
    )
    notes = (
        [
            f"the results of run key {run['run_key']} now belong to run {', '.join(others)} (published later)"
        ]
        if others
        else []
    )
    return table, notes


# --- the page ---------------------------------------------------------------------------------


def build_report_html(
    run: Mapping[str, Any],
    stages: Sequence[Mapping[str, Any]],
    metrics: pa.Table,
    sleeves: pa.Table,
    notes: Sequence[str] = (),
    panels: Sequence[Any] = (),
) -> str:
    """The report page of ``run`` (a ``runs`` row) as one HTML string with bokeh inlined.

    ``metrics``: the run's metrics rows; ``sleeves``: its per-sleeve summaries
    (``compute.portfolio.SUMMARY_SCHEMA``); ``panels``: bokeh panels of the run key's
    shared-cash portfolios (``flows.portfolio_report``), drawn after the equity curves.
    """
    notes = list(notes)
    if sleeves.num_rows == 0 and metrics.num_rows:
        notes.append(
            "no equity curves were published for this run (output.write_equity: false), so "
            "neither portfolio curves nor trade counts are drawn"
        )
    curves = portfolio.portfolio_from_summaries(sleeves)
    grid = _PERIOD_NAMES.get(max(set(sleeves["grid"].to_pylist()) or {"h"}, key=_grid_rank))
    parts: list[Any] = [_header(run, notes)]
    parts += _equity_figures(curves, grid)
    parts += list(panels)
    parts.append(_sharpe_histograms(metrics))
    parts.append(_ranking_tables(metrics))
    parts.append(_trades_figure(sleeves))
    parts += _stage_figures(stages)
    title = f"barpipe report — run {run['run_id']}"
    page = file_html(column(*parts), resources=INLINE, title=title)
    for url in _REMOTE_LOADERS:
        page = page.replace(url, "")
    return page


def _div(text: str, **kwargs: Any) -> Div:
    # disable_math: symbol names with "$$" must not make bokeh load MathJax from a CDN
    return Div(text=text, disable_math=True, width=WIDTH, **kwargs)


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _header(run: Mapping[str, Any], notes: Sequence[str]) -> Div:
    status = str(run.get("status"))
    color = {"succeeded": "#2ca02c", "failed": "#d62728"}.get(status, "#ff7f0e")
    fields = [
        ("run id", run.get("run_id")),
        ("run key", run.get("run_key")),
        ("started", run.get("started_at")),
        ("finished", run.get("finished_at")),
        ("symbols", run.get("n_symbols")),
        ("bars", _count(run.get("n_bars"))),
        ("trades", _count(run.get("n_trades"))),
        ("quarantined symbols", run.get("n_quarantined")),
        (
            "rows in / processed / quarantined",
            " / ".join(
                _count(run.get(k)) for k in ("n_rows_in", "n_rows_processed", "n_rows_quarantined")
            ),
        ),
        ("config hash", run.get("config_hash")),
        ("host / pid", f"{run.get('host') or '?'} / {run.get('pid') or '?'}"),
    ]
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{_esc(k)}</th><td>{_esc(v)}</td></tr>"
        for k, v in fields
    )
    error = (
        f"<p style='color:#d62728'><b>error:</b> {_esc(run['error'])}</p>"
        if run.get("error")
        else ""
    )
    note_html = "".join(f"<p style='color:#8c564b'>{_esc(n)}</p>" for n in notes)
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _div(
        f"<h1 style='margin-bottom:0'>barpipe run report</h1>"
        f"<p style='margin-top:4px'>status <b style='color:{color}'>{_esc(status)}</b> · generated {generated}</p>"
        f"<table style='font-size:13px'>{cells}</table>{error}{note_html}"
    )


def _count(value: Any) -> str:
    return "?" if value is None else f"{int(value):,}"


def _datetimes(micros: np.ndarray) -> np.ndarray:
    return np.asarray(micros, dtype=np.int64).astype("datetime64[us]")


def _grid_rank(grid: str) -> int:
    return portfolio.GRID_PERIODS.index(grid) if grid in portfolio.GRID_PERIODS else 0


def _equity_figures(curves: Mapping[str, portfolio.PortfolioCurve], grid: str = "") -> list[Any]:
    if not curves:
        return [_div("<h2>Portfolio equity</h2><p>No equity curves for this run.</p>")]
    longest = max(c.equity.size for c in curves.values())
    thinned = longest > MAX_POINTS
    suffix = f" — at the last bar of each {grid}" if grid else ""
    suffix += (
        f" — downsampled to ≤ {MAX_POINTS:,} points per curve for display (of {longest:,})"
        if thinned
        else ""
    )
    eq = figure(
        title=f"Portfolio equity per strategy (equal allocation across symbols){suffix}",
        x_axis_type="datetime",
        width=WIDTH,
        height=380,
        tools="pan,xwheel_zoom,box_zoom,reset,save",
        y_axis_label="equity",
    )
    dd = figure(
        title=f"Portfolio drawdown per strategy (equity / running max − 1){suffix}",
        x_axis_type="datetime",
        x_range=eq.x_range,
        width=WIDTH,
        height=240,
        tools="pan,xwheel_zoom,box_zoom,reset,save",
        y_axis_label="drawdown",
    )
    dd.yaxis.formatter = NumeralTickFormatter(format="0%")
    eq.yaxis.formatter = NumeralTickFormatter(format="0,0")
    for i, (name, curve) in enumerate(sorted(curves.items())):
        idx = portfolio.downsample_indices([curve.equity, curve.drawdown], MAX_POINTS)
        source = ColumnDataSource(
            {
                "time": _datetimes(curve.timestamp_us[idx]),
                "equity": curve.equity[idx],
                "drawdown": curve.drawdown[idx],
            }
        )
        color = Category10_10[i % 10]
        label = f"{name} ({curve.n_sleeves} symbols)"
        eq.line("time", "equity", source=source, color=color, line_width=2, legend_label=label)
        dd.line("time", "drawdown", source=source, color=color, line_width=1.5, legend_label=name)
    eq.add_tools(
        HoverTool(
            tooltips=[("time", "@time{%F}"), ("equity", "@equity{0,0.00}")],
            formatters={"@time": "datetime"},
        )
    )
    dd.add_tools(
        HoverTool(
            tooltips=[("time", "@time{%F}"), ("drawdown", "@drawdown{0.00%}")],
            formatters={"@time": "datetime"},
        )
    )
    eq.legend.location = "top_left"
    dd.legend.location = "bottom_left"
    for fig in (eq, dd):
        fig.legend.click_policy = "hide"
        fig.legend.background_fill_alpha = 0.7
    return [eq, dd]


def _sharpe_histograms(metrics: pa.Table) -> Any:
    names = sorted(set(metrics["strategy"].to_pylist()))
    if not names:
        return _div("<h2>Sharpe ratios</h2><p>No metrics for this run.</p>")
    figures = []
    for i, name in enumerate(names):
        values = metrics.filter(pc.equal(metrics["strategy"], name))["sharpe_ratio"]
        edges, counts, dropped = portfolio.histogram(
            values.to_numpy(zero_copy_only=False).astype(np.float64)
        )
        extra = f", {dropped} n/a" if dropped else ""
        fig = figure(
            title=f"{name}: Sharpe ratio across {int(counts.sum())} symbols{extra}",
            width=WIDTH // 2 - 10,
            height=240,
            tools="save",
            x_axis_label="Sharpe ratio (annualised)",
            y_axis_label="symbols",
        )
        fig.quad(
            top=counts,
            bottom=0,
            left=edges[:-1],
            right=edges[1:],
            color=Category10_10[i % 10],
            line_color="white",
            alpha=0.8,
        )
        figures.append(fig)
    return gridplot(figures, ncols=2, toolbar_location=None)


def _ranking_tables(metrics: pa.Table) -> Div:
    ranked = portfolio.rank_symbols(metrics, "sharpe_ratio", N_RANKED) if metrics.num_rows else {}
    if not ranked:
        return _div("<h2>Best and worst symbols</h2><p>No metrics for this run.</p>")
    blocks = []
    for name, (best, worst) in ranked.items():
        blocks.append(
            f"<div style='flex:1 1 560px'><h3 style='margin:8px 0 4px'>{_esc(name)}</h3>"
            f"<div style='display:flex;gap:16px'>{_table(f'best {N_RANKED} by Sharpe', best)}"
            f"{_table(f'worst {N_RANKED} by Sharpe', worst)}</div></div>"
        )
    return _div(
        "<h2>Best and worst symbols by Sharpe ratio</h2>"
        "<style>.bp td,.bp th{padding:1px 8px;text-align:right;font-size:12px}"
        ".bp th{border-bottom:1px solid #999}.bp td:first-child,.bp th:first-child{text-align:left}"
        ".bp tr:nth-child(even){background:#f3f3f3}</style>"
        f"<div style='display:flex;flex-wrap:wrap;gap:24px'>{''.join(blocks)}</div>"
    )


def _table(caption: str, rows: pa.Table) -> str:
    head = "<tr><th>symbol</th><th>Sharpe</th><th>total return</th><th>max drawdown</th><th>trades</th></tr>"
    body = "".join(
        f"<tr><td>{_esc(r['symbol'])}</td><td>{_fmt(r['sharpe_ratio'], '.2f')}</td>"
        f"<td>{_fmt(r['total_return'], '.1%')}</td><td>{_fmt(r['max_drawdown'], '.1%')}</td>"
        f"<td>{_esc(r['n_trades'])}</td></tr>"
        for r in rows.to_pylist()
    )
    return f"<table class='bp' style='border-collapse:collapse'><caption style='text-align:left'>{_esc(caption)}</caption>{head}{body}</table>"


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None or not np.isfinite(value) else format(value, spec)


def _trades_figure(sleeves: pa.Table) -> Any:
    starts, sides, counts, period = portfolio.trades_from_summaries(sleeves)
    if starts.size == 0:
        return _div("<h2>Trades over time</h2><p>No trades in this run.</p>")
    data: dict[str, Any] = {"period": _datetimes(starts)}
    data.update({side: counts[i] for i, side in enumerate(sides)})
    gaps = np.diff(starts)
    width_ms = 0.8 * (float(gaps.min()) if gaps.size else 86_400_000_000.0) / 1000.0
    fig = figure(
        title=f"Trades opened per {_PERIOD_NAMES[period]}, by side (all strategies)",
        x_axis_type="datetime",
        width=WIDTH,
        height=260,
        tools="pan,xwheel_zoom,box_zoom,reset,save",
        y_axis_label="trades",
    )
    fig.vbar_stack(
        list(sides),
        x="period",
        width=width_ms,
        source=ColumnDataSource(data),
        color=list(_SIDE_COLORS),
        legend_label=list(sides),
    )
    fig.legend.location = "top_left"
    return fig


def _stage_figures(stages: Sequence[Mapping[str, Any]]) -> list[Any]:
    timed = [s for s in stages if s.get("seconds") is not None]
    if not timed:
        return [_div("<h2>Stage timings</h2><p>No stage timings recorded for this run.</p>")]
    names, seconds = portfolio.sum_by_key(
        [str(s["stage"]) for s in timed], np.array([s["seconds"] for s in timed], np.float64)
    )
    fig = figure(
        title="Seconds per stage (summed over workers)",
        y_range=list(reversed(names)),
        width=WIDTH // 2 - 10,
        height=40 + 28 * len(names),
        tools="save",
        x_axis_label="seconds",
    )
    fig.hbar(y=names, right=seconds, height=0.7, color=Category10_10[0])
    figures: list[Any] = [fig]
    workers = [s for s in stages if s.get("worker") and s.get("peak_rss_bytes") is not None]
    if workers:
        wnames, peak = portfolio.max_by_key(
            [str(s["worker"]) for s in workers],
            np.array([s["peak_rss_bytes"] for s in workers], np.float64),
        )
        mem = figure(
            title="Peak memory per worker (MiB)",
            y_range=list(reversed(wnames)),
            width=WIDTH // 2 - 10,
            height=40 + 28 * len(wnames),
            tools="save",
            x_axis_label="MiB",
        )
        mem.hbar(y=wnames, right=peak / 2**20, height=0.7, color=Category10_10[1])
        figures.append(mem)
    return [_div("<h2>Stage timings</h2>"), row(*figures)]
