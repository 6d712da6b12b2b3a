import numpy as np
import pytest

from gan_app.data.datasets import load_dataset, scale_to_range, to_unit_range
from gan_app.core.errors import DatasetError


def test_offline_default_is_the_shipped_5k_sample(mnist5k):
    assert mnist5k.x.shape == (5000, 28, 28, 1) and mnist5k.x.dtype == np.float32
    assert 0.0 == mnist5k.x.min() and mnist5k.x.max() == 1.0
    assert np.bincount(mnist5k.y).tolist() == [500] * 10
    assert mnist5k.is_digits


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (0.0, 1.0)])
def test_images_scale_to_the_generator_range_and_back(mnist5k, lo, hi):
    scaled = scale_to_range(mnist5k.x[:10], lo, hi)
    assert scaled.min() == lo and scaled.max() == hi
    np.testing.assert_allclose(to_unit_range(scaled, lo, hi), mnist5k.x[:10], atol=1e-6)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_downloadable_sets_fail_offline_with_one_line_naming_the_offline_choice(name, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DatasetError) as err:
        load_dataset(name)
    msg = str(err.value)
    assert "\n" not in msg and "mnist5k" in msg and name in msg


def test_local_npz_uint8_with_channel_axis_and_labels(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (20, 28, 28, 1), dtype=np.uint8)
    np.savez(tmp_path / "mine.npz", x=x, y=np.arange(20) % 10)
    ds = load_dataset(str(tmp_path / "mine.npz"))
    assert ds.x.shape == (20, 28, 28, 1) and ds.y.tolist()[:3] == [0, 1, 2]
    np.testing.assert_allclose(ds.x[..., 0], x[..., 0] / 255.0, atol=1e-6)
    assert not ds.is_digits


def test_local_npz_float_0_to_1_without_labels(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.full((3, 28, 28), 0.5, np.float32))
    ds = load_dataset(str(tmp_path / "f.npz"))
    assert ds.y is None and float(ds.x.max()) == 0.5


@pytest.mark.parametrize(
    "arrays,expected",
    [
        ({"images": np.zeros((3, 28, 28), np.uint8)}, "no 'x'"),
        ({"x": np.zeros((3, 32, 32), np.uint8)}, "shape (3, 32, 32)"),
        ({"x": np.zeros((3, 28, 28), np.int32)}, "dtype int32"),
        ({"x": np.full((3, 28, 28), np.nan, np.float32)}, "NaN"),
        ({"x": np.zeros((3, 28, 28), np.uint8), "y": np.zeros(5, np.int64)}, "'y' has shape (5,)"),
    ],
)
def test_bad_npz_is_rejected_saying_what_was_expected(tmp_path, arrays, expected):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError) as err:
        load_dataset(str(path))
    assert expected in str(err.value) and "expected" in str(err.value)


def test_file_that_is_not_an_npz_is_rejected(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_dataset(str(path))


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DatasetError, match="choose one of: mnist5k, mnist, fashion_mnist"):
        load_dataset("cifar")
