"""The join card: the addresses a class opens, and a QR code of the first, for the presenter."""

import io

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from gan_app.ui.common import PRESENTER_KEY, current_trainer, get_trainer
from gan_app.ui.train.join_card import QR_SCALE, join_urls, machine_addresses, qr_png


def test_join_urls_name_each_host_once_with_its_port_and_base_path():
    assert join_urls(["192.0.2.7", "class.example"], 8501, "/gan") == [
        "http://192.0.2.7:8501/gan/", "http://class.example:8501/gan/"]
    assert join_urls(["class.example", "class.example", ""], 443, "", "https") == ["https://class.example/"]
    assert join_urls(["2001:db8::7"], 80) == ["http://[2001:db8::7]/"]


def test_this_machines_addresses_leave_out_loopback():
    addresses = machine_addresses()
    assert "127.0.0.1" not in addresses and all(a.count(".") == 3 for a in addresses)


def test_the_qr_code_draws_segnos_modules_at_projector_scale():
    import segno

    url = "http://192.0.2.7:8501/"
    image = np.asarray(Image.open(io.BytesIO(qr_png(url))).convert("L"))
    modules = np.asarray(segno.make(url, error="m").matrix, bool)
    side = (len(modules) + 8) * QR_SCALE  # a quiet zone of 4 modules each side
    assert image.shape == (side, side) and side >= 300
    drawn = image[4 * QR_SCALE + QR_SCALE // 2::QR_SCALE, 4 * QR_SCALE + QR_SCALE // 2::QR_SCALE][:len(modules), :len(modules)]
    np.testing.assert_array_equal(drawn < 128, modules)  # dark where a module is set


def _train_page():
    from gan_app.ui.train import page as train_page

    train_page.render()


def test_only_the_presenter_can_show_the_join_card(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_APP_PRESENTER_PASSWORD", "s3cret")
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    if current_trainer() is not None:
        current_trainer().close()
    app = AppTest.from_function(_train_page, default_timeout=120)
    try:
        app.run()
        assert not [t for t in app.toggle if t.key == "show_join_card"]  # a viewer is not offered it
        app.session_state[PRESENTER_KEY] = True
        app.run()
        app.toggle(key="show_join_card").set_value(True).run()
        assert not app.exception
        shown = " ".join(m.value for m in app.markdown)
        assert "Open in your browser" in shown and " watching" in shown
        for address in machine_addresses():
            assert f"http://{address}:8501/" in shown
    finally:
        get_trainer().close()
