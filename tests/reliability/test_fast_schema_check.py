"""The fast check (jsonschema-rs) agrees with jsonschema on every schema we ship, so the fast path accepts exactly
what jsonschema accepts."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _support import json_paths

from simulator.core.schemas import SchemaStore

STORE = SchemaStore()
KEYS = sorted(STORE._fast)  # noqa: SLF001

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                    st.text(max_size=30), st.sampled_from(["text", "+31612345678", "image", "", "x" * 5000,
                                                           "2025-01-01T00:00:00Z", "phonenumber"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)

SEEDS: dict[str, list[Any]] = {
    "bird/send-message": [
        {"receiver": {"contacts": [{"identifierValue": "+31612345678"}]}, "body": {"type": "text", "text": {"text": "hi"}}},
        {"receiver": {"contacts": [{"identifierValue": "+15550100009"}]},
         "body": {"type": "image", "image": {"images": [{"mediaUrl": "https://example.com/a.png"}]}},
         "tags": ["a"], "reference": "r", "validity": 60, "notification": {"url": "http://127.0.0.1/x"}},
    ],
}


@st.composite
def mutated(draw: Any, key: str) -> Any:
    seeds = SEEDS.get(key) or [{}]
    doc = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 3))):
        paths = json_paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(json_values)
    return doc


def _agree(key: str, instance: Any) -> None:
    try:
        fast = STORE._fast[key].is_valid(instance)  # noqa: SLF001
    except ValueError:
        return  # jsonschema-rs declines (e.g. integers beyond 64 bits); SchemaStore then asks jsonschema
    full = STORE.validator(key).is_valid(instance)
    assert fast == full, f"{key}: fast={fast} jsonschema={full} for {json.dumps(instance)[:300]}"


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_check_agrees_with_jsonschema(key: str, data: Any) -> None:
    instance = data.draw(st.one_of(json_values, mutated(key)))
    _agree(key, instance)


@settings(max_examples=400, deadline=None)
@given(instance=mutated("bird/send-message"))
def test_fast_check_agrees_on_mutated_sends(instance: Any) -> None:
    _agree("bird/send-message", instance)


def test_out_of_range_integers_fall_back_to_jsonschema() -> None:
    body = {"receiver": {"contacts": [{"identifierValue": "+31612345678"}]},
            "body": {"type": "text", "text": {"text": "hi"}}, "validity": -(2**80)}  # beyond 64 bits, below 0
    issues = STORE.issues("bird/send-message", body)
    assert [i.jq_path() for i in issues] == [".validity"]
