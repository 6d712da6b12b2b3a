"""The run layer: one run and its directory (lock, checkpoints, history), whichever driver trains it."""
