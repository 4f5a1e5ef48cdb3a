// The console's only script: live fragments and the restore selection basket.
// Pages work without it (reload to refresh; select within one directory).
(function () {
  "use strict";

  // A container with data-refresh-url is fetched again every data-refresh-ms and its
  // content replaced; with data-stop-when-finished it stops once the fragment says
  // data-finished="1". Polling pauses while the tab is hidden.
  function live(box) {
    var url = box.dataset.refreshUrl, ms = parseInt(box.dataset.refreshMs || "3000", 10);
    var busy = false, timer = null;
    function finished() {
      var mark = box.querySelector("[data-finished]");
      return box.dataset.stopWhenFinished && mark && mark.dataset.finished === "1";
    }
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
        .then(function (r) {
          // Logged out meanwhile (the fragment redirected to the login page): show it.
          if (r.redirected) { window.location.reload(); throw new Error("redirected"); }
          if (!r.ok) throw new Error(r.status);
          return r.text();
        })
        .then(function (html) {
          box.classList.remove("stale");
          box.innerHTML = html;
          box.dataset.refreshedAt = String(Date.now());
          if (finished()) clearInterval(timer);
        })
        .catch(function () { box.classList.add("stale"); })
        .then(function () { busy = false; });
    }
    if (!finished()) timer = setInterval(tick, ms);
  }

  // The restore selection basket: checked paths are kept per set in sessionStorage, so a
  // selection can span directories and searches; on submit they go as path=… parameters.
  function basket(form) {
    var key = "restore-selection-" + form.dataset.set;
    var chosen = JSON.parse(sessionStorage.getItem(key) || "[]");
    var count = document.getElementById("basket-count");
    function save() {
      sessionStorage.setItem(key, JSON.stringify(chosen));
      if (count) count.textContent = String(chosen.length);
    }
    form.querySelectorAll("input[type=checkbox][name=path]").forEach(function (box) {
      box.checked = chosen.indexOf(box.value) >= 0;
      box.addEventListener("change", function () {
        var at = chosen.indexOf(box.value);
        if (box.checked && at < 0) chosen.push(box.value);
        if (!box.checked && at >= 0) chosen.splice(at, 1);
        save();
      });
    });
    var clear = document.getElementById("basket-clear");
    if (clear) clear.addEventListener("click", function () {
      chosen = [];
      form.querySelectorAll("input[type=checkbox][name=path]").forEach(function (b) { b.checked = false; });
      save();
    });
    form.addEventListener("submit", function () {
      var onPage = {};
      form.querySelectorAll("input[type=checkbox][name=path]").forEach(function (b) { onPage[b.value] = true; });
      chosen.forEach(function (path) {
        if (onPage[path]) return;
        var hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = "path"; hidden.value = path;
        form.appendChild(hidden);
      });
      sessionStorage.removeItem(key);
    });
    save();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh-url]").forEach(live);
    var form = document.getElementById("select-form");
    if (form && form.dataset.set) basket(form);
  });
})();
