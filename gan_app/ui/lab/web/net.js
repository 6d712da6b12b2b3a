// A network described by gan_app/lab/browser_model.py (graph + one weights blob), rebuilt with
// TensorFlow.js ops and run in the page. Channels last, as in Keras.

function activate(tf, x, name) {
  switch (name) {
    case null: case undefined: case "linear": return x;
    case "relu": return tf.relu(x);
    case "tanh": return tf.tanh(x);
    case "sigmoid": return tf.sigmoid(x);
    default: throw new Error(`activation ${name} is not supported`);
  }
}

const pair = (v) => (Array.isArray(v) ? v : [v, v]);

/** The group each latent's first number picks (int32, n): how many of the rising `cuts` it
 * passes, as G's LatentGroup layer counts. Read off the values, so a gradient taken through the
 * network (the lab's Find) sees the pick as fixed, as TensorFlow does. */
function latentGroup(tf, z, cuts) {
  const first = tf.slice(z, [0, 0], [-1, 1]).dataSync();
  const edges = cuts.dataSync();
  const ids = Int32Array.from(first, (v) => edges.reduce((k, c) => k + (v > c ? 1 : 0), 0));
  return tf.tensor1d(ids, "int32");
}

const OPS = {
  latent_group: (tf, [z], n, w) => latentGroup(tf, z, w.cuts),
  identity: (tf, [x]) => x,
  flatten: (tf, [x]) => tf.reshape(x, [x.shape[0], -1]),
  reshape: (tf, [x], n) => tf.reshape(x, [x.shape[0], ...n.target_shape]),
  concatenate: (tf, xs) => tf.concat(xs, -1),
  embedding: (tf, [ids], n, w) => tf.gather(w.embeddings, tf.cast(ids, "int32")),
  leaky_relu: (tf, [x], n) => tf.leakyRelu(x, n.negative_slope),
  relu: (tf, [x], n) => (n.negative_slope ? tf.leakyRelu(x, n.negative_slope) : tf.relu(x)),
  activation: (tf, [x], n) => activate(tf, x, n.activation),
  dense(tf, [x], n, w) {
    let y = tf.matMul(x, w.kernel);
    if (w.bias) y = tf.add(y, w.bias);
    return activate(tf, y, n.activation);
  },
  batch_norm: (tf, [x], n, w) => tf.batchNorm(x, w.moving_mean, w.moving_variance, w.beta, w.gamma, n.epsilon),
  upsample(tf, [x], n) {
    const [sh, sw] = pair(n.size);
    return tf.image.resizeNearestNeighbor(x, [x.shape[1] * sh, x.shape[2] * sw]);
  },
  conv2d(tf, [x], n, w) {
    let y = tf.conv2d(x, w.kernel, pair(n.strides), n.padding);
    if (w.bias) y = tf.add(y, w.bias);
    return activate(tf, y, n.activation);
  },
  conv2d_transpose(tf, [x], n, w) {
    const [sh, sw] = pair(n.strides);
    const [kh, kw] = pair(n.kernel_size);
    const same = n.padding === "same";
    const out = [x.shape[0], same ? x.shape[1] * sh : (x.shape[1] - 1) * sh + kh,
      same ? x.shape[2] * sw : (x.shape[2] - 1) * sw + kw, n.filters];
    let y = tf.conv2dTranspose(x, w.kernel, out, [sh, sw], n.padding);
    if (w.bias) y = tf.add(y, w.bias);
    return activate(tf, y, n.activation);
  },
};

export class Net {
  /** spec: {inputs, nodes, output}; weights: tensors in the blob's order. */
  constructor(tf, spec, weights) {
    this.tf = tf;
    this.spec = spec;
    this.nodes = spec.nodes.map((node) => {
      if (!OPS[node.op]) throw new Error(`layer ${node.name}: ${node.op} is not supported`);
      const w = {};
      for (const [short, index] of Object.entries(node.weights)) w[short] = weights[index];
      return { node, w };
    });
  }

  /** The output tensor for `feeds` ({input name: tensor}); `overrides` replace a node's output
   * (a digit's embedding blended between two digits). Call inside tf.tidy. */
  run(feeds, overrides = {}) {
    const values = { ...feeds };
    for (const { node, w } of this.nodes) {
      values[node.name] = overrides[node.name]
        || OPS[node.op](this.tf, node.reads.map((name) => values[name]), node, w);
    }
    return values[this.spec.output];
  }

  /** The tensor of the weight `short` of node `name` (an embedding table), or null. */
  weight(name, short) {
    const found = this.nodes.find(({ node }) => node.name === name);
    return found ? found.w[short] || null : null;
  }
}

/** The manifest's weights, decoded from the blob: tensors in manifest order. */
export function decodeWeights(tf, manifest, buffer) {
  const named = tf.io.decodeWeights(buffer, manifest.weights);
  return manifest.weights.map((spec) => named[spec.name]);
}
