// The live run page: follows /runs/<id>/events (SSE). The browser resumes with Last-Event-ID after a drop;
// every event carries its sequence number, and events already shown are skipped, so nothing is lost or doubled.
(function () {
  "use strict";
  const root = document.getElementById("run");
  if (!root) return;
  const logEl = document.getElementById("log");
  const conn = document.getElementById("conn");
  const resources = document.querySelector("#resources tbody");
  const rows = {};
  let lastSeq = 0;
  let finished = false;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function appendLog(text, cls) {
    const line = el("div", "line " + (cls || ""), text);
    const atBottom = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 20;
    logEl.appendChild(line);
    if (atBottom) logEl.scrollTop = logEl.scrollHeight;
  }

  function setPhase(name, state) {
    const phases = document.querySelectorAll("#phases .phase");
    let seen = false;
    phases.forEach(function (li) {
      if (li.dataset.phase === name) {
        seen = true;
        li.className = "phase " + state;
      } else if (!seen && state !== "failed") {
        li.className = "phase done";
      }
    });
  }

  function badge(status) {
    const label = status.charAt(0).toUpperCase() + status.slice(1);
    document.getElementById("run-status").innerHTML = "";
    document.getElementById("run-status").appendChild(el("span", "badge badge-" + status, label));
  }

  function resourceRow(d) {
    let row = rows[d.addr];
    if (!row) {
      row = el("tr");
      row.dataset.addr = d.addr;
      row.appendChild(el("td", "addr", d.addr));
      row.appendChild(el("td", "action", d.action || ""));
      row.appendChild(el("td", "state", "planned"));
      row.appendChild(el("td", "elapsed", ""));
      resources.appendChild(row);
      rows[d.addr] = row;
    }
    return row;
  }

  const handlers = {
    status: function (e) {
      const s = e.data.status;
      badge(s);
      // A plan that starts or stops waiting for a decision: the server renders the decision panel.
      const shown = root.dataset.status;
      if ((s === "awaiting_approval" && (shown === "queued" || shown === "planning")) ||
          (shown === "awaiting_approval" && s !== "awaiting_approval" && s !== "planning" && s !== "queued")) {
        root.dataset.status = s;
        window.location.reload();
        return;
      }
      if (s === "queued") setPhase("queued", "running");
      if (s === "failed" || s === "errored" || s === "canceled" || s === "discarded") {
        document.querySelectorAll("#phases .phase.running").forEach(function (li) { li.className = "phase failed"; });
        appendLog("Run " + s + (e.data.error ? ": " + e.data.error : ""), "error");
      }
      if (s === "succeeded" || s === "destroyed") {
        document.querySelectorAll("#phases .phase").forEach(function (li) { li.className = "phase done"; });
        appendLog("Run " + s + ".", "ok");
      }
    },
    phase: function (e) { setPhase(e.data.phase, "running"); appendLog("── " + e.message + " ──", "phase-line"); },
    planned_change: function (e) {
      const row = resourceRow(e.data);
      row.querySelector(".action").textContent = e.data.action || "";
      appendLog(e.message);
    },
    change_summary: function (e) {
      const box = document.getElementById("summary");
      box.hidden = false;
      const op = e.data.operation === "destroy" ? "Destroy" : (e.data.operation === "apply" ? "Applied" : "Plan");
      box.textContent = op + ": " + (e.data.add || 0) + " to add, " + (e.data.change || 0) + " to change, " +
        (e.data.remove || 0) + " to destroy.";
      box.dataset.add = e.data.add; box.dataset.change = e.data.change; box.dataset.remove = e.data.remove;
      appendLog(e.message);
    },
    resource: function (e) {
      const row = resourceRow(e.data);
      row.querySelector(".action").textContent = e.data.action || "";
      row.querySelector(".state").textContent = e.data.state;
      row.className = "res-" + e.data.state;
      if (e.data.elapsed !== null && e.data.elapsed !== undefined) row.querySelector(".elapsed").textContent = e.data.elapsed + " s";
      appendLog(e.message, e.data.state === "errored" ? "error" : "");
    },
    provision: function (e) {
      if (e.data.output) appendLog(e.data.addr + ": " + e.data.output, "provision");
      else appendLog(e.message);
    },
    diagnostic: function (e) {
      const box = document.getElementById("diagnostics");
      const d = e.data;
      if (d.severity === "error") {
        box.hidden = false;
        const li = el("li");
        li.appendChild(el("strong", null, d.summary));
        if (d.file) li.appendChild(el("span", "muted", " (" + d.file + (d.line ? " line " + d.line : "") + ")"));
        if (d.detail) li.appendChild(el("div", null, d.detail));
        box.querySelector("ul").appendChild(li);
      }
      appendLog((d.severity || "") + ": " + d.summary + (d.detail ? " — " + d.detail : ""), d.severity === "error" ? "error" : "warn");
    },
    outputs: function (e) {
      const outs = e.data.outputs || {};
      const table = document.getElementById("outputs");
      table.innerHTML = "";
      Object.keys(outs).forEach(function (name) {
        const tr = el("tr");
        tr.appendChild(el("th", null, name));
        const td = el("td");
        const o = outs[name];
        const v = o.sensitive ? "(sensitive)" : (typeof o.value === "string" ? o.value : JSON.stringify(o.value));
        if (!o.sensitive && /^https?:\/\//.test(v)) {
          const a = el("a", null, v); a.href = v; a.target = "_blank"; a.rel = "noopener"; td.appendChild(a);
        } else td.appendChild(el("code", null, v));
        tr.appendChild(td);
        table.appendChild(tr);
      });
      document.getElementById("outputs-card").hidden = Object.keys(outs).length === 0;
    },
    refresh: function (e) { appendLog(e.message); },
    log: function (e) { if (e.message) appendLog(e.message); },
  };

  function onEvent(msg) {
    const e = JSON.parse(msg.data);
    if (e.seq <= lastSeq) return; // already shown (a resumed stream may repeat nothing, but be safe)
    lastSeq = e.seq;
    root.dataset.lastSeq = String(lastSeq);
    (handlers[e.kind] || handlers.log)(e);
  }

  const source = new EventSource(root.dataset.eventsUrl);
  Object.keys(handlers).forEach(function (kind) { source.addEventListener(kind, onEvent); });
  source.addEventListener("end", function (msg) {
    finished = true;
    const cancel = document.getElementById("cancel-form");
    if (cancel) cancel.remove();
    source.close();
    root.dataset.finished = "true";
    conn.textContent = "";
    const link = el("a", "button", "Go to environment");
    link.href = root.dataset.environmentUrl;
    document.getElementById("run-status").appendChild(document.createTextNode(" "));
    document.getElementById("run-status").appendChild(link);
  });
  source.onopen = function () { conn.textContent = "live"; };
  source.onerror = function () { if (!finished) conn.textContent = "reconnecting…"; };
})();
