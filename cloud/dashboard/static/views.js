// The views: each takes the API's JSON and a context (who is logged in, how to act) and returns DOM.
import { lineChart } from "./charts.js";
import { h } from "./dom.js";
import {
  age,
  badge,
  clockText,
  dateTimeText,
  number,
  percent,
  severityBadge,
  shapeIcon,
  stateBadge,
} from "./status.js";

const SHELVE_CHOICES = [
  [15, "15 min"],
  [60, "1 h"],
  [240, "4 h"],
  [480, "8 h (shift)"],
];
const SEVERITY_RANK = { critical: 3, warning: 2, info: 1 };
const STATE_RANK = { active: 0, shelved: 1, acknowledged: 2, cleared: 3 };

export function sortAlerts(alerts) {
  return [...alerts].sort(
    (a, b) =>
      SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
      STATE_RANK[a.state] - STATE_RANK[b.state] ||
      b.updated_ms - a.updated_ms,
  );
}

export function words(name) {
  return String(name || "").replaceAll("_", " ");
}

function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", { text: title }), ...children);
}

function emptyNote(text) {
  return h("p", { class: "empty-note", text });
}

// ----------------------------------------------------------------------------- overview

function tile(m) {
  const risk = m.probability;
  const fill = h("div", { class: `fill lvl-${m.health.level}` });
  fill.style.width = `${Math.round((risk ?? 0) * 100)}%`;
  const readings = m.readings.map((r) =>
    h(
      "li",
      { class: r.limit ? "beyond" : "" },
      h("span", { class: "metric", text: r.metric }),
      h("b", { text: `${r.limit === "high" ? "▲ HIGH " : r.limit === "low" ? "▼ LOW " : ""}${number(r.value, r.unit)}` }),
    ),
  );
  return h(
    "a",
    { class: `tile lvl-${m.health.level}`, href: `#/machine/${encodeURIComponent(m.machine_id)}`, dataset: { machine: m.machine_id } },
    h("div", { class: "tile-head" }, h("span", { class: "tile-id", text: m.machine_id }), badge(m.health)),
    h(
      "div",
      { class: "risk" },
      h("span", { class: "risk-label", text: "FAILURE RISK" }),
      h("span", { class: "risk-value", text: risk === null ? "–" : percent(risk) }),
      h("div", { class: "bar" }, fill),
    ),
    h(
      "div",
      { class: "facts" },
      h("span", { class: "fault", text: m.fault_type ? `⚠ ${words(m.fault_type)}` : "no fault predicted" }),
      h("span", { class: "rul", text: m.rul_text ? `RUL ${m.rul_text}` : "RUL –" }),
    ),
    readings.length ? h("ul", { class: "readings" }, readings) : null,
    h(
      "div",
      { class: "tile-foot" },
      m.open_alerts ? h("span", { class: "open-alerts", text: `${m.open_alerts} open alert${m.open_alerts > 1 ? "s" : ""}` }) : null,
      m.updated_ms ? h("span", {}, "updated ", age(m.updated_ms)) : h("span", { text: "no data yet" }),
    ),
  );
}

export function renderOverview(data) {
  const counts = ["critical", "alarm", "watch", "unknown", "ok"].map((level) => {
    const sample = { critical: "octagon", alarm: "diamond", watch: "triangle", unknown: "ring", ok: "circle" }[level];
    const label = { critical: "CRITICAL", alarm: "ALARM", watch: "WATCH", unknown: "NO DATA", ok: "OK" }[level];
    return h(
      "div",
      { class: `count lvl-${level}` },
      shapeIcon(sample, level, 34),
      h("span", { class: "count-n", text: String(data.counts[level] ?? 0) }),
      h("span", { class: "count-label", text: label }),
    );
  });
  const lines = data.lines.map((line) =>
    h(
      "section",
      { class: "line", dataset: { line: line.line_id } },
      h(
        "header",
        { class: "line-head" },
        h("h2", { text: `LINE ${line.line_id}` }),
        badge(line.health),
        line.defect_rate !== null && line.defect_rate !== undefined
          ? h("span", { class: "line-defects", text: `defects ${percent(line.defect_rate, 1)}` })
          : null,
      ),
      h("div", { class: "tiles" }, line.machines.map(tile)),
    ),
  );
  return h(
    "div",
    { class: "overview" },
    h("div", { class: "counts", "aria-label": "machines per status" }, counts),
    lines.length ? h("div", { class: "lines" }, lines) : emptyNote("No machines have reported yet."),
  );
}

// ----------------------------------------------------------------------------- alerts

function actionBar(alert, ctx) {
  if (!ctx.canAct) {
    return h("div", { class: "actions view-only", text: "View only — operators acknowledge" });
  }
  const allowed = new Set(alert.actions);
  const bar = h("div", { class: "actions" });
  const run = (action, extra) => async (event) => {
    event.preventDefault();
    await ctx.act(alert, action, extra ? extra() : {});
  };
  if (allowed.has("ack")) bar.append(h("button", { class: "btn primary", dataset: { action: "ack" }, onclick: run("ack") }, "✔ ACKNOWLEDGE"));
  if (allowed.has("unshelve")) bar.append(h("button", { class: "btn", dataset: { action: "unshelve" }, onclick: run("unshelve") }, "UNSHELVE"));
  if (allowed.has("shelve")) {
    const select = h(
      "select",
      { class: "shelve-for", "aria-label": "shelve for" },
      SHELVE_CHOICES.map(([min, label]) => h("option", { value: String(min), text: label })),
    );
    bar.append(
      h(
        "span",
        { class: "shelve" },
        h("button", { class: "btn", dataset: { action: "shelve" }, onclick: run("shelve", () => ({ shelve_minutes: Number(select.value) })) }, "SHELVE"),
        select,
      ),
    );
  }
  if (allowed.has("clear")) bar.append(h("button", { class: "btn danger", dataset: { action: "clear" }, onclick: run("clear") }, "CLEAR"));
  if (allowed.has("note")) {
    const input = h("input", { class: "note-text", type: "text", maxlength: "500", placeholder: "note for the next shift", "aria-label": "note" });
    const form = h(
      "form",
      {
        class: "note",
        onsubmit: async (event) => {
          event.preventDefault();
          if (!input.value.trim()) return;
          await ctx.act(alert, "note", { note: input.value });
          input.value = "";
        },
      },
      input,
      h("button", { class: "btn", type: "submit", dataset: { action: "note" } }, "ADD NOTE"),
    );
    bar.append(form);
  }
  return bar;
}

function historyList(history) {
  return h(
    "ol",
    { class: "history" },
    history.map((e) =>
      h(
        "li",
        {},
        h("span", { class: "when", text: dateTimeText(e.at_ms) }),
        h("span", { class: "what", text: e.action.toUpperCase() }),
        h("span", { class: "who", text: e.who }),
        e.note ? h("span", { class: "note-text-out", text: `“${e.note}”` }) : null,
        e.until_ms ? h("span", { class: "until", text: `until ${clockText(e.until_ms)}` }) : null,
      ),
    ),
  );
}

export function alertCard(alert, ctx) {
  const subject =
    alert.machine_id !== null && alert.machine_id !== undefined
      ? h("a", { href: `#/machine/${encodeURIComponent(alert.machine_id)}`, text: alert.subject })
      : h("span", { text: alert.subject });
  const details = h(
    "details",
    { class: "alert-history" },
    h("summary", { text: `History (${alert.history.length})` }),
    historyList(alert.history),
  );
  return h(
    "article",
    { class: `alert sev-${alert.severity} st-${alert.state}`, dataset: { alertId: alert.alert_id, state: alert.state } },
    h(
      "div",
      { class: "alert-head" },
      severityBadge(alert.severity),
      h("h3", { class: "alert-title", text: alert.title }),
      stateBadge(alert.state),
    ),
    h("p", { class: "alert-message", text: alert.message }),
    h(
      "div",
      { class: "alert-facts" },
      h("span", {}, "on ", subject),
      h("span", {}, "since ", age(alert.episode_start_ms, "")),
      h("span", { class: "count-x", text: `× ${alert.count}` }),
      alert.shelved_until_ms ? h("span", { text: `shelved until ${clockText(alert.shelved_until_ms)}` }) : null,
    ),
    actionBar(alert, ctx),
    details,
  );
}

export function renderAlerts(alerts, ctx) {
  const sorted = sortAlerts(alerts);
  const bySeverity = { critical: 0, warning: 0, info: 0 };
  for (const a of sorted) bySeverity[a.severity] += 1;
  return h(
    "div",
    { class: "alerts-view" },
    h(
      "div",
      { class: "counts" },
      ["critical", "warning", "info"].map((sev) =>
        h("div", { class: "count" }, severityBadge(sev), h("span", { class: "count-n", text: String(bySeverity[sev]) })),
      ),
    ),
    sorted.length ? h("div", { class: "alert-list" }, sorted.map((a) => alertCard(a, ctx))) : emptyNote("No open alerts."),
  );
}

export function renderHistory(data, ctx) {
  const rows = data.alerts.map((a) => {
    const lastHuman = [...a.history].reverse().find((e) => e.who !== "system");
    return h(
      "tr",
      { dataset: { alertId: a.alert_id }, class: `sev-${a.severity}` },
      h("td", {}, severityBadge(a.severity)),
      h("td", {}, h("button", { class: "link", onclick: () => ctx.showRevisions(a.alert_id), text: a.title })),
      h("td", {}, stateBadge(a.state)),
      h("td", { text: dateTimeText(a.episode_start_ms) }),
      h("td", { text: a.cleared_ms ? dateTimeText(a.cleared_ms) : "open" }),
      h("td", { text: String(a.count) }),
      h("td", { text: lastHuman ? `${lastHuman.action} · ${lastHuman.who} · ${clockText(lastHuman.at_ms)}` : "–" }),
    );
  });
  return h(
    "div",
    { class: "history-view" },
    h("div", { class: "revisions", id: "revisions" }),
    rows.length
      ? h(
          "table",
          { class: "table" },
          h("thead", {}, h("tr", {}, ["Severity", "Alert", "State", "Started", "Ended", "Count", "Last operator action"].map((t) => h("th", { text: t })))),
          h("tbody", {}, rows),
        )
      : emptyNote("No alerts recorded."),
  );
}

export function renderRevisions(data) {
  return section(
    `Audit trail · ${data.alert_id}`,
    h(
      "table",
      { class: "table compact" },
      h("thead", {}, h("tr", {}, ["Revision", "Updated", "State", "Severity", "Count", "Last entry"].map((t) => h("th", { text: t })))),
      h(
        "tbody",
        {},
        data.revisions.map((r) => {
          const last = r.history[r.history.length - 1];
          return h(
            "tr",
            {},
            h("td", { text: String(r.revision) }),
            h("td", { text: dateTimeText(r.updated_ms) }),
            h("td", {}, stateBadge(r.state)),
            h("td", { text: r.severity.toUpperCase() }),
            h("td", { text: String(r.count) }),
            h("td", { text: last ? `${last.action} by ${last.who}${last.note ? `: ${last.note}` : ""}` : "" }),
          );
        }),
      ),
    ),
  );
}

// ----------------------------------------------------------------------------- machine

export function renderMachine(data, ctx) {
  const t = data.tile;
  const end = t.updated_ms ?? data.now_ms;
  const start = end - data.window_ms;
  const p = data.prediction;
  const hlines = [
    { y: p.enter, label: `ALARM ≥ ${p.enter.toFixed(2)}`, cls: "alarm" },
    { y: p.exit, label: `CLEARS < ${p.exit.toFixed(2)}`, cls: "watch" },
  ];
  if (p.critical !== null && p.critical !== undefined) hlines.push({ y: p.critical, label: `CRITICAL ≥ ${p.critical.toFixed(2)}`, cls: "critical" });
  const predictionChart = lineChart({
    title: "fault probability",
    height: 300,
    xStart: start,
    xEnd: end,
    yMin: 0,
    yMax: 1,
    series: [{ points: p.points, cls: "prob" }],
    hlines,
    markers: p.fault_types.slice(1).map(([x, label]) => ({ x, label: `→ ${words(label) || "normal"}` })),
    yFormat: (v) => v.toFixed(1),
  });
  const rulChart = p.rul.length
    ? lineChart({
        title: "remaining useful life",
        height: 200,
        xStart: start,
        xEnd: end,
        yMin: 0,
        series: [{ points: p.rul.map(([x, v]) => [x, v / 3600]), cls: "rul" }],
        yFormat: (v) => `${v.toFixed(1)} h`,
      })
    : null;
  const trends = data.trends.map((tr) => {
    const lim = tr.limits;
    const lines = [];
    if (lim) {
      if (lim.high !== null) lines.push({ y: lim.high, label: `HIGH ${number(lim.high, lim.unit)}`, cls: "alarm" });
      if (lim.low !== null) lines.push({ y: lim.low, label: `LOW ${number(lim.low, lim.unit)}`, cls: "alarm" });
      if (lim.critical_high !== null) lines.push({ y: lim.critical_high, label: `CRITICAL ${number(lim.critical_high, lim.unit)}`, cls: "critical" });
    }
    const lastValue = tr.points.length ? tr.points[tr.points.length - 1][1] : null;
    return h(
      "figure",
      { class: "trend" },
      h("figcaption", {}, h("span", { text: tr.metric }), h("b", { text: number(lastValue, tr.unit) })),
      lineChart({ title: tr.metric, height: 200, xStart: start, xEnd: end, series: [{ points: tr.points, cls: "sensor" }], hlines: lines }),
    );
  });
  return h(
    "div",
    { class: "machine-view" },
    h(
      "header",
      { class: `machine-head lvl-${t.health.level}` },
      h("h1", { text: t.machine_id }),
      badge(t.health, "big"),
      h(
        "dl",
        { class: "machine-facts" },
        h("dt", { text: "Failure risk" }),
        h("dd", { text: percent(t.probability) }),
        h("dt", { text: "Fault type" }),
        h("dd", { text: words(t.fault_type) || "none predicted" }),
        h("dt", { text: "Remaining life" }),
        h("dd", { text: t.rul_text || "–" }),
        h("dt", { text: "Line · node" }),
        h("dd", { text: `${t.line_id} · ${t.edge_node || "–"}` }),
        h("dt", { text: "Model" }),
        h("dd", { text: t.model ? `${t.model} ${t.model_version}` : t.model_version || "–" }),
        h("dt", { text: "Updated" }),
        h("dd", {}, t.updated_ms ? age(t.updated_ms) : "–"),
      ),
    ),
    section("Predicted fault probability (alert thresholds dashed)", predictionChart),
    rulChart ? section("Remaining useful life (hours)", rulChart) : null,
    data.alerts.length ? section("Alerts", h("div", { class: "alert-list" }, data.alerts.map((a) => alertCard(a, ctx)))) : null,
    section("Sensors", trends.length ? h("div", { class: "trends" }, trends) : emptyNote("No sensor data in this window.")),
  );
}

// ----------------------------------------------------------------------------- defects

function frameCard(f) {
  const boxes = f.boxes.map((b) => {
    const el = h("div", { class: `box ${b.defect ? "defect" : "good"}` }, h("span", { text: `${b.label} ${Math.round(b.score * 100)}%` }));
    el.style.left = `${b.x * 100}%`;
    el.style.top = `${b.y * 100}%`;
    el.style.width = `${b.w * 100}%`;
    el.style.height = `${b.h * 100}%`;
    return el;
  });
  const picture = h(
    "div",
    { class: "crop" },
    f.image_url ? h("img", { src: f.image_url, alt: `frame ${f.frame_id}`, loading: "lazy" }) : h("div", { class: "no-image", text: "no crop sent" }),
    boxes,
  );
  if (f.width && f.height) picture.style.aspectRatio = `${f.width} / ${f.height}`;
  return h(
    "figure",
    { class: `frame ${f.defective ? "is-defect" : ""}`, dataset: { frame: f.frame_id } },
    picture,
    h(
      "figcaption",
      {},
      h("b", { text: f.defective ? "✕ DEFECT" : "✔ OK" }),
      h("span", { text: `${f.line_id} · ${f.camera_id}` }),
      age(f.ts_ms),
    ),
  );
}

export function renderDefects(data) {
  const lines = data.lines.map((line) =>
    h(
      "div",
      { class: `defect-line lvl-${line.health.level}` },
      h("div", { class: "defect-rate" }, h("span", { class: "rate", text: percent(line.rate, 1) }), h("span", { text: `LINE ${line.line_id}` })),
      badge(line.health),
      h("span", { class: "small", text: `${line.defective} of ${line.inspected} frames` }),
      h(
        "ul",
        { class: "cams" },
        line.cameras.map((c) => h("li", { text: `${c.camera_id}: ${percent(c.rate, 1)} · ${c.fps.toFixed(1)} fps · detector ${c.model_version || "–"}` })),
      ),
    ),
  );
  return h(
    "div",
    { class: "defects-view" },
    section(
      `Defect rate per line (last ${Math.round(data.window_ms / 60000)} min; alarm at ${percent(data.enter_rate)})`,
      lines.length ? h("div", { class: "defect-lines" }, lines) : emptyNote("No inspections stored yet."),
    ),
    section("Latest detections", data.frames.length ? h("div", { class: "frames", id: "frames" }, data.frames.map(frameCard)) : h("div", { class: "frames", id: "frames" }, emptyNote("No frames received since the server started."))),
  );
}

export function prependFrame(container, frame) {
  const note = container.querySelector(".empty-note");
  if (note) note.remove();
  container.prepend(frameCard(frame));
  while (container.children.length > 48) container.lastElementChild.remove();
}

// ----------------------------------------------------------------------------- fleet

export function renderFleet(data) {
  const rows = data.nodes.map((n) =>
    h(
      "tr",
      { dataset: { node: n.edge_node }, class: `lvl-${n.health.level}` },
      h("td", {}, badge(n.health)),
      h("td", {}, h("b", { text: n.edge_node }), h("div", { class: "small", text: n.group })),
      h("td", {}, n.last_seen_ms ? age(n.last_seen_ms) : "–"),
      h("td", {}, Object.entries(n.models).map(([name, version]) => h("div", { text: `${name} ${version}` })), Object.keys(n.models).length ? null : "–"),
      h("td", { text: n.fps === null ? "–" : `${n.fps.toFixed(1)} fps` }),
      h("td", { class: n.outbox_depth ? "warn-num" : "", text: n.outbox_depth === null ? "–" : `${number(n.outbox_depth)} msgs` }),
      h("td", { text: [...n.machines, ...n.cameras].join(", ") || "–" }),
    ),
  );
  return h(
    "div",
    { class: "fleet-view" },
    h(
      "div",
      { class: "counts" },
      [
        ["online", "circle", "ok"],
        ["stale", "diamond", "alarm"],
        ["offline", "octagon", "critical"],
      ].map(([status, shape, level]) =>
        h("div", { class: `count lvl-${level}` }, shapeIcon(shape, level, 34), h("span", { class: "count-n", text: String(data.counts[status] ?? 0) }), h("span", { class: "count-label", text: status.toUpperCase() })),
      ),
    ),
    rows.length
      ? h(
          "table",
          { class: "table" },
          h("thead", {}, h("tr", {}, ["Status", "Edge node", "Last seen", "Models", "Frame rate", "Outbox", "Machines and cameras"].map((t) => h("th", { text: t })))),
          h("tbody", {}, rows),
        )
      : emptyNote("No edge nodes have reported yet."),
    h("p", { class: "small", text: `Stale after ${Math.round(data.stale_after_ms / 1000)} s without data (event time).` }),
  );
}
