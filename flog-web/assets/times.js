// Times on every page: rendered here from epoch microseconds, in UTC or the
// browser's local time (a toggle kept in localStorage, or ?tz= in the URL),
// the other form on hover.

const TZ_KEY = "flog.tz";

function pad(n, width) {
  return String(n).padStart(width, "0");
}

// RFC 3339 with microseconds: "...Z" in UTC, "...+05:30" in local time.
export function formatTime(us, zone) {
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

export function setTime(el, us, zone) {
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

// The zone times are shown in now: "utc" or "local".
export function zoneNow() {
  return zone;
}

// Calls `listener` after every switch of zone.
export function onZoneChange(listener) {
  zoneListeners.push(listener);
}

function renderTimes(root) {
  for (const el of root.querySelectorAll("time[data-us]")) {
    setTime(el, Number(el.dataset.us), zone);
  }
}

export function setupZoneToggle() {
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
