"""Every provider endpoint refuses missing and wrong credentials; keys outside their paths get 403;
Business Chat refuses missing, wrong and expired JWTs; secrets never reach the logs or the journal."""
from __future__ import annotations

import re
import time

import httpx2 as httpx
import pytest
from starlette.routing import Route

from _support import BIRD_KEY, ORG, READONLY_KEY, WS, CH, serve

from simulator.bird.routes import routes as bird_routes

FILL = {"workspace_id": WS, "channel_id": CH, "organization_id": ORG,
        "message_id": "00000000-0000-4000-8000-000000000000", "contact_id": "00000000-0000-4000-8000-000000000000"}


def _bird_calls() -> list[tuple[str, str]]:
    calls = []
    for route in bird_routes:
        # /_media/* are pre-signed upload/download URLs (a token in the URL, no AccessKey), as at Bird.
        if not isinstance(route, Route) or route.path.startswith(("/_sim", "/_media")):
            continue
        path = re.sub(r"{(\w+)(:\w+)?}", lambda m: FILL.get(m.group(1), "x"), route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            calls.append((method, path))
    return calls


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("auth")
    server = serve(tmp / "auth.db", tmp, "--log-level", "debug", tag="auth")
    yield server
    server.stop()


@pytest.mark.parametrize("method,path", _bird_calls())
def test_bird_refuses_missing_and_wrong_keys(served, method: str, path: str) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for headers in ({}, {"Authorization": "AccessKey not-a-key"}, {"Authorization": "Basic Zm9vOmJhcg=="},
                        {"Authorization": f"AccessKey {BIRD_KEY}x"}):
            r = client.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path, headers, r.status_code, r.text[:200])
            assert set(r.json()) >= {"code", "message"}


def test_bird_key_outside_its_paths_is_forbidden(served) -> None:
    with httpx.Client(base_url=served.url, headers={"Authorization": f"AccessKey {READONLY_KEY}"}, timeout=10) as c:
        assert c.get(f"/workspaces/{WS}/channels").status_code == 403
        assert c.get(f"/organizations/{ORG}/workspaces").status_code == 403
        assert c.get(f"/workspaces/{WS}/channels/{CH}/messages").status_code == 200


def test_business_chat_refuses_missing_wrong_and_expired_jwts(served) -> None:
    jwt = pytest.importorskip("jwt")
    with httpx.Client(base_url=served.url, timeout=10) as client:
        info = client.get("/_sim/business-chat")
        if info.status_code != 200:
            pytest.skip("Business Chat is not installed")
        import base64

        data = info.json()
        secret = base64.b64decode(data["secret"])
        now = int(time.time())
        tokens = {
            "missing": None,
            "wrong key": jwt.encode({"iss": data["mspId"], "iat": now}, b"wrong-secret-of-thirty-two-bytes-long!!", algorithm="HS256"),
            "expired": jwt.encode({"iss": data["mspId"], "iat": now - 7200, "exp": now - 3600}, secret,
                                  algorithm="HS256"),
            "garbage": "not.a.jwt",
        }
        for path, method in (("/v1/message", "POST"), ("/v1/authenticate", "POST"), ("/v1/preUpload", "GET"),
                             ("/v1/preDownload", "GET"), ("/v1/decodePayload", "POST"),
                             ("/v1/constructPayload", "POST")):
            for name, token in tokens.items():
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                r = client.request(method, path, headers=headers, content=b"{}")
                assert r.status_code in (401, 403), (path, name, r.status_code, r.text[:200])


def test_secrets_never_appear_in_logs_or_journal(served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        client.post(f"/workspaces/{WS}/channels/{CH}/messages", headers={"Authorization": f"AccessKey {BIRD_KEY}"},
                    json={"receiver": {"contacts": [{"identifierValue": "+31612345678"}]},
                          "body": {"type": "text", "text": {"text": "hi"}}})
        client.get(f"/workspaces/{WS}/channels", headers={"Authorization": "AccessKey leaked-wrong-key-123"})
        journal = client.get("/_sim/journal")
        journal_text = journal.text if journal.status_code == 200 else ""
        # One loop serves requests in turn: once this answers, whatever the earlier ones logged is written.
        assert client.get("/_sim/health").status_code == 200
    output = served.output()
    # The start-up banner prints the seeded key on purpose (a dev convenience); nothing after it may.
    after_banner = output.split("Control", 1)[-1]
    for secret in (BIRD_KEY, "leaked-wrong-key-123"):
        assert secret not in after_banner, f"{secret} found in the server's logs"
        assert secret not in journal_text, f"{secret} found in the journal"
