"""Every schema file is a valid draft 2020-12 schema with an $id, and the packaged fixtures validate."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from simulator.core.schemas import SchemaStore

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "schemas").rglob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_schema_is_valid_2020_12(path):
    doc = json.loads(path.read_text())
    Draft202012Validator.check_schema(doc)
    assert doc["$id"].startswith("urn:provider-simulator:")


def test_ids_are_unique():
    ids = [json.loads(p.read_text())["$id"] for p in FILES]
    assert len(ids) == len(set(ids))


def test_default_world_and_scenarios_validate():
    store = SchemaStore()
    world = yaml.safe_load((ROOT / "fixtures" / "default-world.yaml").read_text())
    assert store.issues("config/world", world) == []
    for scenario in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert store.issues("scenario/scenario", yaml.safe_load(scenario.read_text())) == [], scenario.name


def test_invalid_schema_is_refused_at_start(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"$id": "urn:x", "type": "strin"}))
    with pytest.raises(ValueError, match="bad is not a valid JSON Schema"):
        SchemaStore(tmp_path)
