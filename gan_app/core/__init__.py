"""What every layer uses: presets and run configs, errors meant for people, atomic files, pictures, latent maths."""
