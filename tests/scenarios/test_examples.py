"""Every example scenario in scenarios/ replays cleanly, and `provider-sim replay` behaves as documented."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.replay.loader import ScenarioError, load_scenario
from simulator.replay.runner import main_run, run_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_there_are_at_least_six_examples_covering_both_providers():
    assert len(EXAMPLES) >= 6
    texts = [p.read_text() for p in EXAMPLES]
    assert any("/v1/message" in t for t in texts) and any("bird_send" in t for t in texts)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_replays(path, provider_sim):
    scenario = load_scenario(path)
    assert scenario.config is None, "examples run on the default world"
    out = io.StringIO()
    result = run_scenario(scenario, provider_sim, out=out)
    assert result.ok, out.getvalue()
    assert out.getvalue().rstrip().splitlines()[-1].startswith(f"PASS: {len(scenario.steps)}/{len(scenario.steps)}")


def test_replay_cli_is_deterministic_for_a_seed():
    path = str(ROOT / "scenarios" / "otp-retry-second-number.yaml")
    first, second = io.StringIO(), io.StringIO()
    assert main_run(path, against=None, seed=99, out=first) == 0
    assert main_run(path, against=None, seed=99, out=second) == 0
    assert first.getvalue() == second.getvalue()
    assert "✓" in first.getvalue() and "PASS: 7/7" in first.getvalue()


def test_replay_cli_against_a_running_simulator(provider_sim_server):
    result = CliRunner().invoke(main, ["replay", str(ROOT / "scenarios" / "sms-rate-limited-then-retried.yaml"),
                                       "--against", provider_sim_server.url])
    assert result.exit_code == 0, result.output
    assert "PASS: 8/8" in result.output


def test_unmet_expectation_exits_1_with_a_diff(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""
name: wrong status on purpose
steps:
  - name: sms
    bird_send: {to: "+15551230001", text: hi}
  - advance: 10
  - expect_status: {message: "{{steps.sms.id}}", status: delivered}
  - advance: 1
""")
    result = CliRunner().invoke(main, ["replay", str(bad)])
    assert result.exit_code == 1
    assert "[3/4] ✗" in result.output
    assert '-  "status": "delivered"' in result.output and '+  "status": "delivery_failed"' in result.output
    assert "[4/4]" not in result.output  # stops at the first unmet expectation
    assert "FAIL: 2/4" in result.output


def test_missing_webhook_lists_what_arrived(provider_sim):
    scenario = load_scenario("x.yaml", text="""
name: webhook never comes
steps:
  - bird_subscribe: {events: [sms.outbound]}
  - name: sms
    bird_send: {to: "+15551230000"}
  - advance: 10
  - expect_webhook: {event: sms.outbound, match: {payload.status: read}, timeout: 0.2}
""")
    out = io.StringIO()
    result = run_scenario(scenario, provider_sim, out=out)
    assert not result.ok
    text = out.getvalue()
    assert re.search(r"arrived \([3-9]\)", text) and "status=delivered" in text
    assert '-  "payload.status": "read"' in text


@pytest.mark.parametrize("text, error", [
    ("name: x\nsteps: []", "steps"),
    ("name: x\nsteps:\n  - advance: 1\n    force_status: {message: a, status: sent}", "exactly one action"),
    ("name: x\nsteps:\n  - teleport: 1", "teleport"),
    ("name: x\nsteps:\n  - advance: -1", "steps/0/advance"),
    ("name: [unclosed", "not valid YAML"),
])
def test_invalid_scenarios_are_refused_with_the_place(text, error):
    with pytest.raises(ScenarioError, match=error):
        load_scenario("s.yaml", text=text)


def test_bad_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - teleport: 1\n")
    result = CliRunner().invoke(main, ["replay", str(bad)])
    assert result.exit_code == 2 and "teleport" in result.output


def test_unknown_variable_is_named(provider_sim):
    scenario = load_scenario("x.yaml", text="name: x\nsteps:\n  - bird_send: {to: '{{participants.nobody}}'}\n")
    result = run_scenario(scenario, provider_sim)
    assert not result.ok and "{{participants.nobody}}" in result.failure


def test_scenario_schema_has_the_documented_id():
    import json

    doc = json.loads((ROOT / "schemas" / "scenario" / "scenario.json").read_text())
    assert doc["$id"] == "urn:provider-simulator:scenario:scenario"
