// The console's terminal page: xterm.js connected to /hosts/NAME/terminal/ws.
//
// Protocol (the server parses it as untrusted input, see src/terminal_proto.rs):
//   browser -> server  binary frame: typed bytes (UTF-8), at most 16 KiB a frame
//                      text frame:   {"resize":[rows,cols]}
//   server -> browser  binary frame: terminal output bytes
//                      text frame:   {"closed":"why"} before the server closes the socket
//
// No inline script: this file is loaded from /assets/terminal.js. xterm.js writes <style>
// elements, which the page's Content-Security-Policy allows only with the page's nonce, so
// the nonce (from a data attribute) is set on each one before it is inserted.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

const MAX_INPUT_FRAME = 16 * 1024;

function withStyleNonce(nonce) {
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (name, options) {
    const element = create.call(this, name, options);
    if (String(name).toLowerCase() === "style") {
      element.nonce = nonce;
    }
    return element;
  };
}

function start(box) {
  const status = document.getElementById("terminal-status");
  const say = (text) => {
    if (status) status.textContent = text;
  };
  withStyleNonce(box.dataset.styleNonce || "");
  const term = new Terminal({ cursorBlink: true, convertEol: false, scrollback: 5000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();

  const url = new URL(box.dataset.socket, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("csrf", box.dataset.csrf || "");
  url.searchParams.set("rows", String(term.rows));
  url.searchParams.set("cols", String(term.cols));
  const socket = new WebSocket(url.toString());
  socket.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  let open = false;

  socket.addEventListener("open", () => {
    open = true;
    say("connected");
    term.focus();
  });
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") {
      try {
        const message = JSON.parse(event.data);
        if (typeof message.closed === "string") say("closed: " + message.closed);
      } catch (_) {
        // Not ours: ignored.
      }
      return;
    }
    term.write(new Uint8Array(event.data));
  });
  socket.addEventListener("close", (event) => {
    open = false;
    say("disconnected (" + event.code + (event.reason ? ": " + event.reason : "") + ")");
  });

  const send = (bytes) => {
    if (!open) return;
    for (let at = 0; at < bytes.length; at += MAX_INPUT_FRAME) {
      socket.send(bytes.subarray(at, at + MAX_INPUT_FRAME));
    }
  };
  term.onData((data) => send(encoder.encode(data)));
  term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
  term.onResize(({ rows, cols }) => {
    if (open) socket.send(JSON.stringify({ resize: [rows, cols] }));
  });
  window.addEventListener("resize", () => fit.fit());
  leaveWithShiftEscape(term);
}

// The terminal takes every key, Tab and Shift+Tab included (the shell completes with them), so
// a keyboard alone could not leave it: Shift+Escape does, to the page's Terminal tab (the page
// says so, and the terminal's input names that text as its description).
function leaveWithShiftEscape(term) {
  const keys = document.getElementById("terminal-keys");
  if (keys && term.textarea) term.textarea.setAttribute("aria-describedby", keys.id);
  term.attachCustomKeyEventHandler((event) => {
    if (event.key !== "Escape" || !event.shiftKey) return true;
    if (event.type === "keydown") {
      const tab = document.querySelector('main > nav a[href$="/terminal"]');
      if (tab) tab.focus();
      else term.blur();
    }
    return false;
  });
}

const box = document.getElementById("terminal");
if (box) start(box);
