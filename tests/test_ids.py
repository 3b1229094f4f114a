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
