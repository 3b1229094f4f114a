"""Webhook knobs: what real integrations meet on the receiving end (late, duplicated and reordered webhooks), one
set of names for every provider, plus the extensions a provider declares (Bird's DLR delay). Randomness comes
from the seeded generator; the control plane sets them at ``/_sim/webhooks`` and ``/_sim/faults``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


class InvalidKnobs(ValueError):
    """Knob values that cannot be used; ``details`` maps each name at fault to its problems. Nothing changed."""

    def __init__(self, message: str, details: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Extension:
    """A knob a provider adds, a number of seconds or a ratio between 0 and ``maximum``."""

    default: float
    maximum: float
    description: str


# name -> (attribute, maximum); "reorder" is a boolean
_NUMBERS = {"delaySeconds": ("delay_s", 86400.0 * 7), "duplicateProbability": ("duplicate_probability", 1.0),
            "reorderWindowSeconds": ("reorder_window_s", 86400.0)}


@dataclass
class WebhookKnobs:
    delay_s: float = 0.0  # every webhook waits this long before its first attempt
    duplicate_probability: float = 0.0  # a webhook is delivered twice with this probability
    reorder: bool = False
    # With ``reorder``, about half of the deliveries are held back once by a random 0.5..window seconds, so later
    # events of the same ordering key (a message's status updates, seconds apart) overtake them.
    reorder_window_s: float = 5.0
    extensions: dict[str, float] = field(default_factory=dict)
    declared: dict[str, Extension] = field(default_factory=dict)

    def declare(self, name: str, extension: Extension) -> None:
        """A provider adds a knob of its own (set and restored with the others)."""
        if name in _NUMBERS or name in ("reorder", "retryScheduleSeconds") or name in self.declared:
            raise ValueError(f"webhook knob {name!r} already exists")
        self.declared[name] = extension
        self.extensions[name] = extension.default

    def extension(self, name: str) -> float:
        return self.extensions[name]

    def to_dict(self) -> dict[str, Any]:
        return {"delaySeconds": self.delay_s, "duplicateProbability": self.duplicate_probability,
                "reorder": self.reorder, "reorderWindowSeconds": self.reorder_window_s, **self.extensions}

    def names(self) -> list[str]:
        return [*_NUMBERS, "reorder", *self.declared]

    def update(self, data: Any) -> None:
        """Set the knobs ``data`` names ({"delaySeconds": 2, ...}); all of them or none (InvalidKnobs)."""
        if not isinstance(data, dict):
            raise InvalidKnobs("webhook knobs must be a JSON object of name: value", {".": ["must be an object"]})
        problems: dict[str, list[str]] = {}
        changes: dict[str, Any] = {}
        for name, value in data.items():
            if name == "reorder":
                if isinstance(value, bool):
                    changes[name] = value
                else:
                    problems[name] = ["must be true or false"]
                continue
            if name in _NUMBERS:
                maximum = _NUMBERS[name][1]
            elif name in self.declared:
                maximum = self.declared[name].maximum
            else:
                problems[name] = [f"unknown webhook knob; known: {', '.join(self.names())}"]
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems[name] = ["must be a number"]
            elif not 0 <= value <= maximum:
                problems[name] = [f"must be between 0 and {maximum:g}"]
            else:
                changes[name] = float(value)
        if problems:
            first = next(iter(problems))
            raise InvalidKnobs(f'"{first}": {problems[first][0]}', problems)
        for name, value in changes.items():
            if name == "reorder":
                self.reorder = value
            elif name in _NUMBERS:
                setattr(self, _NUMBERS[name][0], value)
            else:
                self.extensions[name] = value

    def snapshot(self) -> WebhookKnobs:
        return dataclasses.replace(self, extensions=dict(self.extensions), declared=dict(self.declared))

    def restore(self, snapshot: WebhookKnobs) -> None:
        """Back to ``snapshot`` (what the world config set), extensions declared since then at their default."""
        self.delay_s, self.duplicate_probability = snapshot.delay_s, snapshot.duplicate_probability
        self.reorder, self.reorder_window_s = snapshot.reorder, snapshot.reorder_window_s
        self.extensions = {name: snapshot.extensions.get(name, ext.default) for name, ext in self.declared.items()}
