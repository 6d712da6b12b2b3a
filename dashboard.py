"""Streamlit entry point: `streamlit run dashboard.py`."""

import streamlit as st

st.set_page_config(page_title="GAN live dashboard", layout="wide")
st.title("Watch a GAN learn")
st.write("The live dashboard is on its way; train headless with `python -m gan_app train`.")
