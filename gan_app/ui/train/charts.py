"""Plotly figures of a run's history: pure functions of numpy arrays, no Streamlit."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

MAX_DRAWN_POINTS = 500  # per curve, whatever the run's length (a chart is about as many pixels wide)


class SharedFigure(go.Figure):
    """A finished figure shown to many viewers. Streamlit asks every figure for `to_dict()` on
    every call, which deep-copies it; this one prepares that dict once and hands it out as is
    (Streamlit only reads it)."""

    def __init__(self, figure: go.Figure) -> None:
        super().__init__(figure)
        self._as_dict = figure.to_dict()

    def to_dict(self) -> dict:
        return self._as_dict


def ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """TensorBoard-style exponential moving average with debiasing; smoothing in [0, 1)."""
    values = np.asarray(values, np.float64)
    if smoothing <= 0 or len(values) == 0:
        return values
    out = np.empty_like(values)
    last, weight = 0.0, 0.0
    for i, v in enumerate(values):
        if not np.isfinite(v):
            out[i] = v
            continue
        last = smoothing * last + (1 - smoothing) * v
        weight = smoothing * weight + (1 - smoothing)
        out[i] = last / weight
    return out


def downsample(x: np.ndarray, *ys: np.ndarray, max_points: int = MAX_DRAWN_POINTS) -> tuple[np.ndarray, ...]:
    """Every k-th point so at most max_points are drawn; the last point is always kept."""
    if len(x) <= max_points:
        return (x, *ys)
    idx = np.unique(np.r_[np.linspace(0, len(x) - 1, max_points).astype(int), len(x) - 1])
    return (x[idx], *(y[idx] for y in ys))


def _figure(title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=title,
        xaxis_title="step",
        yaxis_title=y_title,
        height=320,
        margin=dict(l=40, r=10, t=40, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        uirevision="keep",  # zoom survives the once-a-second refresh
    )
    return fig


def _lines(fig: go.Figure, steps: np.ndarray, series: dict[str, np.ndarray], smoothing: float) -> go.Figure:
    for name, values in series.items():
        x, y = downsample(steps, ema(values, smoothing))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name))
    return fig


def loss_figure(steps: np.ndarray, losses: dict[str, np.ndarray], smoothing: float = 0.6) -> go.Figure:
    """d_loss and g_loss (and optionally d_loss_real / d_loss_fake) against step."""
    return _lines(_figure("Losses", "loss"), steps, losses, smoothing)


def d_output_figure(steps: np.ndarray, d_real: np.ndarray, d_fake: np.ndarray, smoothing: float = 0.6) -> go.Figure:
    """Mean D(x) and D(G(z)) with the 0.5 line where D can no longer tell them apart."""
    fig = _lines(_figure("Discriminator outputs", "mean D"), steps, {"D(x)": d_real, "D(G(z))": d_fake}, smoothing)
    fig.add_hline(y=0.5, line_dash="dash", line_color="gray", annotation_text="equilibrium 0.5")
    fig.update_yaxes(range=[0, 1])
    return fig


def fid_figure(steps: np.ndarray, fid: np.ndarray, floor: float | None = None) -> go.Figure:
    """Classifier FID against step (lower is better), with the real-vs-real floor if known."""
    fig = _lines(_figure("Sample quality: classifier FID (lower is better)", "FID"), steps, {"FID": fid}, 0.0)
    fig.data[0].mode = "lines+markers"
    if floor is not None and len(steps):
        # a trace, not add_hline's annotation: plotly places annotations on log axes in log10 units
        fig.add_trace(go.Scatter(x=[steps[0], steps[-1]], y=[floor, floor], mode="lines", name=f"real digits {floor:.1f}",
                                 line=dict(dash="dot", color="green")))
    values = np.r_[np.asarray(fid, np.float64), [floor] if floor is not None else []]
    ticks = log_ticks(float(np.nanmin(values)), float(np.nanmax(values))) if len(values) else []
    # plotly's own log ticks label 200 as a lone "2"; a class reads whole numbers
    fig.update_yaxes(type="log", tickmode="array", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
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


def histogram_figure(shares: tuple[float, ...] | np.ndarray, threshold: float = 0.02) -> go.Figure:
    """Share of generated samples classified as each digit: mode collapse made visible."""
    shares = np.asarray(shares, np.float64)
    colors = ["#1f77b4" if s >= threshold else "#d62728" for s in shares]
    fig = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=shares, marker_color=colors))
    covered = int(np.sum(shares >= threshold))
    fig.update_layout(title=f"Which digits G draws: {covered} of 10 covered", xaxis_title="digit (reference classifier)",
                      yaxis_title="share of samples", height=260, margin=dict(l=40, r=10, t=40, b=40),
                      yaxis=dict(tickformat=".0%"))
    fig.add_hline(y=0.1, line_dash="dash", line_color="gray")
    return fig
