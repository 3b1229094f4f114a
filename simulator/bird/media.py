"""Bird media: presigned S3-style POST uploads served by the simulator itself, downloads, MMS media checks.

The store holds one metadata row per object. The bytes live in files under ``<media_dir>/bird/<mediaId>`` beside a
SQLite store, and in the database itself (``bird_media_bytes``) on PostgreSQL, where every process of a fleet, on
any host, must read what another one stored.
The upload ticket imitates an S3 browser-based POST: a base64 JSON policy (expiration + conditions) signed
with a per-simulator secret (HMAC-SHA256, hex). The upload endpoint checks it the way S3 does and answers
S3's XML errors.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from starlette.responses import Response

from simulator.bird.config import Channel
from simulator.core.clock import iso_ms, parse_rfc3339
from simulator.core.errors import SimulatorError
from simulator.core.simulation import Simulation
from simulator.core.store import Store, Tx

UPLOAD_PATH = "/_media/upload"
BUCKET = "provider-sim-media"
TICKET_TTL_S = 3600
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MEDIA_PATH = re.compile(r"^/workspaces/([^/]+)/(?:channels/([^/]+)/|messages/([^/]+)/)?media/([^/]+)/?$")
IGNORED_FIELDS = ("policy", "x-amz-signature", "file")


class S3Error(SimulatorError):
    """An S3-style error: <Error><Code/><Message/></Error> as application/xml."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message, status=status, code=code)
        self.extra = extra

    def render(self) -> Response:
        parts = [f"<Code>{escape(self.code)}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{k}>{escape(str(v))}</{k}>" for k, v in self.extra.items()]
        parts.append(f"<RequestId>{hashlib.sha256(self.message.encode()).hexdigest()[:16].upper()}</RequestId>")
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
        return Response(xml, status_code=self.status, media_type="application/xml")


def _amz_date(ms: int) -> str:
    return iso_ms(ms)[:19].replace("-", "").replace(":", "") + "Z"


class FileBytes:
    """Media bytes as files beside the store (SQLite)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, media_id: str) -> Path:
        if not UUID.match(media_id):  # ids are generated uuids; anything else never reaches the filesystem
            raise ValueError("not a media id")
        return self.root / media_id.lower()

    def temp_path(self, media_id: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.path_of(media_id).with_suffix(".part")

    async def put(self, tx: Tx, media_id: str, data: bytes) -> None:
        temp = self.temp_path(media_id)
        temp.write_bytes(data)
        os.replace(temp, self.path_of(media_id))

    async def put_file(self, tx: Tx, media_id: str, temp: Path) -> None:
        os.replace(temp, self.path_of(media_id))

    async def get(self, media_id: str) -> bytes | Path | None:
        """The bytes, or a file to stream them from."""
        path = self.path_of(media_id)
        return path if path.is_file() else None

    def remove(self, tx: Tx, media_ids: list[str]) -> None:
        def unlink() -> None:
            for media_id in media_ids:
                with contextlib.suppress(ValueError, OSError):
                    self.path_of(media_id).unlink(missing_ok=True)

        if media_ids:
            tx.after_commit.append(unlink)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class DatabaseBytes:
    """Media bytes in the database (PostgreSQL): every process of a fleet reads what another stored."""

    def __init__(self, store: Store, temp_root: Path) -> None:
        self.store = store
        self.temp_root = temp_root  # where an upload waits while it is being received

    def temp_path(self, media_id: str) -> Path:
        if not UUID.match(media_id):
            raise ValueError("not a media id")
        self.temp_root.mkdir(parents=True, exist_ok=True)
        return self.temp_root / f"{media_id.lower()}.part"

    async def put(self, tx: Tx, media_id: str, data: bytes) -> None:
        await tx.execute("INSERT INTO bird_media_bytes (id, data) VALUES (?, ?)", (media_id.lower(), data))

    async def put_file(self, tx: Tx, media_id: str, temp: Path) -> None:
        try:
            await self.put(tx, media_id, await asyncio.to_thread(temp.read_bytes))
        finally:
            await asyncio.to_thread(temp.unlink, missing_ok=True)

    async def get(self, media_id: str) -> bytes | Path | None:
        row = await self.store.fetch_one("SELECT data FROM bird_media_bytes WHERE id=?", (media_id.lower(),))
        return None if row is None else bytes(row[0])

    def remove(self, tx: Tx, media_ids: list[str]) -> None:
        """Nothing to do: a scoped reset deletes the rows with the media rows (see BirdProvider.reset_scope)."""

    def clear(self) -> None:
        """Nothing to do: a full reset empties the table."""


class Media:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self._secret: bytes | None = None
        root = sim.media_dir / "bird"
        self.bytes: FileBytes | DatabaseBytes = (
            DatabaseBytes(sim.store, root) if sim.store.dialect == "postgresql" else FileBytes(root))

    async def removed(self, tx: Tx, rows: list[Any]) -> None:
        """Retention removed these media rows (their id first): their bytes go too."""
        ids = [str(row[0]) for row in rows]
        if isinstance(self.bytes, DatabaseBytes):
            await tx.executemany("DELETE FROM bird_media_bytes WHERE id = ?", [(i.lower(),) for i in ids])
        else:
            self.bytes.remove(tx, ids)

    async def secret(self) -> bytes:
        """The per-simulator policy signing secret, kept in ``meta`` so tickets survive a restart."""
        if self._secret is None:
            row = await self.sim.store.fetch_one("SELECT value FROM meta WHERE key='bird_media_secret'")
            if row is None:
                value = self.sim.random.secret_hex(32)
                async with self.sim.store.transaction() as tx:
                    await tx.execute("INSERT INTO meta (key, value) VALUES ('bird_media_secret', ?)"
                                     " ON CONFLICT (key) DO NOTHING", (value,))
                row = await self.sim.store.fetch_one("SELECT value FROM meta WHERE key='bird_media_secret'")
            if row is None:  # written just above, in this very process
                raise RuntimeError("the media secret was not stored")
            self._secret = bytes.fromhex(row[0])
        return self._secret

    def media_url(self, workspace_id: str, channel_id: str, media_id: str, message_id: str = "") -> str:
        base = self.sim.settings.base_url
        if message_id:
            return f"{base}/workspaces/{workspace_id}/messages/{message_id}/media/{media_id}"
        if channel_id:
            return f"{base}/workspaces/{workspace_id}/channels/{channel_id}/media/{media_id}"
        return f"{base}/workspaces/{workspace_id}/media/{media_id}"

    # -- step 1: the ticket -----------------------------------------------------------------------------------

    async def presign(self, workspace_id: str, channel_id: str, content_type: str) -> dict[str, Any]:
        secret = await self.secret()
        now = self.sim.clock.now_ms()
        media_id = self.sim.random.uuid()
        key = f"{workspace_id}/{media_id}"
        media_url = self.media_url(workspace_id, channel_id, media_id)
        fields: dict[str, str] = {
            "Content-Type": content_type,
            "acl": "private",
            "bucket": BUCKET,
            "key": key,
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": f"SIMULATOR/{_amz_date(now)[:8]}/us-east-1/s3/aws4_request",
            "x-amz-date": _amz_date(now),
            "x-amz-meta-allowed-paths": urlsplit(media_url).path,
        }
        if channel_id:
            fields["x-amz-meta-channel-id"] = channel_id
        fields["x-amz-security-token"] = self.sim.random.secret_hex(24)
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", 0, self.sim.settings.max_upload_bytes])
        policy = {"expiration": iso_ms(now + TICKET_TTL_S * 1000), "conditions": conditions}
        policy_b64 = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode()).decode()
        fields["policy"] = policy_b64
        fields["x-amz-signature"] = hmac.new(secret, policy_b64.encode(), hashlib.sha256).hexdigest()
        async with self.sim.store.transaction() as tx:
            await tx.execute(
                "INSERT INTO bird_media (id, workspace_id, channel_id, object_key, content_type, status, expires_at,"
                " created_at) VALUES (?,?,?,?,?,?,?,?)",
                (media_id, workspace_id, channel_id, key, content_type, "pending", now + TICKET_TTL_S * 1000, now))
        return {"mediaUrl": media_url, "uploadUrl": self.sim.settings.base_url + UPLOAD_PATH,
                "uploadMethod": "POST", "uploadFormData": fields}

    # -- step 2: the upload -----------------------------------------------------------------------------------

    async def check_form(self, fields: dict[str, str], file_size: int) -> tuple[str, str]:
        """Verify an upload form the way S3 checks a POST policy. Returns (media id, content type)."""
        lower = {k.lower(): v for k, v in fields.items()}
        policy_b64 = lower.get("policy")
        if not policy_b64:
            raise S3Error(403, "AccessDenied", "Bucket POST must contain a field named 'policy'. If it is specified,"
                          " please check the order of the fields.")
        signature = lower.get("x-amz-signature")
        if not signature:
            raise S3Error(400, "InvalidArgument", "Bucket POST must contain a field named 'x-amz-signature'. If it"
                          " is specified, please check the order of the fields.", ArgumentName="x-amz-signature")
        try:
            policy = json.loads(base64.b64decode(policy_b64, validate=True))
            expiration = parse_rfc3339(policy["expiration"])
            conditions = policy["conditions"]
            if not isinstance(conditions, list):
                raise ValueError
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
        expected = hmac.new(await self.secret(), policy_b64.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the"
                          " signature you provided. Check your key and signing method.")
        if self.sim.clock.now_ms() > expiration:
            raise S3Error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        covered: set[str] = set()
        max_size = None
        for cond in conditions:
            if isinstance(cond, dict):
                items = [("eq", name, value) for name, value in cond.items()]
            elif isinstance(cond, list) and len(cond) == 3 and str(cond[0]).lower() == "content-length-range":
                max_size = int(cond[2])
                if not int(cond[1]) <= file_size <= max_size:
                    if file_size > max_size:
                        raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                                      ProposedSize=file_size, MaxSizeAllowed=max_size)
                    raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed"
                                  " size", ProposedSize=file_size, MinSizeAllowed=cond[1])
                continue
            elif isinstance(cond, list) and len(cond) == 3:
                items = [(str(cond[0]).lower(), str(cond[1]).lstrip("$"), cond[2])]
            else:
                raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition.")
            for op, name, value in items:
                covered.add(name.lower())
                if name.lower() == "bucket" and "bucket" not in lower:
                    continue
                got = lower.get(name.lower())
                ok = got == value if op == "eq" else got is not None and got.startswith(str(value))
                if not ok:
                    raise S3Error(403, "AccessDenied", "Invalid according to Policy: Policy Condition failed: "
                                  + json.dumps([op, "$" + name, value]))
        extra = sorted(k for k in lower if k not in covered and k not in IGNORED_FIELDS
                       and not k.startswith("x-ignore-"))
        if extra:
            raise S3Error(403, "AccessDenied", "Invalid according to Policy: Extra input fields: " + ", ".join(extra))
        if max_size is None and file_size > self.sim.settings.max_upload_bytes:
            raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                          ProposedSize=file_size, MaxSizeAllowed=self.sim.settings.max_upload_bytes)
        row = await self.sim.store.fetch_one("SELECT id, content_type FROM bird_media WHERE object_key=?",
                                             (lower.get("key", ""),))
        if row is None:
            raise S3Error(403, "AccessDenied", "Access Denied: this upload ticket is unknown (was the simulator"
                          " reset?)")
        return row[0], row[1]

    async def finish_upload(self, media_id: str, temp_path: Path, size: int, digest: str) -> None:
        async with self.sim.store.transaction() as tx:
            await self.bytes.put_file(tx, media_id, temp_path)
            await tx.execute("UPDATE bird_media SET status='uploaded', size=?, sha256=?, uploaded_at=? WHERE id=?",
                             (size, digest, self.sim.clock.now_ms(), media_id))

    # -- inbound media ----------------------------------------------------------------------------------------

    async def store_bytes(self, tx: Tx, workspace_id: str, channel_id: str, message_id: str, content_type: str,
                          data: bytes, file_name: str = "") -> str:
        media_id = self.sim.random.uuid()
        await self.bytes.put(tx, media_id, data)
        now = self.sim.clock.now_ms()
        await tx.execute(
            "INSERT INTO bird_media (id, workspace_id, channel_id, message_id, object_key, content_type, status, size,"
            " sha256, file_name, created_at, uploaded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (media_id, workspace_id, channel_id, message_id, f"{workspace_id}/{media_id}", content_type, "uploaded",
             len(data), hashlib.sha256(data).hexdigest(), file_name, now, now))
        return media_id

    async def read_uploaded(self, workspace_id: str, media_id: str) -> tuple[bytes, str] | None:
        row = await self.sim.store.fetch_one(
            "SELECT content_type FROM bird_media WHERE id=? AND workspace_id=? AND status='uploaded'",
            (media_id.lower(), workspace_id))
        if row is None or not UUID.match(media_id):
            return None
        found = await self.bytes.get(media_id)
        if isinstance(found, Path):
            found = await asyncio.to_thread(found.read_bytes)
        return (found, row[0]) if found is not None else None

    # -- downloads --------------------------------------------------------------------------------------------

    async def locate(self, workspace_id: str, media_id: str, *, channel_id: str | None = None,
                     message_id: str | None = None) -> tuple[bytes | Path, str] | None:
        """The media's bytes (or the file holding them) and content type, if it was uploaded where asked."""
        if not UUID.match(media_id):
            return None
        sql = "SELECT content_type FROM bird_media WHERE id=? AND workspace_id=? AND status='uploaded'"
        params: list[Any] = [media_id.lower(), workspace_id]
        if message_id is not None:
            sql += " AND message_id=?"
            params.append(message_id)
        else:
            sql += " AND message_id='' AND (channel_id=? OR channel_id='')"
            params.append(channel_id or "")
        row = await self.sim.store.fetch_one(sql, params)
        if row is None:
            return None
        found = await self.bytes.get(media_id)
        return (found, row[0]) if found is not None else None

    # -- MMS sends --------------------------------------------------------------------------------------------

    def _is_own(self, url: str) -> re.Match[str] | None:
        try:
            parts, base = urlsplit(url), urlsplit(self.sim.settings.base_url)
            if parts.port != base.port:
                return None
        except ValueError:
            return None
        loopback = {"127.0.0.1", "localhost", "::1"}
        same_host = parts.hostname == base.hostname or {parts.hostname, base.hostname} <= loopback
        return MEDIA_PATH.match(parts.path) if same_host else None

    async def send_issues(self, channel: Channel, request: dict[str, Any]) -> dict[str, list[str]]:
        """MMS media that points at this simulator must exist; external URLs are accepted as Bird does."""
        body = request.get("body")
        if not isinstance(body, dict):
            return {}
        refs: list[tuple[str, Any]] = []
        for kind, key in (("image", "images"), ("file", "files"), ("text", "attachments")):
            items = (body.get(kind) or {}).get(key) if isinstance(body.get(kind), dict) else None
            for i, item in enumerate(items or []):
                if isinstance(item, dict) and isinstance(item.get("mediaUrl"), str):
                    refs.append((f".body.{kind}.{key}[{i}].mediaUrl", item["mediaUrl"]))
        issues: dict[str, list[str]] = {}
        for path, url in refs:
            match = self._is_own(url)
            if match is None:
                continue
            ws_id, ch_id, msg_id, media_id = match.groups()
            row = await self.sim.store.fetch_one(
                "SELECT status, channel_id, message_id FROM bird_media WHERE id=? AND workspace_id=?",
                (media_id.lower(), ws_id)) if UUID.match(media_id) else None
            if row is None or (msg_id or "") != row[2] or (ch_id and ch_id != row[1] and row[1]):
                issues.setdefault(path, []).append(
                    f"media {media_id} does not exist on this simulator; upload it first (POST …/presigned-upload,"
                    " then POST the file to uploadUrl) and use the mediaUrl it returned")
            elif row[0] != "uploaded":
                issues.setdefault(path, []).append(f"media {media_id} was never uploaded: POST the file to the"
                                                   " uploadUrl from the presigned-upload response first")
            elif ws_id != channel.workspace_id or (row[1] and row[1] != channel.id):
                issues.setdefault(path, []).append(f"media {media_id} was uploaded for another"
                                                   f" {'workspace' if ws_id != channel.workspace_id else 'channel'}"
                                                   f" and cannot be sent from channel {channel.id}")
        return issues
