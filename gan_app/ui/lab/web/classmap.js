// The class map: every drawing the class found in this model version on one 2-D map of latent
// space (the two main axes of the shared z, by PCA), coloured by the digit the server's
// classifier reads in G(z), over a faint cloud of the prior's samples, so the regions nobody
// has found a drawing in show. A click on a point explores it.
import * as L from "./latent.js";

export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#bab0ac"];
const CLOUD = 400, RADIUS = 6, PICK_PX = 12;

const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);

/** The mean of `zs` and its two main axes (unit vectors): power iteration on the covariance,
 * the second deflated by the first. With fewer than three points, z's first two coordinates. */
export function mainAxes(zs, d) {
  const mean = new Float32Array(d);
  zs.forEach((z) => z.forEach((v, i) => { mean[i] += v / zs.length; }));
  const basis = (i) => Float32Array.from({ length: d }, (_, j) => (j === i ? 1 : 0));
  if (zs.length < 3) return { mean: zs.length ? mean : new Float32Array(d), axes: [basis(0), basis(1 % d)] };
  const centred = zs.map((z) => Float32Array.from(z, (v, i) => v - mean[i]));
  const axes = [];
  for (let k = 0; k < 2; k++) {
    let u = Float32Array.from({ length: d }, (_, i) => Math.cos(i + k));
    for (let it = 0; it < 100; it++) {
      const next = new Float32Array(d);
      for (const c of centred) {
        const w = dot(c, u);
        c.forEach((v, i) => { next[i] += w * v; });
      }
      for (const a of axes) { const p = dot(next, a); next.forEach((v, i) => { next[i] = v - p * a[i]; }); }
      const n = Math.hypot(...next);
      if (n < 1e-12) break;
      u = next.map((v) => v / n);
    }
    axes.push(u);
  }
  return { mean, axes };
}

/** (x, y) of z on the map's axes. */
export function project(z, { mean, axes }) {
  const c = Float32Array.from(z, (v, i) => v - mean[i]);
  return [dot(c, axes[0]), dot(c, axes[1])];
}

/** Draws the map of `points` ({name, z, digit, reads}) on `canvas`; returns the points' pixel
 * positions, for clicks. `cloud`: the prior's samples (seeded, the same in every tab). */
export function drawMap(canvas, points, d, noise) {
  const ctx = canvas.getContext("2d");
  const frame = mainAxes(points.map((p) => Float32Array.from(p.z)), d);
  const cloud = L.prior(99, CLOUD, d, noise).map((z) => project(z, frame));
  const spots = points.map((p) => project(p.z, frame));
  const all = cloud.concat(spots);
  const span = Math.max(1e-6, ...all.map(([x, y]) => Math.max(Math.abs(x), Math.abs(y))));
  const w = canvas.width, h = canvas.height, scale = (Math.min(w, h) / 2 - RADIUS * 2) / span;
  const at = ([x, y]) => [w / 2 + x * scale, h / 2 - y * scale];
  ctx.fillStyle = "#111";
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = "rgba(200, 200, 200, 0.25)";
  for (const c of cloud) { const [x, y] = at(c); ctx.fillRect(x - 1, y - 1, 2, 2); }
  const placed = spots.map((s, i) => {
    const [x, y] = at(s), digit = points[i].reads ?? points[i].digit;
    ctx.fillStyle = digit == null ? "#ddd" : PALETTE[digit % PALETTE.length];
    ctx.beginPath();
    ctx.arc(x, y, RADIUS, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = "#eee";
    ctx.font = "11px sans-serif";
    ctx.fillText(digit == null ? points[i].name : `${digit}`, x + RADIUS + 2, y + 4);
    return [x, y];
  });
  canvas.dataset.points = String(points.length);
  return placed;
}

/** The index of the point nearest a click on `canvas` (within a few pixels), or -1. */
export function pointAt(canvas, placed, event) {
  const r = canvas.getBoundingClientRect();
  const x = ((event.clientX - r.left) / r.width) * canvas.width, y = ((event.clientY - r.top) / r.height) * canvas.height;
  let best = -1, bestD = PICK_PX;
  placed.forEach(([px, py], i) => { const dist = Math.hypot(px - x, py - y); if (dist < bestD) { best = i; bestD = dist; } });
  return best;
}
