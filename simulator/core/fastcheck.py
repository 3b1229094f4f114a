"""A compiled yes/no check for the JSON Schema subset our schemas use: the hot path of every request.

``jsonschema``'s ``is_valid`` walks the schema dynamically (~190 µs for a Bird send, half of the handler's time
in the profile). This compiles each schema once into nested closures (~10-20x faster). It only answers
"valid or not"; error messages still come from jsonschema, which also has the last word: a request is rejected
only when jsonschema finds an issue. A schema using any keyword not handled here gets no fast check at all
(``compile_check`` returns None) rather than a partial one, so the fast path can never accept more than
jsonschema would. A differential Hypothesis test (tests/reliability/test_fastcheck.py) holds the two together.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jsonschema._utils import equal, uniq  # the same equality jsonschema uses for enum/const/uniqueItems

Check = Callable[[Any], bool]

# Keywords that never affect validity in Draft 2020-12 (annotations) — jsonschema ignores them too.
_ANNOTATIONS = {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples", "deprecated",
                "readOnly", "writeOnly", "contentEncoding", "contentMediaType", "contentSchema", "format",
                "then", "else"}  # then/else are read through "if"
_HANDLED = {"type", "properties", "additionalProperties", "required", "enum", "const", "minLength", "maxLength",
            "pattern", "minItems", "maxItems", "items", "uniqueItems", "minimum", "maximum", "exclusiveMinimum",
            "exclusiveMaximum", "multipleOf", "minProperties", "maxProperties", "$ref", "allOf", "anyOf", "oneOf",
            "not", "if", "dependentRequired", "propertyNames"}
# Keywords jsonschema validates that we do not: their presence disables the fast path for the whole schema.
_VALIDATING = {"patternProperties", "prefixItems", "contains", "minContains", "maxContains", "unevaluatedItems",
               "unevaluatedProperties", "dependentSchemas", "$dynamicRef", "$recursiveRef", "dependencies",
               "additionalItems"}


class Unsupported(Exception):
    pass


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


class _Compiler:
    def __init__(self, resolve: Callable[[str, str], Any]) -> None:
        self._resolve = resolve  # (base uri, ref) -> (subschema, its base uri)
        self._cache: dict[tuple[str, str], Check] = {}

    def compile(self, schema: Any, base: str) -> Check:
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported(f"schema is {type(schema).__name__}")
        keys = set(schema)
        if keys & _VALIDATING:
            raise Unsupported(", ".join(sorted(keys & _VALIDATING)))
        if "$id" in schema and isinstance(schema["$id"], str) and ":" in schema["$id"]:
            base = schema["$id"]
        checks: list[Check] = []
        add = checks.append
        for key in keys - _ANNOTATIONS:
            if key not in _HANDLED:
                continue  # unknown keywords are ignored by jsonschema as well
            value = schema[key]
            if key == "type":
                names = value if isinstance(value, list) else [value]
                fns = [_TYPES[n] for n in names]
                add(fns[0] if len(fns) == 1 else (lambda v, fns=fns: any(f(v) for f in fns)))
            elif key == "enum":
                add(lambda v, e=value: any(equal(v, x) for x in e))
            elif key == "const":
                add(lambda v, c=value: equal(v, c))
            elif key == "minLength":
                add(lambda v, n=value: not isinstance(v, str) or len(v) >= n)
            elif key == "maxLength":
                add(lambda v, n=value: not isinstance(v, str) or len(v) <= n)
            elif key == "pattern":
                rx = re.compile(value)
                add(lambda v, rx=rx: not isinstance(v, str) or rx.search(v) is not None)
            elif key == "minItems":
                add(lambda v, n=value: not isinstance(v, list) or len(v) >= n)
            elif key == "maxItems":
                add(lambda v, n=value: not isinstance(v, list) or len(v) <= n)
            elif key == "uniqueItems":
                if value:
                    add(lambda v: not isinstance(v, list) or uniq(v))
            elif key == "items":
                item = self.compile(value, base)
                add(lambda v, item=item: not isinstance(v, list) or all(item(x) for x in v))
            elif key == "minimum":
                add(lambda v, n=value: not _is_number(v) or v >= n)
            elif key == "maximum":
                add(lambda v, n=value: not _is_number(v) or v <= n)
            elif key == "exclusiveMinimum":
                add(lambda v, n=value: not _is_number(v) or v > n)
            elif key == "exclusiveMaximum":
                add(lambda v, n=value: not _is_number(v) or v < n)
            elif key == "multipleOf":
                raise Unsupported("multipleOf")  # float semantics differ subtly; leave it to jsonschema
            elif key == "minProperties":
                add(lambda v, n=value: not isinstance(v, dict) or len(v) >= n)
            elif key == "maxProperties":
                add(lambda v, n=value: not isinstance(v, dict) or len(v) <= n)
            elif key == "required":
                add(lambda v, r=tuple(value): not isinstance(v, dict) or all(k in v for k in r))
            elif key == "dependentRequired":
                deps = {k: tuple(r) for k, r in value.items()}
                add(lambda v, d=deps: not isinstance(v, dict) or all(
                    all(x in v for x in r) for k, r in d.items() if k in v))
            elif key == "propertyNames":
                names = self.compile(value, base)
                add(lambda v, f=names: not isinstance(v, dict) or all(f(k) for k in v))
            elif key == "properties":
                props = {k: self.compile(s, base) for k, s in value.items()}
                add(lambda v, p=props: not isinstance(v, dict) or all(f(v[k]) for k, f in p.items() if k in v))
            elif key == "additionalProperties":
                known = frozenset(schema.get("properties", {}))
                if value is False:
                    add(lambda v, known=known: not isinstance(v, dict) or all(k in known for k in v))
                else:
                    extra = self.compile(value, base)
                    add(lambda v, known=known, f=extra: not isinstance(v, dict) or all(
                        f(x) for k, x in v.items() if k not in known))
            elif key == "allOf":
                subs = [self.compile(s, base) for s in value]
                add(lambda v, subs=subs: all(f(v) for f in subs))
            elif key == "anyOf":
                subs = [self.compile(s, base) for s in value]
                add(lambda v, subs=subs: any(f(v) for f in subs))
            elif key == "oneOf":
                subs = [self.compile(s, base) for s in value]
                add(lambda v, subs=subs: sum(1 for f in subs if f(v)) == 1)
            elif key == "not":
                sub = self.compile(value, base)
                add(lambda v, f=sub: not f(v))
            elif key == "if":
                cond = self.compile(value, base)
                then = self.compile(schema.get("then", True), base)
                other = self.compile(schema.get("else", True), base)
                add(lambda v, c=cond, t=then, o=other: t(v) if c(v) else o(v))
            elif key == "$ref":
                add(self._ref(base, value))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        # Cheap checks first (type, required) so a wrong shape fails fast; order does not change the answer.
        checks.sort(key=lambda f: 0 if f in _TYPES.values() else 1)
        return lambda v, cs=tuple(checks): all(c(v) for c in cs)

    def _ref(self, base: str, ref: str) -> Check:
        key = (base, ref)
        if key not in self._cache:
            cell: list[Check] = []
            self._cache[key] = lambda v: cell[0](v)  # recursion-safe: filled in below
            target, target_base = self._resolve(base, ref)
            cell.append(self.compile(target, target_base))
        return self._cache[key]


def compile_check(schema: dict[str, Any], resolve: Callable[[str, str], Any]) -> Check | None:
    """A fast validity check for ``schema``, or None when it uses a keyword this module does not handle."""
    try:
        return _Compiler(resolve).compile(schema, schema.get("$id", ""))
    except (Unsupported, KeyError, re.error, TypeError):
        return None
