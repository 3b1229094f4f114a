"""Helpers shared by control-plane handlers (body parsing, small validators)."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request

from simulator.control.errors import ControlError
from simulator.core.errors import parse_json, read_body
from simulator.core.simulation import Simulation


def sim_of(request: Request) -> Simulation:
    return request.app.state.sim  # type: ignore[no-any-return]


async def control_body(request: Request, *, required: bool = False) -> dict[str, Any]:
    raw = await read_body(request, sim_of(request).settings.max_body_bytes)
    if not raw.strip():
        if required:
            raise ControlError("a JSON object body is required")
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ControlError("the body must be a JSON object")
    return data


def number_field(data: dict[str, Any], name: str, *, minimum: float = 0, maximum: float = 10 * 365 * 86400,
                 default: float | None = None) -> float:
    value = data.get(name, default)
    if value is None:
        raise ControlError(f'"{name}" is required', details={name: ["required"]})
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f'"{name}" must be a number', details={name: ["must be a number"]})
    if not minimum <= value <= maximum:
        raise ControlError(f'"{name}" must be between {minimum} and {maximum}', details={name: ["out of range"]})
    return float(value)
