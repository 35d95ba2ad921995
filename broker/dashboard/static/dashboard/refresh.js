// Refreshes <main data-refresh="N"> every N seconds by fetching the same URL with X-Refresh: 1
// (the server then renders only the page body). Skips a turn while the tab is hidden, a form field has focus,
// the pointer rests on an action button or a form is being sent: the row under the pointer never changes
// between aiming and clicking. What an action said (ul.flash above <main>) stays until the person dismisses it.
(function () {
  "use strict";

  // Dismiss buttons on the action messages: a message leaves only when the person says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("ul.flash button.dismiss");
    if (!button) return;
    var item = button.closest("li");
    var list = item.parentNode;
    item.remove();
    if (!list.querySelector("li")) list.remove();
  });

  var main = document.querySelector("main[data-refresh]");
  if (!main) return;
  var seconds = parseInt(main.getAttribute("data-refresh"), 10);
  if (!(seconds > 0)) return;
  var label = document.getElementById("refreshed");
  var sending = false;
  main.addEventListener("submit", function () { sending = true; });

  function busy() {
    var el = document.activeElement;
    return sending || document.hidden ||
      (el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) ||
      main.querySelector("button:hover, .actions:hover") !== null;
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
        // The answer came while the person aimed at or used an action: keep the page as it is, try next turn.
        if (html === null || busy()) return;
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
