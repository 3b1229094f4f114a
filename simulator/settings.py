"""Settings: the one place that reads the environment (PROVIDER_SIM_*)."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

ENV_PREFIX = "PROVIDER_SIM_"
DEFAULT_DB = ".provider-sim/simulator.db"
WILDCARD_HOSTS = ("", "0.0.0.0")  # noqa: S104 - compared with, never bound: these hosts are reached at loopback


def _to_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the simulator can be told. Flags > environment > defaults.

    Every field can be set by an environment variable named ``PROVIDER_SIM_<FIELD>`` (upper case).
    """

    host: str = "127.0.0.1"
    port: int = 8790
    db: str = DEFAULT_DB
    # "process": survives kill -9 (commits reach the OS, not the disk); "full": every COMMIT and checkpoint is
    # fsynced, so an OS crash or power loss loses nothing either (slower writes).
    durability: str = "process"
    config: str | None = None
    seed: int = 0
    clock: str = "real"  # "real" or "manual"
    clock_speed: float = 1.0  # real clock only: 60 = one simulated minute per wall second
    start_time: str | None = None  # RFC 3339; where the clock starts (manual default: now, rounded to the second)
    public_url: str | None = None  # base URL used in generated links (media, uploads); default http://host:port
    media_dir: str | None = None  # default: "<db>.media" next to the db file, a temp dir for :memory:
    max_body_bytes: int = 2 * 1024 * 1024
    max_upload_bytes: int = 100 * 1024 * 1024
    webhook_timeout: float = 5.0
    webhook_concurrency: int = 32
    journal_size: int = 2000
    # A fleet on PostgreSQL (core/fleet.py): a process silent this long (wall seconds) is gone, and the due jobs it
    # had claimed are taken over by the others.
    fleet_lease_seconds: float = 10.0
    # How long what accumulates is kept, in simulator time (core/retention.py, docs/retention.md): "" = each kind's
    # default; "kind=duration,..." overrides some ("*" every kind); "off" keeps everything (the test fixtures').
    retention: str = ""
    retention_interval: float = 10.0  # wall-clock seconds between retention sweeps
    log_level: str = "info"
    allow_http_webhooks: bool = True
    # More host names webhook URLs may use while allow_http_webhooks is on (comma-separated), besides localhost
    # and loopback addresses: from a container the developer's app is host.docker.internal or a compose service.
    webhook_hosts: str = ""
    # More Host names the control plane answers to (comma-separated; "*": any), besides loopback names, the bound
    # address and the public URL's host: a page on another site that rebinds its DNS name to 127.0.0.1 arrives
    # with its own name as Host and is refused (simulator/control/access.py).
    allowed_hosts: str = ""
    # Guards /_sim/* but /_sim/health, web UI included (simulator/control/access.py). Never printed or logged.
    control_token: str | None = field(default=None, repr=False)
    # Freeze start-up objects out of the cyclic GC and collect less often: a third of an hour-long advance was
    # garbage collection. Process-wide, so `provider-sim serve` (which owns its process) turns it on; the
    # in-process fixture leaves the test process's GC alone unless told.
    tune_gc: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Unpack[SettingsFields]) -> Settings:
        """Build settings from ``PROVIDER_SIM_*`` variables, then apply explicit overrides (flags; a None, as click
        passes for a flag not given, is no override)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}  # field name -> a value of that field's type
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Unpack[SettingsFields]) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def loopback_host(self) -> str:
        """Where this process reaches its own server: the host, or 127.0.0.1 when bound to every interface."""
        return "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.loopback_host}:{self.port}"


class SettingsFields(TypedDict, total=False):
    """The fields of :class:`Settings` as keyword arguments (``replace``, ``from_env``); a test keeps the two alike."""

    host: str
    port: int
    db: str
    durability: str
    config: str | None
    seed: int
    clock: str
    clock_speed: float
    start_time: str | None
    public_url: str | None
    media_dir: str | None
    max_body_bytes: int
    max_upload_bytes: int
    webhook_timeout: float
    webhook_concurrency: int
    journal_size: int
    fleet_lease_seconds: float
    retention: str
    retention_interval: float
    log_level: str
    allow_http_webhooks: bool
    webhook_hosts: str
    allowed_hosts: str
    control_token: str | None
    tune_gc: bool


def _coerce(name: str, annotation: object, raw: str) -> str | int | float | bool:
    kind = str(annotation)
    try:
        if "bool" in kind:
            return _to_bool(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: {exc}") from None
    return raw
