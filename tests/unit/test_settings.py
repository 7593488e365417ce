"""Settings: every shipped config validates, precedence holds, and errors name key and value."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from compute.errors import ConfigError
from flows.settings import Settings, load_settings

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write(tmp_path: Path, data: object, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def error_of(path: Path | None, overrides=None, environ=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, overrides, environ=environ or {})
    message = str(info.value)
    assert "\n" not in message, f"error is not one line: {message!r}"
    return message


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    if path.name == "sweep.yaml":  # read by `barpipe sweep`/`walkforward`: its own loader
        from flows.sweep import load_sweep

        settings, sweep = load_sweep(path)
        assert sweep.spaces
    else:
        settings = load_settings(path, environ={})
    assert isinstance(settings, Settings)


def test_default_yaml_equals_builtin_defaults() -> None:
    assert load_settings(CONFIGS / "default.yaml", environ={}) == Settings()


def _keys(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in data.items():
        out.add(prefix + key)
        if isinstance(value, dict) and key not in ("storage_options", "params"):
            out |= _keys(value, prefix + key + ".")
    return out


def test_default_yaml_lists_every_key() -> None:
    raw = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    assert _keys(raw) == _keys(Settings().model_dump())


def test_default_yaml_comments_every_key() -> None:
    leaf = re.compile(r"^\s*(\w+):\s*\S")
    uncommented = [
        line
        for line in (CONFIGS / "default.yaml").read_text().splitlines()
        if leaf.match(line) and "#" not in line
    ]
    assert uncommented == []


def test_unknown_key_names_key_file_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, {"cluster": {"n_worker": 2}})
    assert error_of(path) == (
        f"unknown config key 'cluster.n_worker' in {path}; did you mean 'n_workers'?"
    )


def test_unknown_section_is_suggested(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, {"backtst": {"fees_bps": 2}}))
    assert "unknown config key 'backtst'" in message
    assert "did you mean 'backtest'?" in message


def test_bad_choice_names_key_value_and_choices(tmp_path: Path) -> None:
    path = write(tmp_path, {"backtest": {"direction": "both"}})
    message = error_of(path)
    assert message.startswith(
        "config key 'backtest.direction' = 'both' is not allowed; "
        "choose one of: long_only, long_short"
    )
    assert str(path) in message


@pytest.mark.parametrize(
    ("data", "key", "value", "allowed"),
    [
        ({"cluster": {"n_workers": 0}}, "cluster.n_workers", "0", "greater than or equal to 1"),
        ({"cluster": {"memory_limit": "600XB"}}, "cluster.memory_limit", "'600XB'", "'600MB'"),
        ({"batches": {"memory_fraction": 1.5}}, "batches.memory_fraction", "1.5", "less than"),
        ({"backtest": {"stop_loss": 2}}, "backtest.stop_loss", "2", "less than 1"),
        ({"dates": {"start": "soon"}}, "dates.start", "'soon'", "YYYY-MM-DD"),
        ({"schedule": {"cron": "0 2 * *"}}, "schedule.cron", "'0 2 * *'", "5 fields"),
        ({"schedule": {"timezone": "Mars/Base"}}, "schedule.timezone", "'Mars/Base'", "IANA"),
        ({"run": {"lock": "never"}}, "run.lock", "'never'", "choose one of: wait, refuse"),
    ],
)
def test_bad_value_names_key_value_and_what_is_allowed(
    tmp_path: Path, data: dict, key: str, value: str, allowed: str
) -> None:
    message = error_of(write(tmp_path, data))
    assert message.startswith(f"config key '{key}' = {value} is not allowed; ")
    assert allowed in message


def test_url_output_needs_a_local_database(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, {"output": {"path": "s3://bucket/out"}}))
    assert "'output.db_path'" in message
    settings = load_settings(
        None, {"output.path": "s3://bucket/out", "output.db_path": "/tmp/b.db"}, environ={}
    )
    assert settings.output.resolved_db_path() == "/tmp/b.db"


def test_local_output_puts_database_in_output_root() -> None:
    settings = load_settings(None, {"output.path": "some/out"}, environ={})
    assert settings.output.resolved_db_path() == str(Path("some/out") / "barpipe.db")


def test_indicator_parameter_error_names_the_parameter(tmp_path: Path) -> None:
    data = {"indicators": [{"name": "ema"}, {"name": "sma", "params": {"timeperiod": 1}}]}
    message = error_of(write(tmp_path, data))
    assert message.startswith("config key 'indicators[1].params.timeperiod' = 1 is not allowed;")
    assert "[2, 100000]" in message


def test_unknown_indicator_parameter_is_suggested(tmp_path: Path) -> None:
    data = {"indicators": [{"name": "sma", "params": {"timeperiods": 20}}]}
    message = error_of(write(tmp_path, data))
    assert "unknown config key 'indicators[0].params.timeperiods'" in message
    assert "did you mean 'timeperiod'?" in message


def test_unknown_indicator_name_is_rejected(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, {"indicators": [{"name": "smaa"}]}))
    assert message.startswith("config key 'indicators[0].name' = 'smaa' is not allowed;")
    assert "'sma'" in message


def test_indicator_params_are_resolved_with_defaults() -> None:
    settings = load_settings(None, {"indicators": [{"name": "SMA"}]}, environ={})
    assert settings.indicators[0].name == "sma"
    assert settings.indicators[0].params == {"timeperiod": 30}


def test_indicators_that_would_share_columns_are_rejected() -> None:
    same = [{"name": "sma", "params": {"timeperiod": 20}}] * 2
    with pytest.raises(ConfigError, match=r"'indicators\[1\]\.prefix' = 'sma_20'"):
        load_settings(None, {"indicators": same}, environ={})
    renamed = [same[0], {**same[1], "prefix": "sma_twenty"}]
    assert len(load_settings(None, {"indicators": renamed}, environ={}).indicators) == 2


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"cluster": {"n_workers": 2}, "universe": {"symbols": ["X"]}})
    env = {"BARPIPE_CLUSTER__N_WORKERS": "3", "BARPIPE_UNIVERSE__SYMBOLS": "AAPL, MSFT"}
    settings = load_settings(path, environ=env)
    assert settings.cluster.n_workers == 3
    assert settings.universe.symbols == ["AAPL", "MSFT"]


def test_environment_is_read_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARPIPE_OUTPUT__PATH", "elsewhere")
    assert load_settings(None).output.path == "elsewhere"


def test_environment_values_null_and_yaml() -> None:
    env = {
        "BARPIPE_CLUSTER__ADDRESS": "null",
        "BARPIPE_INDICATORS": "[{name: ema, params: {timeperiod: 12}}]",
        "BARPIPE_RUN__KEY": "2026-01-31",
    }
    settings = load_settings(None, environ=env)
    assert settings.cluster.address is None
    assert settings.indicators[0].params == {"timeperiod": 12}
    assert settings.run.key == "2026-01-31"


def test_cli_override_beats_environment_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"cluster": {"n_workers": 2}})
    env = {"BARPIPE_CLUSTER__N_WORKERS": "3"}
    assert load_settings(path, {"cluster.n_workers": 4}, environ=env).cluster.n_workers == 4
    nested = load_settings(path, {"cluster": {"n_workers": 5}}, environ=env)
    assert nested.cluster.n_workers == 5


def test_unknown_environment_variable_names_the_variable() -> None:
    message = error_of(None, environ={"BARPIPE_CLUSTER__N_WORKER": "3"})
    assert message == (
        "unknown config key 'cluster.n_worker' from environment variable "
        "BARPIPE_CLUSTER__N_WORKER; did you mean 'n_workers'?"
    )


def test_bad_environment_value_names_the_variable() -> None:
    message = error_of(None, environ={"BARPIPE_BACKTEST__FEES_BPS": "cheap"})
    assert message.startswith("config key 'backtest.fees_bps' = 'cheap' is not allowed;")
    assert "BARPIPE_BACKTEST__FEES_BPS" in message


def test_bad_command_line_value_says_so() -> None:
    message = error_of(None, {"cluster.memory_limit": "lots"})
    assert message.endswith("(from the command line)")


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    assert "does not exist" in error_of(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("cluster:\n  n_workers: [1,\n")
    assert "is not valid YAML" in error_of(broken)
    assert "must hold a mapping" in error_of(write(tmp_path, [1, 2]))


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert load_settings(empty, environ={}) == Settings()


def test_config_hash_is_stable_and_ignores_run_identity() -> None:
    base = load_settings(None, environ={})
    assert base.config_hash() == load_settings(None, environ={}).config_hash()
    assert re.fullmatch(r"[0-9a-f]{16}", base.config_hash())
    other_night = load_settings(None, {"run.run_date": "2026-01-02", "run.key": "k"}, environ={})
    assert other_night.config_hash() == base.config_hash()
    costlier = load_settings(None, {"backtest.fees_bps": 5}, environ={})
    assert costlier.config_hash() != base.config_hash()


def test_yaml_dump_loads_back_to_equal_settings(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        {
            "indicators": [{"name": "sma", "params": {"timeperiod": 20}}],
            "dates.start": "2020-01-01",
        },
        environ={},
    )
    dumped = tmp_path / "dump.yaml"
    dumped.write_text(settings.to_yaml())
    assert load_settings(dumped, environ={}) == settings


def test_run_key_defaults_to_run_date() -> None:
    settings = load_settings(None, {"run.run_date": "2026-03-04"}, environ={})
    assert settings.run.resolved_date() == dt.date(2026, 3, 4)
    assert settings.run.resolved_key() == "2026-03-04"
    assert load_settings(None, {"run.key": "adhoc"}, environ={}).run.resolved_key() == "adhoc"


def test_several_problems_are_counted_on_one_line(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, {"cluster": {"n_workers": 0, "threads_per_worker": 0}}))
    assert message.endswith("[+1 more problem]")


def test_unknown_strategy_lists_the_choices(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, {"strategies": [{"name": "momentom"}]}))
    assert message.startswith("config key 'strategies[0].name' = 'momentom' is not allowed;")
    assert "momentum" in message


def test_unknown_strategy_parameter_is_named(tmp_path: Path) -> None:
    data = {"strategies": [{"name": "zscore"}, {"name": "momentum", "params": {"nope": 1}}]}
    assert "unknown config key 'strategies[1].params.nope'" in error_of(write(tmp_path, data))


def test_strategies_with_one_label_are_rejected() -> None:
    twice = [{"name": "zscore"}, {"name": "zscore"}]
    with pytest.raises(ConfigError, match=r"'strategies\[1\]\.label' = 'zscore'"):
        load_settings(None, {"strategies": twice}, environ={})
    labelled = [{"name": "zscore"}, {"name": "zscore", "label": "zscore_wide"}]
    assert len(load_settings(None, {"strategies": labelled}, environ={}).strategies) == 2


def test_json_dump_validates_back_to_equal_settings() -> None:
    # The flow passes settings.model_dump(mode="json") to Prefect and validates it again.
    settings = load_settings(CONFIGS / "demo.yaml", environ={})
    assert Settings.model_validate(settings.model_dump(mode="json")) == settings


def test_parameter_type_error_says_what_type() -> None:
    bad = {"indicators": [{"name": "sma", "params": {"timeperiod": 2.5}}]}
    message = error_of(None, bad)
    assert "'indicators[0].params.timeperiod' = 2.5 is not allowed; must be an integer" in message


@pytest.mark.parametrize("root", ["memory://bucket/out", "gcs://bucket/out"])
def test_an_output_root_delta_cannot_use_is_refused(tmp_path: Path, root: str) -> None:
    message = error_of(write(tmp_path, {"output": {"path": root, "db_path": "/tmp/b.db"}}))
    assert message.startswith(f"config key 'output.path' = '{root}' is not allowed; ")
    assert "a local path, file://, s3:// or s3a://" in message
    for ok in ("out", "file:///tmp/out", "s3://bucket/out"):
        load_settings(None, {"output.path": ok, "output.db_path": "/tmp/b.db"}, environ={})
