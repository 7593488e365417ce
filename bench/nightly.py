"""Nightly runs: what a night with one new bar per symbol costs next to a full run.

On a copy of the 10 M-bar universe (200 symbols x 50,000 one-minute bars): a tiny run (its
in-flow time is the fixed cost), the first night (a full run on an empty output root), then
``--nights`` nights that each add one bar per symbol (a new file per symbol partition, one
minute after its last bar) and run again on the same output root with the next run date.
The configuration is the run a user makes (bench/user_run.py: four strategies, equity
written, report on).

Printed, per night: the in-flow time (the run's own SQLite record, start to finish), the
wall time, the flow process's peak RSS, and the bytes the output root gained. Targets:

- an increment's in-flow time <= 1/10 of the full run's marginal in-flow time (first night
  minus the tiny run);
- the nights after the first add <= 25 % of the first night's bytes, all together.

Whether a night recomputes everything or only what is new is the pipeline's business: on a
pipeline that republishes the whole history every night this shows that cost, and it shows
the increment once nights add only what is new.

Usage: ``python -m bench.nightly [--symbols 200 --bars 50000] [--nights 5] [--json PATH]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from bench import common, user_run


def _add_bar(dataset: Path, night: int) -> int:
    """Append one bar to every symbol (a new file in its partition); return bars added."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    added = 0
    for part in sorted(p for p in dataset.iterdir() if p.name.startswith("symbol=")):
        last = ds.dataset(part, format="parquet").to_table()
        last = last.sort_by("timestamp").slice(last.num_rows - 1, 1)
        close = last["close"][0].as_py()
        bar = pa.table(
            {
                "timestamp": pa.array(
                    [last["timestamp"][0].as_py() + dt.timedelta(minutes=1)], last["timestamp"].type
                ),
                **{f: pa.array([close], pa.float64()) for f in ("open", "high", "low", "close")},
                "volume": last["volume"],
            }
        )
        pq.write_table(bar.cast(last.schema), part / f"part-night-{night:03d}.parquet")
        added += 1
    return added


def _bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--symbols", type=int, default=200)
    p.add_argument("--bars", type=int, default=50_000)
    p.add_argument("--nights", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args(argv)
    print(f"machine: {common.machine_line()}", flush=True)
    source = common.dataset(args.symbols, args.bars)
    data = common.CACHE / f"nightly-bars-{args.symbols}x{args.bars}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(source, data)
    out = common.CACHE / "out-nightly"
    shutil.rmtree(out, ignore_errors=True)
    config = user_run.user_config(common.CACHE / "nightly.yaml")

    print("tiny run (fixed cost; numba cache and Prefect database warm)...", flush=True)
    tiny_out = common.CACHE / "out-nightly-tiny"
    common.barpipe_run(config, common.dataset(2, 200), tiny_out)
    tiny_flow = common.flow_seconds(tiny_out)

    nights: list[dict[str, Any]] = []
    day = dt.date(2026, 12, 1)
    for night in range(args.nights + 1):
        if night:
            _add_bar(data, night)
        before = _bytes(out) if out.exists() else 0
        m = common.run_measured(
            [
                common.BARPIPE,
                "run",
                "--config",
                str(config),
                "--input",
                str(data),
                "--output",
                str(out),
                "--run-date",
                (day + dt.timedelta(days=night)).isoformat(),
            ]
        )
        row = {
            "night": night,
            "wall_s": m.seconds,
            "flow_s": common.flow_seconds(out),
            "flow_peak": m.flow_peak,
            "bytes_added": _bytes(out) - before,
            # per stage: "publish" is the flow's wall time, the others task-seconds summed
            # over the batches (load, validate, kernels, backtest, metrics, write)
            "stages": {
                stage: sec for stage, sec, _rss, worker in common.stage_rows(out) if not worker
            },
        }
        nights.append(row)
        print(
            f"  night {night}: in-flow {row['flow_s']:.1f} s, wall {row['wall_s']:.1f} s, "
            f"flow peak {common.mib(row['flow_peak'])}, +{row['bytes_added'] / 2**20:,.1f} MiB",
            flush=True,
        )
    first, later = nights[0], nights[1:]
    marginal = first["flow_s"] - tiny_flow
    increment = min(n["flow_s"] for n in later) if later else float("nan")
    added = sum(n["bytes_added"] for n in later)
    fastest = min(later, key=lambda n: n["flow_s"]) if later else first
    where = ", ".join(f"{k} {v:.2f}" for k, v in fastest["stages"].items())
    lines = [
        common.table(
            ["night", "in-flow s", "wall s", "flow process peak", "MiB added"],
            [
                [
                    "first (full run)" if n["night"] == 0 else f"+{n['night']} (1 new bar/symbol)",
                    f"{n['flow_s']:.1f}",
                    f"{n['wall_s']:.1f}",
                    common.mib(n["flow_peak"]),
                    f"{n['bytes_added'] / 2**20:,.1f}",
                ]
                for n in nights
            ],
        ),
        "",
        f"- full run's marginal in-flow time {marginal:.1f} s (first night {first['flow_s']:.1f} "
        f"- tiny run {tiny_flow:.1f}); fastest increment {increment:.1f} s = "
        f"{increment / marginal:.2f} of it (target <= 0.10).",
        f"- where the fastest increment's in-flow {fastest['flow_s']:.1f} s went (s; publish is "
        f"the flow's wall time, the rest task-seconds summed over batches): {where}.",
        f"- {len(later)} nights added {added / 2**20:,.1f} MiB = "
        f"{added / max(first['bytes_added'], 1):.2f} of the first night's "
        f"{first['bytes_added'] / 2**20:,.1f} MiB (target <= 0.25).",
    ]
    print("\n".join(lines))
    result = {
        "nights": nights,
        "tiny_flow_s": tiny_flow,
        "marginal_s": marginal,
        "increment_ratio": increment / marginal,
        "bytes_ratio": added / max(first["bytes_added"], 1),
        "markdown": "\n".join(lines),
    }
    common.save("nightly", result, args.json)
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(tiny_out, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
