"""Presets and run configs: what a DCGAN is and how one run of it trains.

Each tutorial the app grew from is one preset, with its layer sequence (named by
`architecture`, built in gan_app.models.dcgan), optimizer and noise prior. A `RunConfig` is one run:
a preset with its overrides, the dataset, the seed and how often the run saves samples, measures
quality and checkpoints. It is the one settings schema both drivers (the CLI and the dashboard)
save with a run's checkpoints. Nothing here imports TensorFlow, so the UI and the CLI can list
and validate cheaply.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from gan_app.core.errors import GanAppError, UsageError

LOSSES = ("nonsaturating", "minimax")
NOISES = ("normal", "uniform")
OPTIMIZERS = ("adam", "rmsprop")
MODES = ("fused", "classic")
# How the fused step computes: float32, or 16-bit activations with float32 weights (bfloat16 for
# CPUs with AVX512-BF16/AMX and recent GPUs; float16, with loss scaling, for GPUs)
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# What one training iteration reports, in this order (metrics.csv, charts, history arrays).
METRICS = ("d_loss", "d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake")


@dataclass(frozen=True)
class Preset:
    name: str  # CLI / UI name
    description: str  # one line shown in listings
    architecture: str  # key of the generator/discriminator builders in gan_app.models.dcgan
    latent_dim: int = 100  # size of the noise vector z
    batch_size: int = 32  # real images (and as many fakes) per D step
    optimizer: str = "adam"  # "adam" | "rmsprop", for both networks
    d_lr: float = 1e-3  # discriminator learning rate
    g_lr: float = 1e-3  # generator learning rate
    beta_1: float = 0.9  # Adam's first-moment decay (ignored by RMSprop)
    noise: str = "normal"  # prior of z: N(0, 1) or U(-1, 1)
    loss: str = "nonsaturating"  # generator loss: maximise log D(G(z)) or minimise log(1 - D(G(z)))
    k: int = 1  # D steps per G step (Algorithm 1 of Goodfellow et al.)
    output: str = "tanh"  # generator's last activation: "tanh" -> [-1, 1], "sigmoid" -> [0, 1]
    # Samples, quality and exports come from a moving average of G's weights with this decay
    # (0: from G itself). Fused mode only; the tutorials' classic recipe has no average.
    ema: float = 0.0
    # R1 penalty weight (gamma): D also minimises gamma/2 * |grad_x logit D(x)|^2 on real images,
    # which damps the GAN's oscillation (Mescheder et al., 2018). 0: off. Fused mode only.
    r1: float = 0.0
    # Class-conditional G and D on the digit labels (G([z, digit]), D([image, digit])); None:
    # unconditional. Needs a labelled dataset.
    num_classes: int | None = None
    # Groups of the training images found by k-means on their pixels (no labels needed): G picks
    # one from z's first coordinate, as often as it occurs in the data, and D is told each
    # image's group (gan_app.data.groups). 0: none.
    groups: int = 0

    @property
    def output_min(self) -> float:
        return -1.0 if self.output == "tanh" else 0.0

    @property
    def output_max(self) -> float:
        return 1.0

    def replace(self, **changes: object) -> "Preset":
        """A copy with some fields overridden (from the CLI or the UI), validated."""
        preset = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        preset.validate()
        return preset

    def validate(self) -> None:
        if self.latent_dim <= 0:
            raise UsageError(f"latent_dim must be > 0, got {self.latent_dim}")
        if self.batch_size <= 0:
            raise UsageError(f"batch size must be > 0, got {self.batch_size}")
        if self.k <= 0:
            raise UsageError(f"k (D steps per G step) must be >= 1, got {self.k}")
        if not 0.0 <= self.ema < 1.0:
            raise UsageError(f"ema (the decay of G's moving average) must be in [0, 1), got {self.ema}")
        if not (self.r1 >= 0 and math.isfinite(self.r1)):
            raise UsageError(f"r1 (the gradient penalty weight) must be >= 0, got {self.r1}")
        if self.groups < 0 or self.groups == 1 or (self.groups and self.num_classes):
            raise UsageError(f"groups must be 0 or at least 2, and not beside digit labels; got {self.groups}")
        if not (self.d_lr > 0 and self.g_lr > 0):
            raise UsageError(f"learning rates must be > 0, got d_lr={self.d_lr} g_lr={self.g_lr}")
        for field, value, allowed in (
            ("loss", self.loss, LOSSES),
            ("noise", self.noise, NOISES),
            ("optimizer", self.optimizer, OPTIMIZERS),
        ):
            if value not in allowed:
                raise UsageError(f"unknown {field} {value!r}; choose one of: {', '.join(allowed)}")


FAST = Preset(
    name="fast",
    description="light transposed-conv DCGAN tuned for a 2-core CPU, told 50 look-alike groups of the images: digits within a minute",
    architecture="fast",
    latent_dim=64,
    batch_size=64,
    # A 4x faster G than D: lower FID at the same step than equal rates, and twice the `wide`
    # rates reach FID <= 30 sooner (docs/experiments.md has the runs).
    d_lr=5e-4,
    g_lr=2e-3,
    beta_1=0.5,
    ema=0.995,  # samples from G's moving average: lower FID on long runs (docs/experiments.md)
    # G and D told one of 50 k-means groups of the images: it learns sooner than without them;
    # the figures are in docs/models.md ("How fast `fast` learns"), the alternatives tried in
    # docs/experiments.md.
    groups=50,
)

# fast with a twice-as-wide G and R1, at the rates that keep improving over tens of thousands of
# steps (fast's twice as high stall after about 15,000)
WIDE = dataclasses.replace(
    FAST,
    name="wide",
    description="the fast DCGAN with a twice-as-wide G and R1: slower, for long runs and the model in the box",
    architecture="wide",
    d_lr=2.5e-4,
    g_lr=1e-3,
    r1=1.0,
    groups=0,  # as the model in the box was trained
)

# fast, told which digit to draw: a label embedding beside z in G, a learned map per digit as a
# second input channel of D. A projection head in D (Miyato and Koyama) collapsed to one image
# per digit; this D did not (docs/experiments.md, "Telling G which digit").
CONDITIONAL = dataclasses.replace(
    FAST,
    name="conditional",
    description="the fast DCGAN told which digit to draw (label embedding in G, label plane in D); needs labels",
    architecture="conditional",
    num_classes=10,
    groups=0,
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="taehojo",
            description='"모두의 딥러닝" DCGAN (tutorial 003): UpSampling2D + Conv2D, Adam, batch 32',
            architecture="taehojo",
        ),
        Preset(
            name="seed002",
            description="DCGAN variant of tutorial 002: 5x5 convolutions, LeakyReLU generator",
            architecture="seed002",
        ),
        Preset(
            name="roatienza",
            description="roatienza's dcgan_mnist.py (tutorial 004): Conv2DTranspose, RMSprop, uniform noise, sigmoid",
            architecture="roatienza",
            batch_size=256,
            optimizer="rmsprop",
            d_lr=1e-4,
            g_lr=1e-4,
            noise="uniform",
            output="sigmoid",
        ),
        FAST,
        WIDE,
        CONDITIONAL,
    )
}

DEFAULT_PRESET = "fast"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


# ---- one run ------------------------------------------------------------------------------

CONFIG_SCHEMA = 2  # of the settings saved beside every checkpoint (schema 1: the two drivers' own dicts)
TRAINING_FIELDS = ("batch_size", "noise", "loss", "k", "d_lr", "g_lr", "ema", "r1")  # override the preset's


class ConfigError(GanAppError):
    """Saved settings that cannot be read; nothing is changed."""


@dataclass(frozen=True)
class RunConfig:
    """One run. None in a training field means the preset's value."""

    preset: str = DEFAULT_PRESET
    dataset: str = "mnist5k"
    seed: int = 0
    batch_size: int | None = None
    noise: str | None = None
    loss: str | None = None
    k: int | None = None
    d_lr: float | None = None
    g_lr: float | None = None
    ema: float | None = None
    r1: float | None = None
    mode: str = "fused"  # or the tutorials' "classic" recipe (no checkpoints, no average, no R1)
    precision: str = "float32"  # of the fused step's computations (PRECISIONS)
    sample_interval: int = 500  # steps between sample grids saved to samples/ (the tutorial's saving_interval)
    quality_every: int = 250  # steps between classifier FID measurements (0: off)
    quality_samples: int = 1000  # generated images per measurement
    checkpoint_every: int = 1000  # steps between training-state checkpoints (0: only when asked and at the end)

    def preset_obj(self) -> Preset:
        """The preset with this run's overrides (validated)."""
        return get_preset(self.preset).replace(**{f: getattr(self, f) for f in TRAINING_FIELDS})

    def validate(self) -> None:
        self.preset_obj()  # raises UsageError naming what is accepted
        if self.mode not in MODES:
            raise UsageError(f"unknown mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        if self.precision != "float32" and self.mode != "fused":
            raise UsageError("the tutorials' classic recipe computes in float32: mixed precision needs --mode fused")
        for name, value in (("sample interval", self.sample_interval), ("quality samples", self.quality_samples)):
            if value <= 0:
                raise UsageError(f"{name} must be > 0, got {value}")
        for name, value in (("quality_every", self.quality_every), ("checkpoint_every", self.checkpoint_every)):
            if value < 0:
                raise UsageError(f"{name} must be >= 0, got {value}")

    def replace(self, **changes: Any) -> "RunConfig":
        config = dataclasses.replace(self, **changes)
        config.validate()
        return config

    def saved(self, commands: list[str]) -> dict[str, Any]:
        """What is written beside a checkpoint: this config, and the commands that trained the run."""
        return {"schema": CONFIG_SCHEMA, "config": dataclasses.asdict(self), "commands": list(commands)}


def read_saved_config(saved: Any, source: str) -> tuple[RunConfig, list[str]]:
    """(config, commands) from the settings saved with a checkpoint, by either driver, in this
    schema or the previous one. ConfigError with one line for anything else."""
    if not isinstance(saved, dict):
        raise ConfigError(f"{source} is damaged: it holds no settings object")
    schema = saved.get("schema", 1)
    if not isinstance(schema, int) or schema > CONFIG_SCHEMA or schema < 1:
        raise ConfigError(f"{source} was saved with settings schema {schema!r}; this version of gan_app reads "
                          f"schemas 1 to {CONFIG_SCHEMA}: continue the run with the version that saved it")
    if schema == 1:
        return _from_schema_1(saved, source)
    fields = saved.get("config")
    commands = saved.get("commands", [])
    known = {f.name for f in dataclasses.fields(RunConfig)}
    if not isinstance(fields, dict) or not isinstance(commands, list) or not set(fields) <= known:
        raise ConfigError(f"{source} is damaged or unknown: its config has fields {sorted(fields or [])}")
    return _checked(lambda: RunConfig(**fields), source), [str(c) for c in commands]


def _from_schema_1(saved: dict[str, Any], source: str) -> tuple[RunConfig, list[str]]:
    """The two drivers' earlier settings: the dashboard saved its Settings (with a live grid
    interval, `sample_interval`), the CLI the fields of meta.json (with `command(s)`)."""
    if "preset" not in saved:
        raise ConfigError(f"{source} is damaged: it names no preset")
    keep = ("preset", "dataset", "seed", "quality_every", "quality_samples", "checkpoint_every") + TRAINING_FIELDS
    fields = {k: saved[k] for k in keep if saved.get(k) is not None}
    if "mode" in saved:  # the CLI's: its batch size etc. are the run's own, not the preset's
        fields["mode"] = saved["mode"]
    commands = saved.get("commands") or ([saved["command"]] if saved.get("command") else [])
    return _checked(lambda: RunConfig(**fields), source), [str(c) for c in commands]


def _checked(build: Any, source: str) -> RunConfig:
    try:
        config = build()
        config.validate()
    except (TypeError, UsageError) as exc:
        raise ConfigError(f"{source} cannot be used: {exc}") from None
    return config
