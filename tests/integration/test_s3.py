"""The nightly flow with input and output on s3://, against moto's S3 server on 127.0.0.1.

The bucket is reached only through ``storage_options`` (endpoint, dummy key and secret): the
AWS_* variables are cleared, so a code path that drops the options fails instead of finding
credentials elsewhere. Dask workers are separate processes, so the options must also survive
the trip to them. Object stores have no atomic rename; what is checked is the contract of
storage.outputs for them: ``read_output`` reads only what a manifest lists, a rerun of a run
key replaces its rows, staging is removed, and files of a publish that was killed before its
manifest stay invisible until the next run removes them.

The HTML report is off here: ``flows.report.write_report`` takes no storage options yet.
A last test runs the flow on ``memory://`` with a threaded cluster (one process, one memory
filesystem).
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from compute.errors import StorageError
from flows.launch import run_nightly
from flows.nightly import RunSummary
from flows.settings import load_settings
from storage import bars, outputs

pytestmark = pytest.mark.slow

BUCKET = "barpipe-test"
INPUT = f"s3://{BUCKET}/bars"
OUTPUT = f"s3://{BUCKET}/out"
RUN_DATE = "2026-11-20"
ORPHAN_KEY = "2026-11-21"  # a key whose only publish was killed before its manifest
N_SYMBOLS, N_BARS = 6, 400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, Any]]:
    """moto's S3 server on a free 127.0.0.1 port with one bucket; the options that reach it.

    The server runs in its own process: delta-rs's ``DeltaTable.restore`` (1.6.6) blocks this
    process while it waits for S3, so a server on a thread of this process never answers it
    (measured: its GET of ``_delta_log/_last_checkpoint`` timed out after 180 s).
    """
    import subprocess
    import sys
    import time

    import boto3

    with pytest.MonkeyPatch.context() as mp:
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
        ):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 169.254.169.254 probing
        mp.setenv("AWS_CONFIG_FILE", "/dev/null")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        port = _free_port()
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            options = {
                "key": "testing",
                "secret": "testing",
                "endpoint_url": endpoint,
                "client_kwargs": {"region_name": "us-east-1"},
            }
            boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name="us-east-1",
            ).create_bucket(Bucket=BUCKET)
            yield options
        finally:
            server.terminate()
            server.wait(30)


@pytest.fixture(scope="module")
def s3fs_(s3_options):
    import fsspec

    return fsspec.filesystem("s3", **s3_options)


@pytest.fixture(scope="module")
def s3_input(s3fs_, small_dataset) -> str:
    written = bars.write_bars(bars.load_bars(str(small_dataset)), INPUT, filesystem=s3fs_)
    assert len(written) == N_SYMBOLS
    return INPUT


def _settings(s3_options, db_path: Path, **extra):
    overrides = {
        "input.path": INPUT,
        "input.storage_options": s3_options,
        "output.path": OUTPUT,
        "output.storage_options": s3_options,
        "output.db_path": str(db_path),
        "run.run_date": RUN_DATE,
        "cluster.n_workers": 1,
        "cluster.threads_per_worker": 2,
        "cluster.memory_limit": "2GB",
        "cluster.dashboard_address": "127.0.0.1:0",
        "strategies": [{"name": "momentum"}, {"name": "zscore"}],
        "indicators": [],
        "metrics.annualization": 252,
    }
    overrides.update(extra)
    return load_settings(None, overrides=overrides)


def _files(fs, path: str) -> list[str]:
    fs.invalidate_cache()
    return sorted(p.split("/", 1)[1] for p in fs.find(path))


@dataclass
class Runs:
    first: RunSummary
    second: RunSummary
    db: Path
    after_first: pa.Table  # trades read_output saw after the first run
    with_orphan: pa.Table  # ... with the data file of a killed commit in the table's folder
    plain_rows_with_orphan: int  # what a plain pyarrow dataset of the folder counted then
    second_messages: list[str]
    files_after_first: list[str]
    files_after_second: list[str]


def _kill_a_publish(fs, s3_options, trades: pa.Table, db: Path) -> None:
    """Leave what killed publishes leave: a data file that no commit lists (killed before
    its commit), and a committed Delta version that barpipe.db does not record (killed
    between its Delta and SQLite commits)."""
    from storage import delta

    fake = trades.set_column(
        trades.schema.get_field_index("run_id"),
        "run_id",
        pa.array(["killed-run"] * trades.num_rows, pa.string()),
    )
    pq.write_table(
        fake, f"{BUCKET}/out/trades/part-00000-killed-run-c000.zstd.parquet", filesystem=fs
    )
    with sqlite3.connect(db) as conn:
        recorded = conn.execute(
            "SELECT version FROM table_versions WHERE table_name = 'trades'"
        ).fetchone()[0]
    assert delta.version(OUTPUT, "trades", fs) == recorded
    delta.append(OUTPUT, "signals", _signals_commit(fs), fs, "killed-run")


def _signals_commit(fs) -> pa.Table:
    current = outputs.read_output(OUTPUT, "signals", fs)
    return current.set_column(
        current.schema.get_field_index("run_id"),
        "run_id",
        pa.array(["killed-run"] * current.num_rows, pa.string()),
    )


@pytest.fixture(scope="module")
def runs(prefect_harness, s3_options, s3fs_, s3_input, tmp_path_factory) -> Runs:
    db = tmp_path_factory.mktemp("s3-db") / "barpipe.db"
    settings = _settings(s3_options, db)
    first = run_nightly(settings, echo=lambda _m: None, progress=False)
    files_after_first = _files(s3fs_, OUTPUT)
    after_first = outputs.read_output(OUTPUT, "trades", s3fs_)
    _kill_a_publish(s3fs_, s3_options, after_first, db)
    with_orphan = outputs.read_output(OUTPUT, "trades", s3fs_)
    plain = ds.dataset(f"{BUCKET}/out/trades", filesystem=s3fs_, format="parquet").count_rows()
    messages: list[str] = []
    second = run_nightly(settings, echo=messages.append, progress=False)
    return Runs(
        first,
        second,
        db,
        after_first,
        with_orphan,
        plain,
        messages,
        files_after_first,
        _files(s3fs_, OUTPUT),
    )


def test_input_dataset_reads_back_from_s3(s3fs_, s3_input, small_dataset) -> None:
    remote = bars.load_bars(s3_input, filesystem=s3fs_, sort_timestamps=True)
    local = bars.load_bars(str(small_dataset), sort_timestamps=True)
    assert remote.num_rows == N_SYMBOLS * N_BARS
    assert remote.equals(local.select(remote.column_names))


def test_runs_succeed_on_s3(runs: Runs) -> None:
    for summary in (runs.first, runs.second):
        assert summary.status == "succeeded"
        assert (summary.n_symbols, summary.n_bars) == (N_SYMBOLS, N_SYMBOLS * N_BARS)
    assert runs.first.n_trades > 0
    assert runs.second.n_trades == 0  # the same night again: no new trade


def test_published_tables_are_delta_tables_on_s3(runs: Runs, s3fs_) -> None:
    first = runs.first
    trades = runs.after_first
    assert trades.num_rows == first.n_trades
    assert set(trades["run_id"].to_pylist()) == {first.run_id}
    for table in ("trades", "metrics", "equity", "signals"):
        assert f"out/{table}/_delta_log/00000000000000000000.json" in runs.files_after_first
    metrics = outputs.read_output(OUTPUT, "metrics", s3fs_, run_keys=[RUN_DATE])
    assert metrics.num_rows == N_SYMBOLS * 2


def test_rerun_of_the_same_night_changes_nothing(runs: Runs, s3fs_) -> None:
    trades = outputs.read_output(OUTPUT, "trades", s3fs_)
    assert set(trades["run_id"].to_pylist()) == {runs.first.run_id}
    assert trades.num_rows == runs.first.n_trades
    assert runs.second.night.unchanged
    assert not runs.second.night.extended
    keys = pc.binary_join_element_wise(
        trades["symbol"], trades["strategy"], pc.cast(trades["entry_time"], pa.string()), "|"
    )
    assert pc.count_distinct(keys).as_py() == trades.num_rows  # no row twice
    with sqlite3.connect(runs.db) as conn:
        statuses = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
        ids = {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM trades")}
        n_trades = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
    assert statuses == {runs.first.run_id: "succeeded", runs.second.run_id: "succeeded"}
    assert ids == {runs.first.run_id}
    assert n_trades == trades.num_rows


def test_staging_is_removed_after_each_run(runs: Runs) -> None:
    for files in (runs.files_after_first, runs.files_after_second):
        assert [f for f in files if f.startswith(f"out/{outputs.STAGING}/")] == []


def test_files_of_a_killed_publish_are_invisible(runs: Runs) -> None:
    # a plain reader of the folder sees the uncommitted file ...
    assert runs.plain_rows_with_orphan == 2 * runs.after_first.num_rows
    # ... but read_output (the Delta log) saw exactly what the first run committed
    assert runs.with_orphan.equals(runs.after_first)


def test_next_run_rolls_back_a_commit_the_database_does_not_record(runs: Runs, s3fs_) -> None:
    assert any(m.startswith("recovered outputs: rolled signals back") for m in runs.second_messages)
    signals = outputs.read_output(OUTPUT, "signals", s3fs_)
    assert "killed-run" not in set(signals["run_id"].to_pylist())
    assert signals.num_rows == N_SYMBOLS * 2


def test_prometheus_file_is_written_to_s3(runs: Runs, s3fs_) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = s3fs_.cat(f"{OUTPUT}/barpipe.prom").decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["barpipe_bars_processed"].samples[0].value == N_SYMBOLS * N_BARS


def test_report_is_written_to_s3_with_the_output_credentials(runs: Runs, s3fs_) -> None:
    report = runs.second.outputs["report"]
    assert report == f"{OUTPUT}/reports/{runs.second.run_id}.html"
    assert b"<html" in s3fs_.cat(report)[:400].lower()


def test_memory_url_round_trip(prefect_harness, small_dataset, tmp_path) -> None:
    import logging

    import fsspec
    from distributed import LocalCluster

    root = f"memory://barpipe-{tmp_path.name}"
    bars.write_bars(bars.load_bars(str(small_dataset)), f"{root}/bars")
    # memory:// lives in one process, so the workers are threads of this one; the cluster is
    # started here because `cluster.processes: false` cannot start one yet (flows/cluster.py
    # passes host= without protocol=, and Dask then picks inproc:// and fails)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster:
        settings = load_settings(
            None,
            overrides={
                "input.path": f"{root}/bars",
                # Delta tables cannot live in fsspec's memory://: the output is local
                "output.path": str(tmp_path / "out"),
                "run.run_date": RUN_DATE,
                "run.report": False,
                "cluster.address": cluster.scheduler_address,
                "strategies": [{"name": "momentum"}],
                "indicators": [],
            },
        )
        try:
            summary = run_nightly(settings, echo=lambda _m: None, progress=False)
            assert summary.status == "succeeded"
            trades = outputs.read_output(str(tmp_path / "out"), "trades", run_keys=[RUN_DATE])
            assert trades.num_rows == summary.n_trades > 0
            assert set(trades["run_id"].to_pylist()) == {summary.run_id}
            assert outputs.list_staged_runs(str(tmp_path / "out")) == []
            with pytest.raises(StorageError, match=r"memory://.*local path, file://, s3://"):
                outputs.read_output(f"{root}/out", "trades")
        finally:
            fsspec.filesystem("memory").rm(root, recursive=True)


@pytest.fixture
def isolated_cluster(tmp_path) -> Iterator[str]:
    """``dask scheduler`` + one ``dask worker`` on 127.0.0.1, the worker started in its own
    working directory with its own TMPDIR, numba cache and Dask local directory: it shares
    nothing with this process but the object store (and the scheduler's address)."""
    import json
    import os
    import subprocess
    import sys
    import time

    bin_dir = Path(sys.executable).parent
    scheduler_file = tmp_path / "scheduler.json"
    worker_home = tmp_path / "worker-home"
    for sub in ("tmp", "numba", "dask"):
        (worker_home / sub).mkdir(parents=True)
    base_env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "TMPDIR")}
    worker_env = {
        **base_env,
        "TMPDIR": str(worker_home / "tmp"),
        "NUMBA_CACHE_DIR": str(worker_home / "numba"),
        "PYTHONUNBUFFERED": "1",
    }
    log = (tmp_path / "cluster.log").open("w")
    processes = [
        subprocess.Popen(
            [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)],
            env=base_env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not scheduler_file.exists():
            assert processes[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)
        processes.append(
            subprocess.Popen(
                [str(bin_dir / "dask"), "worker", "--scheduler-file", str(scheduler_file),
                 "--nthreads", "1", "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
                 "--memory-limit", "2GB", "--local-directory", str(worker_home / "dask")],
                env=worker_env, stdout=log, stderr=subprocess.STDOUT, cwd=worker_home,
            )
        )  # fmt: skip
        address = json.loads(scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
            seen = client.run(lambda: (os.getcwd(), os.environ.get("NUMBA_CACHE_DIR")))
        assert list(seen.values()) == [(str(worker_home), str(worker_home / "numba"))]
        yield address, worker_home
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def test_run_on_an_external_scheduler_whose_workers_share_only_the_object_store(
    prefect_harness, runs: Runs, s3_options, s3fs_, isolated_cluster, tmp_path
) -> None:
    address, worker_home = isolated_cluster
    output = f"s3://{BUCKET}/out-external"
    settings = _settings(
        s3_options,
        tmp_path / "barpipe.db",
        **{"output.path": output, "cluster.address": address, "run.report": False},
    )
    summary = run_nightly(settings, echo=lambda _m: None, progress=False)
    assert summary.status == "succeeded"
    assert len(summary.peak_rss) == 1  # every batch ran on the isolated worker
    assert any((worker_home / "numba").rglob("*.nbi"))  # it compiled into its own cache
    for table in ("trades", "metrics", "equity", "signals"):
        got = outputs.read_output(output, table, s3fs_).drop_columns(["run_id", "run_key"])
        want = outputs.read_output(OUTPUT, table, s3fs_).drop_columns(["run_id", "run_key"])
        keys = [
            c for c in ("symbol", "strategy", "entry_time", "timestamp") if c in got.column_names
        ]
        order = [(k, "ascending") for k in keys]
        assert got.sort_by(order).to_pandas().equals(want.sort_by(order).to_pandas()), table


def test_a_nights_predicate_overwrite_is_one_commit_on_s3(s3fs_) -> None:
    """A night's change to a continuous table (its open trade out, its new rows in) is one
    predicate-overwrite commit, which delta-rs makes on S3 as on a local disk."""
    from storage import delta

    root = f"s3://{BUCKET}/one-commit"
    ts = pa.timestamp("us", tz="UTC")
    first = pa.table(
        {
            "symbol": ["A", "A", "B"],
            "exit_time": pa.array([1, 2, 2], pa.int64()).cast(ts),
            "exit_reason": ["signal", "open", "open"],
        }
    )
    v0 = delta.append(root, "trades", first, s3fs_, "r1")
    night = pa.table(
        {
            "symbol": ["A", "A"],
            "exit_time": pa.array([3, 4], pa.int64()).cast(ts),
            "exit_reason": ["signal", "open"],
        }
    )
    predicate = f"symbol IN ('A') AND ({delta.sql_after('exit_time', 2)} OR exit_reason = 'open')"
    assert delta.overwrite(root, "trades", night, s3fs_, "r2", predicate=predicate) == v0 + 1
    got = delta.read(root, "trades", s3fs_).sort_by(
        [("symbol", "ascending"), ("exit_time", "ascending")]
    )
    assert got["exit_time"].cast(pa.int64()).to_pylist() == [1, 3, 4, 2]
    assert got["exit_reason"].to_pylist() == ["signal", "signal", "open", "open"]
