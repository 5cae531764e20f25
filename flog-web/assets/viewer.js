// flog's web viewer: times in UTC or local time on every page, and on the
// events page a lazily rendered list of rows fetched a page at a time.
//
// Everything that comes from a file goes into the DOM as text (textContent),
// never as markup.
(function () {
  "use strict";

  // ---- times -------------------------------------------------------------

  const TZ_KEY = "flog.tz";

  function pad(n, width) {
    return String(n).padStart(width, "0");
  }

  // RFC 3339 with microseconds: "...Z" in UTC, "...+05:30" in local time.
  function formatTime(us, zone) {
    const micros = ((us % 1e6) + 1e6) % 1e6;
    const d = new Date((us - micros) / 1000);
    const frac = "." + pad(micros, 6);
    if (zone === "utc") {
      return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1, 2) + "-" +
        pad(d.getUTCDate(), 2) + "T" + pad(d.getUTCHours(), 2) + ":" +
        pad(d.getUTCMinutes(), 2) + ":" + pad(d.getUTCSeconds(), 2) + frac + "Z";
    }
    const offset = -d.getTimezoneOffset();
    const sign = offset >= 0 ? "+" : "-";
    const abs = Math.abs(offset);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1, 2) + "-" +
      pad(d.getDate(), 2) + "T" + pad(d.getHours(), 2) + ":" +
      pad(d.getMinutes(), 2) + ":" + pad(d.getSeconds(), 2) + frac +
      sign + pad(Math.floor(abs / 60), 2) + ":" + pad(abs % 60, 2);
  }

  function otherZone(zone) {
    return zone === "utc" ? "local" : "utc";
  }

  function setTime(el, us, zone) {
    el.textContent = formatTime(us, zone);
    el.title = (zone === "utc" ? "local: " : "UTC: ") + formatTime(us, otherZone(zone));
    el.dateTime = formatTime(us, "utc");
  }

  function currentZone() {
    const fromUrl = new URLSearchParams(location.search).get("tz");
    if (fromUrl === "utc" || fromUrl === "local") {
      return fromUrl;
    }
    try {
      return localStorage.getItem(TZ_KEY) === "local" ? "local" : "utc";
    } catch (e) {
      return "utc";
    }
  }

  let zone = currentZone();
  const zoneListeners = [];

  function renderTimes(root) {
    for (const el of root.querySelectorAll("time[data-us]")) {
      setTime(el, Number(el.dataset.us), zone);
    }
  }

  function setupZoneToggle() {
    const button = document.getElementById("tz-toggle");
    const show = function () {
      document.documentElement.dataset.tz = zone;
      if (button) {
        button.textContent = zone === "utc" ? "UTC" : "local time";
        button.title = zone === "utc" ? "Show times in local time" : "Show times in UTC";
      }
    };
    show();
    renderTimes(document);
    if (!button) {
      return;
    }
    button.addEventListener("click", function () {
      zone = otherZone(zone);
      try {
        localStorage.setItem(TZ_KEY, zone);
      } catch (e) {
        // Storage may be off; the toggle still works on this page.
      }
      const url = new URL(location.href);
      if (url.searchParams.has("tz")) {
        url.searchParams.set("tz", zone);
        history.replaceState(null, "", url);
      }
      show();
      renderTimes(document);
      for (const listener of zoneListeners) {
        listener();
      }
    });
  }

  // ---- the events page ----------------------------------------------------

  const PAGE = 200;
  const ESTIMATE = 26; // px: one line, before a row is measured
  const FIELD_LINE = 18; // px: a line of fields, failure or stack
  const OVERSCAN = 600; // px rendered above and below the viewport
  const MAX_INDENT = 40; // levels of nesting drawn; deeper rows say how deep

  function EventsPage(list) {
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
    zoneListeners.push(() => {
      for (const el of this.list.querySelectorAll("time[data-us]")) {
        setTime(el, Number(el.dataset.us), zone);
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
    this.heights = new Float64Array(this.total).fill(ESTIMATE);
    this.measured = new Uint8Array(this.total);
    this.estimate(0, first.rows);
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
  EventsPage.prototype.layout = function () {
    const anchor = this.anchor();
    const shown = new Uint32Array(this.total);
    let n = 0;
    for (let pos = 0; pos < this.total; ) {
      shown[n++] = pos;
      const hides = this.collapsed.get(pos);
      pos += hides === undefined ? 1 : hides + 1;
    }
    this.shown = shown.subarray(0, n);
    this.offsets = new Float64Array(n + 1);
    for (let k = 0; k < n; k++) {
      this.offsets[k + 1] = this.offsets[k] + this.heights[this.shown[k]];
    }
    this.spacer.style.height = this.offsets[n] + "px";
    for (const [pos, el] of this.elements) {
      el.remove();
      this.elements.delete(pos);
    }
    this.restore(anchor);
    this.render();
  };

  // The first row in view and how far into it the view starts, so that rows
  // above growing or shrinking do not move what is being read.
  EventsPage.prototype.anchor = function () {
    if (!this.shown || this.shown.length === 0) {
      return null;
    }
    const list = this.list;
    if (list.scrollTop > 0 && list.scrollTop + list.clientHeight >= list.scrollHeight - 2) {
      // At the end: stay at the end.
      return { end: true };
    }
    const k = this.firstShownAt(this.list.scrollTop);
    return { pos: this.shown[k], delta: this.list.scrollTop - this.offsets[k] };
  };

  EventsPage.prototype.restore = function (anchor) {
    if (!anchor) {
      return;
    }
    if (anchor.end) {
      this.list.scrollTop = this.list.scrollHeight;
      return;
    }
    const k = this.shownIndex(anchor.pos);
    if (k !== null) {
      this.list.scrollTop = this.offsets[k] + anchor.delta;
    }
  };

  EventsPage.prototype.firstShownAt = function (y) {
    let lo = 0;
    let hi = this.shown.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid + 1] <= y) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  };

  // Where position `pos` is among the shown rows (binary search: shown is
  // sorted), or null when folded away.
  EventsPage.prototype.shownIndex = function (pos) {
    let lo = 0;
    let hi = this.shown.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.shown[mid] === pos) {
        return mid;
      }
      if (this.shown[mid] < pos) {
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return null;
  };

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
  EventsPage.prototype.render = function () {
    if (!this.shown) {
      return;
    }
    for (let pass = 0; pass < 3; pass++) {
      this.draw();
      if (!this.measure()) {
        break;
      }
      this.relayout();
    }
    this.markTarget();
  };

  EventsPage.prototype.draw = function () {
    const top = this.list.scrollTop - OVERSCAN;
    const bottom = this.list.scrollTop + this.list.clientHeight + OVERSCAN;
    const wanted = new Set();
    let k = this.shown.length ? this.firstShownAt(Math.max(0, top)) : 0;
    for (; k < this.shown.length && this.offsets[k] < bottom; k++) {
      const pos = this.shown[k];
      wanted.add(pos);
      const row = this.rowAt(pos);
      let el = this.elements.get(pos);
      if (el && el.classList.contains("placeholder") && row) {
        el.remove();
        el = undefined;
      }
      if (!el) {
        el = row ? this.makeRow(row) : this.placeholder(pos);
        this.spacer.append(el);
        this.elements.set(pos, el);
      }
      el.style.top = this.offsets[k] + "px";
      if (!row) {
        this.loadPage(Math.floor(pos / PAGE));
      }
    }
    for (const [pos, el] of this.elements) {
      if (!wanted.has(pos)) {
        el.remove();
        this.elements.delete(pos);
      }
    }
  };

  // Takes the heights of the drawn rows; whether any changed.
  EventsPage.prototype.measure = function () {
    let changed = false;
    for (const [pos, el] of this.elements) {
      if (el.classList.contains("placeholder")) {
        continue;
      }
      const h = el.offsetHeight;
      this.measured[pos] = 1;
      if (h && h !== this.heights[pos]) {
        this.heights[pos] = h;
        changed = true;
      }
    }
    return changed;
  };

  // New heights, same rows: recompute offsets and move the drawn rows.
  EventsPage.prototype.relayout = function () {
    const anchor = this.anchor();
    const n = this.shown.length;
    for (let k = 0; k < n; k++) {
      this.offsets[k + 1] = this.offsets[k] + this.heights[this.shown[k]];
    }
    this.spacer.style.height = this.offsets[n] + "px";
    for (const [pos, el] of this.elements) {
      const k = this.shownIndex(pos);
      if (k !== null) {
        el.style.top = this.offsets[k] + "px";
      }
    }
    this.restore(anchor);
  };

  EventsPage.prototype.forgetHeights = function () {
    if (!this.heights) {
      return;
    }
    this.heights.fill(ESTIMATE);
    this.measured.fill(0);
    for (const [page, rows] of this.pages) {
      this.estimate(page * PAGE, rows);
    }
    this.layout();
  };

  // Heights guessed from what a row holds, for rows not drawn yet, so that
  // the scroll bar is nearly right before they are; whether any changed.
  EventsPage.prototype.estimate = function (start, rows) {
    let changed = false;
    rows.forEach((row, k) => {
      const pos = start + k;
      if (this.measured[pos]) {
        return;
      }
      let h = ESTIMATE;
      if (this.query.details) {
        const lines = (text) => (text === null ? 0 : text.split("\n").length);
        h += row.fields.length * FIELD_LINE + (lines(row.failure) + lines(row.stack)) * FIELD_LINE;
      }
      if (h !== this.heights[pos]) {
        this.heights[pos] = h;
        changed = true;
      }
    });
    return changed;
  };

  EventsPage.prototype.placeholder = function (pos) {
    const el = document.createElement("div");
    el.className = "row placeholder";
    el.dataset.pos = String(pos);
    el.textContent = "…";
    return el;
  };

  function span(className, text) {
    const el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  EventsPage.prototype.makeRow = function (row) {
    const el = document.createElement("div");
    el.className = "row " + row.level_class;
    el.id = "event-" + row.key;
    el.dataset.pos = String(row.pos);
    el.dataset.key = row.key;
    el.dataset.num = String(row.num);
    if (row.parent !== null) {
      el.dataset.parent = row.parent;
    }
    el.dataset.depth = String(row.depth);
    if (row.trigger) {
      el.classList.add("trigger");
    }
    if (row.context) {
      el.classList.add("context");
    }
    const line = document.createElement("div");
    line.className = "line";
    const nested = this.query.sort === "tree";
    if (nested) {
      line.style.paddingLeft = Math.min(row.depth, MAX_INDENT) * 1.1 + "em";
      if (row.depth > MAX_INDENT) {
        line.append(span("deep", "⋯" + row.depth + " "));
      }
      const twisty = document.createElement("button");
      twisty.type = "button";
      twisty.className = "twisty";
      if (row.size > 0) {
        const folded = this.collapsed.has(row.pos);
        twisty.textContent = folded ? "▸" : "▾";
        twisty.title = (folded ? "Show " : "Hide ") + row.size + " nested events";
        twisty.setAttribute("aria-expanded", folded ? "false" : "true");
        if (folded) {
          el.classList.add("folded");
        }
      } else {
        twisty.disabled = true;
        twisty.textContent = "·";
      }
      line.append(twisty);
    }
    const link = document.createElement("a");
    link.className = "num";
    link.href = "#event-" + row.key;
    link.textContent = "#" + row.num;
    link.title = "Permalink";
    const time = document.createElement("time");
    time.dataset.us = String(row.time_us);
    setTime(time, row.time_us, zone);
    line.append(link, " ", time, " ", span("level", row.level_name), " ");
    if (row.facility !== null) {
      line.append(span("facility", row.facility), " ");
    }
    line.append(span("msg", row.message));
    if (row.origin !== null) {
      line.append(" ", span("origin", row.origin));
    }
    if (row.trigger) {
      line.append(" ", span("badge trigger-badge", "TRIGGER"));
    }
    if (row.is_error) {
      line.append(" ", span("badge error-badge", "error"));
    }
    if (row.parent_missing !== null) {
      line.append(" ", span("badge", "parent #" + row.parent_missing + " not in file"));
    }
    if (nested && this.collapsed.has(row.pos)) {
      line.append(" ", span("badge", row.size + " hidden"));
    }
    el.append(line);
    const details = this.details(row);
    if (details) {
      el.append(details);
    }
    return el;
  };

  EventsPage.prototype.details = function (row) {
    if (row.fields.length === 0 && row.failure === null && row.stack === null) {
      return null;
    }
    const box = document.createElement("div");
    box.className = "details";
    if (row.fields.length > 0) {
      const table = document.createElement("table");
      table.className = "fields";
      for (const field of row.fields) {
        const tr = document.createElement("tr");
        const name = document.createElement("th");
        name.textContent = field.name;
        const value = document.createElement("td");
        value.textContent = field.value;
        value.className = "kind-" + field.kind;
        tr.append(name, value);
        table.append(tr);
      }
      box.append(table);
    }
    for (const [label, text] of [["failure", row.failure], ["stack", row.stack]]) {
      if (text !== null) {
        const pre = document.createElement("pre");
        pre.className = label;
        pre.textContent = text;
        box.append(pre);
      }
    }
    return box;
  };

  EventsPage.prototype.toggle = function (pos) {
    const row = this.rowAt(pos);
    if (!row || row.size === 0) {
      return;
    }
    if (this.collapsed.has(pos)) {
      this.collapsed.delete(pos);
    } else {
      // Folds inside the new fold are kept, but need not be walked.
      this.collapsed.set(pos, row.size);
    }
    this.layout();
  };

  // `#event-KEY`: find the event in the view, unfold what hides it, scroll to
  // it and mark it.
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

  document.addEventListener("DOMContentLoaded", function () {
    setupZoneToggle();
    const list = document.getElementById("list");
    if (list) {
      window.flogViewer = new EventsPage(list);
    }
  });
})();
