"""A web page the simulator did not serve cannot drive its control plane (issue: hostile web pages).

Through HTTP against a running server: a DNS-rebinding page arrives with its own name as Host; a page on another
origin sends its Origin (or Sec-Fetch-Site). Both are refused on /_sim, reads of /_sim/info included; the provider
APIs keep their own auth; SimClient, the web UI (same origin) and a configured name pass.
"""
from __future__ import annotations

import httpx2 as httpx
import pytest

from simulator.server import SimulatorServer
from simulator.settings import Settings


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(Settings(db=":memory:", clock="manual", port=0, allowed_hosts="sim.example.test")) as s:
        yield s


def test_a_rebinding_page_cannot_read_or_reset(server) -> None:
    with httpx.Client(base_url=server.url) as client:
        for method, path in (("GET", "/_sim/info"), ("POST", "/_sim/reset"), ("GET", "/_sim/ui/")):
            answer = client.request(method, path, headers={"Host": f"evil.example:{server.port}"})
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "Forbidden"
        # What the simulator is called by its own clients passes: loopback, a dotless name, a configured name.
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "[::1]", "provider-sim:8790",
                     "testserver", "sim.example.test", "app.localhost"):
            assert client.get("/_sim/info", headers={"Host": host}).status_code == 200, host
        # The provider APIs are not the control plane: they answer with their own auth, whatever the Host.
        bird = client.get("/workspaces/x/channels/y/messages", headers={"Host": "evil.example"})
        assert bird.status_code == 401


def test_a_page_of_another_origin_cannot_change_the_simulator(server) -> None:
    own = server.url
    with httpx.Client(base_url=own) as client:
        client.post("/_sim/clock/advance", json={"seconds": 60})
        before = client.get("/_sim/clock").json()["now"]
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Origin": "http://127.0.0.1:1"},  # a dev server on another port is another origin
                        {"Sec-Fetch-Site": "cross-site"}):
            answer = client.post("/_sim/reset", headers=headers)
            assert answer.status_code == 403, (headers, answer.text)
            form = client.post("/_sim/clock/advance", data={"seconds": "60"}, headers=headers)
            assert form.status_code == 403, headers
        assert client.get("/_sim/clock").json()["now"] == before  # nothing changed
        # The web UI's own requests carry its origin: they pass; reads with a foreign Origin are left to CORS.
        assert client.post("/_sim/clock/advance", json={"seconds": 1},
                           headers={"Origin": own, "Sec-Fetch-Site": "same-origin"}).status_code == 200
        assert client.get("/_sim/clock", headers={"Origin": "http://evil.example"}).status_code == 200


def test_a_form_or_text_body_cannot_change_the_simulator(server) -> None:
    """The bodies a page may send anywhere without a preflight are refused even without an Origin (a browser too old
    to send one): the control plane takes JSON. The login form is the one form it reads."""
    with httpx.Client(base_url=server.url) as client:
        client.post("/_sim/clock/advance", json={"seconds": 60})
        before = client.get("/_sim/clock").json()["now"]
        for content_type in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                             "multipart/form-data; boundary=x"):
            for path in ("/_sim/reset", "/_sim/clock/advance"):
                answer = client.post(path, content=b'{"seconds": 60}', headers={"Content-Type": content_type})
                assert answer.status_code == 415, (content_type, path, answer.text)
                assert answer.json()["error"]["code"] == "UnsupportedMediaType"
        assert client.get("/_sim/clock").json()["now"] == before  # nothing changed
        # JSON, and a POST without a body, still work; reads are not affected.
        assert client.post("/_sim/clock/advance", content=b'{"seconds": 1}',
                           headers={"Content-Type": "application/json"}).status_code == 200
        assert client.post("/_sim/clock/advance", json={"seconds": 1}).status_code == 200
        assert client.get("/_sim/clock", headers={"Content-Type": "text/plain"}).status_code == 200


def test_any_host_is_an_opt_in_that_keeps_the_origin_checks(db) -> None:
    with SimulatorServer(Settings(db=db(), clock="manual", port=0, allowed_hosts="*")) as open_server, \
            httpx.Client(base_url=open_server.url) as client:
        assert client.get("/_sim/info", headers={"Host": "sim.corp.example"}).status_code == 200
        # Answering to any name is no reason to take orders from any page.
        assert client.post("/_sim/reset", headers={"Origin": "http://evil.example"}).status_code == 403
        assert client.post("/_sim/reset", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
        assert client.post("/_sim/reset", headers={"Origin": open_server.url}).status_code == 200
