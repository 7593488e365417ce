"""`barpipe server` tells Prefect's UI where its API is (flows.serve.server_env)."""

from __future__ import annotations

import pytest

from flows.serve import server_api_url, server_env


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:4311/api"),
        ("0.0.0.0", "http://127.0.0.1:4311/api"),  # a wildcard bind is reached on loopback
        ("::", "http://127.0.0.1:4311/api"),
        ("::1", "http://[::1]:4311/api"),
        ("prefect.local", "http://prefect.local:4311/api"),
    ],
)
def test_ui_api_url_follows_host_and_port(host: str, expected: str) -> None:
    assert server_api_url(host, 4311) == expected
    env = server_env(host, 4311, {"PREFECT_API_URL": "http://127.0.0.1:4200/api"})
    assert env["PREFECT_SERVER_UI_API_URL"] == expected  # not the client's API URL
    assert (env["PREFECT_SERVER_API_HOST"], env["PREFECT_SERVER_API_PORT"]) == (host, "4311")


@pytest.mark.parametrize("name", ["PREFECT_UI_API_URL", "PREFECT_SERVER_UI_API_URL"])
def test_a_ui_api_url_the_user_set_is_kept(name: str) -> None:
    env = server_env("0.0.0.0", 4200, {name: "https://prefect.example/api"})
    assert env[name] == "https://prefect.example/api"
    assert env.get("PREFECT_SERVER_UI_API_URL", env[name]) == "https://prefect.example/api"
