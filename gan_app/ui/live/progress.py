"""The Train page's numbers and curves as the live channel pushes them: plain JSON, built once
per snapshot and view for every tab that shows them (gan_app/ui/train/progress.py draws them).

A tab that reran the page's Python every few seconds for fresh curves cost the run about a
tenth of its speed at a hundred tabs: twenty script runs a second, each a dozen messages, and
every one new (the curves change every second). Pushed, the figures are encoded once per
snapshot and view and written to every tab whose interval is due, like the grid.

What a tab asks for is a `ChartView`: how often it takes the curves, their smoothing and whether
it shows D's loss in two parts. Every value comes from the socket's URL and is checked and
bounded here (a tab is untrusted), and the smoothing is rounded to the slider's step, so the
encodings a server keeps stay few.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Mapping

from gan_app.live.types import Snapshot
from gan_app.ui.live import charts
from gan_app.ui.shared import RENDERS

MIN_CHART_EVERY_S, MAX_CHART_EVERY_S = 1.0, 10.0  # what a tab may ask for (the page's slider offers the same)
MAX_SMOOTHING = 0.99


@dataclass(frozen=True)
class ChartView:
    """One tab's view of the curves: pushed every `every` seconds, EMA `smoothing`, with
    d_loss_real and d_loss_fake when `parts`."""

    every: float = 2.0
    smoothing: float = 0.6
    parts: bool = False

    def query(self) -> str:
        return f"charts={self.every:g}&smoothing={self.smoothing:g}&parts={int(self.parts)}"

    @classmethod
    def checked(cls, every: float, smoothing: float, parts: bool) -> ChartView:
        """The view with every value brought into its range (NaN and infinities to the default)."""
        every = every if math.isfinite(every) else cls.every
        smoothing = smoothing if math.isfinite(smoothing) else cls.smoothing
        return cls(every=min(MAX_CHART_EVERY_S, max(MIN_CHART_EVERY_S, round(every * 2) / 2)),
                   smoothing=min(MAX_SMOOTHING, max(0.0, round(smoothing, 2))), parts=bool(parts))

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> ChartView | None:
        """The view a socket's URL asks for; None when it asks for no curves (no `charts`)."""
        if "charts" not in params:
            return None
        try:
            every = float(params.get("charts", cls.every))
            smoothing = float(params.get("smoothing", cls.smoothing))
        except ValueError:
            every, smoothing = cls.every, cls.smoothing
        return cls.checked(every, smoothing, params.get("parts") == "1")


def finite(value: Any) -> Any:
    """`value` (JSON-like) with every NaN or infinity (a run whose losses blew up) as None: Python
    writes them into JSON as NaN, which a browser's JSON.parse refuses, whether the update goes
    over the live socket or into a component's data on a page run."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def compact_json(update: dict[str, Any]) -> str:
    """An update as the live socket sends it: compact JSON, written once for every tab."""
    return json.dumps(update, separators=(",", ":"))


def numbers(snap: Snapshot) -> list[list[str]]:
    """The status row: [label, value, help] each, formatted for display."""
    return [
        ["Step", f"{snap.step:,}", ""],
        ["steps/s", f"{snap.steps_per_s:.1f}", "wall clock over the last few seconds of training"],
        ["images/s", f"{snap.images_per_s:,.0f}", "generated images per second"],
        ["Elapsed", str(dt.timedelta(seconds=int(snap.elapsed_s))), "training time, pauses excluded"],
        ["State", snap.status, ""],
        ["Device", snap.device.split(" (")[0] or "?", snap.device],
    ]


@functools.cache
def real_floor() -> float | None:
    """The FID of real digits against real digits: the best a generator can reach."""
    from gan_app.models.classifier import classifier_info

    return classifier_info().get("real_floor_fid")


def _quality(snap: Snapshot) -> dict[str, Any]:
    """The FID curve, its caption and the digits histogram (they change once per measurement)."""
    if snap.quality_note:
        return {"quality_note": f"Sample quality is not available for this dataset: {snap.quality_note}.",
                "fid": None, "fid_caption": "", "histogram": None}
    out: dict[str, Any] = {"quality_note": "", "fid": None, "fid_caption": "", "histogram": None}
    if len(snap.quality_steps):
        fid, score, covered = snap.quality[-1]
        out["fid"] = charts.fid_figure(snap.quality_steps, snap.quality[:, 0], real_floor())
        asked = "" if snap.label_accuracy is None else f"label accuracy {snap.label_accuracy:.0%} (drawn as the digit asked for), "
        out["fid_caption"] = (f"Latest: FID {fid:.1f}, {asked}classifier score {score:.2f} (real digits about 10), "
                              f"{int(covered)} of 10 digits covered. Measuring costs {snap.quality_cost:.1%} of training time.")
    if snap.histogram:
        out["histogram"] = charts.histogram_figure(snap.histogram)
    return out


def progress_update(snap: Snapshot, view: ChartView) -> dict[str, Any]:
    """Everything the curves show, for one view: plotly figures as JSON (finite numbers only), and
    the quality's text."""
    update: dict[str, Any] = {"kind": "progress", "view": view.query(), "run": snap.run_id, "sent": time.time(),
                              "started": False, "loss": None, "d_output": None}
    key = (snap.run_id, len(snap.quality_steps), snap.quality_note, snap.histogram)
    update.update(RENDERS.get("quality", key, lambda: _quality(snap)))
    if len(snap.history_steps):
        names = ["d_loss", "g_loss"] + (["d_loss_real", "d_loss_fake"] if view.parts else [])
        update["started"] = True
        update["loss"] = charts.loss_figure(snap.history_steps, {name: snap.metric(name) for name in names},
                                            view.smoothing)
        update["d_output"] = charts.d_output_figure(snap.history_steps, snap.metric("d_real"), snap.metric("d_fake"),
                                                    view.smoothing)
    return finite(update)


def progress_key(snap: Snapshot, view: ChartView) -> tuple:
    """What a progress update depends on (not how often it is pushed)."""
    return (snap.run_id, snap.history_version, len(snap.quality_steps), snap.quality_note, view.smoothing, view.parts)


def encoded_progress(snap: Snapshot, view: ChartView) -> tuple[tuple, dict[str, Any], str]:
    """(key, update, its JSON text), built once for every tab with the same view of the same
    snapshot. The update is shared: nobody may change it."""

    def build() -> tuple[tuple, dict[str, Any], str]:
        update = progress_update(snap, view)
        return key, update, compact_json(update)

    key = progress_key(snap, view)
    return RENDERS.get("progress", key, build)
