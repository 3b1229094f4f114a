"""The Business Chat backend: gateway operations and customer actions. Never sees HTTP requests."""
from __future__ import annotations

import gzip
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from simulator.business_chat import crypto, device
from simulator.business_chat.blobs import Blob, BlobStore
from simulator.business_chat.config import BCConfig, app_clip_title
from simulator.business_chat.customers import ActionError, Customer, find_interactive
from simulator.business_chat.directory import Directory
from simulator.business_chat.errors import BCError, NotFound, body_error, invalid
from simulator.business_chat.events import ConversationEvent
from simulator.business_chat.validation import check_attachments
from simulator.core import scheduler as sched
from simulator.core.codec import dumps_bytes, loads
from simulator.core.compression import gunzip
from simulator.core.scheduler import Job
from simulator.core.simulation import Simulation

log = logging.getLogger("simulator.business_chat")

# The customer's Apple Pay contact (override with "shippingContact" when answering); keys as in Apple Pay JS.
SHIPPING_CONTACT = {"givenName": "Jane", "familyName": "Appleseed", "phoneticGivenName": "", "phoneticFamilyName": "",
                    "emailAddress": "jane.appleseed@example.com", "phoneNumber": "+14085550100",
                    "addressLines": ["1 Apple Park Way"], "subLocality": "", "locality": "Cupertino",
                    "administrativeArea": "CA", "postalCode": "95014", "country": "United States",
                    "countryCode": "US"}
REDACTED_KEEP = ("locality", "administrativeArea", "postalCode", "country", "countryCode")


def _shipping_method(request: dict[str, Any], wanted: Any) -> dict[str, Any] | None:
    """The shipping method the customer picks: ``wanted`` (an identifier) or the first offered; None if none."""
    methods = [m for m in request.get("shippingMethods") or [] if isinstance(m, dict)]
    if not methods:
        return None
    if wanted is None:
        return methods[0]
    for method in methods:
        if method.get("identifier") == wanted:
            return method
    raise ActionError(f"unknown shippingMethod {wanted!r}; the request offers "
                      f"{[m.get('identifier') for m in methods]}")


class BusinessChat:
    def __init__(self, sim: Simulation, config: BCConfig) -> None:
        self.sim = sim
        self.config = config
        self.directory = Directory(config, sim.clock)
        self.blobs = BlobStore(config, sim.clock, sim.random, sim.settings.base_url)
        # Apple waits up to 30 s for the MSP's webhook answer (digest §6); Bird keeps the shared timeout.
        sim.outbox.provider_timeouts["business_chat"] = config.webhook_timeout_s

    # -- gateway -----------------------------------------------------------------------------------------------

    async def send(self, business_id: str, customer: dict[str, Any], body: dict[str, Any],
                   want_data_ref: bool, notes: list[str] | None = None) -> dict[str, Any] | None:
        """Accept one business message; returns {"dataRef": …} for stored interactive payloads, else None.
        ``notes`` gets what the answer does not say (an attachment the customer could not open)."""
        async with self.sim.store.transaction() as tx:
            issues, attachments = await check_attachments(tx, self.blobs, self.config, business_id,
                                                          body.get("attachments") or [])
            if issues:
                raise invalid(issues)
            for attachment in attachments:
                if "problem" in attachment:
                    log.warning("message to %s: attachment %r: %s", customer["id"], attachment["name"],
                                attachment["problem"])
                    if notes is not None:
                        notes.append(f"attachment {attachment['name']!r}: {attachment['problem']}")
            interactive = body.get("interactiveData")
            payload_blob = None  # the data-ref blob holding `interactive`, if there is one
            if "interactiveDataRef" in body:
                interactive, payload_blob = await self._resolve_data_ref(tx, business_id, body["interactiveDataRef"])
            data_ref = None
            if interactive is not None and body.get("interactiveData") is not None:
                raw = dumps_bytes(interactive)
                if want_data_ref or len(raw) > self.config.idr_threshold_bytes:
                    data_ref, payload_blob = await self._store_data_ref(tx, business_id, interactive, raw)
            app_clip = None
            if "richLinkDataRef" in body:
                app_clip = await self._resolve_app_clip(tx, business_id, body["richLinkDataRef"])
            await device.receive(tx, self.sim, self.config, self.directory, business_id, customer, body,
                                 attachments, interactive, app_clip=app_clip, payload_blob=payload_blob)
            await self.sim.events.emit(tx, ConversationEvent("business.message", business_id, customer["id"]))
        return {"dataRef": data_ref} if data_ref else None

    async def construct_payload(self, business_id: str, url: str, store_region: str | None) -> dict[str, Any]:
        """/v1/constructPayload: an App Clip rich link stored like an IDR (gzip'd JSON, AES-CTR), and its ref."""
        title = app_clip_title(self.config, url)
        if title is None:
            raise body_error("/link/url", f"no App Clip is registered for {url} (world config "
                                          "business_chat.app_clip_urls)")
        link = {"url": url, "title": title, "appClip": True, **({"storeRegion": store_region} if store_region else {})}
        key = self.sim.random.token_bytes(32)
        ciphertext = crypto.aes_ctr(key, gzip.compress(dumps_bytes(link), mtime=0))
        async with self.sim.store.transaction() as tx:
            blob = await self.blobs.store(tx, "richlink", business_id, "", ciphertext, {"key": key.hex()})
        return {"version": "1.0", "richLinkDataRef": {
            "title": title, "signature-base64": crypto.b64(blob.checksum), "size": blob.size, "url": blob.url,
            "owner": blob.owner, "key": crypto.key_field(key)}}

    async def _referenced_blob(self, conn: Any, ref: dict[str, Any], field: str, kind: str, owners: tuple[str, ...],
                               missing: str, what: str) -> Blob:
        """The stored blob a ``…DataRef`` points at: its url must name a blob of ``kind`` owned by one of
        ``owners`` (business ids; "" = any), and its owner must match; 400 at ``/<field>/…`` otherwise."""
        blob = await self.blobs.by_url(conn, str(ref.get("url")))
        if blob is None or blob.kind != kind or blob.data is None or blob.business_id not in owners:
            raise body_error(f"/{field}/url", missing)
        if ref.get("owner") != blob.owner:
            raise body_error(f"/{field}/owner", f"owner does not match the stored {what}")
        return blob

    async def _resolve_app_clip(self, conn: Any, business_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        blob = await self._referenced_blob(conn, ref, "richLinkDataRef", "richlink", ("", business_id),
                                           "no App Clip rich link at this url for this business (make one with "
                                           "/v1/constructPayload)", "rich link")
        if blob.data is None:  # a rich link is stored with its bytes; a row without them is not one
            raise body_error("/richLinkDataRef/url", "no App Clip rich link at this url for this business")
        if "signature-base64" in ref and crypto.signature_bytes(str(ref["signature-base64"])) != blob.checksum:
            raise body_error("/richLinkDataRef/signature-base64", "signature does not match the stored rich link")
        key = bytes.fromhex(blob.meta["key"])
        if "key" in ref and crypto.parse_key_field(ref["key"]) != key:
            raise body_error("/richLinkDataRef/key", "key does not decrypt the stored rich link")
        # The simulator's own rich link (made by /v1/constructPayload from a body within the body limit).
        return dict(loads(gunzip(crypto.aes_ctr(key, blob.data), self.sim.settings.max_body_bytes)))

    async def _store_data_ref(self, tx: Any, business_id: str, interactive: dict[str, Any], raw: bytes
                              ) -> tuple[dict[str, Any], str]:
        """The ``dataRef`` answered for a stored payload, and the stored blob's id."""
        blob = await self.blobs.store(tx, "dataref", business_id, "", raw)
        title = (interactive.get("receivedMessage") or {}).get("title", "")
        return {"bid": interactive.get("bid", ""), "owner": blob.owner, "url": blob.url, "size": blob.size,
                "signature": blob.checksum.hex().upper(), "signature-base64": crypto.b64(blob.checksum),
                "title": title,
                "dataRefSig": crypto.b64(crypto.checksum(blob.url.encode() + blob.owner.encode()))}, blob.id

    async def _resolve_data_ref(self, conn: Any, business_id: str, ref: dict[str, Any]
                                ) -> tuple[dict[str, Any], str | None]:
        """The payload an ``interactiveDataRef`` names, and the id of the blob that holds it as its bytes."""
        blob = await self._referenced_blob(conn, ref, "interactiveDataRef", "dataref", (business_id,),
                                           "no stored payload at this url for this business (send it once with "
                                           "include-data-ref: true)", "payload")
        if "interactiveData" in blob.meta:  # rows stored before the payload was kept only as the blob's bytes
            return dict(blob.meta["interactiveData"]), None
        return dict(loads(blob.data or b"null")), blob.id

    async def pre_upload(self, business_id: str, size: int) -> dict[str, str]:
        async with self.sim.store.transaction() as tx:
            return await self.blobs.pre_upload(tx, business_id, size)

    async def upload_ticket(self, token: str) -> int:
        """The size /preUpload declared for this upload URL; refuses an unknown or used URL (read before the
        upload's body is: the URL is the credential)."""
        blob = await self.blobs.by_upload_token(self.sim.store, token)
        if blob is None:
            raise NotFound("unknown upload URL; call /v1/preUpload for a fresh one")
        if blob.uploaded:
            raise BCError("this upload URL was already used; call /v1/preUpload again")
        return blob.declared_size if blob.declared_size is not None else self.config.max_attachment_bytes

    @staticmethod
    def size_mismatch(sent: int | None, declared: int) -> BCError:
        sent_text = f"{sent} bytes" if sent is not None else "more bytes"
        return BCError(f"uploaded {sent_text} but /preUpload declared size {declared} (the size of the encrypted "
                       "file)", details=[{"header": "content-length", "message": "size mismatch"}])

    async def upload(self, token: str, data: bytes) -> str:
        async with self.sim.store.transaction() as tx:
            blob = await self.blobs.by_upload_token(tx, token)
            if blob is None:
                raise NotFound("unknown upload URL; call /v1/preUpload for a fresh one")
            if blob.uploaded:
                raise BCError("this upload URL was already used; call /v1/preUpload again")
            if blob.declared_size is not None and len(data) != blob.declared_size:
                raise self.size_mismatch(len(data), blob.declared_size)
            return crypto.b64(await self.blobs.save_upload(tx, blob, data))

    async def pre_download(self, business_id: str, url: str, owner: str, signature: bytes | None) -> str:
        async with self.sim.store.transaction() as tx:
            blob = await self.blobs.by_url(tx, url)
            owned = blob is not None and (blob.business_id == business_id
                                          or (blob.kind == "richlink" and blob.business_id == ""))
            if blob is None or not owned or blob.kind not in ("attachment", "idr", "upload", "richlink"):
                raise NotFound(f"no attachment at url {url!r} for business {business_id}",
                               details=[{"header": "url", "message": "unknown"}])
            if owner != blob.owner:
                raise BCError("owner does not match the attachment", details=[{"header": "owner",
                                                                              "message": "mismatch"}])
            if signature != blob.checksum:
                raise BCError("signature does not match the attachment (send base64 of the signature bytes, or "
                              "signature-base64 as is)", details=[{"header": "signature", "message": "mismatch"}])
            return await self.blobs.grant_download(tx, blob)

    # -- customers ---------------------------------------------------------------------------------------------

    async def act(self, business_id: str, customer_id: str,
                  action: Callable[[Customer], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        async with self.sim.store.transaction() as tx:
            customer = await self.directory.customer_for(tx, business_id, customer_id)
            if customer is None:
                raise ActionError(f"unknown customer {customer_id} for business {business_id}", 404)
            done = await action(Customer(self.sim, self, tx, business_id, customer))
            await self.sim.events.emit(tx, ConversationEvent("customer.action", business_id, customer_id))
            return done

    async def payment_gateway(self, business_id: str, customer_id: str, request_id: str | None,
                              params: dict[str, Any]) -> dict[str, Any]:
        """Answer an Apple Pay request the way the device does (digest §8.7, Apple's samples 15/16): the sheet
        calls the business's update endpoints (payment method always; shipping contact / method when the request
        asks for shipping fields / offers methods), honours their newTotal / newLineItems, and on approval POSTs
        the token to the payment gateway. Update endpoints that fail are logged and change nothing."""
        row = await find_interactive(self.sim.store, business_id, customer_id, "payment", request_id)
        if row is None:
            raise ActionError("the device has no unanswered Apple Pay request", 404)
        data = row[1]["data"]
        payment = data["payment"]
        request = payment.get("paymentRequest") or {}
        endpoints = payment.get("endpoints") or {}
        network = str(params.get("network", "Visa"))
        method = {"displayName": f"{network} 1234", "network": network, "type": str(params.get("type", "Credit"))}
        if not isinstance(params.get("shippingContact") or {}, dict):
            raise ActionError('"shippingContact" must be an object of Apple Pay contact fields')
        contact = {**SHIPPING_CONTACT, **(params.get("shippingContact") or {})}
        shipping_method = _shipping_method(request, params.get("shippingMethod"))
        common = {"requestIdentifier": data.get("requestIdentifier"),
                  "version": data.get("version") or data.get("mspVersion") or "1.0"}
        sheet: dict[str, Any] = {"total": request.get("total"), "lineItems": request.get("lineItems") or []}
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("paymentMethodUpdateUrl", "paymentMethod", {"type": method["type"]})]
        if request.get("requiredShippingContactFields"):
            # Before authorization Apple Pay reveals only a redacted address (Apple's sample 15 shows one).
            calls.append(("shippingContactUpdateUrl", "shippingContact",
                          {k: (v if k in REDACTED_KEEP else [""] if k == "addressLines" else "")
                           for k, v in contact.items() if k not in ("emailAddress", "phoneNumber")}))
        if shipping_method is not None:
            calls.append(("shippingMethodUpdateUrl", "shippingMethod", shipping_method))
        updates = []
        for key, name, value in calls:
            if endpoints.get(key):
                updates.append(await self._payment_update(key, str(endpoints[key]),
                                                          {**common, "payment": {name: value}}, sheet))
        if params.get("approve", True) is False:  # the sheet was shown (updates called), then cancelled
            return {"approved": False, "summary": "declined by the customer", **sheet, "updates": updates}
        txn = self.sim.random.hex(32).upper()
        result = {"paymentMethod": method, "transactionIdentifier": txn, **sheet, "updates": updates}
        configured = await self.directory.business_endpoints(self.sim.store, business_id)
        url = configured["paymentGatewayUrl"] or endpoints.get("paymentGatewayUrl")
        token = {"paymentData": {"version": "EC_v1", "data": crypto.b64(self.sim.random.token_bytes(64)),
                                 "signature": crypto.b64(self.sim.random.token_bytes(32)),
                                 "header": {"transactionId": txn.lower()}},
                 "paymentMethod": method, "transactionIdentifier": txn}
        if not url:
            return {**result, "approved": True, "summary": "no payment gateway URL; approved without a call"}
        paid: dict[str, Any] = {"paymentToken": token}
        if request.get("requiredBillingContactFields"):
            paid["billingContact"] = {k: v for k, v in contact.items() if k not in ("emailAddress", "phoneNumber")}
        if request.get("requiredShippingContactFields"):
            paid["shippingContact"] = contact
        if shipping_method is not None:
            paid["shippingMethod"] = shipping_method
        paid.update(sheet)  # the amounts as the update endpoints left them
        try:
            response = await self.sim.outbox.client.post_json(
                url, {"requestIdentifier": common["requestIdentifier"], "payment": paid})
            answer = response.json() or {}
        except Exception as exc:  # noqa: BLE001 - the business's gateway is outside our control: report, never crash
            return {**result, "approved": False, "summary": f"payment gateway unreachable: {type(exc).__name__}"}
        status = answer.get("status") if isinstance(answer, dict) else None
        approved = response.status == 200 and status == "STATUS_SUCCESS"
        return {**result, "approved": approved, "summary": f"{response.status} {status}"}

    async def _payment_update(self, key: str, url: str, request: dict[str, Any],
                              sheet: dict[str, Any]) -> dict[str, Any]:
        """POST one update endpoint; a 200 JSON answer's newTotal / newLineItems replace the sheet's ({} = none)."""
        outcome: dict[str, Any] = {"endpoint": key, "url": url, "applied": False}
        try:
            response = await self.sim.outbox.client.post_json(url, request)
            answer = response.json() if response.status == 200 else None
        except Exception as exc:  # noqa: BLE001 - the business's endpoint is outside our control: log, never crash
            log.warning("Apple Pay %s %s failed: %s: %s", key, url, type(exc).__name__, exc)
            return {**outcome, "result": f"unreachable or not JSON: {type(exc).__name__}"}
        if response.status != 200:
            log.warning("Apple Pay %s %s answered %s; the sheet keeps its amounts", key, url, response.status)
            return {**outcome, "result": f"{response.status}: ignored"}
        if isinstance(answer, dict):
            if isinstance(answer.get("newTotal"), dict):
                sheet["total"] = answer["newTotal"]
                outcome["applied"] = True
            if isinstance(answer.get("newLineItems"), list):
                sheet["lineItems"] = answer["newLineItems"]
                outcome["applied"] = True
        return {**outcome, "result": "200"}

    async def run_behaviour(self, jobs: list[Job]) -> None:
        """The ``business_chat.behaviour`` handler: what customers do by script (world config ``behaviour``)."""
        for job in jobs:
            p = job.payload
            gateway = None
            try:
                if p.get("feature") == "payment":
                    gateway = await self.payment_gateway(p["business"], p["customer"], p.get("requestIdentifier"),
                                                         p.get("params") or {})
                async with self.sim.store.transaction() as tx:
                    await sched.done(tx, [job])
                    customer = await self.directory.customer_for(tx, p["business"], p["customer"])
                    if customer is None:
                        continue
                    actor = Customer(self.sim, self, tx, p["business"], customer)
                    if p["action"] == "text":
                        await actor.text(str(p["params"].get("text", "agent")))
                    elif p["action"] == "close":
                        await actor.close()
                    elif p["action"] == "answer":
                        await actor.answer(p["feature"], p.get("requestIdentifier"), p.get("params") or {}, gateway)
                    await self.sim.events.emit(tx, ConversationEvent("customer.action", p["business"],
                                                                     p["customer"]))
            except ActionError as exc:  # e.g. already answered by hand: the script has nothing left to do
                log.info("scripted %s for %s skipped: %s", p.get("action"), p.get("customer"), exc)
                async with self.sim.store.transaction() as tx:
                    await sched.done(tx, [job])
