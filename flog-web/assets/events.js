// The events page: the query (order and filters) in the toolbar and the URL,
// pages of rows fetched from events.json, permalinks (#event-KEY) found with
// locate.json.

import { setTime, zoneNow, onZoneChange } from "./times.js";
import { installList, PAGE } from "./list.js";
import { installRows } from "./rows.js";

export function EventsPage(list) {
  this.list = list;
  this.spacer = document.getElementById("spacer");
  this.form = document.getElementById("toolbar");
  this.status = document.getElementById("status");
  this.notice = document.getElementById("notice");
  this.base = list.dataset.base;
  this.file = list.dataset.file;
  this.defaultSort = list.dataset.defaultSort;
  this.query = this.readUrl();
  this.elements = new Map(); // position -> row element
  this.target = null; // key of the event the URL points at
  this.epoch = 0; // bumped by every reset; stale fetches are dropped
  this.showQuery();
  this.bind();
  this.reset().then(() => this.followHash());
}

EventsPage.prototype.readUrl = function () {
  const p = new URLSearchParams(location.search);
  const levels = p.get("levels");
  return {
    sort: p.get("sort") || this.defaultSort,
    levels: levels ? new Set(levels.split(",").filter((l) => l && l !== "none")) : null,
    facility: p.get("facility") || "",
    origin: p.get("origin") || "",
    text: p.get("text") || "",
    details: p.get("details") !== "0",
  };
};

// The filters and order as a query string (what the JSON endpoints take).
EventsPage.prototype.viewParams = function () {
  const p = new URLSearchParams();
  const q = this.query;
  p.set("sort", q.sort);
  if (q.levels) {
    p.set("levels", q.levels.size ? Array.from(q.levels).join(",") : "none");
  }
  for (const name of ["facility", "origin", "text"]) {
    if (q[name]) {
      p.set(name, q[name]);
    }
  }
  return p;
};

EventsPage.prototype.writeUrl = function () {
  const p = this.viewParams();
  if (!this.query.details) {
    p.set("details", "0");
  }
  const tz = new URLSearchParams(location.search).get("tz");
  if (tz) {
    p.set("tz", tz);
  }
  history.replaceState(null, "", location.pathname + "?" + p.toString() + location.hash);
};

// Puts the query into the toolbar's controls.
EventsPage.prototype.showQuery = function () {
  const f = this.form.elements;
  const q = this.query;
  for (const radio of this.form.querySelectorAll("input[name=sort]")) {
    radio.checked = radio.value === q.sort;
  }
  for (const box of this.form.querySelectorAll("input[name=level]")) {
    box.checked = !q.levels || q.levels.has(box.value);
  }
  f.facility.value = q.facility;
  if (f.origin) {
    f.origin.value = q.origin;
  }
  f.text.value = q.text;
  f.details.checked = q.details;
  this.list.classList.toggle("no-details", !q.details);
};

// Reads the toolbar's controls into the query.
EventsPage.prototype.takeQuery = function () {
  const f = this.form.elements;
  const boxes = Array.from(this.form.querySelectorAll("input[name=level]"));
  const checked = boxes.filter((b) => b.checked).map((b) => b.value);
  this.query = {
    sort: this.form.querySelector("input[name=sort]:checked").value,
    levels: checked.length === boxes.length ? null : new Set(checked),
    facility: f.facility.value.trim(),
    origin: f.origin ? f.origin.value : "",
    text: f.text.value.trim(),
    details: f.details.checked,
  };
};

EventsPage.prototype.bind = function () {
  let typing = null;
  const changed = () => {
    this.takeQuery();
    this.writeUrl();
    this.reset();
  };
  this.form.addEventListener("submit", (e) => e.preventDefault());
  this.form.addEventListener("change", (e) => {
    if (e.target.name === "details") {
      this.query.details = e.target.checked;
      this.list.classList.toggle("no-details", !this.query.details);
      this.writeUrl();
      this.forgetHeights();
      return;
    }
    if (e.target.type !== "text" && e.target.type !== "search") {
      changed();
    }
  });
  this.form.addEventListener("input", (e) => {
    if (e.target.type === "text" || e.target.type === "search") {
      clearTimeout(typing);
      typing = setTimeout(changed, 150);
    }
  });
  document.getElementById("expand-all").addEventListener("click", () => {
    this.collapsed.clear();
    this.layout();
  });
  let pending = false;
  this.list.addEventListener("scroll", () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        this.render();
      });
    }
  });
  window.addEventListener("resize", () => this.forgetHeights());
  window.addEventListener("hashchange", () => this.followHash());
  this.list.addEventListener("click", (e) => {
    const twisty = e.target.closest(".twisty");
    if (twisty) {
      this.toggle(Number(twisty.closest(".row").dataset.pos));
    }
  });
  onZoneChange(() => {
    for (const el of this.list.querySelectorAll("time[data-us]")) {
      setTime(el, Number(el.dataset.us), zoneNow());
    }
  });
};

EventsPage.prototype.url = function (endpoint, extra) {
  const p = this.viewParams();
  for (const [k, v] of Object.entries(extra || {})) {
    p.set(k, v);
  }
  return this.base + "/files/" + this.file + "/" + endpoint + "?" + p.toString();
};

EventsPage.prototype.fetchJson = async function (url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error || response.statusText);
  }
  return body;
};

// Starts the view again: after a change of order or filters, or when the
// file changed under it.
EventsPage.prototype.reset = async function () {
  const epoch = ++this.epoch;
  this.list.dataset.state = "loading";
  this.pages = new Map();
  this.loading = new Set();
  this.collapsed = new Map(); // position -> rows it hides
  let first;
  try {
    first = await this.fetchJson(this.url("events.json", { offset: 0, limit: PAGE }));
  } catch (e) {
    if (epoch === this.epoch) {
      this.showNotice("Cannot load the events: " + e.message);
      this.list.dataset.state = "error";
    }
    return;
  }
  if (epoch !== this.epoch) {
    return;
  }
  this.generation = first.generation;
  this.total = first.total;
  this.matched = first.matched;
  this.events = first.events;
  this.pages.set(0, first.rows);
  this.resetHeights(first.rows);
  for (const el of this.elements.values()) {
    el.remove();
  }
  this.elements.clear();
  this.list.scrollTop = 0;
  this.list.classList.toggle("nested", this.query.sort === "tree");
  this.hideNotice();
  this.layout();
  this.showStatus();
  this.list.dataset.generation = String(this.generation);
  this.list.dataset.total = String(this.total);
  this.list.dataset.state = "ready";
  if (!this.firstRowsMarked) {
    this.firstRowsMarked = true;
    performance.mark("flog-first-rows");
  }
};

EventsPage.prototype.showStatus = function () {
  let text = this.matched + " of " + this.events + " events";
  if (this.total > this.matched) {
    text += " (and " + (this.total - this.matched) + " of their ancestors)";
  }
  this.status.textContent = text;
};

EventsPage.prototype.showNotice = function (text, action) {
  this.notice.textContent = text;
  if (action) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = action.label;
    button.addEventListener("click", action.run);
    this.notice.append(" ", button);
  }
  this.notice.hidden = false;
};

EventsPage.prototype.hideNotice = function () {
  this.notice.hidden = true;
  this.notice.textContent = "";
};

// The positions shown (collapsed rows hide the rows below them) and the
// offset of each: rebuilt when folding or measured heights change.

EventsPage.prototype.rowAt = function (pos) {
  const rows = this.pages.get(Math.floor(pos / PAGE));
  return rows ? rows[pos % PAGE] : undefined;
};

EventsPage.prototype.loadPage = function (page) {
  if (this.pages.has(page) || this.loading.has(page)) {
    return;
  }
  this.loading.add(page);
  const epoch = this.epoch;
  this.fetchJson(this.url("events.json", { offset: page * PAGE, limit: PAGE }))
    .then((body) => {
      if (epoch !== this.epoch) {
        return;
      }
      this.loading.delete(page);
      if (body.generation !== this.generation) {
        // The file changed: positions mean something else now.
        this.showNotice("The file changed; showing it as it is now.");
        this.reset();
        return;
      }
      this.pages.set(page, body.rows);
      if (this.estimate(page * PAGE, body.rows)) {
        this.relayout();
      }
      this.render();
    })
    .catch((e) => {
      this.loading.delete(page);
      this.showNotice("Cannot load events: " + e.message);
    });
};

// Draws the rows in and near the viewport and measures them; when a
// measured height differs from the estimate, lays out again and draws once
// more (a few passes at most: heights settle after the first).

EventsPage.prototype.followHash = async function () {
  const m = /^#event-(.+)$/.exec(location.hash);
  if (!m || !this.shown) {
    return;
  }
  const key = decodeURIComponent(m[1]);
  this.target = key;
  let found;
  try {
    found = await this.fetchJson(this.url("locate.json", { key: key }));
  } catch (e) {
    this.showNotice("Cannot find event " + key + ": " + e.message);
    return;
  }
  if (found.generation !== this.generation) {
    await this.reset();
  }
  if (found.position === null) {
    this.showNotice("Event #" + key + " is hidden by the filters.", {
      label: "Show all events",
      run: () => this.clearFilters(),
    });
    return;
  }
  this.hideNotice();
  let unfolded = false;
  for (const up of found.ancestors) {
    unfolded = this.collapsed.delete(up) || unfolded;
  }
  if (unfolded) {
    this.layout();
  }
  const k = this.shownIndex(found.position);
  if (k === null) {
    return;
  }
  this.list.scrollTop = Math.max(0, this.offsets[k] - this.list.clientHeight / 3);
  this.render();
  // Heights measured on the way may have moved it: place it once more.
  const again = this.shownIndex(found.position);
  this.list.scrollTop = Math.max(0, this.offsets[again] - this.list.clientHeight / 3);
  this.render();
};

EventsPage.prototype.markTarget = function () {
  for (const el of this.spacer.querySelectorAll(".row.target")) {
    if (el.dataset.key !== this.target) {
      el.classList.remove("target");
    }
  }
  if (this.target !== null) {
    const el = document.getElementById("event-" + this.target);
    if (el) {
      el.classList.add("target");
    }
  }
};

EventsPage.prototype.clearFilters = function () {
  this.query.levels = null;
  this.query.facility = "";
  this.query.origin = "";
  this.query.text = "";
  this.showQuery();
  this.writeUrl();
  this.reset().then(() => this.followHash());
};


installList(EventsPage);
installRows(EventsPage);
