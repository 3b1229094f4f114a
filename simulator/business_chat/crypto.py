"""Attachment cryptography as Apple's MSP samples do it: AES-256-CTR, 16 zero bytes of IV, key "00"+hex.

The MMCS checksum is not documented for Business Chat; we use the iMessage/MMCS form (0x81 ‖ SHA-1 over a
salt and the ciphertext, 21 bytes) because real signatures look like that. MSPs only pass it through.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re

ZERO_IV = bytes(16)
_KEY_FIELD = re.compile(r"^00[0-9a-fA-F]{64}$")
_SALT = b"com.apple.XattrObjectSalt\0com.apple.DataObjectSalt\0"


def aes_ctr(key: bytes, data: bytes) -> bytes:
    """CTR is its own inverse: the same call encrypts and decrypts."""
    # Imported on first use, as PyJWT is: cryptography costs start-up time a run without attachments never repays.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    ctx = Cipher(algorithms.AES(key), modes.CTR(ZERO_IV)).encryptor()
    return ctx.update(data) + ctx.finalize()


def key_field(key: bytes) -> str:
    # Upper case: Apple's 2025 sample decodes with base64.b16decode(key[2:]), which refuses lower case.
    return "00" + key.hex().upper()


def parse_key_field(value: object) -> bytes | None:
    """The 32-byte key from "00" + 64 hex chars (either case), or None when malformed."""
    if not isinstance(value, str) or not _KEY_FIELD.match(value):
        return None
    return bytes.fromhex(value[2:])


def checksum(ciphertext: bytes) -> bytes:
    return b"\x81" + hashlib.sha1(_SALT + ciphertext, usedforsecurity=False).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def signature_bytes(value: str) -> bytes | None:
    """Accept a signature as base64 (what preDownload headers carry) or hex (what attachments carry)."""
    value = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{42}", value):
        return bytes.fromhex(value)
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if raw:
        return raw
    try:
        return bytes.fromhex(value) if value else None
    except ValueError:
        return None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- does this key decrypt that blob? ------------------------------------------------------------------------
# CTR has no integrity check, so "the key decrypts it" can only be judged by what comes out. A wrong key gives
# uniformly random bytes; real files start with a recognisable header. Switch off with attachment_key_check: off.

_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF",),
    "application/zip": (b"PK",),
    "application/vnd.apple.pkpass": (b"PK",),
    "model/vnd.usdz+zip": (b"PK",),
    "audio/x-caf": (b"caff",),
    "image/heic": (),
}


def plaintext_problem(mime_type: str, plaintext: bytes) -> str | None:
    """Why this plaintext cannot be the result of the right key, or None when it plausibly is."""
    mime = (mime_type or "").split(";")[0].strip().lower()
    if not plaintext:
        return None
    magic = _MAGIC.get(mime)
    if magic:
        if not any(plaintext.startswith(m) for m in magic):
            expected = " or ".join(m[:8].hex(" ").upper() for m in magic)
            return f"decrypted bytes do not start like a {mime} file (expected {expected})"
        return None
    if mime.startswith("text/") or mime in ("application/json", "application/xml", "application/vcard"):
        try:
            plaintext[:4096].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < min(len(plaintext), 4096) - 4:  # a cut multi-byte character at the end is fine
                return f"decrypted bytes are not UTF-8 text (byte {exc.start})"
        return None
    head = plaintext[:64]
    if len(head) < 32:
        return None
    printable = sum(1 for b in head if 32 <= b < 127 or b in (9, 10, 13))
    zeros = head.count(0)
    # Random bytes: ~37% printable and ~0.25 zero bytes in 64; real headers have far more of either.
    if printable < len(head) * 0.7 and zeros < 3:
        return "decrypted bytes look random (wrong key?); the file header is not recognisable"
    return None
