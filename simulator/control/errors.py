"""Control-plane errors: {"error": {"code", "message", "details"?}}."""
from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from simulator.core.errors import SimulatorError


class ControlError(SimulatorError):
    status = 400
    code = "BadRequest"

    def render(self) -> Response:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return JSONResponse({"error": body}, status_code=self.status, headers=self.headers)


class ControlNotFound(ControlError):
    status = 404
    code = "NotFound"
