"""Indicators by TA-Lib name: ``names``, ``compute``, ``compute_batch``, ``lookback``.

Each family module (``overlap``, ``momentum``, ...) declares its indicators with
``register``; this module validates parameters and inputs once and calls the batch form of
the indicator's 1-D kernel (``Indicator.batch``, from ``compute.kernels.driver``), so one
call over a concatenated batch costs no Python per symbol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from compute.errors import ParameterError
from compute.indicators import (  # noqa: F401  (importing registers each family)
    cycle,
    momentum,
    overlap,
    patterns,
    price,
    statistic,
    volatility,
    volume,
)
from compute.indicators._registry import _REGISTRY, Indicator, Param
from compute.segments import check_offsets

__all__ = [
    "Indicator",
    "Param",
    "compute",
    "compute_batch",
    "lookback",
    "names",
    "spec",
]


def names() -> list[str]:
    """Every available indicator, TA-Lib's function name in lower case, sorted."""
    return _REGISTRY.names()


def spec(name: str) -> Indicator:
    """The declaration of ``name``: inputs, parameters with defaults and ranges, outputs."""
    return _REGISTRY.spec(name)


def lookback(name: str, **params: Any) -> int:
    """TA-Lib's lookback: how many leading bars of ``name`` have no value."""
    ind = spec(name)
    return int(ind.lookback(**ind.resolve(params)))


def compute(name: str, inputs: Mapping[str, Any], **params: Any) -> dict[str, np.ndarray]:
    """Compute ``name`` over one series.

    Parameters
    ----------
    name : str
        TA-Lib function name, any case (``"sma"``, ``"MACD"``).
    inputs : mapping
        1-D arrays among ``open, high, low, close, volume`` (and ``periods`` for ``mavp``),
        all of one length; only the ones the indicator needs are read.
    **params
        TA-Lib's parameter names; missing ones take TA-Lib's defaults.

    Returns
    -------
    dict of str to ndarray
        TA-Lib's output names mapped to arrays as long as the input, NaN during warm-up
        (0 for the integer outputs of candlestick patterns).
    """
    ind, arrays, values = _prepare(name, inputs, params)
    n = arrays[0].shape[0]
    offsets = np.array([0, n], dtype=np.int64)
    return dict(zip(ind.outputs, ind.batch(*arrays, offsets, *values), strict=True))


def compute_batch(
    name: str, inputs: Mapping[str, Any], offsets: Any, **params: Any
) -> dict[str, np.ndarray]:
    """``compute`` over a batch: segment i of every input is ``[offsets[i], offsets[i+1])``.

    Results equal calling ``compute`` on each segment; state never crosses a boundary.
    """
    ind, arrays, values = _prepare(name, inputs, params)
    offs = check_offsets(ind.name, offsets, arrays[0].shape[0])
    return dict(zip(ind.outputs, ind.batch(*arrays, offs, *values), strict=True))


def _prepare(
    name: str, inputs: Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[Indicator, list[np.ndarray], list[int | float]]:
    ind = spec(name)
    values = list(ind.resolve(params).values())
    arrays = []
    for key in ind.inputs:
        if key not in inputs:
            raise ParameterError(
                f"{ind.name}: missing input {key!r}; it needs {', '.join(ind.inputs)}"
            )
        arr = np.ascontiguousarray(inputs[key], dtype=np.float64)
        if arr.ndim != 1:
            raise ParameterError(f"{ind.name}: input {key!r} must be 1-D, got shape {arr.shape}")
        arrays.append(arr)
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) > 1:
        raise ParameterError(
            f"{ind.name}: inputs differ in length: "
            + ", ".join(f"{k}={a.shape[0]}" for k, a in zip(ind.inputs, arrays, strict=True))
        )
    return ind, arrays, values
