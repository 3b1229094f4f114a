"""Expectation checks for scenarios: subset matching on dotted paths, and a readable diff when it fails."""
from __future__ import annotations

import difflib
import json
from typing import Any

from simulator.testing import MISSING, dotted


class Unmet(AssertionError):
    """An expectation did not hold; ``str()`` is the explanation with a diff."""


def mismatches(data: Any, match: dict[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """dotted path -> (expected, actual) for every pair that does not hold."""
    out: dict[str, tuple[Any, Any]] = {}
    for key, expected in (match or {}).items():
        actual = dotted(data, key)
        if actual != expected:
            out[key] = (expected, actual)
    return out


def diff(match: dict[str, Any], data: Any) -> str:
    """A unified diff between what was expected (those paths) and what the closest candidate had."""
    expected = {k: v for k, v in match.items()}
    actual = {k: (None if (a := dotted(data, k)) is MISSING else a) for k in match}
    missing = [k for k in match if dotted(data, k) is MISSING]
    left = json.dumps(expected, indent=2, sort_keys=True, default=str).splitlines()
    right = json.dumps(actual, indent=2, sort_keys=True, default=str).splitlines()
    text = "\n".join(difflib.unified_diff(left, right, "expected", "actual", lineterm=""))
    if missing:
        text += "\n(missing: " + ", ".join(missing) + ")"
    return text


def closest(candidates: list[Any], match: dict[str, Any]) -> Any:
    """The candidate with the fewest mismatching paths (the last one wins ties: the newest)."""
    best, best_count = None, None
    for candidate in candidates:
        count = len(mismatches(candidate, match))
        if best_count is None or count <= best_count:
            best, best_count = candidate, count
    return best


def check_response(status: int, body: Any, headers: dict[str, str], expect: dict[str, Any] | None,
                   what: str) -> None:
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
