"""`python -m gan_app {presets,train,quality,bench,project,train-classifier}`: every failure is one line on
stderr and exit code 2."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import NoReturn, Sequence

import numpy as np

from gan_app.core.config import DEFAULT_PRESET, LOSSES, MODES, PRECISIONS, PRESETS, get_preset
from gan_app.data.datasets import DATASETS, DEFAULT_DATASET, DIGIT_DATASETS
from gan_app.data.npz import MAX_NPZ_IMAGES
from gan_app.core.errors import GanAppError, UsageError
from gan_app.core.tfquiet import import_tensorflow_quietly


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _preset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET)
    p.add_argument("--batch-size", type=_positive, default=None, help="overrides the preset's batch size")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gan_app", description="Train and benchmark the dashboard's DCGANs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    pr = sub.add_parser("presets", help="list presets with generator/discriminator parameter counts")
    pr.add_argument("--json", action="store_true", help="print a JSON list instead of a table")

    tr = sub.add_parser("train", help="train headless and write a run directory")
    _preset_args(tr)
    tr.add_argument("--dataset", default=DEFAULT_DATASET,
                    help=f"{', '.join(DATASETS)}, or a path to an .npz (at most {MAX_NPZ_IMAGES:,} images) or a .zip")
    tr.add_argument("--steps", type=_positive, required=True, help="training iterations (the tutorial's epoch)")
    tr.add_argument("--saving-interval", type=_positive, default=None, metavar="K",
                    help="save a sample grid every K steps (default 200; a resumed run keeps its own)")
    tr.add_argument("--out", type=Path, help="a new run directory to write (required unless --resume); "
                                               "a folder that holds a run is refused")
    tr.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    tr.add_argument("--checkpoint-every", type=_positive, default=None, metavar="K",
                    help="save the full training state to DIR/state every K steps (keeps the last 3; "
                         "it is always saved at the end)")
    tr.add_argument("--quality-every", type=int, default=None, metavar="M",
                    help="classifier FID, score and digit coverage every M steps (0: off; default 500)")
    tr.add_argument("--quality-samples", type=_positive, default=None, metavar="N", help="default 1000")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--mode", choices=MODES, default="fused")
    tr.add_argument("--precision", choices=PRECISIONS, default="float32",
                    help="the fused step's arithmetic: 16-bit activations with float32 weights (mixed_float16 with "
                         "loss scaling); exports are float32 either way")
    tr.add_argument("--loss", choices=LOSSES, default=None)
    tr.add_argument("--k", type=_positive, default=None, help="D steps per G step")
    tr.add_argument("--d-lr", type=float, default=None)
    tr.add_argument("--g-lr", type=float, default=None)
    tr.add_argument("--ema", type=float, default=None, metavar="DECAY",
                    help="decay of the moving average of G that samples come from (0: off)")
    tr.add_argument("--r1", type=float, default=None, metavar="GAMMA",
                    help="weight of the R1 gradient penalty on D at real images (0: off)")

    qu = sub.add_parser("quality", help="classifier FID, score and digit coverage of an exported generator")
    qu.add_argument("export", type=Path, metavar="DIR", help="a directory with generator.keras + meta.json")
    qu.add_argument("--samples", type=_positive, default=None, metavar="N",
                    help="generated images to measure (default: the N its meta.json records, else 1000)")

    be = sub.add_parser("bench", help="time fused against classic training and print one JSON line")
    _preset_args(be)
    be.add_argument("--steps", type=_positive, default=30, help="timed steps per mode")
    be.add_argument("--warmup", type=_positive, default=None,
                    help="steps trained before timing starts (default 3; --dashboard 40; --viewers, --students "
                         "and --find-burst: 200, the run's steps before the class arrives)")
    be.add_argument("--dashboard", action="store_true",
                    help="training speed of the dashboard alone vs with one Chromium tab watching")
    be.add_argument("--seconds", type=_positive, default=None,
                    help="measuring time per condition (--dashboard, --viewers, --students: default 30; "
                         "--find-burst: the speed before the burst, default 10)")
    be.add_argument("--time-to-quality", action="store_true",
                    help="train from scratch; seconds and steps until classifier FID <= 30 and <= 15")
    be.add_argument("--budget-s", type=_positive, default=120, help="training seconds (--time-to-quality)")
    be.add_argument("--quality-every", type=_positive, default=250, metavar="M",
                    help="training steps between FID measurements (--time-to-quality)")
    be.add_argument("--reference-steps-per-s", type=_positive, default=None,
                    help="also train the steps a host of this speed takes in the budget, and report the curve "
                         "at those steps (--time-to-quality): the budget scaled by this host's speed")
    be.add_argument("--precision", choices=PRECISIONS, default="float32",
                    help="the fused step's arithmetic (the fused-vs-classic bench and --time-to-quality)")
    be.add_argument("--precisions", action="store_true",
                    help="fused steps/s in each precision (float32, mixed_bfloat16, mixed_float16), in one process")
    be.add_argument("--latent", action="store_true", help="latent lab: p95 ms from a latent to PNG bytes")
    be.add_argument("--projection", action="store_true",
                    help="the shipped generators (or --export DIR): seconds per image and how often G(z) reads as "
                         "the same digit, over held-out digits, with the server's and the tab's search budgets")
    be.add_argument("--export", type=Path, action="append", metavar="DIR",
                    help="an export directory to measure instead of the shipped ones (--projection; repeatable)")
    be.add_argument("--samples", type=_positive, default=200, help="held-out digits (--projection)")
    be.add_argument("--viewers", type=_count, nargs="+", metavar="N",
                    help="a fresh server per N, Start pressed, N emulated browser tabs watching for --seconds; "
                         "one JSON line per N")
    be.add_argument("--alternate", type=_positive, default=None, metavar="R",
                    help="with --viewers: on each size's server, R windows with the class between R+1 with nobody "
                         "watching; ratio_to_0 compares each with the two around it (the host's drift cancels)")
    be.add_argument("--page", choices=("train", "learn"), default="train",
                    help="the page the --viewers tabs open (default: train)")
    be.add_argument("--find-burst", type=_positive, default=None, metavar="N",
                    help="N students' Find answers (searched in their tabs) reach the server within 5 s while the run "
                         "trains: page runs, speed kept; with --chromium one real tab's search time")
    be.add_argument("--chromium", action="store_true",
                    help="with --students: one real Chromium student beside them (slider -> image timings; with "
                         "--follow: presenter move -> the image in its tab); "
                         "with --find-burst: one real tab's Find")
    be.add_argument("--students", type=_count, nargs="+", metavar="N",
                    help="class sizes on the latent lab: N emulated students explore while the run trains "
                         "(the --viewers format); each size gets a fresh server for --seconds")
    be.add_argument("--follow", action="store_true",
                    help="with --students: they follow the presenter's lab, which moves once a second "
                         "(follow_p95_ms: a move -> the view in a follower's tab)")
    be.add_argument("--replicas", type=_positive, default=None, metavar="N",
                    help="with --viewers: a lecture hall here (Redis, the trainer on one core, N dashboard replicas "
                         "on the others), the viewers spread over the replicas (docs/lecture-hall.md)")
    be.add_argument("--play", action="store_true",
                    help="with --students: they play Real or fake?, an answer about every 2 s "
                         "(answers_per_s, class_curve_updates_per_min: the presenter's curve)")

    pj = sub.add_parser("project", help="find an image in a generator's latent space; writes z as .npy")
    pj.add_argument("export", type=Path, help="an export directory (generator.keras + meta.json)")
    pj.add_argument("image", type=Path, help="a PNG or JPEG of one digit (any size; light backgrounds are inverted)")
    pj.add_argument("--out", type=Path, required=True, help="where to write z: float32 (1, latent_dim) .npy")
    pj.add_argument("--steps", type=_positive, default=None, help="optimisation steps per start (default 150)")
    pj.add_argument("--restarts", type=_positive, default=None,
                    help="random starts, run as one batch (default 16; a conditional generator: at each digit, default 4)")
    pj.add_argument("--seed", type=int, default=0)

    ts = sub.add_parser("trainer", help="the class's live trainer as a service behind a broker, for dashboard "
                                        "replicas started with GAN_APP_BROKER (docs/lecture-hall.md)")
    ts.add_argument("--broker", required=True, metavar="URL", help="redis://HOST:PORT")
    ts.add_argument("--run", type=Path, default=None, metavar="DIR",
                    help="the run directory it trains in and resumes from (default: checkpoints/live)")
    ts.add_argument("--preset", default=DEFAULT_PRESET, help="the preset of a new run (default: %(default)s)")

    tc = sub.add_parser("train-classifier", help="retrain the shipped reference digit classifier")
    tc.add_argument("--epochs", type=_positive, default=15)
    tc.add_argument("--seed", type=int, default=0)
    return parser


def cmd_presets(args: argparse.Namespace) -> None:
    from gan_app.models.dcgan import param_counts

    rows = []
    for preset in PRESETS.values():
        g, d = param_counts(preset)
        rows.append({"name": preset.name, "g_params": g, "d_params": d, "batch_size": preset.batch_size,
                     "optimizer": preset.optimizer, "noise": preset.noise, "num_classes": preset.num_classes,
                     "groups": preset.groups, "description": preset.description})
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'preset':<10} {'G params':>10} {'D params':>10}  description")
    for r in rows:
        print(f"{r['name']:<10} {r['g_params']:>10,} {r['d_params']:>10,}  {r['description']}")


def cmd_train(args: argparse.Namespace) -> None:
    from gan_app.core.config import RunConfig
    from gan_app.headless import ProgressBar, gan_train, resume_config

    command = shlex.join(["python", "-m", "gan_app", *args.argv])
    if args.quality_every is not None and args.quality_every < 0:
        raise UsageError(f"--quality-every must be >= 0, got {args.quality_every}")
    if args.mode == "classic" and (args.checkpoint_every or args.resume):
        raise UsageError("checkpoints and --resume need --mode fused")
    often = dict(sample_interval=args.saving_interval, quality_every=args.quality_every,
                 quality_samples=args.quality_samples, checkpoint_every=args.checkpoint_every)
    if args.resume:
        if args.out and args.out.resolve() != args.resume.resolve():
            raise UsageError("--resume continues the run in its own directory; leave out --out")
        fixed = [f"--{name.replace('_', '-')}" for name in ("loss", "k", "d_lr", "g_lr", "ema", "r1")
                 if getattr(args, name) is not None] + (["--precision"] if args.precision != "float32" else [])
        if fixed:
            raise UsageError(f"--resume keeps the run's own {', '.join(fixed)}; only --batch-size can change")
        config, commands = resume_config(args.resume, batch_size=args.batch_size, **often)  # the rest is the run's own
        out = gan_train(config, args.resume, args.steps, command, commands=commands, resume=True, progress=ProgressBar())
    else:
        if args.out is None:
            raise UsageError("--out DIR is required (or --resume DIR)")
        defaults = dict(sample_interval=200, quality_every=500, quality_samples=1000, checkpoint_every=0)
        config = RunConfig(
            preset=args.preset, dataset=args.dataset, seed=args.seed, mode=args.mode, precision=args.precision,
            batch_size=args.batch_size,
            loss=args.loss, k=args.k, d_lr=args.d_lr, g_lr=args.g_lr, ema=args.ema, r1=args.r1,
            **{k: defaults[k] if v is None else v for k, v in often.items()},
        )
        out = gan_train(config, args.out, args.steps, command, progress=ProgressBar())
    print(f"wrote {out}/ (metrics.csv, quality.csv, samples/, state/, generator.keras, discriminator.keras, meta.json)")


def cmd_quality(args: argparse.Namespace) -> None:
    from gan_app.runs.checkpoint import open_export
    from gan_app.models.classifier import QualityMeter
    from gan_app.core.latent import quality_noise

    export = open_export(args.export)
    meta = export.meta
    if meta.get("dataset") not in DIGIT_DATASETS:
        raise UsageError(f"{export.name} was trained on {meta.get('dataset')!r}; classifier FID is measured on "
                         f"generators of digits ({', '.join(DIGIT_DATASETS)})")
    recorded = meta.get("quality_samples")
    n = args.samples or (recorded if isinstance(recorded, int) and recorded > 0 else 1000)
    # the latents the run's own quality was measured on, so a recorded FID is reproduced
    seed = meta["seed"] if isinstance(meta.get("seed"), int) else 0
    # a conditional generator is asked for every digit equally often, as its run measured it
    labels = np.arange(n) % export.num_classes if export.num_classes else None
    q = QualityMeter().measure(export.images01(quality_noise(export.latent_dim, meta["noise"], seed, n), labels), labels)
    print(json.dumps({"export": export.name, "samples": n, **q.as_dict()}))


def cmd_bench(args: argparse.Namespace) -> None:
    from gan_app.bench import training as bench

    preset = get_preset(args.preset).replace(batch_size=args.batch_size)
    seconds = args.seconds or 30
    served = {} if args.warmup is None else {"warmup_steps": args.warmup}  # a served run's steps before measuring
    if (args.follow or args.play) and not args.students:
        raise UsageError("--follow and --play go with --students N: the class that follows or plays")
    if args.follow and args.play:
        raise UsageError("choose --follow or --play: one class activity per bench")
    if args.replicas and not args.viewers:
        raise UsageError("--replicas goes with --viewers V: the tabs that watch the hall's replicas")
    if args.alternate and (not args.viewers or args.replicas):
        raise UsageError("--alternate goes with --viewers N (one server): it alternates the class with nobody watching")
    if args.viewers and args.replicas:
        from gan_app.bench.replicas import bench_replicas

        for row in bench_replicas(args.replicas, args.viewers, seconds, preset.name, **served):
            print(json.dumps(row), flush=True)
    elif args.viewers:
        from gan_app.bench.viewers import bench_viewers

        for row in bench_viewers(args.viewers, seconds, preset.name, page=args.page, alternate=args.alternate or 0,
                                 **served):
            print(json.dumps(row), flush=True)
    elif args.find_burst:
        from gan_app.bench.find_burst import bench_find_burst

        window = {} if args.seconds is None else {"window_s": args.seconds}
        print(json.dumps(bench_find_burst(args.find_burst, preset=preset.name, chromium=args.chromium,
                                          **served, **window)))
    elif args.students and args.follow:
        from gan_app.bench.follow import bench_follow

        for row in bench_follow(args.students, seconds, preset.name, chromium=args.chromium, **served):
            print(json.dumps(row), flush=True)
    elif args.students and args.play:
        from gan_app.bench.play import bench_play

        for row in bench_play(args.students, seconds, preset.name, **served):
            print(json.dumps(row), flush=True)
    elif args.students:
        from gan_app.bench.students import bench_students

        for row in bench_students(args.students, seconds, preset.name, chromium=args.chromium, **served):
            print(json.dumps(row), flush=True)
    elif args.dashboard:
        print(json.dumps(bench.bench_dashboard(preset, seconds, **served)))
    elif args.latent:
        print(json.dumps(bench.bench_latent()))
    elif args.projection:
        print(json.dumps(bench.bench_projection(args.samples, args.export)))
    elif args.time_to_quality:
        print(json.dumps(bench.bench_time_to_quality(preset, args.budget_s, every=args.quality_every, precision=args.precision,
                                                     reference_steps_per_s=args.reference_steps_per_s or 0.0)))
    elif args.precisions:
        print(json.dumps(bench.bench_precisions(preset, args.steps, args.warmup or 3)))
    else:
        print(json.dumps(bench.bench_modes(preset, args.steps, args.warmup or 3, args.precision)))


def cmd_project(args: argparse.Namespace) -> None:
    import io
    import time

    from gan_app.runs.checkpoint import open_export
    from gan_app.models.classifier import QualityMeter
    from gan_app.data.drawing import decode, to_mnist
    from gan_app.core.files import atomic_write_bytes
    from gan_app.lab.inversion import STEPS, Projector

    t0 = time.perf_counter()
    if not args.image.is_file():
        raise UsageError(f"no image at {args.image}")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out: the folder {args.out.parent} does not exist")
    target = to_mnist(decode(args.image.read_bytes(), args.image.name), args.image.name)
    export = open_export(args.export)
    found = Projector(export.generator, export.meta).project(target, args.steps or STEPS, args.restarts, args.seed)
    buf = io.BytesIO()
    np.save(buf, found.z[None].astype(np.float32))
    atomic_write_bytes(args.out, buf.getvalue())
    probs = QualityMeter().features_and_probs(np.stack([target, found.image01]))[1]
    print(json.dumps({"export": export.name, "image": args.image.name, "out": str(args.out),
                      "mse": round(found.mse, 6), "seconds": round(found.seconds, 3),
                      "seconds_total": round(time.perf_counter() - t0, 3), "digit": found.digit,
                      "image_reads_as": int(probs[0].argmax()), "found_reads_as": int(probs[1].argmax())}))


def cmd_train_classifier(args: argparse.Namespace) -> None:
    from gan_app.models.classifier import CLASSIFIER_PATH, train_classifier

    info = train_classifier(epochs=args.epochs, seed=args.seed)
    print(f"wrote {CLASSIFIER_PATH}: held-out accuracy {info['held_out_accuracy']:.2%}")


def cmd_trainer(args: argparse.Namespace) -> None:
    from gan_app.broker.service import serve

    serve(args.broker, args.run, get_preset(args.preset).name)


COMMANDS = {"presets": cmd_presets, "train": cmd_train, "quality": cmd_quality, "bench": cmd_bench,
            "project": cmd_project, "train-classifier": cmd_train_classifier, "trainer": cmd_trainer}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in meta.json as the run's command
    try:
        import_tensorflow_quietly()
        COMMANDS[args.command](args)
    except GanAppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
