"""Run a scenario's steps against a simulator (a SimClient on any URL), printing ✓/✗ per step.

Stops at the first unmet expectation and explains it with a diff. Deterministic for a seed: ids come from the
simulator's seeded RNG and time from its manual clock; nothing here reads the wall clock except webhook waits.
"""
from __future__ import annotations

import gzip
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from simulator.core.codec import is_digits
from simulator.replay.expectations import Unmet, check_response, closest, diff, mismatches
from simulator.replay.loader import Context, Scenario, ScenarioError, Step, expand
from simulator.testing import ReceivedRequest, SimClient, WebhookReceiver, dotted

SIGNING_KEY = "scenario-signing-key"
DEFAULT_WAIT_S = 3.0
REPLAY_START = "2026-01-05T09:00:00Z"


# What a step answered (a JSON object), kept under the step's name for {{steps.<name>.…}} and Result.captured.
StepOutput = dict[str, Any]


@dataclass
class Result:
    scenario: str
    ok: bool = True
    passed: int = 0
    total: int = 0
    failure: str = ""
    failed_step: int | None = None
    captured: dict[str, StepOutput] = field(default_factory=dict)


def build_context(client: SimClient, scenario: Scenario, receiver: WebhookReceiver | None) -> Context:
    info = client.info()
    bird = info.get("bird") or {}
    ws = (bird.get("workspaces") or [{}])[0]
    channels = ws.get("channels") or [{}]
    ctx = Context(
        bird={"key": (bird.get("accessKeys") or [{}])[0].get("key"), "org": bird.get("organizationId"),
              "workspace": ws.get("id"), "channel": channels[0].get("id"),
              "channels": [c.get("id") for c in channels], "numbers": [c.get("number") for c in channels],
              "workspaces": [w.get("id") for w in bird.get("workspaces") or []]},
        receiver={"url": receiver.url if receiver else None},
        participants=dict(scenario.participants), vars=dict(scenario.vars), steps={},
        filler=_Filler(), uuid=_uuids(),
    )
    bc = info.get("businessChat")
    if bc:
        customers = [c["id"] for c in bc.get("customers") or []]
        businesses = [b["id"] for b in bc.get("businesses") or []]
        ctx["bc"] = {"msp": bc.get("mspId"), "secret": bc.get("secret"), "business": (businesses or [None])[0],
                     "businesses": businesses, "customer": (customers or [None])[0], "customers": customers,
                     "jwt": lambda: _bc_jwt(bc.get("mspId"), bc.get("secret"), client)}
    return ctx


class _Filler(dict[str, str]):
    """``{{filler.11000}}``: that many characters of deterministic text (payload-size scenarios)."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and is_digits(key) and 0 < int(key) <= 10_000_000

    def __getitem__(self, key: str) -> str:
        base = "simulated filler text "
        n = int(key)
        return (base * (n // len(base) + 1))[:n]


def _uuids() -> Callable[[], str]:
    """``{{uuid}}``: a fresh UUID per use, the same sequence on every run (Business Chat message ids)."""
    import uuid

    counter = iter(range(1, 1 << 62))
    return lambda: str(uuid.UUID(int=next(counter), version=4))


def _bc_jwt(msp_id: str | None, secret: str | None, client: SimClient) -> str:
    import base64

    import jwt

    now = int(time.time())  # Apple's gateway (and the simulator's) check iat against wall time
    return jwt.encode({"iss": msp_id, "iat": now}, base64.b64decode(secret or ""), algorithm="HS256")


class Runner:
    def __init__(self, scenario: Scenario, client: SimClient, receiver: WebhookReceiver | None,
                 out: TextIO | None) -> None:
        self.scenario = scenario
        self.client = client
        self.receiver = receiver
        self.out = out
        self.ctx = build_context(client, scenario, receiver)
        self.signing_keys: list[str] = []

    def say(self, text: str) -> None:
        if self.out is not None:
            self.out.write(text + "\n")
            self.out.flush()

    def run(self) -> Result:
        steps = self.scenario.steps
        result = Result(self.scenario.name, total=len(steps))
        self.say(f"scenario: {self.scenario.name}  ({len(steps)} steps)")
        for step in steps:
            label = f"[{step.index + 1}/{len(steps)}]"
            try:
                captured = self.run_step(step)
            except (Unmet, ScenarioError) as exc:
                result.ok, result.failed_step = False, step.index
                result.failure = f"step {step.index + 1} ({step.name or step.action}): {step.describe()}\n{exc}"
                self.say(f"  {label} ✗ {step.describe()}")
                for line in str(exc).splitlines():
                    self.say(f"        {line}")
                break
            if step.name:
                self.ctx["steps"][step.name] = captured
                result.captured[step.name] = captured
            result.passed += 1
            self.say(f"  {label} ✓ {step.describe()}")
        clock = self.client.clock()
        self.say(f"{'PASS' if result.ok else 'FAIL'}: {result.passed}/{result.total} steps "
                 f"({'all passed' if result.ok else 'stopped at the first unmet expectation'}); "
                 f"simulated time {clock['now']}")
        return result

    # -- steps --------------------------------------------------------------------------------------------------

    def run_step(self, step: Step) -> StepOutput:
        args = expand(step.args, self.ctx)
        handler: Callable[[Any, Step], StepOutput] = getattr(self, f"do_{step.action}")
        return handler(args, step)

    def _request(self, args: dict[str, Any], step: Step, *, control: bool = False) -> StepOutput:
        method = str(args["method"]).upper()
        path = str(args["path"])
        if control and not path.startswith("/_sim"):
            raise ScenarioError(f"control steps call /_sim/... endpoints, not {path}")
        headers = {k: str(v) for k, v in (args.get("headers") or {}).items()}
        auth = args.get("auth", "none" if control or path.startswith("/_sim") else
                        ("business_chat" if path.startswith("/v1/") else "bird"))
        if auth == "bird" and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"AccessKey {self.ctx['bird']['key']}"
        elif auth == "business_chat" and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Bearer {self.ctx.lookup('bc.jwt')}"
        if auth == "business_chat" and isinstance(args.get("json"), dict):
            # Apple wants the envelope's ids repeated as headers; fill whatever the step left out.
            lowered = {k.lower() for k in headers}
            for header, key in (("id", "id"), ("source-id", "sourceId"), ("destination-id", "destinationId")):
                if header not in lowered and isinstance(args["json"].get(key), str):
                    headers[header] = args["json"][key]
        content = None
        if "json" in args:
            content = json.dumps(args["json"]).encode()
            headers.setdefault("content-type", "application/json")
            if args.get("gzip"):
                content = gzip.compress(content)
                headers["content-encoding"] = "gzip"
        response = self.client.http.request(method, path, content=content, headers=headers,
                                            params=args.get("query"))
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = response.text
        check_response(response.status_code, body, {k.lower(): v for k, v in response.headers.items()},
                       expand(step.expect, self.ctx) if step.expect else None, f"{method} {path}")
        if isinstance(body, dict):
            return {**body, "_status": response.status_code}
        return {"_status": response.status_code, "_body": body}

    def do_request(self, args: dict[str, Any], step: Step) -> StepOutput:
        return self._request(args, step)

    def do_control(self, args: dict[str, Any], step: Step) -> StepOutput:
        return self._request(args, step, control=True)

    def do_bird_send(self, args: dict[str, Any], step: Step) -> StepOutput:
        body: dict[str, Any] = {"receiver": {"contacts": [{"identifierValue": args["to"]}]},
                                "body": {"type": "text", "text": {"text": args.get("text", "hello")}}}
        body.update(args.get("extra") or {})
        ws = args.get("workspace") or self.ctx["bird"]["workspace"]
        ch = args.get("channel") or self.ctx["bird"]["channel"]
        step.expect = step.expect or {"status": 202}
        return self._request({"method": "POST", "path": f"/workspaces/{ws}/channels/{ch}/messages", "json": body,
                              "auth": "bird"}, step)

    def do_bird_subscribe(self, args: dict[str, Any], step: Step) -> StepOutput:
        if self.receiver is None:
            raise ScenarioError("bird_subscribe needs the runner's webhook receiver")
        key = args.get("signingKey", SIGNING_KEY)
        self.signing_keys.append(key)
        org, ws = self.ctx["bird"]["org"], self.ctx["bird"]["workspace"]
        created = []
        for event in args.get("events") or ["sms.outbound", "sms.inbound"]:
            body: dict[str, Any] = {"service": "channels", "event": event, "url": f"{self.receiver.url}/bird",
                                    "signingKey": key}
            if args.get("channel"):
                body["eventFilters"] = [{"key": "channelId", "value": args["channel"]}]
            response = self.client.http.post(f"/organizations/{org}/workspaces/{ws}/webhook-subscriptions",
                                             json=body, headers=self.client.bird_headers)
            if response.status_code >= 300:
                raise Unmet(f"creating a Bird webhook subscription for {event} failed: {response.status_code} "
                            f"{response.text[:500]}")
            created.append(response.json())
        return {"subscriptions": created}

    def do_advance(self, seconds: object, step: Step) -> StepOutput:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ScenarioError("advance takes a number of seconds")
        return self.client.advance(float(seconds))

    def do_force_status(self, args: dict[str, Any], step: Step) -> StepOutput:
        response = self.client.http.post(f"/_sim/bird/messages/{args['message']}/status",
                                         json={"status": args["status"]})
        check_response(response.status_code, response.json(), {}, None, "force status")
        message: StepOutput = response.json()
        return message

    def do_fault(self, args: dict[str, Any], step: Step) -> StepOutput:
        response = self.client.http.post("/_sim/faults", json=args)
        check_response(response.status_code, response.json(), {}, None, "add fault")
        rule: StepOutput = response.json()["rules"][0]
        return rule

    def do_clear_faults(self, args: object, step: Step) -> StepOutput:
        return self.client.clear_faults()

    def do_webhook_faults(self, args: dict[str, Any], step: Step) -> StepOutput:
        response = self.client.http.post("/_sim/faults", json={"webhooks": args})
        check_response(response.status_code, response.json(), {}, None, "webhook faults")
        knobs: StepOutput = response.json()["webhooks"]
        return knobs

    # -- expectations -------------------------------------------------------------------------------------------

    def do_expect_webhook(self, args: dict[str, Any], step: Step) -> StepOutput:
        if self.receiver is None:
            raise ScenarioError("expect_webhook needs the runner's webhook receiver")
        event, match, count = args.get("event"), args.get("match") or {}, int(args.get("count", 1))
        deadline = time.monotonic() + float(args.get("timeout", DEFAULT_WAIT_S))
        while True:
            arrived = list(self.receiver.requests)
            bodies = [(r, _json(r)) for r in arrived]
            hits = [(r, b) for r, b in bodies if isinstance(b, dict) and (event is None or b.get("event") == event)
                    and not mismatches(b, match)]
            if len(hits) >= count:
                break
            if time.monotonic() > deadline:
                same_event = [b for _, b in bodies
                              if isinstance(b, dict) and (event is None or b.get("event") == event)]
                listing = "\n".join(f"  {_one_line(b)}" for _, b in bodies) or "  (none)"
                text = (f"expected {count} webhook(s) event={event} matching {json.dumps(match)}; got {len(hits)}.\n"
                        f"arrived ({len(bodies)}):\n{listing}")
                if same_event and match:
                    text += "\nclosest:\n" + diff(match, closest(same_event, match))
                raise Unmet(text)
            self.client.http.post("/_sim/journal/wait", json={"kind": "webhook", "count": 1, "timeout": 0.2,
                                                              "sinceSeq": self._last_seq()})
        request, body = hits[count - 1]
        if args.get("signed"):
            self._verify_signature(request)
        return body

    def _last_seq(self) -> int:
        return int(self.client.http.get("/_sim/journal", params={"limit": 1}).json().get("lastSeq", 0))

    def _verify_signature(self, request: ReceivedRequest) -> None:
        from simulator.bird.webhooks import sign

        signature = request.header("messagebird-signature")
        timestamp = request.header("messagebird-request-timestamp")
        if not signature or not timestamp:
            raise Unmet(f"webhook is not signed: headers {sorted(request.headers)}")
        url = f"{self.receiver.url if self.receiver else ''}{request.path}"
        expected = [sign(key, timestamp, url, request.body) for key in self.signing_keys or [SIGNING_KEY]]
        if signature not in expected:
            raise Unmet(f"webhook signature {signature} does not verify with the subscription's signing key "
                        f"over timestamp {timestamp} and URL {url}")

    def do_expect_status(self, args: dict[str, Any], step: Step) -> StepOutput:
        ws = args.get("workspace") or self.ctx["bird"]["workspace"]
        response = self.client.http.get(f"/workspaces/{ws}/messages/{args['message']}",
                                        headers=self.client.bird_headers)
        if response.status_code != 200:
            raise Unmet(f"message {args['message']}: {response.status_code} {response.text[:300]}")
        message: StepOutput = response.json()
        wanted = {"status": args["status"], **(args.get("match") or {})}
        if mismatches(message, wanted):
            raise Unmet(f"message {args['message']} is not as expected\n{diff(wanted, message)}")
        return message

    def do_expect_journal(self, args: dict[str, Any], step: Step) -> StepOutput:
        filters = {k: v for k, v in args.items() if k != "count"}
        entries = self.client.journal(**filters)
        count = args.get("count")
        if (count is None and not entries) or (count is not None and len(entries) != count):
            recent = self.client.journal()[-15:]
            from simulator.testing import describe_journal

            raise Unmet(f"expected {count if count is not None else 'some'} journal entries matching {filters}, "
                        f"found {len(entries)}; recent:\n{describe_journal(recent)}")
        return {"entries": entries}

    def do_expect_device(self, args: dict[str, Any], step: Step) -> StepOutput:
        from simulator.replay.device import device_messages

        messages = device_messages(self.client, args["customer"], args.get("business"))
        candidates = messages[-1:] if args.get("last") else messages
        match = args.get("match") or {}
        contains = args.get("contains")
        for message in candidates[::-1]:
            if mismatches(message, match):
                continue
            if contains and contains not in json.dumps(message, ensure_ascii=False):
                continue
            return message
        listing = "\n".join(f"  {_one_line(m)}" for m in messages[-10:]) or "  (nothing)"
        text = f"the device of {args['customer']} shows nothing matching {json.dumps(match)}"
        if contains:
            text += f" containing {contains!r}"
        text += f"\nit shows (latest 10):\n{listing}"
        if candidates and match:
            text += "\nclosest:\n" + diff(match, closest(candidates, match))
        raise Unmet(text)


def _json(request: ReceivedRequest) -> object:
    try:
        return request.json()
    except (ValueError, OSError):
        return None


def _one_line(body: object) -> str:
    if isinstance(body, dict):
        payload = body.get("payload")
        if isinstance(payload, dict):
            return (f"event={body.get('event')} id={payload.get('id')} status={payload.get('status')} "
                    f"direction={payload.get('direction')}")
    return json.dumps(body, ensure_ascii=False, default=str)[:200]


def run_scenario(scenario: Scenario, client: SimClient, *, reset: bool = True, seed: int | None = None,
                 out: TextIO | None = None, receiver: WebhookReceiver | None = None) -> Result:
    """Run ``scenario`` against the simulator behind ``client``. Resets first (with the seed) unless told not to."""
    own = receiver is None
    receiver = receiver or WebhookReceiver().start()
    try:
        if reset:
            client.reset(seed=seed if seed is not None else scenario.seed)
        return Runner(scenario, client, receiver, out).run()
    finally:
        if own:
            receiver.stop()


def main_run(path: str, *, against: str | None, seed: int | None, out: TextIO | None = None,
             token: str | None = None, watch: Callable[[SimClient], Callable[[], None]] | None = None) -> int:
    """What ``provider-sim replay`` does for one scenario; returns the exit code. ``watch(client)`` is called
    before the scenario runs and what it returns after, while the simulator still runs (coverage reads it)."""
    out = out or sys.stdout
    from simulator.replay.loader import find_scenario, load_scenario

    try:
        scenario = load_scenario(find_scenario(path))
    except ScenarioError as exc:
        out.write(f"provider-sim replay: {exc}\n")
        return 2
    seed = seed if seed is not None else scenario.seed
    if against:
        if scenario.config:
            out.write(f"note: config {scenario.config} is ignored with --against (the running simulator's world "
                      "is used)\n")
        with SimClient(against, token=token) as client:
            done = watch(client) if watch else None
            result = run_scenario(scenario, client, seed=seed, out=out)
            if done:
                done()
        return 0 if result.ok else 1
    from simulator.server import SimulatorServer
    from simulator.settings import Settings

    # A fixed start instant makes every timestamp (and so the whole output) the same run after run.
    settings = Settings(db=":memory:", clock="manual", port=0, log_level="warning", config=scenario.config,
                        seed=seed or 0, start_time=REPLAY_START)
    with SimulatorServer(settings) as server, SimClient(server.url) as client:
        done = watch(client) if watch else None
        result = run_scenario(scenario, client, seed=seed, out=out)
        if done:
            done()
    return 0 if result.ok else 1


__all__ = ["Result", "Runner", "dotted", "main_run", "run_scenario"]
