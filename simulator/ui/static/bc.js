/* Business Chat in the web inbox: one phone-like thread per customer, interactive messages drawn as the
 * customer sees them; tapping answers through the same control endpoints a test would call. */
"use strict";

(function () {
  const BASE = "/_sim/business-chat";
  const FEATURE_LABELS = {
    listPicker: "List picker", event: "Time picker", "quick-reply": "Quick reply", payment: "Apple Pay",
    authenticate: "Sign in", dynamic: "Form", customApp: "iMessage app",
  };
  const ANSWER_PATHS = { authenticate: "authentication", dynamic: "form", customApp: "custom-app" };
  let ui = null; // helpers from app.js
  const local = { selected: null, picks: new Map(), forms: new Map(), available: null, lastSignature: "" };

  function customers(state) {
    if (local.customers) return local.customers;
    const bc = state.info && state.info.businessChat;
    return bc ? bc.customers || [] : [];
  }
  function businesses(state) {
    const bc = state.info && state.info.businessChat;
    return bc ? bc.businesses || [] : [];
  }

  function customerPath(id) { return `${BASE}/customers/${encodeURIComponent(id)}`; }

  // The same control endpoints a test calls: POST /_sim/business-chat/businesses/{b}/customers/{c}/<action>
  async function act(path, body, what) {
    await ui.post(`${BASE}/businesses/${encodeURIComponent(local.business)}/customers/${encodeURIComponent(local.selected)}/${path}`, body);
    ui.announce(what);
    load(lastState, ui);
  }

  function imageMap(data) {
    const images = new Map();
    for (const img of (data && data.images) || []) {
      if (img && img.identifier && img.data) images.set(img.identifier, `data:image/png;base64,${img.data}`);
    }
    return images;
  }

  function img(images, id, alt) {
    const src = id && images.get(id);
    return src ? ui.h("img", { src, alt: alt || "" }) : null;
  }

  function received(interactive, images, fallback) {
    const r = (interactive && interactive.receivedMessage) || {};
    return [img(images, r.imageIdentifier, ""), ui.h("div", { class: "card-title" }, r.title || fallback),
      r.subtitle ? ui.h("div", { class: "card-sub" }, r.subtitle) : null];
  }

  function renderListPicker(msg, idata, answered) {
    const { h, guard } = ui;
    const data = idata.data || {};
    const picker = data.listPicker || {};
    const images = imageMap(data);
    const key = msg.interactive.requestIdentifier;
    const picks = local.picks.get(key) || new Set();
    const multi = (picker.sections || []).some((s) => s.multipleSelection);
    const card = h("div", { class: "card-ui", role: "group", "aria-label": "List picker" }, received(idata, images, "Choose"));
    for (const section of picker.sections || []) {
      if (section.title) card.append(h("div", { class: "section-title" }, section.title));
      card.append(h("ul", { class: "picker-items", role: "list" }, (section.items || []).map((item) => {
        const pressed = picks.has(item.identifier);
        return h("li", {}, h("button", {
          type: "button", disabled: answered, "aria-pressed": section.multipleSelection ? String(pressed) : null,
          dataset: { item: item.identifier },
          onclick: guard(async () => {
            if (section.multipleSelection) {
              if (pressed) picks.delete(item.identifier); else picks.add(item.identifier);
              local.picks.set(key, picks);
              render();
              return;
            }
            await act("answer/list-picker", { requestIdentifier: key, items: [item.identifier] }, `Picked ${item.title}`);
          }),
        }, img(images, item.imageIdentifier, ""), h("span", {}, item.title || item.identifier,
          item.subtitle ? h("span", { class: "sub" }, item.subtitle) : null)));
      })));
    }
    if (multi && !answered) {
      card.append(h("div", { class: "card-actions" }, h("button", {
        type: "button", disabled: picks.size === 0,
        onclick: guard(() => act("answer/list-picker", { requestIdentifier: key, items: [...picks] }, `Picked ${picks.size} items`)),
      }, "Send")));
    }
    return card;
  }

  function slotLabel(slot, offsetMin) {
    const start = new Date(slot.startTime);
    if (Number.isNaN(start.getTime())) return slot.startTime;
    const local = new Date(start.getTime() + (offsetMin || 0) * 60000);
    const hhmm = local.toISOString().slice(11, 16);
    const day = local.toISOString().slice(0, 10);
    return `${day} ${hhmm}${slot.duration ? ` · ${Math.round(slot.duration / 60)} min` : ""}`;
  }

  function renderTimePicker(msg, idata, answered) {
    const { h, guard } = ui;
    const data = idata.data || {};
    const event = data.event || {};
    const images = imageMap(data);
    const key = msg.interactive.requestIdentifier;
    return h("div", { class: "card-ui", role: "group", "aria-label": "Time picker" },
      received(idata, images, event.title || "Choose a time"),
      event.location && event.location.title ? h("div", { class: "card-sub" }, event.location.title) : null,
      h("ul", { class: "picker-items" }, (event.timeslots || []).map((slot) => h("li", {}, h("button", {
        type: "button", disabled: answered, dataset: { slot: slot.identifier },
        onclick: guard(() => act("answer/time-picker", { requestIdentifier: key, timeslot: slot.identifier }, `Booked ${slot.startTime}`)),
      }, slotLabel(slot, event.timezoneOffset))))));
  }

  function renderQuickReply(msg, idata, answered) {
    const { h, guard } = ui;
    const qr = (idata.data || {})["quick-reply"] || {};
    const key = msg.interactive.requestIdentifier;
    return h("div", { role: "group", "aria-label": "Quick replies" },
      qr.summaryText ? h("div", { class: "bubble" }, qr.summaryText) : null,
      h("div", { class: "quick-replies" }, (qr.items || []).map((item) => h("button", {
        type: "button", disabled: answered, dataset: { item: item.identifier },
        onclick: guard(() => act("answer/quick-reply", { requestIdentifier: key, item: item.identifier }, `Replied ${item.title}`)),
      }, item.title))));
  }

  function renderPayment(msg, idata, answered) {
    const { h, guard } = ui;
    const payment = (idata.data || {}).payment || {};
    const request = payment.paymentRequest || {};
    const images = imageMap(idata.data);
    const key = msg.interactive.requestIdentifier;
    const currency = request.currencyCode || "";
    const lines = h("dl", { class: "pay-lines" });
    for (const item of request.lineItems || []) lines.append(h("dt", {}, item.label), h("dd", {}, `${item.amount} ${currency}`));
    if (request.total) lines.append(h("dt", { class: "total" }, request.total.label || "Total"), h("dd", { class: "total" }, `${request.total.amount} ${currency}`));
    return h("div", { class: "card-ui", role: "group", "aria-label": "Apple Pay" },
      received(idata, images, "Apple Pay"),
      h("div", { class: "card-sub" }, ["Pay", (payment.merchantSession && payment.merchantSession.displayName) || request.merchantName || "", request.countryCode ? `(${request.countryCode})` : ""].join(" ")),
      lines,
      h("div", { class: "card-actions" },
        h("button", { type: "button", disabled: answered, class: "secondary",
          onclick: guard(() => act("answer/apple-pay", { requestIdentifier: key, approve: false }, "Payment declined")) }, "Cancel"),
        h("button", { type: "button", disabled: answered,
          onclick: guard(() => act("answer/apple-pay", { requestIdentifier: key, approve: true }, "Payment approved")) }, " Pay")));
  }

  // A form drawn page by page: choices as radio buttons (checkboxes with multipleSelection), other pages as a
  // text field. What the user entered survives re-renders (local.forms); untouched pages are left out, so the
  // simulated device answers them itself (first item, placeholder).
  function renderForm(msg, idata, answered) {
    const { h, guard } = ui;
    const images = imageMap(idata.data);
    const dynamic = (idata.data || {}).dynamic || {};
    const pages = (dynamic.data || {}).pages || [];
    const key = msg.interactive.requestIdentifier;
    const answers = local.forms.get(key) || {};
    local.forms.set(key, answers);
    const submit = async () => {
      const sent = {};
      for (const [page, value] of Object.entries(answers)) {
        if (Array.isArray(value) ? value.length : String(value).trim() !== "") sent[page] = value;
      }
      await act("answer/form", { requestIdentifier: key, answers: sent }, "Form submitted");
    };
    const card = h("form", { class: "card-ui form-card", role: "group", "aria-label": "Form",
      onsubmit: guard(async (event) => { event.preventDefault(); await submit(); }) },
      received(idata, images, "Form"));
    pages.forEach((page, index) => {
      const id = page.pageIdentifier;
      const field = `form-${key}-${index}`;
      const items = page.items || [];
      if ((page.type === "select" || page.type === "picker") && items.length) {
        const multi = Boolean(page.multipleSelection);
        const chosen = new Set([].concat(answers[id] || []));
        card.append(h("fieldset", { class: "form-page", dataset: { page: id } },
          h("legend", {}, page.title || id),
          items.map((item, i) => h("label", { class: "form-choice" },
            h("input", { type: multi ? "checkbox" : "radio", name: field, value: item.identifier, id: `${field}-${i}`,
              checked: chosen.has(item.identifier), disabled: answered,
              onchange: (event) => {
                if (multi) {
                  const now = new Set([].concat(answers[id] || []));
                  if (event.target.checked) now.add(item.identifier); else now.delete(item.identifier);
                  answers[id] = [...now];
                } else {
                  answers[id] = item.identifier;
                }
              } }),
            h("span", {}, item.title || item.identifier)))));
      } else {
        const options = page.options || {};
        card.append(h("div", { class: "form-page", dataset: { page: id } },
          h("label", { for: field }, page.title || id),
          h("input", { type: "text", id: field, name: field, placeholder: options.placeholder || "",
            value: answers[id] || "", disabled: answered,
            oninput: (event) => { answers[id] = event.target.value; } })));
      }
    });
    card.append(h("div", { class: "card-actions" }, h("button", { type: "submit", disabled: answered }, "Submit form")));
    return card;
  }

  function renderGeneric(msg, idata, answered, feature) {
    const { h, guard } = ui;
    const images = imageMap(idata.data);
    const key = msg.interactive.requestIdentifier;
    const buttons = feature === "authenticate"
      ? [["Sign in", { result: "success" }], ["Fail sign-in", { result: "fail" }]]
      : [[feature === "dynamic" ? "Submit form" : "Reply", {}]];
    return h("div", { class: "card-ui", role: "group", "aria-label": FEATURE_LABELS[feature] || "Interactive message" },
      received(idata, images, FEATURE_LABELS[feature] || "Interactive message"),
      h("div", { class: "card-actions" }, buttons.map(([label, extra]) => h("button", {
        type: "button", disabled: answered,
        onclick: guard(() => act(`answer/${ANSWER_PATHS[feature] || "interactive"}`, { requestIdentifier: key, ...extra }, label)),
      }, label))));
  }

  function renderAttachments(msg) {
    const { h } = ui;
    const list = msg.attachments || [];
    if (!list.length) return null;
    return h("ul", { class: "deliveries", "aria-label": "Attachments" }, list.map((a) => {
      const name = a.name || a.fileName || a.filename || "attachment";
      const href = msg.seq !== undefined ? `${customerPath(local.selected)}/device/${msg.seq}/attachments/${list.indexOf(a)}` : null;
      const label = `${name} (${a.mimeType || a.type || "file"}, ${a.size ?? "?"} bytes)`;
      return h("li", {}, href ? h("a", { href, download: name }, `⬇ ${label}`) : label,
        a.problem ? h("div", { class: "small warning", role: "note" }, a.problem) : null,
        a.sha256 ? h("div", { class: "small muted" }, `sha256 ${a.sha256}`) : null);
    }));
  }

  function hostOf(url) {
    try { return new URL(url, location.href).host; } catch (err) { return String(url); }  // never break the thread
  }

  function renderMessage(msg) {
    const { h } = ui;
    const fromBusiness = msg.direction === "received";
    const li = h("li", { class: `msg ${fromBusiness ? "from-business" : "from-customer"}`,
      dataset: { id: msg.id || "", type: msg.type || "", feature: (msg.interactive && msg.interactive.feature) || "" } });
    const inter = msg.interactive;
    const idata = inter && (inter.interactiveData || inter.data);
    if (msg.type === "typing_start" || msg.type === "typing_end") {
      li.append(h("div", { class: "typing" }, msg.type === "typing_start" ? "typing…" : "stopped typing"));
      return li;
    }
    if (msg.body) li.append(h("div", { class: "bubble" }, String(msg.body).replace(/\uFFFC/g, "")));
    if (msg.richLink) {
      li.append(h("a", { class: "card-ui", href: msg.richLink.url, target: "_blank", rel: "noopener", "aria-label": `Link: ${msg.richLink.title || msg.richLink.url}` },
        msg.richLink.image ? h("img", { src: msg.richLink.image, alt: "" }) : null,
        h("div", { class: "card-title" }, msg.richLink.title || msg.richLink.url),
        h("div", { class: "card-sub" }, (msg.richLink.appClip ? "App Clip · " : "") + hostOf(msg.richLink.url))));
    }
    if (idata && fromBusiness) {
      const answered = Boolean(inter.answered);
      const feature = inter.feature;
      if (feature === "listPicker") li.append(renderListPicker(msg, idata, answered));
      else if (feature === "event") li.append(renderTimePicker(msg, idata, answered));
      else if (feature === "quick-reply") li.append(renderQuickReply(msg, idata, answered));
      else if (feature === "payment") li.append(renderPayment(msg, idata, answered));
      else if (feature === "dynamic") li.append(renderForm(msg, idata, answered));
      else li.append(renderGeneric(msg, idata, answered, feature));
    } else if (idata) {
      const reply = idata.replyMessage || (idata.data && idata.data.replyMessage) || {};
      li.append(h("div", { class: "bubble" }, reply.title || FEATURE_LABELS[inter.feature] || "Reply"));
    } else if (inter && inter.reply) {
      const data = inter.reply.data || {};
      const reply = data.replyMessage || inter.reply.replyMessage || {};
      li.append(h("div", { class: "bubble", dataset: { reply: inter.feature || "" } },
        reply.title || FEATURE_LABELS[inter.feature] || "Reply"));
    }
    const att = renderAttachments(msg);
    if (att) li.append(att);
    if (!li.childNodes.length) li.append(h("div", { class: "bubble" }, `(${msg.type})`));
    const when = typeof msg.at === "number" ? new Date(msg.at).toISOString() : msg.at;
    const meta = h("div", { class: "meta" }, h("span", {}, inter ? (FEATURE_LABELS[inter.feature] || msg.type) : msg.type),
      when ? h("time", { datetime: when, title: when }, ui.timeOnly(when)) : null,
      msg.delivery && !fromBusiness ? h("span", { class: msg.delivery === "queued" ? "small" : "small muted" }, msg.delivery) : null,
      inter && inter.answered ? h("span", { class: "badge ok" }, "answered") : null,
      msg.dropped ? h("span", { class: "badge bad" }, "dropped: conversation closed") : null);
    li.append(meta);
    return li;
  }

  let lastState = null;
  function render() {
    const state = lastState;
    const { h } = ui;
    const list = h("ul", { class: "conv-list", "aria-label": "Customers" }, customers(state).map((c) => h("li", {},
      h("button", { type: "button", "aria-current": local.selected === c.id ? "true" : "false", dataset: { customer: c.id },
        onclick: () => { local.selected = c.id; load(state, ui); } },
      h("span", { class: "who" }, c.name || c.id), h("span", { class: "snippet" }, c.id)))));
    document.getElementById("bc-customers").replaceChildren(list);
    const thread = document.getElementById("bc-thread");
    const customer = customers(state).find((c) => c.id === local.selected);
    document.getElementById("bc-thread-heading").textContent = customer ? `${customer.name || "Customer"}'s phone` : "Choose a customer";
    const business = businesses(state).find((b) => b.id === local.business);
    document.getElementById("bc-thread-sub").textContent = business ? `Messages with ${business.name}` : "";
    if (!customer) { thread.replaceChildren(); return; }
    const all = local.messages || [];
    const shown = all.filter((m) => m.type !== "typing_start" && m.type !== "typing_end");
    const last = all[all.length - 1];
    const items = shown.map(renderMessage);
    if (last && last.type === "typing_start") {
      items.push(h("li", { class: `msg ${last.direction === "received" ? "from-business" : "from-customer"}` },
        h("div", { class: "typing" }, "typing…")));
    }
    const conv = (local.conversations || []).find((c) => c.businessId === local.business);
    if (conv && conv.closed) items.push(h("li", { class: "msg from-customer" }, h("div", { class: "typing" }, "conversation closed by the customer")));
    thread.replaceChildren(...items);
    thread.scrollTop = thread.scrollHeight;
  }

  async function load(state, helpers) {
    ui = helpers;
    lastState = state;
    const note = document.getElementById("bc-note");
    if (!state.info.businessChat) {
      note.textContent = "Business Chat is not part of this simulator's world.";
      document.getElementById("bc-compose").hidden = true;
      return;
    }
    try {
      const listed = await ui.get(`${BASE}/customers`);
      if (listed && Array.isArray(listed.customers)) local.customers = listed.customers;
    } catch (err) { if (err.status !== 404) throw err; }
    if (!local.selected && customers(state).length) local.selected = customers(state)[0].id;
    if (!local.business && businesses(state).length) local.business = businesses(state)[0].id;
    if (local.selected) {
      try {
        const data = await ui.get(`${customerPath(local.selected)}/device`);
        local.messages = Array.isArray(data) ? data : (data.messages || data.results || []);
        local.conversations = data.conversations || [];
        local.messages = local.messages.filter((m) => !m.businessId || !local.business || m.businessId === local.business);
        note.textContent = "Tap an item to answer as the customer; the reply goes to the business's webhook.";
      } catch (err) {
        if (err.status === 404) {
          local.messages = [];
          note.textContent = "This simulator build has no Business Chat device endpoints yet.";
        } else throw err;
      }
    }
    const signature = JSON.stringify([local.selected, local.customers, local.conversations, local.messages, [...local.picks].map(([k, v]) => [k, [...v]])]);
    if (signature !== local.lastSignature) { local.lastSignature = signature; render(); }
  }

  function wireComposer() {
    const form = document.getElementById("bc-compose");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!ui || !local.selected) return;
      const text = form.text.value;
      try {
        await act("text", { text }, "Customer message sent");
        form.text.value = "";
      } catch (err) { ui.toast(err.message, true); }
    });
  }

  document.addEventListener("DOMContentLoaded", wireComposer);
  window.BusinessChatUI = { load };
})();
