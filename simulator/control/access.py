"""Who may use the control plane: a pure ASGI middleware in front of everything else.

The control plane (``/_sim/*``, which includes the web UI at ``/_sim/ui``) resets the world and hands out every
credential (``GET /_sim/info``), so a simulator others can reach must not leave it open. What guards it is a list
of *gates*: each looks at a request to a guarded path and either lets it through (``None``) or returns the ASGI
app that answers instead (a refusal, or a page of its own such as the login form). Gates run in order and the
first answer wins; the provider APIs (``/workspaces/...``, ``/v1/...``) never pass through them: they keep their
own auth.

The gates, in order: :class:`HostGate` (the ``Host`` must be one of the simulator's own names: a page that rebinds
its DNS name to 127.0.0.1 is refused, reads of ``/_sim/info`` included; left out when ``allowed_hosts`` is ``*``),
:func:`origin_gate` (a state-changing request a browser sends from a page the simulator did not serve is refused:
its ``Origin`` or ``Sec-Fetch-Site`` says so), :func:`simple_body_gate` (a state-changing request whose body is a
form or plain text is refused: those are the bodies any page may send cross-site without a CORS preflight, and a
browser too old to send ``Origin`` would otherwise get through) and, when ``Settings.control_token`` is set,
:class:`TokenGate`: a bearer header, or for the web UI a cookie set by a small login form. Clients that are not
browsers (SimClient, curl with a JSON content type, the pytest plugin) send neither a foreign Origin nor a foreign
Host nor a form, and pass the first three.

Nothing here logs or journals the token: a refused request never reaches the journal (this middleware is outside
``ControlMiddleware``), the login form is answered here, an accepted bearer header is removed before the request
goes on, and the journal masks the ``Cookie`` header (which holds a value derived from the token, not the token).
"""
from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
from collections.abc import Callable, Sequence
from urllib.parse import parse_qsl

from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from simulator.settings import Settings

CONTROL_PREFIX = "/_sim"
OPEN_PATHS = frozenset({"/_sim/health"})  # health checks and wait strategies must reach it without a secret
LOGIN_PATH = "/_sim/login"
UI_HOME = "/_sim/ui/"
COOKIE_PREFIX = "provider_sim_control"
LOGIN_BODY_LIMIT = 8192  # a form with one field and a path; anything longer is not a login
REALM = 'Bearer realm="provider-sim"'

# A gate sees the request's scope; it answers with an ASGI app (refusal or page) or lets the request through.
Gate = Callable[[Scope], ASGIApp | None]


def guarded(path: str) -> bool:
    """Is ``path`` part of the control plane that gates protect?"""
    return (path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")) and path not in OPEN_PATHS


def refusal(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """An answer in the control plane's error shape, ``{"error": {"code", "message"}}``."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def is_loopback_host(host: str) -> bool:
    """Does binding to ``host`` keep the server reachable from this machine only?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def middleware(settings: Settings) -> list[Middleware]:
    """The access middleware for these settings."""
    gates: list[Gate] = []
    if settings.allowed_hosts.strip() != "*":  # "*": reached under any name: the token guards what Host cannot
        gates.append(HostGate(settings))
    # Whatever names it answers to, a page of another origin never drives it: these need no configuration.
    gates += [origin_gate, simple_body_gate]
    if settings.control_token:
        gates.append(TokenGate(settings.control_token))
    return [Middleware(ControlAccess, gates=gates)]


class ControlAccess:
    """Runs the gates on every request to a guarded path (see the module docstring)."""

    def __init__(self, app: ASGIApp, gates: Sequence[Gate]) -> None:
        self.app = app
        self.gates = tuple(gates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and guarded(scope["path"]):
            for gate in self.gates:
                answer = gate(scope)
                if answer is not None:
                    if scope["type"] == "websocket":
                        await send({"type": "websocket.close", "code": 1008})  # policy violation
                        return
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _cookies(scope: Scope) -> dict[str, str]:
    jar: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                name, sep, val = part.strip().partition("=")
                if sep:
                    jar[name] = val
    return jar


# Names that always reach this machine's own services. host.docker.internal / host.containers.internal are what a
# container calls the developer's machine: a web page cannot make them resolve to somewhere it controls.
LOOPBACK_NAMES = frozenset({"localhost", "host.docker.internal", "host.containers.internal"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _hostname(host_header: str) -> str:
    """``Host`` without its port, lower-cased (``[::1]:8790`` -> ``::1``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class HostGate:
    """Refuses a request whose ``Host`` is not one of the simulator's names (DNS rebinding: a page on
    evil.example re-resolves its name to 127.0.0.1 and its requests arrive with Host evil.example). Jupyter and
    Vite's dev server do the same check."""

    def __init__(self, settings: Settings) -> None:
        names = {n.strip().lower() for n in settings.allowed_hosts.split(",") if n.strip()}
        if settings.host not in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard bind names no host
            names.add(settings.host.lower().strip("[]"))
        if settings.public_url:
            from urllib.parse import urlsplit

            names.add((urlsplit(settings.public_url).hostname or "").lower())
        self.names = frozenset(names | LOOPBACK_NAMES)

    def allows(self, hostname: str) -> bool:
        # A rebinding page arrives under a domain its author registered: a name with a dot. An IP address in Host
        # means the browser connected to that address itself, and a name without a dot (a compose service,
        # Starlette's "testserver") is no public domain anyone can point at this machine.
        if hostname in self.names or hostname.endswith(".localhost") or "." not in hostname.replace(":", ""):
            return True
        try:
            ipaddress.ip_address(hostname)
        except ValueError:
            return False
        return True

    def __call__(self, scope: Scope) -> ASGIApp | None:
        host = _header(scope, b"host")
        if not host or self.allows(_hostname(host)):  # HTTP/1.0 without Host: not a browser
            return None
        return refusal(403, "Forbidden", f"the control plane does not answer to Host {host!r}: add it to "
                       "PROVIDER_SIM_ALLOWED_HOSTS if this simulator is meant to be reached under that name")


def origin_gate(scope: Scope) -> ASGIApp | None:
    """Refuses a state-changing request that a browser sent from a page of another origin (a form or fetch on a
    site the developer happens to have open): its ``Origin`` is not this simulator's, or ``Sec-Fetch-Site`` says
    cross-site. Same-origin requests (the web UI) and clients that send neither header pass."""
    if scope.get("method") not in STATE_CHANGING:
        return None
    origin = _header(scope, b"origin")
    host = _header(scope, b"host").strip().lower()
    if origin:
        _, _, rest = origin.strip().lower().partition("://")
        if origin.strip().lower() == "null" or rest.rstrip("/") != host:
            return refusal(403, "Forbidden", f"a page at {origin} may not change this simulator (Origin is not "
                           f"{host}); its web UI and HTTP clients are unaffected")
    if _header(scope, b"sec-fetch-site").lower() in ("cross-site", "same-site"):
        return refusal(403, "Forbidden", "a page of another site may not change this simulator (Sec-Fetch-Site)")
    return None


# The bodies a page may send to any origin without a CORS preflight (the "simple request" content types of the Fetch
# standard, https://fetch.spec.whatwg.org/#cors-safelisted-request-header). The control plane takes JSON.
SIMPLE_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})


def simple_body_gate(scope: Scope) -> ASGIApp | None:
    """Refuses a state-changing request whose body is a form or plain text (415), the login form excepted: the
    check that does not depend on the browser sending ``Origin``."""
    if scope.get("method") not in STATE_CHANGING or scope["path"] == LOGIN_PATH:
        return None
    content_type = _header(scope, b"content-type").partition(";")[0].strip().lower()
    if content_type in SIMPLE_CONTENT_TYPES:
        return refusal(415, "UnsupportedMediaType", f"the control plane takes JSON, not {content_type}: send "
                       "'Content-Type: application/json' (curl: --json, or -H 'Content-Type: application/json')")
    return None


class TokenGate:
    """Lets through requests that carry the control token: ``Authorization: Bearer <token>``, or the cookie the
    login form at ``/_sim/login`` sets for the web UI. Everything else gets a 401 (a browser opening a page gets
    the login form with it)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        # The cookie holds a value derived from the token, not the token: a cookie that leaks (a browser profile,
        # a screenshot of dev tools) does not give away a secret that may be reused elsewhere.
        self._cookie_value = hmac.new(self._token, b"provider-sim web UI", hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "TokenGate(token=****)"

    def __call__(self, scope: Scope) -> ASGIApp | None:
        if scope["path"] == LOGIN_PATH:
            return self._login
        if self._authorized(scope):
            return None
        if scope.get("method") == "GET" and "text/html" in _header(scope, b"accept"):
            return _login_page(_next_of(scope), status=401)
        return refusal(401, "Unauthorized", "the control plane needs the control token: send "
                       "'Authorization: Bearer <token>' (or sign in to the web UI at /_sim/login)",
                       headers={"WWW-Authenticate": REALM})

    def _authorized(self, scope: Scope) -> bool:
        scheme, _, credential = _header(scope, b"authorization").partition(" ")
        # Header bytes came in as latin-1: encoding back gives the bytes sent (UTF-8 for a non-ASCII token).
        if scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode("latin-1"), self._token):
            # Checked: drop it, so nothing downstream holds the token (the journal would show its last characters).
            scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k != b"authorization"]
            return True
        cookie = self._cookie_value.encode()
        return any(hmac.compare_digest(value.encode(), cookie)
                   for name, value in _cookies(scope).items() if name.startswith(COOKIE_PREFIX))

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if method in ("GET", "HEAD"):
            await _login_page(_safe_next(dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
                                         .get("next", "")))(scope, receive, send)
            return
        if method != "POST":
            await refusal(405, "MethodNotAllowed", f"method {method} is not allowed on {LOGIN_PATH}",
                          headers={"Allow": "GET, HEAD, POST"})(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > LOGIN_BODY_LIMIT:
                await refusal(413, "PayloadTooLarge", f"a login form is at most {LOGIN_BODY_LIMIT} bytes")(
                    scope, receive, send)
                return
        form = dict(parse_qsl(body.decode("utf-8", errors="replace")))
        target = _safe_next(form.get("next", ""))
        if not hmac.compare_digest(form.get("token", "").strip().encode(), self._token):
            await _login_page(target, status=401, failed=True)(scope, receive, send)
            return
        response = RedirectResponse(target, status_code=303)
        # One cookie per port: simulators on one host share cookies across ports, and each has its own token.
        port = _header(scope, b"host").rpartition(":")[2]
        name = f"{COOKIE_PREFIX}_{port}" if port.isdigit() else COOKIE_PREFIX
        response.set_cookie(name, self._cookie_value, path=CONTROL_PREFIX, httponly=True, samesite="strict")
        await response(scope, receive, send)


def _next_of(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return _safe_next(scope["path"] + (f"?{query}" if query else ""))


def _safe_next(target: str) -> str:
    """Only a control-plane path: a login must never redirect anywhere else (an open redirect)."""
    if target.startswith(CONTROL_PREFIX + "/") and "\\" not in target and target != LOGIN_PATH:
        return target
    return UI_HOME


def _login_page(target: str, *, status: int = 200, failed: bool = False) -> Response:
    note = '<p class="err">That is not the control token.</p>' if failed else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>provider-sim: sign in</title>
<style>
body{{font:15px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0;background:#f4f5f7}}
form{{background:#fff;padding:24px 28px;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:300px}}
h1{{font-size:18px;margin:0 0 6px}} p{{color:#555;margin:0 0 14px}} .err{{color:#b00020}}
input[type=password]{{width:100%;box-sizing:border-box;padding:8px;margin:0 0 12px;font:inherit}}
button{{padding:8px 16px;font:inherit}}
</style></head>
<body><form method="post" action="{LOGIN_PATH}">
<h1>provider-sim control plane</h1>
<p>This simulator asks for its control token (<code>PROVIDER_SIM_CONTROL_TOKEN</code>).</p>{note}
<input type="password" name="token" autocomplete="current-password" autofocus required aria-label="control token">
<input type="hidden" name="next" value="{html.escape(target, quote=True)}">
<button type="submit">Sign in</button>
</form></body></html>
"""
    return HTMLResponse(page, status_code=status, headers={"WWW-Authenticate": REALM, "Cache-Control": "no-store"}
                        if status == 401 else {"Cache-Control": "no-store"})
