"""Access keys: `Authorization: AccessKey <key>` (also `Bearer <key>`), each with its allowed resources and methods."""
from __future__ import annotations

import hmac

from starlette.requests import Request

from simulator.bird.config import AccessKey, BirdWorld
from simulator.bird.errors import Forbidden, Unauthorized


def authenticate(request: Request, world: BirdWorld) -> AccessKey:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization header; expected 'Authorization: AccessKey <your access key>'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() not in ("accesskey", "bearer") or not token.strip():
        raise Unauthorized("malformed Authorization header; expected 'AccessKey <key>' or 'Bearer <key>'")
    token = token.strip()
    key = None
    for candidate, access_key in world.access_keys.items():
        if hmac.compare_digest(candidate.encode(), token.encode()):
            key = access_key
    if key is None:
        raise Unauthorized("the access key is not valid")
    path = request.scope["path"].rstrip("/") or "/"
    if not key.allows(path, request.method):
        raise Forbidden(f"the access key '{key.name or 'unnamed'}' has no policy allowing {request.method} {path}")
    return key
