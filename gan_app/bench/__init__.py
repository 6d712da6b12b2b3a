"""Measuring the product: training benchmarks, emulated classes of viewers, a real server and a
real browser for the end-to-end tests. Nothing in the product imports this package."""
