"""The simulator's single clock: real time (optionally sped up) or manual (moves only when told)."""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


_ISO_SECONDS: dict[int, str] = {}  # "YYYY-MM-DDTHH:MM:SS." per epoch second; formatting was ~7 µs a call


def iso_ms(ms: int) -> str:
    """RFC 3339 UTC with millisecond precision and a Z suffix, as Bird prints timestamps."""
    seconds, millis = divmod(ms, 1000)
    prefix = _ISO_SECONDS.get(seconds)
    if prefix is None:
        if len(_ISO_SECONDS) >= 4096:
            _ISO_SECONDS.clear()
        when = datetime.fromtimestamp(seconds, tz=UTC)
        # strftime's %Y drops the zero padding of years before 1000 on glibc; RFC 3339 has four digits.
        prefix = _ISO_SECONDS[seconds] = f"{when.year:04d}" + when.strftime("-%m-%dT%H:%M:%S.")
    return f"{prefix}{millis:03d}Z"


def parse_rfc3339(value: object) -> int:
    """Parse an RFC 3339 timestamp into epoch milliseconds. Raises ValueError on anything else."""
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError("must be an RFC 3339 date-time")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time") from None
    if dt.tzinfo is None:
        raise ValueError("must include a time zone offset or Z")
    return int(dt.timestamp() * 1000)


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread (a test thread reading the clock)
        return None


class Clock:
    """Epoch-millisecond clock shared by everything time-dependent.

    ``real``: wall time, optionally multiplied by ``speed`` from the moment the clock was created.
    ``manual``: frozen until :meth:`set` moves it forward (the scheduler does that on advance).

    While an advance runs (:meth:`advancing`), the advancing task reads each job's due time as the jobs run, and
    every other task (HTTP requests, the outbox) already reads the advance's target: seen from outside, an advance
    is one jump. A send that arrives mid-advance is stamped at the target and its lifecycle starts from there,
    instead of landing inside the span being run, where the advance would have to chase it (with steady traffic it
    never finished: 19.8 s for a one-hour advance under 10 senders, until the senders stopped).
    """

    def __init__(self, mode: str = "real", speed: float = 1.0, start_ms: int | None = None) -> None:
        if mode not in ("real", "manual"):
            raise ValueError(f"clock mode must be 'real' or 'manual', not {mode!r}")
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.mode = mode
        self.speed = speed
        wall = int(time.time() * 1000)
        self._origin_ms = start_ms if start_ms is not None else (wall if mode == "real" else wall - wall % 1000)
        self._origin_mono = time.monotonic()
        self._manual_ms = self._origin_ms
        self._advancing_task: asyncio.Task[object] | None = None
        self._advancing_ms = 0

    @property
    def manual(self) -> bool:
        return self.mode == "manual"

    def now_ms(self) -> int:
        if self._advancing_task is not None and _current_task() is self._advancing_task:
            return self._advancing_ms
        if self.mode == "manual":
            return self._manual_ms
        elapsed = time.monotonic() - self._origin_mono
        return self._origin_ms + int(elapsed * 1000 * self.speed)

    def now_iso(self) -> str:
        return iso_ms(self.now_ms())

    def set(self, ms: int) -> None:
        """Move the clock forward to ``ms`` (never backwards)."""
        if self._advancing_task is not None and _current_task() is self._advancing_task:
            self._advancing_ms = max(self._advancing_ms, ms)
        elif self.mode == "manual":
            self._manual_ms = max(self._manual_ms, ms)
        else:
            # A real clock can still be pushed forward: shift its origin.
            ahead = ms - self.now_ms()
            if ahead > 0:
                self._origin_ms += ahead

    @contextlib.contextmanager
    def advancing(self, target_ms: int) -> Iterator[None]:
        """Run an advance to ``target_ms`` in the calling task: everyone else reads ``target_ms`` at once; the
        caller starts at the current time and moves through the jobs' due times with :meth:`set`."""
        task = _current_task()
        if task is None or self._advancing_task is not None:
            raise RuntimeError("advancing() needs a running task and cannot nest")
        start = self.now_ms()
        self.set(target_ms)
        self._advancing_ms, self._advancing_task = start, task
        try:
            yield
        finally:
            self._advancing_task = None

    def rewind(self, ms: int) -> None:
        """Put a manual clock back to ``ms``: only a full reset does this (back to the seeded world)."""
        if self.mode == "manual":
            self._manual_ms = ms

    def wall_seconds_until(self, ms: int) -> float | None:
        """How long to sleep in wall time until the clock reaches ``ms``; None for a manual clock."""
        if self.mode == "manual":
            return None
        return max(0.0, (ms - self.now_ms()) / 1000 / self.speed)

    def describe(self) -> dict[str, object]:
        return {"mode": self.mode, "speed": self.speed, "now": self.now_iso(), "nowMs": self.now_ms()}
