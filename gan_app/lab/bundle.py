"""The lab's model versions for the browser: one bundle per version of G (and D), built once for
every student, kept in a small registry the lab's routes serve from.

A bundle carries both networks' graphs and weights (gan_app.lab.browser_model), the facts the lab
needs about the model (latent size, prior, output range, digits), the SeFa and PCA directions
(cheap, computed with the bundle) and, on first request, the "towards a digit" directions,
which need the generator and the classifier on the server once per version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from gan_app.core import latent
from gan_app.lab.browser_model import BrowserBundle, describe, first_dense_inputs, pack

Sampler = Callable[[np.ndarray], np.ndarray]  # latents -> images in [0, 1]

N_DIRECTIONS = 5  # directions of each kind the lab offers
PCA_SAMPLES = 2000
KEPT_VERSIONS = 12  # bundles kept: the live run's recent copies and the models opened lately
TOWARDS_SAMPLES = 2000  # samples the classifier labels for the towards-a-digit directions
CHUNK = 250  # latents per generator call: 2,000 at once held ~175 MB of activations that the
# allocator keeps after the call (a multiple of 10, so a conditional export's digits cycle alike)
GENERATORS_KEPT = 3  # server-side generators kept (Find, a drawing's verdict, digit directions)


def _prior(noise: str, latent_dim: int) -> dict[str, Any]:
    uniform = noise == "uniform"
    sigma = 1.0 / np.sqrt(3.0) if uniform else 1.0
    return {"noise": noise, "sigma": float(sigma), "slider": [-1.0, 1.0] if uniform else [-3.0, 3.0],
            "typical_norm": float(sigma * np.sqrt(latent_dim))}


def _directions(spec: dict[str, Any], arrays: list[np.ndarray], latent_dim: int, noise: str,
                num_classes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dense = next((node for node in spec["nodes"] if node["op"] == "dense"), None)
    if dense is not None:
        kernel = arrays[dense["weights"]["kernel"]][:latent_dim]  # a conditional G's z rows come first
        vectors, values = latent.sefa_directions(kernel)
        out["SeFa"] = {"directions": vectors[:N_DIRECTIONS].tolist(), "strength": values[:N_DIRECTIONS].tolist(),
                       "label": "eigenvalue"}
    z = latent.sample_prior(np.random.default_rng(1234), PCA_SAMPLES, latent_dim, noise)
    digits = np.arange(PCA_SAMPLES) % num_classes if num_classes else None
    dense_inputs = first_dense_inputs(spec, arrays, z, digits)
    if dense_inputs is not None:
        vectors, ratios = latent.pca_directions_linear(z, *dense_inputs, k=N_DIRECTIONS)
        out["PCA"] = {"directions": vectors.tolist(), "strength": ratios.tolist(), "label": "variance"}
    return out


def build_bundle(generator: Any, discriminator: Any, info: dict[str, Any],
                 grid: tuple[np.ndarray, np.ndarray | None] | None = None, dtype: str = "float16") -> BrowserBundle:
    """G (and D, or None) with `info` (name, step, latent_dim, noise, output_min, output_max,
    num_classes) as one bundle. `grid`: the latents (and digits) of a live run's sample grid."""
    named: list[tuple[str, np.ndarray]] = []
    g_spec = describe(generator, named)
    d_spec = describe(discriminator, named) if discriminator is not None else None
    specs, blob = pack(named, dtype)
    arrays = [array for _, array in named]
    latent_dim, num_classes = int(info["latent_dim"]), int(info.get("num_classes") or 0)
    manifest = {
        **{k: info[k] for k in ("name", "step", "output_min", "output_max")},
        "latent_dim": latent_dim, "num_classes": num_classes, **_prior(info["noise"], latent_dim),
        "generator": g_spec, "discriminator": d_spec, "weights": specs, "weights_bytes": len(blob),
        "directions": _directions(g_spec, arrays, latent_dim, info["noise"], num_classes),
        "blend": any(node["name"] == "label_embedding" for node in g_spec["nodes"]),
        "grid": None if grid is None else {"z": np.asarray(grid[0], np.float32).tolist(),
                                           "digits": None if grid[1] is None else [int(d) for d in grid[1]]},
    }
    return BrowserBundle(manifest, blob)


class Registry:
    """The bundles the lab serves, newest last; each also keeps how to make its server-side
    generator (for the towards-a-digit directions, built once per version on request)."""

    def __init__(self, kept: int = KEPT_VERSIONS) -> None:
        self._lock = threading.Lock()
        self._bundles: OrderedDict[str, tuple[BrowserBundle, Callable[[], Any] | None, Sampler | None]] = OrderedDict()
        self._towards: dict[str, dict[str, Any]] = {}
        self._towards_lock = threading.Lock()
        self._generators: OrderedDict[str, Any] = OrderedDict()  # key -> server-side LabGenerator
        self._generators_lock = threading.Lock()
        self._kept = kept
        self.shared: Any = None  # a lecture hall's class bus (gan_app.broker.class_bus): versions go out and come in

    def add(self, bundle: BrowserBundle, make_generator: Callable[[], Any] | None = None,
            sample: Sampler | None = None) -> str:
        """Keep `bundle`; `make_generator()` builds its server-side LabGenerator on first use,
        `sample(z)` draws images in [0, 1] for its towards-a-digit directions."""
        with self._lock:
            self._bundles[bundle.key] = (bundle, make_generator, sample)
            self._bundles.move_to_end(bundle.key)
            while len(self._bundles) > self._kept:
                old, _ = self._bundles.popitem(last=False)
                self._towards.pop(old, None)
        if self.shared is not None and make_generator is not None:  # made here: the other servers may need it
            self.shared.added(bundle)
        return bundle.key

    def get(self, key: str) -> BrowserBundle | None:
        with self._lock:
            entry = self._bundles.get(key)
            if entry is not None:
                self._bundles.move_to_end(key)
                return entry[0]
        found = self.shared.lookup(key) if self.shared is not None else None  # another server of the hall made it
        if found is not None:
            self.add(found)
        return found

    def generator(self, key: str) -> Any:
        """The server-side generator of version `key` (gan_app.lab.model.LabGenerator, its version the
        key), built on first use for what the server still does with it: a drawing's verdict and
        Find. None for an unknown key."""
        with self._lock:
            entry = self._bundles.get(key)
        if entry is None or entry[1] is None:
            return None
        with self._generators_lock:
            if key not in self._generators:
                model = entry[1]()
                model.version = key
                self._generators[key] = model
                while len(self._generators) > GENERATORS_KEPT:
                    self._generators.popitem(last=False)
            self._generators.move_to_end(key)
            return self._generators[key]

    def towards(self, key: str, labeller: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any] | None:
        """{"directions": {digit: direction}} for `key`, computed once (None: unknown key, or no
        generator to sample on the server)."""
        with self._towards_lock:  # one computation at a time, and once per version
            if key not in self._towards:
                with self._lock:
                    entry = self._bundles.get(key)
                if entry is None or entry[2] is None:
                    return None
                manifest = entry[0].manifest
                z = latent.sample_prior(np.random.default_rng(4321), TOWARDS_SAMPLES, manifest["latent_dim"],
                                        manifest["noise"])
                found = latent.class_directions(z, labeller(entry[2](z)))
                self._towards[key] = {"directions": {str(k): v.tolist() for k, v in sorted(found.items())}}
            return self._towards[key]



_templates: dict[tuple[str, str], tuple[Any, Any]] = {}  # (preset, noise) -> G and D to load copies into
_templates_lock = threading.Lock()


def bundle_from_live(weights: Any, grid: tuple[np.ndarray, np.ndarray | None] | None,
                     kept: Registry) -> str:
    """A copy of the live run's G and D (gan_app.lab.model.GeneratorWeights) as a bundle in `kept`,
    with the run's grid latents; its key. The networks are built once per preset and the copy's
    weights loaded into them."""
    from gan_app.core.config import get_preset
    from gan_app.lab.model import LabGenerator
    from gan_app.models.dcgan import build_discriminator, build_generator

    preset = get_preset(weights.preset).replace(noise=weights.noise)
    with _templates_lock:
        if (preset.name, preset.noise) not in _templates:
            _templates[(preset.name, preset.noise)] = (build_generator(preset), build_discriminator(preset))
        generator, discriminator = _templates[(preset.name, preset.noise)]
        generator.set_weights(list(weights.weights))
        if weights.discriminator is not None:
            discriminator.set_weights(list(weights.discriminator))
        info = {"name": f"live run, step {weights.step:,}", "step": weights.step, "latent_dim": preset.latent_dim,
                "noise": weights.noise, "output_min": weights.output_min, "output_max": weights.output_max,
                "num_classes": preset.num_classes}
        bundle = build_bundle(generator, discriminator if weights.discriminator is not None else None, info, grid)

    def sample(z: np.ndarray) -> np.ndarray:  # in the network built once per preset, not a new one
        from gan_app.data.datasets import to_unit_range
        from gan_app.train.step import generate

        labels = np.arange(len(z)) % preset.num_classes if preset.num_classes else None
        with _templates_lock:
            generator.set_weights(list(weights.weights))
            out = np.concatenate([generate(generator, z[i:i + CHUNK], None if labels is None else labels[i:i + CHUNK])
                                  for i in range(0, len(z), CHUNK)])
        return to_unit_range(out, weights.output_min, weights.output_max)

    return kept.add(bundle, lambda: LabGenerator.from_live(weights), sample)


def bundle_from_export(export: Any, kept: Registry) -> str:
    """An opened export (gan_app.ui's opened model: generator, discriminator, meta, name) as a
    bundle in `kept`; its key."""
    from gan_app.lab.model import LabGenerator

    meta = export.meta
    steps = meta.get("steps")
    info = {"name": export.name, "step": steps if isinstance(steps, int) else None,
            "latent_dim": meta["latent_dim"], "noise": meta.get("noise", "normal"),
            "output_min": meta.get("output_min", -1.0), "output_max": meta.get("output_max", 1.0),
            "num_classes": meta.get("num_classes") or 0}
    bundle = build_bundle(export.generator, export.discriminator, info)
    def sample(z: np.ndarray) -> np.ndarray:
        return np.concatenate([export.images01(z[i:i + CHUNK]) for i in range(0, len(z), CHUNK)])

    return kept.add(bundle, lambda: LabGenerator.from_export(export), sample)
