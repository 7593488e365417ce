"""Declarations of indicators and the validation that runs once before any kernel."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from compute.errors import ParameterError
from compute.kernels import driver

INPUT_NAMES = ("open", "high", "low", "close", "volume", "periods")


@dataclass(frozen=True)
class Param:
    """One parameter: TA-Lib name, default, type and inclusive valid range."""

    name: str
    default: int | float
    low: int | float
    high: int | float = math.inf
    doc: str = ""

    @property
    def is_int(self) -> bool:
        return isinstance(self.default, int)

    def check(self, indicator: str, value: Any) -> int | float:
        """Return ``value`` coerced to this parameter's type, or raise naming the problem."""
        where = f"{indicator}: parameter {self.name!r}"
        valid = f"valid range is [{self.low}, {self.high}]"
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ParameterError(f"{where} must be a number, got {value!r}; {valid}")
        if self.is_int:
            if float(value) != int(value):
                raise ParameterError(f"{where} must be an integer, got {value!r}; {valid}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ParameterError(f"{where} must be finite, got {value!r}; {valid}")
        if not self.low <= value <= self.high:
            raise ParameterError(f"{where} = {value!r} is out of range; {valid}")
        return value


class Declared:
    """What indicators and strategies share: a name, parameters and checks, resolved once."""

    name: str
    params: tuple[Param, ...]
    checks: tuple[Callable[[Mapping[str, int | float]], str | None], ...]

    def resolve(self, params: Mapping[str, Any]) -> dict[str, int | float]:
        """Validated parameters with defaults filled in, in declaration order."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            choices = ", ".join(known) or "none"
            raise ParameterError(
                f"{self.name}: unknown parameter {unknown[0]!r}; valid parameters: {choices}"
            )
        values = {p.name: p.check(self.name, params.get(p.name, p.default)) for p in self.params}
        for check in self.checks:
            problem = check(values)
            if problem:
                raise ParameterError(f"{self.name}: {problem}")
        return values


T = TypeVar("T", bound=Declared)


class Registry(dict[str, T]):
    """Declarations by unique name (indicators, strategies); ``spec`` names the valid ones."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def add(self, item: T) -> T:
        """Add ``item`` under its name; a name is declared once."""
        if item.name in self:
            raise RuntimeError(f"{self.kind} {item.name!r} registered twice")
        self[item.name] = item
        return item

    def names(self) -> list[str]:
        """Every name, sorted."""
        return sorted(self)

    def spec(self, name: Any) -> T:
        """The declaration of ``name`` (any case), or a ParameterError listing the names."""
        try:
            return self[name.lower()]
        except (KeyError, AttributeError):
            raise ParameterError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}"
            ) from None


@dataclass(frozen=True)
class Indicator(Declared):
    """An indicator as the registry knows it.

    ``kernel`` is the 1-D kernel, ``kernel(*inputs, *outputs, *scratch, *params,
    *kernel_args)`` in the order of ``inputs``, ``outputs`` and ``params``: it writes one
    series' outputs into the arrays it is given (``scratch`` more of them are work space;
    ``kernel_args`` are constants that select a variant of a shared kernel). ``batch`` is its
    segmented form, ``batch(*inputs, offsets, *params)``, from ``compute.kernels.driver``.
    ``lookback`` takes the validated parameters as keywords and returns TA-Lib's
    lookback (the number of leading bars without a value). ``examples`` are extra parameter
    sets the parity tests run besides the defaults. ``integer`` marks functions whose outputs
    are TA-Lib integers (candlestick patterns): 0 instead of NaN during warm-up;
    ``integer_outputs`` names such outputs of a function whose others are real (SUPERTREND's
    ``trend``).
    """

    name: str
    group: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    kernel: Callable[..., tuple[np.ndarray, ...]]
    lookback: Callable[..., int]
    examples: tuple[Mapping[str, int | float], ...] = ()
    integer: bool = False
    integer_outputs: tuple[str, ...] = ()
    doc: str = ""
    checks: tuple[Callable[[Mapping[str, int | float]], str | None], ...] = field(default=())
    kernel_args: tuple[int | float | bool, ...] = ()
    scratch: int = 0

    @property
    def batch(self) -> Callable[..., tuple[np.ndarray, ...]]:
        """The kernel's batch form over ``offsets`` (generated and compiled on first use)."""
        fills = [
            driver.INT if self.integer else driver.ZERO if o in self.integer_outputs else driver.NAN
            for o in self.outputs
        ]
        return driver.segmented(
            self.kernel, len(self.inputs), fills, self.scratch, self.kernel_args, numpy=True
        )

    def is_integer_output(self, output: str) -> bool:
        """Whether ``output`` holds TA-Lib integers (0, not NaN, during warm-up)."""
        return self.integer or output in self.integer_outputs


_REGISTRY: Registry[Indicator] = Registry("indicator")


def register(indicator: Indicator) -> Indicator:
    """Add ``indicator`` to the registry; names are unique."""
    bad = [i for i in indicator.inputs if i not in INPUT_NAMES]
    if bad:
        raise RuntimeError(f"indicator {indicator.name!r} declares unknown input {bad[0]!r}")
    return _REGISTRY.add(indicator)


def period(name: str = "timeperiod", default: int = 14, low: int = 2, doc: str = "") -> Param:
    """The common integer period parameter, TA-Lib's range [low, 100000]."""
    return Param(name, default, low, 100000, doc)


def matype(name: str = "matype", default: int = 0) -> Param:
    """TA-Lib's moving-average type: 0 SMA, 1 EMA, 2 WMA, 3 DEMA, 4 TEMA, 5 TRIMA, 6 KAMA,
    7 MAMA, 8 T3."""
    return Param(
        name, default, 0, 8, "0 SMA, 1 EMA, 2 WMA, 3 DEMA, 4 TEMA, 5 TRIMA, 6 KAMA, 7 MAMA, 8 T3"
    )
