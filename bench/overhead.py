"""Fixed overhead: a tiny ``barpipe run`` against the bare start of a Dask LocalCluster.

Each contender is a fresh process (imports included), the rounds interleaved, best of N:

- ``bare cluster``: Python starts, imports distributed, starts a LocalCluster with the same
  workers as the run, connects a client and closes both;
- ``barpipe, no Prefect``: the same process work as a run minus Prefect: settings, the
  cluster, and the flow body (``flows.nightly.execute``: plan, compute, publish, SQLite)
  on the tiny dataset;
- ``barpipe run, reused server``: the CLI while the local Prefect server a previous run
  started is up (``flows.runtime``, mode ``reused``);
- ``barpipe run, cold``: the CLI after stopping that server, so the run starts one while
  its cluster starts (mode ``started``; what every run paid with Prefect's ephemeral mode);
- ``barpipe run --keep-alive``: the CLI with the Prefect server and a kept-alive local
  cluster (flows.kept_cluster) both left by the previous round, so its workers are warm.

Target: Prefect and barpipe add <= 2 s to the bare cluster start.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench import common

BARE = """
if __name__ == "__main__":
    import logging
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers={workers}, threads_per_worker=1, processes=True,
                      host="127.0.0.1", scheduler_port=0, dashboard_address="127.0.0.1:0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster):
        pass
"""

NO_PREFECT = """
if __name__ == "__main__":
    from flows.cluster import open_cluster
    from flows.nightly import execute
    from flows.settings import load_settings
    s = load_settings({config!r}, overrides={{"input.path": {input!r}, "output.path": {output!r},
                                               "cluster.n_workers": {workers}}})
    c = s.cluster
    with open_cluster(address=None, n_workers=c.n_workers, threads_per_worker=c.threads_per_worker,
                      memory_limit=c.memory_limit, dashboard_address=c.dashboard_address,
                      host=c.host, processes=c.processes) as (client, info):
        summary = execute(s, client, info, echo=lambda m: None, progress=False)
    assert summary.status == "succeeded", summary.status
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    quick = common.quick()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=2 if quick else 4)
    p.add_argument("--cold", type=int, default=1 if quick else 2, help="cold-server rounds")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--json")
    args = p.parse_args(argv)
    print(f"machine: {common.machine_line()}", flush=True)

    from flows.runtime import stop_local_server

    home = str(common.CACHE / "prefect")
    env = {"PREFECT_HOME": home}
    os.environ.pop("PREFECT_API_URL", None)
    tiny = common.dataset(2, 200)
    config = common.write_config(common.CACHE / "overhead.yaml")
    out = common.CACHE / "out-overhead"
    wflag = ["--workers", str(args.workers)]

    def bare() -> float:
        code = BARE.format(workers=args.workers)
        return common.run_measured([common.PYTHON, "-c", code], env=env).seconds

    def no_prefect() -> float:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        code = NO_PREFECT.format(
            config=str(config), input=str(tiny), output=str(out), workers=args.workers
        )
        return common.run_measured([common.PYTHON, "-c", code], env=env).seconds

    def run(*extra: str) -> float:
        return common.barpipe_run(config, tiny, out, *wflag, *extra, env=env).seconds

    from flows.kept_cluster import stop_kept_cluster

    keep = ("--keep-alive", "600")

    print("warm-up run (numba cache, Prefect database, local server)...", flush=True)
    run()
    run(*keep)  # starts the kept cluster the "kept" rounds reuse
    times: dict[str, list[float]] = {
        "bare": [], "no_prefect": [], "reused": [], "cold": [], "kept": []
    }  # fmt: skip
    for i in range(args.repeat):
        times["bare"].append(bare())
        times["no_prefect"].append(no_prefect())
        times["reused"].append(run())
        if i < args.cold:
            stop_local_server(home)
            times["cold"].append(run())
        times["kept"].append(run(*keep))
        print(
            f"  round {i + 1}: "
            + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items() if len(v) > i),
            flush=True,
        )
    best = {k: min(v) for k, v in times.items() if v}
    lines = [
        common.table(
            ["process", "best s", "all rounds", "added to bare cluster"],
            [
                [label, f"{best[k]:.1f}", ", ".join(f"{x:.1f}" for x in times[k]), added]
                for k, label, added in (
                    ("bare", "bare LocalCluster start + stop", ""),
                    (
                        "no_prefect",
                        "barpipe flow body, no Prefect",
                        f"{best['no_prefect'] - best['bare']:+.1f}",
                    ),
                    (
                        "reused",
                        "barpipe run, reused local Prefect server",
                        f"{best['reused'] - best['bare']:+.1f}",
                    ),
                    (
                        "cold",
                        "barpipe run, cold (starts the server)",
                        f"{best['cold'] - best['bare']:+.1f}",
                    ),
                    (
                        "kept",
                        "barpipe run --keep-alive, reused server and cluster",
                        f"{best['kept'] - best['bare']:+.1f}",
                    ),
                )
            ],
        ),
        "",
        f"- tiny run (2 x 200 bars), {args.workers} workers. Prefect and barpipe add "
        f"{best['reused'] - best['bare']:.1f} s with a reused server (target <= 2 s), "
        f"{best['cold'] - best['bare']:.1f} s when the run has to start one.",
        f"- of that, barpipe's own work (imports, settings, plan, compute, publish, SQLite) is "
        f"{best['no_prefect'] - best['bare']:.1f} s and Prefect's {best['reused'] - best['no_prefect']:.1f} s "
        f"(reused) / {best['cold'] - best['no_prefect']:.1f} s (cold).",
        f"- with a kept-alive cluster as well (`--keep-alive`, warm workers), a run takes "
        f"{best['kept']:.1f} s: {best['kept'] - best['bare']:+.1f} s against starting a bare "
        "cluster.",
    ]
    stop_kept_cluster(home)
    print("\n".join(lines))
    print(f"load after: {common.load()}")
    result = {"times": times, "best": best, "markdown": "\n".join(lines)}
    common.save("overhead", result, args.json)
    return result


if __name__ == "__main__":
    main()
