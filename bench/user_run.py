"""The run a user makes, measured: four strategies, equity written, report on.

``measure`` runs ``barpipe run`` with that configuration (``user_config``) and then
``barpipe report --run ID`` on its output, and returns the wall times and, separately, the
peak RSS of the flow process (the ``barpipe run`` process itself: planning, publishing and
the report it writes) and of each Dask worker, sampled with psutil over the process tree.
bench/e2e.py and bench/vs_vectorbt.py print it next to their usual configuration.

Usage: ``python -m bench.user_run [--symbols 200 --bars 50000] [--json PATH]``
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

from bench import common

STRATEGIES = ["momentum", "zscore", "ma_crossover", "bollinger"]


def user_config(path: Path) -> Path:
    """The bot's indicators, the four strategies, equity written, the report on."""
    return common.write_config(
        path,
        strategies=[{"name": s} for s in STRATEGIES],
        **{"run.report": True, "output.write_equity": True},
    )


def measure(
    input_path: Path, output: Path, *extra: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """One user run then one ``barpipe report`` of it; seconds and peaks (bytes)."""
    config = user_config(common.CACHE / "user-run.yaml")
    run = common.barpipe_run(config, input_path, output, *extra, env=env)
    with sqlite3.connect(output / "barpipe.db") as conn:
        run_id = conn.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()[0]
        stages = dict(
            conn.execute(
                "SELECT stage, seconds FROM run_stages WHERE run_id = ? AND worker = ''",
                (run_id,),
            ).fetchall()
        )
    report = common.run_measured(
        [common.BARPIPE, "report", "--output", str(output), "--run", run_id], env=env
    )
    # the report alone, timed in its process (without the CLI's imports and start-up)
    code = (
        "import time; from flows.report import write_report; t = time.perf_counter(); "
        f"write_report({str(output)!r}, {run_id!r}); print(time.perf_counter() - t)"
    )
    inner = float(common.run_measured([common.PYTHON, "-c", code]).stdout.split()[-1])
    return {
        "run_id": run_id,
        "run_s": run.seconds,
        "flow_s": common.flow_seconds(output),
        "publish_s": stages.get("publish"),
        "flow_peak": run.flow_peak,
        "worker_peaks": run.worker_peaks,
        "report_cli_s": report.seconds,
        "report_s": inner,
        "report_peak": report.flow_peak,
    }


def describe(m: dict[str, Any]) -> list[list[str]]:
    """Rows for a results table."""
    workers = ", ".join(common.mib(p) for p in m["worker_peaks"]) or "-"
    inner = f"{m['report_s']:.1f} s in write_report alone"
    return [
        [
            "user run: barpipe run (4 strategies, equity, report)",
            f"{m['run_s']:.1f}",
            f"flow process peak {common.mib(m['flow_peak'])}; workers {workers}; "
            f"in-flow {m['flow_s']:.1f} s, publish {m['publish_s'] or 0:.1f} s",
        ],
        [
            "user run: barpipe report --run ID",
            f"{m['report_cli_s']:.1f}",
            f"process peak {common.mib(m['report_peak'])}; {inner}".rstrip("; "),
        ],
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--symbols", type=int, default=200)
    p.add_argument("--bars", type=int, default=50_000)
    p.add_argument("--json")
    args = p.parse_args(argv)
    print(f"machine: {common.machine_line()}", flush=True)
    data = common.dataset(args.symbols, args.bars)
    tiny = common.dataset(2, 200)
    print("warm-up tiny user run (numba cache, Prefect database)...", flush=True)
    measure(tiny, common.CACHE / "out-user-tiny")
    m = measure(data, common.CACHE / "out-user")
    print(common.table(["what", "seconds", "notes"], describe(m)))
    common.save("user_run", m, args.json)
    return m


if __name__ == "__main__":
    main()
