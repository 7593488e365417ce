"""storage.prom: the text file parses back with prometheus_client and is written atomically."""

from __future__ import annotations

import datetime as dt
import math
import os
import uuid

import fsspec
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from compute.errors import StorageError
from storage import fs as storage_fs
from storage.prom import build_run_metrics, format_textfile, write_textfile

RUN = {
    "run_id": "20261123T020000Z-abcd1234",
    "status": "succeeded",
    "n_bars": np.int64(1_250_000),
    "n_symbols": 500,
    "started_at": "2026-11-23T02:00:00.000000Z",
    "finished_at": "2026-11-23T02:01:30.250000Z",
}
STAGES = {"load": 3.5, "validate": 0.25, "kernels": 12.0, "publish": 1.0}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from Prometheus text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def families(text: str) -> dict[str, tuple[str, str]]:
    return {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(text)}


def test_run_metrics_parse_back_with_every_figure():
    text = format_textfile(build_run_metrics(RUN, STAGES, {"long": 40, "short": 2}, 3, 1.8e9))
    got = samples(text)
    assert got[("barpipe_run_duration_seconds", ())] == 90.25
    assert got[("barpipe_bars_processed_total", ())] == 1_250_000
    assert got[("barpipe_symbols_processed_total", ())] == 500
    assert got[("barpipe_trades_total", (("side", "long"),))] == 40
    assert got[("barpipe_trades_total", (("side", "short"),))] == 2
    assert got[("barpipe_quarantined_symbols", ())] == 3
    assert {k[1][0][1]: v for k, v in got.items() if k[0] == "barpipe_stage_seconds"} == STAGES
    assert got[("barpipe_last_success_timestamp_seconds", ())] == 1.8e9
    status = {k[1][0][1]: v for k, v in got.items() if k[0] == "barpipe_run_status"}
    assert status == {"running": 0, "succeeded": 1, "failed": 0, "abandoned": 0}


def test_run_metric_types_and_help_lines():
    text = format_textfile(build_run_metrics(RUN, STAGES, {}, 0, None))
    kinds = families(text)
    # prometheus_client names a counter family without its _total suffix
    assert kinds["barpipe_bars_processed"][0] == "counter"
    assert kinds["barpipe_trades"][0] == "counter"
    assert kinds["barpipe_run_duration_seconds"][0] == "gauge"
    assert kinds["barpipe_stage_seconds"][0] == "gauge"
    assert all(help_text for _, help_text in kinds.values())
    assert "barpipe_last_success_timestamp_seconds" not in kinds
    assert text.count("# HELP barpipe_trades_total ") == 1
    assert text.count("# TYPE barpipe_trades_total counter") == 1
    assert text.endswith("\n")


def test_duration_from_wall_seconds_or_left_out():
    running = {
        "status": "running",
        "n_bars": 0,
        "n_symbols": 0,
        "started_at": dt.datetime.now(dt.UTC),
    }
    assert "barpipe_run_duration_seconds" not in format_textfile(
        build_run_metrics(running, {}, {}, 0, None)
    )
    got = samples(
        format_textfile(build_run_metrics({**running, "wall_seconds": 4.5}, {}, {}, 0, None))
    )
    assert got[("barpipe_run_duration_seconds", ())] == 4.5


def test_unknown_status_is_refused():
    with pytest.raises(StorageError, match="'done' is not one of"):
        build_run_metrics({**RUN, "status": "done"}, {}, {}, 0, None)


def test_labels_and_help_are_escaped_and_round_trip():
    tricky = 'a "quoted" back\\slash\nnewline'
    text = format_textfile([("odd", "help with \\ and\nnewline", "gauge", {"stage": tricky}, 1.5)])
    assert '\\"quoted\\"' in text
    assert "\\n" in text
    [family] = text_string_to_metric_families(text)
    assert family.name == "barpipe_odd"  # prefix added
    assert family.documentation == "help with \\ and\nnewline"
    assert family.samples[0].labels == {"stage": tricky}
    assert family.samples[0].value == 1.5


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (("x", "h", "gauge", {}, math.nan), "not finite"),
        (("x", "h", "gauge", {}, math.inf), "not finite"),
        (("x", "h", "gauge", {}, "7"), "not a number"),
        (("x-y", "h", "gauge", {}, 1), "not valid"),
        (("x", "h", "histogram", {}, 1), "not one of"),
        (("x", "h", "gauge", {"bad-label": "v"}, 1), "label name"),
        (("x", "h", "gauge", {"__name__": "v"}, 1), "label name"),
    ],
)
def test_bad_metrics_are_refused_with_the_name(metric, message):
    with pytest.raises(StorageError, match=message):
        format_textfile([metric])


def test_duplicate_series_and_conflicting_headers_are_refused():
    with pytest.raises(StorageError, match="appears twice"):
        format_textfile([("x", "h", "gauge", {"a": "1"}, 1), ("x", "h", "gauge", {"a": "1"}, 2)])
    with pytest.raises(StorageError, match="differ"):
        format_textfile([("x", "h", "gauge", {"a": "1"}, 1), ("x", "h", "counter", {"a": "2"}, 2)])


def test_samples_of_one_name_are_grouped_under_one_header():
    text = format_textfile(
        [
            ("a", "h", "gauge", {"k": "1"}, 1),
            ("b", "h", "gauge", {}, 2),
            ("a", "h", "gauge", {"k": "2"}, 3),
        ]
    )
    assert text.splitlines()[:4] == [
        "# HELP barpipe_a h",
        "# TYPE barpipe_a gauge",
        'barpipe_a{k="1"} 1',
        'barpipe_a{k="2"} 3',
    ]


def test_write_textfile_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "barpipe.prom"
    write_textfile(target, [("a", "h", "gauge", {}, 1)])
    written = write_textfile(str(target), [("a", "h", "gauge", {}, 2)])
    assert written == str(target)
    assert samples(target.read_text())[("barpipe_a", ())] == 2
    assert os.listdir(tmp_path) == ["barpipe.prom"]


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "barpipe.prom"
    write_textfile(target, [("a", "h", "gauge", {}, 1)])

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(storage_fs.os, "replace", broken_replace)
    with pytest.raises(StorageError, match="disk full"):
        write_textfile(target, [("a", "h", "gauge", {}, 2)])
    assert samples(target.read_text())[("barpipe_a", ())] == 1
    assert os.listdir(tmp_path) == ["barpipe.prom"]  # the temporary file was removed


def test_write_textfile_to_an_fsspec_url():
    url = f"memory://prom-{uuid.uuid4().hex}/out/barpipe.prom"
    write_textfile(url, build_run_metrics(RUN, STAGES, {"long": 1}, 0, 1.0))
    with fsspec.open(url, "rt") as handle:
        text = handle.read()
    assert samples(text)[("barpipe_trades_total", (("side", "long"),))] == 1
    fsspec.filesystem("memory").rm(url.split("/out/")[0], recursive=True)
