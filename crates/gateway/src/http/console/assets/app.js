// fansly-gateway console: a small vanilla-JS app over the gateway's JSON
// routes. No build step, no dependencies. Every failure ends up in the
// error banner; nothing is ever left blank.
"use strict";

const S = {
  key: sessionStorage.getItem("fgw.key") || "",
  team: sessionStorage.getItem("fgw.team") || "",
  operator: sessionStorage.getItem("fgw.operator") === "1",
  me: null,
  timers: [],
  page: "",
};

// ---------- helpers ----------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);
const view = () => $("#view");
function when(ms) { return ms ? new Date(ms).toLocaleString() : "—"; }
function ago(ms) {
  if (!ms) return "—";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}
function badge(text, kind) { return h("span", { class: "badge " + (kind || "") }, text); }
function statusKind(s) {
  if (s === "authenticated" || s === "delivered") return "ok";
  if (s === "failed" || s === "needs-reconnect") return "bad";
  return "warn";
}
function table(head, rows, attrs) {
  return h("div", { class: "table-wrap" },
    h("table", attrs || {},
      h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
      h("tbody", {}, rows)));
}
function showError(msg) {
  $("#error-text").textContent = msg;
  $("#error").hidden = false;
}
function clearError() { $("#error").hidden = true; }
function every(ms, fn) {
  const id = setInterval(() => fn().catch((e) => showError(e.message)), ms);
  S.timers.push(id);
}
function stopTimers() { S.timers.forEach(clearInterval); S.timers = []; }

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + S.key, "X-Console": "1" };
  if (S.operator && S.team) headers["X-Team-Id"] = S.team;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error("The gateway did not answer (" + e.message + ")");
  }
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    const why = json && json.error ? (typeof json.error === "string" ? json.error : JSON.stringify(json.error)) : text || resp.statusText;
    const err = new Error(method + " " + path + " → " + resp.status + ": " + why);
    err.status = resp.status;
    throw err;
  }
  return json;
}
const data = async (method, path, body) => (await api(method, path, body)).data;

// ---------- sign-in ----------
function renderSignIn(message) {
  stopTimers();
  $("#nav").hidden = true;
  $("#who").hidden = true;
  const key = h("input", { id: "signin-key", type: "password", autocomplete: "off", placeholder: "fgw_… or the operator token", required: true, size: 40 });
  const form = h("form", { id: "signin", class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    clearError();
    try { await signIn(key.value.trim()); } catch (e) { showError(e.message); }
  } },
  h("h1", {}, "Sign in"),
  h("p", { class: "muted" }, "With a team API key (in sandbox mode: data/sandbox-api-key), or the operator token to see every team."),
  h("div", { class: "row" }, h("label", {}, "API key", key), h("button", { type: "submit", id: "signin-submit" }, "Sign in")),
  message ? h("p", { class: "notice" }, message) : null);
  view().replaceChildren(form);
  key.focus();
}

async function signIn(key) {
  if (!key) throw new Error("Enter an API key.");
  S.key = key;
  S.operator = false;
  S.team = "";
  // The operator token lists teams; a team key is refused there.
  try {
    const teams = (await api("GET", "/api/console/teams")).data;
    S.operator = true;
    if (!teams.length) throw new Error("There are no teams yet: create one with `fansly-gateway teams create`.");
    S.team = teams[0].id;
  } catch (e) {
    if (S.operator) { S.key = ""; throw e; }
  }
  try {
    await loadMe();
  } catch (e) {
    S.key = ""; S.operator = false;
    throw new Error(e.status === 401 ? "This key is not valid (unknown or revoked)." : e.message);
  }
  sessionStorage.setItem("fgw.key", S.key);
  sessionStorage.setItem("fgw.team", S.team);
  sessionStorage.setItem("fgw.operator", S.operator ? "1" : "0");
  if (!location.hash || location.hash === "#/") location.hash = "#/accounts";
  else route();
}

async function loadMe() {
  S.me = await data("GET", "/api/console/me");
  $("#nav").hidden = false;
  $("#who").hidden = false;
  $("#nav-sandbox").hidden = !S.me.sandbox;
  $("#team-name").textContent = (S.operator ? "operator · " : "") + S.me.team_name;
  const picker = $("#team-picker");
  picker.hidden = !S.operator;
  if (S.operator) {
    const teams = (await api("GET", "/api/console/teams")).data;
    picker.replaceChildren(...teams.map((t) => h("option", { value: t.id }, t.name + " (" + t.id + ")")));
    picker.value = S.team;
  }
}

function signOut(message) {
  S.key = ""; S.team = ""; S.operator = false; S.me = null;
  sessionStorage.removeItem("fgw.key");
  sessionStorage.removeItem("fgw.team");
  sessionStorage.removeItem("fgw.operator");
  renderSignIn(message);
}

// ---------- routing ----------
const PAGES = {};
async function route() {
  stopTimers();
  clearError();
  if (!S.key) return renderSignIn();
  if (!S.me) {
    try { await loadMe(); } catch (e) { return signOut(e.status === 401 ? "Your key no longer works; sign in again." : e.message); }
  }
  const page = (location.hash.replace(/^#\/?/, "") || "accounts").split("/")[0];
  S.page = page;
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  const render = PAGES[page] || PAGES.accounts;
  view().replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    await render();
  } catch (e) {
    if (e.status === 401) return signOut("Your key no longer works; sign in again.");
    view().replaceChildren(h("h1", {}, "Something went wrong"), h("p", {}, "This page could not be loaded."));
    showError(e.message);
  }
}

// ---------- Accounts ----------
function accountCard(a) {
  const r = a.relay || {};
  const st = a.authentication_progress;
  return h("div", { class: "card account", "data-username": a.fansly_username || a.display_name || "" },
    h("div", { class: "row" },
      h("strong", {}, a.display_name || a.fansly_username || a.id),
      badge(st, statusKind(st)),
      r.connected ? badge("relay connected", "ok") : badge(r.running ? "relay connecting" : "relay off", r.running ? "warn" : "")),
    h("dl", { class: "kv" },
      h("dt", {}, "Username"), h("dd", {}, a.fansly_username || "—"),
      h("dt", {}, "Account id"), h("dd", { class: "mono" }, a.id),
      h("dt", {}, "Proxy"), h("dd", {}, a.proxy || "direct"),
      h("dt", {}, "Connected since"), h("dd", {}, r.connected_since ? when(r.connected_since) + " (" + ago(r.connected_since) + ")" : "—"),
      h("dt", {}, "Events relayed"), h("dd", { class: "events-relayed" }, String(r.events_relayed || 0)),
      h("dt", {}, "Unknown frames"), h("dd", {}, String(r.unknown_frames || 0)),
      h("dt", {}, "Reconnects"), h("dd", {}, String(r.reconnects || 0)),
      h("dt", {}, "Last error"), h("dd", {}, a.last_error || r.last_error || "—")),
    h("div", { class: "actions" },
      h("button", { class: "secondary", type: "button", onclick: () => reconnect(a.id) }, "Reconnect"),
      h("button", { class: "danger", type: "button", onclick: () => removeAccount(a) }, "Remove")));
}

async function reconnect(id) {
  try {
    await api("POST", "/api/fansly/authenticate/" + encodeURIComponent(id) + "/reauthenticate", {});
    watchLogin(id);
  } catch (e) { showError(e.message); }
}

async function removeAccount(a) {
  if (!confirm("Remove " + (a.display_name || a.id) + "? Its Fansly session is logged out and its stored credentials erased.")) return;
  try { await api("DELETE", "/api/fansly/accounts/" + encodeURIComponent(a.id)); await refreshAccounts(); }
  catch (e) { showError(e.message); }
}

async function refreshAccounts() {
  const list = $("#account-list");
  if (!list) return;
  const accounts = await api("GET", "/api/fansly/accounts");
  list.replaceChildren(...(accounts.length ? accounts.map(accountCard) : [h("p", { class: "muted" }, "No account connected yet.")]));
}

function connectForm() {
  const f = {
    username: h("input", { id: "connect-username", autocomplete: "off", required: true }),
    password: h("input", { id: "connect-password", type: "password", autocomplete: "new-password", required: true }),
    name: h("input", { id: "connect-name", placeholder: "optional" }),
    proxy: h("input", { id: "connect-proxy", placeholder: "country code, or host:port[:user:pass]" }),
  };
  return h("form", { id: "connect", class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    clearError();
    const body = { username: f.username.value.trim(), password: f.password.value };
    if (f.name.value.trim()) body.name = f.name.value.trim();
    const proxy = f.proxy.value.trim();
    if (proxy) {
      const parts = proxy.split(":");
      if (parts.length === 1) body.proxyCountry = proxy;
      else body.customProxy = { host: parts[0], port: Number(parts[1]), username: parts[2] || undefined, password: parts.slice(3).join(":") || undefined };
    }
    try {
      const started = await api("POST", "/api/fansly/authenticate", body);
      f.password.value = "";
      watchLogin(started.account_id);
    } catch (e) { showError(e.message); }
  } },
  h("h2", {}, "Connect an account"),
  h("div", { class: "row" },
    h("label", {}, "Fansly username or e-mail", f.username),
    h("label", {}, "Password", f.password),
    h("label", {}, "Display name", f.name),
    h("label", {}, "Proxy", f.proxy),
    h("button", { type: "submit", id: "connect-submit" }, "Connect")),
  h("div", { id: "login-status" }));
}

// Polls one login until it settles, asking for the 2FA code when Fansly wants one.
function watchLogin(id) {
  const box = $("#login-status");
  if (!box) return;
  let asked = "";
  const tick = async () => {
    const s = await api("GET", "/api/fansly/authenticate/" + encodeURIComponent(id));
    const line = h("p", { id: "login-state", "data-status": s.status }, "Login of ", h("strong", {}, s.display_name || id), ": ", badge(s.status, statusKind(s.status)),
      s.last_error ? h("span", { class: "muted" }, " " + s.last_error) : null);
    if (s.needs_code) {
      if (asked !== s.status) {
        asked = s.status;
        const code = h("input", { id: "twofa-code", inputmode: "numeric", autocomplete: "one-time-code", required: true, size: 10 });
        const how = s.status === "challenge-email" ? "Enter the code e-mailed to " + (s.masked_email || "the account's address")
          : s.status === "challenge-verification" ? "Fansly asks to confirm this new device: enter the code it e-mailed to " + (s.masked_email || "the account's address")
          : "Enter the code from the authenticator app";
        box.replaceChildren(line, h("form", { id: "twofa", class: "notice", onsubmit: async (ev) => {
          ev.preventDefault();
          try { await api("PUT", "/api/fansly/authenticate/" + encodeURIComponent(id), { code: code.value.trim() }); asked = ""; }
          catch (e) { showError(e.message); }
        } }, h("div", { class: "row" }, h("label", {}, how, code), h("button", { type: "submit", id: "twofa-submit" }, "Verify"))));
        code.focus();
      } else {
        box.firstChild.replaceWith(line);
      }
    } else {
      asked = "";
      box.replaceChildren(line);
    }
    if (s.status === "authenticated" || s.status === "failed") {
      stopLogin();
      await refreshAccounts();
    }
  };
  stopLogin();
  S.login = setInterval(() => tick().catch((e) => showError(e.message)), 1000);
  S.timers.push(S.login);
  tick().catch((e) => showError(e.message));
}
function stopLogin() { if (S.login) { clearInterval(S.login); S.login = null; } }

PAGES.accounts = async () => {
  view().replaceChildren(h("h1", {}, "Accounts"), h("div", { id: "account-list", class: "grid" }), connectForm());
  await refreshAccounts();
  every(3000, refreshAccounts);
};

// ---------- Credits ----------
function dayChart(perDay) {
  const w = 900, hgt = 200, pad = 28;
  const max = Math.max(1, ...perDay.map((d) => d.credits));
  const bw = (w - pad) / perDay.length;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 " + w + " " + (hgt + 20));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Credits spent per day");
  const mk = (tag, attrs, text) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  mk("text", { x: 0, y: 10 }, String(max));
  perDay.forEach((d, i) => {
    const bh = Math.round((d.credits / max) * (hgt - 20));
    const x = pad + i * bw + 2;
    const rect = mk("rect", { class: "bar", x, y: hgt - bh, width: Math.max(1, bw - 4), height: bh });
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
    t.textContent = new Date(d.day).toISOString().slice(0, 10) + ": " + d.credits + " credits";
    rect.append(t);
    if (perDay.length <= 16 || i % 2 === 0) mk("text", { x: x, y: hgt + 14 }, new Date(d.day).toISOString().slice(5, 10));
  });
  return h("div", { class: "chart", id: "chart-days" }, svg);
}

function endpointBars(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "Nothing spent in this window.");
  const max = Math.max(1, ...rows.map((r) => r.credits));
  return h("div", { id: "chart-endpoints" }, rows.map((r) => h("div", { class: "hbar" },
    h("span", { class: "mono" }, r.endpoint),
    h("div", { class: "track" }, h("div", { class: "fill", style: "width:" + Math.max(1, Math.round((r.credits / max) * 100)) + "%" })),
    h("span", {}, r.credits + " cr · " + r.calls + " calls"))));
}

PAGES.credits = async () => {
  const days = Number(sessionStorage.getItem("fgw.days") || 14);
  const [usage, first] = await Promise.all([
    data("GET", "/api/console/usage?days=" + days),
    data("GET", "/api/console/ledger?limit=25"),
  ]);
  const ledgerBox = h("div", { id: "ledger" });
  const pages = [];
  const showLedger = (page) => {
    ledgerBox.replaceChildren(
      table(["Id", "When", "Change", "Balance", "Reason", "Endpoint", "Request"], page.entries.map((e) => h("tr", {},
        h("td", {}, String(e.id)), h("td", {}, when(e.created_at)),
        h("td", {}, (e.delta > 0 ? "+" : "") + e.delta), h("td", {}, String(e.balance_after)),
        h("td", {}, e.reason), h("td", { class: "mono" }, e.endpoint || ""), h("td", { class: "mono small" }, e.request_id || ""))), { id: "ledger-table" }),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", disabled: pages.length === 0, onclick: async () => {
          pages.pop();
          const before = pages.length ? pages[pages.length - 1] : null;
          showLedger(await data("GET", "/api/console/ledger?limit=25" + (before ? "&before=" + before : "")));
        } }, "← Newer"),
        h("button", { type: "button", class: "secondary", disabled: !page.next_before, onclick: async () => {
          pages.push(page.next_before);
          showLedger(await data("GET", "/api/console/ledger?limit=25&before=" + page.next_before));
        } }, "Older →")));
  };
  const range = h("select", { id: "usage-days", onchange: () => { sessionStorage.setItem("fgw.days", range.value); route(); } },
    [7, 14, 30, 90].map((d) => h("option", { value: d }, "last " + d + " days")));
  range.value = String(days);
  const total = usage.per_day.reduce((s, d) => s + d.credits, 0);
  view().replaceChildren(
    h("h1", {}, "Credits"),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("div", { class: "muted" }, "Balance"), h("div", { class: "big", id: "balance" }, String(first.balance))),
      h("div", { class: "card" }, h("div", { class: "muted" }, "Spent in the window"), h("div", { class: "big" }, String(total)))),
    h("div", { class: "card" }, h("div", { class: "row" }, h("h2", {}, "Spent per day"), range), dayChart(usage.per_day)),
    h("div", { class: "card" }, h("h2", {}, "Spent per endpoint"), endpointBars(usage.per_endpoint)),
    h("h2", {}, "Ledger"), ledgerBox);
  showLedger(first);
};

// ---------- API keys ----------
PAGES.keys = async () => {
  const keys = await data("GET", "/api/console/keys");
  const name = h("input", { id: "key-name", required: true, maxlength: 100, placeholder: "e.g. billing bot" });
  const shown = h("div", { id: "new-key" });
  const form = h("form", { id: "key-create", class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const k = await data("POST", "/api/console/keys", { name: name.value.trim() });
      await PAGES.keys();
      $("#new-key").replaceChildren(h("div", { class: "notice" },
        h("strong", {}, "Copy this key now: it is shown only once."),
        h("p", { class: "mono", id: "new-key-secret" }, k.key),
        h("button", { type: "button", class: "secondary", onclick: () => navigator.clipboard && navigator.clipboard.writeText(k.key) }, "Copy")));
    } catch (e) { showError(e.message); }
  } }, h("h2", {}, "Create a key"), h("div", { class: "row" }, h("label", {}, "Name", name), h("button", { type: "submit", id: "key-create-submit" }, "Create")), shown);
  const rows = keys.slice().reverse().map((k) => h("tr", { "data-key-id": k.id, "data-key-name": k.name },
    h("td", {}, k.name), h("td", { class: "mono" }, k.prefix + "…"), h("td", { class: "mono small" }, k.id),
    h("td", {}, when(k.created_at)),
    h("td", {}, k.revoked_at ? badge("revoked " + ago(k.revoked_at), "bad") : badge("active", "ok")),
    h("td", {}, k.revoked_at ? (k.mcp_read_only ? "read-only" : "") : h("label", { class: "check" },
      h("input", { type: "checkbox", class: "mcp-read-only", checked: k.mcp_read_only, onchange: async (ev) => {
        try {
          await api("PUT", "/api/console/keys/" + encodeURIComponent(k.id) + "/mcp", { read_only: ev.target.checked });
          await PAGES.keys();
        } catch (e) { ev.target.checked = !ev.target.checked; showError(e.message); }
      } }), " read-only")),
    h("td", {}, k.revoked_at ? "" : h("button", { type: "button", class: "danger revoke", onclick: async () => {
      const own = S.me && S.me.key_id === k.id;
      if (!confirm("Revoke " + k.name + "?" + (own ? " It is the key you are signed in with." : ""))) return;
      try {
        await api("DELETE", "/api/console/keys/" + encodeURIComponent(k.id));
        if (own) return signOut("You revoked the key you were signed in with.");
        await PAGES.keys();
      } catch (e) { showError(e.message); }
    } }, "Revoke"))));
  view().replaceChildren(h("h1", {}, "API keys"), form, table(["Name", "Prefix", "Id", "Created", "State", "MCP", ""], rows, { id: "keys-table" }));
};

// ---------- MCP ----------
PAGES.mcp = async () => {
  const m = await data("GET", "/api/console/mcp");
  const copy = (text) => h("button", { type: "button", class: "secondary copy", onclick: async (ev) => {
    try { await navigator.clipboard.writeText(text); ev.target.textContent = "Copied"; } catch (e) { showError("Copy failed: " + e.message); }
  } }, "Copy");
  const snippets = m.snippets.map((s) => h("div", { class: "card snippet", "data-snippet": s.id },
    h("h2", {}, s.title), h("p", { class: "muted" }, "In " + s.where + "; put one of your API keys where it says fgw_YOUR_API_KEY."),
    h("pre", { class: "mono" }, s.text), copy(s.text)));
  view().replaceChildren(h("h1", {}, "MCP server"),
    h("div", { class: "card" },
      h("p", {}, "AI assistants reach this gateway's API as tools over the Model Context Protocol (Streamable HTTP), with the same API keys, credits and limits as REST."),
      h("div", { class: "row" }, h("label", {}, "Endpoint", h("span", { id: "mcp-url", class: "mono" }, m.url)), copy(m.url)),
      h("p", { id: "mcp-key-mode" }, m.key_read_only
        ? badge("the key you are signed in with is MCP read-only", "warn")
        : badge("the key you are signed in with may use the write tools", "ok")),
      h("p", { class: "muted" }, "Make a key read-only for agents (its send/react/create tools refused) on ", h("a", { href: "#/keys" }, "API keys"), ".")),
    ...snippets);
};

// ---------- Webhooks ----------
function webhookForm(hook, eventTypes, accounts) {
  const url = h("input", { id: "wh-url", type: "url", required: true, size: 40, value: hook ? hook.url : "" });
  const chosen = new Set(hook ? hook.events : ["fansly.messages.received"]);
  const events = eventTypes.map((t) => h("label", { class: "check", title: t.description },
    h("input", { type: "checkbox", name: "event", value: t.value, checked: chosen.has(t.value) }), " ", t.value));
  const scope = h("select", { id: "wh-scope" }, ["global", "inclusive", "exclusive"].map((s) => h("option", { value: s }, s)));
  scope.value = hook ? hook.account_scope : "global";
  const ids = new Set(hook ? hook.account_ids : []);
  const accountBoxes = accounts.map((a) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "account", value: a.id, checked: ids.has(a.id) }), " ", a.display_name || a.fansly_username || a.id));
  const secret = h("input", { id: "wh-secret", autocomplete: "off", size: 40, placeholder: hook && hook.has_signing_secret ? "unchanged (type to replace)" : "32+ characters, optional" });
  const enabled = h("input", { id: "wh-enabled", type: "checkbox", checked: hook ? hook.enabled : true });
  const gen = () => {
    const b = new Uint8Array(24);
    crypto.getRandomValues(b);
    secret.value = "whsec_" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  };
  return h("form", { id: "wh-form", class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    const body = {
      endpoint_url: url.value.trim(),
      events: events.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
      account_scope: scope.value,
      account_ids: accountBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
      enabled: enabled.checked,
    };
    if (secret.value.trim()) body.signing_secret = secret.value.trim();
    try {
      if (hook) await data("PUT", "/api/webhooks/" + encodeURIComponent(hook.id), body);
      else await data("POST", "/api/webhooks", body);
      await PAGES.webhooks();
    } catch (e) { showError(e.message); }
  } },
  h("h2", {}, hook ? "Edit " + hook.id : "Create a webhook"),
  h("div", { class: "row" }, h("label", {}, "Endpoint URL", url), h("label", {}, "Account scope", scope),
    h("label", { class: "check" }, enabled, " enabled")),
  h("p", { class: "small muted" }, "Events"), h("div", { class: "events" }, events),
  accounts.length ? h("p", { class: "small muted" }, "Accounts (for inclusive / exclusive scopes)") : null,
  accounts.length ? h("div", { class: "row" }, accountBoxes) : null,
  h("div", { class: "row" }, h("label", {}, "Signing secret", secret), h("button", { type: "button", class: "secondary", onclick: gen }, "Generate")),
  h("div", { class: "actions" }, h("button", { type: "submit", id: "wh-save" }, hook ? "Save" : "Create"),
    hook ? h("button", { type: "button", class: "secondary", onclick: () => PAGES.webhooks() }, "Cancel") : null));
}

function deliveryRows(hookId, deliveries) {
  if (!deliveries.length) return [h("p", { class: "muted" }, "No deliveries yet.")];
  return deliveries.map((d) => h("details", { class: "delivery card", "data-status": d.status, open: true },
    h("summary", {}, badge(d.status, statusKind(d.status)), " ", h("strong", {}, d.event), " · ", when(d.created_at),
      " · ", d.attempt_count + " attempt(s)", d.redelivery_of ? " · redelivery" : ""),
    d.last_error ? h("p", { class: "small" }, "Last error: " + d.last_error) : null,
    table(["#", "Started", "Status", "Latency", "Response"], (d.attempts || []).map((a) => h("tr", { class: "attempt" },
      h("td", {}, String(a.attempt)), h("td", {}, when(a.started_at)),
      h("td", {}, a.status_code ? String(a.status_code) : (a.error ? "error" : "—")),
      h("td", {}, a.latency_ms + " ms"),
      h("td", { class: "mono small" }, a.error || a.response_excerpt || ""))), { class: "attempts" }),
    h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: async () => {
      try { await data("POST", "/api/webhooks/" + encodeURIComponent(hookId) + "/deliveries/" + encodeURIComponent(d.id) + "/redeliver", {}); await showDeliveries(hookId); }
      catch (e) { showError(e.message); }
    } }, "Redeliver"))));
}

async function showDeliveries(hookId) {
  const box = $("#deliveries");
  if (!box) return;
  const rows = await data("GET", "/api/webhooks/" + encodeURIComponent(hookId) + "/deliveries?limit=20");
  box.replaceChildren(h("h2", {}, "Deliveries of " + hookId), ...deliveryRows(hookId, rows));
}

PAGES.webhooks = async () => {
  stopTimers();
  const [hooks, eventTypes, accounts] = await Promise.all([
    data("GET", "/api/webhooks"), data("GET", "/api/webhooks/events"), api("GET", "/api/fansly/accounts"),
  ]);
  const list = hooks.map((w) => h("div", { class: "card webhook", "data-id": w.id },
    h("div", { class: "row" }, h("strong", { class: "mono" }, w.url), w.enabled ? badge("enabled", "ok") : badge("disabled" + (w.disabled_reason ? ": " + w.disabled_reason : ""), "bad")),
    h("p", { class: "small" }, w.events.join(", ")),
    h("p", { class: "small muted" }, "scope " + w.account_scope + (w.account_ids.length ? " (" + w.account_ids.join(", ") + ")" : "") + " · " + (w.has_signing_secret ? "signed" : "unsigned") + " · " + w.id),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary wh-deliveries", onclick: () => { stopTimers(); showDeliveries(w.id).catch((e) => showError(e.message)); every(3000, () => showDeliveries(w.id)); } }, "Deliveries"),
      h("button", { type: "button", class: "secondary wh-test", onclick: async () => {
        try { await data("POST", "/api/webhooks/" + encodeURIComponent(w.id) + "/test", {}); stopTimers(); await showDeliveries(w.id); every(2000, () => showDeliveries(w.id)); }
        catch (e) { showError(e.message); }
      } }, "Send test"),
      h("button", { type: "button", class: "secondary", onclick: () => { $("#wh-form").replaceWith(webhookForm(w, eventTypes, accounts)); $("#wh-form").scrollIntoView(); } }, "Edit"),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm("Delete " + w.url + " and its delivery log?")) return;
        try { await data("DELETE", "/api/webhooks/" + encodeURIComponent(w.id)); await PAGES.webhooks(); } catch (e) { showError(e.message); }
      } }, "Delete"))));
  view().replaceChildren(h("h1", {}, "Webhooks"),
    h("div", { id: "webhook-list" }, list.length ? list : h("p", { class: "muted" }, "No webhook yet.")),
    h("div", { id: "deliveries" }),
    webhookForm(null, eventTypes, accounts));
};

// ---------- Requests ----------
PAGES.requests = async () => {
  const routeF = h("input", { id: "req-route", placeholder: "route or path contains…", value: sessionStorage.getItem("fgw.req.route") || "" });
  const statusF = h("select", { id: "req-status" }, ["", "2xx", "4xx", "5xx"].map((s) => h("option", { value: s }, s || "any status")));
  statusF.value = sessionStorage.getItem("fgw.req.status") || "";
  const consoleF = h("input", { type: "checkbox", id: "req-console", checked: sessionStorage.getItem("fgw.req.console") === "1" });
  const box = h("div", { id: "requests" });
  const load = async () => {
    sessionStorage.setItem("fgw.req.route", routeF.value);
    sessionStorage.setItem("fgw.req.status", statusF.value);
    sessionStorage.setItem("fgw.req.console", consoleF.checked ? "1" : "0");
    const q = new URLSearchParams({ limit: "200" });
    if (routeF.value.trim()) q.set("route", routeF.value.trim());
    if (statusF.value) q.set("status", statusF.value);
    if (consoleF.checked) q.set("console", "true");
    const rows = await data("GET", "/api/console/requests?" + q);
    box.replaceChildren(rows.length ? table(["Time", "Method", "Route", "Status", "Credits", "Latency", "Upstream calls", "Key"], rows.map((r) => h("tr", { class: "request" },
      h("td", { title: when(r.at) }, new Date(r.at).toLocaleTimeString()), h("td", {}, r.method),
      h("td", { class: "mono", title: r.path }, r.route), h("td", {}, badge(String(r.status), r.status < 400 ? "ok" : r.status < 500 ? "warn" : "bad")),
      h("td", {}, String(r.credits)), h("td", {}, r.latency_ms + " ms"), h("td", {}, String(r.upstream_calls)),
      h("td", { class: "mono small" }, r.key_id + (r.console ? " (console)" : "")))), { id: "requests-table" })
      : h("p", { class: "muted" }, "No request matches (the log keeps the newest requests of each team in memory, since the last start)."));
  };
  const form = h("form", { class: "card row", onsubmit: (ev) => { ev.preventDefault(); load().catch((e) => showError(e.message)); } },
    h("label", {}, "Route", routeF), h("label", {}, "Status", statusF), h("label", { class: "check" }, consoleF, " the console's own calls"),
    h("button", { type: "submit" }, "Filter"));
  statusF.addEventListener("change", () => load().catch((e) => showError(e.message)));
  consoleF.addEventListener("change", () => load().catch((e) => showError(e.message)));
  view().replaceChildren(h("h1", {}, "Requests"), form, box);
  await load();
  every(5000, load);
};

// ---------- Sandbox ----------
PAGES.sandbox = async () => {
  if (!S.me.sandbox) { view().replaceChildren(h("h1", {}, "Sandbox"), h("p", {}, "The gateway is not running with the sandbox (serve --sandbox).")); return; }
  const accounts = await api("GET", "/api/fansly/accounts");
  const creators = accounts.filter((a) => a.fansly_username);
  const creator = h("select", { id: "sb-creator" }, creators.map((a) => h("option", { value: a.fansly_username }, a.fansly_username)));
  const fan = h("input", { id: "sb-fan", value: "fan1", size: 10 });
  const text = h("input", { id: "sb-text", value: "hi from the console!", size: 30 });
  const amount = h("input", { id: "sb-amount", type: "number", min: "1", value: "5", size: 6 });
  const result = h("div", { id: "sb-result" });
  const act = (kind, extra) => async () => {
    try {
      const body = Object.assign({ creator: creator.value || undefined, fan: fan.value.trim() || "fan1" }, extra ? extra() : {});
      const r = await data("POST", "/api/console/sandbox/events/" + kind, body);
      result.replaceChildren(h("p", { class: "notice", "data-kind": kind }, kind + " done: " + JSON.stringify(r)));
    } catch (e) { showError(e.message); }
  };
  const emails = h("div", { id: "sb-emails" });
  const loadEmails = async () => {
    const rows = await data("GET", "/api/console/sandbox/emails");
    emails.replaceChildren(rows.length ? table(["To", "Subject / code"], rows.slice(-10).reverse().map((m) => h("tr", {},
      h("td", {}, m.to || m.username || ""), h("td", { class: "mono small" }, m.code ? "code " + m.code : JSON.stringify(m))))) : h("p", { class: "muted" }, "No e-mail sent yet."));
  };
  view().replaceChildren(h("h1", {}, "Sandbox"),
    h("p", { class: "muted" }, "Make a sandbox fan act on a connected sandbox creator. The relay turns what happens into events and webhooks."),
    creators.length ? null : h("p", { class: "notice" }, "Connect a sandbox creator first (Accounts)."),
    h("div", { class: "card" },
      h("div", { class: "row" }, h("label", {}, "Creator", creator), h("label", {}, "Fan", fan)),
      h("h2", {}, "Message"), h("div", { class: "row" }, h("label", {}, "Text", text), h("button", { type: "button", id: "sb-message", onclick: act("message", () => ({ text: text.value })) }, "Fan writes")),
      h("h2", {}, "Tip"), h("div", { class: "row" }, h("label", {}, "Amount (USD)", amount), h("button", { type: "button", id: "sb-tip", onclick: act("tip", () => ({ amount: Math.round(Number(amount.value) * 1000) })) }, "Fan tips")),
      h("h2", {}, "Subscribe / follow"), h("div", { class: "actions" },
        h("button", { type: "button", id: "sb-subscribe", onclick: act("subscription_new") }, "Fan subscribes"),
        h("button", { type: "button", id: "sb-follow", class: "secondary", onclick: act("follow") }, "Fan follows")),
      result),
    h("div", { class: "card" }, h("h2", {}, "E-mails sent by the sandbox (2FA codes)"), emails));
  await loadEmails();
  every(3000, loadEmails);
};

// ---------- start ----------
window.addEventListener("error", (ev) => showError("Console error: " + ev.message));
window.addEventListener("unhandledrejection", (ev) => showError("Console error: " + (ev.reason && ev.reason.message || ev.reason)));
window.addEventListener("hashchange", () => route());
document.addEventListener("DOMContentLoaded", () => {
  $("#error-close").addEventListener("click", clearError);
  $("#sign-out").addEventListener("click", () => signOut());
  $("#team-picker").addEventListener("change", async (ev) => {
    S.team = ev.target.value;
    sessionStorage.setItem("fgw.team", S.team);
    S.me = null;
    await route();
  });
  route();
});
