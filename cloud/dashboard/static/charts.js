// Line charts drawn as inline SVG: no library, no canvas, crisp at any size and readable from afar.
import { s } from "./dom.js";
import { number } from "./status.js";

const W = 900;
const LABEL_GAP = 22;

function niceStep(span, count) {
  const raw = span / Math.max(count, 1);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((sec) => sec * 1000);

function timeStep(span, count) {
  return TIME_STEPS.find((step) => span / step <= count) || TIME_STEPS[TIME_STEPS.length - 1];
}

function timeLabel(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

// options: {height, xStart, xEnd, yMin, yMax, series: [{points, cls}], hlines: [{y, label, cls}],
//           markers: [{x, label}], yFormat, title}
export function lineChart(options) {
  const height = options.height || 240;
  const labelled = (options.hlines || []).length > 0;
  const M = { left: 78, right: labelled ? 200 : 20, top: 18, bottom: 40 };
  const plotW = W - M.left - M.right;
  const plotH = height - M.top - M.bottom;
  const all = options.series.flatMap((line) => line.points.map((p) => p[1]));
  const limits = (options.hlines || []).map((l) => l.y);
  let yMin = options.yMin ?? Math.min(...all, ...limits);
  let yMax = options.yMax ?? Math.max(...all, ...limits);
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) {
    yMin = 0;
    yMax = 1;
  }
  if (yMax - yMin < 1e-9) {
    yMax += Math.abs(yMax) * 0.1 + 1;
    yMin -= Math.abs(yMin) * 0.1 + 1;
  } else if (options.yMin === undefined || options.yMax === undefined) {
    const pad = (yMax - yMin) * 0.08;
    if (options.yMin === undefined) yMin -= pad;
    if (options.yMax === undefined) yMax += pad;
  }
  const xs = options.series.flatMap((line) => line.points.map((p) => p[0]));
  const xEnd = options.xEnd ?? Math.max(...xs, Date.now());
  const xStart = options.xStart ?? Math.min(...xs, xEnd - 60_000);
  const x = (t) => M.left + ((t - xStart) / Math.max(xEnd - xStart, 1)) * plotW;
  const y = (v) => M.top + (1 - (v - yMin) / (yMax - yMin)) * plotH;
  const fmt = options.yFormat || ((v) => number(v));

  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${W} ${height}`,
    role: "img",
    "aria-label": options.title || "chart",
  });
  // grid and axes
  const yStep = niceStep(yMax - yMin, 4);
  for (let v = Math.ceil(yMin / yStep) * yStep; v <= yMax + 1e-9; v += yStep) {
    svg.append(s("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(s("text", { x: M.left - 8, y: y(v) + 6, "text-anchor": "end", class: "tick" }, fmt(v)));
  }
  const xStep = timeStep(xEnd - xStart, 6);
  for (let t = Math.ceil(xStart / xStep) * xStep; t <= xEnd; t += xStep) {
    svg.append(s("line", { x1: x(t), x2: x(t), y1: M.top, y2: M.top + plotH, class: "grid" }));
    svg.append(s("text", { x: x(t), y: height - 10, "text-anchor": "middle", class: "tick" }, timeLabel(t)));
  }
  svg.append(s("rect", { x: M.left, y: M.top, width: plotW, height: plotH, class: "frame" }));
  // limit lines, labelled in words in the margin right of the plot (nudged apart, never over the data)
  const labels = [];
  for (const line of options.hlines || []) {
    if (line.y < yMin || line.y > yMax) continue;
    svg.append(s("line", { x1: M.left, x2: W - M.right, y1: y(line.y), y2: y(line.y), class: `limit ${line.cls || ""}` }));
    labels.push({ at: y(line.y), text: line.label, cls: line.cls || "" });
  }
  labels.sort((a, b) => a.at - b.at);
  for (let i = 1; i < labels.length; i++) labels[i].at = Math.max(labels[i].at, labels[i - 1].at + LABEL_GAP);
  for (const label of labels) {
    svg.append(s("text", { x: W - M.right + 10, y: label.at + 6, class: `limit-label ${label.cls}` }, label.text));
  }
  // markers (e.g. fault type changes)
  for (const mark of options.markers || []) {
    if (mark.x < xStart || mark.x > xEnd) continue;
    svg.append(s("line", { x1: x(mark.x), x2: x(mark.x), y1: M.top, y2: M.top + plotH, class: "marker" }));
    const right = x(mark.x) > M.left + plotW * 0.7; // near the right edge: write the label to the left
    svg.append(
      s("text", { x: x(mark.x) + (right ? -8 : 8), y: M.top + plotH - 12, "text-anchor": right ? "end" : "start", class: "marker-label" }, mark.label),
    );
  }
  // data
  let empty = true;
  for (const line of options.series) {
    if (!line.points.length) continue;
    empty = false;
    const d = line.points.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
    svg.append(s("path", { d, class: `series ${line.cls || ""}` }));
    const last = line.points[line.points.length - 1];
    svg.append(s("circle", { cx: x(last[0]), cy: y(last[1]), r: 6, class: `last ${line.cls || ""}` }));
  }
  if (empty) {
    svg.append(s("text", { x: M.left + plotW / 2, y: M.top + plotH / 2, "text-anchor": "middle", class: "empty" }, "no data in this window"));
  }
  return svg;
}
