"""The one HTTP client the simulator calls out with: webhook deliveries and the Apple Pay endpoints of a business.

aiohttp, chosen over httpx on the webhook benchmark (bench/README.md): the HTTP client is what bounds deliveries
per second, and aiohttp spends several times less CPU per POST. The session is made on first use, off the event
loop: importing aiohttp builds TLS contexts (the CA bundle parsed twice), which a run that never calls out should
not pay for at start.
"""
from __future__ import annotations

import asyncio
import importlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulator.core.urls import UrlRule

if TYPE_CHECKING:
    import aiohttp
    import yarl


class ClientClosed(RuntimeError):
    """The simulator is shutting down: nothing more goes out."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a called endpoint answered: its status and the first ``read_limit`` bytes of its body."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON, read as strictly as a request's (depth included): raises MalformedBody."""
        from simulator.core.errors import parse_json

        return parse_json(self.body) if self.body else None


def wire_url(url: str) -> yarl.URL | str:
    """The URL exactly as registered when it is valid as it stands: Bird signs the URL, and a receiver that checks
    the signature against the URL it was called on must see the same bytes (aiohttp would re-quote ``%2F`` in a
    query to ``/``). Spaces, non-ASCII or control characters still get percent-encoded."""
    import yarl

    if url.isascii() and url.isprintable() and " " not in url:
        try:
            return yarl.URL(url, encoded=True)
        except ValueError:
            return url
    return url


class HttpClient:
    """A pool of keep-alive connections: at most ``per_host`` to one receiver, ``2 * per_host`` in all; no
    redirects followed, no proxy from the environment, bodies passed through undecoded; no URL called that
    ``url_rule`` refuses (core/urls.py)."""

    def __init__(self, *, per_host: int = 32, timeout_s: float = 5.0, url_rule: UrlRule | None = None) -> None:
        self.per_host = per_host
        self.timeout_s = timeout_s
        self.url_rule = url_rule or UrlRule()
        self._session: aiohttp.ClientSession | None = None
        self._made = asyncio.Lock()
        self._open = True

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            async with self._made:
                if self._session is None:
                    await asyncio.to_thread(importlib.import_module, "aiohttp")
                    if not self._open:
                        raise ClientClosed("the simulator is shutting down")
                    import aiohttp

                    self._session = aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=self.per_host * 2, limit_per_host=self.per_host),
                        timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                        auto_decompress=False, trust_env=False,
                    )
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout_s: float | None = None,
                   read_limit: int = 1 << 20) -> Answer:
        """POST ``body``; the answer's body is read up to ``read_limit`` bytes (a receiver answering more is not read
        further). Raises ``UrlRefused`` (before anything is sent), ``TimeoutError``, aiohttp's errors for
        refused/reset/invalid answers, ``ClientClosed``."""
        self.url_rule.check(url)
        session = await self.session()
        import aiohttp  # loaded by session()

        # aiohttp reads timeout=None as "no timeout": without one of its own a call gets the session's.
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s else session.timeout
        async with session.post(wire_url(url), data=body, headers=headers, allow_redirects=False,
                                timeout=timeout) as response:
            head = bytearray()
            while len(head) < read_limit:
                chunk = await response.content.read(read_limit - len(head))
                if not chunk:
                    break
                head += chunk
            return Answer(response.status, bytes(head))

    async def post_json(self, url: str, document: Any, *, timeout_s: float | None = None) -> Answer:
        return await self.post(url, json.dumps(document).encode(), {"Content-Type": "application/json"},
                               timeout_s=timeout_s)

    def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False
        if self._session is not None:
            await self._session.close()
            self._session = None
