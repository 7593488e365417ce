"""End to end: ``barpipe run`` on 10M minute bars against the I/O floor and the bot's approach.

Measured in one run (best of ``--repeat``, the contenders interleaved):

- ``barpipe run`` on 200 symbols x 50,000 one-minute bars (the bot's indicators, the
  momentum strategy, long/short, 1 bp fees and slippage, equity written), and the same
  command on a tiny dataset (2 x 200 bars): their difference is the marginal cost of the
  data, without the fixed start-up cost (``overhead.py`` measures that one);
- the I/O floor: pyarrow alone reading the same input columns and writing the same output
  tables (trades, metrics, equity and indicators, read back from the run's outputs
  beforehand) as zstd Parquet; marginal ratio = (run - tiny run) / floor, target <= 1.5;
- the bot's approach (``baseline_bot.py``) on the same universe, target: barpipe >= 30x
  faster end to end. With ``--baseline-symbols N`` it runs on the first N symbols and is
  scaled by bars to the full universe (said so in the output).

Next to it, the run a user makes (bench/user_run.py: the four strategies, equity written,
report on, then ``barpipe report`` alone), with the flow process's peak RSS (the ``barpipe
run`` process) reported apart from the workers'.

Usage: ``python -m bench.e2e [--symbols 200 --bars 50000] [--repeat N] [--baseline-symbols N]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common, user_run


def io_floor(input_path: Path, output: Path, repeat: int) -> dict[str, float]:
    """Seconds pyarrow alone needs to read the input columns and write the run's outputs."""
    code = f"""
import json, time, tempfile
import pyarrow.dataset as ds, pyarrow.parquet as pq
from storage import outputs
import os
tables = {{n: outputs.read_output({str(output)!r}, n) for n in ("trades", "metrics", "equity", "indicators")
          if os.path.isdir(os.path.join({str(output)!r}, n))}}
cols = ["symbol", "timestamp", "open", "high", "low", "close", "volume"]
best = {{"read": 1e9, "write": 1e9}}
for _ in range({repeat}):
    t = time.perf_counter()
    table = ds.dataset({str(input_path)!r}, format="parquet", partitioning="hive").to_table(columns=cols)
    best["read"] = min(best["read"], time.perf_counter() - t)
    del table
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        for name, tab in tables.items():
            pq.write_table(tab, f"{{d}}/{{name}}.parquet", compression="zstd")
        best["write"] = min(best["write"], time.perf_counter() - t)
best["rows_written"] = sum(t.num_rows for t in tables.values())
print(json.dumps(best))
"""
    out = subprocess.run(
        [common.PYTHON, "-c", code], capture_output=True, text=True, check=True, cwd=common.ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline(input_path: Path, symbols: int | None, loop: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=common.CACHE) as out:
        cmd = [
            common.PYTHON,
            "-m",
            "bench.baseline_bot",
            "--input",
            str(input_path),
            "--output",
            out,
            "--loop",
            loop,
        ]
        if symbols:
            cmd += ["--symbols", str(symbols)]
        m = common.run_measured(cmd)
    result = json.loads(m.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = m.seconds
    result["peak_rss"] = m.memory.peak_total
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    quick = common.quick()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--symbols", type=int, default=40 if quick else 200)
    p.add_argument("--bars", type=int, default=25_000 if quick else 50_000)
    p.add_argument("--repeat", type=int, default=1 if quick else 2)
    p.add_argument(
        "--baseline-symbols",
        type=int,
        default=None,
        help="run the baseline on the first N symbols and scale by bars (default: all)",
    )
    p.add_argument("--workers", type=int, default=None, help="barpipe --workers (default: cores)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    env_note = common.machine_line()
    print(f"machine: {env_note}", flush=True)

    big = common.dataset(args.symbols, args.bars)
    tiny = common.dataset(2, 200)
    config = common.write_config(common.CACHE / "e2e.yaml")
    out_big = common.CACHE / "out-e2e"
    out_tiny = common.CACHE / "out-e2e-tiny"
    extra = ["--workers", str(args.workers)] if args.workers else []

    print("warm-up tiny run (numba cache, Prefect database)...", flush=True)
    common.barpipe_run(config, tiny, out_tiny, *extra)
    runs: list[float] = []
    tinies: list[float] = []
    flow_runs: list[float] = []
    flow_tinies: list[float] = []
    peak = flow_peak = 0
    for i in range(args.repeat):
        m = common.barpipe_run(config, big, out_big, *extra)
        runs.append(m.seconds)
        flow_runs.append(common.flow_seconds(out_big))
        peak = max(peak, m.memory.peak_total)
        flow_peak = max(flow_peak, m.flow_peak)
        t = common.barpipe_run(config, tiny, out_tiny, *extra)
        tinies.append(t.seconds)
        flow_tinies.append(common.flow_seconds(out_tiny))
        print(
            f"  round {i + 1}: run {m.seconds:.1f} s (flow {flow_runs[-1]:.1f}), "
            f"tiny run {t.seconds:.1f} s (flow {flow_tinies[-1]:.1f})",
            flush=True,
        )
    stages = common.stage_rows(out_big)
    print("the run a user makes (4 strategies, equity, report)...", flush=True)
    user = user_run.measure(big, common.CACHE / "out-e2e-user", *extra)
    print("I/O floor (pyarrow read + write of the same data)...", flush=True)
    floor = io_floor(big, out_big, max(2, args.repeat))
    run_s, tiny_s = min(runs), min(tinies)
    floor_s = floor["read"] + floor["write"]
    marginal = run_s - tiny_s
    flow_marginal = min(flow_runs) - min(flow_tinies)

    print("bot baseline (thread pool, pandas, per-bar Python loop)...", flush=True)
    clock = time.perf_counter()
    base = baseline(big, args.baseline_symbols, "itertuples")
    scale = (args.symbols * args.bars) / base["n_bars"]
    base_full = base["wall_seconds"] * scale
    print(f"  baseline {base['wall_seconds']:.1f} s on {base['n_symbols']} symbols", flush=True)
    lists_symbols = args.baseline_symbols or max(1, args.symbols // 4)
    lists = baseline(big, lists_symbols, "lists")
    lists_full = lists["wall_seconds"] * (args.symbols * args.bars) / lists["n_bars"]
    rowwise = baseline(big, max(1, args.symbols // 50), "iterrows")
    rowwise_full = rowwise["wall_seconds"] * (args.symbols * args.bars) / rowwise["n_bars"]
    base_clock = time.perf_counter() - clock

    n = args.symbols * args.bars
    lines = [
        common.table(
            ["what", "seconds", "notes"],
            [
                [
                    "barpipe run (best)",
                    f"{run_s:.1f}",
                    f"{n:,} bars; rounds: {', '.join(f'{x:.1f}' for x in runs)}",
                ],
                ["tiny run (best)", f"{tiny_s:.1f}", "2 x 200 bars, same config"],
                ["marginal (run - tiny)", f"{marginal:.1f}", "process wall times"],
                [
                    "marginal, in-flow times",
                    f"{flow_marginal:.1f}",
                    f"the runs' own start-to-finish: {min(flow_runs):.1f} - {min(flow_tinies):.1f}",
                ],
                [
                    "I/O floor",
                    f"{floor_s:.1f}",
                    f"read {floor['read']:.1f} + write {floor['write']:.1f} "
                    f"({int(floor['rows_written']):,} output rows)",
                ],
                [
                    "bot baseline, itertuples loop",
                    f"{base_full:.1f}",
                    f"measured {base['wall_seconds']:.1f} s on {base['n_symbols']} symbols"
                    + (f", scaled x{scale:.2f}" if scale != 1 else ", full universe"),
                ],
                [
                    "bot baseline, list loop",
                    f"{lists_full:.1f}",
                    f"measured {lists['wall_seconds']:.1f} s on {lists['n_symbols']} symbols, "
                    "scaled by bars",
                ],
                [
                    "bot baseline, iterrows loop",
                    f"{rowwise_full:.1f}",
                    f"measured {rowwise['wall_seconds']:.1f} s on {rowwise['n_symbols']} symbols, "
                    "scaled by bars",
                ],
            ],
        ),
        "",
        f"- marginal ratio (run - tiny) / floor = {marginal / floor_s:.2f} (target <= 1.5); "
        f"from the in-flow times {flow_marginal / floor_s:.2f}; whole run / floor = "
        f"{run_s / floor_s:.2f}.",
        f"- bot baseline / barpipe run = {base_full / run_s:.1f}x end to end (target >= 30x); "
        f"on the marginal time {base_full / marginal:.1f}x. With the fastest per-bar loop "
        f"(plain lists) {lists_full / run_s:.1f}x, with the slowest common one (iterrows) "
        f"{rowwise_full / run_s:.1f}x end to end.",
        f"- baseline thread-seconds by stage ({base['n_symbols']} symbols): "
        + ", ".join(f"{k} {v:.1f}" for k, v in base["thread_seconds"].items())
        + f"; load {base['seconds']['load']:.1f} s, write {base['seconds']['write']:.1f} s.",
        "- barpipe stage seconds summed over tasks: "
        + ", ".join(f"{s} {sec:.1f}" for s, sec, _, _ in stages if sec is not None)
        + "; peak RSS per worker (reported): "
        + ", ".join(common.mib(rss) for _, _, rss, w in stages if rss),
        f"- peak RSS of the barpipe process tree {common.mib(peak)} (of it the flow process "
        f"{common.mib(flow_peak)}), of the baseline {common.mib(base['peak_rss'])} "
        f"({base['n_symbols']} symbols).",
        "",
        common.table(["the run a user makes", "seconds", "notes"], user_run.describe(user)),
    ]
    print("\n".join(lines))
    print(f"load after: {common.load()} (baseline part took {base_clock:.0f} s)")
    result = {
        "run_s": runs,
        "tiny_s": tinies,
        "floor": floor,
        "baseline": base,
        "baseline_lists": lists,
        "baseline_iterrows": rowwise,
        "baseline_full_s": base_full,
        "stages": stages,
        "flow_s": flow_runs,
        "flow_tiny_s": flow_tinies,
        "marginal_ratio": marginal / floor_s,
        "flow_marginal_ratio": flow_marginal / floor_s,
        "speedup_vs_bot": base_full / run_s,
        "flow_peak": flow_peak,
        "user_run": user,
        "markdown": "\n".join(lines),
    }
    common.save("e2e", result, args.json)
    shutil.rmtree(out_tiny, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
