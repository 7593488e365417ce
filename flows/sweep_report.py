"""The sweep report: one self-contained HTML page (bokeh, inlined) per sweep.

Per space: its statistics (deflated Sharpe ratio of the best combination, PBO), a heatmap
of the median Sharpe ratio across symbols over two swept parameters (the first two axes;
other axes averaged), and the top combinations with their stability: the mean median
Sharpe of their grid neighbours (one step along one axis) next to their own. It reads only
the published ``sweep_summary`` (one row per combination), never the per-symbol rows.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import ColorBar, ColumnDataSource, Div, HoverTool, LinearColorMapper
from bokeh.palettes import RdYlGn11
from bokeh.plotting import figure
from bokeh.resources import INLINE

from compute.sweep import Space
from flows.report import _REMOTE_LOADERS
from storage import sweeps

N_TOP = 10
WIDTH = 900


def write_sweep_report(
    root: str, sweep_id: str, spaces: tuple[Space, ...], stats: Mapping[str, Any]
) -> str:
    """Write ``<root>/reports/sweep-<sweep_id>.html`` and return its path."""
    summary = sweeps.read_sweep_table(root, "sweep_summary", sweep_id)
    page: list[Any] = [_div(f"<h1>barpipe sweep {html.escape(sweep_id)}</h1>")]
    for space in spaces:
        if not summary.num_rows:
            break
        rows = summary.filter(pa.compute.equal(summary["strategy"], space.key))
        page += _space_section(space, rows, stats.get(space.key, {}))
    text = file_html(column(*page), resources=INLINE, title=f"barpipe sweep {sweep_id}")
    for url in _REMOTE_LOADERS:  # as the run report: no remote address in the file
        text = text.replace(url, "")
    path = Path(root) / "reports" / f"sweep-{sweep_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return str(path)


def _div(text: str) -> Div:
    return Div(text=text, disable_math=True, width=WIDTH)


def _space_section(space: Space, rows: pa.Table, stats: Mapping[str, Any]) -> list[Any]:
    out: list[Any] = [
        _div(
            f"<h2>{html.escape(space.key)}</h2><p>{html.escape(json.dumps(stats, default=str))}</p>"
        )
    ]
    if not rows.num_rows:
        return out
    ids = rows["combo_id"].to_numpy()
    med = rows["median_sharpe"].to_numpy(zero_copy_only=False)
    axes = [a for a in space.axes if a.name in rows.column_names and a.name != "direction"]
    if len(axes) >= 2:
        out.append(_heatmap(rows, axes[0].name, axes[1].name))
    stability = _neighbour_mean(space, ids, med)
    order = np.argsort(np.where(np.isnan(med), -np.inf, -med), kind="stable")[:N_TOP]
    names = [a.name for a in space.axes]
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in (*names, "median Sharpe", "neighbours' median Sharpe", "share positive", "trades")
    )
    body = ""
    for i in order.tolist():
        cells = [rows[n][i].as_py() for n in names]
        cells += [
            f"{med[i]:.3f}",
            "n/a" if np.isnan(stability[i]) else f"{stability[i]:.3f}",
            f"{rows['share_positive_return'][i].as_py():.2f}",
            rows["total_trades"][i].as_py(),
        ]
        body += "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
    out.append(_div(f"<h3>top combinations</h3><table><tr>{head}</tr>{body}</table>"))
    return out


def _heatmap(rows: pa.Table, x: str, y: str) -> Any:
    """Median Sharpe over (x, y), other parameters averaged."""
    grouped = rows.group_by([x, y]).aggregate([("median_sharpe", "mean")])
    xs = [str(v) for v in grouped[x].to_pylist()]
    ys = [str(v) for v in grouped[y].to_pylist()]
    values = grouped["median_sharpe_mean"].to_numpy(zero_copy_only=False)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
    mapper = LinearColorMapper(
        palette=list(reversed(RdYlGn11)), low=lo, high=hi if hi > lo else lo + 1
    )
    fig = figure(
        title=f"median Sharpe across symbols: {y} by {x}",
        x_range=sorted(set(xs), key=_num),
        y_range=sorted(set(ys), key=_num),
        width=WIDTH,
        height=420,
        tools="hover,save",
        x_axis_label=x,
        y_axis_label=y,
    )
    source = ColumnDataSource({"x": xs, "y": ys, "v": values})
    fig.rect(
        "x",
        "y",
        1,
        1,
        source=source,
        fill_color={"field": "v", "transform": mapper},
        line_color=None,
    )
    fig.add_layout(ColorBar(color_mapper=mapper), "right")
    fig.select_one(HoverTool).tooltips = [(x, "@x"), (y, "@y"), ("median Sharpe", "@v{0.000}")]
    return fig


def _num(text: str) -> Any:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def _neighbour_mean(space: Space, ids: np.ndarray, med: np.ndarray) -> np.ndarray:
    """Mean median Sharpe of each combination's grid neighbours (NaN for random samples)."""
    out = np.full(ids.shape[0], np.nan)
    if space.samples is not None or not space.axes:
        return out
    shape = tuple(a.size or 0 for a in space.axes)
    value = dict(zip(ids.tolist(), med.tolist(), strict=True))
    digits = np.array(np.unravel_index(ids, shape)).T
    for i, d in enumerate(digits):
        near = []
        for axis in range(len(shape)):
            for step in (-1, 1):
                n = d.copy()
                n[axis] += step
                if 0 <= n[axis] < shape[axis]:
                    v = value.get(int(np.ravel_multi_index(n, shape)))
                    if v is not None and np.isfinite(v):
                        near.append(v)
        if near:
            out[i] = float(np.mean(near))
    return out
