// Portaria console: live updates of the calls page from /console/events (server-sent events). No library.
"use strict";

function setText(root, field, value) {
  const node = root.querySelector(`[data-field="${field}"]`);
  if (node) node.textContent = value || "-";
}

function addLine(root, line) {
  const list = root.querySelector("[data-transcript]");
  if (!list || !line) return;
  const item = document.createElement("li");
  item.className = line.leg;
  const who = document.createElement("b");
  who.textContent = `${line.who}:`;
  item.append(who, ` ${line.text}`);
  list.append(item);
}

let redrawing = null;

// A live call's timeline, drawn again by the server (at most once a second) as its events arrive.
function redrawTimeline(callId) {
  const box = document.querySelector("[data-timeline-live]");
  if (!box || redrawing) return;
  redrawing = setTimeout(async () => {
    try {
      const response = await fetch(`/console/calls/${encodeURIComponent(callId)}/timeline`);
      if (response.ok) box.innerHTML = await response.text();
    } finally {
      redrawing = null;
    }
  }, 1000);
}

function apply(update) {
  const card = document.querySelector(`[data-call="${CSS.escape(update.call_id)}"]`);
  if (!card) {
    // A call this page has not shown yet: the server renders it (with its buttons and token).
    if (document.querySelector("[data-live]")) window.location.reload();
    return;
  }
  setText(card, "step", update.step);
  setText(card, "resident", update.resident);
  setText(card, "decision", update.decision);
  for (const [leg, state] of Object.entries(update.legs || {})) setText(card, `leg-${leg}`, state);
  addLine(card, update.line);
  if (document.querySelector(`[data-call-page="${CSS.escape(update.call_id)}"]`)) redrawTimeline(update.call_id);
  if (update.ended) {
    card.classList.replace("live", "ended");
    card.querySelectorAll("form").forEach((form) => form.remove());
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.querySelector("[data-live], [data-call-page]");
  if (!root) return;
  // From the last update this page was rendered with: what happened since is replayed, nothing is lost.
  const source = new EventSource(`/console/events?after=${root.dataset.seq || 0}`);
  source.onmessage = (message) => apply(JSON.parse(message.data));
  source.addEventListener("reload", () => window.location.reload());
  source.onopen = () => document.body.classList.add("connected");
  source.onerror = () => document.body.classList.remove("connected");
});
