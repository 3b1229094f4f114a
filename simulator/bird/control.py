"""Bird's part of the control plane (/_sim/bird/...): force outcomes, look at messages without an access key."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.bird import lifecycle
from simulator.control.common import control_body, sim_of
from simulator.control.errors import ControlError, ControlNotFound
from simulator.bird.errors import NotFound

FORCEABLE = {
    "processing": None, "sent": None, "delivered": None,
    "delivery_failed": "delivery_failed", "sending_failed": "sending_failed", "rejected": "rejected",
    "skipped": "skipped", "expired": "expired", "deleted": None,
}


async def force_status(request: Request) -> Response:
    """POST /_sim/bird/messages/{id}/status {"status": "delivery_failed"} → applied now, webhook emitted."""
    sim = sim_of(request)
    body = await control_body(request, required=True)
    status = body.get("status")
    if status not in FORCEABLE:
        raise ControlError(f'"status" must be one of {", ".join(sorted(FORCEABLE))}', details={"status": ["invalid"]})
    real_status = "delivery_failed" if status == "expired" else status
    try:
        message = await sim.providers["bird"].messages.force(request.path_params["message_id"], real_status,
                                                             FORCEABLE[status])
    except NotFound as exc:
        raise ControlNotFound(exc.message) from None
    return JSONResponse(message)


async def outcomes(request: Request) -> Response:
    sim = sim_of(request)
    return JSONResponse({"outcomes": sim.world.bird.outcomes, "available": list(lifecycle.OUTCOMES),
                         "timingProfiles": sim.world.bird.timing_profiles})


routes = [
    Route("/_sim/bird/messages/{message_id}/status", force_status, methods=["POST"]),
    Route("/_sim/bird/outcomes", outcomes, methods=["GET"]),
]
