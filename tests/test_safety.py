"""What a careless or hostile user can do does not hurt the run, its files or the shipped models:
an .npz bomb is refused before it is unpacked, two writers never share a run directory, `--out`
never overwrites a run, and the dashboard's Export never replaces a shipped model or a run."""

import hashlib
import io
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from gan_app.cli import main
from gan_app.data import load_dataset
from gan_app.data_npz import MAX_NPZ_IMAGES, UPLOAD_NPZ_IMAGES
from gan_app.errors import DatasetError, GanAppError

ROOT = Path(__file__).resolve().parent.parent
BOMB_IMAGES = 2_000_000


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def bomb_npz(images: int = BOMB_IMAGES) -> bytes:
    """An .npz whose 'x' is `images` zero images (1.5 GB for 2,000,000) compressed to ~1.5 MB.

    Zeros compressed after a full flush give the same bytes every time, so the stream is one
    compressed block repeated: built in a fraction of a second without the 1.5 GB in memory."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (images, 28, 28)})
    chunk_images = 20_000
    assert images % chunk_images == 0
    chunk = bytes(chunk_images * 28 * 28)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as zip stores it
    head = packer.compress(header.getvalue()) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    n = images // chunk_images
    data = head + block * n + packer.flush(zlib.Z_FINISH)
    crc = zlib.crc32(header.getvalue())
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    size = len(header.getvalue()) + len(chunk) * n
    name = b"x.npy"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(name),
                          0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    path.write_bytes(bomb_npz())
    return path


def test_the_bomb_is_what_it_claims(bomb):
    import zipfile

    info = zipfile.ZipFile(bomb).getinfo("x.npy")
    assert bomb.stat().st_size < 2 * 2**20 and info.file_size > 1.5e9  # 1.5 MB that unpacks to 1.5 GB
    small = bomb.with_name("small.npz")
    small.write_bytes(bomb_npz(40_000))  # the same recipe, small enough to load: a valid .npz
    with np.load(small, allow_pickle=False) as f:
        assert f["x"].shape == (40_000, 28, 28) and not f["x"].any()


def test_an_npz_bomb_is_refused_from_its_header_in_bounded_memory(bomb):
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as err:
            load_dataset(str(bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(err.value)
    assert msg == f"bomb.npz holds {BOMB_IMAGES:,} images, over the {MAX_NPZ_IMAGES:,}-image limit for an .npz dataset; nothing was loaded"
    assert peak < 8 * 2**20  # numpy reports its allocations: loading 'x' would show 1.5 GB


def test_the_cli_refuses_an_npz_bomb_in_one_line_exit_2(bomb, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--steps", "2", "--dataset", str(bomb), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bomb.npz" in err and f"{MAX_NPZ_IMAGES:,}-image limit" in err, err
    assert not out.exists() or not any(out.iterdir())


def test_the_dashboard_refuses_an_npz_bomb_and_an_npz_over_its_limit(bomb):
    from gan_app.ui.dataset_upload import _convert

    with pytest.raises(GanAppError, match=f"holds {BOMB_IMAGES:,} images, over the {UPLOAD_NPZ_IMAGES:,}-image limit"):
        _convert("bomb.npz", bomb.read_bytes(), 64)
    over = bomb_npz(UPLOAD_NPZ_IMAGES + 20_000)  # fine for the CLI, too many for an upload
    with pytest.raises(GanAppError, match=f"holds {UPLOAD_NPZ_IMAGES + 20_000:,} images"):
        _convert("over.npz", over, 64)


@pytest.mark.parametrize("arrays,expected", [
    ({"x": np.zeros((3, 28, 28), np.uint8), "y": np.array([object(), 1, 2], dtype=object)}, "Python objects"),
    ({"x": np.zeros((3, 28, 28), np.complex128)}, "dtype complex128"),
    ({"x": np.zeros((3, 28, 28), np.uint8), "junk": np.zeros(10 * 28 * 28 + 1)}, "'junk' has shape"),
    ({"x": np.zeros((3, 28, 28), np.uint8), "y": np.zeros(11, np.int64)}, "'y' has shape"),
    ({"x": np.zeros((11, 28, 28), np.uint8)}, "holds 11 images, over the 10-image limit"),
])
def test_an_npz_is_checked_array_by_array_before_loading(tmp_path, arrays, expected):
    from gan_app.data import load_npz

    path = tmp_path / "odd.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=expected) as err:
        load_npz(path, max_images=10)
    assert "\n" not in str(err.value) and "odd.npz" in str(err.value)
