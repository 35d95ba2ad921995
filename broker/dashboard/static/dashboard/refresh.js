// Refreshes <main data-refresh="N"> every N seconds by fetching the same URL with X-Refresh: 1
// (the server then renders only the page body). Skips a turn while the tab is hidden or a form field has focus.
(function () {
  "use strict";
  var main = document.querySelector("main[data-refresh]");
  if (!main) return;
  var seconds = parseInt(main.getAttribute("data-refresh"), 10);
  if (!(seconds > 0)) return;
  var label = document.getElementById("refreshed");

  function busy() {
    var el = document.activeElement;
    return document.hidden || (el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
  }

  function refresh() {
    if (busy()) return schedule();
    fetch(window.location.href, { headers: { "X-Refresh": "1" }, credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 302) { window.location.reload(); return null; }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        main.innerHTML = html;
        if (label) label.textContent = "Updated " + new Date().toLocaleTimeString() + " · refreshes every " + seconds + " s";
      })
      .catch(function (error) {
        if (label) label.textContent = "Refresh failed (" + error.message + "); retrying in " + seconds + " s";
      })
      .then(schedule);
  }

  function schedule() { window.setTimeout(refresh, seconds * 1000); }
  schedule();
})();
