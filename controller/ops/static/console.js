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
  addLine(card, update.line);
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
