"""Batches of series concatenated into one array: segment i is ``x[offsets[i]:offsets[i+1]]``.

``check_offsets`` is the one validation of ``offsets`` that every batch entry point
(indicators, strategies, backtest, metrics) runs before its kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compute.errors import ParameterError


def check_offsets(owner: str, offsets: Any, n: int, length: str = "input length") -> np.ndarray:
    """``offsets`` as a C-contiguous int64 array, or a ParameterError naming ``owner``.

    Valid offsets are 1-D, start at 0, end at ``n`` (the ``length`` of the inputs) and do
    not decrease.
    """
    offs = np.ascontiguousarray(offsets, dtype=np.int64)
    if offs.ndim != 1 or offs.shape[0] < 1 or offs[0] != 0 or offs[-1] != n:
        raise ParameterError(
            f"{owner}: offsets must be 1-D, start at 0 and end at the {length} {n}"
        )
    if np.any(np.diff(offs) < 0):
        raise ParameterError(f"{owner}: offsets must be non-decreasing")
    return offs
