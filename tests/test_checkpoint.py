"""Checkpoints that survive crashes, and exports that refuse bad files with one clear message."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from gan_app.runs.checkpoint import (
    CheckpointError,
    RunState,
    list_exports,
    load_export,
    open_upload,
)
from gan_app.core.config import get_preset
from gan_app.train.step import FusedStep

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


# A training process that saves step 1, trains, and starts saving step 2; it prints STAGE once it
# is inside that save at STAGE and stays there until it is killed:
#   sidecars  step 2's history is written, its settings are not
#   data      TensorFlow is writing step 2's tensors (the process stops itself mid-file)
#   index     step 2's tensors are written, the checkpoint index does not list them yet
INSIDE_A_SAVE = """
import os, signal, sys, threading
from pathlib import Path
import numpy as np
from gan_app.runs import checkpoint
from gan_app.core.config import get_preset
from gan_app.data.datasets import load_dataset, scale_to_range
from gan_app.train.step import FusedStep

run, stage = Path(sys.argv[1]), sys.argv[2]
preset = get_preset("roatienza").replace(batch_size=8)
images = scale_to_range(load_dataset("mnist5k").x[:64], preset.output_min, preset.output_max)
step = FusedStep(preset, images, 0)
state = checkpoint.RunState(run, step)
state.save(1, {"steps": np.arange(1)}, {"at": 1})
step.train(1)

def inside():
    print(stage, flush=True)
    threading.Event().wait()

if stage == "sidecars":
    checkpoint.atomic_write_json = lambda *args, **kwargs: inside()
elif stage == "data":
    def watch():
        temp = state.dir / "ckpt-2_temp"
        while True:
            for f in temp.glob("*.tempstate*") if temp.is_dir() else ():
                if f.stat().st_size > 0:
                    print(stage, flush=True)
                    os.kill(os.getpid(), signal.SIGSTOP)
    threading.Thread(target=watch, daemon=True).start()
elif stage == "index":
    state.manager._record_state = inside  # CheckpointManager's index update, once the tensors are written
state.save(2, {"steps": np.arange(2)}, {"at": 2})
print("the save finished", flush=True)
"""


@pytest.mark.parametrize("stage", ["sidecars", "data", "index"])
def test_a_process_killed_inside_a_save_leaves_the_previous_checkpoint_loadable(tmp_path, fast_images, stage):
    run, state = tmp_path / "run", tmp_path / "run" / "state"
    proc = subprocess.Popen([sys.executable, "-c", INSIDE_A_SAVE, str(run), stage], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, GAN_APP_OFFLINE="1"), text=True)
    try:
        assert proc.stdout.readline().strip() == stage, "the process never got inside the save"
        if stage == "data":
            _, status = os.waitpid(proc.pid, os.WUNTRACED)
            assert os.WIFSTOPPED(status)
        # what is on disk proves where the save is
        assert _latest_number(state) == 1
        assert (state / "history-2.npz").is_file()
        assert (state / "settings-2.json").is_file() == (stage != "sidecars")
        partial = [f.stat().st_size for f in state.glob("ckpt-2_temp/*.tempstate*")]
        full = (state / "ckpt-1.data-00000-of-00001").stat().st_size
        if stage == "data":
            assert len(partial) == 1 and 0 < partial[0] < full  # stopped halfway through the tensors
        assert (state / "ckpt-2.index").is_file() == (stage == "index")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    model = FusedStep(get_preset("roatienza").replace(batch_size=8), fast_images[:64], 0)
    restored = RunState(run, model).restore()
    assert restored is not None and restored.step == 1 and restored.settings == {"at": 1}
    np.testing.assert_array_equal(restored.history["steps"], np.arange(1))
    # the next process saves over what the killed one left
    RunState(run, model).save(2, {"steps": np.arange(2)}, {"at": 2})
    again = RunState(run, model).restore()
    assert again.step == 2 and again.settings == {"at": 2}


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
