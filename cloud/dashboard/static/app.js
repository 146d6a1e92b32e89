// The page controller: session, router, one EventSource with resync on reconnect, critical banner, sound.
import { clear, h } from "./dom.js";
import { age, severityBadge, syncClock, tickAges } from "./status.js";
import * as views from "./views.js";

const ROUTES = ["overview", "alerts", "history", "machine", "defects", "fleet"];
const state = {
  session: null,
  alerts: new Map(), // open alerts by id
  dismissed: new Set(JSON.parse(sessionStorage.getItem("dismissed") || "[]")),
  announced: new Set(), // critical alert ids already beeped for
  route: { name: "overview", arg: "" },
  instance: null,
  source: null,
  everConnected: false,
  sound: localStorage.getItem("sound") === "on",
  audio: null,
  renderSeq: 0,
  refetchTimer: null,
};
const main = document.getElementById("main");

// ----------------------------------------------------------------------------- HTTP

class HttpError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    window.location.assign("/login");
    throw new HttpError(401, "not logged in");
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new HttpError(response.status, (body && body.detail) || response.statusText);
  if (body && typeof body.now_ms === "number") syncClock(body.now_ms);
  return body;
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.session.csrf_token },
    body: JSON.stringify(body),
  });
}

function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: "alert", text });
  box.append(el);
  setTimeout(() => el.remove(), 6000);
}

// ----------------------------------------------------------------------------- actions

async function act(alert, action, extra = {}) {
  try {
    await post(`/api/v1/alerts/${encodeURIComponent(alert.alert_id)}/actions`, { action, ...extra });
    toast(`${action.toUpperCase()} sent for ${alert.subject} — waiting for the pipeline`, "ok");
  } catch (err) {
    toast(`${action.toUpperCase()} refused: ${err.message}`, "error");
  }
}

const ctx = {
  get canAct() {
    return Boolean(state.session && state.session.permissions.includes("act"));
  },
  act,
  async showRevisions(alertId) {
    const box = document.getElementById("revisions");
    if (!box) return;
    const data = await api(`/api/v1/alerts/${encodeURIComponent(alertId)}`);
    clear(box).append(views.renderRevisions(data));
    box.scrollIntoView({ behavior: "smooth" });
  },
};

// ----------------------------------------------------------------------------- routing and rendering

function parseRoute() {
  const [name, ...rest] = window.location.hash.replace(/^#\/?/, "").split("/");
  return { name: ROUTES.includes(name) ? name : "overview", arg: decodeURIComponent(rest.join("/")) };
}

async function render() {
  const seq = ++state.renderSeq;
  const route = state.route;
  for (const link of document.querySelectorAll("nav a[data-route]")) {
    link.classList.toggle("current", link.dataset.route === route.name);
  }
  let view;
  try {
    if (route.name === "overview") view = views.renderOverview(await api("/api/v1/overview"));
    else if (route.name === "alerts") view = views.renderAlerts([...state.alerts.values()], ctx);
    else if (route.name === "history") view = views.renderHistory(await api("/api/v1/alerts?state=all"), ctx);
    else if (route.name === "machine") view = views.renderMachine(await api(`/api/v1/machines/${encodeURIComponent(route.arg)}`), ctx);
    else if (route.name === "defects") view = views.renderDefects(await api("/api/v1/defects"));
    else view = views.renderFleet(await api("/api/v1/fleet"));
  } catch (err) {
    if (err.status === 401) return;
    view = h("p", { class: "empty-note", text: `Cannot load this view: ${err.message}` });
  }
  if (seq !== state.renderSeq) return; // a newer render started meanwhile
  const open = new Set([...main.querySelectorAll("details[open]")].map((d) => d.closest("[data-alert-id]")?.dataset.alertId));
  const focused = document.activeElement && main.contains(document.activeElement) && document.activeElement.matches("input, select");
  if (focused && route.name === "alerts") return; // do not yank a half-typed note
  clear(main).append(view);
  for (const d of main.querySelectorAll("[data-alert-id] details")) {
    if (open.has(d.closest("[data-alert-id]").dataset.alertId)) d.open = true;
  }
  main.dataset.view = route.name;
}

function refetchSoon(delay = 400) {
  clearTimeout(state.refetchTimer);
  state.refetchTimer = setTimeout(render, delay);
}

// ----------------------------------------------------------------------------- alerts store, banner, sound

async function loadAlerts() {
  const data = await api("/api/v1/alerts?state=open");
  state.alerts = new Map(data.alerts.map((a) => [a.alert_id, a]));
  for (const a of data.alerts) if (isLoudCritical(a)) state.announced.add(a.alert_id);
  updateChrome();
}

function isLoudCritical(a) {
  return a.severity === "critical" && a.state === "active";
}

function onAlert(a) {
  if (a.state === "cleared") state.alerts.delete(a.alert_id);
  else state.alerts.set(a.alert_id, a);
  if (isLoudCritical(a) && !state.announced.has(a.alert_id)) {
    state.announced.add(a.alert_id);
    beep();
  }
  updateChrome();
  const route = state.route.name;
  if (route === "alerts") render();
  else if (route === "history") refetchSoon();
  else if (route === "machine" && a.machine_id === state.route.arg) refetchSoon();
  else if (route === "overview") refetchSoon(800);
}

function updateChrome() {
  const open = [...state.alerts.values()];
  const active = open.filter((a) => a.state === "active");
  const badgeEl = document.getElementById("alert-count");
  badgeEl.textContent = String(active.length);
  badgeEl.classList.toggle("has-critical", active.some((a) => a.severity === "critical"));
  const loud = views.sortAlerts(open.filter((a) => isLoudCritical(a) && !state.dismissed.has(a.alert_id)));
  const banner = document.getElementById("critical-banner");
  clear(banner);
  if (!loud.length) {
    banner.hidden = true;
    document.title = "Plant floor";
    return;
  }
  const top = loud[0];
  document.title = `(${loud.length} CRITICAL) Plant floor`;
  banner.hidden = false;
  banner.dataset.alertId = top.alert_id;
  banner.append(
    severityBadge("critical"),
    h(
      "div",
      { class: "banner-text" },
      h("strong", { text: top.title }),
      h("span", { text: top.message }),
      h("span", { class: "banner-age" }, "since ", age(top.episode_start_ms, ""), loud.length > 1 ? ` · +${loud.length - 1} more critical` : ""),
    ),
    h(
      "div",
      { class: "banner-actions" },
      ctx.canAct ? h("button", { class: "btn primary", dataset: { action: "ack" }, onclick: () => act(top, "ack") }, "✔ ACKNOWLEDGE") : null,
      h(
        "button",
        {
          class: "btn",
          dataset: { action: "dismiss" },
          onclick: () => {
            state.dismissed.add(top.alert_id);
            sessionStorage.setItem("dismissed", JSON.stringify([...state.dismissed]));
            updateChrome();
          },
        },
        "DISMISS HERE",
      ),
      h("a", { class: "btn", href: "#/alerts" }, "ALL ALERTS"),
    ),
  );
}

function beep() {
  if (!state.sound) return;
  try {
    state.audio = state.audio || new AudioContext();
    state.audio.resume();
    const t0 = state.audio.currentTime;
    [880, 660, 880].forEach((freq, i) => {
      const osc = state.audio.createOscillator();
      const gain = state.audio.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + i * 0.3);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + i * 0.3 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.3 + 0.25);
      osc.connect(gain).connect(state.audio.destination);
      osc.start(t0 + i * 0.3);
      osc.stop(t0 + i * 0.3 + 0.28);
    });
  } catch (err) {
    console.warn("sound unavailable", err);
  }
}

function renderSoundToggle() {
  const button = document.getElementById("sound");
  button.textContent = state.sound ? "♪ SOUND ON" : "♪ SOUND OFF";
  button.setAttribute("aria-pressed", String(state.sound));
}

// ----------------------------------------------------------------------------- live connection

function setLink(status, text) {
  const el = document.getElementById("link");
  el.dataset.status = status;
  el.querySelector(".link-text").textContent = text;
}

function connect() {
  if (state.source) state.source.close();
  const source = new EventSource("/api/v1/events");
  state.source = source;
  source.addEventListener("hello", (e) => {
    const hello = JSON.parse(e.data);
    syncClock(hello.server_ms);
    const restarted = state.instance !== null && state.instance !== hello.instance;
    const resync = state.everConnected; // any reconnect: what we missed is not replayed
    state.instance = hello.instance;
    state.everConnected = true;
    setLink("live", "LIVE");
    if (resync || restarted) {
      loadAlerts().then(render).catch(() => {});
    }
  });
  source.addEventListener("alert", (e) => onAlert(JSON.parse(e.data)));
  source.addEventListener("overview", (e) => {
    const data = JSON.parse(e.data);
    syncClock(data.now_ms);
    if (state.route.name === "overview") clear(main).append(views.renderOverview(data));
  });
  source.addEventListener("fleet", (e) => {
    if (state.route.name === "fleet") clear(main).append(views.renderFleet(JSON.parse(e.data)));
  });
  source.addEventListener("defects", (e) => {
    // defect rates per line, recomputed from storage on the server's timer
    if (state.route.name === "defects") clear(main).append(views.renderDefects(JSON.parse(e.data)));
  });
  source.addEventListener("frame", (e) => {
    const frames = document.getElementById("frames");
    if (state.route.name === "defects" && frames) views.prependFrame(frames, JSON.parse(e.data));
  });
  source.addEventListener("link", (e) => {
    const link = JSON.parse(e.data);
    if (!link.connected) setLink("degraded", "PIPELINE LINK DOWN");
    else setLink("live", "LIVE");
  });
  source.onerror = () => {
    setLink("reconnecting", "RECONNECTING…");
    if (source.readyState === EventSource.CLOSED) {
      // the server answered but refused the stream (restart in progress, or session gone)
      setTimeout(checkAndReconnect, 2000);
    }
  };
}

async function checkAndReconnect() {
  try {
    const response = await fetch("/api/v1/session", { credentials: "same-origin" });
    if (response.status === 401) {
      window.location.assign("/login");
      return;
    }
    if (!response.ok) throw new Error(String(response.status));
    connect();
  } catch {
    setTimeout(checkAndReconnect, 3000);
  }
}

// ----------------------------------------------------------------------------- start

async function start() {
  state.session = await api("/api/v1/session");
  document.getElementById("user").textContent = `${state.session.user} · ${state.session.role.toUpperCase()}`;
  document.body.dataset.role = state.session.role;
  document.getElementById("logout").addEventListener("click", async () => {
    await post("/api/v1/logout", {}).catch(() => {});
    window.location.assign("/login");
  });
  document.getElementById("sound").addEventListener("click", () => {
    state.sound = !state.sound;
    localStorage.setItem("sound", state.sound ? "on" : "off");
    renderSoundToggle();
    if (state.sound) beep(); // the click is the gesture that lets the page play sound
  });
  renderSoundToggle();
  window.addEventListener("hashchange", () => {
    state.route = parseRoute();
    render();
  });
  state.route = parseRoute();
  await loadAlerts();
  await render();
  connect();
  setInterval(() => tickAges(), 1000);
  setInterval(() => {
    if (!document.getElementById("critical-banner").hidden) beep(); // reminder until acknowledged
  }, 15000);
}

start().catch((err) => {
  if (err.status !== 401) toast(`Dashboard failed to start: ${err.message}`, "error");
});
