"""storage.outputs: staging overwrites itself, publish is atomic and idempotent, readers see committed rows only."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from compute.errors import StorageError
from storage import schemas
from storage.outputs import (
    MANIFEST,
    list_staged_runs,
    publish_parquet,
    read_output,
    recover_outputs,
    remove_staging,
    write_equity,
    write_metrics,
    write_staged,
    write_trades,
)


def equity(run_id: str, symbols: list[str], n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    k = len(symbols) * n
    ts = np.tile(np.arange(n, dtype=np.int64) * 60_000_000, len(symbols))
    return pa.table(
        {
            "run_id": pa.array([run_id] * k, pa.string()),
            "symbol": pa.array(np.repeat(symbols, n).tolist(), pa.string()),
            "strategy": pa.array(["sma_cross"] * k, pa.string()),
            "timestamp": pa.array(ts).view(schemas.TIMESTAMP),
            "equity": rng.random(k),
        }
    )


def trades(run_id: str, symbols: list[str]) -> pa.Table:
    rows = [
        {name: None for name in schemas.TRADES.names}
        | {
            "run_id": run_id,
            "symbol": s,
            "strategy": "z",
            "side": "long",
            "net_pnl": 1.5,
            "bars_held": 3,
        }
        for s in symbols
    ]
    return pa.Table.from_pylist(rows, schema=schemas.TRADES)


def stage_run(root, run_id: str, symbols_per_batch: list[list[str]], n: int = 100) -> None:
    for batch, symbols in enumerate(symbols_per_batch):
        write_equity(equity(run_id, symbols, n, seed=batch), root, run_id, batch)
        write_trades(trades(run_id, symbols), root, run_id, batch)


def test_staged_file_names_are_deterministic_and_a_rerun_overwrites(tmp_path):
    first = write_equity(equity("r1", ["A"], 10, seed=1), tmp_path, "r1", 3)
    again = write_equity(equity("r1", ["A"], 7, seed=2), tmp_path, "r1", 3)
    assert first == again == [f"{tmp_path}/_staging/r1/equity/part-00003-00000.parquet"]
    assert pq.read_table(first[0]).num_rows == 7
    assert sorted(os.listdir(tmp_path / "_staging" / "r1" / "equity")) == [
        "part-00003-00000.parquet"
    ]
    assert list_staged_runs(tmp_path) == ["r1"]
    remove_staging(tmp_path, "r1")
    assert list_staged_runs(tmp_path) == []


def test_staging_casts_to_the_schema_and_sorts(tmp_path):
    data = equity("r1", ["B", "A"], 3).append_column("extra", pa.array(range(6)))
    path = write_staged(data, tmp_path, "r1", "equity", 0)
    table = pq.read_table(path)
    assert table.schema == schemas.EQUITY
    assert table["symbol"].to_pylist() == ["A"] * 3 + ["B"] * 3


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (
            lambda root: write_staged(equity("r", ["A"], 1), root, "r", "positions", 0),
            "unknown output table",
        ),
        (
            lambda root: write_staged(equity("r", ["A"], 1), root, "../up", "equity", 0),
            "run_id '../up'",
        ),
        (lambda root: write_metrics(equity("r", ["A"], 1), root, "r", 0), "lack column"),
        (lambda root: publish_parquet(root, "r", "", ["equity"]), "run_key"),
    ],
)
def test_bad_arguments_are_storage_errors(tmp_path, call, pattern):
    with pytest.raises(StorageError, match=pattern):
        call(tmp_path)


def test_publish_makes_the_partition_with_a_manifest(tmp_path):
    stage_run(tmp_path, "r1", [["A", "B"], ["C"]])
    published = publish_parquet(tmp_path, "r1", "2024-01-02", ["equity", "trades"])
    part = tmp_path / "equity" / "run_key=2024-01-02"
    assert published["equity"].partition == str(part)
    assert published["equity"].n_rows == 300
    assert sorted(os.listdir(part)) == [MANIFEST, "part-00000.parquet"]
    manifest = json.loads((part / MANIFEST).read_text())
    assert (manifest["run_id"], manifest["n_rows"], manifest["files"][0]["name"]) == (
        "r1",
        300,
        "part-00000.parquet",
    )
    plain = ds.dataset(tmp_path / "equity", partitioning="hive").to_table()
    assert plain.num_rows == 300
    assert plain["symbol"].to_pylist() == ["A"] * 100 + ["B"] * 100 + ["C"] * 100
    assert [e for e in os.listdir(tmp_path / "equity") if e.startswith(".")] == []


def test_publish_twice_and_a_rerun_of_the_key_replace_never_duplicate(tmp_path):
    stage_run(tmp_path, "r1", [["A", "B"]])
    publish_parquet(tmp_path, "r1", "k1", ["equity", "trades"])
    publish_parquet(tmp_path, "r1", "k1", ["equity", "trades"])
    assert read_output(tmp_path, "equity").num_rows == 200
    stage_run(tmp_path, "r2", [["A"]])
    publish_parquet(tmp_path, "r2", "k1", ["equity", "trades"])
    stage_run(tmp_path, "r3", [["Z"]])
    publish_parquet(tmp_path, "r3", "k2", ["equity", "trades"])
    got = read_output(tmp_path, "trades")
    assert sorted(
        zip(
            got["run_key"].to_pylist(),
            got["run_id"].to_pylist(),
            got["symbol"].to_pylist(),
            strict=True,
        )
    ) == [
        ("k1", "r2", "A"),
        ("k2", "r3", "Z"),
    ]
    assert read_output(tmp_path, "equity", run_keys=["k1"])["run_id"].unique().to_pylist() == ["r2"]


def test_a_table_with_nothing_staged_publishes_empty_and_clears_the_key(tmp_path):
    stage_run(tmp_path, "r1", [["A"]])
    publish_parquet(tmp_path, "r1", "k", ["trades"])
    publish_parquet(tmp_path, "r2", "k", ["trades"])  # r2 staged nothing
    got = read_output(tmp_path, "trades")
    assert got.num_rows == 0
    assert got.schema.names == [*schemas.TRADES.names, "run_key"]


def test_large_tables_are_split_near_the_target_size(tmp_path):
    stage_run(tmp_path, "r1", [[f"S{i}" for i in range(20)]], n=5_000)
    published = publish_parquet(tmp_path, "r1", "k", ["equity"], target_file_mib=0.25)
    sizes = [os.path.getsize(f) for f in published["equity"].files]
    assert len(sizes) > 2
    assert all(s >= 0.25 * 2**20 for s in sizes[:-1])
    assert read_output(tmp_path, "equity").num_rows == 100_000


def test_published_rows_do_not_depend_on_how_symbols_were_batched(tmp_path):
    symbols = [f"S{i}" for i in range(6)]
    whole = equity("r", symbols, 3000)
    published = {}
    for root, batches in (
        (tmp_path / "one", [symbols]),
        (tmp_path / "three", [symbols[:1], symbols[1:4], symbols[4:]]),
    ):
        for b, group in enumerate(batches):
            write_equity(whole.filter(pc.is_in(whole["symbol"], pa.array(group))), root, "r", b)
        published[root] = publish_parquet(root, "r", "k", ["equity"], target_file_mib=0.1)
        got = pa.concat_tables(pq.read_table(f) for f in published[root]["equity"].files)
        assert got.equals(whole), root  # same rows in the same order, file after file


def test_a_large_batch_is_staged_in_pieces_of_the_target_size(tmp_path):
    data = equity("r", [f"S{i:02d}" for i in range(20)], 5_000)
    paths = write_staged(data, tmp_path, "r", "equity", 7, target_file_mib=0.25)
    names = [Path(p).name for p in paths]
    assert names == [f"part-00007-{i:05d}.parquet" for i in range(len(names))]
    assert len(names) > 2
    sizes = [os.path.getsize(p) for p in paths]
    assert all(s >= 0.25 * 2**20 for s in sizes[:-1])
    assert pa.concat_tables(pq.read_table(p) for p in paths).equals(data)
    # a smaller rerun of the same batch leaves none of the earlier pieces behind
    again = write_staged(data.slice(0, 10), tmp_path, "r", "equity", 7, target_file_mib=0.25)
    assert sorted(os.listdir(tmp_path / "_staging" / "r" / "equity")) == [Path(again[0]).name]


def test_pieces_near_the_target_are_published_without_rewriting(tmp_path):
    data = equity("r", [f"S{i:02d}" for i in range(20)], 5_000)
    staged = write_staged(data, tmp_path, "r", "equity", 0, target_file_mib=0.25)
    write_staged(equity("r", ["ZZ"], 10), tmp_path, "r", "equity", 1)  # a small batch
    published = publish_parquet(tmp_path, "r", "k", ["equity"], target_file_mib=0.25)
    files = published["equity"].files
    # pieces within [0.5, 1.5] x the target are the staged files themselves (hard links);
    # smaller ones (a batch's tail, a small batch) are merged into a new file
    target = 0.25 * 2**20
    linked = [any(os.path.samefile(p, f) for f in files) for p in staged]
    assert linked == [0.5 * target <= os.path.getsize(p) <= 1.5 * target for p in staged]
    assert sum(linked) >= 2
    assert len(files) == sum(linked) + 1
    got = read_output(tmp_path, "equity")
    assert got.num_rows == data.num_rows + 10
    assert got.drop_columns(["run_key"]).slice(0, data.num_rows).equals(data)
    remove_staging(tmp_path, "r")  # the published files outlive the staged names
    assert read_output(tmp_path, "equity").num_rows == data.num_rows + 10


def test_a_staged_file_in_another_schema_is_rewritten_not_linked(tmp_path):
    data = equity("r", [f"S{i:02d}" for i in range(20)], 5_000)
    directory = tmp_path / "_staging" / "r" / "equity"
    directory.mkdir(parents=True)
    # written by an older barpipe: equity as float32
    pq.write_table(
        data.set_column(4, "equity", data["equity"].cast(pa.float32())),
        directory / "part-00000-00000.parquet",
    )
    published = publish_parquet(tmp_path, "r", "k", ["equity"], target_file_mib=0.05)
    assert not any(
        os.path.samefile(directory / "part-00000-00000.parquet", f)
        for f in published["equity"].files
    )
    assert read_output(tmp_path, "equity").schema.field("equity").type == pa.float64()


def test_readers_never_see_an_uncommitted_partition(tmp_path):
    stage_run(tmp_path, "r1", [["A"]])
    publish_parquet(tmp_path, "r1", "k", ["equity"])
    half = tmp_path / "equity" / "run_key=other"  # a writer died before the manifest
    half.mkdir()
    pq.write_table(equity("rX", ["Q"], 5), half / "part-00000.parquet")
    assert read_output(tmp_path, "equity")["run_id"].unique().to_pylist() == ["r1"]


def test_recover_restores_a_partition_moved_aside_by_a_killed_publish(tmp_path):
    stage_run(tmp_path, "r1", [["A"]])
    publish_parquet(tmp_path, "r1", "k", ["equity"])
    table_dir = tmp_path / "equity"
    # the fallback swap was killed between its two renames, and a build was left half done
    os.rename(table_dir / "run_key=k", table_dir / ".old-run_key=k+r2")
    (table_dir / ".tmp-run_key=k+r3").mkdir()
    assert read_output(tmp_path, "equity").num_rows == 0
    actions = recover_outputs(tmp_path)
    assert len(actions) == 2
    assert read_output(tmp_path, "equity")["run_id"].unique().to_pylist() == ["r1"]
    assert sorted(os.listdir(table_dir)) == ["run_key=k"]
    assert recover_outputs(tmp_path) == []


def test_object_store_publish_commits_by_manifest():
    root = f"memory://barpipe-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    try:
        stage_run(root, "r1", [["A", "B"]])
        publish_parquet(root, "r1", "k", ["equity"])
        stage_run(root, "r2", [["C"]])
        published = publish_parquet(root, "r2", "k", ["equity"])
        partition = published["equity"].partition
        names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(partition, detail=False))
        assert names[0] == MANIFEST
        assert all(n.startswith("part-r2-") for n in names[1:])
        got = read_output(root, "equity")
        assert (got.num_rows, got["run_id"].unique().to_pylist()) == (100, ["r2"])
        # a data file of a publish that died before its manifest is invisible, then cleaned up
        with fs.open(f"{partition}/part-r3-dead-00000.parquet", "wb") as handle:
            pq.write_table(equity("r3", ["D"], 5), handle)
        assert read_output(root, "equity")["run_id"].unique().to_pylist() == ["r2"]
        assert len(recover_outputs(root)) == 1
    finally:
        fs.rm(root.removeprefix("memory://"), recursive=True)


def test_a_corrupt_staged_file_is_named(tmp_path):
    stage_run(tmp_path, "r1", [["A"]])
    bad = tmp_path / "_staging" / "r1" / "equity" / "part-00001.parquet"
    bad.write_bytes(b"PAR1 truncated by a dying worker")
    with pytest.raises(StorageError, match=r"cannot read staged file .*part-00001\.parquet"):
        publish_parquet(tmp_path, "r1", "k", ["equity"])
    assert read_output(tmp_path, "equity").num_rows == 0  # nothing was committed
    assert os.listdir(tmp_path / "equity") == []  # and nothing was left behind
