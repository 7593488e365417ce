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


# --------------------------------------------------------------------------- YAML edge cases


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "cluster:\n  n_workers: 1\n  n_workers: 4\n",
            "key 'n_workers' appears twice (lines 2 and 3)",
        ),
        ("cluster:\n  n_workers: 1\ncluster:\n  processes: false\n", "key 'cluster' appears twice"),
        (
            "run:\n  run_date: 2026-02-30\n",
            "has an impossible value: day is out of range for month",
        ),
        ("cluster:\n\tn_workers: 2\n", "is not valid YAML at line 2, column 1"),
        (
            "- input\n- output\n",
            "must hold a mapping of sections (input:, output:, ...), not a list",
        ),
        ("strategies: ~\n", "config key 'strategies' = None is not allowed"),
    ],
    ids=["duplicate-key", "duplicate-section", "impossible-date", "tab", "list", "tilde-list"],
)
def test_hostile_yaml_is_one_line_naming_the_file(tmp_path, text, says) -> None:
    path = _file(tmp_path, text)
    message = error_of(path)
    assert str(path) in message
    assert says in message


def test_yaml_merge_keys_may_be_overridden_and_empty_files_mean_defaults(tmp_path) -> None:
    text = (
        "cluster: &c {n_workers: 2, threads_per_worker: 2}\nbatches: {min_batches_per_thread: 1}\n"
    )
    assert load_settings(_file(tmp_path, text), environ={}).cluster.n_workers == 2
    assert load_settings(_file(tmp_path, "# nothing\n"), environ={}) == Settings()
    assert (
        load_settings(
            _file(tmp_path, "\ufeffcluster: {n_workers: 2}\n"), environ={}
        ).cluster.n_workers
        == 2
    )


# --------------------------------------------------------------------------- resource limits


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cluster.n_workers", 0),
        ("cluster.threads_per_worker", 0),
        ("cluster.n_workers", -3),
        ("cluster.keep_alive_s", 1e300),
        ("output.target_file_mib", 0),
        ("batches.memory_fraction", 0),
        ("batches.max_symbols_per_batch", 0),
        ("run.lock_timeout_s", float("nan")),
    ],
)
def test_zero_negative_and_absurd_limits_are_refused(key, value) -> None:
    message = error_of(None, {key: value})
    assert message.startswith(f"config key '{key}' = ")


def test_an_initial_cash_whose_equity_would_overflow_is_refused() -> None:
    message = error_of(None, {"backtest.init_cash": 1e308})
    assert message.startswith("config key 'backtest.init_cash' = 1e+308 is not allowed")
