"""The control plane documents itself: OpenAPI at /_sim/openapi.json, a local docs page, docs/control-plane.md."""
from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_lists_every_control_route(provider_sim, provider_sim_server):
    doc = provider_sim.http.get("/_sim/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    app = provider_sim_server.app
    routes = {(m, re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path)) for r in app.router.routes if isinstance(r, Route) and r.path.startswith("/_sim")
              for m in (r.methods or set()) - {"HEAD"}}
    assert routes <= documented
    assert all(op["summary"] for ops in doc["paths"].values() for op in ops.values())


def test_docs_page_is_self_contained(provider_sim):
    response = provider_sim.http.get("/_sim/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert not re.search(r"""(src|href)=["']https?://""", response.text)
    assert "/_sim/openapi.json" in response.text


def test_control_plane_md_names_every_core_endpoint(provider_sim):
    text = (ROOT / "docs" / "control-plane.md").read_text()
    doc = provider_sim.http.get("/_sim/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method in ops:
            if path.startswith(("/_sim/ui", "/_sim/events")):
                continue
            assert f"`{method.upper()} {path}`" in text, f"{method.upper()} {path} is missing from control-plane.md"


def test_every_control_route_reads_exactly_the_query_parameters_it_documents():
    """Each control route declares its query parameters beside the route (control/routing.py); called with every
    one of them (at its documented example), the handler reads each and no other (reading an undeclared one is a
    500: UndeclaredParameter). The documentation and the handlers cannot drift apart."""
    from starlette.testclient import TestClient

    from simulator.app import create_app
    from simulator.control.openapi import control_operations
    from simulator.control.routing import READ_KEY
    from simulator.settings import Settings

    app = create_app(Settings(db=":memory:", clock="manual", port=0))
    read: dict[str, set[str]] = {}

    async def recording(scope, receive, send):
        await app(scope, receive, send)
        if scope["type"] == "http":
            read[scope["path"]] = set(scope.get(READ_KEY, ()))

    checked = 0
    with TestClient(recording) as client:
        customer = client.get("/_sim/info").json()["businessChat"]["customers"][0]["id"]
        for method, path, route in control_operations(app):
            if not route.doc.query:
                continue
            assert all(p.example for p in route.doc.query), f"{path}: every parameter needs an example"
            concrete = path.replace("{customer_id}", customer)
            params = {p.name: p.example for p in route.doc.query}
            response = client.request(method, concrete, params=params)
            assert response.status_code < 500, (path, response.text)
            assert read.get(concrete) == set(params), (f"{method} {path} documents {sorted(params)} but read"
                                                        f" {sorted(read.get(concrete, ()))}")
            checked += 1
    assert checked >= 8
