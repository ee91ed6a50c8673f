"""Regression evaluation: metrics, plots and the stream on small exact arrays (fast), and a tiny cadence
model through `har evaluate MODEL.tflite` and `har evaluate-stream MODEL.tflite` (slow)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from device_runtime.contract import Contract
from tests.conftest import REPO
from train.evaluate import markdown_report
from train.evaluate_plots import plot_predicted_vs_true, plot_value_timeline
from train.evaluate_stream_values import value_stream_markdown, value_stream_report, window_means, window_values
from train.metrics import regression_evaluation

PNG = b"\x89PNG"


def test_regression_evaluation_scores_the_model_the_baseline_and_each_subject():
    truth = np.array([100.0, 110.0, 90.0, 100.0])
    predicted = np.array([102.0, 106.0, 90.0, 100.0])
    report = regression_evaluation(truth, predicted, np.array(["10", "2", "2", "10"]), 100.0)
    assert report["mae"] == pytest.approx(1.5) and report["rmse"] == pytest.approx(np.sqrt(5.0))
    assert report["r2"] == pytest.approx(1 - 5.0 / 50.0)
    assert report["baseline_mean_predictor"] == {"value": 100.0, "mae": 5.0, "rmse": pytest.approx(np.sqrt(50.0)),
                                                 "r2": 0.0, "windows": 4}
    assert report["per_subject"] == {"2": {"windows": 2, "mae": 2.0}, "10": {"windows": 2, "mae": 1.0}}


def _contract(window=4, stride=2) -> Contract:
    return Contract(channels=["acc_x"], units=["g"], sample_rate_hz=50.0, window=window, stride=stride, norm_mean=[0.0],
                    norm_std=[1.0], class_names=["cadence"], task="regression",
                    target={"unit": "steps/min", "scale": 2.0, "offset": 100.0})


def test_markdown_report_of_a_regression_model():
    report = regression_evaluation(np.array([1.0, 3.0]), np.array([2.0, 3.0]), np.array(["1", "2"]), 2.0)
    report.update(run="m.tflite", family="m.tflite (litert)", windows=2, test_subjects=["1", "2"])
    text = markdown_report(report, _contract())
    assert "MAE 0.500 steps/min" in text and "mean predictor (2.00, baseline)" in text
    assert "worst is subject 1, MAE 1.000" in text and "predicted_vs_true.png" in text


def test_plots_are_pngs():
    assert plot_predicted_vs_true(np.arange(5.0), np.arange(5.0) + 1, "steps/min", "t").startswith(PNG)
    times = np.arange(4) * 640.0
    stream = ("2", times, np.array([np.nan, 100, 101, np.nan]), np.full(4, 99.0), np.full(4, 99.5))
    assert plot_value_timeline([stream], "steps/min", "t").startswith(PNG)


def test_window_means_are_the_training_windows_targets():
    targets = np.array([1, 2, 3, np.nan, 5, 6, 7, 8], np.float32)
    means = window_means(targets, 3)
    assert means[2] == 2.0 and means[6:].tolist() == [6.0, 7.0]  # the mean of samples i-2..i
    assert np.isnan(means[[0, 1, 3, 4, 5]]).all()  # before a full window, or a window holding the NaN
    with pytest.raises(ValueError, match="no regression target"):
        window_means(None, 3)


class Recording:
    subject, samples = "7", np.arange(10, dtype=np.float32)[:, None]
    targets = np.r_[np.full(2, np.nan), np.full(8, 104.0)].astype(np.float32)


def test_window_values_run_the_runtimes_window_stream():
    """Model output = the window's last sample; the contract de-normalises it (x 2 + 100) as every device."""
    def classifier(window):
        return np.array([window[-1, 0]], np.float32), 0.0

    [(subject, times, truth, values)] = window_values(classifier, _contract(), [Recording()])
    assert subject == "7" and times.tolist() == [60.0, 100.0, 140.0, 180.0]  # samples 3, 5, 7, 9 (20 ms each)
    assert values.tolist() == [106.0, 110.0, 114.0, 118.0]
    assert np.isnan(truth[0]) and truth[1:].tolist() == [104.0, 104.0, 104.0]


def test_value_stream_report_scores_each_smoothing_and_recording():
    streams = [("7", np.arange(4.0), np.array([np.nan, 104.0, 104.0, 104.0]), np.array([106.0, 110.0, 114.0, 118.0]))]
    report, shown = value_stream_report(streams, "steps/min", 100.0)
    by_kind = {row["smoothing"]: row for row in report["smoothing"]}
    assert report["default"]["smoothing"] == "mean 3" and report["predictions"] == 4
    assert by_kind["none"]["mae"] == pytest.approx((6 + 10 + 14) / 3) and by_kind["none"]["windows"] == 3
    # mean of the last 3 windows: 108, 110, 114 at the scored moments
    assert by_kind["mean 3"]["mae"] == pytest.approx((4 + 6 + 10) / 3)
    assert shown[0].tolist() == [106.0, 108.0, 110.0, 114.0]
    assert by_kind["median 3"]["mae"] == pytest.approx((4 + 6 + 10) / 3)
    assert report["per_recording"] == [{"subject": "7", "predictions": 4, "scored": 3, "mae_mean": pytest.approx(20 / 3),
                                        "mae_median": pytest.approx(20 / 3), "mae_none": pytest.approx(10.0)}]
    assert report["baseline_mean_predictor"]["mae"] == pytest.approx(4.0)
    report.update(model="m.tflite", test_subjects=["7"], recordings=1, target="cadence")
    assert "MAE over time 6.667 steps/min" in value_stream_markdown(report)


def test_a_stream_without_a_true_value_scores_nothing():
    report, _ = value_stream_report([("7", np.arange(2.0), np.full(2, np.nan), np.ones(2))], "", None)
    assert report["default"]["mae"] is None and "baseline_mean_predictor" not in report
    report.update(model="m.tflite", test_subjects=["7"], recordings=1, target="y")
    assert "MAE over time n/a target units" in value_stream_markdown(report)


@pytest.fixture(scope="module")
def cadence_tflite(tmp_path_factory):
    """A tiny cadence model (2 epochs), trained and converted once for the slow tests."""
    tmp = tmp_path_factory.mktemp("cadence_eval")
    har = [sys.executable, "-m", "har"]
    subprocess.run(har + ["train", "--config", "configs/cadence.toml", "--epochs", "2", "--set", "model.filters=[4,8]",
                          "--set", "model.kernels=[5,5]", "--name", "tiny", "--runs", str(tmp)], check=True, cwd=REPO)
    model = tmp / "cadence.tflite"
    subprocess.run(har + ["convert", str(tmp / "tiny"), "--out", str(model), "--max-mae-increase", "100"],
                   check=True, cwd=REPO)
    return model


@pytest.mark.slow
def test_har_evaluate_and_evaluate_stream_on_a_cadence_tflite(cadence_tflite, tmp_path):
    har = [sys.executable, "-m", "har"]
    out = subprocess.run(har + ["evaluate", str(cadence_tflite), "--out", str(tmp_path / "ev")],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["mae"] < metrics["baseline_mean_predictor"]["mae"] and len(metrics["per_subject"]) == 9
    assert (tmp_path / "ev" / "predicted_vs_true.png").read_bytes().startswith(PNG)
    assert "steps/min" in (tmp_path / "ev" / "report.md").read_text()
    out = subprocess.run(har + ["evaluate-stream", str(cadence_tflite), "--out", str(tmp_path / "st")],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "st" / "stream_report.json").read_text())
    assert report["recordings"] == 19 and report["default"]["smoothing"] == "mean 3"
    unsmoothed = report["smoothing"][-1]
    # the stream's windows are the test windows, so unsmoothed it scores what `har evaluate` scored
    assert unsmoothed["windows"] == metrics["windows"] and unsmoothed["mae"] == pytest.approx(metrics["mae"], rel=1e-4)
    assert (tmp_path / "st" / "timeline.png").read_bytes().startswith(PNG)
    assert "MAE over time" in (tmp_path / "st" / "stream_report.md").read_text()
