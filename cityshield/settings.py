"""Machinery for typed settings: a TOML file, then ``CITYSHIELD_*`` environment variables on top.

Each package declares its own section as a pydantic model next to the code it configures
(``sensors.flows.FlowSettings``, ...); the composition root in ``api`` assembles them into one
``Settings`` class and builds it once. Nested keys use ``__`` in the environment:
``CITYSHIELD_FLOWS__MAX_FLOWS=500000``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from cityshield.errors import ConfigError

ENV_PREFIX = "CITYSHIELD_"


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RootSettings(BaseSettings):
    """Base of the assembled settings: environment over an optional TOML file over defaults."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


S = TypeVar("S", bound=RootSettings)


def load_settings(cls: type[S], toml_path: Path | None = None, **overrides: Any) -> S:
    """Build settings once; a bad file or key becomes a ``ConfigError`` naming the file and key."""
    where = str(toml_path) if toml_path else "environment"
    if toml_path is not None:
        if not toml_path.is_file():
            raise ConfigError("settings file not found", where=where)
        try:
            tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"not valid TOML: {exc}", where=where) from exc

    config = SettingsConfigDict(**{**cls.model_config, "toml_file": toml_path})
    bound: type[S] = type(cls.__name__, (cls,), {"model_config": config})
    try:
        return bound(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), where=where) from exc


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        problems.append(f"{key}: {err['msg']}")
    return "; ".join(problems)
