"""Quality metrics: classifier FID, classifier score and digit coverage."""

import numpy as np
import pytest

from gan_app.models.classifier import classifier_info, split
from gan_app.models.classifier import QualityMeter
from gan_app.models.quality import classifier_score, coverage, frechet_distance


@pytest.fixture(scope="module")
def meter():
    return QualityMeter()


def test_reference_classifier_is_accurate_on_the_held_out_split(meter, mnist5k):
    train_idx, held_idx = split(mnist5k)
    assert len(train_idx) == 4000 and len(held_idx) == 1000 and not set(train_idx) & set(held_idx)
    assert np.bincount(mnist5k.y[held_idx]).tolist() == [100] * 10
    assert meter.accuracy() >= 0.97
    assert classifier_info()["held_out_accuracy"] >= 0.97


def test_real_digits_score_near_ten_cover_all_digits_and_have_a_small_fid(meter):
    q = meter.real_floor()
    assert q.fid < 15 and q.score > 9.5 and q.covered == 10


def test_noise_images_are_far_from_digits(meter):
    noise = np.random.default_rng(0).random((1000, 28, 28, 1)).astype(np.float32)
    assert meter.measure(noise).fid > 200


def test_one_repeated_digit_covers_one_digit_and_scores_one(meter):
    q = meter.measure(np.repeat(meter.real_images[:1], 500, axis=0))
    assert q.covered == 1 and q.score == pytest.approx(1.0, abs=1e-3) and q.fid > 200


def test_frechet_distance_is_zero_for_equal_statistics_and_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 8)), rng.normal(1.0, 2.0, size=(500, 8))
    mu_a, s_a = a.mean(0), np.cov(a, rowvar=False)
    mu_b, s_b = b.mean(0), np.cov(b, rowvar=False)
    assert frechet_distance(mu_a, s_a, mu_a, s_a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(mu_a, s_a, mu_b, s_b) == pytest.approx(frechet_distance(mu_b, s_b, mu_a, s_a), rel=1e-6)
    # 1-d closed form: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1)) == pytest.approx(2.0)


def test_score_and_coverage_on_probabilities():
    uniform_confident = np.eye(10)[np.arange(1000) % 10]
    assert classifier_score(uniform_confident) == pytest.approx(10.0, rel=1e-3)
    assert coverage(np.r_[np.full(9, 0.11), 0.01]) == 9


def test_the_shipped_export_reproduces_its_recorded_quality(capsys):
    import json

    from gan_app.runs.checkpoint import SHIPPED_EXPORT as shipped
    from gan_app.cli import main

    meta = json.loads((shipped / "meta.json").read_text())
    assert (shipped / "generator.keras").stat().st_size <= 10 * 1024 * 1024
    first, *more = meta.get("commands", [meta["command"]])  # a resumed run lists every command
    assert first.startswith(f"python -m gan_app train --preset {meta['preset']} --dataset mnist5k")
    assert all(c.startswith("python -m gan_app train --resume ") for c in more) and meta["command"] == ([first] + more)[-1]
    assert main(["quality", str(shipped)]) == 0  # on the latents its run measured
    q = json.loads(capsys.readouterr().out)
    assert q["samples"] == meta["quality_samples"] == 1000
    assert q["fid"] == pytest.approx(meta["quality"]["fid"], abs=1.0)
    assert q["covered"] == meta["quality"]["covered"] == 10


def test_quality_of_an_export_that_is_not_of_digits_is_refused(tmp_path, capsys):
    import json
    import shutil

    from gan_app.runs.checkpoint import SHIPPED_EXPORT
    from gan_app.cli import main

    export = tmp_path / "fashion"
    shutil.copytree(SHIPPED_EXPORT, export, ignore=shutil.ignore_patterns("logs", "samples", "state", "*.csv"))
    meta = json.loads((export / "meta.json").read_text())
    (export / "meta.json").write_text(json.dumps(dict(meta, dataset="fashion_mnist")))
    assert main(["quality", str(export)]) == 2
    err = capsys.readouterr().err.strip()
    assert "trained on 'fashion_mnist'" in err and len(err.splitlines()) == 1
    assert main(["quality", str(tmp_path / "missing")]) == 2
    assert "no generator.keras" in capsys.readouterr().err
