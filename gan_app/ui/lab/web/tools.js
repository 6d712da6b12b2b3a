// The lab's tools as page elements: the explored image and D's verdict, raw sliders, SeFa and
// PCA directions with their strips, towards a digit (or every digit and blends for a
// conditional generator), a sample grid to pick from, and paths between points.
import * as L from "./latent.js";
import { drawMap, pointAt } from "./classmap.js";
import { paint, normPlot } from "./draw.js";

const SIGMAS = [-3, -2, -1, 0, 1, 2, 3];
const RAW_PER_PAGE = 8;

/** A tiny element builder: h("div", {class: "x"}, child, "text"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

function slider(label, min, max, step, value, onInput, name) {
  const input = h("input", { type: "range", min, max, step, value, "data-lab": name, "aria-label": label });
  const out = h("span", { class: "lab-value" }, Number(value).toFixed(2));
  input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(2); onInput(Number(input.value)); });
  const row = h("label", { class: "lab-slider" }, h("span", { class: "lab-label" }, label), input, out);
  row.set = (v) => { input.value = v; out.textContent = Number(v).toFixed(2); };
  return row;
}

const canvas = (name, cls = "lab-strip") => h("canvas", { class: cls, "data-lab": name });
const number = (label, value, onChange, name) => h("label", { class: "lab-field" }, label,
  h("input", { type: "number", min: 0, max: 2147483647, value, "data-lab": name,
    onchange: (e) => onChange(Math.max(0, Math.floor(Number(e.target.value) || 0))) }));

export function buildTools(lab, model) {
  const s = lab.s, m = model.m, k = model.k;
  const ui = { model };
  const sliders = { SeFa: [], PCA: [] };
  const rawBox = h("div", { class: "lab-raw" });

  // ---- header: seed, digit, a link to the view ----
  const linkBox = h("input", { type: "text", readonly: true, hidden: true, "data-lab": "link", class: "lab-link",
    "aria-label": "link to this view" });
  ui.showLink = (url) => {
    linkBox.value = url;
    linkBox.hidden = false;
    linkBox.select();
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url).catch(() => {});
  };
  const digitRow = k ? h("div", { class: "lab-digits", role: "radiogroup", "aria-label": "digit to draw" },
    "Digit (every tool draws it): ", ...Array.from({ length: k }, (_, d) => h("button", {
      type: "button", "data-digit": d, onclick: () => { s.digit = d; markDigit(); lab.redrawAll(); } }, String(d)))) : null;
  const markDigit = () => digitRow && digitRow.querySelectorAll("button").forEach((b) =>
    b.classList.toggle("on", Number(b.dataset.digit) === s.digit));
  const header = h("div", { class: "lab-row" },
    number("Seed of z ", s.seed, (v) => lab.reseed(v), "seed"),
    h("button", { type: "button", "data-lab": "reroll", onclick: () => {
      const input = header.querySelector("[data-lab='seed']");
      input.value = s.seed + 1;
      lab.reseed(s.seed + 1);
    } }, "Re-roll"), digitRow,
    h("button", { type: "button", "data-lab": "share", onclick: () => ui.showLink(lab.link()) }, "Link to this view"),
    linkBox);

  // ---- the explored image ----
  ui.main = canvas("main", "lab-main");
  ui.caption = h("div", { class: "lab-caption", "data-lab": "caption" });
  const verdictBox = h("div", { class: "lab-verdict", "data-lab": "verdict" });
  ui.verdict = (p) => {
    if (p == null) { verdictBox.textContent = "What D thinks: no discriminator saved with this model."; return; }
    const asked = k ? ` as a ${s.digit}` : "";
    verdictBox.textContent = `D: probability this is a real digit${asked}: ${p.toFixed(2)} · ` +
      (p >= 0.5 ? "it fools D" : "D spots the fake");
  };

  // ---- tabs ----
  const tabs = [["raw", "Raw dimensions"], ["SeFa", "SeFa"], ["PCA", "PCA (GANSpace)"],
    ["digit", k ? "Digits" : "Towards a digit"], ["pick", "Pick a sample"], ["map", "Class map"]];
  const panels = {};
  const bar = h("div", { class: "lab-tabs", role: "tablist" }, ...tabs.map(([id, name]) => h("button", {
    type: "button", role: "tab", "data-tab": id, onclick: () => { s.tab = id; showTab(); lab.drawTool(); } }, name)));
  const showTab = () => {
    bar.querySelectorAll("button").forEach((b) => b.classList.toggle("on", b.dataset.tab === s.tab));
    for (const [id, panel] of Object.entries(panels)) panel.hidden = id !== s.tab;
  };

  // raw dimensions, a page of eight at a time
  const pages = Math.ceil(model.d / RAW_PER_PAGE);
  const pageSelect = h("select", { "data-lab": "raw-page", onchange: (e) => { s.rawPage = Number(e.target.value); fillRaw(); } },
    ...Array.from({ length: pages }, (_, p) => h("option", { value: p },
      `z[${p * RAW_PER_PAGE}] .. z[${Math.min(model.d, (p + 1) * RAW_PER_PAGE) - 1}]`)));
  const fillRaw = () => {
    const [lo, hi] = m.slider;
    rawBox.replaceChildren(...Array.from({ length: Math.min(RAW_PER_PAGE, model.d - s.rawPage * RAW_PER_PAGE) }, (_, i) => {
      const d = s.rawPage * RAW_PER_PAGE + i;
      return slider(`z[${d}]`, lo, hi, 0.05, Math.min(hi, Math.max(lo, s.base[d])), (v) => { s.base[d] = v; lab.moved(false); }, `raw-${d}`);
    }));
  };
  panels.raw = h("div", {}, h("label", { class: "lab-field" }, "Dimensions ", pageSelect), rawBox);

  // SeFa and PCA: a strip at -3..+3 sigma and a slider for each direction
  const strips = { SeFa: [], PCA: [] };
  for (const kind of ["SeFa", "PCA"]) {
    const found = m.directions[kind];
    const rows = [];
    (found ? found.directions : []).forEach((_, i) => {
      const strip = canvas(`strip-${kind}-${i}`);
      strips[kind].push(strip);
      const row = slider(`${kind} ${i + 1} (sigma)`, -3, 3, 0.1, 0, (v) => { s.alpha[kind][i] = v; lab.moved(false); }, `${kind}-${i}`);
      sliders[kind].push(row);
      rows.push(h("div", { class: "lab-direction" }, h("div", { class: "lab-caption" },
        `${kind} direction ${i + 1} (${found.label} ${Number(found.strength[i]).toPrecision(3)}) at -3..+3 sigma`), strip, row));
    });
    panels[kind] = h("div", {}, ...(rows.length ? rows : [h("p", {}, `${kind} directions are not available for this generator.`)]));
  }

  // towards a digit, or a conditional generator's digits
  const digitPanel = h("div", {});
  panels.digit = digitPanel;
  const towardsStrip = canvas("strip-towards");
  const towardsSlider = slider("Strength", 0, 3, 0.1, 0, (v) => { s.towardsAmount = v; lab.moved(false); }, "towards-amount");
  const towardsSelect = h("select", { "data-lab": "towards-digit", onchange: (e) => { s.towardsDigit = Number(e.target.value); lab.moved(true); } });
  const everyStrip = canvas("strip-every"), blendStrip = canvas("strip-blend");
  const from = h("select", { "data-lab": "blend-from", onchange: () => lab.drawTool() }, ...Array.from({ length: k }, (_, d) => h("option", { value: d }, String(d))));
  const to = h("select", { "data-lab": "blend-to", onchange: () => lab.drawTool() }, ...Array.from({ length: k }, (_, d) => h("option", { value: d }, String(d))));
  if (k) {
    from.value = String(s.digit);  // from the digit being explored to the next one
    to.value = String((s.digit + 1) % k);
    digitPanel.append(h("div", { class: "lab-caption" }, "Same z, every digit: the style stays, the digit changes (click one to draw it)"),
      everyStrip, h("div", { class: "lab-row" }, h("label", {}, "From ", from), h("label", {}, " to ", to)), blendStrip,
      h("div", { class: "lab-caption", "data-lab": "blend-caption" }));
  } else {
    digitPanel.append(h("label", { class: "lab-field" }, "Towards digit ", towardsSelect), towardsSlider, towardsStrip,
      h("div", { class: "lab-caption", "data-lab": "towards-caption" }, "Loading the digit directions..."));
  }

  const pickGrid = canvas("pick-grid", "lab-grid");
  panels.pick = h("div", {}, h("div", { class: "lab-caption", "data-lab": "pick-caption" }), pickGrid);

  // the class map: the class's drawings on the shared z's two main axes
  const mapCanvas = h("canvas", { class: "lab-map", width: 420, height: 320, "data-lab": "class-map" });
  let placed = [];
  mapCanvas.onclick = (event) => {
    const i = pointAt(mapCanvas, placed, event), p = lab.classPoints[i];
    if (p && p.z.length === model.d) lab.setPoint(Float32Array.from(p.z), p.digit, p.name);
  };
  panels.map = h("div", {}, h("div", { class: "lab-caption", "data-lab": "map-caption" }), mapCanvas);

  ui.drawTab = (tab) => {
    const z = s.base;
    if (tab === "map") {
      const points = lab.classPoints.filter((p) => p.z.length === model.d);
      placed = drawMap(mapCanvas, points, model.d, m.noise);
      panels.map.querySelector("[data-lab='map-caption']").textContent = points.length
        ? `${points.length} drawings the class found, on the two main axes of their z, coloured by the digit the ` +
          "classifier reads; grey: samples of the prior, so empty regions show. Click a point to explore it."
        : "No drawings found yet: when the class finds its drawings (Your own digit, below), they appear here.";
      return;
    }
    if (tab === "raw") { if (!rawBox.childElementCount) fillRaw(); return; }
    if (tab === "SeFa" || tab === "PCA") {
      lab.pickStrips(strips[tab].map((canvas, i) => ({
        canvas, zs: L.sigmaStrip(z, lab.direction(tab, i), SIGMAS, m.sigma), where: `${tab} direction ${i + 1}` })));
      return;
    }
    if (tab === "pick") {
      const grid = m.grid;
      const zs = grid ? grid.z.map((v) => Float32Array.from(v)) : L.prior(s.seed + 1, 5 * (k || 5), model.d, m.noise);
      const digits = grid ? grid.digits : (k ? zs.map((_, i) => i % k) : null);
      panels.pick.querySelector("[data-lab='pick-caption']").textContent = (grid ? "The live grid's fixed noise batch, drawn by the weights in use"
        : `Samples from seed ${s.seed + 1}`) + (k ? ", a column per digit" : "") + ": click one to explore it";
      lab.pickStrip(pickGrid, zs, grid ? "the live grid" : "the sample grid", k || 5, digits);
      return;
    }
    if (k) {
      const zf = lab.zFinal();
      const every = Array.from({ length: k }, () => zf);
      lab.strip(everyStrip, every, Array.from({ length: k }, (_, d) => d), k, (d) => lab.setPoint(zf, d, `the same z as digit ${d}`));
      const a = Number(from.value), b = Number(to.value);
      const caption = digitPanel.querySelector("[data-lab='blend-caption']");
      if (model.canBlend) {
        paint(blendStrip, model.blend(L.stack(Array.from({ length: 9 }, () => zf)), a, b), 9);
        caption.textContent = `the digit's embedding blended from ${a} to ${b} in 9 steps, z fixed`;
      } else {
        paint(blendStrip, lab.images([zf, zf], [a, b]), 2);
        caption.textContent = "This generator reads the digit in a way that cannot be blended: the two ends only.";
      }
      return;
    }
    lab.ensureTowards().then(() => {
      const dirs = lab.towards[model.key];
      const caption = digitPanel.querySelector("[data-lab='towards-caption']");
      const found = dirs ? Object.keys(dirs) : [];
      if (!found.length) { caption.textContent = "The classifier found no digit often enough yet: train longer."; return; }
      if (towardsSelect.options.length !== found.length) towardsSelect.replaceChildren(...found.map((d) => h("option", { value: d }, d)));
      if (s.towardsDigit == null || !(s.towardsDigit in dirs)) s.towardsDigit = Number(found[0]);
      towardsSelect.value = String(s.towardsDigit);
      const d = dirs[s.towardsDigit];
      lab.pickStrip(towardsStrip, [0, 0.75, 1.5, 2.25, 3].map((a) => L.add(z, d, a)), `towards ${s.towardsDigit}`, 5, null);
      caption.textContent = `towards ${s.towardsDigit}: strength 0 .. 3 (mean latent of samples the classifier calls it, minus the mean latent)`;
    }).catch((err) => { digitPanel.querySelector("[data-lab='towards-caption']").textContent = `No digit directions: ${err.message}`; });
  };

  // ---- between points ----
  const bSelect = h("select", { "data-lab": "b-kind", onchange: (e) => { s.b = e.target.value; lab.drawBetween(); } });
  ui.refreshPoints = () => {
    const names = ["a seed", ...lab.classPoints.map((p) => p.name)];
    bSelect.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    if (!names.includes(s.b)) s.b = "a seed";
    bSelect.value = s.b;
    if (s.tab === "map" && ui.drawTab) ui.drawTab("map");  // the map follows the class live
  };
  ui.refreshPoints();
  const pathStrip = canvas("strip-path"), plot = h("canvas", { class: "lab-plot", width: 420, height: 200, "data-lab": "norms" });
  const walkCanvas = canvas("walk", "lab-walk"), analogyGrid = canvas("analogy", "lab-grid3");
  const pathCaption = h("div", { class: "lab-caption", "data-lab": "path-caption" });
  const method = h("select", { "data-lab": "method", onchange: (e) => { s.method = e.target.value; lab.drawBetween(); } },
    h("option", { value: "slerp" }, "slerp"), h("option", { value: "lerp" }, "lerp"));
  let walkTimer = null;
  const play = h("button", { type: "button", "data-lab": "walk-play", onclick: () => {
    if (walkTimer) { clearInterval(walkTimer); walkTimer = null; play.textContent = "Play the walk A -> B -> C -> A"; return; }
    const [a, b, c] = lab.points();
    const frames = L.walk([a, b, c], 12, s.method);
    const images = lab.images(frames);
    let i = 0;
    play.textContent = "Stop";
    walkTimer = setInterval(() => { paint(walkCanvas, images.subarray((i % frames.length) * 784, (i % frames.length + 1) * 784), 1, 0); i++; }, 80);
  } }, "Play the walk A -> B -> C -> A");
  const details = h("details", { class: "lab-between", ontoggle: () => { s.between = details.open; lab.drawBetween(); } },
    h("summary", {}, "Between points: paths, walks and analogies"),
    h("div", { class: "lab-row" }, h("label", { class: "lab-field" }, "B is ", bSelect),
      number("Seed of B ", s.seedB, (v) => { s.seedB = v; lab.drawBetween(); }, "seed-b"),
      number("Seed of C ", s.seedC, (v) => { s.seedC = v; lab.drawBetween(); }, "seed-c"),
      h("label", { class: "lab-field" }, "Path ", method),
      h("label", { class: "lab-field" }, h("input", { type: "checkbox", "data-lab": "via-c", onchange: (e) => { s.viaC = e.target.checked; lab.drawBetween(); } }), " continue on to C")),
    slider("Steps", 3, 16, 1, s.steps, (v) => { s.steps = v; lab.drawBetween(); }, "steps"),
    pathStrip, pathCaption, plot,
    h("div", { class: "lab-caption" }, "Most of a high-dimensional Gaussian lies near the shell |z| = sqrt(d). The straight line between two points cuts inside it, where the generator rarely saw latents; slerp follows the shell."),
    h("div", { class: "lab-row" }, h("div", {}, play, walkCanvas),
      h("div", {}, analogyGrid, h("div", { class: "lab-caption" }, "Analogy: A (top left), B (top right), C (bottom left), A - B + C (bottom right)"))));

  ui.drawBetween = () => {
    const [a, b, c, bDigit, bName] = lab.points();
    const path = L.interpolate(s.viaC ? [a, b, c] : [a, b], s.steps, s.method);
    let caption = `${s.method} from the explorer's point (A) to B (${bName})` + (s.viaC ? " to C" : "");
    if (k && bDigit != null && bDigit !== s.digit && !s.viaC && model.canBlend) {
      paint(pathStrip, model.blend(L.stack(path), s.digit, bDigit), path.length);
      pathStrip.onclick = (e) => { const i = Math.min(path.length - 1, Math.floor((e.offsetX / pathStrip.clientWidth) * path.length));
        lab.setPoint(path[i], i < path.length / 2 ? s.digit : bDigit, `the ${s.method} path, sample ${i + 1}`); };
      caption += `, the digit blending from ${s.digit} to ${bDigit}`;
    } else {
      lab.pickStrip(pathStrip, path, `the ${s.method} path`, path.length);
    }
    pathCaption.textContent = caption;
    normPlot(plot, { lerp: L.interpolate([a, b], s.steps, "lerp").map(L.norm), slerp: L.interpolate([a, b], s.steps, "slerp").map(L.norm) }, m.typical_norm);
    lab.pickStrip(analogyGrid, L.analogy(a, b, c), "the analogy grid", 3);
    if (!walkTimer) paint(walkCanvas, lab.images([a]), 1, 0);
  };

  /** The controls show the state (after a shared link set it). */
  ui.syncControls = () => {
    for (const kind of ["SeFa", "PCA"]) sliders[kind].forEach((row, i) => row.set(s.alpha[kind][i]));
    towardsSlider.set(s.towardsAmount);
    if (s.towardsDigit != null) towardsSelect.value = String(s.towardsDigit);
    if (s.tab === "raw") fillRaw(); else rawBox.replaceChildren();
    showTab();
    markDigit();
  };

  ui.resetSliders = () => {
    for (const kind of ["SeFa", "PCA"]) sliders[kind].forEach((row) => row.set(0));
    towardsSlider.set(0);
    if (s.tab === "raw") fillRaw(); else rawBox.replaceChildren();
    markDigit();
  };

  ui.el = h("div", { class: "lab" }, header,
    h("div", { class: "lab-cols" },
      h("div", { class: "lab-explore" }, ui.main, ui.caption, verdictBox),
      h("div", { class: "lab-tools" }, bar, ...Object.values(panels))),
    details);
  showTab();
  markDigit();
  return ui;
}
