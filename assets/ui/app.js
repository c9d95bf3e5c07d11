// The share page: sign in with an API token, browse a container, tick objects, and make one
// link per object with a single batch call to the management API.
"use strict";

const API = "../../api/v1/";
const S3_LIMIT = 7 * 86400;
const $ = (id) => document.getElementById(id);

// The token lives in this tab's sessionStorage only: never in a URL, a cookie or a log.
let token = sessionStorage.getItem("keyhole.token") || "";
let projects = [];
let prefix = "";
let markers = [""]; // the marker of each page seen, for Previous
let listing = { objects: [], prefixes: [], nextMarker: null };
const selected = new Set();

/** An API error, with the words a person should see. */
class ApiError extends Error {}

function plainWords(status, msg) {
  msg = msg || "";
  if (status === 401) {
    return "That API token was not accepted (" + msg + "). Check the token under [[api_token]] in keyhole.toml and sign in again.";
  }
  if (status === 403) return "This token may not be used for that project.";
  if (/^timeExpire must be at least/.test(msg)) return "The link must last at least one minute.";
  const most = /^timeExpire must be at most (\d+) seconds(?: \((.*)\))?/.exec(msg);
  if (most) {
    const why = most[2] === "max_link_lifetime" ? " (this server's limit)" : most[2] ? " (" + most[2] + ")" : "";
    return "The link can last at most " + duration(Number(most[1])) + why + ". Shorten the expiry.";
  }
  if (/^timeExpire must end by/.test(msg)) return "That expiry is too far in the future. Shorten it.";
  if (/^no object /.test(msg)) return "A file you picked is no longer there. Refresh the list and try again.";
  if (/no S3 key/.test(msg)) return "This project has no S3 key, so it cannot make S3 links. Use Swift instead.";
  if (status === 503) return "The storage is not answering right now. Try again in a moment.";
  if (status === 413) return "Too many files at once. Pick fewer and try again.";
  return msg ? msg.charAt(0).toUpperCase() + msg.slice(1) + "." : "Something went wrong (HTTP " + status + ").";
}

async function api(path, body) {
  let response;
  try {
    response = await fetch(API + path, {
      method: body ? "POST" : "GET",
      headers: Object.assign({ Authorization: "Bearer " + token }, body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError("Keyhole did not answer. Check that it is still running and try again.");
  }
  let answer = null;
  try { answer = await response.json(); } catch (e) { /* not the API's envelope */ }
  if (!answer || !answer.success) {
    if (response.status === 401) signOut(false);
    throw new ApiError(plainWords(response.status, answer && answer.errorMsg));
  }
  return answer.data;
}

function duration(s) {
  const parts = [];
  for (const [unit, n] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    const k = Math.floor(s / n);
    s -= k * n;
    if (k) parts.push(k + " " + unit + (k === 1 ? "" : "s"));
  }
  return parts.join(" ") || "less than a minute";
}

function size(n) {
  if (n < 1024) return n + " B";
  const units = ["KB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return (v < 10 ? v.toFixed(1) : Math.round(v)) + " " + units[i];
}

const localTime = (date) => date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function busy(on, button, label) {
  document.body.setAttribute("aria-busy", on ? "true" : "false");
  if (button) {
    if (on) { button.dataset.label = button.textContent; button.textContent = label; }
    else if (button.dataset.label) button.textContent = button.dataset.label;
    button.disabled = on;
  }
}

// ---- signing in ----

function signOut(forget) {
  if (forget !== false) showError("");
  token = "";
  sessionStorage.removeItem("keyhole.token");
  for (const id of ["browser", "options", "results", "signout"]) $(id).hidden = true;
  $("signin").hidden = false;
}

async function signIn(candidate) {
  token = candidate;
  const data = await api("projects");
  sessionStorage.setItem("keyhole.token", token);
  projects = data;
  if (!projects.length) throw new ApiError("This token is not for any project in keyhole.toml.");
  const select = $("project");
  select.replaceChildren(...projects.map((p) => new Option(p.id, p.id)));
  $("signin").hidden = true;
  for (const id of ["browser", "options", "signout"]) $(id).hidden = false;
  fillContainers();
  await openFolder("");
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const button = $("signin-button");
  busy(true, button, "Signing in…");
  try {
    await signIn($("token").value.trim());
    $("token").value = "";
    $("project").focus();
  } catch (e) {
    showError(e.message);
    $("token").focus();
  } finally {
    busy(false, button);
  }
});

$("signout").addEventListener("click", () => signOut());
// A stale error goes as soon as the input it was about changes.
$("token").addEventListener("input", () => showError(""));

// ---- browsing ----

function fillContainers() {
  const p = projects.find((x) => x.id === $("project").value) || projects[0];
  $("container").replaceChildren(...p.containers.map((c) => new Option(c.name, c.name)));
}

$("project").addEventListener("change", () => { fillContainers(); openFolder(""); });
$("container").addEventListener("change", () => openFolder(""));

function here() {
  return "projects/" + encodeURIComponent($("project").value) + "/containers/" + encodeURIComponent($("container").value);
}

async function openFolder(folder, marker) {
  showError("");
  if (marker === undefined) { markers = [""]; marker = ""; }
  if (folder !== prefix) selected.clear();
  prefix = folder;
  const q = new URLSearchParams({ prefix, delimiter: "/", marker, limit: "200" });
  busy(true);
  try {
    listing = await api(here() + "/objects?" + q);
    drawCrumbs();
    drawRows();
  } catch (e) {
    showError(e.message);
  } finally {
    busy(false);
    updateCount();
  }
}

function drawCrumbs() {
  const nav = $("crumbs");
  const parts = prefix.split("/").filter(Boolean);
  const items = [];
  const crumb = (text, target) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", () => openFolder(target));
    return b;
  };
  const sep = () => Object.assign(document.createElement("span"), { className: "sep", textContent: "/" });
  const root = $("container").value;
  if (!parts.length) {
    items.push(Object.assign(document.createElement("span"), { className: "here", textContent: root }));
  } else {
    items.push(crumb(root, ""));
    parts.forEach((name, i) => {
      items.push(sep());
      const target = parts.slice(0, i + 1).join("/") + "/";
      items.push(i === parts.length - 1
        ? Object.assign(document.createElement("span"), { className: "here", textContent: name })
        : crumb(name, target));
    });
  }
  nav.replaceChildren(...items);
}

function drawRows() {
  const rows = [];
  if (prefix) {
    const up = prefix.split("/").filter(Boolean).slice(0, -1).join("/");
    rows.push(folderRow("..", up ? up + "/" : "", "Up one folder"));
  }
  for (const p of listing.prefixes) rows.push(folderRow(p.slice(prefix.length, -1), p));
  listing.objects.forEach((o, i) => {
    const tr = document.createElement("tr");
    const id = "obj-" + i;
    const box = Object.assign(document.createElement("input"), { type: "checkbox", id, checked: selected.has(o.name) });
    box.dataset.name = o.name;
    box.addEventListener("change", () => {
      if (box.checked) selected.add(o.name); else selected.delete(o.name);
      updateCount();
    });
    const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: o.name.slice(prefix.length) });
    tr.append(cell("tick", box), cell("name", label), cell("num", size(o.bytes)),
      cell("when", localTime(new Date(o.lastModified))));
    rows.push(tr);
  });
  $("rows").replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
  $("prev").hidden = markers.length < 2;
  $("next").hidden = !listing.nextMarker;
}

function folderRow(name, target, label) {
  const tr = document.createElement("tr");
  const b = Object.assign(document.createElement("button"), { type: "button", textContent: name });
  b.dataset.folder = target;
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", () => openFolder(target));
  tr.append(cell("tick", ""), cell("name", b), cell("num", ""), cell("when", ""));
  return tr;
}

function cell(cls, content) {
  const td = document.createElement("td");
  td.className = cls;
  td.append(content);
  return td;
}

$("all").addEventListener("change", () => {
  for (const box of $("rows").querySelectorAll("input[type=checkbox]")) {
    box.checked = $("all").checked;
    if (box.checked) selected.add(box.dataset.name); else selected.delete(box.dataset.name);
  }
  updateCount();
});

$("next").addEventListener("click", () => {
  markers.push(listing.nextMarker);
  openFolder(prefix, listing.nextMarker);
});
$("prev").addEventListener("click", () => {
  markers.pop();
  openFolder(prefix, markers[markers.length - 1]);
});

function updateCount() {
  const n = selected.size;
  $("count").textContent = n ? n + (n === 1 ? " file selected" : " files selected") : "No files selected";
  const boxes = $("rows").querySelectorAll("input[type=checkbox]");
  $("all").checked = boxes.length > 0 && [...boxes].every((b) => b.checked);
  checkLimit();
}

// ---- link settings ----

const form = $("share");

function seconds() {
  const n = (name) => Math.max(0, parseInt(form[name].value || "0", 10) || 0);
  return n("days") * 86400 + n("hours") * 3600 + n("minutes") * 60;
}

function checkLimit() {
  const s = seconds();
  const s3 = form.urlType.value === "s3";
  const limit = $("limit");
  let problem = "";
  if (s < 60) problem = "A link must last at least one minute.";
  else if (s3 && s > S3_LIMIT) problem = "S3 links can last at most 7 days; this is " + duration(s) + ".";
  limit.textContent = problem || "Links stop working after " + duration(s) + (s3 ? " (S3 allows at most 7 days)." : ".");
  limit.classList.toggle("over", Boolean(problem));
  $("generate").disabled = Boolean(problem) || selected.size === 0;
}

form.addEventListener("input", () => { showError(""); checkLimit(); });
form.addEventListener("change", (event) => {
  // S3 links are for viewing unless asked otherwise, as the provider's page has it.
  if (event.target.name === "urlType" && event.target.value === "s3") form.viewMode.value = "view";
  checkLimit();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const names = [...selected].sort();
  if (!names.length) return;
  const body = { timeExpire: seconds(), urlType: form.urlType.value, viewMode: form.viewMode.value, objects: names };
  const button = $("generate");
  busy(true, button, "Generating…");
  try {
    const data = await api(here() + "/download_tempurls", body);
    drawLinks(names, data, body.timeExpire);
  } catch (e) {
    showError(e.message);
  } finally {
    busy(false, button);
    checkLimit();
  }
});

// ---- results ----

/** When a link stops working, read from the link itself. */
function expiresAt(url, lifetime) {
  try {
    const q = new URL(url).searchParams;
    const swift = q.get("temp_url_expires");
    if (swift) return /^\d+$/.test(swift) ? new Date(Number(swift) * 1000) : new Date(swift);
    const date = q.get("X-Amz-Date");
    const m = date && /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(date);
    if (m) return new Date(Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]) + Number(q.get("X-Amz-Expires")) * 1000);
    const v2 = q.get("Expires");
    if (v2) return new Date(Number(v2) * 1000);
  } catch (e) { /* fall through */ }
  return new Date(Date.now() + lifetime * 1000);
}

function drawLinks(names, data, lifetime) {
  const items = names.map((name, i) => {
    const url = data[name];
    const li = document.createElement("li");
    const title = Object.assign(document.createElement("div"), { className: "obj", textContent: name });
    const row = Object.assign(document.createElement("div"), { className: "linkrow" });
    const input = Object.assign(document.createElement("input"), { type: "text", readOnly: true, value: url, id: "link-" + i });
    input.setAttribute("aria-label", "Link to " + name);
    input.addEventListener("focus", () => input.select());
    const copy = Object.assign(document.createElement("button"), { type: "button", textContent: "Copy", className: "copy" });
    copy.setAttribute("aria-label", "Copy the link to " + name);
    copy.addEventListener("click", () => copyLink(url, copy, input));
    row.append(input, copy);
    const when = expiresAt(url, lifetime);
    const expires = Object.assign(document.createElement("div"), { className: "expires" });
    expires.textContent = "Expires " + localTime(when);
    expires.dataset.unix = String(Math.floor(when.getTime() / 1000));
    const qr = Object.assign(document.createElement("div"), { className: "qr" });
    try { qr.append(QR.svg(url, "QR code of the link to " + name)); } catch (e) { qr.hidden = true; }
    li.append(title, row, expires, qr);
    return li;
  });
  $("links").replaceChildren(...items);
  $("results").hidden = false;
  $("results").scrollIntoView({ behavior: "smooth", block: "start" });
  const first = $("links").querySelector("button.copy");
  if (first) first.focus({ preventScroll: true });
}

/** The old way, for pages outside a secure context (plain HTTP on a LAN address). */
function copyByCommand(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  return ok;
}

async function copyLink(url, button, input) {
  let ok = false;
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(url); ok = true; } catch (e) { ok = false; }
  }
  if (!ok) ok = copyByCommand(url);
  if (ok) {
    button.textContent = "Copied";
    button.classList.add("copied");
    setTimeout(() => { button.textContent = "Copy"; button.classList.remove("copied"); }, 2000);
  } else {
    input.focus();
    input.select();
    button.textContent = "Press Ctrl+C";
  }
}

// ---- start ----

// A one-time sign-in link (`#token=...`, printed at startup) fills the token in; the fragment
// never reaches a server, and is wiped from the address bar and history at once.
(function start() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (m) {
    try { token = decodeURIComponent(m[1]); } catch (e) { showError("The sign-in link is damaged: copy it again, or type the token."); }
    history.replaceState(null, "", location.pathname + location.search);
  }
  checkLimit();
  if (token) {
    signIn(token).catch((e) => showError(e.message));
  }
})();
