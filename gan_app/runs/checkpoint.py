"""Full training state on disk, and self-describing generator exports.

A run directory keeps its training state in `<run>/state/`: tf.train.CheckpointManager files
(G, D, both optimizers, G's moving average where the preset keeps one, the step counter and
the noise/batch RNG), plus, for each kept checkpoint, `history-<step>.npz` (the metrics so far)
and `settings-<step>.json`. Those two are written atomically *before* the TF checkpoint, and TF
updates its `checkpoint` index last and atomically, so a process killed mid-save leaves the
previous checkpoint as the latest.

An export is `generator.keras` + `meta.json` (and, from runs of this project, the discriminator
of the same step in `discriminator.keras`); `load_export` checks them and refuses anything else
with one clear message (unsafe Lambda layers included: safe_mode=True). Exports are written in
Keras's own layers, so `generator.keras` opens in plain Keras (safe_mode, nothing of this project
imported); a grouped G is converted to that form and back (gan_app.models.portable), its group means
in meta.json. Exports written before that, with the project's group layer, still open here.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import gan_app.models.dcgan  # noqa: F401  (registers G's group layer: older exports and checkpoints have it)
from gan_app.core.errors import GanAppError
from gan_app.core.files import atomic_write_bytes, atomic_write_json
from gan_app.models.portable import group_means, is_portable_grouped, portable_generator, training_generator

STATE_DIR = "state"
REPO_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
SHIPPED_EXPORT = REPO_CHECKPOINTS / "mnist5k-wide"  # the pretrained model in the box
SHIPPED_CONDITIONAL = REPO_CHECKPOINTS / "mnist5k-conditional"  # the same, told which digit to draw
MAX_UPLOAD_MB = 20  # the dashboard refuses bigger uploads
META_REQUIRED = {"latent_dim": int, "noise": str, "output_min": (int, float), "output_max": (int, float)}


class CheckpointError(GanAppError):
    """A checkpoint or export that cannot be used; the current run is untouched."""


@dataclass(frozen=True)
class Restored:
    step: int
    history: dict[str, np.ndarray]
    settings: dict[str, Any]


class RunState:
    """Save and restore a FusedStep's full state under `run_dir/state/`, keeping the last K."""

    def __init__(self, run_dir: Path, step_obj: Any, max_to_keep: int = 3) -> None:
        self.dir = Path(run_dir) / STATE_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self._step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self._objects = dict(
            generator=step_obj.generator,
            discriminator=step_obj.discriminator,
            g_optimizer=step_obj.g_optimizer,
            d_optimizer=step_obj.d_optimizer,
            rng=step_obj.rng,
            step=self._step_var,
            **({} if step_obj.averaged is None else {"averaged_generator": step_obj.averaged}),
        )
        self.ckpt = tf.train.Checkpoint(**self._objects)
        self._sync_groups = getattr(step_obj, "sync_groups", None)  # a grouped step's real images' groups
        self.manager = tf.train.CheckpointManager(self.ckpt, str(self.dir), max_to_keep=max_to_keep,
                                                  step_counter=self._step_var)

    def save(self, step: int, history: dict[str, np.ndarray], settings: dict[str, Any]) -> Path:
        import io

        buf = io.BytesIO()
        np.savez(buf, **history)
        atomic_write_bytes(self.dir / f"history-{step}.npz", buf.getvalue())
        atomic_write_json(self.dir / f"settings-{step}.json", {"step": step, "settings": settings})
        self._step_var.assign(step)
        path = Path(self.manager.save(checkpoint_number=step))
        self._prune_sidecars()
        return path

    def _prune_sidecars(self) -> None:
        kept = {_number(p) for p in self.manager.checkpoints}
        for side in list(self.dir.glob("history-*.npz")) + list(self.dir.glob("settings-*.json")):
            n = int(side.stem.split("-")[1])
            if n not in kept and n < max(kept, default=0):
                side.unlink(missing_ok=True)

    def restore(self) -> Restored | None:
        latest = self.manager.latest_checkpoint
        if latest is None:
            return None
        step = _number(latest)
        name = f"checkpoint {Path(latest).name} in {self.dir}"
        try:
            self._restore_tf(latest)
            if self._sync_groups is not None:
                self._sync_groups()
            with np.load(self.dir / f"history-{step}.npz", allow_pickle=False) as f:
                history = {k: f[k] for k in f.files}
            settings = json.loads((self.dir / f"settings-{step}.json").read_text())["settings"]
        except tf.errors.OpError as exc:  # a damaged, truncated or missing file
            raise CheckpointError(f"{name} is damaged and cannot be restored: {_short(exc)}") from None
        except (AssertionError, ValueError) as exc:  # variables that are not this model's
            raise CheckpointError(f"{name} does not fit this model (a run of another preset?): {_short(exc)}") from None
        except (OSError, KeyError) as exc:
            raise CheckpointError(f"{name} cannot be restored: {_short(exc)}") from None
        return Restored(step, history, settings)

    def _restore_tf(self, latest: str) -> None:
        averaged = self._objects.get("averaged_generator")
        saved = {name.split("/", 1)[0] for name, _ in tf.train.list_variables(latest)}
        ckpt = self.ckpt
        if averaged is not None and "averaged_generator" not in saved:
            # A checkpoint from a run without G's moving average: restore everything else, and
            # let the average start from the restored G.
            ckpt = tf.train.Checkpoint(**{k: v for k, v in self._objects.items() if k != "averaged_generator"})
        status = ckpt.restore(latest)
        try:
            status.assert_existing_objects_matched()
        except AssertionError:
            status.expect_partial()  # the caller reports it once; no TF warnings at exit
            raise
        if ckpt is not self.ckpt:
            averaged.set_weights(self._objects["generator"].get_weights())


def _number(path: str | Path) -> int:
    return int(str(path).rsplit("-", 1)[1])


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / STATE_DIR / "checkpoint").is_file()


# ---- exports: generator.keras + meta.json ----------------------------------------------------

def read_meta(meta_path: Path) -> dict[str, Any]:
    if not meta_path.is_file():
        raise CheckpointError(f"{meta_path.name} is missing beside the generator: an export is generator.keras + meta.json")
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{meta_path.name} is not valid JSON") from None
    return check_meta(meta, meta_path.name)


def check_meta(meta: Any, source: str = "meta.json") -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise CheckpointError(f"{source} must hold a JSON object")
    for key, kind in META_REQUIRED.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise CheckpointError(f"{source} lacks a valid {key!r} (needs: {', '.join(META_REQUIRED)})")
    if meta["noise"] not in ("normal", "uniform"):
        raise CheckpointError(f"{source}: noise must be 'normal' or 'uniform', not {meta['noise']!r}")
    return meta


def _load_model_file(path: Path):
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path.name} is not a Keras model file (.keras files are zip archives); it may be truncated")
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        if "lambda" in str(exc).lower() or "safe_mode" in str(exc):
            raise CheckpointError(f"{path.name} contains a Lambda layer (arbitrary code): refused for safety") from None
        raise CheckpointError(f"{path.name} cannot be loaded as a Keras model: {_short(exc)}") from None
    except Exception as exc:
        raise CheckpointError(f"{path.name} cannot be loaded as a Keras model: {_short(exc)}") from None


def _input_shapes(model: Any) -> Any:
    shape = model.input_shape
    return [tuple(s) for s in shape] if isinstance(shape, list) else tuple(shape)


def load_generator_file(path: Path, meta: dict[str, Any]):
    """Load a .keras generator with safe_mode=True and check it maps (N, latent_dim) to 28x28 images;
    a grouped G written in Keras's own layers comes back in the training form, with meta.json's
    `group_means`."""
    model = _load_model_file(path)
    if is_portable_grouped(model):
        if "group_means" not in meta:
            raise CheckpointError(f"{path.name} picks a group from z, but meta.json lacks its 'group_means'")
        try:
            model = training_generator(model, meta["group_means"])
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{path.name} with meta.json: {exc}") from None
    conditional = bool(meta.get("num_classes"))
    shape_in = _input_shapes(model)
    expected = [(None, meta["latent_dim"]), (None,)] if conditional else (None, meta["latent_dim"])
    shape_out = tuple(model.output_shape)
    if shape_in != expected or shape_out[1:] not in ((28, 28, 1), (28, 28)):
        what = f"[z {expected[0]}, digit (None,)]" if conditional else str(expected)
        raise CheckpointError(f"{path.name} maps {shape_in} to {shape_out}; meta.json describes a generator from "
                              f"{what} to 28x28 images")
    return model


def load_discriminator_file(path: Path, meta: dict[str, Any]):
    """Load a .keras discriminator (safe_mode=True) that maps 28x28 images (and, for a conditional
    or grouped export, their digits or groups) to one probability each."""
    model = _load_model_file(path)
    told = meta.get("num_classes") or meta.get("groups")  # D reads [image, digit or group]
    expected = [(None, 28, 28, 1), (None,)] if told else (None, 28, 28, 1)
    if _input_shapes(model) != expected or tuple(model.output_shape) != (None, 1):
        raise CheckpointError(f"{path.name} maps {_input_shapes(model)} to {model.output_shape}, not 28x28 images "
                              "to one probability: it is not this export's discriminator")
    return model


def load_export(directory: Path):
    """(generator, meta) from an export directory; CheckpointError with one line otherwise."""
    directory = Path(directory)
    gen_path = directory / "generator.keras"
    if not gen_path.is_file():
        raise CheckpointError(f"no generator.keras in {directory}")
    meta = read_meta(directory / "meta.json")
    return load_generator_file(gen_path, meta), meta


def load_export_discriminator(directory: Path, meta: dict[str, Any]):
    """The discriminator saved beside an export (same step as its generator), or None."""
    path = Path(directory) / "discriminator.keras"
    return load_discriminator_file(path, meta) if path.is_file() else None


def saved_settings(run_dir: Path) -> dict[str, Any]:
    """The settings stored with the latest checkpoint of `run_dir`, read before building a model."""
    latest = tf.train.latest_checkpoint(str(Path(run_dir) / STATE_DIR))
    if latest is None:
        raise CheckpointError(f"no checkpoint in {run_dir}")
    path = Path(run_dir) / STATE_DIR / f"settings-{_number(latest)}.json"
    try:
        return json.loads(path.read_text())["settings"]
    except (OSError, ValueError, KeyError):
        raise CheckpointError(f"{path.name} is missing or damaged; the checkpoint cannot be resumed") from None


def discard_state(run_dir: Path) -> None:
    """Remove a run's training state (the dashboard's Reset)."""
    state = Path(run_dir) / STATE_DIR
    if state.is_dir():
        for f in state.iterdir():
            if f.is_file():
                f.unlink()


@dataclass
class Export:
    """A loaded generator with its meta.json: what the Models page and the latent lab draw from."""

    generator: Any
    meta: dict[str, Any]
    name: str
    discriminator: Any = None  # saved with the generator by runs of this project; None otherwise

    @property
    def latent_dim(self) -> int:
        return int(self.meta["latent_dim"])

    def noise(self, n: int, seed: int) -> np.ndarray:
        from gan_app.core.latent import sample_prior

        return sample_prior(np.random.default_rng(seed), n, self.latent_dim, self.meta["noise"])

    @property
    def num_classes(self) -> int | None:
        """10 for a generator told which digit to draw, None otherwise."""
        return self.meta.get("num_classes") or None

    def images01(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Images for z; a conditional generator draws `labels` (by default 0, 1, ..., 9, 0, ...)."""
        from gan_app.data.datasets import to_unit_range
        from gan_app.train.step import generate

        if self.num_classes and labels is None:
            labels = np.arange(len(z)) % self.num_classes
        return to_unit_range(generate(self.generator, z, labels), self.meta["output_min"], self.meta["output_max"])


def open_export(directory: Path, name: str | None = None) -> Export:
    generator, meta = load_export(directory)
    return Export(generator, meta, name or Path(directory).name, load_export_discriminator(directory, meta))


def open_upload(generator_bytes: bytes, meta_bytes: bytes, name: str) -> Export:
    """An uploaded pair of files, checked like one on disk; nothing is kept on disk."""
    import tempfile

    for label, data in (("generator.keras", generator_bytes), ("meta.json", meta_bytes)):
        if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
            raise CheckpointError(f"{label} is larger than the {MAX_UPLOAD_MB} MB upload limit")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "generator.keras").write_bytes(generator_bytes)
        (Path(tmp) / "meta.json").write_bytes(meta_bytes)
        return open_export(Path(tmp), name)


def list_exports(root: Path) -> list[Path]:
    """Directories under `root` that look like exports (generator.keras + meta.json)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "generator.keras").is_file() and (p / "meta.json").is_file())


def write_export(directory: Path, generator: Any, meta: dict[str, Any], discriminator: Any = None) -> None:
    """generator.keras (+ discriminator.keras) + meta.json; meta.json goes last, so a half-written
    export never looks whole. A grouped G is written in Keras's own layers (gan_app.models.portable),
    its groups' mean images in meta.json's `group_means`."""
    from gan_app.core.files import save_model_atomic

    means = group_means(generator)
    if means is not None:
        meta = {**meta, "group_means": means}
        generator = portable_generator(generator)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "meta.json").unlink(missing_ok=True)
    (directory / "discriminator.keras").unlink(missing_ok=True)  # never beside another step's generator
    save_model_atomic(generator, directory / "generator.keras")
    if discriminator is not None:
        save_model_atomic(discriminator, directory / "discriminator.keras")
    atomic_write_json(directory / "meta.json", check_meta(meta))
