// The wacontacts dashboard: plain modern JavaScript, no build step. It talks only to
// this server's own API (WAHA's routes) with the API key kept in sessionStorage, and
// never loads a whole contact list: the table asks the server for one page at a time
// (limit/offset, sortBy/sortOrder, search), and pictures are asked for only when their
// row scrolls into view.

const KEY_STORAGE = "wacontacts.apiKey";
const PAGE_SIZE = 50;
const SESSION_POLL_MS = 2000;
const SEARCH_DEBOUNCE_MS = 300;
const WEBHOOK_POLL_MS = 2000;
const FAILED_LIMIT = 100;
const DELIVERIES_PAGE = 25;

const $ = (id) => document.getElementById(id);

/** An API answer that was not 2xx: the server's `{code, message, value}` body. */
class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.value = body?.value;
  }
}

const state = {
  sessions: [],
  pairing: null, // name of the session whose QR is shown
  qrValue: null,
  qrUrl: null,
  contacts: { session: null, offset: 0, sortBy: "name", sortOrder: "asc", search: "", rows: [], seq: 0 },
  detail: null,
  checks: [],
  // Recent deliveries: the page shown (offset), and the answers' order guard.
  deliveries: { offset: 0, seq: 0 },
  failedSeq: 0,
};

// ---- API ----------------------------------------------------------------------

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

/** Calls the API with the key; JSON in and out. 401 forgets the key and asks again. */
async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { "X-Api-Key": apiKey() ?? "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    sessionStorage.removeItem(KEY_STORAGE);
    showLogin("The API key was refused.");
    throw new ApiError(401, await response.json().catch(() => null));
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  if (raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

const enc = encodeURIComponent;

function notice(message, kind = "error") {
  const el = $("notice");
  el.textContent = message;
  el.className = kind;
  el.hidden = !message;
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) return;
  const detail = error instanceof ApiError && error.code ? ` (${error.code})` : "";
  notice(`${error.message}${detail}`);
}

/** Runs an action from a button, showing its error; the button is disabled meanwhile. */
async function act(button, fn) {
  if (button) button.disabled = true;
  try {
    notice("");
    await fn();
  } catch (e) {
    failed(e);
  } finally {
    if (button) button.disabled = false;
  }
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "class") node.className = v;
    else node[k] = v;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

// ---- Key and navigation ---------------------------------------------------------

function showLogin(message) {
  stopPolling();
  $("login").hidden = false;
  $("tabs").hidden = true;
  $("sign-out").hidden = true;
  for (const view of document.querySelectorAll("[data-view]")) view.hidden = true;
  if (message) notice(message);
  $("api-key").focus();
}

async function login(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  $("api-key").value = "";
  await start();
}

async function start() {
  if (!apiKey()) return showLogin();
  try {
    await refreshSessions();
  } catch (e) {
    return failed(e);
  }
  notice("");
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("sign-out").hidden = false;
  route();
  startPolling();
}

function route() {
  if (!apiKey()) return;
  const tab = (location.hash || "#sessions").slice(1);
  const known = ["sessions", "contacts", "checks", "webhooks"].includes(tab) ? tab : "sessions";
  for (const view of document.querySelectorAll("[data-view]")) view.hidden = view.dataset.view !== known;
  for (const link of document.querySelectorAll("[data-tab]")) {
    link.setAttribute("aria-current", link.dataset.tab === known ? "page" : "false");
  }
  if (known === "contacts") openContacts();
  if (known === "checks") openChecks();
  if (known === "webhooks") openWebhooks();
  else stopWebhookPolling();
}

// ---- Sessions ---------------------------------------------------------------------

let sessionTimer = null;

/**
 * (Re)starts the session status poll. It leaves the Webhooks view's own poll alone:
 * `route()` owns that one, and has already started it when the page opens on
 * #webhooks (stopping it here left that view without updates until a Reload click).
 */
function startPolling() {
  clearInterval(sessionTimer);
  sessionTimer = setInterval(() => refreshSessions().catch(failed), SESSION_POLL_MS);
}

/** Stops every poll (the key was refused or forgotten). */
function stopPolling() {
  clearInterval(sessionTimer);
  sessionTimer = null;
  stopWebhookPolling();
}

async function refreshSessions() {
  state.sessions = await api("/api/sessions?all=true");
  renderSessions();
  fillSessionSelects();
  followPairing();
}

function meLine(session) {
  const me = session.me;
  if (!me) return null;
  const number = me.id ? `+${me.id.split("@")[0]}` : "";
  return el("p", { class: "me", dataset: { testid: "me" } }, `${me.pushName || "(no name)"} · ${number}`);
}

function renderSessions() {
  const list = $("session-list");
  const items = state.sessions.map((s) => {
    const buttons = el("div", { class: "actions" });
    const add = (label, fn, cls) => {
      const b = el("button", { type: "button", textContent: label, class: cls || "" });
      b.addEventListener("click", () => act(b, fn));
      buttons.append(b);
    };
    const name = enc(s.name);
    if (s.status === "STOPPED" || s.status === "FAILED") add("Start", () => sessionAction(`/api/sessions/${name}/start`));
    else add("Stop", () => sessionAction(`/api/sessions/${name}/stop`));
    if (s.status === "SCAN_QR_CODE") add("Show QR", () => showPairing(s.name));
    add("Log out", () => sessionAction(`/api/sessions/${name}/logout`));
    add("Delete", () => confirmDelete(buttons, s.name), "danger");
    return el(
      "li",
      { class: "card", dataset: { session: s.name } },
      el("div", { class: "row" },
        el("strong", { textContent: s.name }),
        el("span", { class: `status ${s.status}`, textContent: s.status, dataset: { testid: "status" } })),
      s.failureReason ? el("p", { class: "muted", textContent: s.failureReason }) : null,
      s.status === "WORKING" ? meLine(s) : null,
      buttons,
    );
  });
  list.replaceChildren(...items);
  $("no-sessions").hidden = state.sessions.length > 0;
}

async function sessionAction(path, method = "POST") {
  await api(path, { method });
  await refreshSessions();
}

/** Delete asks once more in place (no modal dialogs). */
function confirmDelete(buttons, name) {
  const sure = el("button", { type: "button", class: "danger", textContent: `Delete ${name} for good` });
  sure.addEventListener("click", () =>
    act(sure, async () => {
      await sessionAction(`/api/sessions/${enc(name)}`, "DELETE");
      if (state.pairing === name) hidePairing();
    }),
  );
  buttons.replaceChildren(sure);
}

async function createSession(event) {
  event.preventDefault();
  const input = $("new-session");
  const name = input.value.trim();
  await act(event.submitter, async () => {
    await api("/api/sessions", { method: "POST", body: { name, start: true } });
    input.value = "";
    state.pairing = name;
    await refreshSessions();
  });
}

// ---- Pairing (QR and pair code) ---------------------------------------------------------

function showPairing(name) {
  state.pairing = name;
  state.qrValue = null;
  $("pair-code").hidden = true;
  followPairing();
}

function hidePairing() {
  state.pairing = null;
  state.qrValue = null;
  $("pairing").hidden = true;
}

/**
 * Shows the QR while the chosen session waits for a scan (refreshed with every status
 * poll, so a rotated code shows within one poll); hides it once linked.
 */
function followPairing() {
  const session = state.sessions.find((s) => s.name === state.pairing);
  if (!session || !["SCAN_QR_CODE", "STARTING"].includes(session.status)) {
    if (state.pairing) hidePairing();
    return;
  }
  $("pairing").hidden = false;
  $("pairing-name").textContent = session.name;
  // Right after the status said SCAN_QR_CODE (not on a timer of its own), so the QR
  // is not asked for after the session linked.
  if (session.status === "SCAN_QR_CODE") refreshQr().catch(failed);
}

/** Fetches the raw QR; when it rotated, fetches the new image too. */
async function refreshQr() {
  const session = state.sessions.find((s) => s.name === state.pairing);
  if (!session || session.status !== "SCAN_QR_CODE") return;
  const name = enc(session.name);
  let raw;
  try {
    raw = await api(`/api/${name}/auth/qr?format=raw`);
  } catch (e) {
    // The QR went away between the status poll and this call: the next poll tells why.
    if (e instanceof ApiError && [422, 503].includes(e.status)) return;
    throw e;
  }
  if (raw.value === state.qrValue) return;
  const image = await api(`/api/${name}/auth/qr?format=image`, { raw: true });
  const url = URL.createObjectURL(await image.blob());
  if (state.qrUrl) URL.revokeObjectURL(state.qrUrl);
  state.qrUrl = url;
  state.qrValue = raw.value;
  $("qr-image").src = url;
  $("qr-value").textContent = raw.value;
}

async function requestPairCode(event) {
  event.preventDefault();
  const phoneNumber = $("pair-phone").value.trim();
  await act(event.submitter, async () => {
    const answer = await api(`/api/${enc(state.pairing)}/auth/request-code`, {
      method: "POST",
      body: { phoneNumber },
    });
    const out = $("pair-code");
    out.textContent = `Type this code on the phone: ${answer.code}`;
    out.hidden = false;
  });
}

function fillSessionSelects() {
  const working = state.sessions.filter((s) => s.status === "WORKING").map((s) => s.name);
  for (const id of ["contact-session", "check-session", "webhook-session"]) {
    const select = $(id);
    const current = select.value;
    const names = [...select.options].map((o) => o.value);
    if (names.join() === working.join()) continue;
    select.replaceChildren(...working.map((n) => el("option", { value: n, textContent: n })));
    if (working.includes(current)) select.value = current;
    select.dispatchEvent(new Event("change"));
  }
}

// ---- Contacts -------------------------------------------------------------------------

function openContacts() {
  const session = $("contact-session").value || null;
  if (session !== state.contacts.session) {
    state.contacts.session = session;
    state.contacts.offset = 0;
    $("detail").hidden = true;
  }
  loadContacts().catch(failed);
}

let searchTimer = null;

function onSearch() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    state.contacts.search = $("search").value.trim();
    state.contacts.offset = 0;
    loadContacts().catch(failed);
  }, SEARCH_DEBOUNCE_MS);
}

function onSort(event) {
  const by = event.currentTarget.dataset.sort;
  const c = state.contacts;
  c.sortOrder = c.sortBy === by && c.sortOrder === "asc" ? "desc" : "asc";
  c.sortBy = by;
  c.offset = 0;
  loadContacts().catch(failed);
}

/** Loads one page; an answer that arrives after a newer request is dropped. */
async function loadContacts() {
  const c = state.contacts;
  if (!c.session) {
    $("contacts-body").replaceChildren();
    $("contacts-empty").hidden = false;
    $("page-info").textContent = "";
    return;
  }
  const seq = ++c.seq;
  const params = new URLSearchParams({
    session: c.session,
    limit: String(PAGE_SIZE + 1),
    offset: String(c.offset),
    sortBy: c.sortBy,
    sortOrder: c.sortOrder,
  });
  if (c.search) params.set("search", c.search);
  const rows = await api(`/api/contacts/all?${params}`);
  if (seq !== c.seq) return;
  c.more = rows.length > PAGE_SIZE;
  c.rows = rows.slice(0, PAGE_SIZE);
  renderContacts();
}

const pictureObserver = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      pictureObserver.unobserve(entry.target);
      loadPicture(entry.target).catch(() => {});
    }
  },
  { rootMargin: "200px" },
);

/** Asks for one contact's picture URL once its row is near the screen. */
async function loadPicture(img) {
  const params = new URLSearchParams({ session: img.dataset.session, contactId: img.dataset.contact });
  const answer = await api(`/api/contacts/profile-picture?${params}`);
  const url = answer?.profilePictureURL;
  if (url) {
    img.src = url;
    img.closest("td").classList.add("has-picture");
  }
}

function badges(contact) {
  const out = el("span", { class: "badges" });
  if (contact.isBusiness) out.append(el("span", { class: "badge business", textContent: "business" }));
  if (contact.isBlocked) out.append(el("span", { class: "badge blocked", textContent: "blocked" }));
  if (contact.isMe) out.append(el("span", { class: "badge me", textContent: "me" }));
  return out;
}

function displayName(c) {
  return c.name || c.pushname || c.verifiedName || c.businessName || "";
}

function renderContacts() {
  const c = state.contacts;
  const rows = c.rows.map((contact) => {
    const img = el("img", {
      alt: "",
      loading: "lazy",
      width: 32,
      height: 32,
      dataset: { session: c.session, contact: contact.id },
    });
    pictureObserver.observe(img);
    const tr = el(
      "tr",
      { tabIndex: 0, dataset: { id: contact.id } },
      el("td", { class: "pic" }, img),
      el("td", { textContent: displayName(contact) }),
      el("td", { class: "opt", textContent: contact.pushname || "" }),
      el("td", { textContent: contact.number ? `+${contact.number}` : "" }),
      el("td", { class: "opt", textContent: contact.lid || "" }),
      el("td", {}, badges(contact)),
    );
    tr.addEventListener("click", () => openDetail(contact.id).catch(failed));
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter") openDetail(contact.id).catch(failed);
    });
    return tr;
  });
  $("contacts-body").replaceChildren(...rows);
  $("contacts-empty").hidden = rows.length > 0;
  $("contacts-empty").textContent = c.search ? `No contact matches “${c.search}”.` : "No contacts.";
  $("prev-page").disabled = c.offset === 0;
  $("next-page").disabled = !c.more;
  $("page-info").textContent = rows.length ? `${c.offset + 1}–${c.offset + rows.length}` : "";
  for (const button of document.querySelectorAll("button.sort")) {
    const active = button.dataset.sort === c.sortBy;
    button.setAttribute("aria-sort", active ? (c.sortOrder === "asc" ? "ascending" : "descending") : "none");
  }
}

function page(step) {
  const c = state.contacts;
  c.offset = Math.max(0, c.offset + step * PAGE_SIZE);
  loadContacts().catch(failed);
}

async function openDetail(id) {
  const session = state.contacts.session;
  const contact = await api(`/api/${enc(session)}/contacts/${enc(id)}`);
  state.detail = { session, contact, identity: undefined };
  renderDetail();
  $("detail").hidden = false;
  loadIdentity(session, id).catch(failed);
  // The about text may be older than its cache; the route refreshes a stale one.
  const params = new URLSearchParams({ session, contactId: id });
  const about = await api(`/api/contacts/about?${params}`).catch(() => null);
  if (about && state.detail?.contact.id === id) {
    state.detail.contact.about = about.about;
    renderDetail();
  }
}

function renderDetail() {
  const c = state.detail.contact;
  $("detail-name").textContent = displayName(c) || c.id;
  $("detail-number").textContent = c.number ? `+${c.number}` : "—";
  $("detail-lid").textContent = c.lid || "—";
  $("detail-pushname").textContent = c.pushname || "—";
  $("detail-username").textContent = c.username ? `@${c.username}` : "";
  $("detail-username").hidden = $("detail-username-label").hidden = !c.username;
  $("detail-about").textContent = c.about ?? "—";
  const previous = c.previousNumbers || [];
  $("detail-previous").replaceChildren(
    ...(previous.length
      ? previous.map((p) => el("div", { textContent: `+${p.id.split("@")[0]} (until ${new Date(p.changedAt).toLocaleDateString()})` }))
      : ["—"]),
  );
  $("detail-block").textContent = c.isBlocked ? "Unblock" : "Block";
  renderIdentity();
}

/**
 * The contact's latest identity (security code) change. A 404 `identity_not_found`
 * is an answer, not a failure: no change was seen for this contact.
 */
async function loadIdentity(session, id) {
  let identity;
  try {
    identity = await api(`/api/${enc(session)}/contacts/${enc(id)}/identity`);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "identity_not_found")) throw e;
    identity = null;
  }
  if (state.detail?.session !== session || state.detail.contact.id !== id) return;
  state.detail.identity = identity;
  renderIdentity();
}

function renderIdentity() {
  const identity = state.detail.identity;
  const out = $("detail-identity");
  const ack = $("detail-ack");
  // A change whose key could not be read has no hash to acknowledge it by.
  ack.hidden = !identity || identity.acknowledged || !identity.hash;
  if (identity === undefined) out.textContent = "…";
  else if (identity === null) out.textContent = "no change seen";
  else {
    const when = new Date(identity.created_timestamp).toLocaleString();
    out.textContent = `changed ${when}, ${identity.acknowledged ? "acknowledged" : "not acknowledged"}`;
  }
}

/** Acknowledges the change shown (by its hash; 400 when a newer one came meanwhile). */
async function acknowledgeIdentity() {
  const { session, contact, identity } = state.detail;
  const path = `/api/${enc(session)}/contacts/${enc(contact.id)}/identity`;
  try {
    await api(path, { method: "PUT", body: { hash: identity.hash } });
  } finally {
    await loadIdentity(session, contact.id);
  }
}

async function toggleBlock() {
  const { session, contact } = state.detail;
  const route = contact.isBlocked ? "unblock" : "block";
  await api(`/api/contacts/${route}`, { method: "POST", body: { session, contactId: contact.id } });
  const fresh = await api(`/api/${enc(session)}/contacts/${enc(contact.id)}`);
  fresh.about = contact.about;
  state.detail.contact = fresh;
  renderDetail();
  await loadContacts();
}

// ---- Checks ---------------------------------------------------------------------------

function openChecks() {
  refreshBudget().catch(failed);
}

async function refreshBudget() {
  const session = $("check-session").value;
  if (!session) {
    $("budget").textContent = "No WORKING session.";
    return;
  }
  const b = await api(`/api/${enc(session)}/contacts/check-exists/budget`);
  const paused = b.pausedForSecs ? `; paused ${b.pausedForSecs} s` : "";
  $("budget").textContent = `Budget: ${b.remaining} of ${b.budgetPerHour} lookups left this hour${paused}`;
}

/** Splits a pasted list on lines, commas and semicolons; drops blanks. */
function pastedNumbers(text) {
  return text
    .split(/[\n\r,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

async function runChecks() {
  const session = $("check-session").value;
  const phones = pastedNumbers($("check-input").value);
  if (!session) return notice("No WORKING session to check with.");
  if (!phones.length) return notice("Paste some numbers first.");
  await act($("check-run"), async () => {
    state.checks = await api(`/api/${enc(session)}/contacts/check-exists`, {
      method: "POST",
      body: { phones },
    });
    renderChecks();
    await refreshBudget();
  });
}

function existsText(item) {
  if (item.error) return item.error.message;
  return item.numberExists ? "yes" : "no";
}

function renderChecks() {
  const rows = state.checks.map((item) =>
    el(
      "tr",
      { class: item.error ? "invalid" : item.numberExists ? "exists" : "absent" },
      el("td", { textContent: item.phone }),
      el("td", { textContent: item.e164 || "—" }),
      el("td", { textContent: existsText(item) }),
      el("td", { class: "opt", textContent: item.chatId || "" }),
      el("td", { class: "opt", textContent: item.lid || "" }),
    ),
  );
  $("check-body").replaceChildren(...rows);
  $("check-table").hidden = false;
  $("check-csv").disabled = rows.length === 0;
  const on = state.checks.filter((i) => i.numberExists).length;
  const bad = state.checks.filter((i) => i.error).length;
  $("check-summary").textContent = `${state.checks.length} checked: ${on} on WhatsApp, ${bad} not numbers`;
}

/**
 * RFC 4180 field: quoted when it holds a comma, quote or line break. A cell a
 * spreadsheet would run as a formula (`=`, `@`, or `+`/`-` not followed by a phone
 * number) is prefixed with `'`.
 */
function csvField(value) {
  let text = value == null ? "" : String(value);
  const phoneLike = /^\+[\d\s().\-]+$/.test(text);
  if (/^[=+\-@\t\r]/.test(text) && !phoneLike) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function exportCsv() {
  const header = ["input", "e164", "numberExists", "chatId", "lid", "error"];
  const lines = state.checks.map((i) =>
    [i.phone, i.e164, i.error ? "" : i.numberExists, i.chatId, i.lid, i.error?.code].map(csvField).join(","),
  );
  const blob = new Blob([[header.join(","), ...lines].join("\r\n") + "\r\n"], { type: "text/csv" });
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: "check-exists.csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- Webhooks ---------------------------------------------------------------------------

let webhookTimer = null;

/**
 * While the view is open, failed and recent deliveries are reloaded every 2 s (events
 * fail, retries come back, new POSTs are logged). The one timer of this view: started
 * here, stopped when another view opens or polling stops.
 */
function openWebhooks() {
  loadWebhooks().catch(failed);
  clearInterval(webhookTimer);
  webhookTimer = setInterval(() => loadDeliveryLists().catch(failed), WEBHOOK_POLL_MS);
}

function stopWebhookPolling() {
  clearInterval(webhookTimer);
  webhookTimer = null;
}

async function loadWebhooks() {
  await Promise.all([loadTargets(), loadDeliveryLists()]);
}

function loadDeliveryLists() {
  return Promise.all([loadFailed(), loadDeliveries()]);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Replaces `body`'s rows only when `data` differs from what they show: polling every
 * 2 s must not rebuild a row under a pointer that is about to click its button.
 */
function renderRows(body, data, row) {
  const shown = JSON.stringify(data);
  if (body.dataset.shown === shown) return;
  body.dataset.shown = shown;
  body.replaceChildren(...data.map(row));
}

/** The session's configured webhooks (`config.webhooks` of GET /api/sessions/{name}). */
async function loadTargets() {
  const session = $("webhook-session").value;
  const hooks = session ? (await api(`/api/sessions/${enc(session)}`)).config?.webhooks || [] : [];
  if (session !== $("webhook-session").value) return;
  const items = hooks.map((h) => {
    const r = h.retries || {};
    const retries = `${plural(r.attempts ?? 15, "attempt")}, base delay ${r.delaySeconds ?? 2} s, ${r.policy || "exponential"}`;
    return el(
      "li",
      { class: "card" },
      el("code", { class: "wrap", textContent: h.url }),
      el("p", { class: "muted", textContent: `Events: ${(h.events || []).join(", ") || "none"}` }),
      el("p", { class: "muted", textContent: `Retries: ${retries}${h.hmac ? "; signed (HMAC)" : ""}` }),
    );
  });
  $("webhook-targets").replaceChildren(...items);
  $("no-targets").hidden = items.length > 0;
}

/** Dead letters, newest first. An answer overtaken by a newer request is dropped. */
async function loadFailed() {
  const session = $("webhook-session").value;
  const seq = ++state.failedSeq;
  const dead = session ? await api(`/api/${enc(session)}/webhooks/failed?limit=${FAILED_LIMIT}`) : [];
  if (seq !== state.failedSeq || session !== $("webhook-session").value) return;
  renderRows($("failed-body"), dead, (d) => {
    const retry = el("button", { type: "button", textContent: "Retry" });
    retry.addEventListener("click", () => act(retry, () => retryFailed(session, d.id)));
    return el(
      "tr",
      { dataset: { id: d.id, failedAt: String(d.failedAt) } },
      el("td", { textContent: d.event }),
      el("td", { textContent: new Date(d.failedAt).toLocaleString() }),
      el("td", { class: "opt", textContent: plural(d.attempts, "attempt") }),
      el("td", { class: "opt wrap", textContent: d.lastError }),
      el("td", {}, retry),
    );
  });
  $("no-failed").hidden = dead.length > 0;
}

/** `delivered (200)` or `failed: HTTP 503` / `failed: could not connect`. */
function deliveryResult(d) {
  return d.delivered ? `delivered (${d.status})` : `failed: ${d.error}`;
}

/**
 * One page of the session's recent delivery attempts (delivered and failed, every
 * receiver), newest first; the server keeps the newest 200. An answer overtaken by a
 * newer request is dropped.
 */
async function loadDeliveries() {
  const session = $("webhook-session").value;
  const d = state.deliveries;
  const seq = ++d.seq;
  const params = new URLSearchParams({ limit: String(DELIVERIES_PAGE + 1), offset: String(d.offset) });
  const rows = session ? await api(`/api/${enc(session)}/webhooks/deliveries?${params}`) : [];
  if (seq !== d.seq || session !== $("webhook-session").value) return;
  const shown = rows.slice(0, DELIVERIES_PAGE);
  renderRows($("deliveries-body"), shown, (r) =>
    el(
      "tr",
      { class: r.delivered ? "delivered" : "failed", dataset: { id: r.id, attemptedAt: String(r.attemptedAt) } },
      el("td", { textContent: r.event }),
      el("td", { textContent: new Date(r.attemptedAt).toLocaleString() }),
      el("td", { class: "opt wrap", textContent: r.url }),
      el("td", { class: "result", textContent: deliveryResult(r) }),
      el("td", { class: "opt", textContent: String(r.attempts) }),
    ),
  );
  $("no-deliveries").hidden = shown.length > 0 || d.offset > 0;
  $("deliveries-newer").disabled = d.offset === 0;
  $("deliveries-older").disabled = rows.length <= DELIVERIES_PAGE;
  $("deliveries-info").textContent = shown.length ? `${d.offset + 1}–${d.offset + shown.length}` : "";
}

function deliveriesPage(step) {
  const d = state.deliveries;
  d.offset = Math.max(0, d.offset + step * DELIVERIES_PAGE);
  loadDeliveries().catch(failed);
}

/** Queues a dead letter again; it leaves the list, and comes back if it fails again. */
async function retryFailed(session, id) {
  await api(`/api/${enc(session)}/webhooks/failed/${enc(id)}/retry`, { method: "POST" });
  notice(`Event ${id} queued again.`, "info");
  await loadDeliveryLists();
}

// ---- Wiring -----------------------------------------------------------------------------

$("login-form").addEventListener("submit", login);
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  showLogin();
});
$("create-form").addEventListener("submit", createSession);
$("pair-form").addEventListener("submit", requestPairCode);
$("search").addEventListener("input", onSearch);
for (const button of document.querySelectorAll("button.sort")) button.addEventListener("click", onSort);
$("contacts-reload").addEventListener("click", () => loadContacts().catch(failed));
$("prev-page").addEventListener("click", () => page(-1));
$("next-page").addEventListener("click", () => page(1));
$("contact-session").addEventListener("change", () => {
  if (!$("view-contacts").hidden) openContacts();
});
$("check-session").addEventListener("change", () => {
  if (!$("view-checks").hidden) openChecks();
});
$("detail-close").addEventListener("click", () => {
  $("detail").hidden = true;
  state.detail = null;
});
$("detail-block").addEventListener("click", (e) => act(e.currentTarget, toggleBlock));
$("detail-ack").addEventListener("click", (e) => act(e.currentTarget, acknowledgeIdentity));
$("check-run").addEventListener("click", runChecks);
$("webhook-session").addEventListener("change", () => {
  state.deliveries.offset = 0;
  if (!$("view-webhooks").hidden) loadWebhooks().catch(failed);
});
$("webhooks-reload").addEventListener("click", () => loadWebhooks().catch(failed));
$("deliveries-newer").addEventListener("click", () => deliveriesPage(-1));
$("deliveries-older").addEventListener("click", () => deliveriesPage(1));
$("check-csv").addEventListener("click", exportCsv);
window.addEventListener("hashchange", route);

start();
