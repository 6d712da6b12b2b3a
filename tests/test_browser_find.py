"""Find in latent space in the student's tab (gan_app/ui/lab/web/find.js): TensorFlow.js gradients
of project.py's loss, the search itself against the server's, and the dashboard sharing a
drawing the tab found without searching on the server."""


import numpy as np
import pytest
from test_browser_lab import IDLE, PRESET_OF, _randomised, _with_groups, chromium, lab_server  # noqa: F401 (fixtures)
from test_e2e import ARTIFACTS, _draw

from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, open_export
from gan_app.core.config import get_preset
from gan_app.lab.find_queue import SEARCHED
from gan_app.lab.bundle import build_bundle, bundle_from_export
from gan_app.models.dcgan import ARCHITECTURES, build_generator
from gan_app.ui.lab.routes import MODELS, STATIC_BASE

IN_TAB = """async ([base, models, key, body, args]) => {
  const runtime = await import(base + "runtime.js");
  const { loadModel } = await import(base + "model.js");
  const finder = await import(base + "find.js");
  const tf = await runtime.loadTf(base);
  await runtime.loadGradients(base);
  const model = await loadModel(tf, models, key);
  const AsyncFunction = (async () => {}).constructor;
  return await new AsyncFunction("tf", "model", "finder", "args", body)(tf, model, finder, args);
}"""


def _in_tab(page, key, body, args):
    """Run `body` (a function body of tf, model, finder, args) in the page with model version `key`."""
    return page.evaluate(IN_TAB, [STATIC_BASE, MODELS + "/", key, body, args])


def _meta(architecture):
    preset = get_preset(PRESET_OF[architecture])
    return preset, {"name": architecture, "step": 0, "latent_dim": preset.latent_dim, "noise": preset.noise,
                    "output_min": preset.output_min, "output_max": preset.output_max,
                    "num_classes": preset.num_classes}


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_the_tabs_gradient_of_the_search_is_tensorflows_for_every_architecture(lab_server, architecture):
    """The loss find.js minimises and its gradient in z, against project.py's loss differentiated
    by TensorFlow, for every preset's generator (UpSampling2D ones too: the WASM backend has
    the gradient of nearest-neighbour resizing)."""
    import tensorflow as tf

    from gan_app.lab.inversion import SHELL_WEIGHT

    registry, page = lab_server
    preset, meta = _meta(architecture)
    g = _with_groups(_randomised(build_generator(preset), np.random.default_rng(1)), preset, np.random.default_rng(4))
    key = registry.add(build_bundle(g, None, meta))
    rng = np.random.default_rng(2)
    z = rng.standard_normal((2, preset.latent_dim)).astype(np.float32)
    digits = np.asarray([3, 7], np.int32) if preset.num_classes else None
    target = rng.uniform(0, 1, (1, 28, 28, 1)).astype(np.float32)
    got = _in_tab(page, key, """
      const [z, digits, target] = args;
      const { loss } = finder.objective(model, tf.tensor4d(target, [1, 28, 28, 1]));
      const d = digits && Int32Array.from(digits);
      return tf.tidy(() => {
        const { value, grad } = tf.valueAndGrad((zz) => loss(zz, d))(tf.tensor2d(z, [2, model.d]));
        return { loss: value.dataSync()[0], grad: Array.from(grad.dataSync()) };
      });""", [z.ravel().tolist(), None if digits is None else digits.tolist(), target.ravel().tolist()])

    zt = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        out = g([zt, tf.constant(digits)] if digits is not None else zt, training=False)
        x01 = (tf.reshape(out, (-1, 28, 28, 1)) - meta["output_min"]) / (meta["output_max"] - meta["output_min"])
        shell = 1 / 3 if preset.noise == "uniform" else 1.0
        ring = tf.square(tf.reduce_sum(tf.square(zt), axis=1) / preset.latent_dim - shell)
        loss = tf.reduce_sum(tf.reduce_mean(tf.square(x01 - target), axis=[1, 2, 3]) + SHELL_WEIGHT * ring)
    grad = tape.gradient(loss, zt).numpy().ravel()
    assert got["loss"] == pytest.approx(float(loss), rel=1e-3)
    # float32 in another order, through images that agree within 2/255: the gradients differed
    # by 0.03% (fast) to 1.8% (taehojo) of their length
    assert np.linalg.norm(np.asarray(got["grad"]) - grad) <= 0.05 * np.linalg.norm(grad), architecture


def test_a_search_over_its_time_budget_is_left_to_the_server(lab_server):
    """find.js projects its time from its second step and gives up at once when it would keep a
    student waiting past the budget (the page then asks the server's queue)."""
    registry, page = lab_server
    preset, meta = _meta("fast")
    key = registry.add(build_bundle(build_generator(preset), None, meta))
    got = _in_tab(page, key, """
      try { await finder.find(model, new Float32Array(784), { budgetS: 0 }); return "searched"; }
      catch (err) { return String(err.message); }""", None)
    assert got.startswith("this model would take about") and got.endswith("s to search in the tab"), got


def test_the_tab_starts_a_grouped_g_where_the_server_does(lab_server, mnist5k):
    """A grouped G (`fast`): find.js puts its starts in the groups nearest the drawing, z's first
    number where project.py puts it (its normal quantiles are an approximation: within 1e-5),
    with the same budget constants."""
    from gan_app.data.groups import groups_of_z
    from gan_app.models.dcgan import group_layer
    from gan_app.lab.inversion import GROUPS_SEARCHED, RESTARTS, TAB_KEEP, TAB_SCREEN, TAB_STEPS, Projector

    registry, page = lab_server
    preset, meta = _meta("fast")
    g = _with_groups(build_generator(preset), preset, np.random.default_rng(4))
    key = registry.add(build_bundle(g, None, meta))
    target01 = (mnist5k.x[4001] / 255.0).astype(np.float32)
    got = _in_tab(page, key, """
      const { n, flat, moves } = finder.starts(model, 0, 0, Float32Array.from(args));
      const first = Array.from({ length: n }, (_, i) => flat[i * model.d]);
      return { first, moves: Array.from(moves), constants: [finder.GROUPS_SEARCHED, finder.RESTARTS, finder.STEPS,
        finder.SCREEN, finder.KEEP] };""", target01.ravel().tolist())
    assert got["constants"] == [GROUPS_SEARCHED, RESTARTS, TAB_STEPS, TAB_SCREEN, TAB_KEEP]
    server = Projector(g, meta).starts(target01, RESTARTS, seed=0)
    np.testing.assert_allclose(got["first"], server[:, 0], atol=1e-5)
    cuts = np.asarray(group_layer(g).cuts)
    tab_z = np.zeros_like(server)
    tab_z[:, 0] = got["first"]
    np.testing.assert_array_equal(groups_of_z(tab_z, cuts), groups_of_z(server, cuts))
    assert got["moves"][0] == 0 and set(got["moves"][1:]) == {1}
    found = _in_tab(page, key, "return await finder.find(model, Float32Array.from(args), { steps: 30, budgetS: Infinity });",
                    target01.ravel().tolist())
    assert found["z"][0] in set(np.float32(got["first"]).tolist())  # the winner stayed in the group it started in


def test_find_in_the_tab_finds_a_held_out_digit_as_well_as_the_server(lab_server, mnist5k):
    """find.js runs project.py's search with about a fifth of its work (every start screened for
    20 steps, the best two taken on to 120): on held-out digits its error stayed within 1.5x of
    the server's (0.005 vs 0.004, 0.033 vs 0.022), hence 1.6x plus 0.005 of slack for a digit
    both find almost exactly. Its image is what Keras draws for the z it found, and the
    classifier reads it as the digit drawn. The conditional model (searched at every digit);
    the dashboard test below searches the wide one."""
    from test_browser_lab import TOLERANCE

    from gan_app.models.classifier import shared_meter, split
    from gan_app.lab.inversion import Projector

    registry, page = lab_server
    export = open_export(SHIPPED_CONDITIONAL)
    key = bundle_from_export(export, registry)
    which = 3
    x = mnist5k.x[split(mnist5k)[1][which]]
    found = _in_tab(page, key, "return await finder.find(model, Float32Array.from(args), { budgetS: Infinity });",
                    x.ravel().tolist())  # however busy the machine: this test is about what it finds
    server = Projector(export.generator, export.meta).project(x)
    assert found["mse"] <= 1.6 * server.mse + 0.005, (found["mse"], server.mse)
    z = np.asarray(found["z"], np.float32)[None]
    digits = None if found["digit"] is None else np.array([found["digit"]])
    keras_image = np.asarray(export.generator([z, digits] if digits is not None else z, training=False))
    keras01 = (keras_image - export.meta["output_min"]) / (export.meta["output_max"] - export.meta["output_min"])
    assert np.abs(np.clip(keras01, 0, 1).ravel() - np.asarray(found["image"])).max() <= 2 * TOLERANCE
    reads = np.asarray(shared_meter().classifier(np.asarray(found["image"], np.float32).reshape(1, 28, 28, 1)))
    assert int(np.argmax(reads)) == int(mnist5k.y[split(mnist5k)[1][which]])


def test_in_the_dashboard_find_runs_in_the_tab_and_the_class_gets_the_drawing(tmp_path, chromium, request):
    """The real dashboard: a student draws a 7 and presses Find; the tab searches, the page
    shares the drawing (the lab's list of points to walk to names it) and the server never
    searched itself (its search queue logs every batch it runs)."""
    from gan_app.bench.server import DashboardServer

    with DashboardServer(log_path=tmp_path / "server.log") as srv:
        page = chromium.new_page(viewport={"width": 1600, "height": 1200})
        try:
            page.goto(srv.url + "/lab")
            page.locator("[data-lab='root'][data-ready='1']").wait_for(timeout=120_000)
            page.get_by_text("Your own digit").first.click()
            canvas = page.locator("canvas[data-canvas='pad'][data-ready='1']")
            canvas.wait_for(timeout=60_000)
            page.wait_for_selector(IDLE, timeout=60_000)
            _draw(page, canvas, [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)])
            page.get_by_role("button", name="Find in latent space").click()
            page.locator("[data-lab='caption']").filter(
                has_text="a student #1 (the drawing), found in latent space").wait_for(timeout=120_000)
            page.get_by_text("found in this tab in").wait_for(timeout=60_000)  # the page run after the answer
            assert page.get_by_text("found in this tab in").count() == 1
            page.locator("[data-lab='b-kind'] option[value='a student #1']").wait_for(state="attached", timeout=30_000)
            assert SEARCHED not in (tmp_path / "server.log").read_text(errors="replace")
        except BaseException:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            raise
        finally:
            page.close()
