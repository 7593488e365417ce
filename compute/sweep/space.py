"""Parameter spaces of a sweep: axes, constraints, deterministic chunked enumeration.

A ``Space`` is one strategy's set of combinations: each swept parameter is an ``Axis`` (a
list, an inclusive range ``{start, stop, step}`` or a distribution for random sampling),
every other parameter keeps its default (or the value given in ``fixed``). The strategy's
parameters, defaults and valid ranges come from its declaration in ``compute.strategies``;
the sweepable backtest settings are validated by ``compute.backtest`` itself. Constraints
between parameters (``"short_window < long_window"``) and the strategy's own checks remove
combinations.

Combinations are numbered and enumerated in chunks without building the whole space:

- a grid is the product of its axes in declaration order, the last axis varying fastest;
  chunk k holds the valid combinations among product indices ``[k * size, (k + 1) * size)``,
  so a chunk is computed from its index alone and may hold fewer than ``size`` rows;
- a random space (``samples: N``) draws sample i from the block of 1024 samples it belongs
  to, seeded with ``(seed, block)``; a sample that breaks a constraint is redrawn within its
  block, so sample i is the same whatever chunking asks for it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compute import backtest, strategies
from compute.errors import ConfigError, ParameterError

__all__ = ["BACKTEST_AXES", "DISTRIBUTIONS", "Axis", "Combos", "Space", "parse_space"]

# Backtest settings a sweep may vary per combination; all others are fixed for the sweep.
BACKTEST_AXES = ("stop_loss", "take_profit", "fraction", "direction")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")
SAMPLE_BLOCK = 1024
_MAX_ROUNDS = 64  # redraws per sample before a constraint is declared (nearly) unsatisfiable
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_CONSTRAINT = re.compile(
    r"^\s*([A-Za-z_]\w*|[-+]?[\d.]+(?:e[-+]?\d+)?)\s*(<=|>=|==|!=|<|>)\s*"
    r"([A-Za-z_]\w*|[-+]?[\d.]+(?:e[-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Axis:
    """One swept parameter: discrete ``values``, or a distribution ``dist`` on [low, high]."""

    name: str
    values: tuple[Any, ...] = ()
    dist: str | None = None
    low: float = 0.0
    high: float = 0.0
    is_int: bool = False

    @property
    def size(self) -> int | None:
        """Number of values of a discrete axis, None for a distribution."""
        return None if self.dist else len(self.values)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` random values (uniform over the values of a discrete axis)."""
        if self.dist is None:
            return _column(self.values, self.is_int)[rng.integers(0, len(self.values), n)]
        if self.dist == "int_uniform":
            return rng.integers(int(self.low), int(self.high) + 1, n).astype(np.int64)
        if self.dist == "log_uniform":
            return np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Constraint:
    """``left op right`` between parameters or numbers, e.g. ``short_window < long_window``."""

    text: str
    left: str | float
    op: str
    right: str | float

    def holds(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        def side(x: str | float) -> Any:
            return columns[x] if isinstance(x, str) else x

        return np.asarray(_OPS[self.op](side(self.left), side(self.right)), dtype=bool)


@dataclass(frozen=True)
class Combos:
    """A chunk of combinations as columns, one row per combination.

    ``ids`` number the combinations within the space (product index or sample index);
    ``params`` holds every strategy parameter (defaults included) and ``backtest`` the
    four ``BACKTEST_AXES`` (``stop_loss``/``take_profit`` NaN for none, ``direction`` as
    strings).
    """

    strategy: str
    ids: np.ndarray
    params: dict[str, np.ndarray]
    backtest: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def row(self, i: int) -> tuple[dict[str, int | float], dict[str, Any]]:
        """Combination ``i`` as (strategy parameters, backtest settings) for the nightly API."""
        params = {k: v[i].item() for k, v in self.params.items()}
        bt: dict[str, Any] = {}
        for k, v in self.backtest.items():
            value = v[i].item() if isinstance(v[i], np.generic) else v[i]
            bt[k] = None if isinstance(value, float) and math.isnan(value) else value
        return params, bt


@dataclass(frozen=True)
class Space:
    """One strategy's sweep space; see the module docstring for the enumeration order."""

    strategy: str
    axes: tuple[Axis, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()
    samples: int | None = None
    seed: int = 0
    label: str = ""

    @property
    def key(self) -> str:
        return self.label or self.strategy

    @property
    def n_candidates(self) -> int:
        """Product size of a grid, or the sample count: the range chunks are cut from."""
        if self.samples is not None:
            return self.samples
        return math.prod(a.size or 0 for a in self.axes)

    def n_chunks(self, size: int) -> int:
        return -(-self.n_candidates // size)

    def chunk(self, k: int, size: int) -> Combos:
        """Chunk ``k`` of ``size`` candidates (see the module docstring)."""
        lo = k * size
        hi = min(lo + size, self.n_candidates)
        if self.samples is not None:
            ids = np.arange(lo, hi, dtype=np.int64)
            columns = self._samples(lo, hi)
        else:
            ids = np.arange(lo, hi, dtype=np.int64)
            columns = self._grid(ids)
            keep = self._valid(columns)
            ids = ids[keep]
            columns = {name: col[keep] for name, col in columns.items()}
        return self._combos(ids, columns)

    def chunks(self, size: int) -> Iterator[Combos]:
        for k in range(self.n_chunks(size)):
            yield self.chunk(k, size)

    def count(self, size: int = 1 << 16) -> int:
        """Number of valid combinations (scans a grid chunk by chunk)."""
        if self.samples is not None:
            return self.samples
        return sum(len(c) for c in self.chunks(size))

    def _grid(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        shape = tuple(a.size or 0 for a in self.axes)
        if not shape:
            return {}
        digits = np.unravel_index(ids, shape)
        return {
            a.name: _column(a.values, a.is_int)[d] for a, d in zip(self.axes, digits, strict=True)
        }

    def _samples(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        if hi <= lo:
            return {a.name: _column((), a.is_int) for a in self.axes}
        parts = []
        for block in range(lo // SAMPLE_BLOCK, (hi - 1) // SAMPLE_BLOCK + 1):
            cols = self._sample_block(block)
            a = max(lo - block * SAMPLE_BLOCK, 0)
            b = min(hi - block * SAMPLE_BLOCK, SAMPLE_BLOCK)
            parts.append({name: col[a:b] for name, col in cols.items()})
        return {a.name: np.concatenate([p[a.name] for p in parts]) for a in self.axes}

    def _sample_block(self, block: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, block])
        out = {a.name: np.empty(SAMPLE_BLOCK, dtype=_dtype(a)) for a in self.axes}
        todo = np.arange(SAMPLE_BLOCK)
        for _ in range(_MAX_ROUNDS):
            draw = {a.name: a.draw(rng, todo.shape[0]) for a in self.axes}
            ok = self._valid(draw)
            for name, col in draw.items():
                out[name][todo[ok]] = col[ok]
            todo = todo[~ok]
            if todo.shape[0] == 0:
                return out
        raise ConfigError(
            f"sweep {self.key}: the constraints reject nearly every random sample "
            f"({', '.join(c.text for c in self.constraints) or 'strategy checks'}); "
            "narrow the distributions or use a grid"
        )

    def _valid(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        n = next(iter(columns.values())).shape[0] if columns else 1
        ok = np.ones(n, dtype=bool)
        full = {**{k: np.full(n, v) for k, v in self._defaults().items()}, **columns}
        for c in self.constraints:
            ok &= c.holds(full)
        strat = strategies.spec(self.strategy)
        if strat.checks:
            names = [p.name for p in strat.params]
            for i in np.flatnonzero(ok):
                values = {name: full[name][i].item() for name in names}
                ok[i] = all(check(values) is None for check in strat.checks)
        return ok

    def _defaults(self) -> dict[str, Any]:
        """Every parameter not swept: strategy defaults, then ``fixed`` values."""
        swept = {a.name for a in self.axes}
        strat = strategies.spec(self.strategy)
        out: dict[str, Any] = {p.name: p.default for p in strat.params if p.name not in swept}
        out.update({k: v for k, v in self.fixed.items() if k not in swept})
        return out

    def _combos(self, ids: np.ndarray, columns: dict[str, np.ndarray]) -> Combos:
        n = ids.shape[0]
        defaults = self._defaults()
        strat = strategies.spec(self.strategy)
        params = {}
        for p in strat.params:
            col = columns[p.name] if p.name in columns else np.full(n, defaults[p.name])
            params[p.name] = col.astype(np.int64 if p.is_int else np.float64)
        bt = {}
        for name in BACKTEST_AXES:
            if name in columns:
                bt[name] = columns[name]
            elif name == "direction":
                bt[name] = np.full(n, defaults.get(name, "long_only"), dtype=object)
            else:
                value = defaults.get(name, _BACKTEST_DEFAULTS[name])
                bt[name] = np.full(n, math.nan if value is None else float(value))
        return Combos(self.key, ids, params, bt)


_BACKTEST_DEFAULTS = {k: backtest.simulate.__kwdefaults__[k] for k in BACKTEST_AXES}


def _dtype(axis: Axis) -> Any:
    if axis.name == "direction":
        return object
    return np.int64 if axis.is_int else np.float64


def _column(values: Sequence[Any], is_int: bool) -> np.ndarray:
    if values and isinstance(values[0], str):
        return np.array(values, dtype=object)
    return np.array(
        [math.nan if v is None else v for v in values], dtype=np.int64 if is_int else np.float64
    )


# -- parsing and validation -------------------------------------------------------------


def parse_space(
    entry: Mapping[str, Any], where: str = "sweep.strategies[0]", base: Mapping[str, Any] = ()
) -> Space:
    """A validated ``Space`` from one config entry.

    ``entry`` has ``name`` (a strategy), ``params`` (parameter → list, ``{start, stop,
    step}`` or ``{distribution, low, high}``; a scalar fixes the parameter), optional
    ``backtest`` (the same forms for ``BACKTEST_AXES``), ``constraints`` (strings such as
    ``"short_window < long_window"``), ``samples`` and ``seed`` (random sampling) and
    ``label``. ``base`` holds the run's backtest settings; swept values are validated
    against them. Errors name ``where`` and the key.
    """
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'name' and 'params', got {entry!r}")
    allowed = {"name", "params", "backtest", "constraints", "samples", "seed", "label"}
    extra = sorted(set(entry) - allowed)
    if extra:
        raise ConfigError(
            f"{where}: unknown key {extra[0]!r}; valid keys: {', '.join(sorted(allowed))}"
        )
    try:
        strat = strategies.spec(str(entry.get("name")))
    except ParameterError as err:
        raise ConfigError(f"{where}.name: {err}") from None
    declared = {p.name: p for p in strat.params}
    samples = _optional_int(entry.get("samples"), f"{where}.samples", low=1)
    seed = _optional_int(entry.get("seed", 0), f"{where}.seed", low=0) or 0

    axes: list[Axis] = []
    fixed: dict[str, Any] = {}
    params = _mapping(entry.get("params", {}), f"{where}.params")
    for name, spec in params.items():
        key = f"{where}.params.{name}"
        if name not in declared:
            raise ConfigError(
                f"{key}: unknown parameter {name!r} of strategy {strat.name!r}; "
                f"valid parameters: {', '.join(declared)}"
            )
        p = declared[name]
        axis = _axis(
            name, spec, key, p.is_int, lambda v, p=p, k=key: _check_param(strat.name, p, v, k)
        )
        if axis is None:
            fixed[name] = _check_param(strat.name, p, spec, key)
        else:
            axes.append(axis)

    bt_entry = _mapping(entry.get("backtest", {}), f"{where}.backtest")
    base_bt = dict(base)
    directions = bt_entry.get("direction", base_bt.get("direction", "long_only"))
    long_short_possible = "long_short" in (
        directions if isinstance(directions, list) else [directions]
    )
    for name, spec in bt_entry.items():
        key = f"{where}.backtest.{name}"
        if name not in BACKTEST_AXES:
            raise ConfigError(
                f"{key}: {name!r} cannot be swept; sweepable backtest settings: "
                f"{', '.join(BACKTEST_AXES)}"
            )

        def check(v: Any, name: str = name, key: str = key) -> Any:
            return _check_backtest(name, v, key, base_bt, long_short_possible)

        axis = _axis(name, spec, key, False, check)
        if axis is None:
            fixed[name] = check(spec)
        else:
            axes.append(axis)
    for name in BACKTEST_AXES:
        if name not in fixed and name in base_bt and not any(a.name == name for a in axes):
            fixed[name] = base_bt[name]

    if samples is None and any(a.dist for a in axes):
        raise ConfigError(f"{where}: a distribution needs 'samples: N' (random sampling)")
    for a in axes:
        if a.size == 0:
            raise ConfigError(f"{where}.params.{a.name}: empty space: no values")

    known = set(declared) | set(BACKTEST_AXES)
    constraints = tuple(
        _constraint(text, f"{where}.constraints[{i}]", known)
        for i, text in enumerate(_list(entry.get("constraints", []), f"{where}.constraints"))
    )
    label = entry.get("label") or ""
    if not isinstance(label, str):
        raise ConfigError(f"{where}.label: expected a string, got {label!r}")
    space = Space(strat.name, tuple(axes), fixed, constraints, samples, seed, label)
    if samples is None and space.count() == 0:
        rules = [c.text for c in constraints] + ([f"{strat.name}'s checks"] if strat.checks else [])
        raise ConfigError(
            f"{where}: empty space: {space.n_candidates} combination(s) of {strat.name}, "
            f"none valid under {', '.join(rules) or 'its values'}"
        )
    if samples is not None:
        space.chunk(0, 1)  # raises if the constraints reject (nearly) every sample
    return space


def _axis(name: str, spec: Any, key: str, is_int: bool, check: Callable[[Any], Any]) -> Axis | None:
    """An axis from a list, a range or a distribution; None for a scalar (a fixed value)."""
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{key}: empty space: the list has no values")
        return Axis(name, tuple(check(v) for v in spec), is_int=is_int)
    if not isinstance(spec, Mapping):
        return None
    if "distribution" in spec:
        _keys(spec, {"distribution", "low", "high"}, key)
        dist = spec["distribution"]
        if dist not in DISTRIBUTIONS:
            raise ConfigError(
                f"{key}.distribution: {dist!r} is not valid; choices: {', '.join(DISTRIBUTIONS)}"
            )
        low, high = check(spec.get("low")), check(spec.get("high"))
        if not low < high:
            raise ConfigError(
                f"{key}: empty space: low ({low!r}) must be less than high ({high!r})"
            )
        if dist == "log_uniform" and low <= 0:
            raise ConfigError(f"{key}: log_uniform needs low > 0, got {low!r}")
        if is_int and dist != "int_uniform":
            raise ConfigError(f"{key}: {name} is an integer parameter; use int_uniform or a range")
        if not is_int and dist == "int_uniform":
            raise ConfigError(f"{key}: {name} is a float parameter; use uniform or log_uniform")
        return Axis(name, dist=dist, low=float(low), high=float(high), is_int=is_int)
    _keys(spec, {"start", "stop", "step"}, key)
    start, stop = check(spec.get("start")), check(spec.get("stop"))
    step = spec.get("step", 1)
    if isinstance(step, bool) or not isinstance(step, int | float) or not step > 0:
        raise ConfigError(f"{key}.step: must be a positive number, got {step!r}")
    if is_int and float(step) != int(step):
        raise ConfigError(f"{key}.step: {name} is an integer parameter, got step {step!r}")
    if stop < start:
        raise ConfigError(f"{key}: empty space: stop ({stop!r}) is below start ({start!r})")
    n = int(math.floor((stop - start) / step + 1e-9)) + 1
    values = [start + i * step for i in range(n)]
    values = [int(v) for v in values] if is_int else [round(float(v), 12) for v in values]
    return Axis(name, tuple(check(v) for v in values), is_int=is_int)


def _check_param(strategy: str, p: Any, value: Any, key: str) -> int | float:
    try:
        return p.check(strategy, value)
    except ParameterError as err:
        raise ConfigError(f"{key}: {err}") from None


def _check_backtest(
    name: str, value: Any, key: str, base: Mapping[str, Any], long_short_possible: bool
) -> Any:
    """Validate one backtest value by running ``compute.backtest`` on one bar with it."""
    settings = {k: v for k, v in base.items() if k in backtest.simulate.__kwdefaults__}
    settings[name] = value
    directions = (
        ["long_only", "long_short"] if name == "take_profit" and long_short_possible else []
    )
    bar = np.ones(1)
    try:
        for d in directions or [settings.get("direction", "long_only")]:
            if name != "direction":
                settings["direction"] = d
            backtest.simulate(bar, bar, bar, bar, bar * np.nan, **settings)
    except ParameterError as err:
        raise ConfigError(f"{key}: {err}") from None
    return value


def _constraint(text: Any, key: str, known: set[str]) -> Constraint:
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if not m:
        raise ConfigError(
            f"{key}: {text!r} is not a constraint; write 'a < b' with parameter names or "
            f"numbers and one of {', '.join(_OPS)}"
        )
    sides: list[str | float] = []
    for token in (m.group(1), m.group(3)):
        if token[0].isalpha() or token[0] == "_":
            if token not in known:
                raise ConfigError(
                    f"{key}: unknown parameter {token!r} in {text!r}; valid: {', '.join(sorted(known))}"
                )
            sides.append(token)
        else:
            sides.append(float(token))
    return Constraint(text, sides[0], m.group(2), sides[1])


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value


def _list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    return value


def _keys(spec: Mapping[str, Any], allowed: set[str], key: str) -> None:
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ConfigError(
            f"{key}: unknown key {extra[0]!r}; valid keys: {', '.join(sorted(allowed))}"
        )
    missing = sorted(k for k in allowed - set(spec) if k != "step")
    if missing:
        raise ConfigError(f"{key}: missing key {missing[0]!r}")


def _optional_int(value: Any, key: str, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{key}: expected an integer >= {low}, got {value!r}")
    return value
