// The latent lab, drawn in the student's tab: every slider, strip, path and verdict runs the
// generator (and D) here, so moving a slider costs the server nothing. The server sends the
// model version to use (and, for the live run, each new version over /lab/socket); tools.js
// builds the tools, this module keeps the state and draws.
import { loadTf } from "./runtime.js";
import { loadModel } from "./model.js";
import * as L from "./latent.js";
import { paint, cellAt } from "./draw.js";
import { h, buildTools } from "./tools.js";
import { decodeState, encodeState, stateInHash, withState } from "./share.js";
import { Follower } from "./follow.js";
import { Game } from "./game.js";

// The lab's socket: refused tries in a row before it stops (and says so), the first wait,
// doubled after each, and how long a socket must stay open to count as connected.
const MAX_FAILURES = 3, RETRY_MS = 2000, STAYED_OPEN_MS = 10000, TRY_LATER = 1013;
const URL_DELAY_MS = 400;  // the URL follows the view once the sliders rest

class Lab {
  constructor(root, data) {
    this.root = root;
    this.data = data;
    this.s = {
      seed: 0, base: null, where: "", pointN: null, digit: 7, tab: "raw", rawPage: 0,
      alpha: { SeFa: [0, 0, 0, 0, 0], PCA: [0, 0, 0, 0, 0] }, towardsDigit: null, towardsAmount: 0,
      b: "a seed", seedB: 7, seedC: 11, method: "slerp", steps: 10, viaC: false, between: false,
    };
    this.classPoints = data.class_points || [];
    this.towards = {};
    this.timings = [];
    this.status = h("div", { class: "lab-status", "data-lab": "status" }, "Loading the generator into this tab...");
    this.follower = new Follower(this);
    this.game = new Game(this);
    root.replaceChildren(this.status);
    root.__lab = this;
  }

  async start() {
    this.tf = await loadTf(this.data.base);
    await this.use(this.data.key, this.data.step);
    this.listen();  // new live weights, the class's drawings, the presenter's view
  }

  // ---- the model version ---------------------------------------------------------------
  async use(key, step) {
    const model = await loadModel(this.tf, this.data.models, key);
    const first = !this.model;
    this.model = model;
    this.step = step;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ key }));  // the class's drawings of this version
    if (first) {
      this.s.digit = model.k ? Math.min(this.s.digit ?? 7, model.k - 1) : null;
      this.ui = buildTools(this, model);
      this.root.replaceChildren(this.status, this.follower.el, this.game.el, this.ui.el);
      this.applyShared(decodeState(stateInHash(window.location.hash), model.d, model.k)) ||
        this.applyPoint(this.data.point) || this.reseed(this.s.seed);
    } else if (model.d !== this.s.base.length || model.k !== this.ui.model.k) {
      this.s.digit = model.k ? Math.min(this.s.digit ?? 7, model.k - 1) : null;
      this.ui = buildTools(this, model);
      this.root.replaceChildren(this.status, this.follower.el, this.game.el, this.ui.el);
      this.reseed(this.s.seed);
    }
    this.ui.model = model;
    this.showStatus();
    this.redrawAll();
  }

  showStatus() {
    const m = this.model.m;
    const what = m.step == null ? m.name : `${m.name}`;
    this.status.textContent = `Drawn in this tab (${this.tf.getBackend()}): ${what}` +
      (this.data.live && this.root.dataset.socket !== "stopped" ? " · new weights arrive by themselves as the run trains" : "");
    this.root.dataset.key = this.model.key;
    this.root.dataset.ready = "1";
  }

  listen() {
    const url = new URL(this.data.socket, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("key", this.model.key);
    url.searchParams.set("live", this.data.live ? "1" : "0");
    // A socket that the server closes at once (full, or this address has its share) fires
    // onopen too: only a message, or a socket that stayed open a while, counts as connected.
    let failures = 0;
    const connect = () => {
      const ws = new WebSocket(url);
      const opened = Date.now();
      this.ws = ws;
      ws.onopen = () => this.game.connected();
      ws.onmessage = (event) => {
        failures = 0;
        const msg = JSON.parse(event.data);
        if (msg.live && msg.live.key !== this.model.key) this.use(msg.live.key, msg.live.step).catch(console.error);
        if (msg.class_points) { this.classPoints = msg.class_points; this.ui.refreshPoints(); }
        if (msg.present) this.follower.heard(msg.present);
        if (msg.spotlight) this.follower.spotlit(msg.spotlight).catch(console.error);
        if (msg.game) this.game.heard(msg.game);
        if (msg.turn) this.game.turn(msg.turn).catch(console.error);
        if (msg.class_curve) this.game.curve(msg.class_curve);
      };
      ws.onclose = (event) => {
        if (this.closed) return;
        if (Date.now() - opened > STAYED_OPEN_MS && event.code !== TRY_LATER) failures = 0;
        if (++failures > MAX_FAILURES) {
          this.status.textContent = event.code === TRY_LATER
            ? `Updates (new weights, the presenter's view) no longer arrive: ${event.reason || "the server is full"}. Reload the page later.`
            : "Updates (new weights, the presenter's view) no longer arrive: the connection to the server was lost. Reload the page.";
          this.root.dataset.socket = "stopped";
          return;
        }
        setTimeout(connect, RETRY_MS * 2 ** (failures - 1));
      };
    };
    connect();
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }

  // ---- the explorer's point ------------------------------------------------------------
  reseed(seed) {
    this.s.seed = seed;
    this.setPoint(L.prior(seed, 1, this.model.d, this.model.m.noise)[0], null, `seed ${seed}`);
  }

  applyPoint(point) {
    if (!point || point.n === this.s.pointN || point.z.length !== this.model.d) return false;
    this.s.pointN = point.n;
    this.setPoint(Float32Array.from(point.z), point.digit, point.where);
    return true;
  }

  /** A shared view (share.js's decodeState): its point, digit, tool and slider values. */
  applyShared(shared) {
    if (!shared) return false;
    Object.assign(this.s, { base: shared.z, where: shared.where, tab: shared.tab, alpha: shared.alpha,
      towardsDigit: shared.towards, towardsAmount: shared.amount });
    if (shared.digit != null) this.s.digit = shared.digit;
    this.ui.syncControls();
    this.redrawAll(true);
    return true;
  }

  /** This view as a link (the page's URL, its state after "#lab="). */
  link() {
    return withState(window.location.href, encodeState(this.s), this.data.link_model);
  }

  /** Keep the page's URL on the current view, so reloading or copying it keeps the view. */
  keepInUrl() {
    clearTimeout(this.urlTimer);
    this.follower.moved();
    this.urlTimer = setTimeout(() => {
      if (this.s.base) window.history.replaceState(window.history.state, "", this.link());
    }, URL_DELAY_MS);
  }

  setPoint(z, digit, where) {
    this.s.base = Float32Array.from(z);
    if (digit != null && this.model.k) this.s.digit = digit;
    this.s.where = where;
    this.s.alpha = { SeFa: [0, 0, 0, 0, 0], PCA: [0, 0, 0, 0, 0] };
    this.s.towardsAmount = 0;
    if (this.ui) this.ui.resetSliders();
    this.redrawAll();
  }

  direction(kind, i) {
    const dirs = kind === "towards" ? this.towards[this.model.key] : this.model.m.directions[kind];
    return dirs ? (kind === "towards" ? dirs[i] : dirs.directions[i]) : null;
  }

  zFinal() {
    let z = this.s.base;
    const sigma = this.model.m.sigma;
    for (const kind of ["SeFa", "PCA"]) {
      this.s.alpha[kind].forEach((a, i) => {
        const d = this.direction(kind, i);
        if (a && d) z = L.add(z, d, (a * sigma) / (L.norm(d) + 1e-12));
      });
    }
    const t = this.s.towardsDigit != null ? this.direction("towards", this.s.towardsDigit) : null;
    if (t && this.s.towardsAmount) z = L.add(z, t, this.s.towardsAmount);
    return z;
  }

  /** [A (the explorer's point), B, C, B's digit or null, B's name] for the paths. */
  points() {
    const s = this.s, d = this.model.d, noise = this.model.m.noise;
    const chosen = this.classPoints.find((p) => p.name === s.b && p.z.length === d);
    const b = chosen ? Float32Array.from(chosen.z) : L.prior(s.seedB, 1, d, noise)[0];
    const c = L.prior(s.seedC, 1, d, noise)[0];
    return [this.zFinal(), b, c, chosen ? chosen.digit : null, chosen ? chosen.name : `seed ${s.seedB}`];
  }

  /** The towards-a-digit directions of this version, computed on the server once for everyone. */
  ensureTowards() {
    const key = this.model.key;
    this.towardsLoading = this.towardsLoading || {};
    if (!this.towardsLoading[key]) {
      this.towardsLoading[key] = fetch(`${this.data.models}${key}/towards.json`).then(async (response) => {
        if (!response.ok) throw new Error(`the server answered ${response.status}`);
        this.towards[key] = (await response.json()).directions;
      }).catch((err) => { delete this.towardsLoading[key]; throw err; });
    }
    return this.towardsLoading[key];
  }

  // ---- drawing ---------------------------------------------------------------------------
  timed(what, fn) {
    const t0 = performance.now();
    const out = fn();
    this.timings.push([what, performance.now() - t0]);
    if (this.timings.length > 500) this.timings.splice(0, 250);
    return out;
  }

  /** images for latents (an array of Float32Arrays) at one digit, or per-latent digits. */
  images(zs, digits = this.s.digit) {
    return this.model.images(L.stack(zs), digits);
  }

  strip(canvas, zs, digits, cols, onPick) {
    paint(canvas, this.images(zs, digits), cols || zs.length);
    canvas.onclick = (event) => onPick(cellAt(canvas, event));
  }

  /** A clickable strip whose samples become the explorer's point. */
  pickStrip(canvas, zs, where, cols, digits = this.s.digit) {
    this.pickStrips([{ canvas, zs, where, cols }], digits);
  }

  /** Several clickable strips (at one digit) drawn with one generator call. */
  pickStrips(strips, digit = this.s.digit) {
    const all = strips.flatMap((strip) => strip.zs);
    const images = this.images(all, digit);
    let at = 0;
    for (const { canvas, zs, where, cols } of strips) {
      const first = at;
      paint(canvas, images.subarray(at * 784, (at + zs.length) * 784), cols || zs.length);
      canvas.onclick = (event) => {
        const i = cellAt(canvas, event);
        this.setPoint(zs[i], Array.isArray(digit) ? digit[first + i] : digit, `${where}, sample ${i + 1}`);
      };
      at += zs.length;
    }
  }

  drawMain() {
    this.timed("main", () => {
      const z = this.zFinal();
      const image = this.images([z]);
      paint(this.ui.main, image, 1, 0);
      const asked = this.model.k ? `, digit ${this.s.digit}` : "";
      this.ui.caption.textContent = `${this.s.where}${asked}: |z| = ${L.norm(z).toFixed(2)} ` +
        `(typical ${this.model.m.typical_norm.toFixed(1)})`;
      const p = this.model.judge(image, this.s.digit);
      this.ui.verdict(p ? p[0] : null);
    });
  }

  drawTool() {
    this.timed(`tool ${this.s.tab}`, () => this.ui.drawTab(this.s.tab));
  }

  drawBetween() {
    if (this.s.between) this.timed("between", () => this.ui.drawBetween());
  }

  /** After a slider move: the image at once, the strips that depend on it in the next frame. */
  moved(strips = false) {
    this.keepInUrl();
    this.drawMain();
    cancelAnimationFrame(this.pending);
    this.pending = requestAnimationFrame(() => {
      if (strips) this.drawTool();
      this.drawBetween();
    });
  }

  /** Everything again; `mainFirst`: the main image shows in the next frame, the strips after it
   * (a follower sees the presenter's image without waiting for the tool's strips). */
  redrawAll(mainFirst = false) {
    if (!this.ui || !this.s.base) return;
    this.keepInUrl();
    this.drawMain();
    const rest = () => { this.drawTool(); this.drawBetween(); };
    cancelAnimationFrame(this.pending);
    clearTimeout(this.pendingRest);
    if (mainFirst) this.pending = requestAnimationFrame(() => { this.pendingRest = setTimeout(rest, 0); });
    else rest();
  }
}

/** Entry point (the component calls it on every data update): one Lab per element. */
export function render(root, data) {
  const lab = root.__lab;
  if (lab && lab.data.base === data.base && lab.data.live === data.live && lab.model) {
    const watched = lab.data.game_token;
    lab.data = data;
    lab.follower.mark();  // the page may have made this tab the leader, or no longer
    lab.game.mark();
    if (data.game_token && data.game_token !== watched) lab.game.connected();  // unlocked: the class's curve
    if (data.class_points) { lab.classPoints = data.class_points; lab.ui.refreshPoints(); }
    if (data.key !== lab.model.key) lab.use(data.key, data.step).catch((err) => fail(root, err));
    else lab.applyPoint(data.point);
    return lab;
  }
  if (lab) lab.close();
  const fresh = new Lab(root, data);
  fresh.start().catch((err) => fail(root, err));
  return fresh;
}

function fail(root, err) {
  console.error(err);
  root.dataset.failed = String(err && err.message ? err.message : err);
  const status = root.querySelector("[data-lab='status']");
  if (status) status.textContent = `This tab could not run the generator (${root.dataset.failed}).`;
  if (root.__onFail) root.__onFail(root.dataset.failed);
}
