"""Business Chat settings read once from the world config (``world.business_chat``, a raw dict).

Every uncertain-spec choice is a key here with a documented default (docs/business-chat.md).
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict
from urllib.parse import urlsplit

BUILTIN_BID = ("com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:"
               "com.apple.icloud.apps.messages.business.extension")
DEFAULT_CAPABILITIES = ["QUICK", "LIST", "TIME", "AUTH", "AUTH2", "FORM"]
# Forms and iMessage apps are iPhone/iPad only (digest §3, §13); every other feature is assumed everywhere.
IPHONE_IPAD = ("iPhone OS", "iPadOS")


class BusinessConfig(TypedDict, total=False):
    id: Required[str]
    name: str
    webhook_url: str
    payment_gateway_url: str


class CustomerConfig(TypedDict, total=False):
    id: Required[str]
    name: str
    business_id: str
    device_agent: str
    capabilities: list[str]
    locale: str
    existing_conversation: bool
    intent: str
    group: str
    behaviour: dict[str, Any]  # scripted answers, as docs/business-chat.md describes: read by business_chat/device


class AppClipConfig(TypedDict, total=False):
    url: Required[str]
    title: str


class BusinessChatConfig(TypedDict, total=False):
    """The world config's ``business_chat`` section, as schemas/config/world.json describes it."""

    msp_id: Required[str]
    secret: Required[str]
    businesses: Required[list[BusinessConfig]]
    customers: list[CustomerConfig]
    jwt_max_age_seconds: int
    accept_raw_secret: bool
    legacy_attachment_keys: bool
    download_url_ttl_seconds: int
    idr_threshold_bytes: int
    closed_conversation_status: int
    unstarted_conversation_status: int
    webhook_timeout_seconds: float
    enforce_capabilities: bool
    attachment_key_check: str
    max_attachment_bytes: int
    webhook_path: str
    app_clip_urls: list[str | AppClipConfig]


def default_capabilities(device_agent: str) -> list[str]:
    """The capability-list of a device nobody configured: everything, minus FORM off iPhone/iPad."""
    return list(DEFAULT_CAPABILITIES) if device_agent in IPHONE_IPAD else [
        c for c in DEFAULT_CAPABILITIES if c != "FORM"]


@dataclass(frozen=True)
class Business:
    id: str
    name: str
    webhook_url: str | None
    payment_gateway_url: str | None


@dataclass
class BCConfig:
    msp_id: str
    secret_b64: str
    secret: bytes  # the decoded HMAC key (what Apple documents)
    businesses: dict[str, Business]
    customers: dict[str, dict[str, Any]]  # seeded customers, normalised (see customer_record)
    jwt_max_age_s: int = 3600
    accept_raw_secret: bool = False
    legacy_attachment_keys: bool = False
    download_url_ttl_s: int = 60
    idr_threshold_bytes: int = 10240
    closed_conversation_status: int = 410
    # Only the customer starts a conversation (digest §14); the status is our choice (404: Apple documents it as
    # "destination-id not recognized", and a business cannot know an opaque id nobody gave it). 200 = allow.
    unstarted_conversation_status: int = 404
    webhook_timeout_s: float = 30.0  # Apple waits up to 30 s for the MSP's answer (digest §6)
    enforce_capabilities: bool = True
    attachment_key_check: str = "report"
    max_attachment_bytes: int = 100 * 1024 * 1024
    webhook_path: str = "/message"
    # URL prefix → App Clip title for /v1/constructPayload; empty = every https URL has an App Clip.
    app_clips: dict[str, str] = field(default_factory=dict)
    # Claims of tokens whose signature already verified, by (token, keys): PyJWT spends ~150 µs per decode and MSPs
    # reuse a token for many requests. Time-based claims are still checked on every request (auth.verify_token).
    verified_tokens: dict[tuple[str, tuple[bytes, ...]], dict[str, object]] = field(default_factory=dict, repr=False,
                                                                                compare=False)

    @property
    def enabled(self) -> bool:
        return bool(self.msp_id)


def decode_secret(secret_b64: str) -> bytes:
    try:
        return base64.b64decode(secret_b64 + "=" * (-len(secret_b64) % 4), validate=False)
    except (binascii.Error, ValueError):
        # Not base64 at all: fall back to the raw bytes so a misconfigured world still starts.
        return secret_b64.encode()


def customer_record(raw: Mapping[str, Any], *, existing_conversation: bool = False) -> dict[str, Any]:
    """One normalised customer dict: what the device looks like to the MSP and how it behaves.

    ``existingConversation``: the customer counts as having written before (seeded customers do), so the business
    may message them before they write; otherwise business messages are refused until they do (digest §14).
    ``intent`` / ``group``: defaults for what the customer's messages carry (the biz-intent-id / biz-group-id of
    the link they started from). ``raw`` is a :class:`CustomerConfig` or a control-plane request, which may spell
    the keys in camelCase."""
    agent = raw.get("device_agent") or raw.get("deviceAgent") or "iPhone OS"
    capabilities = raw.get("capabilities")
    existing = raw.get("existing_conversation", raw.get("existingConversation"))
    record = {
        "id": raw["id"],
        "name": raw.get("name", ""),
        "businessId": raw.get("business_id") or raw.get("businessId") or "",
        "deviceAgent": agent,
        "capabilities": list(capabilities) if capabilities is not None else default_capabilities(agent),
        "locale": raw.get("locale", "en_US"),
        "behaviour": dict(raw.get("behaviour") or {}),
        "existingConversation": bool(existing_conversation if existing is None else existing),
    }
    for key in ("intent", "group"):
        if raw.get(key):
            record[key] = str(raw[key])
    return record


def load_config(raw: BusinessChatConfig) -> BCConfig:
    businesses = {
        b["id"]: Business(b["id"], b.get("name", ""), b.get("webhook_url"), b.get("payment_gateway_url"))
        for b in raw.get("businesses", [])
    }
    customers = {c["id"]: customer_record(c, existing_conversation=True) for c in raw.get("customers", [])}
    secret_b64 = str(raw.get("secret", ""))
    return BCConfig(
        msp_id=str(raw.get("msp_id", "")),
        secret_b64=secret_b64,
        secret=decode_secret(secret_b64),
        businesses=businesses,
        customers=customers,
        jwt_max_age_s=int(raw.get("jwt_max_age_seconds", 3600)),
        accept_raw_secret=bool(raw.get("accept_raw_secret", False)),
        legacy_attachment_keys=bool(raw.get("legacy_attachment_keys", False)),
        download_url_ttl_s=int(raw.get("download_url_ttl_seconds", 60)),
        idr_threshold_bytes=int(raw.get("idr_threshold_bytes", 10240)),
        closed_conversation_status=int(raw.get("closed_conversation_status", 410)),
        unstarted_conversation_status=int(raw.get("unstarted_conversation_status", 404)),
        webhook_timeout_s=float(raw.get("webhook_timeout_seconds", 30.0)),
        enforce_capabilities=bool(raw.get("enforce_capabilities", True)),
        # "heuristic" was the name of "refuse" before "report" became the default.
        attachment_key_check={"heuristic": "refuse"}.get(str(raw.get("attachment_key_check", "report")),
                                                         str(raw.get("attachment_key_check", "report"))),
        max_attachment_bytes=int(raw.get("max_attachment_bytes", 100 * 1024 * 1024)),
        webhook_path=str(raw.get("webhook_path", "/message")),
        app_clips=_app_clips(raw.get("app_clip_urls") or []),
    )


def _app_clips(entries: Iterable[object]) -> dict[str, str]:
    clips: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, str):
            clips[entry] = ""
        elif isinstance(entry, dict) and isinstance(entry.get("url"), str):
            clips[entry["url"]] = str(entry.get("title") or "")
    return clips


def app_clip_title(config: BCConfig, url: str) -> str | None:
    """The App Clip title for ``url``, or None when the URL has no App Clip (constructPayload answers 400)."""
    if config.app_clips:
        prefix = max((p for p in config.app_clips if url.startswith(p)), key=len, default=None)
        if prefix is None:
            return None
        if config.app_clips[prefix]:
            return config.app_clips[prefix]
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket: the URL is still the business's to send
        host = None
    return f"App Clip · {host or url}"

