"""Benchmarks printed as one JSON line each (`python -m gan_app bench ...`). Timings live here,
never in tests."""

from __future__ import annotations

import time

from gan_app.train.classic import ClassicStep
from gan_app.core.config import Preset
from gan_app.data.datasets import DEFAULT_DATASET, load_dataset, scale_to_range
from gan_app.runs.run import make_step
from gan_app.train.step import FusedStep, device_name


def steps_per_second(step: FusedStep | ClassicStep, steps: int, warmup: int, repeats: int = 3) -> float:
    """Best of `repeats` timings of `steps` steps, after `warmup` steps that trace and warm caches."""
    step.train(warmup)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        step.train(steps)  # fused: all steps in one compiled call; classic: the tutorial's Python loop
        best = max(best, steps / (time.perf_counter() - t0))
    return best


def _bench_images(preset: Preset):
    return scale_to_range(load_dataset(DEFAULT_DATASET).x, preset.output_min, preset.output_max)


def bench_modes(preset: Preset, steps: int, warmup: int, precision: str = "float32") -> dict:
    """Fused (in `precision`) against classic training in one process, each after its own warm-up."""
    images = _bench_images(preset)
    rates = {mode: steps_per_second(make_step(mode, preset, images, seed=0, precision=precision), steps, warmup)
             for mode in ("fused", "classic")}
    return {
        "preset": preset.name,
        "batch_size": preset.batch_size,
        "device": device_name(),
        "precision": precision,
        "fused_steps_per_s": round(rates["fused"], 2),
        "classic_steps_per_s": round(rates["classic"], 2),
        "speedup": round(rates["fused"] / rates["classic"], 2),
    }


def bench_precisions(preset: Preset, steps: int, warmup: int) -> dict:
    """The fused step's speed in each precision, in one process, each after its own warm-up;
    `ratio`: against float32."""
    from gan_app.core.config import PRECISIONS

    images = _bench_images(preset)
    rates = {precision: steps_per_second(FusedStep(preset, images, seed=0, precision=precision), steps, warmup)
             for precision in PRECISIONS}
    return {"preset": preset.name, "batch_size": preset.batch_size, "device": device_name(),
            "steps_per_s": {k: round(v, 2) for k, v in rates.items()},
            "ratio": {k: round(v / rates["float32"], 3) for k, v in rates.items()}}


def _steps_rate(read_step, seconds: float, warmup_steps: int = 40) -> float:
    """Steps per second from a step counter, after the run has traced and warmed up."""
    deadline = time.monotonic() + 120
    while read_step() < warmup_steps:
        if time.monotonic() > deadline:
            raise RuntimeError("training did not warm up within 120 s")
        time.sleep(0.2)
    s0, t0 = read_step(), time.monotonic()
    time.sleep(seconds)
    return (read_step() - s0) / (time.monotonic() - t0)


def bench_dashboard(preset: Preset, seconds: float, warmup_steps: int = 40) -> dict:
    """Training speed of the dashboard's trainer alone, then inside a real `streamlit run`
    server with one Chromium tab open at the default refresh, clicking Start like a teacher."""
    from gan_app.bench.browser import live_step, open_page
    from gan_app.bench.server import DashboardServer
    from gan_app.core.config import RunConfig
    from gan_app.live.trainer import LiveTrainer

    trainer = LiveTrainer(RunConfig(preset=preset.name, batch_size=preset.batch_size))
    trainer.start()
    try:
        headless = _steps_rate(lambda: trainer.snapshot().step, seconds, warmup_steps)
        quality_cost = trainer.snapshot().quality_cost  # share of the run's time spent measuring quality
    finally:
        trainer.close()
    with DashboardServer(env={"GAN_APP_PRESET": preset.name}) as server, open_page(server.url) as page:
        page.get_by_role("button", name="Start", exact=True).click()
        with_viewer = _steps_rate(lambda: live_step(page), seconds, warmup_steps)
    return {
        "preset": preset.name,
        "batch_size": preset.batch_size,
        "device": device_name(),
        "seconds": seconds,
        "headless_steps_per_s": round(headless, 2),
        "with_viewer_steps_per_s": round(with_viewer, 2),
        "ratio": round(with_viewer / headless, 3),
        "quality_cost": round(quality_cost, 3),
    }


def bench_time_to_quality(preset: Preset, budget_s: float, every: int = 250, n_samples: int = 1000,
                          seed: int = 0, reference_steps_per_s: float = 0.0, precision: str = "float32") -> dict:
    """Train from scratch; measure classifier FID every `every` steps (not counted as training
    time) until the budget of training seconds is spent. `curve`: the first measurement at or
    after each quarter of the budget (30, 60, 90 and 120 s of 120): seconds, steps, FID, score
    and digits covered. With `reference_steps_per_s`, training also goes on until the steps a
    host of that speed takes in the budget, and `reference_curve` holds the first measurement at
    or after each quarter of those steps: the budget scaled by this host's speed."""
    import numpy as np

    from gan_app.data.datasets import to_unit_range
    from gan_app.models.classifier import QualityMeter
    from gan_app.train.step import sample_noise

    meter = QualityMeter()
    dataset = load_dataset(DEFAULT_DATASET)
    images = scale_to_range(dataset.x, preset.output_min, preset.output_max)
    step = FusedStep(preset, images, seed=seed, labels=dataset.y if preset.num_classes else None, precision=precision)
    z = sample_noise(np.random.default_rng(seed + 1), n_samples, preset)
    labels = np.arange(n_samples) % preset.num_classes if preset.num_classes else None  # uniform digits
    step.train(1)  # trace outside the clock
    trained_s, steps, hits = 0.0, 1, {30: None, 15: None}
    accuracy_hit = None  # a conditional preset: when 90% of samples are read as the digit asked for
    q = None
    quarters = (0.25, 0.5, 0.75, 1.0)
    marks, curve = [budget_s * f for f in quarters], []
    # without a reference speed there is no scaled curve: the curve at the bench's own quarters only
    step_marks = [int(budget_s * reference_steps_per_s * f) for f in quarters] if reference_steps_per_s else []
    reference_curve: list[dict] = []
    while trained_s < budget_s or step_marks:
        t0 = time.perf_counter()
        step.train(every)
        trained_s += time.perf_counter() - t0
        steps += every
        q = meter.measure(to_unit_range(step.generate(z, labels), preset.output_min, preset.output_max), labels)
        point = {"seconds": round(trained_s, 1), "steps": steps, "fid": round(q.fid, 1), "score": round(q.score, 2),
                 "covered": q.covered}
        while marks and trained_s >= marks[0]:
            marks.pop(0)
            curve.append(point)
        while step_marks and steps >= step_marks[0]:
            reference_seconds = round(step_marks.pop(0) / reference_steps_per_s, 1)
            reference_curve.append({"reference_seconds": reference_seconds, **point})
        for threshold in hits:
            if hits[threshold] is None and q.fid <= threshold:
                hits[threshold] = (round(trained_s, 1), steps)
        if accuracy_hit is None and q.label_accuracy is not None and q.label_accuracy >= 0.9:
            accuracy_hit = (round(trained_s, 1), steps)
    conditional = {}
    if preset.num_classes:
        conditional = {"label_accuracy90_seconds": accuracy_hit and accuracy_hit[0],
                       "label_accuracy90_steps": accuracy_hit and accuracy_hit[1],
                       "final_label_accuracy": q.label_accuracy}
    return {
        "preset": preset.name,
        "device": device_name(),
        "precision": precision,
        "budget_s": budget_s,
        "steps_per_s": round(steps / trained_s, 1),
        "curve": curve,
        **({"reference_steps_per_s": reference_steps_per_s, "reference_curve": reference_curve}
           if reference_steps_per_s else {}),
        "fid30_seconds": hits[30] and hits[30][0],
        "fid30_steps": hits[30] and hits[30][1],
        "fid15_seconds": hits[15] and hits[15][0],
        "fid15_steps": hits[15] and hits[15][1],
        "final_fid": q.fid,
        "final_score": q.score,
        "final_covered": q.covered,
        **conditional,
        "steps": steps,
    }


def bench_latent(repeats: int = 300) -> dict:
    """Server-side time from a new latent to PNG bytes: one 28x28 image (shown large), and a strip
    of 10 (an interpolation). Uses the shipped export, or a fresh `fast` generator without one."""
    import numpy as np

    from gan_app.runs.checkpoint import SHIPPED_EXPORT, open_export
    from gan_app.core.images import image_png, strip_png
    from gan_app.lab.model import LabGenerator

    if (SHIPPED_EXPORT / "generator.keras").is_file():
        model = LabGenerator.from_export(open_export(SHIPPED_EXPORT))
    else:
        from gan_app.core.config import get_preset
        from gan_app.models.dcgan import build_generator

        p = get_preset("fast")
        model = LabGenerator(build_generator(p), {"latent_dim": p.latent_dim, "noise": p.noise, "output_min": p.output_min,
                                                  "output_max": p.output_max}, "fresh fast", "fresh")
    rng = np.random.default_rng(0)

    def p95(n: int, encode) -> float:
        for _ in range(5):  # trace and warm up
            encode(model.images01(rng.standard_normal((n, model.latent_dim))))
        times = []
        for _ in range(repeats):
            z = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
            t0 = time.perf_counter()
            encode(model.images01(z))
            times.append((time.perf_counter() - t0) * 1000)
        return float(np.percentile(times, 95))

    return {
        "model": model.name,
        "device": device_name(),
        "repeats": repeats,
        "single_p95_ms": round(p95(1, lambda im: image_png(im[0], scale=10)), 2),
        "strip10_p95_ms": round(p95(10, lambda im: strip_png(im, scale=3)), 2),
    }


def bench_projection(samples: int = 200, exports: list | None = None) -> dict:
    """`project` on held-out digits (the classifier's held-out split of mnist5k, 10% per digit),
    for each shipped generator (or each export directory in `exports`): seconds per image after
    the first (which traces) and how often the reference classifier reads G(z) as the digit's own
    label, with the server's budget and with the tab's (find.js: TAB_STEPS, TAB_SCREEN, TAB_KEEP).
    A grouped generator is also searched from random starts, as before its starts used the groups."""
    import numpy as np

    from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT, open_export
    from gan_app.models.classifier import QualityMeter, split
    from gan_app.lab.inversion import RESTARTS, RESTARTS_PER_DIGIT, STEPS, TAB_KEEP, TAB_SCREEN, TAB_STEPS, Projector

    ds = load_dataset(DEFAULT_DATASET)
    held = np.random.default_rng(0).permutation(split(ds)[1])[:samples]
    meter = QualityMeter()
    rows = {"device": device_name(), "samples": len(held), "steps": STEPS, "restarts": RESTARTS,
            "restarts_per_digit": RESTARTS_PER_DIGIT, "tab": {"steps": TAB_STEPS, "screen": TAB_SCREEN, "keep": TAB_KEEP}}
    budgets = {"server": {}, "tab": {"steps": TAB_STEPS, "screen": TAB_SCREEN, "keep": TAB_KEEP}}

    def measure(projector: Projector, budget: dict) -> dict:
        t0 = time.perf_counter()
        projector.project(ds.x[held[0]], **budget)
        first = time.perf_counter() - t0
        found = [projector.project(ds.x[i], **budget) for i in held]
        reads = meter.features_and_probs(np.stack([f.image01 for f in found]))[1].argmax(axis=1)
        seconds = np.array([f.seconds for f in found])
        return {"same_digit": round(float(np.mean(reads == ds.y[held])), 4),
                "mse_mean": round(float(np.mean([f.mse for f in found])), 5),
                "seconds_mean": round(float(seconds.mean()), 3),
                "seconds_p95": round(float(np.percentile(seconds, 95)), 3),
                "seconds_first": round(first, 3)}

    for directory in exports or (SHIPPED_EXPORT, SHIPPED_CONDITIONAL):
        export = open_export(directory)
        projector = Projector(export.generator, export.meta)
        row = rows[export.name] = {budget: measure(projector, kw) for budget, kw in budgets.items()}
        if projector.groups is not None:
            random_starts = Projector(export.generator, export.meta, group_starts=False)
            row["random_starts"] = {budget: measure(random_starts, kw) for budget, kw in budgets.items()}
    return rows
