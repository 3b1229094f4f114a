"""The last line of defence: an exception no handler expected (a simulator bug) is answered 500 in the provider's
shape, on the same keep-alive connection, and journaled with the error; the next request on it works."""
from __future__ import annotations

import http.client
import json

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient


def test_a_bug_is_a_500_in_birds_shape_and_the_connection_survives():
    with SimulatorServer(Settings(db=":memory:", clock="manual", port=0)) as server, SimClient(server.url) as sim:
        messages = server.sim.providers["bird"].messages

        async def broken(*args, **kwargs):
            raise RuntimeError("boom")

        messages.send = broken
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        body = json.dumps({"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
                           "body": {"type": "text", "text": {"text": "hi"}}})
        conn.request("POST", sim.messages_path(), body=body,
                     headers={**sim.bird_headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        payload = json.loads(response.read())
        assert response.status == 500
        assert payload == {"code": "InternalError", "message": "simulator bug: RuntimeError: boom"}
        sock = conn.sock
        assert sock is not None  # kept open: uvicorn did not close it under us
        conn.request("GET", sim.messages_path(), headers=sim.bird_headers)
        again = conn.getresponse()
        assert again.status == 200 and json.loads(again.read())["results"] == []
        assert conn.sock is sock
        conn.close()
        entry = sim.journal(operation="send_message")[0]
        assert entry["response"]["status"] == 500 and entry["error"] == "RuntimeError: boom"
