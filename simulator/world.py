"""The seeded world: read from a YAML config (validated by schemas/config/world.json) or the embedded default."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from simulator.core.schemas import SchemaStore
from simulator.resources import fixtures_root

if TYPE_CHECKING:
    from simulator.bird.config import BirdWorld


class ConfigError(Exception):
    """The config file is unreadable or invalid; the message names the file and the key at fault."""


@dataclass
class World:
    seed: int
    bird: BirdWorld
    business_chat: dict[str, Any]
    webhooks: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    source: str = "embedded default"


def default_config_text() -> str:
    return fixtures_root().joinpath("default-world.yaml").read_text(encoding="utf-8")


def load_world(schemas: SchemaStore, path: str | None = None) -> World:
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
        source = str(path)
    else:
        text, source = default_config_text(), "embedded default"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    issues = schemas.issues("config/world", raw)
    if issues:
        lines = [f"  {issue.jq_path().lstrip('.') or '(top level)'}: {issue.message}" for issue in issues]
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(lines))
    try:
        world = build_world(raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    world.source = source
    return world


def build_world(raw: dict[str, Any]) -> World:
    from simulator.bird.config import build_bird_world

    return World(
        seed=int(raw.get("seed", 0)), bird=build_bird_world(raw.get("bird") or {}),
        business_chat=dict(raw.get("business_chat") or {}), webhooks=dict(raw.get("webhooks") or {}), raw=raw,
    )
