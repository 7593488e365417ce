"""Scaling: the same compute-bound run on 1 worker and on 2 workers.

The run is made compute-heavy and light on output: sixteen slow-trading strategies (moving
average crossovers and Bollinger bands over long windows) on 200 symbols x 50,000 one-minute
bars, equity curves not written.
Each worker has one thread, so 2 workers use 2 cores. Measured side by side, interleaved,
best of ``--repeat``: the whole ``barpipe run`` and a tiny run of the same configuration,
for each worker count; speed-up = marginal time (run - tiny run) on 1 worker over that on
2 workers, from the runs' own start-to-finish times (SQLite) and from process wall times. Target >= 1.8x. It can only show what the machine's free cores allow: the load
average is printed with the result.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench import common

# Slow-trading parameter sets (a few hundred trades per 50,000 bars each), so the run's
# time goes to the batch tasks, which scale with workers, and not to publishing millions of
# trades, which the flow does in one process.
STRATEGIES: list[dict[str, Any]] = [
    *(
        {
            "name": "ma_crossover",
            "params": {"short_window": s, "long_window": lw},
            "label": f"ma_{s}_{lw}",
        }
        for s in (100, 150, 200, 250)
        for lw in (600, 1000)
    ),
    *(
        {
            "name": "bollinger",
            "params": {"timeperiod": t, "nbdevup": k, "nbdevdn": k},
            "label": f"bollinger_{t}_{k:g}",
        }
        for t in (200, 300, 400, 500)
        for k in (3.0, 3.5)
    ),
]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    quick = common.quick()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--symbols", type=int, default=40 if quick else 200)
    p.add_argument("--bars", type=int, default=25_000 if quick else 50_000)
    p.add_argument("--repeat", type=int, default=1 if quick else 2)
    p.add_argument("--json")
    args = p.parse_args(argv)
    print(f"machine: {common.machine_line()}", flush=True)
    big = common.dataset(args.symbols, args.bars)
    tiny = common.dataset(2, 200)
    config = common.write_config(
        common.CACHE / "scaling.yaml", strategies=STRATEGIES, **{"output.write_equity": False}
    )
    out = common.CACHE / "out-scaling"
    env = {"PREFECT_HOME": str(common.CACHE / "prefect")}
    common.barpipe_run(config, tiny, out, "--workers", "1", env=env)  # warm-up
    times: dict[tuple[int, str], list[float]] = {}
    stages: dict[int, list[Any]] = {}
    for i in range(args.repeat):
        for workers in (1, 2):
            flag = ("--workers", str(workers))
            m = common.barpipe_run(config, big, out, *flag, env=env)
            times.setdefault((workers, "run"), []).append(m.seconds)
            times.setdefault((workers, "flow"), []).append(common.flow_seconds(out))
            stages[workers] = common.stage_rows(out)
            t = common.barpipe_run(config, tiny, out, *flag, env=env)
            times.setdefault((workers, "tiny"), []).append(t.seconds)
            times.setdefault((workers, "flow tiny"), []).append(common.flow_seconds(out))
            print(
                f"  round {i + 1}, {workers} worker(s): run {m.seconds:.1f} s, tiny {t.seconds:.1f} s"
                f" (load {common.load()})",
                flush=True,
            )
    best = {k: min(v) for k, v in times.items()}
    marginal = {w: best[(w, "run")] - best[(w, "tiny")] for w in (1, 2)}
    flow = {w: best[(w, "flow")] - best[(w, "flow tiny")] for w in (1, 2)}
    task_s = {
        w: sum(sec for s, sec, _, _ in stages[w] if sec is not None and s != "publish")
        for w in (1, 2)
    }
    lines = [
        common.table(
            [
                "workers",
                "run s (best)",
                "tiny run s",
                "marginal s",
                "in-flow marginal s",
                "task seconds (summed)",
            ],
            [
                [
                    w,
                    f"{best[(w, 'run')]:.1f}",
                    f"{best[(w, 'tiny')]:.1f}",
                    f"{marginal[w]:.1f}",
                    f"{flow[w]:.1f}",
                    f"{task_s[w]:.1f}",
                ]
                for w in (1, 2)
            ],
        ),
        "",
        f"- {len(STRATEGIES)} strategies, {args.symbols} x {args.bars:,} bars, equity not written. "
        f"Speed-up 1 -> 2 workers: {flow[1] / flow[2]:.2f}x on the in-flow marginal time "
        f"(the runs' own start-to-finish minus a tiny run's), {marginal[1] / marginal[2]:.2f}x "
        f"on process wall times, {best[(1, 'run')] / best[(2, 'run')]:.2f}x whole runs; "
        "target >= 1.8x.",
        f"- summed task seconds grow from {task_s[1]:.1f} to {task_s[2]:.1f} with 2 workers: "
        "the two workers' tasks compete for the same cores with everything else running.",
    ]
    print("\n".join(lines))
    print(f"load after: {common.load()}")
    result = {
        "times": {f"{w}-{k}": v for (w, k), v in times.items()},
        "marginal": marginal,
        "speedup": flow[1] / flow[2],
        "speedup_wall": marginal[1] / marginal[2],
        "markdown": "\n".join(lines),
    }
    common.save("scaling", result, args.json)
    return result


if __name__ == "__main__":
    main()
