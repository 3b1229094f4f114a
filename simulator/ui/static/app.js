/* provider-sim web inbox: a plain client of the control plane (/_sim/...) and of the providers' public APIs.
 * No framework, no build step. Live updates come from the server-sent events at /_sim/events. */
"use strict";

// ---- tiny helpers ---------------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);

class ApiError extends Error {
  constructor(status, body) {
    const msg = (body && body.error && body.error.message) || (body && body.message) || `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path, body, headers) {
  const init = { method, headers: { ...(headers || {}) } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
const get = (path, headers) => call("GET", path, undefined, headers);
const post = (path, body, headers) => call("POST", path, body === undefined ? {} : body, headers);

function toast(message, isError) {
  const el = $("#toast");
  el.textContent = message;
  el.className = "toast" + (isError ? " error" : "");
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, isError ? 6000 : 2500);
}

function announce(message) {
  const el = $("#announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = message; }, 30);
}

function guard(fn) {
  return async (...args) => {
    try { return await fn(...args); } catch (err) { toast(err.message || String(err), true); }
  };
}

function clockText(iso) {
  if (!iso) return "–";
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z").replace("Z", " UTC");
}
function timeOnly(iso) {
  if (!iso) return "";
  const m = /T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(iso);
  return m ? m[1] : iso;
}

const debounced = new Map();
function soon(key, fn, ms = 120) {
  clearTimeout(debounced.get(key));
  debounced.set(key, setTimeout(() => { debounced.delete(key); fn(); }, ms));
}

// ---- state ----------------------------------------------------------------------------------------------------

const state = {
  info: null,
  view: "bird",
  bird: { messages: [], selected: null, open: new Set(), details: new Map(), rendered: new Map() },
  bc: { available: false, selected: null, data: null },
  journalAvailable: null,
};

const TERMINAL = new Set(["delivered", "delivery_failed", "sending_failed", "rejected", "skipped", "deleted"]);
const FAILED = new Set(["delivery_failed", "sending_failed", "rejected", "skipped", "deleted"]);
const FORCE = ["delivered", "delivery_failed", "sending_failed", "rejected", "expired"];

function badgeClass(status) {
  if (status === "delivered") return "badge ok";
  if (FAILED.has(status)) return "badge bad";
  return "badge pending";
}

function birdKey() {
  const keys = (state.info && state.info.bird && state.info.bird.accessKeys) || [];
  const full = keys.find((k) => (k.allowedPaths || []).includes("*")) || keys[0];
  return full ? { Authorization: `AccessKey ${full.key}` } : {};
}

function allChannels() {
  const out = [];
  for (const ws of (state.info && state.info.bird && state.info.bird.workspaces) || []) {
    for (const ch of ws.channels) out.push({ ...ch, workspaceId: ws.id, workspaceName: ws.name });
  }
  return out;
}

// ---- clock, reset, live connection ----------------------------------------------------------------------------

function setClock(clock) {
  if (!clock) return;
  $("#clock-now").textContent = clockText(clock.now);
  $("#clock-now").setAttribute("datetime", clock.now || "");
  if (clock.mode) $("#clock-mode").textContent = clock.mode === "manual" ? "manual" : `real ×${clock.speed ?? 1}`;
}

async function advance(seconds) {
  const result = await post("/_sim/clock/advance", { seconds });
  setClock(result);
  announce(`Clock advanced ${seconds} seconds to ${clockText(result.now)}`);
  refreshAll();
}

async function resetAll() {
  if (!window.confirm("Reset the whole simulator to its seeded world? Every message and delivery is deleted.")) return;
  const result = await post("/_sim/reset", {});
  setClock(result.clock);
  state.bird.selected = null;
  state.bird.open.clear();
  toast("Simulator reset");
  refreshAll();
}

let source = null;
function connect() {
  if (source) source.close();
  const live = $("#live");
  source = new EventSource("/_sim/events");
  source.addEventListener("open", () => {
    live.dataset.state = "live";
    live.textContent = "live";
    refreshAll();
  });
  source.addEventListener("error", () => {
    live.dataset.state = source.readyState === EventSource.CLOSED ? "offline" : "connecting";
    live.textContent = source.readyState === EventSource.CLOSED ? "offline" : "reconnecting…";
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  });
  const on = (name, fn) => source.addEventListener(name, (ev) => {
    let data = {};
    try { data = JSON.parse(ev.data); } catch { /* keep-alive */ }
    fn(data);
  });
  on("hello", (d) => setClock(d.clock));
  on("clock", (d) => setClock(d));
  on("bird.message", (d) => {
    if (d.direction === "incoming") announce(`New inbound SMS from a customer`);
    soon("bird", loadBird);
    if (d.id && state.bird.open.has(d.id)) soon("detail-" + d.id, () => loadDetail(d.id));
    soon("journal", loadJournalIfVisible, 300);
    soon("coverage", loadCoverageIfVisible, 1200);
  });
  on("webhook", () => {
    for (const id of state.bird.open) soon("detail-" + id, () => loadDetail(id), 200);
    soon("webhooks", loadWebhooksIfVisible, 200);
    soon("journal", loadJournalIfVisible, 300);
    soon("bc", loadBusinessChat, 200);
  });
  on("businessChat", () => { soon("bc", loadBusinessChat); soon("journal", loadJournalIfVisible, 300); });
  on("journal", () => { soon("journal", loadJournalIfVisible, 200); soon("coverage", loadCoverageIfVisible, 500); });
  on("reset", () => { state.bird.details.clear(); refreshAll(); });
  on("resync", () => refreshAll());
}

function refreshAll() {
  soon("bird", loadBird, 50);
  soon("bc", loadBusinessChat, 50);
  soon("webhooks", loadWebhooksIfVisible, 50);
  soon("journal", loadJournalIfVisible, 50);
  for (const id of state.bird.open) soon("detail-" + id, () => loadDetail(id), 80);
}

// ---- routing --------------------------------------------------------------------------------------------------

function route() {
  const name = (location.hash.replace(/^#\/?/, "").split("/")[0]) || "bird";
  const known = ["bird", "business-chat", "webhooks", "journal", "coverage"];
  state.view = known.includes(name) ? name : "bird";
  for (const view of known) $(`#view-${view}`).hidden = view !== state.view;
  for (const a of document.querySelectorAll(".tabs a")) {
    if (a.dataset.view === state.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const titles = { bird: "Bird SMS", "business-chat": "Business Chat", webhooks: "Webhooks", journal: "Journal",
    coverage: "Coverage" };
  document.title = `${titles[state.view]} · provider-sim`;
  if (state.view === "webhooks") loadWebhooks();
  if (state.view === "journal") loadJournal();
  if (state.view === "coverage") loadCoverage();
  if (state.view === "business-chat") loadBusinessChat();
}

// ---- Bird -----------------------------------------------------------------------------------------------------

function contactOf(message) {
  const pick = (side) => {
    if (!side) return "";
    const contacts = side.contacts || (side.contact ? [side.contact] : []);
    for (const c of contacts) if (c && c.identifierValue) return c.identifierValue;
    return "";
  };
  if (message.direction === "incoming") return pick(message.sender) || pick(message.receiver) || "unknown";
  return pick(message.receiver) || pick(message.sender) || "unknown";
}

function textOf(message) {
  const body = message.body || {};
  const kind = body.type;
  const content = kind ? body[kind] : null;
  if (content && typeof content.text === "string") return content.text;
  if (message.template) return `template ${message.template.projectId || ""} ${message.template.version || ""}`.trim();
  if (kind === "image") return "";
  if (kind === "file") return "";
  return kind ? `(${kind})` : "";
}

function mediaOf(message) {
  const body = message.body || {};
  const items = [];
  for (const img of (body.image && body.image.images) || []) items.push({ kind: "image", url: img.mediaUrl, alt: img.altText || "image" });
  for (const f of (body.file && body.file.files) || []) items.push({ kind: f.contentType && f.contentType.startsWith("image/") ? "image" : "file", url: f.mediaUrl, alt: f.filename || f.altText || "file", type: f.contentType });
  return items;
}

const blobCache = new Map();
async function mediaSrc(url) {
  if (!url) return null;
  if (blobCache.has(url)) return blobCache.get(url);
  let target;
  try { target = new URL(url, location.href); } catch { return null; }
  // Media the simulator serves (Bird's /workspaces/... paths) is fetched from this page's own origin, with the
  // access key, whatever host the simulator's baseUrl names; nothing is fetched from anywhere else.
  if (target.origin !== location.origin && !target.pathname.startsWith("/workspaces/")) return null;
  const response = await fetch(target.pathname + target.search, { headers: birdKey() });
  if (!response.ok) return null;
  const src = URL.createObjectURL(await response.blob());
  blobCache.set(url, src);
  return src;
}

function renderMedia(message) {
  const items = mediaOf(message);
  if (!items.length) return null;
  const box = h("div", { class: "media" });
  for (const item of items) {
    const link = h("a", { href: item.url, target: "_blank", rel: "noopener" }, item.alt);
    if (item.kind === "image") {
      const img = h("img", { alt: item.alt, loading: "lazy" });
      mediaSrc(item.url).then((src) => { if (src) img.src = src; else img.replaceWith(link); });
      box.append(img);
    } else {
      box.append(link);
    }
  }
  return box;
}

async function loadBird() {
  if (!state.info) return;
  const data = await get("/_sim/bird/messages?limit=500");
  if (data.clock) setClock(data.clock);
  state.bird.messages = data.results;
  renderBirdSidebar();
  renderBirdThread();
}

function conversations() {
  const convs = new Map();
  for (const m of state.bird.messages) {
    const key = `${m.channelId}|${contactOf(m)}`;
    if (!convs.has(key)) convs.set(key, { key, channelId: m.channelId, phone: contactOf(m), messages: [] });
    convs.get(key).messages.push(m); // newest first
  }
  return convs;
}

function renderBirdSidebar() {
  const root = $("#bird-channels");
  const convs = conversations();
  const sel = state.bird.selected;
  root.replaceChildren();
  for (const ws of state.info.bird.workspaces) {
    for (const ch of ws.channels) {
      const mine = [...convs.values()].filter((c) => c.channelId === ch.id);
      const list = h("ul", { class: "conv-list", "aria-label": `Conversations on ${ch.name}` });
      for (const conv of mine) {
        const last = conv.messages[0];
        const current = sel && sel.channelId === conv.channelId && sel.phone === conv.phone;
        list.append(h("li", {}, h("button", {
          type: "button", "aria-current": current ? "true" : "false", dataset: { phone: conv.phone, channel: ch.id },
          onclick: () => selectConversation(ch.id, conv.phone),
        }, h("span", { class: "who" }, conv.phone), h("span", { class: "count" }, `${conv.messages.length}`),
        h("span", { class: "snippet" }, `${last.direction === "incoming" ? "← " : "→ "}${textOf(last) || "(media)"} · ${last.status}`))));
      }
      root.append(h("section", { class: "channel-group", "aria-label": ch.name },
        h("h3", {}, `${ch.name} · ${ch.number}`),
        ws.channels.length && state.info.bird.workspaces.length > 1 ? h("p", { class: "muted small" }, ws.name) : null,
        mine.length ? list : h("p", { class: "empty" }, "No messages yet")));
    }
  }
}

function selectConversation(channelId, phone) {
  state.bird.selected = { channelId, phone };
  state.bird.rendered.clear();
  $("#bird-thread").replaceChildren();
  $("#bird-inbound-from").value = phone;
  $("#bird-inbound-channel").value = channelId;
  $("#bird-send-to").value = phone;
  $("#bird-send-channel").value = channelId;
  renderBirdSidebar();
  renderBirdThread();
}

function renderBirdThread() {
  const sel = state.bird.selected;
  const list = $("#bird-thread");
  if (!sel) {
    $("#bird-thread-heading").textContent = state.bird.messages.length ? "Choose a conversation" : "No messages yet";
    $("#bird-thread-sub").textContent = "Send an SMS with the Bird API (or the form below), or make a customer write in.";
    list.replaceChildren();
    return;
  }
  const channel = allChannels().find((c) => c.id === sel.channelId);
  $("#bird-thread-heading").textContent = sel.phone;
  $("#bird-thread-sub").textContent = channel ? `with ${channel.name} (${channel.number})` : sel.channelId;
  const msgs = state.bird.messages.filter((m) => m.channelId === sel.channelId && contactOf(m) === sel.phone).reverse();
  const seen = new Set();
  let previous = null;
  for (const m of msgs) {
    seen.add(m.id);
    const signature = JSON.stringify([m.status, m.statusHistory, m.updatedAt, state.bird.details.get(m.id)]);
    let el = state.bird.rendered.get(m.id);
    if (!el || el.dataset.signature !== signature) {
      const fresh = renderBirdMessage(m);
      fresh.dataset.signature = signature;
      if (el) { keepOpen(el, fresh); el.replaceWith(fresh); } else if (previous) previous.after(fresh); else list.prepend(fresh);
      el = fresh;
      state.bird.rendered.set(m.id, el);
    } else if (previous && previous.nextSibling !== el) {
      previous.after(el);
    }
    previous = el;
  }
  for (const [id, el] of state.bird.rendered) {
    if (!seen.has(id)) { el.remove(); state.bird.rendered.delete(id); }
  }
}

// A message re-renders when one of its events arrives; what the reader had opened inside it stays open.
function keepOpen(from, to) {
  for (const open of from.querySelectorAll("details[data-keep][open]")) {
    const twin = to.querySelector(`details[data-keep="${open.dataset.keep}"]`);
    if (twin) twin.open = true;
  }
}

function renderBirdMessage(m) {
  const media = renderMedia(m);
  const text = textOf(m);
  const detailsOpen = state.bird.open.has(m.id);
  const details = h("details", { class: "more", open: detailsOpen },
    h("summary", {}, "Details, timeline and webhooks"),
    renderBirdDetails(m));
  details.addEventListener("toggle", () => {
    if (details.open) { state.bird.open.add(m.id); loadDetail(m.id); } else state.bird.open.delete(m.id);
  });
  return h("li", { class: `msg ${m.direction}`, dataset: { id: m.id, status: m.status }, "aria-label":
      `${m.direction === "incoming" ? "Received from" : "Sent to"} ${contactOf(m)}: ${text || "media"}, status ${m.status}` },
    text ? h("div", { class: "bubble" }, text) : null,
    media,
    h("div", { class: "meta" },
      h("span", { class: badgeClass(m.status), "data-testid": "status" }, m.status.replace(/_/g, " ")),
      h("time", { datetime: m.createdAt, title: m.createdAt }, timeOnly(m.createdAt)),
      m.chargeableUnits ? h("span", {}, `${m.chargeableUnits} part${m.chargeableUnits > 1 ? "s" : ""}`) : null),
    details);
}

function renderBirdDetails(m) {
  const extra = state.bird.details.get(m.id) || {};
  const box = h("div", { class: "detail-box" });
  const history = m.statusHistory || [];
  box.append(h("div", {}, h("h4", { class: "small" }, "Status timeline"),
    h("ol", { class: "timeline", "aria-label": "Status timeline" }, history.map((s) =>
      h("li", { dataset: { status: s.status } }, h("strong", {}, s.status.replace(/_/g, " ")),
        h("time", { datetime: s.at, title: s.at }, clockText(s.at)))))));
  if (m.failure || (FAILED.has(m.status) && m.reason)) {
    const f = m.failure || {};
    box.append(h("div", { class: "failure", role: "note" }, h("strong", {}, "Failure: "),
      f.code ? `${f.code} ${f.description || ""}` : "", m.details ? ` · ${m.details}` : "",
      f.source ? ` · source ${f.source.name || ""} ${f.source.code || ""}` : "",
      m.reason ? h("div", { class: "small" }, m.reason) : null));
  }
  if (m.direction === "outgoing" && !TERMINAL.has(m.status)) {
    box.append(h("div", { class: "force", role: "group", "aria-label": "Force an outcome" },
      h("span", { class: "small muted" }, "Force:"),
      FORCE.map((status) => h("button", { type: "button", class: "secondary", onclick: guard(async () => {
        await post(`/_sim/bird/messages/${encodeURIComponent(m.id)}/status`, { status });
        announce(`Message forced to ${status}`);
        soon("bird", loadBird, 10);
      }) }, status.replace(/_/g, " ")))));
  }
  const hooks = extra.webhooks;
  if (hooks) {
    box.append(h("div", {}, h("h4", { class: "small" }, `Webhook deliveries (${hooks.length})`),
      hooks.length ? h("ul", { class: "deliveries" }, hooks.map(renderDelivery)) :
        h("p", { class: "muted small" }, "No webhook was sent for this message (is a subscription or notification.url set?)")));
  }
  box.append(h("details", {}, h("summary", { class: "small" }, "Raw message"),
    h("pre", {}, JSON.stringify(stripUi(m), null, 2))));
  return box;
}

function stripUi(m) {
  const { statusHistory, workspaceId, ...rest } = m;
  return rest;
}

async function loadDetail(id) {
  try {
    const data = await get(`/_sim/bird/messages/${encodeURIComponent(id)}`);
    state.bird.details.set(id, { webhooks: data.webhooks });
    const idx = state.bird.messages.findIndex((m) => m.id === id);
    if (idx >= 0) { const { webhooks, ...message } = data; state.bird.messages[idx] = message; }
    renderBirdThread();
  } catch (err) {
    if (err.status !== 404) throw err;
  }
}

function renderDelivery(d) {
  const payload = d.body && typeof d.body === "object" ? d.body : null;
  const status = payload && payload.payload && payload.payload.status;
  return h("li", { class: "card", dataset: { outbox: d.id } },
    h("header", {}, h("strong", {}, d.event), status ? h("span", { class: badgeClass(status) }, status) : null,
      h("span", { class: d.status === "delivered" ? "badge ok" : d.status === "failed" ? "badge bad" : "badge pending" },
        d.status), h("span", { class: "small muted" }, `created ${clockText(d.createdAt)}`),
      d.nextAttemptAt ? h("span", { class: "small muted" }, `next attempt ${clockText(d.nextAttemptAt)}`) : null),
    h("div", { class: "url" }, `POST ${d.url}`),
    h("ol", { class: "attempts", "aria-label": "Attempts" }, d.attempts.map((a) =>
      h("li", { class: a.statusCode && a.statusCode < 300 ? "ok" : "bad",
        title: [a.error, a.responseBody && `receiver answered: ${a.responseBody}`].filter(Boolean).join("\n") },
        `#${a.attempt} ${a.statusCode ?? (a.error || "error")} at ${timeOnly(a.at)} (${a.durationMs} ms)`))),
    d.attempts.length ? null : h("p", { class: "small muted" }, "Not attempted yet"),
    h("details", { dataset: { keep: `${d.id}-request` } }, h("summary", { class: "small" }, "Request headers and body"),
      h("pre", {}, JSON.stringify({ headers: d.headers, body: d.body }, null, 2))),
    d.attempts.some((a) => a.responseBody) ? h("details", { class: "answers", dataset: { keep: `${d.id}-answers` } },
      h("summary", { class: "small" }, "What the receiver answered"),
      h("pre", {}, d.attempts.filter((a) => a.responseBody)
        .map((a) => `#${a.attempt} ${a.statusCode ?? ""}\n${a.responseBody}`).join("\n\n"))) : null);
}

async function sendInbound(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const channelId = form.channel.value;
  const from = form.from.value.trim();
  const text = form.text.value;
  const request = { channelId, from };
  if (text) request.text = text;
  const files = form.media && form.media.files ? [...form.media.files] : [];
  if (files.length) request.media = await Promise.all(files.map(readMedia));
  if (!request.text && !request.media) throw new Error("write a text or attach a file");
  await post("/_sim/bird/inbound", request);
  form.text.value = "";
  if (form.media) form.media.value = "";
  selectConversation(channelId, from);
  announce(`Inbound SMS from ${from} sent`);
}

function readMedia(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ contentType: file.type || "application/octet-stream", filename: file.name,
      base64: String(reader.result).split(",", 2)[1] || "" });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function sendOutbound(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const channel = allChannels().find((c) => c.id === form.channel.value);
  const to = form.to.value.trim();
  const body = { receiver: { contacts: [{ identifierValue: to }] }, body: { type: "text", text: { text: form.text.value } } };
  const message = await post(`/workspaces/${channel.workspaceId}/channels/${channel.id}/messages`, body, birdKey());
  form.text.value = "";
  selectConversation(channel.id, to);
  announce(`SMS to ${to} accepted as ${message.id}`);
}

function fillChannelSelects() {
  for (const sel of [$("#bird-inbound-channel"), $("#bird-send-channel")]) {
    sel.replaceChildren(...allChannels().map((c) => h("option", { value: c.id }, `${c.name} (${c.number})`)));
  }
}

// ---- webhooks page --------------------------------------------------------------------------------------------

function loadWebhooksIfVisible() { if (state.view === "webhooks") loadWebhooks(); }
async function loadWebhooks() {
  const form = $("#wh-filters");
  const params = new URLSearchParams({ limit: "200" });
  for (const name of ["provider", "status", "contains"]) if (form[name].value) params.set(name, form[name].value);
  const data = await get(`/_sim/outbox?${params}`);
  const s = data.stats || {};
  $("#wh-stats").textContent = `${data.results.length} shown · ${s.pending ?? 0} pending, ${s.delivered ?? 0} delivered, ${s.failed ?? 0} failed`;
  const list = $("#wh-list");
  list.replaceChildren(...(data.results.length ? data.results.map(renderDelivery)
    : [h("p", { class: "empty" }, "No webhook deliveries yet.")]));
}

// ---- journal page ---------------------------------------------------------------------------------------------

function loadJournalIfVisible() { if (state.view === "journal") loadJournal(); }
async function loadJournal() {
  const form = $("#journal-filters");
  const params = new URLSearchParams({ limit: "200" });
  for (const name of ["kind", "provider", "method", "status", "path"]) if (form[name].value.trim()) params.set(name, form[name].value.trim());
  let data;
  try {
    data = await get(`/_sim/journal?${params}`);
  } catch (err) {
    if (err.status === 404 || err.status === 405) {
      $("#journal-count").textContent = "This simulator has no journal (GET /_sim/journal is missing).";
      $("#journal-body").replaceChildren();
      return;
    }
    throw err;
  }
  let entries = Array.isArray(data) ? data : (data.entries || data.results || []);
  entries = [...entries].sort((a, b) => (b.seq || 0) - (a.seq || 0));
  $("#journal-count").textContent = `${entries.length} entr${entries.length === 1 ? "y" : "ies"}`;
  $("#journal-body").replaceChildren(...entries.map((e) => {
    const status = (e.response && e.response.status) ?? e.status ?? "";
    const klass = status ? `s${String(status)[0]}` : "";
    return h("tr", { class: klass, dataset: { kind: e.kind || "", provider: e.provider || "" } },
      h("td", {}, h("time", { datetime: e.at || "" }, timeOnly(e.at))),
      h("td", {}, e.kind || ""), h("td", {}, e.provider || ""),
      h("td", { class: "path" }, `${e.method || ""} ${e.path || ""}`,
        (e.body || (e.response && e.response.body)) ? h("details", {}, h("summary", { class: "small" }, "body"),
          h("pre", {}, JSON.stringify({ request: e.body, response: e.response }, null, 2))) : null),
      h("td", { class: "status" }, status === null ? (e.error || "") : String(status)),
      h("td", {}, e.operation || e.route || e.event || ""));
  }));
}

async function clearJournal() {
  await call("DELETE", "/_sim/journal");
  loadJournal();
}

// ---- coverage page --------------------------------------------------------------------------------------------

function loadCoverageIfVisible() { if (state.view === "coverage") loadCoverage(); }
async function loadCoverage() {
  const form = $("#coverage-filters");
  const params = new URLSearchParams();
  if (form.provider.value) params.set("provider", form.provider.value);
  const data = await get(`/_sim/coverage?${params}`);
  $("#coverage-summary").textContent = `${data.met} of ${data.total} behaviours met (${data.percent} %) since the counts were last reset · ` +
    data.providers.map((p) => `${p.provider}: ${p.met} of ${p.total}`).join(" · ");
  const show = form.show.value;
  const rows = [];
  for (const p of data.providers) {
    for (const b of p.behaviours) {
      if ((show === "met" && !b.met) || (show === "unmet" && b.met)) continue;
      rows.push(h("tr", { class: b.met ? "s2" : "s4", dataset: { behaviour: b.id, met: String(b.met) } },
        h("td", {}, p.provider),
        h("td", {}, h("strong", {}, b.title), h("div", { class: "small muted" }, `${b.id} · ${b.group}`)),
        h("td", { class: "status" }, String(b.count)),
        h("td", { class: "small" }, b.met ? "" : `${b.provoke} (${b.via})`)));
    }
  }
  $("#coverage-body").replaceChildren(...rows);
}

async function resetCoverage() {
  await call("DELETE", "/_sim/coverage");
  loadCoverage();
}

// ---- Business Chat --------------------------------------------------------------------------------------------
// Rendered by bc.js (loaded below) when the simulator has Business Chat; see loadBusinessChat there.

async function loadBusinessChat() {
  if (window.BusinessChatUI && state.info) await window.BusinessChatUI.load(state, { h, get, post, call, toast, announce, guard, timeOnly, clockText });
}

// ---- start ----------------------------------------------------------------------------------------------------

async function start() {
  state.info = await get("/_sim/info");
  setClock(state.info.clock);
  fillChannelSelects();
  for (const b of document.querySelectorAll("[data-advance]")) b.addEventListener("click", guard(() => advance(Number(b.dataset.advance))));
  $("#reset").addEventListener("click", guard(resetAll));
  $("#bird-inbound-form").addEventListener("submit", guard(sendInbound));
  $("#bird-send-form").addEventListener("submit", guard(sendOutbound));
  $("#bird-new").addEventListener("click", () => {
    state.bird.selected = null;
    renderBirdSidebar();
    renderBirdThread();
    $("#bird-send-to").focus();
  });
  $("#wh-filters").addEventListener("input", () => soon("webhooks", loadWebhooks, 200));
  $("#wh-filters").addEventListener("submit", (e) => { e.preventDefault(); loadWebhooks(); });
  $("#journal-filters").addEventListener("input", () => soon("journal", guard(loadJournal), 150));
  $("#journal-filters").addEventListener("change", () => soon("journal", guard(loadJournal), 50));
  $("#journal-filters").addEventListener("submit", (e) => { e.preventDefault(); loadJournal(); });
  $("#journal-clear").addEventListener("click", guard(clearJournal));
  $("#coverage-filters").addEventListener("change", guard(loadCoverage));
  $("#coverage-reset").addEventListener("click", guard(resetCoverage));
  window.addEventListener("hashchange", guard(route));
  route();
  connect();
  // While the event stream is down, refresh the journal page now and then.
  setInterval(() => { if (!document.hidden && $("#live").dataset.state !== "live") loadJournalIfVisible(); }, 3000);
}

document.addEventListener("DOMContentLoaded", guard(start));
