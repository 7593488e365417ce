"""Shared helpers for the benchmark scripts: the machine, timing, process-tree memory, data.

Every script in ``bench/`` measures the things it compares side by side in one process run
(interleaved repetitions, best of N) and prints ratios, because the absolute times on a
shared machine move with its load. ``machine()`` records that load next to the results.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
PYTHON = sys.executable
BARPIPE = str(Path(PYTHON).with_name("barpipe"))

os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))


def quick() -> bool:
    """True under ``BENCH_QUICK=1``: smaller sizes and fewer repetitions."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha + (" (working tree has uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def load() -> str:
    """The 1/5/15-minute load averages, as text."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def machine() -> dict[str, Any]:
    """What the numbers were measured on: cores, memory, CPU, load, date, commit, versions."""
    import psutil

    versions = {}
    for mod in ("numpy", "numba", "pandas", "pyarrow", "distributed", "prefect", "talib"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = "absent"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "nproc": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": _cpu_model(),
        "load": load(),
        "python": platform.python_version(),
        "versions": versions,
    }


def machine_line(m: dict[str, Any] | None = None) -> str:
    m = m or machine()
    return (
        f"{m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, load avg {m['load']}, "
        f"{m['date']}, commit {m['commit']}"
    )


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_of(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best time of each function over ``repeat`` rounds, the functions interleaved per round.

    Interleaving puts every contender under the same background load in each round, so
    the ratios hold even when the absolute times drift. The order rotates from round to
    round: a contender that always ran right after the same one paid for what that one left
    behind (barpipe after pandas: memory pandas had just returned to the system came back
    as fresh pages for barpipe's outputs; MOM measured 1.44x TA-Lib that way, 0.97x alone).
    """
    best = {name: float("inf") for name in fns}
    names = list(fns)
    for r in range(repeat):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            best[name] = min(best[name], timed(fns[name]))
    return best


# --------------------------------------------------------------------------- memory


def _kind(proc: Any) -> str:
    try:
        cmd = " ".join(proc.cmdline())
    except Exception:  # the process may be gone between listing and reading
        return "gone"
    if "uvicorn" in cmd or "prefect.server" in cmd or "flows.runtime" in cmd:
        return "prefect server"
    if "resource_tracker" in cmd:
        return "resource tracker"
    if "spawn_main" in cmd or "distributed" in cmd:
        return "dask worker"
    return "main"


@dataclass
class TreeSample:
    """Peak resident memory of a process tree, sampled every ``interval`` seconds."""

    peak_total: int = 0
    peak_by_kind: dict[str, int] = field(default_factory=dict)
    peak_by_pid: dict[int, int] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    samples: int = 0


class TreeSampler:
    """Samples RSS of ``pid`` and all its descendants in a background thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.result = TreeSample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        r = self.result
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            by_kind: dict[str, int] = {}
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                if p.pid not in r.kinds:
                    r.kinds[p.pid] = _kind(p)
                kind = r.kinds[p.pid]
                total += rss
                by_kind[kind] = by_kind.get(kind, 0) + rss
                r.peak_by_pid[p.pid] = max(r.peak_by_pid.get(p.pid, 0), rss)
            r.peak_total = max(r.peak_total, total)
            for kind, rss in by_kind.items():
                r.peak_by_kind[kind] = max(r.peak_by_kind.get(kind, 0), rss)
            r.samples += 1
            self._stop.wait(self.interval)

    def worker_peaks(self) -> list[int]:
        """Peak RSS of each Dask worker process seen, largest first."""
        r = self.result
        return sorted(
            (rss for pid, rss in r.peak_by_pid.items() if r.kinds.get(pid) == "dask worker"),
            reverse=True,
        )


@dataclass
class Measured:
    """A subprocess' wall time, exit code, output and process-tree memory."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    memory: TreeSample
    worker_peaks: list[int]
    flow_peak: int = 0
    """Peak RSS of the command's own process (for ``barpipe run``, the flow process)."""


def run_measured(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 3600,
    check: bool = True,
) -> Measured:
    """Run ``cmd`` and measure its wall time and the peak RSS of its process tree."""
    full_env = {**os.environ, **(env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        env=full_env,
        cwd=cwd or ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeSampler(proc.pid) as sampler:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-3000:]}\n{err[-3000:]}"
        )
    return Measured(
        seconds,
        proc.returncode,
        out,
        err,
        sampler.result,
        sampler.worker_peaks(),
        sampler.result.peak_by_pid.get(proc.pid, 0),
    )


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


# --------------------------------------------------------------------------- data and runs


def dataset(n_symbols: int, n_bars: int, freq: str = "1min", seed: int = 7) -> Path:
    """A synthetic dataset generated once with ``barpipe generate`` into the bench cache."""
    path = CACHE / f"bars-{n_symbols}x{n_bars}-{freq}-s{seed}"
    done = path / "_bench_complete"
    if not done.exists():
        print(f"generating {n_symbols} x {n_bars} {freq} bars into {path} ...", flush=True)
        subprocess.run(
            [
                BARPIPE,
                "generate",
                "--output",
                str(path),
                "--symbols",
                str(n_symbols),
                "--bars",
                str(n_bars),
                "--freq",
                freq,
                "--seed",
                str(seed),
                "--overwrite",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        done.write_text("generated by bench/common.py\n")
    return path


# The bot's indicator set (the guide's _calculate_single_symbol_indicators) and its momentum
# composite: what every end-to-end comparison computes.
BOT_INDICATORS: list[dict[str, Any]] = [
    {"name": "sma", "params": {"timeperiod": 20}},
    {"name": "sma", "params": {"timeperiod": 50}},
    {"name": "ema", "params": {"timeperiod": 12}},
    {"name": "ema", "params": {"timeperiod": 26}},
    {"name": "macd", "params": {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}},
    {"name": "rsi", "params": {"timeperiod": 14}},
    {"name": "bbands", "params": {"timeperiod": 20}},
]
STRATEGY = "momentum"
FEES_BPS = 1.0
SLIPPAGE_BPS = 1.0
INIT_CASH = 10_000.0


def write_config(path: Path, **overrides: Any) -> Path:
    """A run config for the benchmarks: the bot's indicators, the momentum strategy."""
    import yaml

    config: dict[str, Any] = {
        "indicators": BOT_INDICATORS,
        "strategies": [{"name": STRATEGY}],
        "backtest": {
            "direction": "long_short",
            "fees_bps": FEES_BPS,
            "slippage_bps": SLIPPAGE_BPS,
            "init_cash": INIT_CASH,
        },
        "metrics": {"annualization": 525_600},
        "run": {"report": False, "run_date": "2026-11-23"},
        "cluster": {"dashboard_address": "127.0.0.1:0"},
    }
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def barpipe_run(
    config: Path, input_path: Path, output: Path, *extra: str, env: dict[str, str] | None = None
) -> Measured:
    """``barpipe run`` as a subprocess, measured; the output root is emptied first."""
    import shutil

    shutil.rmtree(output, ignore_errors=True)
    return run_measured(
        [
            BARPIPE,
            "run",
            "--config",
            str(config),
            "--input",
            str(input_path),
            "--output",
            str(output),
            *extra,
        ],
        env=env,
    )


def flow_seconds(output: Path) -> float:
    """The last run's own duration (its SQLite record's start to finish): plan, compute and
    publish, without the process start, imports, cluster start and Prefect set-up."""
    import datetime as dt
    import sqlite3

    with sqlite3.connect(output / "barpipe.db") as conn:
        start, end = conn.execute(
            "SELECT started_at, finished_at FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()

    def parse(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def stage_rows(output: Path) -> list[tuple[str, float, int, str]]:
    """The last run's (stage, seconds, peak_rss_bytes, worker) rows from its SQLite."""
    import sqlite3

    with sqlite3.connect(output / "barpipe.db") as conn:
        run_id = conn.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()[0]
        return list(
            conn.execute(
                "SELECT stage, seconds, peak_rss_bytes, worker FROM run_stages WHERE run_id = ?",
                (run_id,),
            )
        )


# --------------------------------------------------------------------------- reporting


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (also readable on a terminal)."""
    text_rows = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in text_rows)])


def save(name: str, result: dict[str, Any], json_path: str | None) -> None:
    """Print nothing more; write ``result`` (with the machine) as JSON when asked."""
    result = {"name": name, "machine": machine(), **result}
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=2, default=str))
