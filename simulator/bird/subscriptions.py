"""Bird webhook subscriptions (Notifications API) and their delivery logs. Never sees HTTP.

Rules (docs.bird.com, Notifications API): filters are AND-ed; at most one channelId filter; up to 5
subscriptions with the same filter combination; the signing key is echoed on create only. Bird accepts only
public https URLs; the simulator also accepts http(s)://localhost and loopback addresses while
``settings.allow_http_webhooks`` is on (the default), because that is where a developer's app runs: the rule
every URL the simulator calls follows (core/urls.py).
"""
from __future__ import annotations

import json
from typing import Any

from simulator.bird import views
from simulator.bird.config import BirdWorld
from simulator.bird.errors import BirdError, InvalidPayload, NotFound
from simulator.bird.lifecycle import ALL_STATUSES
from simulator.core.clock import iso_ms
from simulator.core.deliveries import DeliveryFilter
from simulator.core.simulation import Simulation

EVENTS = ("sms.outbound", "sms.inbound", "sms.interaction")
# Channel platforms Bird has besides SMS: their events can be subscribed to (integrations subscribe to
# <platform>.inbound for every platform) but never fire here, as no such channel exists in the simulator.
OTHER_PLATFORMS = ("whatsapp", "email", "rcs", "telegram", "line", "instagram", "facebook", "linkedin", "viber",
                   "wechat", "apple", "push", "voice", "mms")
EVENT_KINDS = ("outbound", "inbound", "interaction")
FILTER_KEYS = ("channelId", "messageStatus", "interactionType", "platformId")
INTERACTION_TYPES = ("clicked", "unsubscribe-request", "subscribe-consent")
MAX_PER_FILTER_SET = 5
EXECUTION_STATUSES = ("succeeded", "failed", "retrying", "pending")


def _filter_set(filters: list[dict[str, str]]) -> str:
    return json.dumps(sorted((f["key"], f["value"]) for f in filters), separators=(",", ":"))


def _execution_status(status: str, attempts: int) -> str:
    if status == "delivered":
        return "succeeded"
    if status in ("failed", "cancelled"):
        return "failed"
    return "retrying" if attempts else "pending"


class Subscriptions:
    def __init__(self, sim: Simulation, world: BirdWorld) -> None:
        self.sim = sim
        self.world = world

    # -- validation -------------------------------------------------------------------------------------------

    def _check_filters(self, workspace_id: str, filters: Any) -> list[dict[str, str]]:
        if filters is None:
            return []
        problems: dict[str, list[str]] = {}
        seen: set[str] = set()
        ws = self.world.workspaces[workspace_id]
        for i, item in enumerate(filters):
            key, value = item["key"], item["value"]
            path = f".eventFilters[{i}]"
            if key in seen:
                problems.setdefault(path, []).append(
                    f'only one "{key}" filter is allowed per subscription (filters are AND-ed); create another'
                    " subscription for another value")
            seen.add(key)
            if key == "channelId" and value not in ws.channels:
                problems.setdefault(path + ".value", []).append(f"channel {value} does not exist in workspace"
                                                                f" {workspace_id}")
            elif key == "messageStatus" and value not in ALL_STATUSES:
                problems.setdefault(path + ".value", []).append(f"unknown message status {value!r}; one of "
                                                                + ", ".join(ALL_STATUSES))
            elif key == "interactionType" and value not in INTERACTION_TYPES:
                problems.setdefault(path + ".value", []).append(f"unknown SMS interaction type {value!r}; one of "
                                                                + ", ".join(INTERACTION_TYPES))
        if problems:
            raise InvalidPayload(problems)
        return [{"key": f["key"], "value": f["value"]} for f in filters]

    def _check_url(self, url: str) -> None:
        problem = self.sim.outbox.url_rule.problem(url)  # the one rule for what the simulator calls
        if problem:
            raise InvalidPayload.one(".url", problem)

    # -- CRUD -------------------------------------------------------------------------------------------------

    def _view(self, row: Any, *, with_key: bool = False) -> dict[str, Any]:
        (sub_id, org, ws, service, event, url, key, template, status, filters, created, updated) = tuple(row)
        view: dict[str, Any] = {
            "id": sub_id, "organizationId": org, "workspaceId": ws, "service": service, "event": event,
            "eventFilters": json.loads(filters), "url": url, "template": template or None, "status": status,
            "createdAt": iso_ms(created), "updatedAt": iso_ms(updated),
        }
        if with_key:
            view["signingKey"] = key
        return view

    _COLUMNS = ("id, organization_id, workspace_id, service, event, url, signing_key, template, status, filters,"
                " created_at, updated_at")

    async def create(self, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
        platform, _, kind = body["event"].partition(".")
        if body["event"] not in EVENTS and (platform not in OTHER_PLATFORMS or kind not in EVENT_KINDS):
            raise InvalidPayload.one(".event", f'unknown event "{body["event"]}": expected <platform>.<kind> with kind '
                                     f'{", ".join(EVENT_KINDS)} (the simulator delivers {", ".join(EVENTS)})')
        self._check_url(body["url"])
        filters = self._check_filters(workspace_id, body.get("eventFilters"))
        filter_set = _filter_set(filters)
        now = self.sim.clock.now_ms()
        sub_id = self.sim.random.uuid()
        async with self.sim.store.transaction() as tx:
            tx.forget("bird_webhook_subscriptions")
            row = await tx.fetch_one(
                "SELECT COUNT(*) FROM bird_webhook_subscriptions WHERE workspace_id=? AND service=? AND event=?"
                " AND filter_set=?", (workspace_id, body["service"], body["event"], filter_set))
            if row is not None and row[0] >= MAX_PER_FILTER_SET:
                raise BirdError(
                    f"at most {MAX_PER_FILTER_SET} subscriptions may share the same event and filter combination;"
                    " delete one or use different eventFilters", status=409, code="Conflict")
            await tx.execute(
                "INSERT INTO bird_webhook_subscriptions (id, organization_id, workspace_id, service, event, url,"
                " signing_key, template, status, filters, filter_set, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sub_id, self.world.organization_id, workspace_id, body["service"], body["event"],
                 body["url"], body.get("signingKey") or "", body.get("template") or "", "active",
                 json.dumps(filters, separators=(",", ":")), filter_set, now, now))
        return await self.get(workspace_id, sub_id, with_key=True)

    async def get(self, workspace_id: str, sub_id: str, *, with_key: bool = False) -> dict[str, Any]:
        row = await self.sim.store.fetch_one(
            f"SELECT {self._COLUMNS} FROM bird_webhook_subscriptions WHERE workspace_id=? AND id=?",  # noqa: S608 - fixed column names, placeholders
            (workspace_id, sub_id))
        if row is None:
            raise NotFound(f"webhook subscription {sub_id} not found")
        return self._view(row, with_key=with_key)

    async def list(self, workspace_id: str, limit: int, page_token: str | None) -> dict[str, Any]:
        after = _int_token(page_token)
        rows = await self.sim.store.fetch_all(
            f"SELECT {self._COLUMNS}, seq FROM bird_webhook_subscriptions WHERE workspace_id=? AND seq > ?"  # noqa: S608 - fixed column names, placeholders
            " ORDER BY seq LIMIT ?", (workspace_id, after, limit + 1))
        page = rows[:limit]
        return {"results": [self._view(tuple(r[i] for i in range(len(r) - 1))) for r in page],
                "nextPageToken": str(page[-1][-1]) if len(rows) > limit else ""}

    async def patch(self, workspace_id: str, sub_id: str, body: dict[str, Any]) -> dict[str, Any]:
        await self.get(workspace_id, sub_id)
        sets: list[str] = []
        params: list[Any] = []
        if "url" in body:
            self._check_url(body["url"])
            sets.append("url=?")
            params.append(body["url"])
        for field, column in (("signingKey", "signing_key"), ("template", "template"), ("status", "status")):
            if field in body:
                sets.append(f"{column}=?")
                params.append(body[field] or "")
        filter_set = None
        if "eventFilters" in body:
            filters = self._check_filters(workspace_id, body["eventFilters"])
            filter_set = _filter_set(filters)
            sets += ["filters=?", "filter_set=?"]
            params += [json.dumps(filters, separators=(",", ":")), filter_set]
        async with self.sim.store.transaction() as tx:
            if filter_set is not None:
                row = await tx.fetch_one(
                    "SELECT COUNT(*) FROM bird_webhook_subscriptions s WHERE workspace_id=? AND filter_set=? AND id!=?"
                    " AND (service, event) = (SELECT service, event FROM bird_webhook_subscriptions WHERE id=?)",
                    (workspace_id, filter_set, sub_id, sub_id))
                if row is not None and row[0] >= MAX_PER_FILTER_SET:
                    raise BirdError(f"at most {MAX_PER_FILTER_SET} subscriptions may share the same event and filter"
                                    " combination", status=409, code="Conflict")
            tx.forget("bird_webhook_subscriptions")
            await tx.execute(
                f"UPDATE bird_webhook_subscriptions SET {', '.join([*sets, 'updated_at=?'])} WHERE id=?",  # noqa: S608 - fixed column names, placeholders
                [*params, self.sim.clock.now_ms(), sub_id])
        return await self.get(workspace_id, sub_id)

    async def delete(self, workspace_id: str, sub_id: str) -> None:
        await self.get(workspace_id, sub_id)
        async with self.sim.store.transaction() as tx:
            tx.forget("bird_webhook_subscriptions")
            await tx.execute("DELETE FROM bird_webhook_subscriptions WHERE id=?", (sub_id,))
            # Retries still queued for it stop too: nobody expects events for a subscription they deleted.
            await self.sim.outbox.cancel_subscription(tx, sub_id, "subscription deleted")

    # -- logs -------------------------------------------------------------------------------------------------

    async def logs(self, workspace_id: str, sub_id: str, limit: int, page_token: str | None,
                   execution_status: str | None) -> dict[str, Any]:
        await self.get(workspace_id, sub_id)
        status, attempted = {"succeeded": ("delivered", None), "failed": ("failed", None),
                             "retrying": ("pending", True), "pending": ("pending", False)}.get(
                                 execution_status or "", (None, None))
        where = DeliveryFilter(provider="bird", subscription_id=sub_id, status=status, attempted=attempted,
                               before_id=_int_token(page_token) or None)
        found = await self.sim.outbox.deliveries.find(where, limit + 1)
        page = found[:limit]
        results = [{
            "requestId": d.request_id, "event": d.event, "url": d.url, "attemptCount": d.attempts,
            "httpStatusCode": d.last_status, "executionStatus": _execution_status(d.status, d.attempts),
            "error": d.last_error, "createdAt": iso_ms(d.created_at),
            "nextAttemptAt": iso_ms(d.next_attempt_at) if d.next_attempt_at is not None and d.status == "pending"
            else None,
        } for d in page]
        return {"results": results, "nextPageToken": str(page[-1].id) if len(found) > limit else ""}

    async def log_details(self, workspace_id: str, sub_id: str, request_id: str) -> dict[str, Any]:
        await self.get(workspace_id, sub_id)
        found = await self.sim.outbox.deliveries.find(
            DeliveryFilter(provider="bird", subscription_id=sub_id, request_id=request_id), 1, with_attempts=True)
        if not found:
            raise NotFound(f"no delivery with request id {request_id} for subscription {sub_id}")
        d = found[0]
        try:
            request_body: Any = json.loads(d.body)
        except ValueError:
            request_body = d.body.decode("utf-8", "replace")
        return {
            "requestId": d.request_id, "event": d.event, "url": d.url, "attemptCount": d.attempts,
            "executionStatus": _execution_status(d.status, d.attempts), "createdAt": iso_ms(d.created_at),
            "request": {"method": "POST", "url": d.url, "headers": d.headers, "body": request_body},
            "attempts": [{"attempt": a.attempt, "at": iso_ms(a.at_ms), "httpStatusCode": a.status_code,
                          "error": a.error, "durationMs": round(a.duration_ms, 3), "responseBody": a.response_body}
                         for a in d.attempt_log],
        }


def _int_token(token: str | None) -> int:
    return views.int_token(token) if token else 0
