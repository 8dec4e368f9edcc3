// qbfailover status page: every few seconds, swap in the fragment the server rendered from
// status/page.json. The page is whole without this script; it only saves reloading it.
"use strict";
(function () {
  var body = document.body, main = document.getElementById("page"), live = document.getElementById("live");
  var every = Number(body.dataset.refreshMs) || 5000, seq = 0;
  function tick() {
    var mine = ++seq;
    body.dataset.fetches = String(mine);
    fetch(body.dataset.feed, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (doc) {
        main.innerHTML = doc.html;
        main.dataset.seq = String(mine);
        document.title = doc.title;
        body.classList.remove("stale");
        live.textContent = "live · updated " + new Date().toLocaleTimeString();
      })
      .catch(function (err) {
        body.classList.add("stale");
        live.textContent = "watch unreachable (" + err.message + "): showing the last data, retrying";
      })
      .finally(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
