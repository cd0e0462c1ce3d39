// The log pane: bounded (at most `max` lines kept, in memory and in the page), filterable,
// following the newest line unless the reader scrolled up.

import { clock, el, hue } from "./format.js";

export class LogPane {
  constructor(box, status, follow, { max = 2000 } = {}) {
    this.box = box;
    this.status = status;
    this.followBox = follow;
    this.max = max;
    this.lines = [];         // {seq, time, name, text} or {skipped: N}
    this.filter = "";
    this.skippedTotal = 0;
    this.pending = null;     // lines waiting for the next animation frame
    box.addEventListener("scroll", () => {
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 4;
      if (!atBottom && this.followBox.checked && !this.autoScrolling) this.followBox.checked = false;
      this.autoScrolling = false;
    });
    follow.addEventListener("change", () => { if (follow.checked) this.scroll(); });
  }

  get following() { return this.followBox.checked; }

  reset(lines, name) {
    this.lines = [];
    this.skippedTotal = 0;
    this.box.replaceChildren();
    this.add(lines, 0);
    this.selection = name;
  }

  add(lines, skipped) {
    const entries = [];
    if (skipped > 0) {
      this.skippedTotal += skipped;
      entries.push({ skipped });
    }
    for (const [seq, time, name, text] of lines) entries.push({ seq, time, name, text });
    if (entries.length === 0) return;
    this.lines.push(...entries);
    const over = this.lines.length - this.max;
    if (over > 0) this.lines.splice(0, over);
    const fragment = document.createDocumentFragment();
    for (const entry of entries) if (this.matches(entry)) fragment.append(this.render(entry));
    this.box.append(fragment);
    while (this.box.childElementCount > this.max) this.box.firstElementChild.remove();
    this.update();
  }

  setFilter(text) {
    this.filter = text.toLowerCase();
    const fragment = document.createDocumentFragment();
    for (const entry of this.lines) if (this.matches(entry)) fragment.append(this.render(entry));
    this.box.replaceChildren(fragment);
    this.update();
  }

  matches(entry) {
    if (!this.filter || entry.skipped) return true;
    return entry.text.toLowerCase().includes(this.filter) || entry.name.toLowerCase().includes(this.filter);
  }

  render(entry) {
    if (entry.skipped) {
      return el("div", { class: "ln skip", text: `… ${entry.skipped.toLocaleString()} lines skipped (the page shows at most 1,000 a second) …` });
    }
    const name = entry.name === "system" ? "hu" : entry.name;
    return el("div", { class: entry.name === "system" ? "ln sys" : "ln" },
      el("time", { text: clock(entry.time) }),
      el("span", { class: `nm c${hue(name)}`, text: name }),
      el("span", { class: "tx", text: entry.text }));
  }

  update() {
    const shown = this.box.childElementCount;
    const kept = this.lines.filter((e) => !e.skipped).length;
    let text = this.filter ? `${shown.toLocaleString()} of ${kept.toLocaleString()} lines match` : `${kept.toLocaleString()} lines`;
    if (this.skippedTotal) text += ` · ${this.skippedTotal.toLocaleString()} skipped`;
    text += ` · the pane keeps the last ${this.max.toLocaleString()}`;
    this.status.textContent = text;
    if (this.following) this.scroll();
  }

  scroll() {
    this.autoScrolling = true;
    this.box.scrollTop = this.box.scrollHeight;
  }
}
