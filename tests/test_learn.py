"""The Learn page: the diagram read from the running models, one iteration in slow motion equal to
the fused step, the Keras 3 trap run for real, and the page in Chromium during a run."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from gan_app.core.config import RunConfig, get_preset
from gan_app.data.datasets import scale_to_range
from gan_app.live.trainer import LiveTrainer
from gan_app.models.graph import preset_diagram
from gan_app.models.dcgan import build_discriminator, build_generator
from gan_app.train.slowmo import SUB_STEPS, SlowMotion
from gan_app.train.classic import ClassicStep
from gan_app.train.step import FusedStep
from gan_app.train.trap import RECIPES, run_trap

from conftest import wait_for


def _net_weights(step):
    return step.generator.get_weights() + step.discriminator.get_weights() + step.sampler.get_weights()


def _all_weights(step):
    return _net_weights(step) + [np.asarray(v) for v in step.g_optimizer.variables + step.d_optimizer.variables]


def _slow_and_fused(mnist5k, name, warmup=3):
    """One fused step and one slow-motion iteration, each from the same trained state."""
    preset = get_preset(name).replace(batch_size=32)
    images = scale_to_range(mnist5k.x[:256], preset.output_min, preset.output_max)
    fused, slow = (FusedStep(preset, images, seed=5, labels=mnist5k.y[:256]) for _ in range(2))
    fused.train(warmup)
    slow.train(warmup)
    row = fused.train(1)
    motion = SlowMotion(slow, first_step=warmup)
    frames = [motion.advance() for _ in SUB_STEPS]
    assert motion.done and [f.index for f in frames] == list(range(len(SUB_STEPS)))
    np.testing.assert_allclose(motion.row, row, atol=1e-5)
    return fused, slow, frames


@pytest.mark.parametrize("name", ["fast", "wide", "conditional"])  # seed002, roatienza: measured too (docs/models.md)
def test_slow_motion_sub_steps_end_where_one_fused_step_ends(mnist5k, name):
    fused, slow, frames = _slow_and_fused(mnist5k, name)
    for a, b in zip(_all_weights(fused), _all_weights(slow)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    last = frames[-1].to_json()
    assert last["fake"].startswith("data:image/png") and last["real"].startswith("data:image/png")
    assert {"real_before", "fake_before", "real_after", "fake_after"} <= set(last["scores"])
    d_layers = [l.name for l in slow.discriminator.layers if l.trainable_weights]
    g_layers = [l.name for l in slow.generator.layers if l.trainable_weights]
    assert [n for n, _ in last["grads"]["D"]] == d_layers and [n for n, _ in last["grads"]["G"]] == g_layers
    assert all(v > 0 for _, v in last["grads"]["D"] + last["grads"]["G"])


def test_slow_motion_of_tutorial_003_parts_only_where_adam_scales_rounding_noise(mnist5k):
    """taehojo's G has weights whose gradients are rounding noise (convolution biases that
    BatchNorm cancels, and what feeds them early on). Adam divides such a gradient by its own
    size, so a rounding difference becomes up to a whole step of lr (1e-3) either way. The
    fused step's own iteration run op by op parts from its compiled call the same way. All
    other weights agree within 1e-5."""
    fused, slow, _ = _slow_and_fused(mnist5k, "taehojo")
    diffs = np.concatenate([np.abs(a - b).ravel() for a, b in zip(_net_weights(fused), _net_weights(slow))])
    assert (diffs <= 1e-5).mean() > 0.999 and diffs.max() <= 2 * get_preset("taehojo").g_lr


def test_slow_motion_needs_the_fused_step(mnist5k):
    with pytest.raises(Exception, match="classic recipe"):
        SlowMotion(ClassicStep(get_preset("taehojo"), mnist5k.x[:64]))


def test_the_diagram_is_read_from_the_run_and_follows_a_preset_switch(tmp_path):
    trainer = LiveTrainer(RunConfig(preset="fast", quality_every=0), checkpoint_dir=tmp_path / "run")
    try:
        assert trainer.model_diagram() is None  # no run built yet
        trainer.step_once("both")
        fast = trainer.model_diagram()
        assert fast["preset"] == "fast"
        assert fast["G"]["params"] == build_generator(get_preset("fast")).count_params()
        assert fast["D"]["params"] == build_discriminator(get_preset("fast")).count_params()
        assert sum(l["params"] for l in fast["G"]["layers"]) == fast["G"]["params"]
        assert fast["G"]["layers"][-1]["shape"] == "28x28x1" and fast["D"]["layers"][-1]["shape"] == "1"
        # the groups the run found, as the Learn page shows them; a fresh preset has found none
        group = next(l for l in fast["G"]["layers"] if l["kind"] == "LatentGroup")
        assert (fast["groups"], group["detail"]) == (50, "z[0] picks 1 of 50 groups")
        assert fast["group_means"].startswith("data:image/png;base64,")
        assert preset_diagram(get_preset("fast"))["group_means"] is None
        trainer.reset(RunConfig(preset="taehojo", quality_every=0))
        trainer.step_once("both")
        taehojo = trainer.model_diagram()
        assert taehojo["preset"] == "taehojo"
        assert taehojo["G"]["params"] == build_generator(get_preset("taehojo")).count_params() != fast["G"]["params"]
        assert "UpSampling2D" in [l["kind"] for l in taehojo["G"]["layers"]]
        assert "UpSampling2D" not in [l["kind"] for l in fast["G"]["layers"]]
        unnamed = lambda net: [(l["kind"], l["detail"], l["shape"], l["params"]) for l in net["layers"]]  # noqa: E731
        assert unnamed(preset_diagram(get_preset("taehojo"))["G"]) == unnamed(taehojo["G"])
    finally:
        trainer.close()


def test_a_slow_iteration_is_booked_once_and_resume_completes_one_left_half_way(tmp_path):
    trainer = LiveTrainer(RunConfig(preset="fast", quality_every=0), checkpoint_dir=tmp_path / "run")
    try:
        trainer.step_once("both")
        trainer.wait_idle()
        for i in range(len(SUB_STEPS)):
            trainer.slow_step()
            trainer.wait_idle()
            snap = trainer.snapshot()
            assert snap.slowmo["index"] == i and snap.slowmo["step"] == 1
            assert snap.step == (1 if i < len(SUB_STEPS) - 1 else 2)  # booked after the last sub-step
        assert len(snap.history) == 2 and np.isfinite(snap.history).all()
        for _ in range(3):
            trainer.slow_step()
        trainer.resume()  # the iteration is finished first, then training goes on
        wait_for(lambda: trainer.snapshot().step > 3)
        assert trainer.snapshot().slowmo is None  # not shown while running
    finally:
        trainer.close()


def test_the_trap_freezes_d_as_written_and_not_when_the_flag_is_set_before_each_first_call():
    as_written, fixed = (run_trap(recipe) for recipe in RECIPES)
    assert as_written.d_trainable_at_first_call == 0 and as_written.d_moved_by_d_step == 0.0
    assert not as_written.d_learns and as_written.g_moved_by_gan_step > 0
    assert fixed.d_trainable_at_first_call > 0 and fixed.d_learns
    assert fixed.d_moved_by_gan_step == 0.0 and fixed.g_moved_by_gan_step > 0


# ---- in Chromium ------------------------------------------------------------------------------
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def test_the_learn_page_during_a_run_in_chromium(request):
    from gan_app.bench.browser import CHROMIUM, browser, goto_app
    from gan_app.bench.server import DashboardServer

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    ARTIFACTS.mkdir(exist_ok=True)
    with DashboardServer(log_path=ARTIFACTS / f"{request.node.name}.server.log") as server, browser() as b:
        teacher = goto_app(b.new_page(viewport={"width": 1280, "height": 720}), server.url + "/train")
        student = None
        try:
            teacher.get_by_role("button", name="Start", exact=True).click()
            student = b.new_page(viewport={"width": 1280, "height": 720})
            student.goto(server.url + "/learn")
            student.get_by_text("G, the generator").wait_for(timeout=60_000)
            params = build_generator(get_preset("fast")).count_params()
            student.get_by_text(f"{params:,} parameters").wait_for()
            student.locator("circle.dot.nonsaturating.used").wait_for(timeout=90_000)  # the live marker
            assert "Now D(G(z)) = " in student.locator("[data-l='slopes']").inner_text()
            d_node = student.locator("[data-l='d_fake']")
            first = d_node.inner_text()
            deadline = time.monotonic() + 60
            while d_node.inner_text() == first and time.monotonic() < deadline:
                time.sleep(0.5)
            assert d_node.inner_text() != first  # pushed as the run trains, no page run

            teacher.get_by_role("button", name="Pause", exact=True).click()
            teacher.get_by_text("paused").first.wait_for(timeout=30_000)
            teacher.goto(server.url + "/learn")
            for i in (1, 2):
                teacher.get_by_role("button", name="Next sub-step").click(timeout=60_000)
                student.get_by_text(f"sub-step {i} of {len(SUB_STEPS)}").wait_for(timeout=30_000)  # every tab follows
            assert student.locator("[data-l='frame'] img").count() == 2  # z and G's images
            assert student.get_by_text(SUB_STEPS[1][0], exact=True).count() >= 1
        except BaseException:
            for name, page in (("teacher", teacher), ("student", student)):
                if page is not None:
                    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{name}.png"))
            raise
