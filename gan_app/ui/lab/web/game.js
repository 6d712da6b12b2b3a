// Real or fake?: while the presenter runs the game, this lab is dealt one card at a time over
// the lab's socket (gan_app/classroom/desk.py): a real digit's pixels, or a seed (and a digit) that
// this tab draws a fake from with the live generator's version named on the card. The student
// answers; the server checks the answer against the card it dealt and sends this tab's own
// score with the next card. The presenter's lab does not play: it shows the class's accuracy
// beside D's, by the run's step (curve.js), as the server sends it.
import { h } from "./tools.js";
import { paint } from "./draw.js";
import { loadModel } from "./model.js";
import * as L from "./latent.js";
import { drawCurve } from "./curve.js";

const PLAYER_KEY = "gan-lab-player";  // this tab's player id (kept across reloads of the tab)
const pct = (v) => (v == null ? "-" : `${Math.round(v * 100)}%`);

/** A random 32-hex id, kept in the tab's sessionStorage. */
function playerId() {
  let id = null;
  try { id = sessionStorage.getItem(PLAYER_KEY); } catch (err) { /* storage off: one id per page */ }
  if (!/^[0-9a-f]{32}$/.test(id || "")) {
    id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    try { sessionStorage.setItem(PLAYER_KEY, id); } catch (err) { /* as above */ }
  }
  return id;
}

/** A real card's pixels (base64 of 784 bytes) as an image in [0, 1]. */
function pixels(text) {
  const raw = atob(text);
  return Float32Array.from({ length: raw.length }, (_, i) => raw.charCodeAt(i) / 255);
}

export class Game {
  constructor(lab) {
    this.lab = lab;
    this.on = false;
    this.player = playerId();
    this.card = null;
    this.canvas = h("canvas", { class: "lab-game-card", "data-lab": "game-card" });
    this.realBtn = h("button", { "data-lab": "game-real", disabled: true, onclick: () => this.answer(true) }, "Real");
    this.fakeBtn = h("button", { "data-lab": "game-fake", disabled: true, onclick: () => this.answer(false) }, "Fake");
    this.said = h("div", { class: "lab-verdict", "data-lab": "game-said" });
    this.score = h("div", { class: "lab-caption", "data-lab": "game-score" }, "Your score: none yet");
    this.chart = h("canvas", { class: "lab-plot", "data-lab": "game-curve" });
    this.classSays = h("div", { class: "lab-caption", "data-lab": "game-class" }, "No answers yet.");
    this.play = h("div", {}, h("div", { class: "lab-caption" },
      "Is this digit real, or did the generator draw it? Only you see your score."), this.canvas,
    h("div", { class: "lab-row" }, this.realBtn, this.fakeBtn), this.said, this.score);
    this.board = h("div", {}, h("div", { class: "lab-caption" },
      "The class's answers against D's, by the run's step: who is fooled first?"), this.chart, this.classSays);
    this.el = h("section", { class: "lab-game", hidden: true }, h("h4", {}, "Real or fake?"), this.play, this.board);
  }

  get presenter() { return Boolean(this.lab.data.game_token); }

  mark() {
    this.el.hidden = !this.on && !(this.presenter && this.shownCurve);
    this.play.hidden = this.presenter;
    this.board.hidden = !this.presenter;
    this.lab.root.dataset.game = this.on ? (this.presenter ? "watching" : "playing") : "off";
  }

  /** The lab's socket (re)opened: the presenter's lab asks for the class's curve; a player
   * asks for a card when the game is on. */
  connected() {
    if (this.presenter) this.send({ watch_game: this.lab.data.game_token });
    else if (this.on) this.ask(null, null);
  }

  /** The game switched on or off (and, on a tab that opened mid-game, its state). */
  heard(state) {
    const was = this.on;
    this.on = Boolean(state.on);
    this.mark();
    if (this.on && !was && !this.presenter) this.ask(null, null);
    if (!this.on) this.setCard(null);
  }

  send(message) {
    const ws = this.lab.ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  ask(card, real) {
    this.send({ play: { player: this.player, card, real } });
  }

  answer(real) {
    if (!this.card) return;
    this.answered = this.card;
    this.setCard(null);
    this.ask(this.answered.id, real);
  }

  setCard(card) {
    this.card = card;
    this.realBtn.disabled = this.fakeBtn.disabled = !card;
  }

  /** The server's reply to this tab: the verdict on its answer, and its next card. */
  async turn(turn) {
    if (turn.verdict) {
      const v = turn.verdict, [right, answered] = v.score;
      const was = v.was_real ? "a real digit" : `a fake, drawn at step ${v.step.toLocaleString()}`;
      this.said.textContent = `${v.right ? "Right" : "Wrong"}: that was ${was}.`;
      this.score.textContent = `Your score: ${right} of ${answered} right (${pct(right / answered)})`;
      this.lab.root.dataset.gameScore = `${right}/${answered}`;
    }
    if (turn.refused) this.said.textContent = `Not counted: ${turn.refused}.`;
    if (turn.refused === "too fast" && this.answered) this.setCard(this.answered);  // the same card: look again
    if (turn.why) this.said.textContent = `No card: ${turn.why}.`;
    if (turn.card) await this.show(turn.card);
  }

  async show(card) {
    let image;
    if (card.image) image = pixels(card.image);
    else {
      const model = await loadModel(this.lab.tf, this.lab.data.models, card.key);
      const z = L.prior(card.seed, 1, model.d, model.m.noise)[0];
      image = model.images(z, model.k ? card.digit : null);
    }
    if (!this.on) return;
    paint(this.canvas, image, 1, 0);
    this.setCard(card);
    this.lab.root.dataset.gameCard = card.id;
  }

  /** The class's curve (the presenter's lab only). */
  curve(c) {
    this.shownCurve = true;
    drawCurve(this.chart, c.points);
    const measured = c.points.filter((p) => p.d != null);
    this.classSays.textContent = c.answers
      ? `${c.players} playing, ${c.answers} answers: the class ${pct(c.class)} right` +
        (measured.length ? `, D ${pct(measured.at(-1).d)} on the newest version.` : ".")
      : "No answers yet.";
    this.lab.root.dataset.gameAnswers = String(c.answers);
    this.mark();
  }
}
