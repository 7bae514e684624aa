// Live supervisor board: server-sent events from /board/stream, rendered here.
// Every word comes from the page (#board-labels, in the user's language: web/messages.py);
// the snapshot carries codes and numbers only.
(function () {
  "use strict";
  var root = document.getElementById("board");
  if (!root) { return; }
  var offset = 0; // server clock minus browser clock (the server's clock may be pinned)
  var last = null;
  var L = JSON.parse(document.getElementById("board-labels").textContent);
  var lang = document.documentElement.lang || "en";
  var percent = new Intl.NumberFormat(lang, {style: "percent", maximumFractionDigits: 0});

  // "{name} ..." with the values of `args`
  function fill(template, args) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return args[k] === undefined || args[k] === null ? m : String(args[k]);
    });
  }
  function word(table, key) { return (key && table[key]) || key || ""; }
  function why(w) {
    if (!w) { return ""; }
    return w.code ? fill(word(L.why, w.code), w) : (w.text || "");
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function since(iso) {
    if (!iso) { return ""; }
    var s = Math.max(0, Math.floor((Date.now() + offset - Date.parse(iso)) / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m));
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }
  function pct(v) { return v === null || v === undefined ? "–" : percent.format(v); }

  function seatCard(s) {
    var a = el("article", "seat state-" + s.state + (s.away_too_long ? " too-long" : "") +
      (s.scheduled ? " scheduled" : " off-shift"));
    a.id = "seat-" + s.seat;
    a.setAttribute("data-state", s.state);
    a.appendChild(el("h2", null, s.seat + " · " + s.name));
    var label = word(L.states, s.state);
    if (s.state === "away" && s.reason) { label += " · " + word(L.reasons, s.reason); }
    a.appendChild(el("p", "state", label));
    if (s.caller) { a.appendChild(el("p", "caller", s.caller + (s.branch ? " · " + s.branch : ""))); }
    var d = el("p", "duration");
    d.setAttribute("data-since", s.since || "");
    d.textContent = since(s.since);
    a.appendChild(d);
    a.appendChild(el("p", "muted", (s.scheduled ? L.on_shift : L.off_shift) +
      (s.device ? " · " + s.device.toLowerCase() : "")));
    return a;
  }

  function render(snap) {
    last = snap;
    offset = Date.parse(snap.now) - Date.now();
    var seats = document.getElementById("seats");
    seats.replaceChildren.apply(seats, snap.seats.map(seatCard));
    var tbody = document.querySelector("#waiting tbody");
    tbody.replaceChildren.apply(tbody, snap.waiting.map(function (w) {
      var tr = el("tr");
      tr.setAttribute("data-uid", w.uid);
      tr.appendChild(el("td", null, w.caller));
      tr.appendChild(el("td", null, w.branch || ""));
      tr.appendChild(el("td", null, w.vip ? L.vip : ""));
      var td = el("td", "duration");
      td.setAttribute("data-since", w.since || "");
      tr.appendChild(td);
      return tr;
    }));
    var alarms = document.getElementById("alarms");
    alarms.replaceChildren.apply(alarms, snap.alarms.map(function (a) {
      var p = el("p", "alarm", "⚠ " + fill(word(L.alarms, a.code), a));
      p.setAttribute("data-code", a.code);
      return p;
    }));
    var t = snap.today;
    document.getElementById("k-waiting").textContent = snap.waiting.length;
    document.getElementById("k-menu").textContent = snap.in_menu;
    document.getElementById("k-sl").textContent = pct(t.service_level);
    document.getElementById("k-sl-target").textContent = fill(L.target,
      {level: percent.format(t.target.level), seconds: t.target.seconds});
    document.getElementById("k-offered").textContent = t.offered + " / " + t.answered;
    document.getElementById("k-abandoned").textContent = t.abandoned_in_queue + " / " + t.abandoned_in_menu;
    document.getElementById("k-sat").textContent = pct(t.satisfaction_rate) + " (" + t.not_resolved + ")";
    document.getElementById("k-speech").textContent = pct(t.speech_share) + " (" + t.speech_failures + ")";
    document.getElementById("k-staff").textContent = snap.staffing.present.length + " / " +
      snap.staffing.scheduled.length;
    document.getElementById("k-min").textContent = fill(L.minimum,
      {required: snap.staffing.required});
    renderRequests(snap.requests);
    renderEscalations(snap.escalations || []);
    tick();
  }

  // The case escalation ladder (lead, then manager), newest first, as the sweep records it.
  function escalationText(e) {
    return "⚑ " + fill(L.escalated, {
      case_no: e.case_no, step: word(L.steps, e.step), owner: e.owner || L.nobody,
      deadline: (e.deadline || "").slice(0, 16).replace("T", " ")
    });
  }
  function renderEscalations(list) {
    var box = document.getElementById("escalations");
    if (!box) { return; }
    if (!list.length) { box.replaceChildren(el("li", "muted", L.no_escalations)); return; }
    box.replaceChildren.apply(box, list.map(function (e) {
      var li = el("li", "escalation step-" + e.step, escalationText(e));
      li.setAttribute("data-case", e.case_no);
      li.setAttribute("data-step", e.step);
      return li;
    }));
  }

  function renderRequests(reqs) {
    var box = document.getElementById("requests");
    if (!reqs.length) { box.replaceChildren(el("p", "muted", L.none_pending)); return; }
    box.replaceChildren.apply(box, reqs.map(function (r) {
      var f = el("form", "request");
      f.method = "post";
      f.action = root.getAttribute("data-decide").replace(/0$/, String(r.id));
      var c = el("input"); c.type = "hidden"; c.name = "csrf_token"; c.value = root.getAttribute("data-csrf");
      f.appendChild(c);
      f.appendChild(el("span", null, fill(L.asks_for,
        {agent: r.agent, reason: word(L.reasons, r.reason), why: why(r.why)})));
      ["approve", "refuse"].forEach(function (d) {
        var b = el("button", null, d === "approve" ? L.approve : L.refuse);
        b.name = "decision"; b.value = d; f.appendChild(b);
      });
      return f;
    }));
  }

  function tick() {
    document.querySelectorAll("[data-since]").forEach(function (e) {
      e.textContent = since(e.getAttribute("data-since"));
    });
    if (last) {
      var longest = last.waiting.reduce(function (m, w) {
        return (!m || (w.since && w.since < m)) ? w.since : m;
      }, null);
      document.getElementById("k-longest").textContent = longest ? since(longest) : "–";
    }
  }

  var live = document.getElementById("k-live");
  var source = new EventSource(root.getAttribute("data-stream"));
  source.addEventListener("board", function (ev) {
    render(JSON.parse(ev.data));
    live.textContent = L.live;
    live.setAttribute("data-live", "live");
    root.setAttribute("data-version", ev.lastEventId);
  });
  source.onerror = function () {
    live.textContent = L.reconnecting;
    live.setAttribute("data-live", "reconnecting");
  };
  setInterval(tick, 1000);
})();
