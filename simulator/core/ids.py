"""Seeded randomness: every id, token and faker sentence comes from here, so a seed replays exactly."""
from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faker import Faker


class Randomness:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._faker: Faker | None = None

    def reseed(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = seed
        self.rng.seed(self.seed)
        if self._faker is not None:
            self._faker.seed_instance(self.seed)

    @property
    def faker(self) -> Faker:
        # Faker is slow to build (~100 ms): only when something first asks for fake text.
        if self._faker is None:
            from faker import Faker  # ~50 ms to import: only when fake text is first needed

            self._faker = Faker()
            self._faker.seed_instance(self.seed)
        return self._faker

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, nbytes: int) -> str:
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def token_bytes(self, nbytes: int) -> bytes:
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
