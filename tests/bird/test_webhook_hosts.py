"""PROVIDER_SIM_WEBHOOK_HOSTS: host names besides localhost that webhook URLs may use (a container reaches the
developer's app as host.docker.internal or a compose service), and only while http webhooks are allowed."""
from __future__ import annotations

import pytest

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient
from tests.bird.conftest import subs_path

URLS = ["http://host.docker.internal:3000/bird", "https://app/hooks", "http://APP:8080/x"]


def _status(settings: Settings, url: str) -> int:
    with SimulatorServer(settings) as server, SimClient(server.url) as client:
        body = {"service": "channels", "event": "sms.outbound", "url": url}
        return client.http.post(subs_path(client), json=body, headers=client.bird_headers).status_code


@pytest.mark.parametrize("url", URLS)
def test_listed_hosts_are_accepted(url):
    settings = Settings(db=":memory:", clock="manual", port=0, webhook_hosts="host.docker.internal, app")
    assert _status(settings, url) == 201


@pytest.mark.parametrize("url", URLS + ["http://host.docker.internal.evil.example/x", "ftp://app/x"])
def test_unlisted_hosts_are_refused(url):
    assert _status(Settings(db=":memory:", clock="manual", port=0, webhook_hosts="docker.internal"), url) == 422


def test_strict_mode_ignores_the_list():
    settings = Settings(db=":memory:", clock="manual", port=0, webhook_hosts="app", allow_http_webhooks=False)
    assert _status(settings, "https://app/hooks") == 422


def test_a_star_allows_any_host_over_http():
    settings = Settings(db=":memory:", clock="manual", port=0, webhook_hosts="*")
    assert _status(settings, "http://172.18.0.3:3000/bird") == 201
    assert _status(settings, "ftp://172.18.0.3/bird") == 422
