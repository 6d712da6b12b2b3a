// The Learn page's live pictures: the running model's diagram with its loss nodes, the losses as
// curves with the run's D(G(z)) marked, and the latest slow-motion sub-step. The page draws it
// once; the live channel's websocket (keepLive, from the live panel) keeps it current, so no
// Python runs for a watching tab. Everything shown comes from `data` (the model as the server
// read it) or from the live updates.

const fmt = (v, digits = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits));
const int = (v) => Number(v).toLocaleString("en-US");
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// ---- the model ----------------------------------------------------------------------------
export function networkHtml(net, title) {
  const biggest = Math.max(1, ...net.layers.map((l) => l.params));
  const rows = net.layers.map((l) => `
    <div class="layer" data-kind="${esc(l.kind)}">
      <div class="lname"><b>${esc(l.kind)}</b> <span class="dim">${esc(l.detail)}</span></div>
      <div class="lshape">${esc(l.shape)}</div>
      <div class="lparams">${int(l.params)}<span class="bar" style="width:${(100 * l.params / biggest).toFixed(1)}%"></span></div>
    </div>`).join("");
  return `<div class="net-title">${esc(title)} <span class="dim">${int(net.params)} parameters · reads ${esc(net.inputs.join(", "))}</span></div>
    <div class="layer head"><div>layer</div><div>output</div><div>parameters</div></div>${rows}`;
}

export function flowHtml(d) {
  const box = (cls, text, live = "") => `<span class="node ${cls}"${live ? ` data-l="${live}"` : ""}>${text}</span>`;
  const arrow = '<span class="arrow">→</span>';
  const z = `z ~ prior<br><span class="dim">${d.batch_size} x ${d.latent_dim}${d.conditional ? " + digit" : ""}${d.groups ? `<br>z[0] picks 1 of ${d.groups} groups` : ""}</span>`;
  return `<div class="flow-row">${box("data", z)}${arrow}${box("net g", `G<br><span class="dim">${d.G.layers.length} layers</span>`)}${arrow}`
    + `${box("data", "generated<br>images")}${arrow}${box("net d", "D")}${arrow}${box("score", "D(G(z))", "d_fake")}${arrow}`
    + `${box("loss", "G's loss", "g_loss")}</div>`
    + `<div class="flow-row">${box("data", `real digits<br><span class="dim">batch ${d.batch_size}</span>`)}${arrow}${box("net d", "D")}${arrow}`
    + `${box("score", "D(x)", "d_real")}${arrow}${box("loss", "D's loss", "d_loss")}</div>`
    + (d.group_means ? `<figure class="groups"><img src="${d.group_means}" alt="the groups' mean images">
      <figcaption>The ${int(d.groups)} groups this run found in the images (each one's mean image, 0 to ${int(d.groups) - 1}
      row by row): z[0] picks one for G, and D is told it</figcaption></figure>` : "");
}

export function showLosses(root, loss) {
  const set = (name, label, value) => {
    const node = root.querySelector(`[data-l="${name}"]`);
    if (node) node.innerHTML = `${label}<br><b>${fmt(value)}</b>`;
  };
  set("d_fake", "D(G(z))", loss && loss.d_fake);
  set("d_real", "D(x)", loss && loss.d_real);
  set("g_loss", "G's loss", loss && loss.g_loss);
  set("d_loss", "D's loss", loss && loss.d_loss);
}

// ---- the losses as curves -----------------------------------------------------------------
export const CURVES = {
  minimax: { label: "minimax: log(1 − D(G(z)))", f: (x) => Math.log(1 - x), slope: (x) => -1 / (1 - x) },
  nonsaturating: { label: "non-saturating: −log D(G(z))", f: (x) => -Math.log(x), slope: (x) => -1 / x },
  d_fake: { label: "D's loss on a fake: −log(1 − D(G(z)))", f: (x) => -Math.log(1 - x), slope: (x) => 1 / (1 - x) },
};
const W = 560, H = 290, PAD = 34, YMIN = -5, YMAX = 5;
const px = (x) => PAD + x * (W - 2 * PAD);
const py = (y) => PAD / 2 + (YMAX - Math.max(YMIN, Math.min(YMAX, y))) / (YMAX - YMIN) * (H - 2 * PAD);

function path(f) {
  const points = [];
  for (let i = 1; i < 400; i++) points.push(`${px(i / 400).toFixed(1)},${py(f(i / 400)).toFixed(1)}`);
  return "M" + points.join("L");
}

export function curvesSvg() {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((x) => `<text x="${px(x)}" y="${H - PAD + 4}" class="tick">${x}</text>`).join("")
    + [-4, -2, 0, 2, 4].map((y) => `<text x="${PAD - 6}" y="${py(y) + 4}" class="tick end">${y}</text>`).join("");
  const lines = Object.entries(CURVES).map(([k, c]) => `<path class="curve ${k}" d="${path(c.f)}"/>`).join("");
  return `<svg viewBox="0 0 ${W} ${H}" class="curves" role="img" aria-label="the losses against D(G(z))">
    <line class="axis" x1="${PAD}" x2="${W - PAD}" y1="${py(0)}" y2="${py(0)}"/>
    <line class="axis" x1="${PAD}" x2="${PAD}" y1="${py(YMAX)}" y2="${py(YMIN)}"/>${ticks}${lines}
    <text x="${W / 2}" y="${H - 8}" class="tick mid">D(G(z)): D's probability that a generated image is real</text>
    <g data-l="marker"></g></svg>`;
}

// The run's D(G(z)) on the curves, with the tangent of each G loss there: its slope is the
// gradient G's loss passes back per unit of D's output.
export function markerSvg(x, kind) {
  if (x === null || x === undefined) return "";
  const c = Math.min(0.995, Math.max(0.005, x));
  let out = `<line class="marker" x1="${px(c)}" x2="${px(c)}" y1="${py(YMAX)}" y2="${py(YMIN)}"/>`;
  for (const k of ["minimax", "nonsaturating"]) {
    const { f, slope } = CURVES[k];
    const y = f(c), s = slope(c), dx = 0.08;
    out += `<line class="tangent ${k}" x1="${px(c - dx)}" y1="${py(y - s * dx)}" x2="${px(c + dx)}" y2="${py(y + s * dx)}"/>`
      + `<circle class="dot ${k}${k === kind ? " used" : ""}" cx="${px(c)}" cy="${py(y)}" r="5"/>`;
  }
  return out;
}

export function slopesText(x, kind) {
  if (x === null || x === undefined) return "Start the run: its D(G(z)) is marked here as it trains.";
  const c = Math.min(0.995, Math.max(0.005, x));
  const mm = CURVES.minimax.slope(c), ns = CURVES.nonsaturating.slope(c);
  return `Now D(G(z)) = ${fmt(x)}. Slope of the minimax loss there: ${fmt(mm, 2)}; of the non-saturating loss: ${fmt(ns, 2)} `
    + `(${fmt(Math.abs(ns / mm), 1)}x as steep). This run uses the ${kind === "minimax" ? "minimax" : "non-saturating"} loss.`;
}

// ---- one step in slow motion ----------------------------------------------------------------
export function chipsHtml(names, done) {
  return names.map((n, i) => `<span class="chip${i < done ? " done" : ""}${i === done - 1 ? " now" : ""}">${i + 1}. ${esc(n)}</span>`).join("");
}

function scoresTable(before, after) {
  if (!before) return "";
  const cell = (v) => `<td style="background: rgba(${v >= 0.5 ? "46,160,67" : "220,53,69"}, ${0.15 + 0.5 * Math.abs(v - 0.5)})">${fmt(v, 2)}</td>`;
  const rows = (vals) => [0, 1, 2, 3].map((r) => `<tr>${vals.slice(4 * r, 4 * r + 4).map(cell).join("")}</tr>`).join("");
  return `<div class="scores"><div><div class="dim">D before its update</div><table>${rows(before)}</table></div>`
    + (after ? `<div><div class="dim">after</div><table>${rows(after)}</table></div>` : "") + "</div>";
}

function gradBars(title, norms) {
  if (!norms) return "";
  const biggest = Math.max(1e-12, ...norms.map((n) => n[1]));
  return `<div class="grads"><div class="net-title">${esc(title)}</div>` + norms.map(([name, v]) => `
    <div class="grad"><span class="gname">${esc(name)}</span><span class="gbar"><span style="width:${(100 * v / biggest).toFixed(1)}%"></span></span><span class="gval">${v.toExponential(2)}</span></div>`).join("") + "</div>";
}

export function frameHtml(f) {
  const figure = (src, caption, extra = "") => (src ? `<figure><img src="${src}" alt="${esc(caption)}"><figcaption>${esc(caption)}</figcaption>${extra}</figure>` : "");
  const s = f.scores || {};
  const l = f.losses;
  const losses = l ? `<table class="losses"><tr><th>D(x)</th><th>D(G(z))</th><th>D's loss</th><th>G's loss</th></tr>
    <tr><td>${fmt(l.d_real)}</td><td>${fmt(l.d_fake)}</td><td>${fmt(l.d_loss)}</td><td>${fmt(l.g_loss)}</td></tr></table>` : "";
  const z = f.z ? figure(f.z.image, `z: ${f.z.shown} of the batch's rows, ${f.z.dim} numbers each (dark < 0 < light); mean ${fmt(f.z.mean, 2)}, std ${fmt(f.z.std, 2)}`
    + (f.digits ? `; digits asked for: ${f.digits.join(" ")}` : "")
    + (f.groups ? `; groups z's first number picks: ${f.groups.join(" ")}` : "")) : "";
  const grads = f.grads ? `<div class="grad-cols">${gradBars("D: gradient norm per layer", f.grads.D)}${gradBars("G: gradient norm per layer", f.grads.G)}</div>` : "";
  return `<div class="frame-head">Iteration ${int(f.step + 1)} · sub-step ${f.index + 1} of ${f.count}: <b>${esc(f.name)}</b>
      <span class="tut">tutorial ${esc(f.tutorial)}</span><div>${esc(f.says)}</div></div>
    <div class="frame-body">${z}${figure(f.fake, "G's images (16 of the batch)", scoresTable(s.fake_before, s.fake_after))}
      ${figure(f.real, "real digits (16 of the batch)", scoresTable(s.real_before, s.real_after))}</div>${losses}${grads}`;
}

// ---- the component ----------------------------------------------------------------------------
export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const el = (name) => parentElement.querySelector(`[data-l="${name}"]`);
  const panel = parentElement.__ganLearn || (parentElement.__ganLearn = { socket: null, url: null, refused: 0, stopped: false, asked: null });
  if (panel.drawn !== data.diagram_key) {
    panel.drawn = data.diagram_key;
    el("flow").innerHTML = flowHtml(data.diagram);
    el("G").innerHTML = networkHtml(data.diagram.G, "G, the generator");
    el("D").innerHTML = networkHtml(data.diagram.D, "D, the discriminator");
    el("curves").innerHTML = curvesSvg();
    el("preset").textContent = data.diagram.preset;
  }
  el("chips").innerHTML = chipsHtml(data.sub_steps, 0);
  const next = el("next");
  next.hidden = !data.can_control;
  next.onclick = () => { next.disabled = true; setTriggerValue("next", Date.now()); };
  panel.show = (u) => {
    showLosses(el("flow"), u.loss);
    el("marker").innerHTML = markerSvg(u.loss && u.loss.d_fake, u.loss_kind);
    el("slopes").textContent = slopesText(u.loss && u.loss.d_fake, u.loss_kind);
    const running = u.status === "running";
    next.disabled = running;
    el("slowhint").textContent = running ? "Pause the run (Train page) to step through one iteration."
      : (data.can_control ? "" : "The presenter steps through one iteration; every tab follows.");
    const f = running ? null : u.slowmo;
    el("chips").innerHTML = chipsHtml(data.sub_steps, f ? f.index + 1 : 0);
    el("frame").innerHTML = f ? frameHtml(f) : "";
    el("frame").hidden = !f;
    if (u.run !== data.run && panel.asked !== u.run) {
      panel.asked = u.run;  // a new run (another preset?): one page run redraws the model
      setTriggerValue("run_changed", u.run);
    }
  };
  panel.show(data.initial);
  keepLive(panel, data.path, el("notice"));
  return () => dropLive(parentElement, panel);
}
