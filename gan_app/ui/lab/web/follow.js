// Follow the presenter: while the presenter presents, this lab shows the presenter's view (the
// model version, z, the tool and its slider values) as it changes, drawn in this tab. A student
// can explore on their own and follow again; a tab that opens mid-lesson joins where the
// presenter is. The presenter's own lab (its page holds the presenter's token) leads instead:
// it sends its view as it moves, at most every LEAD_MS. The presenter can also put one of the
// class's drawings on every screen (a spotlight), following or not.
import { h } from "./tools.js";
import { decodeState, encodeState } from "./share.js";

const LEAD_MS = 100;

export class Follower {
  constructor(lab) {
    this.lab = lab;
    this.following = true;
    this.present = { on: false, view: null };
    this.shown = 0;  // views shown: the tests and the benchmark read it from the page
    this.check = h("input", { type: "checkbox", checked: true, "data-lab": "follow",
      onchange: () => { this.following = this.check.checked; this.mark(); if (this.following) this.show(); } });
    this.el = h("label", { class: "lab-follow", hidden: true }, this.check, " Follow the presenter");
  }

  get leads() { return Boolean(this.lab.data.lead_token); }

  mark() {
    const root = this.lab.root;
    this.el.hidden = !this.present.on || this.leads;
    root.dataset.present = this.present.on ? (this.leads ? "leading" : this.following ? "following" : "own") : "off";
  }

  /** A message from the server: Present switched on or off, or the presenter's newest view. */
  heard(present) {
    this.present = present;
    this.mark();
    if (this.following && !this.leads) this.show();
  }

  async show() {
    const view = this.present.on ? this.present.view : null;
    const lab = this.lab;
    if (!view || !lab.model) return;
    if (view.key !== lab.model.key) await lab.use(view.key, null);
    if (view !== this.present.view || !this.following) return;  // a newer view came meanwhile, or the student left
    lab.applyShared(decodeState(view.state, lab.model.d, lab.model.k));
    lab.root.dataset.followed = String(++this.shown);
  }

  /** The presenter put one of the class's drawings on every screen: it becomes this lab's point. */
  async spotlit(point) {
    const lab = this.lab;
    if (!lab.model || !Array.isArray(point.z)) return;
    if (point.key !== lab.model.key) await lab.use(point.key, null);
    if (point.z.length !== lab.model.d || !point.z.every(Number.isFinite)) return;
    lab.setPoint(Float32Array.from(point.z), point.digit, `spotlight: ${point.name}`);
    lab.root.dataset.spotlight = String(point.name);
  }

  /** The presenter's lab after a move: its view to the class, at most every LEAD_MS. */
  moved() {
    if (!this.leads || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const lab = this.lab, ws = lab.ws;
      if (!lab.model || !lab.s.base || !ws || ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify({ token: lab.data.lead_token,
        lead: { key: lab.model.key, state: encodeState(lab.s), model: lab.data.link_model || null } }));
    }, LEAD_MS);
  }
}
