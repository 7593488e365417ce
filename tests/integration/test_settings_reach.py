"""Settings that must reach their use: the planner's threads per worker, the workers' file size.

Both were once copied field by field from the settings and forgotten on the way
(``cluster.threads_per_worker`` never reached ``planner.plan_batches``; ``output.target_file_mib``
never reached the workers' ``BatchJob``). These tests go through ``plan_run``, the one place
that builds both from the settings.
"""

from __future__ import annotations

import pyarrow.dataset as ds

from compute import planner
from flows.cluster import ClusterInfo
from flows.nightly import plan_run
from flows.tasks import process_batch
from storage import outputs
from tests.integration.conftest import flow_settings, make_dataset, write_run_config

GIB = 2**30
MIB = 2**20


def _info(n_workers: int, threads_per_worker: int, memory: int) -> ClusterInfo:
    return ClusterInfo(
        address="inproc://test",
        dashboard=None,
        n_workers=n_workers,
        n_threads=n_workers * threads_per_worker,
        worker_memory=memory,
        local=True,
    )


def test_threads_per_worker_share_the_batch_cap(tmp_path):
    # 4 GiB workers running 4 threads: (0.8 x 4096 - 320 MiB) / (4 threads x 2 for the
    # allocator's retention) = 369.6 MiB per batch, below 0.25 x 4 GiB = 1024 MiB.
    settings = flow_settings(
        write_run_config(tmp_path / "run.yaml"),
        make_dataset(tmp_path / "bars", n_symbols=2, n_bars=100),
        tmp_path / "out",
        **{"cluster.threads_per_worker": 4, "cluster.memory_limit": "4GiB"},
    )
    plan, jobs, _ = plan_run(settings, _info(2, settings.cluster.threads_per_worker, 4 * GIB), "r")
    expected = planner.batch_cap(4 * GIB, threads_per_worker=4)
    assert 369 * MIB < expected < 370 * MIB
    assert plan.cap_bytes == expected, f"cap {plan.cap_bytes / MIB:.0f} MiB, not ~369 MiB"
    assert jobs


def test_target_file_mib_reaches_the_workers_staged_files(tmp_path):
    # One batch of 6 symbols x 20,000 bars x 4 strategies of equity is ~5 MiB of Parquet: at
    # 1 MiB per file the worker must cut it into several files, not one file of 128 MiB.
    settings = flow_settings(
        write_run_config(tmp_path / "run.yaml"),
        make_dataset(tmp_path / "bars", n_symbols=6, n_bars=20_000),
        tmp_path / "out",
        **{"output.target_file_mib": 1, "batches.min_batches_per_thread": 1},
    )
    _, jobs, _ = plan_run(settings, _info(1, 1, 4 * GIB), "r1")
    assert len(jobs) == 1
    for job in jobs:
        result = process_batch(job)
        assert "error" not in result, result
    staged = outputs.staging_dir(str(tmp_path / "out"), "r1")
    files = ds.dataset(f"{staged}/equity", format="parquet").files
    sizes = [ds.dataset(f, format="parquet").count_rows() for f in files]
    assert sum(sizes) == 6 * 20_000 * 4
    assert len(files) >= 3, f"{len(files)} staged equity file(s): target_file_mib ignored"
