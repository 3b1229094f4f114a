"""Bird's status lifecycle: accepted → processing → sent → delivered, or a failure, on the simulator's clock.

Outcomes are scripted deterministically by the receiver number's last digits (``outcomes`` in the config)
and per-channel timing profiles. Every transition is a persisted job, so it survives a restart.
"""
from __future__ import annotations

from typing import Any

from simulator.world import BirdWorld, Channel

JOB_KIND = "bird.transition"

TERMINAL = {"delivered", "delivery_failed", "sending_failed", "rejected", "skipped", "deleted"}
OUTCOMES = ("delivered", "delivery_failed", "sending_failed", "rejected", "skipped", "no_dlr", "slow_dlr", "expired")

# Failure details per outcome. 15005 "unknown subscriber" is documented by Bird; the other codes are the
# simulator's choice within Bird's documented families (11xxx validation, 12xxx service, 14xxx customer,
# 15xxx platform) because Bird's full catalogue is not public.
FAILURES: dict[str, dict[str, Any]] = {
    "delivery_failed": {
        "reason": "details: unknown subscriber; reason: unknown_subscriber; code: 1",
        "details": "unknown_subscriber",
        "failure": {"code": 15005, "description": "unknown subscriber",
                    "source": {"code": "1", "name": "sms-messagebird"}},
    },
    "sending_failed": {
        "reason": "details: no route to destination; reason: routing_error; code: 20",
        "details": "routing_error",
        "failure": {"code": 12001, "description": "dependency error",
                    "source": {"code": "20", "name": "sms-messagebird"}},
    },
    "rejected": {
        "reason": "destination not allowed for this channel",
        "details": "unsupported_destination",
        "failure": {"code": 12003, "description": "unsupported destination",
                    "source": {"code": "12003", "name": "pre-processing"}},
    },
    "skipped": {
        "reason": "message skipped by the sending policy (quiet hours)",
        "details": "quiet_hours",
        "failure": {"code": 14001, "description": "skipped by policy",
                    "source": {"code": "14001", "name": "contact"}},
    },
    "expired": {
        "reason": "details: validity period expired before delivery; reason: expired; code: 3",
        "details": "expired",
        "failure": {"code": 15003, "description": "validity expired",
                    "source": {"code": "3", "name": "sms-messagebird"}},
    },
    "opted_out": {
        "reason": "contact has unsubscribed from this channel",
        "details": "unsubscribed",
        "failure": {"code": 14003, "description": "contact unsubscribed",
                    "source": {"code": "14003", "name": "contact"}},
    },
}


def outcome_for(world: BirdWorld, receiver: str) -> str:
    """The longest configured suffix that ends the receiver number picks the outcome; else delivered."""
    digits = receiver.lstrip("+")
    best, best_len = "delivered", 0
    for suffix, outcome in world.outcomes.items():
        if digits.endswith(suffix) and len(suffix) > best_len:
            best, best_len = outcome, len(suffix)
    return best


def delay_ms(world: BirdWorld, channel: Channel, step: str, rng_value: float) -> int:
    profile = world.timing_profiles.get(channel.timing) or world.timing_profiles["default"]
    seconds = float(profile[step])
    jitter = float(profile.get("jitter", 0.0))
    if jitter:
        seconds *= 1 + jitter * (2 * rng_value - 1)
    return max(0, int(round(seconds * 1000)))


def next_step(current: str, outcome: str) -> tuple[str, str] | None:
    """(timing step, next status) after ``current`` for ``outcome``; None when the message rests."""
    if current in ("accepted", "scheduled"):
        if outcome == "rejected":
            return "processing", "rejected"
        if outcome == "skipped":
            return "processing", "skipped"
        return "processing", "processing"
    if current == "processing":
        if outcome == "sending_failed":
            return "sent", "sending_failed"
        return "sent", "sent"
    if current == "sent":
        if outcome == "no_dlr":
            return None
        if outcome == "delivery_failed":
            return "delivered", "delivery_failed"
        if outcome == "slow_dlr":
            return "slow_delivered", "delivered"
        if outcome == "expired":
            return "expire", "delivery_failed"
        return "delivered", "delivered"
    return None


def failure_key(status: str, outcome: str) -> str | None:
    if status == "delivery_failed":
        return "expired" if outcome in ("expired", "slow_dlr", "no_dlr") else "delivery_failed"
    if status in ("sending_failed", "rejected", "skipped"):
        return status
    return None
