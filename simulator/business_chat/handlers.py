"""Gateway HTTP handlers (MSP → "Apple"): authenticate, parse, validate, call the backend, serialise."""
from __future__ import annotations

import base64
import gzip
import hashlib
import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.business_chat import crypto, validation
from simulator.business_chat.auth import verify_request
from simulator.business_chat.errors import BCError, NotFound, header_error, invalid
from simulator.business_chat.provider import bc_of
from simulator.business_chat.service import BusinessChat
from simulator.core.codec import dumps_bytes
from simulator.core.compression import DecompressedTooLarge, gunzip_if_gzip
from simulator.core.errors import BodyTooLarge, MalformedBody, parse_json, read_body
from simulator.core.journal import add_note
from simulator.core.schemas import Issue
from simulator.core.simulation import Simulation

# What Apple's gateway answers a successful /message with (observed headers in Apple's doc example).
OK_HEADERS = {"cache-control": "no-cache, no-store", "strict-transport-security": "max-age=31536000",
              "x-frame-options": "DENY"}


def _sim(request: Request) -> Simulation:
    return request.app.state.sim  # type: ignore[no-any-return]


def _bc(request: Request) -> BusinessChat:
    return bc_of(request)


def _header(request: Request, *names: str) -> str | None:
    """First non-empty header among the spellings Apple's docs and samples use (matched case-insensitively)."""
    for name in names:
        value = request.headers.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _business(request: Request, bc: BusinessChat) -> str:
    source = _header(request, "source-id")
    if not source:
        raise header_error("source-id", "required (your business id)")
    if not bc.directory.known_business(source):
        raise header_error("source-id", f"{source!r} is not a business of this MSP")
    return source


async def send_message(request: Request) -> Response:
    return await _send(request, authenticate_endpoint=False)


async def authenticate(request: Request) -> Response:
    return await _send(request, authenticate_endpoint=True)


async def _send(request: Request, *, authenticate_endpoint: bool) -> Response:
    sim, bc = _sim(request), _bc(request)
    verify_request(request, bc.config)
    body = parse_json(await read_body(request, sim.settings.max_body_bytes))
    issues = validation.body_issues(sim.schemas, body, authenticate_endpoint=authenticate_endpoint,
                                    url_problem=sim.outbox.url_rule.problem)
    if isinstance(body, dict):
        issues = validation.header_issues(request.headers, body, businesses=set(bc.config.businesses)) + issues
    if issues:
        raise invalid(issues)
    business_id = body["sourceId"]
    customer = await bc.directory.customer_for(sim.store, business_id, body["destinationId"])
    if customer is None:
        raise NotFound(f"destination-id {body['destinationId']!r} is not a known customer of this business",
                       details=[{"header": "destination-id", "message": "not recognized"}])
    if bc.config.enforce_capabilities:
        problem = validation.capability_issue(body, customer)
        if problem:
            raise invalid([problem])
    want_ref = (_header(request, "include-data-ref") or "").lower() == "true"
    notes: list[str] = []
    result = await bc.send(business_id, customer, body, want_ref, notes)
    for note in notes:  # Apple answers 200 all the same: the journal tells the developer
        add_note(request.scope, note)
    if result is None:
        return Response(status_code=200, headers=OK_HEADERS)
    return JSONResponse(result, headers=OK_HEADERS)


async def pre_upload(request: Request) -> Response:
    bc = _bc(request)
    verify_request(request, bc.config)
    business_id = _business(request, bc)
    raw = _header(request, "size", "mmcs-size")
    if raw is None:
        raise header_error("size", "required: the byte size of the encrypted file (size or MMCS-Size)")
    try:
        size = int(raw)
    except ValueError:
        raise header_error("size", f"must be an integer, got {raw!r}") from None
    if not 0 < size <= bc.config.max_attachment_bytes:
        raise header_error("size", f"must be between 1 and {bc.config.max_attachment_bytes} bytes")
    return JSONResponse(await bc.pre_upload(business_id, size))


async def upload(request: Request) -> Response:
    """The storage host's upload URL (no Authorization, like MMCS: the URL is the credential). The token and the
    size /preUpload declared are checked before the body is read, and no more than that size is ever read: an
    unknown URL or an oversized body costs the simulator nothing. Answers 200 as Apple's sample requires."""
    bc = _bc(request)
    token = request.path_params["token"]
    declared_size = await bc.upload_ticket(token)
    sent = request.headers.get("content-length")
    if sent is not None and sent.isascii() and sent.isdigit() and int(sent) != declared_size:
        raise bc.size_mismatch(int(sent), declared_size)
    try:
        data = await read_body(request, declared_size)
    except BodyTooLarge:
        raise bc.size_mismatch(None, declared_size) from None
    checksum = await bc.upload(token, data)
    # Apple documents only fileChecksum. size and receipt are our choice (docs/business-chat.md): the bytes
    # stored, and an opaque token naming this upload, which nothing asks for again.
    receipt = base64.b64encode(hashlib.sha256(f"{token}:{checksum}".encode()).digest()[:18]).decode()
    return JSONResponse({"singleFile": {"fileChecksum": checksum, "size": len(data), "receipt": receipt}})


async def pre_download(request: Request) -> Response:
    bc = _bc(request)
    verify_request(request, bc.config)
    business_id = _business(request, bc)
    values: dict[str, str] = {}
    for name in ("url", "owner", "signature"):
        value = _header(request, name, f"mmcs-{name}")
        if value is None:
            raise header_error(name, f"required ({name} or MMCS-{name.capitalize()})")
        values[name] = value
    signature = crypto.signature_bytes(values["signature"])
    if signature is None:
        raise header_error("signature", "must be base64 of the signature bytes (or its hex form)")
    url = await bc.pre_download(business_id, values["url"], values["owner"], signature)
    return JSONResponse({"download-url": url})


async def download(request: Request) -> Response:
    sim, bc = _sim(request), _bc(request)
    data = await bc.blobs.download(sim.store, request.path_params["token"])
    if data is None:
        raise NotFound("download URL unknown or expired; call /v1/preDownload again")
    return Response(data, media_type="application/octet-stream")


async def decode_payload(request: Request) -> Response:
    """Raw decrypted IDR bytes (gzip'd JSON, or plain JSON) → the interactive data JSON."""
    sim, bc = _sim(request), _bc(request)
    verify_request(request, bc.config)
    _business(request, bc)
    bid = _header(request, "bid")
    if bid is None:  # digest §3: required, the bid of the interactiveDataRef (Apple's sample sends it)
        raise header_error("bid", "required: the bid of the interactiveDataRef being decoded")
    raw = await read_body(request, sim.settings.max_body_bytes)
    if not raw:
        raise BCError("the body must be the decrypted interactive data bytes")
    try:
        # Held to the body limit once decompressed, as Apache's mod_deflate holds an inflated request body to
        # LimitRequestBody: every payload the simulator makes decompresses well within it.
        decoded = gunzip_if_gzip(raw, sim.settings.max_body_bytes)
    except DecompressedTooLarge as exc:
        raise BCError(f"the payload {exc}: the limit is the request body limit (PROVIDER_SIM_MAX_BODY_BYTES)",
                      status=413, code="PayloadTooLarge") from None
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
        raise BCError("body starts like gzip but does not decompress; was it decrypted with the right key?") from None
    try:
        data: Any = parse_json(decoded)
    except MalformedBody as exc:
        raise BCError(f"cannot decode payload: {exc.message}; was it decrypted with the right key?") from None
    if isinstance(data, dict) and data.get("bid") not in (None, bid):
        raise invalid([Issue(("headers", "bid"), f"bid header {bid!r} does not match the payload's bid")])
    return Response(dumps_bytes(data), media_type="application/json")


async def construct_payload(request: Request) -> Response:
    """(Beta at Apple) An App Clip rich link from its URL: {"version", "richLinkDataRef"}; 400 without an App Clip."""
    sim, bc = _sim(request), _bc(request)
    verify_request(request, bc.config)
    business_id = _business(request, bc) if _header(request, "source-id") else ""
    body = parse_json(await read_body(request, sim.settings.max_body_bytes))
    issues = sim.schemas.issues("business_chat/construct-payload", body)
    if issues:
        raise invalid(issues)
    link = body["link"]
    return JSONResponse(await bc.construct_payload(business_id, link["url"], link.get("storeRegion")))
