// remem inspector: a hash-routed single page over this server's /v1 API. No dependencies.
// Every string from the API is set as textContent (never parsed as HTML).
"use strict";

const KEY = "remem.key";
const BASE = location.pathname.replace(/\/ui(\/.*)?$/, "");
const PAGE = 50;
const SIGNALS = ["lexical", "dense", "graph", "segment", "neighbour", "speaker", "time",
  "recency", "hop", "feedback", "question", "importance"];
const $ = (sel) => document.querySelector(sel);
let renderToken = 0;

// -- DOM -----------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") Object.assign(el.style, v);  // CSSOM: allowed by the CSP
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const enc = encodeURIComponent;
const link = (href, ...children) => h("a", { href }, ...children);
const userHref = (uid, tab = "") => `#/u/${enc(uid)}${tab ? "/" + tab : ""}`;

function fmtTime(value) {
  if (value === null || value === undefined) return "—";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (isNaN(d)) return String(value);
  return d.toISOString().slice(0, 16).replace("T", " ");
}

function fmtNum(x, digits = 3) {
  return typeof x === "number" ? x.toFixed(digits) : "—";
}

// -- API -----------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

async function api(path, { method = "GET", json, raw = false } = {}) {
  const headers = {};
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const r = await fetch(BASE + path, { method, headers, body, credentials: "omit" });
  if (!r.ok) {
    let err = { type: "http_error", message: `${r.status} ${r.statusText}` };
    try { err = (await r.json()).error || err; } catch (_) { /* not JSON */ }
    if (r.status === 401) {
      sessionStorage.removeItem(KEY);
      showLogin(err.message);
    }
    throw new ApiError(r.status, err.type, err.message);
  }
  return raw ? r : r.json();
}

const qs = (params) => new URLSearchParams(
  Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "")).toString();

// -- confirmation dialog -------------------------------------------------------------
function confirmAction(message, detail, okLabel) {
  const dlg = $("#confirm");
  $("#confirm-message").textContent = message;
  $("#confirm-detail").textContent = detail || "";
  $("#confirm-ok").textContent = okLabel || "OK";
  dlg.returnValue = "cancel";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

// -- login ---------------------------------------------------------------------------
function showLogin(message) {
  $("#login").hidden = false;
  $("#view").replaceChildren();
  $("#logout").hidden = true;
  $("#whoami").textContent = "";
  $("#login-error").textContent = message || "";
  $("#key").focus();
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const key = $("#key").value.trim();
  if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
  try {
    await api("/v1/users?limit=1");
  } catch (e) {
    sessionStorage.removeItem(KEY);
    showLogin(e.message);
    return;
  }
  $("#key").value = "";
  if (!location.hash || location.hash === "#") location.hash = "#/users";
  route();
});

$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  showLogin("Key forgotten.");
});

// -- routing -------------------------------------------------------------------------
function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/users";
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent),
           params: new URLSearchParams(query || "") };
}

function crumbs(...items) {
  const nav = $("#crumbs");
  nav.replaceChildren();
  items.forEach((item, i) => {
    if (i) nav.append(h("span", { class: "sep" }, "/"));
    nav.append(Array.isArray(item) ? link(item[1], item[0]) : h("span", {}, item));
  });
}

async function route() {
  const token = ++renderToken;
  const view = $("#view");
  const key = sessionStorage.getItem(KEY);
  $("#login").hidden = true;
  $("#logout").hidden = !key;
  $("#whoami").textContent = key ? `key ${key.split("_")[1] || "…"}` : "no key";
  const { parts, params } = parseHash();
  const out = h("div", {});
  try {
    if (parts[0] === "u" && parts[1] !== undefined) {
      const uid = parts[1];
      const tab = parts[2] || "timeline";
      crumbs(["users", "#/users"], uid);
      out.append(userTabs(uid, tab));
      if (tab === "search") await viewSearch(out, uid, params);
      else if (tab === "entities") await viewEntities(out, uid, params);
      else if (tab === "entity") await viewEntity(out, uid, parts[3], params);
      else if (tab === "archived") await viewArchived(out, uid, params);
      else await viewTimeline(out, uid, params);
    } else if (parts[0] === "m" && parts[1]) {
      crumbs(["users", "#/users"], "memory");
      await viewMemory(out, parts[1]);
    } else {
      crumbs("users");
      await viewUsers(out, params);
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;  // the login form is showing
    if (!(e instanceof ApiError)) console.error(e);
    out.append(h("p", { class: "notice error", id: "error" },
      e.status === 404 ? `Not found: ${e.message}` : `Error: ${e.message}`));
  }
  if (token === renderToken) view.replaceChildren(out);
}

function userTabs(uid, active) {
  const tab = (name, label) => h("a", { href: userHref(uid, name === "timeline" ? "" : name),
                                        class: active === name ? "active" : null }, label);
  return h("div", { class: "tabs" }, tab("timeline", "Timeline"), tab("search", "Search"),
    tab("entities", "Entities"), tab("archived", "Archived"), h("span", { class: "spacer" }),
    h("button", { type: "button", id: "export", onclick: () => exportUser(uid) },
      "Export JSONL"));
}

function pager(offset, total, pageSize, go) {
  const end = Math.min(offset + pageSize, total);
  return h("div", { class: "pager" },
    h("button", { type: "button", disabled: offset <= 0, onclick: () => go(0) }, "« first"),
    h("button", { type: "button", disabled: offset <= 0,
                  onclick: () => go(Math.max(0, offset - pageSize)) }, "‹ prev"),
    h("span", { class: "muted" }, total ? `${offset + 1}–${end} of ${total}` : "none"),
    h("button", { type: "button", disabled: end >= total, onclick: () => go(offset + pageSize) },
      "next ›"),
    h("button", { type: "button", disabled: end >= total,
                  onclick: () => go(Math.max(0, Math.floor((total - 1) / pageSize) * pageSize)) },
      "last »"));
}

const setParams = (base, params) => { location.hash = `${base}?${qs(params)}`; };

// -- views ---------------------------------------------------------------------------
async function viewUsers(out, params) {
  const offset = Number(params.get("offset")) || 0;
  const data = await api(`/v1/users?${qs({ limit: PAGE, offset })}`);
  out.append(h("h1", {}, "Users"));
  if (!data.total) {
    out.append(h("p", { class: "notice" }, "No memories in this tenant yet."));
    return;
  }
  const rows = data.users.map((u) => h("tr", { "data-user": u.user_id },
    h("td", {}, link(userHref(u.user_id), u.user_id)),
    h("td", { class: "num" }, u.memories), h("td", { class: "num" }, u.sessions),
    h("td", { class: "num" }, u.agents),
    h("td", {}, fmtTime(u.first)), h("td", {}, fmtTime(u.last)),
    h("td", {}, link(userHref(u.user_id, "search"), "search"), " · ",
      link(userHref(u.user_id, "entities"), "entities"))));
  out.append(h("table", { id: "users" },
    h("thead", {}, h("tr", {}, h("th", {}, "user"), h("th", { class: "num" }, "memories"),
      h("th", { class: "num" }, "sessions"), h("th", { class: "num" }, "agents"),
      h("th", {}, "first"), h("th", {}, "last"), h("th", {}, ""))),
    h("tbody", {}, rows)));
  out.append(pager(offset, data.total, PAGE, (o) => setParams("#/users", { offset: o })));
}

function memoryRow(m) {
  return h("div", { class: "mem", "data-id": m.id },
    h("div", { class: "when" }, fmtTime(m.event_time || m.created_at)),
    h("div", { class: "who" }, m.speaker || ""),
    h("div", { class: "text" }, link(`#/m/${enc(m.id)}`, m.text),
      m.type !== "turn" ? h("span", { class: "badge" }, m.type) : null));
}

function groupBySession(memories) {
  const groups = [];
  for (const m of memories) {
    const last = groups[groups.length - 1];
    const key = `${m.agent_id || ""}\u0000${m.session_id || ""}`;
    if (last && last.key === key) last.items.push(m);
    else groups.push({ key, session: m.session_id, agent: m.agent_id, items: [m] });
  }
  return h("div", { class: "sessions" }, groups.map((g) => h("div", { class: "session-group" },
    h("h3", {}, g.session ? `session ${g.session}` : "no session",
      g.agent ? ` · agent ${g.agent}` : "", ` · ${fmtTime(g.items[0].event_time)}`),
    g.items.map(memoryRow))));
}

async function viewTimeline(out, uid, params) {
  const offset = Number(params.get("offset")) || 0;
  const [data, gone] = await Promise.all([
    api(`/v1/memories?${qs({ user_id: uid, limit: PAGE, offset })}`), outOfSearch(uid)]);
  out.append(h("h1", {}, `Timeline of ${uid}`),
    h("p", { class: "muted" }, `${data.total} memories by event time, grouped by session.`,
      gone.archived + gone.superseded ? [" Not shown: ",
        link(userHref(uid, "archived"), `${gone.archived} archived`), ", ",
        link(`${userHref(uid, "archived")}?status=superseded`, `${gone.superseded} superseded`),
        "."] : null));
  const go = (o) => setParams(userHref(uid), { offset: o });
  out.append(pager(offset, data.total, PAGE, go),
    h("div", { id: "timeline" }, groupBySession(data.memories)),
    pager(offset, data.total, PAGE, go));
}

// how many of a user's memories (of any type) are archived and superseded: out of search
async function outOfSearch(uid) {
  const total = async (status) =>
    (await api(`/v1/memories?${qs({ user_id: uid, type: "all", status, limit: 1 })}`)).total;
  const [archived, superseded] = await Promise.all([total("archived"), total("superseded")]);
  return { archived, superseded };
}

// archived (by hand or by `maintain --forget`) or superseded memories, to find and restore
async function viewArchived(out, uid, params) {
  const status = params.get("status") === "superseded" ? "superseded" : "archived";
  const offset = Number(params.get("offset")) || 0;
  const [data, gone] = await Promise.all([
    api(`/v1/memories?${qs({ user_id: uid, type: "all", status, limit: PAGE, offset })}`),
    outOfSearch(uid)]);
  const choice = (name) => h("a", { href: `${userHref(uid, "archived")}?${qs({ status: name })}`,
                                    class: `chip${status === name ? " active" : ""}`,
                                    id: `show-${name}` }, name, h("span", { class: "n" }, gone[name]));
  out.append(h("h1", {}, `Out of search: ${uid}`), h("div", { class: "chips" },
    choice("archived"), choice("superseded")),
  h("p", { class: "muted" }, status === "archived"
    ? "Archived memories are kept but not searched (archived by hand or by maintain's " +
      "forget policy). Open one to restore it."
    : "Superseded memories were replaced by a newer one; search as_of a time they were " +
      "valid still finds them."));
  if (!data.total) {
    out.append(h("p", { class: "notice", id: "archived-empty" }, `No ${status} memories.`));
    return;
  }
  const go = (o) => setParams(userHref(uid, "archived"), { status, offset: o });
  out.append(h("table", { id: "archived", "data-status": status },
    h("thead", {}, h("tr", {}, h("th", {}, "when"), h("th", {}, "who"), h("th", {}, "memory"),
      h("th", {}, "session"),
      status === "archived" ? null : [h("th", {}, "valid to"), h("th", {}, "superseded by")])),
    h("tbody", {}, data.memories.map((m) => h("tr", { "data-id": m.id },
      h("td", {}, fmtTime(m.event_time || m.created_at)), h("td", {}, m.speaker || ""),
      h("td", { class: "text" }, link(`#/m/${enc(m.id)}`, m.text),
        m.type !== "turn" ? h("span", { class: "badge" }, m.type) : null),
      h("td", {}, m.session_id || "—"),
      status === "archived" ? null : [h("td", {}, fmtTime(m.valid_to)),
        h("td", { class: "mono", title: m.superseded_by },
          link(`#/m/${enc(m.superseded_by)}`, `${m.superseded_by.slice(0, 8)}…`))])))),
  pager(offset, data.total, PAGE, go));
}

function scoreBar(explain) {
  const parts = SIGNALS.filter((s) => explain[s] > 0).map((s) => [s, explain[s]]);
  const sum = parts.reduce((a, [, v]) => a + v, 0) || 1;
  return h("div", { class: "bar", title: "score parts" },
    parts.map(([s, v]) => h("span", { style: { width: `${(100 * v / sum).toFixed(1)}%`,
                                               background: `var(--${s})` },
                                      title: `${s} ${fmtNum(v)}` })));
}

function scoreParts(explain) {
  const rows = [];
  const names = Object.keys(explain).filter((k) => !k.endsWith("_raw"));
  names.sort((a, b) => SIGNALS.indexOf(a) - SIGNALS.indexOf(b));
  for (const k of names) {
    const raw = explain[`${k}_raw`];
    rows.push(h("span", { class: `part part-${k}` },
      h("i", { class: "swatch", style: { background: `var(--${k}, #999)` } }), k,
      raw !== undefined ? h("span", { class: "muted" }, ` (raw ${fmtNum(raw)})`) : null),
      h("span", { class: "v" }, fmtNum(explain[k])));
  }
  return h("div", { class: "parts" }, rows);
}

function contextBlock(ctx) {
  if (!ctx.sources.length) return h("p", { class: "muted" }, "No stored source turns.");
  return h("div", { class: "contexts" }, ctx.sources.map((src) => h("div", { class: "context" },
    h("h4", {}, src.session_id ? `session ${src.session_id}` : "no session",
      src.agent_id ? ` · agent ${src.agent_id}` : ""),
    src.more_before ? h("div", { class: "more" }, "… earlier turns") : null,
    src.turns.map((t) => h("div", { class: `turn${t.is_source ? " source" : ""}`,
                                    "data-episode": t.episode_id },
      h("div", { class: "when" }, fmtTime(t.timestamp)),
      h("div", { class: "who" }, t.name || t.role),
      h("div", { class: "text" },
        t.memory_id ? link(`#/m/${enc(t.memory_id)}`, t.content) : t.content,
        t.source_id ? h("span", { class: "badge" }, `id ${t.source_id}`) : null))),
    src.more_after ? h("div", { class: "more" }, "later turns …") : null)));
}

async function toggleProvenance(card, hit) {
  const open = card.querySelector(".provenance");
  if (open) { open.remove(); return; }
  const box = h("div", { class: "provenance" }, h("span", { class: "muted" }, "loading…"));
  card.append(box);
  try {
    const ctx = await api(`/v1/memories/${enc(hit.id)}/context?window=2`);
    box.replaceChildren(h("div", { class: "muted" }, "Source turns in their conversation ",
      "(highlighted), with neighbouring turns · ", link(`#/m/${enc(hit.id)}`, "memory detail")),
    contextBlock(ctx));
  } catch (e) {
    box.replaceChildren(h("span", { class: "error" }, e.message));
  }
}

async function viewSearch(out, uid, params) {
  const q = params.get("q") || "";
  const limit = Number(params.get("limit")) || 10;
  const input = h("input", { type: "search", name: "q", value: q, placeholder: "ask something…",
                             "aria-label": "query", id: "q" });
  const sel = h("select", { name: "limit", "aria-label": "hits" },
    [5, 10, 20, 50].map((n) => h("option", { value: n, selected: n === limit }, `${n} hits`)));
  out.append(h("form", { class: "inline", id: "search-form", onsubmit: (ev) => {
    ev.preventDefault();
    setParams(userHref(uid, "search"), { q: input.value, limit: sel.value });
  } }, input, sel, h("button", { type: "submit" }, "Search")));
  if (!q.trim()) return;
  const t0 = performance.now();
  const data = await api("/v1/search", { method: "POST", json: { user_id: uid, query: q, limit } });
  out.append(h("p", { class: "muted" }, `${data.hits.length} hits in `,
    `${Math.round(performance.now() - t0)} ms. Click a hit for its source turns in context.`));
  const list = h("div", { id: "hits" });
  data.hits.forEach((hit, i) => {
    const card = h("div", { class: "hit", "data-id": hit.id });
    card.append(h("div", { class: "head", onclick: (ev) => {
      if (ev.target.closest("a")) return;
      toggleProvenance(card, hit);
    } },
      h("div", { class: "rank" }, `${i + 1}`),
      h("div", { class: "body" },
        h("div", { class: "hit-text" }, hit.text),
        h("div", { class: "meta" }, hit.speaker ? `${hit.speaker} · ` : "",
          fmtTime(hit.event_time), hit.session_id ? ` · session ${hit.session_id}` : "",
          ` · ${hit.type}`, hit.dates.length ? ` · dates ${hit.dates.join(", ")}` : "",
          " · sources ", hit.source_ids.join(", "), " · ", link(`#/m/${enc(hit.id)}`, "detail"))),
      h("div", { class: "score" }, h("span", { class: "total" }, fmtNum(hit.score, 4)),
        scoreBar(hit.explain), scoreParts(hit.explain))));
    list.append(card);
  });
  out.append(list);
}

async function viewEntities(out, uid, params) {
  const q = params.get("q") || "";
  const offset = Number(params.get("offset")) || 0;
  const input = h("input", { type: "search", value: q, placeholder: "filter names…",
                             "aria-label": "entity filter" });
  out.append(h("form", { class: "inline", onsubmit: (ev) => {
    ev.preventDefault();
    setParams(userHref(uid, "entities"), { q: input.value });
  } }, input, h("button", { type: "submit" }, "Filter")));
  const data = await api(`/v1/entities?${qs({ user_id: uid, q, limit: PAGE, offset })}`);
  out.append(h("p", { class: "muted" }, `${data.total} people, places and things mentioned.`));
  out.append(h("table", { id: "entities" },
    h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", { class: "num" }, "memories"))),
    h("tbody", {}, data.entities.map((e) => h("tr", {},
      h("td", {}, link(`${userHref(uid, "entity")}/${e.id}`, e.name)),
      h("td", { class: "num" }, e.memories))))));
  out.append(pager(offset, data.total, PAGE,
    (o) => setParams(userHref(uid, "entities"), { q, offset: o })));
}

async function viewEntity(out, uid, id, params) {
  const offset = Number(params.get("offset")) || 0;
  const data = await api(`/v1/entities/${enc(id)}?${qs({ user_id: uid, limit: PAGE, offset })}`);
  out.append(h("h1", {}, data.entity.name, h("span", { class: "badge" }, `${data.total} memories`)));
  if (data.related.length) {
    out.append(h("h2", {}, "Mentioned together with"), h("div", { class: "chips" },
      data.related.map((e) => h("a", { class: "chip", href: `${userHref(uid, "entity")}/${e.id}` },
        e.name, h("span", { class: "n" }, e.memories)))));
  }
  out.append(h("h2", {}, "Memories that mention it"), groupBySession(data.memories),
    pager(offset, data.total, PAGE, (o) => setParams(`${userHref(uid, "entity")}/${id}`, { offset: o })));
}

// what lists call a memory's status: archived, superseded or active
function memStatus(m) {
  return m.status === "archived" ? "archived" : (m.superseded_by ? "superseded" : "active");
}

async function viewMemory(out, id) {
  let mem = null;
  try {
    mem = await api(`/v1/memories/${enc(id)}`);
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  // a deleted memory keeps its history; another tenant's id has none either (404)
  const history = (await api(`/v1/memories/${enc(id)}/history`)).history;
  const box = h("div", { class: "detail", id: "memory", "data-id": id });
  out.append(h("h1", {}, "Memory"), box);
  if (!mem) {
    box.append(h("p", { class: "deleted", id: "deleted" }, "This memory was deleted."),
      h("p", { class: "text" }, history[history.length - 1].old_text || ""));
  } else {
    crumbs(["users", "#/users"], [mem.user_id, userHref(mem.user_id)], "memory");
    const text = h("p", { class: "text", id: "memory-text" }, mem.text);
    box.append(text, h("dl", {},
      h("dt", {}, "id"), h("dd", { class: "mono" }, mem.id),
      h("dt", {}, "user"), h("dd", {}, link(userHref(mem.user_id), mem.user_id)),
      h("dt", {}, "session"), h("dd", {}, mem.session_id || "—"),
      h("dt", {}, "agent"), h("dd", {}, mem.agent_id || "—"),
      h("dt", {}, "speaker"), h("dd", {}, mem.speaker || "—"),
      h("dt", {}, "type"), h("dd", {}, mem.type),
      h("dt", {}, "status"), h("dd", {}, h("span", { class: `badge ${memStatus(mem)}`, id: "status" },
        memStatus(mem)), memStatus(mem) === "active" ? null : [" ", link(
          `${userHref(mem.user_id, "archived")}?${qs({ status: memStatus(mem) })}`,
          `all ${memStatus(mem)}`)]),
      h("dt", {}, "valid to"), h("dd", {}, mem.valid_to ? fmtTime(mem.valid_to) : "—"),
      h("dt", {}, "superseded by"), h("dd", { class: "mono" }, mem.superseded_by
        ? link(`#/m/${enc(mem.superseded_by)}`, mem.superseded_by) : "—"),
      h("dt", {}, "event time"), h("dd", {}, fmtTime(mem.event_time)),
      h("dt", {}, "created / updated"), h("dd", {}, `${fmtTime(mem.created_at)} / ${fmtTime(mem.updated_at)}`),
      h("dt", {}, "source ids"), h("dd", { class: "mono" }, mem.source_ids.join(", ")),
      h("dt", {}, "metadata"), h("dd", { class: "mono" }, JSON.stringify(mem.metadata))));
    box.append(h("div", { class: "actions" },
      mem.status === "archived" ? h("button", { type: "button", id: "restore", onclick: async () => {
        await api(`/v1/memories/${enc(mem.id)}/restore`, { method: "POST", json: {} });
        route();
      } }, "Restore") : null,
      h("button", { type: "button", id: "edit", onclick: () => editMemory(box, mem) }, "Edit"),
      h("button", { type: "button", id: "delete", class: "danger",
                    onclick: () => deleteMemory(mem) }, "Delete")));
    const ctx = await api(`/v1/memories/${enc(id)}/context?window=3`);
    if (ctx.entities.length) {
      box.append(h("h2", {}, "Entities"), h("div", { class: "chips" }, ctx.entities.map((n) =>
        h("a", { class: "chip", href: `${userHref(mem.user_id, "entities")}?${qs({ q: n })}` }, n))));
    }
    if (ctx.dates.length) {
      box.append(h("h2", {}, "Resolved dates"),
        h("div", { class: "chips" }, ctx.dates.map((d) => h("span", { class: "chip" },
          `${d[2]}: ${d[0]}${d[1] !== d[0] ? " … " + d[1] : ""}`))));
    }
    out.append(h("h2", {}, "Provenance: source turns in context"),
      h("div", { class: "detail", id: "provenance" }, contextBlock(ctx)));
  }
  out.append(h("h2", {}, "History"), h("table", { class: "hist", id: "history" },
    h("thead", {}, h("tr", {}, h("th", {}, "when"), h("th", {}, "event"), h("th", {}, "actor"),
      h("th", {}, "change"))),
    h("tbody", {}, history.map((e) => h("tr", {},
      h("td", {}, fmtTime(e.at)), h("td", {}, e.event), h("td", {}, e.actor),
      h("td", {}, change(e)))))));
}

// a history entry's text: "old -> new" when the text changed, else the text once
function change(e) {
  if (e.old_text !== null && e.new_text !== null && e.old_text !== e.new_text) {
    return h("div", { class: "change" }, h("span", { class: "old" }, e.old_text),
      h("span", { class: "arrow" }, " → "), h("span", { class: "new" }, e.new_text));
  }
  return h("div", { class: "same" }, e.new_text !== null ? e.new_text : (e.old_text || ""));
}

function editMemory(box, mem) {
  if (box.querySelector("textarea")) return;
  const area = h("textarea", { id: "edit-text", "aria-label": "new text" }, mem.text);
  const form = h("div", { class: "actions" },
    h("button", { type: "button", class: "primary", id: "save", onclick: async () => {
      const text = area.value;
      if (!text.trim() || text === mem.text) return;
      if (!await confirmAction("Replace this memory's text?", text, "Save")) return;
      try {
        await api(`/v1/memories/${enc(mem.id)}`, { method: "PATCH", json: { text } });
        route();
      } catch (e) { alertBox(box, e); }
    } }, "Save"),
    h("button", { type: "button", onclick: () => { area.remove(); form.remove(); } }, "Cancel"));
  box.append(area, form);
  area.focus();
}

async function deleteMemory(mem) {
  const ok = await confirmAction("Delete this memory? Its source turns stay; the deletion is " +
                                 "recorded in its history.", mem.text, "Delete");
  if (!ok) return;
  try {
    await api(`/v1/memories/${enc(mem.id)}`, { method: "DELETE" });
    route();
  } catch (e) { alertBox($("#memory"), e); }
}

function alertBox(parent, e) {
  parent.append(h("p", { class: "error" }, e.message));
}

async function exportUser(uid) {
  const btn = $("#export");
  btn.disabled = true;
  try {
    const r = await api(`/v1/export?${qs({ user_id: uid })}`, { raw: true });
    const url = URL.createObjectURL(await r.blob());
    const a = h("a", { href: url, download: `${uid.replace(/[^\w.-]+/g, "_")}.jsonl` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    btn.after(h("span", { class: "error" }, e.message));
  } finally {
    btn.disabled = false;
  }
}

// -- start ---------------------------------------------------------------------------
window.addEventListener("hashchange", route);

(async () => {
  if (sessionStorage.getItem(KEY)) { route(); return; }
  // no key yet: a --no-auth server answers without one
  try {
    await api("/v1/users?limit=1");
    route();
  } catch (_) {
    showLogin("");
  }
})();
