// The agent page's live part: server-sent `cases` events from /agent/stream carry the
// agent's own active cases (ladder step, urgency) and their latest escalations.
// Every word comes from the page (#case-labels, in the user's language: web/messages.py).
(function () {
  "use strict";
  var card = document.getElementById("my-cases-card");
  if (!card || !window.EventSource) { return; }
  var L = JSON.parse(document.getElementById("case-labels").textContent);

  function fill(template, args) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return args[k] === undefined || args[k] === null ? m : String(args[k]);
    });
  }
  function word(table, key) { return (key && table[key]) || key || ""; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function render(snap) {
    snap.cases.forEach(function (c) {
      var row = card.querySelector('tr[data-case="' + c.case_no + '"]');
      if (!row) { return; }
      row.setAttribute("data-urgency", c.urgency);
      var esc = row.querySelector("td.escalation");
      if (esc) {
        esc.setAttribute("data-escalation", c.escalation);
        esc.textContent = word(L.steps, c.escalation);
      }
      var tag = row.querySelector(".urgency");
      if (tag) {
        tag.className = "tag urgency urgency-" + c.urgency;
        tag.textContent = word(L.urgency, c.urgency);
      }
    });
    var box = document.getElementById("my-escalations");
    box.replaceChildren.apply(box, snap.escalations.map(function (e) {
      var li = el("li", "alarm escalation step-" + e.step, "⚑ " + fill(L.escalated, {
        case_no: e.case_no, step: word(L.steps, e.step), owner: e.owner || L.nobody,
        deadline: (e.deadline || "").slice(0, 16).replace("T", " ")
      }));
      li.setAttribute("data-case", e.case_no);
      li.setAttribute("data-step", e.step);
      return li;
    }));
  }

  var source = new EventSource(card.getAttribute("data-stream"));
  source.addEventListener("cases", function (ev) {
    render(JSON.parse(ev.data));
    card.setAttribute("data-live", "live");
  });
  source.onerror = function () { card.setAttribute("data-live", "reconnecting"); };
})();
