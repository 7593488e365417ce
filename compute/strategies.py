"""Strategies by name: ``names``, ``spec``, ``lookback``, ``compute``, ``compute_batch``.

A strategy declares its parameters (defaults and ranges), the indicators it needs (computed
through ``compute.indicators`` with parameters derived from its own) and a 1-D kernel in
``compute.kernels.strategies`` (run over each segment by ``compute.kernels.driver``) that
turns close prices and those indicator outputs into a float64 target per bar: -1, 0 or +1, NaN during warm-up (the first
``lookback`` bars of each segment). The four come from the bot barpipe replaces; every
weight, threshold and window is a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compute import indicators
from compute.errors import ParameterError
from compute.indicators import Param
from compute.indicators._registry import Declared, Registry
from compute.kernels import driver
from compute.kernels import strategies as k
from compute.segments import check_offsets

__all__ = ["Strategy", "compute", "compute_batch", "lookback", "names", "spec"]

Values = Mapping[str, Any]
IndicatorOutputs = Mapping[str, Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Strategy(Declared):
    """A strategy as the registry knows it.

    ``indicators`` maps validated parameters to ``{indicator name: its parameters}``;
    ``run(close, offsets, outputs, values)`` calls the kernel with the close, the indicator
    outputs (``outputs[name][output]``) and the parameters; ``lookback`` maps validated
    parameters to the number of leading bars without a target. ``checks`` return a message
    for an invalid combination of parameters, or None.
    """

    name: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    indicators: Callable[[Values], dict[str, dict[str, int | float]]]
    run: Callable[[np.ndarray, np.ndarray, IndicatorOutputs, Values], np.ndarray]
    lookback: Callable[[Values], int]
    examples: tuple[Mapping[str, int | float], ...] = ()
    checks: tuple[Callable[[Values], str | None], ...] = field(default=())
    doc: str = ""


_REGISTRY: Registry[Strategy] = Registry("strategy")
register = _REGISTRY.add


def names() -> list[str]:
    """Every available strategy, sorted."""
    return _REGISTRY.names()


def spec(name: str) -> Strategy:
    """The declaration of ``name``: parameters with defaults and ranges, indicators, kernel."""
    return _REGISTRY.spec(name)


def lookback(name: str, **params: Any) -> int:
    """How many leading bars of each segment have no target (NaN)."""
    strat = spec(name)
    return int(strat.lookback(strat.resolve(params)))


def compute(name: str, inputs: Mapping[str, Any], **params: Any) -> np.ndarray:
    """Target positions of one series.

    Parameters
    ----------
    name : str
        One of ``names()``.
    inputs : mapping
        1-D arrays by bar field (``close``; others are ignored), all of one length.
    **params
        The strategy's parameters; missing ones take their defaults.

    Returns
    -------
    ndarray
        float64 target per bar in {-1, 0, +1}, NaN during the warm-up.
    """
    close = _close(spec(name), inputs)
    return compute_batch(name, inputs, np.array([0, close.shape[0]], dtype=np.int64), **params)


def compute_batch(name: str, inputs: Mapping[str, Any], offsets: Any, **params: Any) -> np.ndarray:
    """``compute`` over a batch: segment i is ``[offsets[i], offsets[i+1])`` of each input.

    Results equal ``compute`` on each segment; no window crosses a boundary.
    """
    strat = spec(name)
    values = strat.resolve(params)
    close = _close(strat, inputs)
    offs = check_offsets(strat.name, offsets, close.shape[0])
    outputs = {
        ind: indicators.compute_batch(ind, {"close": close}, offs, **ind_params)
        for ind, ind_params in strat.indicators(values).items()
    }
    return strat.run(close, offs, outputs, values)


def _close(strat: Strategy, inputs: Mapping[str, Any]) -> np.ndarray:
    if "close" not in inputs:
        raise ParameterError(f"{strat.name}: missing input 'close'")
    close = np.ascontiguousarray(inputs["close"], dtype=np.float64)
    if close.ndim != 1:
        raise ParameterError(f"{strat.name}: input 'close' must be 1-D, got shape {close.shape}")
    return close


def _batch(kernel: Callable[..., None], n_inputs: int) -> Callable[..., np.ndarray]:
    """The batch form of a strategy's 1-D kernel (``compute.kernels.driver``): its target."""
    batch = driver.segmented(kernel, n_inputs, [driver.NAN])
    return lambda *args: batch(*args)[0]


def _window(name: str, default: int, low: int = 1, doc: str = "") -> Param:
    return Param(name, default, low, 100_000, doc)


def _weight(name: str, default: float, doc: str) -> Param:
    return Param(name, default, -1e6, 1e6, doc)


def _ordered(low: str, high: str) -> Callable[[Values], str | None]:
    def check(values: Values) -> str | None:
        if not values[low] < values[high]:
            return f"{low} ({values[low]!r}) must be less than {high} ({values[high]!r})"
        return None

    return check


# -- momentum ---------------------------------------------------------------------------


def _momentum_indicators(v: Values) -> dict[str, dict[str, int | float]]:
    return {
        "rsi": {"timeperiod": v["rsi_period"]},
        "macd": {
            "fastperiod": v["macd_fast"],
            "slowperiod": v["macd_slow"],
            "signalperiod": v["macd_signal"],
        },
    }


def _momentum_run(close, offsets, out: IndicatorOutputs, v: Values) -> np.ndarray:
    return _batch(k.momentum_into_nb, 4)(
        close,
        out["rsi"]["real"],
        out["macd"]["macd"],
        out["macd"]["macdsignal"],
        offsets,
        v["momentum_period"],
        v["momentum_weight"],
        v["rsi_lower"],
        v["rsi_upper"],
        v["rsi_weight"],
        v["macd_weight"],
    )


def _momentum_lookback(v: Values) -> int:
    needs = _momentum_indicators(v)
    return max(
        v["momentum_period"],
        *(indicators.lookback(ind, **params) for ind, params in needs.items()),
    )


register(
    Strategy(
        name="momentum",
        inputs=("close",),
        params=(
            _window("momentum_period", 5, doc="bars of price momentum"),
            _weight("momentum_weight", 0.4, "weight of momentum in percent"),
            _window("rsi_period", 14, low=2, doc="RSI timeperiod"),
            Param("rsi_lower", 30.0, 0.0, 100.0, "RSI below this: +1"),
            Param("rsi_upper", 70.0, 0.0, 100.0, "RSI above this: -1"),
            _weight("rsi_weight", 0.3, "weight of the RSI band signal"),
            _window("macd_fast", 12, low=2, doc="MACD fastperiod"),
            _window("macd_slow", 26, low=2, doc="MACD slowperiod"),
            _window("macd_signal", 9, doc="MACD signalperiod"),
            _weight("macd_weight", 0.3, "weight of MACD above (+1) / not above (-1) signal"),
        ),
        indicators=_momentum_indicators,
        run=_momentum_run,
        lookback=_momentum_lookback,
        examples=(
            {"momentum_period": 10, "rsi_period": 7, "macd_fast": 5, "macd_slow": 35},
            {"momentum_weight": 0.0, "rsi_lower": 40.0, "rsi_upper": 60.0, "macd_signal": 3},
        ),
        checks=(_ordered("rsi_lower", "rsi_upper"), _ordered("macd_fast", "macd_slow")),
        doc=(
            "sign(momentum_weight * (close / close[-momentum_period] - 1) * 100 + rsi_weight"
            " * (+1 if RSI < rsi_lower, -1 if RSI > rsi_upper, else 0) + macd_weight * (+1 if"
            " MACD > its signal else -1)), TA-Lib RSI and MACD; NaN until all are defined"
        ),
    )
)


# -- zscore -----------------------------------------------------------------------------


register(
    Strategy(
        name="zscore",
        inputs=("close",),
        params=(
            _window("window", 20, low=2, doc="bars before the current one"),
            Param("threshold", 2.0, 0.0, 1e6, "|z| beyond this trades against the move"),
        ),
        indicators=lambda v: {},
        run=lambda close, offsets, out, v: _batch(k.zscore_into_nb, 1)(
            close, offsets, v["window"], v["threshold"]
        ),
        lookback=lambda v: v["window"],
        examples=({"window": 5, "threshold": 1.0}, {"window": 60, "threshold": 2.5}),
        doc=(
            "mean reversion: z = (close - mean) / std over the window bars before the current"
            " one (population std); z > threshold: -1, z < -threshold: +1, else (or std 0) 0"
        ),
    )
)


# -- ma_crossover -----------------------------------------------------------------------


register(
    Strategy(
        name="ma_crossover",
        inputs=("close",),
        params=(
            _window("short_window", 12, doc="bars of the short average"),
            _window("long_window", 26, low=2, doc="bars of the long average"),
        ),
        indicators=lambda v: {},
        run=lambda close, offsets, out, v: _batch(k.ma_crossover_into_nb, 1)(
            close, offsets, v["short_window"], v["long_window"]
        ),
        lookback=lambda v: v["long_window"],
        examples=({"short_window": 5, "long_window": 20}, {"short_window": 50, "long_window": 200}),
        checks=(_ordered("short_window", "long_window"),),
        doc=(
            "sign(SMA(short_window) - SMA(long_window)), both over the bars before the current"
            " one: +1 short above long, -1 below, 0 equal (within 1e-12 relative)"
        ),
    )
)


# -- bollinger --------------------------------------------------------------------------


def _bollinger_indicators(v: Values) -> dict[str, dict[str, int | float]]:
    return {
        "bbands": {
            "timeperiod": v["timeperiod"],
            "nbdevup": v["nbdevup"],
            "nbdevdn": v["nbdevdn"],
            "matype": 0,
        }
    }


register(
    Strategy(
        name="bollinger",
        inputs=("close",),
        params=(
            _window("timeperiod", 20, low=2, doc="BBANDS timeperiod"),
            Param("nbdevup", 2.0, 0.0, 1e6, "BBANDS upper deviations"),
            Param("nbdevdn", 2.0, 0.0, 1e6, "BBANDS lower deviations"),
            Param("lower", 0.0, -1e6, 1e6, "band position below this: +1"),
            Param("upper", 1.0, -1e6, 1e6, "band position above this: -1"),
        ),
        indicators=_bollinger_indicators,
        run=lambda close, offsets, out, v: _batch(k.bollinger_into_nb, 3)(
            close,
            out["bbands"]["upperband"],
            out["bbands"]["lowerband"],
            offsets,
            v["lower"],
            v["upper"],
        ),
        lookback=lambda v: indicators.lookback("bbands", **_bollinger_indicators(v)["bbands"]),
        examples=(
            {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 2.5},
            {"lower": 0.2, "upper": 0.8},
        ),
        checks=(_ordered("lower", "upper"),),
        doc=(
            "band position bb = (close - lower band) / (upper band - lower band) of TA-Lib"
            " BBANDS (SMA, population std): bb < lower: +1, bb > upper: -1, else (or bands"
            " equal) 0; the defaults 0 and 1 mean below/above the bands"
        ),
    )
)
