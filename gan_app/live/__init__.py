"""The dashboard's driver of a run: the live trainer, its commands, and the snapshots it publishes."""
