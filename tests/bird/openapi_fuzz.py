"""Requests built from Bird's published OpenAPI document, and validators for what comes back.

Bird embeds an OpenAPI 3.0.3 document for createChannelMessage on docs.bird.com's "Send a message" API reference
page (https://docs.bird.com/api/channels-api/api-reference/messaging); tests/data/bird-send-message.openapi.json
is that export, unchanged (Bird's export leaves out the two path parameters).

Test code only: the simulator never loads this document, its own schemas are in schemas/bird/.

- ``to_json_schema`` turns OpenAPI 3.0 schema objects into JSON Schema 2020-12 (``nullable`` becomes a ``null``
  alternative, ``#/components/schemas/X`` becomes ``#/$defs/X``, ``discriminator`` goes: the branches' ``type``
  enums already discriminate);
- ``Document.validator(name)`` validates against one component, with the formats the document uses
  (date-time per RFC 3339, uri per RFC 3986's absolute-URI shape, uuid) asserted;
- ``Generator`` builds a hypothesis strategy from a component (type, properties, required, additionalProperties,
  enum, nullable, oneOf/anyOf/allOf, $ref, items, length and numeric bounds, pattern, formats); every value it
  draws is checked against the document's validator, so an approximation in it can only waste a draw;
- ``mutations`` lists one-change ways to break a valid request (wrong type at one path, null where not nullable,
  a missing property, an unknown property); ``first_invalid`` keeps the first the document refuses.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

DOCUMENT = Path(__file__).parents[1] / "data" / "bird-send-message.openapi.json"
_REF = "#/components/schemas/"

# -- OpenAPI 3.0 -> JSON Schema --------------------------------------------------------------------------------

_DROP = {"discriminator", "readOnly", "writeOnly", "example", "examples", "xml", "externalDocs", "deprecated",
         "nullable", "title", "description", "default"}


def to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "$ref":
            out[key] = "#/$defs/" + value.removeprefix(_REF)
        elif key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(v) for name, v in value.items()}
        else:
            out[key] = to_json_schema(value)
    if node.get("nullable") is True:
        # OpenAPI 3.0.3: nullable applies where type is given beside it. A bare type (and enum) widens in place;
        # anything with composition or a $ref becomes an anyOf with null, as allOf's parts would refuse null.
        if isinstance(out.get("type"), str) and not ({"allOf", "anyOf", "oneOf", "$ref"} & out.keys()):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        elif "type" in node:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    match = _RFC3339.match(value)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, min(second, 59))  # noqa: DTZ001 - a calendar check, no instant
    except ValueError:
        return False
    offset = match.group(8)
    return second <= 60 and (offset in "Zz" or (int(offset[1:3]) < 24 and int(offset[4:6]) < 60))


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@FORMATS.checks("uuid")
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.match(value))


@dataclass
class Document:
    openapi: dict[str, Any]
    defs: dict[str, Any]

    @classmethod
    def load(cls, path: Path = DOCUMENT) -> Document:
        openapi = json.loads(path.read_text(encoding="utf-8"))
        return cls(openapi, {name: to_json_schema(s) for name, s in openapi["components"]["schemas"].items()})

    def validator(self, name: str) -> Draft202012Validator:
        return Draft202012Validator({"$defs": self.defs, "$ref": f"#/$defs/{name}"}, format_checker=FORMATS)

    def response_schema(self, status: int) -> str:
        """The component a response with ``status`` must match, per the send operation."""
        operation = self.openapi["paths"]["/workspaces/{workspaceId}/channels/{channelId}/messages"]["post"]
        answer = operation["responses"][str(status)]
        if "$ref" in answer:
            answer = self.openapi["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        ref: str = answer["content"]["application/json"]["schema"]["$ref"]
        return ref.removeprefix(_REF)


# -- generation -------------------------------------------------------------------------------------------------

def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One schema a value drawn for must satisfy both (as far as generation needs: the validator has the last word)."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif key == "properties":
            props = dict(out[key])
            for name, schema in value.items():
                props[name] = {"allOf": [props[name], schema]} if name in props else schema
            out[key] = props
        elif key == "required":
            out[key] = [*out[key], *(n for n in value if n not in out[key])]
        elif key == "enum":
            out[key] = [v for v in out[key] if v in value]
        elif key == "additionalProperties":
            out[key] = False if value is False or out[key] is False else value
        elif key in ("anyOf", "oneOf"):
            out["allOf"] = [*out.get("allOf", []), {key: value}]
        else:
            out[key] = value
    return out


_JSON_LEAF = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
ANY_JSON = st.recursive(_JSON_LEAF, lambda c: st.lists(c, max_size=2) | st.dictionaries(
    st.text(max_size=6), c, max_size=2), max_leaves=4)
_HOST = st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(com|org|example)", fullmatch=True)
_URI_VALUE = st.one_of(
    st.builds(lambda s, h, p: f"{s}://{h}/{p}", st.sampled_from(["https", "http"]), _HOST,
              st.from_regex(r"[A-Za-z0-9._~/-]{0,20}", fullmatch=True)),
    st.builds(lambda s, r: f"{s}:{r}", st.sampled_from(["mailto", "urn", "ftp", "tel", "data"]),
              st.from_regex(r"[A-Za-z0-9@.+/=-]{1,20}", fullmatch=True)),
)


def _date_time(when: datetime, fraction: int, style: int, offset: tuple[int, int]) -> str:
    stamp = f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    if fraction:
        stamp += "." + str(fraction).zfill(3)
    if style == 0:
        return stamp + "Z"
    hours, minutes = offset
    return stamp + f"{'+' if style == 1 else '-'}{hours:02d}:{minutes:02d}"


DATE_TIMES = st.builds(_date_time, st.datetimes(), st.sampled_from([0, 0, 7, 123, 999999]),
                       st.integers(0, 2), st.tuples(st.integers(0, 14), st.sampled_from([0, 30, 45])))
UUIDS = st.uuids().map(str)


class Generator:
    """Hypothesis strategies for the document's components."""

    def __init__(self, doc: Document, max_items: int = 2) -> None:
        self.defs = doc.defs
        self.max_items = max_items
        self._cache: dict[str, st.SearchStrategy[Any]] = {}

    def component(self, name: str) -> st.SearchStrategy[Any]:
        if name not in self._cache:
            self._cache[name] = st.deferred(lambda: self.strategy(self.defs[name]))
        return self._cache[name]

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema and len(schema) == 1:
            schema = self.defs[schema["$ref"].removeprefix("#/$defs/")]
        if "$ref" in schema:
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = _merge(self._resolve({"$ref": schema["$ref"]}), rest)
        return schema

    def _flatten(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = self._resolve(schema)
        while "allOf" in schema:
            parts = schema["allOf"]
            base = {k: v for k, v in schema.items() if k != "allOf"}
            for part in parts:
                base = _merge(base, self._flatten(part))
            schema = base
        return schema

    def strategy(self, schema: Any) -> st.SearchStrategy[Any]:
        if schema is True or schema == {}:
            return ANY_JSON
        schema = self._flatten(schema)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                base = {k: v for k, v in schema.items() if k != key}
                return st.one_of([self.strategy(_merge(base, self._flatten(branch))) for branch in schema[key]])
        if "enum" in schema:
            return st.sampled_from(schema["enum"]) if schema["enum"] else st.nothing()
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self.strategy({**schema, "type": k}) for k in kind])
        if kind is None:
            kind = "object" if {"properties", "required", "additionalProperties"} & schema.keys() else None
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "number":
            low, high = schema.get("minimum"), schema.get("maximum")
            return st.integers(low, high) | st.floats(low, high, allow_nan=False, allow_infinity=False)
        if kind == "string":
            return self._string(schema)
        if kind == "array":
            items = self.strategy(schema.get("items", {}))
            low = schema.get("minItems", 0)
            return st.lists(items, min_size=low, max_size=max(low, min(schema.get("maxItems", 99), self.max_items)))
        if kind == "object":
            return self._object(schema)
        return ANY_JSON

    def _string(self, schema: dict[str, Any]) -> st.SearchStrategy[str]:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        fmt = schema.get("format")
        if fmt == "date-time":
            base = DATE_TIMES
        elif fmt == "uri":
            base = _URI_VALUE
        elif fmt == "uuid":
            base = UUIDS
        elif fmt == "locale-bcp47":
            base = st.sampled_from(["en", "en-US", "nl-NL", "pt-BR", "zh-Hant-TW"])
        elif "pattern" in schema:
            pattern = schema["pattern"]
            base = st.from_regex(pattern, fullmatch=pattern.startswith("^"))
        else:
            base = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=low,
                           max_size=min(high if high is not None else 12, 12 if low <= 12 else low))
        return base.filter(lambda s: len(s) >= low and (high is None or len(s) <= high))

    def _object(self, schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        props: dict[str, Any] = schema.get("properties", {})
        required = [n for n in schema.get("required", []) if n in props or schema.get("additionalProperties") is not
                    False]
        fixed = {n: self.strategy(props.get(n, {})) for n in required}
        optional = {n: self.strategy(s) for n, s in props.items() if n not in fixed}
        extra = schema.get("additionalProperties", True)
        base = st.fixed_dictionaries(fixed, optional=optional)
        if extra is False:
            return base
        # An open object takes properties it does not name: the document declares them valid.
        values = ANY_JSON if extra is True else self.strategy(extra)
        names = st.from_regex(r"x[A-Z][a-z]{1,6}", fullmatch=True).filter(lambda n: n not in props)
        return st.builds(lambda d, more: {**more, **d}, base, st.dictionaries(names, values, max_size=1))


# -- mutations --------------------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]
UNKNOWN = "zzUnknownProperty"
_WRONG = [None, 42, "x", True, [], {}, 1.5]


def jq(path: Path_) -> str:
    """The path as the simulator keys 422 details (`.receiver.contacts[0]`)."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "."


def _nodes(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _nodes(child, (*path, i))


@dataclass(frozen=True)
class Mutation:
    kind: str  # "type" | "null" | "drop" | "extra"
    path: Path_
    value: Any = None

    def apply(self, instance: Any) -> Any:
        clone = json.loads(json.dumps(instance))
        if self.kind == "extra":
            _at(clone, self.path)[UNKNOWN] = 1
            return clone
        parent = _at(clone, self.path[:-1])
        if self.kind == "drop":
            del parent[self.path[-1]]
        else:
            parent[self.path[-1]] = self.value
        return clone

    def expected(self) -> str:
        """Where the 422 must name the problem: the changed value, or the object holding an unknown property."""
        return jq(self.path)


def _at(instance: Any, path: Path_) -> Any:
    for part in path:
        instance = instance[part]
    return instance


def _type_of(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def mutations(instance: Any) -> list[Mutation]:
    found: list[Mutation] = []
    for path, value in _nodes(instance):
        if path:
            found.append(Mutation("null", path, None)) if value is not None else None
            found += [Mutation("type", path, w) for w in _WRONG if w is not None and _type_of(w) != _type_of(value)]
            if isinstance(path[-1], str):
                found.append(Mutation("drop", path))
        if isinstance(value, dict):
            found.append(Mutation("extra", path))
    return found


def first_invalid(instance: Any, candidates: list[Mutation], validator: Draft202012Validator
                  ) -> tuple[Mutation, Any] | None:
    for mutation in candidates:
        mutated = mutation.apply(instance)
        if not validator.is_valid(mutated):
            return mutation, mutated
    return None
