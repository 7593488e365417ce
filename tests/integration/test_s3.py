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
    """moto's S3 server on a free 127.0.0.1 port with one bucket; the options that reach it."""
    import boto3
    from moto.server import ThreadedMotoServer

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
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
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
            server.stop()


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
    with_orphans: pa.Table  # ... with a killed publish's files in place
    plain_rows_with_orphans: int  # what a plain pyarrow dataset of the prefix counted then
    orphans: list[str]
    files_after_first: list[str]
    files_after_second: list[str]


def _kill_a_publish(fs, trades: pa.Table) -> list[str]:
    """Leave what a publish killed before its manifest leaves: data files, no manifest."""
    fake = trades.drop_columns(["run_key"])
    fake = fake.set_column(
        fake.schema.get_field_index("run_id"),
        "run_id",
        pa.array(["killed-run"] * fake.num_rows, pa.string()),
    )
    orphans = [
        f"{OUTPUT}/trades/run_key={RUN_DATE}/part-killed-run-0123abcd-00000.parquet",
        f"{OUTPUT}/trades/run_key={ORPHAN_KEY}/part-killed-run-0123abcd-00000.parquet",
    ]
    for path in orphans:
        pq.write_table(fake, path.removeprefix("s3://"), filesystem=fs)
    return orphans


@pytest.fixture(scope="module")
def runs(prefect_harness, s3_options, s3fs_, s3_input, tmp_path_factory) -> Runs:
    db = tmp_path_factory.mktemp("s3-db") / "barpipe.db"
    settings = _settings(s3_options, db)
    first = run_nightly(settings, echo=lambda _m: None, progress=False)
    files_after_first = _files(s3fs_, OUTPUT)
    after_first = outputs.read_output(OUTPUT, "trades", s3fs_)
    orphans = _kill_a_publish(s3fs_, after_first)
    with_orphans = outputs.read_output(OUTPUT, "trades", s3fs_)
    plain = ds.dataset(
        f"{BUCKET}/out/trades", filesystem=s3fs_, format="parquet", partitioning="hive"
    ).count_rows()
    second = run_nightly(settings, echo=lambda _m: None, progress=False)
    return Runs(
        first,
        second,
        db,
        after_first,
        with_orphans,
        plain,
        orphans,
        files_after_first,
        _files(s3fs_, OUTPUT),
    )


def _manifest(fs, table: str, key: str) -> dict[str, Any]:
    import json

    with fs.open(f"{OUTPUT}/{table}/run_key={key}/_manifest.json") as handle:
        return json.load(handle)


def test_input_dataset_reads_back_from_s3(s3fs_, s3_input, small_dataset) -> None:
    remote = bars.load_bars(s3_input, filesystem=s3fs_, sort_timestamps=True)
    local = bars.load_bars(str(small_dataset), sort_timestamps=True)
    assert remote.num_rows == N_SYMBOLS * N_BARS
    assert remote.equals(local.select(remote.column_names))


def test_runs_succeed_on_s3(runs: Runs) -> None:
    for summary in (runs.first, runs.second):
        assert summary.status == "succeeded"
        assert (summary.n_symbols, summary.n_bars) == (N_SYMBOLS, N_SYMBOLS * N_BARS)
        assert summary.n_trades > 0


def test_published_tables_are_read_through_their_manifests(runs: Runs, s3fs_) -> None:
    first = runs.first
    trades = runs.after_first
    assert trades.num_rows == first.n_trades
    assert set(trades["run_id"].to_pylist()) == {first.run_id}
    for table in ("trades", "metrics", "equity"):
        manifest = _manifest(s3fs_, table, RUN_DATE)
        assert manifest["run_id"] == runs.second.run_id  # the rerun's manifest, now
        listed = {f"out/{table}/run_key={RUN_DATE}/{f['name']}" for f in manifest["files"]}
        present = {
            p for p in runs.files_after_second if p.startswith(f"out/{table}/run_key={RUN_DATE}/")
        }
        assert present == listed | {f"out/{table}/run_key={RUN_DATE}/_manifest.json"}
    metrics = outputs.read_output(OUTPUT, "metrics", s3fs_, run_keys=[RUN_DATE])
    assert metrics.num_rows == N_SYMBOLS * 2


def test_rerun_of_the_same_key_replaces_its_rows(runs: Runs, s3fs_) -> None:
    trades = outputs.read_output(OUTPUT, "trades", s3fs_)
    assert set(trades["run_id"].to_pylist()) == {runs.second.run_id}
    assert trades.num_rows == runs.second.n_trades == runs.first.n_trades
    keys = pc.binary_join_element_wise(
        trades["symbol"], trades["strategy"], pc.cast(trades["entry_time"], pa.string()), "|"
    )
    assert pc.count_distinct(keys).as_py() == trades.num_rows  # no row twice
    with sqlite3.connect(runs.db) as conn:
        statuses = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
        ids = {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM trades")}
        n_trades = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
    assert statuses == {runs.first.run_id: "succeeded", runs.second.run_id: "succeeded"}
    assert ids == {runs.second.run_id}
    assert n_trades == trades.num_rows


def test_staging_is_removed_after_each_run(runs: Runs) -> None:
    for files in (runs.files_after_first, runs.files_after_second):
        assert [f for f in files if f.startswith(f"out/{outputs.STAGING}/")] == []


def test_files_of_a_killed_publish_are_invisible(runs: Runs, s3fs_) -> None:
    # a plain reader of the prefix sees them ...
    assert runs.plain_rows_with_orphans == 3 * runs.after_first.num_rows
    # ... but read_output saw exactly what the first run committed
    assert runs.with_orphans.equals(runs.after_first)
    assert "killed-run" not in set(runs.with_orphans["run_id"].to_pylist())


def test_next_run_removes_the_killed_publish(runs: Runs) -> None:
    leftovers = [f for f in runs.files_after_second if "killed-run" in f]
    assert leftovers == []
    assert not any(f"run_key={ORPHAN_KEY}/" in f for f in runs.files_after_second)


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
                "output.path": f"{root}/out",
                "output.db_path": str(tmp_path / "barpipe.db"),
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
            trades = outputs.read_output(f"{root}/out", "trades", run_keys=[RUN_DATE])
            assert trades.num_rows == summary.n_trades > 0
            assert set(trades["run_id"].to_pylist()) == {summary.run_id}
            memory = fsspec.filesystem("memory")
            assert memory.find(f"{root}/out/{outputs.STAGING}") == []  # (an empty folder may stay)
            assert not memory.exists(f"{root}/out/{outputs.STAGING}/{summary.run_id}")
        finally:
            fsspec.filesystem("memory").rm(root, recursive=True)
