"""Fast JSON for what the simulator stores and answers: orjson, with json as the fallback for what orjson
refuses (integers beyond 64 bits, which free-form fields such as Bird's `meta` allow)."""
from __future__ import annotations

import json
from typing import Any, NoReturn

import orjson
from starlette.responses import Response


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON. orjson is ~5x faster than json here, which shows in every profile of the hot paths."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dumps(value: Any) -> str:
    return dumps_bytes(value).decode()


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # e.g. integers beyond 64 bits written by the json fallback above


class FastJSONResponse(Response):
    """Starlette's JSONResponse (compact, UTF-8, not ASCII-escaped), rendered with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps_bytes(content)


def is_digits(text: str, *, signed: bool = False) -> bool:
    """ASCII digits only (after one leading "-" if ``signed``): text int() reads. ``str.isdigit()`` also says yes
    to "¹" or "²", which int() refuses."""
    if signed and text.startswith("-"):
        text = text[1:]
    return text.isascii() and text.isdigit()


def reject_constant(constant: str) -> NoReturn:
    """``parse_constant`` for json.loads: NaN and Infinity are Python's, not JSON."""
    raise ValueError(f"{constant} is not valid JSON")


def finite_float(text: str) -> float:
    """``parse_float`` for json.loads: 1e999 would be read as infinity, which JSON cannot carry back (and Go's
    encoding/json refuses to read)."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is out of range")
    return value


def loads_shown(text: str) -> Any:
    """Parse JSON that will be shown again (journal, UI): ValueError for what a JSON response could not carry,
    which Python's json reads anyway: NaN/Infinity, 1e999, and escaped lone surrogates ("\\ud800", not text)."""
    value = json.loads(text, parse_constant=reject_constant, parse_float=finite_float)
    if "\\ud" in text.lower():
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone one
    return value
