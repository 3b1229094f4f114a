"""Bird's error shapes: RequestError {code, message} and ValidationError {code, message, details}."""
from __future__ import annotations

from starlette.responses import JSONResponse, Response

from simulator.core.errors import SimulatorError
from simulator.core.schemas import Issue


class BirdError(SimulatorError):
    status = 400
    code = "BadRequest"


class Unauthorized(BirdError):
    status = 401
    code = "Unauthorized"


class Forbidden(BirdError):
    status = 403
    code = "Forbidden"


class NotFound(BirdError):
    status = 404
    code = "NotFound"

    def __init__(self, what: str) -> None:
        super().__init__(f"The requested resource does not exist: {what}")


class Conflict(BirdError):
    status = 409
    code = "Conflict"


class InvalidPayload(BirdError):
    """422 with details keyed by Bird-style JSON paths (`.receiver.contacts[0]`)."""

    status = 422
    code = "InvalidPayload"

    def __init__(self, details: dict[str, list[str]], message: str | None = None) -> None:
        first_key = next(iter(details), "")
        first = details.get(first_key, [""])[0] if details else ""
        # Body fields are keyed by JSON path (".receiver…"); query parameters by their name.
        summary = message or ("One or more fields provided in the request body are malformed"
                              if not first_key or first_key.startswith(".") else "Invalid query parameters")
        if first_key:
            summary = f"{summary}: {first_key}: {first}"
        super().__init__(summary, details=details)

    @classmethod
    def from_issues(cls, issues: list[Issue], prefix: str = "") -> InvalidPayload:
        details: dict[str, list[str]] = {}
        for issue in issues:
            details.setdefault(prefix + issue.jq_path(), []).append(issue.message)
        return cls(details)

    @classmethod
    def one(cls, path: str, message: str) -> InvalidPayload:
        return cls({path: [message]})


def bird_shape(status: int, code: str, message: str) -> Response:
    if status == 404 and code == "NotFound" and not message.startswith("The requested resource"):
        message = f"The requested resource does not exist: {message}"
    return JSONResponse({"code": code, "message": message}, status_code=status)
