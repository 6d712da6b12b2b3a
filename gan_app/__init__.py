"""DCGAN training core and live dashboard for watching a GAN learn handwritten digits."""

__version__ = "0.1.0"
