"""JWTs both ways: MSP → gateway (HS256, iss = MSP id) and gateway → MSP webhook (HS256, aud = MSP id).

`iat` is compared with wall time, not the simulator clock: the MSP mints and checks tokens with its own
real clock, and a manual simulator clock that was advanced would otherwise make every token "from the future".
"""
from __future__ import annotations

import time

from starlette.requests import Request

from simulator.business_chat.config import BCConfig
from simulator.business_chat.errors import Forbidden, Unauthorized

CLOCK_SKEW_S = 300


def verify_request(request: Request, config: BCConfig) -> dict[str, object]:
    header = request.headers.get("authorization")
    if not header or not header.strip():
        raise Unauthorized("missing Authorization header; expected 'Authorization: Bearer <JWT>'",
                           details=[{"header": "authorization", "message": "missing"}])
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Forbidden("Authorization must be 'Bearer <JWT>'",
                        details=[{"header": "authorization", "message": f"scheme {scheme!r} is not Bearer"}])
    return verify_token(token.strip(), config)


VERIFIED_TOKENS_MAX = 1024


def verify_token(token: str, config: BCConfig) -> dict[str, object]:
    keys = (config.secret, config.secret_b64.encode()) if config.accept_raw_secret else (config.secret,)
    cache_key = (token, keys)
    claims = config.verified_tokens.get(cache_key)
    if claims is None:
        claims = _verify_signature(token, keys, config)
        if len(config.verified_tokens) >= VERIFIED_TOKENS_MAX:
            config.verified_tokens.clear()  # bounded; a busy MSP re-verifies each token once more
        config.verified_tokens[cache_key] = claims
    now = time.time()
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool) and exp <= now:
        raise _forbidden("invalid JWT: Signature has expired")
    if claims.get("iss") != config.msp_id:
        raise _forbidden(f"iss must be the MSP id {config.msp_id}, got {claims.get('iss')!r}")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise _forbidden("iat (issued-at, seconds) is required and must be a number")
    if iat > now + CLOCK_SKEW_S:
        raise _forbidden(f"iat {int(iat)} is in the future")
    if now - iat > config.jwt_max_age_s:
        raise _forbidden(f"token is {int(now - iat)} s old; the maximum age is {config.jwt_max_age_s} s")
    return claims


def _verify_signature(token: str, keys: tuple[bytes, ...], config: BCConfig) -> dict[str, object]:
    """The token's claims if its signature verifies with one of ``keys`` (and a present exp is in the future)."""
    import jwt  # on first use: PyJWT loads cryptography, ~30 ms of a start that may never see Business Chat

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _forbidden(f"not a JWT: {exc}") from None
    if header.get("alg") != "HS256":
        raise _forbidden(f"alg must be HS256, got {header.get('alg')!r}")
    last_error = "signature verification failed"
    for key in keys:
        try:
            return jwt.decode(token, key, algorithms=["HS256"],
                              options={"verify_aud": False, "verify_iat": False, "verify_exp": True})
        except jwt.InvalidSignatureError:
            last_error = ("signature verification failed (sign with base64-decoded secret)"
                          if not config.accept_raw_secret else "signature verification failed")
        except jwt.PyJWTError as exc:
            raise _forbidden(f"invalid JWT: {exc}") from None
    raise _forbidden(last_error)


def _forbidden(message: str) -> Forbidden:
    return Forbidden(message, details=[{"header": "authorization", "message": message}])


def webhook_token(config: BCConfig) -> str:
    """What Apple puts in the Authorization header of an inbound delivery: aud = MSP id, same secret."""
    import jwt

    return jwt.encode({"aud": config.msp_id, "iat": int(time.time())}, config.secret, algorithm="HS256")
