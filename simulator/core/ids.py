"""Seeded randomness: every id, token and faker sentence comes from here, so a seed replays exactly."""
from __future__ import annotations

import random
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faker import Faker


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # version and variant bits
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


class Randomness:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        # Which of a fleet's processes draws from this seed (core/fleet.py): process 0 draws the seed's own
        # sequence, as a single process does; each other one a sequence of its own, so no two hand out one id.
        self.stream = 0
        self.rng = random.Random(seed)
        self._faker: Faker | None = None

    def _material(self) -> int | str:
        return self.seed if self.stream == 0 else f"{self.seed}/{self.stream}"

    def reseed(self, seed: int | None = None, *, stream: int | None = None) -> None:
        if seed is not None:
            self.seed = seed
        if stream is not None:
            self.stream = stream
        self.rng.seed(self._material())
        if self._faker is not None:
            self._faker.seed_instance(self._material())

    @property
    def faker(self) -> Faker:
        # Faker is slow to build (~100 ms): only when something first asks for fake text.
        if self._faker is None:
            from faker import Faker  # ~50 ms to import: only when fake text is first needed

            self._faker = Faker()
            self._faker.seed_instance(self._material())
        return self._faker

    def uuid(self) -> str:
        # The same string as str(uuid.UUID(int=bits, version=4)) (tested), in half the time: a send makes several.
        bits = (self.rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET
        h = "%032x" % bits  # noqa: UP031 - faster than f"{bits:032x}" or format(), on every send's hot path
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def hex(self, nbytes: int) -> str:
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def token_bytes(self, nbytes: int) -> bytes:
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")

    @staticmethod
    def secret_hex(nbytes: int) -> str:
        """A bearer credential (upload token, signing secret): from the OS's CSPRNG, never from the seed, so
        knowing a run's seed (printed, replayable) does not give away what unlocks its uploads and downloads."""
        return secrets.token_hex(nbytes)
