"""`har tune`: folds of whole subjects outside the test split, and a tiny cross-validation end to end."""
import json

import numpy as np
import pytest

from train.data import hapt
from train.tune import folds, split_of
from train.tune_report import summarise


def test_folds_are_disjoint_cover_the_non_test_subjects_and_never_a_test_one(hapt_prepared):
    cv_subjects, test = split_of(hapt_prepared.summary)
    assert test == list(hapt.UCI_HAR_TEST_SUBJECTS)
    expected = {str(s) for s in range(1, 31)} - set(test)
    for k in (2, 5, len(expected)):
        groups = folds(cv_subjects, k)
        flat = [s for group in groups for s in group]
        assert len(groups) == k and len(flat) == len(set(flat)) == len(expected)
        assert set(flat) == expected and not set(flat) & set(test)
        assert max(map(len, groups)) - min(map(len, groups)) <= 1
    assert folds(cv_subjects, 5) == folds(list(reversed(cv_subjects)), 5)  # from subject order alone
    assert folds(cv_subjects, 5)[0] == ["1", "8", "17", "25", "30"]  # every fifth of the 21


@pytest.mark.parametrize("k", [1, 22])
def test_impossible_fold_counts_are_refused(k):
    with pytest.raises(ValueError, match=f"--cv {k}: needs 2 to 21 folds"):
        folds([str(s) for s in range(1, 22)], k)


def test_mean_and_spread_over_folds():
    def result(accuracy, worst):
        return {"accuracy": accuracy, "macro_f1": accuracy - 0.01, "robustness": {"clean": {}, "rotation": {},
                "gyro_mean_removed": {"accuracy": 0.9, "macro_f1": 0.9, "drop_points": 2.0}, "worst_drop_points": 2.0},
                "per_subject": {"1": {"windows": 10, "accuracy": worst}, "2": {"windows": 10, "accuracy": 1.0}}}

    summary = summarise([result(0.9, 0.8), result(0.8, 0.6)])
    assert summary["mean"]["accuracy"] == pytest.approx(0.85)
    assert summary["std"]["accuracy"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert summary["mean"]["worst_subject_accuracy"] == pytest.approx(0.7)
    assert summary["mean"]["gyro_mean_removed_drop_points"] == 2.0
    assert summarise([result(0.9, 0.8)])["std"]["accuracy"] == 0.0


@pytest.mark.slow
def test_har_tune_cross_validates_a_tiny_recipe_and_resumes(tmp_path, capsys):
    from har import main

    args = ["tune", "--cv", "2", "--set", "model.filters=[4,8]", "--set", "model.kernels=[5,5]", "--epochs", "1",
            "--runs", str(tmp_path), "--name", "tiny"]
    assert main(args) == 0
    folder = tmp_path / "tune-tiny"
    report = json.loads((folder / "cv.json").read_text())
    assert [f["fold"] for f in report["folds"]] == [1, 2] and report["k"] == 2
    held_out = [set(f["subjects"]) for f in report["folds"]]
    assert not held_out[0] & held_out[1] and not (held_out[0] | held_out[1]) & set(report["test_subjects_held_out"])
    assert report["mean"]["accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in report["folds"]]))
    assert {"macro_f1", "gyro_mean_removed_drop_points", "gyro_bias_0.1rad_s_drop_points"} <= set(report["std"])
    assert "mean ± sd" in (folder / "cv.md").read_text()
    assert capsys.readouterr().err.count("har tune: fold") == 2
    trained_at = (folder / "fold1" / "model.keras").stat().st_mtime_ns
    assert main(args) == 0
    assert capsys.readouterr().err.count("already trained") == 2
    assert (folder / "fold1" / "model.keras").stat().st_mtime_ns == trained_at
    # the rerun read fold 1's stored score: a doctored figure under the right key shows through, and a model
    # that changed (its bytes) or a damaged file is scored again
    stored = folder / "fold1" / "score-validation.json"
    kept = json.loads(stored.read_text())
    assert kept["result"]["accuracy"] == report["folds"][0]["accuracy"]
    stored.write_text(json.dumps({**kept, "result": {**kept["result"], "accuracy": 0.123}}))
    assert main(args) == 0 and json.loads((folder / "cv.json").read_text())["folds"][0]["accuracy"] == 0.123
    model = folder / "fold1" / "model.keras"
    model.write_bytes(model.read_bytes() + b"\0")  # a zip reads the same with trailing bytes; the key does not
    assert main(args) == 0 and json.loads((folder / "cv.json").read_text())["folds"][0]["accuracy"] == kept["result"]["accuracy"]
    stored.write_text("{not json")
    assert main(args) == 0 and json.loads(stored.read_text())["key"] != kept["key"]


@pytest.mark.slow
def test_cv_seeds_train_each_fold_with_each_seed_and_score_the_seeds_averaged(tmp_path):
    from har import main
    from train.evaluate import prepare_raw
    from train.metrics import classification_report
    from train.run import load

    args = ["tune", "--cv", "2", "--cv-seeds", "2", "--set", "model.filters=[4,8]", "--set", "model.kernels=[5,5]",
            "--epochs", "1", "--runs", str(tmp_path), "--name", "seeds"]
    assert main(args) == 0
    folder = tmp_path / "tune-seeds"
    report = json.loads((folder / "cv.json").read_text())
    assert [(f["fold"], f["seed"], f["run"]) for f in report["folds"]] == [
        (1, 0, "fold1"), (1, 1, "fold1-seed1"), (2, 0, "fold2"), (2, 1, "fold2-seed1")]
    worst = [min(s["accuracy"] for s in f["per_subject"].values()) for f in report["folds"]]
    assert report["lowest_worst_subject_accuracy"] == min(worst)
    ensemble = report["seed_ensemble"]["folds"][0]
    assert ensemble["runs"] == ["fold1", "fold1-seed1"]
    loaded = [load(folder / name) for name in ensemble["runs"]]
    windows = prepare_raw(loaded[0][0].data, loaded[0][1])[0].splits["validation"]
    mean = sum(model.predict(windows.x, verbose=0) for _, _, model in loaded) / 2
    expected = classification_report(windows.y, mean.argmax(axis=1), loaded[0][1].class_names)
    assert ensemble["accuracy"] == pytest.approx(expected["accuracy"]) and ensemble["windows"] == len(windows)
    assert "seeds averaged" in (folder / "cv.md").read_text()


def test_a_regression_recipe_is_refused_before_training(tmp_path, capsys):
    from har import main

    assert main(["tune", "--set", "data.target=cadence", "--runs", str(tmp_path)]) == 2
    assert "regression recipe" in capsys.readouterr().err and not any(tmp_path.iterdir())


@pytest.mark.parametrize("option", ["train.final_model=best", "train.patience=5"])
def test_a_recipe_that_picks_its_epoch_by_validation_is_refused(tmp_path, capsys, option):
    """Each fold's held-out subjects are its validation split: an epoch chosen on them flatters their score."""
    from har import main

    assert main(["tune", "--set", option, "--runs", str(tmp_path)]) == 2
    assert "would choose the epoch on them" in capsys.readouterr().err and not any(tmp_path.iterdir())


def test_recipes_scored_against_the_default_of_their_time_get_the_rules_verdict():
    """BENCHMARKS' sentence about each round of variants follows their figures, not a sentence typed once."""
    from bench.recipe_rules import variants

    def cv(f1, f1_sd, drop, drop_sd):
        return {"mean": {"macro_f1": f1, "worst_drop_points": drop},
                "std": {"macro_f1": f1_sd, "worst_drop_points": drop_sd}}

    results = {"chosen": "best",
               "rounds": [{"name": "the fourth", "against": "B", "scored": ["lower", "sturdier", "higher", "far"]},
                          {"name": "the second", "against": "sturdier", "scored": ["next", "best"]}],
               "candidates": {"A": cv(0.99, 0.0, 0.0, 0.0), "B": cv(0.93, 0.03, 1.6, 0.1),
                              "lower": cv(0.92, 0.04, 1.4, 1.0), "sturdier": cv(0.92, 0.05, 0.8, 0.6),
                              "higher": cv(0.94, 0.01, 3.0, 0.1), "far": cv(0.85, 0.01, 0.1, 0.1),
                              "next": cv(0.91, 0.05, 0.6, 0.5), "best": cv(0.95, 0.04, 1.0, 0.1)}}
    first, second = variants(results).split(" Scored against the second: ")
    verdicts = dict(part.split(": ", 1) for part in first.removeprefix("Scored against the fourth: ")
                    .rstrip(".").split("; "))
    assert set(verdicts) == {"lower", "sturdier", "higher", "far"}  # only those of the first round
    later = dict(part.split(": ", 1) for part in second.rstrip(".").split("; "))
    assert later["next"] == "lower macro-F1, not clearly sturdier"  # sturdier by less than the folds' spread
    assert later["best"] == "qualifies under the rules (higher macro-F1): adopted"
    assert verdicts["lower"].startswith("lower macro-F1, not clearly sturdier")
    assert verdicts["sturdier"].endswith("clearly less hurt by sensor errors): adopted, and replaced since by the next round's")
    assert verdicts["higher"].endswith("(higher macro-F1), not adopted: another recipe was")
    assert verdicts["far"].startswith("lower macro-F1")  # sturdier, but outside the spread


def test_no_seeds_per_fold_is_refused_before_anything_is_written(tmp_path, capsys):
    from har import main

    assert main(["tune", "--cv-seeds", "0", "--runs", str(tmp_path)]) == 2
    assert "--cv-seeds 0: give at least 1" in capsys.readouterr().err and not any(tmp_path.iterdir())


def test_a_recipe_over_the_firmware_budget_is_not_adopted_whatever_its_cv_figure():
    from bench.recipe_rules import variants

    figures = {"mean": {"macro_f1": 0.99, "worst_drop_points": 0.1}, "std": {"macro_f1": 0.0, "worst_drop_points": 0.0}}
    results = {"chosen": "default", "rounds": [{"name": "the default", "against": "default", "scored": ["big"]}],
               "over_budget": {"big": "its example app needs 26,720 B of RAM"},
               "candidates": {"default": {"mean": {"macro_f1": 0.9, "worst_drop_points": 1.0},
                                          "std": {"macro_f1": 0.01, "worst_drop_points": 0.1}}, "big": figures}}
    assert "(higher macro-F1), not adopted: over the firmware budget, its example app needs" in variants(results)


def test_from_the_paired_round_on_a_gain_within_seed_noise_is_not_adopted():
    """The same means, judged by the paired (fold, seed) differences: a gain that flips sign across runs is
    noise, one that every run shows is not."""
    from bench.recipe_rules import paired_gain, variants

    def cv(runs):
        return {"mean": {"macro_f1": float(np.mean(runs)), "worst_drop_points": 0.5},
                "std": {"macro_f1": float(np.std(runs, ddof=1)), "worst_drop_points": 0.1},
                "runs": {f"{i}-0": f1 for i, f1 in enumerate(runs)}}

    base = [0.95, 0.97, 0.96, 0.98]
    results = {"chosen": "default", "rounds": [{"name": "the default", "against": "default", "paired": True,
                                                "scored": ["noisy", "steady", "worse"]}],
               "candidates": {"default": cv(base), "noisy": cv([0.97, 0.96, 0.98, 0.97]),
                              "steady": cv([f1 + 0.004 for f1 in base]), "worse": cv([f1 - 0.004 for f1 in base])}}
    mean, se = paired_gain(results["candidates"]["default"], results["candidates"]["noisy"])
    assert mean == pytest.approx(0.005) and se == pytest.approx(np.std([0.02, -0.01, 0.02, -0.01], ddof=1) / 2)
    verdicts = dict(part.split(": ", 1) for part in variants(results).removeprefix("Scored against the default: ")
                    .rstrip(".").split("; "))
    assert verdicts["noisy"].startswith("macro-F1 not above seed noise (paired gain +0.0050, standard error 0.0087)")
    assert verdicts["steady"].startswith("qualifies under the rules (higher macro-F1 (paired gain +0.0040, standard error 0.0000))")
    assert verdicts["worse"].startswith("lower macro-F1 (paired gain -0.0040")
    results["rounds"][0]["paired"] = False  # the plain rule of the earlier rounds adopts both
    assert "noisy: qualifies under the rules (higher macro-F1)" in variants(results)
