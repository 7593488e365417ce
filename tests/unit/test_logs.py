"""flows.logs: a run's log file takes the libraries' records, the console keeps barpipe's."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest

from flows import logs
from flows.settings import load_settings


@pytest.fixture
def console(monkeypatch):
    """A console handler on root and one on a non-propagating library logger, as Prefect
    and distributed install them, both on sys.stderr (a StringIO here). Built in the test's
    call phase: pytest swaps sys.stderr between setup and call."""

    def install() -> io.StringIO:
        stream = io.StringIO()
        monkeypatch.setattr(sys, "stderr", stream)
        root_handler, lib_handler = logging.StreamHandler(stream), logging.StreamHandler(stream)
        lib = logging.getLogger("distributed")
        monkeypatch.setattr(logging.getLogger(), "handlers", [root_handler])
        monkeypatch.setattr(lib, "handlers", [lib_handler])
        monkeypatch.setattr(lib, "propagate", False)
        logging.getLogger("bokeh").setLevel(logging.ERROR)  # distributed's default
        return stream

    bokeh_level = logging.getLogger("bokeh").level
    yield install
    logging.getLogger("bokeh").setLevel(bokeh_level)


def _emit() -> None:
    logging.getLogger("tornado.application").error("Uncaught exception GET /status/ws")
    logging.getLogger("distributed.scheduler").warning("worker lost")
    logging.getLogger("bokeh.server").warning("dropping a patch")
    logging.getLogger("barpipe.cluster").warning("barpipe says so")
    logging.getLogger("prefect.flow_runs").info("below the level")


def test_run_log_routes_library_records_to_the_file(console, tmp_path) -> None:
    stream = console()
    settings = load_settings(None, overrides={"output.path": str(tmp_path / "out")})
    with logs.run_log(settings) as log:
        _emit()
        path = logs.attach_run("20261120T000000Z-abcdef01")
    assert path == str(tmp_path / "out" / "logs" / "20261120T000000Z-abcdef01.log")
    assert log.path == tmp_path / "out" / "logs" / "20261120T000000Z-abcdef01.log"
    text = log.path.read_text()
    for line in ("tornado.application ERROR: Uncaught", "distributed.scheduler WARNING: worker"):
        assert line in text
    assert "bokeh.server WARNING: dropping a patch" in text  # warnings kept, not just errors
    assert "below the level" not in text
    assert stream.getvalue() == "barpipe says so\n"  # only barpipe's own line on the console


def test_run_log_is_undone_on_exit(console, tmp_path) -> None:
    stream = console()
    settings = load_settings(None, overrides={"output.path": str(tmp_path / "out")})
    with logs.run_log(settings):
        pass
    assert logs.active() is None
    assert list((tmp_path / "out" / "logs").iterdir()) == []  # an empty pending log is removed
    _emit()
    assert "Uncaught exception" in stream.getvalue()
    assert logging.getLogger("bokeh").level == logging.ERROR


def test_nested_run_log_reuses_the_open_one(tmp_path) -> None:
    settings = load_settings(None, overrides={"output.path": str(tmp_path / "out")})
    with logs.run_log(settings) as outer, logs.run_log(settings) as inner:
        assert inner is outer


def test_attach_run_without_a_log_is_none() -> None:
    assert logs.attach_run("some-run") is None


def test_url_output_logs_beside_the_database(tmp_path) -> None:
    settings = load_settings(
        None,
        overrides={"output.path": "s3://bucket/out", "output.db_path": str(tmp_path / "x.db")},
    )
    assert logs.log_dir(settings.output) == tmp_path / "logs"


# --------------------------------------------------------------------------- registry, `runs`


def _old_database(path) -> None:
    """A barpipe.db as released before the ``log_file`` column existed."""
    import sqlite3

    from storage.tables import sqlite_ddl

    with sqlite3.connect(path) as conn:
        for statement in sqlite_ddl():
            conn.execute(statement)
        conn.execute("ALTER TABLE runs DROP COLUMN log_file")
        assert "log_file" not in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
        conn.execute(
            "INSERT INTO runs (run_id, run_key, status, started_at) VALUES "
            "('old-run', '2026-11-19', 'succeeded', '2026-11-19T00:00:00.000000Z')"
        )


def test_an_older_database_gains_the_log_file_column(tmp_path) -> None:
    from storage import db

    _old_database(tmp_path / "barpipe.db")
    conn = db.connect(tmp_path / "barpipe.db")
    try:
        db.start_run(conn, run_id="new-run", run_key="2026-11-20")
        db.set_log_file(conn, "new-run", "/somewhere/new-run.log")
        rows = {r["run_id"]: r["log_file"] for r in db.list_runs(conn)}
    finally:
        conn.close()
    assert rows == {"old-run": None, "new-run": "/somewhere/new-run.log"}


def test_runs_shows_the_log_file_and_a_failed_runs_last_error_line(tmp_path) -> None:
    import os
    import subprocess

    from storage import db

    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    conn = db.connect(out / "barpipe.db")
    try:
        for run_id, status, error in [
            ("r1-ok", "succeeded", None),
            ("r2-failed", "failed", "DataError: bars.parquet unreadable\nsymbol XYZ: no rows"),
            ("r3-abandoned", "abandoned", None),
        ]:
            db.start_run(conn, run_id=run_id, run_key="2026-11-20")
            log = out / "logs" / f"{run_id}.log"
            log.write_text(
                "2026-11-20 00:00:01,000 1 distributed.worker WARNING: slow\n"
                "2026-11-20 00:00:02,000 1 distributed.nanny ERROR: worker process 42 was killed\n"
            )
            db.set_log_file(conn, run_id, str(log))
            db.finish_run(conn, run_id, status=status, error=error)
    finally:
        conn.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARPIPE_")}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("barpipe")), "runs", "--output", str(out)],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "250", "NO_COLOR": "1"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    table = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    header = ["run id", "log", "error"]
    rows = {cells[0]: dict(zip(header, [cells[0], *cells[-2:]], strict=True)) for cells in table}
    assert rows["r1-ok"] == {"run id": "r1-ok", "log": "logs/r1-ok.log", "error": ""}
    assert rows["r2-failed"]["log"] == "logs/r2-failed.log"
    assert rows["r2-failed"]["error"] == "symbol XYZ: no rows"  # the error's last line
    # nothing recorded (the process died): the log's last ERROR record
    assert rows["r3-abandoned"]["error"].endswith(
        "distributed.nanny ERROR: worker process 42 was killed"
    )
