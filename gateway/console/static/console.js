// FieldCheck console: small progressive enhancements. Every page works without this script.
"use strict";
(function () {
  // Language menu: submit on change (a button is shown when scripts are off).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  // Destructive forms ask once more.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });

  // Import job: live progress by polling the job's JSON; the finished page is rendered by the server.
  var job = document.querySelector("[data-job-progress]");
  if (job) {
    var url = job.getAttribute("data-job-progress");
    var bar = job.querySelector("progress");
    var text = job.querySelector("[data-progress-text]");
    var template = text ? text.getAttribute("data-template") : "";
    var tick = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (j) {
          if (bar) { bar.max = j.total || 1; bar.value = j.processed; }
          if (text) {
            text.textContent = template.replace("{processed}", j.processed).replace("{total}", j.total)
              .replace("{imported}", j.imported).replace("{skipped}", j.skipped).replace("{rejected}", j.rejected);
          }
          if (j.status === "queued" || j.status === "running") { window.setTimeout(tick, 1000); }
          else { window.location.reload(); }
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    };
    window.setTimeout(tick, 500);
  }

  // Review: keyboard-driven. c = confirm, r = reject, n = next, j/k = move in the queue list.
  var review = document.querySelector("form[data-review]");
  var typing = function (ev) {
    var t = ev.target && ev.target.tagName;
    return t === "TEXTAREA" || t === "INPUT" || t === "SELECT";
  };
  if (review) {
    var comment = review.querySelector("textarea");
    var choose = function (outcome) {
      review.querySelector("input[name=outcome][value=" + outcome + "]").checked = true;
      comment.focus();
    };
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey && ev.key === "Enter" && typing(ev)) { review.requestSubmit(); return; }
      if (typing(ev) || ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
      if (ev.key === "c") { ev.preventDefault(); choose("confirmed"); }
      else if (ev.key === "r") { ev.preventDefault(); choose("rejected"); }
      else if (ev.key === "n") {
        var next = document.querySelector("a[data-next]");
        if (next) { window.location.href = next.href; }
      }
    });
  }
  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-queue-row]"));
  if (rows.length) {
    var at = 0;
    var select = function (i) {
      rows[at].classList.remove("selected");
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows[at].classList.add("selected");
      var link = rows[at].querySelector("a");
      if (link) { link.focus(); }
    };
    document.addEventListener("keydown", function (ev) {
      if (typing(ev) || ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
      if (ev.key === "j") { ev.preventDefault(); select(at + 1); }
      else if (ev.key === "k") { ev.preventDefault(); select(at - 1); }
    });
  }
})();
