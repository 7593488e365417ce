"""Integration fixtures: a small generated dataset and one Prefect test harness per session."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from compute import synthetic
from flows.runtime import configure_prefect
from storage.bars import write_bars


def make_dataset(root: Path, n_symbols: int = 6, n_bars: int = 400, seed: int = 3) -> Path:
    """Write ``n_symbols`` synthetic daily symbols to ``root`` (hive by symbol)."""

    def chunks():
        for i, name in enumerate(synthetic.symbol_names(n_symbols)):
            bars = synthetic.generate_symbol(n_bars, seed, index=i)
            yield pa.table(
                {
                    "symbol": pa.array([name] * n_bars, pa.string()),
                    "timestamp": pa.array(bars["timestamp"], pa.timestamp("us", tz="UTC")),
                    **{f: bars[f] for f in ("open", "high", "low", "close", "volume")},
                }
            )

    write_bars(chunks(), root)
    return root


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """Prefect's own test harness (a temporary API server and database), once per session."""
    configure_prefect("WARNING")
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("bars") / "bars")
