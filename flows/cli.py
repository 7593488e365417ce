"""The ``barpipe`` command: generate data, run the nightly flow, inspect runs and settings.

Every command builds what it needs and calls into ``flows``, ``storage`` and ``compute``;
heavy modules (the flow, Prefect, Dask, SQLite access) are imported inside the command that
needs them, so ``barpipe --help`` and ``barpipe config`` stay fast. Errors that barpipe
raises (``BarpipeError``) print as one line, ``error: <message>``, and exit 2 for a
configuration or usage problem, 1 for anything that went wrong while running; ``--debug``
adds the traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import importlib.util
import os
import re
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from compute.errors import BarpipeError, ConfigError, ParameterError, StorageError
from flows.settings import Settings, load_settings

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
DEMO_CONFIG = CONFIGS / "demo.yaml"
DEMO_DATA = "demo-data/bars"
DEMO_REAL_SYMBOLS = ("AAPL", "GOOG", "IBM", "MSFT", "FB")
_DEMO_MARK = "_barpipe_demo"
_ROWS_PER_CHUNK = 1_000_000  # rows held in memory at once while generating

app = typer.Typer(
    name="barpipe",
    help="Batch pipeline for trading research: indicators, strategies and backtests over a "
    "universe of symbols, on Dask, orchestrated by Prefect, published to Parquet and SQLite.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    debug = False


class RunInterrupted(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM during a run.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way up
    swallows it; unlike KeyboardInterrupt, typer does not turn it into a silent exit 130.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.outcome = "nothing had been recorded yet"
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}" + (" (Ctrl-C)" if name == "SIGINT" else ""))

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process the signal killed


@contextlib.contextmanager
def _interruptible(settings: Settings) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``RunInterrupted`` for the duration of a run, then make
    sure the run is recorded failed and its staging area is gone.

    The run's own failure path (flows.nightly) records the failure and removes the staging
    area as the exception passes; this finishes the job once the cluster is closed (a worker
    may still have been writing) and covers a signal that arrived outside that path.
    After the first signal both are ignored, so that the clean-up itself runs to the end.
    """
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signals}

    def interrupt(signum: int, _frame: Any) -> None:
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        raise RunInterrupted(signum)

    from storage import db

    began = db.utc_now()  # this process's runs started after this
    for s in signals:
        signal.signal(s, interrupt)
    try:
        yield
    except RunInterrupted as err:
        _record_interruption(settings, err, began)
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _record_interruption(settings: Settings, err: RunInterrupted, began: str) -> None:
    """Mark this process's interrupted run failed and delete its staged files."""
    path = Path(settings.output.resolved_db_path())
    if not path.exists():
        return
    from flows.tasks import _filesystem
    from storage import db, outputs

    out = settings.output
    conn = db.connect(str(path))
    try:
        rows = conn.execute(
            "SELECT run_id, status, error FROM runs WHERE pid = ? AND host = ? "
            "AND started_at >= ? ORDER BY started_at",
            (os.getpid(), socket.gethostname(), began),
        ).fetchall()
        fs = _filesystem(out.storage_options, out.path)
        staged = set(outputs.list_staged_runs(out.path, fs))
        for run_id, status, error in rows:
            interrupted = status == "running" or (
                status == "failed" and str(error or "").startswith(_INTERRUPTIONS)
            )
            if interrupted:
                db.finish_run(conn, run_id, status="failed", error=str(err))
            if run_id in staged and status != "succeeded":
                outputs.remove_staging(out.path, run_id, fs)
        if rows:
            run_id, status, _ = rows[-1]
            err.outcome = (
                f"run {run_id} had already succeeded"
                if status == "succeeded"
                else f"run {run_id} is recorded as failed and nothing of it was published"
            )
    finally:
        conn.close()


# how the flow's failure path words an interruption: ours, Prefect's SIGTERM bridge, Python's
_INTERRUPTIONS = ("RunInterrupted", "TerminationSignal", "KeyboardInterrupt")


# --------------------------------------------------------------------------- helpers


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"barpipe {version('barpipe')}")
        except PackageNotFoundError:
            typer.echo("barpipe (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when a command fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Batch pipeline for trading research (run `barpipe COMMAND --help` for a command)."""
    _State.debug = _State.debug or debug


def _parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """``--set a.b=value`` pairs; values are read as YAML (``2``, ``true``, ``[A, B]``)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key.strip()):
            raise ConfigError(f"--set expects KEY=VALUE with a dotted key, got {item!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        overrides[key.strip()] = value
    return overrides


def _build_settings(
    config: Path | None, sets: Sequence[str] = (), **flags: Any
) -> tuple[Settings, dict[str, Any]]:
    """Settings from a file, the environment, ``--set`` pairs and then the named flags."""
    overrides = _parse_sets(sets)
    overrides.update({key: value for key, value in flags.items() if value is not None})
    return load_settings(config, overrides), overrides


def _require(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise BarpipeError(f"{what} needs {module}, which this installation does not have yet")


def _is_tty() -> bool:
    return sys.stdout.isatty()


def _symbols(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [s.strip() for s in value.split(",") if s.strip()]
    if not names:
        raise ConfigError(f"--symbols expects names separated by commas, got {value!r}")
    return names


def _date(value: str | None, flag: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{flag} = {value!r} is not a date; use YYYY-MM-DD") from None


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML settings file (configs/*.yaml); without it, the built-in defaults.",
        dir_okay=False,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override any setting: --set cluster.n_workers=2 (repeatable; flags win).",
        metavar="KEY=VALUE",
    ),
]
InputOpt = Annotated[str | None, typer.Option("--input", "-i", help="Input bars (path or URL).")]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="Existing Dask scheduler (tcp://host:8786).")
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, help="LocalCluster worker count.")
]
MemoryLimitOpt = Annotated[
    str | None,
    typer.Option("--memory-limit", help="Memory limit per worker: auto, 600MB, 4GiB."),
]


# --------------------------------------------------------------------------- generate


def _bars_table(names: Sequence[str], arrays: Sequence[Mapping[str, Any]]) -> Any:
    """One Arrow table in the ``BARS`` column order from per-symbol arrays."""
    import numpy as np
    import pyarrow as pa

    lengths = [len(a["timestamp"]) for a in arrays]
    symbol = pa.DictionaryArray.from_arrays(
        pa.array(np.repeat(np.arange(len(names), dtype=np.int32), lengths)), pa.array(names)
    ).cast(pa.string())
    columns = {"symbol": symbol}
    timestamps = np.concatenate([a["timestamp"] for a in arrays]).astype(np.int64)
    columns["timestamp"] = pa.array(timestamps).view(pa.timestamp("us", tz="UTC"))
    for field in ("open", "high", "low", "close", "volume"):
        columns[field] = pa.array(np.concatenate([a[field] for a in arrays]).astype(np.float64))
    return pa.table(columns)


def _synthetic_chunks(
    n_symbols: int, n_bars: int, freq: str, start: str, seed: int, advance: Any
) -> Iterator[Any]:
    from compute.synthetic import generate_symbol, symbol_names

    names = symbol_names(n_symbols)
    per_chunk = max(1, _ROWS_PER_CHUNK // max(n_bars, 1))
    for first in range(0, n_symbols, per_chunk):
        chunk = range(first, min(first + per_chunk, n_symbols))
        arrays = [generate_symbol(n_bars, seed, freq=freq, index=i, start=start) for i in chunk]
        yield _bars_table([names[i] for i in chunk], arrays)
        advance(len(chunk))


def _write(chunks: Iterator[Any], root: str, *, overwrite: bool, flat: bool) -> list[str]:
    _require("storage.bars", "writing bars")
    from storage.bars import write_bars

    return write_bars(chunks, root, partition_by_symbol=not flat, overwrite=overwrite)


class _Progress:
    """A rich progress bar on a terminal; silent otherwise."""

    def __init__(self, description: str, total: int) -> None:
        self.bar = None
        if _is_tty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=out,
                transient=True,
            )
            self.task = self.bar.add_task(description, total=total)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)


@app.command()
def generate(
    output: Annotated[
        str, typer.Option("--output", "-o", help="Dataset directory (local path or fsspec URL).")
    ],
    symbols: Annotated[int, typer.Option("--symbols", "-n", min=1, help="Number of symbols.")],
    bars: Annotated[int, typer.Option("--bars", "-b", min=1, help="Bars per symbol.")],
    freq: Annotated[
        str, typer.Option("--freq", help="Bar frequency: 1d (business days), 1h or 1min (24/7).")
    ] = "1d",
    start: Annotated[
        str, typer.Option("--start", help="Date of the first bar, YYYY-MM-DD.")
    ] = "2015-01-02",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same data.")] = 0,
    flat: Annotated[
        bool,
        typer.Option(
            "--flat", help="Write part-NNNNN.parquet files instead of symbol=... directories."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT if it is not empty.")
    ] = False,
) -> None:
    """Write a synthetic OHLCV Parquet dataset: regime-switching random walks, valid OHLC.

    Symbols are generated and written in chunks, so memory stays flat for any size.
    """
    from compute.synthetic import FREQUENCIES

    if freq not in FREQUENCIES:
        raise ConfigError(f"--freq = {freq!r} is not allowed; choose one of: 1d, 1h, 1min")
    first = _date(start, "--start") or dt.date(2015, 1, 2)
    local = Path(output.removeprefix("file://"))
    if "://" not in output.replace("file://", "") and local.is_dir() and any(local.iterdir()):
        if not overwrite:
            raise ConfigError(f"--output {output} is not empty; pass --overwrite to replace it")
    began = time.perf_counter()
    with _Progress("generating symbols", symbols) as progress:
        chunks = _synthetic_chunks(symbols, bars, freq, first.isoformat(), seed, progress.advance)
        files = _write(chunks, output, overwrite=overwrite, flat=flat)
    out.print(
        f"wrote {symbols} symbols x {bars} {freq} bars ({symbols * bars:,} rows, "
        f"{len(files)} files) to {output} in {time.perf_counter() - began:.1f}s"
    )


# --------------------------------------------------------------------------- run


def _load_flow(what: str) -> Any:
    _require("flows.launch", what)
    from flows import launch

    return launch


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.1f}min"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _records_table(title: str, records: Sequence[Mapping[str, Any]]) -> Table:
    """A table of dict rows, columns in first-seen order (best/worst symbols, quarantine)."""
    columns: list[str] = []
    for record in records:
        columns += [key for key in record if key not in columns and key != "run_id"]
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column.replace("_", " "))
    for record in records:
        table.add_row(*(escape(_cell(record.get(column))) for column in columns))
    return table


def _describe_night(night: Any) -> str:
    """One line: what this run changed in the continuous tables."""
    if night.full:
        return "night: full run (every symbol computed and published whole)"
    removed = list(getattr(night, "removed", ()) or ())
    return (
        f"night: {len(night.whole):,} symbol(s) new or restated (published whole), "
        f"{len(night.extended):,} extended by new bars, {len(night.unchanged):,} unchanged "
        "(nothing new to publish)"
        + (
            f", {len(removed):,} removed (no longer in the input; earlier table versions "
            "keep their rows)"
            if removed
            else ""
        )
    )


def _print_summary(summary: Any, db_path: str | None = None) -> None:
    """The end-of-run report: counts, stage timings, best/worst symbols, where outputs are."""
    if summary is None:
        return
    if hasattr(summary, "__rich__") or hasattr(summary, "__rich_console__"):
        out.print(summary)
        return
    get = lambda name, default=None: getattr(summary, name, default)  # noqa: E731
    status = str(get("status", ""))
    colour = "green" if status == "succeeded" else "red"
    out.print(
        f"run [bold]{escape(str(get('run_id', '?')))}[/] (key {escape(str(get('run_key', '?')))}) "
        f"[{colour}]{escape(status)}[/] in {_seconds(float(get('wall_seconds', 0.0) or 0.0))}"
    )
    quarantine = list(get("quarantine", []) or [])
    out.print(
        f"  symbols {get('n_symbols', 0):,}  bars {get('n_bars', 0):,}  "
        f"trades {get('n_trades', 0):,}  quarantined {len(quarantine):,} "
        f"({get('n_rows_quarantined', 0):,} rows)"
    )
    night = get("night")
    if night is not None and status == "succeeded":
        out.print("  " + _describe_night(night))
    stages = dict(get("stages", {}) or {})
    if stages:
        parts = [f"{name} {_seconds(sec)}" for name, sec in stages.items()]
        out.print("  stages (summed over tasks): " + ", ".join(parts))
    peak = dict(get("peak_rss", {}) or {})
    if peak:
        out.print(
            f"  peak memory: {max(peak.values()) / 2**20:,.0f} MiB on the busiest of "
            f"{len(peak)} worker(s)"
        )
    for title, key in (("best by Sharpe", "best"), ("worst by Sharpe", "worst")):
        records = list(get(key, []) or [])
        if records:
            out.print(_records_table(title, records))
    if quarantine:
        out.print(_records_table(f"quarantined (first {min(5, len(quarantine))})", quarantine[:5]))
    for note in list(get("notes", []) or [])[:5]:
        out.print(f"  note: {escape(str(note))}")
    outputs = dict(get("outputs", {}) or {})
    for name, path in outputs.items():
        out.print(f"  {name}: {escape(str(path))}")
    if db_path:
        out.print(f"  database: {escape(db_path)}  (`barpipe runs` lists runs)")
    if get("log_file"):
        out.print(f"  log: {escape(str(get('log_file')))}  (libraries' warnings and errors)")


def _finish(summary: Any, settings: Settings) -> None:
    """Print the summary; a run that reports a non-success status exits 1."""
    _print_summary(summary, settings.output.resolved_db_path())
    status = getattr(summary, "status", "succeeded")
    if status not in ("succeeded", "success", None):
        error = getattr(summary, "error", None)
        run = getattr(summary, "run_id", None)
        label = f"run {run}" if run else "the run"
        raise BarpipeError(f"{label} {status}" + (f": {error}" if error else ""))


@app.command()
def run(
    config: ConfigOpt = None,
    input: InputOpt = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output root (path or URL).")
    ] = None,
    run_date: Annotated[
        str | None,
        typer.Option("--run-date", help="The run's date, YYYY-MM-DD (default: today, UTC)."),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option("--symbols", help="Only these symbols, comma-separated: A,B,C."),
    ] = None,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    memory_limit: MemoryLimitOpt = None,
    keep_alive: Annotated[
        float | None,
        typer.Option(
            "--keep-alive",
            min=0,
            help="Keep the local Dask cluster up this many idle seconds after the run, for "
            "the next run to reuse (0: start and stop one per run).",
        ),
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option("--strict/--no-strict", help="Fail on any quarantined symbol or row."),
    ] = None,
    full: Annotated[
        bool | None,
        typer.Option("--full", help="Recompute and republish every symbol whole."),
    ] = None,
    sets: SetOpt = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when the run fails.")
    ] = False,
) -> None:
    """Run the nightly flow now: load bars, compute on Dask, publish Parquet and SQLite.

    Settings come from --config, then BARPIPE_... environment variables, then --set, then
    these flags. Exit 0 on success, 1 if the run fails, 2 for a configuration problem.
    """
    _State.debug = _State.debug or debug
    settings, _ = _build_settings(
        config,
        sets or (),
        **{
            "input.path": input,
            "output.path": output,
            "run.run_date": _date(run_date, "--run-date"),
            "universe.symbols": _symbols(symbols),
            "cluster.address": scheduler,
            "cluster.n_workers": workers,
            "cluster.memory_limit": memory_limit,
            "cluster.keep_alive_s": keep_alive,
            "run.strict": strict,
            "run.full": full,
        },
    )
    nightly = _load_flow("barpipe run")
    from flows.logs import run_log

    with _interruptible(settings):
        with run_log(settings):  # the libraries' log lines go to the run's log file
            summary = nightly.run_nightly(settings)
        _finish(summary, settings)


# --------------------------------------------------------------------------- demo


def _real_stocks() -> tuple[list[str], list[dict[str, Any]]]:
    """Real daily bars from ``bokeh_sampledata`` (2000-2013, unadjusted); empty without it."""
    import numpy as np

    if importlib.util.find_spec("bokeh_sampledata") is None:
        err_console.print("note: bokeh_sampledata is not installed; the demo is synthetic only")
        return [], []
    from bokeh_sampledata import stocks

    names, arrays = [], []
    for name in DEMO_REAL_SYMBOLS:
        raw = getattr(stocks, name)
        days = np.array(raw["date"], dtype="datetime64[D]")
        bars = {"timestamp": days.astype("datetime64[us]").astype(np.int64)}
        for field in ("open", "high", "low", "close", "volume"):
            bars[field] = np.asarray(raw[field], dtype=np.float64)
        names.append(name)
        arrays.append(bars)
    return names, arrays


def _write_demo_data(root: Path, n_symbols: int, n_bars: int) -> None:
    if root.exists() and any(root.iterdir()) and not (root / _DEMO_MARK).exists():
        raise ConfigError(
            f"{root} holds data that `barpipe demo` did not write; choose another --output"
        )
    began = time.perf_counter()
    names, arrays = _real_stocks()

    def chunks(advance: Any) -> Iterator[Any]:
        if names:
            yield _bars_table(names, arrays)
        yield from _synthetic_chunks(n_symbols, n_bars, "1d", "2014-01-02", 2026, advance)

    with _Progress("writing demo data", n_symbols) as progress:
        _write(chunks(progress.advance), str(root), overwrite=True, flat=False)
    (root / _DEMO_MARK).write_text("written by barpipe demo; safe to delete\n")
    out.print(
        f"demo data: {len(names)} real + {n_symbols} synthetic symbols x ~{n_bars} daily bars "
        f"in {root} ({time.perf_counter() - began:.1f}s)"
    )


@app.command()
def demo(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Directory for data (DIR/data) and results (DIR); default demo-data/ and "
            "demo-output/ as in configs/demo.yaml.",
            file_okay=False,
        ),
    ] = None,
    symbols: Annotated[
        int, typer.Option("--symbols", min=1, help="Synthetic symbols besides the real ones.")
    ] = 500,
    bars: Annotated[
        int, typer.Option("--bars", min=1, help="Daily bars per synthetic symbol (2520 = 10y).")
    ] = 2520,
    workers: WorkersOpt = None,
) -> None:
    """Write demo data (real AAPL, GOOG, IBM, MSFT, FB + a synthetic universe) and run on it.

    This is what `make demo` runs, with configs/demo.yaml.
    """
    if not DEMO_CONFIG.exists():
        raise ConfigError(f"the demo config {DEMO_CONFIG} is missing from this installation")
    flags: dict[str, Any] = {"cluster.n_workers": workers}
    if output is not None:
        flags["input.path"] = str(output / "data")
        flags["output.path"] = str(output)
    settings, _ = _build_settings(DEMO_CONFIG, **flags)
    nightly = _load_flow("barpipe demo")
    _write_demo_data(Path(settings.input.path), symbols, bars)
    from flows.logs import run_log

    with _interruptible(settings):
        with run_log(settings):  # the libraries' log lines go to the run's log file
            summary = nightly.run_nightly(settings)
        _finish(summary, settings)


# --------------------------------------------------------------------------- runs


def _duration(started: Any, finished: Any) -> str:
    def as_time(value: Any) -> dt.datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        try:
            return dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None

    begin, end = as_time(started), as_time(finished)
    if begin is None or end is None:
        return ""
    seconds = (end - begin).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


def _row_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, Mapping):
        return dict(row)
    if hasattr(row, "keys"):
        return {key: row[key] for key in row.keys()}
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    raise StorageError(f"storage.db.list_runs returned rows of an unknown type: {type(row)}")


def _log_cell(log_file: str | None, db_dir: Path) -> str:
    """A run's log file, relative to the database's folder when it is inside it."""
    if not log_file:
        return ""
    try:
        return str(Path(log_file).relative_to(db_dir))
    except ValueError:
        return log_file


def _last_error_in_log(log_file: str | None, tail_bytes: int = 65536) -> str:
    """The last ERROR or CRITICAL record's first line in a run log ('' if none or unreadable)."""
    if not log_file:
        return ""
    try:
        with open(log_file, "rb") as handle:
            handle.seek(max(handle.seek(0, 2) - tail_bytes, 0))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    found = [line for line in lines if re.search(r" (ERROR|CRITICAL): ", line)]
    return found[-1] if found else ""


def _error_cell(row: Mapping[str, Any]) -> str:
    """For a run that did not succeed: its recorded error's last line, else its log's."""
    if row.get("status") in ("succeeded", "running"):
        return ""
    lines = [line for line in str(row.get("error") or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else _last_error_in_log(row.get("log_file"))


@app.command()
def runs(
    config: ConfigOpt = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Output root whose barpipe.db to read."),
    ] = None,
    db_path: Annotated[
        str | None, typer.Option("--db", help="The SQLite file itself (overrides --output).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N runs.")] = 20,
) -> None:
    """List recent runs: id, run key, status, symbols, trades, duration, log file, error."""
    settings, _ = _build_settings(config, **{"output.path": output, "output.db_path": db_path})
    path = Path(settings.output.resolved_db_path())
    if not path.exists():
        raise StorageError(f"no run database at {path}; nothing has run with this output yet")
    _require("storage.db", "barpipe runs")
    from storage import db

    conn = db.connect(str(path), readonly=True)  # works on a read-only output root
    try:
        rows = [_row_dict(r) for r in db.list_runs(conn, limit)]
    finally:
        conn.close()
    table = Table(title=f"runs in {path}" if _is_tty() else None)
    columns = ("run id", "run key", "status", "started", "symbols", "trades", "duration", "log")
    for column in (*columns, "error"):
        table.add_column(column, justify="right" if column in ("symbols", "trades") else "left")
    colours = {"succeeded": "green", "failed": "red", "abandoned": "yellow", "running": "cyan"}
    for row in rows:
        status = str(row.get("status", ""))
        table.add_row(
            str(row.get("run_id", "")),
            str(row.get("run_key", "")),
            f"[{colours[status]}]{status}[/]" if status in colours else status,
            str(row.get("started_at", "") or ""),
            str(row.get("n_symbols", "") if row.get("n_symbols") is not None else ""),
            str(row.get("n_trades", "") if row.get("n_trades") is not None else ""),
            _duration(row.get("started_at"), row.get("finished_at")),
            escape(_log_cell(row.get("log_file"), path.parent)),
            escape(_error_cell(row)),
        )
    if not rows:
        out.print(f"no runs recorded in {path}")
        return
    out.print(table)


# --------------------------------------------------------------------------- sweeps


def _sweep_command(
    kind: str, config: Path, flags: dict[str, Any], sets: Sequence[str], dry_run: bool
) -> None:
    from flows import sweep as sweep_flow

    overrides = _parse_sets(sets)
    overrides.update({key: value for key, value in flags.items() if value is not None})
    settings, cfg = sweep_flow.load_sweep(config, overrides)
    summary = sweep_flow.run_sweep(settings, cfg, kind=kind, dry_run=dry_run, echo=out.print)
    if not dry_run:
        sweep_flow.echo_summary(summary, out.print)


SweepConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="YAML file with a sweep: section (configs/sweep.yaml).",
        dir_okay=False,
    ),
]


@app.command()
def sweep(
    config: SweepConfigOpt,
    input: InputOpt = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output root (local path).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the combinations, tasks and memory estimate; compute nothing."
        ),
    ] = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    memory_limit: MemoryLimitOpt = None,
    sets: SetOpt = None,
) -> None:
    """Sweep parameter spaces over the universe: metric rows per (combination, symbol).

    Runs as a Prefect flow on Dask; tasks are (symbol batch) x (combination chunk), and a
    sweep run again with the same config and input reuses the chunks already computed.
    Publishes sweep_results and sweep_summary (Parquet and SQLite) and a row in `sweeps`
    with the deflated Sharpe ratio of the best combination and the PBO of each space.
    """
    flags = {
        "input.path": input,
        "output.path": output,
        "cluster.address": scheduler,
        "cluster.n_workers": workers,
        "cluster.memory_limit": memory_limit,
    }
    _sweep_command("sweep", config, flags, sets or (), dry_run)


@app.command()
def walkforward(
    config: SweepConfigOpt,
    input: InputOpt = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output root (local path).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; compute nothing.")
    ] = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    sets: SetOpt = None,
) -> None:
    """Walk forward: per fold pick the best combination in sample, test it out of sample.

    Folds come from the config's walkforward: section (train, test, step bars; anchored;
    purge, embargo; selection per_symbol or universe). Publishes walkforward_folds (in- and
    out-of-sample Sharpe per fold and symbol) and walkforward_equity (the stitched
    out-of-sample equity per symbol).
    """
    flags = {
        "input.path": input,
        "output.path": output,
        "cluster.address": scheduler,
        "cluster.n_workers": workers,
    }
    _sweep_command("walkforward", config, flags, sets or (), dry_run)


@app.command()
def sweeps(
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output root whose barpipe.db to read.")
    ] = "output",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N sweeps.")] = 20,
) -> None:
    """List recent sweeps and walk-forwards: id, kind, status, size, statistics."""
    from storage import db
    from storage import sweeps as sweep_store

    settings, _ = _build_settings(None, **{"output.path": output})
    path = Path(settings.output.resolved_db_path())
    if not path.exists():
        raise StorageError(f"no run database at {path}; nothing has run with this output yet")
    conn = db.connect(str(path), readonly=True)  # works on a read-only output root
    try:
        known = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sweeps'").fetchone()
        rows = sweep_store.list_sweeps(conn, limit) if known else []
    finally:
        conn.close()
    if not rows:
        out.print(f"no sweeps recorded in {path}")
        return
    table = Table()
    for column in (
        "sweep id",
        "kind",
        "status",
        "started",
        "combinations",
        "symbols",
        "tasks (reused)",
        "stats",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["sweep_id"]),
            str(r["kind"]),
            str(r["status"]),
            str(r["started_at"] or ""),
            str(r["n_combinations"] or ""),
            str(r["n_symbols"] or ""),
            f"{r['n_tasks'] or 0} ({r['n_tasks_reused'] or 0})",
            escape(str(r["stats"] or "")),
        )
    out.print(table)


# --------------------------------------------------------------------------- indicators


def _fmt_number(value: Any) -> str:
    if isinstance(value, float):
        return "inf" if value == float("inf") else f"{value:g}"
    return str(value)


def _maintain(action: str, config: Any, output: str | None, sets: Sequence[str]) -> None:
    settings, _ = _build_settings(config, sets or (), **{"output.path": output})
    _require("flows.nightly", f"barpipe {action}")
    from flows.nightly import maintain

    maintain(settings, action, echo=out.print)


@app.command()
def repair(
    config: ConfigOpt = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output root.")] = None,
    sets: SetOpt = None,
) -> None:
    """Bring the output tables and barpipe.db to their last committed state (what the next
    run would do first): dead runs marked abandoned, tables rolled back, staging removed."""
    _maintain("repair", config, output, sets or ())


@app.command()
def prune(
    config: ConfigOpt = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output root.")] = None,
    keep: Annotated[
        int | None, typer.Option("--keep", min=1, help="Nights to keep (output.keep_nights).")
    ] = None,
    sets: SetOpt = None,
) -> None:
    """Drop metric snapshots and table versions older than the last N nights; reclaim files."""
    extra = [*(sets or ()), *([f"output.keep_nights={keep}"] if keep else [])]
    _maintain("prune", config, output, extra)


@app.command()
def indicators(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="Only these indicators (default: all)."),
    ] = None,
) -> None:
    """List the indicators configs can name: parameters, defaults, ranges, outputs, lookback."""
    from compute import indicators as registry

    available = registry.names()
    wanted = [n.lower() for n in names] if names else available
    for name in wanted:
        if name not in available:
            close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
            hint = ("did you mean " + " or ".join(map(repr, close)) + "? ") if close else ""
            raise ConfigError(
                f"unknown indicator {name!r}; {hint}`barpipe indicators` lists all {len(available)}"
            )
    rows = []
    for name in wanted:
        spec = registry.spec(name)
        params = ", ".join(
            f"{p.name}={_fmt_number(p.default)} [{_fmt_number(p.low)}..{_fmt_number(p.high)}]"
            for p in spec.params
        )
        rows.append(
            (
                spec.name,
                spec.group,
                ", ".join(spec.inputs),
                params or "-",
                ", ".join(spec.outputs),
                str(registry.lookback(spec.name)),
            )
        )
    header = ("name", "group", "inputs", "parameters (default [range])", "outputs", "lookback")
    if not _is_tty():
        typer.echo("\t".join(header))
        for row in rows:
            typer.echo("\t".join(row))
        return
    table = Table(title=f"{len(rows)} indicators (TA-Lib names; lookback at the defaults)")
    for column in header:
        table.add_column(escape(column), justify="right" if column == "lookback" else "left")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


# --------------------------------------------------------------------------- config


@app.command("config")
def config_(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    validate: Annotated[
        bool,
        typer.Option("--validate", help="Only check: exit 0 if valid, 2 with the error if not."),
    ] = False,
) -> None:
    """Print the resolved settings as YAML (file + BARPIPE_... environment + --set)."""
    settings, _ = _build_settings(config, sets or ())
    if validate:
        source = str(config) if config is not None else "the built-in defaults"
        out.print(f"ok: {source} resolve to valid settings (config hash {settings.config_hash()})")
        return
    typer.echo(f"# config hash {settings.config_hash()}")
    typer.echo(settings.to_yaml(), nl=False)


# --------------------------------------------------------------------------- operations


@app.command()
def server(
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; keep 127.0.0.1 unless proxied.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to bind.")] = 4200,
) -> None:
    """Run a Prefect server in the foreground (what `serve` and `trigger` talk to).

    It wraps `prefect server start` with barpipe's PREFECT_HOME and quiet, offline settings;
    point barpipe at it with PREFECT_API_URL=http://127.0.0.1:4200/api. Ctrl-C or SIGTERM
    stops it.
    """
    from flows.serve import start_server

    start_server(host, port, echo=out.print)


SweepServeOpt = Annotated[
    Path | None,
    typer.Option(
        "--sweep",
        help="Serve this sweep file (configs/sweep.yaml) as deployment "
        "sweep/<schedule.deployment_name> on its own schedule, instead of the nightly run.",
        dir_okay=False,
    ),
]


@app.command()
def serve(config: ConfigOpt = None, sets: SetOpt = None, sweep: SweepServeOpt = None) -> None:
    """Register the nightly deployment on its cron schedule and run it when due.

    Needs a Prefect server (prefect.api_url, PREFECT_API_URL, or `barpipe server` on
    127.0.0.1:4200). The deployment is `nightly/<schedule.deployment_name>` with
    schedule.cron in schedule.timezone; its runs use these settings. Stop with Ctrl-C or
    SIGTERM (exit 0); the schedule is paused until it is served again. With --sweep FILE
    it serves that parameter sweep instead (`sweep/<schedule.deployment_name>`, the file's
    settings and schedule); `barpipe trigger --sweep` runs it now.
    """
    if sweep is not None:
        if config is not None:
            raise ConfigError("give --config or --sweep, not both: a sweep file holds its settings")
        from flows import sweep as sweep_flow
        from flows.serve import serve_sweep

        settings, cfg = sweep_flow.load_sweep(sweep, _parse_sets(sets or ()))
        serve_sweep(settings, sweep_flow.flow_parameters(cfg), echo=out.print)
        return
    settings, _ = _build_settings(config, sets or ())
    from flows.serve import serve_nightly

    serve_nightly(settings, echo=out.print)


@app.command()
def trigger(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Run with this YAML's settings instead of the ones the deployment was served "
            "with (its schedule and prefect keys also pick the deployment and server).",
            dir_okay=False,
        ),
    ] = None,
    run_date: Annotated[
        str | None,
        typer.Option("--run-date", help="The run's date, YYYY-MM-DD (default: today, UTC)."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Wait for the run to finish (exit 1 if it fails)."),
    ] = True,
    start_timeout: Annotated[
        float,
        typer.Option(
            "--start-timeout",
            min=1,
            help="Seconds to wait for `barpipe serve` to pick the run up before cancelling it.",
        ),
    ] = 120.0,
    sweep: Annotated[
        bool,
        typer.Option(
            "--sweep",
            help="Run the served sweep deployment (`barpipe serve --sweep`) instead; "
            "--config is then a sweep file.",
        ),
    ] = False,
) -> None:
    """Run the served nightly deployment now, through the Prefect server.

    `barpipe serve` must be running against the same server; otherwise this says what to
    start. Without --config the run uses the settings the deployment was served with.
    """
    if sweep:
        _trigger_sweep(config, run_date, wait, start_timeout)
        return
    settings, _ = _build_settings(config)
    day = _date(run_date, "--run-date")
    from flows.serve import trigger_nightly

    flow_run = trigger_nightly(
        settings,
        run_date=day,
        use_settings=config is not None,
        wait=wait,
        start_timeout=start_timeout,
        echo=out.print,
    )
    if wait:
        _print_triggered_run(flow_run.parameters.get("config") or {})


def _trigger_sweep(config: Path | None, run_date: str | None, wait: bool, timeout: float) -> None:
    from flows import sweep as sweep_flow
    from flows.serve import trigger_sweep

    if run_date is not None:
        raise ConfigError("--run-date is for the nightly run; a sweep has no run date")
    if config is None:
        settings, _ = _build_settings(None)
        params = None
    else:
        settings, cfg = sweep_flow.load_sweep(config)
        params = sweep_flow.flow_parameters(cfg)
    trigger_sweep(settings, params, wait=wait, start_timeout=timeout, echo=out.print)


def _print_triggered_run(config: Mapping[str, Any]) -> None:
    """The newest run of the triggered run's key, when its SQLite file is on this machine."""
    settings = Settings.model_validate(config)
    path = Path(settings.output.resolved_db_path())
    if not path.exists():
        return
    from storage import db

    key = settings.run.resolved_key()
    conn = db.connect(str(path), readonly=True)
    try:
        rows = [_row_dict(r) for r in db.list_runs(conn, 50)]
    finally:
        conn.close()
    row = next((r for r in rows if r.get("run_key") == key), None)
    if row is not None:
        out.print(
            f"run {row['run_id']} (key {key}) {row['status']}: {row.get('n_symbols') or 0:,} "
            f"symbols, {row.get('n_trades') or 0:,} trades; outputs in {settings.output.path}"
        )


@app.command()
def report(
    config: ConfigOpt = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Output root of the run (path or URL)."),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run", help="Run id (`barpipe runs` lists them); default: the latest."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Where to write the HTML (default <output>/reports/<run id>.html)."
        ),
    ] = None,
    db_path: Annotated[
        str | None, typer.Option("--db", help="The SQLite file (needed when --output is a URL).")
    ] = None,
) -> None:
    """Write a run's self-contained HTML report (works offline) and print its path."""
    settings, _ = _build_settings(config, **{"output.path": output, "output.db_path": db_path})
    from flows.report import write_report
    from flows.tasks import _filesystem

    out_cfg = settings.output
    path = write_report(
        out_cfg.path,
        run_id,
        destination=to,
        db_path=out_cfg.resolved_db_path(),
        filesystem=_filesystem(out_cfg.storage_options, out_cfg.path),
    )
    out.print(f"report: {escape(path)}")


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: run the command; every failure is one ``error:`` line.

    Exit codes: 0 success, 1 the run failed (or an unexpected error), 2 a configuration or
    usage problem, 130 Ctrl-C (SIGINT), 143 SIGTERM.
    """
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    try:
        code = app(args=args, prog_name="barpipe", standalone_mode=False)
    except typer.TyperException as err:  # usage errors: unknown option, bad flag value
        ctx = getattr(err, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _print_error(err.format_message() + hint)
        return err.exit_code
    except BarpipeError as err:
        if _State.debug or "--debug" in args:
            traceback.print_exc()
        _print_error(str(err) or type(err).__name__)
        return 2 if isinstance(err, ConfigError | ParameterError) else 1
    except RunInterrupted as err:
        if _State.debug or "--debug" in args:
            traceback.print_exc()
        _print_error(f"{err}: {err.outcome}")
        return err.exit_code
    except (KeyboardInterrupt, typer.Abort):
        _print_error("interrupted")
        return 130
    except Exception as err:  # a bug or a third-party failure: still one line, exit 1
        if _State.debug or "--debug" in args:
            traceback.print_exc()
            _print_error(f"{type(err).__name__}: {err}")
        else:
            _print_error(f"{type(err).__name__}: {err} (run with --debug for the traceback)")
        return 1
    return code if isinstance(code, int) else 0


def _print_error(message: str) -> None:
    text = " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
    err_console.print(f"error: {text}", markup=False)


__all__ = ["app", "main"]
