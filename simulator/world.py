"""The seeded world: read from a YAML config (validated by schemas/config/world.json) or the embedded default."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Required, TypedDict, cast

import yaml

from simulator.core.schemas import SchemaStore
from simulator.resources import fixtures_root

if TYPE_CHECKING:
    from simulator.bird.config import BirdConfig, BirdWorld
    from simulator.business_chat.config import BusinessChatConfig


class ConfigError(Exception):
    """The config file is unreadable or invalid; the message names the file and the key at fault."""


# The config file's shape, as schemas/config/world.json describes it (the schema is checked before these are read);
# each provider's section is typed in its own config module.

class WebhooksConfig(TypedDict, total=False):
    duplicate_probability: float
    reorder: bool
    extra_delay_seconds: float
    retry_schedule_seconds: list[int]


class WorldConfig(TypedDict, total=False):
    seed: int
    bird: Required[BirdConfig]
    business_chat: BusinessChatConfig
    webhooks: WebhooksConfig


@dataclass
class World:
    seed: int
    bird: BirdWorld
    business_chat: BusinessChatConfig | None  # None: this world has no Business Chat
    webhooks: WebhooksConfig
    raw: dict[str, Any] = field(repr=False, default_factory=dict)  # the config file as read (set by load_world)
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
        world = build_world(cast("WorldConfig", raw))  # the schema check above is what makes this cast true
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    world.raw = raw
    world.source = source
    return world


def build_world(raw: WorldConfig) -> World:
    from simulator.bird.config import build_bird_world

    business_chat = raw.get("business_chat")
    return World(
        seed=int(raw.get("seed", 0)), bird=build_bird_world(raw["bird"]),
        business_chat=business_chat.copy() if business_chat else None, webhooks=(raw.get("webhooks") or {}).copy(),
    )
