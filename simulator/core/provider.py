"""The provider contract: what a provider (Bird, Business Chat, ...) gives the simulation, and the typed registry
that holds them. Core knows providers only through this interface; providers reach core through the Simulation's
own API (store, scheduler, outbox, events), never through core's tables."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from starlette.responses import Response
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from simulator.core.coverage import Behaviour, Tally
    from simulator.core.events import Event
    from simulator.core.retention import RetentionKind
    from simulator.core.scheduler import Job
    from simulator.core.store import Tx


@dataclass(frozen=True)
class JobKind:
    """A kind of due job a provider runs: ``handler(jobs)`` gets a batch of one kind and consumes them
    (``scheduler.done``) in the transaction that applies their effect. ``spans_times``: see Scheduler.register."""

    handler: Callable[[list[Job]], Awaitable[None]]
    spans_times: bool = False


class Provider:
    """Base class of a provider. Subclasses set the class attributes and override what they use."""

    #: Short name carried by journal entries, fault rules (``provider``), outbox rows and coverage.
    name: ClassVar[str] = ""
    #: Path prefix of the provider's API ("/v1"); "" = the API answers paths no other provider claims.
    api_prefix: ClassVar[str] = ""
    #: Path prefix of its part of the control plane ("/_sim/bird").
    control_prefix: ClassVar[str] = ""
    #: The keys of ``POST /_sim/reset`` scopes it understands ({"workspace": id} ...).
    scope_keys: ClassVar[tuple[str, ...]] = ()
    #: The events it publishes on the bus.
    event_types: ClassVar[tuple[type[Event], ...]] = ()
    #: Tables whose id sequences a full reset leaves alone (ids that other rows keep pointing at).
    durable_sequences: ClassVar[tuple[str, ...]] = ()
    #: The key of ``scope_keys`` its behaviour counts are kept by (``GET /_sim/coverage?workspace=``).
    coverage_scope: ClassVar[str] = ""

    def routes(self) -> list[BaseRoute]:
        """The provider's API."""
        return []

    def control_routes(self) -> list[BaseRoute]:
        """Its part of the control plane, under ``control_prefix``."""
        return []

    def error_response(self, status: int, code: str, message: str) -> Response:
        """An error in the provider's own shape, for errors raised outside its handlers (404 route, 405, 413)."""
        raise NotImplementedError

    def job_kinds(self) -> dict[str, JobKind]:
        """The due-job kinds it runs, by name ("<provider>.<what>")."""
        return {}

    def retention_kinds(self) -> tuple[RetentionKind, ...]:
        """What it keeps that accumulates with traffic, each with the default time it is kept (core/retention.py
        removes it once older, in small indexed steps)."""
        return ()

    async def open(self) -> None:
        """After the store opened, before the first request (load what lives in the store into memory)."""

    async def reload(self) -> None:
        """Another process of a fleet changed control state (core/fleet.py): read again what ``open`` loaded."""

    async def reset_scope(self, tx: Tx, scope: dict[str, str]) -> None:
        """Delete what belongs to ``scope`` (keys of ``scope_keys``; other keys are not its business)."""

    def after_full_reset(self) -> None:
        """A full reset emptied every table: drop what the provider keeps outside the store (files, knobs)."""

    def describe(self) -> dict[str, Any]:
        """Its part of ``GET /_sim/info``: ids, credentials, what a client needs to talk to it."""
        return {}

    def banner(self) -> list[str]:
        """Lines the dev server prints at start (ids to copy into requests)."""
        return []

    def behaviours(self) -> tuple[Behaviour, ...]:
        """Its catalogue of behaviours a test may meet, each with how to provoke it (``GET /_sim/coverage``);
        read only when someone asks for coverage."""
        return ()

    def count_behaviours(self, tally: Tally) -> None:
        """Subscribe to what tells it a behaviour of its catalogue occurred (the bus's events, its own outcomes)
        and call ``tally(behaviour_id, scope)`` for each occurrence. Called once, when it is installed."""


P = TypeVar("P", bound=Provider)


class Providers:
    """The providers of one simulation, looked up by class (typed) or by name."""

    def __init__(self) -> None:
        self._by_name: dict[str, Provider] = {}

    def add(self, provider: Provider) -> None:
        if not provider.name or provider.name in self._by_name:
            raise ValueError(f"provider name {provider.name!r} is empty or taken")
        self._by_name[provider.name] = provider

    def get(self, kind: type[P]) -> P:
        """The installed provider of class ``kind``; LookupError if there is none (its config section is absent)."""
        found = self.find(kind)
        if found is None:
            raise LookupError(f"{kind.__name__} is not installed in this simulation")
        return found

    def find(self, kind: type[P]) -> P | None:
        # By the class's name, not isinstance: a module imported anew (pytester restores sys.modules after an
        # in-process run) brings a second class object, and the provider built from the first is still this one.
        return cast("P | None", self._by_name.get(kind.name))

    def named(self, name: str) -> Provider | None:
        return self._by_name.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def for_path(self, path: str) -> Provider | None:
        """The provider whose API or control routes a path falls under: the longest matching prefix, else the
        provider that answers paths no other claims (``api_prefix`` "")."""
        best: Provider | None = None
        best_len = -1
        for provider in self._by_name.values():
            for prefix in (provider.api_prefix, provider.control_prefix):
                if prefix and (path == prefix or path.startswith(prefix + "/")) and len(prefix) > best_len:
                    best, best_len = provider, len(prefix)
        if best is None:
            best = next((p for p in self._by_name.values() if p.api_prefix == ""), None)
        return best

    def __iter__(self) -> Iterator[Provider]:
        return iter(tuple(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)
