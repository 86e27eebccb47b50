// videomatte-hq web UI: plain ES module, no build step (README "Web UI" says why).
// Every API call carries this launch's token in a header; <img> previews carry it as ?token=.
const query = new URLSearchParams(location.search);
const token = query.get("token") || sessionStorage.getItem("vmhq-token") || "";
if (query.get("token")) {
  sessionStorage.setItem("vmhq-token", token);  // per tab; never a cookie another site could ride
  history.replaceState(null, "", location.pathname + location.hash);
}
const $ = (id) => document.getElementById(id);
const BANDS = ["narrow", "default", "wider", "maximum"];
const PREVIEWS = { plate: "plate", alpha: "alpha", trimap: "trimap (grey = unknown band)", checker: "alpha over checkerboard", color: "alpha over colour" };
let info = null;

class ApiError extends Error {
  constructor(body) { super(body.message || "request failed"); this.hint = body.hint || ""; }
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    method: options.method || "GET",
    headers: { "X-VMHQ-Token": token, ...(options.body ? { "Content-Type": "application/json" } : {}) },
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  if (!response.ok) {
    let body = { message: `${response.status} ${response.statusText}` };
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    throw new ApiError(body);
  }
  return (response.headers.get("content-type") || "").includes("json") ? response.json() : response;
}

function showError(box, error) {
  box.hidden = !error;
  box.replaceChildren();
  if (!error) return;
  box.append(error.message);
  if (error.hint) {
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = "Fix: " + error.hint;
    box.append(hint);
  }
}

function fill(select, values, labels = {}) {
  select.replaceChildren(...values.map((v) => new Option(labels[v] || v, v)));
}

// --- pages ----------------------------------------------------------------------------------------------
const pages = { run: null, jobs: refreshJobs, qc: openQc, settings: openSettings };
function route() {
  const [name, arg] = (location.hash.slice(1) || "run").split("/");
  for (const page of Object.keys(pages)) {
    $("page-" + page).hidden = page !== name;
    $("nav-" + page).classList.toggle("active", page === name);
  }
  if (pages[name]) pages[name](arg);
}

// --- Browse dialog --------------------------------------------------------------------------------------
let browsing = null;
function browse(title, mode, startPath) {
  return new Promise((resolve) => {
    browsing = { mode, resolve };
    $("browser-title").textContent = title;
    $("browser-choose").hidden = mode !== "dir";
    $("browser").hidden = false;
    openFolder(startPath || null);
  });
}
function closeBrowser(value) {
  $("browser").hidden = true;
  if (browsing) browsing.resolve(value);
  browsing = null;
}
async function openFolder(path) {
  let listing;
  try {
    listing = await api("/api/browse" + (path ? "?path=" + encodeURIComponent(path) : ""));
  } catch (e) {
    listing = await api("/api/browse");  // a stale start path: back to the roots
  }
  $("browser-path").textContent = listing.path || "(roots)";
  $("browser-up").disabled = !listing.path;
  $("browser-up").onclick = () => openFolder(listing.parent);
  $("browser-choose").disabled = !listing.path;
  $("browser-choose").onclick = () => closeBrowser(listing.path);
  $("browser-list").replaceChildren(...listing.entries.map((entry) => {
    const li = document.createElement("li");
    li.className = entry.kind;
    li.dataset.path = entry.path;
    li.dataset.kind = entry.kind;
    li.textContent = entry.name + (entry.kind === "sequence" ? `  [${entry.frames[0]}-${entry.frames[1]}, ${entry.count} files]` : "");
    if (entry.kind === "dir") li.onclick = () => openFolder(entry.path);
    else if (browsing.mode === "dir") li.classList.add("disabled");
    else li.onclick = () => closeBrowser(entry.path);
    return li;
  }));
}
function folderOf(path) { return path ? path.replace(/[\\/][^\\/]*$/, "") : null; }
function browseInto(button, field, title, mode) {
  $(button).onclick = async () => {
    const chosen = await browse(title, mode, mode === "dir" ? $(field).value : folderOf($(field).value));
    if (chosen) $(field).value = chosen;
  };
}

// --- Run ------------------------------------------------------------------------------------------------
function numberOrNull(id) { const v = $(id).value.trim(); return v === "" ? null : Number(v); }
function textOrNull(id) { const v = $(id).value.trim(); return v === "" ? null : v; }
function setBand(index) {
  const name = BANDS[index], preset = info.band_presets[name];
  $("band-name").textContent = name;
  $("fg-threshold").value = preset.fg;
  $("bg-threshold").value = preset.bg;
}
function runParams() {
  const band = BANDS[$("band").value], preset = info.band_presets[band];
  const fg = numberOrNull("fg-threshold"), bg = numberOrNull("bg-threshold");
  const anchor = $("anchor-auto").checked ? "auto" : "file";
  return {
    input: $("input").value.trim(), output_dir: $("output-dir").value.trim(),
    frame_start: numberOrNull("frame-start"), frame_end: numberOrNull("frame-end"),
    anchor, anchor_mask: anchor === "file" ? textOrNull("anchor-mask") : null,
    anchor_frame: anchor === "file" ? numberOrNull("anchor-frame") : null,
    auto_anchor_method: anchor === "auto" ? $("auto-anchor-method").value : null,
    trimap_band: band,
    trimap_fg_threshold: fg !== null && fg !== preset.fg ? fg : null,  // exact values only where they differ
    trimap_bg_threshold: bg !== null && bg !== preset.bg ? bg : null,
    segment_backend: $("segment-backend").value, refine_backend: $("refine-backend").value,
    device: $("device").value, precision: $("precision").value, alpha_format: $("alpha-format").value,
    allow_external_paths: $("allow-external").checked, mematte_checkpoint: textOrNull("mematte-checkpoint"),
    foreground: $("foreground").checked, matte_exr: $("matte-exr").checked, overwrite: $("overwrite").checked,
  };
}
function loadIntoRun(params) {
  // The Run page filled with a job's settings (e.g. a wider band after "did not execute on any tiles").
  const fields = { input: "input", output_dir: "output-dir", frame_start: "frame-start", frame_end: "frame-end",
    anchor_mask: "anchor-mask", anchor_frame: "anchor-frame", segment_backend: "segment-backend",
    refine_backend: "refine-backend", device: "device", precision: "precision", alpha_format: "alpha-format",
    mematte_checkpoint: "mematte-checkpoint" };
  for (const [key, id] of Object.entries(fields)) if (params[key] !== null && params[key] !== undefined) $(id).value = params[key];
  $(params.anchor === "auto" ? "anchor-auto" : "anchor-file").click();
  $("band").value = BANDS.indexOf(params.trimap_band);
  setBand($("band").value);
  if (params.trimap_fg_threshold !== null) $("fg-threshold").value = params.trimap_fg_threshold;
  if (params.trimap_bg_threshold !== null) $("bg-threshold").value = params.trimap_bg_threshold;
  $("allow-external").checked = params.allow_external_paths;
  $("foreground").checked = Boolean(params.foreground);
  $("matte-exr").checked = Boolean(params.matte_exr);
  $("overwrite").checked = true;  // the rerun replaces what the earlier one wrote
  location.hash = "#run";
}
async function start(event) {
  event.preventDefault();
  showError($("run-error"), null);
  $("start").disabled = true;
  try {
    const job = await api("/api/jobs", { method: "POST", body: runParams() });
    location.hash = "#jobs/" + job.id;
  } catch (e) {
    showError($("run-error"), e);
  } finally {
    $("start").disabled = false;
  }
}
async function autoAnchorPreview() {
  const image = $("auto-anchor-image"), message = $("auto-anchor-message");
  message.textContent = "detecting…";
  image.hidden = true;
  try {
    const response = await api("/api/auto-anchor-preview", { method: "POST", body: { ...runParams(), anchor: "auto" } });
    const frame = response.headers.get("X-Anchor-Frame"), method = response.headers.get("X-Anchor-Method");
    image.src = URL.createObjectURL(await response.blob());
    image.hidden = false;
    message.textContent = `frame ${frame} (${method}): the run starts from this mask`;
  } catch (e) {
    message.textContent = e.message + (e.hint ? " — Fix: " + e.hint : "");
  }
}
function initRun() {
  fill($("segment-backend"), info.segment_backends);
  fill($("refine-backend"), info.refine_backends);
  fill($("alpha-format"), info.alpha_formats);
  fill($("device"), info.devices);
  fill($("precision"), info.precisions);
  $("segment-backend").value = "sam2";
  $("refine-backend").value = "mematte";
  $("device").value = info.settings.device;
  $("precision").value = info.settings.precision;
  if (info.settings.output_root) $("output-dir").value = info.settings.output_root;
  setBand(1);
  $("band").oninput = () => setBand($("band").value);
  for (const radio of ["anchor-file", "anchor-auto"]) {
    $(radio).onchange = () => {
      $("anchor-file-fields").hidden = $("anchor-auto").checked;
      $("anchor-auto-fields").hidden = !$("anchor-auto").checked;
    };
  }
  browseInto("browse-input", "input", "Choose the plate (sequence or video)", "file");
  browseInto("browse-output", "output-dir", "Choose the output folder", "dir");
  browseInto("browse-anchor", "anchor-mask", "Choose the anchor mask", "file");
  browseInto("browse-checkpoint", "mematte-checkpoint", "Choose the MEMatte checkpoint", "file");
  browseInto("browse-output-root", "set-output-root", "Choose the default output root", "dir");
  $("auto-anchor-preview").onclick = autoAnchorPreview;
  $("run-form").onsubmit = start;
}

// --- Jobs -----------------------------------------------------------------------------------------------
function eta(job) {
  if (job.state !== "running" || !job.progress || !job.started) return "";
  const seconds = (Date.now() / 1000 - job.started) * (1 - job.progress) / job.progress;
  return seconds < 60 ? `${Math.round(seconds)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}
function button(label, cls, onclick) {
  const b = document.createElement("button");
  b.textContent = label;
  b.className = cls;
  b.onclick = onclick;
  return b;
}
async function showLog(id) {
  $("job-log-box").hidden = false;
  $("job-log-id").textContent = id;
  $("job-log").textContent = (await api(`/api/jobs/${id}/log`)).log;
}
async function jobAction(id, action) {
  try { await api(`/api/jobs/${id}/${action}`, { method: "POST" }); } catch (e) { alert(e.message); }
  refreshJobs();
}
function jobRow(job) {
  const tr = document.createElement("tr");
  tr.dataset.job = job.id;
  tr.dataset.state = job.state;
  const cells = [job.id, job.params.input.split(/[\\/]/).pop(), job.state, job.stage,
    job.total ? `${job.done}/${job.total}` : "", null, eta(job), null];
  for (const [i, value] of cells.entries()) {
    const td = document.createElement("td");
    td.className = ["id", "shot", "state state-" + job.state, "stage", "frames", "progress", "eta", "actions"][i];
    if (i === 5) {
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = job.progress;
      td.append(bar, ` ${Math.round(job.progress * 100)}%`);
    } else if (i === 7) {
      if (job.state === "running" || job.state === "queued") td.append(button("Cancel", "cancel", () => jobAction(job.id, "cancel")));
      if (["failed", "cancelled", "interrupted"].includes(job.state)) td.append(button("Resume", "resume", () => jobAction(job.id, "resume")));
      td.append(button("QC", "qc", () => { location.hash = "#qc/" + job.id; }), button("Log", "log", () => showLog(job.id)),
        button("Edit & rerun", "rerun", () => loadIntoRun(job.params)));
    } else {
      td.textContent = value ?? "";
    }
    tr.append(td);
  }
  const rows = [tr];
  if (job.error && job.state !== "running" && job.state !== "queued") {
    const errorRow = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 8;
    const box = document.createElement("div");
    box.className = "error job-error";
    showError(box, job.error);
    td.append(box);
    errorRow.append(td);
    rows.push(errorRow);
  }
  return rows;
}
let jobsTimer = null;
async function refreshJobs() {
  clearTimeout(jobsTimer);
  if ($("page-jobs").hidden) return;
  try {
    const jobs = await api("/api/jobs");
    $("jobs-table").tBodies[0].replaceChildren(...jobs.flatMap(jobRow));
  } catch (e) {
    showError($("fatal"), e);
  }
  jobsTimer = setTimeout(refreshJobs, 1000);  // live progress while the page is shown
}

// --- QC -------------------------------------------------------------------------------------------------
let qcFrames = [], qcTimer = null;
async function openQc(jobId) {
  const jobs = await api("/api/jobs");
  fill($("qc-job"), jobs.map((j) => String(j.id)), Object.fromEntries(jobs.map((j) => [String(j.id), `#${j.id} ${j.params.input.split(/[\\/]/).pop()} (${j.state})`])));
  if (jobId) $("qc-job").value = jobId;
  await loadQcFrames();
}
async function loadQcFrames() {
  clearTimeout(qcTimer);
  const id = $("qc-job").value;
  if (!id) { $("qc-message").textContent = "no jobs yet"; return; }
  const frames = await api(`/api/jobs/${id}/frames`);
  qcFrames = frames.alpha.length ? frames.alpha : frames.trimap;
  const slider = $("qc-frame"), keep = qcFrames[slider.value];
  slider.max = Math.max(qcFrames.length - 1, 0);
  if (keep === undefined) slider.value = 0;
  $("qc-message").textContent = qcFrames.length ? `${qcFrames.length} frames on disk` : "no frames written yet";
  showQc();
  const job = await api(`/api/jobs/${id}`);
  if ((job.state === "running" || job.state === "queued") && !$("page-qc").hidden) qcTimer = setTimeout(loadQcFrames, 2000);
}
function previewUrl(kind, frame) {
  const id = $("qc-job").value, color = $("qc-color").value.slice(1);
  const width = $("qc-mode").value === "side" ? 640 : 1280;
  return `/api/jobs/${id}/preview/${kind}/${frame}?width=${width}&color=${color}&token=${encodeURIComponent(token)}`;
}
function showQc() {
  const frame = qcFrames[$("qc-frame").value];
  $("qc-frame-label").textContent = frame ?? "–";
  const view = $("qc-view"), wipe = $("qc-mode").value === "wipe";
  view.className = wipe ? "wipe" : "side";
  $("qc-wipe-box").hidden = !wipe;
  if (frame === undefined) { $("qc-a").removeAttribute("src"); $("qc-b").removeAttribute("src"); return; }
  $("qc-a").src = previewUrl($("qc-left").value, frame);
  $("qc-b").src = previewUrl($("qc-right").value, frame);
  $("qc-a").style.clipPath = wipe ? `inset(0 ${100 - $("qc-wipe").value}% 0 0)` : "";
}
function initQc() {
  for (const id of ["qc-left", "qc-right"]) fill($(id), Object.keys(PREVIEWS), PREVIEWS);
  $("qc-left").value = "plate";
  $("qc-right").value = "checker";
  $("qc-job").onchange = loadQcFrames;
  for (const id of ["qc-frame", "qc-left", "qc-right", "qc-mode", "qc-color", "qc-wipe"]) {
    for (const kind of ["input", "change"]) $(id).addEventListener(kind, showQc);
  }
}

// --- Settings -------------------------------------------------------------------------------------------
async function openSettings() {
  const settings = await api("/api/settings");
  $("set-device").value = settings.device;
  $("set-precision").value = settings.precision;
  $("set-output-root").value = settings.output_root || "";
  const models = await api("/api/models");
  $("models-table").tBodies[0].replaceChildren(...models.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.model = m.name;
    for (const value of [`${m.name}: ${m.description}`, m.present ? "present" : "missing", m.path, m.install || `sha256 ${m.sha256}`]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    return tr;
  }));
}
function initSettings() {
  fill($("set-device"), info.devices);
  fill($("set-precision"), info.precisions);
  $("settings-form").onsubmit = async (event) => {
    event.preventDefault();
    try {
      const saved = await api("/api/settings", { method: "PUT", body: { device: $("set-device").value, precision: $("set-precision").value, output_root: textOrNull("set-output-root") } });
      info.settings = saved;
      $("settings-message").textContent = "saved";
    } catch (e) {
      $("settings-message").textContent = e.message + (e.hint ? " — Fix: " + e.hint : "");
    }
  };
}

async function main() {
  try {
    info = await api("/api/info");
  } catch (e) {
    showError($("fatal"), e);
    return;
  }
  $("version").textContent = "v" + info.version;
  $("browser-cancel").onclick = () => closeBrowser(null);
  initRun();
  initQc();
  initSettings();
  window.addEventListener("hashchange", route);
  route();
}
main();
