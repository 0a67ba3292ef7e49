// lux-logger dashboard: plain browser JavaScript, no build step. Reads the JSON API
// (documented in README.md) and draws with uPlot. Every text from the server goes
// through textContent, never innerHTML.
"use strict";

const REFRESH_MS = 10_000;
const RANGES_MS = {
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
  "365d": 365 * 86_400_000,
};
const DEFAULT_FIELD = "calculations.ID_WEB_Temperatur_TVL";
const CHART_HEIGHT_PX = 320;

const $ = (selector) => document.querySelector(selector);

/** Builds an element; children are nodes or strings (set as text). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path) {
  const response = await fetch(path, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ?? response.statusText);
  return body;
}

function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function formatAge(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** `datetime-local` value (browser's zone) from epoch ms, and back. */
function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
}

function fromLocalInput(value) {
  return value ? new Date(value).getTime() : NaN;
}

/** The hash is `#view?key=value&…`, so a chart or a tab can be bookmarked. */
function readHash() {
  const [view, query] = location.hash.slice(1).split("?");
  return { view: view || "now", params: new URLSearchParams(query ?? "") };
}

function writeHash(view, params) {
  const query = params ? `?${params}` : "";
  history.replaceState(null, "", `#${view}${query}`);
}

// ---------- Now ----------

let current = null;

function renderErrors(tbody, errors) {
  tbody.replaceChildren(
    ...(errors.length === 0
      ? [el("tr", {}, el("td", { colspan: "3", class: "muted" }, "No stored errors."))]
      : errors.map((e) =>
        el("tr", {}, el("td", {}, String(e.slot)), el("td", {}, e.time), el("td", {}, e.code))
      )),
  );
}

function renderFields() {
  const query = $("#field-search").value.trim().toLowerCase();
  const rows = (current?.fields ?? [])
    .filter((f) =>
      !query || `${f.table} ${f.name} ${f.text} ${f.unit}`.toLowerCase().includes(query)
    )
    .map((f) =>
      el(
        "tr",
        { dataset: { field: f.id } },
        el("td", {}, f.table),
        el("td", {}, String(f.index)),
        el("td", {}, f.name),
        el("td", { class: "value" }, f.text),
        el("td", {}, f.unit),
      )
    );
  $("#fields tbody").replaceChildren(...rows);
}

async function loadNow() {
  current = await api("/api/current");
  if (current.ts === null) {
    $("#now-time").textContent = "No poll stored yet.";
  } else {
    $("#now-time").textContent = `Polled ${current.time} (${formatAge(current.ageSec)})`;
  }
  $("#headline").replaceChildren(
    ...current.headline.map((f) =>
      el(
        "div",
        { class: "card", dataset: { field: f.id } },
        el("div", { class: "label" }, f.label),
        el("div", { class: "value" }, f.text),
        el("div", { class: "label" }, `${f.unit} ${f.name}`.trim()),
      )
    ),
  );
  renderErrors($("#errors tbody"), current.errors);
  renderErrors($("#history-errors tbody"), current.errors);
  renderFields();
  const numeric = current.fields.filter((f) => f.numeric);
  $("#numeric-fields").replaceChildren(
    ...numeric.map((f) => el("option", { value: f.id }, f.name)),
  );
}

// ---------- Charts ----------

let chart = null;
/** Counts finished chart loads, so a test (or a curious user) can tell a new chart from the last. */
let chartLoads = 0;

function chartRange(params) {
  const range = params.get("range");
  if (range && RANGES_MS[range]) {
    const to = Date.now();
    return { from: to - RANGES_MS[range], to };
  }
  const from = Date.parse(params.get("from") ?? "");
  const to = Date.parse(params.get("to") ?? "");
  if (from < to) return { from, to };
  const now = Date.now();
  return { from: now - RANGES_MS["24h"], to: now };
}

async function loadChart(params) {
  const field = params.get("field") || $("#chart-field").value || DEFAULT_FIELD;
  const { from, to } = chartRange(params);
  $("#chart-field").value = field;
  $("#chart-from").value = toLocalInput(from);
  $("#chart-to").value = toLocalInput(to);
  const box = $("#chart");
  const width = Math.max(300, box.clientWidth || 800);
  const points = Math.min(2000, Math.round(width));
  box.dataset.state = "loading";
  $("#chart-info").textContent = "Loading…";
  let series;
  try {
    const query = new URLSearchParams({
      field,
      from: String(from),
      to: String(to),
      points: String(points),
    });
    series = await api(`/api/series?${query}`);
  } catch (error) {
    box.dataset.state = "error";
    box.dataset.loads = String(++chartLoads);
    $("#chart-info").textContent = error.message;
    chart?.destroy();
    chart = null;
    return;
  }
  const label = series.unit ? `${series.name} [${series.unit}]` : series.name;
  const data = [series.t.map((t) => t / 1000), series.min, series.avg, series.max];
  chart?.destroy();
  chart = new uPlot(
    {
      width,
      height: CHART_HEIGHT_PX,
      scales: { x: { time: true, range: [from / 1000, to / 1000] } },
      series: [
        {},
        { label: "min", stroke: "#2980b9", width: 1 },
        { label: label, stroke: "#c0392b", width: 2 },
        { label: "max", stroke: "#d35400", width: 1 },
      ],
      bands: [{ series: [3, 1], fill: "rgba(192, 57, 43, 0.12)" }],
      axes: [{}, { label: series.unit }],
    },
    data,
    box,
  );
  const values = [...series.min, ...series.max].filter((v) => v !== null);
  box.dataset.state = "ready";
  box.dataset.loads = String(++chartLoads);
  box.dataset.field = series.field;
  box.dataset.count = String(series.count);
  box.dataset.points = String(series.t.length);
  box.dataset.min = values.length ? String(Math.min(...values)) : "";
  box.dataset.max = values.length ? String(Math.max(...values)) : "";
  const bucket = series.bucketMs ? `, min/avg/max per ${Math.round(series.bucketMs / 1000)} s` : "";
  $("#chart-info").textContent = series.count === 0
    ? "No values in this range."
    : `${series.count} polls${bucket}.`;
}

function showChart(params) {
  writeHash("charts", params);
  loadChart(params);
}

// ---------- Files ----------

function renderFiles(tbody, files) {
  tbody.replaceChildren(
    ...(files.length === 0
      ? [el("tr", {}, el("td", { colspan: "3", class: "muted" }, "None yet."))]
      : files.map((f) =>
        el(
          "tr",
          { dataset: { file: f.name } },
          el("td", {}, el("a", { href: f.url, download: f.name }, f.name)),
          el("td", {}, formatBytes(f.bytes)),
          el("td", {}, f.modified === null ? "" : new Date(f.modified).toLocaleString()),
        )
      )),
  );
}

async function loadFiles() {
  const files = await api("/api/files");
  renderFiles($("#files-daily tbody"), files.daily);
  renderFiles($("#files-weekly tbody"), files.weekly);
}

// ---------- Gaps & errors ----------

async function loadGaps(range = "30d") {
  const to = Date.now();
  const { gaps } = await api(`/api/gaps?from=${to - RANGES_MS[range]}&to=${to}`);
  $("#gaps-info").textContent = `${gaps.length} gaps in the last ${
    range.replace("d", " days").replace("h", " h")
  }.`;
  $("#gaps tbody").replaceChildren(
    ...gaps.reverse().map((g) => el("tr", {}, el("td", {}, g.time), el("td", {}, g.reason))),
  );
}

// ---------- Health ----------

async function loadHealth() {
  const h = await api("/api/health");
  const status = $("#status");
  status.textContent = `${h.status}, last poll ${formatAge(h.lastPollAgeSec)}`;
  status.className = `badge ${h.status === "ok" ? "ok" : "stale"}`;
  const disk = h.disk
    ? `${h.disk.usedPercent} % used, ${formatBytes(h.disk.freeBytes)} free of ${
      formatBytes(h.disk.totalBytes)
    }`
    : "unknown";
  const rows = [
    ["Status", h.status],
    ["Last poll", h.lastPollTime ? `${h.lastPollTime} (${formatAge(h.lastPollAgeSec)})` : "never"],
    ["Poll interval", `${h.intervalSec} s`],
    ["Polls stored", String(h.pollsStored)],
    ["Gaps in the last 24 h", String(h.gapsLast24h)],
    ["Database", `${h.database.path} (${formatBytes(h.database.bytes)})`],
    ["Disk", disk],
    ["Time zone", h.timeZone],
    ["Roll-up folders", `${h.rollupDirs.daily}, ${h.rollupDirs.weekly}`],
  ];
  $("#health").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

// ---------- Navigation ----------

const LOADERS = {
  now: () => loadNow(),
  charts: (params) => loadChart(params),
  files: () => loadFiles(),
  history: () => Promise.all([loadGaps(), loadNow()]),
  health: () => loadHealth(),
};

function report(error) {
  const status = $("#status");
  status.textContent = error.message;
  status.className = "badge error";
}

function route() {
  const { view, params } = readHash();
  const name = LOADERS[view] ? view : "now";
  for (const section of document.querySelectorAll("[data-view]")) {
    section.hidden = section.dataset.view !== name;
  }
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.tab === name);
  }
  LOADERS[name](params).catch(report);
}

/** Header rows from `data-head="A|B|C"`, so the page's HTML lists each table's columns once. */
function addTableHeads() {
  for (const table of document.querySelectorAll("table[data-head]")) {
    const cells = table.dataset.head.split("|").map((label) => el("th", {}, label));
    table.prepend(el("thead", {}, el("tr", {}, ...cells)));
  }
}

function wire() {
  addTableHeads();
  $("#field-search").addEventListener("input", renderFields);
  for (const button of document.querySelectorAll("[data-range]")) {
    button.addEventListener("click", () => {
      showChart(
        new URLSearchParams({
          field: $("#chart-field").value || DEFAULT_FIELD,
          range: button.dataset.range,
        }),
      );
    });
  }
  $("#chart-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const from = fromLocalInput($("#chart-from").value);
    const to = fromLocalInput($("#chart-to").value);
    const params = new URLSearchParams({ field: $("#chart-field").value || DEFAULT_FIELD });
    if (from < to) {
      params.set("from", new Date(from).toISOString());
      params.set("to", new Date(to).toISOString());
    }
    showChart(params);
  });
  for (const button of document.querySelectorAll("[data-gaps]")) {
    button.addEventListener("click", () => loadGaps(button.dataset.gaps).catch(report));
  }
  addEventListener("hashchange", route);
  // Live values refresh on their own; charts and lists only when asked.
  setInterval(() => {
    const { view } = readHash();
    if (view === "now" || view === "") loadNow().catch(report);
    loadHealth().catch(report);
  }, REFRESH_MS);
}

wire();
route();
loadHealth().catch(report);
if (readHash().view !== "now") loadNow().catch(report);
