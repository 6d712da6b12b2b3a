"""Students' own digits: drawings and uploads converted like MNIST, what the classifier and D make
of them, finding them in latent space (also from the CLI), and datasets from a zip of images."""

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT, open_export
from gan_app.cli import main
from gan_app.data.datasets import load_dataset
from gan_app.data.drawing import decode, to_mnist
from gan_app.core.errors import DatasetError, GanAppError, ImageInputError
from gan_app.lab.model import LabGenerator, reference_labeller
from gan_app.lab.inversion import Projector


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _stroke(size=280, box=(20, 20, 70, 120), background="black", ink="white", mode="L"):
    image = Image.new(mode, (size, size), background)
    ImageDraw.Draw(image).line([box[:2], box[2:]], fill=ink, width=14)
    return image


@pytest.fixture(scope="module")
def shipped():
    return LabGenerator.from_export(open_export(SHIPPED_EXPORT))


# ---- the canvas's drawing, converted -------------------------------------------------------

def test_a_stroke_in_a_corner_lands_centred_and_scaled_like_mnist():
    x = to_mnist(decode(_png(_stroke()), "the drawing"))
    assert x.shape == (28, 28, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() == pytest.approx(1.0)
    ink = x[..., 0] > 0.2
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert rows[-1] - rows[0] + 1 in (19, 20, 21)  # the longer side (here the height) fits MNIST's 20x20 box
    assert cols[-1] - cols[0] + 1 < rows[-1] - rows[0] + 1  # and the aspect ratio is kept
    mass = x[..., 0] / x[..., 0].sum()
    cy, cx = (np.indices((28, 28)) * mass).reshape(2, -1).sum(axis=1)
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0  # centred by its centre of mass


def test_dark_ink_on_a_light_colour_photo_becomes_white_on_black():
    photo = _stroke(size=400, background=(250, 240, 200), ink=(20, 20, 90), mode="RGB")
    x = to_mnist(decode(_png(photo), "photo.png"))
    assert x[0, 0, 0] == 0.0 and x.max() == pytest.approx(1.0)  # black background, white ink


@pytest.mark.parametrize("data,expected", [
    (b"not an image at all", "not an image"),
    (_png(Image.new("L", (280, 280), 0)), "is empty"),
    (_png(Image.new("RGB", (100, 100), "white")), "is empty"),
])
def test_bad_drawings_and_uploads_get_one_line(data, expected):
    with pytest.raises(ImageInputError) as err:
        to_mnist(decode(data, "upload.png"), "upload.png")
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_the_classifier_and_d_verdicts_shown_match_calling_them_directly():
    from gan_app.ui.lab.draw import verdicts

    model = LabGenerator.from_export(open_export(SHIPPED_CONDITIONAL))  # ships its discriminator
    x = load_dataset("mnist5k").x[7]
    digit, p, d = verdicts(model, x)
    probs = reference_labeller()(x[None])[0]
    assert digit == int(np.argmax(probs)) and p == pytest.approx(float(probs.max()), abs=1e-6)
    direct = model.discriminator([x[None] * 2 - 1, np.array([digit], np.int32)], training=False).numpy()[0, 0]
    assert d == pytest.approx(float(direct), abs=1e-5)


# ---- finding an image in latent space --------------------------------------------------------

def test_projection_of_a_generator_sample_recovers_it(shipped):
    projector = Projector(shipped.generator, shipped.meta)
    for seed in (1, 2):
        target = shipped.images01(shipped.noise(1, seed))[0]
        found = projector.project(target)
        assert found.z.shape == (shipped.latent_dim,) and found.z.dtype == np.float32
        assert found.mse < 0.01
        np.testing.assert_allclose(shipped.images01(found.z[None])[0], found.image01, atol=1e-5)


def test_held_out_digits_project_to_the_same_digit(shipped):
    from gan_app.models.classifier import split

    ds = load_dataset("mnist5k")
    held = np.random.default_rng(1).permutation(split(ds)[1])[:20]
    projector = Projector(shipped.generator, shipped.meta)
    found = np.stack([projector.project(ds.x[i]).image01 for i in held])
    same = (reference_labeller()(found).argmax(axis=1) == ds.y[held]).mean()
    assert same >= 0.8  # `bench --projection` measures it on 200: see the README


def test_searches_batched_together_find_what_each_finds_alone(shipped):
    import threading

    from gan_app.lab.find_queue import FindQueue

    projector = Projector(shipped.generator, shipped.meta)
    targets = shipped.images01(shipped.noise(4, 21))
    alone = [projector.project(t, steps=60) for t in targets[:2]]
    together = projector.project_many(targets[:2], steps=60)
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a.z, b.z, atol=1e-3)  # the same starts, the same search
        assert abs(a.mse - b.mse) < 1e-4

    queue = FindQueue(gather_s=1.0)
    fast = lambda: type("Fast", (), {"project_many": lambda self, ts, **kw: projector.project_many(ts, steps=60)})()  # noqa: E731
    results = [None] * 4

    def ask(i):
        results[i] = queue.find("shipped", fast, targets[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r is not None and r.mse < 0.02 for r in results)
    assert sum(queue.batches) == 4 and len(queue.batches) < 4  # asked together, searched together
    full = FindQueue(max_waiting=0)
    assert full.find("shipped", fast, targets[0]) is None  # too many waiting: try again, nothing runs


def test_a_conditional_generator_is_searched_at_every_digit():
    model = LabGenerator.from_export(open_export(SHIPPED_CONDITIONAL))
    target = model.images01(model.noise(1, 4), 6)[0]
    found = Projector(model.generator, model.meta).project(target, restarts=2)
    assert found.digit == 6 and found.mse < 0.01


def test_the_project_command_writes_z_and_one_json_line(tmp_path, capsys):
    image = tmp_path / "seven.png"
    _stroke(box=(60, 40, 200, 240)).save(image)
    out = tmp_path / "z.npy"
    assert main(["project", str(SHIPPED_EXPORT), str(image), "--out", str(out), "--steps", "60", "--restarts", "2"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["mse"] < 0.1 and row["seconds"] > 0 and row["out"] == str(out)
    z = np.load(out)
    assert z.shape == (1, 64) and z.dtype == np.float32


@pytest.mark.parametrize("make,expected", [
    (lambda d: (d / "x.png").write_bytes(b"hello"), "not an image"),
    (lambda d: Image.new("L", (50, 50), 0).save(d / "x.png"), "is empty"),
    (lambda d: None, "no image at"),
])
def test_the_project_command_refuses_bad_images_in_one_line(tmp_path, capsys, make, expected):
    make(tmp_path)
    assert main(["project", str(SHIPPED_EXPORT), str(tmp_path / "x.png"), "--out", str(tmp_path / "z.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and not (tmp_path / "z.npy").exists()


def test_the_project_command_refuses_an_unreadable_export(tmp_path, capsys):
    _stroke().save(tmp_path / "x.png")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "generator.keras").write_bytes(b"garbage")
    (tmp_path / "export" / "meta.json").write_text("{}")
    assert main(["project", str(tmp_path / "export"), str(tmp_path / "x.png"), "--out", str(tmp_path / "z.npy")]) == 2
    assert "meta.json lacks" in capsys.readouterr().err


# ---- datasets from a zip of images -----------------------------------------------------------

def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def _digit_png(i: int) -> bytes:
    return _png(_stroke(size=60 + i % 7, box=(10 + i % 5, 8, 30, 50), background="white", ink="black"))


def test_a_zip_with_digit_folders_loads_labelled_and_the_cli_trains_on_it(tmp_path, capsys):
    entries = {f"class/{i % 10}/img{i}.png": _digit_png(i) for i in range(80)}
    entries["class/readme.txt"] = b"not an image"
    path = _zip(tmp_path / "ours.zip", entries)
    ds = load_dataset(str(path))
    assert len(ds) == 80 and ds.x.shape == (80, 28, 28, 1) and list(ds.y[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert ds.is_digits and ds.x[:, 0, 0, 0].max() == 0.0  # inverted to white on black
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(path), "--steps", "2", "--batch-size", "16", "--quality-every", "0",
                 "--out", str(out)]) == 0
    assert json.loads((out / "meta.json").read_text())["dataset"] == "ours"


def test_a_zip_without_digit_folders_has_no_labels_and_no_quality(tmp_path):
    from gan_app.core.config import RunConfig
    from gan_app.runs.run import Run

    path = _zip(tmp_path / "faces.zip", {f"img{i}.jpg": _digit_png(i) for i in range(70)})
    ds = load_dataset(str(path))
    assert ds.y is None and not ds.is_digits
    run = Run(RunConfig(dataset=str(path), batch_size=16), dataset=ds)
    assert "folders named 0-9" in run.quality_note and run.measure() is None  # the page: "not available"


def _bomb(path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("huge.png", b"\0" * (50 * 1024 * 1024))
    return path


@pytest.mark.parametrize("make,expected", [
    (lambda p: p.write_bytes(b"PK\x03\x04 but not a zip at all"), "not a zip archive"),
    (_bomb, "zip bomb"),
    (lambda p: _zip(p, {"../escape.png": _digit_png(1), **{f"{i}.png": _digit_png(i) for i in range(70)}}),
     "tries to leave the target folder"),
    (lambda p: _zip(p, {"/etc/evil.png": _digit_png(1)}), "tries to leave the target folder"),
    (lambda p: _zip(p, {"a.txt": b"text", "b.png": b"broken png"}),
     "no readable PNG or JPEG images (1 not PNG or JPEG, 1 unreadable or empty images skipped)"),
    (lambda p: _zip(p, {f"{i}.png": _digit_png(i) for i in range(5)}), "larger than dataset 'bad' (5 images)"),
])
def test_each_bad_archive_gets_its_message_and_nothing_is_written(tmp_path, capsys, make, expected):
    path = tmp_path / "bad.zip"
    make(path)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(path), "--steps", "2", "--batch-size", "16", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and "bad" in err
    assert not out.exists()


def test_an_archive_over_the_limits_is_refused_before_reading(tmp_path, monkeypatch):
    from gan_app.data import zips as data_zip

    path = _zip(tmp_path / "many.zip", {f"{i}.png": _digit_png(i) for i in range(30)})
    monkeypatch.setattr(data_zip, "MAX_IMAGES", 20)
    with pytest.raises(DatasetError, match="over the 20 limit"):
        data_zip.read_zip(path, "many.zip")
    monkeypatch.setattr(data_zip, "MAX_TOTAL_MB", 0)
    with pytest.raises(DatasetError, match="would decompress to"):
        data_zip.read_zip(path, "many.zip")


def test_the_dashboard_converts_an_upload_and_previews_it(tmp_path):
    from gan_app.ui.train.dataset_upload import _convert

    data = (_zip(tmp_path / "u.zip", {f"{i % 10}/{i}.png": _digit_png(i) for i in range(64)})).read_bytes()
    npz, count, digits, skipped, preview = _convert("u.zip", data, 64)
    assert count == 64 and digits and skipped == {}
    (tmp_path / "u.npz").write_bytes(npz)
    ds = load_dataset(str(tmp_path / "u.npz"))
    assert len(ds) == 64 and ds.is_digits and Image.open(io.BytesIO(preview)).size[0] > 28
    with pytest.raises(GanAppError, match="fewer than one batch"):
        _convert("u.zip", data, 128)
    with pytest.raises(GanAppError, match="no 'x'"):  # an .npz that is not a dataset
        buf = io.BytesIO()
        np.savez(buf, images=np.zeros((70, 28, 28), np.uint8))
        _convert("other.npz", buf.getvalue(), 64)
