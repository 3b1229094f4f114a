"""Behaviour coverage over a test session (the pytest plugin) or a replay: what several simulators counted, added up.

A simulator's counts are read over HTTP (``GET /_sim/coverage``) when the session is done with it, less what it had
already counted when the session started with it (a shared simulator, a reused db file). Sessions merge: under
pytest-xdist each worker sends its sum to the controller, which adds them up and judges the thresholds.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.core.coverage import Behaviour, build_report, format_table

if TYPE_CHECKING:
    from simulator.testing import SimClient

Counts = Counter[tuple[str, str]]


def read(client: SimClient) -> tuple[dict[str, list[dict[str, Any]]], Counts]:
    """A simulator's catalogues (provider -> behaviours) and counts."""
    report = client.coverage()
    catalogues: dict[str, list[dict[str, Any]]] = {}
    counts: Counts = Counter()
    for section in report["providers"]:
        catalogues[section["provider"]] = [{k: b[k] for k in ("id", "title", "group", "via", "provoke")}
                                           for b in section["behaviours"]]
        for b in section["behaviours"]:
            if b["count"]:
                counts[(section["provider"], b["id"])] = int(b["count"])
    return catalogues, counts


@dataclass
class SessionCoverage:
    catalogues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counter)
    simulators: int = 0  # how many simulators were read (0: no test used one)

    def add(self, catalogues: dict[str, list[dict[str, Any]]], counts: Counts) -> None:
        for provider, behaviours in catalogues.items():
            # A world without a provider's section lists none of its behaviours: keep the fullest catalogue.
            if len(behaviours) > len(self.catalogues.get(provider, [])):
                self.catalogues[provider] = behaviours
        self.counts.update(counts)
        self.simulators += 1

    def add_since(self, client: SimClient, baseline: Counts) -> None:
        """Add what ``client``'s simulator counted since ``baseline`` (a count reset meanwhile counts as 0)."""
        catalogues, counts = read(client)
        self.add(catalogues, Counter({k: n - baseline.get(k, 0) for k, n in counts.items()
                                      if n > baseline.get(k, 0)}))

    def merge(self, other: SessionCoverage) -> None:
        if other.simulators:
            self.add(other.catalogues, other.counts)
            self.simulators += other.simulators - 1

    # -- sent between processes (xdist's workeroutput takes plain data) ---------------------------------------------

    def to_data(self) -> dict[str, Any]:
        return {"catalogues": self.catalogues, "counts": [[p, b, n] for (p, b), n in self.counts.items()],
                "simulators": self.simulators}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SessionCoverage:
        return cls(dict(data["catalogues"]), Counter({(p, b): int(n) for p, b, n in data["counts"]}),
                   int(data["simulators"]))

    # -- the verdict ------------------------------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The providers this run used (met at least one behaviour of); the others are named under "unused", so
        a Bird-only suite is not told about every Business Chat behaviour, nor judged on them."""
        catalogues = {p: tuple(Behaviour(**b) for b in bs) for p, bs in sorted(self.catalogues.items()) if bs}
        used = {p for (p, _), n in self.counts.items() if n > 0}
        report = build_report({p: c for p, c in catalogues.items() if p in used or not used}, self.counts)
        report["unused"] = sorted(p for p in catalogues if used and p not in used)
        return report

    def table(self) -> str:
        return format_table(self.report())

    def failures(self, fail_under: float | None, required: list[str]) -> list[str]:
        """Why the run fails its coverage requirements (empty: it meets them)."""
        if fail_under is None and not required:
            return []
        if not self.simulators:
            return ["no simulator ran in this session: behaviour coverage cannot be judged"]
        report = self.report()
        out = []
        if fail_under is not None and report["percent"] < fail_under:
            out.append(f"behaviour coverage {report['percent']} % is under the required {fail_under:g} %")
        for wanted in required:
            provider, _, behaviour = wanted.rpartition(":")
            found = [(p, b["id"]) for p, bs in self.catalogues.items() for b in bs
                     if b["id"] == behaviour and provider in ("", p)]
            if not found:
                out.append(f"required behaviour {wanted!r} is in no catalogue (GET /_sim/coverage lists the ids)")
            elif not any(self.counts.get(key) for key in found):
                how = next(b for p, bs in self.catalogues.items() for b in bs if (p, b["id"]) == found[0])
                out.append(f"required behaviour {wanted!r} ({how['title']}) was never met: {how['provoke']}")
        return out
