// Status as shape + words + colour, never colour alone; and the formatters for times and numbers.
import { h, s } from "./dom.js";

const SHAPES = {
  circle: () => s("circle", { cx: 12, cy: 12, r: 9 }),
  ring: () => s("circle", { cx: 12, cy: 12, r: 8, class: "hollow" }),
  triangle: () => s("polygon", { points: "12,2 23,21 1,21" }),
  diamond: () => s("polygon", { points: "12,1 23,12 12,23 1,12" }),
  octagon: () => s("polygon", { points: "8,1 16,1 23,8 23,16 16,23 8,23 1,16 1,8" }),
};
const GLYPHS = { circle: "", ring: "?", triangle: "!", diamond: "!", octagon: "✕" };

export const SEVERITY = {
  info: { level: "watch", label: "INFO", shape: "triangle" },
  warning: { level: "alarm", label: "WARNING", shape: "diamond" },
  critical: { level: "critical", label: "CRITICAL", shape: "octagon" },
};

export const STATE_LABEL = {
  active: "ACTIVE",
  acknowledged: "ACKNOWLEDGED",
  shelved: "SHELVED",
  cleared: "CLEARED",
};

export function shapeIcon(shape, level, size = 28) {
  const glyph = GLYPHS[shape] || "";
  return s(
    "svg",
    { class: `shape lvl-${level}`, viewBox: "0 0 24 24", width: size, height: size, "aria-hidden": "true" },
    SHAPES[shape] ? SHAPES[shape]() : SHAPES.circle(),
    glyph ? s("text", { x: 12, y: shape === "triangle" ? 19 : 16.5, "text-anchor": "middle", class: "glyph" }, glyph) : null,
  );
}

// A badge: shape icon + words, coloured by level.
export function badge(health, extraClass = "") {
  return h(
    "span",
    { class: `badge lvl-${health.level} ${extraClass}`, role: "status" },
    shapeIcon(health.shape, health.level),
    h("span", { class: "badge-text", text: health.label }),
  );
}

export function severityBadge(severity) {
  const sev = SEVERITY[severity] || SEVERITY.warning;
  return badge(sev, "sev");
}

export function stateBadge(state) {
  return h("span", { class: `state state-${state}`, text: STATE_LABEL[state] || state.toUpperCase() });
}

// ----------------------------------------------------------------------------- formatting

let clockOffset = 0; // server reference time minus this browser's clock

export function syncClock(nowMs) {
  if (typeof nowMs === "number") clockOffset = nowMs - Date.now();
}

export function serverNow() {
  return Date.now() + clockOffset;
}

export function ageText(ms) {
  const sec = Math.max(0, Math.round((serverNow() - ms) / 1000));
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

// An element whose text is refreshed every second by tickAges().
export function age(ms, suffix = " ago") {
  return h("span", { class: "age", dataset: { since: String(ms), suffix } }, ageText(ms) + suffix);
}

export function tickAges(root = document) {
  for (const el of root.querySelectorAll(".age[data-since]")) {
    el.textContent = ageText(Number(el.dataset.since)) + (el.dataset.suffix || "");
  }
}

export function clockText(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function dateTimeText(ms) {
  const d = new Date(ms);
  const date = d.toLocaleDateString([], { month: "short", day: "2-digit" });
  return `${date} ${clockText(ms)}`;
}

export function percent(value, digits = 0) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(digits)} %`;
}

export function number(value, unit = "") {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  const text = abs >= 1000 ? value.toFixed(0) : abs >= 100 ? value.toFixed(1) : abs >= 1 ? value.toFixed(2) : value.toPrecision(3);
  return unit && unit !== "1" ? `${text} ${unit}` : text;
}
