"""GET /_sim/health: liveness plus the store's write counters (benchmarks read the group-commit ratio there)."""
from __future__ import annotations


def test_health_counts_transactions_and_their_commits(provider_sim):
    before = provider_sim.health()["store"]
    for i in range(3):
        provider_sim.send_sms(f"+1555123004{i}")
    after = provider_sim.health()
    assert after["status"] == "ok"
    grew = {k: after["store"][k] - before[k] for k in ("transactions", "commits")}
    # Three sequential sends: three transactions, each committed (a lone request never waits for a group).
    assert grew["transactions"] >= 3 and 3 <= grew["commits"] <= grew["transactions"], grew
