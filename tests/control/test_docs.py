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
