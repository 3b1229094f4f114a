"""The one rule for every URL the simulator will call: Bird webhook subscriptions, a send's notification.url, a
Business Chat business's webhook and payment gateway, the Apple Pay endpoints a business names. Checked where
each URL is accepted (a 4xx in that provider's shape) and again by the HTTP client before each call, so a URL
stored under a looser rule, or reached by a path no handler checks, is still not called.

Bird accepts only public https URLs (``BIRD_URL``). The simulator also accepts http(s) on this machine while
``allow_http_webhooks`` is on (the default), because that is where a developer's app runs: ``localhost`` and
``*.localhost``, loopback addresses, and the names listed in ``webhook_hosts`` (``*``: any host). With
``allow_http_webhooks`` off (strict mode) Bird's rule holds for every URL, Business Chat's included.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from simulator.settings import Settings

BIRD_URL = re.compile(r"^https://([a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}(/[^\s]*)?$")
STRICT_PROBLEM = "must be a public https URL matching ^https://([a-zA-Z0-9-]+\\.)+[a-zA-Z]{2,}(/[^\\s]*)?$"
LOCAL_PROBLEM = ("must be a public https URL (https://host.example/path) or, in the simulator, an http(s) URL on"
                 " localhost, a loopback address or a host named in PROVIDER_SIM_WEBHOOK_HOSTS")


class UrlRefused(ValueError):
    """The simulator will not call this URL."""


@dataclass(frozen=True)
class UrlRule:
    allow_local: bool = True
    extra_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlRule:
        hosts = frozenset(h.strip().lower() for h in settings.webhook_hosts.split(",") if h.strip())
        return cls(settings.allow_http_webhooks, hosts)

    def problem(self, url: str) -> str | None:
        """None when the simulator may call ``url``, else what is wrong with it (to be prefixed by its name)."""
        if BIRD_URL.match(url):
            return None
        if not self.allow_local:
            return STRICT_PROBLEM
        if not url.isprintable() or any(c.isspace() for c in url):  # nothing a header or request line could carry
            return LOCAL_PROBLEM
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError:
            return LOCAL_PROBLEM
        if parts.scheme not in ("http", "https") or not host:
            return LOCAL_PROBLEM
        if host == "localhost" or host.endswith(".localhost") or host in self.extra_hosts or "*" in self.extra_hosts:
            return None
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        return None if loopback else LOCAL_PROBLEM

    def check(self, url: str) -> None:
        """Raise :class:`UrlRefused` unless the simulator may call ``url``."""
        problem = self.problem(url)
        if problem is not None:
            raise UrlRefused(f"refused to call {url[:200]!r}: it {problem}")
