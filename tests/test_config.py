"""World config: validated at start-up with errors that name the bad key; a custom world is served."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from simulator.core.schemas import SchemaStore
from simulator.settings import Settings
from simulator.world import ConfigError, load_world

SCHEMAS = SchemaStore()

CUSTOM = textwrap.dedent("""
    bird:
      organization: {id: 11111111-0000-4000-8000-000000000000}
      access_keys: [{key: custom-key-123, allowed_paths: ["*"]}]
      timing_profiles:
        quick: {processing: 0, sent: 0, delivered: 1}
      outcomes: {"99": delivery_failed}
      workspaces:
        - id: 22222222-0000-4000-8000-000000000000
          channels:
            - {id: 33333333-0000-4000-8000-000000000000, number: "+14155550100", mms: true, timing: quick}
""")


def test_default_world_is_valid():
    world = load_world(SCHEMAS)
    assert len(world.bird.workspaces) == 1
    channels = next(iter(world.bird.workspaces.values())).channels.values()
    assert any(c.mms and c.country == "US" for c in channels)
    assert any(not c.mms and c.country not in ("US", "CA") for c in channels)


def test_custom_world(tmp_path):
    path = tmp_path / "world.yaml"
    path.write_text(CUSTOM)
    world = load_world(SCHEMAS, str(path))
    channel = world.bird.channel("33333333-0000-4000-8000-000000000000")
    assert channel is not None and channel.timing == "quick" and channel.default_validity == 129600
    assert world.bird.outcomes == {"99": "delivery_failed"}


@pytest.mark.parametrize("mutation,fragment", [
    (lambda t: t.replace("access_keys:", "acess_keys:"), 'property "acess_keys" is unsupported'),
    (lambda t: t.replace('"+14155550100"', '"4155550100"'), "bird.workspaces[0].channels[0].number"),
    (lambda t: t.replace("timing: quick", "timing: warp"), "timing profile 'warp' is not defined"),
    (lambda t: t.replace('"99": delivery_failed', '"99": exploded'), "bird.outcomes.99"),
    (lambda t: t.replace('"+14155550100", mms: true', '"+31612345678", mms: true'), "only US/CA numbers"),
    (lambda t: t + "\n  : [", "not valid YAML"),
    (lambda t: "seed: 3\n", 'property "bird" is required'),
])
def test_bad_config_names_the_key(tmp_path, mutation, fragment):
    path = tmp_path / "world.yaml"
    path.write_text(mutation(CUSTOM))
    with pytest.raises(ConfigError) as err:
        load_world(SCHEMAS, str(path))
    assert fragment in str(err.value)
    assert str(path) in str(err.value)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="cannot read config"):
        load_world(SCHEMAS, "/nonexistent/world.yaml")


def test_cli_refuses_bad_config_with_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("bird: 3\n")
    result = subprocess.run([sys.executable, "-m", "simulator", "serve", "--config", str(path), "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid config" in result.stderr and "bird" in result.stderr


def test_settings_fields_spell_out_every_setting():
    """Settings.replace/from_env take SettingsFields: the two must list the same names with the same types."""
    import typing

    from simulator.settings import SettingsFields

    assert typing.get_type_hints(SettingsFields) == typing.get_type_hints(Settings)


def test_settings_env_and_flags():
    env = {"PROVIDER_SIM_PORT": "9999", "PROVIDER_SIM_CLOCK": "manual", "PROVIDER_SIM_CLOCK_SPEED": "60",
           "PROVIDER_SIM_DB": ":memory:", "PROVIDER_SIM_ALLOW_HTTP_WEBHOOKS": "false"}
    settings = Settings.from_env(env)
    assert (settings.port, settings.clock, settings.clock_speed, settings.db) == (9999, "manual", 60.0, ":memory:")
    assert settings.allow_http_webhooks is False
    assert Settings.from_env(env, port=1234).port == 1234
    with pytest.raises(ValueError, match="PROVIDER_SIM_PORT"):
        Settings.from_env({"PROVIDER_SIM_PORT": "lots"})


def test_tune_gc_freezes_startup_objects_and_only_when_asked(tmp_path):
    """tune_gc is process-wide, so it is off unless asked (serve asks; the pytest fixture does not)."""
    import asyncio
    import gc

    from simulator.app import create_app
    from simulator.settings import Settings

    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()

    async def start(tune: bool) -> tuple[tuple[int, ...], int]:
        app = create_app(Settings(db=":memory:", clock="manual", tune_gc=tune))
        async with app.router.lifespan_context(app):
            return gc.get_threshold(), gc.get_freeze_count()

    try:
        assert asyncio.run(start(False)) == (before, frozen_before)
        threshold, frozen = asyncio.run(start(True))
        assert threshold == (20_000, 50, 100) and frozen > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert Settings.from_env({"PROVIDER_SIM_TUNE_GC": "false"}).tune_gc is False
    assert Settings.from_env({"PROVIDER_SIM_TUNE_GC": "1"}).tune_gc is True
