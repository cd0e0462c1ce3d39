// The process table: one <tr> per instance (or per type without instances), as `hu ps`,
// updated in place; a bar of per-type controls; CPU and memory sparklines per instance.

import { bytes, duration, el, hue, percent, yesNo } from "./format.js";
import { draw, sparkline } from "./spark.js";

const COLUMNS = ["Name", "State", "Ready", "PID", "Uptime", "Restarts", "CPU", "Memory", "CPU, last 5 min",
  "Memory, last 5 min", "Actions"];

function button(label, text, verb, body, cls = "") {
  const b = el("button", { type: "button", class: `btn ${cls}`.trim(), "aria-label": label, title: label,
    "data-verb": verb, "data-body": JSON.stringify(body) });
  b.textContent = text;
  return b;
}

export class ProcessTable {
  constructor(tbody, typesBar, act) {
    this.tbody = tbody;
    this.typesBar = typesBar;
    this.rows = new Map();       // name -> {tr, cells, cpu, mem}
    this.types = new Map();      // type -> {box, count}
    this.history = new Map();    // name -> {cpu: [], mem: []}
    this.capacity = 300;
    for (const root of [tbody, typesBar]) {
      root.addEventListener("click", (event) => {
        const b = event.target.closest("button[data-verb]");
        if (b) act(b.dataset.verb, JSON.parse(b.dataset.body), b);
      });
    }
  }

  setHistory(history, capacity) {
    this.capacity = capacity;
    this.history.clear();
    for (const [name, points] of Object.entries(history)) {
      this.history.set(name, { cpu: points.map((p) => p[1]), mem: points.map((p) => p[2]) });
    }
  }

  update(state) {
    const seen = new Set();
    let previous = null;
    for (const row of state.rows) {
      seen.add(row.name);
      let entry = this.rows.get(row.name);
      if (!entry) {
        entry = this.create(row);
        this.rows.set(row.name, entry);
      }
      // keep the order of `hu ps`: move the row after the previous one if needed
      const wanted = previous ? previous.nextSibling : this.tbody.firstChild;
      if (wanted !== entry.tr) this.tbody.insertBefore(entry.tr, wanted);
      previous = entry.tr;
      if (state.sampled && row.id !== null) this.record(row);
      this.fill(entry, row);
    }
    for (const [name, entry] of this.rows) {
      if (!seen.has(name)) { entry.tr.remove(); this.rows.delete(name); this.history.delete(name); }
    }
    this.updateTypes(state.types);
  }

  record(row) {
    let h = this.history.get(row.name);
    if (!h) { h = { cpu: [], mem: [] }; this.history.set(row.name, h); }
    h.cpu.push(row.cpu);
    h.mem.push(row.mem);
    if (h.cpu.length > this.capacity) { h.cpu.shift(); h.mem.shift(); }
  }

  create(row) {
    const tr = el("tr", { "data-name": row.name });
    const cells = COLUMNS.map((label) => el("td", { "data-label": label }));
    cells[0].className = "name";
    cells[0].append(el("span", { class: `swatch c${hue(row.name)}`, "aria-hidden": "true" }), el("span", { class: "nm" }));
    cells[1].className = "state";
    for (const i of [3, 4, 5]) cells[i].className = "mono";
    for (const i of [6, 7]) cells[i].className = "num mono";
    cells[8].className = "graph";
    cells[9].className = "graph";
    cells[10].className = "actions";
    const cpu = sparkline(`CPU of ${row.name}`);
    const mem = sparkline(`Memory of ${row.name}`);
    cells[8].append(cpu);
    cells[9].append(mem);
    tr.append(...cells);
    return { tr, cells, cpu, mem, key: "" };
  }

  fill(entry, row) {
    const { cells } = entry;
    cells[0].lastChild.textContent = row.name;
    const state = cells[1];
    if (state.textContent !== row.state) {
      state.textContent = row.state;
      state.dataset.state = row.state;
    }
    cells[2].textContent = yesNo(row.ready);
    cells[3].textContent = row.os_pid ?? "–";
    cells[4].textContent = duration(row.uptime);
    cells[5].textContent = String(row.restarts);
    cells[6].textContent = percent(row.cpu);
    cells[7].textContent = bytes(row.mem);
    const h = this.history.get(row.name) || { cpu: [], mem: [] };
    draw(entry.cpu, h.cpu, this.capacity, { floor: 5, describe: percent });
    draw(entry.mem, h.mem, this.capacity, { describe: bytes });
    const live = row.id !== null;
    const key = `${live}`;
    if (entry.key !== key) {
      entry.key = key;
      cells[10].replaceChildren(...(live ? [
        button(`Restart ${row.name}`, "Restart", "restart", { name: row.name }),
        button(`Stop ${row.name}`, "Stop", "stop", { name: row.name }, "danger"),
      ] : []));
    }
    entry.tr.className = live ? "" : "idle";
  }

  updateTypes(types) {
    const seen = new Set();
    for (const type of types) {
      seen.add(type.name);
      let entry = this.types.get(type.name);
      if (!entry) {
        const count = el("span", { class: "count" });
        const box = el("div", { class: "type", role: "group", "aria-label": `${type.name} controls`, "data-type": type.name },
          el("span", { class: `swatch c${hue(type.name)}`, "aria-hidden": "true" }),
          el("span", { class: "type-name", text: type.name }),
          button(`Scale ${type.name} down`, "−", "scale", { name: type.name, by: -1 }, "icon"),
          count,
          button(`Scale ${type.name} up`, "+", "scale", { name: type.name, by: 1 }, "icon"),
          el("span", { class: "type-actions" },
            button(`Start ${type.name}`, "Start", "start", { name: type.name }),
            button(`Restart ${type.name}`, "Restart all", "restart", { name: type.name }),
            button(`Stop ${type.name}`, "Stop all", "stop", { name: type.name }, "danger")));
        this.typesBar.append(box);
        entry = { box, count };
        this.types.set(type.name, entry);
      }
      entry.count.textContent = `${type.running}/${type.wanted}`;
      entry.count.title = `${type.running} running of ${type.wanted} wanted`;
    }
    for (const [name, entry] of this.types) {
      if (!seen.has(name)) { entry.box.remove(); this.types.delete(name); }
    }
  }

  names() {
    return [...this.rows.keys()];
  }
}
