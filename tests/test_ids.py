"""Seeded ids: the fast UUID formatting gives exactly what the uuid module would, so a seed replays the same ids."""
from __future__ import annotations

import random
import uuid

from simulator.core.ids import Randomness


def test_uuid_matches_the_uuid_module_for_the_same_bits() -> None:
    ours = Randomness(1234)
    reference = random.Random(1234)
    for _ in range(5000):
        expected = str(uuid.UUID(int=reference.getrandbits(128), version=4))
        got = ours.uuid()
        assert got == expected
        parsed = uuid.UUID(got)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_reseed_replays_ids() -> None:
    ids = Randomness(7)
    first = [ids.uuid() for _ in range(3)] + [ids.hex(8)]
    ids.reseed()
    assert [ids.uuid() for _ in range(3)] + [ids.hex(8)] == first


def test_bearer_credentials_do_not_follow_the_seed(db) -> None:
    """Two simulators on one seed hand out the same ids, but their upload credentials come from the OS: knowing
    the seed a run printed does not let anyone forge an upload to it."""
    from simulator.server import SimulatorServer
    from simulator.settings import Settings
    from simulator.testing import SimClient

    tickets, messages = [], []
    for name in ("one", "two"):
        with SimulatorServer(Settings(db=db(name), clock="manual", port=0, seed=5)) as server, \
                SimClient(server.url) as client:
            messages.append(client.send_sms("+15551230000")["id"])
            answer = client.http.post(f"/workspaces/{client.workspace_id}/presigned-upload",
                                      json={"contentType": "image/png"}, headers=client.bird_headers)
            assert answer.status_code == 200, answer.text
            tickets.append(answer.json())
    assert messages[0] == messages[1]  # seeded
    one, two = (t["uploadFormData"] for t in tickets)
    assert one["x-amz-security-token"] != two["x-amz-security-token"]
    assert one["x-amz-signature"] != two["x-amz-signature"]
