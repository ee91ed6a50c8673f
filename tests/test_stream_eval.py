"""Streaming metrics on a hand-made stream with known answers, and `har evaluate-stream` on HAPT."""
import json

import numpy as np
import pytest

from train.stream_metrics import OTHER, change_delays, event_counts, flips_per_minute, segments, stream_report

# 10 predictions one second apart. Truth: class 0 x4, unlabelled x1, class 1 x5.
TIMES = np.arange(10) * 1000.0
TRUTH = np.array([0, 0, 0, 0, OTHER, 1, 1, 1, 1, 1])
PRED = np.array([0, 0, 1, 0, 0, 0, 0, 1, 1, 1])


def test_segments():
    assert segments(np.array([2, 2, 5, 5, 5, 2])) == [(2, 0, 2), (5, 2, 5), (2, 5, 6)]


def test_flips_per_minute():
    # 4 changes (0->1, 1->0, 0->1, none after) in 9 seconds = 0.15 min
    assert flips_per_minute(TIMES, PRED) == pytest.approx(3 / 0.15)


def test_delay_after_a_change():
    # truth becomes 1 at t=5 s; the first prediction of 1 inside that segment is at t=7 s
    assert change_delays(TIMES, TRUTH, PRED) == ([2000.0], 0)
    assert change_delays(TIMES, TRUTH, np.zeros(10, int)) == ([], 1)


def test_event_counts_by_overlap():
    counts = event_counts(TRUTH, PRED, 2)
    # class 0: true run [0,4) is covered by predicted runs [0,2)+[3,7)? each alone: [0,2) covers 2/4 = 50% -> found.
    #   predicted runs of 0: [0,2) inside truth-0 fully -> right; [3,7) overlaps truth-0 by 1 of 4 -> wrong.
    # class 1: true run [5,10); predicted runs [2,3) (outside, wrong) and [7,10) (3/5 of the truth -> found; inside -> right)
    assert counts.tolist() == [[1, 1, 1, 2], [1, 1, 1, 2]]


def test_stream_report_over_two_recordings_never_counts_the_join():
    report = stream_report([(TIMES, TRUTH, PRED), (TIMES, TRUTH, PRED)], ["a", "b"])
    assert report["predictions"] == 20
    assert report["accuracy"] == pytest.approx(12 / 18)  # 6 right of 9 labelled moments, twice
    assert report["flips_per_minute"] == pytest.approx(3 / 0.15)
    assert report["delay_ms_median"] == 2000.0 and report["changes_missed"] == 0
    assert report["event_f1"]["a"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "true_events": 2, "predicted_events": 4}


@pytest.mark.slow
def test_evaluate_stream_on_the_hapt_test_subjects(int8_model, tmp_path):
    from train.data.dataset import DataConfig
    from train.evaluate_tflite import evaluate_stream

    report = evaluate_stream(int8_model[1], DataConfig(), tmp_path)
    assert report["recordings"] == 19
    assert report["default"]["smoothing"] == "vote 3"
    no_smoothing = report["sweep"][0]
    assert no_smoothing["smoothing"] == "vote 1" and no_smoothing["accuracy"] > 0.6
    votes = [r for r in report["sweep"] if r["smoothing"].startswith("vote")]
    assert votes[-1]["flips_per_minute"] < votes[0]["flips_per_minute"]  # longer votes, steadier labels
    assert votes[-1]["delay_ms_median"] >= votes[0]["delay_ms_median"]
    for name in ("stream_report.json", "stream_report.md", "timeline.png", "smoothing_sweep.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "stream_report.json").read_text())["test_subjects"][0] == "2"


def test_a_class_only_training_subjects_did_is_no_reason_to_refuse(tiny_model, tmp_path):
    """The test subject walks and sits; the model also knows LAYING, ... (its contract's classes). The data's
    classes had been compared with the model's and refused, and --classes naming them too."""
    from conftest import write

    from device_runtime.contract import load_contract
    from train.data.dataset import DataConfig
    from train.evaluate_tflite import evaluate_stream

    rng, header = np.random.default_rng(0), "timestamp_ms,acc_x[g],acc_y[g],acc_z[g],gyro_x[rad/s],gyro_y[rad/s],gyro_z[rad/s],activity\n"
    for subject in ("a", "b", "e"):
        lines = [f"{i * 20},{','.join(f'{v:.3f}' for v in rng.normal(size=6))},{'WALKING' if i < 1500 else 'SITTING'}"
                 for i in range(3000)]
        write(tmp_path / "data" / f"{subject}.csv", header + "\n".join(lines) + "\n")
    data = DataConfig(path=str(tmp_path / "data"), format="csv", test_subjects=["e"], validation_subjects=[])
    report = evaluate_stream(tiny_model, data, tmp_path / "out")
    assert report["recordings"] == 1 and set(report["default"]["event_f1"]) == set(load_contract(tiny_model).class_names)
