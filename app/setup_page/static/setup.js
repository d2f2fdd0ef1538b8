// The setup page's live status: polls the status endpoint and redraws the list without a reload. Without this
// file the page still shows the status as of its loading, with a Refresh link.
(() => {
  const section = document.getElementById("status");
  if (!section) return;
  const state = document.getElementById("status-state");
  const idp = document.getElementById("status-idp");
  const rows = document.getElementById("status-requests");
  const interval = Number(section.dataset.pollMs) || 2000;
  const maxPolls = Math.ceil((30 * 60 * 1000) / interval);  // a forgotten tab stops after half an hour
  let polls = 0;
  section.querySelectorAll(".no-script").forEach((element) => { element.hidden = true; });

  function showState(name) {
    state.textContent = state.dataset[name] || state.dataset.connected;
    state.className = `state state-${name}`;
  }

  function cell(row, content, className) {
    const td = row.insertCell();
    if (className) td.className = className;
    if (content instanceof Node) td.append(content); else td.textContent = content;
    return td;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    node.textContent = text;
    return node;
  }

  function render(status) {
    showState(status.state);
    idp.hidden = !status.idp;
    idp.querySelector("strong").textContent = status.idp || "";
    const body = document.createElement("tbody");
    body.id = rows.id;
    const newestFirst = [...status.requests].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
    for (const request of newestFirst) {
      const failed = request.status >= 400;
      const row = body.insertRow();
      row.className = failed ? "failed" : "";
      row.dataset.status = request.status;
      const time = element("time", "", request.time.slice(0, 19).replace("T", " "));
      time.dateTime = request.time;
      cell(row, time, "nowrap");
      cell(row, element("code", "", `${request.method} ${request.path}`));
      cell(row, element("span", `badge badge-${failed ? "off" : "on"}`, String(request.status)));
      if (request.diagnosis) {
        const text = element("span", "diagnosis", request.diagnosis.text);
        text.dataset.code = request.diagnosis.code;
        cell(row, text);
      } else {
        cell(row, failed ? "" : "OK");
      }
    }
    if (!status.requests.length) {
      cell(body.insertRow(), "No requests yet.", "muted").colSpan = 4;
    }
    document.getElementById(rows.id).replaceWith(body);
  }

  async function poll() {
    polls += 1;
    try {
      const response = await fetch(section.dataset.url, { cache: "no-store", headers: { Accept: "application/json" } });
      if (response.status === 404 || response.status === 410) { showState("gone"); return; }
      if (response.ok) render(await response.json());
    } catch {
      // offline for a moment: the next poll tries again
    }
    if (polls >= maxPolls) { showState("paused"); return; }
    setTimeout(poll, interval);
  }
  setTimeout(poll, interval);
})();
