"""Distillation from a seed ensemble (train.distill): the teachers' runs, and the targets the student learns."""
import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_soft_targets_are_the_teachers_mean_softmax_on_the_augmented_batch():
    from train.distill import soft_targets
    from train.models import keras

    rng = np.random.default_rng(0)
    teachers = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        teachers.append(keras.Sequential([keras.Input((8, 3)), keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")]))
    x = rng.normal(size=(5, 8, 3)).astype(np.float32)
    weight = np.arange(5, dtype=np.float32)
    out_x, targets, out_weight = soft_targets(teachers)(x, np.zeros(5, np.int32), weight)
    expected = (teachers[0].predict(x, verbose=0) + teachers[1].predict(x, verbose=0)) / 2
    np.testing.assert_allclose(targets.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out_x, x)
    np.testing.assert_array_equal(out_weight, weight)


def test_a_distilled_run_trains_its_teachers_with_their_own_seeds_then_itself(tmp_path, capsys):
    from har import main

    args = ["train", "--runs", str(tmp_path), "--name", "student", "--epochs", "1", "--seed", "3",
            "--set", "train.distill=2", "--set", "model.filters=[4,8]", "--set", "model.kernels=[5,5]"]
    assert main(args) == 0
    run = tmp_path / "student"
    teachers = sorted((run / "teachers").iterdir())
    assert [t.name for t in teachers] == ["seed3", "seed4"]
    for seed, teacher in zip((3, 4), teachers):
        recipe = json.loads((teacher / "config.json").read_text())["train"]
        assert (recipe["seed"], recipe["distill"]) == (seed, 0) and (teacher / "training.json").is_file()
    assert json.loads((run / "config.json").read_text())["train"]["distill"] == 2
    assert (run / "training.json").is_file() and "training teacher 2/2 (seed 4)" in capsys.readouterr().err

    contract = json.loads((teachers[1] / "contract.json").read_text())  # a teacher reading other inputs
    contract["norm_std"][0] *= 2
    (teachers[1] / "contract.json").write_text(json.dumps(contract))
    (run / "training.json").unlink()  # the student unfinished: it loads its teachers again
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "seed4: its contract.json differs" in err and "Traceback" not in err


def test_distilling_a_regression_run_is_refused_before_a_run_folder_exists(tmp_path, capsys):
    from har import main

    status = main(["train", "--runs", str(tmp_path), "--set", "data.target=cadence", "--task", "regression",
                   "--set", "train.distill=2", "--epochs", "1"])
    assert status == 2 and "train.distill = 2" in capsys.readouterr().err and not any(tmp_path.iterdir())
