"""Decompression that stops at a limit: what a client sends compressed is held to a size once decompressed, so a
small gzip bomb (a few hundred KB that inflate to gigabytes) costs the limit, not the bomb."""
from __future__ import annotations

import gzip
import zlib

GZIP_MAGIC = b"\x1f\x8b"


class DecompressedTooLarge(ValueError):
    """The data decompresses to more than ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"decompresses to more than {limit} bytes")
        self.limit = limit


def gunzip(data: bytes, limit: int) -> bytes:
    """``gzip.decompress`` (members one after another, NUL padding after the last) that never produces more than
    ``limit`` bytes: past it, :class:`DecompressedTooLarge`. Broken data raises what ``gzip.decompress`` raises
    (``gzip.BadGzipFile``, ``EOFError``, ``zlib.error``)."""
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # a gzip member: header, deflate stream, trailer
        out += inflater.decompress(rest, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:  # more output was waiting behind the cap
            raise DecompressedTooLarge(limit)
        if not inflater.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        rest = inflater.unused_data
        if not rest.startswith(GZIP_MAGIC):
            if rest.strip(b"\x00"):
                raise gzip.BadGzipFile("trailing garbage after the last gzip member")
            return bytes(out)


def gunzip_if_gzip(data: bytes, limit: int) -> bytes:
    """The data decompressed if it starts like gzip, else as it is."""
    return gunzip(data, limit) if data.startswith(GZIP_MAGIC) else data
