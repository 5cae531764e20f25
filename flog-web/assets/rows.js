// The DOM of one row: made with textContent only, so nothing from a file is
// ever parsed as markup.

import { setTime, zoneNow } from "./times.js";

const MAX_INDENT = 40; // levels of nesting drawn; deeper rows say how deep

function span(className, text) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}

// Adds the row-making methods to the events page.
export function installRows(EventsPage) {
  EventsPage.prototype.placeholder = function (pos) {
    const el = document.createElement("div");
    el.className = "row placeholder";
    el.dataset.pos = String(pos);
    el.textContent = "…";
    return el;
  };

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
    setTime(time, row.time_us, zoneNow());
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
}
