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

DEFERRED = ("aiohttp", "httpx2", "jwt", "cryptography", "jsonschema", "referencing", "prometheus_client")

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


_WITHOUT_HTTPX = """
import json, sys, threading, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.modules["httpx2"] = None  # as if the testing extra were not installed: importing it raises
from simulator.server import SimulatorServer
from simulator.settings import Settings

got = []
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
receiver = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=receiver.serve_forever, daemon=True).start()

def call(method, url, body=None, headers={}):
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request) as answer:
        return answer.status, json.loads(answer.read() or b"null")

server = SimulatorServer(Settings(db=":memory:", clock="manual", port=0, log_level="warning")).start()
bird = call("GET", server.url + "/_sim/info")[1]["bird"]
workspace = bird["workspaces"][0]
key = {"Authorization": "AccessKey " + bird["accessKeys"][0]["key"]}
base = f"{server.url}/workspaces/{workspace['id']}"
call("POST", base + "/webhook-subscriptions", {"service": "channels", "event": "sms.outbound",
     "url": f"http://127.0.0.1:{receiver.server_port}/hook", "signingKey": "k"}, key)
status = call("POST", f"{base}/channels/{workspace['channels'][0]['id']}/messages",
              {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
               "body": {"type": "text", "text": {"text": "hi"}}}, key)[0]
call("POST", server.url + "/_sim/clock/advance", {"seconds": 60})
server.stop()
print(json.dumps({"status": status, "webhooks": sorted({hook["payload"]["status"] for hook in got}),
                  "httpx2": sys.modules.get("httpx2", "absent")}))
"""


def test_serving_and_webhooks_need_no_httpx() -> None:
    """httpx2 is the test helpers' client (the testing extra); the server calls out through aiohttp alone."""
    out = subprocess.run([sys.executable, "-c", _WITHOUT_HTTPX], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"status": 202, "webhooks": ["accepted", "delivered", "processing", "sent"], "httpx2": None}
