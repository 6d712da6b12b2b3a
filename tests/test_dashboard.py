"""The dashboard page through Streamlit's AppTest: real script, real trainer, no browser."""

import base64
import json
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gan_app.runs.checkpoint import SHIPPED_EXPORT
from gan_app.train.step import device_name
from gan_app.ui.live import charts
from gan_app.classroom.room import classroom
from gan_app.ui.common import NOTICE_KEY, PRESENTER_KEY, current_trainer, get_trainer, login_wait, run_control, try_login
from gan_app.classroom.logins import FREE_ATTEMPTS, LOCK_FIRST_S, LoginLimiter
from gan_app.ui.streamlit_fixes import keras_state_is_kept

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(monkeypatch, tmp_path):
    monkeypatch.delenv("GAN_APP_PRESENTER_PASSWORD", raising=False)
    # a fresh server: its own checkpoints folder, so no run saved by an earlier test is resumed
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    if current_trainer() is not None:
        current_trainer().close()
    at = AppTest.from_file(str(ROOT / "gan_app" / "ui" / "main.py"), default_timeout=60)
    yield at
    get_trainer().close()
    st.cache_resource.clear()
    classroom().logins.clear()  # wrong passwords count per address for the whole server: every test is a fresh server


def button(at, label):
    return next(b for b in at.button if b.label == label)


def progress_data(at):
    """What the numbers-and-curves component of the last page run was handed (the socket then keeps it current)."""
    panel = next(e for e in at.main if getattr(e, "type", "") == "bidi_component"
                 and e.proto.component_name == "gan_app.progress")
    return json.loads(panel.proto.json)


def metric(at, label):
    return next(value for name, value, _ in progress_data(at)["numbers"] if name == label)


def live_panel_update(at):
    """What the live panel of the last page run shows (its status line, message and grid)."""
    panel = next(e for e in at.main if getattr(e, "type", "") == "bidi_component"
                 and e.proto.component_name == "gan_app.live_panel")
    return json.loads(panel.proto.json)["initial"]


def live_panel_path(at):
    panel = next(e for e in at.main if getattr(e, "type", "") == "bidi_component"
                 and e.proto.component_name == "gan_app.live_panel")
    return json.loads(panel.proto.json)["path"]


def until(at, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("page never reached the expected state")


def test_page_renders_every_control_and_status(app):
    app.run()
    assert not app.exception
    labels = {b.label for b in app.button}
    assert {"Start", "Pause", "Resume", "Stop", "Reset", "Step D", "Step G", "Step both"} <= labels
    assert metric(app, "Step") == "0" and metric(app, "State") == "idle"
    assert metric(app, "Device") == device_name().split(" (")[0]  # known before any training, and it fits
    assert keras_state_is_kept()  # Streamlit's per-rerun keras clear_session is off


def test_controls_drive_the_shared_trainer(app):
    app.run()
    button(app, "Start").click().run()
    until(app, lambda: int(metric(app, "Step").replace(",", "")) > 0)
    assert get_trainer().snapshot().status == "running"
    button(app, "Pause").click().run()
    get_trainer().wait_idle()
    app.run()
    assert metric(app, "State") == "paused"
    button(app, "Step D").click().run()
    get_trainer().wait_idle()
    step = get_trainer().snapshot().step
    button(app, "Step both").click().run()
    get_trainer().wait_idle()
    assert get_trainer().snapshot().step == step + 1
    button(app, "Reset").click().run()
    get_trainer().wait_idle()
    app.run()
    assert metric(app, "Step") == "0" and metric(app, "State") == "idle"


def test_live_settings_apply_to_the_running_trainer(app):
    app.run()
    app.radio(key="live_loss").set_value("minimax").run()
    app.number_input(key="live_k").set_value(3).run()
    app.number_input(key="live_g_lr").set_value(7e-4).run()
    get_trainer().wait_idle()
    s = get_trainer().snapshot().config
    assert (s.loss, s.k, s.g_lr) == ("minimax", 3, 7e-4)


def test_run_settings_take_effect_on_reset(app):
    app.run()
    app.selectbox(key="run_preset").set_value("taehojo").run()
    app.number_input(key="run_batch_size").set_value(16).run()
    assert get_trainer().snapshot().config.preset == "fast"  # not before Reset
    next(b for b in app.button if b.label == "Apply settings and Reset").click().run()
    get_trainer().wait_idle()
    s = get_trainer().snapshot().config
    assert (s.preset, s.batch_size) == ("taehojo", 16)


def test_viewers_without_the_presenter_password_cannot_act(app, monkeypatch):
    monkeypatch.setenv("GAN_APP_PRESENTER_PASSWORD", "s3cret")
    app.run()
    assert button(app, "Start").disabled and app.radio(key="live_loss").disabled
    # adding a dataset is the presenter's too: a viewer is not even given the uploader
    assert not app.get("file_uploader") and any("The presenter adds datasets" in c.value for c in app.caption)
    # The handlers refuse a viewer themselves: a click that bypasses the disabled button does nothing.
    trainer = get_trainer()
    viewer: dict = {}
    assert not run_control(viewer, trainer.start)
    assert not run_control(viewer, lambda: trainer.apply_live(loss="minimax"))
    trainer.wait_idle()
    assert trainer.snapshot().status == "idle" and trainer.snapshot().config.preset_obj().loss == "nonsaturating"
    assert "View only" in viewer[NOTICE_KEY][1]
    # A wrong password keeps the session a viewer; the right one unlocks the controls.
    submit = "FormSubmitter:presenter_login-Unlock controls"
    app.text_input[0].input("wrong")
    app.button(key=submit).click().run()
    assert any("Wrong presenter password" in e.value for e in app.error)
    assert button(app, "Start").disabled
    app.text_input[0].input("s3cret")
    app.button(key=submit).click().run()
    assert not button(app, "Start").disabled and not app.get("file_uploader")[0].proto.disabled
    assert not any("The presenter adds datasets" in c.value for c in app.caption)
    button(app, "Start").click().run()
    trainer.wait_idle()
    assert trainer.snapshot().status == "running"


def test_wrong_presenter_passwords_make_the_address_wait_longer_each_time(app, monkeypatch):
    monkeypatch.setenv("GAN_APP_PRESENTER_PASSWORD", "s3cret")
    app.run()
    submit = "FormSubmitter:presenter_login-Unlock controls"
    for _ in range(FREE_ATTEMPTS):
        app.text_input[0].input("guess")
        app.button(key=submit).click().run()
    # locked: even the right password is not checked now
    app.text_input[0].input("s3cret")
    app.button(key=submit).click().run()
    assert any("Too many wrong presenter passwords" in e.value for e in app.error)
    assert button(app, "Start").disabled and not app.session_state[PRESENTER_KEY]

    session: dict = {}  # the same rules, on the clock a test chooses
    logins = LoginLimiter()
    for _ in range(FREE_ATTEMPTS):
        assert not try_login(session, "guess", "203.0.113.7", now=100.0, limiter=logins)
    assert login_wait("203.0.113.7", now=100.0, limiter=logins) == LOCK_FIRST_S
    assert login_wait("203.0.113.8", now=100.0, limiter=logins) == 0  # another address is not held back
    fresh: dict = {}  # a reload: a new session from the same address waits all the same
    assert not try_login(fresh, "s3cret", "203.0.113.7", now=100.0 + LOCK_FIRST_S - 1, limiter=logins)
    assert not fresh.get(PRESENTER_KEY)
    assert not try_login(session, "guess", "203.0.113.7", now=100.0 + LOCK_FIRST_S, limiter=logins)  # still wrong
    assert login_wait("203.0.113.7", now=100.0 + LOCK_FIRST_S, limiter=logins) == 2 * LOCK_FIRST_S  # twice as long
    later = 100.0 + 3 * LOCK_FIRST_S
    assert try_login(session, "s3cret", "203.0.113.7", now=later, limiter=logins) and session[PRESENTER_KEY]
    assert not try_login(session, "guess", "203.0.113.7", now=later, limiter=logins)
    assert login_wait("203.0.113.7", now=later, limiter=logins) == 0  # the count starts over
    small = LoginLimiter(kept=2)  # bounded: the oldest addresses are forgotten
    for address in ("a", "b", "c"):
        small.failed(address, 0.0)
    assert len(small._by_client) == 2


def test_without_a_password_everyone_controls_the_run(monkeypatch):
    monkeypatch.delenv("GAN_APP_PRESENTER_PASSWORD", raising=False)
    ran = []
    assert run_control({}, lambda: ran.append(1)) and ran == [1]


def test_loss_charts_carry_both_curves_and_the_equilibrium_line(app):
    app.run()
    button(app, "Step both").click().run()
    get_trainer().wait_idle()
    button(app, "Step both").click().run()
    get_trainer().wait_idle()
    app.run()
    progress = progress_data(app)["progress"]
    assert [t["name"] for t in progress["loss"]["data"]] == ["d_loss", "g_loss"]
    assert [t["name"] for t in progress["d_output"]["data"]] == ["D(x)", "D(G(z))"]
    assert progress["d_output"]["layout"]["shapes"][0]["y0"] == 0.5
    assert _typed_array(progress["loss"]["data"][0]["x"])[-1] == 1  # steps 0 and 1
    app.checkbox(key="show_parts").check().run()  # the tab's view: the socket is asked for it too
    data = progress_data(app)
    assert [t["name"] for t in data["progress"]["loss"]["data"]] == ["d_loss", "g_loss", "d_loss_real", "d_loss_fake"]
    assert data["view"] == data["progress"]["view"] and "parts=1" in data["view"]
    assert data["view"] in live_panel_path(app)


def _learn_page():
    from gan_app.ui.learn import page as learn_page

    learn_page.render()


def test_learn_page_explains_the_game_and_the_keras_3_freeze():
    at = AppTest.from_function(_learn_page).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "freezes D for good" in text and "0.5" in text and "non-saturating" in text
    assert "log(1 - D(G(z)))" in at.latex[0].value or r"\log(1 - D(G(z)))" in at.latex[0].value


def _ema_one_by_one(values: np.ndarray, smoothing: float) -> np.ndarray:
    out, last, weight = values.copy(), 0.0, 0.0
    for i, v in enumerate(values):
        if np.isfinite(v):
            last = smoothing * last + (1 - smoothing) * v
            weight = smoothing * weight + (1 - smoothing)
            out[i] = last / weight
    return out


def test_ema_and_downsampling_bound_what_is_drawn():
    values = np.r_[np.zeros(10), np.ones(10)]
    smoothed = charts.ema(values, 0.9)
    assert smoothed[0] == 0 and 0 < smoothed[-1] < 1 and np.all(np.diff(smoothed) >= 0)
    np.testing.assert_allclose(charts.ema(values, 0.0), values)
    # solved in blocks, it agrees with the average taken one value at a time, gaps included
    noisy = np.random.default_rng(0).normal(1.0, 3.0, 5000)
    noisy[[0, 7, 1500, 4999]] = [np.nan, np.inf, np.nan, np.nan]
    for smoothing in (0.05, 0.6, 0.9, 0.99, 0.999):
        np.testing.assert_allclose(charts.ema(noisy, smoothing), _ema_one_by_one(noisy, smoothing), rtol=1e-9, atol=1e-9)
    x = np.arange(50_000.0)
    xs, ys = charts.downsample(x, x * 2)
    assert len(xs) <= charts.MAX_DRAWN_POINTS + 1 and xs[-1] == x[-1] and np.all(ys == xs * 2)


def test_save_checkpoint_and_export_from_the_page(app, monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    app.run()
    next(b for b in app.button if b.label == "Save checkpoint now").click().run()
    get_trainer().wait_idle()
    app.run()
    assert "nothing to save yet" in live_panel_update(app)["message"]  # said in the page, nothing written
    assert not (tmp_path / "live" / "state").exists()
    button(app, "Step both").click().run()
    get_trainer().wait_idle()
    next(b for b in app.button if b.label == "Save checkpoint now").click().run()
    get_trainer().wait_idle()
    assert get_trainer().snapshot().checkpoint_step == 1
    assert (tmp_path / "live" / "state" / "checkpoint").is_file()
    app.text_input(key="export_name").set_value("class-demo").run()
    next(b for b in app.button if b.label == "Export generator").click().run()
    get_trainer().wait_idle()
    meta = json.loads((tmp_path / "class-demo" / "meta.json").read_text())
    assert meta["steps"] == 1 and meta["latent_dim"] == 64 and (tmp_path / "class-demo" / "generator.keras").is_file()
    app.text_input(key="export_name").set_value("../escape").run()
    next(b for b in app.button if b.label == "Export generator").click().run()
    assert any("Export names use letters" in e.value for e in app.error)


def _models_page():
    from gan_app.ui.models import page as models_page

    models_page.render()


def test_models_page_opens_an_export_and_reports_a_broken_one(monkeypatch, tmp_path):
    import shutil

    shutil.copytree(SHIPPED_EXPORT, tmp_path / SHIPPED_EXPORT.name)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "generator.keras").write_bytes(b"garbage")
    (broken / "meta.json").write_text(json.dumps({"latent_dim": 64, "noise": "normal", "output_min": -1, "output_max": 1}))
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    at = AppTest.from_function(_models_page, default_timeout=120).run()
    at.selectbox(key="export_choice").set_value(broken).run()
    at.button(key="open_export").click().run()
    assert any("not a Keras model file" in e.value for e in at.error) and not at.exception
    at.selectbox(key="export_choice").set_value(tmp_path / SHIPPED_EXPORT.name).run()
    at.button(key="open_export").click().run()
    assert not at.exception and f"Opened: {SHIPPED_EXPORT.name}" in [s.value for s in at.subheader][-1]
    assert next(m for m in at.metric if m.label == "Digits covered").value == "10 of 10"


def _typed_array(value: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(value["bdata"]), value["dtype"])


def test_the_shared_figures_are_valid_plotly():
    """The page's figures are plotly's JSON built by hand; plotly itself checks each one."""
    steps = np.arange(1.0, 1201.0)
    curve = np.linspace(2.0, 0.5, 1200)
    specs = [charts.loss_figure(steps, {"d_loss": curve, "g_loss": curve[::-1]}, 0.6),
             charts.d_output_figure(steps, curve / 2, curve / 4, 0.6),
             charts.fid_figure(np.array([250.0, 500.0]), np.array([300.0, 120.0]), floor=9.1),
             charts.histogram_figure(np.r_[np.full(9, 0.11), [0.01]])]
    figures = [go.Figure(spec) for spec in specs]  # raises on any property plotly does not know
    assert [t.name for t in figures[0].data] == ["d_loss", "g_loss"]
    x, y = (_typed_array(specs[0]["data"][1][axis]) for axis in ("x", "y"))
    assert len(x) == len(y) <= charts.MAX_DRAWN_POINTS + 1 and x[-1] == 1200
    np.testing.assert_allclose(y[-1], charts.ema(curve[::-1], 0.6)[-1], rtol=1e-6)
    assert figures[1].layout.shapes[0].y0 == 0.5 and list(figures[1].layout.yaxis.range) == [0, 1]
    assert figures[3].layout.title.text == "Which digits G draws: 9 of 10 covered"
    assert figures[3].data[0].marker.color[-1] == "#d62728"


def test_fid_chart_keeps_its_log_axis_to_the_data():
    fig = go.Figure(charts.fid_figure(np.array([250.0, 500.0]), np.array([300.0, 120.0]), floor=9.1))
    assert fig.layout.yaxis.type == "log" and not fig.layout.annotations
    assert [t.name for t in fig.data] == ["FID", "real digits 9.1"]
    # whole numbers on the log axis: 200 reads "200", not a lone "2" above "100"
    assert list(fig.layout.yaxis.ticktext) == ["5", "10", "20", "50", "100", "200", "500"]


def test_models_page_continues_a_cli_run_live(monkeypatch, tmp_path):
    from gan_app.cli import main

    run = tmp_path / "cli-run"
    assert main(["train", "--steps", "12", "--batch-size", "16", "--quality-every", "0", "--out", str(run)]) == 0
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv("GAN_APP_PRESENTER_PASSWORD", raising=False)
    get_trainer().close()  # a fresh server's trainer, on this checkpoints folder
    try:
        at = AppTest.from_function(_models_page, default_timeout=120).run()
        assert at.selectbox(key="run_choice").value == run
        at.button(key="continue_live").click().run()
        get_trainer().wait_idle()
        snap = get_trainer().snapshot()
        assert (snap.step, snap.status, snap.run_dir) == (12, "paused", run), snap.message
        assert snap.config.batch_size == 16 and not at.exception
    finally:
        get_trainer().close()
