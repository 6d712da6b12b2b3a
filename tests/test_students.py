"""A small class on the latent lab (what `bench --students` runs) on a real server: every
student gets the lab's scripts, TensorFlow.js and the live run's weights, hears of new versions
and no request fails."""

from gan_app.bench.students import FIRST_VISIT, bench_students
from gan_app.ui.lab.routes import _FILES


def test_the_browser_lab_ships_every_file_a_student_fetches():
    assert set(FIRST_VISIT) <= set(_FILES)


def test_a_small_class_explores_the_lab_while_the_run_trains():
    (row,) = bench_students([3], seconds=8, preset="fast", warmup_steps=20)
    assert row["errors"] == 0, row["error_examples"]
    assert row["students"] == 3 and row["steps_per_s"] > 0
    assert row["versions"] >= 1 and row["lab_open_p95_ms"] is not None  # each opened the lab and got weights
    assert 0 < row["first_visit_mb"] <= 3.0  # the lab's files and one version of the weights
    assert row["student_actions"] > 0
