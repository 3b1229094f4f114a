"""Retention (core/retention.py): each kind removes exactly what is older than its retention and nothing else, on the
simulator's clock; a sweep over a large table never pauses serving; the sweeps show in /_sim/metrics."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.bird.provider import BirdProvider
from simulator.core.retention import BATCH, MIN_BATCH, STEP_TARGET_S, Retention, parse_setting
from simulator.settings import Settings
from simulator.testing import Simulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "business_chat"))
from bc_msp import MSP, PNG  # noqa: E402 - the Business Chat tests' MSP, beside them

DAY = 86400
KINDS = ("outbox", "bird.messages", "bird.media", "business_chat.device_messages", "business_chat.conversations",
         "business_chat.download_urls", "business_chat.attachments")


def rows(sim: Simulator) -> dict[str, int]:
    return {k["kind"]: k["rows"] for k in sim.control("GET", "/_sim/retention")["kinds"]}


def traffic(sim: Simulator, msp: MSP, customer: str, tag: str) -> dict[str, Any]:
    """One of everything that accumulates: SMS (a batch too) with webhooks, inbound MMS media, an upload ticket,
    Business Chat messages both ways, an attachment and its download URL."""
    sent = [sim.send_sms("+15551230000", f"{tag} {i}") for i in range(2)]
    batch = sim.http.post(sim.messages_path().replace("/messages", "/batch/messages"),
                          json={"messageRequests": [{"receiver": {"contacts": [{"identifierValue": "+15551230002"}]},
                                                     "body": {"type": "text", "text": {"text": tag}}}]},
                          headers=sim.bird_headers)
    assert batch.status_code == 202, batch.text
    mms = sim.channel_id(mms=True)
    inbound = sim.bird_inbound("+15557770000", tag, channel_id=mms,
                               media=[{"contentType": "image/png", "base64": "iVBORw0KGgo="}])
    ticket = sim.http.post(f"/workspaces/{sim.workspace_id}/channels/{mms}/presigned-upload",
                           json={"contentType": "image/png"}, headers=sim.bird_headers)
    assert ticket.status_code == 200, ticket.text
    assert msp.send_text(f"{tag} to device", to=customer).status_code == 200
    sim.customer_says(f"{tag} from device", customer=customer, business=msp.business)
    att, _ = msp.upload(PNG)
    pre = msp.http.get("/v1/preDownload", headers=msp.headers(url=att["url"], owner=att["owner"],
                                                              signature=att["signature-base64"]))
    assert pre.status_code == 200, pre.text  # a download URL
    sim.advance(120)  # every SMS finished, every webhook delivered
    return {"sms": [m["id"] for m in sent], "inbound": inbound, "media": ticket.json()["mediaUrl"]}


@pytest.fixture
def sim(db: Any, provider_sim_receiver: Any) -> Any:
    # The background loop is off (interval 0): the test sweeps when it wants, through the control plane.
    settings = Settings(db=db("r"), clock="manual", port=0, log_level="warning", retention_interval=0,
                        retention="*=3d,business_chat.download_urls=36h")
    with Simulator(settings) as s:
        s.http.post(f"/workspaces/{s.workspace_id}/webhook-subscriptions",
                    json={"service": "channels", "event": "sms.outbound", "url": provider_sim_receiver.url,
                          "signingKey": "k"}, headers=s.bird_headers)
        yield s


def test_each_kind_removes_exactly_what_is_due(sim: Simulator, provider_sim_receiver: Any) -> None:
    msp = MSP(sim)
    sim.http.post(f"/_sim/business-chat/businesses/{msp.business}", json={"webhookUrl": provider_sim_receiver.url})
    old_customer, new_customer = msp.customer, msp.customer_two
    scheduled = sim.send_sms("+15551230000", "in 20 days",
                             scheduledFor=time_iso(sim, 20 * DAY))  # still to go out: kept whatever its age
    old = traffic(sim, msp, old_customer, "old")
    empty = sim.control("POST", "/_sim/retention/sweep")["removed"]
    assert set(empty) == set(KINDS) and not any(empty.values())  # nothing is due yet
    sim.advance(2 * DAY)
    new = traffic(sim, msp, new_customer, "new")
    before = rows(sim)
    assert all(before[k] > 0 for k in KINDS), before
    sim.advance(1 * DAY + 600)  # the first traffic is past 3 days, the second is not

    removed = sim.control("POST", "/_sim/retention/sweep")["removed"]
    after = rows(sim)
    assert all(removed[k] > 0 for k in KINDS), removed
    assert {k: before[k] - after[k] for k in KINDS} == removed  # what the sweep says it removed is what went
    for message_id in old["sms"]:
        assert sim.http.get(f"{sim.messages_path()}/{message_id}", headers=sim.bird_headers).status_code == 404
    for message_id in new["sms"]:
        kept = sim.control("GET", f"/_sim/bird/messages/{message_id}")
        assert kept["status"] == "delivered" and len(kept["statusHistory"]) >= 3
    assert sim.get_message(scheduled["id"])["status"] == "scheduled"
    # Only the second traffic's webhooks and device messages are left, and the first customer's conversation went.
    deliveries = str(sim.control("GET", "/_sim/outbox?limit=500")["results"])
    assert all(i in deliveries for i in new["sms"]) and not any(i in deliveries for i in old["sms"])
    assert all("old" not in str(m) for m in sim.device(old_customer))
    assert any("new" in str(m) for m in sim.device(new_customer))
    # The dependents went with their rows, and only theirs.
    server = sim.server
    assert server is not None
    store = server.sim.store
    orphans = server.call(store.fetch_one(
        "SELECT (SELECT COUNT(*) FROM bird_status_history WHERE message_seq NOT IN (SELECT seq FROM bird_messages)),"
        " (SELECT COUNT(*) FROM outbox_attempts WHERE outbox_id NOT IN (SELECT id FROM outbox)),"
        " (SELECT COUNT(*) FROM bird_status_history)"))
    assert orphans is not None and orphans[0] == 0 and orphans[1] == 0 and orphans[2] > 0
    # A second sweep finds nothing more: each kind costs one probe.
    assert not any(sim.control("POST", "/_sim/retention/sweep")["removed"].values())
    media = server.sim.providers.get(BirdProvider).media
    assert server.call(store.fetch_one("SELECT COUNT(*) FROM bird_media"))[0] == after["bird.media"]
    if store.dialect == "sqlite":  # files beside the store: only those of kept media remain
        files = sorted(p.name for p in media.bytes.root.iterdir()) if media.bytes.root.exists() else []
        kept_ids = sorted(r[0] for r in server.call(store.fetch_all(
            "SELECT id FROM bird_media WHERE status = 'uploaded'")))
        assert files == kept_ids
    else:
        assert server.call(store.fetch_one(
            "SELECT COUNT(*) FROM bird_media_bytes WHERE id NOT IN (SELECT id FROM bird_media)"))[0] == 0
    assert new["media"]


def time_iso(sim: Simulator, ahead_s: int) -> str:
    from simulator.core.clock import iso_ms

    return iso_ms(int(sim.clock()["nowMs"]) + ahead_s * 1000)


def test_setting_keeps_everything_and_refuses_unknown_kinds(db: Any) -> None:
    assert parse_setting("off") == {"*": 0.0}
    assert parse_setting("bird.messages=7d, outbox=12h,*=90m") == {"bird.messages": 7 * DAY, "outbox": 43200,
                                                                    "*": 5400}
    with pytest.raises(ValueError, match="not a duration"):
        parse_setting("outbox=soon")
    with Simulator(Settings(db=db("off"), clock="manual", port=0, retention="off")) as s:
        s.send_sms("+15551230000")
        s.advance(400 * DAY)
        assert not any(s.control("POST", "/_sim/retention/sweep")["removed"].values())
        assert all(k["retentionSeconds"] == 0 for k in s.control("GET", "/_sim/retention")["kinds"])
        assert len(s.http.get(f"/workspaces/{s.workspace_id}/messages", headers=s.bird_headers).json()["results"]) == 1
    with pytest.raises(Exception, match=r"unknown kind\(s\) bird\.mesages"):
        Simulator(Settings(db=db("typo"), clock="manual", port=0, retention="bird.mesages=1d")).start()


def test_serve_refuses_a_retention_setting_it_cannot_read() -> None:
    import os
    import subprocess

    for setting, said in (("outbox=soon", "not a duration: 'soon'"), ("outbx=1d", "unknown kind(s) outbx")):
        result = subprocess.run([sys.executable, "-m", "simulator", "serve", "--port", "0", "--db", ":memory:"],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PROVIDER_SIM_RETENTION": setting})
        assert result.returncode == 2
        assert result.stderr.strip().startswith("provider-sim: PROVIDER_SIM_RETENTION: " + said), result.stderr


def test_sqlite_sweeps_read_through_indexes(tmp_path: Path) -> None:
    """Every kind's probe and delete, and each dependent's delete, searches an index (never SCAN a table)."""
    with Simulator(Settings(db=str(tmp_path / "p.db"), clock="manual", port=0, retention="off")) as s:
        server = s.server
        assert server is not None
        retention = server.sim.retention
        for kind in retention.kinds.values():
            condition = f"{kind.where} AND " if kind.where else ""
            statements = [f"SELECT {', '.join(kind.columns())} FROM {kind.table} WHERE {condition}"
                          f"{kind.time_column} < 1 ORDER BY {kind.time_column} LIMIT 200",
                          f"DELETE FROM {kind.table} WHERE {condition}{kind.time_column} < 1 AND "
                          + " AND ".join(f"{c} = 'x'" for c in kind.key)]
            statements += [f"DELETE FROM {d.table} WHERE {d.column} = 'x'" for d in kind.dependents]
            for sql in statements:
                plan = " | ".join(str(r[3]) for r in server.call(server.sim.store.fetch_all("EXPLAIN QUERY PLAN "
                                                                                           + sql)))
                assert "USING" in plan and "TEMP B-TREE" not in plan, (kind.name, sql, plan)


def test_sqlite_partial_indexes_cost_writes_no_temporary_btrees(tmp_path: Path) -> None:
    """A partial index's condition is evaluated on every write to its table: written as `IN (list)`, SQLite builds a
    temporary b-tree for it per statement (each send and status change paid for the retention index that way)."""
    with Simulator(Settings(db=str(tmp_path / "p.db"), clock="manual", port=0, retention="off")) as s:
        server = s.server
        assert server is not None
        store = server.sim.store
        partial = server.call(store.fetch_all("SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'"
                                              " AND sql LIKE '% WHERE %'"))
        assert {"bird_messages_finished", "outbox_finished"} <= {r[1] for r in partial}
        for table in sorted({r[0] for r in partial}):
            info = server.call(store.fetch_all(f"PRAGMA table_info({table})"))
            columns = [r[1] for r in info if not r[5]]  # the primary key aside
            marks = ", ".join("?" * len(columns))
            for sql in (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 - declared names
                        f"UPDATE {table} SET {', '.join(c + ' = ?' for c in columns)} WHERE rowid = ?"):  # noqa: S608
                params = [None] * sql.count("?")
                program = server.call(store.fetch_all("EXPLAIN " + sql, params))
                assert not [op for op in program if op[1] == "OpenEphemeral"], (table, sql)


def test_a_kind_whose_steps_take_long_takes_fewer_rows_a_step(sim: Simulator) -> None:
    """A step holds the event loop: one that took four times the target makes the next a quarter as large, quick
    steps grow back to the cap, and the size never drops below the floor (the sweep must outpace the traffic)."""
    server = sim.server
    assert server is not None
    retention: Retention = server.sim.retention
    assert retention._next_batch(BATCH, STEP_TARGET_S * 4) == BATCH // 4  # noqa: SLF001
    assert retention._next_batch(BATCH, STEP_TARGET_S * 1.01) == 198  # noqa: SLF001 - 200 / 1.01
    assert retention._next_batch(20, STEP_TARGET_S * 1.01) == 19  # noqa: SLF001 - always at least one fewer
    assert retention._next_batch(MIN_BATCH * 2, 10.0) == MIN_BATCH  # noqa: SLF001
    assert retention._next_batch(BATCH // 4, STEP_TARGET_S / 4) == BATCH // 2  # noqa: SLF001
    assert retention._next_batch(BATCH // 2 + 1, STEP_TARGET_S / 4) == BATCH  # noqa: SLF001
    assert retention._next_batch(50, STEP_TARGET_S * 0.75) == 50  # noqa: SLF001 - near the target: kept
    kinds = sim.control("GET", "/_sim/retention")["kinds"]
    assert {k["kind"]: k["stepRows"] for k in kinds} == dict.fromkeys(retention.kinds, BATCH)


def scrape(sim: Simulator) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = sim.http.get("/_sim/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_sweeps_and_rows(sim: Simulator) -> None:
    before = scrape(sim)
    for _ in range(3):
        sim.send_sms("+15551230000")
    sim.advance(120)
    grown = scrape(sim)
    assert grown[("provider_sim_retained_rows", (("kind", "bird.messages"),))] == 3
    assert grown[("provider_sim_retained_rows", (("kind", "outbox"),))] >= 3
    sim.advance(3 * DAY)
    sim.control("POST", "/_sim/retention/sweep")
    swept = scrape(sim)
    assert swept[("provider_sim_retention_sweeps_total", ())] == before[("provider_sim_retention_sweeps_total", ())] + 1
    assert swept[("provider_sim_retention_removed_rows_total", (("kind", "bird.messages"),))] == 3
    assert swept[("provider_sim_retention_removed_rows_total", (("kind", "outbox"),))] >= 3
    assert swept[("provider_sim_retained_rows", (("kind", "bird.messages"),))] == 0


@pytest.mark.slow
def test_a_sweep_over_a_million_rows_never_pauses_serving(db: Any) -> None:
    """A million finished deliveries, a tenth of them due: while the sweep removes those (and probes the rest),
    requests answered one after another through HTTP each wait far less than a pause of the old sweep (two
    deletes over every finished row in one transaction, holding the store for longer than this bound even with
    nothing due; docs/retention.md has the measurements)."""
    total, due = 1_000_000, 100_000
    settings = Settings(db=db("big"), clock="manual", port=0, log_level="warning", retention_interval=0,
                        retention="*=0,outbox=7d")
    with Simulator(settings) as s:
        server = s.server
        assert server is not None
        store = server.sim.store
        now = int(s.clock()["nowMs"])
        old, recent = now - 8 * DAY * 1000, now - DAY * 1000

        async def fill() -> None:
            async with store.transaction() as tx:
                if store.dialect == "postgresql":
                    await tx.execute(
                        "INSERT INTO outbox (provider, event, request_id, url, headers, body, created_at, status,"
                        " attempts) SELECT 'bird', 'sms.outbound', 'r' || g, 'http://127.0.0.1:9/', '{}',"
                        " '\\x7b7d'::bytea, CASE WHEN g <= ?::int THEN ?::bigint ELSE ?::bigint END + g,"
                        " 'delivered', 1 FROM generate_series(1, ?::int) AS g", (due, old, recent, total))
                else:
                    await tx.execute(
                        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)"
                        " INSERT INTO outbox (provider, event, request_id, url, headers, body, created_at, status,"
                        " attempts) SELECT 'bird', 'sms.outbound', 'r' || n, 'http://127.0.0.1:9/', '{}', x'7b7d',"
                        " CASE WHEN n <= ? THEN ? ELSE ? END + n, 'delivered', 1 FROM g", (total, due, old, recent))
                await tx.execute("INSERT INTO outbox_attempts (outbox_id, attempt, at, status_code)"
                                 " SELECT id, 1, created_at, 200 FROM outbox WHERE id <= ?", (due,))

        server.call(fill(), timeout=600)
        s.send_sms("+15551230000")  # warm: the send path's first call
        latencies: list[float] = []
        stop = threading.Event()

        def requests() -> None:
            with Simulator(url=s.server.url if s.server else "") as client:
                while not stop.is_set():
                    started = time.perf_counter()
                    assert client.send_sms("+15551230000")["status"] == "accepted"
                    latencies.append(time.perf_counter() - started)

        worker = threading.Thread(target=requests)
        worker.start()
        try:
            while len(latencies) < 20:  # the client is under way before the sweep starts
                time.sleep(0.01)
            swept_at = len(latencies)
            started = time.perf_counter()
            removed = s.control("POST", "/_sim/retention/sweep")["removed"]
            sweep_s = time.perf_counter() - started
            during = latencies[swept_at:]
        finally:
            stop.set()
            worker.join()
        assert removed["outbox"] == due
        assert len(during) > 10, (sweep_s, len(during))  # requests were answered all along the sweep
        # The sweep's steps each hold the store a few milliseconds; the bound leaves room for a noisy machine.
        assert max(during) < 0.15, (max(during), sorted(during)[-5:], sweep_s)
        started = time.perf_counter()  # nothing due: a probe per kind, answered as fast as any request
        assert not any(s.control("POST", "/_sim/retention/sweep")["removed"].values())
        assert time.perf_counter() - started < 0.15
        left = server.call(store.fetch_one("SELECT COUNT(*) FROM outbox_attempts"))
        assert left is not None and left[0] == 0


def test_postgres_one_process_sweeps_at_a_time(db: Any) -> None:
    """Of the processes on one database, the one holding the sweep lock sweeps; another skips its round."""
    if not db.postgres:
        pytest.skip("SQLite: one process per file (the file lock)")
    import asyncio

    import asyncpg

    from simulator.core.retention import SWEEP_LOCK

    url = db("fleet")
    settings = Settings(db=url, clock="manual", port=0, log_level="warning", retention_interval=0,
                        retention="*=0,bird.messages=1d")
    with Simulator(settings) as s:
        s.send_sms("+15551230000")
        s.advance(2 * DAY)
        holding, release, done = threading.Event(), threading.Event(), threading.Event()

        async def other_process() -> None:  # another worker of the fleet, in the middle of its sweep
            conn = await asyncpg.connect(url)
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", SWEEP_LOCK)
                    holding.set()
                    while not release.is_set():
                        await asyncio.sleep(0.01)
            finally:
                await conn.close()
                done.set()

        worker = threading.Thread(target=asyncio.run, args=(other_process(),))
        worker.start()
        try:
            assert holding.wait(10)
            sweeps = s.control("GET", "/_sim/retention")["sweeps"]
            assert s.control("POST", "/_sim/retention/sweep")["removed"] == {}  # its round is skipped
            assert s.control("GET", "/_sim/retention")["sweeps"] == sweeps
        finally:
            release.set()
            worker.join()
        assert done.is_set()
        assert s.control("POST", "/_sim/retention/sweep")["removed"]["bird.messages"] == 1
