"""Presets: the one typed object that says how a DCGAN is built and trained.

Each tutorial the app grew from is one preset, with its layer sequence (named by
`architecture`, built in gan_app.models), optimizer and noise prior. Nothing here imports
TensorFlow, so the UI and the CLI can list and validate presets cheaply.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from gan_app.errors import UsageError

LOSSES = ("nonsaturating", "minimax")
NOISES = ("normal", "uniform")
OPTIMIZERS = ("adam", "rmsprop")
MODES = ("fused", "classic")
# What one training iteration reports, in this order (metrics.csv, charts, history arrays).
METRICS = ("d_loss", "d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake")


@dataclass(frozen=True)
class Preset:
    name: str  # CLI / UI name
    description: str  # one line shown in listings
    architecture: str  # key of the generator/discriminator builders in gan_app.models
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
    description="light transposed-conv DCGAN tuned for a 2-core CPU: digits within a minute",
    architecture="fast",
    latent_dim=64,
    batch_size=64,
    # A 4x faster G than D: lower FID at the same step than equal rates. Twice 1e-3 / 2.5e-4
    # reached FID <= 30 in 3,751 and 4,751 steps (seeds 0, 1) instead of more than 7,000.
    d_lr=5e-4,
    g_lr=2e-3,
    beta_1=0.5,
    ema=0.995,  # at G 1e-3 / D 2.5e-4: classifier FID 18.7 instead of 19.8 after 30,000 steps
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
    )
}

DEFAULT_PRESET = "fast"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
