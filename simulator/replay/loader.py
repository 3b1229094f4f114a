"""Load and validate a scenario file against schemas/scenario/scenario.json; expand {{variables}}."""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from simulator.core.codec import is_digits

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

ACTIONS = ("request", "control", "bird_send", "bird_subscribe", "advance", "force_status", "fault", "clear_faults",
           "webhook_faults", "expect_webhook", "expect_status", "expect_journal", "expect_device")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


class ScenarioError(ValueError):
    """The file is not a valid scenario; the message names the file and the place."""


@dataclass
class Step:
    index: int
    action: str
    args: Any  # the action's value in the file: an object for most, a number for ``advance``
    name: str | None = None
    note: str | None = None
    expect: dict[str, Any] | None = None

    def describe(self) -> str:
        if self.note:
            return self.note
        args = self.args
        if self.action in ("request", "control") and isinstance(args, dict):
            return f"{args.get('method', '').upper()} {args.get('path')}"
        if self.action == "advance":
            return f"advance the clock {args} s"
        if self.action == "bird_send":
            return f"Bird send to {args.get('to')}"
        if self.action == "expect_status" and isinstance(args, dict):
            return f"message {args.get('message')} is {args.get('status')}"
        if self.action == "expect_webhook" and isinstance(args, dict):
            event = f"{args['event']} " if args.get("event") else ""
            return f"webhook {event}arrives matching {json.dumps(args.get('match') or {})}"
        return f"{self.action} {json.dumps(args, sort_keys=True)[:100]}"


@dataclass
class Scenario:
    name: str
    steps: list[Step]
    path: Path | None = None
    description: str = ""
    seed: int | None = None
    config: str | None = None
    participants: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)


@functools.cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    from simulator.resources import schemas_root

    doc = json.loads(schemas_root().joinpath("scenario").joinpath("scenario.json").read_text(encoding="utf-8"))
    return Draft202012Validator(doc)


def find_scenario(name: str) -> Path:
    """A path as given, or a file in the shipped scenarios/ folder (``otp-retry`` or ``otp-retry.yaml``)."""
    path = Path(name)
    if path.exists():
        return path
    from simulator.resources import scenarios_root

    root = scenarios_root()
    for candidate in (name, f"{name}.yaml"):
        entry = root.joinpath(candidate)
        if entry.is_file():
            return Path(str(entry))
    raise ScenarioError(f"no scenario file {name!r} (not a path, and not in the scenarios folder)")


def load_scenario(source: str | Path, *, text: str | None = None) -> Scenario:
    path = Path(source) if text is None else None
    label = str(source)
    try:
        raw = yaml.safe_load(text if text is not None else Path(source).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{label}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{label}: cannot read: {exc.strerror}") from None
    errors = sorted(_validator().iter_errors(raw), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        worst = max(errors, key=lambda e: len(e.absolute_path))
        where = "/".join(str(p) for p in worst.absolute_path) or "(top level)"
        raise ScenarioError(f"{label}: {where}: {worst.message}")
    steps: list[Step] = []
    for i, item in enumerate(raw["steps"]):
        actions = [k for k in item if k in ACTIONS]
        if len(actions) != 1:
            raise ScenarioError(f"{label}: steps/{i}: a step needs exactly one action ({', '.join(ACTIONS)}), "
                                f"got {actions or 'none'}")
        if "expect" in item and actions[0] not in ("request", "control", "bird_send"):
            raise ScenarioError(f"{label}: steps/{i}: 'expect' belongs to request, control or bird_send steps")
        steps.append(Step(i, actions[0], item[actions[0]], item.get("name"), item.get("note"), item.get("expect")))
    names = [s.name for s in steps if s.name]
    if len(names) != len(set(names)):
        raise ScenarioError(f"{label}: step names must be unique")
    config = raw.get("config")
    if config and path is not None and not Path(config).is_absolute():
        config = str((path.parent / config).resolve())
    return Scenario(name=raw["name"], steps=steps, path=path, description=raw.get("description", ""),
                    seed=raw.get("seed"), config=config, participants=dict(raw.get("participants") or {}),
                    vars=dict(raw.get("vars") or {}))


class Context(dict[str, Any]):
    """Variables for {{placeholders}}: bird.*, bc.*, receiver.url, participants.*, vars.*, steps.<name>.*."""

    def lookup(self, dotted: str) -> Any:
        value: Any = self
        for part in dotted.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
                if callable(value):
                    value = value()
            elif isinstance(value, list) and is_digits(part) and int(part) < len(value):
                value = value[int(part)]
            else:
                raise ScenarioError(f"unknown variable {{{{{dotted}}}}} (no {part!r})")
        return value


def expand(value: Any, ctx: Context) -> Any:
    """Substitute {{placeholders}} in every string; a string that is only a placeholder keeps the value's type."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return ctx.lookup(whole.group(1))
        return PLACEHOLDER.sub(lambda m: str(ctx.lookup(m.group(1))), value)
    if isinstance(value, dict):
        return {expand(k, ctx) if isinstance(k, str) else k: expand(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, ctx) for v in value]
    return value
