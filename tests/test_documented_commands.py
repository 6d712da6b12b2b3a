"""Every `python -m gan_app ...` line in a code block of README.md or docs/*.md runs as written,
with small budgets, and exits 0 (or the exit code its comment documents) without a traceback.

How a documented line becomes the command that runs (the mapping below, kept small on purpose):

- `[...]` optional parts are included; `a|b|c` takes `a`; a repeat marker (`[N ...]`) is dropped.
- Budgets shrink (`SMALL`): training steps become a thousandth (at least 2, so order is kept:
  `--steps 5000` then `--resume ... --steps 8000` become 5 and 8), seconds, budgets, epochs and
  samples become 1 (quality samples 100), class sizes become 1 (a 0 stays 0 for `--viewers`, the
  baseline row's code path, which `--students` shares). Where a line leaves them out (`ADDED`),
  bench lines get `--warmup 1`, `--seconds 1` and `--quality-every 50`, train lines
  `--quality-samples 100`.
- Placeholders take small values (`PLACEHOLDERS`) and named paths (`checkpoints/my-run`, `DIR`,
  `W`, `C`, `digit.png`, `IMAGE`, `z.npy`) become files of a scratch folder; the shipped
  `checkpoints/mnist5k-*` models are read where they are.
- A bench mode that starts dashboard servers (`SERVED`) runs once: its documented lines are
  merged into one command (class sizes united, every option of every line).
- `train-classifier` runs through `python -m gan_app` on a copy of the package, so the shipped
  classifier is never rewritten; the other lines run `gan_app.cli.main` in this process (what
  `python -m gan_app` calls), which saves a TensorFlow start-up per line.

A documented line with an option, placeholder or path the mapping does not know fails
`test_every_documented_command_is_mapped`: extend the mapping with the new command.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# bench modes that start dashboard servers: each runs once, its documented lines merged
SERVED = ("--viewers", "--students", "--find-burst", "--dashboard")
# flags that take no value
FLAGS = {"--json", "--chromium", "--dashboard", "--latent", "--precisions", "--projection", "--time-to-quality",
         "--follow", "--play"}
# placeholders of option values (the docs' metavars)
PLACEHOLDERS = {"P": "fast", "D": "mnist5k", "B": "16", "K": "1", "M": "1", "S": "0", "E": "1", "R": "1",
                "X": "float32", "LR": "0.0005", "DECAY": "0.99", "GAMMA": "1", "T": "1", "N": "1"}
# paths the docs name, as files of the scratch folder (None: read where it is, in the repository)
PATHS = {"checkpoints/my-run": "my-run", "DIR": "DIR", "W": "W", "C": "C", "digit.png": "digit.png",
         "IMAGE": "digit.png", "z.npy": "z.npy", "Z.npy": "z.npy",
         "checkpoints/mnist5k-wide": None, "checkpoints/mnist5k-conditional": None}


def _steps(command: str, value: str, resumed: bool) -> str:
    if command != "train":
        return "2" if command == "project" else "1"  # project: steps per start; bench: timed steps
    if value == "N":
        return "3" if resumed else "2"
    return str(max(2, math.ceil(int(value) / 1000)))


def _class(value: str) -> str:
    return "1" if value in ("N", "V") or int(value) > 0 else "0"


# option -> small value, given (command, documented value, whether the line resumes a run)
SMALL = {
    "--steps": _steps,
    "--seconds": lambda c, v, r: "1",
    "--budget-s": lambda c, v, r: "1",
    "--reference-steps-per-s": lambda c, v, r: "1",
    "--epochs": lambda c, v, r: "1",
    "--samples": lambda c, v, r: "100" if c == "quality" else "1",
    "--quality-samples": lambda c, v, r: "100",
    "--viewers": lambda c, v, r: _class(v),
    "--students": lambda c, v, r: "1",  # a 0 would cost one more server and Chromium for what --viewers 0 runs
    "--find-burst": lambda c, v, r: "1",
    "--replicas": lambda c, v, r: "1",
    "--broker": lambda c, v, r: BROKER,  # the test's own Redis (`trainer` runs until it is stopped)
}
# options kept as written (a placeholder takes its PLACEHOLDERS value)
AS_WRITTEN = {"--preset", "--dataset", "--batch-size", "--saving-interval", "--checkpoint-every", "--quality-every",
              "--seed", "--mode", "--precision", "--loss", "--k", "--d-lr", "--g-lr", "--ema", "--r1", "--restarts",
              "--page", "--warmup", "--alternate"}
PATH_OPTIONS = {"--out", "--resume", "--run"}
COMMANDS = {"presets", "train", "quality", "project", "train-classifier", "bench", "trainer"}
BROKER = "redis://BROKER"  # replaced by the URL of a redis-server started for the run
# options added where a line leaves them out: bench's steps before timing, its measuring time and
# the steps between its FID measurements; the samples a run measures its quality on
ADDED = {"bench": {"--warmup": "1", "--seconds": "1", "--quality-every": "50"}, "train": {"--quality-samples": "100"}}


@dataclass
class Documented:
    where: str  # README.md:190
    text: str  # the line as documented, continuation lines joined
    expect: int = 0  # the exit code its comment documents, else 0

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def documented_lines() -> list[Documented]:
    """Every `... -m gan_app ...` line inside a ``` block of the README and docs/*.md."""
    found = []
    for doc in DOCS:
        in_block, pending, start = False, "", 0
        for i, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_block, pending = not in_block, ""
                continue
            if not in_block:
                continue
            if not pending:
                start = i
            code, _, comment = (pending + " " + line.strip()).partition(" #")
            if code.rstrip().endswith("\\"):
                pending = code.rstrip()[:-1]
                continue
            pending = ""
            if re.match(r"(\S*/)?python3?\s+-m gan_app\b", code.strip()):
                exit_code = re.search(r"exit code (\d+)", comment)
                found.append(Documented(f"{doc.relative_to(ROOT)}:{start}", " ".join(code.split()),
                                        int(exit_code.group(1)) if exit_code else 0))
    return found


def _tokens(text: str) -> list[str]:
    """The documented arguments after `-m gan_app`, optional parts opened, alternatives decided."""
    words = shlex.split(text.split("-m gan_app", 1)[1])
    out, group, depth = [], [], 0
    for word in words:
        opens, closes = word.count("["), word.count("]")
        word = word.strip("[]")
        if depth or opens:
            group.append(word)
        else:
            out.append(word)
        depth += opens - closes
        if group and depth == 0:
            if "..." not in group:  # a repeat marker such as [N ...]: the documented value is enough
                out.extend(group)
            group = []
    return [w.split("|")[0] for w in out if w]


class Unmapped(Exception):
    pass


def mapped(line: Documented, scratch: Path) -> list[str]:
    """The small command for a documented line; Unmapped when the mapping does not cover it."""
    words = _tokens(line.text)
    if not words or words[0] not in COMMANDS:
        raise Unmapped(f"unknown command {words[:1]}")
    command, rest, argv = words[0], words[1:], [words[0]]
    resumed = "--resume" in rest
    i = 0

    def path(word: str) -> str:
        if word not in PATHS:
            raise Unmapped(f"unknown path or placeholder {word!r}")
        return str(ROOT / word) if PATHS[word] is None else str(scratch / PATHS[word])

    while i < len(rest):
        word = rest[i]
        if not word.startswith("--"):
            argv.append(path(word))  # a positional: quality DIR, project DIR IMAGE
            i += 1
            continue
        if word in FLAGS:
            argv.append(word)
            i += 1
            continue
        values = []
        while i + 1 < len(rest) and not rest[i + 1].startswith("--") and (not values or word in ("--viewers", "--students")):
            values.append(rest[i + 1])
            i += 1
        i += 1
        if not values:
            raise Unmapped(f"{word} without a value")
        if word in SMALL:
            try:
                values = [SMALL[word](command, v, resumed) for v in values]
            except ValueError:
                raise Unmapped(f"unknown placeholder {values} of {word}") from None
        elif word in AS_WRITTEN:
            values = [PLACEHOLDERS.get(v, v) for v in values]
        elif word in PATH_OPTIONS:
            values = [path(v) for v in values]
        else:
            raise Unmapped(f"unknown option {word}")
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", values[0]):
            raise Unmapped(f"unknown placeholder {values[0]} of {word}")
        argv += [word, *dict.fromkeys(values)]
    for option, value in ADDED.get(command, {}).items():
        if option not in argv:
            argv += [option, value]
    return argv


def _served_mode(argv: list[str]) -> str | None:
    mode = next((w for w in argv if w in SERVED), None) if argv[0] == "bench" else None
    if mode == "--viewers" and "--replicas" in argv:
        return "--viewers --replicas"  # a lecture hall: a bench of its own
    if mode == "--viewers" and "--alternate" in argv:
        return "--viewers --alternate"  # one server, the class coming and going: a bench of its own
    activity = next((w for w in ("--follow", "--play") if w in argv), None)
    return f"{mode} {activity}" if mode == "--students" and activity else mode  # a bench of its own


def merge(argvs: list[list[str]]) -> list[str]:
    """One command for a served mode's lines: every option of every line, class sizes united."""
    options: dict[str, list[str]] = {}
    for argv in argvs:
        i = 1
        while i < len(argv):
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                j += 1
            values = argv[i + 1 : j]
            if argv[i] in ("--viewers", "--students"):
                values = sorted(set(options.get(argv[i], [])) | set(values), key=int)
            options[argv[i]] = values
            i = j
    return ["bench", *[w for option, values in options.items() for w in (option, *values)]]


LINES = documented_lines()


@dataclass
class Plan:
    runs: list[tuple[list[str], list[Documented]]] = field(default_factory=list)  # in documented order


def plan(scratch: Path) -> Plan:
    p, served = Plan(), {}
    for line in LINES:
        argv = mapped(line, scratch)
        mode = _served_mode(argv)
        if mode:
            if mode not in served:
                served[mode] = ([], [])
                p.runs.append(served[mode])
            served[mode][0].append(argv)
            served[mode][1].append(line)
            continue
        same = next((run for run in p.runs if run[0] == argv), None)
        if same is not None:
            same[1].append(line)  # the same small command: run once
        else:
            p.runs.append((argv, [line]))
    p.runs = [(merge(argv) if argv and isinstance(argv[0], list) else argv, lines) for argv, lines in p.runs]
    return p


def test_the_docs_show_commands():
    assert len(LINES) >= 20 and any("README" in line.where for line in LINES)


@pytest.mark.parametrize("line", LINES, ids=str)
def test_every_documented_command_is_mapped(line, tmp_path):
    try:
        mapped(line, tmp_path)
    except Unmapped as exc:
        pytest.fail(f"{line}: {exc}; extend the mapping of tests/test_documented_commands.py")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("documented")
    digit = np.load(ROOT / "gan_app" / "data" / "mnist_5k.npz")["x"][7]  # uint8, white on black
    Image.fromarray(255 - digit).resize((112, 112)).save(folder / "digit.png")  # dark on light, as drawn on paper
    return folder


def _run_in_process(argv: list[str]) -> tuple[int, str]:
    from gan_app.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue()


def _run_on_a_copy_of_the_package(argv: list[str], scratch: Path) -> tuple[int, str]:
    """`python -m gan_app ...` with a copy of gan_app first on the path: what it writes into the
    package (the reference classifier) lands in the copy."""
    copy = scratch / "package"
    if not copy.exists():
        shutil.copytree(ROOT / "gan_app", copy / "gan_app", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy), "GAN_APP_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run([sys.executable, "-m", "gan_app", *argv], cwd=scratch, env=env, capture_output=True,
                         text=True, timeout=300)
    return res.returncode, res.stdout + res.stderr


def _run_a_trainer(argv: list[str], scratch: Path) -> tuple[int, str]:
    """`trainer` serves until stopped: with a redis-server of its own, until it is online, then
    SIGTERM (as Ctrl-C); it must exit 0 having said what it serves."""
    from gan_app.bench.hall import RedisServer, TrainerProcess

    with RedisServer() as redis:
        argv = [redis.url if word == BROKER else word for word in argv]
        trainer = TrainerProcess(redis.url, scratch / "unused")
        trainer.args = [sys.executable, "-m", "gan_app", *argv]
        trainer.log_path = scratch / "trainer.log"
        with trainer:
            trainer.wait_online(redis.url)
        output = trainer.log_path.read_text(errors="replace")
        return trainer.proc.returncode, output if "trainer: serving" in output else output + "\n(it never said it serves)"


def test_every_documented_command_runs(scratch, monkeypatch):
    monkeypatch.setenv("GAN_APP_OFFLINE", "1")
    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(scratch / "checkpoints"))
    monkeypatch.chdir(ROOT)
    classifier = (ROOT / "gan_app" / "data" / "classifier.keras").read_bytes()
    failures = []
    for argv, lines in plan(scratch).runs:
        expect = {line.expect for line in lines}
        t0 = time.monotonic()
        if argv[0] == "train-classifier":
            code, output = _run_on_a_copy_of_the_package(argv, scratch)
        elif argv[0] == "trainer":
            code, output = _run_a_trainer(argv, scratch)
        else:
            code, output = _run_in_process(argv)
        print(f"{time.monotonic() - t0:6.1f} s  {shlex.join(argv)}")  # shown with -s, or on failure
        if code not in expect or "Traceback" in output:
            failures.append(f"{' | '.join(map(str, lines))}\n  ran: {shlex.join(argv)}\n  exit {code}, "
                            f"expected {sorted(expect)}\n  {output[-2000:]}")
    assert (ROOT / "gan_app" / "data" / "classifier.keras").read_bytes() == classifier
    assert not failures, "\n\n".join(failures)
    assert np.load(scratch / "z.npy").shape[0] == 1  # project wrote z
