"""Derived columns: columns the strategies read that are not TA-Lib functions.

They are declared like indicators (an ``Indicator`` with inputs, parameters and ranges,
outputs, kernel and lookback) but live in their own registry, so ``names()`` stays the list
of TA-Lib functions. ``compute_derived`` validates once and runs the ``_seg_nb`` kernel over
a whole batch, like ``compute_batch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from compute.errors import ParameterError
from compute.indicators._registry import Indicator, Param, matype, period
from compute.indicators.overlap import DEVIATION_DOC, supported_matypes
from compute.kernels import overlap as k
from compute.kernels.ma import ma_lookback

GROUP = "Derived"
_DERIVED: dict[str, Indicator] = {}


def _register(item: Indicator) -> None:
    if item.name in _DERIVED:
        raise RuntimeError(f"derived column {item.name!r} registered twice")
    _DERIVED[item.name] = item


_register(
    Indicator(
        name="bb_position",
        group=GROUP,
        inputs=("close",),
        params=(
            period(default=20),
            Param("nbdevup", 2.0, 0.0, 3e37, "upper band's " + DEVIATION_DOC),
            Param("nbdevdn", 2.0, 0.0, 3e37, "lower band's " + DEVIATION_DOC),
            matype(),
        ),
        outputs=("real",),
        kernel=k.bb_position_seg_nb,
        lookback=lambda timeperiod, nbdevup, nbdevdn, matype: max(
            ma_lookback(timeperiod, matype), timeperiod - 1
        ),
        examples=(
            {"timeperiod": 5, "nbdevup": 1.0, "nbdevdn": 1.0, "matype": 0},
            {"timeperiod": 20, "nbdevup": 2.5, "nbdevdn": 1.5, "matype": 1},
        ),
        checks=(supported_matypes("matype"),),
        doc=(
            "Position of the close within the Bollinger Bands, (close - lower) / (upper - lower):"
            " 0 on the lower band, 1 on the upper; NaN in the warm-up and where the bands meet"
        ),
    )
)


def derived_names() -> list[str]:
    """Every derived column, sorted."""
    return sorted(_DERIVED)


def derived_spec(name: str) -> Indicator:
    """The declaration of derived column ``name``."""
    try:
        return _DERIVED[name.lower()]
    except KeyError:
        raise ParameterError(
            f"unknown derived column {name!r}; available: {', '.join(derived_names())}"
        ) from None


def derived_lookback(name: str, **params: Any) -> int:
    """Leading bars of derived column ``name`` that have no value."""
    item = derived_spec(name)
    return int(item.lookback(**item.resolve(params)))


def compute_derived(
    name: str, inputs: Mapping[str, Any], offsets: Any = None, **params: Any
) -> dict[str, np.ndarray]:
    """Compute derived column ``name`` over one series, or a batch when ``offsets`` is given.

    Parameters
    ----------
    name : str
        A name from ``derived_names()``, e.g. ``"bb_position"``.
    inputs : mapping
        1-D arrays among ``open, high, low, close, volume`` of one length.
    offsets : array-like of int, optional
        Segment boundaries as in ``compute_batch``; ``None`` means one series.
    **params
        The column's parameters (for ``bb_position`` BBANDS' ``timeperiod``, ``nbdevup``,
        ``nbdevdn``, ``matype``); missing ones take their defaults.

    Returns
    -------
    dict of str to ndarray
        ``{"real": values}``, NaN where the column has no value.
    """
    item = derived_spec(name)
    values = list(item.resolve(params).values())
    arrays = []
    for key in item.inputs:
        if key not in inputs:
            raise ParameterError(
                f"{item.name}: missing input {key!r}; it needs {', '.join(item.inputs)}"
            )
        arr = np.ascontiguousarray(inputs[key], dtype=np.float64)
        if arr.ndim != 1:
            raise ParameterError(f"{item.name}: input {key!r} must be 1-D, got shape {arr.shape}")
        arrays.append(arr)
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ParameterError(f"{item.name}: inputs differ in length")
    if offsets is None:
        offs = np.array([0, n], dtype=np.int64)
    else:
        offs = np.ascontiguousarray(offsets, dtype=np.int64)
        if offs.ndim != 1 or offs.shape[0] < 1 or offs[0] != 0 or offs[-1] != n:
            raise ParameterError(
                f"{item.name}: offsets must be 1-D, start at 0 and end at the input length {n}"
            )
        if np.any(np.diff(offs) < 0):
            raise ParameterError(f"{item.name}: offsets must be non-decreasing")
    return dict(zip(item.outputs, item.kernel(*arrays, offs, *values), strict=True))
