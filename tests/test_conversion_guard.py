"""The conversion guard looks at every class, not only accuracy; reports carry per-subject accuracy."""
import json

import numpy as np
import pytest

from convert.guard import quality_drops, quality_problems
from convert.validate import saturation
from device_runtime.contract import Contract
from train.metrics import classification_report, per_subject

NAMES = ["walk", "sit", "elevator_up"]


def report(recall_after: float, accuracy_after: float = 0.90, f1_after: float = 0.89) -> dict:
    def scores(accuracy, f1, elevator):
        per_class = {n: {"recall": r, "f1": f1} for n, r in zip(NAMES, (0.95, 0.90, elevator))}
        return {"accuracy": accuracy, "macro_f1": f1, "per_class": per_class}

    built = {"mode": "int8", "float": scores(0.90, 0.89, 0.37), "int8": scores(accuracy_after, f1_after, recall_after)}
    built.update(quality_drops(built["float"], built["int8"]))
    return built


def test_a_class_that_int8_stops_recognising_is_refused_with_its_name_and_size():
    problems = quality_problems(report(recall_after=0.06, accuracy_after=0.891), max_drop=1.0, max_class_drop=3.0)
    assert problems == ["int8 recall fell more than 3 points for elevator_up 0.370 -> 0.060 (31.00 points)"]


def test_accuracy_and_macro_f1_drops_are_both_limited():
    problems = quality_problems(report(0.37, accuracy_after=0.88, f1_after=0.87), max_drop=1.0, max_class_drop=3.0)
    assert problems == ["int8 accuracy is 2.00 points below float (limit 1)",
                        "int8 macro-F1 is 2.00 points below float (limit 1)"]


def test_a_faithful_conversion_passes():
    assert quality_problems(report(recall_after=0.35, accuracy_after=0.899), max_drop=1.0, max_class_drop=3.0) == []


def test_saturation_share_and_int8_step_per_channel():
    inputs = np.zeros((2, 4, 2), np.int8)
    inputs[0, :, 1] = 127
    inputs[1, 0, 1] = -128
    contract = Contract(50.0, ["acc_x", "gyro_x"], ["g", "rad/s"], 4, 2, ["a", "b"], [0.0, 0.0], [0.5, 2.0],
                        quantization={"input_scale": 0.1, "input_zero_point": 0, "output_scale": 1 / 256,
                                      "output_zero_point": -128})
    shares = saturation(inputs, contract)
    assert shares["overall"] == pytest.approx(5 / 16)
    assert shares["per_channel"] == {"acc_x": 0.0, "gyro_x": pytest.approx(5 / 8)}
    assert shares["step"] == {"acc_x": pytest.approx(0.05), "gyro_x": pytest.approx(0.2)}
    assert shares["units"] == {"acc_x": "g", "gyro_x": "rad/s"}


def test_per_subject_accuracies_weighted_by_windows_average_to_the_overall_accuracy():
    rng = np.random.default_rng(0)
    y, predicted = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    subjects = rng.choice(["2", "10", "4"], 500)
    figures = per_subject(y, predicted, subjects)
    assert list(figures) == ["2", "4", "10"]
    weighted = sum(f["windows"] * f["accuracy"] for f in figures.values()) / 500
    assert weighted == pytest.approx(classification_report(y, predicted, NAMES)["accuracy"])


@pytest.mark.slow  # waits on real time: a pty, signals or a full evaluation
def test_har_evaluate_tflite_reports_subjects_and_robustness(tiny_model, tmp_path, capsys):
    from har import main

    assert main(["evaluate", str(tiny_model), "--out", str(tmp_path), "--robustness"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    figures = metrics["per_subject"]
    assert list(figures) == metrics["test_subjects"]
    weighted = sum(f["windows"] * f["accuracy"] for f in figures.values()) / metrics["windows"]
    assert weighted == pytest.approx(metrics["accuracy"])
    assert metrics["robustness"]["clean"]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert len(metrics["robustness"]["rotation"]) == 6
    markdown = (tmp_path / "report.md").read_text()
    assert "Per subject: worst is subject 10" in markdown and "## Robustness" in markdown


@pytest.mark.slow
def test_conversion_report_shows_recall_saturation_subjects_and_robustness(int8_model):
    _, out, report = int8_model
    assert set(report["class_recall_drop_points"]) == set(report["float"]["per_class"])
    weighted = sum(f["windows"] * f["accuracy"] for f in report["per_subject"].values()) / report["int8"]["windows"]
    assert weighted == pytest.approx(report["int8"]["accuracy"])
    assert 0 <= report["input_saturation"]["overall"] < 0.05 and len(report["input_saturation"]["per_channel"]) == 6
    assert report["robustness"]["clean"]["accuracy"] == pytest.approx(report["int8"]["accuracy"])
    markdown = out.with_name("model.report.md").read_text()
    for text in ("converted recall", "int8 inputs at -128/127", "Per subject: worst is subject", "## Robustness"):
        assert text in markdown


@pytest.mark.slow
def test_a_class_recall_refusal_names_the_classes_and_what_to_try(int8_model, tmp_path):
    from convert.pipeline import convert_run
    from convert.publish import ConversionError

    out = tmp_path / "strict.tflite"
    with pytest.raises(ConversionError, match=r"recall fell more than -1 points for WALKING .*--representative"):
        convert_run(int8_model[0], out, max_class_drop=-1.0)
    rejected = json.loads(out.with_name("strict.rejected.report.json").read_text())
    assert rejected["passed"] is False and rejected["refused_because"] and not out.exists()
