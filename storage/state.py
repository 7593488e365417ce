"""What a night must compute: each symbol's bars against what the outputs already hold.

``publish_state`` (SQLite) keeps, per symbol, the last published bar's timestamp, the number of
bars and a fingerprint of those bars. A worker, holding a batch's validated bars, sorts each
symbol into one of:

- ``new``: never published: computed and published whole;
- ``restated``: its published bars changed (a corrected price, a split adjustment, bars
  removed): computed and published whole, its old rows replaced;
- ``extended``: the published bars are unchanged and new bars follow: computed whole (kernels
  are causal) but only rows after the last published bar are published;
- ``unchanged``: nothing new: skipped.

The fingerprint hashes the timestamp and OHLCV columns of a symbol's first ``n`` bars
(``blake2b`` per column, then over the column digests), so checking it never rereads old
outputs: only the bars in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["Classified", "SymbolState", "classify", "fingerprint"]

_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class SymbolState:
    """A symbol's published bars: last timestamp (µs since the epoch, UTC), count, hash."""

    last_us: int
    n_bars: int
    fingerprint: str


@dataclass
class Classified:
    """A batch's symbols sorted by what the night does with them (see the module docstring)."""

    compute: list[str]  # in input order: new, restated and extended symbols
    cutoff_us: dict[str, int]  # extended symbols: publish only rows after this time
    whole: list[str]  # new and restated symbols (their published rows are replaced)
    unchanged: list[str]
    states: dict[str, SymbolState]  # the new state of every computed symbol


def _column_arrays(table: pa.Table, start: int, stop: int) -> list[np.ndarray]:
    piece = table.slice(start, stop - start)
    ts = piece.column("timestamp").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    arrays = [np.ascontiguousarray(ts.to_numpy(), dtype=np.int64)]
    for name in _COLUMNS[1:]:
        arrays.append(np.ascontiguousarray(piece.column(name).to_numpy(), dtype=np.float64))
    return arrays


def _digest(arrays: list[np.ndarray], n: int) -> tuple[str, list[hashlib._Hash]]:
    hashers = [hashlib.blake2b(a[:n].tobytes(), digest_size=16) for a in arrays]
    return _combine(hashers), hashers


def _combine(hashers: list[hashlib._Hash]) -> str:
    outer = hashlib.blake2b(digest_size=16)
    for h in hashers:
        outer.update(h.digest())
    return outer.hexdigest()


def fingerprint(table: pa.Table, n: int | None = None) -> str:
    """Fingerprint of the first ``n`` rows (all by default) of one symbol's sorted bars."""
    arrays = _column_arrays(table, 0, table.num_rows)
    return _digest(arrays, table.num_rows if n is None else n)[0]


def classify(
    table: pa.Table,
    symbols: list[str],
    offsets: np.ndarray,
    published: Mapping[str, SymbolState],
    *,
    full: bool = False,
) -> Classified:
    """Sort the symbols of ``table`` (validated bars, ``offsets`` per symbol) by what changed.

    ``full`` treats every symbol as new (``barpipe run --full``).
    """
    out = Classified([], {}, [], [], {})
    for i, symbol in enumerate(symbols):
        start, stop = int(offsets[i]), int(offsets[i + 1])
        arrays = _column_arrays(table, start, stop)
        n = stop - start
        old = None if full else published.get(symbol)
        if old is None:
            out.compute.append(symbol)
            out.whole.append(symbol)
            out.states[symbol] = SymbolState(int(arrays[0][-1]), n, _digest(arrays, n)[0])
            continue
        k = int(np.searchsorted(arrays[0], old.last_us, side="right"))
        prefix, hashers = _digest(arrays, k)
        if k != old.n_bars or prefix != old.fingerprint:
            out.compute.append(symbol)
            out.whole.append(symbol)
            out.states[symbol] = SymbolState(int(arrays[0][-1]), n, _digest(arrays, n)[0])
        elif k == n:
            out.unchanged.append(symbol)
        else:
            for h, a in zip(hashers, arrays, strict=True):
                h.update(a[k:].tobytes())
            out.compute.append(symbol)
            out.cutoff_us[symbol] = old.last_us
            out.states[symbol] = SymbolState(int(arrays[0][-1]), n, _combine(hashers))
    return out
