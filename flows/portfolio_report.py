"""Report panels of the run's portfolios: equity against the benchmark, drawdown, monthly
returns, holdings and turnover, the largest positions. Reads only the published portfolio
tables of the portfolios of one run key (a row per bar, and the holdings); the arithmetic is
in ``compute``."""

from __future__ import annotations

import html
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bokeh.models import BasicTicker, ColorBar, ColumnDataSource, Div, LinearColorMapper
from bokeh.palettes import RdYlGn11
from bokeh.plotting import figure

from compute import allocation, portfolio
from storage import outputs

WIDTH = 1200
MAX_POINTS = 5_000


def portfolio_panels(output_root: str, run_key: str, filesystem: Any = None) -> list[Any]:
    """Bokeh panels for every portfolio published under ``run_key``; none when it has none."""
    if not os.path.isdir(os.path.join(output_root, "portfolio_equity")):
        return []  # no run of this output root has had a portfolio
    # the portfolios of that run (its metrics snapshot); their equity and holdings are
    # series tables, each bar once, appended night after night
    metrics = outputs.read_output(
        output_root, "portfolio_metrics", filesystem, run_keys=[run_key], columns=["portfolio"]
    )
    labels = sorted(set(metrics["portfolio"].to_pylist()))
    equity = outputs.read_output(output_root, "portfolio_equity", filesystem, labels=labels)
    holdings = outputs.read_output(output_root, "portfolio_holdings", filesystem, labels=labels)
    parts: list[Any] = []
    for label in labels:
        mine = equity.filter(pc.equal(equity["portfolio"], label)).sort_by("timestamp")
        held = holdings.filter(pc.equal(holdings["portfolio"], label))
        parts += _panels(label, mine, held)
    return parts


def _panels(label: str, equity: pa.Table, holdings: pa.Table) -> list[Any]:
    ts = equity["timestamp"].cast(pa.int64()).to_numpy()
    eq = equity["equity"].to_numpy()
    bench_ret = equity["benchmark_return"].to_numpy()
    has_bench = eq.size > 0 and not np.isnan(bench_ret).all()
    bench = eq[0] * np.cumprod(np.r_[1.0, 1.0 + bench_ret[1:]]) if has_bench else None
    dd = portfolio.drawdown(eq)
    idx = portfolio.downsample_indices([eq, dd], MAX_POINTS)
    times = ts[idx].astype("datetime64[us]")
    src = ColumnDataSource(
        {
            "time": times,
            "equity": eq[idx],
            "drawdown": dd[idx],
            "benchmark": bench[idx] if bench is not None else np.full(idx.size, np.nan),
            "holdings": equity["n_holdings"].to_numpy()[idx],
            "turnover": equity["turnover"].to_numpy()[idx],
        }
    )
    title = Div(text=f"<h2>Portfolio {html.escape(label)}</h2>", width=WIDTH)
    fig = figure(
        title="Equity against the benchmark", x_axis_type="datetime", width=WIDTH, height=320
    )
    fig.line("time", "equity", source=src, line_width=2, legend_label=label)
    if bench is not None:
        fig.line("time", "benchmark", source=src, color="gray", legend_label="benchmark")
    fig.legend.location = "top_left"
    ddf = figure(
        title="Drawdown", x_axis_type="datetime", x_range=fig.x_range, width=WIDTH, height=200
    )
    ddf.varea("time", "drawdown", 0, source=src, color="firebrick", alpha=0.4)
    act = figure(
        title="Holdings and turnover",
        x_axis_type="datetime",
        x_range=fig.x_range,
        width=WIDTH,
        height=200,
    )
    act.step("time", "holdings", source=src, legend_label="holdings", mode="after")
    act.scatter("time", "turnover", source=src, color="orange", legend_label="turnover (of value)")
    parts: list[Any] = [title, fig, ddf, act, _heatmap(ts, eq), _largest(holdings)]
    return parts


def _heatmap(ts: np.ndarray, eq: np.ndarray) -> Any:
    m = allocation.monthly_returns(ts, eq)
    years = [str(y) for y in m["year"]]
    months = [str(x) for x in range(1, 13)]
    src = ColumnDataSource({"year": years, "month": [str(x) for x in m["month"]], "ret": m["ret"]})
    bound = float(np.nanmax(np.abs(m["ret"]))) if m["ret"].size else 0.1
    # RdYlGn11 runs from green to red: reversed, losses are red and gains green
    mapper = LinearColorMapper(palette=tuple(reversed(RdYlGn11)), low=-bound, high=bound)
    fig = figure(
        title="Monthly returns",
        x_range=months,
        y_range=sorted(set(years)) or ["-"],
        width=WIDTH // 2,
        height=max(160, 22 * len(set(years)) + 80),
        tools="hover,save",
        tooltips=[("month", "@year-@month"), ("return", "@ret{0.00%}")],
    )
    fig.rect(
        "month",
        "year",
        1,
        1,
        source=src,
        fill_color={"field": "ret", "transform": mapper},
        line_color=None,
    )
    fig.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker()), "right")
    return fig


def _largest(holdings: pa.Table, n: int = 10) -> Div:
    if holdings.num_rows == 0:
        return Div(text="<p>No holdings.</p>")
    ts = holdings["timestamp"].cast(pa.int64()).to_numpy()
    last = holdings.filter(pa.array(ts == ts.max()))
    weight = last["weight"].to_numpy()
    order = np.argsort(-np.abs(weight), kind="stable")[:n]
    rows = "".join(
        f"<tr><td>{html.escape(str(last['symbol'][int(i)]))}</td>"
        f"<td>{weight[i]:.2%}</td><td>{last['quantity'][int(i)].as_py():,.2f}</td></tr>"
        for i in order
    )
    when = np.datetime64(int(ts.max()), "us").astype("datetime64[D]")
    return Div(
        text=f"<h3>Largest positions after the last rebalance ({when})</h3>"
        f"<table><tr><th>symbol</th><th>weight</th><th>quantity</th></tr>{rows}</table>"
    )
