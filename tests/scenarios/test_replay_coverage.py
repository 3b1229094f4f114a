"""provider-sim replay --coverage: the behaviours the scenarios met, added up over every scenario it ran, and the
unmet ones with how to provoke them; also against a running simulator (only what the replay caused)."""
from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from simulator.cli import main
from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _met(output: str) -> dict[str, int]:
    section = output.split("\nmet:\n", 1)[1].split("not met, and how to provoke each:", 1)[0]
    return {m.group(1) + ":" + m.group(2): int(m.group(3))
            for m in re.finditer(r"^\s+(\w+)\s+(\S+)\s+(\d+)\s", section, re.MULTILINE)}


def test_replay_prints_the_coverage_of_every_scenario_it_ran():
    result = CliRunner().invoke(main, ["replay", str(SCENARIOS / "otp-retry-second-number.yaml"),
                                       str(SCENARIOS / "sms-rate-limited-then-retried.yaml"), "--coverage"])
    assert result.exit_code == 0, result.output
    met = _met(result.output)
    assert met["bird:delivered"] == 2 and met["bird:delivery_failed"] == 1 and met["bird:api_error.429"] == 1
    unmet = result.output.split("not met, and how to provoke each:", 1)[1]
    assert re.search(r"bird\s+sending_failed\s+sending_failed \(12001 dependency error\): send to a receiver "
                     r"ending in 0002", unmet)
    assert "not used by this run, left out: business_chat" in result.output


def test_replay_without_the_flag_prints_no_table():
    result = CliRunner().invoke(main, ["replay", str(SCENARIOS / "otp-retry-second-number.yaml")])
    assert result.exit_code == 0 and "behaviour coverage" not in result.output


def test_replay_against_a_running_simulator_counts_only_what_it_caused():
    with SimulatorServer(Settings(db=":memory:", clock="manual", port=0)) as server:
        with SimClient(server.url) as before:
            before.send_sms("+15551230002")
            before.advance(10)  # a sending_failed before the replay: not the replay's
        result = CliRunner().invoke(main, ["replay", "otp-retry-second-number", "--against", server.url,
                                           "--coverage"])
        assert result.exit_code == 0, result.output
        met = _met(result.output)
        assert met["bird:delivered"] == 1 and met["bird:delivery_failed"] == 1
        assert "bird:sending_failed" not in met
        with SimClient(server.url) as after:  # the simulator's own counts still hold everything
            assert after.coverage_counts("bird")["sending_failed"] == 1
