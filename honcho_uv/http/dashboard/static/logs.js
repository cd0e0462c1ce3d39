// The log pane: bounded (at most `max` lines kept), filterable, following the newest line
// unless the reader scrolled up. Only the lines in view are in the page (a virtual list of
// fixed-height rows), so a process writing 200,000 lines a second costs the browser the
// same as a quiet one: the pane is redrawn at most once per animation frame.

import { clock, el, hue } from "./format.js";

const ROW = 19;      // px: the height of a row, as in dashboard.css (.ln)
const SPARE = 8;     // rows drawn above and below the view

export class LogPane {
  constructor(box, status, follow, { max = 2000 } = {}) {
    this.box = box;
    this.status = status;
    this.followBox = follow;
    this.max = max;
    this.lines = [];         // {seq, time, name, text} or {skipped: N}, oldest first
    this.view = this.lines;  // the lines that match the filter
    this.filter = "";
    this.skippedTotal = 0;
    this.frame = 0;
    this.space = el("div", { class: "log-space" });
    this.rows = el("div", { class: "log-rows" });
    this.space.append(this.rows);
    box.replaceChildren(this.space);
    box.addEventListener("scroll", () => {
      if (this.autoScrolling) { this.autoScrolling = false; } else if (this.followBox.checked && !this.atBottom()) {
        this.followBox.checked = false;
      } else if (!this.followBox.checked && this.atBottom()) {
        this.followBox.checked = true;
      }
      this.schedule();
    }, { passive: true });
    follow.addEventListener("change", () => this.schedule());
    window.addEventListener("resize", () => this.schedule());
  }

  atBottom() {
    return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < ROW;
  }

  reset(lines, name) {
    this.lines = [];
    this.skippedTotal = 0;
    this.estimated = false;
    this.selection = name;
    this.add(lines, 0);
  }

  add(lines, skipped, estimated = false) {
    if (skipped > 0) {
      this.skippedTotal += skipped;
      this.estimated ||= estimated;
      this.lines.push({ skipped, estimated });
    }
    for (const [seq, time, name, text] of lines) this.lines.push({ seq, time, name, text });
    const over = this.lines.length - this.max;
    if (over > 0) this.lines.splice(0, over);
    this.refilter();
  }

  setFilter(text) {
    this.filter = text.toLowerCase();
    this.refilter();
  }

  refilter() {
    this.view = this.filter ? this.lines.filter((e) => this.matches(e)) : this.lines;
    this.schedule();
  }

  matches(entry) {
    if (!this.filter || entry.skipped) return true;
    return entry.text.toLowerCase().includes(this.filter) || entry.name.toLowerCase().includes(this.filter);
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    this.space.style.height = `${this.view.length * ROW}px`;
    if (this.followBox.checked) {
      this.autoScrolling = this.box.scrollTop !== Math.max(0, this.view.length * ROW - this.box.clientHeight);
      this.box.scrollTop = this.box.scrollHeight;
    }
    const first = Math.max(0, Math.floor(this.box.scrollTop / ROW) - SPARE);
    const last = Math.min(this.view.length, Math.ceil((this.box.scrollTop + this.box.clientHeight) / ROW) + SPARE);
    this.rows.style.transform = `translateY(${first * ROW}px)`;
    this.rows.replaceChildren(...this.view.slice(first, last).map((entry) => this.render(entry)));
    this.updateStatus();
  }

  render(entry) {
    if (entry.skipped) {
      const about = entry.estimated ? "about " : "";
      return el("div", { class: "ln skip",
        text: `… ${about}${entry.skipped.toLocaleString()} lines skipped (the page shows at most 400 a second) …` });
    }
    const name = entry.name === "system" ? "hu" : entry.name;
    return el("div", { class: entry.name === "system" ? "ln sys" : "ln", title: entry.text },
      el("time", { text: clock(entry.time) }),
      el("span", { class: `nm c${hue(name)}`, text: name }),
      el("span", { class: "tx", text: entry.text }));
  }

  updateStatus() {
    const kept = this.lines.length;
    let text = this.filter ? `${this.view.length.toLocaleString()} of ${kept.toLocaleString()} lines match`
      : `${kept.toLocaleString()} lines`;
    if (this.skippedTotal) {
      text += ` · ${this.estimated ? "about " : ""}${this.skippedTotal.toLocaleString()} lines skipped`;
    }
    text += ` · the pane keeps the last ${this.max.toLocaleString()}`;
    this.status.textContent = text;
  }
}
