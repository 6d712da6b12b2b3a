"""The Latent lab page: its component, routes and socket, the live feed, drawings, Find and the game."""
