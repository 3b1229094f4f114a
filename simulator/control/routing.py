"""Control-plane routes carry their own documentation: a summary, the query parameters the handler reads and a body
example. The OpenAPI document (/_sim/openapi.json) is built from them, a handler can read only the query parameters
its route declares, and tests/control/test_docs.py checks declared against read, so the two cannot drift apart."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Param:
    """A query parameter a control route reads; ``example`` is a value it accepts (shown in the OpenAPI document)."""

    name: str
    description: str
    example: str = ""


@dataclass(frozen=True)
class Doc:
    summary: str
    query: tuple[Param, ...] = ()
    example: Any = None  # a request body example (POST/PUT/PATCH)


class ControlRoute(Route):
    """A route of the control plane (under /_sim) with its documentation beside it."""

    def __init__(self, path: str, endpoint: Endpoint, method: str, doc: Doc) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.doc = doc


def route(method: str, path: str, endpoint: Endpoint, summary: str, *, query: tuple[Param, ...] = (),
          example: Any = None) -> ControlRoute:
    return ControlRoute(path, endpoint, method, Doc(summary, query, example))


READ_KEY = "simulator.query_read"  # the scope's set of query parameters a handler read (checked by the docs test)


class UndeclaredParameter(LookupError):
    """A handler read a query parameter its route does not document (a bug: add it to the route's ``query``)."""


def query(request: Request, name: str) -> str | None:
    """The query parameter ``name`` ("" counts as absent), which the request's route must declare."""
    matched = request.scope.get("route")
    if isinstance(matched, ControlRoute) and all(p.name != name for p in matched.doc.query):
        raise UndeclaredParameter(f"{matched.path} reads query parameter {name!r} without declaring it")
    request.scope.setdefault(READ_KEY, set()).add(name)
    value = request.query_params.get(name)
    return value or None


def declared_query(request: Request) -> dict[str, str]:
    """Every query parameter given, each of which the route must declare: a client's unknown name is a 400
    (a misspelt filter would otherwise be ignored and every entry match)."""
    from simulator.control.errors import ControlError

    matched = request.scope.get("route")
    names = {p.name for p in matched.doc.query} if isinstance(matched, ControlRoute) else set()
    given = dict(request.query_params)
    unknown = sorted(set(given) - names)
    if unknown:
        raise ControlError(f"unknown query parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}",
                           details={k: ["unknown parameter"] for k in unknown})
    request.scope.setdefault(READ_KEY, set()).update(given)
    return given
