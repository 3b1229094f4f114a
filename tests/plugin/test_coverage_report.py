"""The plugin's behaviour coverage as a user meets it: a fresh project run with pytester (in a subprocess, as a CI
job runs it), the table at the end, the thresholds failing the run, pytest-xdist adding up the workers' counts and a
shared simulator (--provider-sim-url) counted once."""
from __future__ import annotations

import re

import pytest

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient

# The README's example, as a newcomer copies it.
README_TEST = '''
def test_otp_is_delivered(provider_sim):
    msg = provider_sim.send_sms("+15551230000", "Your code is 4821")
    provider_sim.advance(10)
    assert provider_sim.get_message(msg["id"])["status"] == "delivered"
'''


def _row(lines: list[str], behaviour: str) -> str:
    found = [line for line in lines if re.match(rf"\s+bird\s+{re.escape(behaviour)}\s", line)]
    assert len(found) == 1, (behaviour, lines)
    return found[0]


def _section(outlines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(outlines) if "provider-sim behaviour coverage" in line)
    return outlines[start:]


def test_one_sms_meets_delivered_and_says_how_to_provoke_a_failure(pytester):
    pytester.makepyfile(test_otp=README_TEST)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--provider-sim-coverage")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    lines = _section(result.outlines)
    met = lines.index("met:")
    unmet = lines.index("not met, and how to provoke each:")
    delivered = _row(lines, "delivered")
    assert lines.index(delivered) in range(met, unmet) and re.search(r"\b1\s+SMS delivered", delivered)
    failed = _row(lines, "delivery_failed")
    assert lines.index(failed) > unmet
    assert "delivery_failed (15005 unknown subscriber)" in failed and "ending in 0001" in failed
    assert "+15551230001" in failed and "(magic number)" in failed
    summary = next(line for line in lines if line.startswith("behaviour coverage:"))
    assert re.match(r"behaviour coverage: 1 of \d+ met", summary), summary
    # Business Chat was not used: its behaviours are neither listed nor counted against the run
    assert "  not used by this run, left out: business_chat" in lines
    assert not any(line.lstrip().startswith("business_chat ") for line in lines)


def test_without_the_flag_nothing_is_printed(pytester):
    pytester.makepyfile(test_otp=README_TEST)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not any("behaviour coverage" in line for line in result.outlines)


def test_the_threshold_and_the_required_behaviours_fail_the_run(pytester):
    pytester.makepyfile(test_otp=README_TEST)
    under = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--provider-sim-coverage-fail-under=50")
    under.assert_outcomes(passed=1)
    assert under.ret == pytest.ExitCode.TESTS_FAILED
    assert any(re.match(r"FAIL behaviour coverage [\d.]+ % is under the required 50 %", line)
               for line in under.outlines), under.outlines
    enough = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--provider-sim-coverage-fail-under=1")
    assert enough.ret == 0, enough.outlines
    required = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider",
                                             "--provider-sim-coverage-require=delivered,bird:delivery_failed")
    assert required.ret == pytest.ExitCode.TESTS_FAILED
    fail = [line for line in required.outlines if line.startswith("FAIL ")]
    assert len(fail) == 1 and "'bird:delivery_failed'" in fail[0] and "0001" in fail[0], fail
    typo = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--provider-sim-coverage-require=delivred")
    assert typo.ret == pytest.ExitCode.TESTS_FAILED
    assert any("'delivred' is in no catalogue" in line for line in typo.outlines)
    met = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--provider-sim-coverage-require=delivered")
    assert met.ret == 0, met.outlines


XDIST_TEST = '''
import pytest

@pytest.mark.parametrize("n", range(6))
def test_sends(provider_sim, n):
    provider_sim.send_sms("+15551230000", f"test {n}")
    provider_sim.send_sms("+15551230001", f"test {n}")
    provider_sim.advance(10)

@pytest.mark.provider_sim(config="two.yaml")
def test_other_world(provider_sim):
    provider_sim.send_sms("+15551230002")
    provider_sim.advance(10)
'''


def test_xdist_workers_counts_add_up(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_parallel=XDIST_TEST)
    from simulator.resources import fixtures_root

    pytester.path.joinpath("two.yaml").write_text(fixtures_root().joinpath("default-world.yaml").read_text())
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-n", "2", "--provider-sim-coverage")
    result.assert_outcomes(passed=7)
    lines = _section(result.outlines)
    assert re.search(r"\s6\s+SMS delivered$", _row(lines, "delivered"))
    assert re.search(r"\s6\s+delivery_failed", _row(lines, "delivery_failed"))
    assert re.search(r"\s1\s+sending_failed", _row(lines, "sending_failed"))  # the marker's own simulator


def test_a_shared_simulator_is_counted_once_since_the_session_began(pytester):
    pytest.importorskip("xdist")
    with SimulatorServer(Settings(db=":memory:", clock="manual", port=0)) as server:
        with SimClient(server.url) as before:  # counted before the session began: not the session's
            assert before.http.get(before.messages_path() + "/nope", headers=before.bird_headers).status_code == 404
            before.send_sms("+15551230001")
            before.advance(10)
        pytester.makepyfile(test_shared='''
import pytest

@pytest.mark.parametrize("n", range(4))
def test_not_found(provider_sim, n):
    r = provider_sim.http.get(provider_sim.messages_path() + f"/n{n}", headers=provider_sim.bird_headers)
    assert r.status_code == 404
''')
        result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-n", "2",
                                               f"--provider-sim-url={server.url}", "--provider-sim-coverage")
        result.assert_outcomes(passed=4)
        lines = _section(result.outlines)
        # four 404s: not eight (each worker's sum of the shared simulator), not five (the one before the session)
        assert re.search(r"\s4\s+404 not found$", _row(lines, "api_error.404")), lines
        assert lines.index(_row(lines, "delivery_failed")) > lines.index("not met, and how to provoke each:")
