// Latent-space maths in the page, as gan_app/core/latent.py does it on the server: a seeded prior,
// lerp / slerp paths, walks, the analogy grid and sigma strips. Latents are Float32Arrays.

/** A seeded stream of numbers in [0, 1) (mulberry32). */
export function rng(seed) {
  let a = (seed >>> 0) ^ 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n latents from the prior (N(0, 1), or U(-1, 1) for "uniform"), one Float32Array each. */
export function prior(seed, n, d, noise) {
  const next = rng(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    const z = new Float32Array(d);
    for (let j = 0; j < d; j++) {
      if (noise === "uniform") z[j] = 2 * next() - 1;
      else z[j] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    }
    out.push(z);
  }
  return out;
}

export const norm = (z) => Math.sqrt(z.reduce((s, v) => s + v * v, 0));
export const add = (a, b, s = 1) => a.map((v, i) => v + s * b[i]);
const lerp = (a, b, t) => a.map((v, i) => (1 - t) * v + t * b[i]);

function slerp(a, b, t) {
  const cos = a.reduce((s, v, i) => s + v * b[i], 0) / (norm(a) * norm(b) + 1e-12);
  const omega = Math.acos(Math.min(1, Math.max(-1, cos)));
  if (Math.sin(omega) < 1e-6) return lerp(a, b, t);
  const wa = Math.sin((1 - t) * omega) / Math.sin(omega), wb = Math.sin(t * omega) / Math.sin(omega);
  return a.map((v, i) => wa * v + wb * b[i]);
}

/** `steps` latents per leg through the points, endpoints once. */
export function interpolate(points, steps, method) {
  const fn = method === "lerp" ? lerp : slerp;
  const path = [];
  for (let leg = 0; leg + 1 < points.length; leg++) {
    for (let i = leg ? 1 : 0; i < steps; i++) path.push(fn(points[leg], points[leg + 1], i / (steps - 1)));
  }
  return path;
}

/** A loop through the points and back to the first: the frames of a walk. */
export function walk(points, framesPerLeg, method) {
  return interpolate([...points, points[0]], framesPerLeg + 1, method).slice(0, -1);
}

/** 3x3 latents: a (top left), b (top right), c (bottom left), a - b + c (bottom right), bilinear between. */
export function analogy(a, b, c) {
  const d = a.map((v, i) => v - b[i] + c[i]);
  const out = [];
  for (const v of [0, 0.5, 1]) {
    for (const u of [0, 0.5, 1]) {
      out.push(a.map((x, i) => (1 - u) * (1 - v) * x + u * (1 - v) * b[i] + (1 - u) * v * c[i] + u * v * d[i]));
    }
  }
  return out;
}

/** z moved along a direction, scaled to unit length times `scale`, by each sigma. */
export function sigmaStrip(z, direction, sigmas, scale = 1) {
  const n = norm(direction) + 1e-12;
  return sigmas.map((s) => z.map((v, i) => v + (s * scale * direction[i]) / n));
}

/** Many latents as one Float32Array, row after row. */
export function stack(zs) {
  const d = zs[0].length;
  const out = new Float32Array(zs.length * d);
  zs.forEach((z, i) => out.set(z, i * d));
  return out;
}
