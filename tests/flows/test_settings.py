"""aied.toml's per-source HTTP limits: checked when read, and applied to the provider's requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.demo import _demo_config
from flows.settings import PACKAGED_CONFIG, ConfigError, get_settings, http_limits, load_config
from sources.http import DEFAULT_TIMEOUT, FetchError, ResponseTooLargeError, build_session, fetch
from tests.faults.faultserver import FaultServer, hang, ok


def test_unset_limits_keep_the_defaults() -> None:
    assert http_limits({"rate_per_second": 3.0}) == {}
    session = build_session()
    assert (session.timeout, session.max_retries) == (DEFAULT_TIMEOUT, 4)


@pytest.mark.parametrize(("options", "expected"), [
    ({"timeout_seconds": 30}, {"timeout": (10.0, 30.0)}),
    ({"timeout_seconds": 0.5}, {"timeout": (0.5, 0.5)}),
    ({"max_retries": 0}, {"max_retries": 0}),
    ({"max_response_mb": 1.5}, {"max_bytes": 1_572_864}),
])
def test_limits_become_session_arguments(options: dict, expected: dict) -> None:
    assert http_limits(options) == expected


@pytest.mark.parametrize(("key", "value"), [
    ("timeout_seconds", "30"), ("timeout_seconds", 0), ("timeout_seconds", -1),
    ("timeout_seconds", True), ("max_retries", 1.5), ("max_retries", -1), ("max_retries", 21),
    ("max_retries", "2"), ("max_retries", False), ("max_response_mb", 0),
])
def test_a_bad_limit_is_refused_when_the_file_is_read(tmp_path: Path, key: str,
                                                      value: object) -> None:
    path = tmp_path / "aied.toml"
    literal = f'"{value}"' if isinstance(value, str) else str(value).lower()
    path.write_text(f"[sources.crossref]\n{key} = {literal}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"\[sources\.crossref\] {key} must be .*not "):
        load_config(path)


def test_the_session_limits_apply_unless_a_call_names_its_own() -> None:
    with FaultServer() as server:
        server.route("/slow", hang(5))
        server.route("/big", ok(b"x" * 3000))
        session = build_session(timeout=0.3, max_retries=1, max_bytes=2000)
        with pytest.raises(FetchError, match="failed after 2 attempts: ReadTimeout"):
            fetch(session, f"{server.url}/slow", sleep=lambda _s: None)
        assert len(server.requests_to("/slow")) == 2
        with pytest.raises(ResponseTooLargeError, match="over the cap of 2000"):
            fetch(session, f"{server.url}/big", sleep=lambda _s: None)
        assert fetch(session, f"{server.url}/big", max_bytes=4000).body == b"x" * 3000


def test_an_ingest_uses_the_configured_timeout_and_retries(prefect_harness,
                                                           fresh_aied_env) -> None:
    from flows.ingest import ingest_flow

    _demo_config(get_settings().config_path, PACKAGED_CONFIG, overrides={"crossref": {
        "timeout_seconds": 0.3, "max_retries": 1, "rate_per_second": 50.0}})
    with FaultServer() as server:
        server.route("/journals/0142-159X/works", hang(5))
        with pytest.raises(FetchError, match="failed after 2 attempts: ReadTimeout"):
            ingest_flow("crossref", scope="0142-159X", base_url=server.url, full=True,
                        emit_event=False)
        # Two attempts, each cut at 0.3 s: the defaults would have waited 5 x 60 s.
        assert len(server.requests_to("/journals/0142-159X/works")) == 2
