// The explore page: a live particle simulation over a WebSocket, a real model's layers, a sweep store.
import katex from "katex";
import * as THREE from "three";
import { CloudView, decodePoints } from "./cloud.js";

const $ = (id) => document.getElementById(id);
const FIELDS = ["n", "d", "beta", "variant", "causal", "normalization", "noise", "method", "dt", "steps_per_frame", "seed"];
const SCHEMES = { post: "post-LN", pre: "pre-LN: angular speed ∝ 1/r_i", peri: "peri-LN", ngpt: "nGPT" };
const history = { time: [], energy: [], clusters: [] };
let socket = null;
let config = null;
const cloud = new CloudView($("cloud"));
window.attnflowExplore = { cloud, history, received: 0, lastFrame: null };

function readParams() {
  const p = {};
  for (const f of FIELDS) {
    const el = $(f);
    if (el.type === "checkbox") p[f] = el.checked;
    else if (el.tagName === "SELECT") p[f] = el.value;
    else p[f] = Number(el.value);
  }
  return p;
}

function writeParams(p) {
  for (const [f, v] of Object.entries(p)) {
    const el = $(f);
    if (!el) continue;
    if (el.type === "checkbox") el.checked = Boolean(v);
    else el.value = v;
  }
  $("beta-value").textContent = Number($("beta").value).toFixed(1);
  showEquation();
}

function showEquation() {
  const p = readParams();
  const sum = p.causal ? "\\sum_{j \\le i}" : "\\sum_{j=1}^{n}";
  let drift, extra = "";
  if (p.variant === "hardmax") {
    drift = "\\frac{1}{|M_i|}\\sum_{j \\in M_i} x_j";
    extra = ` \\\\ M_i &= \\arg\\max_{${p.causal ? "j \\le i" : "j"}} \\langle x_i, x_j\\rangle`;
  } else {
    const norm = p.variant === "USA" ? "\\frac{1}{n}" : "\\frac{1}{Z_i}";
    drift = `${norm} ${sum} e^{\\beta\\langle x_i, x_j\\rangle} x_j`;
    if (p.variant !== "USA") extra = ` \\\\ Z_i &= ${sum} e^{\\beta\\langle x_i, x_j\\rangle}`;
  }
  const noise = p.noise > 0 ? " + \\text{noise } (\\kappa = " + p.noise + ")" : "";
  const tex = `\\begin{aligned} \\dot x_i &= P_{x_i}\\Big(${drift}\\Big)${noise}${extra} \\\\ \\beta &= ${p.beta}\\end{aligned}`;
  katex.render(tex, $("equation"), { throwOnError: false, displayMode: true });
  $("equation").title = SCHEMES[p.normalization] || "";
}

function send(type, params) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type, params }));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/particles`);
  socket.onopen = () => send("reset", readParams());
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "error") {
      $("error").textContent = msg.message;
      return;
    }
    $("error").textContent = "";
    const [n, k] = msg.shape;
    cloud.setPoints(decodePoints(msg.points), n, k);
    window.attnflowExplore.received += 1;
    window.attnflowExplore.lastFrame = { index: msg.index, time: msg.time, clusters: msg.clusters, energy: msg.energy };
    if (msg.index === 0) for (const key of Object.keys(history)) history[key].length = 0;
    history.time.push(msg.time);
    history.energy.push(msg.energy);
    history.clusters.push(msg.clusters);
    $("time").textContent = msg.time.toFixed(2);
    $("frame").textContent = msg.index;
    $("clusters").textContent = msg.clusters;
    $("energy").textContent = msg.energy === null ? "– (β = 0)" : msg.energy.toPrecision(5);
    drawPlot($("plot-energy"), history.time, history.energy, "energy E_β");
    drawPlot($("plot-clusters"), history.time, history.clusters, "clusters");
  };
  socket.onclose = () => ($("error").textContent = "disconnected from the server; reload the page to reconnect");
}

function drawPlot(canvas, xs, ys, label) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#555";
  ctx.font = "11px system-ui";
  ctx.fillText(label, pad, 12);
  const finite = ys.filter((y) => y !== null && Number.isFinite(y));
  if (finite.length < 2) return;
  const x0 = xs[0], x1 = xs[xs.length - 1] || 1;
  let y0 = Math.min(...finite), y1 = Math.max(...finite);
  if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
  ctx.strokeStyle = "#bbb";
  ctx.strokeRect(pad, 16, w - pad - 6, h - 34);
  ctx.fillText(y1.toPrecision(3), 0, 24);
  ctx.fillText(y0.toPrecision(3), 0, h - 20);
  ctx.fillText(`t = ${x1.toFixed(1)}`, w - 70, h - 4);
  ctx.strokeStyle = "#3b6ea5";
  ctx.beginPath();
  xs.forEach((x, i) => {
    if (ys[i] === null) return;
    const px = pad + ((x - x0) / (x1 - x0 || 1)) * (w - pad - 6);
    const py = 16 + (1 - (ys[i] - y0) / (y1 - y0)) * (h - 34);
    i ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
  });
  ctx.stroke();
}

// --- the model view -------------------------------------------------------------------------------
let modelView = null;
let traced = null;
async function trace() {
  $("model-error").textContent = "tracing…";
  const response = await fetch("/api/model", { method: "POST", body: JSON.stringify({ prompt: $("prompt").value }) });
  const body = await response.json();
  if (!response.ok) { $("model-error").textContent = body.error; return; }
  $("model-error").textContent = "";
  traced = body;
  if (!modelView) modelView = new CloudView($("model-cloud"));
  $("layer").max = body.layers - 1;
  $("layer").value = body.layers - 1;
  showLayer();
}
function showLayer() {
  if (!traced) return;
  const layer = Number($("layer").value);
  $("layer-value").textContent = layer;
  const flat = new Float32Array(traced.points[layer].flat());
  modelView.setPoints(flat, traced.tokens.length, 3);
  $("lens").textContent = traced.lens ? `lens top next token at layer ${layer}: ${JSON.stringify(traced.lens[layer])}` : "";
}
function hover(event) {
  if (!traced || !modelView) return;
  const rect = modelView.canvas.getBoundingClientRect();
  const mouse = new THREE.Vector2(((event.clientX - rect.left) / rect.width) * 2 - 1, -((event.clientY - rect.top) / rect.height) * 2 + 1);
  const ray = new THREE.Raycaster();
  ray.params.Points.threshold = 0.05;
  ray.setFromCamera(mouse, modelView.camera);
  const hit = ray.intersectObject(modelView.points)[0];
  const tip = $("tooltip");
  if (!hit) { tip.classList.add("hidden"); return; }
  tip.textContent = `${hit.index}: ${JSON.stringify(traced.tokens[hit.index])}`;
  tip.style.left = `${event.clientX + 12}px`;
  tip.style.top = `${event.clientY + 12}px`;
  tip.classList.remove("hidden");
}

// --- the sweep view -------------------------------------------------------------------------------
let sweep = null;
async function loadSweep() {
  const response = await fetch("/api/sweep");
  sweep = await response.json();
  if (!response.ok) { $("sweep-error").textContent = sweep.error; return; }
  $("sweep-path").textContent = sweep.path;
  const select = $("sweep-variable");
  select.innerHTML = Object.keys(sweep.values).map((k) => `<option>${k}</option>`).join("");
  drawSweep();
}
function drawSweep() {
  const canvas = $("sweep-canvas");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const values = sweep.values[$("sweep-variable").value];
  if (!values) return;
  const [rows, cols] = [values.length, Array.isArray(values[0]) ? values[0].length : 1];
  const grid = values.map((row) => (Array.isArray(row) ? row.flat(Infinity) : [row]));
  const finite = grid.flat().filter((v) => v !== null);
  const lo = Math.min(...finite), hi = Math.max(...finite);
  const pad = 60, cw = (canvas.width - pad) / cols, ch = (canvas.height - pad) / rows;
  grid.forEach((row, i) => row.slice(0, cols).forEach((v, j) => {
    const s = v === null ? 0 : (v - lo) / (hi - lo || 1);
    ctx.fillStyle = v === null ? "#ddd" : `rgb(${Math.round(40 + 200 * s)}, ${Math.round(60 + 150 * s)}, ${Math.round(140 - 80 * s)})`;
    ctx.fillRect(pad + j * cw, i * ch, cw - 1, ch - 1);
  }));
  ctx.fillStyle = "#333";
  ctx.font = "12px system-ui";
  const [dy, dx] = sweep.dims;
  ctx.fillText(`${dy} ↓   ${dx || ""} →   (${lo.toPrecision(3)} … ${hi.toPrecision(3)})`, 4, canvas.height - 8);
  canvas.onclick = async (event) => {
    const rect = canvas.getBoundingClientRect();
    const j = Math.floor((event.clientX - rect.left - pad) / cw), i = Math.floor((event.clientY - rect.top) / ch);
    if (i < 0 || j < 0 || i >= rows || j >= cols) return;
    const stride = sweep.dims.slice(1).reduce((acc, d) => acc * sweep.coords[d].length, 1);
    const response = await fetch(`/api/sweep/run?index=${i * stride + j * (stride / cols)}`);
    const params = await response.json();
    if (!response.ok) { $("sweep-error").textContent = params.error; return; }
    const known = Object.fromEntries(Object.entries(params).filter(([k]) => FIELDS.includes(k)));
    writeParams(known);
    show("particles");
    send("reset", readParams());
    send("play", {});
  };
}

function show(view) {
  for (const v of ["particles", "model", "sweep"]) $(`view-${v}`).classList.toggle("hidden", v !== view);
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  if (view === "sweep" && !sweep) loadSweep();
}

async function start() {
  config = await (await fetch("/api/config")).json();
  $("variant").innerHTML = config.variants.map((v) => `<option>${v}</option>`).join("");
  $("method").innerHTML = config.methods.map((m) => `<option>${m}</option>`).join("");
  $("normalization").innerHTML = config.normalizations.map((m) => `<option value="${m}">${SCHEMES[m] || m}</option>`).join("");
  for (const [name, [lo, hi]] of Object.entries(config.bounds)) {
    if (name === "beta") continue;
    $(name).min = lo;
    $(name).max = hi;
  }
  writeParams(config.defaults);
  if (config.model) $("model-name").textContent = `model: ${config.model}`;
  else $("model-name").textContent = "no model named: start with attnflow explore --model NAME";
  if (!config.sweep) $("sweep-error").textContent = "no sweep store named: start with attnflow explore --sweep STORE";
  document.querySelectorAll("nav button").forEach((b) => (b.onclick = () => show(b.dataset.view)));
  $("beta").oninput = () => { writeParams({}); send("update", { beta: Number($("beta").value) }); };
  for (const f of ["variant", "causal", "normalization", "method", "dt", "steps_per_frame"]) $(f).onchange = () => { showEquation(); send("update", { [f]: readParams()[f] }); };
  // Noise needs Euler–Maruyama: switching it on selects Euler.
  $("noise").onchange = () => {
    if (Number($("noise").value) > 0) $("method").value = "euler";
    showEquation();
    send("update", { noise: Number($("noise").value), method: $("method").value });
  };
  for (const f of ["n", "d", "seed"]) $(f).onchange = () => send("reset", readParams());
  $("play").onclick = () => send("play", {});
  $("pause").onclick = () => send("pause", {});
  $("step").onclick = () => send("step", {});
  $("reset").onclick = () => send("reset", readParams());
  $("trace").onclick = trace;
  $("layer").oninput = showLayer;
  $("model-cloud").addEventListener("pointermove", hover);
  $("sweep-variable").onchange = drawSweep;
  setInterval(() => ($("fps").textContent = cloud.fps().toFixed(0)), 500);
  connect();
}
start();
