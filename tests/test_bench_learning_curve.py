"""The learning curve leaves out only training subjects, the same ones on every rerun, and pairs each
fewer-subject run with its own fold and seed."""
import pytest

from bench import learning_curve

CV = [str(s) for s in range(1, 31)]
TEST = ["2", "4", "9", "10", "12", "13", "18", "20", "24"]
HELD_OUT = ["1", "6", "11", "16", "21", "25", "28"]


def test_the_left_out_subjects_are_training_subjects_drawn_the_same_way_every_time():
    drawn = learning_curve._left_out(CV, TEST, HELD_OUT, 300, 1)
    assert drawn == ["15", "30", "7"]  # the draw the landed runs were trained with
    assert drawn == learning_curve._left_out(CV, TEST, HELD_OUT, 300, 1)
    assert learning_curve._left_out(CV, TEST, HELD_OUT, 100, 1) == ["23", "29", "8"]
    for draw in range(50):
        assert not set(learning_curve._left_out(CV, TEST, HELD_OUT, draw, 1)) & {*TEST, *HELD_OUT}


def _score(f1: float, worst: float) -> dict:
    return {"macro_f1": f1, "per_subject": {"a": {"accuracy": worst}, "b": {"accuracy": 1.0}}}


def test_each_run_is_paired_with_its_own_fold_and_seed_and_the_draws_averaged():
    base = [0.97, 0.96, 0.98]
    fewer = {"100": [0.96, 0.96, 0.97], "200": [0.94, 0.95, 0.97]}
    pairs = [{"run": f"{i + 1}-0", "base": _score(b, 0.9),
              "draws": {d: {"left_out": ["7"], **_score(v[i], 0.8)} for d, v in fewer.items()}} for i, b in enumerate(base)]
    result = learning_curve.summarise(pairs)
    assert result["draws"]["100"]["gain"][0] == pytest.approx((0.01 + 0.0 + 0.01) / 3)
    assert result["pooled"]["runs"] == pytest.approx({"1-0": 0.95, "2-0": 0.955, "3-0": 0.97})
    assert result["pooled"]["gain"][0] == pytest.approx((0.02 + 0.005 + 0.01) / 3)
    assert result["base"]["worst_subject"] == pytest.approx(0.9) and result["pooled"]["worst_subject"] == pytest.approx(0.8)
    text = learning_curve.markdown(result)
    assert "| 11, the draws averaged per run | 0.9583 | 80.0% | **+0.0117 ± 0.0044** |" in text
    assert "The first 2 draws alone gave +0.0117 ± 0.0044 (2.6 standard errors), above the paired rule's bar" in text
    assert ("configs/default.toml trains on all 21" in text) == learning_curve._adopted()
