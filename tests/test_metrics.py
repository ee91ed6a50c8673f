"""Metrics against values computed by hand."""
import numpy as np
import pytest

from train.metrics import classification_report, format_confusion, per_subject, regression_report
from train.report_table import fenced, per_subject_lines


def test_classification_report_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    report = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # a: P=2/2 R=2/3 F1=0.8; b: P=1/2 R=1/2 F1=0.5; c: P=1/2 R=1 F1=2/3
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert report["per_class"]["b"]["f1"] == pytest.approx(0.5)
    assert report["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_a_class_neither_true_nor_predicted_is_left_out_of_macro_f1_and_a_wrongly_predicted_one_counts():
    """As scikit-learn's default: a class no test subject did is no error of the model's (it had halved this
    perfect model's macro-F1); a class predicted where it was not done scores 0."""
    report = classification_report(np.array([0, 0]), np.array([0, 0]), ["a", "b", "c"])
    assert report["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["macro_f1"] == pytest.approx(1.0)
    report = classification_report(np.array([0, 0]), np.array([0, 1]), ["a", "b", "c"])
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)


def test_regression_report_by_hand():
    assert regression_report(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])) == {
        "mae": pytest.approx(1.0), "rmse": pytest.approx(np.sqrt(5 / 3)), "windows": 3,
        "r2": pytest.approx(1 - (5 / 3) / (2 / 3)),
    }


def test_confusion_text_is_aligned():
    text = format_confusion([[12, 0], [3, 7]], ["walk", "sit"])
    rows = text.splitlines()
    assert rows[2] == "  walk |   12    0" and rows[3] == "   sit |    3    7"


def test_confusion_columns_are_numbered_when_class_names_share_their_first_ten_characters():
    rows = format_confusion([[5, 1], [0, 9]], ["turn_left_90", "turn_left_180"]).splitlines()
    assert rows[0].split("|")[1].split() == ["1", "2", "<-", "predicted"]
    assert rows[2] == " 1 turn_left_90 | 5 1" and rows[3] == "2 turn_left_180 | 0 9"


def test_a_class_name_that_reads_as_tex_is_drawn_as_text():
    """`$\\foo$` from a CSV's activity column made matplotlib's TeX parser stop the report half-written."""
    from train.evaluate_plots import png
    from train.metrics import plot_confusion

    assert png(plot_confusion([[3, 1], [0, 2]], ["$\\foo$", "sit"], "$x^$")).startswith(b"\x89PNG")


def test_each_subjects_most_frequent_confusions_by_hand():
    names = ["walk", "up", "down", "sit"]
    y_true = np.array([1, 1, 1, 2, 3, 3, 0, 0, 0, 1, 0])
    y_pred = np.array([2, 2, 1, 1, 0, 0, 3, 1, 2, 1, 0])
    subjects = np.array(["10"] * 6 + ["2"] * 5)
    figures = per_subject(y_true, y_pred, subjects, names=names)
    assert list(figures) == ["2", "10"]  # subject order, not text order
    assert figures["10"]["confusions"] == [{"true": "up", "predicted": "down", "windows": 2},
                                           {"true": "sit", "predicted": "walk", "windows": 2},
                                           {"true": "down", "predicted": "up", "windows": 1}]
    assert [c["predicted"] for c in figures["2"]["confusions"]] == ["up", "down", "sit"]  # ties in class order
    assert "up -> down: 2, sit -> walk: 2, down -> up: 1" in "\n".join(per_subject_lines(figures))
    assert per_subject(y_true, y_true, subjects, names=names)["2"]["confusions"] == []


def test_class_names_cannot_open_a_code_span_or_close_a_code_block():
    figures = per_subject(np.array([0, 1]), np.array([1, 0]), np.array(["1", "1"]), names=["x`y", "u`v"])
    assert "x\\`y -> u\\`v: 1, u\\`v -> x\\`y: 1" in "\n".join(per_subject_lines(figures))
    assert fenced("a ``` b")[0] == "````" and fenced("plain") == ["```", "plain", "```"]
