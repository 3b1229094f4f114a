"""Start-up loads only what serving the first request needs.

Importing aiohttp and building the HTTP clients' TLS contexts (the CA bundle parsed three times), PyJWT with
cryptography, and jsonschema took most of the CLI's start (bench/README.md, decisions). Each is now loaded on
first use: the first webhook, the first Business Chat request, the first invalid request. A module that creeps
back into the start path or onto a Bird send fails here: a count that holds on any host, unlike a timing.
"""
from __future__ import annotations

import json
import subprocess
import sys

DEFERRED = ("aiohttp", "httpx2", "jwt", "cryptography", "jsonschema", "referencing")

_SCRIPT = """
import json, sys, urllib.request
from simulator.server import SimulatorServer
from simulator.settings import Settings

DEFERRED = %r
loaded = lambda: sorted(m for m in DEFERRED if m in sys.modules)
server = SimulatorServer(Settings(db=":memory:", clock="manual", port=0, log_level="warning")).start()
seen = {"start": loaded()}
bird = json.load(urllib.request.urlopen(server.url + "/_sim/info"))["bird"]
workspace = bird["workspaces"][0]
body = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": {"type": "text", "text": {"text": "hi"}}}
request = urllib.request.Request(
    f"{server.url}/workspaces/{workspace['id']}/channels/{workspace['channels'][0]['id']}/messages",
    data=json.dumps(body).encode(), method="POST",
    headers={"Authorization": "AccessKey " + bird["accessKeys"][0]["key"], "Content-Type": "application/json"})
status = urllib.request.urlopen(request).status
seen["send"] = loaded()
seen["status"] = status
server.stop()
print(json.dumps(seen))
"""


def test_start_up_and_a_bird_send_load_no_webhook_client_jwt_crypto_or_jsonschema() -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT % (DEFERRED,)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"start": [], "send": [], "status": 202}
