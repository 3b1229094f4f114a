"""Bird's part of the world config (``bird:``): organization, workspaces and channels, access keys, receiver
outcomes, timing profiles, auto-replies and list limits. The schema (schemas/config/world.json) checked the shapes;
this checks what a schema cannot say (ids used twice, MMS outside US/CA, undefined timing profiles)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict

from simulator.bird.lifecycle import DEFAULT_OUTCOMES, DEFAULT_TIMING, VALIDITY_BY_TYPE
from simulator.world import ConfigError

PLATFORM_ID = "sms-messagebird"  # the platform of every SMS channel (its connectors' template)


# The ``bird:`` section's shape (schemas/config/world.json checked it before these are read).

class ChannelConfig(TypedDict, total=False):
    id: Required[str]
    number: Required[str]
    connector_id: str
    name: str
    country: str
    mms: bool
    message_type: str
    timing: str
    status: str


class WorkspaceConfig(TypedDict, total=False):
    id: Required[str]
    channels: Required[list[ChannelConfig]]
    name: str


class AccessKeyConfig(TypedDict, total=False):
    key: Required[str]
    name: str
    allowed_paths: list[str]
    allowed_methods: list[str]


class OrganizationConfig(TypedDict, total=False):
    id: Required[str]
    name: str


class BirdConfig(TypedDict, total=False):
    organization: Required[OrganizationConfig]
    workspaces: Required[list[WorkspaceConfig]]
    access_keys: Required[list[AccessKeyConfig]]
    timing_profiles: dict[str, dict[str, float]]
    outcomes: dict[str, str]
    auto_replies: list[dict[str, Any]]  # {match: {receiver, keyword, channel_id}, reply, delay_seconds}: bird/customers
    opt_out_behaviour: str
    max_list_limit: int
    max_list_window_days: int | None
    rate_limits: dict[str, int]


@dataclass(frozen=True)
class Channel:
    id: str
    workspace_id: str
    connector_id: str
    name: str
    number: str
    country: str
    mms: bool
    message_type: str
    timing: str
    status: str

    @property
    def default_validity(self) -> int:
        return VALIDITY_BY_TYPE[self.message_type]


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    channels: dict[str, Channel]


@dataclass(frozen=True)
class AccessKey:
    key: str
    name: str
    allowed_paths: tuple[str, ...]
    allowed_methods: tuple[str, ...] = ("*",)
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(_resource_pattern(p) for p in self.allowed_paths))

    def allows(self, path: str, method: str = "GET") -> bool:
        """As Bird's access policies: a resource pattern and the actions allowed on it."""
        method = "GET" if method == "HEAD" else method
        if "*" not in self.allowed_methods and method not in self.allowed_methods:
            return False
        return any(pattern.fullmatch(path) for pattern in self._patterns)


def _resource_pattern(pattern: str) -> re.Pattern[str]:
    # Bird's policy resources name one segment per '*' (/workspaces/*/channels/*/messages/* does not reach
    # …/messages/{id}/interactions); '**' spans segments; a lone '*' is every path.
    if pattern in ("*", "**", "/**"):
        return re.compile(r".*")
    parts = re.split(r"(\*\*|\*)", pattern.rstrip("/") or "/")
    return re.compile("".join(".*" if p == "**" else "[^/]*" if p == "*" else re.escape(p) for p in parts))


@dataclass
class BirdWorld:
    organization_id: str
    organization_name: str
    workspaces: dict[str, Workspace]
    access_keys: dict[str, AccessKey]
    timing_profiles: dict[str, dict[str, float]]
    outcomes: dict[str, str]
    auto_replies: list[dict[str, Any]]
    opt_out_behaviour: str
    max_list_limit: int
    # Bird's 7-day cap on a listing's startAt..endAt span is seen in one public integration only; None lifts it.
    max_list_window_days: int | None

    def channel(self, channel_id: str) -> Channel | None:
        for ws in self.workspaces.values():
            if channel_id in ws.channels:
                return ws.channels[channel_id]
        return None


def build_bird_world(bird_raw: BirdConfig) -> BirdWorld:
    workspaces: dict[str, Workspace] = {}
    seen_channels: set[str] = set()
    for ws in bird_raw.get("workspaces", []):
        channels: dict[str, Channel] = {}
        for ch in ws.get("channels", []):
            if ch["id"] in seen_channels:
                raise ConfigError(f"bird.workspaces: channel id {ch['id']} is used twice")
            seen_channels.add(ch["id"])
            country = ch.get("country") or ("US" if ch["number"].startswith("+1") else "NL")
            mms = bool(ch.get("mms", False))
            if mms and country not in ("US", "CA"):
                raise ConfigError(f"bird: channel {ch['id']}: only US/CA numbers can be MMS capable"
                                  f" (country {country})")
            timing = ch.get("timing", "default")
            channels[ch["id"]] = Channel(
                id=ch["id"], workspace_id=ws["id"], connector_id=ch.get("connector_id", ch["id"]),
                name=ch.get("name", ch["number"]), number=ch["number"], country=country, mms=mms,
                message_type=ch.get("message_type", "transactional"), timing=timing,
                status=ch.get("status", "active"),
            )
        workspaces[ws["id"]] = Workspace(ws["id"], ws.get("name", "Workspace"), channels)
    profiles = {"default": dict(DEFAULT_TIMING)}
    for name, profile in (bird_raw.get("timing_profiles") or {}).items():
        profiles[name] = {**DEFAULT_TIMING, **profile}
    for workspace in workspaces.values():
        for channel in workspace.channels.values():
            if channel.timing not in profiles:
                raise ConfigError(f"bird: channel {channel.id}: timing profile {channel.timing!r} is not defined in"
                                  " timing_profiles")
    keys = {
        k["key"]: AccessKey(k["key"], k.get("name", ""), tuple(k.get("allowed_paths") or ["*"]),
                            tuple(k.get("allowed_methods") or ["*"]))
        for k in bird_raw.get("access_keys", [])
    }
    return BirdWorld(
        organization_id=bird_raw["organization"]["id"],
        organization_name=bird_raw["organization"].get("name", "Organization"),
        workspaces=workspaces,
        access_keys=keys,
        timing_profiles=profiles,
        outcomes=dict(bird_raw.get("outcomes") or DEFAULT_OUTCOMES),
        auto_replies=list(bird_raw.get("auto_replies") or []),
        opt_out_behaviour=bird_raw.get("opt_out_behaviour", "skipped"),
        max_list_limit=int(bird_raw.get("max_list_limit", 1000)),
        max_list_window_days=bird_raw.get("max_list_window_days", 7),
    )
