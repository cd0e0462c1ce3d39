// The dashboard page: one websocket for the table, the events and the log; POST for actions.

import { bytes, clock, el, percent } from "./format.js";
import { LogPane } from "./logs.js";
import { ProcessTable } from "./table.js";

const $ = (id) => document.getElementById(id);
const table = new ProcessTable(document.querySelector("#procs tbody"), $("types"), act);
const pane = new LogPane($("log"), $("log-status"), $("log-follow"));
const eventsList = $("events");
const select = $("log-name");
const MAX_EVENTS = 100;
let socket = null;
let retry = 1;
let toastTimer = null;

function setConnection(state, text) {
  $("conn").dataset.state = state;
  $("conn-text").textContent = text;
}

function toast(text, bad = false) {
  const box = $("toast");
  box.textContent = text;
  box.classList.toggle("bad", bad);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, bad ? 6000 : 2500);
}

async function act(verb, body, btn) {
  btn.disabled = true;
  btn.classList.add("busy");
  try {
    const response = await fetch(`/api/${verb}`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) toast(answer.message || "done");
    else toast(answer.message || `${verb} failed (HTTP ${response.status})`, true);
  } catch (error) {
    toast(`${verb} failed: ${error.message}`, true);
  } finally {
    btn.disabled = false;
    btn.classList.remove("busy");
  }
}

function addEvents(events) {
  const fragment = document.createDocumentFragment();
  for (const event of events) {
    fragment.prepend(el("li", { class: event.bad ? "bad" : event.event },
      el("time", { text: clock(event.time) }), el("span", { text: event.text })));
  }
  eventsList.prepend(fragment);
  while (eventsList.childElementCount > MAX_EVENTS) eventsList.lastElementChild.remove();
}

function updateSelect(rows) {
  const names = [...new Set(rows.flatMap((r) => (r.type !== r.name ? [r.type, r.name] : [r.name])))];
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join() === names.join()) return;
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: "All processes" }),
    ...names.map((n) => el("option", { value: n, text: n.includes(".") ? `  ${n}` : `${n} (all)` })));
  select.value = names.includes(current) ? current : "";
}

function summarize(rows) {
  const live = rows.filter((r) => r.id !== null);
  const running = live.filter((r) => r.state === "RUNNING").length;
  const cpu = live.reduce((s, r) => s + (r.cpu || 0), 0);
  const mem = live.reduce((s, r) => s + (r.mem || 0), 0);
  $("summary").textContent = `${running} of ${rows.length} running · CPU ${percent(cpu)} · memory ${bytes(mem)}`;
  document.title = `hu · ${running} running`;
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      table.setHistory(message.history, message.points);
      eventsList.replaceChildren();
      addEvents(message.events);
      break;
    case "state":
      table.update(message);
      updateSelect(message.rows);
      summarize(message.rows);
      break;
    case "event":
      addEvents([message]);
      break;
    case "events":
      addEvents(message.events);
      break;
    case "logs":
      if (message.reset) pane.reset(message.lines, message.name);
      else pane.add(message.lines, message.skipped, message.estimated);
      break;
    default:
      break;
  }
}

async function explainClose() {
  // A websocket cannot read the status of a refused handshake: ask the same question over HTTP.
  try {
    const response = await fetch("/api/state", { credentials: "same-origin" });
    if (response.status === 401) {
      setConnection("denied", "not signed in: open the URL that hu printed, or run `hu ui`");
      return false;
    }
  } catch (error) { /* hu is gone or restarting: retry below */ }
  return true;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.addEventListener("open", () => {
    retry = 1;
    setConnection("live", "live");
    if (select.value) socket.send(JSON.stringify({ type: "select", name: select.value }));
  });
  socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
  socket.addEventListener("close", async () => {
    socket = null;
    if (!(await explainClose())) return;
    setConnection("down", `disconnected: retrying in ${retry} s`);
    setTimeout(connect, retry * 1000);
    retry = Math.min(retry * 2, 10);
  });
}

select.addEventListener("change", () => {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "select", name: select.value || null }));
  }
});
$("log-filter").addEventListener("input", (event) => pane.setFilter(event.target.value));
connect();
