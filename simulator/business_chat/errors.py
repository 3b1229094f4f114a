"""Gateway errors. Apple documents only status codes (body format unknown), so every error answers JSON that
says what is wrong and where: {"code", "message", "errors": [{"pointer"|"header", "message"}]}."""
from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from simulator.core.errors import SimulatorError
from simulator.core.schemas import Issue


class BCError(SimulatorError):
    status = 400
    code = "BadRequest"

    def render(self) -> Response:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["errors"] = self.details
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class Unauthorized(BCError):
    status = 401
    code = "Unauthorized"


class Forbidden(BCError):
    status = 403
    code = "Forbidden"


class NotFound(BCError):
    status = 404
    code = "NotFound"


class ConversationClosed(BCError):
    code = "ConversationClosed"


class ConversationNotStarted(BCError):
    code = "ConversationNotStarted"


def header_error(name: str, message: str, status: int = 400, cls: type[BCError] = BCError) -> BCError:
    return cls(f"header {name}: {message}", status=status, details=[{"header": name, "message": message}])


def body_error(pointer: str, message: str) -> BCError:
    return BCError(f"{pointer}: {message}", details=[{"pointer": pointer, "message": message}])


def invalid(issues: list[Issue]) -> BCError:
    """A 400 listing every schema/semantic issue with its JSON pointer; the message names the first."""
    details = [{"pointer": i.pointer(), "message": i.message} for i in issues]
    first = details[0]
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return BCError(f"{first['pointer']}: {first['message']}{more}", details=details)


def bc_shape(status: int, code: str, message: str) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status)
