"""Deeply nested JSON (issue: hostile input) is a 400 in the provider's own shape at every depth, and nothing of it
is stored: free-form fields (Bird's message meta, contact attributes), a Business Chat message and the control
plane, through HTTP. The limit is MAX_JSON_DEPTH levels of objects and arrays (docs/security.md)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from simulator.core.errors import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH

sys.path.insert(0, str(Path(__file__).parents[1] / "business_chat"))
from bc_msp import MSP  # noqa: E402 - the Business Chat tests' MSP, found beside them

# Around the limit, around orjson's limits (254 to write, 1024 to read), Python's recursion limit and far past.
DEPTHS = (MAX_JSON_DEPTH + 1, 254, 255, 500, 1000, 1023, 1024, 1025, 5000, 100_000)
JSON = {"content-type": "application/json"}


def nested(levels: int) -> str:
    """``levels`` objects inside one another (alternating with arrays, as real documents do)."""
    opener = ['{"a":', "["]
    closer = ["}", "]"]
    return "".join(opener[i % 2] for i in range(levels)) + "1" + "".join(closer[i % 2] for i in reversed(range(levels)))


def send_body(levels: int) -> bytes:
    """A valid Bird send whose meta.extraInformation.x holds ``levels`` more levels (3 around it)."""
    return ('{"receiver":{"contacts":[{"identifierValue":"+15551230000"}]},'
            '"body":{"type":"text","text":{"text":"hi"}},"meta":{"extraInformation":{"x":%s}}}'
            % nested(levels)).encode()


def refused(message: str) -> bool:
    """Too deep, or (past MAX_JSON_CONTAINERS levels) too many objects and arrays, whichever is seen first."""
    return "nested too deeply" in message or f"more than {MAX_JSON_CONTAINERS} JSON objects" in message


def stored(provider_sim: Any) -> tuple[int, int]:
    sim = provider_sim
    messages = sim.http.get(f"/workspaces/{sim.workspace_id}/messages", headers=sim.bird_headers).json()["results"]
    contacts = sim.http.get(f"/workspaces/{sim.workspace_id}/contacts", headers=sim.bird_headers).json()["results"]
    return len(messages), len(contacts)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@pytest.mark.parametrize("levels", DEPTHS)
def test_deep_json_is_a_400_in_the_provider_shape_and_nothing_is_stored(provider_sim: Any, levels: int) -> None:
    sim = provider_sim
    msp = MSP(sim)
    before = stored(sim)

    bird = sim.http.post(sim.messages_path(), content=send_body(levels), headers={**sim.bird_headers, **JSON})
    assert bird.status_code == 400, bird.text[:300]
    assert set(bird.json()) >= {"code", "message"} and refused(bird.json()["message"])

    contact = ('{"displayName":"Deep","identifiers":[{"key":"phonenumber","value":"+15551239999"}],'
               '"attributes":{"x":%s}}' % nested(levels)).encode()
    answer = sim.http.post(f"/workspaces/{sim.workspace_id}/contacts", content=contact,
                           headers={**sim.bird_headers, **JSON})
    assert answer.status_code == 400 and refused(answer.json()["message"]), answer.text[:300]

    envelope = msp.envelope("text", body="hi")
    raw = json.dumps(envelope)[:-1] + ', "x": %s}' % nested(levels)
    apple = sim.http.post("/v1/message", content=raw.encode(), headers=msp.headers(
        **{"id": envelope["id"], "destination-id": envelope["destinationId"], **JSON}))
    assert apple.status_code == 400, apple.text[:300]
    assert set(apple.json()) >= {"code", "message"} and refused(apple.json()["message"])

    control = sim.http.post("/_sim/bird/inbound", content=nested(levels).encode(), headers=JSON)
    assert control.status_code == 400, control.text[:300]
    assert refused(control.json()["error"]["message"])

    assert stored(sim) == before
    assert sim.http.get("/_sim/journal?limit=5").status_code == 200  # the journal copes with what it saw


def test_up_to_the_limit_is_accepted(provider_sim: Any) -> None:
    sim = provider_sim
    at_limit = sim.http.post(sim.messages_path(), content=send_body(MAX_JSON_DEPTH - 3),
                             headers={**sim.bird_headers, **JSON})
    assert at_limit.status_code == 202, at_limit.text[:300]
    message = sim.http.get(f"{sim.messages_path()}/{at_limit.json()['id']}", headers=sim.bird_headers)
    assert message.status_code == 200 and depth(message.json()["meta"]) == MAX_JSON_DEPTH - 1, message.text[:300]
    over = sim.http.post(sim.messages_path(), content=send_body(MAX_JSON_DEPTH - 2),
                         headers={**sim.bird_headers, **JSON})
    assert over.status_code == 400, over.text[:300]


def test_too_many_objects_and_arrays_are_refused_before_parsing_brackets_in_text_are_not(provider_sim: Any) -> None:
    sim = provider_sim
    wide = ('{"receiver":{"contacts":[{"identifierValue":"+15551230000"}]},"body":{"type":"text","text":'
            '{"text":"hi"}},"meta":{"extraInformation":{"x":[%s]}}}' % ",".join(["[]"] * MAX_JSON_CONTAINERS))
    answer = sim.http.post(sim.messages_path(), content=wide.encode(), headers={**sim.bird_headers, **JSON})
    assert answer.status_code == 400 and f"more than {MAX_JSON_CONTAINERS}" in answer.json()["message"], answer.text
    # Brackets and escaped quotes inside strings are text, not structure.
    text = '[{\\"' * (MAX_JSON_CONTAINERS // 2)
    prose = ('{"receiver":{"contacts":[{"identifierValue":"+15551230000"}]},"body":{"type":"text","text":'
             '{"text":"hi"}},"meta":{"extraInformation":{"x":"%s"}}}' % text)
    answer = sim.http.post(sim.messages_path(), content=prose.encode(), headers={**sim.bird_headers, **JSON})
    assert answer.status_code == 202, answer.text[:300]
