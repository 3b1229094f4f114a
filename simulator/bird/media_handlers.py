"""HTTP layer for Bird media: presigned-upload tickets, the S3-style upload endpoint, downloads."""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from simulator.bird.errors import NotFound
from simulator.bird.handlers import _channel, _sim, _workspace, respond, schema_body
from simulator.bird.media import UUID, Media, S3Error
from simulator.bird.provider import bird_of
from simulator.core.codec import is_digits

FORM_OVERHEAD = 256 * 1024  # room for the form fields and multipart boundaries around the file


def _media(request: Request) -> Media:
    return bird_of(request).media


async def _content_type(request: Request) -> str:
    # An empty body is an invalid one (contentType is required): 422 as for {}, not a 400 about JSON.
    payload = await schema_body(request, "bird/presigned-upload", empty_as={})
    return str(payload["contentType"])


async def presign_workspace(request: Request) -> Response:
    ws = await _workspace(request)
    return respond(await _media(request).presign(ws.id, "", await _content_type(request)))


async def presign_channel(request: Request) -> Response:
    ws, channel = await _channel(request)
    return respond(await _media(request).presign(ws.id, channel.id, await _content_type(request)))


class _TooLarge(Exception):
    pass


async def upload(request: Request) -> Response:
    """POST /_media/upload: multipart/form-data like an S3 browser POST. 204 on success, S3 XML errors."""
    sim = _sim(request)
    media = _media(request)
    limit = sim.settings.max_upload_bytes + FORM_OVERHEAD
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise S3Error(412, "PreconditionFailed", "Bucket POST must be of the enclosure-type multipart/form-data",
                      Condition="Bucket POST must be of the enclosure-type multipart/form-data")
    declared = request.headers.get("content-length")
    if declared is not None and is_digits(declared) and int(declared) > limit:
        raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                      ProposedSize=declared, MaxSizeAllowed=sim.settings.max_upload_bytes)
    received = 0
    original_receive = request.receive

    async def limited_receive() -> Any:
        nonlocal received
        message = await original_receive()
        if message.get("type") == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge()
        return message

    limited = Request(request.scope, limited_receive)
    try:
        form = await limited.form(max_files=1, max_fields=64, max_part_size=64 * 1024)
    except _TooLarge:
        raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                      MaxSizeAllowed=sim.settings.max_upload_bytes) from None
    except HTTPException as exc:
        raise S3Error(400, "MalformedPOSTRequest", f"The body of your POST request is not well-formed"
                      f" multipart/form-data: {exc.detail}") from None
    try:
        fields: dict[str, str] = {}
        upload_file: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name.lower() == "file" and upload_file is None:
                    upload_file = value
                continue
            fields[name] = value
        if upload_file is None:
            raise S3Error(400, "InvalidArgument", "POST requires exactly one file upload per request.",
                          ArgumentName="file")
        upload_file.file.seek(0, 2)
        size = upload_file.file.tell()
        upload_file.file.seek(0)
        media_id, _ = await media.check_form(fields, size)
        temp = media.bytes.temp_path(media_id)
        digest = await asyncio.to_thread(_copy, upload_file, temp)
        await media.finish_upload(media_id, temp, size, digest)
    finally:
        await form.close()
    return Response(status_code=204, headers={"ETag": f'"{digest[:32]}"'})


def _copy(upload_file: UploadFile, target: Path) -> str:
    hasher = hashlib.sha256()
    with target.open("wb") as out:
        while True:
            chunk = upload_file.file.read(1024 * 1024)
            if not chunk:
                break
            hasher.update(chunk)
            out.write(chunk)
    return hasher.hexdigest()


def _media_id(request: Request) -> str:
    media_id = request.path_params["media_id"]
    if not UUID.match(media_id):
        raise NotFound(f"media {media_id[:80]} not found (media ids are UUIDs)")
    return str(media_id)


def _serve(found: tuple[bytes | Path, str] | None, media_id: str) -> Response:
    if found is None:
        raise NotFound(f"media {media_id} not found")
    source, content_type = found
    headers = {"Cache-Control": "private, max-age=0"}
    if isinstance(source, Path):
        return FileResponse(source, media_type=content_type, headers=headers)
    return Response(source, media_type=content_type, headers=headers)


async def get_channel_media(request: Request) -> Response:
    ws, channel = await _channel(request)
    media_id = _media_id(request)
    return _serve(await _media(request).locate(ws.id, media_id, channel_id=channel.id), media_id)


async def get_workspace_media(request: Request) -> Response:
    ws = await _workspace(request)
    media_id = _media_id(request)
    return _serve(await _media(request).locate(ws.id, media_id, channel_id=""), media_id)


async def get_message_media(request: Request) -> Response:
    ws = await _workspace(request)
    media_id = _media_id(request)
    message_id = request.path_params["message_id"]
    if not UUID.match(message_id):
        raise NotFound(f"message {message_id[:80]} not found")
    return _serve(await _media(request).locate(ws.id, media_id, message_id=message_id), media_id)

