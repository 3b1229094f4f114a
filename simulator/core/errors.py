"""The base error every provider's errors derive from, and a body reader that never crashes."""
from __future__ import annotations

import json
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulator.core.codec import finite_float, reject_constant


class SimulatorError(Exception):
    """An error answered to the client. Each provider subclasses it and renders its own error shape."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers or {}

    def render(self) -> Response:
        from starlette.responses import JSONResponse

        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class MalformedBody(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing more than ``limit`` bytes (checked before and while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge(limit)
        except ValueError:
            raise MalformedBody("Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # noqa: SLF001 - Starlette's own cache: a second read (stream/body) gets the same bytes
    return body


# How deep a request's JSON may nest: serde_json's default (Rust's JSON library), between .NET's 64 and Jackson's
# 1000. Deeper documents crash recursive code (validation, error messages, storage: orjson writes at most 254
# levels), and no request of either provider needs a tenth of it.
MAX_JSON_DEPTH = 128
TOO_DEEP = f"request body is nested too deeply (more than {MAX_JSON_DEPTH} levels of objects and arrays)"


# How many objects and arrays one request's JSON may hold. Parsed, each costs Python 60-100 bytes, so 2 MB of "[],"
# became 98 MB of lists; this many cost about a megabyte, and a full Bird batch (100 messages) holds about a tenth.
MAX_JSON_CONTAINERS = 10_000
TOO_MANY = f"request body holds more than {MAX_JSON_CONTAINERS} JSON objects and arrays"
_STRING = re.compile(rb'"[^"]*"')


def container_count(raw: bytes) -> int:
    """How many objects and arrays the JSON text ``raw`` opens, brackets inside strings left out, counted without
    parsing (at C speed: escaped quotes and backslashes are dropped, then every string). For text that is not
    JSON the count means nothing, and the parser refuses that text anyway."""
    naive = raw.count(b"[") + raw.count(b"{")
    if naive <= MAX_JSON_CONTAINERS:  # the common case: an upper bound already under the limit
        return naive
    bare = _STRING.sub(b"", raw.replace(b"\\\\", b"").replace(b'\\"', b""))
    return bare.count(b"[") + bare.count(b"{")


def nests_deeper_than(value: Any, limit: int) -> bool:
    """Does ``value`` hold objects/arrays more than ``limit`` levels deep? Iterative: any depth is safe to ask."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _checked_depth(value: Any, raw: bytes) -> Any:
    # Fewer openers than the limit cannot nest past it: a count in C spares most requests the walk.
    if (isinstance(value, (dict, list)) and raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
            and nests_deeper_than(value, MAX_JSON_DEPTH)):
        raise MalformedBody(TOO_DEEP)
    return value


def parse_json(raw: bytes) -> Any:
    """Parse JSON strictly: UTF-8 only, no NaN/Infinity, no duplicate-key surprises beyond stdlib's, at most
    ``MAX_JSON_DEPTH`` levels deep and ``MAX_JSON_CONTAINERS`` objects and arrays."""
    if container_count(raw) > MAX_JSON_CONTAINERS:  # before parsing: the objects would cost the memory
        raise MalformedBody(TOO_MANY)
    try:
        # orjson is as strict (UTF-8, no NaN/Infinity) and ~5x faster; anything it refuses (bad input, integers
        # beyond 64 bits) goes through json below, which also words the error.
        return _checked_depth(orjson.loads(raw), raw)
    except orjson.JSONDecodeError:
        pass
    if not raw.strip():
        raise MalformedBody("request body is empty; a JSON object is expected")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=reject_constant, parse_float=finite_float)
    except RecursionError:
        raise MalformedBody(TOO_DEEP) from None
    except ValueError as exc:
        raise MalformedBody(f"request body is not valid JSON: {exc}") from None
    value = _checked_depth(value, raw)
    if "\\ud" in text.lower():
        # An escaped lone surrogate ("\ud800") is valid JSON syntax but no text: nothing could store or answer it.
        # Replaced by U+FFFD, as Go's encoding/json does (a plausible guess for the providers' servers).
        value = _without_lone_surrogates(value)  # recursive, on a document whose depth was checked above
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value

