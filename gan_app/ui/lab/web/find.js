// Find a drawing in latent space, in the tab: the search gan_app/lab/inversion.py runs on the server
// (several random starts as one batch; Adam on z for the mean squared pixel error in [0, 1] plus
// a small pull towards the prior's shell |z|^2 = d; G fixed; the best start wins), with
// TensorFlow.js gradients, so a class pressing Find at once costs the server nothing. A grouped G
// (`fast`) is searched from its groups nearest the drawing, z's first number held in its group,
// as project.py does.
import { prior } from "./latent.js";

export const STEPS = 120;
export const RESTARTS = 16, RESTARTS_PER_DIGIT = 4;  // as project.py: starts, and per digit for a conditional G
const LEARNING_RATE = 0.08, SHELL_WEIGHT = 0.002, B1 = 0.9, B2 = 0.999;
export const SCREEN = 20, KEEP = 2;  // every start's first steps; the best starts that go on
// A search projected (from its second step) to take longer than this is left to the server's
// queue: the UpSampling2D presets' generators (projected 15-120 s in a tab on a busy 2-core machine),
// not the `fast` or shipped ones (3-9 s).
export const BUDGET_S = 15;
export const GROUPS_SEARCHED = 4;  // as project.py: a grouped G's starts go to the groups nearest the target

/** The standard normal's cumulative distribution (erf by Abramowitz and Stegun 7.1.26, error < 2e-7). */
function normalCdf(x) {
  const t = 1 / (1 + 0.3275911 * Math.abs(x) / Math.SQRT2);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x / 2);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Its inverse, by bisection (to float32 precision and beyond). */
function normalQuantile(p) {
  let lo = -10, hi = 10;
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The `count` groups whose mean images (`means`, k*784 floats) are nearest `image` (784 floats,
 * same range), nearest first: gan_app/data/groups.py nearest_groups. */
export function nearestGroups(image, means, count) {
  const k = means.length / 784;
  const dist = Array.from({ length: k }, (_, j) => {
    let s = 0;
    for (let p = 0; p < 784; p++) {
      const m = means[j * 784 + p];
      s += m * m - 2 * image[p] * m;
    }
    return s;
  });
  return Array.from(dist.keys()).sort((a, b) => dist[a] - dist[b] || a - b).slice(0, count);
}

/** z's first number for starts in `groups`: inside each one's interval between the `cuts`, the m
 * starts of a group at its prior quantiles 1/(m+1) ... m/(m+1): gan_app/data/groups.py first_numbers_in. */
export function firstNumbersIn(groups, cuts, noise) {
  const uniform = noise === "uniform";
  const cdf = uniform ? (x) => (x + 1) / 2 : normalCdf;
  const inverse = uniform ? (p) => 2 * p - 1 : normalQuantile;
  const edges = [0, ...Array.from(cuts, cdf), 1];
  const out = new Float32Array(groups.length);
  for (const j of new Set(groups)) {
    const rows = groups.flatMap((g, i) => (g === j ? [i] : []));
    rows.forEach((row, r) => { out[row] = inverse(edges[j] + ((r + 1) / (rows.length + 1)) * (edges[j + 1] - edges[j])); });
  }
  return out;
}

/** The starts' latents (n*d floats) and digits (n, or null) for `model` and `target01` (784 floats
 * in [0, 1]); `moves` (d floats, or null): 0 for z's first number when it holds a start's group. */
export function starts(model, seed, restarts, target01) {
  const k = model.k;
  const per = restarts || (k ? RESTARTS_PER_DIGIT : RESTARTS);
  const n = k ? k * per : per;
  const flat = new Float32Array(n * model.d);
  prior(seed, n, model.d, model.m.noise).forEach((z, i) => flat.set(z, i * model.d));
  const digits = k ? Int32Array.from({ length: n }, (_, i) => Math.floor(i / per)) : null;
  const cuts = k ? null : model.g.weight("latent_group", "cuts");
  if (!cuts) return { n, flat, digits, moves: null };
  const { output_min: lo, output_max: hi } = model.m;
  const image = Float32Array.from(target01, (v) => lo + v * (hi - lo));
  const nearest = nearestGroups(image, model.groupMeans.dataSync(), GROUPS_SEARCHED);
  const first = firstNumbersIn(Array.from({ length: n }, (_, i) => nearest[i % nearest.length]), cuts.dataSync(),
    model.m.noise);
  first.forEach((v, i) => { flat[i * model.d] = v; });
  const moves = new Float32Array(model.d).fill(1);
  moves[0] = 0;
  return { n, flat, digits, moves };
}

/**
 * What the search minimises, as project.py writes it, for `target` (a [1, 28, 28, 1] tensor in
 * [0, 1]): `errors(z, digits)`, each start's mean squared pixel error, and `loss(z, digits)`,
 * their sum plus the pull towards the prior's shell.
 */
export function objective(model, target) {
  const tf = model.tf;
  const { output_min: lo, output_max: hi } = model.m;
  const shell = model.m.noise === "uniform" ? 1 / 3 : 1;  // E|z|^2 / d under the prior
  const images01 = (z, digits) => {
    const out = model.g.run(model._feeds(model.g, z, z.shape[0], digits));
    return tf.div(tf.sub(tf.reshape(out, [z.shape[0], 28, 28, 1]), lo), hi - lo);
  };
  const errors = (z, digits) => tf.mean(tf.square(tf.sub(images01(z, digits), target)), [1, 2, 3]);
  const loss = (z, digits) => {
    const ring = tf.square(tf.sub(tf.div(tf.sum(tf.square(z), 1), model.d), shell));
    return tf.sum(tf.add(errors(z, digits), tf.mul(SHELL_WEIGHT, ring)));
  };
  return { images01, errors, loss };
}

/**
 * Search `target01` (784 floats in [0, 1], white on black) with `model` (a LabModel). All starts
 * take the first SCREEN steps together; the KEEP best of them go on to `steps` (a tab has one
 * CPU core, where all of them would take several times as long for nearly the same result).
 * Throws when the search would take more than `budgetS` seconds (the caller asks the server).
 * Yields to the page every few steps so the tab stays responsive. Returns {z, digit, image, mse,
 * seconds}.
 */
export async function find(model, target01, { steps = STEPS, restarts = 0, seed = 0, budgetS = BUDGET_S,
  onStep = null } = {}) {
  const tf = model.tf;
  const t0 = performance.now();
  let { n, flat, digits, moves } = starts(model, seed, restarts, target01);
  const target = tf.tensor4d(target01, [1, 28, 28, 1]);
  const held = moves && tf.tensor2d(moves, [1, model.d]);  // a start's group stays put
  const { images01, errors, loss } = objective(model, target);
  let z = tf.tensor2d(flat, [n, model.d]), m = tf.zerosLike(z), v = tf.zerosLike(z);
  const keep = (rows) => {  // only these starts go on, with their optimizer state
    const idx = tf.tensor1d(rows, "int32");
    const kept = [z, m, v].map((t) => tf.gather(t, idx));
    tf.dispose([z, m, v, idx]);
    [z, m, v] = kept;
    if (digits) digits = Int32Array.from(rows, (r) => digits[r]);
  };
  try {
    for (let i = 1; i <= steps; i++) {
      const started = performance.now();
      const [z2, m2, v2] = tf.tidy(() => {
        const grad = tf.grad((zz) => loss(zz, digits))(z);
        const g = held ? tf.mul(grad, held) : grad;
        const mi = tf.add(tf.mul(B1, m), tf.mul(1 - B1, g));
        const vi = tf.add(tf.mul(B2, v), tf.mul(1 - B2, tf.square(g)));
        const step = tf.div(tf.div(mi, 1 - B1 ** i), tf.add(tf.sqrt(tf.div(vi, 1 - B2 ** i)), 1e-8));
        return [tf.sub(z, tf.mul(LEARNING_RATE, step)), mi, vi];
      });
      z.dispose(); m.dispose(); v.dispose();
      [z, m, v] = [z2, m2, v2];
      if (i === 2) {  // the first step warms the kernels up; the second's time is every step's
        const each = (performance.now() - started) / 1000;
        const screened = Math.min(steps, SCREEN), rest = Math.max(0, steps - SCREEN) * Math.min(1, KEEP / n);
        const total = (performance.now() - t0) / 1000 + each * (screened - 2 + rest);
        if (total > budgetS) throw new Error(`this model would take about ${Math.round(total)} s to search in the tab`);
      }
      if (i === SCREEN && z.shape[0] > KEEP) keep(best(tf.tidy(() => errors(z, digits)).dataSync(), KEEP));
      if (i % 10 === 0) {
        if (onStep) onStep(i, steps);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    const [errs, images] = tf.tidy(() => {
      const x = tf.clipByValue(images01(z, digits), 0, 1);
      return [tf.mean(tf.square(tf.sub(x, target)), [1, 2, 3]).dataSync(), x.dataSync()];
    });
    const [top] = best(errs, 1);
    const zs = z.dataSync();
    return {
      z: Array.from(zs.subarray(top * model.d, (top + 1) * model.d)),
      digit: digits ? digits[top] : null,
      image: Array.from(images.subarray(top * 784, (top + 1) * 784)),
      mse: errs[top],
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    tf.dispose([z, m, v, target, ...(held ? [held] : [])]);
  }
}

/** The rows of the `k` smallest errors, smallest first. */
export function best(errors, k) {
  return Array.from(errors.keys()).sort((a, b) => errors[a] - errors[b]).slice(0, k);
}
