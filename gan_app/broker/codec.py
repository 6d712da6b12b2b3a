"""What travels through a broker, as bytes: the trainer's snapshots (gan_app.live.types.Snapshot)
and copies of the live weights (gan_app.lab.model.GeneratorWeights). JSON with bytes and arrays tagged
(no pickle: nothing read from the broker can run code); arrays as .npy inside an .npz."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from gan_app.core.config import RunConfig
from gan_app.lab.model import GeneratorWeights
from gan_app.live.types import Snapshot

BIG = ("history_steps", "history", "frames")  # sent apart, only when they change (history_version, frames)


def _tag(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes": base64.b64encode(value).decode()}
    if isinstance(value, np.ndarray):
        return {"__array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_tag(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _tag(v) for k, v in value.items()}
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        if "__bytes" in value:
            return base64.b64decode(value["__bytes"])
        if "__array" in value:
            return np.asarray(value["__array"], dtype=value["dtype"])
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def core_bytes(snap: Snapshot) -> bytes:
    """The snapshot without its big parts (they travel apart, each only when it changed)."""
    core = {f.name: getattr(snap, f.name) for f in dataclasses.fields(snap) if f.name not in BIG}
    core["config"] = dataclasses.asdict(snap.config)
    core["run_dir"] = None if snap.run_dir is None else str(snap.run_dir)
    return json.dumps(_tag(core)).encode()


def history_bytes(snap: Snapshot) -> bytes:
    out = io.BytesIO()
    np.savez(out, steps=snap.history_steps, history=snap.history)
    return out.getvalue()


def frames_bytes(snap: Snapshot) -> bytes:
    return json.dumps(_tag(snap.frames)).encode()


def snapshot_parts(snap: Snapshot) -> tuple[bytes, bytes, bytes]:
    """(core, history, frames) of `snapshot_from`."""
    return core_bytes(snap), history_bytes(snap), frames_bytes(snap)


def snapshot_from(core: bytes, history: bytes | None, frames: bytes | None) -> Snapshot:
    """A snapshot from its parts (a part not given: empty)."""
    fields = {f.name for f in dataclasses.fields(Snapshot)}
    data = {k: v for k, v in _untag(json.loads(core)).items() if k in fields}
    known = {f.name for f in dataclasses.fields(RunConfig)}
    data["config"] = RunConfig(**{k: v for k, v in data["config"].items() if k in known})
    data["run_dir"] = None if data.get("run_dir") is None else Path(data["run_dir"])
    for name in ("grid_scores", "histogram"):
        data[name] = tuple(data.get(name) or ())
    if history:
        with np.load(io.BytesIO(history), allow_pickle=False) as arrays:
            data["history_steps"], data["history"] = arrays["steps"], arrays["history"]
    if frames:
        data["frames"] = _tuples(_untag(json.loads(frames)))
    return Snapshot(**data)


def weights_bytes(w: GeneratorWeights) -> bytes:
    """A copy of the live weights as one .npz (G's and D's arrays in order, and the facts)."""
    arrays = {f"g{i}": a for i, a in enumerate(w.weights)}
    if w.discriminator is not None:
        arrays.update({f"d{i}": a for i, a in enumerate(w.discriminator)})
    facts = {"preset": w.preset, "step": w.step, "version": w.version, "run_id": w.run_id, "noise": w.noise,
             "output_min": w.output_min, "output_max": w.output_max, "g": len(w.weights),
             "d": None if w.discriminator is None else len(w.discriminator)}
    out = io.BytesIO()
    np.savez(out, facts=np.frombuffer(json.dumps(facts).encode(), np.uint8), **arrays)
    return out.getvalue()


def weights_from(data: bytes) -> GeneratorWeights:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        facts = json.loads(arrays["facts"].tobytes())
        g = tuple(arrays[f"g{i}"] for i in range(facts["g"]))
        d = None if facts["d"] is None else tuple(arrays[f"d{i}"] for i in range(facts["d"]))
    return GeneratorWeights(facts["preset"], facts["step"], facts["version"], facts["run_id"], g, facts["noise"],
                            facts["output_min"], facts["output_max"], d)
