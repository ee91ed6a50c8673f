"""Short real trainings on HAPT: learning, checkpoints, resume after a kill, evaluation, regression."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, write

from train.fit import RunConfig, TrainConfig, class_weight_map, train_run

pytestmark = pytest.mark.slow

SHORT = {"train": {"epochs": 2, "checkpoint": "every", "warmup_epochs": 0}}


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return train_run(RunConfig.from_dict(SHORT), "short", runs)


def test_short_training_beats_the_majority_baseline(short_run):
    from train.evaluate import evaluate_run

    metrics = evaluate_run(short_run)
    majority = max(metrics["per_class"][c]["support"] for c in metrics["class_names"]) / metrics["windows"]
    assert majority < 0.2
    assert metrics["accuracy"] > 0.75 and metrics["macro_f1"] > 0.7
    for name in ("metrics.json", "confusion.json", "confusion.txt", "confusion.png", "report.md"):
        assert (short_run / "evaluation" / name).stat().st_size > 0
    assert "macro-F1" in (short_run / "evaluation" / "report.md").read_text()


def test_run_folder_holds_config_contract_summary_and_logs(short_run):
    assert json.loads((short_run / "config.json").read_text())["train"]["epochs"] == 2
    contract = json.loads((short_run / "contract.json").read_text())
    assert contract["window"] == 128 and len(contract["norm_mean"]) == 6
    assert json.loads((short_run / "data_summary.json").read_text())["splits"]["test"]["windows"] > 2900
    assert list((short_run / "logs" / "validation_images").glob("events.*"))
    assert len((short_run / "history.csv").read_text().splitlines()) == 3


def test_reloaded_checkpoint_predicts_identically(short_run):
    from train.data.dataset import DataConfig, prepare
    from train.models import keras

    best = json.loads((short_run / "checkpoints" / "best.json").read_text())["epoch"]
    x = prepare(DataConfig()).splits["test"].x[:200]

    def predict(path):
        return keras.models.load_model(path).predict(x, verbose=0)

    np.testing.assert_array_equal(predict(short_run / "model.keras"), predict(short_run / "checkpoints" / "epoch_002.keras"))
    np.testing.assert_array_equal(predict(short_run / "checkpoints" / "best.keras"), predict(short_run / "checkpoints" / f"epoch_{best:03d}.keras"))
    assert sorted(p.name for p in (short_run / "checkpoints").glob("epoch_*")) == ["epoch_001.keras", "epoch_002.keras"]


def test_finished_run_is_not_overwritten_silently(short_run):
    with pytest.raises(ValueError, match="finished run"):
        train_run(RunConfig.from_dict(SHORT), "short", short_run.parent)


def test_killed_run_resumes_from_its_last_completed_epoch(tmp_path):
    command = [sys.executable, str(REPO / "har.py"), "train", "--runs", str(tmp_path), "--name", "killed",
               "--epochs", "5", "--set", "train.warmup_epochs=0"]
    history = tmp_path / "killed" / "history.csv"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not history.exists() or len(history.read_text().splitlines()) < 3):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = len(history.read_text().splitlines()) - 1
    assert 2 <= done < 5, "the run should have been killed mid-way"
    assert not (tmp_path / "killed" / "model.keras").exists()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming" in result.stderr
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs[-1] == 4 and epochs[0] == 0
    assert len(epochs) <= 5 + 1  # at most the interrupted epoch again, never a restart from 0
    assert epochs.count(0) == 1


def test_balanced_class_weights():
    weights = class_weight_map(TrainConfig(), np.array([0, 0, 0, 1]), ["a", "b"])
    assert weights == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0)}
    assert class_weight_map(TrainConfig(class_weights="none"), np.array([0, 1]), ["a", "b"]) is None
    with pytest.raises(ValueError, match="unknown classes"):
        class_weight_map(TrainConfig(class_weights={"zz": 2.0}), np.array([0, 1]), ["a", "b"])


def test_config_typos_are_errors():
    with pytest.raises(ValueError, match=r"\[train\] has unknown keys \['epoch'\]"):
        RunConfig.from_dict({"train": {"epoch": 3}})
    with pytest.raises(ValueError, match="family 'rnn'"):
        RunConfig.from_dict({"model": {"family": "rnn"}})
    with pytest.raises(ValueError, match=r"unknown keys \['filter'\] for cnn"):
        from train.models import build_model

        build_model("cnn", 128, 6, 6, {"filter": [8]})


def test_regression_on_a_numeric_csv_column(tmp_path):
    from train.data.dataset import prepare
    from train.evaluate import evaluate_run

    rng = np.random.default_rng(1)
    for subject in ["s1", "s2", "s3", "s4", "s5"]:
        speed = np.repeat(rng.uniform(0, 3, 20), 50)
        signal_ = speed[:, None] * np.sin(np.arange(len(speed)) / 3)[:, None] + rng.normal(0, 0.1, (len(speed), 2))
        rows = "".join(f"{i * 20},{a:.4f},{b:.4f},move,{v:.3f}\n" for i, ((a, b), v) in enumerate(zip(signal_, speed)))
        write(tmp_path / "data" / f"{subject}.csv", "timestamp_ms,ax,ay,activity,speed\n" + rows)
    config = {
        "data": {"path": str(tmp_path / "data"), "format": "csv", "target_column": "speed", "window": 50,
                 "stride": 25, "test_subjects": ["s5"], "validation_subjects": ["s4"]},
        "model": {"family": "cnn", "filters": [8, 8], "kernels": [5, 5]},
        "train": {"epochs": 40, "learning_rate": 0.01, "output_activation": "relu", "loss": "mae",
                  "augment_scale": 0.0, "augment_noise": 0.0},
    }
    run_config = RunConfig.from_dict(config)
    run = train_run(run_config, "speed", tmp_path / "runs")
    metrics = evaluate_run(run)
    assert json.loads((run / "contract.json").read_text())["task"] == "regression"
    test_targets = prepare(run_config.data).splits["test"].y
    constant_guess_mae = np.abs(test_targets - test_targets.mean()).mean()
    assert metrics["mae"] < 0.5 * constant_guess_mae, (metrics, constant_guess_mae)
    assert "MAE" in (run / "evaluation" / "report.md").read_text()


def test_without_validation_subjects_every_non_test_subject_trains_and_no_epoch_is_picked(tmp_path):
    from train.evaluate import evaluate_run
    from train.run import RunError, check

    unpicked = {"data": {"validation_subjects": []}, "train": {"epochs": 1}}
    with pytest.raises(ValueError, match="no validation split to pick an epoch by, as train.final_model = 'best'"):
        train_run(RunConfig.from_dict(unpicked | {"train": {"epochs": 1, "final_model": "best"}}), "best", tmp_path)
    assert not (tmp_path / "best").exists()
    run = train_run(RunConfig.from_dict(unpicked), "all", tmp_path)
    splits = json.loads((run / "data_summary.json").read_text())["splits"]
    assert len(splits["train"]["subjects"]) == 21 and splits["validation"]["subjects"] == []
    assert json.loads((run / "training.json").read_text())["best_epoch"] == 0
    assert not (run / "checkpoints" / "best.keras").exists()
    with pytest.raises(RunError, match="no best epoch; its model is model.keras"):
        check(run, "best")
    evaluate_run(run)
    assert "no validation subjects: every non-test subject trained it" in (run / "evaluation" / "report.md").read_text()
