import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from gan_app.runs.checkpoint import load_discriminator_file
from gan_app.cli import main
from gan_app.core.config import get_preset

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, cwd=ROOT):
    env = dict(os.environ, GAN_APP_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "gan_app", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_presets_json_lists_parameter_counts():
    out = run_cli("presets", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {"taehojo", "seed002", "roatienza", "fast", "wide", "conditional"}
    assert (rows["taehojo"]["g_params"], rows["taehojo"]["d_params"]) == (856_193, 390_657)


def test_train_writes_metrics_samples_generator_and_meta_last(tmp_path):
    out_dir = tmp_path / "run"
    res = run_cli("train", "--preset", "fast", "--steps", "7", "--batch-size", "16", "--saving-interval", "3",
                  "--out", str(out_dir), "--seed", "3")
    assert res.returncode == 0, res.stderr
    assert "d_loss" in res.stderr and "g_loss" in res.stderr  # the progress line
    with open(out_dir / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "seconds", "d_loss", "d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake"]
    assert [int(r[0]) for r in rows[1:]] == list(range(7))
    assert all(np.isfinite([float(v) for v in r[1:]]).all() for r in rows[1:])
    samples = sorted(p.name for p in (out_dir / "samples").iterdir())
    assert samples == ["step_000000.png", "step_000003.png", "step_000006.png"]
    with Image.open(out_dir / "samples" / "step_000006.png") as im:
        assert im.size == (608, 608)  # 5x5 digits of 28 px, 2 px apart, shown 4x
    meta = json.loads((out_dir / "meta.json").read_text())
    for key in ("preset", "dataset", "steps", "batch_size", "latent_dim", "noise", "output_min", "output_max",
                "seed", "created", "command"):
        assert key in meta
    assert (meta["preset"], meta["dataset"], meta["steps"], meta["batch_size"], meta["noise"]) == ("fast", "mnist5k", 7, 16, "normal")
    assert meta["ema"] == get_preset("fast").ema  # generator.keras is G's moving average
    assert meta["command"].startswith("python -m gan_app train --preset fast")
    generator = keras.models.load_model(out_dir / "generator.keras", safe_mode=True)
    assert generator(np.zeros((2, meta["latent_dim"]), np.float32)).shape == (2, 28, 28, 1)
    # the run layer's export, as the dashboard's: D of the same step beside G
    assert "discriminator.keras" in res.stdout
    discriminator = load_discriminator_file(out_dir / "discriminator.keras", meta)
    assert meta["groups"] == 50  # fast's D is told each image's group
    assert discriminator([np.zeros((2, 28, 28, 1), np.float32), np.zeros(2, np.int32)]).shape == (2, 1)
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_classic_mode_trains_through_the_cli(tmp_path):
    res = run_cli("train", "--preset", "fast", "--mode", "classic", "--steps", "3", "--saving-interval", "2",
                  "--out", str(tmp_path / "c"))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "c" / "meta.json").read_text())["mode"] == "classic"


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--preset", "nope"], "invalid choice: 'nope'"),
        (["--dataset", "cifar"], "choose one of: mnist5k, mnist, fashion_mnist"),
        (["--dataset", "mnist"], "mnist5k"),
        (["--steps", "0"], "expected a whole number > 0"),
        (["--batch-size", "-4"], "expected a whole number > 0"),
        (["--batch-size", "6000"], "a batch size (--batch-size) of at most 5000"),
        (["--ema", "1"], "ema (the decay of G's moving average) must be in [0, 1), got 1.0"),
        (["--r1", "-1"], "r1 (the gradient penalty weight) must be >= 0, got -1.0"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2_writing_nothing(tmp_path, capsys, args, expected):
    base = {"--steps": "2", "--out": str(tmp_path / "run")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["train"] + [x for kv in base.items() for x in kv]
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "meta.json").exists()


def test_resume_refuses_to_change_the_runs_training_settings(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--steps", "5", "--g-lr", "1e-4", "--r1", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --resume keeps the run's own --g-lr, --r1; only --batch-size can change"


def test_unwritable_out_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = run_cli("train", "--steps", "2", "--out", str(blocker / "run"))
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "cannot write to output directory" in res.stderr


def test_bad_npz_through_the_cli(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((3, 28, 28), np.uint8))
    assert main(["train", "--steps", "2", "--dataset", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "no 'x'" in capsys.readouterr().err


def tree_digest(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_validation_failure_leaves_the_out_folder_untouched(tmp_path):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("mine")
    # batch larger than a 3-image dataset: fails after validation, before any training
    small = tmp_path / "small.npz"
    np.savez(small, x=np.zeros((3, 28, 28), np.uint8))
    assert main(["train", "--preset", "taehojo", "--steps", "2", "--dataset", str(small), "--out", str(out_dir)]) == 2
    assert sorted(p.name for p in out_dir.iterdir()) == ["notes.txt"]
    # fast sorts the images into 50 groups: 3 images are too few, and nothing is written either
    assert main(["train", "--steps", "2", "--batch-size", "2", "--dataset", str(small), "--out", str(out_dir)]) == 2
    assert sorted(p.name for p in out_dir.iterdir()) == ["notes.txt"]
    assert main(["train", "--preset", "taehojo", "--steps", "2", "--batch-size", "2", "--dataset", str(small), "--out", str(out_dir),
                 "--saving-interval", "5", "--quality-every", "0"]) == 0  # a folder without a run is fine
    assert json.loads((out_dir / "meta.json").read_text())["dataset"] == "small"


@pytest.mark.parametrize("held", ["meta.json", "metrics.csv", "state/checkpoint", "generator.keras"])
def test_out_onto_a_folder_holding_a_run_is_refused_and_changes_nothing(tmp_path, capsys, held):
    out_dir = tmp_path / "run"
    (out_dir / held).parent.mkdir(parents=True, exist_ok=True)
    (out_dir / held).write_text("an earlier run's file")
    before = tree_digest(out_dir)
    assert main(["train", "--steps", "2", "--out", str(out_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {out_dir} already holds a run; nothing was changed. Continue it with --resume {out_dir}, "
                   "or choose a new --out")
    assert tree_digest(out_dir) == before


def test_bench_prints_one_json_line():
    res = run_cli("bench", "--preset", "fast", "--steps", "2", "--warmup", "1")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) >= {"preset", "batch_size", "device", "fused_steps_per_s", "classic_steps_per_s", "speedup"}
    assert result["fused_steps_per_s"] > 0 and result["classic_steps_per_s"] > 0
