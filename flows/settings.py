"""The one settings object: environment (``AIED_`` prefix) plus the optional ``aied.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from sources.http import DEFAULT_TIMEOUT

PACKAGED_CONFIG = Path(__file__).resolve().parent.parent / "aied.toml"
KNOWN_SOURCES = ("magtech", "crossref", "openalex", "pubmed", "arxiv", "oai", "files")


class ConfigError(ValueError):
    """aied.toml is malformed or names something unknown."""


class Settings(BaseSettings):
    """What people set in the environment. Secrets are SecretStr and never printed."""

    model_config = SettingsConfigDict(env_prefix="AIED_", extra="ignore")

    warehouse_url: str = "sqlite:///data/warehouse.sqlite"
    data_dir: Path = Path("data")
    config: Path | None = None
    contact_email: SecretStr | None = None
    openalex_api_key: SecretStr | None = None
    ncbi_api_key: SecretStr | None = None
    report_dir: Path | None = None
    notify_webhook_url: SecretStr | None = None

    @property
    def config_path(self) -> Path:
        if self.config is not None:
            return self.config
        local = Path("aied.toml")
        return local if local.exists() else PACKAGED_CONFIG

    @property
    def secrets(self) -> tuple[str, ...]:
        """Secret values to scrub from any message."""
        values = (self.contact_email, self.openalex_api_key, self.ncbi_api_key,
                  self.notify_webhook_url)
        return tuple(v.get_secret_value() for v in values if v is not None)

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class Journal:
    """A journal the pipeline tracks."""

    name: str
    issn: str
    platform: str
    name_zh: str | None = None
    site_url: str | None = None
    publisher: str | None = None
    cn: str | None = None


@dataclass(frozen=True)
class ProjectConfig:
    """aied.toml: journals and per-source options."""

    journals: tuple[Journal, ...]
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def journal(self, issn: str) -> Journal:
        for journal in self.journals:
            if journal.issn.upper() == issn.upper():
                return journal
        known = ", ".join(j.issn for j in self.journals)
        msg = f"journal {issn} is not in the configuration; configured: {known}"
        raise ConfigError(msg)

    def source(self, name: str) -> dict[str, Any]:
        return self.sources.get(name, {})

    def journals_on(self, platform: str) -> list[Journal]:
        return [j for j in self.journals if j.platform == platform]


def load_config(path: Path) -> ProjectConfig:
    """Read and check aied.toml.

    Raises:
        ConfigError: Unreadable TOML, a journal missing fields, or an unknown source name.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"cannot read configuration {path}: {exc}"
        raise ConfigError(msg) from exc
    journals = []
    for i, item in enumerate(raw.get("journals", [])):
        try:
            journals.append(Journal(**item))
        except TypeError as exc:
            msg = f"{path}: journal #{i + 1} is invalid: {exc}"
            raise ConfigError(msg) from exc
    sources = raw.get("sources", {})
    unknown = sorted(set(sources) - set(KNOWN_SOURCES))
    if unknown:
        msg = f"{path}: unknown sources {', '.join(unknown)}; known: {', '.join(KNOWN_SOURCES)}"
        raise ConfigError(msg)
    for name, options in sources.items():
        try:
            http_limits(options)
        except ConfigError as exc:
            msg = f"{path}: [sources.{name}] {exc}"
            raise ConfigError(msg) from exc
    return ProjectConfig(journals=tuple(journals), sources=sources)


def _positive_number(options: dict[str, Any], key: str) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        msg = f"{key} must be a positive number of {HTTP_LIMIT_UNITS[key]}, not {value!r}"
        raise ConfigError(msg)
    return float(value)


#: The per-source HTTP limits aied.toml may set, with their units.
HTTP_LIMIT_UNITS = {"timeout_seconds": "seconds", "max_retries": "retries",
                    "max_response_mb": "MiB"}
MAX_RETRIES_LIMIT = 20


def http_limits(options: dict[str, Any]) -> dict[str, Any]:
    """:func:`sources.http.build_session` limits from a source's ``aied.toml`` options.

    ``timeout_seconds`` bounds the wait for data (and the connect, up to its default of
    10 s), ``max_retries`` the retries after a request's first attempt, ``max_response_mb``
    the size of one body. Unset keys keep the defaults of :mod:`sources.http`.

    Raises:
        ConfigError: A value of the wrong type or out of range (named, with the value).
    """
    limits: dict[str, Any] = {}
    timeout = _positive_number(options, "timeout_seconds")
    if timeout is not None:
        limits["timeout"] = (min(DEFAULT_TIMEOUT[0], timeout), timeout)
    retries = options.get("max_retries")
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) \
                or not 0 <= retries <= MAX_RETRIES_LIMIT:
            msg = f"max_retries must be a whole number from 0 to {MAX_RETRIES_LIMIT}, " \
                  f"not {retries!r}"
            raise ConfigError(msg)
        limits["max_retries"] = retries
    size = _positive_number(options, "max_response_mb")
    if size is not None:
        limits["max_bytes"] = int(size * 1024 * 1024)
    return limits


def get_settings() -> Settings:
    """Read the environment now (not cached: tests and CLI options change it)."""
    return Settings()
