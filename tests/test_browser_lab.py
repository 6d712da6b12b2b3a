"""The lab's generator in the browser: TensorFlow.js (gan_app/ui/lab/web) rebuilds each preset's G
and D from the bundle the server describes, and draws the same pictures as Keras, in Chromium,
served by the lab's real routes."""

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gan_app.bench.browser import CHROMIUM, browser
from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT, open_export
from gan_app.core.config import get_preset
from gan_app.lab.bundle import Registry, build_bundle, bundle_from_export
from gan_app.data.groups import cut_points
from gan_app.models.dcgan import ARCHITECTURES, build_discriminator, build_generator, image_groups, set_groups
from gan_app.classroom.feed import Announcer, LiveFeed
from gan_app.ui.lab.routes import MODELS, STATIC_BASE, lab_routes

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

TOLERANCE = 2 / 255
PRESET_OF = {"taehojo": "taehojo", "seed002": "seed002", "roatienza": "roatienza", "fast": "fast", "wide": "wide",
             "conditional": "conditional"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module (Playwright's sync API allows one at a time in a thread)."""
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def lab_server(chromium):
    """The lab's routes on a real uvicorn server, and a blank page of the same origin to run in."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    registry = Registry(kept=32)
    feed = LiveFeed(lambda: None, registry)
    routes = lab_routes(feed, Announcer(feed), registry)
    routes.append(Route("/blank", lambda request: HTMLResponse("<!doctype html><title>lab</title>")))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the lab's test server did not start"
        time.sleep(0.05)
    page = chromium.new_page()
    page.goto(f"http://127.0.0.1:{port}/blank")
    yield registry, page
    page.close()
    server.should_exit = True
    thread.join(10)


def _in_browser(page, key, z, digits, images=None):
    return page.evaluate(
        """async ([base, models, key, z, digits, images]) => {
          const { loadTf } = await import(base + "runtime.js");
          const { loadModel } = await import(base + "model.js");
          const tf = await loadTf(base);
          const m = await loadModel(tf, models, key);
          const out = Array.from(m.images(Float32Array.from(z), digits ? Int32Array.from(digits) : null));
          const judged = m.judge(images ? Float32Array.from(images) : Float32Array.from(out), digits ? Int32Array.from(digits) : null);
          return { images: out, judged: judged ? Array.from(judged) : null, backend: tf.getBackend() };
        }""",
        [STATIC_BASE, MODELS + "/", key, z.ravel().tolist(), None if digits is None else digits.tolist(),
         None if images is None else images.ravel().tolist()])


def _randomised(model, rng):
    """A model whose every weight (BatchNorm statistics too) is non-trivial, as after training."""
    for v in model.weights:
        shape = tuple(v.shape)
        if v.path.endswith("moving_variance"):
            v.assign(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        elif v.path.endswith(("moving_mean", "beta", "bias")):
            v.assign(rng.normal(0, 0.1, shape).astype(np.float32))
        elif v.path.endswith("gamma"):
            v.assign(rng.uniform(0.8, 1.2, shape).astype(np.float32))
    return model


def _with_groups(generator, preset, rng):
    """A grouped G given groups as a run finds them: uneven shares, distinct mean images."""
    if preset.groups:
        k = preset.groups
        set_groups(generator, rng.uniform(-1, 1, (k, 784)), cut_points(rng.dirichlet(np.ones(k)), preset.noise))
    return generator


def _compare(page, registry, generator, discriminator, meta, digits=None):
    key = registry.add(build_bundle(generator, discriminator, meta))
    z = np.random.default_rng(3).standard_normal((4, meta["latent_dim"])).astype(np.float32)
    inputs = [z, digits] if digits is not None else z
    lo, hi = meta["output_min"], meta["output_max"]
    expected = np.clip((np.asarray(generator(inputs, training=False)) - lo) / (hi - lo), 0, 1)
    got = _in_browser(page, key, z, digits)
    assert got["backend"] == "wasm"
    diff = np.abs(np.asarray(got["images"]).reshape(expected.shape) - expected).max()
    assert diff <= TOLERANCE, f"browser and Keras images differ by {diff:.4f}"
    if discriminator is not None:
        x = expected * (hi - lo) + lo
        told = digits if digits is not None else image_groups(generator, x)  # a grouped D: the nearest group
        judged = np.asarray(discriminator([x, told] if told is not None else x, training=False)).ravel()
        assert np.abs(np.asarray(got["judged"]) - judged).max() <= 0.02
    return diff


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_the_browser_draws_what_keras_draws_for_every_architecture(lab_server, architecture):
    registry, page = lab_server
    preset = get_preset(PRESET_OF[architecture])
    rng = np.random.default_rng(0)
    g, d = _randomised(build_generator(preset), rng), _randomised(build_discriminator(preset), rng)
    _with_groups(g, preset, rng)
    meta = {"name": architecture, "step": 0, "latent_dim": preset.latent_dim, "noise": preset.noise,
            "output_min": preset.output_min, "output_max": preset.output_max, "num_classes": preset.num_classes}
    digits = np.asarray([0, 3, 7, 9], np.int32) if preset.num_classes else None
    _compare(page, registry, g, d, meta, digits)


@pytest.mark.parametrize("shipped", [SHIPPED_EXPORT, SHIPPED_CONDITIONAL], ids=lambda p: p.name)
def test_the_browser_draws_the_shipped_models_as_keras_does(lab_server, shipped):
    registry, page = lab_server
    export = open_export(shipped)
    meta = {**export.meta, "name": export.name, "step": export.meta.get("steps")}
    digits = np.asarray([1, 4, 7, 8], np.int32) if export.meta.get("num_classes") else None
    _compare(page, registry, export.generator, export.discriminator, meta, digits)
    key = bundle_from_export(export, registry)
    assert registry.get(key).manifest["weights_bytes"] <= 1.5 * 1024 * 1024  # one version per tab: <= 1.5 MB


def test_the_pages_latent_maths_is_the_servers(lab_server):
    from gan_app.core import latent

    _, page = lab_server
    rng = np.random.default_rng(5)
    a, b, c, d = (rng.standard_normal(8).astype(np.float32) for _ in range(4))
    got = page.evaluate(
        """async ([base, a, b, c, d]) => {
          const L = await import(base + "latent.js");
          const [A, B, C, D] = [a, b, c, d].map((v) => Float32Array.from(v));
          const rows = (zs) => zs.map((z) => Array.from(z));
          const prior = L.prior(3, 2000, 8, "normal").flatMap((z) => Array.from(z));
          return { slerp: rows(L.interpolate([A, B, C], 5, "slerp")), lerp: rows(L.interpolate([A, B], 4, "lerp")),
                   walk: rows(L.walk([A, B, C], 3, "slerp")), analogy: rows(L.analogy(A, B, C)),
                   strip: rows(L.sigmaStrip(A, D, [-3, 0, 3])), mean: prior.reduce((s, v) => s + v, 0) / prior.length,
                   sd: Math.sqrt(prior.reduce((s, v) => s + v * v, 0) / prior.length),
                   uniform: Math.max(...L.prior(4, 100, 8, "uniform").flatMap((z) => Array.from(z).map(Math.abs))) };
        }""", [STATIC_BASE, a.tolist(), b.tolist(), c.tolist(), d.tolist()])
    np.testing.assert_allclose(got["slerp"], latent.interpolate([a, b, c], 5, "slerp"), atol=1e-5)
    np.testing.assert_allclose(got["lerp"], latent.interpolate([a, b], 4, "lerp"), atol=1e-5)
    np.testing.assert_allclose(got["walk"], latent.walk([a, b, c], 3, "slerp"), atol=1e-5)
    np.testing.assert_allclose(got["analogy"], latent.analogy_grid(a, b, c), atol=1e-5)
    np.testing.assert_allclose(got["strip"], latent.sigma_strip(a, d, (-3, 0, 3)), atol=1e-5)
    assert abs(got["mean"]) < 0.05 and abs(got["sd"] - 1) < 0.05 and got["uniform"] <= 1  # the prior's shape


IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def _move(page, name, value):
    page.locator(f"[data-lab='{name}']").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", value)


def test_in_the_dashboard_a_slider_move_runs_nothing_on_the_server_and_weights_come_once(tmp_path, chromium):
    """The real dashboard in Chromium: the lab draws in the tab; moving sliders sends nothing to
    Streamlit and gets nothing back (no script run); leaving and reopening the model fetches no
    weights again."""
    from gan_app.bench.server import DashboardServer

    b = chromium
    with DashboardServer(log_path=tmp_path / "server.log") as srv:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        stream, weights = [], []
        page.on("websocket", lambda ws: "_stcore/stream" in ws.url and (
            ws.on("framesent", lambda _: stream.append("sent")), ws.on("framereceived", lambda _: stream.append("got"))))
        page.on("request", lambda r: r.url.endswith("/weights.bin") and weights.append(r.url))
        page.goto(srv.url + "/lab")
        root = page.locator("[data-lab='root'][data-ready='1']")
        root.wait_for(timeout=120_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        key = root.get_attribute("data-key")
        main = page.locator("[data-lab='main']")
        before, drawn = main.evaluate("(c) => c.toDataURL()"), int(main.get_attribute("data-drawn"))
        frames = len(stream)
        _move(page, "raw-3", 2.5)
        page.locator("[data-tab='SeFa']").click()
        _move(page, "SeFa-0", -2.0)
        page.wait_for_function("([el, n]) => Number(el.dataset.drawn) >= n", arg=[main.element_handle(), drawn + 2])
        assert main.evaluate("(c) => c.toDataURL()") != before  # the image moved
        page.wait_for_timeout(1000)
        assert len(stream) == frames, "a slider move reached the Streamlit server"
        assert page.locator("[data-lab='caption']").inner_text().startswith("seed 0")

        page.get_by_text("Live run", exact=True).click()  # page runs: the lab leaves the page...
        page.get_by_text("The live run has not trained yet").wait_for(timeout=60_000)
        page.get_by_text("Opened model", exact=True).click()  # ...and comes back
        page.locator(f"[data-lab='root'][data-key='{key}'][data-ready='1']").wait_for(timeout=60_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        assert len(stream) > frames  # those were page runs
        assert [url for url in weights if f"/{key}/" in url] == [weights[0]], weights  # fetched once


def test_a_new_live_version_reaches_an_open_lab_without_a_page_run(tmp_path, chromium):
    from gan_app.bench.browser import goto_app, read_step
    from gan_app.bench.server import DashboardServer

    b = chromium
    with DashboardServer(log_path=tmp_path / "server.log") as srv:
        teacher = goto_app(b.new_page(viewport={"width": 1400, "height": 1000}), srv.url + "/train")
        teacher.get_by_role("button", name="Start", exact=True).click()
        deadline = time.monotonic() + 120
        while read_step(teacher) == 0:
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.5)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        stream, weights = [], []
        page.on("websocket", lambda ws: "_stcore/stream" in ws.url and ws.on("framereceived", lambda _: stream.append(1)))
        page.on("request", lambda r: r.url.endswith("/weights.bin") and weights.append(r.url))
        page.goto(srv.url + "/lab")  # the run has trained: the lab opens on it
        page.get_by_text("Using the live generator's and discriminator's weights").wait_for(timeout=120_000)
        number = page.get_by_label("Copy the live weights for every lab each N steps (0: only on request)", exact=True).and_(page.get_by_test_id("stNumberInputField"))
        number.fill("20")
        number.press("Enter")
        page.locator("[data-lab='root'][data-ready='1']").wait_for(timeout=120_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        first = page.locator("[data-lab='root']").get_attribute("data-key")
        frames = len(stream)
        page.locator(f"[data-lab='root'][data-ready='1']:not([data-key='{first}'])").wait_for(timeout=120_000)
        assert len(stream) == frames, "the new version came with a page run"
        second = page.locator("[data-lab='root']").get_attribute("data-key")
        assert sum(f"/{second}/" in url for url in weights) == 1 and sum(f"/{first}/" in url for url in weights) == 1
        assert page.locator("[data-lab='main']").get_attribute("data-drawn")


def test_a_link_carries_the_labs_view_and_a_forged_one_is_held_against_the_model(lab_server):
    registry, page = lab_server
    key = bundle_from_export(open_export(SHIPPED_EXPORT), registry)
    d = open_export(SHIPPED_EXPORT).meta["latent_dim"]
    z = np.round(np.random.default_rng(3).standard_normal(d), 3).tolist()
    checked = page.evaluate(
        """async ([base, z, d]) => {
          const S = await import(base + "share.js");
          const s = { base: Float32Array.from(z), digit: null, tab: "SeFa", where: "Ana's 7", towardsDigit: 3,
                      towardsAmount: 1.5, alpha: { SeFa: [1.2, 0, 0, 0, -0.5], PCA: [0, 0, 0, 0, 0] } };
          const text = S.encodeState(s);
          const forged = (state) => S.decodeState(btoa(JSON.stringify(state)), d, 0);
          return { back: S.decodeState(text, d, 0), text, wrongSize: S.decodeState(text, d + 1, 0),
                   garbage: S.decodeState("%%%", d, 0),
                   clipped: forged({ v: 1, z: Array(d).fill(1e9), tab: "<script>", digit: 99,
                                     alpha: { SeFa: [99, "x"], PCA: null }, towards: 12, amount: -4, where: 5 }),
                   nan: S.decodeState(btoa(JSON.stringify({ v: 1, z: Array(d).fill(0) }).replace("0", "NaN")), d, 0) };
        }""", [STATIC_BASE, z, d])
    back = checked["back"]
    np.testing.assert_allclose(back["z"], z, atol=1e-6)
    assert (back["tab"], back["where"], back["towards"], back["amount"]) == ("SeFa", "Ana's 7", 3, 1.5)
    assert back["alpha"]["SeFa"] == [1.2, 0, 0, 0, -0.5] and len(checked["text"]) < 2_000
    assert checked["wrongSize"] is None and checked["garbage"] is None and checked["nan"] is None
    clipped = checked["clipped"]
    assert max(clipped["z"]) == 50 and clipped["tab"] == "raw" and clipped["digit"] is None
    assert clipped["alpha"]["SeFa"] == [3, 0, 0, 0, 0] and clipped["towards"] is None and clipped["amount"] == 0

    # A tab opened at that link shows that view, and the URL follows what the student does next.
    page.goto(page.url.split("#")[0] + "#lab=" + checked["text"])
    page.evaluate(
        """async ([base, models, key]) => {
          document.body.innerHTML = '<div id="lab"></div>';
          const lab = await import(base + "lab.js");
          lab.render(document.getElementById("lab"), { base, models, socket: "/lab/socket", key, step: null,
                                                       live: false, point: null, class_points: [] });
        }""", [STATIC_BASE, MODELS + "/", key])
    page.locator("#lab[data-ready='1']").wait_for(timeout=60_000)
    assert page.locator("[data-lab='caption']").inner_text().startswith("Ana's 7")
    assert page.locator("[data-lab='SeFa-0']").input_value() == "1.2"
    assert page.locator("[data-tab='SeFa']").get_attribute("class") == "on"
    page.locator("[data-lab='SeFa-1']").fill("2")
    page.wait_for_function("() => !location.hash.includes(%r)" % checked["text"], timeout=10_000)
    moved = page.evaluate("""async (base) => {
        const S = await import(base + "share.js");
        return S.decodeState(S.stateInHash(location.hash), %d, 0).alpha.SeFa;
      }""" % d, STATIC_BASE)
    assert moved == [1.2, 2, 0, 0, -0.5]
    page.locator("[data-lab='share']").click()
    assert page.locator("[data-lab='link']").input_value() == page.url


def test_the_class_map_places_the_classs_drawings_on_their_main_axes_and_a_click_explores_one(lab_server):
    registry, page = lab_server
    key = bundle_from_export(open_export(SHIPPED_EXPORT), registry)
    d = open_export(SHIPPED_EXPORT).meta["latent_dim"]
    rng = np.random.default_rng(8)
    zs = rng.standard_normal((6, d)) * np.r_[3.0, 2.0, np.full(d - 2, 0.1)]  # two clear main axes
    points = [{"name": f"s{i} #{i + 1}", "z": np.round(z, 3).tolist(), "digit": None, "reads": i % 10}
              for i, z in enumerate(zs)]
    axes = page.evaluate("""async ([base, zs, d]) => {
        const M = await import(base + "classmap.js");
        const { mean, axes } = M.mainAxes(zs.map((z) => Float32Array.from(z)), d);
        return { mean: Array.from(mean), axes: axes.map((a) => Array.from(a)) };
      }""", [STATIC_BASE, [p["z"] for p in points], d])
    centred = np.array([p["z"] for p in points]) - np.mean([p["z"] for p in points], axis=0)
    numpy_axes = np.linalg.svd(centred, full_matrices=False)[2][:2]
    for ours, theirs in zip(axes["axes"], numpy_axes):
        assert abs(abs(np.dot(ours, theirs)) - 1) < 1e-3  # the same axes, up to sign

    page.goto(page.url.split("#")[0])
    page.evaluate(
        """async ([base, models, key, points]) => {
          document.body.innerHTML = '<div id="lab"></div>';
          const lab = await import(base + "lab.js");
          lab.render(document.getElementById("lab"), { base, models, socket: "/lab/socket", key, step: null,
                                                       live: false, point: null, class_points: points });
        }""", [STATIC_BASE, MODELS + "/", key, points])
    page.locator("#lab[data-ready='1']").wait_for(timeout=60_000)
    page.locator("[data-tab='map']").click()
    canvas = page.locator("[data-lab='class-map']")
    assert canvas.get_attribute("data-points") == "6"
    x, y = page.evaluate("""async ([base, points, d]) => {
        const M = await import(base + "classmap.js");
        const c = document.createElement("canvas"); c.width = 420; c.height = 320;
        return M.drawMap(c, points, d, "normal")[2];
      }""", [STATIC_BASE, points, d])
    box = canvas.bounding_box()
    canvas.click(position={"x": x * box["width"] / 420, "y": y * box["height"] / 320})
    assert page.locator("[data-lab='caption']").inner_text().startswith("s2 #3")
