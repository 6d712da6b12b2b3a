"""The latent lab's server side: model versions and their browser bundles, inversion, and what the class shares."""
