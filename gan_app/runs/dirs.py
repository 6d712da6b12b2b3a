"""What may be written where: a new run never goes into a folder that holds a run or an export,
and the dashboard's Export never replaces a shipped model, a run, a folder another process
trains, or a model it did not export itself (an earlier export of its own only when the
presenter asks to replace it). Every refusal is one line, before anything is written."""

from __future__ import annotations

from pathlib import Path

from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT, STATE_DIR, CheckpointError, read_meta
from gan_app.core.errors import UsageError
from gan_app.runs.lock import check_free

RUN_FILES = ("metrics.csv", "quality.csv", "meta.json", "generator.keras", "discriminator.keras", STATE_DIR,
             "samples", "logs")  # what a run or an export leaves in its folder
SHIPPED_NAMES = (SHIPPED_EXPORT.name, SHIPPED_CONDITIONAL.name)
DASHBOARD_EXPORT = "dashboard"  # meta.json's `exported_by` in exports the dashboard wrote


def holds_run(directory: Path) -> bool:
    """Does `directory` hold a run or an export (anything a new run would overwrite)?"""
    directory = Path(directory)
    return directory.is_dir() and any((directory / name).exists() for name in RUN_FILES)


def check_new_run_dir(directory: Path) -> None:
    """UsageError, before anything is written, when a new run would overwrite one in `directory`."""
    shipped = {p.resolve() for p in (SHIPPED_EXPORT, SHIPPED_CONDITIONAL)}
    if Path(directory).resolve() in shipped:
        raise UsageError(f"{directory} is a model shipped with the app; nothing was changed. Choose a new --out")
    if holds_run(directory):
        raise UsageError(f"{directory} already holds a run; nothing was changed. Continue it with "
                         f"--resume {directory}, or choose a new --out")


def is_own_export(directory: Path) -> bool:
    """An export the dashboard wrote (its meta.json says so), and nothing of a run beside it."""
    directory = Path(directory)
    if any((directory / name).exists() for name in ("metrics.csv", "quality.csv", STATE_DIR, "samples", "logs")):
        return False
    try:
        return read_meta(directory / "meta.json").get("exported_by") == DASHBOARD_EXPORT
    except CheckpointError:
        return False


def check_export_target(directory: Path, replace: bool = False) -> None:
    """UsageError with one line when the dashboard must not export to `directory`; an earlier
    export of the dashboard's own is replaced only with `replace`."""
    directory = Path(directory)
    shipped = {p.resolve() for p in (SHIPPED_EXPORT, SHIPPED_CONDITIONAL)}
    if directory.name in SHIPPED_NAMES or directory.resolve() in shipped:
        raise UsageError(f"{directory.name} is the name of a model shipped with the app; choose another export name")
    check_free(directory)  # a run another process trains right now
    if not holds_run(directory):
        return
    if not is_own_export(directory):
        raise UsageError(f"{directory.name} already holds a run or a model this dashboard did not export; "
                         "choose another export name")
    if not replace:
        raise UsageError(f"{directory.name} holds an earlier export of this dashboard; tick \"Replace an earlier "
                         "export\" to replace it, or choose another export name")
