"""The latent lab's page on the server (AppTest): what it keeps per tab, what it shares with
the class, and who may change what every lab sees."""

import dataclasses
import gc

import pytest
from streamlit.testing.v1 import AppTest

from gan_app.runs.checkpoint import SHIPPED_EXPORT, open_export
from gan_app.ui.common import current_trainer, get_trainer


def _lab_page():
    from gan_app.ui.lab import page as lab_page

    lab_page.render()


@pytest.fixture
def lab(monkeypatch, tmp_path):
    monkeypatch.delenv("GAN_APP_PRESENTER_PASSWORD", raising=False)
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    if current_trainer() is not None:
        current_trainer().close()
    yield AppTest.from_function(_lab_page, default_timeout=180)
    get_trainer().close()


def test_a_model_without_recorded_steps_opens_in_the_lab(lab):
    export = open_export(SHIPPED_EXPORT)
    meta = {k: v for k, v in export.meta.items() if k != "steps"}
    lab.session_state["opened_model"] = dataclasses.replace(export, meta=meta, name="no-steps")
    lab.session_state["lab_source"] = "Opened model"
    lab.run()
    assert not lab.exception
    assert any("no-steps (steps not recorded" in c.value for c in lab.caption)


def test_choosing_a_shipped_model_keeps_the_model_the_session_opened(lab):
    mine = dataclasses.replace(open_export(SHIPPED_EXPORT), name="my-upload")
    lab.session_state["opened_model"] = mine
    lab.session_state["lab_source"] = "Opened model"
    lab.run()
    assert lab.selectbox(key="lab_model").value == "my-upload (opened on the Models page)"
    lab.selectbox(key="lab_model").set_value("mnist5k-wide (shipped)").run()
    assert not lab.exception
    assert lab.session_state["opened_model"] is mine  # still there for the Models page and the lab
    assert "my-upload (opened on the Models page)" in lab.selectbox(key="lab_model").options


def test_values_kept_per_export_never_pass_to_a_later_object_at_the_same_id():
    from gan_app.ui.lab.page import _PerExport

    class Model:
        pass

    kept, first = _PerExport(), Model()
    kept.put(first, "first's bundle")
    del first
    gc.collect()
    later = [Model() for _ in range(200)]  # one of them very likely reuses the freed id
    assert all(kept.get(m) is None for m in later)


def test_what_every_lab_sees_is_the_presenters_to_change(lab, monkeypatch):
    from gan_app.classroom.room import classroom

    FEED = classroom().feed  # the server's: every lab shares it
    monkeypatch.setenv("GAN_APP_PRESENTER_PASSWORD", "s3cret")
    lab.session_state["lab_source"] = "Live run"
    lab.run()
    assert not lab.exception
    assert lab.button(key="lab_refresh").disabled
    assert lab.number_input(key="lab_auto").disabled
    before = FEED.every_steps
    lab.session_state["lab_auto"] = before + 7  # a forged widget state: the page ignores it
    lab.run()
    assert FEED.every_steps == before  # a student's tab cannot change it for the class
    assert lab.number_input(key="lab_auto").value == before
    lab.session_state["presenter"] = True
    lab.run()
    assert not lab.button(key="lab_refresh").disabled
    lab.number_input(key="lab_auto").set_value(before + 7).run()
    assert FEED.every_steps == before + 7
    FEED.every_steps = before


def test_the_presenter_hides_a_drawing_or_clears_the_class_list_and_a_viewer_cannot(lab, monkeypatch):
    import numpy as np

    from gan_app.classroom.room import classroom
    from gan_app.ui.common import PRESENTER_KEY

    REGISTRY, CLASS_POINTS = classroom().registry, classroom().points

    monkeypatch.setenv("GAN_APP_PRESENTER_PASSWORD", "s3cret")
    lab.session_state["lab_source"] = "Opened model"
    lab.run()
    version = list(REGISTRY._bundles)[-1]  # the shipped model's bundle, made by this page run
    z = np.zeros(64, np.float32)
    for name in ("Ana", "Ben", "Cy"):
        CLASS_POINTS.share(version, name, z, None)
    lab.run()
    assert not any(e.label.startswith("The class's drawings") for e in lab.expander)  # a viewer: no moderation
    lab.session_state[PRESENTER_KEY] = True
    lab.run()
    lab.selectbox(key="lab_moderate_pick").set_value("Ben #2")
    lab.button(key="lab_moderate_hide").click().run()
    assert list(CLASS_POINTS.of(version)) == ["Cy #3", "Ana #1"]
    lab.button(key="lab_moderate_clear").click().run()
    assert CLASS_POINTS.of(version) == {}


def test_a_link_opens_the_generator_it_names(lab):
    lab.query_params["model"] = "mnist5k-conditional"
    lab.run()
    assert not lab.exception
    assert lab.radio(key="lab_source").value == "Opened model"
    assert lab.selectbox(key="lab_model").value.startswith("mnist5k-conditional")
    lab.selectbox(key="lab_model").set_value("mnist5k-wide (shipped)").run()  # read once: the student's choice stays
    assert lab.selectbox(key="lab_model").value.startswith("mnist5k-wide")
