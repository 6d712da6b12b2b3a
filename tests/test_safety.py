"""What a careless or hostile user can do does not hurt the run, its files or the shipped models:
an .npz bomb is refused before it is unpacked, two writers never share a run directory, `--out`
never overwrites a run, and the dashboard's Export never replaces a shipped model or a run."""

import hashlib
import io
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from gan_app.cli import main
from gan_app.data.datasets import load_dataset
from gan_app.data.npz import MAX_NPZ_IMAGES, UPLOAD_NPZ_IMAGES
from gan_app.core.errors import DatasetError, GanAppError

ROOT = Path(__file__).resolve().parent.parent
BOMB_IMAGES = 2_000_000


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def bomb_npz(images: int = BOMB_IMAGES) -> bytes:
    """An .npz whose 'x' is `images` zero images (1.5 GB for 2,000,000) compressed to ~1.5 MB.

    Zeros compressed after a full flush give the same bytes every time, so the stream is one
    compressed block repeated: built in a fraction of a second without the 1.5 GB in memory."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (images, 28, 28)})
    chunk_images = 20_000
    assert images % chunk_images == 0
    chunk = bytes(chunk_images * 28 * 28)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as zip stores it
    head = packer.compress(header.getvalue()) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    n = images // chunk_images
    data = head + block * n + packer.flush(zlib.Z_FINISH)
    crc = zlib.crc32(header.getvalue())
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    size = len(header.getvalue()) + len(chunk) * n
    name = b"x.npy"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(name),
                          0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    path.write_bytes(bomb_npz())
    return path


def test_the_bomb_is_what_it_claims(bomb):
    import zipfile

    info = zipfile.ZipFile(bomb).getinfo("x.npy")
    assert bomb.stat().st_size < 2 * 2**20 and info.file_size > 1.5e9  # 1.5 MB that unpacks to 1.5 GB
    small = bomb.with_name("small.npz")
    small.write_bytes(bomb_npz(40_000))  # the same recipe, small enough to load: a valid .npz
    with np.load(small, allow_pickle=False) as f:
        assert f["x"].shape == (40_000, 28, 28) and not f["x"].any()


def test_an_npz_bomb_is_refused_from_its_header_in_bounded_memory(bomb):
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as err:
            load_dataset(str(bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(err.value)
    assert msg == f"bomb.npz holds {BOMB_IMAGES:,} images, over the {MAX_NPZ_IMAGES:,}-image limit for an .npz dataset; nothing was loaded"
    assert peak < 8 * 2**20  # numpy reports its allocations: loading 'x' would show 1.5 GB


def test_the_cli_refuses_an_npz_bomb_in_one_line_exit_2(bomb, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--steps", "2", "--dataset", str(bomb), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bomb.npz" in err and f"{MAX_NPZ_IMAGES:,}-image limit" in err, err
    assert not out.exists() or not any(out.iterdir())


def test_the_dashboard_refuses_an_npz_bomb_and_an_npz_over_its_limit(bomb):
    from gan_app.ui.train.dataset_upload import _convert

    with pytest.raises(GanAppError, match=f"holds {BOMB_IMAGES:,} images, over the {UPLOAD_NPZ_IMAGES:,}-image limit"):
        _convert("bomb.npz", bomb.read_bytes(), 64)
    over = bomb_npz(UPLOAD_NPZ_IMAGES + 20_000)  # fine for the CLI, too many for an upload
    with pytest.raises(GanAppError, match=f"holds {UPLOAD_NPZ_IMAGES + 20_000:,} images"):
        _convert("over.npz", over, 64)


@pytest.mark.parametrize("arrays,expected", [
    ({"x": np.zeros((3, 28, 28), np.uint8), "y": np.array([object(), 1, 2], dtype=object)}, "Python objects"),
    ({"x": np.zeros((3, 28, 28), np.complex128)}, "dtype complex128"),
    ({"x": np.zeros((3, 28, 28), np.uint8), "junk": np.zeros(10 * 28 * 28 + 1)}, "'junk' has shape"),
    ({"x": np.zeros((3, 28, 28), np.uint8), "y": np.zeros(11, np.int64)}, "'y' has shape"),
    ({"x": np.zeros((11, 28, 28), np.uint8)}, "holds 11 images, over the 10-image limit"),
])
def test_an_npz_is_checked_array_by_array_before_loading(tmp_path, arrays, expected):
    from gan_app.data.datasets import load_npz

    path = tmp_path / "odd.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=expected) as err:
        load_npz(path, max_images=10)
    assert "\n" not in str(err.value) and "odd.npz" in str(err.value)


# ---- one writer per run directory ---------------------------------------------------------------

HOLDER = ("import sys; from gan_app.runs.lock import RunLock; lock = RunLock(sys.argv[1]); "
          "print('held', flush=True); sys.stdin.read()")
TRY_LOCK = ("import sys; from gan_app.runs.lock import RunLock, RunLocked\n"
            "try:\n    RunLock(sys.argv[1])\nexcept RunLocked as exc:\n    print(exc); sys.exit(2)")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "cli-run"
    assert main(["train", "--steps", "4", "--batch-size", "16", "--saving-interval", "2", "--quality-every", "0",
                 "--out", str(out)]) == 0
    return out


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


class Holder:
    """Another process that holds a run directory's writer lock until it is killed."""

    def __init__(self, run_dir: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout.readline() == "held\n"  # blocks until the child has the lock
        self.pid = self.proc.pid

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no clean-up in the child, the kernel drops the lock
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


def test_a_second_writer_is_refused_in_one_line_and_nothing_changes(cli_run, tmp_path, capsys):
    from gan_app.live.trainer import LiveTrainer

    run = copy_run(cli_run, tmp_path / "run")
    holder = Holder(run)
    try:
        before = tree_digest(run)
        expected = f"{run} is being trained by process {holder.pid}"
        assert main(["train", "--resume", str(run), "--steps", "8"]) == 2
        assert capsys.readouterr().err.strip() == f"error: {expected}"
        trainer = LiveTrainer(checkpoint_dir=tmp_path / "live")  # the dashboard opening it (GAN_APP_RUN, Models)
        try:
            trainer.open_run(run)
            trainer.wait_idle()
            assert trainer.snapshot().message == expected and trainer.snapshot().step == 0
        finally:
            trainer.close()
        assert tree_digest(run) == before
    finally:
        holder.kill()
    # the holder was killed without a word: the lock died with it, the run continues
    assert main(["train", "--resume", str(run), "--steps", "6", "--saving-interval", "2"]) == 0
    assert [int(r.split(",")[0]) for r in (run / "metrics.csv").read_text().splitlines()[1:]] == list(range(6))
    assert not (run / ".writer.lock").exists()


def test_two_cli_processes_never_train_one_run_at_once(cli_run, tmp_path):
    run = copy_run(cli_run, tmp_path / "run")
    holder = Holder(run)  # a first `train --resume` as far as the lock goes
    try:
        env = dict(os.environ, GAN_APP_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
        second = subprocess.run([sys.executable, "-m", "gan_app", "train", "--resume", str(run), "--steps", "8"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines()[-1] == f"error: {run} is being trained by process {holder.pid}"
        assert len([line for line in second.stderr.splitlines() if line.startswith("error")]) == 1
    finally:
        holder.kill()


def test_the_dashboards_trainer_holds_the_run_it_owns(tmp_path):
    from gan_app.live.trainer import LiveTrainer
    from gan_app.core.config import RunConfig

    live = tmp_path / "live"
    trainer = LiveTrainer(RunConfig(batch_size=16, quality_every=0), checkpoint_dir=live)
    try:
        trainer.step_once("both")
        trainer.wait_idle()
        other = subprocess.run([sys.executable, "-c", TRY_LOCK, str(live)], cwd=ROOT, capture_output=True, text=True)
        assert (other.returncode, other.stdout.strip()) == (2, f"{live} is being trained by process {os.getpid()}")
    finally:
        trainer.close()
    free = subprocess.run([sys.executable, "-c", TRY_LOCK, str(live)], cwd=ROOT, capture_output=True, text=True)
    assert free.returncode == 0, free.stdout  # released on close (and by the kernel if the server dies)


def _models_page():
    from gan_app.ui.models import page as models_page

    models_page.render()


def test_the_models_page_says_who_trains_a_locked_run(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from gan_app.ui.common import get_trainer

    run = tmp_path / "busy"
    (run / "state").mkdir(parents=True)
    (run / "state" / "checkpoint").write_text('model_checkpoint_path: "ckpt-4"\n')
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv("GAN_APP_PRESENTER_PASSWORD", raising=False)
    holder = Holder(run)
    get_trainer().close()  # a fresh server's trainer, on this checkpoints folder
    try:
        at = AppTest.from_function(_models_page, default_timeout=120).run()
        at.selectbox(key="run_choice").set_value(run).run()
        at.button(key="continue_live").click().run()
        assert [e.value for e in at.error] == [f"{run} is being trained by process {holder.pid}"]
        assert not at.exception
    finally:
        holder.kill()
        get_trainer().close()


# ---- nothing overwritten by accident ------------------------------------------------------------

def test_out_onto_a_shipped_model_is_refused_and_it_stays_as_shipped(capsys):
    from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT

    for shipped in (SHIPPED_EXPORT, SHIPPED_CONDITIONAL):
        before = tree_digest(shipped)
        assert main(["train", "--steps", "2", "--out", str(shipped)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"error: {shipped} is a model shipped with the app; nothing was changed. Choose a new --out"
        assert tree_digest(shipped) == before


def test_export_refuses_shipped_names_runs_and_foreign_models_and_replaces_only_its_own(cli_run, tmp_path):
    import json
    import shutil

    from gan_app.runs.checkpoint import SHIPPED_EXPORT
    from gan_app.core.config import RunConfig
    from gan_app.live.trainer import LiveTrainer

    run = copy_run(cli_run, tmp_path / "run")
    foreign = tmp_path / "foreign"
    shutil.copytree(SHIPPED_EXPORT, foreign)
    before = {p: tree_digest(p) for p in (run, foreign)}
    trainer = LiveTrainer(RunConfig(batch_size=16, quality_every=0))
    try:
        trainer.step_once("both")
        for name in ("mnist5k-wide", "mnist5k-conditional"):
            with pytest.raises(GanAppError, match=f"^{name} is the name of a model shipped with the app"):
                trainer.export(tmp_path / name, replace=True)
            assert not (tmp_path / name).exists()
        for target in (run, foreign):
            with pytest.raises(GanAppError, match="already holds a run or a model this dashboard did not export"):
                trainer.export(target, replace=True)
        trainer.export(tmp_path / "demo")
        trainer.wait_idle()
        meta = json.loads((tmp_path / "demo" / "meta.json").read_text())
        assert (meta["steps"], meta["exported_by"]) == (1, "dashboard")
        trainer.step_once("both")
        with pytest.raises(GanAppError, match="holds an earlier export of this dashboard; tick \"Replace"):
            trainer.export(tmp_path / "demo")
        trainer.export(tmp_path / "demo", replace=True)  # the presenter confirmed
        trainer.wait_idle()
        assert json.loads((tmp_path / "demo" / "meta.json").read_text())["steps"] == 2
        assert (tmp_path / "demo" / "discriminator.keras").is_file()
    finally:
        trainer.close()
    assert {p: tree_digest(p) for p in (run, foreign)} == before


def test_an_upload_is_converted_once_per_file_content(monkeypatch):
    from gan_app.ui.train import dataset_upload

    data = io.BytesIO()
    np.savez_compressed(data, x=np.zeros((70, 28, 28), np.uint8))
    calls = []
    real = dataset_upload._convert
    monkeypatch.setattr(dataset_upload, "_convert", lambda *args: calls.append(args[0]) or real(*args))
    dataset_upload._convert_once.clear()
    for _ in range(3):  # the page's reruns while the file sits in the uploader
        first = dataset_upload.convert_upload("mine.npz", data.getvalue(), 64)
    assert first.count == 70 and not first.error and calls == ["mine.npz"]
    refused = dataset_upload.convert_upload("mine.npz", data.getvalue(), 128)  # a larger batch: checked again
    assert "fewer than one batch" in refused.error and dataset_upload.convert_upload("mine.npz", data.getvalue(), 128) == refused
    assert calls == ["mine.npz", "mine.npz"]  # a refusal is kept too


def test_the_train_pages_export_asks_before_replacing_its_own_export(monkeypatch, tmp_path):
    import json

    from streamlit.testing.v1 import AppTest

    from gan_app.ui.common import SHOWN_NOTICE_KEY, current_trainer, get_trainer

    monkeypatch.delenv("GAN_APP_PRESENTER_PASSWORD", raising=False)
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    if current_trainer() is not None:
        current_trainer().close()
    at = AppTest.from_file(str(ROOT / "gan_app" / "ui" / "main.py"), default_timeout=60).run()
    try:
        next(b for b in at.button if b.label == "Step both").click().run()
        get_trainer().wait_idle()

        def export(name: str) -> list[str]:
            at.session_state[SHOWN_NOTICE_KEY] = (None, None, 0.0)  # only this click's notice
            at.text_input(key="export_name").set_value(name).run()
            next(b for b in at.button if b.label == "Export generator").click().run()
            get_trainer().wait_idle()
            return [e.value for e in at.error]

        assert export("mnist5k-wide") == ["mnist5k-wide is the name of a model shipped with the app; choose another "
                                          "export name"]
        assert export("demo") == [] and json.loads((tmp_path / "demo" / "meta.json").read_text())["steps"] == 1
        assert "holds an earlier export of this dashboard" in export("demo")[0]
        at.checkbox(key="export_replace").check().run()
        assert export("demo") == [] and at.checkbox(key="export_replace").value is False  # asked again next time
        assert not at.exception
    finally:
        get_trainer().close()


def test_opening_a_folder_that_is_no_run_leaves_no_trace(tmp_path):
    from gan_app.live.trainer import LiveTrainer

    empty = tmp_path / "empty"
    empty.mkdir()
    trainer = LiveTrainer(checkpoint_dir=tmp_path / "live")
    try:
        for folder in (tmp_path / "missing", empty):
            trainer.open_run(folder)
            trainer.wait_idle()
            assert trainer.snapshot().message.startswith(f"{folder} cannot be continued")
    finally:
        trainer.close()
    assert not (tmp_path / "missing").exists() and not any(empty.iterdir())
