"""The networks: each preset's G and D, the reference classifier and its quality metrics, portable exports."""
