"""Behaviour coverage: which of a provider's behaviours (a status, a failure, an API error, a webhook retried,
a customer's answer ...) a test run met, and how to provoke the ones it never did.

Each provider ships its catalogue as data beside its code (``behaviours.yaml``, read when first asked for) and
counts occurrences itself, from the bus and its own outcomes, through the :class:`Tally` core hands it
(``Provider.count_behaviours``). Core knows no behaviour by name.

Counting is an increment of a dict on the event loop, never a statement on the request's path: the increments
are written in one batch (an UPSERT per key) a moment later, before anyone reads the counts and when the
simulator closes. The counts live in the store (``coverage_counts``), so every process on a shared database and
a restarted one agree; a full reset of the world leaves them alone (they are the test run's, not the world's),
``DELETE /_sim/coverage`` starts them over.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.core.events import WebhookAttempted
    from simulator.core.provider import Provider
    from simulator.core.store import Store

log = logging.getLogger("simulator.coverage")

TABLE = "coverage_counts"
FLUSH_AFTER_S = 1.0  # increments wait at most this long before they are written (a reader flushes at once)
_UPSERT = (f"INSERT INTO {TABLE} (provider, behaviour, scope, count) VALUES (?,?,?,?) ON CONFLICT (provider,"  # noqa: S608 - fixed name
           f" behaviour, scope) DO UPDATE SET count = {TABLE}.count + excluded.count")
WAYS = ("magic number", "request", "control plane", "fault rule", "webhook receiver", "world config")


@dataclass(frozen=True)
class Behaviour:
    """One thing a provider can do that a test may want to have met, and how to make it happen."""

    id: str
    title: str
    group: str
    via: str  # one of WAYS: what kind of step provokes it
    provoke: str  # the step itself, in words a test author can follow

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "group": self.group, "via": self.via, "provoke": self.provoke}


class CatalogueError(ValueError):
    """A catalogue file that cannot be used (a packaging or editing mistake, found at the first read)."""


def load_catalogue(package: str, name: str = "behaviours.yaml") -> tuple[Behaviour, ...]:
    """The catalogue a provider package ships: a YAML list of {id, title, group, via, provoke}."""
    import yaml

    text = importlib.resources.files(package).joinpath(name).read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if not isinstance(raw, list):
        raise CatalogueError(f"{package}/{name}: a list of behaviours expected")
    out: list[Behaviour] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        fields = ("id", "title", "group", "via", "provoke")
        if not isinstance(entry, dict) or set(entry) != set(fields) or not all(
                isinstance(entry[f], str) and entry[f] for f in fields):
            raise CatalogueError(f"{package}/{name}[{i}]: exactly {', '.join(fields)}, each a non-empty string")
        if entry["via"] not in WAYS:
            raise CatalogueError(f"{package}/{name}[{i}]: via must be one of {', '.join(WAYS)}")
        if entry["id"] in seen:
            raise CatalogueError(f"{package}/{name}[{i}]: id {entry['id']!r} twice")
        seen.add(entry["id"])
        out.append(Behaviour(**{f: entry[f] for f in fields}))
    return tuple(out)


class Tally:
    """What a provider counts with: ``tally(behaviour_id, scope)``, one more occurrence (``scope``: the
    workspace or business it happened in, "" when unknown)."""

    __slots__ = ("_add", "provider")

    def __init__(self, provider: str, add: Callable[[tuple[str, str, str]], None]) -> None:
        self.provider = provider
        self._add = add

    def __call__(self, behaviour: str, scope: str = "") -> None:
        self._add((self.provider, behaviour, scope))


def webhook_behaviours(event: WebhookAttempted) -> list[str]:
    """What one webhook attempt shows, in the outbox's words (the ids a provider's catalogue uses for them):
    webhook.duplicate, .retried, .reordered, .error_answer, .timeout, .unreachable."""
    found = []
    if event.duplicate:
        found.append("webhook.duplicate")
    if event.retry:
        found.append("webhook.retried")
    if event.reordered:
        found.append("webhook.reordered")
    if not event.ok:
        found.append("webhook.error_answer" if event.status_code is not None
                     else "webhook.timeout" if event.error == "timeout" else "webhook.unreachable")
    return found


class Coverage:
    """The counts of one simulation: increments kept in memory, written in batches, read from the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: Counter[tuple[str, str, str]] = Counter()
        self._catalogues: dict[str, Callable[[], tuple[Behaviour, ...]]] = {}
        self._scopes: dict[str, str] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # -- providers ----------------------------------------------------------------------------------------------

    def install(self, provider: Provider) -> None:
        self._catalogues[provider.name] = provider.behaviours
        self._scopes[provider.name] = provider.coverage_scope
        provider.count_behaviours(Tally(provider.name, self._add))

    def catalogue(self, provider: str) -> tuple[Behaviour, ...]:
        return self._catalogues[provider]()

    def providers(self) -> list[str]:
        return list(self._catalogues)

    def scope_key(self, provider: str) -> str:
        return self._scopes.get(provider, "")

    # -- counting -----------------------------------------------------------------------------------------------

    def _add(self, key: tuple[str, str, str]) -> None:
        self._pending[key] += 1
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # counted outside the loop (a test building events by hand): flushed by the next read
            self._timer = loop.call_later(FLUSH_AFTER_S, self._flush_later)

    def _flush_later(self) -> None:
        self._timer = None
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._flush_logged())

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - the store is down: the counts stay pending for the next flush
            log.warning("behaviour counts not written yet: %s", exc)

    async def flush(self) -> None:
        """Write every pending increment now (one UPSERT per key, one transaction)."""
        async with self._lock:
            if not self._pending or not self.store.is_open:
                return
            pending, self._pending = self._pending, Counter()
            try:
                async with self.store.transaction() as tx:
                    await tx.executemany(_UPSERT, [(p, b, s, n) for (p, b, s), n in pending.items()])
            except BaseException:
                self._pending.update(pending)  # not written: they go with the next flush
                raise

    async def counts(self, provider: str | None = None, scope: str | None = None) -> Counter[tuple[str, str]]:
        """(provider, behaviour) -> occurrences since the counts were last reset (in ``scope`` if given)."""
        await self.flush()
        sql = f"SELECT provider, behaviour, SUM(count) FROM {TABLE}"  # noqa: S608 - fixed name
        where, params = [], []
        if provider is not None:
            where.append("provider=?")
            params.append(provider)
        if scope is not None:
            where.append("scope=?")
            params.append(scope)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.store.fetch_all(sql + " GROUP BY provider, behaviour", params)
        return Counter({(str(r[0]), str(r[1])): int(r[2]) for r in rows})

    async def reset(self, provider: str | None = None) -> None:
        """Start the counts over (one provider's, or every one's)."""
        async with self._lock:
            if provider is None:
                self._pending.clear()
            else:
                for key in [k for k in self._pending if k[0] == provider]:
                    del self._pending[key]
            async with self.store.transaction() as tx:
                if provider is None:
                    await tx.execute(f"DELETE FROM {TABLE}")  # noqa: S608 - fixed name
                else:
                    await tx.execute(f"DELETE FROM {TABLE} WHERE provider=?", (provider,))  # noqa: S608 - fixed name

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - closing on a store that failed: nothing more can be done
            log.warning("behaviour counts lost at close: %s", exc)

    # -- the report ---------------------------------------------------------------------------------------------

    async def report(self, providers: Iterable[str] | None = None, scope: str | None = None) -> dict[str, Any]:
        """Each behaviour of each provider with its count, and what was never met with how to provoke it."""
        names = list(providers) if providers is not None else self.providers()
        catalogues = {name: self.catalogue(name) for name in names}
        catalogues = {name: c for name, c in catalogues.items() if c}  # a provider this world has not configured
        only = next(iter(catalogues)) if len(catalogues) == 1 else None
        counts = await self.counts(only, scope)
        return build_report(catalogues, counts)


def build_report(catalogues: dict[str, tuple[Behaviour, ...]], counts: Counter[tuple[str, str]]) -> dict[str, Any]:
    """The answer of GET /_sim/coverage from catalogues and counts (also used to add up several simulators)."""
    sections = []
    met_total = total = 0
    unmet: list[dict[str, Any]] = []
    for name, catalogue in catalogues.items():
        rows = []
        met = 0
        for behaviour in catalogue:
            n = counts.get((name, behaviour.id), 0)
            met += n > 0
            rows.append({**behaviour.to_dict(), "count": n, "met": n > 0})
            if n == 0:
                unmet.append({"provider": name, **behaviour.to_dict()})
        sections.append({"provider": name, "met": met, "total": len(catalogue),
                         "percent": percent(met, len(catalogue)), "behaviours": rows})
        met_total += met
        total += len(catalogue)
    return {"met": met_total, "total": total, "percent": percent(met_total, total), "providers": sections,
            "unmet": unmet}


def percent(met: int, total: int) -> float:
    return round(100.0 * met / total, 1) if total else 100.0


def format_table(report: dict[str, Any], *, show_met: bool = True) -> str:
    """The report as the short table the pytest plugin and ``provider-sim replay`` print: a line per provider,
    what was met with its count, and what was not with the way to provoke it."""
    lines = [f"behaviour coverage: {report['met']} of {report['total']} met ({report['percent']} %)"]
    sections = report["providers"]
    width = max((len(s["provider"]) for s in sections), default=8)
    for s in sections:
        lines.append(f"  {s['provider']:<{width}}  {s['met']} of {s['total']} met ({s['percent']} %)")
    if report.get("unused"):
        lines.append(f"  not used by this run, left out: {', '.join(report['unused'])}")
    rows = [(s["provider"], b) for s in sections for b in s["behaviours"]]
    idw = max((len(b["id"]) for _, b in rows), default=10)
    met = [(p, b) for p, b in rows if b["met"]]
    if show_met and met:
        lines.append("met:")
        lines += [f"  {p:<{width}}  {b['id']:<{idw}}  {b['count']:>5}  {b['title']}" for p, b in met]
    unmet = [(p, b) for p, b in rows if not b["met"]]
    if unmet:
        lines.append("not met, and how to provoke each:")
        lines += [f"  {p:<{width}}  {b['id']:<{idw}}  {b['title']}: {b['provoke']} ({b['via']})" for p, b in unmet]
    return "\n".join(lines) + "\n"
