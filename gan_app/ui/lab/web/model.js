// One model version in the page: its manifest (graphs, directions, facts) and weights, fetched
// once from immutable URLs, with G (and D) rebuilt to draw and judge images.
import { Net, decodeWeights } from "./net.js";

const cache = new Map();  // key -> Promise<LabModel>: a tab fetches each version once
const KEEP = 3;  // versions kept in a tab: the live run's newest copies replace older ones

export class LabModel {
  constructor(tf, manifest, weights) {
    this.tf = tf;
    this.m = manifest;
    this.key = manifest.key;
    this.d = manifest.latent_dim;
    this.k = manifest.num_classes;
    this.weights = weights;
    this.g = new Net(tf, manifest.generator, weights);
    this.disc = manifest.discriminator ? new Net(tf, manifest.discriminator, weights) : null;
    this.embedding = this.k ? this.g.weight("label_embedding", "embeddings") : null;
    // A grouped G's group means (k x 784, in G's range): D judges an image as its nearest group
    this.groupMeans = this.g.weight("latent_group", "means");
  }

  /** The group (int32, n) whose mean image is nearest each image x (n, 28, 28, 1). */
  _nearestGroups(x, n) {
    const tf = this.tf;
    const m = this.groupMeans;
    const dot = tf.matMul(tf.reshape(x, [n, 784]), m, false, true);
    return tf.argMin(tf.sub(tf.sum(tf.square(m), 1), tf.mul(2, dot)), 1);
  }

  _digits(n, digits) {
    if (!this.k) return null;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = digits == null ? 0 : (typeof digits === "number" ? digits : digits[i]);
    return out;
  }

  _feeds(net, x, n, digits) {
    const tf = this.tf;
    const feeds = {};
    const [first, second] = net.spec.inputs;
    feeds[first.name] = x;
    if (second && this.k) feeds[second.name] = tf.tensor1d(this._digits(n, digits), "int32");
    return feeds;
  }

  _toUnit(y) {
    const { output_min: lo, output_max: hi } = this.m;
    return this.tf.clipByValue(this.tf.div(this.tf.sub(y, lo), hi - lo), 0, 1);
  }

  /** Images in [0, 1] (n*28*28 floats) for latents z (n*d floats) and digits (one, n, or null). */
  images(z, digits = null) {
    const n = z.length / this.d;
    return this.tf.tidy(() => {
      const x = this.tf.tensor2d(z, [n, this.d]);
      return this._toUnit(this.g.run(this._feeds(this.g, x, n, digits))).dataSync();
    });
  }

  /** Images along latents zs whose digit embedding moves from digit a's to b's (t from 0 to 1). */
  blend(zs, a, b) {
    const tf = this.tf;
    const n = zs.length / this.d;
    return tf.tidy(() => {
      const ea = tf.gather(this.embedding, [a]), eb = tf.gather(this.embedding, [b]);
      const t = tf.tensor2d(Array.from({ length: n }, (_, i) => (n > 1 ? i / (n - 1) : 0)), [n, 1]);
      const e = tf.add(tf.mul(tf.sub(1, t), ea), tf.mul(t, eb));
      const feeds = this._feeds(this.g, tf.tensor2d(zs, [n, this.d]), n, a);
      return this._toUnit(this.g.run(feeds, { label_embedding: e })).dataSync();
    });
  }

  dispose() {
    for (const w of this.weights) w.dispose();
  }

  get canBlend() { return Boolean(this.m.blend && this.embedding); }

  /** D's probability that each image (n*784 floats in [0, 1]) is real (as its digit); null without D. */
  judge(images01, digits = null) {
    if (!this.disc) return null;
    const tf = this.tf;
    const n = images01.length / 784;
    const { output_min: lo, output_max: hi } = this.m;
    return tf.tidy(() => {
      const x = tf.add(tf.mul(tf.tensor4d(images01, [n, 28, 28, 1]), hi - lo), lo);
      const feeds = this._feeds(this.disc, x, n, digits);
      if (this.groupMeans && !this.k) feeds[this.disc.spec.inputs[1].name] = this._nearestGroups(x, n);
      return tf.reshape(this.disc.run(feeds), [n]).dataSync();
    });
  }
}

async function fetchModel(tf, base, key) {
  const get = async (name) => {
    const response = await fetch(`${base}${key}/${name}`);
    if (!response.ok) throw new Error(`model ${key}: ${name} answered ${response.status}`);
    return response;
  };
  const manifest = await (await get("manifest.json")).json();
  const buffer = await (await get("weights.bin")).arrayBuffer();
  return new LabModel(tf, manifest, decodeWeights(tf, manifest, buffer));
}

/** The model version `key` (its files under the folder URL `base`), fetched at most once per tab. */
export function loadModel(tf, base, key) {
  if (!cache.has(key)) {
    cache.set(key, fetchModel(tf, base, key).catch((err) => { cache.delete(key); throw err; }));
    while (cache.size > KEEP) {
      const [old, pending] = cache.entries().next().value;
      cache.delete(old);
      pending.then((model) => model.dispose(), () => {});
    }
  }
  return cache.get(key);
}
