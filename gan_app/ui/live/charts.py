"""Plotly figures of a run's history, as plotly's JSON (plain dicts): pure functions of numpy
arrays, no Streamlit, no plotly import.

Every watching tab is shown the same few figures, pushed over the live channel and drawn by
plotly.js in the tab (gan_app/ui/train/progress.py). Building them through plotly's graph
objects validated every property each time and cost tens of milliseconds per figure; these
dicts cost well under one, and the tests hand each of them to `go.Figure`, which checks them
against plotly's schema. They carry no template: the tab styles them to the page's theme."""

from __future__ import annotations

import base64

import numpy as np

MAX_DRAWN_POINTS = 500  # per curve, whatever the run's length (a chart is about as many pixels wide)
EMA_BLOCK = 1024  # ema() solves its recurrence this many points at a time


def ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """TensorBoard-style exponential moving average with debiasing; smoothing in [0, 1).
    A value that is not finite is kept as it is and leaves the average unchanged."""
    values = np.asarray(values, np.float64)
    if smoothing <= 0 or len(values) == 0:
        return values
    finite = np.isfinite(values)
    decay = np.where(finite, smoothing, 1.0)
    total = _linear_recurrence(decay, np.where(finite, (1 - smoothing) * values, 0.0), smoothing)
    weight = _linear_recurrence(decay, np.where(finite, 1 - smoothing, 0.0), smoothing)
    out = values.copy()
    np.divide(total, weight, out=out, where=finite)
    return out


def _linear_recurrence(a: np.ndarray, b: np.ndarray, smoothing: float) -> np.ndarray:
    """x[t] = a[t] * x[t-1] + b[t], x[-1] = 0, with every a in [smoothing, 1], in blocks:
    inside one, x[t] = A[t] * (carry + sum(b[i] / A[i], i <= t)) with A the running product of
    a. A block is short enough that A stays far from underflow (smoothing ** length >= 1e-150)."""
    length = EMA_BLOCK if smoothing >= 0.9 else max(1, min(EMA_BLOCK, int(150 / -np.log10(smoothing))))
    out = np.empty_like(b)
    carry = 0.0
    for start in range(0, len(b), length):
        product = np.cumprod(a[start : start + length])
        block = product * (carry + np.cumsum(b[start : start + length] / product))
        out[start : start + length] = block
        carry = block[-1]
    return out


def downsample(x: np.ndarray, *ys: np.ndarray, max_points: int = MAX_DRAWN_POINTS) -> tuple[np.ndarray, ...]:
    """Every k-th point so at most max_points are drawn; the last point is always kept."""
    if len(x) <= max_points:
        return (x, *ys)
    idx = np.unique(np.r_[np.linspace(0, len(x) - 1, max_points).astype(int), len(x) - 1])
    return (x[idx], *(y[idx] for y in ys))


def _typed(values: np.ndarray) -> dict:
    """An array as plotly's JSON carries it (base64 of little-endian float32: the curves are
    drawn, not computed with)."""
    return {"dtype": "f4", "bdata": base64.b64encode(np.asarray(values, "<f4").tobytes()).decode("ascii")}


def _layout(title: str, x_title: str, y_title: str, height: int) -> dict:
    return {"title": {"text": title}, "height": height,
            "xaxis": {"title": {"text": x_title}}, "yaxis": {"title": {"text": y_title}},
            "margin": {"l": 40, "r": 10, "t": 40, "b": 40}}


def _hline(y: float) -> dict:
    return {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
            "line": {"color": "gray", "dash": "dash"}}


def _figure(title: str, y_title: str) -> dict:
    layout = _layout(title, "step", y_title, 320)
    layout["legend"] = {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0}
    layout["uirevision"] = "keep"  # zoom survives the refresh
    return {"data": [], "layout": layout}


def _lines(fig: dict, steps: np.ndarray, series: dict[str, np.ndarray], smoothing: float) -> dict:
    for name, values in series.items():
        x, y = downsample(steps, ema(values, smoothing))
        fig["data"].append({"type": "scatter", "mode": "lines", "name": name, "x": _typed(x), "y": _typed(y)})
    return fig


def loss_figure(steps: np.ndarray, losses: dict[str, np.ndarray], smoothing: float = 0.6) -> dict:
    """d_loss and g_loss (and optionally d_loss_real / d_loss_fake) against step."""
    return _lines(_figure("Losses", "loss"), steps, losses, smoothing)


def d_output_figure(steps: np.ndarray, d_real: np.ndarray, d_fake: np.ndarray, smoothing: float = 0.6) -> dict:
    """Mean D(x) and D(G(z)) with the 0.5 line where D can no longer tell them apart."""
    fig = _lines(_figure("Discriminator outputs", "mean D"), steps, {"D(x)": d_real, "D(G(z))": d_fake}, smoothing)
    fig["layout"]["shapes"] = [_hline(0.5)]
    fig["layout"]["annotations"] = [{"text": "equilibrium 0.5", "showarrow": False, "xref": "x domain", "x": 1,
                                     "xanchor": "right", "yref": "y", "y": 0.5, "yanchor": "bottom"}]
    fig["layout"]["yaxis"]["range"] = [0, 1]
    return fig


def fid_figure(steps: np.ndarray, fid: np.ndarray, floor: float | None = None) -> dict:
    """Classifier FID against step (lower is better), with the real-vs-real floor if known."""
    fig = _lines(_figure("Sample quality: classifier FID (lower is better)", "FID"), steps, {"FID": fid}, 0.0)
    fig["data"][0]["mode"] = "lines+markers"
    if floor is not None and len(steps):
        # a trace, not a line with an annotation: plotly places annotations on log axes in log10 units
        fig["data"].append({"type": "scatter", "mode": "lines", "name": f"real digits {floor:.1f}",
                            "x": [float(steps[0]), float(steps[-1])], "y": [floor, floor],
                            "line": {"dash": "dot", "color": "green"}})
    values = np.r_[np.asarray(fid, np.float64), [floor] if floor is not None else []]
    values = values[np.isfinite(values)]  # a measurement of a run gone to NaN has no place on the axis
    ticks = log_ticks(float(values.min()), float(values.max())) if len(values) else []
    # plotly's own log ticks label 200 as a lone "2"; a class reads whole numbers
    fig["layout"]["yaxis"].update(type="log", tickmode="array", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    return fig


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks covering [lo, hi] (one below and one above), for a log axis."""
    lo, hi = max(lo, 1e-3), max(hi, lo)
    ticks = []
    for exponent in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1):
        ticks += [m * 10.0**exponent for m in (1, 2, 5)]
    below = [t for t in ticks if t <= lo]
    above = [t for t in ticks if t >= hi]
    return [t for t in ticks if (below[-1] if below else lo) <= t <= (above[0] if above else hi)]


def histogram_figure(shares: tuple[float, ...] | np.ndarray, threshold: float = 0.02) -> dict:
    """Share of generated samples classified as each digit: mode collapse made visible."""
    shares = np.asarray(shares, np.float64)
    colors = ["#1f77b4" if s >= threshold else "#d62728" for s in shares]
    covered = int(np.sum(shares >= threshold))
    layout = _layout(f"Which digits G draws: {covered} of 10 covered", "digit (reference classifier)",
                     "share of samples", 260)
    layout["yaxis"]["tickformat"] = ".0%"
    layout["shapes"] = [_hline(0.1)]
    return {"data": [{"type": "bar", "x": [str(d) for d in range(10)], "y": [float(s) for s in shares],
                      "marker": {"color": colors}}], "layout": layout}
