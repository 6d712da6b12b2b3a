"""Checkpoints that survive crashes, and exports that refuse bad files with one clear message."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from gan_app.checkpoint import (
    CheckpointError,
    RunState,
    list_exports,
    load_export,
    open_upload,
)
from gan_app.config import get_preset
from gan_app.step import FusedStep

ROOT = Path(__file__).resolve().parent.parent
META = {"latent_dim": 64, "noise": "normal", "output_min": -1.0, "output_max": 1.0, "preset": "fast"}


def _export(dirpath: Path, model=None, meta=META):
    dirpath.mkdir(parents=True, exist_ok=True)
    model = model or FusedStep(get_preset("fast"), np.zeros((64, 28, 28, 1), np.float32)).generator
    model.save(dirpath / "generator.keras")
    (dirpath / "meta.json").write_text(json.dumps(meta))
    return dirpath


@pytest.fixture(scope="module")
def good_export(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("exports") / "good")


def test_save_then_resume_continues_the_same_run(tmp_path, fast_images):
    p = get_preset("fast")
    a = FusedStep(p, fast_images, seed=0)
    a.train(5)
    RunState(tmp_path, a).save(5, {"steps": np.arange(5.0)}, {"preset": "fast"})
    expected = a.train(4)
    b = FusedStep(p, fast_images, seed=99)  # different init: everything must come from the checkpoint
    restored = RunState(tmp_path, b).restore()
    assert restored.step == 5 and restored.settings == {"preset": "fast"}
    np.testing.assert_array_equal(restored.history["steps"], np.arange(5.0))
    np.testing.assert_allclose(b.train(4), expected, rtol=1e-5, atol=1e-6)
    z = np.random.default_rng(0).normal(size=(4, p.latent_dim)).astype(np.float32)
    np.testing.assert_allclose(b.generate(z), a.generate(z), atol=1e-5)  # G's moving average came back too


def test_a_checkpoint_without_a_moving_average_resumes_with_one_started_from_g(tmp_path, fast_images):
    p = get_preset("fast")
    plain = FusedStep(p.replace(ema=0.0), fast_images, seed=0)
    plain.train(3)
    RunState(tmp_path, plain).save(3, {"steps": np.arange(3.0)}, {"preset": "fast"})
    averaged = FusedStep(p, fast_images, seed=1)
    assert RunState(tmp_path, averaged).restore().step == 3
    for avg, g in zip(averaged.averaged.get_weights(), plain.generator.get_weights()):
        np.testing.assert_array_equal(avg, g)
    np.testing.assert_allclose(averaged.train(2), plain.train(2), rtol=1e-5, atol=1e-6)


def test_only_the_last_k_checkpoints_are_kept(tmp_path, fast_images):
    step = FusedStep(get_preset("fast"), fast_images, seed=0)
    state = RunState(tmp_path, step, max_to_keep=2)
    for i in (1, 2, 3, 4):
        step.train(1)
        state.save(i, {"steps": np.arange(i)}, {})
    names = sorted(p.name for p in (tmp_path / "state").iterdir())
    assert [n for n in names if n.endswith(".index")] == ["ckpt-3.index", "ckpt-4.index"]
    assert "history-1.npz" not in names and "history-4.npz" in names


def test_cli_resume_continues_step_count_and_curves(tmp_path):
    env = dict(os.environ, GAN_APP_OFFLINE="1")
    run = tmp_path / "run"
    base = [sys.executable, "-m", "gan_app", "train"]
    first = subprocess.run(base + ["--steps", "30", "--batch-size", "16", "--saving-interval", "10",
                                   "--checkpoint-every", "20", "--quality-every", "10", "--quality-samples", "100",
                                   "--ema", "0.9", "--r1", "2",
                                   "--out", str(run)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = (run / "quality.csv").read_text().strip().splitlines()
    assert before[-1].startswith("30,")  # measured at the last step, then saved in the step-30 checkpoint
    # pretend the run was killed after its last checkpoint (step 30): drop its meta.json
    (run / "meta.json").unlink()
    # a final phase with a larger batch: the one setting a resumed run may change
    second = subprocess.run(base + ["--resume", str(run), "--steps", "50", "--quality-every", "10", "--quality-samples", "100",
                                    "--batch-size", "32"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    rows = (run / "metrics.csv").read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(50))  # one continuous curve, no restart
    quality = (run / "quality.csv").read_text().strip().splitlines()
    assert quality[: len(before)] == before  # every row of the saved run, step 30's included
    assert [int(r.split(",")[0]) for r in quality[len(before):]] == [40, 50]
    # the speed it reports counts the 20 steps this process trained, not the 30 restored ones
    seconds = [float(r.split(",")[1]) for r in rows]
    assert seconds == sorted(seconds)  # training time goes on from the saved run's too
    rate = float(second.stderr.strip().splitlines()[-1].split()[-2])
    assert rate == pytest.approx(20 / (seconds[-1] - seconds[29]), rel=0.02, abs=0.1)
    meta = json.loads((run / "meta.json").read_text())
    # the run's own settings, but for the batch size
    assert (meta["steps"], meta["batch_size"], meta["ema"], meta["r1"]) == (50, 32, 0.9, 2.0)
    assert [c.split(" --")[1] for c in meta["commands"]] == ["steps 30", "resume " + str(run)]
    assert meta["command"] == meta["commands"][-1]


def _latest_number(state: Path) -> int:
    index = state / "checkpoint"
    if not index.is_file():
        return -1
    first = index.read_text().splitlines()[0]  # model_checkpoint_path: "ckpt-N"
    return int(first.rsplit("-", 1)[1].strip('"'))


def test_a_process_killed_mid_save_leaves_the_previous_checkpoint_loadable(tmp_path, fast_images):
    """Kill a real training process (SIGKILL) while it checkpoints every step, several times."""
    env = dict(os.environ, GAN_APP_OFFLINE="1")
    run, state = tmp_path / "run", tmp_path / "run" / "state"
    every_step = ["--steps", "100000", "--saving-interval", "100000", "--checkpoint-every", "1", "--quality-every", "0"]
    first = [sys.executable, "-m", "gan_app", "train", "--preset", "roatienza", "--batch-size", "8", "--out", str(run)]
    resume = [sys.executable, "-m", "gan_app", "train", "--resume", str(run)]
    for round_, delay in enumerate((0.05, 0.2, 0.35)):
        before = _latest_number(state)
        proc = subprocess.Popen((first if round_ == 0 else resume) + every_step, cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _latest_number(state) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _latest_number(state) > before, "the training process never checkpointed"
        time.sleep(delay)  # saves of a 6.7M-parameter model take a while: land inside one
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        model = FusedStep(get_preset("roatienza").replace(batch_size=8), fast_images[:64], 0)
        restored = RunState(run, model).restore()
        assert restored is not None and restored.step >= _latest_number(state) >= 1
    assert not (run / "meta.json").exists()  # a killed run never looks finished


def test_checkpoint_of_another_architecture_is_refused(tmp_path, fast_images):
    step = FusedStep(get_preset("fast"), fast_images, 0)
    RunState(tmp_path, step).save(1, {"steps": np.zeros(1)}, {})
    other = FusedStep(get_preset("seed002"), fast_images, 0)
    with pytest.raises(CheckpointError, match="does not fit this model|cannot be restored"):
        RunState(tmp_path, other).restore()


def test_good_export_loads_and_is_listed(good_export):
    generator, meta = load_export(good_export)
    assert generator.output_shape == (None, 28, 28, 1) and meta["latent_dim"] == 64
    assert good_export in list_exports(good_export.parent)


@pytest.mark.parametrize(
    "damage,expected",
    [
        (lambda d: (d / "generator.keras").write_bytes(b"not a model"), "not a Keras model file"),
        (lambda d: (d / "generator.keras").write_bytes((d / "generator.keras").read_bytes()[:5000]), "truncated"),
        (lambda d: (d / "meta.json").unlink(), "meta.json is missing"),
        (lambda d: (d / "meta.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "meta.json").write_text(json.dumps({**META, "latent_dim": "64"})), "valid 'latent_dim'"),
        (lambda d: (d / "meta.json").write_text(json.dumps({**META, "latent_dim": 100})), "meta.json describes"),
        (lambda d: (d / "meta.json").write_text(json.dumps({**META, "noise": "cauchy"})), "noise must be"),
    ],
)
def test_each_bad_file_gives_one_clear_message(tmp_path, good_export, damage, expected):
    import shutil

    d = tmp_path / "bad"
    shutil.copytree(good_export, d)
    damage(d)
    with pytest.raises(CheckpointError) as err:
        load_export(d)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_model_carrying_a_lambda_layer_is_refused(tmp_path):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Lambda(lambda z: z * 2.0),
                              keras.layers.Dense(784), keras.layers.Reshape((28, 28, 1))])
    d = _export(tmp_path / "lambda", model=model)
    with pytest.raises(CheckpointError, match="Lambda layer"):
        load_export(d)


def test_uploads_are_checked_and_size_limited(good_export):
    gen, meta = (good_export / "generator.keras").read_bytes(), (good_export / "meta.json").read_bytes()
    export = open_upload(gen, meta, "mine.keras")
    assert export.images01(export.noise(3, 0)).shape == (3, 28, 28, 1)
    with pytest.raises(CheckpointError, match="upload limit"):
        open_upload(b"0" * (21 * 1024 * 1024), meta, "huge.keras")
    with pytest.raises(CheckpointError, match="not a Keras model file"):
        open_upload(b"PK but not really", meta, "fake.keras")
