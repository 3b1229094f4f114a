"""Hypothesis drives every provider and control endpoint with hostile input: zero 5xx, the server stays up,
and a rejected request changes nothing."""
from __future__ import annotations

import json

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _support import AUTH, CH, ORG, WS, json_paths

from simulator.server import SimulatorServer
from simulator.settings import Settings

pytestmark = pytest.mark.slow

# "¹": str.isdigit() says yes, int() says no.
HOSTILE_IDS = ["¹", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%00", "a" * 5000, "' OR 1=1 --", "%ff%fe", "😀",
               "00000000-0000-4000-8000-000000000000", "%0d%0aX-Injected:%201", "99999999999999999999999", "-1"]
PATHS = [
    ("POST", "/workspaces/{ws}/channels/{ch}/messages"), ("GET", "/workspaces/{ws}/channels/{ch}/messages"),
    ("GET", "/workspaces/{ws}/channels/{ch}/messages/{id}"), ("POST", "/workspaces/{ws}/channels/{ch}/batch/messages"),
    ("GET", "/workspaces/{ws}/messages"), ("GET", "/workspaces/{ws}/messages/{id}"), ("GET", "/workspaces/{ws}/channels"),
    ("GET", "/workspaces/{ws}/channels/{ch}"), ("POST", "/workspaces/{ws}/contacts"),
    ("GET", "/workspaces/{ws}/contacts/{id}"), ("GET", "/organizations/{org}/workspaces"),
    ("POST", "/workspaces/{ws}/connectors"), ("GET", "/workspaces/{ws}/connectors/{id}"),
    ("POST", "/organizations/{org}/workspaces/{ws}/webhook-subscriptions"),
    ("POST", "/v1/message"), ("POST", "/v1/authenticate"), ("GET", "/v1/preUpload"), ("POST", "/v1/decodePayload"),
    ("POST", "/v1/constructPayload"),
    ("POST", "/_sim/clock/advance"), ("POST", "/_sim/reset?workspace={id}"), ("GET", "/_sim/clock"),
    ("POST", "/_sim/bird/inbound"), ("POST", "/_sim/faults"), ("GET", "/_sim/journal?limit={id}"),
    ("GET", "/_sim/journal?since={id}&sinceSeq={id}"), ("GET", "/_sim/outbox?limit={id}"),
    ("GET", "/_sim/bird/messages?limit={id}&since={id}"),
    ("GET", "/_sim/business-chat/customers/{id}/device/{id}/attachments/{id}"),
    ("GET", "/_sim/business-chat/customers/urn:mbid:AQAAYSimulatedCustomerOne0001/device/{id}/attachments/{id}"),
]

leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**200), 2**200), st.floats(), st.text(max_size=50),
                 st.just("\u0000"), st.just("x" * 10_000), st.just("+31612345678"))
json_docs = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(st.text(max_size=15), inner, max_size=5)),
                         max_leaves=25)
raw_bodies = st.one_of(
    json_docs.map(lambda d: json.dumps(d, allow_nan=True).encode()),
    st.binary(max_size=300),
    st.just(b"\xff\xfe\xfa{}"), st.just(b'{"a": "\xed\xa0\x80"}'),
    st.integers(1000, 60000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1000, 30000).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
    st.just(b'{"receiver": {"contacts": [{"identifierValue": 1e999}]}}'),
    st.just(("9" * 5000).encode()),
    st.just(b'{"receiver": {"contacts": [{"identifierValue": "+31612345678"}]}, "body": {"type": "text", "text": {"text": "x"}}, "validity": 99999999999999999999999}'),
)
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                 "multipart/form-data; boundary=zz", "application/json; charset=latin-1", "",
                                 "application/merge-patch+json", "*/*"])


@pytest.fixture(scope="module")
def server(new_database):
    with SimulatorServer(Settings(db=new_database("fuzz"), clock="manual", port=0, log_level="error")) as srv:
        yield srv, srv


def _state(srv: SimulatorServer) -> tuple:
    """What a rejected request must not change, read through the server's own store (either kind)."""
    store = srv.sim.store

    async def read() -> tuple:
        rows = [await store.fetch_one(f"SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM {t}")  # noqa: S608
                for t in ("bird_messages", "bird_contacts", "bird_connectors")]
        rows += [await store.fetch_one("SELECT COUNT(*) FROM outbox"), await store.fetch_one("SELECT COUNT(*) FROM jobs")]
        return tuple(tuple(int(v) for v in r) for r in rows)

    return srv.call(read())


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(endpoint=st.sampled_from(PATHS), ident=st.sampled_from(HOSTILE_IDS), body=raw_bodies,
       ctype=content_types, auth=st.sampled_from(["good", "none", "bad"]), query=st.sampled_from(
           ["", "?limit=-1", "?limit=99999999999999999999", "?pageToken=%ff", "?status=%00", "?startAt=9999-99",
            "?pageToken=99999999999999999999999", "?pageToken=WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAsMl0"]))
def test_hostile_requests_never_5xx_and_change_nothing_when_rejected(server, endpoint, ident, body, ctype, auth,
                                                                     query) -> None:
    srv, db = server
    method, template = endpoint
    path = template.format(ws=WS, ch=CH, org=ORG, id=ident) + (query if "?" not in template else "")
    headers = {"content-type": ctype} if ctype else {}
    if auth == "good":
        headers.update(AUTH)
    elif auth == "bad":
        headers["Authorization"] = "AccessKey \x7f\x00bad"
    before = _state(db)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            r = client.request(method, path, content=body if method == "POST" else None, headers=headers)
    except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError):
        return  # the client refused to send it (e.g. control characters in a header): nothing reached the server
    assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
    if r.status_code >= 400 and not path.startswith("/_sim/reset"):
        assert _state(db) == before, (method, path, r.status_code)
    assert httpx.get(f"{srv.url}/_sim/health", timeout=10).status_code == 200


BIG = "99999999999999999999999"  # beyond SQLite's 64-bit integers: must be a 4xx, never an OverflowError


@pytest.mark.parametrize("path", [p.format(ws=WS, ch=CH, org=ORG, id=BIG) for m, p in PATHS if m == "GET"] + [
    f"/workspaces/{WS}/channels/{CH}/messages?pageToken={BIG}", f"/workspaces/{WS}/contacts?pageToken={BIG}",
    f"/workspaces/{WS}/webhook-subscriptions?pageToken={BIG}", f"/workspaces/{WS}/channels?pageToken={BIG}",
    f"/_sim/journal?since={BIG}", f"/_sim/journal?sinceSeq={BIG}", f"/_sim/bird/messages?limit={BIG}"])
def test_numbers_beyond_64_bits_never_5xx(server, path) -> None:
    srv, _ = server
    r = httpx.get(srv.url + path, headers=AUTH, timeout=10)
    assert r.status_code < 500, (path, r.status_code, r.text[:300])


VALID_SEND = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
              "body": {"type": "text", "text": {"text": "hi"}}, "reference": "r", "tags": ["a"],
              "notification": {"url": "http://127.0.0.1:9/x"}, "meta": {"extraInformation": {"useCase": "x"}}}


def _replaced(doc, path, new):
    if not path:
        return new
    doc = json.loads(json.dumps(doc))
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return doc


# A valid request with one part swapped for anything: reaches the code behind the schema (rejected batch items
# are stored as sent, whatever their shape), where random documents rarely get.
near_valid = st.tuples(st.sampled_from(json_paths(VALID_SEND)), json_docs).map(lambda p: _replaced(VALID_SEND, *p))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(item=near_valid, batch=st.booleans())
def test_near_valid_sends_and_batch_items_never_5xx(server, item, batch) -> None:
    srv, db = server
    path = f"/workspaces/{WS}/channels/{CH}/" + ("batch/messages" if batch else "messages")
    body = {"messageRequests": [VALID_SEND, item]} if batch else item
    before = _state(db)
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        r = client.post(path, content=json.dumps(body, allow_nan=True).encode(),
                        headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code < 500, (path, body, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert _state(db) == before, (path, r.status_code)


@pytest.mark.parametrize("header", ["X-Test: a\r\nX-Injected: 1", "a\nb"])
def test_header_injection_at_the_socket_never_5xx(server, header: str) -> None:
    import socket

    srv, _ = server
    raw = (f"GET /workspaces/{WS}/channels HTTP/1.1\r\nHost: x\r\nAuthorization: AccessKey {header}\r\n"
           "Connection: close\r\n\r\n").encode()
    with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
        sock.sendall(raw)
        reply = sock.recv(200)
    assert not reply.startswith(b"HTTP/1.1 5"), reply
    assert httpx.get(f"{srv.url}/_sim/health", timeout=10).status_code == 200


# Every route the app has, read from its router: a route added later is fuzzed without anyone listing it. Streams
# and long polls are left out (they answer when something happens; the journal's long poll is tested on its own).
def _every_route(app) -> list[tuple[str, str]]:
    from starlette.routing import Route

    out = []
    for route in app.router.routes:
        if not isinstance(route, Route) or route.path == "/_sim/events" or route.path.endswith("/wait"):
            continue
        out += [(m, route.path) for m in sorted((route.methods or {"GET"}) - {"HEAD"})]
    return out


_PARAM = __import__("re").compile(r"\{([a-z_]+)(?::path)?\}")


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), body=st.one_of(json_docs.map(lambda d: json.dumps(d, allow_nan=True).encode()), raw_bodies),
       auth=st.sampled_from(["bird", "business_chat", "none"]))
def test_every_route_with_any_ids_and_body_never_5xx(server, data, body, auth) -> None:
    import base64
    import time

    import jwt

    srv, db = server
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        bc = client.get("/_sim/business-chat").json()
        customers = [c["id"] for c in client.get("/_sim/business-chat/customers").json()["customers"]]
    method, template = data.draw(st.sampled_from(_every_route(srv.app)), label="route")
    known = {"workspace_id": [WS], "channel_id": [CH], "organization_id": [ORG], "customer_id": customers,
             "business_id": bc["businesses"]}
    path = _PARAM.sub(lambda m: data.draw(st.sampled_from(known.get(m.group(1), []) + HOSTILE_IDS[:10]),
                                          label=m.group(1)), template)
    headers = {"content-type": "application/json"}
    if auth == "bird":
        headers.update(AUTH)
    elif auth == "business_chat":
        token = jwt.encode({"iss": bc["mspId"], "iat": int(time.time())}, base64.b64decode(bc["secret"]), "HS256")
        headers.update({"authorization": f"Bearer {token}", "source-id": bc["businesses"][0],
                        "destination-id": customers[0], "id": "6f0c1c3e-3b2a-4c2e-9d4f-1a2b3c4d5e6f"})
    before = _state(db)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            r = client.request(method, path, content=body if method in ("POST", "PATCH", "PUT") else None,
                               headers=headers)
    except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError):
        return  # the client refused to send it: nothing reached the server
    assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
    if r.status_code >= 400 and "/reset" not in template:
        assert _state(db) == before, (method, path, r.status_code)
    assert httpx.get(f"{srv.url}/_sim/health", timeout=10).status_code == 200
