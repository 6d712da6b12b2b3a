"""Streamlit pages. They read Trainer snapshots and send commands; they never touch TensorFlow."""
