"""Settings a new user or a hostile one would try: defaults that compute, limits that work,
and YAML shapes that are refused with one line naming the problem (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute.errors import ConfigError
from flows.settings import Settings, load_settings

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def error_of(path: Path | None = None, overrides=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, overrides, environ={})
    message = str(info.value)
    assert "\n" not in message, f"error is not one line: {message!r}"
    return message


# --------------------------------------------------------------------------- defaults


def test_builtin_defaults_are_the_demo_strategies_and_indicators() -> None:
    demo = load_settings(CONFIGS / "demo.yaml", environ={})
    defaults = Settings()
    assert [s.name for s in defaults.strategies] == [
        "momentum",
        "zscore",
        "ma_crossover",
        "bollinger",
    ]
    assert defaults.strategies == demo.strategies
    assert defaults.indicators == demo.indicators


def test_default_yaml_lists_the_builtin_strategies_and_indicators() -> None:
    shipped = load_settings(CONFIGS / "default.yaml", environ={})
    assert shipped.strategies == Settings().strategies
    assert shipped.indicators == Settings().indicators
    assert len(shipped.strategies) == 4
    assert len(shipped.indicators) == 9


@pytest.mark.parametrize(
    "overrides",
    [
        {"strategies": [], "indicators": []},
        {"strategies": [], "output.write_indicators": False},
    ],
    ids=["both-empty", "indicators-not-written"],
)
def test_a_config_that_computes_nothing_is_refused(overrides) -> None:
    message = error_of(None, overrides)
    assert message.startswith("config key 'strategies' = [] is not allowed")
    assert "compute nothing" in message


def test_indicators_alone_still_run() -> None:
    settings = load_settings(None, {"strategies": []}, environ={})
    assert settings.strategies == []
    assert len(settings.indicators) == 9


def test_refusal_says_what_to_add() -> None:
    message = error_of(None, {"strategies": [], "indicators": []})
    assert "add strategies" in message
    assert "momentum" in message
