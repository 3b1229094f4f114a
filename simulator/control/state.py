"""The control plane's own in-memory state on a Simulation: the journal, fault rules, initial seed and knobs."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from simulator.control.faults import Faults
from simulator.control.journal import Journal, webhook_entry
from simulator.core.outbox import WebhookKnobs
from simulator.core.simulation import Simulation

KEY = "control"


@dataclass
class ControlPlane:
    sim: Simulation
    journal: Journal
    faults: Faults
    initial_seed: int
    initial_knobs: WebhookKnobs

    def on_full_reset(self) -> None:
        """Called by ``Simulation.reset()`` (no scope): faults, webhook knobs and the journal start over."""
        self.faults.clear()
        self.journal.clear()
        knobs = self.sim.outbox.knobs
        for f in dataclasses.fields(WebhookKnobs):
            setattr(knobs, f.name, getattr(self.initial_knobs, f.name))

    def on_webhook_attempt(self, notice: dict[str, Any]) -> None:
        self.journal.append(webhook_entry(notice, notice.get("atMs") or self.sim.clock.now_ms()))

    async def fill_webhooks(self, entries: list[dict[str, Any]]) -> None:
        """Webhook entries get provider, headers and body from the outbox row on first read (the notice has ids)."""
        import json

        from simulator.control.journal import body_for_journal, mask_headers

        missing = sorted({e["outboxId"] for e in entries if e.get("kind") == "webhook" and e.get("headers") is None
                          and isinstance(e.get("outboxId"), int)})
        if not missing:
            return
        rows = await self.sim.store.fetch_all(
            f"SELECT id, provider, headers, body FROM outbox WHERE id IN ({','.join('?' * len(missing))})", missing)
        by_id = {r[0]: r for r in rows}
        for e in entries:
            row = by_id.get(e.get("outboxId"))
            if e.get("kind") != "webhook" or row is None or e.get("headers") is not None:
                continue
            headers = json.loads(row[2])
            e["provider"] = row[1]
            e["headers"] = mask_headers(headers.items())
            ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/json")
            raw = bytes(row[3])
            if next((v for k, v in headers.items() if k.lower() == "content-encoding"), "").lower() == "gzip":
                import gzip

                try:
                    raw = gzip.decompress(raw)
                except OSError:
                    pass
            e["body"], e["bodyTruncated"] = body_for_journal(raw, ctype)


def install_state(sim: Simulation) -> ControlPlane:
    plane = ControlPlane(sim=sim, journal=Journal(size=sim.settings.journal_size), faults=Faults(sim.random.rng),
                         initial_seed=sim.random.seed, initial_knobs=dataclasses.replace(sim.outbox.knobs))
    sim.providers[KEY] = plane
    sim.outbox.listeners.append(plane.on_webhook_attempt)
    return plane


def control_of(sim: Simulation) -> ControlPlane:
    plane = sim.providers.get(KEY)
    if plane is None:
        plane = install_state(sim)
    return plane  # type: ignore[no-any-return]
