"""Streamlit entry point: `streamlit run dashboard.py` (or `make run`)."""

import streamlit as st

from gan_app.tfquiet import import_tensorflow_quietly
from gan_app.ui import lab_page, learn_page, models_page, train_page
from gan_app.ui.streamlit_fixes import keep_keras_state_between_reruns

import_tensorflow_quietly()
keep_keras_state_between_reruns()
st.set_page_config(page_title="Watch a GAN learn", layout="wide")
st.navigation(
    [
        st.Page(train_page.render, title="Train", icon=":material/monitoring:", url_path="train", default=True),
        st.Page(lab_page.render, title="Latent lab", icon=":material/tune:", url_path="lab"),
        st.Page(models_page.render, title="Models", icon=":material/folder_open:", url_path="models"),
        st.Page(learn_page.render, title="Learn", icon=":material/school:", url_path="learn"),
    ]
).run()
