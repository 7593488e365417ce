"""flows.report: a report built from a hand-made run database, rendered in headless Chromium offline.

The output roots hold no Parquet at all: the report is drawn from SQLite alone (metrics and
the per-sleeve summaries the workers return), never from the equity or trades tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from compute import portfolio
from compute.errors import StorageError
from flows.report import write_report
from storage import db
from tests.browser import CHROMIUM_MISSING, find_chromium, run_chromium

pytestmark = pytest.mark.slow

STRATEGIES = ("momentum", "zscore")
N_SYMBOLS = 24
DAY_US = 86_400_000_000
START_US = int(np.datetime64("2005-01-03", "us").astype(np.int64))
LONG_BARS = 6_000  # > MAX_POINTS: the longest sleeves get thinned for display
RUN_ID = "20261123T020000Z-aaaa0001"
OLD_RUN_ID = "20261122T020000Z-bbbb0002"
FAILED_RUN_ID = "20261124T020000Z-cccc0003"


def _symbols() -> list[str]:
    return [f"SYM{i:03d}" for i in range(N_SYMBOLS)]


def _tables(run_id: str, seed: int) -> dict[str, pa.Table]:
    """Equity, metrics and trades of a run: ragged date ranges, one symbol with a NaN Sharpe."""
    rng = np.random.default_rng(seed)
    equity: dict[str, list] = {k: [] for k in ("symbol", "strategy", "timestamp", "equity")}
    metrics: dict[str, list] = {
        k: []
        for k in ("symbol", "strategy", "sharpe_ratio", "total_return", "max_drawdown", "n_trades")
    }
    trades: dict[str, list] = {
        k: [] for k in ("symbol", "strategy", "side", "entry_time", "exit_time")
    }
    for s, strategy in enumerate(STRATEGIES):
        for i, symbol in enumerate(_symbols()):
            first = 0 if i % 3 == 0 else int(rng.integers(0, 3000))  # later listings
            n = LONG_BARS - first if i % 3 == 0 else int(rng.integers(300, LONG_BARS - first))
            times = START_US + (first + np.arange(n)) * DAY_US
            drift = 0.0004 if s == 0 else -0.0001
            curve = 10_000.0 * np.cumprod(np.r_[1.0, 1 + rng.normal(drift, 0.012, n - 1)])
            equity["symbol"] += [symbol] * n
            equity["strategy"] += [strategy] * n
            equity["timestamp"] += times.tolist()
            equity["equity"] += curve.tolist()
            returns = np.diff(curve) / curve[:-1]
            sharpe = float(returns.mean() / returns.std(ddof=1) * np.sqrt(252))
            metrics["symbol"].append(symbol)
            metrics["strategy"].append(strategy)
            metrics["sharpe_ratio"].append(float("nan") if i == 5 else sharpe)
            metrics["total_return"].append(float(curve[-1] / curve[0] - 1))
            metrics["max_drawdown"].append(float((curve / np.maximum.accumulate(curve) - 1).min()))
            k = int(rng.integers(5, 40))
            entries = np.sort(rng.choice(n - 1, size=k, replace=False))
            trades["symbol"] += [symbol] * k
            trades["strategy"] += [strategy] * k
            trades["side"] += rng.choice(["long", "short"], size=k, p=[0.7, 0.3]).tolist()
            trades["entry_time"] += times[entries].tolist()
            trades["exit_time"] += times[entries + 1].tolist()
            metrics["n_trades"].append(k)
    ts = pa.timestamp("us", tz="UTC")

    def table(columns: dict[str, list], times: tuple[str, ...]) -> pa.Table:
        n = len(next(iter(columns.values())))
        arrays = {"run_id": pa.array([run_id] * n)}
        for name, values in columns.items():
            arrays[name] = pa.array(values, ts) if name in times else pa.array(values)
        return pa.table(arrays)

    trades_table = table(trades, ("entry_time", "exit_time"))
    n_trades = trades_table.num_rows
    filler_f = pa.array(np.ones(n_trades))
    for name in (
        "entry_price",
        "exit_price",
        "quantity",
        "gross_pnl",
        "fees",
        "net_pnl",
        "return_pct",
    ):
        trades_table = trades_table.append_column(name, filler_f)
    trades_table = trades_table.append_column("bars_held", pa.array(np.ones(n_trades, np.int64)))
    trades_table = trades_table.append_column("exit_reason", pa.array(["signal"] * n_trades))
    metrics_table = table(metrics, ())
    n_metrics = metrics_table.num_rows
    for name in ("n_bars",):
        metrics_table = metrics_table.append_column(
            name, pa.array(np.full(n_metrics, 100, np.int64))
        )
    nulls_ts = pa.nulls(n_metrics, ts)
    metrics_table = metrics_table.append_column("max_drawdown_peak", nulls_ts).append_column(
        "max_drawdown_trough", nulls_ts
    )
    for name in (
        "annual_return",
        "annual_volatility",
        "sortino_ratio",
        "calmar_ratio",
        "win_rate",
        "profit_factor",
        "expectancy",
        "avg_trade_return",
        "best_trade_return",
        "worst_trade_return",
        "exposure",
        "kelly_fraction",
    ):
        metrics_table = metrics_table.append_column(name, pa.array(np.zeros(n_metrics)))
    # no benchmark configured: its columns are null (compute.pipeline)
    metrics_table = metrics_table.append_column("benchmark", pa.nulls(n_metrics, pa.string()))
    for name in ("alpha", "beta", "tracking_error", "excess_sharpe", "up_capture", "down_capture"):
        metrics_table = metrics_table.append_column(name, pa.nulls(n_metrics, pa.float64()))
    return {
        "equity": table(equity, ("timestamp",)),
        "metrics": metrics_table,
        "trades": trades_table,
    }


def _publish(root: Path, run_id: str, run_key: str, seed: int) -> dict[str, pa.Table]:
    """A run's tables; only what the flow stores in SQLite is stored (see ``_register``)."""
    del root, run_key
    return _tables(run_id, seed)


STAGES = {
    "load": 3.2,
    "validate": 0.4,
    "kernels": 11.5,
    "backtest": 6.1,
    "metrics": 1.2,
    "write": 2.0,
    "publish": 0.9,
}
PEAK_RSS = {"tcp://127.0.0.1:40001": 410 * 2**20, "tcp://127.0.0.1:40002": 395 * 2**20}


def _register(
    db_file: Path, run_id: str, run_key: str, status: str, tables: dict[str, pa.Table] | None
) -> None:
    """Record a run the way the flow does (storage.db)."""
    conn = db.connect(db_file)
    try:
        db.start_run(
            conn,
            run_id=run_id,
            run_key=run_key,
            config_hash="c0ffee12",
            input_fingerprint="fp",
            pid=4242,
            host="testhost",
        )
        n_bars = tables["equity"].num_rows // len(STRATEGIES) if tables else 0
        counts = {
            "n_symbols": N_SYMBOLS,
            "n_bars": n_bars,
            "n_trades": tables["trades"].num_rows if tables else 0,
            "n_quarantined": 1,
            "n_rows_in": n_bars + 17,
            "n_rows_processed": n_bars,
            "n_rows_quarantined": 17,
        }
        error = None if status == "succeeded" else "DataError: something broke"
        if tables:  # what the flow's publish stores: the report reads nothing else
            db.commit_night(
                conn,
                run_id,
                run_key,
                full=False,
                whole=sorted(set(tables["metrics"]["symbol"].to_pylist())),
                extended=[],
                rows={"trades": tables["trades"], "metrics": tables["metrics"]},
                states={},
                versions={},
                signature="s",
                sleeves=portfolio.summarize_sleeves(tables["equity"], tables["trades"]),
            )
        db.finish_run(conn, run_id, status=status, error=error, **counts)
        db.record_stages(conn, run_id, STAGES, PEAK_RSS)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def output_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report") / "out"
    db_file = root / "barpipe.db"
    # an older succeeded run of another key, the run under test, and a later failed run
    old = _publish(root, OLD_RUN_ID, "2026-11-22", seed=1)
    _register(db_file, OLD_RUN_ID, "2026-11-22", "succeeded", old)
    _register(
        db_file, RUN_ID, "2026-11-23", "succeeded", _publish(root, RUN_ID, "2026-11-23", seed=2)
    )
    _register(db_file, FAILED_RUN_ID, "2026-11-24", "failed", None)
    return root


@pytest.fixture(scope="module")
def report(output_root) -> Path:
    return Path(write_report(str(output_root)))


def test_default_report_is_the_latest_succeeded_run(output_root, report):
    assert report == output_root / "reports" / f"{RUN_ID}.html"
    text = report.read_text()
    assert RUN_ID in text
    assert "2026-11-23" in text


def test_report_is_self_contained(report):
    text = report.read_text()
    assert re.search(r"<script[^>]+src=", text) is None, "a script is loaded from elsewhere"
    assert re.search(r"<link[^>]+href=", text) is None, "a stylesheet is loaded from elsewhere"
    assert "cdn.bokeh.org" not in text
    cdn = re.findall(r"https?://[^\s\"'`<>]*(?:cdn|googleapis|unpkg|jsdelivr)[^\s\"'`<>]*", text)
    assert cdn == [], f"CDN addresses in the report: {cdn}"
    assert "Bokeh.embed.embed_items" in text  # bokeh inlined, not referenced
    assert len(text) < 4 * 2**20, f"report is {len(text) / 2**20:.1f} MiB"


def test_report_names_the_grid_of_its_curves(report):
    # 6,000 daily bars over 16 years: the workers' summaries hold one point per month
    assert "at the last bar of each month" in report.read_text()
    assert "momentum (24 symbols)" in report.read_text()


def test_report_curves_equal_the_full_equity_portfolio(output_root):
    tables = _tables(RUN_ID, seed=2)
    with db.connect(output_root / "barpipe.db", readonly=True) as conn:
        sleeves = db.read_report_sleeves(conn, RUN_ID)
    assert sleeves.num_rows == N_SYMBOLS * len(STRATEGIES)
    full = portfolio.portfolio_curves(tables["equity"])
    for name, curve in portfolio.portfolio_from_summaries(sleeves).items():
        at = np.searchsorted(full[name].timestamp_us, curve.timestamp_us)
        np.testing.assert_allclose(curve.equity, full[name].equity[at], rtol=1e-12)


def test_an_old_report_is_rebuilt_from_its_own_run(output_root, tmp_path):
    target = tmp_path / "old.html"
    write_report(str(output_root), run_id=OLD_RUN_ID, destination=str(target))
    text = target.read_text()
    assert OLD_RUN_ID in text
    assert "momentum (24 symbols)" in text
    assert "no equity curves" not in text


def test_report_of_a_named_failed_run_without_outputs(output_root, tmp_path):
    target = tmp_path / "failed.html"
    written = write_report(str(output_root), run_id=FAILED_RUN_ID, destination=str(target))
    assert written == str(target)
    text = target.read_text()
    assert "something broke" in text
    assert "No equity curves for this run." in text


def test_unknown_run_and_missing_database_are_clear_errors(output_root, tmp_path):
    with pytest.raises(StorageError, match="run 'nope' is not in"):
        write_report(str(output_root), run_id="nope")
    with pytest.raises(StorageError, match="no run database"):
        write_report(str(tmp_path))
    with pytest.raises(StorageError, match="pass db_path"):
        write_report("memory://somewhere/out")


def test_report_written_to_an_fsspec_url(output_root):
    import fsspec

    url = "memory://report-test/reports/r.html"
    assert write_report(str(output_root), destination=url) == url
    with fsspec.open(url, "rb") as handle:
        assert RUN_ID.encode() in handle.read()
    fsspec.filesystem("memory").rm("memory://report-test", recursive=True)


def _png_pixels(path: Path) -> np.ndarray:
    """RGB pixels of a PNG as (height, width, 3) (Pillow comes with bokeh)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int32)


@pytest.fixture(scope="module")
def browser_run(report, tmp_path_factory):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(f"no Chromium: {'; '.join(CHROMIUM_MISSING)}")
    return run_chromium(chromium, report.as_uri(), tmp_path_factory.mktemp("chromium"))


def test_browser_draws_the_plots(browser_run, report):
    dom = browser_run.dom
    assert "barpipe run report" in dom
    # the file holds an empty placeholder; bokeh's JS replaced it with its root view (the
    # plots themselves live in shadow DOM, which --dump-dom leaves out: see the screenshot test)
    assert 'class="bk-Column' not in report.read_text()
    assert 'class="bk-Column' in dom
    assert 'class="bokeh-error-box-into-flames"' not in dom  # bokeh shows errors in such a box


def test_browser_makes_no_request_off_the_machine(browser_run):
    net = browser_run.net
    assert [u for u in net.page_requests if not u.startswith(("file:", "data:", "blob:"))] == []
    # Chromium's own background checks (updater, accounts) are refused by the resolver rule too:
    # no TCP connection was attempted by anyone
    assert net.tcp_connects == []


def test_the_netlog_check_sees_a_page_request(tmp_path):
    """Control for the test above: a page that loads a remote image shows up as a page request."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(f"no Chromium: {'; '.join(CHROMIUM_MISSING)}")
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://example.invalid/pixel.png"></body></html>')
    net = run_chromium(chromium, page.as_uri(), tmp_path, budget_ms=1000).net
    assert "http://example.invalid/pixel.png" in net.page_requests
    assert net.tcp_connects == []


def test_screenshot_shows_the_strategy_colours(browser_run):
    pixels = _png_pixels(browser_run.screenshot)
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    assert np.unique(packed).size > 50, "the page looks blank"
    for hex_color in (
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
    ):  # strategies, then long/short bars
        rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=2) <= 12).sum() > 200, f"no {hex_color} drawn"
