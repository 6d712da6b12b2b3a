// The lab's view as a link: the explored z, the digit, the tool shown and its slider values, in
// the page's URL (after "#lab="), so a link opens the same view. Only what the lab draws from
// travels (every tab draws the images itself); a link is held against the model it is opened
// with, and anything out of range is left out rather than trusted.

export const TABS = ["raw", "SeFa", "PCA", "digit", "pick", "map"];
const DIRECTIONS = 5, DECIMALS = 3, MAX_Z = 50, MAX_WHERE = 80, PREFIX = "#lab=";

const round = (v) => Math.round(v * 10 ** DECIMALS) / 10 ** DECIMALS;
const finite = (v) => typeof v === "number" && Number.isFinite(v);
const clip = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/** The shareable part of a lab's state `s` (see lab.js) as a compact string. */
export function encodeState(s) {
  const state = {
    v: 1, z: Array.from(s.base, round), digit: s.digit, tab: s.tab, where: String(s.where || "").slice(0, MAX_WHERE),
    alpha: { SeFa: s.alpha.SeFa.map(round), PCA: s.alpha.PCA.map(round) },
    towards: s.towardsDigit, amount: round(s.towardsAmount || 0),
  };
  let binary = "";
  new TextEncoder().encode(JSON.stringify(state)).forEach((b) => { binary += String.fromCharCode(b); });
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A link's state for a model of latent size `d` and `k` digits (0: none), every value checked
 * and clipped; null when the text is no lab state or its z does not fit the model. */
export function decodeState(text, d, k) {
  let state;
  try {
    const binary = atob(String(text).replace(/-/g, "+").replace(/_/g, "/"));
    state = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
  if (!state || state.v !== 1 || !Array.isArray(state.z) || state.z.length !== d || !state.z.every(finite)) return null;
  const alphas = (list) => Array.from({ length: DIRECTIONS }, (_, i) =>
    Array.isArray(list) && finite(list[i]) ? clip(list[i], -3, 3) : 0);
  const digitOk = (x, n) => Number.isInteger(x) && x >= 0 && x < n;
  return {
    z: Float32Array.from(state.z, (v) => clip(v, -MAX_Z, MAX_Z)),
    digit: k && digitOk(state.digit, k) ? state.digit : null,
    tab: TABS.includes(state.tab) ? state.tab : "raw",
    where: typeof state.where === "string" ? state.where.slice(0, MAX_WHERE) : "a shared link",
    alpha: { SeFa: alphas(state.alpha && state.alpha.SeFa), PCA: alphas(state.alpha && state.alpha.PCA) },
    towards: digitOk(state.towards, 10) ? state.towards : null,
    amount: finite(state.amount) ? clip(state.amount, 0, 3) : 0,
  };
}

/** The encoded state in a URL hash ("#lab=..."), or null. */
export function stateInHash(hash) {
  return typeof hash === "string" && hash.startsWith(PREFIX) ? hash.slice(PREFIX.length) : null;
}

/** `url` with the lab's state as its hash and, when given, the generator as `?model=`. */
export function withState(url, encoded, model = undefined) {
  const out = new URL(String(url));
  if (model) out.searchParams.set("model", model);
  else if (model === null) out.searchParams.delete("model");
  out.hash = PREFIX.slice(1) + encoded;
  return out.href;
}
