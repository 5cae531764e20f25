// flog's web viewer. Everything that comes from a file goes into the DOM as
// text (textContent), never as markup. A module: deferred, strict.

import { setupZoneToggle } from "./times.js";
import { EventsPage } from "./events.js";

setupZoneToggle();
const list = document.getElementById("list");
if (list) {
  window.flogViewer = new EventsPage(list);
}
