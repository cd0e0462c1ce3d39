// Sparklines: one small <svg> per instance and metric, redrawn when a sample arrives.

const NS = "http://www.w3.org/2000/svg";
export const WIDTH = 120;
export const HEIGHT = 28;

export function sparkline(label) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", String(WIDTH));
  svg.setAttribute("height", String(HEIGHT));
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("data-points", "0");
  const title = document.createElementNS(NS, "title");
  title.textContent = label;
  const area = document.createElementNS(NS, "path");
  area.setAttribute("class", "spark-area");
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("class", "spark-line");
  svg.append(title, area, line);
  return svg;
}

// The first minute is drawn over the whole width, then the line grows from the right until it
// holds `capacity` points: a young process has a readable line, an old one its last minutes.
const MIN_SLOTS = 60;

// Draw `values` (numbers or null, oldest first); the newest point sits at the right edge.
export function draw(svg, values, capacity, { floor = 0, describe = String }) {
  const points = values.filter((v) => v !== null && v !== undefined);
  svg.setAttribute("data-points", String(points.length));
  const title = svg.firstChild;
  const line = svg.lastChild;
  const area = line.previousSibling;
  if (points.length === 0) {
    line.setAttribute("points", "");
    area.setAttribute("d", "");
    title.textContent = `${svg.getAttribute("aria-label")}: no samples yet`;
    return;
  }
  let lo = Math.min(...points);
  let hi = Math.max(...points, floor);
  if (floor > 0) lo = 0;  // CPU: from zero, at least `floor` tall
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }  // a flat line is drawn across the middle
  const slots = Math.min(capacity, Math.max(MIN_SLOTS, values.length));
  const step = WIDTH / Math.max(1, slots - 1);
  const start = WIDTH - (values.length - 1) * step;
  const coords = [];
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const x = start + i * step;
    const y = HEIGHT - 2 - ((v - lo) / (hi - lo)) * (HEIGHT - 4);
    coords.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  line.setAttribute("points", coords.join(" "));
  const first = coords[0].split(",")[0];
  const last = coords[coords.length - 1].split(",")[0];
  area.setAttribute("d", `M${first},${HEIGHT} L${coords.join(" L")} L${last},${HEIGHT} Z`);
  const now = points[points.length - 1];
  title.textContent = `${svg.getAttribute("aria-label")}: now ${describe(now)}, peak ${describe(Math.max(...points))}`;
}
