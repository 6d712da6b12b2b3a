"""The Models page: checkpoints and exports."""
