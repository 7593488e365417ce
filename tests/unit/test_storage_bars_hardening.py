"""storage.bars against hostile layouts (issue 12): every input row is read and counted once,
or the dataset is refused with one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage.bars import load_bars, scan_symbols

from .test_storage_bars import bars


def _symbol_as(table: pa.Table, kind: str) -> pa.Table:
    column = table["symbol"]
    column = column.dictionary_encode() if kind == "dictionary" else column.cast(pa.large_string())
    return table.set_column(0, "symbol", column)


def _scan_rows(root: Path) -> dict[str, int]:
    scan = scan_symbols(root)
    return dict(zip(scan["symbol"].to_pylist(), scan["n_rows"].to_pylist(), strict=True))


# --------------------------------------------------------------------------- symbol column types


@pytest.mark.parametrize("kind", ["dictionary", "large_string"])
@pytest.mark.parametrize("layout", ["flat", "hive"])
def test_dictionary_and_large_string_symbols_in_a_directory_are_read(tmp_path, kind, layout):
    for i, (name, n) in enumerate([("AAA", 5), ("BBB", 7)]):
        folder = tmp_path / (f"symbol={name}" if layout == "hive" else "")
        folder.mkdir(exist_ok=True)
        pq.write_table(_symbol_as(bars(name, n), kind), folder / f"part-{i}.parquet")
    assert _scan_rows(tmp_path) == {"AAA": 5, "BBB": 7}
    loaded = load_bars(tmp_path)
    assert loaded.num_rows == 12
    assert loaded["symbol"].type == pa.string()
    assert load_bars(tmp_path, symbols=["BBB"]).num_rows == 7


def test_pandas_categorical_symbols_over_several_files(tmp_path):
    frame = pd.concat([bars("AAA", 5).to_pandas(), bars("BBB", 4).to_pandas()])
    frame["symbol"] = frame["symbol"].astype("category")
    frame.iloc[:6].to_parquet(tmp_path / "a.parquet")
    frame.iloc[6:].to_parquet(tmp_path / "b.parquet")
    assert _scan_rows(tmp_path) == {"AAA": 5, "BBB": 4}
    assert load_bars(tmp_path).num_rows == 9
