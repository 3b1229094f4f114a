"""JSON Schemas from schemas/: loaded, checked and compiled once at start-up; one validator per schema."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from simulator.resources import schemas_root

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a request: where (a JSON path) and what."""

    path: tuple[str | int, ...]
    message: str

    def jq_path(self) -> str:
        """A jq-style path: a leading dot, dotted names, [i] indices (`.receiver.contacts[0]`, as Bird keys details)."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out or "."

    def pointer(self) -> str:
        """RFC 6901 JSON pointer, e.g. `/interactiveData/data/listPicker`."""
        return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in self.path) or "/"


def _walk(root: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".json"):
            yield f"{prefix}{entry.name[:-5]}", entry


class SchemaStore:
    """All schemas, keyed by their path under schemas/ without `.json` (e.g. ``bird/send-message``)."""

    def __init__(self, root: Traversable | None = None) -> None:
        root = root or schemas_root()
        documents: dict[str, dict[str, Any]] = {}
        for key, entry in _walk(root):
            documents[key] = json.loads(entry.read_text(encoding="utf-8"))
        for key, doc in documents.items():
            # Meta-validation by jsonschema-rs: ~100x faster than check_schema, which dominated start-up
            # (tests/test_schemas.py still runs jsonschema's own check_schema over every file).
            try:
                jsonschema_rs.meta.validate(doc)
            except jsonschema_rs.ValidationError as exc:
                raise ValueError(f"schema {key} is not a valid JSON Schema: {exc}") from None
            if "$id" not in doc:
                raise ValueError(f"schema {key} has no $id")
        self.documents = documents
        # jsonschema's validators (and the library: ~40 ms of imports) are built on first need, which a valid
        # request never has: jsonschema-rs answers "valid?" in well under a microsecond (jsonschema's is_valid:
        # ~50-200 us). jsonschema still writes every error message and has the last word on a rejection, so a
        # disagreement can only make us accept what jsonschema accepts.
        self._registry: Registry | None = None
        self._validators: dict[str, Draft202012Validator] = {}
        rs_registry = jsonschema_rs.Registry([(doc["$id"], doc) for doc in documents.values()])
        self._fast = {key: jsonschema_rs.Draft202012Validator(doc, registry=rs_registry)
                      for key, doc in documents.items()}

    def keys(self) -> list[str]:
        return sorted(self.documents)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from referencing import Registry, Resource

            self._registry = Registry().with_resources(
                (doc["$id"], Resource.from_contents(doc)) for doc in self.documents.values())
        return self._registry

    def validator(self, key: str) -> Draft202012Validator:
        """``key`` may name a part of a schema: ``config/world#/$defs/customer`` (compiled once, on first use)."""
        try:
            return self._validators[key]
        except KeyError:
            pass
        from jsonschema import Draft202012Validator

        name, _, fragment = key.partition("#")
        if key in self.documents:
            schema = self.documents[key]
        elif fragment and name in self.documents:
            schema = {"$ref": self.documents[name]["$id"] + "#" + fragment}
        else:
            raise KeyError(f"no schema {key!r}; known: {', '.join(self.keys())}")
        validator = Draft202012Validator(schema, registry=self.registry)
        self._validators[key] = validator
        return validator

    def issues(self, key: str, instance: object, limit: int = 20) -> list[Issue]:
        fast = self._fast.get(key)
        try:
            if fast is not None and fast.is_valid(instance):
                return []
        except ValueError:
            pass  # e.g. an integer beyond 64 bits: jsonschema-rs declines, jsonschema decides
        validator = self.validator(key)
        if validator.is_valid(instance):
            return []
        found: list[Issue] = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), str(e.path))):
            found.extend(_describe(error))
            if len(found) >= limit:
                break
        return found[:limit]


def _describe(error: ValidationError) -> list[Issue]:
    """Turn a jsonschema error into messages a person can act on, naming the field at fault."""
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind in ("oneOf", "anyOf") and error.context:
        # Report the branch that came closest (the deepest error), not "is not valid under any of the given schemas".
        best = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.message)))
        inner = _describe(best)
        if inner:
            return inner
    if kind == "additionalProperties":
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        extras = [p for p in error.instance if p not in known] if isinstance(error.instance, dict) else []
        # Bird keys the detail on the object that holds the unknown property: `.receiver.contacts[0]`.
        return [Issue(path, f'property "{name}" is unsupported') for name in extras] or [
            Issue(path, error.message)]
    if kind == "unevaluatedProperties" and isinstance(error.instance, dict):
        return [Issue(path, error.message)]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(error.validator_value)
        return [Issue((*path, missing), f'property "{missing}" is required')]
    if kind == "type":
        expected = error.validator_value
        names = [str(n) for n in expected] if isinstance(expected, list) else [str(expected)]
        article = {"array": "an array", "object": "an object", "integer": "an integer"}
        wanted = " or ".join(article.get(n, f"a {n}") for n in names)
        return [Issue(path, f"value must be {wanted}, got {_json_type(error.instance)}")]
    if kind == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value) if isinstance(
            error.validator_value, list) else str(error.validator_value)
        return [Issue(path, f"value must be one of {allowed}, got {_short(error.instance)}")]
    if kind == "const":
        return [Issue(path, f"value must be {json.dumps(error.validator_value)}, got {_short(error.instance)}")]
    if kind == "pattern":
        return [Issue(path, f"value {_short(error.instance)} does not match the pattern {error.validator_value}")]
    if kind in ("minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum",
                "exclusiveMaximum", "minProperties", "maxProperties"):
        return [Issue(path, _bound_message(kind, error.validator_value, error.instance))]
    if kind == "format":
        return [Issue(path, f"value {_short(error.instance)} is not a valid {error.validator_value}")]
    if kind == "not" and isinstance(error.validator_value, dict) and "required" in error.validator_value:
        return [Issue(path, f"properties {error.validator_value['required']} must not be used together")]
    if kind == "not":
        # e.g. not: {anyOf: [{required: [attachments]}, …]}: name the property that matched, never dump the instance
        names = _matched_required(error.validator_value, error.instance)
        return [Issue((*path, n), f'property "{n}" is not allowed here') for n in names] or [
            Issue(path, "value is not allowed here")]
    return [Issue(path, error.message)]


def _matched_required(schema: object, instance: object) -> list[str]:
    """The properties named by ``required`` in the branches of a ``not`` schema that the instance matches."""
    if not isinstance(schema, dict) or not isinstance(instance, dict):
        return []
    from jsonschema import Draft202012Validator

    branches = schema.get("anyOf") or schema.get("oneOf") or [schema]
    names: list[str] = []
    for branch in branches:
        if not isinstance(branch, dict) or not isinstance(branch.get("required"), list):
            continue
        try:
            matched = Draft202012Validator(branch).is_valid(instance)
        except Exception:  # noqa: BLE001 - e.g. a $ref this bare validator cannot resolve: judge by presence alone
            matched = all(n in instance for n in branch["required"])
        if matched:
            names += [n for n in branch["required"] if n not in names]
    return names


def _bound_message(kind: str, bound: object, instance: object) -> str:
    items = len(instance) if isinstance(instance, list) else "?"
    return {
        "minLength": f"value must be at least {bound} characters long",
        "maxLength": f"value must be at most {bound} characters long",
        "minItems": f"array must have at least {bound} item(s), got {items}",
        "maxItems": f"array must have at most {bound} item(s), got {items}",
        "minimum": f"value must be >= {bound}, got {instance}",
        "maximum": f"value must be <= {bound}, got {instance}",
        "exclusiveMinimum": f"value must be > {bound}, got {instance}",
        "exclusiveMaximum": f"value must be < {bound}, got {instance}",
        "minProperties": f"object must have at least {bound} propert(ies)",
        "maxProperties": f"object must have at most {bound} propert(ies)",
    }[kind]


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
