"""Run the benchmark suite (``make bench``) and record what it measured in bench/RESULTS.md.

Each benchmark runs in its own process and writes its tables as JSON; this script then
replaces that benchmark's section of bench/RESULTS.md (between its ``<!-- begin NAME -->``
and ``<!-- end NAME -->`` markers) with the measured tables and the machine, date and
commit they were measured on, leaving the rest of the file as it is. ``BENCH_QUICK=1`` runs
smaller sizes and writes to ``.cache/bench/RESULTS-quick.md`` instead, so quick numbers
never replace full ones.

Usage: ``python -m bench.run_all [--only kernels,e2e,...] [--no-write]``
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from bench import common

SUITE = {
    "kernels": "Kernels: barpipe vs TA-Lib vs pandas, segmented batch",
    "e2e": "End to end: barpipe run vs the I/O floor and the bot's approach",
    "vs_vectorbt": "barpipe vs vectorbt",
    "scaling": "Scaling: 1 vs 2 workers",
    "overhead": "Fixed overhead: tiny run vs bare LocalCluster",
    "memory": "Memory: planner calibration and a run under --memory-limit 600MB",
    "nightly": "Nightly runs: one new bar per symbol against a full run",
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def section(name: str, result: dict) -> str:
    m = result["machine"]
    return (
        f"<!-- begin {name} -->\n### {SUITE[name]}\n\n"
        f"Measured {m['date']} at commit {m['commit']} on {m['nproc']} cores ({m['cpu']}), "
        f"{m['ram_gib']} GiB RAM; load average (1/5/15 min) when it finished: {m['load']}. "
        f"`python -m bench.{name}`.\n\n{result['markdown']}\n<!-- end {name} -->"
    )


def write(target: Path, sections: dict[str, str]) -> None:
    text = target.read_text() if target.exists() else "# Benchmark results\n"
    for name, body in sections.items():
        pattern = re.compile(rf"<!-- begin {name} -->.*?<!-- end {name} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m, body=body: body, text)
        else:
            text = text.rstrip("\n") + "\n\n" + body + "\n"
    target.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", help="comma-separated subset of: " + ", ".join(SUITE))
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument(
        "--from-json",
        action="store_true",
        help="do not run: write the sections from the JSON results of the last runs",
    )
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(SUITE)
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        p.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(SUITE)}")
    results_dir = common.CACHE / "results"
    sections: dict[str, str] = {}
    failed = []
    for name in names:
        path = results_dir / f"{name}.json"
        if args.from_json:
            if path.exists():
                sections[name] = section(name, json.loads(path.read_text()))
            else:
                failed.append(name)
            continue
        path.unlink(missing_ok=True)
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.call(
            [sys.executable, "-m", f"bench.{name}", "--json", str(path)], cwd=common.ROOT
        )
        print(f"=== {name}: exit {code} in {time.perf_counter() - start:.0f} s ===", flush=True)
        if code != 0 or not path.exists():
            failed.append(name)
            continue
        sections[name] = section(name, json.loads(path.read_text()))
    if sections and not args.no_write:
        target = common.CACHE / "RESULTS-quick.md" if common.quick() else RESULTS
        write(target, sections)
        print(f"\nwrote {', '.join(sections)} to {target}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
