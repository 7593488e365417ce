"""The ``portfolio:`` config section: its keys come from PortfolioRules, errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compute.allocation import PortfolioRules
from compute.errors import ConfigError
from flows.settings import Settings, load_settings, portfolio_rules


def _error(tmp_path: Path, entries: list[dict]) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"portfolio": entries}))
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    return message


def test_portfolios_load_with_the_backtests_costs(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "backtest": {"fees_bps": 4.0, "slippage_bps": 2.5},
                "portfolio": [
                    {
                        "label": "rotation",
                        "score": {"indicator": "roc", "params": {"timeperiod": 90}},
                        "top": 20,
                    },
                    {
                        "label": "signals",
                        "select": "signal",
                        "score": {"strategy": "zscore"},
                        "direction": "long_short",
                        "rebalance": "signal",
                    },
                ],
            }
        )
    )
    settings = load_settings(path, environ={})
    rules = [portfolio_rules(p, settings.backtest) for p in settings.portfolio]
    assert rules[0] == PortfolioRules(label="rotation", top=20, fees_bps=4.0, slippage_bps=2.5)
    assert rules[1].select == "signal"
    assert settings.portfolio[0].score.params == {"timeperiod": 90}
    assert isinstance(settings.config_hash(), str)
    assert load_settings(_dump(tmp_path, settings), environ={}) == settings


def _dump(tmp_path: Path, settings: Settings) -> Path:
    path = tmp_path / "round.yaml"
    path.write_text(settings.to_yaml())
    return path


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"top": -2}, "portfolio[0].top"),
        ({"rebalance": "daily"}, "portfolio[0].rebalance"),
        ({"bottom": 3}, "bottom = 3 shorts symbols"),
        ({"colour": "red"}, "portfolio[0].colour"),
        (
            {"score": {"indicator": "rocc"}},
            "'portfolio[0].score.indicator' = 'rocc' is not allowed; did you mean 'roc'",
        ),
        (
            {"score": {"indicator": "roc", "params": {"timeperiod": 0}}},
            "portfolio[0].score.params.timeperiod",
        ),
        (
            {"score": {"indicator": "macd", "output": "hist"}},
            "macd outputs: macd, macdsignal, macdhist",
        ),
        (
            {"score": {"indicator": "roc", "strategy": "zscore"}},
            "exactly one of 'indicator' or 'strategy'",
        ),
        ({"select": "signal"}, "select = 'signal' follows a strategy's targets"),
    ],
)
def test_bad_portfolio_entries_name_the_key(tmp_path: Path, entry: dict, expected: str) -> None:
    message = _error(tmp_path, [{"label": "p", **entry}])
    assert expected in message, message


def test_portfolio_labels_are_unique(tmp_path: Path) -> None:
    message = _error(tmp_path, [{"label": "p"}, {"label": "p"}])
    assert "portfolio[1].label" in message
