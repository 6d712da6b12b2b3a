// TensorFlow.js in the page, loaded once per tab from the dashboard's own files (vendor/):
// tfjs-core and its WASM backend (the plain-JS CPU backend if WebAssembly is unavailable).
// `base` is the URL folder these files are served from, ending in "/".

let ready = null;

function script(src) {
  return new Promise((resolve, reject) => {
    const existing = document.querySelector(`script[data-gan-src="${src}"]`);
    if (existing && existing.dataset.loaded) return resolve();
    const el = existing || document.createElement("script");
    el.addEventListener("load", () => { el.dataset.loaded = "1"; resolve(); });
    el.addEventListener("error", () => reject(new Error(`could not load ${src}`)));
    if (!existing) {
      el.src = src;
      el.dataset.ganSrc = src;
      document.head.appendChild(el);
    }
  });
}

async function start(base, prefer) {
  await script(base + "vendor/tf-core.min.js");
  const tf = window.tf;
  if (prefer !== "cpu" && typeof WebAssembly === "object") {
    try {
      await script(base + "vendor/tf-backend-wasm.min.js");
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);  // threads need cross-origin isolation
      tf.wasm.setWasmPaths({
        "tfjs-backend-wasm.wasm": base + "vendor/tfjs-backend-wasm.wasm",
        "tfjs-backend-wasm-simd.wasm": base + "vendor/tfjs-backend-wasm-simd.wasm",
        "tfjs-backend-wasm-threaded-simd.wasm": base + "vendor/tfjs-backend-wasm-simd.wasm",
      });
      if (await tf.setBackend("wasm")) { await tf.ready(); return tf; }
    } catch (err) {
      console.warn("WASM backend unavailable, using the CPU backend", err);
    }
  }
  await script(base + "vendor/tf-backend-cpu.min.js");
  await tf.setBackend("cpu");
  await tf.ready();
  return tf;
}

/** The tf namespace, ready to run (one load per tab, whoever asks first). */
export function loadTf(base, prefer = "wasm") {
  if (!ready) ready = start(base, prefer).catch((err) => { ready = null; throw err; });
  return ready;
}

let gradients = null;

/** The gradients of tfjs-core's ops (vendor/tf-gradients.min.js), loaded once per tab when a
 * search in latent space first needs them: drawing images does not. */
export async function loadGradients(base) {
  if (!gradients) gradients = script(base + "vendor/tf-gradients.min.js").catch((err) => { gradients = null; throw err; });
  return gradients;
}
