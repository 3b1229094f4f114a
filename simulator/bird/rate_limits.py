"""Bird's per-workspace rate limits (docs: GET 50 req/s, POST 500 req/s; over → 429, request not processed).

Off unless the world config has ``bird.rate_limits`` or a test turns them on (``PUT /_sim/bird/rate-limits``).
Requests are counted in windows of one second of the simulator's clock: with a manual clock a window refills only
when the test advances time, so "the 501st send in a second gets 429" is deterministic. Writes of every method
(POST, PATCH, DELETE) share the POST budget; HEAD counts as GET.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.bird.errors import BirdError
from simulator.core.clock import Clock

DOCUMENTED = {"getPerSecond": 50, "postPerSecond": 500}
GENERATION = "generation"


class TooManyRequests(BirdError):
    status = 429
    code = "TooManyRequests"


@dataclass
class RateLimits:
    clock: Clock
    configured: dict[str, int] = field(default_factory=dict)  # from the world config; reset returns here
    limits: dict[str, int] = field(default_factory=dict)  # {"GET": n, "POST": n}; empty = off
    _window: int = -1
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (workspace, bucket) → requests this second
    rejected: int = 0
    generation: str = ""  # which setting of the limits the counts belong to (see _restart_counting)
    # In a fleet (core/fleet.py): ``shared(key, window, limit)`` takes one of the window's ``limit`` slots for the
    # whole fleet (False once they are spent), so a workspace's budget is one whichever process serves it.
    shared: Callable[[str, int, int], Awaitable[bool]] | None = None

    @classmethod
    def from_config(cls, clock: Clock, raw: dict[str, Any] | None) -> RateLimits:
        configured = {}
        if raw is not None:
            configured = {"GET": int(raw.get("get_per_second", DOCUMENTED["getPerSecond"])),
                          "POST": int(raw.get("post_per_second", DOCUMENTED["postPerSecond"]))}
        return cls(clock, configured, dict(configured))

    def set(self, get_per_second: int | None, post_per_second: int | None) -> None:
        """New limits (None = that bucket unlimited); counting restarts."""
        self.limits = {k: v for k, v in (("GET", get_per_second), ("POST", post_per_second)) if v is not None}
        self._restart_counting()

    def _restart_counting(self) -> None:
        self._counts.clear()
        # The fleet's counters are keyed by this, saved with the limits: new limits start from zero everywhere.
        self.generation = secrets.token_hex(4)

    def dumps(self) -> str:
        """The limits in force as JSON (what ``loads`` puts back after a restart on a shared store)."""
        return json.dumps({**self.limits, GENERATION: self.generation})

    def loads(self, text: str) -> None:
        saved = json.loads(text)
        self.limits = {str(k): int(v) for k, v in saved.items() if k != GENERATION}
        self._counts.clear()
        self.generation = str(saved.get(GENERATION, ""))

    def restore(self) -> None:
        self.limits = dict(self.configured)
        self._restart_counting()
        self.rejected = 0

    async def check(self, workspace_id: str, method: str) -> None:
        """Count this request; raise 429 when the workspace's bucket for this second is spent."""
        if not self.limits:
            return
        bucket = "GET" if method in ("GET", "HEAD") else "POST"
        limit = self.limits.get(bucket)
        if limit is None:
            return
        now = self.clock.now_ms()
        window = now // 1000
        if window != self._window:
            self._window = window
            self._counts.clear()
        key = (workspace_id, bucket)
        used = self._counts.get(key, 0)
        if self.shared is not None:
            used = 0 if await self.shared(f"bird:{self.generation}:{workspace_id}:{bucket}", window, limit) else limit
        if used >= limit:
            self.rejected += 1
            retry_after = max(1, -(-(1000 - now % 1000) // 1000))  # whole seconds until the window turns
            raise TooManyRequests(f"rate limit exceeded: this workspace may make {limit} {bucket} requests per"
                                  " second; the request was not processed, retry later",
                                  headers={"retry-after": str(retry_after)})
        self._counts[key] = used + 1

    def describe(self) -> dict[str, Any]:
        return {"enabled": bool(self.limits), "getPerSecond": self.limits.get("GET"),
                "postPerSecond": self.limits.get("POST"), "documented": DOCUMENTED,
                "window": "one second of the simulator clock", "rejected": self.rejected}
