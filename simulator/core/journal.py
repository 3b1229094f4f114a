"""The request journal: every provider request and every webhook attempt, bounded.

Beside SQLite (one process owns the database) it is a ring buffer in the process: entries keep the raw bytes they
are built from and are built only when read. On PostgreSQL it is a capped table shared by every process
(core/stored_journal.py), behind the same interface."""
from __future__ import annotations

import asyncio
import contextlib
import difflib
import functools
import re
from collections import deque
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from simulator.core.clock import iso_ms
from simulator.core.codec import loads_shown
from simulator.core.events import EventBus, JournalEntryAdded, WebhookAttempted

if TYPE_CHECKING:
    from simulator.core.deliveries import Deliveries

BODY_LIMIT = 4096  # characters kept of each request/response body
# A handler's remarks for its request's journal entry (``diagnostics.notes``): what the answer does not say, e.g.
# what the customer's device will find. A list of strings under this key of the ASGI scope's "state".
NOTES_KEY = "simulator.journal_notes"


def add_note(scope: MutableMapping[str, Any], note: str) -> None:
    scope.setdefault("state", {}).setdefault(NOTES_KEY, []).append(note)
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
SECRET_KEY = re.compile(r"(signing.?key|secret|password|passwd|access.?key|api.?key|private.?key)", re.I)
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def mask_value(value: str) -> str:
    """Keep the scheme and the last four characters: ``AccessKey ****0001``."""
    scheme, sep, token = value.partition(" ")
    if not sep:
        scheme, token = "", value
    tail = token[-4:] if len(token) > 8 else ""
    return f"{scheme}{' ' if scheme else ''}****{tail}"


def mask_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        lname = name.lower()
        if lname in SECRET_HEADERS or SECRET_KEY.search(lname):
            out[lname] = mask_value(value)
        else:
            out[lname] = JWT.sub("****jwt", value)
    return out


@functools.lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    return SECRET_KEY.search(name) is not None


def _mask_json(value: Any) -> Any:
    # Runs on every journaled request: skip the regexes where they cannot match (no "eyJ", cached key names).
    if isinstance(value, dict):
        return {k: ("****" if isinstance(k, str) and _secret_key(k) and v not in (None, "")
                    else _mask_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    if isinstance(value, str):
        return JWT.sub("****jwt", value) if "eyJ" in value else value
    return value


def body_for_journal(raw: bytes, content_type: str = "", limit: int = BODY_LIMIT,
                     size: int | None = None) -> tuple[Any, bool]:
    """(body, truncated): parsed and masked JSON when it is JSON and small enough, else (masked) text.

    ``size``: the body's full size when ``raw`` is only its first part (see ``keepable``)."""
    if not raw:
        return None, False
    size = len(raw) if size is None else size
    ctype = content_type.lower()
    if size <= limit * 4 and ("json" in ctype or raw[:1] in (b"{", b"[")):
        try:
            # Decoded strictly first: json.loads(bytes) would let UTF-8-encoded surrogates through ("surrogatepass").
            # What a JSON response could not carry is shown as the text it was.
            return _mask_json(loads_shown(raw.decode("utf-8"))), False
        except (ValueError, RecursionError):
            pass
    if ctype.startswith(("image/", "audio/", "video/", "application/octet-stream", "multipart/")):
        return f"<{size} bytes of {ctype.split(';')[0]}>", False
    text = raw[:limit].decode("utf-8", errors="replace")
    return JWT.sub("****jwt", text), size > limit


def keepable(raw: bytes, limit: int = BODY_LIMIT) -> bytes:
    """The part of a body that ``body_for_journal`` can use: all of it when it may be parsed, else the text shown."""
    return raw if len(raw) <= limit * 4 else raw[:limit]


class _Lazy:
    __slots__ = ("_build", "seq")

    def __init__(self, seq: int, build: Callable[[], dict[str, Any]]) -> None:
        self.seq = seq
        self._build = build

    def build(self) -> dict[str, Any]:
        entry = self._build()
        entry["seq"] = self.seq
        return entry


@dataclass
class Journal:
    """A ring buffer of journal entries (dicts), newest last. ``size`` bounds memory for long sessions."""

    # How often a waiter looks again though nothing was added here (None: only when this process adds an entry).
    poll_s: ClassVar[float | None] = None

    size: int = 2000
    events: EventBus = field(default_factory=EventBus)
    entries: deque[dict[str, Any] | _Lazy] = field(default_factory=deque)
    seq: int = 0
    dropped: int = 0

    def __post_init__(self) -> None:
        self.builders: dict[str, Callable[..., dict[str, Any]]] = {}
        self.entries = deque(maxlen=max(1, self.size))
        self._changed: asyncio.Condition | None = None
        self._wakers: set[asyncio.Task[None]] = set()  # kept until done: the loop holds tasks only weakly
        self._lazy = 0  # entries not built yet

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        entry["seq"] = self.seq
        if len(self.entries) == self.entries.maxlen:
            self.dropped += 1
        self.entries.append(entry)
        self._added(entry.get("kind", ""), entry.get("provider"))
        return entry

    def append_lazy(self, kind: str, provider: str | None, build: Callable[[], dict[str, Any]]) -> None:
        """Record an entry built only when the journal is read: masking and parsing bodies cost more than the
        rest of a request's journaling, and most entries of a load test are never read. ``kind`` and
        ``provider`` are the built entry's own (the live stream shows them at once)."""
        self.seq += 1
        if len(self.entries) == self.entries.maxlen:
            self.dropped += 1
        self.entries.append(_Lazy(self.seq, build))
        self._lazy += 1
        self._added(kind, provider)

    def register(self, name: str, builder: Callable[..., dict[str, Any]]) -> None:
        """Name the function that builds entries from records (``append_record``): a stored journal keeps the
        record and the name, and builds the entry when it is read, in whichever process reads it."""
        self.builders[name] = builder

    def append_record(self, kind: str, provider: str | None, builder: str, record: tuple[Any, ...]) -> None:
        """Record an entry as the arguments of a registered builder: bytes, strings, numbers, lists, dicts."""
        self.append_lazy(kind, provider, functools.partial(self.builders[builder], *record))

    def _added(self, kind: str, provider: str | None) -> None:
        self._notify()
        if self.events.listening(JournalEntryAdded):
            self.events.publish(JournalEntryAdded(self.seq, kind, provider))

    def record_attempt(self, attempt: WebhookAttempted) -> None:
        """Bus subscriber: every webhook attempt becomes an entry (headers and body filled in when read)."""
        self.append(webhook_entry(attempt))

    async def fill_webhooks(self, entries: list[dict[str, Any]], deliveries: Deliveries) -> None:
        """Webhook entries get provider, headers and body from the outbox on first read (the attempt has ids)."""
        missing = sorted({e["outboxId"] for e in entries if e.get("kind") == "webhook" and e.get("headers") is None
                          and isinstance(e.get("outboxId"), int)})
        if not missing:
            return
        found = {d.id: d for d in await deliveries.fetch(missing)}
        for e in entries:
            delivery = found.get(e.get("outboxId", -1))
            if e.get("kind") != "webhook" or delivery is None or e.get("headers") is not None:
                continue
            e["provider"] = delivery.provider
            e["headers"] = mask_headers(delivery.headers.items())
            ctype = next((v for k, v in delivery.headers.items() if k.lower() == "content-type"), "application/json")
            e["body"], e["bodyTruncated"] = body_for_journal(delivery.decoded_body(), ctype)

    async def all(self) -> list[dict[str, Any]]:
        """Every entry, oldest first, built."""
        return self._built()

    def _built(self) -> list[dict[str, Any]]:
        if self._lazy:
            self.entries = deque((e.build() if isinstance(e, _Lazy) else e for e in self.entries),
                                 maxlen=self.entries.maxlen)
            self._lazy = 0
        return [e for e in self.entries if isinstance(e, dict)]

    def _notify(self) -> None:
        cond = self._changed
        if cond is None:
            return

        async def wake() -> None:
            async with cond:
                cond.notify_all()

        try:
            task = asyncio.get_running_loop().create_task(wake())
        except RuntimeError:
            return
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)

    async def clear(self) -> int:
        """DELETE /_sim/journal: every entry goes; the sequence numbers carry on."""
        return self.forget()

    def forget(self) -> int:
        """A full reset: every entry goes (on PostgreSQL the store's reset has emptied the table already)."""
        count = len(self.entries)
        self.entries.clear()
        self._lazy = 0
        self.dropped = 0
        self._notify()
        return count

    async def query(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in self._built() if matches(e, filters)]

    async def stats(self) -> dict[str, int]:
        """size (the bound), dropped (entries pushed out by it since the last clear), lastSeq."""
        return {"size": self.entries.maxlen or self.size, "dropped": self.dropped, "lastSeq": self.seq}

    async def close(self) -> None:
        """Nothing to keep: the in-process journal ends with the process."""

    async def wait(self, filters: dict[str, Any], count: int, timeout: float) -> list[dict[str, Any]]:  # noqa: ASYNC109 - what's found so far is the answer at the timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        cond = self._condition()
        while True:
            found = await self.query(filters)
            remaining = deadline - loop.time()
            if len(found) >= count or remaining <= 0:
                return found
            async with cond:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cond.wait(), min(remaining, self.poll_s or remaining))


FILTER_KEYS = ("kind", "provider", "operation", "method", "status", "path", "since", "event", "sinceSeq")


def matches(entry: dict[str, Any], f: dict[str, Any]) -> bool:
    if f.get("kind") and entry.get("kind") != f["kind"]:
        return False
    if f.get("provider") and entry.get("provider") != f["provider"]:
        return False
    if f.get("operation") and f["operation"] not in (entry.get("operation"), entry.get("route")):
        return False
    if f.get("method") and str(entry.get("method", "")).upper() != str(f["method"]).upper():
        return False
    if f.get("event") and entry.get("event") != f["event"]:
        return False
    status = f.get("status")
    if status is not None and status != "":
        actual = (entry.get("response") or {}).get("status")
        text = str(status)
        if text.endswith("xx") and len(text) == 3:
            if actual is None or str(actual)[0] != text[0]:
                return False
        elif str(actual) != text:
            return False
    if f.get("path") and not str(entry.get("path", "")).startswith(str(f["path"])):
        return False
    if f.get("since") is not None and entry.get("atMs", 0) < f["since"]:
        return False
    return not (f.get("sinceSeq") is not None and entry.get("seq", 0) <= f["sinceSeq"])


def closest_operation(method: str, path: str, operations: list[str]) -> str | None:
    """The route template most like ``METHOD path`` (WireMock's near miss, by difflib)."""
    wanted = f"{method} {_templatize(path)}"
    hits = difflib.get_close_matches(wanted, operations, n=1, cutoff=0.3)
    return hits[0] if hits else None


def _templatize(path: str) -> str:
    # Ids look like {x} in templates; make concrete ids comparable to them.
    return re.sub(r"/[0-9a-fA-F-]{16,}|/urn:[^/]+|/\d+", "/{id}", path)


def webhook_entry(attempt: WebhookAttempted) -> dict[str, Any]:
    return {
        "kind": "webhook", "at": iso_ms(attempt.at_ms), "atMs": attempt.at_ms, "provider": attempt.provider,
        "operation": "webhook", "event": attempt.event, "method": "POST", "path": attempt.url,
        "outboxId": attempt.outbox_id, "attempt": attempt.attempt, "ok": attempt.ok,
        "error": attempt.error or None, "headers": None, "body": None,
        "response": {"status": attempt.status_code},
    }
