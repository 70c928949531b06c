// The console's events page: the live stream of /hosts/NAME/events/ws shown as table rows.
//
// Protocol (the server side is src/event_stream.rs):
//   server -> browser  text frame: {"event":{record_id, time, log, provider, event_id, level,
//                                   level_name, computer, message}}, one event each
//                      text frame: {"closed":"why"} before the server closes the socket
//   browser -> server  nothing (any data frame ends the stream)
//
// No inline script: this file is loaded from /assets/events.js. Everything an event holds
// comes from the host and is untrusted: it is set as text (textContent), never as markup.

const MAX_ROWS = 500;
const LOGS = new Set(["Application,System", "Security"]);

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  row.appendChild(td);
  return td;
}

function start(section) {
  const status = document.getElementById("live-status");
  const body = document.getElementById("live-events");
  const say = (text) => {
    if (status) status.textContent = text;
  };
  const wanted = new URLSearchParams(window.location.search).get("logs");
  const logs = wanted && LOGS.has(wanted) ? wanted : "Application,System";

  const url = new URL(section.dataset.socket, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("csrf", section.dataset.csrf || "");
  url.searchParams.set("logs", logs);
  say("connecting to " + logs);
  const socket = new WebSocket(url.toString());
  let received = 0;

  socket.addEventListener("open", () => {
    say("live: " + logs + ", waiting for new events");
  });
  socket.addEventListener("message", (message) => {
    if (typeof message.data !== "string") return;
    let parsed;
    try {
      parsed = JSON.parse(message.data);
    } catch (_) {
      return;
    }
    if (typeof parsed.closed === "string") {
      say("closed: " + parsed.closed);
      return;
    }
    const event = parsed.event;
    if (!event || typeof event !== "object") return;
    const row = document.createElement("tr");
    row.className = "live-event";
    cell(row, event.time);
    cell(row, event.log);
    cell(row, event.record_id);
    cell(row, event.provider);
    cell(row, event.level_name);
    cell(row, event.event_id);
    cell(row, event.message).className = "cmd";
    body.insertBefore(row, body.firstChild);
    while (body.childElementCount > MAX_ROWS) body.removeChild(body.lastChild);
    received += 1;
    say("live: " + logs + ", " + received + " new event(s)");
  });
  socket.addEventListener("close", (event) => {
    say("disconnected (" + event.code + (event.reason ? ": " + event.reason : "") + ")");
  });
  // Leaving the page closes the socket; the console then ends the subscription.
  window.addEventListener("pagehide", () => socket.close(1000));
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("live");
  if (section) start(section);
});
