// flagops UI: live updates over server-sent events, in-place refresh of the
// page's live regions, posting the small controls without a reload, and
// the filter boxes. No dependencies, no build step.
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.dataset.csrf;
  var rev = body.dataset.revision || "";
  var live = document.getElementById("live");
  var toastEl = document.getElementById("toast");
  var toastTimer = null;

  function setLive(state, text) {
    if (!live) return;
    live.dataset.state = state;
    live.textContent = text;
  }

  function toast(text, bad) {
    if (!toastEl) return;
    toastEl.textContent = text;
    toastEl.className = "toast" + (bad ? " err" : "");
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toastEl.hidden = true; }, bad ? 8000 : 3000);
  }

  // isEditing: a region holding the field a person types in is not
  // replaced under their hands.
  function isEditing(el) {
    if (!el || el === body) return false;
    var t = el.tagName;
    return t === "TEXTAREA" || t === "SELECT" || (t === "INPUT" && el.type !== "hidden" && el.type !== "submit" && el.type !== "button");
  }

  var refreshing = false, again = false, timer = null;
  function schedule() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 60);
  }

  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    var target = rev;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (res) {
        if (res.status === 401) { location.reload(); return null; }
        return res.ok ? res.text() : null;
      })
      .then(function (html) {
        if (html) swap(html);
        body.dataset.updated = target;
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; schedule(); }
      });
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    doc.querySelectorAll("[data-live]").forEach(function (next) {
      var cur = document.querySelector('[data-live="' + next.dataset.live + '"]');
      if (!cur || cur.innerHTML === next.innerHTML) return;
      var active = document.activeElement;
      if (cur.contains(active) && isEditing(active)) return;
      var open = [];
      cur.querySelectorAll("details[open][id]").forEach(function (d) { open.push(d.id); });
      var focusID = cur.contains(active) && active.id ? active.id : null;
      cur.innerHTML = next.innerHTML;
      open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
      if (focusID) { var f = document.getElementById(focusID); if (f) f.focus(); }
      bind(cur);
    });
    applyFilters();
  }

  var es = null;
  function connect() {
    if (!window.EventSource || !body.dataset.page) return;
    es = new EventSource("/ui/events?from=" + encodeURIComponent(rev));
    es.onopen = function () { setLive("on", "live"); };
    es.onerror = function () { setLive("off", "reconnecting…"); };
    es.addEventListener("change", function (e) {
      try { rev = String(JSON.parse(e.data).revision); } catch (_) {}
      setLive("on", "live · rev " + rev);
      schedule();
    });
    es.addEventListener("end", function (e) {
      es.close();
      setLive("off", "stream ended");
      var why = "";
      try { why = JSON.parse(e.data); } catch (_) {}
      if (why === "unauthenticated" || why === "out_of_range") { location.reload(); return; }
      setTimeout(connect, 1000);
    });
  }

  // Forms marked data-fetch post without leaving the page; the answer is
  // a toast, and the page refreshes its live regions.
  function bind(root) {
    root.querySelectorAll("form[data-fetch]").forEach(function (form) {
      if (form.dataset.bound) return;
      form.dataset.bound = "1";
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var data = new URLSearchParams(new FormData(form));
        fetch(form.action, {
          method: "POST", credentials: "same-origin", body: data,
          headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" }
        }).then(function (res) {
          return res.json().catch(function () { return { ok: false, message: "HTTP " + res.status }; });
        }).then(function (r) {
          toast(r.message, !r.ok);
          refresh();
        }).catch(function (err) { toast(String(err), true); });
      });
    });
    root.querySelectorAll("select[data-autosubmit-change]").forEach(function (sel) {
      if (sel.dataset.bound) return;
      sel.dataset.bound = "1";
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
  }

  // Filter boxes hide the rows of the current page that do not match as
  // one types; submitting the form searches every page on the server.
  function applyFilters() {
    document.querySelectorAll("input[data-filter]").forEach(function (input) {
      var table = document.querySelector(input.dataset.filter);
      if (!table) return;
      var q = input.value.trim().toLowerCase();
      table.querySelectorAll("[data-filter-row]").forEach(function (row) {
        row.hidden = q !== "" && row.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    input.addEventListener("input", applyFilters);
  });

  document.querySelectorAll("form[data-autosubmit]").forEach(function (f) { f.submit(); });
  bind(document);
  connect();
})();
