"""Datasets: the shipped MNIST sample, Keras' sets, zips and bounded .npz files, drawings, and the k-means groups."""
