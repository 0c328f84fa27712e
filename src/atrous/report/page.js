// The interactive part of an atrous report: pick a node and an output unit, see exactly which inputs it reads.
// Reads the JSON that atrous.report.explorer embeds; no network, no library. One call per report on a page:
// atrousPage(rootId). window.atrousPages[rootId] exposes the selection (used by the browser test).
function atrousPage(rootId) {
  "use strict";
  const root = document.getElementById(rootId);
  const D = JSON.parse(root.querySelector("script.atrous-data").textContent);
  const $ = (cls) => root.querySelector("." + cls);
  const nodes = D.nodes, dims = D.dims, input = D.input;
  const cache = new Map();
  const state = { node: D.selected, unit: null, centre: null, view: null };

  async function inflate(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return await new Response(stream).arrayBuffer();
  }

  async function decode(p) {  // delta-coded rows -> values (path counts for u16, log levels for log8)
    const buf = await inflate(p.data);
    const v = p.enc === "u16" ? new Uint16Array(buf) : new Uint8Array(buf);
    const w = p.shape[p.shape.length - 1];
    for (let r = 0; r < v.length; r += w) for (let i = 1; i < w; i++) v[r + i] = v[r + i] + v[r + i - 1];
    return v;
  }

  async function pattern(n, phase) {
    const key = n + ":" + phase;
    if (!cache.has(key)) {
      const p = nodes[n].patterns[phase];
      cache.set(key, p === null ? null : { origin: p.origin, shape: p.shape, enc: p.enc, max: p.max,
                                           values: await decode(p) });
    }
    return cache.get(key);
  }

  // unit i reads the pattern of phase i mod P, moved by (i div P) Q samples (per axis)
  function placement(node, unit) {
    let phase = 0;
    const move = [];
    for (let a = 0; a < dims; a++) {
      const P = node.period[a], r = ((unit[a] % P) + P) % P;
      phase = phase * P + r;
      move.push(Math.floor(unit[a] / P) * node.shift[a]);
    }
    const whole = node.patterns && node.patterns.length === node.period.reduce((x, y) => x * y, 1);
    return whole ? { phase, move } : { phase: 0, move: unit.map((u, a) => Math.round(u * node.jump[a])) };
  }

  function outSize(node) { return node.out && node.out.length === dims ? node.out : input.map(() => 1); }

  function centreUnit(node) { return outSize(node).map((n) => Math.floor((n - 1) / 2)); }

  function unitNear(node, centre) {  // the unit whose field is centred nearest to an input position
    const out = outSize(node);
    return centre.map((c, a) => Math.min(out[a] - 1, Math.max(0, Math.round((c - node.offset[a]) / node.jump[a]))));
  }

  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function colour(t) {
    const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k])));
  }
  function level(p, v) { return p.enc === "u16" ? Math.log1p(v) / Math.log1p(Math.max(p.max, 1)) : (v - 1) / 254; }

  async function draw() {
    const node = nodes[state.node];
    const info = $("atrous-info");
    const canvas = $("atrous-input");
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    $("atrous-node").value = String(state.node);
    $("atrous-slider").value = String(state.node);
    drawOutput(node);
    if (!node.patterns || node.patterns.length === 0) {
      state.view = null;
      info.textContent = node.name + ": " + (node.why || "no pattern embedded");
      return;
    }
    const { phase, move } = placement(node, state.unit);
    const p = await pattern(state.node, phase);
    if (p === null) {
      state.view = { node: state.node, unit: state.unit.slice(), origin: null, taps: 0 };
      info.textContent = node.name + " unit " + fmt(state.unit) + " reads no input sample (a transposed-convolution phase)";
      return;
    }
    const origin = p.origin.map((o, a) => o + move[a]);
    const shape2 = dims === 1 ? [1, p.shape[0]] : [p.shape[dims - 2], p.shape[dims - 1]];
    const o2 = dims === 1 ? [0, origin[0]] : [origin[dims - 2], origin[dims - 1]];
    const in2 = dims === 1 ? [1, input[0]] : [input[dims - 2], input[dims - 1]];
    const slice = dims === 3 ? Math.floor(p.shape[0] / 2) * shape2[0] * shape2[1] : 0;
    let taps = 0, holes = 0, inside = 0, peak = 0;
    const img = new ImageData(in2[1], in2[0]);
    for (let k = 0; k < img.data.length; k += 4) { img.data[k] = img.data[k + 1] = img.data[k + 2] = 238; img.data[k + 3] = 255; }
    for (let y = 0; y < shape2[0]; y++) for (let x = 0; x < shape2[1]; x++) {
      const v = p.values[slice + y * shape2[1] + x];
      if (v > 0) { taps++; peak = Math.max(peak, v); } else holes++;
      const iy = o2[0] + y, ix = o2[1] + x;
      if (iy < 0 || ix < 0 || iy >= in2[0] || ix >= in2[1]) continue;
      if (v > 0) inside++;
      const c = v > 0 ? colour(level(p, v)) : [214, 39, 40];
      const k = 4 * (iy * in2[1] + ix);
      img.data[k] = c[0]; img.data[k + 1] = c[1]; img.data[k + 2] = c[2];
    }
    const off = document.createElement("canvas");
    off.width = in2[1]; off.height = in2[0];
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    const sx = canvas.width / in2[1], sy = canvas.height / in2[0];
    ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
    const x0 = Math.max(0, o2[1]), y0 = Math.max(0, o2[0]);
    const x1 = Math.min(in2[1], o2[1] + shape2[1]), y1 = Math.min(in2[0], o2[0] + shape2[0]);
    ctx.strokeStyle = "#0b6bcb"; ctx.lineWidth = 2;
    if (x1 > x0 && y1 > y0) ctx.strokeRect(x0 * sx, dims === 1 ? 1 : y0 * sy, (x1 - x0) * sx, dims === 1 ? canvas.height - 2 : (y1 - y0) * sy);
    const clipped = o2[0] < 0 || o2[1] < 0 || o2[0] + shape2[0] > in2[0] || o2[1] + shape2[1] > in2[1];
    const end = origin.map((o, a) => o + p.shape[a] - 1);
    state.view = { node: state.node, unit: state.unit.slice(), origin, shape: p.shape.slice(), enc: p.enc,
                   taps, holes, inside, phase, move };
    state.centre = origin.map((o, a) => o + (p.shape[a] - 1) / 2);
    const counts = p.enc === "u16" ? "up to " + peak + " paths per input" : "up to " + p.max.toExponential(2) + " paths per input (log colour scale)";
    info.innerHTML = "";
    const lines = [
      ["node", node.name + (node.op ? " (" + node.op + ")" : "")],
      ["unit", fmt(state.unit) + " of " + fmt(outSize(node))],
      ["reads", "inputs " + origin.map((o, a) => o + ".." + end[a]).join(" × ") + " (field " + fmt(p.shape) + ")"],
      ["taps", taps + " read, " + holes + " holes (" + (100 * taps / (taps + holes)).toFixed(1) + "% of the field is read); " + counts],
      ["border", clipped ? "the field reaches past the input (clipped; " + inside + " of its taps fall inside): near a border, zero padding removes the paths through it" : "the whole field lies inside the input"],
    ];
    if (node.why) lines.push(["note", node.why]);
    if (dims === 3) lines.push(["slice", "the central depth slice of the 3-D field is drawn"]);
    for (const [k, v] of lines) {
      const row = document.createElement("div");
      const b = document.createElement("b"); b.textContent = k + " ";
      row.appendChild(b); row.appendChild(document.createTextNode(v)); info.appendChild(row);
    }
    info.dataset.node = node.name; info.dataset.unit = state.unit.join(","); info.dataset.taps = String(taps);
  }

  function drawOutput(node) {
    const c = $("atrous-output"), ctx = c.getContext("2d"), out = outSize(node);
    const h = dims === 1 ? 1 : out[dims - 2], w = out[dims - 1];
    ctx.fillStyle = "#f3f5fa"; ctx.fillRect(0, 0, c.width, c.height);
    const sx = c.width / w, sy = c.height / h;
    if (sx >= 4 && sy >= 4) {
      ctx.strokeStyle = "#cfd5e3"; ctx.lineWidth = 1;
      for (let x = 0; x <= w; x++) { ctx.beginPath(); ctx.moveTo(x * sx, 0); ctx.lineTo(x * sx, c.height); ctx.stroke(); }
      for (let y = 0; y <= h; y++) { ctx.beginPath(); ctx.moveTo(0, y * sy); ctx.lineTo(c.width, y * sy); ctx.stroke(); }
    }
    const u = state.unit, ux = u[dims - 1], uy = dims === 1 ? 0 : u[dims - 2];
    ctx.fillStyle = "#0b6bcb";
    ctx.fillRect(ux * sx, uy * sy, Math.max(sx, 2), Math.max(sy, 2));
    $("atrous-outlabel").textContent = "output of " + node.name + ": " + fmt(out) + " (click a unit" + (dims === 1 ? " or drag the slider)" : ")");
    const us = $("atrous-unit");
    us.max = String(w - 1); us.value = String(ux);
  }

  function fmt(v) { return v.map((x) => (Number.isInteger(x) ? x : x.toFixed(2))).join(" × "); }

  function select(n, keepCentre) {
    state.node = n;
    const node = nodes[n];
    state.unit = keepCentre && state.centre ? unitNear(node, state.centre) : centreUnit(node);
    return draw();
  }

  function pick(unit) { state.unit = unit.slice(); return draw(); }

  // controls
  const sel = $("atrous-node");
  nodes.forEach((n, i) => {
    const o = document.createElement("option");
    o.value = String(i);
    o.textContent = n.name + "  (RF " + fmt(n.rf) + ")";
    sel.appendChild(o);
  });
  sel.addEventListener("change", () => select(Number(sel.value), true));
  const slider = $("atrous-slider");
  slider.max = String(nodes.length - 1);
  slider.addEventListener("input", () => select(Number(slider.value), true));
  $("atrous-unit").addEventListener("input", (ev) => {
    const u = state.unit.slice(); u[dims - 1] = Number(ev.target.value); pick(u);
  });
  $("atrous-output").addEventListener("click", (ev) => {
    const c = ev.currentTarget, r = c.getBoundingClientRect(), out = outSize(nodes[state.node]);
    const w = out[dims - 1], h = dims === 1 ? 1 : out[dims - 2];
    const x = Math.min(w - 1, Math.floor((ev.clientX - r.left) / r.width * w));
    const y = Math.min(h - 1, Math.floor((ev.clientY - r.top) / r.height * h));
    const u = state.unit.slice(); u[dims - 1] = x; if (dims > 1) u[dims - 2] = y;
    pick(u);
  });
  root.querySelectorAll("tr[data-node]").forEach((tr) => tr.addEventListener("click", () => {
    select(Number(tr.dataset.node), true);
    root.querySelector(".atrous-explore").scrollIntoView({ behavior: "smooth" });
  }));
  window.atrousPages = window.atrousPages || {};
  async function counts() {  // the shown unit's pattern: origin, shape and values (path counts, or log levels)
    const v = state.view;
    if (!v || v.origin === null) return null;
    const p = await pattern(v.node, v.phase);
    return { origin: v.origin, shape: v.shape, enc: p.enc, values: Array.from(p.values) };
  }
  let drawn = false;
  window.atrousPages[rootId] = { select, pick, counts, state: () => state.view, nodes: () => nodes.map((n) => n.name),
                                 ready: () => drawn };
  select(D.selected, false).then(() => { drawn = true; });
}
