"""Expectation checks for scenarios: subset matching on dotted paths, and a readable diff when it fails."""
from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from simulator.testing import MISSING, dotted

T = TypeVar("T")


class Unmet(AssertionError):
    """An expectation did not hold; ``str()`` is the explanation with a diff."""


def mismatches(data: object, match: Mapping[str, object] | None) -> dict[str, tuple[object, object]]:
    """dotted path -> (expected, actual) for every pair that does not hold."""
    out: dict[str, tuple[object, object]] = {}
    for key, expected in (match or {}).items():
        actual = dotted(data, key)
        if actual != expected:
            out[key] = (expected, actual)
    return out


def diff(match: Mapping[str, object], data: object) -> str:
    """A unified diff between what was expected (those paths) and what the closest candidate had."""
    expected = dict(match)
    actual = {k: (None if (a := dotted(data, k)) is MISSING else a) for k in match}
    missing = [k for k in match if dotted(data, k) is MISSING]
    left = json.dumps(expected, indent=2, sort_keys=True, default=str).splitlines()
    right = json.dumps(actual, indent=2, sort_keys=True, default=str).splitlines()
    text = "\n".join(difflib.unified_diff(left, right, "expected", "actual", lineterm=""))
    if missing:
        text += "\n(missing: " + ", ".join(missing) + ")"
    return text


def closest(candidates: Iterable[T], match: Mapping[str, object]) -> T | None:
    """The candidate with the fewest mismatching paths (the last one wins ties: the newest)."""
    best: T | None = None
    best_count: int | None = None
    for candidate in candidates:
        count = len(mismatches(candidate, match))
        if best_count is None or count <= best_count:
            best, best_count = candidate, count
    return best


def check_response(status: int, body: object, headers: Mapping[str, str], expect: dict[str, Any] | None,
                   what: str) -> None:
    """``expect`` is a step's ``expect`` (schemas/scenario/scenario.json): status, json (dotted paths), headers."""
    if not expect:
        if status >= 400:
            raise Unmet(f"{what} answered {status}: {json.dumps(body)[:600]}")
        return
    if "status" in expect and status != expect["status"]:
        raise Unmet(f"{what}: expected HTTP {expect['status']}, got {status}\n{json.dumps(body, indent=2)[:1500]}")
    wanted = expect.get("json") or {}
    if wanted and mismatches(body, wanted):
        raise Unmet(f"{what}: response body does not match\n{diff(wanted, body)}")
    for name, value in (expect.get("headers") or {}).items():
        actual = headers.get(name.lower())
        if actual != str(value):
            raise Unmet(f"{what}: expected header {name}: {value}, got {actual!r}")
