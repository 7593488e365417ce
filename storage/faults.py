"""Test-only pause points: hold a process at a known step so a test can kill it there.

``pause_for_test`` is inert unless ``BARPIPETEST_PAUSE_AT`` is set (the prefix is not
``BARPIPE_``, which settings would read as a config key). The fault tests use it to hold a
run at a known point (``batch``: after a batch staged its outputs; ``publish``: after the
Parquet commit, before the SQLite one; the steps of ``storage.runs``) and kill it there, or
to hold a run that owns the output root's lock while a second run starts.
"""

from __future__ import annotations

import os
import time

__all__ = ["pause_for_test"]


def pause_for_test(point: str, detail: str) -> None:
    """Test-only: pause at ``point`` if ``BARPIPETEST_PAUSE_AT`` (comma-separated) names it.

    First appends ``"<point> <pid> <detail>"`` to the file ``BARPIPETEST_PAUSE_SIGNAL`` (if
    set), so a test knows the run got there; then sleeps ``BARPIPETEST_PAUSE_S`` seconds
    (default 30), or less if the file ``BARPIPETEST_PAUSE_RELEASE`` appears. Never set these
    variables outside tests.
    """
    env = os.environ
    if point not in env.get("BARPIPETEST_PAUSE_AT", "").split(","):
        return
    if signal := env.get("BARPIPETEST_PAUSE_SIGNAL"):
        with open(signal, "a") as handle:  # one short append: atomic between processes
            handle.write(f"{point} {os.getpid()} {detail}\n")
    deadline = time.monotonic() + float(env.get("BARPIPETEST_PAUSE_S", "30"))
    release = env.get("BARPIPETEST_PAUSE_RELEASE")
    while time.monotonic() < deadline and not (release and os.path.exists(release)):
        time.sleep(0.05)
