"""The MMCS-like blob store: preUpload → upload → attachment reference; store → preDownload → download."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulator.business_chat import crypto
from simulator.business_chat.config import BCConfig
from simulator.core.clock import Clock
from simulator.core.codec import dumps, loads
from simulator.core.ids import Randomness

if TYPE_CHECKING:
    from simulator.core.store import Row, Store, Tx


@dataclass
class Blob:
    id: str
    kind: str
    business_id: str
    customer_id: str
    owner: str
    url: str
    declared_size: int | None
    size: int | None
    checksum: bytes
    meta: dict[str, Any]  # free-form: what the blob's producer wants kept with it (e.g. a rich link's key)
    data: bytes | None

    @property
    def uploaded(self) -> bool:
        return self.data is not None


_COLUMNS = "id, kind, business_id, customer_id, owner, url, declared_size, size, checksum, meta, data"


def _blob(row: Row) -> Blob:
    return Blob(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                crypto.signature_bytes(row[8]) or b"" if row[8] else b"", loads(row[9]),
                bytes(row[10]) if row[10] is not None else None)


class BlobStore:
    def __init__(self, config: BCConfig, clock: Clock, random: Randomness, base_url: str) -> None:
        self.config = config
        self.clock = clock
        self.random = random
        self.base_url = base_url.rstrip("/")

    def _new_ids(self) -> tuple[str, str, str]:
        blob_id = self.random.hex(16)
        # Real owners look like "M6138…​.0000" and real URLs like https://p54-content.icloud.com/M6138…
        owner = "M" + blob_id + ".0000"
        return blob_id, owner, f"{self.base_url}/v1/mmcs/objects/{owner}"

    async def pre_upload(self, tx: Tx, business_id: str, declared_size: int) -> dict[str, str]:
        blob_id, owner, url = self._new_ids()
        token = self.random.secret_hex(20)
        await tx.execute(
            "INSERT INTO bc_blobs (id, kind, business_id, owner, url, upload_token, declared_size, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (blob_id, "upload", business_id, owner, url, token, declared_size, self.clock.now_ms()))
        return {"upload-url": f"{self.base_url}/v1/mmcs/upload/{token}", "mmcs-url": url, "mmcs-owner": owner}

    async def by_upload_token(self, conn: Store | Tx, token: str) -> Blob | None:
        row = await conn.fetch_one(f"SELECT {_COLUMNS} FROM bc_blobs WHERE upload_token=?",  # noqa: S608 - constant
                                   (token,))
        return _blob(row) if row else None

    async def save_upload(self, tx: Tx, blob: Blob, data: bytes) -> bytes:
        digest = crypto.checksum(data)
        await tx.execute("UPDATE bc_blobs SET data=?, size=?, checksum=? WHERE id=?",
                         (data, len(data), crypto.b64(digest), blob.id))
        return digest

    async def by_url(self, conn: Store | Tx, url: str) -> Blob | None:
        row = await conn.fetch_one(f"SELECT {_COLUMNS} FROM bc_blobs WHERE url=?", (url,))  # noqa: S608 - constant
        return _blob(row) if row else None

    async def store(self, tx: Tx, kind: str, business_id: str, customer_id: str, ciphertext: bytes,
                    meta: dict[str, Any] | None = None) -> Blob:
        """Store bytes the simulator produced itself (customer attachments, IDRs, dataRefs)."""
        blob_id, owner, url = self._new_ids()
        digest = crypto.checksum(ciphertext)
        await tx.execute(
            "INSERT INTO bc_blobs (id, kind, business_id, customer_id, owner, url, declared_size, size, checksum,"
            " meta, data, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (blob_id, kind, business_id, customer_id, owner, url, len(ciphertext), len(ciphertext),
             crypto.b64(digest), dumps(meta or {}), ciphertext, self.clock.now_ms()))
        return Blob(blob_id, kind, business_id, customer_id, owner, url, len(ciphertext), len(ciphertext), digest,
                    meta or {}, ciphertext)

    async def grant_download(self, tx: Tx, blob: Blob) -> str:
        token = self.random.secret_hex(20)
        expires = self.clock.now_ms() + self.config.download_url_ttl_s * 1000
        await tx.execute("INSERT INTO bc_downloads (token, blob_id, expires_at) VALUES (?,?,?)",
                         (token, blob.id, expires))
        return f"{self.base_url}/v1/mmcs/download/{token}"

    async def download(self, conn: Store | Tx, token: str) -> bytes | None:
        """The ciphertext, or None when the token is unknown or expired (the gateway answers 404)."""
        row = await conn.fetch_one(
            "SELECT b.data, d.expires_at FROM bc_downloads d JOIN bc_blobs b ON b.id=d.blob_id WHERE d.token=?",
            (token,))
        if row is None or row[0] is None or self.clock.now_ms() >= int(row[1]):
            return None
        return bytes(row[0])
