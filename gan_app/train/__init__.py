"""One training step: the fused step, the tutorials' classic recipe, the slow-motion step and the Keras 3 trap."""
