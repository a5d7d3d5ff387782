// pricetrack dashboard: a hash-routed single page over the JSON API at /api/v1 (same origin,
// session cookie). No framework; every text from the API goes through textContent, never HTML.

// The benchmark of the list page reads these marks (BENCHMARKS.md).
performance.mark("app-start");
const API = "/api/v1";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const toast = document.getElementById("toast");
let me = null;

// ---------- small helpers ----------

/** Builds an element: h("p", {class: "x"}, "text", child…). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An API error: its HTTP status, code and message in words. */
class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** Calls the API; resolves to the parsed body (null for 204), rejects with an ApiError. */
async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* a body that is not JSON */ }
  if (!res.ok) {
    const e = data && data.error;
    if (res.status === 401 && !path.startsWith("/signin")) {
      me = null;
      showSignedOut();
      if (location.hash !== "#/signin" && location.hash !== "#/signup") location.hash = "#/signin";
    }
    throw new ApiError(res.status, e ? e.code : "http_" + res.status,
      e ? e.message : `The server answered ${res.status}.`, e && e.field);
  }
  return data;
}

/** "This server does not offer X yet" for a 404 of a whole endpoint. */
function unavailable(what) {
  return h("p", { class: "notice", role: "note" }, `${what} is not available on this server yet (the API answered 404).`);
}

/** What the API's field names are called on the pages, for its messages ("target_price must…"). */
const FIELD_WORDS = {
  target_price: "The target price", check_interval_secs: "The check interval (in seconds)",
  price_selector: "The price selector", currency: "The currency", url: "The address", email: "The email",
  password: "The password", name: "The name", kind: "The kind", webhook_url: "The webhook URL",
  topic: "The topic", server: "The server", token: "The token", bot_token: "The bot token",
  chat_id: "The chat id", address: "The email address",
};

function errorText(err) {
  if (!(err instanceof ApiError)) return "Something went wrong: " + err;
  const words = err.field && FIELD_WORDS[err.field];
  // The API names fields as a script spells them; a person reads the label instead.
  return words && err.message.startsWith(err.field + " ") ? words + err.message.slice(err.field.length) : err.message;
}

let errorIds = 0;

/**
 * Shows an error in words next to what caused it: beside the input of the field the API names
 * (marked `data-field`), else at the end of `anchor`. Replaces an earlier error.
 */
function showError(anchor, err) {
  clearError(anchor);
  const field = err instanceof ApiError && err.field ? anchor.querySelector(`[data-field="${err.field}"]`) : null;
  const box = h("p", { class: "error said", role: "alert", id: `error-${++errorIds}` },
    typeof err === "string" ? err : errorText(err));
  if (field) {
    // In a row with its button (the URL to read), the message goes under the row; a group of
    // controls (the rules) holds its own message.
    if (field.tagName === "FIELDSET") field.append(box);
    else if (field.parentElement.classList.contains("row")) field.parentElement.after(box);
    else field.parentElement.append(box);
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", box.id);
  } else {
    anchor.append(box);
  }
}

function clearError(anchor) {
  for (const box of anchor.querySelectorAll(".error.said")) box.remove();
  for (const field of anchor.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-describedby");
  }
}

function say(text) {
  toast.textContent = text;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { toast.textContent = ""; }, 4000);
}

/** Runs an async action from a button: disabled while it runs, errors shown next to `where`. */
async function busy(button, where, action) {
  button.disabled = true;
  clearError(where);
  try {
    await action();
  } catch (err) {
    showError(where, err);
  } finally {
    button.disabled = false;
  }
}

/** A price as a shopper reads it: "95.5" is shown as "95.50" (the API drops trailing zeros). */
function amountText(amount) {
  const s = String(amount);
  return /^-?\d+\.\d$/.test(s) ? s + "0" : s;
}
/** A decimal as typed, with a lone decimal comma ("95,50") read as a point. */
function decimalText(raw) {
  const s = raw.trim();
  return /^\d+,\d{1,4}$/.test(s) ? s.replace(",", ".") : s;
}

/** Whether two decimal texts are the same number ("95.50" and "95.5"); null if one is not a number. */
function sameDecimal(a, b) {
  const norm = (x) => /^\d+(\.\d+)?$/.test(x) ? x.replace(/^0+(?=\d)/, "").replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "") : null;
  const [x, y] = [norm(String(a)), norm(String(b))];
  return x === null || y === null ? null : x === y;
}

const money = (amount, currency) => amount == null ? "—" : currency ? `${amountText(amount)} ${currency}` : amountText(amount);
const when = (iso) => {
  if (!iso) return "never";
  const d = new Date(iso);
  const secs = Math.round((Date.now() - d.getTime()) / 1000);
  if (secs < 60) return "just now";
  if (secs < 3600) return `${Math.round(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.round(secs / 3600)} h ago`;
  return dateFormat().format(d);
};
let dateFormatter = null;
/** One formatter for every date (toLocaleDateString makes a new one per call). */
const dateFormat = () => dateFormatter ??= new Intl.DateTimeFormat();
const date = (iso) => iso ? dateFormat().format(new Date(iso)) : "";
function productName(job) {
  if (job.title) return job.title;
  try {
    const u = new URL(job.url);
    const last = u.pathname.split("/").filter(Boolean).pop();
    return last ? decodeURIComponent(last).replace(/[-_]+/g, " ") : u.host;
  } catch {
    return job.url;
  }
}
const host = (url) => { try { return new URL(url).host; } catch { return url; } };
const STATUS_WORDS = {
  pending: "Waiting for its first check", active: "Above target", alerted: "At or below target",
  failing: "Checks are failing", paused: "Paused",
};

function page(title, ...children) {
  // A page whose calls answer after the user has moved to sign-in (sign-out, an expired session)
  // must not draw over the sign-in form.
  const onAuthPage = location.hash === "#/signin" || location.hash === "#/signup";
  if (onAuthPage && title !== "Sign in" && title !== "Create your account") return false;
  document.title = `${title} · pricetrack`;
  main.replaceChildren(h("h1", {}, title), ...children);
  // A "Loading…" placeholder leaves the focus to the page drawn after it.
  if (main.querySelector(":scope > .loading")) return true;
  // After an action that redraws the page, the keyboard focus stays on the control used.
  const again = refocus && main.querySelector(refocus);
  refocus = null;
  (again || main).focus({ preventScroll: true });
  return true;
}

/** Counts routes: a page drawn for an earlier one (its calls answered late) is dropped. */
let routeId = 0;

/** A `page` that draws only while the route current when it was made is still current. */
function pager() {
  const id = routeId;
  return (title, ...children) => id === routeId && page(title, ...children);
}

/** A selector of the control to focus when the page is next drawn (set before a redraw). */
let refocus = null;

// ---------- session ----------

function showSignedIn() {
  nav.hidden = false;
}

function showSignedOut() {
  nav.hidden = true;
}

async function loadMe() {
  try {
    me = await api("GET", "/me");
  } catch (err) {
    if (err.status !== 404) throw err;
    // Servers without /me: the session check every version has.
    me = await api("GET", "/validate");
  }
  return me;
}

function authPage(mode) {
  showSignedOut();
  const signup = mode === "signup";
  const form = h("form", { class: "card narrow", novalidate: true },
    h("label", { for: "email" }, "Email"),
    h("input", { id: "email", name: "email", "data-field": "email", type: "email", autocomplete: "email", required: true }),
    h("label", { for: "password" }, "Password"),
    h("input", {
      id: "password", name: "password", "data-field": "password", type: "password", required: true, minlength: "8",
      autocomplete: signup ? "new-password" : "current-password",
    }),
    signup ? h("p", { class: "muted" }, "At least 8 characters.") : null,
    h("div", { class: "actions" },
      h("button", { type: "submit" }, signup ? "Create account" : "Sign in")),
    h("p", {}, signup ? "Already have an account? " : "New here? ",
      h("a", { href: signup ? "#/signin" : "#/signup" }, signup ? "Sign in" : "Create an account")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const email = form.email.value.trim();
    const password = form.password.value;
    busy(form.querySelector("button"), form, async () => {
      if (signup) await api("POST", "/signup", { email, password });
      await api("POST", "/signin", { email, password });
      await loadMe();
      showSignedIn();
      location.hash = "#/";
      if (location.hash === "#/") route();
    });
  });
  page(signup ? "Create your account" : "Sign in", form);
  main.querySelector("h1").classList.add("narrow");
  form.email.focus();
}

document.getElementById("signout").addEventListener("click", async () => {
  try { await api("POST", "/signout"); } catch (err) { say(errorText(err)); }
  me = null;
  location.hash = "#/signin";
});

// ---------- product list ----------

async function allJobs() {
  const jobs = [];
  let cursor = null;
  do {
    const q = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : "?limit=100";
    const pageOfJobs = await api("GET", "/jobs" + q);
    jobs.push(...pageOfJobs.jobs);
    cursor = pageOfJobs.next_cursor;
  } while (cursor);
  return jobs;
}

/** A 120×32 SVG line of prices. */
function sparkline(values) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 120 32");
  svg.setAttribute("role", "img");
  if (values.length < 2) {
    // Said, not left blank: an empty cell reads as "broken".
    svg.setAttribute("aria-label", "not enough history for a trend yet");
    const note = document.createElementNS(ns, "text");
    note.setAttribute("x", "0");
    note.setAttribute("y", "20");
    note.textContent = "no trend yet";
    svg.append(note);
    return svg;
  }
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const pts = values.map((v, i) => `${(i * 118 / (values.length - 1) + 1).toFixed(1)},${(30 - (v - lo) * 28 / span).toFixed(1)}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  svg.append(line);
  svg.setAttribute("aria-label", `last 30 days: from ${values[0]} to ${values[values.length - 1]}`);
  return svg;
}

let historyMissing = false;

async function fillSparkline(cell, job) {
  if (historyMissing) return;
  const from = new Date(Date.now() - 30 * 86400e3).toISOString();
  try {
    const hist = await api("GET", `/jobs/${job.id}/history?resolution=day&from=${encodeURIComponent(from)}`);
    const values = [...hist.points].sort((a, b) => byText(a.at, b.at))
      .filter((p) => p.price != null).map((p) => Number(p.last ?? p.price));
    cell.replaceChildren(sparkline(values));
  } catch (err) {
    if (err.status === 404 && !historyMissing) {
      historyMissing = true;
      const list = document.getElementById("job-list");
      if (list) list.before(unavailable("Price history (the trend lines)"));
    }
    cell.replaceChildren();
  }
}

/**
 * One row of the list, cloned from fixed markup: 200 rows are built in a few milliseconds,
 * where building each element by hand took tens. Every text from the API is set through
 * textContent.
 */
const ROW = (() => {
  const t = document.createElement("template");
  t.innerHTML = '<tr><td><a class="title"></a><div class="sub"></div></td><td class="num" data-label="Price"></td>'
    + '<td class="num" data-label="Target"></td><td><span class="badge"></span></td><td class="spark-cell"></td>'
    + '<td class="sub"></td></tr>';
  return t.content.firstElementChild;
})();

function jobRow(job) {
  const row = ROW.cloneNode(true);
  const [what, price, target, status, spark, checked] = row.children;
  const link = what.firstElementChild;
  link.href = `#/jobs/${job.id}`;
  link.textContent = productName(job);
  what.lastElementChild.textContent = host(job.url);
  price.textContent = money(job.last_price, job.last_currency || job.currency);
  if (job.availability === "out_of_stock") price.append(h("div", { class: "sub" }, "out of stock"));
  target.textContent = money(job.target_price, job.currency);
  const badge = status.firstElementChild;
  badge.className = `badge s-${job.status}`;
  badge.title = STATUS_WORDS[job.status] || "";
  badge.textContent = job.status;
  if (job.last_error) status.append(h("div", { class: "sub" }, job.last_error));
  checked.textContent = when(job.last_checked_at);
  return { row, spark };
}

// Plain comparisons: RFC 3339 UTC times sort as text, and a collator is made once (a
// localeCompare per comparison made sorting 200 products cost tens of milliseconds).
let collator = null;
const byText = (a, b) => a < b ? -1 : a > b ? 1 : 0;
const SORTS = {
  newest: (a, b) => byText(b.created_at, a.created_at),
  name: (a, b) => (collator ??= new Intl.Collator()).compare(productName(a), productName(b)),
  price: (a, b) => Number(a.last_price ?? Infinity) - Number(b.last_price ?? Infinity),
  checked: (a, b) => byText(b.last_checked_at || "", a.last_checked_at || ""),
};

async function listPage() {
  const draw = pager();
  // The request goes out before anything is drawn: drawing lays the page out first.
  const loading = allJobs();
  draw("Your products", h("p", { class: "muted loading" }, "Loading your products…"));
  let jobs;
  try {
    jobs = await loading;
    performance.mark("jobs-loaded");
  } catch (err) {
    if (draw("Your products")) showError(main, err);
    return;
  }
  if (jobs.length === 0) {
    draw("Your products", h("div", { class: "card" },
      h("p", {}, "You are not tracking any product yet."),
      h("a", { class: "button", href: "#/add" }, "Add a product")));
    return;
  }
  const status = h("select", { id: "filter-status" },
    h("option", { value: "" }, "All"),
    ...Object.keys(STATUS_WORDS).map((s) => h("option", { value: s }, s)));
  const sort = h("select", { id: "sort" },
    h("option", { value: "newest" }, "Newest first"),
    h("option", { value: "name" }, "Name"),
    h("option", { value: "price" }, "Price, lowest first"),
    h("option", { value: "checked" }, "Last checked"));
  const tbody = h("tbody");
  const count = h("p", { class: "muted", "aria-live": "polite" });
  const table = h("table", { class: "jobs", id: "job-list" },
    h("caption", { class: "skip" }, "Tracked products"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Product"), h("th", { scope: "col", class: "num c-price" }, "Price"),
      h("th", { scope: "col", class: "num c-target" }, "Target"), h("th", { scope: "col", class: "c-status" }, "Status"),
      h("th", { scope: "col", class: "c-spark" }, "30 days"), h("th", { scope: "col", class: "c-checked" }, "Checked"))),
    tbody);
  const rows = new Map();
  const sparks = [];
  for (const job of jobs) {
    const r = jobRow(job);
    rows.set(job.id, r.row);
    sparks.push([r.spark, job]);
  }
  function render() {
    const shown = jobs.filter((j) => !status.value || j.status === status.value).sort(SORTS[sort.value]);
    tbody.replaceChildren(...shown.map((j) => rows.get(j.id)));
    count.textContent = `${shown.length} of ${jobs.length} products`;
  }
  status.addEventListener("change", render);
  sort.addEventListener("change", render);
  render();
  const drawn = draw("Your products",
    h("div", { class: "toolbar" },
      h("div", {}, h("label", { for: "filter-status" }, "Status"), status),
      h("div", {}, h("label", { for: "sort" }, "Sort by"), sort),
      h("a", { class: "button fit", href: "#/add" }, "Add product")),
    count, table);
  if (!drawn) return;
  main.dataset.rendered = String(jobs.length);
  performance.mark("list-rendered");
  // Trend lines after the table is on screen, for the rows scrolled into view only (a list of
  // 200 asks for the dozen shown, not 200 histories; a phone, which hides them, asks for none),
  // four requests at a time.
  historyMissing = false;
  const jobOf = new Map(sparks);
  const queue = [];
  let running = 0;
  const pump = () => {
    while (running < 4 && queue.length) {
      const [cell, job] = queue.shift();
      running++;
      fillSparkline(cell, job).finally(() => { running--; pump(); });
    }
  };
  const seen = new IntersectionObserver((entries) => {
    if (!tbody.isConnected) { seen.disconnect(); return; }
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      seen.unobserve(e.target);
      queue.push([e.target, jobOf.get(e.target)]);
    }
    pump();
  }, { rootMargin: "300px 0px" });
  for (const [cell] of sparks) seen.observe(cell);
}

// ---------- add a product ----------

function addPage() {
  const form = h("form", { class: "card", novalidate: true },
    h("label", { for: "url" }, "Product page URL"),
    h("div", { class: "row" },
      h("input", { id: "url", name: "url", "data-field": "url", type: "url", required: true, placeholder: "https://shop.example/product", autocomplete: "url" }),
      h("button", { type: "submit", class: "fit" }, "Read the page")));
  const result = h("div", { id: "preview" });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const url = form.url.value.trim();
    if (!url) { showError(form, "Paste the address of a product page."); return; }
    busy(form.querySelector("button"), form, async () => {
      result.replaceChildren(h("p", { class: "muted" }, "Reading the page…"));
      let preview = null;
      try {
        preview = await api("POST", "/preview", { url });
      } catch (err) {
        if (err.status !== 404) { result.replaceChildren(); throw err; }
        result.replaceChildren(unavailable("Reading a page before saving"));
      }
      renderPreview(result, url, preview);
    });
  });
  page("Add a product", form, result);
  form.url.focus();
}

function renderPreview(result, url, preview) {
  // One line per distinct price: the same amount read by several methods is one choice (the
  // first reading kept, with a selector from any of them).
  const candidates = [];
  for (const c of (preview && preview.candidates) || []) {
    const same = candidates.find((d) => d.price === c.price && d.currency === c.currency);
    if (!same) candidates.push({ ...c });
    else if (!same.selector && c.selector) same.selector = c.selector;
  }
  const first = candidates[0];
  const save = h("form", { class: "card", novalidate: true });
  if (preview) {
    save.append(h("h2", {}, preview.title || "Untitled page"),
      h("dl", { class: "facts" },
        h("dt", {}, "Price"), h("dd", { id: "preview-price" }, money(preview.price, preview.currency)),
        h("dt", {}, "Stock"), h("dd", {}, preview.availability ? preview.availability.replace(/_/g, " ") : "not stated"),
        h("dt", {}, "Page"), h("dd", {}, url)));
  }
  if (candidates.length > 0) {
    const list = h("ul", { class: "candidates" });
    candidates.forEach((c, i) => {
      const id = `cand-${i}`;
      list.append(h("li", {}, h("label", { for: id },
        h("input", { type: "radio", name: "candidate", id, value: String(i), checked: i === 0 }),
        h("span", { class: "price" }, money(c.price, c.currency)),
        h("span", {}, h("span", { class: "sub" }, `${c.source}${i === 0 ? " · the tracker's pick" : ""}${c.excluded ? ` · usually skipped: ${c.excluded}` : ""}`),
          h("br"), c.context || c.selector || ""))));
    });
    save.append(h("fieldset", { class: "plain" },
      h("legend", {}, "Which price should be tracked?"), list));
  } else if (preview) {
    save.append(h("p", { class: "notice" }, "No price was found on this page. You can still track it; checks will say what they find."));
  }
  const currency = (preview && preview.currency) || (first && first.currency) || "";
  save.append(h("div", { class: "row" },
    h("div", {}, h("label", { for: "target" }, "Alert me at or below"),
      h("input", { id: "target", name: "target", "data-field": "target_price", inputmode: "decimal", required: true, placeholder: "79.99" })),
    h("div", {}, h("label", { for: "currency" }, "Currency"),
      h("input", { id: "currency", name: "currency", "data-field": "currency", value: currency, maxlength: "3", placeholder: "EUR" })),
    h("div", {}, h("label", { for: "interval" }, "Check every"), intervalSelect("interval", 0))),
  rulesFieldset("a", null, null),
  h("div", { class: "actions" }, h("button", { type: "submit" }, "Start tracking"),
    h("a", { href: "#/", class: "button secondary" }, "Cancel")));
  save.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { url, target_price: decimalText(save.target.value) };
    if (save.interval.value !== "0") body.check_interval_secs = Number(save.interval.value);
    if (save.currency.value.trim()) body.currency = save.currency.value.trim().toUpperCase();
    let alerting;
    try { alerting = save.querySelector("#a-rules").read(); } catch (err) { showError(save, err); return; }
    // The server's defaults (below the target, no cooldown) are left to it.
    if (!sameRules(alerting.rules, [{ kind: "below_target" }])) body.rules = alerting.rules;
    if (alerting.cooldown_hours !== null) body.cooldown_hours = alerting.cooldown_hours;
    const chosen = save.querySelector("input[name=candidate]:checked");
    if (chosen && chosen.value !== "0") {
      const c = candidates[Number(chosen.value)];
      if (!c.selector) { showError(save, "This price cannot be found again on the page; pick another one."); return; }
      body.price_selector = c.selector;
    }
    busy(save.querySelector("button"), save, async () => {
      const job = await api("POST", "/jobs", body);
      say("Tracking started.");
      location.hash = `#/jobs/${job.id}`;
    });
  });
  result.replaceChildren(...[...result.children].filter((c) => c.classList.contains("notice")), save);
  (save.querySelector("input[name=candidate]") || save.target).focus();
}

/**
 * "Alert me when…": one checkbox per rule kind (a drop also has its percent and baseline), and
 * the quiet hours after an alert. `read()` gives `{rules, cooldown_hours}` for the API, or
 * throws a message in words when no rule is ticked.
 */
function rulesFieldset(prefix, rules, cooldown) {
  const has = (kind) => (rules || [{ kind: "below_target" }]).find((r) => r.kind === kind);
  const drop = has("drop_percent");
  const box = (kind, label, ...extra) => h("div", { class: "rule" },
    h("input", { type: "checkbox", id: `${prefix}-rule-${kind}`, value: kind, checked: !!has(kind) }),
    h("label", { for: `${prefix}-rule-${kind}` }, label), ...extra);
  const percent = h("input", { id: `${prefix}-drop-percent`, inputmode: "decimal", class: "short",
    value: drop ? String(drop.percent) : "10", "aria-label": "Drop in percent" });
  const baseline = h("select", { id: `${prefix}-drop-baseline`, class: "short", "aria-label": "Drop measured from" },
    h("option", { value: "first_seen", selected: !drop || drop.baseline === "first_seen" }, "the first price seen"),
    h("option", { value: "previous", selected: !!drop && drop.baseline === "previous" }, "the previous check"));
  const quiet = h("input", { id: `${prefix}-cooldown`, "data-field": "cooldown_hours", inputmode: "numeric", class: "short",
    value: cooldown == null ? "" : String(cooldown), placeholder: "0" });
  const set = h("fieldset", { class: "rules", id: `${prefix}-rules`, "data-field": "rules" },
    h("legend", {}, "Alert me when"),
    box("below_target", "the price is at or below the target"),
    box("drop_percent", "the price drops by", h("span", { class: "inline" }, percent, " % below ", baseline)),
    box("new_low", "the price is the lowest seen yet"),
    box("back_in_stock", "it is back in stock"),
    h("div", { class: "rule" }, h("label", { for: `${prefix}-cooldown` }, "Then stay quiet for (hours)"), quiet));
  set.read = () => {
    const chosen = [...set.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
    if (chosen.length === 0) throw new ApiError(0, "invalid_field", "Tick at least one reason to be alerted.", "rules");
    const out = chosen.map((kind) => kind === "drop_percent"
      ? { kind, percent: decimalText(percent.value), baseline: baseline.value } : { kind });
    const hours = quiet.value.trim();
    // Anything but a whole number goes to the API as typed, which says what is wrong with it.
    const cooldown = hours === "" || hours === "0" ? null : /^\d+$/.test(hours) ? Number(hours) : hours;
    return { rules: out, cooldown_hours: cooldown };
  };
  return set;
}

/** Whether two rule lists say the same (order aside). */
function sameRules(a, b) {
  const key = (rs) => (rs || []).map((r) => `${r.kind}:${r.percent ?? ""}:${r.baseline ?? ""}`).sort().join("|");
  const norm = (rs) => (rs || []).map((r) => r.percent == null ? r : { ...r, percent: amountText(r.percent) });
  return key(norm(a)) === key(norm(b));
}

function intervalSelect(id, current) {
  const options = [[900, "15 minutes"], [3600, "hour"], [6 * 3600, "6 hours"], [86400, "day"]];
  if (current === 0) options.unshift([0, "the server's default"]);
  if (!options.some(([v]) => v === current)) options.unshift([current, current === 1 ? "second" : `${current} seconds`]);
  return h("select", { id, name: id, "data-field": "check_interval_secs" }, ...options.map(([v, t]) => h("option", { value: String(v), selected: v === current }, t)));
}

// ---------- a product ----------

const RANGES = [["7 days", 7], ["30 days", 30], ["90 days", 90], ["A year", 365], ["All", 0]];

async function productPage(id) {
  const draw = pager();
  const loading = api("GET", `/jobs/${id}`);
  draw("Product", h("p", { class: "muted loading" }, "Loading…"));
  let job;
  try {
    job = await loading;
  } catch (err) {
    if (draw("Product")) showError(main, err.status === 404 ? "This product is not in your list (it may have been deleted)." : err);
    return;
  }
  const stats = h("dl", { class: "stats", id: "stats" });
  const chart = h("div", { id: "chart", role: "img", "aria-label": "price history chart" });
  const chartBox = h("section", { class: "card", "aria-labelledby": "hist-h" }, h("h2", { id: "hist-h" }, "Price history"));
  const ranges = h("div", { class: "ranges", role: "group", "aria-label": "Time range" });
  let range = 30;
  for (const [label, days] of RANGES) {
    ranges.append(h("button", { type: "button", "aria-pressed": String(days === range), onclick: (ev) => {
      range = days;
      for (const b of ranges.children) b.setAttribute("aria-pressed", String(b === ev.currentTarget));
      loadHistory();
    } }, label));
  }
  chartBox.append(ranges, chart);
  const status = h("p", {},
    h("span", { class: `badge s-${job.status}`, id: "job-status" }, job.status), " ",
    STATUS_WORDS[job.status] || "", job.last_error ? h("span", { class: "error" }, " — " + job.last_error) : null,
    h("span", { class: "muted" }, ` · checked ${when(job.last_checked_at)}`));
  if (!draw(productName(job),
    h("p", { class: "sub" }, h("a", { href: job.url, rel: "noopener noreferrer", target: "_blank" }, job.url)),
    status, stats, chartBox, editForm(job), alertingCard(job), dangerZone(job))) return;

  async function loadHistory() {
    const from = range ? `&from=${encodeURIComponent(new Date(Date.now() - range * 86400e3).toISOString())}` : "";
    clearError(chartBox);
    try {
      const hist = await api("GET", `/jobs/${job.id}/history?resolution=${resolutionFor(job, range)}${from}`);
      renderStats(stats, hist.stats, job);
      await loadChartLibrary();
      drawChart(chart, hist.points, job);
    } catch (err) {
      chart.replaceChildren();
      renderStats(stats, null, job);
      if (err.status === 404) chartBox.append(unavailable("Price history"));
      else showError(chartBox, err);
    }
  }
  await loadHistory();
}

/**
 * The history resolution for a range: what the range holds decides, not only its length. A
 * product tracked since this morning has all its prices in one day; drawn by the day it would be
 * one dot, so a short history is drawn price by price (raw run-length points).
 */
function resolutionFor(job, rangeDays) {
  const ageDays = Math.max(0, (Date.now() - Date.parse(job.created_at)) / 86400e3);
  const span = rangeDays ? Math.min(rangeDays, ageDays) : ageDays;
  if (span <= 3) return "raw&limit=1000";
  return span <= 31 ? "hour" : "day";
}

function renderStats(box, s, job) {
  const cur = job.last_currency || job.currency;
  const stat = (label, value, sub, id) => h("div", { class: "stat", id },
    h("dt", {}, label), h("dd", {}, value, sub ? h("div", { class: "sub" }, sub) : null));
  const amt = (m) => m == null ? null : typeof m === "object" ? money(m.amount ?? m.price, m.currency ?? cur) : money(m, cur);
  // An average is not a price the shop asked: two decimals are enough.
  const avg = (m) => m == null ? null : amt({ ...m, price: Number(m.price ?? m.amount).toFixed(2) });
  const pct = (p) => p == null ? "—" : `${Number(p) > 0 ? "+" : ""}${p} %`;
  if (!s) {
    box.replaceChildren(stat("Current", money(job.last_price, cur), null, "stat-current"),
      stat("Target", money(job.target_price, job.currency), null, "stat-target"));
    return;
  }
  const lowestAt = s.lowest && typeof s.lowest === "object" ? (s.lowest.at || s.lowest.first_seen_at) : s.lowest_at;
  box.replaceChildren(
    stat("Current", amt(s.current) ?? money(job.last_price, cur), null, "stat-current"),
    stat("Lowest", amt(s.lowest) ?? "—", lowestAt ? `on ${date(lowestAt)}` : null, "stat-lowest"),
    stat("Highest", amt(s.highest) ?? "—", null, "stat-highest"),
    stat("Average, 30 days", avg(s.average_30d) ?? "—", null, "stat-avg"),
    stat("Against lowest", pct(s.change_pct_vs_lowest), null, "stat-change"),
    stat("Target", money(job.target_price, job.currency), null, "stat-target"));
}

let plot = null;
let chartLibrary = null;

/** Loads uPlot on the first chart only: the list page never pays for it. */
function loadChartLibrary() {
  if (typeof uPlot !== "undefined") return Promise.resolve();
  chartLibrary ??= new Promise((resolve, reject) => {
    const src = document.querySelector("meta[name=chart-library]").content;
    document.head.append(h("script", { src, onload: resolve, onerror: () => reject(new Error("the chart library did not load")) }));
  });
  return chartLibrary;
}

function drawChart(box, points, job) {
  if (plot) { plot.destroy(); plot = null; }
  box.replaceChildren();
  const pts = [...points].sort((a, b) => byText(a.at, b.at));
  box.dataset.points = String(pts.length);
  if (pts.length === 0) { box.append(h("p", { class: "muted" }, "No prices recorded in this range yet.")); return; }
  if (typeof uPlot === "undefined") { box.append(h("p", { class: "error" }, "The chart library did not load.")); return; }
  const buckets = pts.some((p) => p.min != null || p.max != null);
  const xs = [], last = [], lo = [], hi = [];
  const add = (at, price, min, max) => {
    const x = new Date(at).getTime() / 1000;
    if (xs.length && x <= xs[xs.length - 1]) return;
    xs.push(x); last.push(price); lo.push(min); hi.push(max);
  };
  for (const p of pts) {
    // Out of stock: no price, drawn as a gap.
    const inStock = p.availability !== "out_of_stock" && p.price != null;
    const price = inStock ? Number(p.last ?? p.price) : null;
    add(p.at, price, inStock && p.min != null ? Number(p.min) : null, inStock && p.max != null ? Number(p.max) : null);
    // A raw point holds its price until it was last seen: a flat line to there.
    if (!buckets && p.last_seen_at) add(p.last_seen_at, price, null, null);
  }
  const values = last.filter((v) => v != null);
  if (values.length === 0) { box.append(h("p", { class: "muted" }, "The product was out of stock over this whole range.")); return; }
  const minV = Math.min(...values), maxV = Math.max(...values);
  // The lowest and highest prices, marked once each (their first time).
  const lowMark = last.map(() => null), highMark = last.map(() => null);
  lowMark[last.indexOf(minV)] = minV;
  highMark[last.indexOf(maxV)] = maxV;
  const tgt = Number(job.target_price);
  const target = xs.map(() => tgt);
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const accent = color("--accent"), red = color("--chart-target"), muted = color("--muted"), line = color("--line");
  const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line } };
  const markOnly = (label, fill) => ({
    label, stroke: fill, width: 0, paths: () => null, points: { show: true, size: 11, fill, stroke: fill },
  });
  const series = [{},
    // A price holds until the next one is read: steps, not slopes.
    { label: "Price", stroke: accent, width: 2, spanGaps: false, paths: uPlot.paths.stepped({ align: 1 }),
      points: { show: xs.length <= 60, size: 5, fill: accent } }];
  const data = [xs, last];
  if (buckets) {
    series.push({ label: "Low", stroke: accent, width: 1, dash: [2, 4], spanGaps: false, points: { show: false } },
      { label: "High", stroke: accent, width: 1, dash: [2, 4], spanGaps: false, points: { show: false } });
    data.push(lo, hi);
  }
  series.push({ label: "Target", stroke: red, width: 1.5, dash: [6, 4], points: { show: false } },
    markOnly("Lowest", color("--ok")), markOnly("Highest", color("--warn")));
  data.push(target, lowMark, highMark);
  const opts = {
    width: Math.max(280, box.clientWidth || 600), height: 300,
    // The time axis spans the points; one price read once has no span: an hour either side
    // (left to itself, uPlot would guess years).
    scales: { x: { time: true, auto: false, range: xs.length > 1 ? [xs[0], xs[xs.length - 1]] : [xs[0] - 3600, xs[0] + 3600] } },
    axes: [axis, { ...axis, size: 60, values: (u, ticks) => ticks.map((t) => t.toFixed(2)) }],
    series,
  };
  plot = new uPlot(opts, data, box);
  box.setAttribute("aria-label", `price history: ${values.length} prices, lowest ${minV}, highest ${maxV}, target ${tgt}`);
}

function editForm(job) {
  const form = h("form", { class: "card", novalidate: true, id: "edit" },
    h("h2", {}, "Settings"),
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "e-target" }, "Target price"),
        h("input", { id: "e-target", name: "target", "data-field": "target_price", inputmode: "decimal", value: amountText(job.target_price) })),
      h("div", {}, h("label", { for: "e-interval" }, "Check every"), intervalSelect("e-interval", job.check_interval_secs)),
      h("div", {}, h("label", { for: "e-selector" }, "Price selector (optional)"),
        h("input", { id: "e-selector", name: "selector", "data-field": "price_selector", value: job.price_selector || "", placeholder: "found automatically" }))),
    rulesFieldset("e", job.rules, job.cooldown_hours),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Save changes"),
      h("button", { type: "button", class: "secondary", id: "pause" }, job.status === "paused" ? "Resume checks" : "Pause checks")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    // A merge patch of what the user changed only: an unchanged interval the server's minimum
    // has since outgrown, or a selector as it was, must not make the save fail.
    const patch = {};
    const target = decimalText(form.target.value);
    if (sameDecimal(target, job.target_price) !== true) patch.target_price = target;
    const interval = Number(form["e-interval"].value);
    if (interval !== job.check_interval_secs) patch.check_interval_secs = interval;
    const sel = form.selector.value.trim() || null;
    if (sel !== (job.price_selector || null)) patch.price_selector = sel;
    const submit = form.querySelector("button[type=submit]");
    let alerting;
    try { alerting = form.querySelector("#e-rules").read(); } catch (err) { showError(form, err); return; }
    if (!sameRules(alerting.rules, job.rules)) patch.rules = alerting.rules;
    if (alerting.cooldown_hours !== (job.cooldown_hours ?? null)) patch.cooldown_hours = alerting.cooldown_hours;
    if (Object.keys(patch).length === 0) { clearError(form); say("Nothing changed."); return; }
    busy(submit, form, async () => {
      await patchJob(job, patch);
      say("Saved.");
      refocus = "#edit button[type=submit]";
      await route();
    });
  });
  const pause = form.querySelector("#pause");
  pause.addEventListener("click", () => busy(pause, form, async () => {
    await patchJob(job, { paused: job.status !== "paused" });
    say(job.status === "paused" ? "Checks resumed." : "Checks paused.");
    refocus = "#pause";
    await route();
  }));
  return form;
}

const SNOOZES = [["a day", 1], ["a week", 7], ["30 days", 30]];

/**
 * Where and when a product alerts: a snooze (no alert until a date, checks go on) and the
 * channels its alerts go to (all of the user's, or the ones ticked). Channels are loaded here;
 * without any, the card says where to add one.
 */
function alertingCard(job) {
  const box = h("section", { class: "card", id: "alerting", "aria-labelledby": "alerting-h" },
    h("h2", { id: "alerting-h" }, "Where and when to alert"));
  const snoozed = job.snooze_until && Date.parse(job.snooze_until) > Date.now();
  if (snoozed) {
    const end = h("button", { type: "button", class: "secondary", id: "end-snooze" }, "End the snooze");
    end.addEventListener("click", () => busy(end, box, async () => {
      await patchJob(job, { snooze_until: null });
      say("Snooze ended: alerts are on again.");
      refocus = "#snooze";
      await route();
    }));
    box.append(h("p", { id: "snooze-state" }, `Alerts are snoozed until ${date(job.snooze_until)}; checks go on.`),
      h("div", { class: "actions" }, end));
  } else {
    const length = h("select", { id: "snooze-for", class: "short" },
      ...SNOOZES.map(([label, days]) => h("option", { value: String(days) }, label)));
    const snooze = h("button", { type: "button", class: "secondary", id: "snooze" }, "Snooze alerts");
    snooze.addEventListener("click", () => busy(snooze, box, async () => {
      const until = new Date(Date.now() + Number(length.value) * 86400e3).toISOString();
      await patchJob(job, { snooze_until: until });
      say("Alerts snoozed.");
      refocus = "#end-snooze";
      await route();
    }));
    box.append(h("div", { class: "row" }, h("div", {}, h("label", { for: "snooze-for" }, "Snooze alerts for"), length)),
      h("div", { class: "actions" }, snooze));
  }
  const channels = h("fieldset", { class: "rules", id: "job-channels", "data-field": "channels" },
    h("legend", {}, "Send its alerts to"), h("p", { class: "muted loading" }, "Loading channels…"));
  box.append(channels);
  fillChannelChoice(job, channels, box);
  return box;
}

/** The channel choice of `alertingCard`: "all my channels" or the ones ticked, and a save. */
async function fillChannelChoice(job, set, box) {
  let list;
  try {
    list = await listChannels();
  } catch (err) {
    set.replaceChildren(set.firstChild);
    showError(set, err.status === 404 ? "Alert channels are not available on this server." : err);
    return;
  }
  const legend = set.firstChild;
  if (list.length === 0) {
    set.replaceChildren(legend, h("p", { class: "muted" }, "No channel yet: alerts are only shown in the ",
      h("a", { href: "#/alerts" }, "delivery log"), ". ", h("a", { href: "#/channels" }, "Add a channel"), "."));
    return;
  }
  const chosen = new Set(job.channels || []);
  const all = h("input", { type: "checkbox", id: "ch-all", checked: job.channels == null });
  const ticks = list.map((ch) => h("input", { type: "checkbox", id: `ch-${ch.id}`, value: ch.id,
    checked: job.channels == null || chosen.has(ch.id), disabled: job.channels == null }));
  all.addEventListener("change", () => { for (const t of ticks) { t.disabled = all.checked; if (all.checked) t.checked = true; } });
  const save = h("button", { type: "button", class: "secondary", id: "save-channels" }, "Save channels");
  save.addEventListener("click", () => busy(save, box, async () => {
    let patch;
    if (all.checked) {
      patch = { channels: null };
    } else {
      const ids = ticks.filter((t) => t.checked).map((t) => t.value);
      if (ids.length === 0) throw new ApiError(0, "invalid_field", "Tick at least one channel, or all of them.", "channels");
      patch = { channels: ids };
    }
    await patchJob(job, patch);
    say("Channels saved.");
    refocus = "#save-channels";
    await route();
  }));
  set.replaceChildren(legend,
    h("div", { class: "rule" }, all, h("label", { for: "ch-all" }, "all my channels (and any I add later)")),
    ...list.map((ch, i) => h("div", { class: "rule" }, ticks[i],
      h("label", { for: `ch-${ch.id}` }, ch.name || ch.kind, ch.status === "failing" ? h("span", { class: "error" }, " (failing)") : null))),
    h("div", { class: "actions" }, save));
}

async function patchJob(job, patch) {
  try {
    return await api("PATCH", `/jobs/${job.id}`, patch);
  } catch (err) {
    if (err.status === 405 || (err.status === 404 && err.code !== "not_found")) {
      throw new ApiError(err.status, err.code, "Editing a product is not available on this server yet.");
    }
    if (err.status === 412) throw new ApiError(412, err.code, "The product changed meanwhile; reload the page and try again.");
    throw err;
  }
}

function dangerZone(job) {
  const box = h("section", { class: "card", "aria-labelledby": "del-h" }, h("h2", { id: "del-h" }, "Stop tracking"));
  const del = h("button", { type: "button", class: "danger" }, "Delete this product…");
  del.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger" }, "Yes, delete it and its history");
    const no = h("button", { type: "button", class: "secondary" }, "Keep it");
    const confirm = h("div", { class: "actions", role: "group", "aria-label": "Confirm deletion" }, yes, no);
    no.addEventListener("click", () => { confirm.replaceWith(del); del.focus(); });
    yes.addEventListener("click", () => busy(yes, box, async () => {
      await api("DELETE", `/jobs/${job.id}`);
      say("Deleted.");
      location.hash = "#/";
    }));
    del.replaceWith(confirm);
    no.focus();
  });
  box.append(h("p", { class: "muted" }, "Deleting removes the product and its price history."), del);
  return box;
}

// ---------- channels ----------

/** The user's channels (the list as `GET /channels` answers it, bare or under `channels`). */
async function listChannels() {
  const res = await api("GET", "/channels");
  return Array.isArray(res) ? res : res.channels || [];
}

const CHANNEL_FIELDS = {
  webhook: [["url", "Webhook URL", "url"]],
  ntfy: [["server", "Server (optional)", "url"], ["topic", "Topic", "text"], ["token", "Token (optional)", "password"]],
  discord: [["webhook_url", "Discord webhook URL", "url"]],
  slack: [["webhook_url", "Slack webhook URL", "url"]],
  gotify: [["server", "Gotify server", "url"], ["token", "App token", "password"]],
  telegram: [["bot_token", "Bot token", "password"], ["chat_id", "Chat id", "text"]],
  email: [["address", "Email address", "email"]],
};

/** The channels page; `notice` (the one-time webhook secret) is shown above the list. */
async function channelsPage(notice) {
  const draw = pager();
  if (!notice) draw("Channels", h("p", { class: "muted loading" }, "Loading…"));
  let channels;
  try {
    channels = await listChannels();
  } catch (err) {
    draw("Channels", err.status === 404 ? unavailable("Alert channels") : h("p", { class: "error", role: "alert" }, errorText(err)));
    return;
  }
  const list = h("div", { id: "channel-list" });
  for (const ch of channels) list.append(channelCard(ch));
  if (channels.length === 0) list.append(h("p", { class: "muted" }, "No channel yet: alerts are only shown in the delivery log."));
  draw("Channels", notice || null,
    h("p", { class: "muted" }, "Where your alerts go. Every product alerts all of your channels."),
    list, addChannelForm());
  if (notice) notice.querySelector("button").focus();
}

function channelCard(ch) {
  const card = h("div", { class: "card channel" },
    h("div", { class: "row" },
      h("div", {}, h("div", { class: "title" }, ch.name || ch.kind),
        h("div", { class: "sub" }, `${ch.kind} · `, h("span", { class: `badge s-${ch.status === "failing" ? "failing" : "active"}` }, ch.status || "active")),
        ch.last_error ? h("p", { class: "error" }, ch.last_error) : null),
      h("div", { class: "actions fit" },
        h("button", { type: "button", class: "secondary test" }, "Send a test"),
        h("button", { type: "button", class: "secondary remove" }, "Remove"))));
  const outcome = h("p", { class: "outcome", role: "status" });
  card.append(outcome);
  const test = card.querySelector(".test");
  test.addEventListener("click", () => busy(test, card, async () => {
    outcome.textContent = "Sending…";
    try {
      const res = await api("POST", `/channels/${ch.id}/test`);
      const ok = res && (res.ok === true || res.delivered === true || res.status === "delivered" || res.outcome === "delivered");
      outcome.textContent = ok ? "Test delivered." : `Test not delivered: ${(res && (res.error || res.message || res.last_error || res.outcome)) || "no reason given"}`;
    } catch (err) {
      outcome.textContent = "";
      throw err;
    }
  }));
  const remove = card.querySelector(".remove");
  remove.addEventListener("click", () => busy(remove, card, async () => {
    await api("DELETE", `/channels/${ch.id}`);
    say("Channel removed.");
    route();
  }));
  return card;
}

function addChannelForm() {
  const kind = h("select", { id: "ch-kind", name: "kind" }, ...Object.keys(CHANNEL_FIELDS).map((k) => h("option", { value: k }, k)));
  const fields = h("div", { class: "row" });
  const form = h("form", { class: "card", novalidate: true, id: "add-channel" },
    h("h2", {}, "Add a channel"),
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "ch-kind" }, "Kind"), kind),
      h("div", {}, h("label", { for: "ch-name" }, "Name"), h("input", { id: "ch-name", name: "name", "data-field": "name", placeholder: "My phone" }))),
    fields,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Add channel")));
  function renderFields() {
    fields.replaceChildren(...CHANNEL_FIELDS[kind.value].map(([name, label, type]) =>
      h("div", {}, h("label", { for: `ch-${name}` }, label), h("input", { id: `ch-${name}`, name, "data-field": name, type, autocomplete: "off" }))));
  }
  kind.addEventListener("change", renderFields);
  renderFields();
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { kind: kind.value, name: form.name.value.trim() || kind.value };
    for (const [name] of CHANNEL_FIELDS[kind.value]) {
      const v = form.querySelector(`#ch-${name}`).value.trim();
      if (v) body[name] = v;
    }
    busy(form.querySelector("button"), form, async () => {
      const created = await api("POST", "/channels", body);
      if (created && created.secret) {
        // The secret is shown once, on the channels page itself (the address does not change,
        // so a separate page could not be left through a link to #/channels).
        const done = h("button", { type: "button" }, "I have kept it");
        const notice = h("section", { class: "card secret", id: "secret-notice", "aria-labelledby": "secret-h" },
          h("h2", { id: "secret-h" }, `Channel “${created.name || "webhook"}” added`),
          h("p", {}, "This webhook's signing secret is shown only now. Keep it to verify the signature of each alert:"),
          h("p", {}, h("code", { id: "secret" }, created.secret)),
          h("div", { class: "actions" }, done));
        done.addEventListener("click", () => {
          notice.remove();
          main.focus({ preventScroll: true });
        });
        await channelsPage(notice);
      } else {
        say("Channel added.");
        route();
      }
    });
  });
  return form;
}

// ---------- delivery log ----------

async function alertsPage() {
  const draw = pager();
  draw("Alerts", h("p", { class: "muted loading" }, "Loading…"));
  let res;
  try {
    res = await api("GET", "/alerts?limit=50");
  } catch (err) {
    draw("Alerts", err.status === 404 ? unavailable("The delivery log") : h("p", { class: "error", role: "alert" }, errorText(err)));
    return;
  }
  const alerts = Array.isArray(res) ? res : res.alerts || [];
  if (alerts.length === 0) {
    draw("Alerts", h("p", { class: "muted" }, "No alert yet. When a price reaches your target, it shows here with where it was delivered."));
    return;
  }
  const tbody = h("tbody");
  for (const a of alerts) {
    const deliveries = (a.deliveries || []).map((d) => h("div", {},
      h("span", { class: `badge s-${d.status === "delivered" ? "active" : d.status === "failed" ? "failing" : "pending"}` }, d.status),
      ` ${d.channel_name || d.channel} · ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`,
      d.last_error ? h("div", { class: "sub" }, d.last_error) : null));
    tbody.append(h("tr", { class: "alert-row" },
      h("td", {}, h("a", { href: `#/jobs/${a.job_id}` }, productName(a)), h("div", { class: "sub" }, (a.kind || "").replace(/_/g, " "))),
      h("td", { class: "num" }, money(a.price, a.currency)),
      h("td", {}, deliveries.length ? deliveries : h("span", { class: "muted" }, "no channel")),
      h("td", { class: "sub" }, when(a.checked_at || a.created_at))));
  }
  draw("Alerts", h("table", { class: "log", id: "alert-log" },
    h("caption", { class: "skip" }, "Delivery log"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Product"), h("th", { scope: "col", class: "num" }, "Price"),
      h("th", { scope: "col" }, "Delivery"), h("th", { scope: "col" }, "When"))),
    tbody));
}

// ---------- routing ----------

async function route() {
  routeId++;
  const hash = location.hash || "#/";
  for (const a of nav.querySelectorAll("a")) {
    const target = a.getAttribute("href");
    const current = target === "#/" ? hash === "#/" || hash.startsWith("#/jobs/") : hash.startsWith(target);
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (hash === "#/signin" || hash === "#/signup") { authPage(hash.slice(2)); return; }
  showSignedIn();
  const job = hash.match(/^#\/jobs\/([\w-]+)$/);
  // The page's own calls go out first; who is signed in is asked alongside them, not before
  // (a page's first 401 sends the user to sign in anyway).
  const drawn = job ? productPage(job[1]) : hash === "#/add" ? addPage() : hash === "#/channels" ? channelsPage()
    : hash === "#/alerts" ? alertsPage() : listPage();
  if (!me) loadMe().catch(() => { if (location.hash !== "#/signup") location.hash = "#/signin"; });
  await drawn;
}

window.addEventListener("hashchange", route);
// A module runs once the document is parsed.
route();
