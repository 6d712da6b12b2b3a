"""The dashboard's background trainer, without Streamlit."""

import os
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import wait_for

from gan_app.core.errors import UsageError
from gan_app.runs.history import GridSnapshots, MetricHistory
from gan_app.train.step import FusedStep
from gan_app.core.config import RunConfig
from gan_app.live.trainer import LiveTrainer


@pytest.fixture
def trainer():
    t = LiveTrainer(RunConfig(preset="fast", batch_size=16), grid_every=5)
    yield t
    t.close()


def test_start_pause_resume_stop_and_reset(trainer):
    assert trainer.snapshot().status == "idle"
    trainer.start()
    wait_for(lambda: trainer.snapshot().step >= 10)
    snap = trainer.snapshot()
    assert snap.status == "running" and snap.grid_png.startswith(b"\x89PNG") and len(snap.history_steps) > 0
    trainer.pause()
    trainer.wait_idle()
    paused_at = trainer.snapshot().step
    time.sleep(0.5)
    assert trainer.snapshot().status == "paused" and trainer.snapshot().step == paused_at
    trainer.resume()
    wait_for(lambda: trainer.snapshot().step > paused_at)
    trainer.stop()
    trainer.wait_idle()
    assert trainer.snapshot().status == "stopped"
    run_id = trainer.snapshot().run_id
    trainer.reset(RunConfig(preset="fast", batch_size=8, seed=3))
    trainer.wait_idle()
    snap = trainer.snapshot()
    assert (snap.status, snap.step, snap.grid_png, snap.run_id) == ("idle", 0, None, run_id + 1)
    assert snap.config.batch_size == 8 and len(snap.history_steps) == 0


def test_the_device_shown_is_the_one_tensorflow_trains_on():
    built = []

    def build(preset, images, seed):
        built.append(FusedStep(preset, images, seed))
        return built[-1]

    t = LiveTrainer(RunConfig(preset="fast", batch_size=16), build_step=build)
    try:
        t.step_once("both")
        t.wait_idle()
        assert t.snapshot().step == 1
        # where the trained weights live, as TensorFlow says
        where = {tf.DeviceSpec.from_string(w.value.device) for w in built[0].generator.weights + built[0].discriminator.weights}
        assert len(where) == 1
        (spec,) = where
        shown = t.snapshot().device
        if spec.device_type == "GPU":
            gpu = tf.config.list_physical_devices("GPU")[spec.device_index or 0]
            assert shown == tf.config.experimental.get_device_details(gpu)["device_name"]
        else:
            assert spec.device_type == "CPU" and not tf.config.list_logical_devices("GPU")
            assert shown == f"CPU ({os.cpu_count()} cores)"
    finally:
        t.close()


def test_single_steps_train_one_network_at_a_time(trainer):
    trainer.step_once("d")
    trainer.step_once("g")
    trainer.step_once("both")
    trainer.wait_idle()
    snap = trainer.snapshot()
    assert snap.step == 3 and snap.status == "paused" and snap.grid_png is not None
    assert np.isfinite(snap.history).all() and snap.history.shape == (3, 6)
    with pytest.raises(UsageError):
        trainer.step_once("x")


def test_start_from_many_threads_runs_one_training_thread(trainer):
    before = {t.name for t in threading.enumerate()}
    threads = [threading.Thread(target=trainer.start) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: trainer.snapshot().step > 0)
    workers = [t for t in threading.enumerate() if t.name == "gan-trainer"]
    assert len(workers) == 1 and trainer.thread_count == 1
    assert "gan-trainer" not in before


def test_live_settings_apply_without_restart(trainer):
    trainer.start()
    wait_for(lambda: trainer.snapshot().step >= 5)
    run_id = trainer.snapshot().run_id
    trainer.apply_live(loss="minimax", k=2, d_lr=1e-3)
    trainer.wait_idle()
    step_before = trainer.snapshot().step
    # the curves are published at most once a second while running
    wait_for(lambda: len(trainer.snapshot().history_steps) and trainer.snapshot().history_steps[-1] >= step_before + 10)
    snap = trainer.snapshot()
    assert (snap.config.loss, snap.config.k, snap.config.d_lr) == ("minimax", 2, 1e-3)
    assert snap.status == "running" and snap.run_id == run_id  # same run, not restarted
    assert snap.metric("g_loss")[-1] < 0  # minimax g_loss is log(1 - D(G(z)))
    with pytest.raises(UsageError, match="cannot change live"):
        trainer.apply_live(batch_size=4)


def test_nan_loss_pauses_with_a_message(trainer):
    trainer.start()
    wait_for(lambda: trainer.snapshot().step >= 3)
    trainer.apply_live(d_lr=1e30, g_lr=1e30)  # a learning rate no network survives
    wait_for(lambda: trainer.snapshot().status == "paused")
    snap = trainer.snapshot()
    assert "NaN or Inf" in snap.message and "training paused" in snap.message
    assert snap.grid_png is not None  # the last good grid stays inspectable


class _FailingStep(FusedStep):
    calls = 0

    def train(self, n=1):
        type(self).calls += 1
        if type(self).calls == 3:
            raise RuntimeError("simulated crash in the training step")
        return super().train(n)


@pytest.mark.parametrize("mode,keeps_a_directory", [("fused", False), ("classic", True)])
def test_a_run_that_keeps_no_checkpoints_trains_on_past_its_checkpoint_interval(mode, keeps_a_directory, tmp_path):
    """No run directory (the bench's trainer), or the classic recipe (no training state to save):
    the checkpoint interval comes and goes, training goes on."""
    t = LiveTrainer(RunConfig(preset="fast", batch_size=16, mode=mode, quality_every=0, checkpoint_every=3),
                    checkpoint_dir=tmp_path / "live" if keeps_a_directory else None)
    try:
        t.start()
        wait_for(lambda: t.snapshot().step >= 10 or t.snapshot().status == "error")
        snap = t.snapshot()
        assert snap.status == "running" and snap.step >= 10, snap.message
    finally:
        t.close()


def test_an_exception_in_the_step_is_reported_and_the_run_kept():
    t = LiveTrainer(RunConfig(preset="fast", batch_size=16), build_step=_FailingStep)
    try:
        t.start()
        wait_for(lambda: t.snapshot().status == "error")
        snap = t.snapshot()
        assert snap.message == "RuntimeError: simulated crash in the training step"
        assert snap.step > 0 and len(snap.history_steps) > 0  # inspectable
    finally:
        t.close()


def test_a_bad_dataset_becomes_an_error_state_not_a_crash():
    t = LiveTrainer(RunConfig(preset="fast", dataset="mnist"))  # offline in tests
    try:
        t.start()
        wait_for(lambda: t.snapshot().status == "error")
        assert "mnist5k" in t.snapshot().message
    finally:
        t.close()


def test_metric_history_stays_bounded_and_keeps_averages():
    h = MetricHistory(2, max_points=100)
    for start in range(0, 10_000, 50):
        h.append(start, np.stack([np.arange(start, start + 50), np.ones(50)], axis=1))
    steps, rows = h.arrays()
    assert len(h) <= 100 and steps[-1] >= 9_900
    assert np.all(np.diff(steps) > 0)
    np.testing.assert_allclose(rows[:, 1], 1.0)
    np.testing.assert_allclose(rows[:, 0], steps - (h.stride - 1) / 2, atol=h.stride)  # bucket means


def test_grid_snapshots_thin_out_when_full():
    g = GridSnapshots(max_frames=10)
    for step in range(100):
        g.add(step, b"png%d" % step)
    assert len(g.frames) <= 10 and g.frames[0][0] == 0
    assert [s for s, _ in g.frames] == sorted(s for s, _ in g.frames)


def test_a_damaged_live_checkpoint_at_start_up_is_reported_not_fatal(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "checkpoint").write_text('model_checkpoint_path: "ckpt-5"\n')
    (state / "ckpt-5.index").write_bytes(b"\x00garbage")
    (state / "settings-5.json").write_text('{"step": 5, "settings": {"preset": "fast"}}')
    t = LiveTrainer(checkpoint_dir=tmp_path)
    try:
        wait_for(lambda: t.snapshot().status == "error")
        assert "cannot be restored" in t.snapshot().message or "does not fit" in t.snapshot().message
        t.start()  # a fresh run still trains
        wait_for(lambda: t.snapshot().step > 0)
    finally:
        t.close()


@pytest.mark.parametrize("grid_every", [1, 1_000_000])
def test_live_grids_are_paced_by_time_as_well_as_steps(grid_every):
    """Every step asks for a grid: at most 4 a second are drawn. A grid every million steps:
    a fresh one still comes every second."""
    trainer = LiveTrainer(RunConfig(preset="fast", batch_size=16), grid_every=grid_every)
    drawn = []
    view_draw = trainer._view.draw_grid
    trainer._view.draw_grid = lambda run: drawn.append((time.monotonic(), run.step)) or view_draw(run)
    try:
        trainer.start()
        wait_for(lambda: trainer.snapshot().step >= 20)  # traced and training
        first = len(drawn)
        time.sleep(3.0)
        trainer.pause()
        trainer.wait_idle()
        recent = drawn[first:]
        steps = trainer.snapshot().step
        assert steps > 40  # more steps than grids, whichever the pacing
        assert 2 <= len(recent) <= 3.0 / 0.25 + 2, recent
        gaps = np.diff([t for t, _ in recent])
        assert gaps.min() >= 0.2  # a gap's upper end is the step that ends it: on a loaded host, not bounded
        now = time.monotonic()  # the pacing itself, by the time since the last grid
        trainer._grid_at = now - 0.1
        assert not trainer._grid_due(grid_every)  # a grid point, but too soon
        trainer._grid_at = now - 0.3
        assert trainer._grid_due(grid_every)  # a grid point, a quarter second on
        assert trainer._grid_due(grid_every + 1) == (grid_every == 1)  # not a grid point, unless every step is
        trainer._grid_at = now - 1.05
        assert trainer._grid_due(grid_every + 1)  # no grid point, but a second has passed
    finally:
        trainer.close()
