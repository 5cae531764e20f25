// The lazily drawn list: only the rows in and near the viewport are in the
// DOM, placed at offsets summed from their heights (estimated until drawn,
// then measured), with folded rows of the nested order left out.

export const PAGE = 200; // rows per request
const ESTIMATE = 26; // px: one line, before a row is measured
const FIELD_LINE = 18; // px: a line of fields, failure or stack
const OVERSCAN = 600; // px rendered above and below the viewport

// Adds the list's methods to the events page.
export function installList(EventsPage) {
  // Every row at its estimate again, for a view of `this.total` rows whose
  // first page is `rows`.
  EventsPage.prototype.resetHeights = function (rows) {
    this.heights = new Float64Array(this.total).fill(ESTIMATE);
    this.measured = new Uint8Array(this.total);
    this.estimate(0, rows);
  };

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
}
