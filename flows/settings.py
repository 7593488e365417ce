"""The one typed settings object of barpipe, and the loader that builds it.

Precedence, highest first: the ``overrides`` passed to ``load_settings`` (CLI flags), then
``BARPIPE_...`` environment variables, then the YAML file, then the defaults declared here
(which ``configs/default.yaml`` repeats with a comment on every key).

Environment variables map to keys by upper-casing the dotted path and joining levels with a
double underscore: ``cluster.n_workers`` is ``BARPIPE_CLUSTER__N_WORKERS``. Values are read as
text and converted by the field's type; an empty value or ``null`` means null, a value starting
with ``[`` or ``{`` is parsed as YAML (``BARPIPE_INDICATORS='[{name: sma}]'``), and lists of
names also take a comma-separated value (``BARPIPE_UNIVERSE__SYMBOLS=AAPL,MSFT``).

Every problem becomes a one-line ``ConfigError`` that names the dotted key, the value, what is
allowed, and where the value came from.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import importlib
import importlib.util
import json
import math
import os
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic import model_validator as _model_validator
from pydantic_core import PydanticCustomError

from compute.errors import ConfigError, ParameterError

__all__ = [
    "ENV_PREFIX",
    "BacktestConfig",
    "BatchesConfig",
    "ClusterConfig",
    "DatesConfig",
    "IndicatorConfig",
    "InputConfig",
    "MetricsConfig",
    "OutputConfig",
    "PortfolioConfig",
    "PrefectConfig",
    "RunConfig",
    "ScheduleConfig",
    "ScoreConfig",
    "Settings",
    "StrategyConfig",
    "UniverseConfig",
    "is_local_path",
    "load_settings",
]

ENV_PREFIX = "BARPIPE_"
_ENV_SEP = "__"
_CUSTOM = "barpipe_config"  # error type of the registry checks, already worded for users


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _split_names(value: Any) -> Any:
    """Accept ``"A,B"`` for a list of names (environment variables, CLI flags)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def is_local_path(path: str) -> bool:
    """True for a plain path or a ``file://`` URL, False for any other fsspec URL."""
    return "://" not in path or path.startswith("file://")


def _local_part(path: str) -> str:
    return path.removeprefix("file://")


# --------------------------------------------------------------------------- sections


class InputConfig(_Section):
    """Where the input bars are: a Parquet file or dataset, local or any fsspec URL."""

    path: str = Field("data/bars", min_length=1)
    storage_options: dict[str, Any] = Field(default_factory=dict)


class OutputConfig(_Section):
    """Where results go: Parquet datasets under ``path`` and the SQLite run registry."""

    path: str = Field("output", min_length=1)
    storage_options: dict[str, Any] = Field(default_factory=dict)
    target_file_mib: int = Field(128, ge=1, le=4096)
    write_equity: bool = True
    write_indicators: bool = True
    db_path: str | None = None
    keep_nights: int | None = Field(None, ge=1)

    @_model_validator(mode="after")
    def _delta_root(self) -> OutputConfig:
        from storage.delta import unsupported_root

        why = unsupported_root(self.path)
        if why is not None:
            raise PydanticCustomError(
                _CUSTOM,
                "{message}",
                {
                    "key": "output.path",
                    "message": f"config key 'output.path' = {self.path!r} is not allowed; {why}",
                },
            )
        return self

    @_model_validator(mode="after")
    def _db_path_needed(self) -> OutputConfig:
        if self.db_path is None and not is_local_path(self.path):
            raise PydanticCustomError(
                _CUSTOM,
                "{message}",
                {
                    "key": "output.db_path",
                    "message": (
                        f"config key 'output.db_path' = None is not allowed when 'output.path' "
                        f"is a URL ({self.path!r}); set a local file path for the SQLite database"
                    ),
                },
            )
        return self

    def resolved_db_path(self) -> str:
        """The SQLite file: ``db_path``, or ``<output>/barpipe.db`` for a local output."""
        if self.db_path is not None:
            return _local_part(self.db_path)
        return str(Path(_local_part(self.path)) / "barpipe.db")


class UniverseConfig(_Section):
    """Which symbols to process."""

    symbols: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    min_bars: int = Field(0, ge=0)

    _names = field_validator("symbols", "exclude", mode="before")(_split_names)


class DatesConfig(_Section):
    """The bar date range to load, inclusive; null is open-ended."""

    start: dt.date | None = None
    end: dt.date | None = None

    @_model_validator(mode="after")
    def _ordered(self) -> DatesConfig:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise PydanticCustomError(
                _CUSTOM,
                "{message}",
                {
                    "key": "dates.end",
                    "message": (
                        f"config key 'dates.end' = '{self.end}' is not allowed; it must be on or "
                        f"after 'dates.start' = '{self.start}'"
                    ),
                },
            )
        return self


class RunConfig(_Section):
    """Identity and behaviour of one run."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    key: str | None = Field(None, min_length=1)
    run_date: dt.date | None = None
    strict: bool = False
    lock: Literal["wait", "refuse"] = "wait"
    lock_timeout_s: float = Field(600.0, ge=0)
    report: bool = True
    full: bool = False

    @field_validator("key", mode="before")
    @classmethod
    def _date_as_key(cls, value: Any) -> Any:
        # YAML reads an unquoted 2026-01-31 as a date; a run key is text.
        return value.isoformat() if isinstance(value, dt.date) else value

    def resolved_date(self) -> dt.date:
        """``run_date``, or today in UTC. Call once per run and pass the value on."""
        return self.run_date or dt.datetime.now(dt.UTC).date()

    def resolved_key(self, run_date: dt.date | None = None) -> str:
        """``key``, or the run date as ``YYYY-MM-DD``."""
        return self.key or (run_date or self.resolved_date()).isoformat()


class IndicatorConfig(_Section):
    """One indicator by TA-Lib name; ``params`` are filled with defaults once validated.

    ``prefix`` names its output columns; null means the name and every parameter value
    (``sma_20``, ``macd_12_26_9``), as ``compute.pipeline.IndicatorRequest`` builds it.
    """

    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    prefix: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]*$")


class StrategyConfig(_Section):
    """One strategy by name; ``params`` are filled with defaults once validated.

    ``label`` names it in the outputs' ``strategy`` column (null = ``name``), so one strategy
    can run with several parameter sets.
    """

    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")


class BacktestConfig(_Section):
    """Costs, sizing and exits of the simulated trading."""

    init_cash: float = Field(10_000.0, gt=0, le=1e15, allow_inf_nan=False)  # equity stays finite
    fees_bps: float = Field(1.0, ge=0, le=10_000)
    slippage_bps: float = Field(1.0, ge=0, le=10_000)
    fraction: float = Field(1.0, gt=0, le=1)
    direction: Literal["long_only", "long_short"] = "long_short"
    sizing: Literal["fixed", "kelly"] = "fixed"
    stop_loss: float | None = Field(None, gt=0, lt=1)
    take_profit: float | None = Field(None, gt=0, allow_inf_nan=False)


class ScoreConfig(_Section):
    """What a portfolio ranks by: one indicator output, or one strategy's target."""

    indicator: str | None = Field(None, min_length=1)
    strategy: str | None = Field(None, min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    output: str | None = Field(None, min_length=1)


def _portfolio_fields() -> dict[str, Any]:
    """``compute.allocation.PortfolioRules``'s fields as config keys (one declaration); fees
    and slippage come from ``backtest``."""
    import dataclasses
    import typing

    from compute.allocation import PortfolioRules

    hints = typing.get_type_hints(PortfolioRules)
    return {
        f.name: (hints[f.name], f.default)
        for f in dataclasses.fields(PortfolioRules)
        if f.name not in ("fees_bps", "slippage_bps")
    }


class _PortfolioBase(_Section):
    score: ScoreConfig = Field(default_factory=lambda: ScoreConfig(indicator="roc"))
    benchmark: str | None = Field(None, min_length=1)


# A shared-cash portfolio: the keys of ``PortfolioRules`` plus ``score`` (what ``select:
# rank`` ranks, or the strategy whose targets ``select: signal`` follows) and ``benchmark`` (a
# symbol of the input, or ``equal_weight`` for the universe's equal-weight buy-and-hold).
PortfolioConfig: Any = create_model(
    "PortfolioConfig", __base__=_PortfolioBase, **_portfolio_fields()
)


class MetricsConfig(_Section):
    """How returns are summarised."""

    annualization: float | None = Field(None, gt=0, allow_inf_nan=False)
    risk_free: float = Field(0.0, ge=-1, le=1)
    # every sleeve's RELATIVE_METRICS against: a symbol of the input or "equal_weight"
    benchmark: str | None = Field(None, min_length=1)


class ClusterConfig(_Section):
    """The Dask cluster: an existing scheduler, or a LocalCluster started for the run."""

    address: str | None = Field(None, min_length=1)
    n_workers: int | None = Field(None, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    memory_limit: str = "auto"
    dashboard_address: str = "127.0.0.1:8787"
    host: str = "127.0.0.1"
    processes: bool = True
    keep_alive_s: float = Field(0.0, ge=0, le=86_400)

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or value == "auto":
            return value
        from dask.utils import parse_bytes

        try:
            size = parse_bytes(value)
        except (ValueError, TypeError, OverflowError):  # 1e400 overflows to infinity
            raise PydanticCustomError(
                "memory_size", "use 'auto' or a size such as '600MB', '4GiB' or 2000000000"
            ) from None
        if size <= 0:
            raise PydanticCustomError("memory_size", "a memory limit must be more than 0 bytes")
        return value

    def memory_limit_bytes(self) -> int | None:
        """The limit in bytes, or None for ``auto`` (Dask shares the machine's memory)."""
        if self.memory_limit == "auto":
            return None
        from dask.utils import parse_bytes

        return int(parse_bytes(self.memory_limit))


class BatchesConfig(_Section):
    """How the planner cuts the universe into Dask tasks."""

    memory_fraction: float = Field(0.25, gt=0, le=1)
    min_batches_per_thread: int = Field(3, ge=1)
    max_symbols_per_batch: int = Field(500, ge=1)
    paused_timeout_s: float = Field(300.0, gt=0)


class PrefectConfig(_Section):
    """How the flow talks to Prefect."""

    api_url: str | None = Field(None, min_length=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ScheduleConfig(_Section):
    """The deployment ``barpipe serve`` registers."""

    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    deployment_name: str = Field("nightly", min_length=1)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5:
            raise PydanticCustomError(
                "cron", "a cron expression has 5 fields: minute hour day-of-month month weekday"
            )
        if importlib.util.find_spec("cronsim") is not None:
            from cronsim import CronSim, CronSimError

            try:
                CronSim(value, dt.datetime(2000, 1, 1))
            except CronSimError as err:
                raise PydanticCustomError(
                    "cron",
                    "{reason}; a cron expression looks like '0 2 * * *'",
                    {"reason": str(err)},
                ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone", "use an IANA time zone name such as 'UTC' or 'Europe/London'"
            ) from None
        return value


# --------------------------------------------------------------------------- settings

# The bot's standard set (what configs/demo.yaml lists): a run without a config computes these.
DEFAULT_INDICATORS: tuple[dict[str, Any], ...] = (
    {"name": "rsi", "params": {"timeperiod": 14}},
    {"name": "macd", "params": {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}},
    {"name": "bbands", "params": {"timeperiod": 20}},
    {"name": "sma", "params": {"timeperiod": 20}},
    {"name": "sma", "params": {"timeperiod": 50}},
    {"name": "ema", "params": {"timeperiod": 12}},
    {"name": "ema", "params": {"timeperiod": 26}},
    {"name": "atr", "params": {"timeperiod": 14}},
    {"name": "adx", "params": {"timeperiod": 14}},
)
DEFAULT_STRATEGIES: tuple[str, ...] = ("momentum", "zscore", "ma_crossover", "bollinger")


def _default_indicators() -> list[IndicatorConfig]:
    return [IndicatorConfig(**entry) for entry in DEFAULT_INDICATORS]


def _default_strategies() -> list[StrategyConfig]:
    return [StrategyConfig(name=name) for name in DEFAULT_STRATEGIES]


class Settings(_Section):
    """Everything a run needs, resolved and validated; build it with ``load_settings``."""

    input: InputConfig = Field(default_factory=InputConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    universe: UniverseConfig = Field(default_factory=UniverseConfig)
    dates: DatesConfig = Field(default_factory=DatesConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    indicators: list[IndicatorConfig] = Field(default_factory=_default_indicators)
    strategies: list[StrategyConfig] = Field(default_factory=_default_strategies)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    batches: BatchesConfig = Field(default_factory=BatchesConfig)
    prefect: PrefectConfig = Field(default_factory=PrefectConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    portfolio: list[PortfolioConfig] = Field(default_factory=list)

    @_model_validator(mode="after")
    def _check_portfolios(self) -> Settings:
        for i, entry in enumerate(self.portfolio):
            _check_portfolio(i, entry)
        _check_unique("portfolio", "label", [e.label for e in self.portfolio])
        return self

    @_model_validator(mode="after")
    def _check_registries(self) -> Settings:
        indicators = _registry("compute.indicators")
        if indicators is not None:
            self.indicators = [
                _resolve_indicator(i, entry, indicators) for i, entry in enumerate(self.indicators)
            ]
        _check_unique(
            "indicators",
            "prefix",
            [e.prefix or _default_prefix(e.name.lower(), e.params) for e in self.indicators],
        )
        strategies = _registry("compute.strategies")
        if strategies is not None:
            self.strategies = [
                _resolve_strategy(i, entry, strategies) for i, entry in enumerate(self.strategies)
            ]
        _check_unique("strategies", "label", [e.label or e.name for e in self.strategies])
        if not self.strategies and not (self.indicators and self.output.write_indicators):
            raise _fail(
                "strategies",
                "config key 'strategies' = [] is not allowed with no indicators written: the "
                "run would compute nothing; add strategies (e.g. strategies: [{name: momentum}], "
                f"choose from {', '.join(DEFAULT_STRATEGIES)}) or indicators with "
                "output.write_indicators: true",
            )
        return self

    def config_hash(self) -> str:
        """A stable 16-hex-digit hash of the resolved settings, run identity excluded.

        ``run.key`` and ``run.run_date`` are left out so that two nights with the same
        configuration share a hash; everything else, cluster included, is in.
        """
        data = self.model_dump(mode="json", exclude={"run": {"key", "run_date"}})
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        """The resolved settings as YAML, in declaration order; loads back to equal settings."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------- registries


def _registry(module_name: str) -> ModuleType | None:
    """The registry module if it exists and exposes ``names`` and ``spec``, else None."""
    if importlib.util.find_spec(module_name) is None:
        return None
    module = importlib.import_module(module_name)
    if not (callable(getattr(module, "names", None)) and callable(getattr(module, "spec", None))):
        return None
    return module


def _fail(key: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(_CUSTOM, "{message}", {"key": key, "message": message})


def _fail_unknown(key: str, hint: str) -> PydanticCustomError:
    message = f"unknown config key {key!r}; {hint}"
    return PydanticCustomError(_CUSTOM, "{message}", {"key": key, "message": message, "hint": hint})


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "valid: " + (", ".join(choices) or "none")


def _resolve_name(section: str, i: int, name: str, registry: ModuleType) -> Any:
    available = list(registry.names())
    if name.lower() in available:
        return registry.spec(name.lower())
    key = f"{section}[{i}].name"
    if len(available) <= 12:
        hint = "choose one of: " + ", ".join(available)
    else:
        close = difflib.get_close_matches(name.lower(), available, n=3, cutoff=0.6)
        hint = ("did you mean " + " or ".join(repr(c) for c in close) + "? ") if close else ""
        hint += f"`barpipe {section}` lists the {len(available)} available"
    raise _fail(key, f"config key {key!r} = {name!r} is not allowed; {hint}")


def _resolve_params(section: str, i: int, spec: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check each parameter on its own (so the error names it), then resolve them together."""
    base = f"{section}[{i}].params"
    declared = {p.name: p for p in getattr(spec, "params", ()) if hasattr(p, "name")}
    if declared:
        for pname, value in params.items():
            if pname not in declared:
                key = f"{base}.{pname}"
                raise _fail_unknown(key, _suggest(pname, list(declared)))
            check = getattr(declared[pname], "check", None)
            if check is None:
                continue
            try:
                check(spec.name, value)
            except ParameterError as err:
                # "sma: parameter 'x' must be an integer, got 2.5; valid range is [2, 100000]"
                before, _, after = str(err).partition("; ")
                reason = re.search(r"must be [^,;]+", before)
                allowed = "; ".join(p for p in (reason and reason.group(0), after) if p) or before
                key = f"{base}.{pname}"
                raise _fail(
                    key, f"config key {key!r} = {value!r} is not allowed; {allowed}"
                ) from None
    try:
        return dict(spec.resolve(dict(params)))
    except ParameterError as err:
        named = [n for n in re.findall(r"'(\w+)'", str(err)) if n in params or n in declared]
        key = f"{base}.{named[0]}" if named else base
        value = params.get(named[0]) if named else dict(params)
        raise _fail(key, f"config key {key!r} = {value!r} is not allowed; {err}") from None


def _default_prefix(name: str, params: Mapping[str, Any]) -> str:
    """``compute.pipeline``'s default column prefix: the name and every parameter value."""
    values = [f"{v:g}" if isinstance(v, float) else str(v) for v in params.values()]
    return "_".join([name, *values])


def _resolve_indicator(i: int, entry: IndicatorConfig, registry: ModuleType) -> IndicatorConfig:
    spec = _resolve_name("indicators", i, entry.name, registry)
    params = _resolve_params("indicators", i, spec, entry.params)
    return IndicatorConfig(name=spec.name, params=params, prefix=entry.prefix)


def _resolve_strategy(i: int, entry: StrategyConfig, registry: ModuleType) -> StrategyConfig:
    spec = _resolve_name("strategies", i, entry.name, registry)
    params = _resolve_params("strategies", i, spec, entry.params)
    name = getattr(spec, "name", entry.name.lower())
    return StrategyConfig(name=name, params=params, label=entry.label)


def portfolio_rules(entry: Any, backtest: BacktestConfig) -> Any:
    """The ``compute.allocation.PortfolioRules`` of a ``portfolio`` entry, with the backtest's
    fees and slippage."""
    from compute.allocation import PortfolioRules

    values = entry.model_dump(exclude={"score", "benchmark"})
    return PortfolioRules(**values, fees_bps=backtest.fees_bps, slippage_bps=backtest.slippage_bps)


def _check_portfolio(i: int, entry: Any) -> None:
    base = f"portfolio[{i}]"
    try:
        portfolio_rules(entry, BacktestConfig())
    except ParameterError as err:
        named = re.search(r": (\w+) = ", str(err))
        key = f"{base}.{named.group(1)}" if named else base
        raise _fail(key, f"config key {key!r}: {str(err).split(': ', 1)[-1]}") from None
    score = entry.score
    key = f"{base}.score"
    if (score.indicator is None) == (score.strategy is None):
        raise _fail(key, f"config key {key!r} needs exactly one of 'indicator' or 'strategy'")
    if entry.select == "signal" and score.strategy is None:
        raise _fail(key, f"config key {key!r}: select = 'signal' follows a strategy's targets")
    section = "indicators" if score.indicator is not None else "strategies"
    registry = _registry(f"compute.{section}")
    if registry is None:
        return
    name = (score.indicator or score.strategy or "").lower()
    if name not in list(registry.names()):
        what = "indicator" if score.indicator is not None else "strategy"
        raise _fail(
            f"{key}.{what}",
            f"config key '{key}.{what}' = {name!r} is not allowed; "
            f"{_suggest(name, list(registry.names()))}",
        )
    spec = registry.spec(name)
    try:
        score.params = _resolve_params(base, 0, spec, score.params)
    except PydanticCustomError as err:  # its key reads "<base>[0].params": point at the score
        ctx = err.context or {}
        fix = f"{base}[0].params", f"{key}.params"
        raise _fail(
            str(ctx.get("key", key)).replace(*fix), str(ctx.get("message", err)).replace(*fix)
        ) from None
    outputs = list(getattr(spec, "outputs", ()))
    if score.output is not None and outputs and score.output not in outputs:
        raise _fail(
            f"{key}.output",
            f"config key '{key}.output' = {score.output!r} is not allowed; "
            f"{name} outputs: {', '.join(outputs)}",
        )


def _check_unique(section: str, field: str, values: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            key = f"{section}[{i}].{field}"
            raise _fail(
                key,
                f"config key {key!r} = {value!r} is not allowed; it repeats "
                f"{section}[{seen[value]}] and outputs are named by it",
            )
        seen[value] = i


# --------------------------------------------------------------------------- loading


def load_settings(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from defaults, a YAML file, the environment and explicit overrides.

    Parameters
    ----------
    path : str, Path or None
        A YAML file (``configs/*.yaml``); None uses the defaults alone.
    overrides : mapping, optional
        Values that beat everything else (the CLI's flags), nested
        (``{"cluster": {"n_workers": 2}}``) or dotted (``{"cluster.n_workers": 2}``).
    environ : mapping, optional
        The environment to read ``BARPIPE_...`` variables from; ``os.environ`` by default.

    Returns
    -------
    Settings

    Raises
    ------
    ConfigError
        One line naming the file, the dotted key, the value and what is allowed.
    """
    sources: list[tuple[str, dict[str, Any]]] = []
    if path is not None:
        sources.append((f"in {path}", _read_yaml(Path(path))))
    env_values, env_names = _from_environ(os.environ if environ is None else environ)
    if env_values:
        sources.append(("from the environment", env_values))
    if overrides:
        sources.append(("from the command line", _expand_dotted(overrides)))

    merged: dict[str, Any] = {}
    for _, data in sources:
        merged = _deep_merge(merged, data)
    try:
        return Settings.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_explain(err, sources, env_names)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping: YAML keeps the last
    one silently, and a second ``cluster:`` section would drop the first one's keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" values may be overridden by the mapping's own keys
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice (lines {seen[key]} and {line}); keep one",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' does not exist") from None
    except OSError as err:
        raise ConfigError(f"config file '{path}' cannot be read: {err.strerror}") from err
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file '{path}' is not valid YAML{where}: {problem}") from None
    except ValueError as err:  # a well-formed but impossible date: 2026-02-30
        raise ConfigError(f"config file '{path}' has an impossible value: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file '{path}' must hold a mapping of sections (input:, output:, ...), "
            f"not a {type(data).__name__}"
        )
    return data


def _env_value(text: str) -> Any:
    stripped = text.strip()
    if stripped == "" or stripped.lower() in ("null", "none", "~"):
        return None
    if stripped[0] in "[{":
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError:
            return text
    return text


def _from_environ(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    values: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    for var in sorted(environ):
        if not var.upper().startswith(ENV_PREFIX):
            continue
        parts = tuple(p.lower() for p in var[len(ENV_PREFIX) :].split(_ENV_SEP))
        if not all(parts):
            raise ConfigError(
                f"environment variable {var} does not name a config key; use "
                f"{ENV_PREFIX}<SECTION>{_ENV_SEP}<KEY>, e.g. {ENV_PREFIX}CLUSTER{_ENV_SEP}N_WORKERS"
            )
        values = _deep_merge(values, _nest(parts, _env_value(environ[var])))
        names[parts] = var
    return values, names


def _nest(parts: Sequence[str], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(parts):
        out = {part: out}
    return out


def _expand_dotted(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        nested = _expand_dotted(value) if isinstance(value, Mapping) else value
        out = _deep_merge(out, _nest(str(key).split("."), nested))
    return out


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------- error text


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that holds the last element of ``loc`` (for key suggestions)."""
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _inner_model(get_args(annotation)[0])
    if origin in (list, Union, UnionType):
        for arg in get_args(annotation):
            inner = _inner_model(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        return None
    return annotation


def _lookup(data: Any, loc: Sequence[str | int]) -> tuple[bool, Any]:
    for part in loc:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return False, None
            data = data[part]
        elif isinstance(data, Mapping) and part in data:
            data = data[part]
        else:
            return False, None
    return True, data


def _origin(
    loc: Sequence[str | int],
    sources: Sequence[tuple[str, dict[str, Any]]],
    env_names: Mapping[tuple[str, ...], str],
) -> str:
    """Where the value at ``loc`` came from: the last source that sets it (or a parent)."""
    for label, data in reversed(sources):
        for depth in range(len(loc), 0, -1):
            found, _ = _lookup(data, loc[:depth])
            if found:
                if label == "from the environment":
                    name = env_names.get(tuple(str(p) for p in loc[:depth]))
                    return f"from environment variable {name}" if name else label
                return label
    return "by default"


def _format_value(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _explain(
    err: ValidationError,
    sources: Sequence[tuple[str, dict[str, Any]]],
    env_names: Mapping[tuple[str, ...], str],
) -> str:
    errors = err.errors(include_url=False)
    # An unknown key is the likelier root cause of anything else, so report it first.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc: tuple[str | int, ...] = tuple(first["loc"])
    ctx = first.get("ctx") or {}
    if first["type"] == _CUSTOM:
        key = ctx["key"]
        loc = tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", key) if p)
        if "hint" in ctx:
            text = f"unknown config key {key!r} {_origin(loc, sources, env_names)}; {ctx['hint']}"
            return _with_more(text, len(errors))
        text = ctx["message"]
    elif first["type"] == "extra_forbidden":
        key = _dotted(loc)
        model = _model_at(loc)
        known = list(model.model_fields) if model is not None else []
        text = f"unknown config key {key!r} {_origin(loc, sources, env_names)}; "
        text += _suggest(str(loc[-1]), known)
        return _with_more(text, len(errors))
    else:
        key = _dotted(loc) or "(top level)"
        value = _format_value(first.get("input"))
        if first["type"] == "literal_error":
            allowed = "choose one of: " + ", ".join(
                re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
            )
        elif first["type"].startswith(("date_", "datetime_")):
            allowed = "use a date as YYYY-MM-DD, or null"
        elif first["type"] == "missing":
            text = f"config key {key!r} is required"
            return _with_more(f"{text} {_origin(loc, sources, env_names)}", len(errors))
        else:
            allowed = first["msg"].removeprefix("Value error, ")
            allowed = re.sub(r"^Input should", "it should", allowed)
        text = f"config key {key!r} = {value} is not allowed; {allowed}"
    origin = _origin(loc, sources, env_names)
    if origin != "by default":
        text += f" ({origin})"
    return _with_more(text, len(errors))


def _with_more(text: str, count: int) -> str:
    if count > 1:
        text += f" [+{count - 1} more problem{'s' if count > 2 else ''}]"
    return text
