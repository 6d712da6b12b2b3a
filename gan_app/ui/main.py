"""The dashboard's pages, run by Streamlit for every page view (dashboard.py serves them)."""

import streamlit as st

from gan_app.core.tfquiet import import_tensorflow_quietly

import_tensorflow_quietly()  # before the pages import the trainer, which imports TensorFlow

from gan_app.ui.lab import page as lab_page  # noqa: E402
from gan_app.ui.learn import page as learn_page  # noqa: E402
from gan_app.ui.models import page as models_page  # noqa: E402
from gan_app.ui.train import page as train_page  # noqa: E402
from gan_app.ui.streamlit_fixes import keep_keras_state_between_reruns  # noqa: E402

keep_keras_state_between_reruns()
st.set_page_config(page_title="Watch a GAN learn", layout="wide")
train = st.Page(train_page.render, title="Train", icon=":material/monitoring:", url_path="train")
pages = [
    train,
    lab_page.page(),
    st.Page(models_page.render, title="Models", icon=":material/folder_open:", url_path="models"),
    st.Page(learn_page.render, title="Learn", icon=":material/school:", url_path="learn"),
]


def _home() -> None:
    st.switch_page(train)  # the root URL opens Train, and every page, Train too, has its own URL


home = st.Page(_home, title="Watch a GAN learn", url_path="home", default=True, visibility="hidden")
st.navigation([home, *pages]).run()
