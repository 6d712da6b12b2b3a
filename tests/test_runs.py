"""One run, two drivers: a run directory trained by the CLI continues in the dashboard's trainer
and the other way round; runs that cannot be continued are refused without a change on disk."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import wait_for

from gan_app.cli import main
from gan_app.core.config import CONFIG_SCHEMA, RunConfig
from gan_app.live.trainer import LiveTrainer


def csv_steps(path: Path) -> list[int]:
    return [int(r.split(",")[0]) for r in path.read_text().strip().splitlines()[1:]]


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A CLI run of 30 steps, batch 16, quality every 10 (100 samples), never given --checkpoint-every."""
    out = tmp_path_factory.mktemp("runs") / "cli-run"
    assert main(["train", "--steps", "30", "--batch-size", "16", "--saving-interval", "10", "--quality-every", "10",
                 "--quality-samples", "100", "--g-lr", "1e-3", "--out", str(out)]) == 0
    return out


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_a_cli_run_continues_in_the_dashboards_trainer(cli_run, tmp_path):
    run = copy_run(cli_run, tmp_path / "run")
    trainer = LiveTrainer(checkpoint_dir=tmp_path / "live")
    try:
        trainer.open_run(run)
        trainer.wait_idle()
        snap = trainer.snapshot()
        assert (snap.status, snap.step, snap.run_dir) == ("paused", 30, run), snap.message
        assert "Resumed the saved run in" in snap.message
        c = snap.config  # the CLI run's settings, not the dashboard's
        assert (c.preset, c.batch_size, c.g_lr, c.quality_every, c.quality_samples) == ("fast", 16, 1e-3, 10, 100)
        assert list(snap.history_steps) == list(range(30)) and list(snap.quality_steps) == [10, 20, 30]
        trainer.apply_live(g_lr=5e-4)  # a live change is saved with the run
        trainer.resume()
        wait_for(lambda: trainer.snapshot().step >= 45)
        trainer.pause()
        trainer.save_checkpoint()
        trainer.wait_idle()
        snap = trainer.snapshot()
        assert list(snap.history_steps[:30]) == list(range(30)) and snap.history_steps[-1] == snap.step - 1
        assert list(snap.quality_steps[:4]) == [10, 20, 30, 40]
    finally:
        trainer.close()
    assert csv_steps(run / "metrics.csv") == list(range(snap.step))  # the same files go on
    saved = json.loads(sorted((run / "state").glob("settings-*.json"), key=lambda p: int(p.stem.split("-")[1]))[-1].read_text())
    assert saved["settings"]["schema"] == CONFIG_SCHEMA and saved["settings"]["config"]["g_lr"] == 5e-4
    assert saved["settings"]["commands"][0].startswith("python -m gan_app train") and "dashboard" in saved["settings"]["commands"][-1]


def test_the_dashboards_run_continues_with_train_resume(tmp_path, capsys):
    live = tmp_path / "live"
    trainer = LiveTrainer(RunConfig(batch_size=16, quality_every=10, quality_samples=100), checkpoint_dir=live)
    try:
        for _ in range(25):
            trainer.step_once("both")
        trainer.save_checkpoint()
        trainer.wait_idle()
        assert trainer.snapshot().checkpoint_step == 25
    finally:
        trainer.close()
    assert main(["train", "--resume", str(live), "--steps", "40"]) == 0
    assert csv_steps(live / "metrics.csv") == list(range(40))
    assert csv_steps(live / "quality.csv") == [10, 20, 30, 40]
    meta = json.loads((live / "meta.json").read_text())
    assert (meta["steps"], meta["batch_size"], meta["quality_samples"]) == (40, 16, 100)
    assert meta["commands"][0] == "streamlit run dashboard.py" and meta["command"].startswith("python -m gan_app train --resume")


def _damaged(run: Path) -> None:
    latest = max(run.glob("state/ckpt-*.index"), key=lambda p: int(p.stem.split("-")[1]))
    latest.write_bytes(b"\x00not a checkpoint index")


def _other_architecture(run: Path) -> None:
    for f in run.glob("state/settings-*.json"):
        saved = json.loads(f.read_text())
        saved["settings"]["config"]["preset"] = "wide"
        f.write_text(json.dumps(saved))


def _newer_schema(run: Path) -> None:
    for f in run.glob("state/settings-*.json"):
        saved = json.loads(f.read_text())
        saved["settings"]["schema"] = CONFIG_SCHEMA + 1
        f.write_text(json.dumps(saved))


@pytest.mark.parametrize("spoil,expected", [
    (_damaged, "cannot be restored"),
    (_other_architecture, "does not fit"),
    (_newer_schema, "settings schema 3"),
])
def test_a_run_that_cannot_continue_is_one_message_and_nothing_changes(cli_run, tmp_path, capsys, spoil, expected):
    run = copy_run(cli_run, tmp_path / "run")
    spoil(run)
    before = tree_digest(run)
    assert main(["train", "--resume", str(run), "--steps", "40"]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert tree_digest(run) == before

    trainer = LiveTrainer(RunConfig(batch_size=16), checkpoint_dir=tmp_path / "live")
    try:
        for _ in range(3):
            trainer.step_once("both")
        trainer.open_run(run)
        trainer.wait_idle()
        snap = trainer.snapshot()
        assert expected in snap.message and "cannot be continued" in snap.message
        assert (snap.step, snap.status, snap.run_dir) == (3, "paused", tmp_path / "live")  # the current run goes on
    finally:
        trainer.close()
    assert tree_digest(run) == before


def test_a_run_saved_by_the_previous_schema_still_resumes(cli_run, tmp_path):
    """The previous CLI saved meta.json's fields as its settings and only the step as history."""
    run = copy_run(cli_run, tmp_path / "run")
    for f in run.glob("state/settings-*.json"):
        config = json.loads(f.read_text())["settings"]["config"]
        legacy = {k: config[k] for k in ("preset", "dataset", "seed", "batch_size", "g_lr", "mode")}
        legacy.update(noise="normal", loss="nonsaturating", k=1, d_lr=5e-4, command="python -m gan_app train ...")
        f.write_text(json.dumps({"step": 30, "settings": legacy}))
    for f in run.glob("state/history-*.npz"):
        np.savez(f, step=np.array([30]))
    trainer = LiveTrainer(checkpoint_dir=tmp_path / "live")
    try:
        trainer.open_run(run)
        trainer.wait_idle()
        snap = trainer.snapshot()
        assert (snap.status, snap.step, snap.config.batch_size, snap.config.g_lr) == ("paused", 30, 16, 1e-3), snap.message
        assert list(snap.history_steps) == list(range(30)) and list(snap.quality_steps) == [10, 20, 30]  # from the CSVs
    finally:
        trainer.close()


def test_a_server_stop_keeps_every_step_and_an_opened_cli_run_keeps_saving(cli_run, tmp_path):
    run = copy_run(cli_run, tmp_path / "run")  # trained without --checkpoint-every
    trainer = LiveTrainer(checkpoint_dir=tmp_path / "live")
    trainer.open_run(run)
    trainer.wait_idle()
    assert trainer.snapshot().config.checkpoint_every == RunConfig.checkpoint_every
    for _ in range(4):
        trainer.step_once("both")
    trainer.close()  # what a server stop does
    reopened = LiveTrainer(checkpoint_dir=tmp_path / "live")
    try:
        reopened.open_run(run)
        reopened.wait_idle()
        assert reopened.snapshot().step == 34
    finally:
        reopened.close()
